//! `dcos-images.yaml` at the tree root: settings of the harness itself.
//! Optional; unknown keys are errors with a "did you mean".

use crate::diagnostic::did_you_mean;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "dcos-images.yaml";

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "dcos-images.yaml", description = "Settings of dcos-images for one tree, at the tree's root.")]
pub struct RootConfig {
    #[serde(default)]
    pub tree: TreeConfig,
    #[serde(default)]
    pub publish: PublishConfig,
    #[serde(default)]
    pub cluster: ClusterConfig,
    #[serde(default)]
    pub ssh: SshConfig,
    #[serde(default)]
    pub tests: TestsConfig,
}

/// The terraform module that creates a cluster from the new image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Terraform module source: a registry address, a git URL or a local path
    /// (relative to the tree root). Default: dcos-images' own module
    /// (cluster/aws, built into the binary). Another module must take the same
    /// inputs and give the same outputs.
    #[serde(default)]
    pub module: Option<String>,
    /// Version constraint, for registry modules only.
    #[serde(default)]
    pub module_version: Option<String>,
    /// The module input that receives the new image.
    #[serde(default = "default_image_variable")]
    pub image_variable: String,
    #[serde(default)]
    pub outputs: ClusterOutputNames,
}

/// The module outputs that hold the cluster's addresses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterOutputNames {
    #[serde(default = "out_masters_public")]
    pub masters_public_ips: String,
    #[serde(default = "out_masters_private")]
    pub masters_private_ips: String,
    #[serde(default = "out_private_agents")]
    pub private_agents_private_ips: String,
    #[serde(default = "out_public_agents")]
    pub public_agents_private_ips: String,
}

fn default_image_variable() -> String {
    "aws_ami".into()
}
fn out_masters_public() -> String {
    "masters_public_ips".into()
}
fn out_masters_private() -> String {
    "masters_private_ips".into()
}
fn out_private_agents() -> String {
    "private_agents_private_ips".into()
}
fn out_public_agents() -> String {
    "public_agents_private_ips".into()
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            module: None,
            module_version: None,
            image_variable: default_image_variable(),
            outputs: ClusterOutputNames::default(),
        }
    }
}

impl Default for ClusterOutputNames {
    fn default() -> Self {
        ClusterOutputNames {
            masters_public_ips: out_masters_public(),
            masters_private_ips: out_masters_private(),
            private_agents_private_ips: out_private_agents(),
            public_agents_private_ips: out_public_agents(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    /// An ssh_config passed to ssh and scp with `-F` (bastions, ports, keys),
    /// relative to the tree root.
    #[serde(default)]
    pub config_file: Option<String>,
    /// Which address of a node dcos-images connects to: `public_ip`, or
    /// `private_ip` when it runs inside the cluster's network (a runner in
    /// the VPC, a bastion in `config_file`).
    #[serde(default)]
    pub connect_to: ConnectTo,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectTo {
    #[default]
    PublicIp,
    PrivateIp,
}

/// The commands run on the first master. Handlebars templates (strict) with
/// `master_hosts`, `slave_hosts`, `public_slave_hosts` (comma-separated private
/// IPs), `pytest_args` (the selected tests, shell words) and `junit_xml` (where
/// the JUnit report must be written).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestsConfig {
    #[serde(default = "default_integration_command")]
    pub integration_command: String,
    /// Run when `run_framework_tests` is on; none by default.
    #[serde(default)]
    pub framework_command: Option<String>,
}

pub const DEFAULT_INTEGRATION_COMMAND: &str = "source /opt/mesosphere/environment.export && \
cd \"$(ls -d /opt/mesosphere/active/dcos-integration-test* | sort | tail -n 1)\" && \
MASTER_HOSTS={{master_hosts}} SLAVE_HOSTS={{slave_hosts}} PUBLIC_SLAVE_HOSTS={{public_slave_hosts}} \
python -m pytest -vv --junitxml={{junit_xml}} {{pytest_args}}";

fn default_integration_command() -> String {
    DEFAULT_INTEGRATION_COMMAND.into()
}

impl Default for TestsConfig {
    fn default() -> Self {
        TestsConfig { integration_command: default_integration_command(), framework_command: None }
    }
}

/// How `qualify` publishes: a commit of the build directory's results, pushed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    /// The git remote the publish commit is pushed to.
    #[serde(default = "default_remote")]
    pub remote: String,
    /// The identity of the publish commit, `Name <email>`. CI's `changed`
    /// recognises its own commits by it.
    #[serde(default = "default_author")]
    pub author: String,
    /// The branch to push to. Default: the checked-out branch (CI checkouts
    /// with a detached HEAD must set it, or pass `--publish-branch`).
    #[serde(default)]
    pub branch: Option<String>,
}

fn default_remote() -> String {
    "origin".into()
}

fn default_author() -> String {
    "dcos-images bot <dcos-images-bot@users.noreply.github.com>".into()
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig { remote: default_remote(), author: default_author(), branch: None }
    }
}

impl PublishConfig {
    /// (name, email) of `author`, or why it is not `Name <email>`.
    pub fn identity(&self) -> Result<(String, String), String> {
        let a = self.author.trim();
        match (a.find('<'), a.ends_with('>')) {
            (Some(lt), true) if lt > 0 && a.len() > lt + 2 => Ok((a[..lt].trim().to_owned(), a[lt + 1..a.len() - 1].trim().to_owned())),
            _ => Err(format!("publish.author `{a}` is not `Name <email>`")),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TreeConfig {
    /// Directories (relative to the root) that hold no build directories of
    /// the tree, e.g. test fixtures. Hidden directories and `target/` are
    /// always skipped.
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}\n  = help: {hint}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
    pub hint: String,
}

impl RootConfig {
    /// Reads `<root>/dcos-images.yaml`; the defaults when there is none.
    pub fn load(root: &Path) -> Result<RootConfig, ConfigError> {
        let file = root.join(FILE_NAME);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RootConfig::default()),
            Err(e) => {
                return Err(ConfigError { file, line: None, message: format!("cannot read: {e}"), hint: "check its permissions".into() })
            }
        };
        parse_strict(&text).map_err(|(line, message, hint)| ConfigError { file, line, message, hint })
    }
}

/// Strict YAML: serde's `deny_unknown_fields` message, turned into a hint that
/// suggests the closest known key. Works for nested sections as they are added.
pub fn parse_strict<T: serde::de::DeserializeOwned + Default>(text: &str) -> Result<T, (Option<usize>, String, String)> {
    if text.trim().lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Ok(T::default());
    }
    serde_yaml::from_str::<T>(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        let hint = match message.split_once("unknown field `") {
            Some((_, rest)) => {
                let unknown = rest.split('`').next().unwrap_or_default();
                let known: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
                match did_you_mean(unknown, &known) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("remove `{unknown}`; see README.md for every key"),
                }
            }
            None => "see README.md for every key and its type".to_owned(),
        };
        (line, message, hint)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let (line, message, hint) = parse_strict::<RootConfig>("tree:\n  exlude: [tests]\n").unwrap_err();
        assert_eq!(line, Some(2));
        assert!(message.contains("unknown field `exlude`"), "{message}");
        assert_eq!(hint, "did you mean `exclude`?");
        let (_, _, hint) = parse_strict::<RootConfig>("publish:\n  remtoe: upstream\n").unwrap_err();
        assert_eq!(hint, "did you mean `remote`?");
        let c = parse_strict::<RootConfig>("publish:\n  author: Bot <bot@example.com>\n").unwrap();
        assert_eq!(c.publish.identity().unwrap(), ("Bot".to_owned(), "bot@example.com".to_owned()));
        assert_eq!(c.publish.remote, "origin");
        assert!(PublishConfig { author: "bot".into(), ..PublishConfig::default() }.identity().is_err());
        let c = parse_strict::<RootConfig>("tree:\n  exclude: [tests]\n").unwrap();
        assert_eq!(c.tree.exclude, vec!["tests"]);
        assert_eq!(parse_strict::<RootConfig>("# nothing\n").unwrap(), RootConfig::default());
    }
}
