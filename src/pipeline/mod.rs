//! `dcos-images qualify`: each build directory becomes a [`plan::Plan`]
//! (data), printed, then executed stage by stage with a journal.
//!
//! Stages: render the template into a run directory; `packer validate`;
//! `packer build`; ask EC2 that every new image is available, and tag it;
//! publish (commit and push) after `packer_build`. The cluster and the tests
//! (publish after `dcos_installation` / `integration_tests`, and `never`) are
//! the next part: such directories are refused before anything is spent.

pub mod build;
pub mod plan;
pub mod publish;
pub mod render;

use crate::cloud::ec2::Ec2;
use crate::config::RootConfig;
use crate::diagnostic::Severity;
use crate::error::{exit, Error};
use crate::formats::dcos_images::DcosImages;
use crate::formats::publish_config::PublishStep;
use crate::journal::{Journal, RunState, StageState};
use crate::tools::git::Git;
use crate::tools::process::Interrupts;
use crate::tools::{self, Tool, ToolCall};
use crate::tree::{LoadedBuildDir, Tree, HISTORY, PACKER};
use build::BuildOutcome;
use plan::{Plan, Stage, StageKind};
use publish::{PublishTarget, Results};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct QualifyOptions {
    pub build_dirs: Vec<PathBuf>,
    pub dry_run: bool,
    pub no_publish: bool,
    /// Parent of the run directories.
    pub run_root: PathBuf,
    pub publish_branch: Option<String>,
}

/// How long EC2 may take to make a new image available.
const IMAGE_TIMEOUT: Duration = Duration::from_secs(45 * 60);

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
    let salt = (now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{slug}-{salt:04x}", now.format("%Y%m%dT%H%M%SZ"))
}

pub fn qualify_blocking(root: &Path, tree: &Tree, config: &RootConfig, opts: &QualifyOptions) -> Result<u8, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::usage(format!("cannot start the async runtime: {e}"), "check the process limits"))?;
    runtime.block_on(qualify(root, tree, config, opts))
}

pub async fn qualify(root: &Path, tree: &Tree, config: &RootConfig, opts: &QualifyOptions) -> Result<u8, Error> {
    if opts.run_root.starts_with(root) {
        return Err(Error::usage(
            format!("--run-dir {} is inside the tree {}", opts.run_root.display(), root.display()),
            "run directories hold logs and rendered templates that must not be committed: choose a directory outside the tree",
        ));
    }
    let dirs = resolve(root, tree, &opts.build_dirs)?;
    refuse_invalid(tree, &dirs)?;
    let packer = tools::locate(Tool::Packer, None)?;
    let plans: Vec<Plan> = dirs.iter().map(|d| make_plan(tree, d, &packer, opts)).collect();
    if !opts.dry_run {
        refuse_unrunnable(&plans, opts)?;
    }
    let publish = if !opts.dry_run && !opts.no_publish { Some(publish_target(root, config, opts)?) } else { None };

    let mut interrupts = Interrupts::install().map_err(|e| Error::usage(format!("cannot install signal handlers: {e}"), "run again"))?;
    let ec2 = if opts.dry_run { None } else { Some(Ec2::load().await) };
    let mut worst = exit::SUCCESS;
    for (d, plan) in dirs.iter().zip(&plans) {
        if opts.dry_run {
            print!("{}", plan.render_text());
        } else {
            eprintln!("qualifying {} (run {})\n  run directory: {}", plan.build_dir, plan.run_id, plan.run_dir.display());
        }
        let code = execute(root, d, plan, opts, publish.as_ref(), ec2.as_ref(), &mut interrupts).await;
        worst = worst.max(code);
        if code == exit::INTERRUPTED {
            return Ok(exit::INTERRUPTED);
        }
    }
    Ok(worst)
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
    let report = crate::validate::output::render(crate::validate::output::Format::Text, &errors, dirs.len());
    Err(Error::Invalid { report })
}

/// Publish steps after the cluster need the cluster stage, which this
/// version does not run: refused before an image is paid for.
fn refuse_unrunnable(plans: &[Plan], opts: &QualifyOptions) -> Result<(), Error> {
    for p in plans {
        let step = p.config.publish_dcos_images_after;
        let needs_cluster = match step {
            PublishStep::PackerBuild => false,
            PublishStep::Never => true,
            PublishStep::DcosInstallation | PublishStep::IntegrationTests => !opts.no_publish,
        };
        if needs_cluster {
            return Err(Error::usage(
                format!(
                    "{}: publish_dcos_images_after is {step}, which needs a cluster; this version of dcos-images builds and publishes images but does not create clusters or run tests yet",
                    p.build_dir
                ),
                "use --dry-run to check it, --no-publish to build its image without publishing (not for `never`), or publish_dcos_images_after: packer_build",
            ));
        }
    }
    Ok(())
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

fn make_plan(tree: &Tree, d: &LoadedBuildDir, packer: &Path, opts: &QualifyOptions) -> Plan {
    let config = d.config().expect("a valid build directory has a readable config");
    let base_file = tree.base_images_for(&d.dir).expect("a valid build directory has base images");
    let base_map = base_file.value().expect("valid base images parse");
    let template = d.packer.value().expect("a valid packer.json parses");
    let base_images =
        template.builders.iter().filter_map(|b| b.region.clone()).filter_map(|r| base_map.get(&r).map(|i| (r, i.to_owned()))).collect();
    let run_id = new_run_id(&d.dir.rel);
    let run_dir = opts.run_root.join(&run_id);
    let packer_call = |description: &str, args: &[&str]| ToolCall {
        description: description.to_owned(),
        program: packer.to_owned(),
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        cwd: run_dir.clone(),
    };
    let step = config.publish_dcos_images_after;
    let never = step == PublishStep::Never;
    let dry = opts.dry_run.then(|| "dry run".to_owned());
    let publish_skip = if never {
        Some("publish step is never".to_owned())
    } else if opts.no_publish {
        Some("--no-publish: results stay in the run directory".to_owned())
    } else if step != PublishStep::PackerBuild {
        Some(format!("publishes after {step}, which needs the cluster stage"))
    } else {
        dry.clone()
    };
    let stages = vec![
        Stage {
            kind: StageKind::Render,
            description: "render packer.json into the run directory (base image, description, absolute provisioner paths)".into(),
            call: None,
            skipped: None,
            spends: false,
        },
        Stage {
            kind: StageKind::PackerValidate,
            description: "check the rendered template with packer".into(),
            call: Some(packer_call("check the rendered template with packer", &["validate", PACKER])),
            skipped: None,
            spends: false,
        },
        Stage {
            kind: StageKind::PackerBuild,
            description: "build the image with packer".into(),
            call: Some(packer_call("build the image with packer", &["build", "-machine-readable", PACKER])),
            skipped: if never { Some("publish step is never: the recorded images are tested".into()) } else { dry.clone() },
            spends: true,
        },
        Stage {
            kind: StageKind::CheckImages,
            description: "ask EC2 that each new image is available in every region, and tag it".into(),
            call: None,
            skipped: if never { Some("no image is built".into()) } else { dry.clone() },
            spends: true,
        },
        Stage {
            kind: StageKind::Publish,
            description: format!("publish dcos_images.yaml, the history and packer.json (after {step})"),
            call: None,
            skipped: publish_skip,
            spends: true,
        },
    ];
    Plan { run_id, build_dir: d.dir.rel.clone(), config, base_images, base_images_file: base_file.rel.clone(), run_dir, stages }
}

/// Runs one plan; returns its exit code. Every stage is journaled.
async fn execute(
    root: &Path,
    d: &LoadedBuildDir,
    plan: &Plan,
    opts: &QualifyOptions,
    publish: Option<&PublishTarget>,
    ec2: Option<&Ec2>,
    interrupts: &mut Interrupts,
) -> u8 {
    if let Err(e) = std::fs::create_dir_all(&plan.run_dir) {
        eprintln!("error: cannot create the run directory {}: {e}", plan.run_dir.display());
        return exit::TOOL_FAILED;
    }
    let mut journal = Journal::start(&plan.run_id, &plan.build_dir, root, &plan.run_dir, plan.config.publish_dcos_images_after.as_str());
    let _ = journal.save();
    let fail = |journal: &mut Journal, state: RunState, code: u8, message: String| {
        eprintln!("error: {}: {message}", plan.build_dir);
        journal.finish(state, code, Some(message));
        code
    };
    let stage_of = |k| plan.stage(k);

    // Render.
    let t = Instant::now();
    let manifest = plan.run_dir.join(HISTORY);
    journal.begin(StageKind::Render.name(), &stage_of(StageKind::Render).description);
    if let Err(e) = render_into_run_dir(d, plan, &manifest) {
        journal.end(StageState::Failed, t.elapsed().as_secs_f64(), Some(e.clone()));
        return fail(&mut journal, RunState::Failed, exit::TOOL_FAILED, e);
    }
    journal.end(StageState::Ok, t.elapsed().as_secs_f64(), None);

    // packer validate: cheap, and a broken template must not cost an instance.
    let t = Instant::now();
    let validate = stage_of(StageKind::PackerValidate);
    journal.begin(StageKind::PackerValidate.name(), &validate.description);
    let call = validate.call.clone().expect("validate has a call");
    match tokio::task::spawn_blocking(move || call.run_captured()).await.expect("validate task") {
        Ok(_) => journal.end(StageState::Ok, t.elapsed().as_secs_f64(), None),
        Err(e) => {
            journal.end(StageState::Failed, t.elapsed().as_secs_f64(), Some(e.to_string()));
            return fail(&mut journal, RunState::Failed, exit::TOOL_FAILED, e.to_string());
        }
    }
    if opts.dry_run {
        for k in [StageKind::PackerBuild, StageKind::CheckImages, StageKind::Publish] {
            journal.skip(k.name(), &stage_of(k).description, "dry run");
        }
        journal.finish(RunState::Planned, exit::SUCCESS, None);
        println!("dry run: the template is valid for packer; nothing was built, nothing was published");
        return exit::SUCCESS;
    }
    if interrupts.count() > 0 {
        return fail(&mut journal, RunState::Interrupted, exit::INTERRUPTED, "interrupted before packer build".into());
    }

    // packer build.
    let t = Instant::now();
    let build = stage_of(StageKind::PackerBuild);
    journal.begin(StageKind::PackerBuild.name(), &build.description);
    let template = d.packer.value().expect("validated");
    let regions: Vec<String> = template.builders.iter().flat_map(|b| b.image_regions()).collect();
    // The pid (= process group) goes into the journal as soon as packer
    // starts, so a run that dies mid-build still says what to look for.
    let outcome =
        build::packer_build(build.call.as_ref().expect("build has a call"), &plan.run_dir, &manifest, &regions, interrupts, |p| {
            journal.set_pid(p)
        })
        .await;
    let (history_text, images) = match outcome {
        BuildOutcome::Built { history_text, images, .. } => {
            journal.images = images.clone();
            journal.end(StageState::Ok, t.elapsed().as_secs_f64(), None);
            (history_text, images)
        }
        BuildOutcome::Failed { error } => {
            journal.end(StageState::Failed, t.elapsed().as_secs_f64(), Some(error.to_string()));
            return fail(&mut journal, RunState::Failed, exit::TOOL_FAILED, error.to_string());
        }
        BuildOutcome::Interrupted => {
            journal.end(StageState::Interrupted, t.elapsed().as_secs_f64(), Some("packer's process group was stopped".into()));
            return fail(
                &mut journal,
                RunState::Interrupted,
                exit::INTERRUPTED,
                "interrupted during packer build; packer cleaned up".into(),
            );
        }
    };

    // EC2: every new image available, then tagged with where it came from.
    let t = Instant::now();
    journal.begin(StageKind::CheckImages.name(), &stage_of(StageKind::CheckImages).description);
    let ec2 = ec2.expect("EC2 is loaded for real runs");
    let checks = images.iter().map(|(region, image)| async move {
        ec2.wait_available(region, image, IMAGE_TIMEOUT).await?;
        ec2.tag(region, image, &[("dcos-images:build-dir", &plan.build_dir), ("dcos-images:run-id", &plan.run_id)]).await
    });
    let results = tokio::select! {
        r = futures_join_all(checks) => r,
        _ = interrupts.after(0) => {
            journal.end(StageState::Interrupted, t.elapsed().as_secs_f64(), None);
            return fail(&mut journal, RunState::Interrupted, exit::INTERRUPTED, "interrupted while checking the images".into());
        }
    };
    if let Some(e) = results.into_iter().find_map(Result::err) {
        journal.end(StageState::Failed, t.elapsed().as_secs_f64(), Some(e.to_string()));
        return fail(&mut journal, RunState::Failed, exit::TOOL_FAILED, e.to_string());
    }
    journal.end(StageState::Ok, t.elapsed().as_secs_f64(), None);

    // Publish, or keep the results in the run directory.
    let t = Instant::now();
    let results = Results::new(&DcosImages(images.clone()), &history_text, template, &d.packer.text, &plan.base_images, &plan.build_dir);
    let publish_stage = stage_of(StageKind::Publish);
    match (publish, &publish_stage.skipped) {
        (Some(target), None) => {
            journal.begin(StageKind::Publish.name(), &publish_stage.description);
            let written = match results.write(&d.dir.abs) {
                Ok(w) => w,
                Err((p, e)) => {
                    let m = format!("cannot write {}: {e}", p.display());
                    journal.end(StageState::Failed, t.elapsed().as_secs_f64(), Some(m.clone()));
                    return fail(&mut journal, RunState::Failed, exit::TOOL_FAILED, m);
                }
            };
            let target = target.clone();
            let rel = plan.build_dir.clone();
            match tokio::task::spawn_blocking(move || target.commit_and_push(&rel, &written)).await.expect("publish task") {
                Ok(()) => journal.end(StageState::Ok, t.elapsed().as_secs_f64(), None),
                Err(e) => {
                    journal.end(StageState::Failed, t.elapsed().as_secs_f64(), Some(e.to_string()));
                    return fail(&mut journal, RunState::Failed, exit::TOOL_FAILED, e.to_string());
                }
            }
            journal.finish(RunState::Qualified, exit::SUCCESS, None);
            println!("qualified {}: {}", plan.build_dir, summary(&images));
            exit::SUCCESS
        }
        (_, skipped) => {
            let why = skipped.clone().unwrap_or_else(|| "--no-publish".into());
            let out = plan.run_dir.join("results");
            let kept = std::fs::create_dir_all(&out).map_err(|e| (out.clone(), e)).and_then(|_| results.write(&out));
            if let Err((p, e)) = kept {
                return fail(&mut journal, RunState::Failed, exit::TOOL_FAILED, format!("cannot write {}: {e}", p.display()));
            }
            journal.skip(StageKind::Publish.name(), &publish_stage.description, &why);
            journal.finish(RunState::Built, exit::SUCCESS, None);
            println!("built {}: {} (not published: {why}; results in {})", plan.build_dir, summary(&images), out.display());
            exit::SUCCESS
        }
    }
}

fn summary(images: &crate::formats::RegionImages) -> String {
    images.iter().map(|(r, i)| format!("{r}={i}")).collect::<Vec<_>>().join(" ")
}

/// Awaits every future concurrently (tokio's JoinSet needs 'static futures;
/// these borrow the plan).
async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
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

/// The rendered template and a copy of the history (packer appends to it).
fn render_into_run_dir(d: &LoadedBuildDir, plan: &Plan, manifest: &Path) -> Result<(), String> {
    if let Some(h) = &d.history {
        std::fs::write(manifest, &h.text).map_err(|e| format!("cannot write {}: {e}", manifest.display()))?;
    }
    let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2").ok().filter(|s| !s.is_empty());
    let rendered = render::render(
        d.packer.value().expect("validated"),
        &render::RenderInputs {
            base_images: &plan.base_images,
            description: &d.dir.rel,
            build_dir: &d.dir.abs,
            manifest,
            ec2_endpoint: endpoint.as_deref(),
        },
    );
    let out = plan.run_dir.join(PACKER);
    let mut text = serde_json::to_string_pretty(&rendered).expect("serializes");
    text.push('\n');
    crate::fsutil::write_atomic(&out, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", out.display()))
}
