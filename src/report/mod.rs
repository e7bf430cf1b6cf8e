//! Reports of qualify runs, all read from the journals: a JSON report and a
//! JUnit XML file per run (one test case per stage, plus the tests' own
//! cases), and one Markdown report for all runs, rendered from a handlebars
//! template embedded in the binary (strict: a typo in the template is an
//! error, never an empty cell).

use crate::formats::junit::TestSummary;
use crate::journal::{state_name, ClusterState, Journal, StageState};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

const TEMPLATE: &str = include_str!("report.md.hbs");

/// The marker that finds the report's own comment on a pull request again.
pub const MARKER: &str = "<!-- dcos-images report -->";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub build_url: Option<String>,
    /// The tree's commit the runs qualified (when they agree on one).
    pub commit: Option<String>,
    pub runs: Vec<RunReport>,
}

impl Report {
    pub fn of(journals: &[Journal], build_url: Option<String>) -> Report {
        let mut commits: Vec<&str> = journals.iter().filter_map(|j| j.commit.as_deref()).collect();
        commits.dedup();
        let commit = match commits.as_slice() {
            [one] => Some((*one).to_owned()),
            _ => None,
        };
        Report { build_url, commit, runs: journals.iter().map(RunReport::of).collect() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub build_dir: String,
    pub run_id: String,
    pub state: String,
    pub icon: &'static str,
    pub exit_code: Option<u8>,
    pub publish_after: String,
    pub stages: Vec<StageReport>,
    pub images: BTreeMap<String, String>,
    /// What became of the images of a run that did not qualify them.
    pub images_note: Option<String>,
    pub integration_tests: Option<TestSummary>,
    pub framework_tests: Option<TestSummary>,
    pub cleanup: String,
    pub error: Option<String>,
    /// The overview table's cells (Markdown-safe).
    pub overview: Overview,
    /// The run's own CI job, when known.
    pub build_url: Option<String>,
    /// The tree's commit the run qualified, and the one it pushed.
    pub commit: Option<String>,
    pub publish_commit: Option<String>,
    /// Open the run's details: it did not end well.
    pub open: bool,
}

/// One row of the report's overview: a directory at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub images: String,
    pub tests: String,
    pub cleanup: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub name: String,
    pub description: String,
    pub state: String,
    pub seconds: Option<f64>,
    pub time: String,
    /// A skip reason or the first line of a failure, table-safe.
    pub note: Option<String>,
}

fn table_safe(s: &str) -> String {
    let first = s.lines().next().unwrap_or_default().replace('|', "\\|");
    if first.chars().count() > 140 {
        format!("{}…", first.chars().take(140).collect::<String>())
    } else {
        first
    }
}

impl RunReport {
    pub fn of(j: &Journal) -> RunReport {
        let state = state_name(j.state);
        let icon = match (j.exit_code, state.as_str()) {
            (Some(0), _) => "✅",
            (_, "interrupted") => "⏹️",
            (Some(4), _) => "🚨",
            _ => "❌",
        };
        let cleanup = match &j.cluster {
            None => "no cluster was created".to_owned(),
            Some(c) => match c.state {
                ClusterState::Destroyed => format!("cluster destroyed ({} instance(s)); EC2 shows nothing of it", c.instance_ids.len()),
                ClusterState::Kept => format!("cluster kept on purpose: `dcos-images destroy {}`", j.run_id),
                other => format!("**cluster {} — it may still be running**: `dcos-images destroy {}`", state_name(other), j.run_id),
            },
        };
        let images = match (j.images.len(), j.images_removed || (!j.images.is_empty() && !j.images_wanted())) {
            (0, _) => "-".to_owned(),
            (n, false) => format!("{n} region(s)"),
            (n, true) => format!("{n} region(s), not qualified"),
        };
        let tests = match (&j.integration_tests, &j.framework_tests) {
            (None, None) => "-".to_owned(),
            (i, f) => [("integration", i), ("framework", f)]
                .iter()
                .filter_map(|(name, t)| t.as_ref().map(|t| format!("{name} {}/{}", t.passed, t.total())))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let cleanup_cell = match j.cluster.as_ref().map(|c| c.state) {
            None => "no cluster".to_owned(),
            Some(ClusterState::Destroyed) => "destroyed".to_owned(),
            Some(ClusterState::Kept) => "kept".to_owned(),
            Some(other) => format!("**{} (may be alive)**", state_name(other)),
        };
        RunReport {
            overview: Overview { images, tests, cleanup: cleanup_cell },
            build_url: j.build_url.clone(),
            commit: j.commit.clone(),
            publish_commit: j.publish_commit.clone(),
            open: j.exit_code != Some(0),
            build_dir: j.build_dir.clone(),
            run_id: j.run_id.clone(),
            state,
            icon,
            exit_code: j.exit_code,
            publish_after: j.publish_after.clone(),
            stages: j
                .stages
                .iter()
                .map(|s| StageReport {
                    name: s.name.clone(),
                    description: s.description.clone(),
                    state: state_name(s.state),
                    seconds: s.seconds,
                    time: s.seconds.filter(|_| s.state != StageState::Skipped).map(|x| format!("{x:.1} s")).unwrap_or_else(|| "-".into()),
                    note: s.detail.as_deref().map(table_safe),
                })
                .collect(),
            images: j.images.clone(),
            images_note: match (j.images.is_empty(), j.images_removed, j.images_wanted()) {
                (true, _, _) | (false, false, true) => None,
                (false, true, _) => Some("**Not qualified**: these images were deregistered, with their snapshots, in every region (`--keep-images` keeps them).".into()),
                (false, false, false) => Some("**Not qualified**: these images are kept (`--keep-images`); do not use them.".into()),
            },
            integration_tests: j.integration_tests.clone(),
            framework_tests: j.framework_tests.clone(),
            cleanup,
            error: j.error.clone(),
        }
    }
}

pub fn markdown(report: &Report) -> Result<String, String> {
    let mut hb = handlebars::Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.render_template(TEMPLATE, report).map_err(|e| format!("cannot render the report: {e}"))
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One test case per stage of the run, then the test suites the tests wrote
/// themselves (`<suite>-junit.xml` in the run directory), as they are.
pub fn junit(j: &Journal) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<testsuites>\n{}</testsuites>\n", junit_suites(j))
}

/// The `<testsuite>` elements of one run (see [`junit`]).
pub fn junit_suites(j: &Journal) -> String {
    let failures = j.stages.iter().filter(|s| matches!(s.state, StageState::Failed | StageState::Interrupted)).count();
    let skipped = j.stages.iter().filter(|s| s.state == StageState::Skipped).count();
    let time: f64 = j.stages.iter().filter_map(|s| s.seconds).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  <testsuite name=\"dcos-images {}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">",
        xml(&j.build_dir),
        j.stages.len()
    );
    for s in &j.stages {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml(&j.build_dir),
            xml(&s.name),
            s.seconds.unwrap_or(0.0)
        );
        let detail = s.detail.as_deref().unwrap_or("");
        match s.state {
            StageState::Failed | StageState::Interrupted => {
                let _ =
                    writeln!(out, ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>", xml(&state_name(s.state)), xml(detail));
            }
            StageState::Skipped => {
                let _ = writeln!(out, ">\n      <skipped message=\"{}\"/>\n    </testcase>", xml(detail));
            }
            _ => out.push_str("/>\n"),
        }
    }
    out.push_str("  </testsuite>\n");
    for suite in ["integration", "framework"] {
        if let Ok(text) = std::fs::read_to_string(j.run_dir.join(format!("{suite}-junit.xml"))) {
            let mut rest = text.as_str();
            while let Some(start) = rest.find("<testsuite") {
                // `<testsuite` but not `<testsuites`.
                if rest[start..].starts_with("<testsuites") {
                    rest = &rest[start + 1..];
                    continue;
                }
                let Some(end) = rest[start..].find("</testsuite>") else { break };
                let _ = writeln!(out, "  {}", &rest[start..start + end + "</testsuite>".len()]);
                rest = &rest[start + end + 1..];
            }
        }
    }
    out
}

/// Writes `report.json`, `junit.xml` and `report.md` into the run directory.
pub fn write_run_files(j: &Journal, build_url: Option<&str>) -> std::io::Result<()> {
    let run = RunReport::of(j);
    let mut json = serde_json::to_string_pretty(&run).expect("reports serialize");
    json.push('\n');
    crate::fsutil::write_atomic(&j.run_dir.join("report.json"), json.as_bytes())?;
    crate::fsutil::write_atomic(&j.run_dir.join("junit.xml"), junit(j).as_bytes())?;
    let md = markdown(&Report { build_url: build_url.map(str::to_owned), commit: j.commit.clone(), runs: vec![run] }).unwrap_or_else(|e| e);
    crate::fsutil::write_atomic(&j.run_dir.join("report.md"), md.as_bytes())
}

/// The CI build's address: `--build-url`, else GitHub Actions' or Jenkins' variables.
pub fn build_url(given: Option<&str>) -> Option<String> {
    if let Some(u) = given {
        return Some(u.to_owned());
    }
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(run)) = (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
        return Some(format!("{server}/{repo}/actions/runs/{run}"));
    }
    var("BUILD_URL")
}
