//! qualify's cluster half, end to end: terraform (with the AWS provider from
//! the machine's mirror) against moto, tests over ssh to the loopback sshd,
//! teardown checked against EC2 (tests/common/sandbox.rs).

mod common;

use common::sandbox::{git, Sandbox, BUILD_DIR};
use common::Test;
use std::path::Path;
use std::time::{Duration, Instant};

fn journal(sb: &Sandbox) -> serde_json::Value {
    sb.last_journal()
}

fn set_config(repo: &Path, text: &str) {
    std::fs::write(repo.join(BUILD_DIR).join("publish_and_test_config.yaml"), text).unwrap();
    git(repo, &["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "config"]);
}

fn remote_commits(sb: &Sandbox) -> String {
    sb.remote_commits()
}

#[test]
fn publish_after_integration_tests_when_they_pass() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    set_config(
        &repo,
        "publish_dcos_images_after: integration_tests\nrun_framework_tests: false\ntests_to_run:\n  - -k 'not deliberately'\n",
    );
    // The module creates the nodes' key pair from a public key file.
    let profile = repo.join(BUILD_DIR).join("cluster_profile.tfvars");
    let key_file = sb.dir.path().join("user_key.pub");
    let text = std::fs::read_to_string(&profile)
        .unwrap()
        .replace("ssh_key_name = \"dcos-images-sandbox\"", &format!("ssh_public_key_file = \"{}\"", key_file.display()));
    std::fs::write(&profile, text).unwrap();
    git(&repo, &["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "key file"]);
    let step_summary = sb.dir.path().join("step-summary.md");
    let dry = dry_run(&sb, &repo, &[BUILD_DIR]);
    std::fs::remove_dir_all(sb.run_dir()).unwrap();
    let out = sb
        .qualify(&repo, &["--build-url", "https://ci.example.invalid/build/7", BUILD_DIR])
        .env("GITHUB_STEP_SUMMARY", step_summary.to_str().unwrap())
        .status(0);
    assert!(out.stderr.contains("integration tests: 3 passed, 0 failed, 0 skipped"), "{}", out.stderr);
    check_reports(&journal(&sb), &std::fs::read_to_string(&step_summary).unwrap());
    let j = journal(&sb);
    common::assert_dry_run_matched(&dry, &j);
    let order: Vec<&str> = j["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    let pos = |n: &str| order.iter().position(|x| *x == n).unwrap();
    assert!(pos("integration_tests") < pos("publish") && pos("publish") < pos("teardown"), "{order:?}");
    assert_eq!(j["state"], "qualified");
    assert_eq!(j["cluster"]["state"], "destroyed");
    // Published: the new images, committed and pushed.
    let images = sb.own_images("us-west-2");
    assert_eq!(images.len(), 1);
    let recorded = std::fs::read_to_string(repo.join(BUILD_DIR).join("dcos_images.yaml")).unwrap();
    assert!(recorded.contains(&format!("us-west-2: {}", images[0].0)), "{recorded}");
    assert_eq!(remote_commits(&sb), "4");
    // The cluster ran on the new image, and is gone.
    let ids: Vec<String> = j["cluster"]["instance_ids"].as_array().unwrap().iter().map(|i| i.as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 5, "1 bootstrap node, 1 master, 2 private agents, 1 public agent");
    assert!(sb.live_instances("us-west-2").is_empty());
    check_installed(&sb, &j);
    let apply = std::fs::read_to_string(Path::new(j["run_dir"].as_str().unwrap()).join("terraform-apply.log")).unwrap();
    assert!(apply.contains("aws_key_pair.cluster[0]: Creation complete"), "{apply}");
    // EC2 shows nothing of the run but its images, published and qualified.
    let left = sb.tagged_with_run("us-west-2", j["run_id"].as_str().unwrap());
    assert!(left.iter().all(|r| r.starts_with("image ") || r.starts_with("snapshot ")), "{left:?}");
    let tags: Vec<&str> = images[0].2.iter().map(|(k, _)| k.as_str()).collect();
    assert!(tags.contains(&"dcos-images:published") && tags.contains(&"dcos-images:qualified"), "{tags:?}");
}

#[test]
fn a_failing_selected_test_exits_1_publishes_nothing_and_destroys_the_cluster() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    set_config(&repo, "publish_dcos_images_after: integration_tests\nrun_framework_tests: false\n");
    let before = git(&repo, &["rev-parse", "HEAD"]);
    let out = sb.qualify(&repo, &["-k", "deliberately_failing", BUILD_DIR]).status(1);
    assert!(
        out.stderr.contains("integration tests: 0 passed, 1 failed, 0 skipped (failed: test_cluster::test_deliberately_failing)"),
        "{}",
        out.stderr
    );
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), before);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(remote_commits(&sb), "1", "nothing was pushed");
    let j = journal(&sb);
    assert_eq!(j["integration_tests"]["failed_names"], serde_json::json!(["test_cluster::test_deliberately_failing"]));
    assert_eq!(j["cluster"]["state"], "destroyed");
    assert!(sb.live_instances("us-west-2").is_empty());
    // The images it built are not qualified: gone, with their snapshots, in both regions.
    let run_id = j["run_id"].as_str().unwrap();
    assert!(
        out.stderr.contains("==> deregister the images of this failed run, with their snapshots, in us-east-1, us-west-2"),
        "{}",
        out.stderr
    );
    for region in ["us-west-2", "us-east-1"] {
        assert_eq!(sb.tagged_with_run(region, run_id), Vec::<String>::new(), "{region}");
    }
    assert_eq!(j["images_removed"], true);
    let report = std::fs::read_to_string(Path::new(j["run_dir"].as_str().unwrap()).join("report.md")).unwrap();
    assert!(report.contains("**Not qualified**: these images were deregistered"), "{report}");
}

#[test]
fn a_broken_cluster_module_fails_before_any_packer_build() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    // `cluster.module` names another module than the built-in one.
    let cfg = repo.join("dcos-images.yaml");
    let broken = common::manifest_dir().join("tests/sandbox/broken-cluster-module");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}cluster:\n  module: \"{}\"\n", broken.display())).unwrap();
    let out = sb.qualify(&repo, &[BUILD_DIR]).status(3);
    assert!(out.stderr.contains("failed to check the cluster module with terraform"), "{}", out.stderr);
    assert!(out.stderr.contains("instance_type_that_is_not_declared"), "terraform's own words: {}", out.stderr);
    assert_eq!(sb.own_images("us-west-2"), vec![], "no image may be built");
    let stages: Vec<String> = journal(&sb)["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
    assert!(!stages.contains(&"packer_build".to_owned()), "{stages:?}");
}

#[test]
fn never_tests_the_recorded_images_without_building() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    // A recorded image that exists in moto (one of its seeded public images).
    let dir = repo.join(BUILD_DIR);
    std::fs::write(dir.join("dcos_images.yaml"), "us-west-2: ami-1812c061\n").unwrap();
    std::fs::remove_file(dir.join("packer_build_history.json")).unwrap();
    // (set_config commits these changes too.)
    set_config(&repo, "publish_dcos_images_after: never\nrun_framework_tests: false\ntests_to_run:\n  - -k 'not deliberately'\n");
    let before = git(&repo, &["rev-parse", "HEAD"]);
    let dry = dry_run(&sb, &repo, &[BUILD_DIR]);
    std::fs::remove_dir_all(sb.run_dir()).unwrap();
    let out = sb.qualify(&repo, &[BUILD_DIR]).status(0);
    common::assert_dry_run_matched(&dry, &journal(&sb));
    assert!(!out.stderr.contains("==> build the image with packer"), "{}", out.stderr);
    assert_eq!(sb.own_images("us-west-2"), vec![], "never builds nothing");
    let j = journal(&sb);
    let stage = |n: &str| j["stages"].as_array().unwrap().iter().find(|s| s["name"] == n).unwrap()["state"].as_str().unwrap().to_owned();
    assert_eq!(stage("packer_build"), "skipped");
    assert_eq!(stage("integration_tests"), "ok");
    assert_eq!(stage("publish"), "skipped");
    assert_eq!(j["images"], serde_json::json!({"us-west-2": "ami-1812c061"}));
    // The cluster ran the recorded image.
    let module = std::fs::read_to_string(Path::new(j["run_dir"].as_str().unwrap()).join("cluster/main.tf.json")).unwrap();
    assert!(module.contains("\"aws_ami\": \"ami-1812c061\""), "{module}");
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), before);
    assert!(sb.live_instances("us-west-2").is_empty());
}

#[test]
fn sigint_while_terraform_applies_destroys_the_cluster_and_exits_130() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let err_log = sb.dir.path().join("qualify.stderr");
    let mut child = sb
        .qualify(&repo, &[BUILD_DIR])
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_log).unwrap())
        .spawn()
        .unwrap();
    // Wait until terraform apply runs and moto has the cluster's instances.
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < Duration::from_secs(180), "terraform apply never created instances");
        std::thread::sleep(Duration::from_millis(300));
        let Some(run) = std::fs::read_dir(sb.run_dir()).ok().and_then(|mut d| d.next()).map(|e| e.unwrap().path()) else { continue };
        let Ok(text) = std::fs::read_to_string(run.join("journal.json")) else { continue };
        let Ok(j) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        let applying = j["stages"].as_array().unwrap().iter().any(|s| s["name"] == "cluster_apply" && s["state"] == "running");
        if applying && !sb.live_instances("us-west-2").is_empty() {
            break;
        }
    }
    let status = common::interrupt_and_wait(&mut child, Duration::from_secs(240));
    assert_eq!(status.code(), Some(130), "{}", std::fs::read_to_string(&err_log).unwrap());
    let j = journal(&sb);
    assert_eq!(j["state"], "interrupted");
    assert_eq!(j["cluster"]["state"], "destroyed");
    let stage = |n: &str| j["stages"].as_array().unwrap().iter().find(|s| s["name"] == n).unwrap()["state"].as_str().unwrap().to_owned();
    assert_eq!(stage("cluster_apply"), "interrupted");
    assert_eq!(stage("teardown"), "ok");
    assert!(sb.live_instances("us-west-2").is_empty(), "the cluster was left running");
}

/// The real profile of a public-tree directory of the same DC/OS version, in
/// terraform-dcos's names, unchanged but for the sandbox's loopback network.
const CORPUS_PROFILE: &str = "centos/7.8/aws/DCOS-2.1.1/docker-19.03.9-ce/selinux_enforcing/cluster_profile.tfvars";

#[test]
fn a_legacy_profile_creates_the_cluster_it_describes_kept_then_destroyed_by_run_id() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let legacy = std::fs::read_to_string(common::corpus().join(CORPUS_PROFILE)).unwrap();
    assert!(legacy.contains("num_of_private_agents") && legacy.contains("ssh_key_name = \"dcos-images\""), "{legacy}");
    // The sandbox's network and installer; everything else as the public tree has it.
    let url = legacy.lines().find(|l| l.starts_with("custom_dcos_download_path")).unwrap().split('"').nth(1).unwrap().to_owned();
    let profile = format!("{}\nvpc_cidr = \"{}\"\n", legacy.replace(&url, &Sandbox::installer_url()), sb.vpc_cidr(0));
    std::fs::write(repo.join(BUILD_DIR).join("cluster_profile.tfvars"), profile).unwrap();
    git(&repo, &["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "the public tree's profile"]);
    // The profile's key pair, as it exists in the public tree's AWS account.
    sb.import_key_pair("dcos-images");
    let out = sb.qualify(&repo, &["--keep-cluster", "--no-publish", BUILD_DIR]).status(0);
    assert!(out.stderr.contains("integration tests: 3 passed"), "{}", out.stderr);
    // Counts and instance types as the profile says (the module's own
    // bootstrap default is m5.large: this one came from aws_bootstrap_instance_type).
    let xl = "m5.xlarge".to_owned();
    let roles = ["bootstrap", "master", "private-agent", "private-agent", "public-agent"];
    assert_eq!(sb.live_nodes("us-west-2"), roles.iter().map(|r| (r.to_string(), xl.clone())).collect::<Vec<_>>());
    let j = journal(&sb);
    let run_id = j["run_id"].as_str().unwrap().to_owned();
    assert!(out.stderr.contains(&format!("dcos-images destroy {run_id}")), "{}", out.stderr);
    let subnet = sb.vpc_cidr(0).replace("0.0/16", "1.");
    assert!(out.stderr.contains(&format!("ssh dcos-sandbox@{subnet}")), "the master's private address (ssh.connect_to): {}", out.stderr);
    assert_eq!(j["cluster"]["state"], "kept");
    assert_eq!(sb.live_instances("us-west-2").len(), 5, "the kept cluster runs");
    // The built-in module's whole cluster carries the run's tag.
    let kinds: Vec<String> = sb.tagged_with_run("us-west-2", &run_id).iter().map(|r| r.split(' ').next().unwrap().to_owned()).collect();
    for (kind, n) in [
        ("instance", 5),
        ("vpc", 1),
        ("subnet", 1),
        ("security-group", 4),
        ("key-pair", 0),
        ("volume", 5),
        ("internet-gateway", 1),
        ("route-table", 1),
    ] {
        assert_eq!(kinds.iter().filter(|k| *k == kind).count(), n, "{kind}: {kinds:?}");
    }
    let listed = Test::new().args(["runs", "--run-dir", sb.run_dir().to_str().unwrap()]).status(0).stdout;
    assert!(listed.contains("kept (may be alive)"), "{listed}");

    let out = Test::new().envs(&sb.env()).args(["destroy", &run_id, "--run-dir", sb.run_dir().to_str().unwrap()]).status(0);
    assert!(out.stdout.contains(&format!("nothing of {run_id} is left in EC2 (us-east-1, us-west-2)")), "{}", out.stdout);
    // The run qualified its images (--no-publish): they stay, and nothing else.
    assert!(out.stdout.contains("its images are kept"), "{}", out.stdout);
    assert!(sb.live_instances("us-west-2").is_empty());
    let left = sb.tagged_with_run("us-west-2", &run_id);
    assert!(left.iter().all(|r| r.starts_with("image ") || r.starts_with("snapshot ")), "EC2 shows nothing else of the run: {left:?}");
    assert!(sb.own_images("us-west-2").iter().any(|i| i.2.iter().any(|(k, _)| k == "dcos-images:qualified")), "tagged qualified");
    assert_eq!(journal(&sb)["cluster"]["state"], "destroyed");
    // Destroying again is harmless.
    Test::new().envs(&sb.env()).args(["destroy", &run_id, "--run-dir", sb.run_dir().to_str().unwrap()]).status(0);
    Test::new().envs(&sb.env()).args(["destroy", "no-such-run", "--run-dir", sb.run_dir().to_str().unwrap()]).status(2);
}

#[test]
fn two_build_directories_run_concurrently_each_with_its_own_run() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    // Two independent directories: the first, and a copy at another DC/OS version.
    let second = "centos/7.8/aws/DCOS-2.2.0/docker-19.03.12";
    common::copy_tree(&repo.join(BUILD_DIR), &repo.join(second));
    for sub in ["broken_provisioner", "slow_provisioner"] {
        std::fs::remove_dir_all(repo.join(second).join(sub)).unwrap();
    }
    for f in ["dcos_images.yaml", "packer_build_history.json"] {
        std::fs::remove_file(repo.join(second).join(f)).unwrap();
    }
    let p = repo.join(second).join("packer.json");
    std::fs::write(&p, std::fs::read_to_string(&p).unwrap().replace("DCOS-2.1.1", "DCOS-2.2.0")).unwrap();
    // Its own block of loopback addresses: the two clusters' nodes never share one.
    let t = repo.join(second).join("cluster_profile.tfvars");
    std::fs::write(&t, std::fs::read_to_string(&t).unwrap().replace("2.1.1", "2.2.0").replace(&sb.vpc_cidr(0), &sb.vpc_cidr(1))).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "second directory"]);
    let out = sb.qualify(&repo, &["--jobs", "2", BUILD_DIR, second]).status(0);
    assert!(out.stderr.contains("summary:"), "{}", out.stderr);
    let runs = Test::new().args(["runs", "--json", "--run-dir", sb.run_dir().to_str().unwrap()]).status(0).json();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["state"] == "qualified" && r["cluster"]["state"] == "destroyed"));
    // Both ran at once: their apply stages overlap in time.
    let span = |r: &serde_json::Value| {
        let s = r["stages"].as_array().unwrap().iter().find(|s| s["name"] == "cluster_apply").unwrap();
        let start = chrono::DateTime::parse_from_rfc3339(s["started_at"].as_str().unwrap()).unwrap();
        (start, start + chrono::Duration::milliseconds((s["seconds"].as_f64().unwrap() * 1000.0) as i64))
    };
    let (a, b) = (span(&runs[0]), span(&runs[1]));
    assert!(a.0 < b.1 && b.0 < a.1, "cluster_apply did not overlap: {a:?} {b:?}");
    // Both publish commits landed, one after the other.
    assert_eq!(remote_commits(&sb), "4");
    assert!(sb.live_instances("us-west-2").is_empty());
}

#[test]
fn the_default_step_publishes_after_dcos_installation_and_framework_tests_report_apart() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    // A framework suite: the sandbox suite's deliberately failing test alone.
    let cfg = repo.join("dcos-images.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let framework = format!(
        "  framework_command: >-\n    cd {}/suite && PUBLIC_SLAVE_HOSTS={{{{public_slave_hosts}}}} MASTER_HOSTS={{{{master_hosts}}}} SLAVE_HOSTS={{{{slave_hosts}}}}\n    python3 -m pytest -p no:cacheprovider -q --junitxml={{{{junit_xml}}}} -k 'public_agent or deliberately_failing'\n",
        sb.dir.path().display()
    );
    std::fs::write(&cfg, text.replace("tests:\n", &format!("tests:\n{framework}"))).unwrap();
    // No publish_dcos_images_after: the default, dcos_installation.
    set_config(&repo, "run_framework_tests: true\ntests_to_run:\n  - -k 'not deliberately'\n");
    let dry = dry_run(&sb, &repo, &[BUILD_DIR]);
    std::fs::remove_dir_all(sb.run_dir()).unwrap();
    let out = sb.qualify(&repo, &[BUILD_DIR]).status(1);
    common::assert_dry_run_matched(&dry, &journal(&sb));
    assert!(out.stderr.contains("integration tests: 3 passed, 0 failed"), "{}", out.stderr);
    assert!(
        out.stderr.contains("framework tests: 1 passed, 1 failed, 0 skipped (failed: test_cluster::test_deliberately_failing)"),
        "{}",
        out.stderr
    );
    let j = journal(&sb);
    let order: Vec<(&str, &str)> =
        j["stages"].as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap())).collect();
    let pos = |n: &str| order.iter().position(|(x, _)| *x == n).unwrap();
    // Published once the cluster was up, before any test ran: the tests failing later does not unpublish.
    assert!(pos("cluster_outputs") < pos("publish") && pos("publish") < pos("integration_tests"), "{order:?}");
    assert_eq!(order[pos("publish")].1, "ok");
    assert_eq!(order[pos("framework_tests")].1, "failed");
    assert_eq!(j["framework_tests"]["passed"], 1);
    assert_eq!(j["integration_tests"]["passed"], 3);
    assert_eq!(remote_commits(&sb), "3");
    assert_eq!(j["cluster"]["state"], "destroyed");
    assert!(sb.live_instances("us-west-2").is_empty());
}

/// The run's reports: JSON, JUnit (stages + the tests' own cases) and the
/// Markdown, compared with tests/snapshots/report.md with what varies redacted
/// (`UPDATE_SNAPSHOTS=1` rewrites it).
fn check_reports(j: &serde_json::Value, step_summary: &str) {
    let run_dir = Path::new(j["run_dir"].as_str().unwrap());
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["state"], "qualified");
    assert_eq!(report["integration_tests"]["passed"], 3);
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    // Classnames that survive Jenkins' split at the last dot; unique suite names.
    assert_eq!(junit.matches("classname=\"dcos-images.centos/7_8/aws/DCOS-2_1_1/docker-19_03_12\"").count(), 14, "{junit}");
    assert!(junit.contains("<testsuite name=\"integration tests: centos/7.8/aws/DCOS-2.1.1/docker-19.03.12\""), "{junit}");
    assert!(junit.contains("name=\"test_two_private_agents\""), "the tests' own cases: {junit}");
    assert!(junit.contains("<skipped message=\"run_framework_tests is false\"/>"), "{junit}");
    common::assert_valid_junit(&junit, "the run's junit.xml (with pytest's own cases)");

    let mut md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert_eq!(md, step_summary, "the job summary is the report");
    md = md.replace(j["run_id"].as_str().unwrap(), "<run-id>");
    assert!(j["commit"].as_str().is_some_and(|c| c.len() == 40), "the commit qualified: {}", j["commit"]);
    md = md.replace(j["commit"].as_str().unwrap(), "<commit>");
    if let Some(sha) = j["publish_commit"].as_str() {
        md = md.replace(sha, "<publish-commit>");
    }
    for (region, image) in j["images"].as_object().unwrap() {
        md = md.replace(image.as_str().unwrap(), &format!("<image in {region}>"));
    }
    let md = redact_seconds(&md);
    let snapshot = common::manifest_dir().join("tests/snapshots/report.md");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
        std::fs::write(&snapshot, &md).unwrap();
    }
    assert_eq!(md, std::fs::read_to_string(&snapshot).unwrap(), "report.md changed (UPDATE_SNAPSHOTS=1 to accept)");
}

/// `12.3 s` -> `<t> s`.
fn redact_seconds(text: &str) -> String {
    text.lines()
        .map(|line| {
            line.split(' ')
                .map(|w| {
                    let number = w.split_once('.').is_some_and(|(a, b)| {
                        !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.len() == 1 && b.bytes().all(|c| c.is_ascii_digit())
                    });
                    if number {
                        "<t>"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn a_second_signal_during_teardown_stops_at_once_and_destroy_finishes_the_job() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let err_log = sb.dir.path().join("qualify.stderr");
    let mut child = sb
        .qualify(&repo, &["--no-publish", BUILD_DIR])
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_log).unwrap())
        .spawn()
        .unwrap();
    let stage_running = |name: &str| {
        let run = std::fs::read_dir(sb.run_dir()).ok()?.next()?.ok()?.path();
        let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("journal.json")).ok()?).ok()?;
        j["stages"].as_array()?.iter().any(|s| s["name"] == name && s["state"] == "running").then_some(())
    };
    let wait_for = |name: &str| {
        let start = Instant::now();
        while stage_running(name).is_none() {
            assert!(start.elapsed() < Duration::from_secs(180), "stage {name} never ran");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("cluster_apply");
    while sb.live_instances("us-west-2").is_empty() {
        std::thread::sleep(Duration::from_millis(200));
    }
    // First signal: stop apply, then destroy. Second, during the destroy: stop at once.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    wait_for("teardown");
    let status = common::interrupt_and_wait(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(4), "a cluster that may be alive is a teardown failure");
    let stderr = std::fs::read_to_string(&err_log).unwrap();
    let j = journal(&sb);
    let run_id = j["run_id"].as_str().unwrap();
    assert!(stderr.contains("TEARDOWN FAILED"), "{stderr}");
    assert!(stderr.contains(&format!("dcos-images destroy {run_id}")), "the exact command that cleans up: {stderr}");
    assert!(stderr.contains("terraform destroy -auto-approve"), "{stderr}");
    assert_eq!(j["cluster"]["state"], "destroy_failed");
    let listed = Test::new().args(["runs", "--run-dir", sb.run_dir().to_str().unwrap()]).status(0).stdout;
    assert!(listed.contains("destroy_failed (may be alive)"), "{listed}");

    // The printed command cleans up, from the journal alone.
    Test::new().envs(&sb.env()).args(["destroy", run_id, "--run-dir", sb.run_dir().to_str().unwrap()]).status(0);
    assert!(sb.live_instances("us-west-2").is_empty());
    assert_eq!(journal(&sb)["cluster"]["state"], "destroyed");
}

#[test]
fn dry_run_of_a_public_tree_directory_with_no_settings_plans_the_built_in_module() {
    let sb = Sandbox::start();
    let (tree, dir) = sb.public_tree();
    assert!(!tree.join("dcos-images.yaml").exists());
    sb.import_key_pair("dcos-images");
    let out = Test::new()
        .envs(&sb.env())
        .args(["--root", tree.to_str().unwrap(), "qualify", "--dry-run", "--run-dir", sb.run_dir().to_str().unwrap()])
        .args([dir.to_str().unwrap()])
        .status(0);
    assert!(out.stdout.contains("preview the cluster with terraform plan\n"), "{}", out.stdout);
    assert!(
        out.stdout.contains("  post-start check: sudo /opt/mesosphere/bin/dcos-check-runner check node-poststart (DC/OS 1.12 and later)\n"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("terraform plan: Plan: 14 to add, 0 to change, 0 to destroy."), "{}", out.stderr);
    let j = journal(&sb);
    let state = |n: &str| j["stages"].as_array().unwrap().iter().find(|s| s["name"] == n).unwrap()["state"].as_str().unwrap().to_owned();
    for stage in ["packer_validate", "terraform_init", "terraform_validate", "terraform_plan"] {
        assert_eq!(state(stage), "ok", "{stage}");
    }
    assert_eq!(state("cluster_apply"), "skipped");
    // terraform-dcos's names reached the built-in module as its inputs.
    let module: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(j["run_dir"].as_str().unwrap()).join("cluster/main.tf.json")).unwrap())
            .unwrap();
    let dcos = &module["module"]["dcos"];
    assert_eq!(dcos["source"], "./dcos-images-aws");
    assert_eq!(dcos["num_private_agents"], 2);
    assert_eq!(dcos["bootstrap_instance_type"], "m5.xlarge");
    assert_eq!(dcos["admin_ips"], serde_json::json!(["0.0.0.0/0"]));
    assert_eq!(dcos["ssh_key_name"], "dcos-images");
    assert_eq!(dcos["ssh_user"], "centos", "packer.json's ssh_username");
    assert_eq!(dcos["aws_ami"], "ami-0a248ce88bcc7bd23", "the plan previews the base image");
    assert_eq!(dcos["tags"]["owner"], "dcos-images");
    assert_eq!(dcos["tags"]["expiration"], "3h");
    assert!(sb.live_instances("us-west-2").is_empty(), "a dry run creates nothing");
    let run_dir = Path::new(j["run_dir"].as_str().unwrap());
    check_no_unauthenticated_port_is_open_to_the_world(&sb, run_dir);
    assert_eq!(planned_zone(&sb, run_dir), "us-west-2a", "the first zone that offers every instance type");

    // us-west-2a offers no h1 instances (moto's offerings are EC2's): the
    // cluster goes to the first zone that offers m5.xlarge and h1.2xlarge.
    let profile = dir.join("cluster_profile.tfvars");
    let text = std::fs::read_to_string(&profile).unwrap();
    std::fs::write(&profile, text.replace("aws_agent_instance_type        = \"m5.xlarge\"", "aws_agent_instance_type = \"h1.2xlarge\""))
        .unwrap();
    Test::new()
        .envs(&sb.env())
        .args(["--root", tree.to_str().unwrap(), "qualify", "--dry-run", "--run-dir", sb.run_dir().to_str().unwrap()])
        .args([dir.to_str().unwrap()])
        .status(0);
    let j = journal(&sb);
    assert_eq!(planned_zone(&sb, Path::new(j["run_dir"].as_str().unwrap())), "us-west-2b");
}

/// `terraform show -json` of a dry run's plan.
fn planned(sb: &Sandbox, run_dir: &Path) -> serde_json::Value {
    let out = std::process::Command::new("terraform")
        .args(["show", "-json", "-no-color", "cluster.tfplan"])
        .current_dir(run_dir.join("cluster"))
        .envs(sb.env())
        .output()
        .unwrap();
    assert!(out.status.success(), "terraform show: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every resource of a plan, in any module.
fn planned_resources(plan: &serde_json::Value) -> Vec<serde_json::Value> {
    fn walk(m: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
        out.extend(m["resources"].as_array().into_iter().flatten().cloned());
        for c in m["child_modules"].as_array().into_iter().flatten() {
            walk(c, out);
        }
    }
    let mut all = Vec::new();
    walk(&plan["planned_values"]["root_module"], &mut all);
    all
}

/// The zone of the subnet the plan creates.
fn planned_zone(sb: &Sandbox, run_dir: &Path) -> String {
    let all = planned_resources(&planned(sb, run_dir));
    let subnet = all.iter().find(|r| r["type"] == "aws_subnet").expect("the module creates a subnet");
    subnet["values"]["availability_zone"].as_str().unwrap().to_owned()
}

/// The plan of a real profile (`admin_cidr = "0.0.0.0/0"`, as every profile
/// of the public tree has): ssh and the Admin Router are open to the admins,
/// and nothing that answers without authentication (ZooKeeper, Mesos,
/// Marathon, Exhibitor, the bootstrap node's serve port) is open to any
/// address outside the VPC.
fn check_no_unauthenticated_port_is_open_to_the_world(sb: &Sandbox, run_dir: &Path) {
    let all = planned_resources(&planned(sb, run_dir));
    let vpc_cidr =
        all.iter().find(|r| r["type"] == "aws_vpc").expect("the module creates a VPC")["values"]["cidr_block"].as_str().unwrap().to_owned();
    assert!(!all.iter().any(|r| r["type"] == "aws_security_group_rule" || r["type"] == "aws_vpc_security_group_ingress_rule"));
    // (group name, from, to, cidr) of every ingress rule that names addresses.
    let mut open = Vec::new();
    for sg in all.iter().filter(|r| r["type"] == "aws_security_group") {
        let name = sg["values"]["name"].as_str().unwrap().to_owned();
        for rule in sg["values"]["ingress"].as_array().into_iter().flatten() {
            let (from, to) = (rule["from_port"].as_u64().unwrap(), rule["to_port"].as_u64().unwrap());
            let all_ports = rule["protocol"] == "-1";
            for cidr in
                rule["cidr_blocks"].as_array().into_iter().flatten().chain(rule["ipv6_cidr_blocks"].as_array().into_iter().flatten())
            {
                let (from, to) = if all_ports { (0, 65535) } else { (from, to) };
                open.push((name.clone(), from, to, cidr.as_str().unwrap().to_owned()));
            }
        }
    }
    let outside_vpc = |cidr: &str| cidr != vpc_cidr;
    for port in [2181, 5050, 8080, 8181, 8443, 15055, 61001] {
        let exposed: Vec<_> = open.iter().filter(|(_, from, to, cidr)| (*from..=*to).contains(&port) && outside_vpc(cidr)).collect();
        assert!(exposed.is_empty(), "port {port} is open outside the VPC ({vpc_cidr}): {exposed:?}");
    }
    let opens = |group: &str, port: u64| open.iter().any(|(n, f, t, c)| n.ends_with(group) && *f == port && *t == port && c == "0.0.0.0/0");
    assert!(opens("-admin", 22), "ssh for the admins: {open:?}");
    assert!(opens("-masters", 80) && opens("-masters", 443), "the Admin Router for the admins: {open:?}");
    assert!(opens("-public-agents", 80) && opens("-public-agents", 443), "the public agents' ports: {open:?}");
}

/// DC/OS went on every node in its role, the masters before any agent, from
/// a config.yaml whose master_list is the masters' private addresses.
fn check_installed(sb: &Sandbox, j: &serde_json::Value) {
    let outputs = &j["cluster"]["outputs"];
    let ips = |k: &str| -> Vec<String> { outputs[k].as_array().unwrap().iter().map(|i| i.as_str().unwrap().to_owned()).collect() };
    let installed = sb.installed_nodes(j["run_id"].as_str().unwrap());
    let role_of = |ip: &String| installed.iter().find(|(i, _, _)| i == ip).map(|(_, r, _)| r.clone());
    for (key, role) in
        [("masters_private_ips", "master"), ("private_agents_private_ips", "slave"), ("public_agents_private_ips", "slave_public")]
    {
        for ip in ips(key) {
            assert_eq!(role_of(&ip).as_deref(), Some(role), "{ip}: {installed:?}");
        }
    }
    assert_eq!(installed.len(), 4, "{installed:?}");
    let last_master = installed.iter().filter(|n| n.1 == "master").map(|n| n.2).fold(f64::MIN, f64::max);
    let first_agent = installed.iter().filter(|n| n.1 != "master").map(|n| n.2).fold(f64::MAX, f64::min);
    assert!(last_master < first_agent, "masters before agents: {installed:?}");
    let config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(Path::new(j["run_dir"].as_str().unwrap()).join("config.yaml")).unwrap()).unwrap();
    assert_eq!(config["master_list"], serde_yaml::to_value(ips("masters_private_ips")).unwrap());
    assert_eq!(
        config["bootstrap_url"].as_str().unwrap(),
        format!("http://{}:{}", outputs["bootstrap_private_ip"].as_str().unwrap(), sb.http_port)
    );
    // genconf/serve was served by the pinned nginx image, mounted so that
    // SELinux lets the container read it.
    let bootstrap = outputs["bootstrap_private_ip"].as_str().unwrap();
    let run = std::fs::read_to_string(sb.dir.path().join("bootstrap/.docker").join(bootstrap).join("dcos-images-bootstrap.run")).unwrap();
    assert!(run.ends_with(" docker.io/library/nginx:1.27.3-alpine\n"), "{run}");
    assert!(run.contains("/genconf/serve:/usr/share/nginx/html:ro,z "), "{run}");
    assert!(run.contains(&format!("-p {bootstrap}:{}:80 ", sb.http_port)), "{run}");
}

fn append_config(repo: &Path, text: &str) {
    let cfg = repo.join("dcos-images.yaml");
    let before = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{before}{text}")).unwrap();
    git(repo, &["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "settings"]);
}

#[test]
fn a_node_whose_installation_fails_is_named_and_the_cluster_destroyed() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    append_config(&repo, "dcos:\n  config:\n    dcos_images_sandbox_fail_role: slave_public\n");
    set_config(&repo, "publish_dcos_images_after: dcos_installation\nrun_framework_tests: false\n");
    let out = sb.qualify(&repo, &["--no-publish", BUILD_DIR]).status(3);
    let j = journal(&sb);
    let public = j["cluster"]["outputs"]["public_agents_private_ips"][0].as_str().unwrap().to_owned();
    assert!(
        out.stderr.contains(&format!("the DC/OS installation failed on the public agent {public}")),
        "names the node and its role: {}",
        out.stderr
    );
    assert!(out.stderr.contains("install DC/OS with dcos_install.sh"), "the step: {}", out.stderr);
    assert!(out.stderr.contains("the slave_public installation fails"), "the end of its log: {}", out.stderr);
    let stage = |n: &str| j["stages"].as_array().unwrap().iter().find(|s| s["name"] == n).unwrap()["state"].as_str().unwrap().to_owned();
    assert_eq!(stage("install_dcos"), "failed");
    assert!(j["stages"].as_array().unwrap().iter().all(|s| s["name"] != "integration_tests"), "no test runs on a broken cluster");
    assert_eq!(j["cluster"]["state"], "destroyed");
    assert_eq!(sb.tagged_with_run("us-west-2", j["run_id"].as_str().unwrap()), Vec::<String>::new());
    // The masters and the private agents did install; the public agent did not.
    let roles: Vec<String> = sb.installed_nodes(j["run_id"].as_str().unwrap()).into_iter().map(|n| n.1).collect();
    assert_eq!(roles.iter().filter(|r| *r == "slave_public").count(), 0, "{roles:?}");
    assert_eq!(roles.iter().filter(|r| *r == "master").count(), 1, "{roles:?}");
}

#[test]
fn a_cluster_that_never_comes_up_times_out_and_is_destroyed() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    // Mesos that never sees an agent (the node checks pass).
    let cfg = repo.join("dcos-images.yaml");
    let text =
        std::fs::read_to_string(&cfg).unwrap().replace("  timeout_seconds: 60\n", "  timeout_seconds: 3\n  agents_command: echo 0\n");
    std::fs::write(&cfg, text).unwrap();
    set_config(&repo, "publish_dcos_images_after: dcos_installation\nrun_framework_tests: false\n");
    let out = sb.qualify(&repo, &["--keep-images", BUILD_DIR]).status(3);
    assert!(out.stderr.contains("DC/OS did not come up within 3 s (install.timeout_seconds)"), "{}", out.stderr);
    assert!(out.stderr.contains("masters passing their checks: 1/1, agents registered: 0/3"), "{}", out.stderr);
    let j = journal(&sb);
    assert_eq!(j["cluster"]["state"], "destroyed");
    assert_eq!(remote_commits(&sb), "1", "nothing published");
    assert!(sb.live_instances("us-west-2").is_empty());
    // --keep-images: the images stay registered in both regions, marked as not qualified.
    let run_id = j["run_id"].as_str().unwrap();
    for region in ["us-west-2", "us-east-1"] {
        let left = sb.tagged_with_run(region, run_id);
        assert!(
            left.iter().any(|r| r.starts_with("image ")) && left.iter().all(|r| r.starts_with("image ") || r.starts_with("snapshot ")),
            "{region}: {left:?}"
        );
    }
    let report = std::fs::read_to_string(Path::new(j["run_dir"].as_str().unwrap()).join("report.md")).unwrap();
    assert!(report.contains("**Not qualified**: these images are kept (`--keep-images`)"), "{report}");
}

#[test]
fn sigint_while_dcos_installs_destroys_the_cluster_and_exits_130() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    append_config(&repo, "dcos:\n  config:\n    dcos_images_sandbox_install_seconds: 20\n");
    let mut child = sb
        .qualify(&repo, &["--no-publish", BUILD_DIR])
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < Duration::from_secs(240), "the installation never started");
        std::thread::sleep(Duration::from_millis(300));
        let Some(run) = std::fs::read_dir(sb.run_dir()).ok().and_then(|mut d| d.next()).map(|e| e.unwrap().path()) else { continue };
        // The masters' installation has begun (after the bootstrap node's).
        if std::fs::read_dir(&run).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("install-master-")) {
            break;
        }
    }
    let status = common::interrupt_and_wait(&mut child, Duration::from_secs(240));
    assert_eq!(status.code(), Some(130));
    let j = journal(&sb);
    assert_eq!(j["state"], "interrupted");
    let stage = |n: &str| j["stages"].as_array().unwrap().iter().find(|s| s["name"] == n).unwrap()["state"].as_str().unwrap().to_owned();
    assert_eq!(stage("install_dcos"), "interrupted");
    assert_eq!(j["cluster"]["state"], "destroyed");
    assert_eq!(sb.tagged_with_run("us-west-2", j["run_id"].as_str().unwrap()), Vec::<String>::new());
}

/// `qualify --dry-run` with `args`: its journal.
fn dry_run(sb: &Sandbox, repo: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--dry-run"];
    all.extend_from_slice(args);
    sb.qualify(repo, &all).status(0);
    journal(sb)
}

#[test]
fn cluster_up_installs_and_keeps_a_cluster_and_cluster_down_removes_it() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let run_dir = sb.run_dir();
    // One of moto's own images stands for a qualified one.
    let out = Test::new()
        .envs(&sb.env())
        .cwd(&repo)
        .args(["--root", repo.to_str().unwrap(), "cluster", "up", BUILD_DIR, "--image", "us-west-2=ami-1812c061", "--ttl", "8h"])
        .args(["--run-dir", run_dir.to_str().unwrap()])
        .status(0);
    let j = journal(&sb);
    let run_id = j["run_id"].as_str().unwrap().to_owned();
    assert!(out.stderr.contains("the cluster is kept (cluster up)"), "{}", out.stderr);
    assert!(out.stderr.contains("ssh dcos-sandbox@127."), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("remove it:  dcos-images cluster down {run_id}")), "{}", out.stderr);
    assert!(!out.stderr.contains("==> build the image with packer"), "{}", out.stderr);
    assert_eq!(j["state"], "up");
    assert_eq!(j["cluster"]["state"], "kept");
    let stage = |n: &str| j["stages"].as_array().unwrap().iter().find(|s| s["name"] == n).unwrap()["state"].as_str().unwrap().to_owned();
    for (name, state) in [
        ("packer_build", "skipped"),
        ("install_dcos", "ok"),
        ("integration_tests", "skipped"),
        ("publish", "skipped"),
        ("teardown", "skipped"),
    ] {
        assert_eq!(stage(name), state, "{name}");
    }
    check_installed(&sb, &j);
    assert_eq!(sb.live_nodes("us-west-2").len(), 5);
    // Tagged to go in 8 hours.
    let until: Vec<String> = sb.ec2("us-west-2", |c| async move {
        let f = aws_sdk_ec2::types::Filter::builder().name("tag-key").values("dcos-images:keep-until").build();
        let out = c.describe_instances().filters(f).send().await.unwrap();
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .flat_map(|i| i.tags())
            .filter(|t| t.key() == Some("dcos-images:keep-until"))
            .filter_map(|t| t.value().map(str::to_owned))
            .collect()
    });
    assert_eq!(until.len(), 5, "{until:?}");
    let hours = (chrono::DateTime::parse_from_rfc3339(&until[0]).unwrap().with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes()
        as f64
        / 60.0;
    assert!((7.9..=8.0).contains(&hours), "{hours} h");
    let listed = Test::new().args(["runs", "--run-dir", run_dir.to_str().unwrap()]).status(0).stdout;
    assert!(listed.contains("kept (may be alive)") && listed.contains(&run_id), "{listed}");
    // Nothing tracked changed.
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(remote_commits(&sb), "1");

    Test::new().envs(&sb.env()).args(["cluster", "down", &run_id, "--run-dir", run_dir.to_str().unwrap()]).status(0);
    assert_eq!(sb.tagged_with_run("us-west-2", &run_id), Vec::<String>::new(), "EC2 shows nothing of the run");
    assert_eq!(journal(&sb)["cluster"]["state"], "destroyed");
}

#[test]
fn an_installer_whose_checksum_differs_is_refused_on_the_bootstrap_node() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let profile = repo.join(BUILD_DIR).join("cluster_profile.tfvars");
    let good = Sandbox::installer_sha256();
    let bad: String = good.chars().rev().collect();
    std::fs::write(&profile, std::fs::read_to_string(&profile).unwrap().replace(&good, &bad)).unwrap();
    git(&repo, &["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "a wrong checksum"]);
    let out = sb.qualify(&repo, &["--no-publish", BUILD_DIR]).status(3);
    let j = journal(&sb);
    let bootstrap = j["cluster"]["outputs"]["bootstrap_private_ip"].as_str().unwrap().to_owned();
    assert!(out.stderr.contains(&format!("the DC/OS installation failed on the bootstrap {bootstrap}")), "{}", out.stderr);
    assert!(out.stderr.contains("dcos_generate_config.sh: FAILED"), "sha256sum's own words: {}", out.stderr);
    assert_eq!(sb.installed_nodes(j["run_id"].as_str().unwrap()), vec![], "no node installed from it");
    assert_eq!(j["cluster"]["state"], "destroyed");
    assert!(sb.live_instances("us-west-2").is_empty());
}

/// A copy of the sandbox's build directory as DC/OS `version`'s, testing the
/// recorded image (moto's seeded ami-1812c061) without a build.
fn copy_as_dcos(repo: &Path, version: &str, masters: u32) -> String {
    let dir = format!("centos/7.8/aws/DCOS-{version}/docker-19.03.12");
    let (from, to) = (repo.join(BUILD_DIR), repo.join(&dir));
    std::fs::create_dir_all(&to).unwrap();
    for f in ["packer.json", "install_dcos_prerequisites.sh", "cluster_profile.tfvars"] {
        let text = std::fs::read_to_string(from.join(f)).unwrap();
        let text = text
            .replace("DCOS-2.1.1", &format!("DCOS-{version}"))
            .replace("dcos_version = \"2.1.1\"", &format!("dcos_version = \"{version}\""))
            .replace("num_masters = 1", &format!("num_masters = {masters}"));
        std::fs::write(to.join(f), text).unwrap();
    }
    std::fs::set_permissions(to.join("install_dcos_prerequisites.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(to.join("dcos_images.yaml"), "us-west-2: ami-1812c061\n").unwrap();
    // (The sandbox suite expects one master.)
    let skip = if masters == 1 { "not deliberately" } else { "not deliberately and not master_hosts" };
    std::fs::write(
        to.join("publish_and_test_config.yaml"),
        format!("publish_dcos_images_after: never\nrun_framework_tests: false\ntests_to_run:\n  - -k '{skip}'\n"),
    )
    .unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", &format!("DC/OS {version}")]);
    dir
}

#[test]
fn three_masters_of_dcos_1_11_come_up_through_the_leader_with_dcos_diagnostics() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let dir = copy_as_dcos(&repo, "1.11.12", 3);
    // The stand-in installer as DC/OS 1.11's: its nodes have dcos-diagnostics, no dcos-check-runner.
    append_config(&repo, "dcos:\n  config:\n    dcos_images_sandbox_release: \"1.11.12\"\n");
    let plan = sb.qualify(&repo, &["--dry-run", &dir]).status(0).stdout;
    assert!(
        plan.contains("  post-start check: sudo /opt/mesosphere/bin/dcos-diagnostics check node-poststart (DC/OS 1.10 and 1.11)\n"),
        "{plan}"
    );
    assert!(plan.contains("wait until it is up (post-start checks: dcos-diagnostics)"), "{plan}");
    std::fs::remove_dir_all(sb.run_dir()).unwrap();
    let out = sb.qualify(&repo, &[&dir]).status(0);
    // The first master, which the wait asks, does not lead: it redirected to the one that does.
    assert!(out.stderr.contains("masters passing their checks: 3/3, agents registered: 3/3"), "{}", out.stderr);
    let j = journal(&sb);
    let masters: Vec<&str> =
        j["cluster"]["outputs"]["masters_private_ips"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert_eq!(masters.len(), 3);
    let installed = sb.installed_nodes(j["run_id"].as_str().unwrap());
    assert_eq!(installed.iter().filter(|n| n.1 == "master").count(), 3, "{installed:?}");
    let state = sb.dir.path().join("bootstrap").join(j["run_id"].as_str().unwrap()).join("installed");
    assert_eq!(std::fs::read_to_string(state.join("check_tool")).unwrap().trim(), "dcos-diagnostics");
    assert!(sb.live_instances("us-west-2").is_empty());
}

#[test]
fn a_bootstrap_node_without_a_running_docker_is_named_before_the_installer_runs() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let dir = copy_as_dcos(&repo, "2.2.0", 1);
    std::fs::create_dir_all(sb.dir.path().join("bootstrap/.docker")).unwrap();
    std::fs::write(sb.dir.path().join("bootstrap/.docker/stopped"), "").unwrap();
    let out = sb.qualify(&repo, &[&dir]).status(3);
    let j = journal(&sb);
    let bootstrap = j["cluster"]["outputs"]["bootstrap_private_ip"].as_str().unwrap().to_owned();
    assert!(out.stderr.contains(&format!("the DC/OS installation failed on the bootstrap {bootstrap}")), "{}", out.stderr);
    assert!(out.stderr.contains("docker should be installed and running"), "{}", out.stderr);
    let installed = sb.dir.path().join("bootstrap").join(j["run_id"].as_str().unwrap()).join("installed");
    assert!(!installed.exists(), "the installer never ran");
    assert!(sb.live_instances("us-west-2").is_empty(), "the cluster is destroyed");
}
