//! The test stage's data: which tests run, and the command that runs them on
//! the first master (a handlebars template, strict).

use crate::formats::publish_config::PublishTestConfig;
use crate::tools::ssh::shell_quote;

/// Tests chosen on the command line win over `tests_to_run`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `-k EXPR`.
    pub keyword: Option<String>,
    /// `--test NAME`, repeatable.
    pub tests: Vec<String>,
}

/// The pytest arguments: `-k EXPR` and test names from the command line, else
/// `tests_to_run` as written (its items are shell words already, e.g.
/// `-k 'not test_x'`), else nothing (all tests).
pub fn pytest_args(selection: &Selection, config: &PublishTestConfig) -> String {
    if selection.keyword.is_some() || !selection.tests.is_empty() {
        let mut words: Vec<String> = selection.tests.iter().map(|t| shell_quote(t)).collect();
        if let Some(k) = &selection.keyword {
            words.push(format!("-k {}", shell_quote(k)));
        }
        return words.join(" ");
    }
    config.tests_to_run.as_ref().map(|t| t.join(" ")).unwrap_or_default()
}

pub struct CommandVars<'a> {
    pub master_hosts: &'a [String],
    pub slave_hosts: &'a [String],
    pub public_slave_hosts: &'a [String],
    pub pytest_args: &'a str,
    pub junit_xml: &'a str,
}

/// Renders a command template. Strict: a misspelt variable is an error, not
/// an empty string in a shell command. Nothing is HTML-escaped.
pub fn render_command(template: &str, vars: &CommandVars) -> Result<String, String> {
    let mut hb = handlebars::Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    let data = serde_json::json!({
        "master_hosts": vars.master_hosts.join(","),
        "slave_hosts": vars.slave_hosts.join(","),
        "public_slave_hosts": vars.public_slave_hosts.join(","),
        "pytest_args": vars.pytest_args,
        "junit_xml": vars.junit_xml,
    });
    hb.render_template(template, &data).map_err(|e| format!("cannot render the test command: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_selection_wins_over_the_config() {
        let config = PublishTestConfig { tests_to_run: Some(vec!["test_auth.py".into(), "-k 'not slow'".into()]), ..Default::default() };
        assert_eq!(pytest_args(&Selection::default(), &config), "test_auth.py -k 'not slow'");
        let sel = Selection { keyword: Some("not test_x".into()), tests: vec!["test_a.py".into()] };
        assert_eq!(pytest_args(&sel, &config), "test_a.py -k 'not test_x'");
        assert_eq!(pytest_args(&Selection::default(), &PublishTestConfig::default()), "");
    }

    #[test]
    fn the_default_command_renders_and_typos_are_errors() {
        let hosts = vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()];
        let vars = CommandVars {
            master_hosts: &hosts,
            slave_hosts: &hosts,
            public_slave_hosts: &[],
            pytest_args: "-k 'a & b'",
            junit_xml: "/tmp/j.xml",
        };
        let c = render_command(crate::config::DEFAULT_INTEGRATION_COMMAND, &vars).unwrap();
        assert!(c.contains("MASTER_HOSTS=10.0.0.1,10.0.0.2 "), "{c}");
        assert!(c.contains("--junitxml=/tmp/j.xml -k 'a & b'"), "{c}");
        assert!(render_command("run {{master_host}}", &vars).is_err());
    }
}
