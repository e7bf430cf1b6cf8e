//! A build has an identity, and flaky tests are named (issue #23), with the
//! real packer, terraform, ssh and git against the sandbox: a second
//! qualify of an unchanged directory reuses the first build's images
//! (packer never starts); a changed script, a gone image or --rebuild
//! builds, and the plan says why; failed tests run again on the same
//! cluster, and one that then passes is reported as flaky everywhere.

mod common;

use common::sandbox::{git, Sandbox, BUILD_DIR};
use std::path::Path;

fn commit_all(repo: &Path, message: &str) {
    git(repo, &["add", "-A"]);
    git(repo, &["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", message]);
}

fn stage<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no stage {name}: {j}"))
}

#[test]
fn an_unchanged_directory_reuses_its_images_and_a_change_builds_again() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let dir = repo.join(BUILD_DIR);
    std::fs::write(
        dir.join("publish_and_test_config.yaml"),
        "publish_dcos_images_after: dcos_installation\nrun_framework_tests: false\ntests_to_run:\n  - -k 'not deliberately'\n",
    )
    .unwrap();
    commit_all(&repo, "publish after the installation");

    // The sandbox's history predates inputs digests: a build, once, saying so.
    let first = sb.qualify(&repo, &[BUILD_DIR]).status(0);
    assert!(first.stderr.contains("recorded no inputs digest (it is older than dcos-images' digests): built once"), "{}", first.stderr);
    let built = sb.last_journal();
    assert_eq!(stage(&built, "packer_build")["state"], "ok");
    let images = built["images"].clone();
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("packer_build_history.json")).unwrap()).unwrap();
    let last = history["builds"].as_array().unwrap().last().unwrap().clone();
    let uuid = last["packer_run_uuid"].as_str().unwrap().to_owned();
    let digest = last["custom_data"]["dcos_images_inputs"].as_str().expect("packer recorded the inputs digest").to_owned();
    assert_eq!(digest.len(), 64);
    assert!(last["custom_data"]["dcos_images_input:file:install_dcos_prerequisites.sh"].is_string(), "{last}");
    git(&repo, &["pull", "-q", "--rebase", "origin", "main"]);
    let commits = sb.remote_commits();

    // Nothing changed: the plan says it reuses, and packer never starts.
    std::fs::remove_dir_all(sb.run_dir()).unwrap();
    let plan = sb.qualify(&repo, &["--dry-run", BUILD_DIR]).status(0).stdout;
    assert!(plan.contains(&format!("images:         reuse the images of build {uuid} (same inputs, built ")), "{plan}");
    assert!(plan.contains(&format!("build the image with packer [skipped: reuse the images of build {uuid}")), "{plan}");
    std::fs::remove_dir_all(sb.run_dir()).unwrap();
    let again = sb.qualify(&repo, &[BUILD_DIR]).status(0);
    let reused = sb.last_journal();
    let run_dir = Path::new(reused["run_dir"].as_str().unwrap());
    assert!(!run_dir.join("packer.log").exists(), "packer did not run");
    assert_eq!(stage(&reused, "packer_build")["state"], "skipped");
    assert_eq!(reused["images"], images, "the same images were tested");
    assert_eq!(reused["reused_build"], uuid.as_str());
    assert_eq!(reused["state"], "qualified");
    assert!(again.stdout.contains("the tracked files already name these images; nothing to commit"), "{}", again.stdout);
    assert_eq!(sb.remote_commits(), commits, "no publish commit: nothing tracked changed");
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains(&format!("Reused from build `{uuid}`")), "{md}");
    for (region, image) in images.as_object().unwrap() {
        let tagged = sb.own_images(region).into_iter().find(|i| i.0 == image.as_str().unwrap()).unwrap();
        assert!(tagged.2.iter().any(|(k, _)| k == "dcos-images:qualified"), "{region}: {tagged:?}");
    }

    // A pull request that changes only the tests or the profile: still a reuse.
    std::fs::write(
        dir.join("publish_and_test_config.yaml"),
        "publish_dcos_images_after: dcos_installation\nrun_framework_tests: false\ntests_to_run:\n  - -k 'not deliberately and not public'\n",
    )
    .unwrap();
    let profile = dir.join("cluster_profile.tfvars");
    std::fs::write(&profile, std::fs::read_to_string(&profile).unwrap().replace("num_private_agents = 2", "num_private_agents = 1"))
        .unwrap();
    commit_all(&repo, "other tests, a smaller cluster");
    let plan = sb.qualify(&repo, &["--dry-run", BUILD_DIR]).status(0).stdout;
    assert!(plan.contains(&format!("reuse the images of build {uuid}")), "{plan}");
    // --rebuild builds anyway.
    let plan = sb.qualify(&repo, &["--dry-run", "--rebuild", BUILD_DIR]).status(0).stdout;
    assert!(plan.contains("images:         build (--rebuild)"), "{plan}");

    // A changed script: a build, and the plan names it.
    let script = dir.join("install_dcos_prerequisites.sh");
    std::fs::write(&script, format!("{}\n# changed\n", std::fs::read_to_string(&script).unwrap())).unwrap();
    commit_all(&repo, "a changed script");
    let plan = sb.qualify(&repo, &["--dry-run", BUILD_DIR]).status(0).stdout;
    assert!(plan.contains(&format!("images:         build (since build {uuid}: install_dcos_prerequisites.sh changed)")), "{plan}");
    assert!(plan.contains("build the image with packer [skipped: dry run]"), "{plan}");
    git(&repo, &["-c", "user.name=t", "-c", "user.email=t@example.invalid", "revert", "--no-edit", "HEAD"]);

    // One region's image deregistered: a build.
    let east = images["us-east-1"].as_str().unwrap().to_owned();
    let gone = east.clone();
    sb.ec2("us-east-1", |c| async move { c.deregister_image().image_id(gone).send().await.unwrap() });
    let plan = sb.qualify(&repo, &["--dry-run", BUILD_DIR]).status(0).stdout;
    assert!(plan.contains(&format!("but its image {east} in us-east-1 is gone (deregistered)")), "{plan}");
    assert!(sb.live_instances("us-west-2").is_empty());
}

#[test]
fn a_test_that_fails_then_passes_is_flaky_and_named_in_every_report() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let dir = repo.join(BUILD_DIR);
    // The recorded image (one of moto's), no build: the tests are what is looked at.
    std::fs::write(dir.join("dcos_images.yaml"), "us-west-2: ami-1812c061\n").unwrap();
    std::fs::remove_file(dir.join("packer_build_history.json")).unwrap();
    std::fs::write(
        dir.join("publish_and_test_config.yaml"),
        "publish_dcos_images_after: never\nrun_framework_tests: false\ntests_to_run:\n  - -k 'deliberately_flaky or two_private'\n",
    )
    .unwrap();
    commit_all(&repo, "a flaky test");
    let plan = sb.qualify(&repo, &["--dry-run", BUILD_DIR]).status(0).stdout;
    assert!(plan.contains("retries:        failed tests run again up to 1 time(s) on the same cluster; a test that fails, then passes, is flaky: the run passes with a warning (tests.flaky: pass)"), "{plan}");
    std::fs::remove_dir_all(sb.run_dir()).unwrap();

    // tests.flaky: pass (the default): the run passes, with the flaky test named.
    let out = sb.qualify(&repo, &[BUILD_DIR]).status(0);
    let flaky = "test_cluster::test_deliberately_flaky";
    assert!(out.stderr.contains("integration tests: 2 passed (1 flaky), 0 failed, 0 skipped"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("warning: {flaky} flaky (failed, then passed): attempt 1 failed (")), "{}", out.stderr);
    assert!(
        out.stderr.contains("running them again on the same cluster (attempt 2 of 2): test_cluster.py::test_deliberately_flaky"),
        "{}",
        out.stderr
    );
    let j = sb.last_journal();
    assert_eq!(j["integration_tests"]["attempts"], 2);
    assert_eq!(j["integration_tests"]["retried"][0]["name"], flaky);
    assert_eq!(j["integration_tests"]["retried"][0]["flaky"], true);
    let outcomes: Vec<&str> =
        j["integration_tests"]["retried"][0]["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["failed", "passed"]);
    let run_dir = Path::new(j["run_dir"].as_str().unwrap());
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains(&format!("- flaky (failed, then passed): `{flaky}`: attempt 1 failed (")), "{md}");
    assert!(md.contains("| integration 2/2 (1 flaky) |"), "{md}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["integration_tests"]["retried"][0]["flaky"], true, "{report}");
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<flakyFailure").count(), 1, "{junit}");
    common::assert_valid_junit(&junit, "a run with a flaky test");
    let read = quick_junit::Report::deserialize_from_str(&junit).unwrap();
    assert_eq!(read.failures, 0, "a flaky test passed: {junit}");

    // tests.flaky: fail: the same fails the run.
    let cfg = repo.join("dcos-images.yaml");
    std::fs::write(&cfg, std::fs::read_to_string(&cfg).unwrap().replacen("tests:\n", "tests:\n  flaky: fail\n", 1)).unwrap();
    commit_all(&repo, "flaky tests fail");
    let out = sb.qualify(&repo, &[BUILD_DIR]).status(1);
    assert!(out.stderr.contains(&format!("flaky tests fail the run (tests.flaky: fail): {flaky}")), "{}", out.stderr);

    // A test that always fails: every attempt, then exit 1.
    let out = sb.qualify(&repo, &["--retries", "2", "-k", "deliberately_failing", BUILD_DIR]).status(1);
    let failing = "test_cluster::test_deliberately_failing";
    assert!(out.stderr.contains("integration tests: 0 passed, 1 failed, 0 skipped"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{failing} failed on every attempt: attempt 1 failed (")) && out.stderr.contains("attempt 3 failed ("),
        "{}",
        out.stderr
    );
    let j = sb.last_journal();
    assert_eq!(j["integration_tests"]["attempts"], 3);
    let run_dir = Path::new(j["run_dir"].as_str().unwrap());
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains(&format!("- failed on every attempt: `{failing}`: attempt 1 failed (")), "{md}");
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<rerunFailure").count(), 2, "{junit}");
    common::assert_valid_junit(&junit, "a run with a test that always fails");
    assert!(sb.live_instances("us-west-2").is_empty());
}
