//! The run journal: `journal.json` in the run directory, rewritten atomically
//! at every stage change, so that a run that died can still be understood
//! (and, once clusters exist, cleaned up) from it alone.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "journal.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    /// `--dry-run`: planned and checked, nothing spent.
    Planned,
    Qualified,
    /// Built and checked; results kept in the run directory (`--no-publish`).
    Built,
    /// `cluster up`: created, installed and kept.
    Up,
    Failed,
    Interrupted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    Running,
    Ok,
    Failed,
    Skipped,
    Interrupted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterState {
    /// `terraform apply` started: resources may exist.
    Creating,
    Up,
    Destroying,
    Destroyed,
    /// `--keep-cluster`: left running on purpose.
    Kept,
    /// Destroy failed or was stopped: resources may still exist.
    DestroyFailed,
}

impl ClusterState {
    pub fn may_be_alive(self) -> bool {
        !matches!(self, ClusterState::Destroyed)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterRecord {
    /// The terraform directory (state, root module).
    pub dir: PathBuf,
    pub region: String,
    pub state: ClusterState,
    /// Every EC2 instance the state held, checked after destroy.
    pub instance_ids: Vec<String>,
    pub outputs: Option<crate::pipeline::cluster::ClusterOutputs>,
    pub ssh_user: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    pub name: String,
    pub description: String,
    pub state: StageState,
    pub started_at: String,
    pub seconds: Option<f64>,
    /// The tool's process id (also its process group id) while it runs.
    pub pid: Option<u32>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub run_id: String,
    pub build_dir: String,
    pub root: PathBuf,
    pub run_dir: PathBuf,
    pub pid: u32,
    pub publish_after: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub state: RunState,
    pub exit_code: Option<u8>,
    pub stages: Vec<StageRecord>,
    pub images: BTreeMap<String, String>,
    /// Every region the run may create resources in (packer's and the
    /// cluster's): where `destroy` looks for what it left.
    #[serde(default)]
    pub regions: Vec<String>,
    /// The images of a run that failed, deregistered with their snapshots
    /// (unless `--keep-images`).
    #[serde(default)]
    pub images_removed: bool,
    /// The recorded build whose images the run reused (same inputs): not
    /// built, and never removed by this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_build: Option<String>,
    /// The tree's commit the run qualified (`git rev-parse HEAD` at its start).
    #[serde(default)]
    pub commit: Option<String>,
    /// The commit the publish step pushed: the pull request's head afterwards,
    /// which needs the run's commit status too.
    #[serde(default)]
    pub publish_commit: Option<String>,
    /// The CI build (job) that ran it.
    #[serde(default)]
    pub build_url: Option<String>,
    pub error: Option<String>,
    #[serde(default)]
    pub cluster: Option<ClusterRecord>,
    #[serde(default)]
    pub integration_tests: Option<crate::formats::junit::TestSummary>,
    #[serde(default)]
    pub framework_tests: Option<crate::formats::junit::TestSummary>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Journal {
    pub fn start(run_id: &str, build_dir: &str, root: &Path, run_dir: &Path, publish_after: &str) -> Journal {
        Journal {
            run_id: run_id.to_owned(),
            build_dir: build_dir.to_owned(),
            root: root.to_owned(),
            run_dir: run_dir.to_owned(),
            pid: std::process::id(),
            publish_after: publish_after.to_owned(),
            started_at: now(),
            finished_at: None,
            state: RunState::Running,
            exit_code: None,
            stages: Vec::new(),
            images: BTreeMap::new(),
            regions: Vec::new(),
            images_removed: false,
            reused_build: None,
            commit: None,
            publish_commit: None,
            build_url: None,
            error: None,
            cluster: None,
            integration_tests: None,
            framework_tests: None,
        }
    }

    pub fn save(&self) -> std::io::Result<()> {
        let mut s = serde_json::to_string_pretty(self).expect("journal serializes");
        s.push('\n');
        crate::fsutil::write_atomic(&self.run_dir.join(FILE_NAME), s.as_bytes())
    }

    pub fn begin(&mut self, name: &str, description: &str) {
        self.stages.push(StageRecord {
            name: name.to_owned(),
            description: description.to_owned(),
            state: StageState::Running,
            started_at: now(),
            seconds: None,
            pid: None,
            detail: None,
        });
        let _ = self.save();
    }

    pub fn set_pid(&mut self, pid: u32) {
        if let Some(s) = self.stages.last_mut() {
            s.pid = Some(pid);
        }
        let _ = self.save();
    }

    pub fn end(&mut self, state: StageState, seconds: f64, detail: Option<String>) {
        if let Some(s) = self.stages.last_mut() {
            s.state = state;
            s.seconds = Some((seconds * 1000.0).round() / 1000.0);
            s.detail = detail;
        }
        let _ = self.save();
    }

    pub fn skip(&mut self, name: &str, description: &str, why: &str) {
        self.begin(name, description);
        self.end(StageState::Skipped, 0.0, Some(why.to_owned()));
    }

    pub fn finish(&mut self, state: RunState, exit_code: u8, error: Option<String>) {
        self.state = state;
        self.exit_code = Some(exit_code);
        self.error = error;
        self.finished_at = Some(now());
        let _ = self.save();
    }

    pub fn set_cluster_state(&mut self, state: ClusterState) {
        if let Some(c) = &mut self.cluster {
            c.state = state;
        }
        let _ = self.save();
    }

    pub fn load(run_dir: &Path) -> Option<Journal> {
        serde_json::from_str(&std::fs::read_to_string(run_dir.join(FILE_NAME)).ok()?).ok()
    }

    /// Whether the run published its images (they are in a dcos_images.yaml).
    pub fn published(&self) -> bool {
        self.stages.iter().any(|s| s.name == "publish" && s.state == StageState::Ok)
    }

    /// Whether the run's images are worth keeping: it published them, or it
    /// ended well (qualified, built with `--no-publish`, a cluster up).
    pub fn images_wanted(&self) -> bool {
        self.published() || matches!(self.state, RunState::Qualified | RunState::Built | RunState::Up | RunState::Planned)
    }

    /// Whether `destroy --all` should look at the run: it died (its tool and
    /// cluster may live on), or its cluster is not known to be destroyed
    /// (kept clusters are kept on purpose).
    pub fn may_have_left_something(&self) -> bool {
        self.died() || self.cluster.as_ref().is_some_and(|c| c.state.may_be_alive() && c.state != ClusterState::Kept)
    }

    /// A `running` journal whose process is gone: the run died.
    pub fn died(&self) -> bool {
        self.state == RunState::Running && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// Every run under `run_root`, oldest first (run ids start with the time).
pub fn all(run_root: &Path) -> Vec<Journal> {
    let mut runs: Vec<Journal> =
        std::fs::read_dir(run_root).into_iter().flatten().filter_map(|e| e.ok()).filter_map(|e| Journal::load(&e.path())).collect();
    runs.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    runs
}

/// A state's name as the journal writes it (`destroy_failed`).
pub fn state_name<T: Serialize>(state: T) -> String {
    serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

pub fn render_runs(runs: &[Journal]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{:<72} {:<12} {:<20} {:<22} BUILD DIRECTORY", "RUN ID", "STATE", "STARTED", "CLUSTER");
    for r in runs {
        let state = if r.died() { "died".to_owned() } else { state_name(r.state) };
        let cluster = match &r.cluster {
            None => "-".to_owned(),
            Some(c) if c.state.may_be_alive() => format!("{} (may be alive)", state_name(c.state)),
            Some(c) => state_name(c.state),
        };
        let _ = writeln!(
            out,
            "{:<72} {:<12} {:<20} {:<22} {}",
            r.run_id,
            state,
            &r.started_at[..19.min(r.started_at.len())],
            cluster,
            r.build_dir
        );
    }
    out
}
