//! The install stage's data: DC/OS's advanced installation as
//! dcos/dcos-ansible drives it (roles dcos_bootstrap, dcos_master,
//! dcos_agent), here over the OpenSSH client. The bootstrap node gets
//! genconf/config.yaml (an embedded handlebars template) and genconf/ip-detect,
//! runs the installer and serves genconf/serve; the masters, then the agents,
//! install from it; then the cluster is waited for. Every remote step is a
//! command template of `install.*` in dcos-images.yaml.

use super::cluster::ClusterOutputs;
use crate::config::{ConnectTo, DcosConfig};
use crate::dcos::Installer;
use crate::tools::ssh::shell_quote;
use serde_json::{json, Value};

/// genconf/config.yaml, before `dcos.config`'s extra keys.
const CONFIG_YAML: &str = include_str!("config.yaml.hbs");

/// genconf/ip-detect on AWS: the node's private address from the instance
/// metadata service (IMDSv2 when it answers, else v1), as DC/OS documents it.
pub const IP_DETECT_AWS: &str = r#"#!/bin/sh
# The node's private IPv4 address, from the EC2 instance metadata service.
set -o nounset -o errexit
token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token 2>/dev/null || true)
if [ -n "$token" ]; then
  curl -fsSL -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/local-ipv4
else
  curl -fsSL http://169.254.169.254/latest/meta-data/local-ipv4
fi
"#;

/// The Amazon-provided DNS server of every VPC.
const AWS_RESOLVER: &str = "169.254.169.253";

/// A node's part in the cluster, and the argument `dcos_install.sh` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Bootstrap,
    Master,
    PrivateAgent,
    PublicAgent,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Bootstrap => "bootstrap",
            Role::Master => "master",
            Role::PrivateAgent => "private agent",
            Role::PublicAgent => "public agent",
        }
    }

    /// `dcos_install.sh`'s role argument.
    pub fn install_arg(self) -> &'static str {
        match self {
            Role::Bootstrap => "bootstrap",
            Role::Master => "master",
            Role::PrivateAgent => "slave",
            Role::PublicAgent => "slave_public",
        }
    }
}

/// One node: its role, its private address (what DC/OS knows it by), and the
/// address dcos-images connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub role: Role,
    pub private_ip: String,
    pub address: String,
}

impl Node {
    /// `master-10.0.1.4`: for log files and messages.
    pub fn label(&self) -> String {
        format!("{}-{}", self.role.install_arg(), self.private_ip)
    }
}

/// The cluster's nodes by role, from terraform's outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodes {
    pub bootstrap: Node,
    pub masters: Vec<Node>,
    pub agents: Vec<Node>,
}

impl Nodes {
    pub fn of(outputs: &ClusterOutputs, connect_to: ConnectTo) -> Result<Nodes, String> {
        let pick = |public: Option<&String>, private: &String| match connect_to {
            ConnectTo::PublicIp => public.cloned().unwrap_or_else(|| private.clone()),
            ConnectTo::PrivateIp => private.clone(),
        };
        let nodes = |role: Role, public: &[String], private: &[String]| -> Vec<Node> {
            private.iter().enumerate().map(|(i, p)| Node { role, private_ip: p.clone(), address: pick(public.get(i), p) }).collect()
        };
        let bootstrap_private = outputs
            .bootstrap_private_ip
            .clone()
            .ok_or("the cluster module gave no bootstrap node (output bootstrap_private_ip): DC/OS cannot be installed")?;
        if connect_to == ConnectTo::PublicIp && outputs.bootstrap_public_ip.is_none() {
            return Err("the bootstrap node has no public address (output bootstrap_public_ip): set ssh.connect_to: private_ip".into());
        }
        let bootstrap = Node {
            role: Role::Bootstrap,
            address: pick(outputs.bootstrap_public_ip.as_ref(), &bootstrap_private),
            private_ip: bootstrap_private,
        };
        let masters = nodes(Role::Master, &outputs.masters_public_ips, &outputs.masters_private_ips);
        let mut agents = nodes(Role::PrivateAgent, &outputs.private_agents_public_ips, &outputs.private_agents_private_ips);
        agents.extend(nodes(Role::PublicAgent, &outputs.public_agents_public_ips, &outputs.public_agents_private_ips));
        if connect_to == ConnectTo::PublicIp {
            let lacking: Vec<String> = masters.iter().chain(&agents).filter(|n| n.address == n.private_ip).map(Node::label).collect();
            if !lacking.is_empty() {
                return Err(format!(
                    "no public address for {}: set ssh.connect_to: private_ip, or give the nodes public addresses",
                    lacking.join(", ")
                ));
            }
        }
        Ok(Nodes { bootstrap, masters, agents })
    }
}

fn handlebars() -> handlebars::Handlebars<'static> {
    let mut hb = handlebars::Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb
}

/// genconf/config.yaml of the cluster.
pub fn config_yaml(cluster_name: &str, bootstrap_url: &str, masters: &[String], dcos: &DcosConfig) -> Result<String, String> {
    dcos.check()?;
    let quoted = |s: &str| Value::String(serde_json::to_string(s).expect("strings serialize"));
    let cluster_name = match dcos.config.get("cluster_name") {
        Some(Value::String(n)) => n.clone(),
        Some(other) => return Err(format!("dcos.config's cluster_name must be a string, not {other}")),
        None => cluster_name.to_owned(),
    };
    let resolvers: Vec<Value> = match dcos.config.get("resolvers") {
        Some(Value::Array(items)) => items.iter().map(|v| quoted(v.as_str().unwrap_or_default())).collect(),
        Some(other) => return Err(format!("dcos.config's resolvers must be a list of addresses, not {other}")),
        None => vec![quoted(AWS_RESOLVER)],
    };
    let extra: std::collections::BTreeMap<&String, &Value> =
        dcos.config.iter().filter(|(k, _)| !matches!(k.as_str(), "cluster_name" | "resolvers")).collect();
    let extra = if extra.is_empty() {
        String::new()
    } else {
        serde_yaml::to_string(&extra).map_err(|e| format!("dcos.config cannot be written as YAML: {e}"))?
    };
    let data = json!({
        "cluster_name": quoted(&cluster_name),
        "bootstrap_url": quoted(bootstrap_url),
        "master_list": masters.iter().map(|m| quoted(m)).collect::<Vec<_>>(),
        "resolvers": resolvers,
        "extra": extra,
    });
    handlebars().render_template(CONFIG_YAML, &data).map_err(|e| format!("cannot render genconf/config.yaml: {e}"))
}

/// The remote command that writes genconf/ and then runs the bootstrap
/// template: one ssh session, one log.
pub fn bootstrap_script(dir: &str, config_yaml: &str, ip_detect: &str, bootstrap_command: &str) -> Result<String, String> {
    let heredoc = |path: &str, text: &str| -> Result<String, String> {
        const END: &str = "DCOS_IMAGES_END_OF_FILE";
        if text.lines().any(|l| l == END) {
            return Err(format!("{path} holds the line {END}"));
        }
        let newline = if text.ends_with('\n') { "" } else { "\n" };
        Ok(format!("cat > {dir}/{path} <<'{END}'\n{text}{newline}{END}\n"))
    };
    let dir = shell_quote(dir);
    Ok(format!(
        "set -e\nmkdir -p {dir}/genconf\n{}{}chmod 0755 {dir}/genconf/ip-detect\n{bootstrap_command}\n",
        heredoc("genconf/config.yaml", config_yaml)?,
        heredoc("genconf/ip-detect", ip_detect)?,
    ))
}

/// The variables of the `install.*` templates, shell-quoted.
#[derive(Debug, Clone, Default)]
pub struct CommandVars<'a> {
    pub dir: &'a str,
    pub installer: Option<&'a Installer>,
    pub bootstrap_ip: &'a str,
    pub port: u16,
    pub role: &'a str,
    pub node_ip: &'a str,
    pub nginx_image: &'a str,
}

impl CommandVars<'_> {
    pub fn bootstrap_url(&self) -> String {
        format!("http://{}:{}", self.bootstrap_ip, self.port)
    }
}

/// Renders one `install.*` template. `what` names it in errors.
pub fn render(what: &str, template: &str, vars: &CommandVars) -> Result<String, String> {
    handlebars().render_template(template, &template_data(vars)).map_err(|e| format!("cannot render {what}: {e}"))
}

/// The templates' variables: [`crate::config::INSTALL_TEMPLATE_VARIABLES`], filled in.
fn template_data(vars: &CommandVars) -> Value {
    json!({
        "dir": shell_quote(vars.dir),
        "installer_url": shell_quote(vars.installer.map(|i| i.url.as_str()).unwrap_or_default()),
        "installer_sha256": shell_quote(vars.installer.and_then(|i| i.sha256.as_deref()).unwrap_or_default()),
        "bootstrap_ip": shell_quote(vars.bootstrap_ip),
        "port": vars.port,
        "bootstrap_url": shell_quote(&vars.bootstrap_url()),
        "role": shell_quote(vars.role),
        "node_ip": shell_quote(vars.node_ip),
        "nginx_image": shell_quote(vars.nginx_image),
    })
}

/// The agent count `agents_command` printed: its last number.
pub fn registered_agents(stdout: &str) -> Option<usize> {
    stdout.lines().rev().find_map(|l| l.trim().parse().ok())
}

/// The stage, run: DC/OS's advanced installation over ssh.
mod stage {
    use super::super::run::{Run, StageError, StageErrorKind, Step};
    use super::super::{cluster, join_all, plan::StageKind};
    use crate::journal::StageState;
    use crate::pipeline::install;
    use crate::tools::process::{self, Finished, Stream};
    use crate::tools::ssh::Ssh;
    use crate::tools::ToolCall;
    use std::io::{IsTerminal, Write};
    use std::time::{Duration, Instant};

    impl Run<'_> {
        /// DC/OS's advanced installation over ssh (install.rs): genconf and the
        /// installer on the bootstrap node, then the masters in parallel, then
        /// all agents in parallel, then the wait until every master passes its
        /// checks and every agent is registered. A failure names the node, its
        /// role, the step and the end of its log.
        pub(in crate::pipeline) async fn install_dcos(&mut self, outputs: &cluster::ClusterOutputs) -> Step<()> {
            let t = self.begin(StageKind::InstallDcos);
            match self.install_steps(outputs).await {
                Ok(()) => {
                    self.end(t, StageState::Ok, None);
                    Ok(())
                }
                Err(e) => {
                    let state = if e.kind == StageErrorKind::Interrupted { StageState::Interrupted } else { StageState::Failed };
                    self.end(t, state, Some(e.message.clone()));
                    Err(e)
                }
            }
        }

        pub(in crate::pipeline) async fn install_steps(&mut self, outputs: &cluster::ClusterOutputs) -> Step<()> {
            let failed = |m: String| StageError::tool(m);
            let install = &self.config.install;
            let nodes = install::Nodes::of(outputs, self.config.ssh.connect_to).map_err(failed)?;
            let ssh = Ssh::locate(self.ssh_config.clone(), &self.plan.run_dir).map_err(|e| failed(e.to_string()))?;
            let user = self.plan.ssh_user.clone();
            let dir = format!("{}/{}", install.bootstrap_dir.trim_end_matches('/'), self.plan.run_id);
            let base = install::CommandVars {
                dir: &dir,
                installer: Some(&self.plan.installer),
                bootstrap_ip: &nodes.bootstrap.private_ip,
                port: install.bootstrap_port,
                role: "",
                node_ip: "",
                nginx_image: &install.nginx_image,
            };
            let bootstrap_url = base.bootstrap_url();

            // 1. The bootstrap node.
            self.say(&format!(
                "  bootstrap node {}: genconf, the installer ({}), serving {bootstrap_url}",
                nodes.bootstrap.private_ip, self.plan.installer.url
            ));
            let config_yaml =
                install::config_yaml(&self.plan.run_id, &bootstrap_url, &outputs.masters_private_ips, &self.config.dcos).map_err(failed)?;
            let _ = std::fs::write(self.plan.run_dir.join("config.yaml"), &config_yaml);
            let command = install::render("install.bootstrap_command", &install.bootstrap_command, &base)
                .and_then(|c| install::bootstrap_script(&dir, &config_yaml, install::IP_DETECT_AWS, &c))
                .map_err(failed)?;
            let call = ssh.run("prepare the bootstrap node and run the DC/OS installer", &user, &nodes.bootstrap.address, &command);
            self.remote_steps(vec![(nodes.bootstrap.clone(), "run the installer and serve genconf/serve", call)]).await?;

            // 2. Masters, then 3. agents, each group in parallel.
            for (group, members) in [("masters", &nodes.masters), ("agents", &nodes.agents)] {
                if members.is_empty() {
                    continue;
                }
                let mut calls = Vec::new();
                for n in members.iter() {
                    let vars = install::CommandVars { role: n.role.install_arg(), node_ip: &n.private_ip, ..base.clone() };
                    let command = install::render("install.node_command", &install.node_command, &vars).map_err(failed)?;
                    let call = ssh.run(&format!("install DC/OS on the {} {}", n.role.name(), n.private_ip), &user, &n.address, &command);
                    calls.push((n.clone(), "install DC/OS with dcos_install.sh", call));
                }
                self.say(&format!("  {group}: {}", members.iter().map(|n| n.private_ip.as_str()).collect::<Vec<_>>().join(", ")));
                self.check_interrupted(&format!("installing the {group}"))?;
                self.remote_steps(calls).await?;
            }

            // 4. Up: every master's checks pass, every agent is registered.
            self.wait_until_up(&ssh, &user, &nodes).await
        }

        /// Runs one remote step per node at once, each logged to
        /// `install-<role>-<ip>.log`. The first failure (in node order) stops
        /// the stage with the node, its role, the step and its log's last lines.
        pub(in crate::pipeline) async fn remote_steps(&mut self, steps: Vec<(install::Node, &str, ToolCall)>) -> Step<()> {
            let label = self.label.clone();
            let run_dir = self.plan.run_dir.clone();
            let runs = steps.iter().map(|(node, _, call)| {
                let mut interrupts = self.interrupts.clone();
                let log = run_dir.join(format!("install-{}.log", node.label()));
                let prefix = format!("{label}[{}] ", node.label());
                async move {
                    let verbose = std::io::stderr().is_terminal();
                    process::run_streaming(
                        call,
                        &log,
                        &mut interrupts,
                        0,
                        process::StopWith::GroupTerm,
                        Duration::from_secs(10),
                        |stream, line| {
                            if !line.trim().is_empty() && (verbose || stream == Stream::Stderr) {
                                let _ = writeln!(std::io::stderr().lock(), "{prefix}{line}");
                            }
                        },
                        |_| {},
                    )
                    .await
                }
            });
            let results = join_all(runs).await;
            if results.iter().any(|r| matches!(r, Ok(Finished::Interrupted))) {
                return Err(StageError::interrupted("interrupted while installing DC/OS"));
            }
            for ((node, step, _), result) in steps.iter().zip(results) {
                let why = match result {
                    Ok(Finished::Exited { success: true, .. }) => continue,
                    Ok(Finished::Exited { status, .. }) => status,
                    Ok(Finished::Interrupted) => unreachable!("handled above"),
                    Err(e) => e.to_string(),
                };
                let log = format!("install-{}.log", node.label());
                return Err(StageError::tool(format!(
                    "the DC/OS installation failed on the {} {} ({}): {step}: {why} (log: {log})\n{}",
                    node.role.name(),
                    node.private_ip,
                    node.address,
                    self.tail(&log)
                )));
            }
            Ok(())
        }

        /// Polls `install.check_command` on every master and
        /// `install.agents_command` on the first, until all pass and every agent
        /// is registered, or `install.timeout_seconds` pass.
        pub(in crate::pipeline) async fn wait_until_up(&mut self, ssh: &Ssh, user: &str, nodes: &install::Nodes) -> Step<()> {
            let install = &self.config.install;
            let expected = nodes.agents.len();
            let timeout = Duration::from_secs(install.timeout_seconds);
            let poll = Duration::from_secs(install.poll_seconds);
            let start = Instant::now();
            let mut last_said = String::new();
            let mut interrupts = self.interrupts.clone();
            // The commands are the same at every poll: rendered once.
            let check_calls = nodes
                .masters
                .iter()
                .map(|m| {
                    let vars = install::CommandVars { node_ip: &m.private_ip, ..Default::default() };
                    install::render("install.check_command", &self.plan.check_command, &vars)
                        .map(|c| ssh.run(&format!("check the master {}", m.private_ip), user, &m.address, &c))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(StageError::tool)?;
            let first = &nodes.masters[0];
            let vars = install::CommandVars { node_ip: &first.private_ip, ..Default::default() };
            let agents_call = install::render("install.agents_command", &install.agents_command, &vars)
                .map(|c| ssh.run("count the registered agents", user, &first.address, &c))
                .map_err(StageError::tool)?;
            loop {
                let checks = check_calls
                    .iter()
                    .cloned()
                    .map(|call| async move { tokio::task::spawn_blocking(move || call.run_captured()).await.expect("check task").is_ok() });
                let agents_call = agents_call.clone();
                let poll_once = async {
                    let healthy = join_all(checks).await.into_iter().filter(|ok| *ok).count();
                    let agents = tokio::task::spawn_blocking(move || agents_call.run_captured())
                        .await
                        .expect("agents task")
                        .ok()
                        .and_then(|out| install::registered_agents(&out));
                    (healthy, agents)
                };
                let (healthy, agents) = tokio::select! {
                    r = poll_once => r,
                    _ = interrupts.after(0) => return Err(StageError::interrupted("interrupted while waiting for DC/OS to come up")),
                };
                let elapsed = start.elapsed().as_secs();
                let state = format!(
                    "masters passing their checks: {healthy}/{}, agents registered: {}/{expected}",
                    nodes.masters.len(),
                    agents.map_or_else(|| "?".to_owned(), |a| a.to_string())
                );
                if healthy == nodes.masters.len() && agents == Some(expected) {
                    self.say(&format!("  DC/OS is up after {elapsed} s: {state}"));
                    return Ok(());
                }
                if start.elapsed() >= timeout {
                    return Err(StageError::tool(
                        format!(
                            "DC/OS did not come up within {} s (install.timeout_seconds): {state}; on a master, `sudo journalctl -u dcos-mesos-master` and `{}` tell why",
                            install.timeout_seconds, self.plan.check_command
                        ),
                    ));
                }
                if state != last_said {
                    self.say(&format!("  [{elapsed:>5} s] waiting for DC/OS: {state}"));
                    last_said = state;
                }
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = interrupts.after(0) => return Err(StageError::interrupted("interrupted while waiting for DC/OS to come up")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_yaml_lists_the_masters_and_takes_extra_keys() {
        let mut dcos = DcosConfig::default();
        let text = config_yaml("run-1", "http://10.0.1.4:8080", &["10.0.1.5".into(), "10.0.1.6".into()], &dcos).unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(v["cluster_name"], "run-1");
        assert_eq!(v["bootstrap_url"], "http://10.0.1.4:8080");
        assert_eq!(v["master_discovery"], "static");
        assert_eq!(v["exhibitor_storage_backend"], "static");
        assert_eq!(v["master_list"], serde_yaml::to_value(["10.0.1.5", "10.0.1.6"]).unwrap());
        assert_eq!(v["resolvers"], serde_yaml::to_value(["169.254.169.253"]).unwrap());

        dcos.config.insert("security".into(), json!("permissive"));
        dcos.config.insert("resolvers".into(), json!(["8.8.8.8"]));
        dcos.config.insert("check_time".into(), json!(false));
        let v: serde_yaml::Value = serde_yaml::from_str(&config_yaml("c", "http://b:1", &["m".into()], &dcos).unwrap()).unwrap();
        assert_eq!(v["security"], "permissive");
        assert_eq!(v["check_time"], false);
        assert_eq!(v["resolvers"], serde_yaml::to_value(["8.8.8.8"]).unwrap());

        dcos.config.insert("master_list".into(), json!(["x"]));
        assert!(config_yaml("c", "u", &[], &dcos).unwrap_err().contains("`master_list`"));
    }

    #[test]
    fn the_templates_variables_are_the_ones_the_config_checks() {
        let vars = CommandVars::default();
        let data = template_data(&vars);
        let mut keys: Vec<&str> = data.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut checked = crate::config::INSTALL_TEMPLATE_VARIABLES.to_vec();
        checked.sort_unstable();
        assert_eq!(keys, checked);
    }

    #[test]
    fn templates_get_quoted_values_and_typos_are_errors() {
        let installer =
            Installer { url: "https://downloads.dcos.io/dcos/stable/2.1.1/dcos_generate_config.sh".into(), sha256: Some("ab12".into()) };
        assert_eq!(installer.url, "https://downloads.dcos.io/dcos/stable/2.1.1/dcos_generate_config.sh");
        let vars = CommandVars {
            dir: "dcos images/r1",
            installer: Some(&installer),
            bootstrap_ip: "10.0.1.4",
            port: 8080,
            role: "slave_public",
            node_ip: "10.0.1.9",
            nginx_image: "nginx:1",
        };
        let c = render("t", "cd {{dir}} && get {{installer_url}} {{installer_sha256}} && x {{bootstrap_url}} {{role}}", &vars).unwrap();
        assert_eq!(c, "cd 'dcos images/r1' && get https://downloads.dcos.io/dcos/stable/2.1.1/dcos_generate_config.sh ab12 && x http://10.0.1.4:8080 slave_public");
        assert!(render("install.node_command", "{{bootsrap_url}}", &vars).unwrap_err().contains("install.node_command"));
        crate::config::InstallConfig::default().check().unwrap();
        let bad = crate::config::InstallConfig { check_command: Some("{{nod_ip}}".into()), ..Default::default() };
        assert!(bad.check().unwrap_err().contains("install.check_command"));
    }

    #[test]
    fn the_bootstrap_script_writes_genconf_first() {
        let s = bootstrap_script("dcos-images/r1", "a: 1\n", "#!/bin/sh\necho 1", "run it").unwrap();
        assert!(s.starts_with("set -e\nmkdir -p dcos-images/r1/genconf\ncat > dcos-images/r1/genconf/config.yaml <<'DCOS_IMAGES_END_OF_FILE'\na: 1\nDCOS_IMAGES_END_OF_FILE\n"), "{s}");
        assert!(s.ends_with("chmod 0755 dcos-images/r1/genconf/ip-detect\nrun it\n"), "{s}");
        assert!(bootstrap_script("d", "DCOS_IMAGES_END_OF_FILE\n", "", "").is_err());
        assert_eq!(registered_agents("waiting\n3\n"), Some(3));
        assert_eq!(registered_agents("no"), None);
    }

    #[test]
    fn nodes_take_the_address_ssh_connects_to() {
        let o = ClusterOutputs {
            bootstrap_public_ip: Some("1.1.1.1".into()),
            bootstrap_private_ip: Some("10.0.1.4".into()),
            masters_public_ips: vec!["1.1.1.2".into()],
            masters_private_ips: vec!["10.0.1.5".into()],
            private_agents_public_ips: vec!["1.1.1.3".into()],
            private_agents_private_ips: vec!["10.0.1.6".into()],
            public_agents_public_ips: vec!["1.1.1.4".into()],
            public_agents_private_ips: vec!["10.0.1.7".into()],
        };
        let n = Nodes::of(&o, ConnectTo::PublicIp).unwrap();
        assert_eq!(n.bootstrap.address, "1.1.1.1");
        assert_eq!(
            n.agents.iter().map(|a| (a.role, a.address.as_str())).collect::<Vec<_>>(),
            vec![(Role::PrivateAgent, "1.1.1.3"), (Role::PublicAgent, "1.1.1.4")]
        );
        let n = Nodes::of(&o, ConnectTo::PrivateIp).unwrap();
        assert_eq!(n.masters[0].address, "10.0.1.5");
        assert_eq!(n.agents[1].label(), "slave_public-10.0.1.7");
        let no_public = ClusterOutputs { private_agents_public_ips: vec![], ..o };
        assert!(Nodes::of(&no_public, ConnectTo::PublicIp).unwrap_err().contains("slave-10.0.1.6"));
    }
}
