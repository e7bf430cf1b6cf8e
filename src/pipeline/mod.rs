//! `dcos-images qualify`: each build directory becomes a [`plan::Plan`]
//! (data), printed, then executed stage by stage with a journal:
//!
//! render -> packer validate -> terraform init + validate (a broken cluster
//! module must not cost an image) -> packer build -> EC2 image checks ->
//! terraform apply -> outputs -> integration tests -> framework tests ->
//! teardown, with publish after the step `publish_dcos_images_after` names.
//! Once `apply` has started, teardown runs whatever happens after it.

pub mod build;
pub mod cluster;
pub mod install;
pub mod plan;
pub mod publish;
pub mod render;
pub mod test_command;

use crate::cloud::ec2::Ec2;
use crate::config::RootConfig;
use crate::diagnostic::Severity;
use crate::error::{exit, Error};
use crate::formats::dcos_images::DcosImages;
use crate::formats::junit::TestSummary;
use crate::formats::publish_config::PublishStep;
use crate::formats::RegionImages;
use crate::journal::{ClusterRecord, ClusterState, Journal, RunState, StageState};
use crate::tools::git::Git;
use crate::tools::process::{self, Finished, Interrupts, Stream};
use crate::tools::ssh::Ssh;
use crate::tools::terraform::{self as tf, Terraform};
use crate::tools::{self, Tool, ToolCall, ToolError};
use crate::tree::{LoadedBuildDir, Tree, HISTORY, PACKER};
use build::BuildOutcome;
use plan::{Plan, Stage, StageKind};
use publish::{PublishTarget, Results};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct QualifyOptions {
    pub build_dirs: Vec<PathBuf>,
    pub dry_run: bool,
    pub no_publish: bool,
    pub keep_cluster: bool,
    pub jobs: usize,
    /// Parent of the run directories.
    pub run_root: PathBuf,
    pub publish_branch: Option<String>,
    pub selection: test_command::Selection,
    /// The CI build's address for the reports (else the CI's own variables).
    pub build_url: Option<String>,
    /// The pull request to comment on (else the CI's own variables).
    pub pr: Option<u64>,
    /// `cluster up`: a cluster for engineers instead of a qualification.
    pub cluster_up: Option<ClusterUp>,
}

/// `dcos-images cluster up`: no build, no tests, nothing published; the
/// cluster is installed and kept until `cluster down`.
#[derive(Debug, Clone)]
pub struct ClusterUp {
    /// `--image REGION=AMI`, over dcos_images.yaml.
    pub images: RegionImages,
    /// How long the cluster is meant to live (the `dcos-images:keep-until` tag).
    pub ttl: Duration,
}

/// How long EC2 may take to make a new image available.
const IMAGE_TIMEOUT: Duration = Duration::from_secs(45 * 60);
/// Placeholder image for `terraform validate` before the image exists.
const PLACEHOLDER_IMAGE: &str = "ami-00000000";

/// Where run directories go by default: the user's state directory, outside
/// every tracked tree.
pub fn default_run_root() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    state.join("dcos-images/runs")
}

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

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::usage(format!("cannot start the async runtime: {e}"), "check the process limits"))
}

pub fn qualify_blocking(root: &Path, tree: &Tree, config: &RootConfig, opts: &QualifyOptions) -> Result<u8, Error> {
    runtime()?.block_on(qualify(root, tree, config, opts))
}

/// Everything a run needs from outside: located once, before anything runs.
struct Tools {
    packer: PathBuf,
    terraform: PathBuf,
}

pub async fn qualify(root: &Path, tree: &Tree, config: &RootConfig, opts: &QualifyOptions) -> Result<u8, Error> {
    if opts.run_root.starts_with(root) {
        return Err(Error::usage(
            format!("--run-dir {} is inside the tree {}", opts.run_root.display(), root.display()),
            "run directories hold logs, state and rendered templates that must not be committed: choose a directory outside the tree",
        ));
    }
    let dirs = resolve(root, tree, &opts.build_dirs)?;
    refuse_invalid(tree, &dirs)?;
    let tools = Tools { packer: tools::locate(Tool::Packer, None)?, terraform: tools::locate(Tool::Terraform, None)? };
    tools::locate(Tool::Ssh, None)?;
    let plans: Vec<Plan> = dirs.iter().map(|d| make_plan(tree, config, d, &tools, opts)).collect::<Result<_, _>>()?;
    let ssh_config = config.ssh.config_file.as_ref().map(|f| root.join(f));
    if let Some(f) = &ssh_config {
        if !f.is_file() {
            return Err(Error::usage(format!("ssh.config_file {} does not exist", f.display()), "fix ssh.config_file in dcos-images.yaml"));
        }
    }
    let publishes = plans.iter().any(|p| p.config.publish_dcos_images_after != PublishStep::Never);
    let publish = if !opts.dry_run && !opts.no_publish && publishes { Some(publish_target(root, config, opts)?) } else { None };

    let interrupts = Interrupts::install().map_err(|e| Error::usage(format!("cannot install signal handlers: {e}"), "run again"))?;
    let ec2 = if opts.dry_run { None } else { Some(Ec2::load().await) };
    let build_url = crate::report::build_url(opts.build_url.as_deref());
    // A cluster for an engineer is no pull request's business.
    let ci = if opts.dry_run || opts.cluster_up.is_some() { None } else { ci_reporter(root, opts) };
    if let Some(ci) = &ci {
        let pending: Vec<_> =
            plans.iter().map(|p| (p.build_dir.clone(), crate::github::Status::Pending, format!("qualifying (run {})", p.run_id))).collect();
        warn_all(ci.statuses(&pending, build_url.as_deref()).await);
    }
    let label = dirs.len() > 1;
    // Publishing commits to one work tree: one at a time.
    let publish_lock = tokio::sync::Mutex::new(());
    let jobs = tokio::sync::Semaphore::new(opts.jobs.max(1));
    let runs = dirs.iter().zip(&plans).map(|(d, plan)| {
        let mut run = Run {
            root,
            d,
            plan,
            opts,
            config,
            publish: publish.as_ref(),
            publish_lock: &publish_lock,
            ec2: ec2.as_ref(),
            interrupts: interrupts.clone(),
            journal: Journal::start(&plan.run_id, &plan.build_dir, root, &plan.run_dir, plan.config.publish_dcos_images_after.as_str()),
            label: if label { format!("{} ", short(&plan.build_dir)) } else { String::new() },
            ssh_config: ssh_config.clone(),
            apply_started: false,
        };
        let jobs = &jobs;
        async move {
            let _permit = jobs.acquire().await.expect("the semaphore is never closed");
            if run.interrupts.count() > 0 {
                return exit::INTERRUPTED;
            }
            run.execute().await
        }
    });
    let codes = join_all(runs).await;
    report_all(&plans, opts, ci.as_ref(), build_url.as_deref()).await;
    if codes.len() > 1 {
        eprintln!("\nsummary:");
        for (plan, code) in plans.iter().zip(&codes) {
            eprintln!("  {:<4} {} (run {})", code, plan.build_dir, plan.run_id);
        }
    }
    Ok(worst(&codes))
}

fn ci_reporter(root: &Path, opts: &QualifyOptions) -> Option<crate::github::CiReporter> {
    let head = || {
        let git = Git { program: tools::locate(Tool::Git, None).ok()?, repo: root.to_owned() };
        git.run("read the head commit", &["rev-parse", "HEAD"]).ok().map(|s| s.trim().to_owned())
    };
    match crate::github::CiReporter::from_env(opts.pr, head) {
        Ok(ci) => ci,
        Err(why) => {
            eprintln!("warning: {why}");
            None
        }
    }
}

fn warn_all(warnings: Vec<String>) {
    for w in warnings {
        eprintln!("warning: the report to GitHub failed (the qualification result stands): {w}");
    }
}

/// Each run's report files, then one Markdown report of all runs: under
/// GitHub Actions into the job's summary, and as the pull request's comment.
async fn report_all(plans: &[Plan], opts: &QualifyOptions, ci: Option<&crate::github::CiReporter>, build_url: Option<&str>) {
    let build_url = build_url.map(str::to_owned);
    let journals: Vec<Journal> = plans.iter().filter_map(|p| Journal::load(&p.run_dir)).collect();
    if let Some(ci) = ci {
        let finals: Vec<_> = journals
            .iter()
            .map(|j| {
                let (state, description) = match (j.exit_code, j.state) {
                    (Some(0), _) => (crate::github::Status::Success, crate::journal::state_name(j.state)),
                    (Some(1), _) => (crate::github::Status::Failure, "tests failed".to_owned()),
                    (Some(4), _) => (crate::github::Status::Error, "TEARDOWN FAILED: a cluster may still be running".to_owned()),
                    (_, RunState::Interrupted) => (crate::github::Status::Error, "interrupted".to_owned()),
                    _ => (
                        crate::github::Status::Failure,
                        j.error.as_deref().unwrap_or("failed").lines().next().unwrap_or("failed").to_owned(),
                    ),
                };
                (j.build_dir.clone(), state, description)
            })
            .collect();
        warn_all(ci.statuses(&finals, build_url.as_deref()).await);
    }
    for j in &journals {
        if let Err(e) = crate::report::write_run_files(j, build_url.as_deref()) {
            eprintln!("warning: cannot write the report of {}: {e}", j.run_id);
        }
    }
    if opts.dry_run || journals.is_empty() {
        return;
    }
    let report = crate::report::Report { build_url, runs: journals.iter().map(crate::report::RunReport::of).collect() };
    match crate::report::markdown(&report) {
        Ok(md) => {
            if let Some(ci) = ci {
                warn_all(ci.comment(crate::report::MARKER, &md).await);
            }
            if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
                let appended =
                    std::fs::OpenOptions::new().create(true).append(true).open(&summary).and_then(|mut f| f.write_all(md.as_bytes()));
                if let Err(e) = appended {
                    eprintln!("warning: cannot write GITHUB_STEP_SUMMARY: {e}");
                }
            }
        }
        Err(e) => eprintln!("warning: {e}"),
    }
}

/// The exit code of several runs: a leaked cluster outranks everything, then
/// an interruption, then a tool failure, then failed tests.
fn worst(codes: &[u8]) -> u8 {
    [exit::TEARDOWN_FAILED, exit::INTERRUPTED, exit::TOOL_FAILED, exit::USAGE, exit::NEGATIVE]
        .into_iter()
        .find(|c| codes.contains(c))
        .unwrap_or(exit::SUCCESS)
}

fn short(build_dir: &str) -> String {
    let parts: Vec<&str> = build_dir.split('/').collect();
    format!("[{}]", parts.get(4..).map(|p| p.join("/")).unwrap_or_else(|| build_dir.to_owned()))
}

/// The build directories named on the command line.
fn resolve<'t>(root: &Path, tree: &'t Tree, paths: &[PathBuf]) -> Result<Vec<&'t LoadedBuildDir>, Error> {
    paths
        .iter()
        .map(|p| {
            let abs = p.canonicalize().map_err(|e| Error::usage(format!("{}: {e}", p.display()), "pass a build directory that exists"))?;
            tree.dirs.iter().find(|d| d.dir.abs == abs || root.join(&d.dir.rel) == abs).ok_or_else(|| {
                Error::usage(
                    format!("{} is not a build directory of the tree {}", p.display(), root.display()),
                    "pass a directory holding packer.json at <os>/<os-version>/<cloud>/DCOS-<v>/docker-<v>[/<variant>], and --root for its tree",
                )
            })
        })
        .collect()
}

/// A validation error stops the run before anything else.
fn refuse_invalid(tree: &Tree, dirs: &[&LoadedBuildDir]) -> Result<(), Error> {
    let selected: Vec<&str> = dirs.iter().map(|d| d.dir.rel.as_str()).collect();
    let errors: Vec<_> = crate::validate::validate(tree)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .filter(|d| match &d.build_dir {
            Some(bd) => selected.contains(&bd.as_str()),
            None => dirs.iter().any(|x| tree.base_images_for(&x.dir).is_some_and(|b| b.rel == d.file)),
        })
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        // Annotations on the pull request's files, besides the error below.
        print!("{}", crate::validate::output::render(crate::validate::output::Format::Github, &errors, dirs.len()));
    }
    let report = crate::validate::output::render(crate::validate::output::Format::Text, &errors, dirs.len());
    Err(Error::Invalid { report })
}

fn publish_target(root: &Path, config: &RootConfig, opts: &QualifyOptions) -> Result<PublishTarget, Error> {
    let program = tools::locate(Tool::Git, None)?;
    let identity = config.publish.identity().map_err(|e| Error::usage(e, "set publish.author in dcos-images.yaml to `Name <email>`"))?;
    let repo = Git::toplevel(&program, root)?;
    let git = Git { program, repo };
    if !git.has_remote(&config.publish.remote) {
        return Err(Error::usage(
            format!("the git remote `{}` (publish.remote) does not exist in {}", config.publish.remote, git.repo.display()),
            "add it with `git remote add`, set publish.remote in dcos-images.yaml, or pass --no-publish",
        ));
    }
    let branch = match opts.publish_branch.clone().or_else(|| config.publish.branch.clone()).or_else(|| git.current_branch()) {
        Some(b) => b,
        None => {
            return Err(Error::usage(
                "HEAD is detached: there is no branch to publish to",
                "pass --publish-branch (CI: the pull request's head branch), set publish.branch, or --no-publish",
            ))
        }
    };
    Ok(PublishTarget { git, remote: config.publish.remote.clone(), branch, identity })
}

fn make_plan(tree: &Tree, root_config: &RootConfig, d: &LoadedBuildDir, tools: &Tools, opts: &QualifyOptions) -> Result<Plan, Error> {
    let config = d.config().expect("a valid build directory has a readable config");
    let base_file = tree.base_images_for(&d.dir).expect("a valid build directory has base images");
    let base_map = base_file.value().expect("valid base images parse");
    let template = d.packer.value().expect("a valid packer.json parses");
    let profile = d.profile.as_ref().and_then(|p| p.value()).expect("a valid build directory has a profile");
    let spec = crate::formats::profile::read(profile).spec;
    let profile_file = d.profile.as_ref().map(|p| p.rel.clone()).unwrap_or_default();
    if root_config.cluster.module.is_none() {
        // What the built-in module needs and has no default for: refused
        // before anything is spent, not after the image is built.
        if spec.admin_ips.is_empty() {
            return Err(Error::usage(
                format!("{profile_file}: the profile says nothing about who may reach the cluster"),
                "set admin_ips = [\"<your address>/32\"] (terraform-dcos: admin_cidr): dcos-images connects to the nodes over ssh",
            ));
        }
        if spec.ssh_keys.is_empty() {
            return Err(Error::usage(
                format!("{profile_file}: the profile gives the nodes no ssh key"),
                "set ssh_key_name (an EC2 key pair whose private key your ssh-agent holds) or ssh_public_key_file",
            ));
        }
    }
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
    let dcos_version = spec.dcos_version.clone().unwrap_or_else(|| d.dir.coords.dcos_version.clone());
    let installer = install::Installer::of(spec.download_url.as_deref(), &dcos_version, spec.download_sha256.as_deref());
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
        &format!("install DC/OS {dcos_version} over ssh: the bootstrap node, the masters, then the agents; wait until it is up"),
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
        "destroy the cluster with terraform, then ask EC2 that every instance is terminated",
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
        preview_image,
        recorded_images,
        keep_until,
        ssh_user,
        pytest_args,
        stages,
    })
}

/// One build directory's run.
struct Run<'a> {
    root: &'a Path,
    d: &'a LoadedBuildDir,
    plan: &'a Plan,
    opts: &'a QualifyOptions,
    config: &'a RootConfig,
    publish: Option<&'a PublishTarget>,
    publish_lock: &'a tokio::sync::Mutex<()>,
    ec2: Option<&'a Ec2>,
    interrupts: Interrupts,
    journal: Journal,
    /// Prefix of printed lines when several directories run at once.
    label: String,
    ssh_config: Option<PathBuf>,
    apply_started: bool,
}

/// How a stage ended, when it did not simply succeed.
enum Stop {
    Failed(u8, String),
    Interrupted(String),
}

type Step<T> = Result<T, Stop>;

impl Run<'_> {
    fn say(&self, line: &str) {
        eprintln!("{}{line}", self.label);
    }

    fn stage(&self, kind: StageKind) -> &Stage {
        self.plan.stage(kind)
    }

    fn begin(&mut self, kind: StageKind) -> Instant {
        let description = self.stage(kind).description.clone();
        self.say(&format!("==> {description}"));
        self.journal.begin(kind.name(), &description);
        Instant::now()
    }

    fn end(&mut self, t: Instant, state: StageState, detail: Option<String>) {
        self.journal.end(state, t.elapsed().as_secs_f64(), detail);
    }

    fn skip(&mut self, kind: StageKind) {
        let why = self.stage(kind).skipped.clone().unwrap_or_default();
        let description = self.stage(kind).description.clone();
        self.journal.skip(kind.name(), &description, &why);
    }

    fn check_interrupted(&self, before: &str) -> Step<()> {
        if self.interrupts.count() > 0 {
            return Err(Stop::Interrupted(format!("interrupted before {before}")));
        }
        Ok(())
    }

    /// A short tool call, off the async threads.
    async fn captured(&mut self, kind: StageKind) -> Step<String> {
        let t = self.begin(kind);
        let call = self.stage(kind).call.clone().expect("the stage has a call");
        match tokio::task::spawn_blocking(move || call.run_captured()).await.expect("tool task") {
            Ok(out) => {
                self.end(t, StageState::Ok, None);
                Ok(out)
            }
            Err(e) => {
                self.end(t, StageState::Failed, Some(e.to_string()));
                Err(Stop::Failed(exit::TOOL_FAILED, e.to_string()))
            }
        }
    }

    /// A long tool call, streamed, in its own process group.
    /// On a terminal every line is shown; in a log, stderr and the lines that
    /// say how it went (errors, "Apply complete!", "Destroy complete!").
    async fn streamed(&mut self, call: &ToolCall, log: &str, handled: u32, grace: Duration) -> Result<Finished, ToolError> {
        let start = Instant::now();
        let verbose = std::io::stderr().is_terminal();
        let label = self.label.clone();
        let mut interrupts = self.interrupts.clone();
        let journal = &mut self.journal;
        process::run_streaming(
            call,
            &self.plan.run_dir.join(log),
            &mut interrupts,
            handled,
            process::StopWith::LeaderInterrupt,
            grace,
            |stream, line| {
                let telling = stream == Stream::Stderr || line.contains("Error") || line.contains("complete!");
                if !line.trim().is_empty() && (verbose || telling) {
                    let _ = writeln!(std::io::stderr().lock(), "{label}[{:>7.1}s] {line}", start.elapsed().as_secs_f64());
                }
            },
            |pid| journal.set_pid(pid),
        )
        .await
    }

    async fn execute(&mut self) -> u8 {
        if let Err(e) = std::fs::create_dir_all(self.plan.run_dir.join("cluster")) {
            self.say(&format!("error: cannot create the run directory {}: {e}", self.plan.run_dir.display()));
            return exit::TOOL_FAILED;
        }
        let _ = self.journal.save();
        if self.opts.dry_run {
            print!("{}", self.plan.render_text());
        } else {
            self.say(&format!(
                "qualifying {} (run {})\n  run directory: {}",
                self.plan.build_dir,
                self.plan.run_id,
                self.plan.run_dir.display()
            ));
        }
        let result = self.main_flow().await;
        let mut code = match &result {
            Ok(code) => *code,
            Err(Stop::Failed(code, _)) => *code,
            Err(Stop::Interrupted(_)) => exit::INTERRUPTED,
        };
        let mut state = match (&result, code) {
            (Err(Stop::Interrupted(_)), _) => RunState::Interrupted,
            (_, exit::SUCCESS) if self.opts.dry_run => RunState::Planned,
            (_, exit::SUCCESS) if self.journal.stages.iter().any(|s| s.name == "publish" && s.state == StageState::Ok) => {
                RunState::Qualified
            }
            (_, exit::SUCCESS) if self.opts.cluster_up.is_some() => RunState::Up,
            (_, exit::SUCCESS) => RunState::Built,
            _ => RunState::Failed,
        };
        let mut error = match result {
            Err(Stop::Failed(_, m)) | Err(Stop::Interrupted(m)) => {
                self.say(&format!("error: {}: {m}", self.plan.build_dir));
                Some(m)
            }
            Ok(_) => None,
        };
        if self.apply_started {
            // `--keep-cluster` keeps it whatever happened; `cluster up` only
            // a cluster that came up (a broken one is of no use to anyone).
            let keep = self.opts.keep_cluster || (self.opts.cluster_up.is_some() && code == exit::SUCCESS);
            if let Err(m) = self.teardown(keep).await {
                self.say(&format!("error: {}: TEARDOWN FAILED: {m}", self.plan.build_dir));
                code = exit::TEARDOWN_FAILED;
                state = RunState::Failed;
                error = Some(m);
            }
        }
        if state == RunState::Qualified {
            let tests = match &self.journal.integration_tests {
                Some(t) => format!("; integration tests: {} passed, {} skipped", t.passed, t.skipped),
                None => String::new(),
            };
            println!("{}qualified {}: {}{tests}", self.label, self.plan.build_dir, summary(&self.journal.images));
        }
        self.journal.finish(state, code, error);
        code
    }

    /// Walks the plan: every stage runs, or is skipped for the reason the
    /// plan gives. The plan is the one decision; the only thing decided here
    /// is what the plan cannot know: failed tests publish nothing.
    async fn main_flow(&mut self) -> Step<u8> {
        let manifest = self.plan.run_dir.join(HISTORY);
        // Without a build, the cluster runs the images the plan names.
        let mut images: RegionImages = self.plan.recorded_images.clone();
        let mut results: Option<Results> = None;
        let mut outputs: Option<cluster::ClusterOutputs> = None;
        let mut passed = true;
        let stages = self.plan.stages.clone();
        for stage in &stages {
            if stage.kind == StageKind::Teardown {
                // execute() tears down whenever apply started; a dry run
                // records what a run would do.
                if let (true, Some(why)) = (self.opts.dry_run, &stage.skipped) {
                    self.journal.skip(stage.kind.name(), &stage.description, why);
                }
                break;
            }
            if let Some(why) = &stage.skipped {
                self.journal.skip(stage.kind.name(), &stage.description, why);
                continue;
            }
            if stage.kind != StageKind::Render {
                self.check_interrupted(&stage.description)?;
            }
            match stage.kind {
                StageKind::Render => {
                    let t = self.begin(StageKind::Render);
                    let preview = self.plan.preview_image.clone();
                    match self.render(&manifest, &preview) {
                        Ok(()) => self.end(t, StageState::Ok, None),
                        Err(e) => {
                            self.end(t, StageState::Failed, Some(e.clone()));
                            return Err(Stop::Failed(exit::TOOL_FAILED, e));
                        }
                    }
                }
                StageKind::PackerValidate | StageKind::TerraformInit | StageKind::TerraformValidate => {
                    self.captured(stage.kind).await?;
                }
                StageKind::TerraformPlan => {
                    let plan = self.captured(StageKind::TerraformPlan).await?;
                    let log = self.plan.run_dir.join("terraform-plan.log");
                    if let Err(e) = std::fs::write(&log, &plan) {
                        self.say(&format!("warning: cannot keep the plan in {}: {e}", log.display()));
                    }
                    let summary = plan.lines().find(|l| l.starts_with("Plan:")).unwrap_or("no changes");
                    self.say(&format!("terraform plan: {summary} (the whole plan: {})", log.display()));
                }
                StageKind::PackerBuild => {
                    let (built, history) = self.packer_build(&manifest).await?;
                    let template = self.d.packer.value().expect("validated");
                    results = Some(Results::new(
                        &DcosImages(built.clone()),
                        &history,
                        template,
                        &self.d.packer.text,
                        &self.plan.base_images,
                        &self.plan.build_dir,
                    ));
                    images = built;
                    self.journal.images = images.clone();
                }
                StageKind::CheckImages => self.check_images(&images).await?,
                StageKind::ClusterApply => {
                    self.journal.images = images.clone();
                    self.apply(&images).await?;
                }
                StageKind::ClusterOutputs => {
                    let json = self.captured(StageKind::ClusterOutputs).await?;
                    let read = cluster::read_outputs(&json).map_err(|e| Stop::Failed(exit::TOOL_FAILED, e))?;
                    if let Some(c) = &mut self.journal.cluster {
                        c.outputs = Some(read.clone());
                    }
                    let _ = self.journal.save();
                    outputs = Some(read);
                }
                StageKind::InstallDcos => self.install_dcos(outputs.as_ref().expect("outputs come before the install")).await?,
                StageKind::IntegrationTests | StageKind::FrameworkTests => {
                    let (template, suite) = match stage.kind {
                        StageKind::IntegrationTests => (self.config.tests.integration_command.clone(), "integration"),
                        _ => (self.config.tests.framework_command.clone().expect("the plan runs it only when set"), "framework"),
                    };
                    let o = outputs.as_ref().expect("outputs come before the tests");
                    let summary = self.remote_tests(stage.kind, &template, o, suite).await?;
                    passed &= summary.failed == 0;
                    match stage.kind {
                        StageKind::IntegrationTests => self.journal.integration_tests = Some(summary),
                        _ => self.journal.framework_tests = Some(summary),
                    }
                    let _ = self.journal.save();
                }
                StageKind::Publish if !passed => {
                    self.journal.skip(StageKind::Publish.name(), &stage.description, "tests failed: nothing published");
                }
                StageKind::Publish => self.publish(results.as_ref()).await?,
                StageKind::Teardown => unreachable!("the loop ends before the teardown"),
            }
        }
        if !passed {
            return Err(Stop::Failed(exit::NEGATIVE, "tests failed".into()));
        }
        if self.opts.dry_run {
            println!(
                "dry run: the template and the cluster module are valid and the cluster plans; nothing was built, created or published"
            );
        }
        Ok(exit::SUCCESS)
    }

    /// `terraform apply` of the cluster from the image of its region. From
    /// here on, the teardown runs whatever happens.
    async fn apply(&mut self, images: &RegionImages) -> Step<()> {
        let image = images
            .get(&self.plan.cluster_region)
            .cloned()
            .ok_or_else(|| Stop::Failed(exit::TOOL_FAILED, format!("no image in the cluster's region {}", self.plan.cluster_region)))?;
        self.render_cluster(&image).map_err(|e| Stop::Failed(exit::TOOL_FAILED, e))?;
        self.journal.cluster = Some(ClusterRecord {
            dir: self.plan.run_dir.join("cluster"),
            region: self.plan.cluster_region.clone(),
            state: ClusterState::Creating,
            instance_ids: Vec::new(),
            outputs: None,
            ssh_user: self.plan.ssh_user.clone(),
        });
        self.apply_started = true;
        let t = self.begin(StageKind::ClusterApply);
        let call = self.stage(StageKind::ClusterApply).call.clone().expect("apply has a call");
        match self.streamed(&call, "terraform-apply.log", 0, process::GRACE).await {
            Ok(Finished::Exited { success: true, .. }) => {
                self.end(t, StageState::Ok, None);
                self.journal.set_cluster_state(ClusterState::Up);
                Ok(())
            }
            Ok(Finished::Exited { status, .. }) => {
                let m = format!(
                    "failed to create the cluster with terraform: exited with {status} (log: terraform-apply.log)\n{}",
                    self.tail("terraform-apply.log")
                );
                self.end(t, StageState::Failed, Some(m.clone()));
                Err(Stop::Failed(exit::TOOL_FAILED, m))
            }
            Ok(Finished::Interrupted) => {
                self.end(t, StageState::Interrupted, Some("terraform's process group was stopped".into()));
                Err(Stop::Interrupted("interrupted during terraform apply".into()))
            }
            Err(e) => {
                self.end(t, StageState::Failed, Some(e.to_string()));
                Err(Stop::Failed(exit::TOOL_FAILED, e.to_string()))
            }
        }
    }

    fn tail(&self, log: &str) -> String {
        let text = std::fs::read_to_string(self.plan.run_dir.join(log)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(15)..].iter().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
    }

    /// The rendered packer template, a copy of the history, and the cluster's
    /// root module with a placeholder image (enough for `terraform validate`).
    fn render(&self, manifest: &Path, image: &str) -> Result<(), String> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2").ok().filter(|s| !s.is_empty());
        if let Some(h) = &self.d.history {
            std::fs::write(manifest, &h.text).map_err(|e| format!("cannot write {}: {e}", manifest.display()))?;
        }
        let rendered = render::render(
            self.d.packer.value().expect("validated"),
            &render::RenderInputs {
                base_images: &self.plan.base_images,
                description: &self.d.dir.rel,
                build_dir: &self.d.dir.abs,
                manifest,
                ec2_endpoint: endpoint.as_deref(),
            },
        );
        write_json(&self.plan.run_dir.join(PACKER), &rendered)?;
        self.render_cluster(image)
    }

    fn render_cluster(&self, image: &str) -> Result<(), String> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2").ok().filter(|s| !s.is_empty());
        cluster::write_builtin_module(&self.config.cluster, &self.plan.run_dir.join("cluster"))?;
        let module = cluster::RootModule {
            config: &self.config.cluster,
            root: self.root,
            spec: &self.plan.spec,
            region: &self.plan.cluster_region,
            image,
            ssh_user: &self.plan.ssh_user,
            run_id: &self.plan.run_id,
            build_dir: &self.plan.build_dir,
            keep_until: self.plan.keep_until.as_deref(),
            ec2_endpoint: endpoint.as_deref(),
        }
        .render();
        write_json(&self.plan.run_dir.join("cluster/main.tf.json"), &module)
    }

    async fn packer_build(&mut self, manifest: &Path) -> Step<(RegionImages, String)> {
        let t = self.begin(StageKind::PackerBuild);
        let call = self.stage(StageKind::PackerBuild).call.clone().expect("build has a call");
        let template = self.d.packer.value().expect("validated");
        let regions: Vec<String> = template.builders.iter().flat_map(|b| b.image_regions()).collect();
        let mut interrupts = self.interrupts.clone();
        let journal = &mut self.journal;
        // The pid (= process group) goes into the journal as soon as packer
        // starts, so a run that dies mid-build still says what to look for.
        let outcome =
            build::packer_build(&call, &self.plan.run_dir, manifest, &regions, &mut interrupts, &self.label, |p| journal.set_pid(p)).await;
        match outcome {
            BuildOutcome::Built { history_text, images, .. } => {
                self.end(t, StageState::Ok, None);
                Ok((images, history_text))
            }
            BuildOutcome::Failed { error } => {
                self.end(t, StageState::Failed, Some(error.to_string()));
                Err(Stop::Failed(exit::TOOL_FAILED, error.to_string()))
            }
            BuildOutcome::Interrupted => {
                self.end(t, StageState::Interrupted, Some("packer's process group was stopped".into()));
                Err(Stop::Interrupted("interrupted during packer build; packer cleaned up".into()))
            }
        }
    }

    /// EC2 itself: every new image available, then tagged with where it came from.
    async fn check_images(&mut self, images: &RegionImages) -> Step<()> {
        let t = self.begin(StageKind::CheckImages);
        let ec2 = self.ec2.expect("EC2 is loaded for real runs");
        let (build_dir, run_id) = (self.plan.build_dir.as_str(), self.plan.run_id.as_str());
        let checks = images.iter().map(|(region, image)| async move {
            ec2.wait_available(region, image, IMAGE_TIMEOUT).await?;
            ec2.tag(region, image, &[("dcos-images:build-dir", build_dir), ("dcos-images:run-id", run_id)]).await
        });
        let mut interrupts = self.interrupts.clone();
        let results = tokio::select! {
            r = join_all(checks) => r,
            _ = interrupts.after(0) => {
                self.end(t, StageState::Interrupted, None);
                return Err(Stop::Interrupted("interrupted while checking the images".into()));
            }
        };
        if let Some(e) = results.into_iter().find_map(Result::err) {
            self.end(t, StageState::Failed, Some(e.to_string()));
            return Err(Stop::Failed(exit::TOOL_FAILED, e.to_string()));
        }
        self.end(t, StageState::Ok, None);
        Ok(())
    }

    /// Publish, or keep the results in the run directory.
    async fn publish(&mut self, results: Option<&Results>) -> Step<()> {
        let results = results.expect("publishing follows a build");
        let stage = self.stage(StageKind::Publish).clone();
        match (self.publish, &stage.skipped) {
            (Some(target), None) => {
                let t = self.begin(StageKind::Publish);
                let _serial = self.publish_lock.lock().await;
                let written = results.write(&self.d.dir.abs).map_err(|(p, e)| format!("cannot write {}: {e}", p.display()));
                let target = target.clone();
                let rel = self.plan.build_dir.clone();
                let outcome = match written {
                    Ok(w) => tokio::task::spawn_blocking(move || target.commit_and_push(&rel, &w))
                        .await
                        .expect("publish task")
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(()) => {
                        self.end(t, StageState::Ok, None);
                        println!("{}published {}: {}", self.label, self.plan.build_dir, summary(&self.journal.images));
                        Ok(())
                    }
                    Err(m) => {
                        self.end(t, StageState::Failed, Some(m.clone()));
                        Err(Stop::Failed(exit::TOOL_FAILED, m))
                    }
                }
            }
            (_, skipped) => {
                let why = skipped.clone().unwrap_or_else(|| "--no-publish".into());
                let out = self.plan.run_dir.join("results");
                let kept = std::fs::create_dir_all(&out).map_err(|e| (out.clone(), e)).and_then(|_| results.write(&out));
                if let Err((p, e)) = kept {
                    return Err(Stop::Failed(exit::TOOL_FAILED, format!("cannot write {}: {e}", p.display())));
                }
                self.journal.skip(StageKind::Publish.name(), &stage.description, &why);
                println!(
                    "{}built {}: {} (not published: {why}; results in {})",
                    self.label,
                    self.plan.build_dir,
                    summary(&self.journal.images),
                    out.display()
                );
                Ok(())
            }
        }
    }

    /// DC/OS's advanced installation over ssh (install.rs): genconf and the
    /// installer on the bootstrap node, then the masters in parallel, then
    /// all agents in parallel, then the wait until every master passes its
    /// checks and every agent is registered. A failure names the node, its
    /// role, the step and the end of its log.
    async fn install_dcos(&mut self, outputs: &cluster::ClusterOutputs) -> Step<()> {
        let t = self.begin(StageKind::InstallDcos);
        match self.install_steps(outputs).await {
            Ok(()) => {
                self.end(t, StageState::Ok, None);
                Ok(())
            }
            Err(Stop::Interrupted(m)) => {
                self.end(t, StageState::Interrupted, Some(m.clone()));
                Err(Stop::Interrupted(m))
            }
            Err(Stop::Failed(code, m)) => {
                self.end(t, StageState::Failed, Some(m.clone()));
                Err(Stop::Failed(code, m))
            }
        }
    }

    async fn install_steps(&mut self, outputs: &cluster::ClusterOutputs) -> Step<()> {
        let failed = |m: String| Stop::Failed(exit::TOOL_FAILED, m);
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
    async fn remote_steps(&mut self, steps: Vec<(install::Node, &str, ToolCall)>) -> Step<()> {
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
            return Err(Stop::Interrupted("interrupted while installing DC/OS".into()));
        }
        for ((node, step, _), result) in steps.iter().zip(results) {
            let why = match result {
                Ok(Finished::Exited { success: true, .. }) => continue,
                Ok(Finished::Exited { status, .. }) => status,
                Ok(Finished::Interrupted) => unreachable!("handled above"),
                Err(e) => e.to_string(),
            };
            let log = format!("install-{}.log", node.label());
            return Err(Stop::Failed(
                exit::TOOL_FAILED,
                format!(
                    "the DC/OS installation failed on the {} {} ({}): {step}: {why} (log: {log})\n{}",
                    node.role.name(),
                    node.private_ip,
                    node.address,
                    self.tail(&log)
                ),
            ));
        }
        Ok(())
    }

    /// Polls `install.check_command` on every master and
    /// `install.agents_command` on the first, until all pass and every agent
    /// is registered, or `install.timeout_seconds` pass.
    async fn wait_until_up(&mut self, ssh: &Ssh, user: &str, nodes: &install::Nodes) -> Step<()> {
        let install = &self.config.install;
        let expected = nodes.agents.len();
        let timeout = Duration::from_secs(install.timeout_seconds);
        let poll = Duration::from_secs(install.poll_seconds);
        let start = Instant::now();
        let mut last_said = String::new();
        let mut interrupts = self.interrupts.clone();
        loop {
            let checks = nodes.masters.iter().map(|m| {
                let vars = install::CommandVars { node_ip: &m.private_ip, ..Default::default() };
                let call = install::render("install.check_command", &install.check_command, &vars)
                    .map(|c| ssh.run(&format!("check the master {}", m.private_ip), user, &m.address, &c));
                async move {
                    match call {
                        Ok(call) => tokio::task::spawn_blocking(move || call.run_captured()).await.expect("check task").is_ok(),
                        Err(_) => false,
                    }
                }
            });
            let first = &nodes.masters[0];
            let vars = install::CommandVars { node_ip: &first.private_ip, ..Default::default() };
            let agents_call = install::render("install.agents_command", &install.agents_command, &vars)
                .map(|c| ssh.run("count the registered agents", user, &first.address, &c))
                .map_err(|e| Stop::Failed(exit::TOOL_FAILED, e))?;
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
                _ = interrupts.after(0) => return Err(Stop::Interrupted("interrupted while waiting for DC/OS to come up".into())),
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
                return Err(Stop::Failed(
                    exit::TOOL_FAILED,
                    format!(
                        "DC/OS did not come up within {} s (install.timeout_seconds): {state}; on a master, `sudo journalctl -u dcos-mesos-master` and `{}` tell why",
                        install.timeout_seconds, crate::config::DEFAULT_CHECK_COMMAND
                    ),
                ));
            }
            if state != last_said {
                self.say(&format!("  [{elapsed:>5} s] waiting for DC/OS: {state}"));
                last_said = state;
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = interrupts.after(0) => return Err(Stop::Interrupted("interrupted while waiting for DC/OS to come up".into())),
            }
        }
    }

    /// Runs a test command on the first master, fetches its JUnit report and
    /// summarises it. A failed test is a result; a command that produced no
    /// report is a tool failure.
    async fn remote_tests(&mut self, kind: StageKind, template: &str, outputs: &cluster::ClusterOutputs, suite: &str) -> Step<TestSummary> {
        let t = self.begin(kind);
        let junit_remote = format!("/tmp/dcos-images-{}-{suite}.xml", self.plan.run_id);
        let command = test_command::render_command(
            template,
            &test_command::CommandVars {
                master_hosts: &outputs.masters_private_ips,
                slave_hosts: &outputs.private_agents_private_ips,
                public_slave_hosts: &outputs.public_agents_private_ips,
                pytest_args: &self.plan.pytest_args,
                junit_xml: &junit_remote,
            },
        );
        let fail = |this: &mut Self, m: String| {
            this.end(t, StageState::Failed, Some(m.clone()));
            Err(Stop::Failed(exit::TOOL_FAILED, m))
        };
        let command = match command {
            Ok(c) => c,
            Err(e) => return fail(self, e),
        };
        let ssh = match Ssh::locate(self.ssh_config.clone(), &self.plan.run_dir) {
            Ok(s) => s,
            Err(e) => return fail(self, e.to_string()),
        };
        let Some(master) = outputs.first_master(self.config.ssh.connect_to).map(str::to_owned) else {
            return fail(
                self,
                format!("the cluster has no master address to connect to (ssh.connect_to: {:?})", self.config.ssh.connect_to),
            );
        };
        let user = self.plan.ssh_user.clone();
        let call = ssh.run(&format!("run the {suite} tests on {master}"), &user, &master, &command);
        let log = format!("{suite}-tests.log");
        let finished = self.streamed(&call, &log, 0, Duration::from_secs(10)).await;
        match finished {
            Ok(Finished::Interrupted) => {
                self.end(t, StageState::Interrupted, None);
                return Err(Stop::Interrupted(format!("interrupted during the {suite} tests")));
            }
            Err(e) => return fail(self, e.to_string()),
            Ok(Finished::Exited { .. }) => {}
        }
        let local = self.plan.run_dir.join(format!("{suite}-junit.xml"));
        let fetch = ssh.fetch(&format!("fetch the {suite} tests' JUnit report"), &user, &master, &junit_remote);
        let xml = match tokio::task::spawn_blocking(move || fetch.run_captured()).await.expect("fetch task") {
            Ok(xml) => xml,
            Err(e) => {
                let m = format!("the {suite} tests left no JUnit report ({e}); their output is in {log}\n{}", self.tail(&log));
                return fail(self, m);
            }
        };
        let _ = std::fs::write(&local, &xml);
        let summary = match crate::formats::junit::parse(&xml) {
            Ok(s) => s,
            Err(e) => return fail(self, format!("{}: {e}", local.display())),
        };
        let line = format!(
            "{suite} tests: {} passed, {} failed, {} skipped{}",
            summary.passed,
            summary.failed,
            summary.skipped,
            if summary.failed_names.is_empty() { String::new() } else { format!(" (failed: {})", summary.failed_names.join(", ")) }
        );
        self.say(&line);
        let state = if summary.failed == 0 { StageState::Ok } else { StageState::Failed };
        self.end(t, state, Some(line));
        Ok(summary)
    }

    /// Destroys the cluster, then asks EC2 about every instance the state
    /// held. Err: resources may be alive; the message says what and how to clean up.
    async fn teardown(&mut self, keep: bool) -> Result<(), String> {
        let handled_before_teardown = self.interrupts.count();
        let tf_dir = self.plan.run_dir.join("cluster");
        let by_hand = format!(
            "dcos-images destroy {} --run-dir {}   (or: {})",
            self.plan.run_id,
            self.opts.run_root.display(),
            Terraform::destroy_by_hand(&tf_dir)
        );
        // What the state holds, read before it is destroyed.
        let show =
            self.stage(StageKind::Teardown).call.clone().map(|c| Terraform { program: c.program.clone(), dir: tf_dir.clone() }.show());
        if let Some(show) = show {
            if let Ok(Ok(out)) = tokio::task::spawn_blocking(move || show.run_captured()).await {
                let ids = tf::instance_ids(&out);
                if let Some(c) = &mut self.journal.cluster {
                    c.instance_ids = ids;
                }
                let _ = self.journal.save();
            }
        }
        if keep {
            self.skip(StageKind::Teardown);
            self.journal.set_cluster_state(ClusterState::Kept);
            let outputs = self.journal.cluster.as_ref().and_then(|c| c.outputs.clone());
            let reach = match outputs.as_ref().and_then(|o| o.first_master(self.config.ssh.connect_to)) {
                Some(m) => format!("ssh {}@{m}", self.plan.ssh_user),
                None => "(no master address: apply did not finish)".into(),
            };
            let mut lines = vec![format!("  reach it:   {reach}")];
            if let Some(ui) = outputs.as_ref().and_then(|o| o.masters_public_ips.first()) {
                lines.push(format!("  DC/OS UI:   http://{ui}/"));
            }
            if let Some(until) = &self.plan.keep_until {
                lines.push(format!("  keep until: {until} (tag dcos-images:keep-until)"));
            }
            let remove = match self.opts.cluster_up {
                Some(_) => format!("dcos-images cluster down {} --run-dir {}", self.plan.run_id, self.opts.run_root.display()),
                None => by_hand.clone(),
            };
            lines.push(format!("  remove it:  {remove}"));
            let why = if self.opts.cluster_up.is_some() { "cluster up" } else { "--keep-cluster" };
            self.say(&format!("the cluster is kept ({why})\n{}", lines.join("\n")));
            return Ok(());
        }
        let t = self.begin(StageKind::Teardown);
        self.journal.set_cluster_state(ClusterState::Destroying);
        // A destroy is never stopped by one Ctrl-C: the first interrupt of a
        // run stops the tool that was running and leads here; any signal from
        // now on (a second one) stops the destroy at once.
        let handled = handled_before_teardown.max(1);
        let call = self.stage(StageKind::Teardown).call.clone().expect("destroy has a call");
        let finished = self.streamed(&call, "terraform-destroy.log", handled, Duration::ZERO).await;
        let destroyed = match finished {
            Ok(Finished::Exited { success: true, .. }) => Ok(()),
            Ok(Finished::Exited { status, .. }) => {
                Err(format!("terraform destroy exited with {status}\n{}", self.tail("terraform-destroy.log")))
            }
            Ok(Finished::Interrupted) => Err("terraform destroy was stopped by a second interrupt".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let alive = self.alive_instances().await;
        match (destroyed, alive) {
            (Ok(()), Ok(alive)) if alive.is_empty() => {
                self.end(t, StageState::Ok, None);
                self.journal.set_cluster_state(ClusterState::Destroyed);
                Ok(())
            }
            (destroyed, alive) => {
                let mut m = String::new();
                if let Err(e) = destroyed {
                    m.push_str(&e);
                    m.push('\n');
                }
                match alive {
                    Ok(a) if !a.is_empty() => {
                        m.push_str(&format!("THESE INSTANCES ARE STILL RUNNING in {}: {}\n", self.plan.cluster_region, a.join(", ")))
                    }
                    Err(e) => m.push_str(&format!("cannot ask EC2 whether the instances are gone: {e}\n")),
                    _ => {}
                }
                m.push_str(&format!("clean up with: {by_hand}"));
                self.end(t, StageState::Failed, Some(m.clone()));
                self.journal.set_cluster_state(ClusterState::DestroyFailed);
                Err(m)
            }
        }
    }

    /// Every instance of the run still alive: those the state held, and those
    /// tagged with the run id (an interrupted create can miss the state).
    async fn alive_instances(&self) -> Result<Vec<String>, String> {
        let Some(c) = &self.journal.cluster else { return Ok(Vec::new()) };
        let ec2 = self.ec2.expect("EC2 is loaded for real runs");
        alive(ec2, &c.region, &c.instance_ids, &self.plan.run_id).await
    }
}

async fn alive(ec2: &Ec2, region: &str, ids: &[String], run_id: &str) -> Result<Vec<String>, String> {
    let mut alive = ec2.instances_not_terminated(region, ids).await.map_err(|e| e.to_string())?;
    for id in ec2.tagged_instances_alive(region, "dcos-images:run-id", run_id).await.map_err(|e| e.to_string())? {
        if !alive.contains(&id) {
            alive.push(id);
        }
    }
    Ok(alive)
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(value).expect("serializes");
    text.push('\n');
    crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn summary(images: &RegionImages) -> String {
    images.iter().map(|(r, i)| format!("{r}={i}")).collect::<Vec<_>>().join(" ")
}

/// Awaits every future concurrently on this task (tokio's JoinSet needs
/// 'static futures; these borrow the plan). All real work is in child
/// processes and EC2 calls, so concurrency is what counts, not threads.
pub async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future finished")).collect()
}

/// `dcos-images destroy RUN_ID`: from the journal alone, also for a run whose
/// process died.
pub fn destroy_blocking(run_root: &Path, run_id: &str) -> Result<u8, Error> {
    runtime()?.block_on(destroy(run_root, run_id))
}

async fn destroy(run_root: &Path, run_id: &str) -> Result<u8, Error> {
    let run_dir = run_root.join(run_id);
    let mut journal = Journal::load(&run_dir).ok_or_else(|| {
        Error::usage(format!("no run `{run_id}` under {}", run_root.display()), "`dcos-images runs --run-dir DIR` lists the runs")
    })?;
    if journal.state == RunState::Running && !journal.died() {
        return Err(Error::usage(
            format!("run {run_id} is still running (pid {})", journal.pid),
            "stop it with Ctrl-C (it tears its cluster down), or wait for it",
        ));
    }
    let Some(cluster) = journal.cluster.clone() else {
        println!("run {run_id} created no cluster: nothing to destroy");
        return Ok(exit::SUCCESS);
    };
    let terraform = Terraform { program: tools::locate(Tool::Terraform, None)?, dir: cluster.dir.clone() };
    let ec2 = Ec2::load().await;
    let mut interrupts = Interrupts::install().map_err(|e| Error::usage(format!("cannot install signal handlers: {e}"), "run again"))?;
    // The state knows best what exists now; the journal is the fallback.
    let mut ids = cluster.instance_ids.clone();
    let show = terraform.show();
    if let Ok(Ok(out)) = tokio::task::spawn_blocking(move || show.run_captured()).await {
        for id in tf::instance_ids(&out) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    if let Some(c) = &mut journal.cluster {
        c.instance_ids = ids.clone();
        c.state = ClusterState::Destroying;
    }
    let _ = journal.save();
    eprintln!("==> destroy the cluster of {run_id} with terraform");
    let finished = process::run_streaming(
        &terraform.destroy(),
        &run_dir.join("terraform-destroy.log"),
        &mut interrupts,
        0,
        process::StopWith::LeaderInterrupt,
        process::GRACE,
        |_, l| eprintln!("{l}"),
        |_| {},
    )
    .await?;
    let alive = alive(&ec2, &cluster.region, &ids, run_id).await.map_err(|e| Error::usage(e, "check your AWS credentials"))?;
    let ok = matches!(finished, Finished::Exited { success: true, .. }) && alive.is_empty();
    journal.set_cluster_state(if ok { ClusterState::Destroyed } else { ClusterState::DestroyFailed });
    if ok {
        println!("destroyed the cluster of {run_id}: {} instance(s) terminated", ids.len());
        Ok(exit::SUCCESS)
    } else {
        eprintln!(
            "error: TEARDOWN FAILED for {run_id}: still running: {}\n  retry: {}",
            alive.join(", "),
            Terraform::destroy_by_hand(&cluster.dir)
        );
        Ok(exit::TEARDOWN_FAILED)
    }
}
