//! Reports of qualify runs, all read from the journals: a JSON report and a
//! JUnit XML file per run (one test case per stage, plus the tests' own
//! cases), and one Markdown report for all runs, rendered from a handlebars
//! template embedded in the binary (strict: a typo in the template is an
//! error, never an empty cell).

use crate::formats::junit::TestSummary;
use crate::journal::{state_name, ClusterState, Journal, StageState};
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// A line per failed, flaky or retried test (Markdown-safe).
    pub integration_lines: Vec<String>,
    pub framework_lines: Vec<String>,
    pub cleanup: String,
    pub error: Option<String>,
    /// The fence around `error`: longer than any run of `~` in it, so the
    /// output of a pull request's own scripts cannot end it and go on as
    /// the bot's Markdown (mentions, images, links).
    pub error_fence: String,
    /// The overview table's cells (Markdown-safe).
    pub overview: Overview,
    /// The run's own CI job, when known.
    pub build_url: Option<String>,
    /// Where its files are: the artifacts of a GitHub Actions run.
    pub artifacts_url: Option<String>,
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
                .filter_map(|(name, t)| {
                    t.as_ref().map(|t| match t.flaky().count() {
                        0 => format!("{name} {}/{}", t.passed, t.total()),
                        n => format!("{name} {}/{} ({n} flaky)", t.passed, t.total()),
                    })
                })
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
            artifacts_url: j.build_url.as_deref().filter(|u| u.contains("/actions/runs/")).map(|u| format!("{u}#artifacts")),
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
                _ if j.reused_build.is_some() => Some(format!(
                    "Reused from build `{}`: the same inputs (template, base images, files packer reads), so not built again.",
                    j.reused_build.as_deref().unwrap_or_default()
                )),
                (true, _, _) | (false, false, true) => None,
                (false, true, _) => Some("**Not qualified**: these images were deregistered, with their snapshots, in every region (`--keep-images` keeps them).".into()),
                (false, false, false) => Some("**Not qualified**: these images are kept (`--keep-images`); do not use them.".into()),
            },
            integration_lines: j.integration_tests.as_ref().map(test_lines).unwrap_or_default(),
            framework_lines: j.framework_tests.as_ref().map(test_lines).unwrap_or_default(),
            integration_tests: j.integration_tests.clone(),
            framework_tests: j.framework_tests.clone(),
            cleanup,
            error_fence: crate::github::fence_for(j.error.as_deref().unwrap_or_default()),
            error: j.error.clone(),
        }
    }
}

/// Inline code that nothing in `text` can end: a backtick run longer than
/// any inside it (CommonMark code spans).
pub fn code_span(text: &str) -> String {
    let text = text.replace('\n', " ");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// The report's lines about a suite's tests that did not simply pass: each
/// flaky test and each failure, with every attempt where there were several.
fn test_lines(t: &TestSummary) -> Vec<String> {
    let attempts = |name: &str| t.retried.iter().find(|r| r.name == name).map(crate::pipeline::attempts_said);
    let mut lines: Vec<String> =
        t.flaky().map(|r| format!("flaky (failed, then passed): {}: {}", code_span(&r.name), crate::pipeline::attempts_said(r))).collect();
    for name in &t.failed_names {
        lines.push(match attempts(name) {
            Some(said) => format!("failed on every attempt: {}: {said}", code_span(name)),
            None => format!("failed: {}", code_span(name)),
        });
    }
    lines
}

pub fn markdown(report: &Report) -> Result<String, String> {
    let mut hb = handlebars::Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.render_template(TEMPLATE, report).map_err(|e| format!("cannot render the report: {e}"))
}

/// A build directory as a JUnit classname: Jenkins splits a classname at its
/// last dot into package and class (`…docker-19.03` / `12`), so the dots of
/// versions become `_` and `dcos-images` is the package.
pub fn classname(build_dir: &str) -> String {
    format!("dcos-images.{}", build_dir.replace('.', "_"))
}

/// A test case per stage of the run, in a suite named after the build
/// directory; then the suites the tests wrote (`<suite>-junit.xml` in the run
/// directory), each named `<suite> tests: <build dir>` so no two are alike.
/// `run` is appended to the names when one report holds several runs of the
/// directory (otherwise a name stays the same from build to build, which is
/// what keeps a test's history in Jenkins).
/// A stage a tool failed in (or a signal stopped, or a kill left running) is
/// an `<error>`; a failed test stage is a `<failure>`; each carries its
/// reason as the message.
pub fn junit_suites(j: &Journal, run: Option<&str>) -> Vec<quick_junit::TestSuite> {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let secs = |s: Option<f64>| s.filter(|s| s.is_finite() && *s >= 0.0).map(std::time::Duration::from_secs_f64);
    let named = |what: &str| match run {
        Some(run) => format!("{what}: {} (run {run})", j.build_dir),
        None => format!("{what}: {}", j.build_dir),
    };
    let mut stages = TestSuite::new(named("dcos-images"));
    for s in &j.stages {
        let detail = s.detail.as_deref().unwrap_or("");
        let reason = detail.lines().next().unwrap_or(&state_name(s.state)).to_owned();
        let tests = s.name == "integration_tests" || s.name == "framework_tests";
        let status = match s.state {
            StageState::Failed | StageState::Interrupted => {
                let kind = if tests && s.state == StageState::Failed && j.exit_code == Some(crate::error::exit::NEGATIVE) {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut st = TestCaseStatus::non_success(kind);
                st.set_message(reason).set_type(state_name(s.state)).set_description(detail);
                st
            }
            // A finished run has no running stage: this one's run was
            // killed (SIGKILL, a cancelled CI job) before the stage ended.
            StageState::Running => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                st.set_message("did not finish: the run stopped during this stage").set_type("running");
                st
            }
            StageState::Skipped => {
                let mut st = TestCaseStatus::skipped();
                st.set_message(detail);
                st
            }
            StageState::Ok => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(s.name.as_str(), status);
        case.set_classname(classname(&j.build_dir));
        if let Some(t) = secs(s.seconds) {
            case.set_time(t);
        }
        stages.add_test_case(case);
    }
    let mut suites = vec![stages];
    for suite in ["integration", "framework"] {
        let Ok(text) = std::fs::read_to_string(j.run_dir.join(format!("{suite}-junit.xml"))) else { continue };
        let Ok(cases) = crate::formats::junit::cases(&text) else { continue };
        let mut tests = TestSuite::new(named(&format!("{suite} tests")));
        let summary = if suite == "integration" { j.integration_tests.as_ref() } else { j.framework_tests.as_ref() };
        for c in cases {
            use crate::formats::junit::Outcome;
            // A test that ran again carries its attempts, as Surefire writes
            // them: a flaky one passed, with a <flakyFailure> per failed
            // attempt; one that failed every time fails, with a
            // <rerunFailure> per attempt before the last.
            let retried = summary.and_then(|t| t.retried.iter().find(|r| r.name == c.display_name())).cloned();
            let status = match c.outcome {
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Failed { message, text } => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(message).set_description(text);
                    st
                }
                Outcome::Error { message, text } => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                    st.set_message(message).set_description(text);
                    st
                }
                Outcome::Skipped { message } => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(message);
                    st
                }
            };
            let status = match retried {
                Some(r) => with_attempts(status, &r),
                None => status,
            };
            let mut case = TestCase::new(c.name, status);
            if let Some(cn) = c.classname {
                case.set_classname(cn);
            }
            if let Some(t) = secs(c.seconds) {
                case.set_time(t);
            }
            tests.add_test_case(case);
        }
        suites.push(tests);
    }
    suites
}

/// A retried test's status, Surefire's way: a flaky one passed, with a
/// flaky run per failed attempt; one that failed every time is the first
/// attempt's failure with a rerun per later attempt.
fn with_attempts(first: quick_junit::TestCaseStatus, r: &crate::formats::junit::RetriedTest) -> quick_junit::TestCaseStatus {
    use quick_junit::{NonSuccessKind, TestCaseStatus, TestRerun};
    // junit-10.xsd's rerun elements require `type` and have no `time`: the
    // attempt's number and duration go into the message.
    let rerun = |(n, a): (usize, &crate::formats::junit::TestAttempt)| {
        let kind = if a.outcome == "error" { NonSuccessKind::Error } else { NonSuccessKind::Failure };
        let mut run = TestRerun::new(kind);
        let took = a.seconds.map(|t| format!(" ({t:.1} s)")).unwrap_or_default();
        run.set_type(a.outcome.as_str());
        run.set_message(format!("attempt {}{took}: {}", n + 1, a.message.as_deref().unwrap_or(&a.outcome)));
        run
    };
    let Some((_, before)) = r.attempts.split_last() else { return first };
    if r.flaky {
        let mut st = TestCaseStatus::success();
        st.add_reruns(before.iter().enumerate().map(rerun));
        return st;
    }
    // Failed every time: the first attempt is the failure, the others its reruns.
    let mut st = first;
    st.add_reruns(r.attempts.iter().enumerate().skip(1).map(rerun));
    st
}

/// The JUnit XML of `journals`' runs (see [`junit_suites`]).
pub fn junit_of(journals: &[Journal]) -> String {
    let mut report = quick_junit::Report::new("dcos-images");
    for j in journals {
        let again = journals.iter().filter(|k| k.build_dir == j.build_dir).count() > 1;
        report.add_test_suites(junit_suites(j, again.then_some(j.run_id.as_str())));
    }
    match report.to_string() {
        Ok(xml) => without_root_skipped(without_non_xml_chars(xml)),
        Err(e) => format!("<!-- cannot write the JUnit report: {e} -->\n"),
    }
}

/// The document without the two characters XML 1.0 refuses that quick-junit
/// keeps (U+FFFE, U+FFFF; it drops control characters and ANSI escapes
/// itself). They can come from any text: a detail, a build directory's
/// name, a character reference in the tests' own report.
fn without_non_xml_chars(xml: String) -> String {
    if xml.contains(['\u{FFFE}', '\u{FFFF}']) {
        xml.replace(['\u{FFFE}', '\u{FFFF}'], "")
    } else {
        xml
    }
}

/// Jenkins' xUnit plugin validates against its junit-10.xsd, which allows
/// `skipped` on each testsuite but not on the root testsuites, where
/// quick-junit always writes it: the root loses it (its suites keep theirs).
fn without_root_skipped(mut xml: String) -> String {
    let Some(root) = xml.find("<testsuites") else { return xml };
    // The root tag holds only the report's name and counts: no `>` inside.
    let tag_end = root + xml[root..].find('>').unwrap_or(0);
    if let Some(at) = xml[root..tag_end].find(" skipped=\"").map(|i| root + i) {
        let value_end = xml[at + 10..tag_end].find('"').map_or(tag_end, |i| at + 10 + i + 1);
        xml.replace_range(at..value_end, "");
    }
    xml
}

/// The JUnit XML of one run.
pub fn junit(j: &Journal) -> String {
    junit_of(std::slice::from_ref(j))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::RunState;

    /// A failed run: render ok, packer failed (a tool: an error), tests failed
    /// in a second run's journal (a failure), with pytest's own report.
    fn journal(dir: &std::path::Path, failed_stage: &str, detail: &str, exit: u8) -> Journal {
        let mut j = Journal::start("r1", "centos/7.8/aws/DCOS-2.1.1/docker-19.03.12", dir, dir, "integration_tests");
        j.begin("render", "render");
        j.end(StageState::Ok, 0.5, None);
        j.begin(failed_stage, "the stage");
        j.end(StageState::Failed, 2.0, Some(detail.to_owned()));
        j.begin("framework_tests", "framework");
        j.end(StageState::Skipped, 0.0, Some("run_framework_tests is false".into()));
        j.finish(RunState::Failed, exit, None);
        j
    }

    #[test]
    fn junit_names_survive_jenkins_and_failures_say_why() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("integration-junit.xml"),
            r#"<testsuites><testsuite name="pytest"><testcase classname="test_auth" name="test_ok" time="0.1"/><testcase classname="test_auth" name="test_bad" time="0.2"><failure message="assert 1 == 2">E assert 1 == 2</failure></testcase></testsuite></testsuites>"#,
        )
        .unwrap();
        let tool = journal(dir.path(), "packer_build", "packer exited with 1\x1b[31m\x07 (full log: packer.log)", exit_code::TOOL);
        let xml = junit(&tool);
        assert!(xml.contains(r#"classname="dcos-images.centos/7_8/aws/DCOS-2_1_1/docker-19_03_12""#), "{xml}");
        assert!(xml.contains(r#"<error message="packer exited with 1 (full log: packer.log)" type="failed">"#), "{xml}");
        assert!(!xml.contains('\x07') && !xml.contains('\x1b'), "control characters are not XML: {xml}");
        assert!(xml.contains(r#"<skipped message="run_framework_tests is false"/>"#), "{xml}");
        // Suites: the stages, and pytest's under a name of its own.
        assert!(xml.contains(r#"<testsuite name="dcos-images: centos/7.8/aws/DCOS-2.1.1/docker-19.03.12""#), "{xml}");
        assert!(xml.contains(r#"<testsuite name="integration tests: centos/7.8/aws/DCOS-2.1.1/docker-19.03.12""#), "{xml}");
        assert!(!xml.contains(r#"name="pytest""#), "{xml}");
        assert!(xml.contains(r#"<failure message="assert 1 == 2">E assert 1 == 2</failure>"#), "{xml}");
        // What the tests failed in is a failure, with its reason.
        let tests = journal(dir.path(), "integration_tests", "integration tests: 1 passed, 1 failed\nmore", exit_code::NEGATIVE);
        let xml = junit(&tests);
        assert!(xml.contains(r#"<failure message="integration tests: 1 passed, 1 failed" type="failed">"#), "{xml}");
        // Read back: every case is there.
        let cases = crate::formats::junit::cases(&junit_of(&[tool, tests])).unwrap();
        assert_eq!(cases.len(), 2 * (3 + 2));
    }

    #[test]
    fn a_github_actions_run_links_its_job_and_artifacts_and_the_junit_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal(dir.path(), "packer_build", "packer exited with 1", exit_code::TOOL);
        j.build_url = Some("https://github.com/dcos/dcos-images/actions/runs/42".into());
        let md = markdown(&Report::of(std::slice::from_ref(&j), None)).unwrap();
        assert!(
            md.contains("([job](https://github.com/dcos/dcos-images/actions/runs/42), [artifacts](https://github.com/dcos/dcos-images/actions/runs/42#artifacts))"),
            "{md}"
        );
        // quick-junit's own reader takes what its writer wrote: counts agree.
        let report = quick_junit::Report::deserialize_from_str(&junit(&j)).unwrap();
        assert_eq!((report.tests, report.failures, report.errors), (3, 0, 1));
        assert_eq!(
            report.test_suites[0].test_cases[1].classname.as_ref().unwrap().as_str(),
            "dcos-images.centos/7_8/aws/DCOS-2_1_1/docker-19_03_12"
        );
    }

    mod exit_code {
        pub const TOOL: u8 = crate::error::exit::TOOL_FAILED;
        pub const NEGATIVE: u8 = crate::error::exit::NEGATIVE;
    }

    #[test]
    fn markdown_details_cannot_break_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal(dir.path(), "packer_build", "a | pipe and ``` fences", exit_code::TOOL);
        j.error = Some("```\nboom\n```".into());
        let md = markdown(&Report::of(&[j], None)).unwrap();
        assert!(md.contains("| the stage | failed: a \\| pipe and ``` fences |"), "{md}");
        assert!(md.contains("~~~~text\n```\nboom\n```\n~~~~"), "{md}");
        assert!(md.contains("<details open>"), "a failed run's details are open: {md}");
    }
}
