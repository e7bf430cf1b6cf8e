//! The JUnit XML the tool writes is valid against Jenkins xUnit's
//! junit-10.xsd, checked with xmllint, whatever the runs hold: every stage
//! state, a run killed mid-stage, details full of control characters and
//! markup, the tests' own pytest suites, many runs in one report.

mod common;

use dcos_images::journal::{Journal, RunState, StageState};
use std::path::Path;

const DIR: &str = "centos/7.8/aws/DCOS-2.1.1/docker-19.03.12";

/// Text no XML document can hold as it is: control characters, a lone CR,
/// markup, a CDATA end, quotes, and characters outside the BMP.
const HOSTILE: &str = "exit 1\x1b[31m\x07\x00\x0b\x0c\r\n<failure>&amp; ]]> \"q\" 'a' \u{1F680} \u{FFFE}\ttab\nlast line";

/// pytest's own report as the sandbox's tests write it: a failure, an error,
/// a skip, a classname with dots, system-out.
const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4" time="12.345678" timestamp="2026-11-23T10:00:00.123456+00:00" hostname="master-0"><testcase classname="test_networking.TestVip" name="test_vip[a.b]" time="1.0"/><testcase classname="test_auth" name="test_bad" time="0.2"><failure message="assert 1 == 2">E   assert 1 == 2</failure><system-out>out &lt;x&gt;</system-out></testcase><testcase classname="test_auth" name="test_setup" time="0.1"><error message="fixture 'x' not found">setup</error></testcase><testcase classname="test_auth" name="test_later" time="0.0"><skipped type="pytest.skip" message="not yet">skip</skipped></testcase></testsuite></testsuites>"#;

/// A run that went through `stages` (name, state, detail), with pytest's
/// report in its run directory when `with_pytest`.
fn run(
    root: &Path,
    id: &str,
    stages: &[(&str, StageState, Option<&str>)],
    state: RunState,
    exit: Option<u8>,
    with_pytest: bool,
) -> Journal {
    let run_dir = root.join("runs").join(id);
    std::fs::create_dir_all(&run_dir).unwrap();
    if with_pytest {
        std::fs::write(run_dir.join("integration-junit.xml"), PYTEST).unwrap();
        std::fs::write(run_dir.join("framework-junit.xml"), PYTEST).unwrap();
    }
    let mut j = Journal::start(id, DIR, root, &run_dir, "integration_tests");
    for (i, (name, st, detail)) in stages.iter().enumerate() {
        j.begin(name, &format!("stage {name}"));
        if *st != StageState::Running {
            j.end(*st, 0.123_456_7 * (i as f64 + 1.0) * 1000.0, detail.map(str::to_owned));
        }
    }
    match exit {
        Some(code) => j.finish(state, code, Some(HOSTILE.into())),
        // Killed: the journal stays as the last stage left it.
        None => j.save().unwrap(),
    }
    j
}

fn runs(root: &Path) -> Vec<Journal> {
    use StageState::*;
    vec![
        run(
            root,
            "20261123T100000Z-ok",
            &[
                ("render", Ok, None),
                ("packer_build", Ok, None),
                ("integration_tests", Ok, None),
                ("framework_tests", Skipped, Some(HOSTILE)),
            ],
            RunState::Qualified,
            Some(0),
            true,
        ),
        run(
            root,
            "20261123T100000Z-tool",
            &[("render", Ok, None), ("packer_build", Failed, Some(HOSTILE)), ("teardown", Ok, Some(""))],
            RunState::Failed,
            Some(3),
            false,
        ),
        run(root, "20261123T100000Z-tests", &[("integration_tests", Failed, Some(HOSTILE))], RunState::Failed, Some(1), true),
        run(root, "20261123T100000Z-signal", &[("install_dcos", Interrupted, Some("SIGTERM"))], RunState::Interrupted, Some(130), false),
        run(root, "20261123T100000Z-killed", &[("render", Ok, None), ("terraform_apply", Running, None)], RunState::Running, None, false),
    ]
}

#[test]
fn every_junit_report_is_valid_against_jenkins_junit_10_xsd() {
    let tmp = tempfile::tempdir().unwrap();
    let journals = runs(tmp.path());
    for j in &journals {
        common::assert_valid_junit(&dcos_images::report::junit(j), &format!("the JUnit of run {}", j.run_id));
    }
    let all = dcos_images::report::junit_of(&journals);
    common::assert_valid_junit(&all, "the JUnit of five runs");
    // Suite names are unique across runs of one directory too (Jenkins
    // merges suites of the same name).
    let names: Vec<&str> =
        all.match_indices("<testsuite name=\"").map(|(i, m)| &all[i + m.len()..][..all[i + m.len()..].find('"').unwrap()]).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(names.len(), unique.len(), "suite names repeat: {names:?}");

    // The same through the binary: `report` over the run directories.
    let out = tmp.path().join("out");
    common::Test::new()
        .root(tmp.path())
        .args(["report", "--run-dir", tmp.path().join("runs").to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env("GITHUB_TOKEN", "")
        // One of the runs was killed (no exit code): the report fails as interrupted.
        .status(130);
    let xml = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    common::assert_valid_junit(&xml, "report's junit.xml");
    // Stage cases: 4 + 3 + 1 + 1 + 2; pytest's 4 cases twice in two runs.
    // Failures: the failed test stage, pytest's one per suite. Errors: packer,
    // the signal, the killed stage, pytest's one per suite.
    let report = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!((report.tests, report.failures, report.errors), (11 + 4 * 4, 1 + 4, 3 + 4), "(tests, failures, errors) in {xml}");
}

/// A stage a killed run was in is an error that says so, never a success.
#[test]
fn a_stage_a_killed_run_never_finished_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let killed = runs(tmp.path()).pop().unwrap();
    let xml = dcos_images::report::junit(&killed);
    let case = &xml[xml.find("name=\"terraform_apply\"").unwrap()..];
    let case = &case[..case.find("</testcase>").expect("terraform_apply has a body")];
    assert!(case.contains("<error message=\"did not finish: the run stopped during this stage\" type=\"running\""), "{case}");
}

/// The check itself can fail: documents junit-10.xsd refuses are refused.
#[test]
fn the_schema_check_refuses_what_junit_10_xsd_refuses() {
    let valid = r#"<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase name="c"/></testsuite></testsuites>"#;
    common::junit_validity(valid).expect("a minimal valid document");
    for (invalid, why) in [
        (
            r#"<testsuites><testsuite tests="1" failures="0" errors="0"><testcase name="c"/></testsuite></testsuites>"#,
            "a suite without a name",
        ),
        (
            r#"<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><failure/></testsuite></testsuites>"#,
            "a failure outside a case",
        ),
        (
            r#"<testsuites><testsuite name="s" tests="1" failures="0" errors="0" time="1s"><testcase name="c"/></testsuite></testsuites>"#,
            "a time with a unit",
        ),
        (
            r#"<testsuites><testsuite name="s" tests="1" failures="0" errors="0" version="1"><testcase name="c"/></testsuite></testsuites>"#,
            "a suite's version",
        ),
        ("<testsuites><testsuite name=\"s\x07\" tests=\"1\" failures=\"0\" errors=\"0\"/></testsuites>", "a control character"),
    ] {
        assert!(common::junit_validity(invalid).is_err(), "{why} passed the check: {invalid}");
    }
}
