//! `dcos-images qualify`: each build directory becomes a [`plan::Plan`]
//! (data), printed, then executed stage by stage with a journal:
//!
//! render -> packer validate -> terraform init + validate (a broken cluster
//! module must not cost an image) -> packer build -> EC2 image checks ->
//! terraform apply -> outputs -> integration tests -> framework tests ->
//! teardown, with publish after the step `publish_dcos_images_after` names.
//! Once `apply` has started, teardown runs whatever happens after it.
//!
//! plan.rs computes each run's plan; run.rs walks it (a method per stage;
//! install.rs and teardown.rs hold the two longest); ci.rs reports to GitHub.

pub mod build;
mod ci;
pub mod cluster;
pub mod identity;
pub mod install;
pub mod plan;
pub mod preflight;
pub mod publish;
pub mod render;
mod run;
mod teardown;
pub mod test_command;

use crate::cloud::ec2::Ec2;
use crate::config::RootConfig;
use crate::diagnostic::Severity;
use crate::error::{exit, Error};
use crate::formats::publish_config::PublishStep;
use crate::formats::RegionImages;
use crate::journal::Journal;
use crate::tools::git::Git;
use crate::tools::process::Interrupts;
use crate::tools::{self, Tool};
use crate::tree::{LoadedBuildDir, Tree};
use plan::Plan;
use publish::PublishTarget;
use run::Run;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use ci::report_blocking;
pub use run::attempts_said;
pub use teardown::{destroy_blocking, destroy_runs};

#[derive(Debug, Clone)]
pub struct QualifyOptions {
    pub build_dirs: Vec<PathBuf>,
    pub dry_run: bool,
    pub no_publish: bool,
    pub keep_cluster: bool,
    /// Keep the images of a run that fails (`--keep-images`).
    pub keep_images: bool,
    pub jobs: usize,
    /// Parent of the run directories.
    pub run_root: PathBuf,
    pub publish_branch: Option<String>,
    pub selection: test_command::Selection,
    /// The CI build's address for the reports (else the CI's own variables).
    pub build_url: Option<String>,
    /// The pull request to comment on (else the CI's own variables).
    pub pr: Option<u64>,
    /// No pull request comment: a final `report` job comments for every job.
    pub no_comment: bool,
    /// `cluster up`: a cluster for engineers instead of a qualification.
    pub cluster_up: Option<ClusterUp>,
    /// `--rebuild`: build even when a recorded build has the same inputs.
    pub rebuild: bool,
    /// `--retries N`, over `tests.retries`.
    pub retries: Option<u32>,
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
pub(super) const IMAGE_TIMEOUT: Duration = Duration::from_secs(45 * 60);

/// Where run directories go by default: the user's state directory, outside
/// every tracked tree.
pub fn default_run_root() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    state.join("dcos-images/runs")
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
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
pub(super) struct Tools {
    pub(super) packer: PathBuf,
    pub(super) terraform: PathBuf,
}

pub async fn qualify(root: &Path, tree: &Tree, config: &RootConfig, opts: &QualifyOptions) -> Result<u8, Error> {
    if opts.run_root.starts_with(root) {
        return Err(Error::usage(
            format!("--run-dir {} is inside the tree {}", opts.run_root.display(), root.display()),
            "run directories hold logs, state and rendered templates that must not be committed: choose a directory outside the tree",
        ));
    }
    let dirs = resolve(root, tree, &opts.build_dirs)?;
    refuse_invalid(tree, config, &dirs)?;
    let tools = Tools { packer: tools::locate(Tool::Packer, None)?, terraform: tools::locate(Tool::Terraform, None)? };
    tools::locate(Tool::Ssh, None)?;
    let ec2 = Ec2::load().await;
    // Where each run's images come from: a reuse needs EC2 to say the
    // recorded build's images are still there, before the plan says so.
    let sources = join_all(dirs.iter().map(|d| identity::decide(&ec2, tree, d, opts))).await;
    let plans: Vec<Plan> =
        dirs.iter().zip(sources).map(|(d, source)| plan::make_plan(tree, config, d, &tools, opts, source)).collect::<Result<_, _>>()?;
    let ssh_config = config.ssh.config_file.as_ref().map(|f| root.join(f));
    if let Some(f) = &ssh_config {
        if !f.is_file() {
            return Err(Error::usage(format!("ssh.config_file {} does not exist", f.display()), "fix ssh.config_file in dcos-images.yaml"));
        }
    }
    let publishes = plans.iter().any(|p| p.config.publish_dcos_images_after != PublishStep::Never);
    let publish = if !opts.dry_run && !opts.no_publish && publishes { Some(publish_target(root, config, opts)?) } else { None };

    // Before anything is spent (a dry run asks too): EC2, per region.
    let builtin_module = config.cluster.module.is_none();
    let reports = join_all(dirs.iter().zip(&plans).map(|(d, plan)| {
        let ec2 = &ec2;
        async move {
            let template = d.packer.value().expect("a valid build directory's packer.json parses");
            preflight::check(ec2, plan, template, builtin_module).await
        }
    }))
    .await;
    for (plan, report) in plans.iter().zip(&reports) {
        let label = if plans.len() > 1 { format!("{} ", short(&plan.build_dir)) } else { String::new() };
        eprintln!("{label}preflight (asked EC2; nothing created):");
        for line in &report.checked {
            eprintln!("{label}  {line}");
        }
        for w in &report.warnings {
            eprintln!("{label}  warning: {w}");
        }
    }
    let pairs: Vec<(&Plan, &preflight::Report)> = plans.iter().zip(&reports).collect();
    if let Some(e) = preflight::refusal_error(&pairs) {
        return Err(e);
    }

    let interrupts = Interrupts::install().map_err(|e| Error::usage(format!("cannot install signal handlers: {e}"), "run again"))?;
    let ec2 = if opts.dry_run { None } else { Some(ec2) };
    let build_url = crate::report::build_url(opts.build_url.as_deref());
    // A cluster for an engineer is no pull request's business.
    // The commit qualified, for the reports and as the statuses' fallback commit.
    let commit = ci::tree_head(root);
    let ci = if opts.dry_run || opts.cluster_up.is_some() { None } else { ci::ci_reporter(commit.clone(), opts) };
    if let Some(ci) = &ci {
        let pending: Vec<_> =
            plans.iter().map(|p| (p.build_dir.clone(), crate::github::Status::Pending, format!("qualifying (run {})", p.run_id))).collect();
        ci::warn_all(ci.statuses(&pending, build_url.as_deref()).await);
    }
    let label = dirs.len() > 1;
    // Publishing commits to one work tree: one at a time.
    let publish_lock = tokio::sync::Mutex::new(());
    let jobs = tokio::sync::Semaphore::new(opts.jobs.max(1));
    let runs = dirs.iter().zip(&plans).map(|(d, plan)| {
        let mut journal =
            Journal::start(&plan.run_id, &plan.build_dir, root, &plan.run_dir, plan.config.publish_dcos_images_after.as_str());
        // Where the run may create anything: what `destroy` searches.
        let mut regions: Vec<String> =
            d.packer.value().map(|t| t.builders.iter().flat_map(|b| b.image_regions()).collect()).unwrap_or_default();
        regions.push(plan.cluster_region.clone());
        regions.sort();
        regions.dedup();
        journal.regions = regions;
        journal.commit = commit.clone();
        journal.build_url = build_url.clone();
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
            journal,
            label: if label { format!("{} ", short(&plan.build_dir)) } else { String::new() },
            ssh_config: ssh_config.clone(),
            apply_started: false,
            current_stage: None,
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
    ci::report_all(&plans, opts, ci.as_ref(), build_url.as_deref()).await;
    if codes.len() > 1 {
        eprintln!("\nsummary:");
        for (plan, code) in plans.iter().zip(&codes) {
            eprintln!("  {:<4} {} (run {})", code, plan.build_dir, plan.run_id);
        }
    }
    Ok(worst(&codes))
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
fn refuse_invalid(tree: &Tree, config: &RootConfig, dirs: &[&LoadedBuildDir]) -> Result<(), Error> {
    let selected: Vec<&str> = dirs.iter().map(|d| d.dir.rel.as_str()).collect();
    let errors: Vec<_> = crate::validate::validate(tree, crate::validate::Rules::of(config))
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .filter(|d| match &d.build_dir {
            Some(bd) => selected.contains(&&**bd),
            None => dirs.iter().any(|x| tree.base_images_for(&x.dir).is_some_and(|b| *b.rel == *d.file)),
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

pub(super) fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(value).expect("serializes");
    text.push('\n');
    crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub(super) fn summary(images: &RegionImages) -> String {
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
