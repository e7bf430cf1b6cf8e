//! The cluster stage's data: the root module dcos-images writes into the run
//! directory (the configured module, the build directory's profile, the new
//! image, the run's tags), and the addresses read back from it.

use crate::config::{ClusterConfig, ClusterOutputNames};
use crate::formats::tfvars::Tfvars;
use serde_json::{json, Map, Value};
use std::path::Path;

/// The profile variable the harness reads for the provider's region; it is
/// not passed to the module.
pub const REGION_VARIABLE: &str = "aws_region";

/// The addresses of a cluster, from the module's outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClusterOutputs {
    pub masters_public_ips: Vec<String>,
    pub masters_private_ips: Vec<String>,
    pub private_agents_private_ips: Vec<String>,
    pub public_agents_private_ips: Vec<String>,
}

pub struct RootModule<'a> {
    pub config: &'a ClusterConfig,
    /// The tree root, for module sources given as relative paths.
    pub root: &'a Path,
    pub profile: &'a Tfvars,
    pub region: &'a str,
    pub image: &'a str,
    pub run_id: &'a str,
    pub build_dir: &'a str,
    pub ec2_endpoint: Option<&'a str>,
}

/// `region` from the profile's `aws_region`, else the build region.
pub fn cluster_region(profile: &Tfvars, build_region: Option<&str>) -> Option<String> {
    profile.get(REGION_VARIABLE).and_then(|e| e.value.as_str()).map(str::to_owned).or_else(|| build_region.map(str::to_owned))
}

fn is_local(source: &str) -> bool {
    source.starts_with("./") || source.starts_with("../") || source.starts_with('/')
}

impl RootModule<'_> {
    /// `main.tf.json` of the run's cluster directory.
    pub fn render(&self) -> Value {
        let mut module = Map::new();
        let source = if is_local(&self.config.module) {
            self.root.join(&self.config.module).to_string_lossy().into_owned()
        } else {
            self.config.module.clone()
        };
        let registry = !is_local(&source) && !source.contains("://") && !source.contains("::") && source.split('/').count() == 3;
        module.insert("source".into(), Value::String(source));
        if let (true, Some(v)) = (registry, &self.config.module_version) {
            module.insert("version".into(), Value::String(v.clone()));
        }
        for e in &self.profile.entries {
            if e.key != REGION_VARIABLE {
                module.insert(e.key.clone(), e.value.to_json());
            }
        }
        module.insert(self.config.image_variable.clone(), Value::String(self.image.to_owned()));
        // The run's tags, so a cluster can always be found again.
        let mut tags = match module.remove("tags") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        tags.insert("dcos-images:run-id".into(), Value::String(self.run_id.to_owned()));
        tags.insert("dcos-images:build-dir".into(), Value::String(self.build_dir.to_owned()));
        module.insert("tags".into(), Value::Object(tags));

        let mut provider = json!({ "region": self.region });
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
            "terraform": { "required_providers": { "aws": { "source": "hashicorp/aws" } } },
            "provider": { "aws": provider },
            "module": { "dcos": Value::Object(module) },
            "output": {
                "masters_public_ips": out(&names.masters_public_ips),
                "masters_private_ips": out(&names.masters_private_ips),
                "private_agents_private_ips": out(&names.private_agents_private_ips),
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
    let outputs = ClusterOutputs {
        masters_public_ips: list("masters_public_ips")?,
        masters_private_ips: list("masters_private_ips")?,
        private_agents_private_ips: list("private_agents_private_ips")?,
        public_agents_private_ips: list("public_agents_private_ips")?,
    };
    if outputs.masters_public_ips.is_empty() {
        return Err("the cluster has no master with a public address: check cluster.outputs.masters_public_ips".into());
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_module_passes_the_profile_image_and_tags() {
        let profile = Tfvars::parse("aws_region = \"us-east-1\"\nnum_masters = 3\ntags = { owner = \"me\" }\n").value.unwrap();
        let config = ClusterConfig::default();
        let m = RootModule {
            config: &config,
            root: Path::new("/tree"),
            profile: &profile,
            region: "us-east-1",
            image: "ami-0a248ce88bcc7bd23",
            run_id: "r1",
            build_dir: "centos/7.8",
            ec2_endpoint: None,
        }
        .render();
        let dcos = &m["module"]["dcos"];
        assert_eq!(dcos["source"], "dcos-terraform/dcos/aws");
        assert_eq!(dcos["version"], "~> 0.3");
        assert_eq!(dcos["num_masters"], 3);
        assert_eq!(dcos["aws_ami"], "ami-0a248ce88bcc7bd23");
        assert!(dcos.get("aws_region").is_none());
        assert_eq!(dcos["tags"], json!({"owner": "me", "dcos-images:run-id": "r1", "dcos-images:build-dir": "centos/7.8"}));
        assert_eq!(m["provider"]["aws"], json!({"region": "us-east-1"}));
        assert_eq!(m["output"]["masters_private_ips"]["value"], "${module.dcos.infrastructure_masters_private_ips}");
        assert_eq!(cluster_region(&profile, Some("us-west-2")).as_deref(), Some("us-east-1"));
    }

    #[test]
    fn outputs_accept_lists_and_legacy_comma_strings() {
        let o = read_outputs(
            r#"{"masters_public_ips":{"value":["1.2.3.4"]},"masters_private_ips":{"value":"10.0.0.1,10.0.0.2"},
               "private_agents_private_ips":{"value":[]},"public_agents_private_ips":{"value":["10.0.1.1"]}}"#,
        )
        .unwrap();
        assert_eq!(o.masters_private_ips, vec!["10.0.0.1", "10.0.0.2"]);
        assert!(read_outputs(r#"{"masters_public_ips":{"value":[]}}"#).is_err());
    }
}
