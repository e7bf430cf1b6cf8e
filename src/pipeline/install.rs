//! The install stage's data: DC/OS's advanced installation as
//! dcos/dcos-ansible drives it (roles dcos_bootstrap, dcos_master,
//! dcos_agent), here over the OpenSSH client. The bootstrap node gets
//! genconf/config.yaml (an embedded handlebars template) and genconf/ip-detect,
//! runs the installer and serves genconf/serve; the masters, then the agents,
//! install from it; then the cluster is waited for. Every remote step is a
//! command template of `install.*` in dcos-images.yaml.

use super::cluster::ClusterOutputs;
use crate::config::{ConnectTo, DcosConfig, InstallConfig, DCOS_CONFIG_OWN_KEYS};
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

/// Where and how the installer is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installer {
    pub url: String,
    pub sha256: Option<String>,
}

impl Installer {
    /// The profile's `custom_dcos_download_path`, else the DC/OS version's
    /// stable installer.
    pub fn of(download_url: Option<&str>, dcos_version: &str, sha256: Option<&str>) -> Installer {
        let url = download_url
            .map(str::to_owned)
            .unwrap_or_else(|| format!("https://downloads.dcos.io/dcos/stable/{dcos_version}/dcos_generate_config.sh"));
        Installer { url, sha256: sha256.map(str::to_owned) }
    }
}

/// `dcos.config` checked: none of the keys that describe the cluster itself.
pub fn check_dcos_config(dcos: &DcosConfig) -> Result<(), String> {
    match dcos.config.keys().find(|k| DCOS_CONFIG_OWN_KEYS.contains(&k.as_str())) {
        Some(k) => Err(format!("dcos.config sets `{k}`, which dcos-images sets from the cluster it created")),
        None => Ok(()),
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
    check_dcos_config(dcos)?;
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
}

impl CommandVars<'_> {
    pub fn bootstrap_url(&self) -> String {
        format!("http://{}:{}", self.bootstrap_ip, self.port)
    }
}

/// Renders one `install.*` template. `what` names it in errors.
pub fn render(what: &str, template: &str, vars: &CommandVars) -> Result<String, String> {
    let data = json!({
        "dir": shell_quote(vars.dir),
        "installer_url": shell_quote(vars.installer.map(|i| i.url.as_str()).unwrap_or_default()),
        "installer_sha256": shell_quote(vars.installer.and_then(|i| i.sha256.as_deref()).unwrap_or_default()),
        "bootstrap_ip": shell_quote(vars.bootstrap_ip),
        "port": vars.port,
        "bootstrap_url": shell_quote(&vars.bootstrap_url()),
        "role": shell_quote(vars.role),
        "node_ip": shell_quote(vars.node_ip),
    });
    handlebars().render_template(template, &data).map_err(|e| format!("cannot render {what}: {e}"))
}

/// Every `install.*` template rendered once with sample values: a misspelt
/// variable is found before anything is spent.
pub fn check_templates(install: &InstallConfig) -> Result<(), String> {
    let installer = Installer { url: "https://example.invalid/dcos_generate_config.sh".into(), sha256: None };
    let vars =
        CommandVars { dir: "d", installer: Some(&installer), bootstrap_ip: "10.0.0.1", port: 8080, role: "master", node_ip: "10.0.0.2" };
    for (what, t) in [
        ("install.bootstrap_command", &install.bootstrap_command),
        ("install.node_command", &install.node_command),
        ("install.check_command", &install.check_command),
        ("install.agents_command", &install.agents_command),
    ] {
        render(what, t, &vars)?;
    }
    if install.poll_seconds == 0 || install.timeout_seconds == 0 {
        return Err("install.poll_seconds and install.timeout_seconds must be at least 1".into());
    }
    Ok(())
}

/// The agent count `agents_command` printed: its last number.
pub fn registered_agents(stdout: &str) -> Option<usize> {
    stdout.lines().rev().find_map(|l| l.trim().parse().ok())
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
    fn templates_get_quoted_values_and_typos_are_errors() {
        let installer = Installer::of(None, "2.1.1", Some("ab12"));
        assert_eq!(installer.url, "https://downloads.dcos.io/dcos/stable/2.1.1/dcos_generate_config.sh");
        let vars = CommandVars {
            dir: "dcos images/r1",
            installer: Some(&installer),
            bootstrap_ip: "10.0.1.4",
            port: 8080,
            role: "slave_public",
            node_ip: "10.0.1.9",
        };
        let c = render("t", "cd {{dir}} && get {{installer_url}} {{installer_sha256}} && x {{bootstrap_url}} {{role}}", &vars).unwrap();
        assert_eq!(c, "cd 'dcos images/r1' && get https://downloads.dcos.io/dcos/stable/2.1.1/dcos_generate_config.sh ab12 && x http://10.0.1.4:8080 slave_public");
        assert!(render("install.node_command", "{{bootsrap_url}}", &vars).unwrap_err().contains("install.node_command"));
        check_templates(&InstallConfig::default()).unwrap();
        let bad = InstallConfig { check_command: "{{nod_ip}}".into(), ..InstallConfig::default() };
        assert!(check_templates(&bad).unwrap_err().contains("install.check_command"));
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
