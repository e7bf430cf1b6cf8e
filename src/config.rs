//! `dcos-images.yaml` at the tree root: settings of the harness itself.
//! Optional; unknown keys are errors with a "did you mean".

use crate::diagnostic::did_you_mean;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    #[serde(default)]
    pub dcos: DcosConfig,
    #[serde(default)]
    pub install: InstallConfig,
    #[serde(default)]
    pub site: SiteConfig,
    /// Where `base-images refresh` looks for each OS's vendor images, keyed
    /// by the OS directory's name (`centos`, `rhel`, ...). Replaces the
    /// built-in entry for that OS; CentOS, RHEL, Flatcar, CoreOS, Oracle
    /// Linux and Ubuntu have one.
    #[serde(default)]
    pub base_images: BTreeMap<String, VendorImages>,
}

/// The compatibility page (`dcos-images site`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The web address a build directory's path is appended to, to link it
    /// from the page, e.g. `https://github.com/dcos/dcos-images/tree/master`.
    /// Default: the tree's git remote (publish.remote), when it is on
    /// GitHub; no links otherwise.
    #[serde(default)]
    pub repository_url: Option<String>,
}

/// Whose images an OS's base images are, and what they are called.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VendorImages {
    /// The AWS account ids that publish them (EC2's `owners`).
    pub owners: Vec<String>,
    /// EC2's `name` filter (`*` and `?` wildcards); `{version}` is the OS
    /// version directory's name, e.g. `CentOS {version}* x86_64`.
    pub name: String,
}

impl VendorImages {
    /// The name filter for one OS version.
    pub fn pattern(&self, version: &str) -> String {
        self.name.replace("{version}", version)
    }
}

/// What DC/OS is installed with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DcosConfig {
    /// Extra keys of genconf/config.yaml (DC/OS's configuration reference), e.g.
    /// `security: permissive`. `cluster_name` and `resolvers` replace
    /// dcos-images' values; the keys that describe the cluster itself
    /// (`bootstrap_url`, `master_list`, `master_discovery`,
    /// `exhibitor_storage_backend`) are dcos-images' and cannot be set.
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
}

/// The genconf/config.yaml keys that describe the cluster dcos-images created.
pub const DCOS_CONFIG_OWN_KEYS: &[&str] = &["bootstrap_url", "master_list", "master_discovery", "exhibitor_storage_backend"];

impl DcosConfig {
    /// None of the keys that describe the cluster itself.
    pub fn check(&self) -> Result<(), String> {
        match self.config.keys().find(|k| DCOS_CONFIG_OWN_KEYS.contains(&k.as_str())) {
            Some(k) => Err(format!("dcos.config sets `{k}`, which dcos-images sets from the cluster it created")),
            None => Ok(()),
        }
    }
}

/// The variables of the `install.*` templates (the install stage fills them
/// in, each shell-quoted).
pub const INSTALL_TEMPLATE_VARIABLES: &[&str] =
    &["dir", "installer_url", "installer_sha256", "bootstrap_ip", "port", "bootstrap_url", "role", "node_ip", "nginx_image"];

impl InstallConfig {
    /// Every template rendered once with sample values (strict): a misspelt
    /// variable is found when the configuration is read, before anything is
    /// spent.
    pub fn check(&self) -> Result<(), String> {
        let mut hb = handlebars::Handlebars::new();
        hb.set_strict_mode(true);
        let sample: serde_json::Map<String, serde_json::Value> =
            INSTALL_TEMPLATE_VARIABLES.iter().map(|v| ((*v).to_owned(), serde_json::Value::String("x".into()))).collect();
        for (what, t) in [
            ("install.bootstrap_command", Some(&self.bootstrap_command)),
            ("install.node_command", Some(&self.node_command)),
            ("install.check_command", self.check_command.as_ref()),
            ("install.agents_command", Some(&self.agents_command)),
        ] {
            if let Some(t) = t {
                hb.render_template(t, &sample).map_err(|e| format!("cannot render {what}: {e}"))?;
            }
        }
        if self.poll_seconds == 0 || self.timeout_seconds == 0 {
            return Err("install.poll_seconds and install.timeout_seconds must be at least 1".into());
        }
        Ok(())
    }
}

/// How DC/OS is installed on the cluster (DC/OS's advanced installation, over
/// ssh). Each command is a handlebars template (strict) run by the login
/// shell of the node it names; every variable is already shell-quoted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallConfig {
    /// false: the cluster module installs DC/OS itself (the stage is skipped).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where the bootstrap node works, relative to its login's home (or
    /// absolute); each run gets a directory of its own below it.
    #[serde(default = "default_bootstrap_dir")]
    pub bootstrap_dir: String,
    /// The port the bootstrap node serves genconf/serve on.
    #[serde(default = "default_bootstrap_port")]
    pub bootstrap_port: u16,
    /// On the bootstrap node, in `{{dir}}` (genconf/config.yaml and
    /// genconf/ip-detect written): fetch `{{installer_url}}`, check
    /// `{{installer_sha256}}` when set, run it, serve genconf/serve at
    /// `{{bootstrap_url}}` (`{{bootstrap_ip}}`, `{{port}}`).
    #[serde(default = "default_bootstrap_command")]
    pub bootstrap_command: String,
    /// On each master, then each agent: install it as `{{role}}` (`master`,
    /// `slave`, `slave_public`) from `{{bootstrap_url}}`; `{{node_ip}}`.
    #[serde(default = "default_node_command")]
    pub node_command: String,
    /// On each master, until it exits 0: its post-start checks; `{{node_ip}}`.
    /// Default: the check the directory's DC/OS version has, as dcos-e2e runs
    /// it (`dcos-check-runner check node-poststart` from 1.12 on,
    /// `dcos-diagnostics check node-poststart` on 1.10 and 1.11).
    #[serde(default)]
    pub check_command: Option<String>,
    /// On the first master: prints the number of registered agents; `{{node_ip}}`.
    #[serde(default = "default_agents_command")]
    pub agents_command: String,
    /// The image that serves genconf/serve on the bootstrap node (nginx, as
    /// dcos-ansible's dcos_bootstrap role serves it). Pinned: an unpinned
    /// `nginx` is whatever Docker Hub has that day.
    #[serde(default = "default_nginx_image")]
    pub nginx_image: String,
    /// How long the cluster may take to come up after the installation.
    #[serde(default = "default_install_timeout")]
    pub timeout_seconds: u64,
    /// How often the checks are run while waiting.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: u64,
}

fn yes() -> bool {
    true
}
fn default_bootstrap_dir() -> String {
    "dcos-images".into()
}
fn default_bootstrap_port() -> u16 {
    8080
}
fn default_install_timeout() -> u64 {
    45 * 60
}
fn default_poll_seconds() -> u64 {
    15
}

/// DC/OS's advanced installation, step 3 and 4: run the installer, then serve
/// genconf/serve over HTTP with nginx in docker (as dcos-ansible's
/// dcos_bootstrap role does), and wait until it answers. The real
/// `dcos_generate_config.sh` runs in docker and aborts without it ("docker
/// should be installed and running"), so docker is checked first and its
/// absence named. `:z` relabels genconf/serve for the container: on an
/// SELinux-enforcing image (the tree's `selinux_enforcing` variants) nginx
/// could not read it otherwise.
pub const DEFAULT_BOOTSTRAP_COMMAND: &str = r#"set -e
cd {{dir}}
if ! sudo docker info >/dev/null 2>&1; then
  echo "docker should be installed and running on the bootstrap node {{bootstrap_ip}}: dcos_generate_config.sh and the nginx serving genconf/serve run in docker" >&2
  exit 1
fi
curl -fsSL --retry 3 -o dcos_generate_config.sh {{installer_url}}
if [ -n {{installer_sha256}} ]; then echo {{installer_sha256}}'  dcos_generate_config.sh' | sha256sum -c -; fi
sudo bash dcos_generate_config.sh
test -f genconf/serve/dcos_install.sh
sudo docker rm -f dcos-images-bootstrap >/dev/null 2>&1 || true
sudo docker run -d --name dcos-images-bootstrap -p {{bootstrap_ip}}:{{port}}:80 -v "$PWD/genconf/serve:/usr/share/nginx/html:ro,z" {{nginx_image}}
for i in $(seq 60); do curl -fs -o /dev/null {{bootstrap_url}}/dcos_install.sh && exit 0; sleep 1; done
echo "nothing serves {{bootstrap_url}}/dcos_install.sh" >&2; exit 1"#;

/// nginx's official image at a fixed release.
pub const DEFAULT_NGINX_IMAGE: &str = "docker.io/library/nginx:1.27.3-alpine";

/// DC/OS's advanced installation, step 5 and 6, on one node.
pub const DEFAULT_NODE_COMMAND: &str = r#"set -e
cd "$(mktemp -d)"
curl -fsSL --retry 3 -o dcos_install.sh {{bootstrap_url}}/dcos_install.sh
sudo bash dcos_install.sh {{role}}"#;

/// Mesos' own count of registered agents. `-L`: a master that is not the
/// leader answers with a 307 to the leader (Mesos' master/http.cpp,
/// `redirect`: `//<leader>:5050/master/slaves`); without following it the
/// body is empty and the count never comes. While no leader is elected a
/// master answers 503, and the next poll asks again.
pub const DEFAULT_AGENTS_COMMAND: &str = r#"curl -fsSL --max-redirs 3 http://{{node_ip}}:5050/slaves | /opt/mesosphere/bin/dcos-shell python -c 'import json, sys; print(len(json.load(sys.stdin)["slaves"]))'"#;

fn default_bootstrap_command() -> String {
    DEFAULT_BOOTSTRAP_COMMAND.into()
}
fn default_node_command() -> String {
    DEFAULT_NODE_COMMAND.into()
}
fn default_nginx_image() -> String {
    DEFAULT_NGINX_IMAGE.into()
}
fn default_agents_command() -> String {
    DEFAULT_AGENTS_COMMAND.into()
}

impl Default for InstallConfig {
    fn default() -> Self {
        InstallConfig {
            enabled: true,
            bootstrap_dir: default_bootstrap_dir(),
            bootstrap_port: default_bootstrap_port(),
            bootstrap_command: default_bootstrap_command(),
            node_command: default_node_command(),
            check_command: None,
            nginx_image: default_nginx_image(),
            agents_command: default_agents_command(),
            timeout_seconds: default_install_timeout(),
            poll_seconds: default_poll_seconds(),
        }
    }
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
    #[serde(default = "out_bootstrap_public")]
    pub bootstrap_public_ip: String,
    #[serde(default = "out_bootstrap_private")]
    pub bootstrap_private_ip: String,
    #[serde(default = "out_masters_public")]
    pub masters_public_ips: String,
    #[serde(default = "out_masters_private")]
    pub masters_private_ips: String,
    #[serde(default = "out_private_agents_public")]
    pub private_agents_public_ips: String,
    #[serde(default = "out_private_agents")]
    pub private_agents_private_ips: String,
    #[serde(default = "out_public_agents_public")]
    pub public_agents_public_ips: String,
    #[serde(default = "out_public_agents")]
    pub public_agents_private_ips: String,
}

fn default_image_variable() -> String {
    "aws_ami".into()
}
fn out_bootstrap_public() -> String {
    "bootstrap_public_ip".into()
}
fn out_bootstrap_private() -> String {
    "bootstrap_private_ip".into()
}
fn out_private_agents_public() -> String {
    "private_agents_public_ips".into()
}
fn out_public_agents_public() -> String {
    "public_agents_public_ips".into()
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
            bootstrap_public_ip: out_bootstrap_public(),
            bootstrap_private_ip: out_bootstrap_private(),
            private_agents_public_ips: out_private_agents_public(),
            public_agents_public_ips: out_public_agents_public(),
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
    /// When integration tests fail, the failed ones (their node ids from the
    /// JUnit report, through `integration_command`) run again up to this
    /// many times on the same cluster. `--retries N` overrides it.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// A test that fails and then passes is flaky: `pass` lets the run pass
    /// with a warning, `fail` fails it. Flaky tests are named either way.
    #[serde(default)]
    pub flaky: FlakyPolicy,
}

fn default_retries() -> u32 {
    1
}

/// What a flaky test does to the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlakyPolicy {
    #[default]
    Pass,
    Fail,
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
        TestsConfig {
            integration_command: default_integration_command(),
            framework_command: None,
            retries: default_retries(),
            flaky: FlakyPolicy::default(),
        }
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
        let config: RootConfig =
            parse_strict(&text).map_err(|(line, message, hint)| ConfigError { file: file.clone(), line, message, hint })?;
        // What only the values can say: the templates render, dcos.config
        // leaves the cluster's own keys alone.
        let checked = if config.install.enabled { config.install.check() } else { Ok(()) }.and_then(|()| config.dcos.check());
        checked.map_err(|message| {
            let key = if message.starts_with("dcos.config") { "dcos" } else { "install" };
            ConfigError {
                line: crate::formats::line_of_yaml_key(&text, key),
                file,
                message,
                hint: "fix install.* / dcos.config in dcos-images.yaml (docs/configuration.md)".into(),
            }
        })?;
        Ok(config)
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
                    None => format!("remove `{unknown}`; see docs/configuration.md for every key"),
                }
            }
            None => "see docs/configuration.md for every key and its type".to_owned(),
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
