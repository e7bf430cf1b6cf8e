//! terraform, one call per step, each with its human description. Every call
//! runs in the cluster directory of the run (its own state, never shared).

use super::ToolCall;
use std::path::{Path, PathBuf};

/// Where `--dry-run` keeps terraform's plan, in the run's cluster directory.
pub const PLAN_FILE: &str = "cluster.tfplan";

#[derive(Debug, Clone)]
pub struct Terraform {
    pub program: PathBuf,
    pub dir: PathBuf,
}

impl Terraform {
    fn call(&self, description: &str, args: &[&str]) -> ToolCall {
        ToolCall::new(description, &self.program, args.iter().copied(), &self.dir)
    }

    pub fn init(&self) -> ToolCall {
        self.call("initialise the cluster module with terraform", &["init", "-input=false", "-no-color"])
    }
    pub fn validate(&self) -> ToolCall {
        self.call("check the cluster module with terraform", &["validate", "-no-color"])
    }
    pub fn plan(&self) -> ToolCall {
        // -lock=false: a preview writes no state. The plan is kept for
        // `terraform show` (what would be opened to whom, before any spend).
        self.call(
            "preview the cluster with terraform plan",
            &["plan", "-input=false", "-lock=false", "-no-color", &format!("-out={PLAN_FILE}")],
        )
    }
    pub fn apply(&self) -> ToolCall {
        self.call("create the cluster with terraform", &["apply", "-auto-approve", "-input=false", "-no-color"])
    }
    pub fn output(&self) -> ToolCall {
        self.call("read the cluster's addresses from terraform", &["output", "-json", "-no-color"])
    }
    pub fn show(&self) -> ToolCall {
        self.call("read the cluster's resources from terraform's state", &["show", "-json", "-no-color"])
    }
    pub fn destroy(&self) -> ToolCall {
        self.call("destroy the cluster with terraform", &["destroy", "-auto-approve", "-input=false", "-no-color"])
    }

    /// The command a person runs to clean up by hand.
    pub fn destroy_by_hand(dir: &Path) -> String {
        format!("cd {} && terraform destroy -auto-approve", dir.display())
    }
}

/// Every `aws_instance` id in `terraform show -json` output, in any module.
pub fn instance_ids(show_json: &str) -> Vec<String> {
    fn walk(m: &serde_json::Value, out: &mut Vec<String>) {
        for r in m["resources"].as_array().into_iter().flatten() {
            if r["type"] == "aws_instance" {
                if let Some(id) = r["values"]["id"].as_str() {
                    out.push(id.to_owned());
                }
            }
        }
        for c in m["child_modules"].as_array().into_iter().flatten() {
            walk(c, out);
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(show_json) {
        walk(&v["values"]["root_module"], &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_instances_in_nested_modules() {
        let show = r#"{"values":{"root_module":{"resources":[{"type":"aws_instance","values":{"id":"i-1"}}],
            "child_modules":[{"resources":[{"type":"aws_security_group","values":{"id":"sg-1"}},
            {"type":"aws_instance","values":{"id":"i-2"}}],"child_modules":[{"resources":[{"type":"aws_instance","values":{"id":"i-3"}}]}]}]}}}"#;
        assert_eq!(super::instance_ids(show), vec!["i-1", "i-2", "i-3"]);
        assert_eq!(super::instance_ids("{}"), Vec::<String>::new());
        assert_eq!(super::instance_ids("not json"), Vec::<String>::new());
    }
}
