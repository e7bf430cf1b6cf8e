//! The cluster stage's data: the root module dcos-images writes into the run
//! directory (the cluster module, the profile's spec, the new image, the OS
//! user, the run's tags), and the addresses read back from it.

use crate::config::{ClusterConfig, ClusterOutputNames, ConnectTo};
use crate::formats::profile::ClusterSpec;
use serde_json::{json, Map, Value};
use std::path::Path;

/// dcos-images' own cluster module (cluster/aws), built into the binary so
/// that any tree (a clone of the public dcos-images tree, say) uses it with
/// no setup. It is written into each run's cluster directory.
pub const BUILTIN_MODULE: &[(&str, &str)] = &[
    ("main.tf", include_str!("../../cluster/aws/main.tf")),
    ("variables.tf", include_str!("../../cluster/aws/variables.tf")),
    ("outputs.tf", include_str!("../../cluster/aws/outputs.tf")),
];

/// Where the built-in module goes, inside the run's cluster directory.
pub const BUILTIN_MODULE_DIR: &str = "dcos-images-aws";

/// The addresses of a cluster, from the module's outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClusterOutputs {
    #[serde(default)]
    pub bootstrap_public_ip: Option<String>,
    #[serde(default)]
    pub bootstrap_private_ip: Option<String>,
    pub masters_public_ips: Vec<String>,
    pub masters_private_ips: Vec<String>,
    #[serde(default)]
    pub private_agents_public_ips: Vec<String>,
    pub private_agents_private_ips: Vec<String>,
    #[serde(default)]
    pub public_agents_public_ips: Vec<String>,
    pub public_agents_private_ips: Vec<String>,
}

impl ClusterOutputs {
    /// The first master's address dcos-images connects to.
    pub fn first_master(&self, connect_to: ConnectTo) -> Option<&str> {
        match connect_to {
            ConnectTo::PublicIp => self.masters_public_ips.first(),
            ConnectTo::PrivateIp => self.masters_private_ips.first(),
        }
        .map(String::as_str)
    }
}

pub struct RootModule<'a> {
    pub config: &'a ClusterConfig,
    /// The tree root, for module sources given as relative paths.
    pub root: &'a Path,
    pub spec: &'a ClusterSpec,
    pub region: &'a str,
    pub image: &'a str,
    /// packer.json's ssh_username: the nodes' OS user.
    pub ssh_user: &'a str,
    pub run_id: &'a str,
    pub build_dir: &'a str,
    /// `cluster up`: when the cluster may be removed (RFC 3339).
    pub keep_until: Option<&'a str>,
    pub ec2_endpoint: Option<&'a str>,
}

/// `region` from the profile's `aws_region`, else the build region.
pub fn cluster_region(spec: &ClusterSpec, build_region: Option<&str>) -> Option<String> {
    spec.region.clone().or_else(|| build_region.map(str::to_owned))
}

fn is_local(source: &str) -> bool {
    source.starts_with("./") || source.starts_with("../") || source.starts_with('/')
}

/// Writes the built-in module into `cluster_dir` (when it is the one in use).
pub fn write_builtin_module(config: &ClusterConfig, cluster_dir: &Path) -> Result<(), String> {
    if config.module.is_some() {
        return Ok(());
    }
    let dir = cluster_dir.join(BUILTIN_MODULE_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, text) in BUILTIN_MODULE {
        let path = dir.join(name);
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

impl RootModule<'_> {
    /// The run's tags, then the profile's: on every resource (provider
    /// `default_tags`) and given to the module.
    fn tags(&self) -> Map<String, Value> {
        let mut tags: Map<String, Value> = self.spec.tags.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        tags.insert("dcos-images:run-id".into(), Value::String(self.run_id.to_owned()));
        tags.insert("dcos-images:build-dir".into(), Value::String(self.build_dir.to_owned()));
        if let Some(until) = self.keep_until {
            tags.insert("dcos-images:keep-until".into(), Value::String(until.to_owned()));
        }
        tags
    }

    /// `main.tf.json` of the run's cluster directory.
    pub fn render(&self) -> Value {
        let mut module = Map::new();
        let source = match &self.config.module {
            None => format!("./{BUILTIN_MODULE_DIR}"),
            Some(m) if is_local(m) => self.root.join(m).to_string_lossy().into_owned(),
            Some(m) => m.clone(),
        };
        let registry = !is_local(&source) && !source.contains("://") && !source.contains("::") && source.split('/').count() == 3;
        module.insert("source".into(), Value::String(source));
        if let (true, Some(v)) = (registry, &self.config.module_version) {
            module.insert("version".into(), Value::String(v.clone()));
        }
        module.extend(self.spec.module_arguments());
        module.insert(self.config.image_variable.clone(), Value::String(self.image.to_owned()));
        module.insert("ssh_user".into(), Value::String(self.ssh_user.to_owned()));
        module.insert("cluster_name".into(), Value::String(self.run_id.to_owned()));
        let tags = self.tags();
        module.insert("tags".into(), Value::Object(tags.clone()));

        let mut provider = json!({ "region": self.region, "default_tags": { "tags": tags } });
        if self.ec2_endpoint.is_some() {
            // An emulator has no STS, no account id and no metadata service;
            // the endpoint itself comes from AWS_ENDPOINT_URL_EC2.
            provider["skip_credentials_validation"] = json!(true);
            provider["skip_requesting_account_id"] = json!(true);
            provider["skip_metadata_api_check"] = json!(true);
        }
        let out = |name: &str| json!({ "value": format!("${{module.dcos.{name}}}") });
        let names: &ClusterOutputNames = &self.config.outputs;
        json!({
            "terraform": { "required_version": ">= 1.5", "required_providers": { "aws": { "source": "hashicorp/aws", "version": ">= 5.0" } } },
            "provider": { "aws": provider },
            "module": { "dcos": Value::Object(module) },
            "output": {
                "bootstrap_public_ip": out(&names.bootstrap_public_ip),
                "bootstrap_private_ip": out(&names.bootstrap_private_ip),
                "masters_public_ips": out(&names.masters_public_ips),
                "masters_private_ips": out(&names.masters_private_ips),
                "private_agents_public_ips": out(&names.private_agents_public_ips),
                "private_agents_private_ips": out(&names.private_agents_private_ips),
                "public_agents_public_ips": out(&names.public_agents_public_ips),
                "public_agents_private_ips": out(&names.public_agents_private_ips),
            }
        })
    }
}

/// Reads `terraform output -json` of the root module above.
pub fn read_outputs(output_json: &str) -> Result<ClusterOutputs, String> {
    let v: Value = serde_json::from_str(output_json).map_err(|e| format!("terraform output is not JSON: {e}"))?;
    let list = |name: &str| -> Result<Vec<String>, String> {
        match &v[name]["value"] {
            Value::Array(items) => Ok(items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect()),
            // Legacy modules give "a,b,c".
            Value::String(s) => Ok(s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()),
            Value::Null => Err(format!("terraform has no output `{name}`")),
            other => Err(format!("output `{name}` is {other}, not a list of addresses")),
        }
    };
    let one = |name: &str| -> Result<Option<String>, String> {
        match &v[name]["value"] {
            Value::String(s) if !s.is_empty() => Ok(Some(s.clone())),
            Value::String(_) | Value::Null => Ok(None),
            other => Err(format!("output `{name}` is {other}, not an address")),
        }
    };
    let outputs = ClusterOutputs {
        bootstrap_public_ip: one("bootstrap_public_ip")?,
        bootstrap_private_ip: one("bootstrap_private_ip")?,
        masters_public_ips: list("masters_public_ips")?,
        masters_private_ips: list("masters_private_ips")?,
        private_agents_public_ips: list("private_agents_public_ips").unwrap_or_default(),
        private_agents_private_ips: list("private_agents_private_ips")?,
        public_agents_public_ips: list("public_agents_public_ips").unwrap_or_default(),
        public_agents_private_ips: list("public_agents_private_ips")?,
    };
    if outputs.masters_private_ips.is_empty() {
        return Err("the cluster has no master: check cluster.outputs.masters_private_ips".into());
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_module_passes_the_spec_image_user_and_tags() {
        let profile = crate::formats::tfvars::Tfvars::parse(
            "aws_region = \"us-east-1\"\nnum_of_masters = \"3\"\ndcos_version = \"2.1.1\"\nowner = \"me\"\nadmin_ips = [\"10.0.0.0/8\"]\n",
        )
        .value
        .unwrap();
        let spec = crate::formats::profile::read(&profile).spec;
        let config = ClusterConfig::default();
        let m = RootModule {
            config: &config,
            root: Path::new("/tree"),
            spec: &spec,
            region: "us-east-1",
            image: "ami-0a248ce88bcc7bd23",
            ssh_user: "core",
            run_id: "r1",
            build_dir: "centos/7.8",
            keep_until: None,
            ec2_endpoint: None,
        }
        .render();
        let dcos = &m["module"]["dcos"];
        assert_eq!(dcos["source"], "./dcos-images-aws");
        assert!(dcos.get("version").is_none());
        assert_eq!(dcos["num_masters"], 3);
        assert_eq!(dcos["admin_ips"], json!(["10.0.0.0/8"]));
        assert_eq!(dcos["aws_ami"], "ami-0a248ce88bcc7bd23");
        assert_eq!(dcos["ssh_user"], "core");
        assert_eq!(dcos["cluster_name"], "r1");
        for gone in ["aws_region", "dcos_version", "owner", "num_of_masters"] {
            assert!(dcos.get(gone).is_none(), "{gone} is not a module input");
        }
        let tags = json!({"owner": "me", "dcos-images:run-id": "r1", "dcos-images:build-dir": "centos/7.8"});
        assert_eq!(dcos["tags"], tags);
        assert_eq!(m["provider"]["aws"], json!({"region": "us-east-1", "default_tags": {"tags": tags}}));
        assert_eq!(m["output"]["masters_private_ips"]["value"], "${module.dcos.masters_private_ips}");
        assert_eq!(cluster_region(&spec, Some("us-west-2")).as_deref(), Some("us-east-1"));
        // Another module: by its source, with its version when from a registry.
        let config =
            ClusterConfig { module: Some("acme/dcos/aws".into()), module_version: Some("~> 1.0".into()), ..ClusterConfig::default() };
        let m = RootModule {
            config: &config,
            root: Path::new("/tree"),
            spec: &spec,
            region: "r",
            image: "i",
            ssh_user: "u",
            run_id: "r1",
            build_dir: "b",
            keep_until: None,
            ec2_endpoint: None,
        }
        .render();
        assert_eq!(m["module"]["dcos"]["source"], "acme/dcos/aws");
        assert_eq!(m["module"]["dcos"]["version"], "~> 1.0");
    }

    #[test]
    fn outputs_accept_lists_and_legacy_comma_strings() {
        let o = read_outputs(
            r#"{"masters_public_ips":{"value":["1.2.3.4"]},"masters_private_ips":{"value":"10.0.0.1,10.0.0.2"},
               "private_agents_private_ips":{"value":[]},"public_agents_private_ips":{"value":["10.0.1.1"]}}"#,
        )
        .unwrap();
        assert_eq!(o.masters_private_ips, vec!["10.0.0.1", "10.0.0.2"]);
        assert_eq!(o.first_master(ConnectTo::PublicIp), Some("1.2.3.4"));
        assert_eq!(o.first_master(ConnectTo::PrivateIp), Some("10.0.0.1"));
        assert!(read_outputs(
            r#"{"masters_public_ips":{"value":[]},"masters_private_ips":{"value":[]},"private_agents_private_ips":{"value":[]},"public_agents_private_ips":{"value":[]}}"#
        )
        .is_err());
    }
}
