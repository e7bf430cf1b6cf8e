//! A qualification run as data: computed whole before anything runs, printed
//! by `--dry-run`, executed stage by stage.

use super::{cluster, install, test_command, QualifyOptions, Tools};
use crate::config::RootConfig;
use crate::error::Error;
use crate::formats::profile::ClusterSpec;
use crate::formats::publish_config::{PublishStep, PublishTestConfig};
use crate::formats::RegionImages;
use crate::tools::terraform::Terraform;
use crate::tools::ToolCall;
use crate::tree::{LoadedBuildDir, Tree, PACKER};
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
    pub installer: crate::dcos::Installer,
    /// The post-start check every master must pass (`install.check_command`,
    /// else the one the DC/OS version has).
    pub check_command: String,
    /// Where the check comes from, for the plan (`DC/OS 1.10 and 1.11`).
    pub check_source: &'static str,
    /// The image `--dry-run` previews the cluster with: the recorded one
    /// (`never`), else the base image of the cluster's region.
    pub preview_image: String,
    /// Whether the run builds images (not `never`, not `cluster up`).
    pub builds: bool,
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
        let _ = writeln!(out, "  installer:      {}", self.installer.url);
        let _ = writeln!(out, "  post-start check: {} ({})", self.check_command, self.check_source);
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

/// Placeholder image for `terraform validate` before the image exists.
const PLACEHOLDER_IMAGE: &str = "ami-00000000";

fn new_run_id(build_dir: &str) -> String {
    let now = chrono::Utc::now();
    let slug: String = build_dir
        .split('/')
        .map(|p| p.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect::<String>())
        .collect::<Vec<_>>()
        .join("-");
    let salt = (now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16) ^ slug.len() as u32) & 0xffff;
    format!("{}-{slug}-{salt:04x}", now.format("%Y%m%dT%H%M%SZ"))
}

pub(super) fn make_plan(
    tree: &Tree,
    root_config: &RootConfig,
    d: &LoadedBuildDir,
    tools: &Tools,
    opts: &QualifyOptions,
) -> Result<Plan, Error> {
    let config = d.config().expect("a valid build directory has a readable config");
    let base_file = tree.base_images_for(&d.dir).expect("a valid build directory has base images");
    let base_map = base_file.value().expect("valid base images parse");
    let template = d.packer.value().expect("a valid packer.json parses");
    let profile = d.profile.as_ref().and_then(|p| p.value()).expect("a valid build directory has a profile");
    let spec = crate::formats::profile::read(profile).spec;
    let profile_file = d.profile.as_ref().map(|p| p.rel.clone()).unwrap_or_default();
    let base_images =
        template.builders.iter().filter_map(|b| b.region.clone()).filter_map(|r| base_map.get(&r).map(|i| (r, i.to_owned()))).collect();
    let build_region = template.builders.first().and_then(|b| b.region.as_deref());
    let cluster_region = cluster::cluster_region(&spec, build_region)
        .ok_or_else(|| Error::usage(format!("{}: no region for the cluster", d.dir.rel), "set aws_region in the cluster profile"))?;
    let ssh_user = template.builders.first().and_then(|b| b.ssh_username.clone()).ok_or_else(|| {
        Error::usage(format!("{}: packer.json has no ssh_username", d.dir.rel), "the tests log in as packer's ssh_username: set it")
    })?;
    if root_config.install.enabled {
        install::check_templates(&root_config.install)
            .and_then(|()| install::check_dcos_config(&root_config.dcos))
            .map_err(|e| Error::usage(e, "fix install.* / dcos.config in dcos-images.yaml (README.md, Configuration)"))?;
    }
    let dcos_version = crate::dcos::version_of(&spec, &d.dir.coords.dcos_version).to_owned();
    // validate refuses a directory without an installer before this; the
    // same rule, asked again, keeps the plan total.
    let installer = crate::dcos::installer(&spec, &d.dir.coords.dcos_version)
        .map_err(|no| Error::usage(format!("{profile_file}: {}", no.message), no.hint))?;
    let post_start = crate::dcos::post_start_check(&dcos_version);
    let (check_command, check_tool, check_source) = match &root_config.install.check_command {
        Some(c) => (c.clone(), "install.check_command", "dcos-images.yaml"),
        None => (post_start.command.to_owned(), post_start.tool, post_start.versions),
    };
    let step = config.publish_dcos_images_after;
    let up = opts.cluster_up.as_ref();
    let never = step == PublishStep::Never;
    // Without a build, the cluster runs the recorded images (or --image's).
    let recorded_images: RegionImages = match (up, never) {
        (Some(u), _) => {
            let mut images = d.images().map(|i| i.0.clone()).unwrap_or_default();
            images.extend(u.images.clone());
            images
        }
        (None, true) => d.images().map(|i| i.0.clone()).unwrap_or_default(),
        (None, false) => RegionImages::new(),
    };
    if (up.is_some() || never) && !recorded_images.contains_key(&cluster_region) {
        let (what, hint) = if up.is_some() {
            ("cluster up needs an image", format!("qualify the directory first, or pass --image {cluster_region}=ami-..."))
        } else {
            (
                "publish step is never",
                "publish after a step for the first build, or set aws_region in the profile to a region dcos_images.yaml lists".to_owned(),
            )
        };
        return Err(Error::usage(
            format!("{}: {what}, but dcos_images.yaml has no image for the cluster's region {cluster_region}", d.dir.rel),
            hint,
        ));
    }
    let run_id = new_run_id(&d.dir.rel);
    let run_dir = opts.run_root.join(&run_id);
    let tf = Terraform { program: tools.terraform.clone(), dir: run_dir.join("cluster") };
    let packer_call = |description: &str, args: &[&str]| ToolCall::new(description, &tools.packer, args.iter().copied(), &run_dir);
    let dry = opts.dry_run.then(|| "dry run".to_owned());
    let builds = up.is_none() && !never;
    let no_build = match (up, never) {
        (Some(_), _) => Some("cluster up: the images of dcos_images.yaml (or --image) are used".to_owned()),
        (None, true) => Some("publish step is never: the recorded images are tested".to_owned()),
        (None, false) => None,
    };
    let no_tests = up.map(|_| "cluster up runs no tests".to_owned());
    let stage = |kind, description: &str, call: Option<ToolCall>, skipped: Option<String>| Stage {
        kind,
        description: description.to_owned(),
        call,
        skipped,
    };
    let publish_skip = if up.is_some() {
        Some("cluster up publishes nothing".to_owned())
    } else if never {
        Some("publish step is never".to_owned())
    } else if opts.no_publish {
        Some("--no-publish: results stay in the run directory".to_owned())
    } else {
        dry.clone()
    };
    let publish =
        stage(StageKind::Publish, &format!("publish dcos_images.yaml, the history and packer.json (after {step})"), None, publish_skip);
    let mut stages = vec![
        stage(StageKind::Render, "render packer.json and the cluster's root module into the run directory", None, None),
        stage(
            StageKind::PackerValidate,
            "check the rendered template with packer",
            Some(packer_call("check the rendered template with packer", &["validate", PACKER])),
            no_build.clone(),
        ),
        stage(StageKind::TerraformInit, "initialise the cluster module with terraform", Some(tf.init()), None),
        stage(StageKind::TerraformValidate, "check the cluster module with terraform", Some(tf.validate()), None),
        stage(
            StageKind::TerraformPlan,
            "preview the cluster with terraform plan",
            Some(tf.plan()),
            (!opts.dry_run).then(|| "terraform apply plans the cluster itself".to_owned()),
        ),
        stage(
            StageKind::PackerBuild,
            "build the image with packer",
            Some(packer_call("build the image with packer", &["build", "-machine-readable", PACKER])),
            no_build.clone().or(dry.clone()),
        ),
        stage(
            StageKind::CheckImages,
            "ask EC2 that each new image is available in every region, and tag it",
            None,
            no_build.or(dry.clone()),
        ),
    ];
    if step == PublishStep::PackerBuild {
        stages.push(publish.clone());
    }
    stages.push(stage(
        StageKind::ClusterApply,
        &format!("create the cluster with terraform in {cluster_region}"),
        Some(tf.apply()),
        dry.clone(),
    ));
    stages.push(stage(StageKind::ClusterOutputs, "read the cluster's addresses from terraform", Some(tf.output()), dry.clone()));
    let install_skip =
        (!root_config.install.enabled).then(|| "install.enabled is false: the cluster module installs DC/OS".to_owned()).or(dry.clone());
    stages.push(stage(
        StageKind::InstallDcos,
        &format!(
            "install DC/OS {dcos_version} over ssh: the bootstrap node, the masters, then the agents; wait until it is up (post-start checks: {check_tool})"
        ),
        None,
        install_skip,
    ));
    if step == PublishStep::DcosInstallation {
        stages.push(publish.clone());
    }
    let integration_skip =
        no_tests.clone().or_else(|| (!config.run_integration_tests).then(|| "run_integration_tests is false".to_owned())).or(dry.clone());
    stages.push(stage(
        StageKind::IntegrationTests,
        &format!("run the integration tests on the first master as {ssh_user}"),
        None,
        integration_skip,
    ));
    let framework_skip = no_tests
        .clone()
        .or_else(|| (!config.run_framework_tests).then(|| "run_framework_tests is false".to_owned()))
        .or_else(|| root_config.tests.framework_command.is_none().then(|| "no tests.framework_command configured".to_owned()))
        .or(dry.clone());
    stages.push(stage(StageKind::FrameworkTests, "run the framework tests (tests.framework_command)", None, framework_skip));
    if matches!(step, PublishStep::IntegrationTests | PublishStep::Never) {
        stages.push(publish);
    }
    let teardown_skip = if up.is_some() {
        Some(format!("cluster up keeps the cluster: `dcos-images cluster down {run_id}` removes it"))
    } else if opts.keep_cluster {
        Some("--keep-cluster".to_owned())
    } else {
        dry.clone()
    };
    stages.push(stage(
        StageKind::Teardown,
        "destroy the cluster with terraform, then remove through EC2 whatever of it is left",
        Some(tf.destroy()),
        teardown_skip,
    ));
    let preview_image = if up.is_some() || never {
        recorded_images.get(&cluster_region).cloned()
    } else {
        base_map.get(&cluster_region).map(str::to_owned)
    }
    .unwrap_or_else(|| PLACEHOLDER_IMAGE.to_owned());
    let keep_until = up.map(|u| {
        (chrono::Utc::now() + chrono::Duration::from_std(u.ttl).unwrap_or(chrono::Duration::days(1)))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    });
    let pytest_args = test_command::pytest_args(&opts.selection, &config);
    Ok(Plan {
        run_id,
        build_dir: d.dir.rel.clone(),
        config,
        base_images,
        base_images_file: base_file.rel.clone(),
        run_dir,
        cluster_region,
        spec,
        installer,
        check_command,
        check_source,
        preview_image,
        builds,
        recorded_images,
        keep_until,
        ssh_user,
        pytest_args,
        stages,
    })
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}
