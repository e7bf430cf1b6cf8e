//! A qualification run as data: computed whole before anything runs, printed
//! by `--dry-run`, executed stage by stage.

use super::{cluster, test_command, QualifyOptions, Tools};
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
    /// Whether packer builds the images (not `never`, not `cluster up`, not a reuse).
    pub builds: bool,
    /// The images a run without a build uses (`never`, `cluster up`).
    pub recorded_images: crate::formats::RegionImages,
    /// `cluster up`: when the cluster is meant to go (the `dcos-images:keep-until` tag).
    pub keep_until: Option<String>,
    pub ssh_user: String,
    pub pytest_args: String,
    /// How many times failed tests are run again on the same cluster.
    pub retries: u32,
    /// Whether a test that failed and then passed fails the run.
    pub flaky: crate::config::FlakyPolicy,
    /// Where the images come from: a build, a reused build, the recorded ones.
    pub image_source: ImageSource,
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
        let _ = writeln!(
            out,
            "  retries:        failed tests run again up to {} time(s) on the same cluster; a test that fails, then passes, is flaky: {}",
            self.retries,
            match self.flaky {
                crate::config::FlakyPolicy::Pass => "the run passes with a warning (tests.flaky: pass)",
                crate::config::FlakyPolicy::Fail => "the run fails (tests.flaky: fail)",
            }
        );
        for (region, image) in &self.base_images {
            let _ = writeln!(out, "  base image:     {region} {image} (from {})", self.base_images_file);
        }
        let _ = writeln!(out, "  images:         {}", self.image_source.said());
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

/// Where the cluster's images come from: decided before the plan (a reuse
/// needs EC2 to say the images are still there), one of the plan's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// packer builds them; `why` says why no recorded build is reused.
    Build { inputs: Option<super::identity::BuildInputs>, why: String },
    /// The images of a recorded build whose inputs are the same.
    Reuse { uuid: String, built: String, images: RegionImages },
    /// `never` and `cluster up`: the images dcos_images.yaml (or --image) names.
    Recorded { why: String },
}

impl ImageSource {
    /// The plan's line about the images.
    pub fn said(&self) -> String {
        match self {
            ImageSource::Build { why, .. } => format!("build ({why})"),
            ImageSource::Reuse { uuid, built, .. } => format!("reuse the images of build {uuid} (same inputs, built {built})"),
            ImageSource::Recorded { why } => why.clone(),
        }
    }
}

/// What the plan reads of a build directory, checked.
struct Facts {
    config: PublishTestConfig,
    base_images: BTreeMap<String, String>,
    base_images_file: String,
    spec: ClusterSpec,
    cluster_region: String,
    ssh_user: String,
    dcos_version: String,
    installer: crate::dcos::Installer,
    check_command: String,
    check_tool: &'static str,
    check_source: &'static str,
    /// The base image of the cluster's region (what `--dry-run` previews).
    base_image_of_cluster: Option<String>,
}

/// The base image of each builder region of `d`.
pub(super) fn base_images_of(tree: &Tree, d: &LoadedBuildDir) -> (BTreeMap<String, String>, String) {
    let base_file = tree.base_images_for(&d.dir).expect("a valid build directory has base images");
    let base_map = base_file.value().expect("valid base images parse");
    let template = d.packer.value().expect("a valid packer.json parses");
    let images =
        template.builders.iter().filter_map(|b| b.region.clone()).filter_map(|r| base_map.get(&r).map(|i| (r, i.to_owned()))).collect();
    (images, base_file.rel.clone())
}

impl Facts {
    fn of(tree: &Tree, root_config: &RootConfig, d: &LoadedBuildDir) -> Result<Facts, Error> {
        let config = d.config().expect("a valid build directory has a readable config");
        let (base_images, base_images_file) = base_images_of(tree, d);
        let template = d.packer.value().expect("a valid packer.json parses");
        let profile = d.profile.as_ref().and_then(|p| p.value()).expect("a valid build directory has a profile");
        let spec = crate::formats::profile::read(profile).spec;
        let profile_file = d.profile.as_ref().map(|p| p.rel.clone()).unwrap_or_default();
        let build_region = template.builders.first().and_then(|b| b.region.as_deref());
        let cluster_region = cluster::cluster_region(&spec, build_region)
            .ok_or_else(|| Error::usage(format!("{}: no region for the cluster", d.dir.rel), "set aws_region in the cluster profile"))?;
        let ssh_user = template.builders.first().and_then(|b| b.ssh_username.clone()).ok_or_else(|| {
            Error::usage(format!("{}: packer.json has no ssh_username", d.dir.rel), "the tests log in as packer's ssh_username: set it")
        })?;
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
        let base_image_of_cluster =
            tree.base_images_for(&d.dir).and_then(|f| f.value()).and_then(|m| m.get(&cluster_region)).map(str::to_owned);
        Ok(Facts {
            config,
            base_images,
            base_images_file,
            spec,
            cluster_region,
            ssh_user,
            dcos_version,
            installer,
            check_command,
            check_tool,
            check_source,
            base_image_of_cluster,
        })
    }
}

/// Everything a stage's decision looks at.
struct Decide<'a> {
    opts: &'a QualifyOptions,
    root_config: &'a RootConfig,
    config: &'a PublishTestConfig,
    source: &'a ImageSource,
    /// Why nothing runs that spends: `--dry-run`.
    dry: Option<String>,
}

impl Decide<'_> {
    fn builds(&self) -> bool {
        matches!(self.source, ImageSource::Build { .. })
    }

    /// Why packer does not run: the images come from elsewhere, or a dry run.
    fn packer_build(&self) -> Option<String> {
        match self.source {
            ImageSource::Build { .. } => self.dry.clone(),
            other => Some(other.said()),
        }
    }

    /// packer validate runs whenever packer will build (a dry run too).
    fn packer_validate(&self) -> Option<String> {
        (!self.builds()).then(|| self.source.said())
    }

    /// New images are checked and tagged; reused ones were checked before
    /// the plan and keep their tags (they are not this run's to remove).
    fn check_images(&self) -> Option<String> {
        match self.source {
            ImageSource::Build { .. } => self.dry.clone(),
            ImageSource::Reuse { .. } => Some("reused images: EC2 said they are available before the plan".into()),
            ImageSource::Recorded { why } => Some(why.clone()),
        }
    }

    fn terraform_plan(&self) -> Option<String> {
        (!self.opts.dry_run).then(|| "terraform apply plans the cluster itself".to_owned())
    }

    fn install(&self) -> Option<String> {
        (!self.root_config.install.enabled)
            .then(|| "install.enabled is false: the cluster module installs DC/OS".to_owned())
            .or(self.dry.clone())
    }

    fn no_tests(&self) -> Option<String> {
        self.opts.cluster_up.as_ref().map(|_| "cluster up runs no tests".to_owned())
    }

    fn integration_tests(&self) -> Option<String> {
        self.no_tests()
            .or_else(|| (!self.config.run_integration_tests).then(|| "run_integration_tests is false".to_owned()))
            .or(self.dry.clone())
    }

    fn framework_tests(&self) -> Option<String> {
        self.no_tests()
            .or_else(|| (!self.config.run_framework_tests).then(|| "run_framework_tests is false".to_owned()))
            .or_else(|| self.root_config.tests.framework_command.is_none().then(|| "no tests.framework_command configured".to_owned()))
            .or(self.dry.clone())
    }

    /// Publishing: a reused build has nothing new to write at packer_build;
    /// after the installation or the tests its qualification is recorded
    /// (and committed only when a tracked file would change).
    fn publish(&self) -> Option<String> {
        let step = self.config.publish_dcos_images_after;
        if self.opts.cluster_up.is_some() {
            Some("cluster up publishes nothing".to_owned())
        } else if step == PublishStep::Never {
            Some("publish step is never".to_owned())
        } else if matches!(self.source, ImageSource::Reuse { .. }) && step == PublishStep::PackerBuild {
            Some("a reused build: nothing new to publish after packer_build".to_owned())
        } else if self.opts.no_publish {
            Some("--no-publish: results stay in the run directory".to_owned())
        } else {
            self.dry.clone()
        }
    }

    fn teardown(&self, run_id: &str) -> Option<String> {
        if self.opts.cluster_up.is_some() {
            Some(format!("cluster up keeps the cluster: `dcos-images cluster down {run_id}` removes it"))
        } else if self.opts.keep_cluster {
            Some("--keep-cluster".to_owned())
        } else {
            self.dry.clone()
        }
    }
}

/// Where the images come from for `never` and `cluster up`, when they do
/// not come from a build: the recorded images (or `--image`), which must
/// hold the cluster's region. None for a run that builds (or reuses).
pub(super) fn recorded_source(d: &LoadedBuildDir, opts: &QualifyOptions, cluster_region: &str) -> Result<Option<RegionImages>, Error> {
    let never = d.config().is_some_and(|c| c.publish_dcos_images_after == PublishStep::Never);
    let images: RegionImages = match (&opts.cluster_up, never) {
        (Some(u), _) => {
            let mut images = d.images().map(|i| i.0.clone()).unwrap_or_default();
            images.extend(u.images.clone());
            images
        }
        (None, true) => d.images().map(|i| i.0.clone()).unwrap_or_default(),
        (None, false) => return Ok(None),
    };
    if !images.contains_key(cluster_region) {
        let (what, hint) = if opts.cluster_up.is_some() {
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
    Ok(Some(images))
}

/// The run's plan: each stage runs, or is skipped for the reason its
/// decision (a method of [`Decide`]) gives.
pub(super) fn make_plan(
    tree: &Tree,
    root_config: &RootConfig,
    d: &LoadedBuildDir,
    tools: &Tools,
    opts: &QualifyOptions,
    source: ImageSource,
) -> Result<Plan, Error> {
    let f = Facts::of(tree, root_config, d)?;
    let run_id = new_run_id(&d.dir.rel);
    let run_dir = opts.run_root.join(&run_id);
    let tf = Terraform { program: tools.terraform.clone(), dir: run_dir.join("cluster") };
    let packer_call = |description: &str, args: &[&str]| ToolCall::new(description, &tools.packer, args.iter().copied(), &run_dir);
    let decide = Decide { opts, root_config, config: &f.config, source: &source, dry: opts.dry_run.then(|| "dry run".to_owned()) };
    let stage = |kind, description: &str, call: Option<ToolCall>, skipped: Option<String>| Stage {
        kind,
        description: description.to_owned(),
        call,
        skipped,
    };
    let step = f.config.publish_dcos_images_after;
    let publish =
        stage(StageKind::Publish, &format!("publish dcos_images.yaml, the history and packer.json (after {step})"), None, decide.publish());
    let mut stages = vec![
        stage(StageKind::Render, "render packer.json and the cluster's root module into the run directory", None, None),
        stage(
            StageKind::PackerValidate,
            "check the rendered template with packer",
            Some(packer_call("check the rendered template with packer", &["validate", PACKER])),
            decide.packer_validate(),
        ),
        stage(StageKind::TerraformInit, "initialise the cluster module with terraform", Some(tf.init()), None),
        stage(StageKind::TerraformValidate, "check the cluster module with terraform", Some(tf.validate()), None),
        stage(StageKind::TerraformPlan, "preview the cluster with terraform plan", Some(tf.plan()), decide.terraform_plan()),
        stage(
            StageKind::PackerBuild,
            "build the image with packer",
            Some(packer_call("build the image with packer", &["build", "-machine-readable", PACKER])),
            decide.packer_build(),
        ),
        stage(StageKind::CheckImages, "ask EC2 that each new image is available in every region, and tag it", None, decide.check_images()),
    ];
    if step == PublishStep::PackerBuild {
        stages.push(publish.clone());
    }
    let region = &f.cluster_region;
    stages.push(stage(
        StageKind::ClusterApply,
        &format!("create the cluster with terraform in {region}"),
        Some(tf.apply()),
        decide.dry.clone(),
    ));
    stages.push(stage(StageKind::ClusterOutputs, "read the cluster's addresses from terraform", Some(tf.output()), decide.dry.clone()));
    stages.push(stage(
        StageKind::InstallDcos,
        &format!(
            "install DC/OS {} over ssh: the bootstrap node, the masters, then the agents; wait until it is up (post-start checks: {})",
            f.dcos_version, f.check_tool
        ),
        None,
        decide.install(),
    ));
    if step == PublishStep::DcosInstallation {
        stages.push(publish.clone());
    }
    stages.push(stage(
        StageKind::IntegrationTests,
        &format!("run the integration tests on the first master as {}", f.ssh_user),
        None,
        decide.integration_tests(),
    ));
    stages.push(stage(StageKind::FrameworkTests, "run the framework tests (tests.framework_command)", None, decide.framework_tests()));
    if matches!(step, PublishStep::IntegrationTests | PublishStep::Never) {
        stages.push(publish);
    }
    stages.push(stage(
        StageKind::Teardown,
        "destroy the cluster with terraform, then remove through EC2 whatever of it is left",
        Some(tf.destroy()),
        decide.teardown(&run_id),
    ));
    // Without a build, the cluster runs the recorded (or reused) images.
    let recorded_images = match &source {
        ImageSource::Reuse { images, .. } => images.clone(),
        ImageSource::Recorded { .. } => recorded_source(d, opts, region)?.unwrap_or_default(),
        ImageSource::Build { .. } => RegionImages::new(),
    };
    let preview_image = match &source {
        ImageSource::Build { .. } => f.base_image_of_cluster.clone(),
        _ => recorded_images.get(region).cloned(),
    }
    .unwrap_or_else(|| PLACEHOLDER_IMAGE.to_owned());
    let keep_until = opts.cluster_up.as_ref().map(|u| {
        (chrono::Utc::now() + chrono::Duration::from_std(u.ttl).unwrap_or(chrono::Duration::days(1)))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    });
    let pytest_args = test_command::pytest_args(&opts.selection, &f.config);
    let retries = opts.retries.unwrap_or(root_config.tests.retries);
    let builds = decide.builds();
    Ok(Plan {
        run_id,
        build_dir: d.dir.rel.clone(),
        config: f.config,
        base_images: f.base_images,
        base_images_file: f.base_images_file,
        run_dir,
        cluster_region: f.cluster_region,
        spec: f.spec,
        installer: f.installer,
        check_command: f.check_command,
        check_source: f.check_source,
        preview_image,
        builds,
        recorded_images,
        keep_until,
        ssh_user: f.ssh_user,
        pytest_args,
        retries,
        flaky: root_config.tests.flaky,
        image_source: source,
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
