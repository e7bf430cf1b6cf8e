//! `publish_and_test_config.yaml`: when to publish and which tests to run.
//! Strict: an unknown key is an error, because a misspelt
//! `publish_dcos_images_after` would otherwise publish at the default step.

use super::flat_yaml::{self, FlatValue};
use super::{line_of_yaml_key, parse_yaml, Parsed};
use crate::diagnostic::{unknown_key_hint, Code, FileProblem};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The step after which `dcos_images.yaml` is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublishStep {
    /// Right after `packer build` succeeded.
    PackerBuild,
    /// After terraform created the cluster and DC/OS installed.
    #[default]
    DcosInstallation,
    /// Only when the integration tests passed.
    IntegrationTests,
    /// Never: no image is built; the tests run against the recorded images.
    Never,
}

impl PublishStep {
    pub const NAMES: [&'static str; 4] = ["packer_build", "dcos_installation", "integration_tests", "never"];

    pub fn from_name(name: &str) -> Option<PublishStep> {
        [PublishStep::PackerBuild, PublishStep::DcosInstallation, PublishStep::IntegrationTests, PublishStep::Never]
            .into_iter()
            .find(|step| step.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PublishStep::PackerBuild => "packer_build",
            PublishStep::DcosInstallation => "dcos_installation",
            PublishStep::IntegrationTests => "integration_tests",
            PublishStep::Never => "never",
        }
    }
}

impl fmt::Display for PublishStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "publish_and_test_config.yaml",
    description = "When dcos-images publishes the images of a build directory, and which tests it runs."
)]
pub struct PublishTestConfig {
    /// The step after which dcos_images.yaml is committed.
    #[serde(default)]
    pub publish_dcos_images_after: PublishStep,
    /// Run the DC/OS integration tests on the cluster.
    #[serde(default = "yes")]
    pub run_integration_tests: bool,
    /// Run the framework tests on the cluster.
    #[serde(default = "yes")]
    pub run_framework_tests: bool,
    /// Test files (`test_auth.py`) or one `-k '<pytest expression>'` item; absent = all tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_to_run: Option<Vec<String>>,
}

impl Default for PublishTestConfig {
    fn default() -> Self {
        PublishTestConfig {
            publish_dcos_images_after: PublishStep::default(),
            run_integration_tests: true,
            run_framework_tests: true,
            tests_to_run: None,
        }
    }
}

pub const KEYS: [&str; 4] = ["publish_dcos_images_after", "run_integration_tests", "run_framework_tests", "tests_to_run"];

impl PublishTestConfig {
    pub fn parse(text: &str) -> Parsed<PublishTestConfig> {
        // The common case in one pass: no unknown key (the type refuses
        // them), every value of the right type. Anything else is read again
        // below to report every unknown key with its line.
        if let Some(config) = Self::from_flat(text).or_else(|| serde_yaml::from_str::<PublishTestConfig>(text).ok()) {
            let problems = config.selection_problems(text);
            return if problems.is_empty() { Parsed::ok(config) } else { Parsed { value: None, problems } };
        }
        // Unknown keys first, each with its line, so that every one is reported
        // with a suggestion rather than serde's first-error-only message.
        if let Ok(serde_yaml::Value::Mapping(map)) = serde_yaml::from_str::<serde_yaml::Value>(text) {
            let unknown: Vec<FileProblem> = map
                .keys()
                .filter_map(|k| {
                    let name = match k {
                        serde_yaml::Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_owned(),
                    };
                    (!KEYS.contains(&name.as_str())).then(|| {
                        FileProblem::new(
                            Code::UnknownKey,
                            line_of_yaml_key(text, &name),
                            format!("unknown key `{name}`"),
                            unknown_key_hint(&name, &KEYS),
                        )
                    })
                })
                .collect();
            if !unknown.is_empty() {
                return Parsed { value: None, problems: unknown };
            }
        }
        let mut parsed = parse_yaml(
            text,
            &format!("one of the documented values (publish_dcos_images_after: {})", PublishStep::NAMES.join(" | ")),
            || Some(PublishTestConfig::default()),
        );
        let problems = parsed.value.as_ref().map(|c| c.selection_problems(text)).unwrap_or_default();
        if !problems.is_empty() {
            parsed.value = None;
            parsed.problems.extend(problems);
        }
        parsed
    }

    /// The config from a file in the tree's usual flat form, without
    /// libyaml (see [`flat_yaml`]); `None` for any other text, and for any
    /// key or value serde would refuse, which serde_yaml then reads.
    fn from_flat(text: &str) -> Option<PublishTestConfig> {
        let flag = |value: &str| match value {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        let mut config = PublishTestConfig::default();
        for (key, value) in flat_yaml::read(text)? {
            match (key, value) {
                ("publish_dcos_images_after", FlatValue::Scalar(step)) => {
                    config.publish_dcos_images_after = PublishStep::from_name(step)?;
                }
                ("run_integration_tests", FlatValue::Scalar(value)) => config.run_integration_tests = flag(value)?,
                ("run_framework_tests", FlatValue::Scalar(value)) => config.run_framework_tests = flag(value)?,
                ("tests_to_run", FlatValue::List(items)) => config.tests_to_run = Some(items.into_iter().map(str::to_owned).collect()),
                _ => return None,
            }
        }
        Some(config)
    }

    /// What pytest would not run as written: an empty item (it selects
    /// nothing, or everything), and a second `-k` item (pytest keeps only the
    /// last one, silently running tests the first meant to leave out). The
    /// schema refuses the same (`maxContains`, `pattern`).
    fn selection_problems(&self, text: &str) -> Vec<FileProblem> {
        let items = self.tests_to_run.as_deref().unwrap_or_default();
        let line = line_of_yaml_key(text, "tests_to_run");
        let mut problems = Vec::new();
        if items.iter().any(|i| i.trim().is_empty()) {
            problems.push(FileProblem::new(
                Code::InvalidValue,
                line,
                "tests_to_run has an empty item",
                "remove it, or name a test file or one `-k '<expression>'`",
            ));
        }
        let k: Vec<&String> = items.iter().filter(|i| i.trim_start().starts_with("-k")).collect();
        if k.len() > 1 {
            problems.push(FileProblem::new(
                Code::InvalidValue,
                line,
                format!("tests_to_run has {} `-k` items; pytest keeps only the last one", k.len()),
                "join the expressions in one item: -k '(<first>) and (<second>)'",
            ));
        }
        problems
    }
}

/// `-k` items and empty items, for the schema (see `selection_problems`).
pub const K_ITEM_PATTERN: &str = "^\\s*-k";
pub const NON_EMPTY_PATTERN: &str = "\\S";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_to_absent_keys_and_empty_files() {
        let c = PublishTestConfig::parse("# only a comment\n").value.unwrap();
        assert_eq!(c, PublishTestConfig::default());
        let c = PublishTestConfig::parse("run_framework_tests: false").value.unwrap();
        assert_eq!(c.publish_dcos_images_after, PublishStep::DcosInstallation);
        assert!(c.run_integration_tests);
        assert!(!c.run_framework_tests);
    }

    #[test]
    fn unknown_keys_are_errors_with_a_suggestion_and_line() {
        let p = PublishTestConfig::parse("run_framework_tests: false\npublish_dcos_image_after: never\n");
        assert!(p.value.is_none());
        assert_eq!(p.problems[0].code, Code::UnknownKey);
        assert_eq!(p.problems[0].line, Some(2));
        assert!(p.problems[0].hint.contains("did you mean `publish_dcos_images_after`"));
    }

    #[test]
    fn bad_values_are_invalid_values_with_line() {
        let p = PublishTestConfig::parse("run_framework_tests: false\npublish_dcos_images_after: sometimes\n");
        assert_eq!(p.problems[0].code, Code::InvalidValue);
        assert_eq!(p.problems[0].line, Some(2));
        let p = PublishTestConfig::parse("tests_to_run: test_auth.py\n");
        assert_eq!(p.problems[0].code, Code::InvalidValue);
    }

    #[test]
    fn a_selection_pytest_would_not_run_as_written_is_refused() {
        let p = PublishTestConfig::parse("run_framework_tests: false\ntests_to_run:\n  - -k 'not a'\n  - -k 'not b'\n");
        assert!(p.value.is_none());
        assert_eq!((p.problems[0].code, p.problems[0].line), (Code::InvalidValue, Some(2)));
        assert!(p.problems[0].message.contains("2 `-k` items"), "{}", p.problems[0].message);
        let p = PublishTestConfig::parse("tests_to_run:\n  - test_auth.py\n  - ''\n");
        assert!(p.problems[0].message.contains("empty item"), "{}", p.problems[0].message);
        let ok = PublishTestConfig::parse("tests_to_run:\n  - test_auth.py\n  - -k 'not slow'\n");
        assert!(ok.problems.is_empty() && ok.value.is_some());
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let p = PublishTestConfig::parse("run_framework_tests: false\nrun_framework_tests: true\n");
        assert_eq!(p.problems[0].code, Code::DuplicateKey);
    }
}
