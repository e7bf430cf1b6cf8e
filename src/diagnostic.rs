//! Diagnostics: what the validator (and every parser) reports about the tree.
//!
//! Codes are stable: CI configurations and `--ignore` refer to them by name.

use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    /// The name serde writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

macro_rules! codes {
    ($($variant:ident => $name:literal, $severity:ident, $doc:literal;)*) => {
        /// Every diagnostic code, with its default severity.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $(#[doc = $doc] $variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity,)* }
            }

            pub fn description(self) -> &'static str {
                match self { $(Code::$variant => $doc,)* }
            }
        }
    };
}

codes! {
    ParseError => "parse-error", Error, "not valid JSON / YAML / tfvars";
    Layout => "layout", Error, "a packer.json outside <os>/<os-version>/<cloud>/DCOS-<v>/docker-<v>[/<variant>]";
    MissingFile => "missing-file", Error, "a file packer.json references, install_dcos_prerequisites.sh, or a cluster profile is missing";
    PathEscape => "path-escape", Error, "packer.json references a file outside its build directory";
    UnknownKey => "unknown-key", Error, "a key publish_and_test_config.yaml does not know";
    InvalidValue => "invalid-value", Error, "a value of the wrong type or outside the allowed values";
    MissingBaseImages => "missing-base-images", Error, "no base_images.json applies to the build directory";
    NoBaseImageForRegion => "no-base-image-for-region", Error, "base_images.json lacks the builder's region";
    MalformedImageId => "malformed-image-id", Error, "an image id that is not ami- and 8 or 17 hex digits";
    SourceImageMismatch => "source-image-mismatch", Warning, "packer.json's source_ami is not the applicable base image";
    PublishedImageIsBaseImage => "published-image-is-base-image", Error, "dcos_images.yaml lists a vendor base image";
    HistoryMismatch => "history-mismatch", Error, "dcos_images.yaml disagrees with the last build in packer_build_history.json";
    RegionMismatch => "region-mismatch", Warning, "dcos_images.yaml lacks regions that ami_regions asks for";
    DcosVersionMismatch => "dcos-version-mismatch", Error, "DCOS-<v> differs from the cluster profile's DC/OS version";
    DescriptionMismatch => "description-mismatch", Warning, "ami_description is not the build directory's path";
    Unpublishable => "unpublishable", Error, "publish after integration_tests while run_integration_tests is false";
    NeverWithoutImages => "never-without-images", Error, "publish step never and no dcos_images.yaml to test";
    ReservedTfvar => "reserved-tfvar", Error, "the cluster profile sets a variable the pipeline sets (ssh_user: to another user than packer's)";
    RedundantVariable => "redundant-variable", Warning, "the cluster profile sets ssh_user to packer.json's ssh_username, which the pipeline sets anyway";
    MissingVariable => "missing-variable", Error, "the cluster profile lacks what the built-in cluster module needs (admin_ips, an ssh key)";
    NoInstaller => "no-installer", Error, "no DC/OS installer can be fetched: a version with no stable download, or Enterprise, without custom_dcos_download_path";
    GoneMirror => "gone-mirror", Warning, "install_dcos_prerequisites.sh names a package mirror that no longer exists (mirrorlist.centos.org)";
    UnknownVariable => "unknown-variable", Error, "the cluster profile sets a variable that neither vocabulary knows";
    LegacyVariable => "legacy-variable", Warning, "the cluster profile uses a terraform-dcos name (with the current one)";
    DuplicateKey => "duplicate-key", Error, "a key set twice in one file";
    LegacyFile => "legacy-file", Warning, "desired_cluster_profile.tfvars or setup.sh";
    ImageReused => "image-reused", Warning, "one published image id under two different OS versions";
}

impl Code {
    pub fn from_name(name: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A problem found in one file of the tree. Paths are relative to the tree root
/// and use `/`, so reports read the same on every machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub build_dir: Option<String>,
    pub file: String,
    pub line: Option<usize>,
    /// Texts are borrowed where they are fixed: the real tree's thousands
    /// of findings share a few dozen hints.
    pub message: Cow<'static, str>,
    pub hint: Cow<'static, str>,
}

/// A problem found while reading one file, before it is tied to a build directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub code: Code,
    pub line: Option<usize>,
    pub message: Cow<'static, str>,
    pub hint: Cow<'static, str>,
}

impl FileProblem {
    pub fn new(code: Code, line: Option<usize>, message: impl Into<Cow<'static, str>>, hint: impl Into<Cow<'static, str>>) -> Self {
        FileProblem { code, line, message: message.into(), hint: hint.into() }
    }

    pub fn into_diagnostic(self, build_dir: Option<&str>, file: &str) -> Diagnostic {
        Diagnostic {
            code: self.code,
            severity: self.code.severity(),
            build_dir: build_dir.map(str::to_owned),
            file: file.to_owned(),
            line: self.line,
            message: self.message,
            hint: self.hint,
        }
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known name closest to `unknown`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(unknown, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The hint for an unknown key: a suggestion when one is close, else the list.
pub fn unknown_key_hint(unknown: &str, known: &[&str]) -> String {
    match did_you_mean(unknown, known) {
        Some(k) => format!("did you mean `{k}`? Known keys: {}", known.join(", ")),
        None => format!("remove it; known keys: {}", known.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let known = ["publish_dcos_images_after", "run_integration_tests", "tests_to_run"];
        assert_eq!(did_you_mean("publish_dcos_image_after", &known), Some("publish_dcos_images_after"));
        assert_eq!(did_you_mean("test_to_run", &known), Some("tests_to_run"));
        assert_eq!(did_you_mean("colour", &known), None);
    }

    #[test]
    fn every_code_round_trips_by_name() {
        for code in Code::ALL {
            assert_eq!(Code::from_name(code.as_str()), Some(*code));
        }
        assert_eq!(Code::from_name("no-such-code"), None);
    }
}
