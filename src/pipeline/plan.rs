//! A qualification run as data: computed whole before anything runs, printed
//! by `--dry-run`, executed stage by stage.

use crate::formats::profile::ClusterSpec;
use crate::formats::publish_config::PublishTestConfig;
use crate::tools::ToolCall;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    Render,
    PackerValidate,
    TerraformInit,
    TerraformValidate,
    TerraformPlan,
    PackerBuild,
    CheckImages,
    ClusterApply,
    ClusterOutputs,
    InstallDcos,
    IntegrationTests,
    FrameworkTests,
    Publish,
    Teardown,
}

impl StageKind {
    /// The stage's name in the journal and reports.
    pub fn name(self) -> &'static str {
        match self {
            StageKind::Render => "render",
            StageKind::PackerValidate => "packer_validate",
            StageKind::TerraformInit => "terraform_init",
            StageKind::TerraformValidate => "terraform_validate",
            StageKind::TerraformPlan => "terraform_plan",
            StageKind::PackerBuild => "packer_build",
            StageKind::CheckImages => "check_images",
            StageKind::ClusterApply => "cluster_apply",
            StageKind::ClusterOutputs => "cluster_outputs",
            StageKind::InstallDcos => "install_dcos",
            StageKind::IntegrationTests => "integration_tests",
            StageKind::FrameworkTests => "framework_tests",
            StageKind::Publish => "publish",
            StageKind::Teardown => "teardown",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub kind: StageKind,
    /// What the stage does, in words (`build the image with packer`).
    pub description: String,
    pub call: Option<ToolCall>,
    /// Why the stage will not run, when it will not.
    pub skipped: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub run_id: String,
    pub build_dir: String,
    pub config: PublishTestConfig,
    /// Base image per builder region.
    pub base_images: BTreeMap<String, String>,
    pub base_images_file: String,
    pub run_dir: PathBuf,
    pub cluster_region: String,
    /// The cluster profile, typed.
    pub spec: ClusterSpec,
    /// The DC/OS installer the cluster is installed with.
    pub installer: super::install::Installer,
    /// The image `--dry-run` previews the cluster with: the recorded one
    /// (`never`), else the base image of the cluster's region.
    pub preview_image: String,
    /// The images a run without a build uses (`never`, `cluster up`).
    pub recorded_images: crate::formats::RegionImages,
    /// `cluster up`: when the cluster is meant to go (the `dcos-images:keep-until` tag).
    pub keep_until: Option<String>,
    pub ssh_user: String,
    pub pytest_args: String,
    /// In order; publish sits after the step `publish_dcos_images_after` names.
    pub stages: Vec<Stage>,
}

impl Plan {
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "plan for {} (run {})", self.build_dir, self.run_id);
        let _ = writeln!(out, "  run directory:  {}", self.run_dir.display());
        let _ = writeln!(out, "  publish after:  {}", self.config.publish_dcos_images_after);
        let _ = writeln!(
            out,
            "  tests:          integration {}, framework {}, selected: {}",
            on_off(self.config.run_integration_tests),
            on_off(self.config.run_framework_tests),
            if self.pytest_args.is_empty() { "all" } else { &self.pytest_args }
        );
        for (region, image) in &self.base_images {
            let _ = writeln!(out, "  base image:     {region} {image} (from {})", self.base_images_file);
        }
        let n = self.spec.node_counts();
        let _ = writeln!(
            out,
            "  cluster:        in {}: 1 bootstrap, {} master(s), {} private and {} public agent(s); tests over ssh as {}",
            self.cluster_region, n.masters, n.private_agents, n.public_agents, self.ssh_user
        );
        for (i, s) in self.stages.iter().enumerate() {
            let _ = write!(out, "  {}. {}", i + 1, s.description);
            if let Some(why) = &s.skipped {
                let _ = write!(out, " [skipped: {why}]");
            }
            out.push('\n');
            if let Some(call) = &s.call {
                let _ = writeln!(out, "       $ (cd {} && {})", call.cwd.display(), call.display());
            }
        }
        out
    }

    pub fn stage(&self, kind: StageKind) -> &Stage {
        self.stages.iter().find(|s| s.kind == kind).expect("every plan has every stage")
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}
