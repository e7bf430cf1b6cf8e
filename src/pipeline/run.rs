//! One build directory's run: the executor walks the plan's stages in
//! order and dispatches on each one's kind; the journal records every step.

use super::build::{self, BuildOutcome};
use super::plan::{ImageSource, Plan, Stage, StageKind};
use super::publish::{PublishTarget, Results};
use super::{cluster, join_all, render, summary, test_command, write_json, QualifyOptions, IMAGE_TIMEOUT};
use crate::cloud::ec2::Ec2;
use crate::cloud::sweep;
use crate::config::RootConfig;
use crate::error::exit;
use crate::formats::dcos_images::DcosImages;
use crate::formats::junit::TestSummary;
use crate::formats::RegionImages;
use crate::journal::{ClusterRecord, ClusterState, Journal, RunState, StageState};
use crate::tools::process::{self, Finished, Interrupts, Stream};
use crate::tools::ssh::{shell_quote, Ssh};
use crate::tools::{ToolCall, ToolError};
use crate::tree::{LoadedBuildDir, HISTORY, PACKER};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One build directory's run.
pub(super) struct Run<'a> {
    pub(super) root: &'a Path,
    pub(super) d: &'a LoadedBuildDir,
    pub(super) plan: &'a Plan,
    pub(super) opts: &'a QualifyOptions,
    pub(super) config: &'a RootConfig,
    pub(super) publish: Option<&'a PublishTarget>,
    pub(super) publish_lock: &'a tokio::sync::Mutex<()>,
    pub(super) ec2: Option<&'a Ec2>,
    pub(super) interrupts: Interrupts,
    pub(super) journal: Journal,
    /// Prefix of printed lines when several directories run at once.
    pub(super) label: String,
    pub(super) ssh_config: Option<PathBuf>,
    pub(super) apply_started: bool,
    /// The stage the executor is in: a stage's error is tagged with it.
    pub(super) current_stage: Option<StageKind>,
}

/// How a stage ended, when it did not simply succeed. The kind decides the
/// exit code (one map: [`StageErrorKind::exit_code`]); the message says why.
#[derive(Debug)]
pub(super) struct StageError {
    /// The stage that failed (set as the executor passes it on).
    pub stage: Option<StageKind>,
    pub kind: StageErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StageErrorKind {
    /// A tool, a remote command, EC2 or a file failed.
    ToolFailed,
    /// The cluster ran, and tests failed on it.
    TestsFailed,
    /// A signal stopped the stage.
    Interrupted,
}

impl StageErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            StageErrorKind::ToolFailed => exit::TOOL_FAILED,
            StageErrorKind::TestsFailed => exit::NEGATIVE,
            StageErrorKind::Interrupted => exit::INTERRUPTED,
        }
    }
}

impl StageError {
    pub(super) fn new(kind: StageErrorKind, message: impl Into<String>) -> StageError {
        StageError { stage: None, kind, message: message.into() }
    }
    pub fn tool(message: impl Into<String>) -> StageError {
        StageError::new(StageErrorKind::ToolFailed, message)
    }
    pub fn tests_failed(message: impl Into<String>) -> StageError {
        StageError::new(StageErrorKind::TestsFailed, message)
    }
    pub fn interrupted(message: impl Into<String>) -> StageError {
        StageError::new(StageErrorKind::Interrupted, message)
    }
    /// The stage it happened in, unless it is known already.
    pub fn at(mut self, stage: StageKind) -> StageError {
        self.stage.get_or_insert(stage);
        self
    }
}

pub(super) type Step<T> = Result<T, StageError>;

impl Run<'_> {
    pub(super) fn say(&self, line: &str) {
        eprintln!("{}{line}", self.label);
    }

    pub(super) fn stage(&self, kind: StageKind) -> &Stage {
        self.plan.stage(kind)
    }

    pub(super) fn begin(&mut self, kind: StageKind) -> Instant {
        let description = self.stage(kind).description.clone();
        self.say(&format!("==> {description}"));
        self.journal.begin(kind.name(), &description);
        Instant::now()
    }

    pub(super) fn end(&mut self, t: Instant, state: StageState, detail: Option<String>) {
        self.journal.end(state, t.elapsed().as_secs_f64(), detail);
    }

    pub(super) fn skip(&mut self, kind: StageKind) {
        let why = self.stage(kind).skipped.clone().unwrap_or_default();
        let description = self.stage(kind).description.clone();
        self.journal.skip(kind.name(), &description, &why);
    }

    pub(super) fn check_interrupted(&self, before: &str) -> Step<()> {
        if self.interrupts.count() > 0 {
            return Err(StageError::interrupted(format!("interrupted before {before}")));
        }
        Ok(())
    }

    /// A short tool call, off the async threads.
    pub(super) async fn captured(&mut self, kind: StageKind) -> Step<String> {
        let t = self.begin(kind);
        let call = self.stage(kind).call.clone().expect("the stage has a call");
        match tokio::task::spawn_blocking(move || call.run_captured()).await.expect("tool task") {
            Ok(out) => {
                self.end(t, StageState::Ok, None);
                Ok(out)
            }
            Err(e) => {
                self.end(t, StageState::Failed, Some(e.to_string()));
                Err(StageError::tool(e.to_string()))
            }
        }
    }

    /// A long tool call, streamed, in its own process group.
    /// On a terminal every line is shown; in a log, stderr and the lines that
    /// say how it went (errors, "Apply complete!", "Destroy complete!").
    pub(super) async fn streamed(&mut self, call: &ToolCall, log: &str, handled: u32, grace: Duration) -> Result<Finished, ToolError> {
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

    pub(super) async fn execute(&mut self) -> u8 {
        if let Err(e) = std::fs::create_dir_all(self.plan.run_dir.join("cluster")) {
            self.say(&format!("error: cannot create the run directory {}: {e}", self.plan.run_dir.display()));
            return exit::TOOL_FAILED;
        }
        let _ = self.journal.save();
        if self.opts.dry_run {
            print!("{}", self.plan.render_text());
        } else {
            self.say(&format!(
                "qualifying {} (run {})\n  run directory: {}\n  images: {}",
                self.plan.build_dir,
                self.plan.run_id,
                self.plan.run_dir.display(),
                self.plan.image_source.said()
            ));
        }
        let result = self.main_flow().await.map_err(|e| match self.current_stage {
            Some(stage) => e.at(stage),
            None => e,
        });
        let mut code = match &result {
            Ok(code) => *code,
            Err(e) => e.kind.exit_code(),
        };
        let mut state = match (&result, code) {
            (Err(e), _) if e.kind == StageErrorKind::Interrupted => RunState::Interrupted,
            (_, exit::SUCCESS) if self.opts.dry_run => RunState::Planned,
            (_, exit::SUCCESS) if self.journal.stages.iter().any(|s| s.name == "publish" && s.state == StageState::Ok) => {
                RunState::Qualified
            }
            (_, exit::SUCCESS) if self.opts.cluster_up.is_some() => RunState::Up,
            (_, exit::SUCCESS) => RunState::Built,
            _ => RunState::Failed,
        };
        let mut error = match result {
            Err(e) => {
                let at = e.stage.map(|s| format!(" ({})", s.name())).unwrap_or_default();
                self.say(&format!("error: {}{at}: {}", self.plan.build_dir, e.message));
                Some(e.message)
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
        self.journal.state = state;
        if let Err(m) = self.sweep_after_broken_build().await {
            self.say(&format!("error: {}: TEARDOWN FAILED: {m}", self.plan.build_dir));
            code = exit::TEARDOWN_FAILED;
            self.journal.state = RunState::Failed;
            error = Some(m);
        }
        self.settle_images().await;
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

    /// After a packer build that failed or was interrupted (once): packer
    /// cleans up after itself, but a cleanup that fails (an API error, a
    /// timeout, a packer killed mid-cleanup) leaves its builder instance,
    /// volumes, key pair and security group. What EC2 still shows of the
    /// run in its build regions is removed here, the temporaries packer
    /// could not tag by the names its log gave them. After a second signal
    /// nothing is done: the user asked to stop now (`destroy RUN_ID` later).
    async fn sweep_after_broken_build(&mut self) -> Result<(), String> {
        let broken = self
            .journal
            .stages
            .iter()
            .any(|s| s.name == StageKind::PackerBuild.name() && matches!(s.state, StageState::Failed | StageState::Interrupted));
        let Some(ec2) = self.ec2.filter(|_| broken && !self.opts.dry_run) else { return Ok(()) };
        if self.interrupts.count() > 1 {
            return Err(format!(
                "stopped by a second interrupt before removing what packer may have left\n  clean up with: dcos-images destroy {}",
                self.plan.run_id
            ));
        }
        let regions = self.journal.regions.clone();
        self.say(&format!("==> remove what packer left of the run in {}, if anything", regions.join(", ")));
        let say = |l: &str| self.say(l);
        let mut left: Vec<String> = match sweep::clean_run(ec2, &regions, &self.plan.run_id, sweep::Scope::AllButImages, &say).await {
            Ok(left) => left.iter().map(ToString::to_string).collect(),
            // Often the reason the build failed (no credentials, no such
            // region): nothing is known to be left, so the build's failure
            // stays the run's result; the warning says how to make sure.
            Err(e) => {
                self.say(&format!(
                    "warning: cannot ask EC2 what packer left: {e}\n  to make sure nothing is: dcos-images destroy {}",
                    self.plan.run_id
                ));
                return Ok(());
            }
        };
        let log = std::fs::read_to_string(self.plan.run_dir.join("packer.log")).unwrap_or_default();
        left.extend(sweep::remove_packer_temporaries(ec2, &regions, &sweep::packer_temporaries(&log), &say).await);
        if left.is_empty() {
            return Ok(());
        }
        Err(format!("STILL IN EC2: {}\n  clean up with: dcos-images destroy {}", left.join(", "), self.plan.run_id))
    }

    /// The run's images, once it has ended: those of a run that qualified
    /// them are tagged so (the janitor leaves them); those of a run that did
    /// not, and did not publish them, are deregistered with their snapshots
    /// in every region, unless `--keep-images`.
    async fn settle_images(&mut self) {
        if self.journal.reused_build.is_some() {
            // Not this run's images: never removed here; qualified again when the run qualified them.
            if let (Some(ec2), RunState::Qualified) = (self.ec2, self.journal.state) {
                self.tag_images(ec2, sweep::QUALIFIED_TAG).await;
            }
            return;
        }
        let built = self.journal.stages.iter().any(|s| s.name == StageKind::PackerBuild.name() && s.state != StageState::Skipped);
        let Some(ec2) = self.ec2.filter(|_| built && !self.opts.dry_run) else { return };
        if matches!(self.journal.state, RunState::Qualified | RunState::Built) {
            self.tag_images(ec2, sweep::QUALIFIED_TAG).await;
            return;
        }
        if self.journal.images_wanted() {
            return;
        }
        if self.opts.keep_images {
            self.say("the images of this run are kept (--keep-images); they are not qualified");
            return;
        }
        self.say(&format!("==> deregister the images of this failed run, with their snapshots, in {}", self.journal.regions.join(", ")));
        let regions = self.journal.regions.clone();
        let say = |l: &str| self.say(l);
        match sweep::clean_run(ec2, &regions, &self.plan.run_id, sweep::Scope::Images, &say).await {
            Ok(left) if left.is_empty() => {
                self.journal.images_removed = true;
            }
            Ok(left) => {
                let left: Vec<String> = left.iter().map(ToString::to_string).collect();
                self.say(&format!("warning: images of the run are still registered: {}", left.join(", ")));
            }
            Err(e) => self.say(&format!("warning: cannot remove the images of the run: {e}")),
        }
    }

    /// Tags the run's images with `tag` = now (a warning when EC2 refuses).
    async fn tag_images(&self, ec2: &Ec2, tag: &str) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for (region, image) in &self.journal.images {
            if let Err(e) = ec2.tag(region, image, &[(tag, &now)]).await {
                self.say(&format!("warning: cannot tag {image} with {tag}: {e}"));
            }
        }
    }

    /// Walks the plan: every stage runs, or is skipped for the reason the
    /// plan gives. The plan is the one decision; the only thing decided here
    /// is what the plan cannot know: failed tests publish nothing.
    pub(super) async fn main_flow(&mut self) -> Step<u8> {
        let manifest = self.plan.run_dir.join(HISTORY);
        // Without a build, the cluster runs the images the plan names.
        let mut images: RegionImages = self.plan.recorded_images.clone();
        // A reused build's results: its images, the history as it is.
        let reused = matches!(self.plan.image_source, ImageSource::Reuse { .. });
        let mut results: Option<Results> = match &self.plan.image_source {
            ImageSource::Reuse { uuid, images, .. } => {
                self.journal.reused_build = Some(uuid.clone());
                self.journal.images = images.clone();
                let template = self.d.packer.value().expect("validated");
                let history = self.d.history.as_ref().map(|h| h.text.clone()).unwrap_or_default();
                Some(Results::new(
                    &DcosImages(images.clone()),
                    &history,
                    template,
                    &self.d.packer.text,
                    &self.plan.base_images,
                    &self.plan.build_dir,
                ))
            }
            _ => None,
        };
        let mut outputs: Option<cluster::ClusterOutputs> = None;
        let mut passed = true;
        // Flaky tests, when tests.flaky is fail.
        let mut flaky_failed: Vec<String> = Vec::new();
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
            // A build's results are published, or kept in the run directory
            // when the plan skips publishing (--no-publish); failed tests
            // publish nothing. Without a build the plan has skipped it.
            // (A reused build has nothing to publish where the plan skips it.)
            if stage.kind == StageKind::Publish && results.is_some() && !(reused && stage.skipped.is_some() && !self.opts.no_publish) {
                if !passed {
                    self.journal.skip(StageKind::Publish.name(), &stage.description, "tests failed: nothing published");
                    continue;
                }
                self.current_stage = Some(stage.kind);
                self.publish(results.as_ref()).await?;
                continue;
            }
            if let Some(why) = &stage.skipped {
                self.journal.skip(stage.kind.name(), &stage.description, why);
                continue;
            }
            self.current_stage = Some(stage.kind);
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
                            return Err(StageError::tool(e));
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
                    let read = cluster::read_outputs(&json).map_err(StageError::tool)?;
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
                    if self.plan.flaky == crate::config::FlakyPolicy::Fail && summary.flaky().next().is_some() {
                        passed = false;
                        flaky_failed.extend(summary.flaky().map(|t| t.name.clone()));
                    }
                    match stage.kind {
                        StageKind::IntegrationTests => self.journal.integration_tests = Some(summary),
                        _ => self.journal.framework_tests = Some(summary),
                    }
                    let _ = self.journal.save();
                }
                StageKind::Publish => unreachable!("a publish without a build is skipped by the plan"),
                StageKind::Teardown => unreachable!("the loop ends before the teardown"),
            }
        }
        if !passed {
            if !flaky_failed.is_empty() {
                return Err(StageError::tests_failed(format!(
                    "tests failed: flaky tests fail the run (tests.flaky: fail): {}",
                    flaky_failed.join(", ")
                )));
            }
            return Err(StageError::tests_failed("tests failed"));
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
    pub(super) async fn apply(&mut self, images: &RegionImages) -> Step<()> {
        let image = images
            .get(&self.plan.cluster_region)
            .cloned()
            .ok_or_else(|| StageError::tool(format!("no image in the cluster's region {}", self.plan.cluster_region)))?;
        self.render_cluster(&image).map_err(StageError::tool)?;
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
                Err(StageError::tool(m))
            }
            Ok(Finished::Interrupted) => {
                self.end(t, StageState::Interrupted, Some("terraform's process group was stopped".into()));
                Err(StageError::interrupted("interrupted during terraform apply"))
            }
            Err(e) => {
                self.end(t, StageState::Failed, Some(e.to_string()));
                Err(StageError::tool(e.to_string()))
            }
        }
    }

    pub(super) fn tail(&self, log: &str) -> String {
        let text = std::fs::read_to_string(self.plan.run_dir.join(log)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(15)..].iter().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
    }

    /// The rendered packer template, a copy of the history, and the cluster's
    /// root module with a placeholder image (enough for `terraform validate`).
    pub(super) fn render(&self, manifest: &Path, image: &str) -> Result<(), String> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2").ok().filter(|s| !s.is_empty());
        // What defines the image, recorded by packer beside it (identity.rs).
        let custom_data = match &self.plan.image_source {
            super::plan::ImageSource::Build { inputs: Some(inputs), .. } => Some(inputs.custom_data()),
            _ => None,
        };
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
                run_id: &self.plan.run_id,
                custom_data: custom_data.as_ref(),
            },
        );
        write_json(&self.plan.run_dir.join(PACKER), &rendered)?;
        // The built-in module once per run; apply renders only the root module again.
        cluster::write_builtin_module(&self.config.cluster, &self.plan.run_dir.join("cluster"))?;
        self.render_cluster(image)
    }

    pub(super) fn render_cluster(&self, image: &str) -> Result<(), String> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2").ok().filter(|s| !s.is_empty());
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

    pub(super) async fn packer_build(&mut self, manifest: &Path) -> Step<(RegionImages, String)> {
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
                Err(StageError::tool(error.to_string()))
            }
            BuildOutcome::Interrupted => {
                self.end(t, StageState::Interrupted, Some("packer's process group was stopped".into()));
                Err(StageError::interrupted("interrupted during packer build; packer cleaned up"))
            }
        }
    }

    /// EC2 itself: every new image available, then tagged with where it came from.
    pub(super) async fn check_images(&mut self, images: &RegionImages) -> Step<()> {
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
                return Err(StageError::interrupted("interrupted while checking the images"));
            }
        };
        if let Some(e) = results.into_iter().find_map(Result::err) {
            self.end(t, StageState::Failed, Some(e.to_string()));
            return Err(StageError::tool(e.to_string()));
        }
        self.end(t, StageState::Ok, None);
        Ok(())
    }

    /// Publish, or keep the results in the run directory.
    pub(super) async fn publish(&mut self, results: Option<&Results>) -> Step<()> {
        let results = results.expect("publishing follows a build");
        let stage = self.stage(StageKind::Publish).clone();
        match (self.publish, &stage.skipped) {
            (Some(target), None) => {
                let t = self.begin(StageKind::Publish);
                let _serial = self.publish_lock.lock().await;
                let changed = results.changed(&self.d.dir.abs);
                if changed.files.is_empty() {
                    // A reused build the tracked files already name: its
                    // qualification is this run's report, statuses and tag.
                    self.end(t, StageState::Ok, Some("nothing changed: the tracked files already name these images".into()));
                    println!(
                        "{}qualified again {}: the tracked files already name these images; nothing to commit",
                        self.label, self.plan.build_dir
                    );
                    if let Some(ec2) = self.ec2 {
                        self.tag_images(ec2, sweep::PUBLISHED_TAG).await;
                    }
                    return Ok(());
                }
                let written = changed.write(&self.d.dir.abs).map_err(|(p, e)| format!("cannot write {}: {e}", p.display()));
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
                    Ok(sha) => {
                        self.journal.publish_commit = Some(sha);
                        self.end(t, StageState::Ok, None);
                        println!("{}published {}: {}", self.label, self.plan.build_dir, summary(&self.journal.images));
                        // In a dcos_images.yaml now, maybe of a branch not merged
                        // yet: the janitor never removes them.
                        if let Some(ec2) = self.ec2 {
                            self.tag_images(ec2, sweep::PUBLISHED_TAG).await;
                        }
                        Ok(())
                    }
                    Err(m) => {
                        self.end(t, StageState::Failed, Some(m.clone()));
                        Err(StageError::tool(m))
                    }
                }
            }
            (_, skipped) => {
                let why = skipped.clone().unwrap_or_else(|| "--no-publish".into());
                let out = self.plan.run_dir.join("results");
                let kept = std::fs::create_dir_all(&out).map_err(|e| (out.clone(), e)).and_then(|_| results.write(&out));
                if let Err((p, e)) = kept {
                    return Err(StageError::tool(format!("cannot write {}: {e}", p.display())));
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

    /// Runs a test command on the first master, fetches its JUnit report and
    /// summarises it. Integration tests that fail run again, only they, up
    /// to the plan's retries, on the same cluster: one that then passes is
    /// flaky. A failed test is a result; a command that produced no report
    /// is a tool failure.
    pub(super) async fn remote_tests(
        &mut self,
        kind: StageKind,
        template: &str,
        outputs: &cluster::ClusterOutputs,
        suite: &str,
    ) -> Step<TestSummary> {
        let t = self.begin(kind);
        let retries = if kind == StageKind::IntegrationTests { self.plan.retries } else { 0 };
        let mut attempts: Vec<Vec<crate::formats::junit::Case>> = Vec::new();
        let mut pytest_args = self.plan.pytest_args.clone();
        for attempt in 1..=retries + 1 {
            let cases = match self.run_tests_once(template, outputs, suite, &pytest_args, attempt).await {
                Ok(cases) => cases,
                Err(e) => {
                    let interrupted = e.kind == StageErrorKind::Interrupted;
                    self.end(t, if interrupted { StageState::Interrupted } else { StageState::Failed }, Some(e.message.clone()));
                    return Err(e);
                }
            };
            attempts.push(cases);
            let summary = crate::formats::junit::merge(&attempts);
            // Again: the tests still failing that pytest can be pointed at.
            let last = attempts.last().expect("an attempt ran");
            let again: Vec<String> = last
                .iter()
                .filter(|c| c.failed() && summary.failed_names.contains(&c.display_name()))
                .filter_map(|c| c.node_id())
                .collect();
            if again.is_empty() || attempt > retries {
                break;
            }
            self.say(&format!(
                "  {} test(s) failed: running them again on the same cluster (attempt {} of {}): {}",
                again.len(),
                attempt + 1,
                retries + 1,
                again.join(", ")
            ));
            pytest_args = again.iter().map(|id| shell_quote(id)).collect::<Vec<_>>().join(" ");
        }
        let summary = crate::formats::junit::merge(&attempts);
        let flaky: Vec<&crate::formats::junit::RetriedTest> = summary.flaky().collect();
        let line = format!(
            "{suite} tests: {} passed{}, {} failed, {} skipped{}",
            summary.passed,
            if flaky.is_empty() { String::new() } else { format!(" ({} flaky)", flaky.len()) },
            summary.failed,
            summary.skipped,
            if summary.failed_names.is_empty() { String::new() } else { format!(" (failed: {})", summary.failed_names.join(", ")) }
        );
        self.say(&line);
        for r in &summary.retried {
            let what = if r.flaky { "flaky (failed, then passed)" } else { "failed on every attempt" };
            let prefix = if r.flaky { "warning: " } else { "" };
            self.say(&format!("  {prefix}{} {what}: {}", r.name, attempts_said(r)));
        }
        let flaky_fails = !flaky.is_empty() && self.plan.flaky == crate::config::FlakyPolicy::Fail;
        let state = if summary.failed == 0 && !flaky_fails { StageState::Ok } else { StageState::Failed };
        self.end(t, state, Some(line));
        Ok(summary)
    }

    /// One run of a test command: the cases of its JUnit report.
    async fn run_tests_once(
        &mut self,
        template: &str,
        outputs: &cluster::ClusterOutputs,
        suite: &str,
        pytest_args: &str,
        attempt: u32,
    ) -> Step<Vec<crate::formats::junit::Case>> {
        // The first attempt's files keep their names; later ones are numbered.
        let nth = if attempt == 1 { String::new() } else { format!(".attempt-{attempt}") };
        let junit_remote = format!("/tmp/dcos-images-{}-{suite}{nth}.xml", self.plan.run_id);
        let command = test_command::render_command(
            template,
            &test_command::CommandVars {
                master_hosts: &outputs.masters_private_ips,
                slave_hosts: &outputs.private_agents_private_ips,
                public_slave_hosts: &outputs.public_agents_private_ips,
                pytest_args,
                junit_xml: &junit_remote,
            },
        )
        .map_err(StageError::tool)?;
        let ssh = Ssh::locate(self.ssh_config.clone(), &self.plan.run_dir).map_err(|e| StageError::tool(e.to_string()))?;
        let Some(master) = outputs.first_master(self.config.ssh.connect_to).map(str::to_owned) else {
            return Err(StageError::tool(format!(
                "the cluster has no master address to connect to (ssh.connect_to: {:?})",
                self.config.ssh.connect_to
            )));
        };
        let user = self.plan.ssh_user.clone();
        let call = ssh.run(&format!("run the {suite} tests on {master}"), &user, &master, &command);
        let log = format!("{suite}-tests{nth}.log");
        match self.streamed(&call, &log, 0, Duration::from_secs(10)).await {
            Ok(Finished::Interrupted) => return Err(StageError::interrupted(format!("interrupted during the {suite} tests"))),
            Err(e) => return Err(StageError::tool(e.to_string())),
            Ok(Finished::Exited { .. }) => {}
        }
        let local = self.plan.run_dir.join(format!("{suite}-junit{nth}.xml"));
        let fetch = ssh.fetch(&format!("fetch the {suite} tests' JUnit report"), &user, &master, &junit_remote);
        let xml = match tokio::task::spawn_blocking(move || fetch.run_captured()).await.expect("fetch task") {
            Ok(xml) => xml,
            Err(e) => {
                return Err(StageError::tool(format!(
                    "the {suite} tests left no JUnit report ({e}); their output is in {log}\n{}",
                    self.tail(&log)
                )))
            }
        };
        let _ = std::fs::write(&local, &xml);
        crate::formats::junit::cases(&xml).map_err(|e| StageError::tool(format!("{}: {e}", local.display())))
    }
}

/// `attempt 1 failed (0.5 s), attempt 2 passed (0.4 s)`.
pub fn attempts_said(r: &crate::formats::junit::RetriedTest) -> String {
    r.attempts
        .iter()
        .enumerate()
        .map(|(i, a)| match a.seconds {
            Some(t) => format!("attempt {} {} ({t:.1} s)", i + 1, a.outcome),
            None => format!("attempt {} {}", i + 1, a.outcome),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
