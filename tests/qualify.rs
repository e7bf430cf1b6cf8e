//! `dcos-images qualify`, end to end with the real packer, moto's EC2, a
//! loopback sshd and git with a bare remote (tests/common/sandbox.rs).

mod common;

use common::sandbox::{git, Sandbox, BUILD_DIR};
use common::Test;
use std::path::Path;
use std::time::{Duration, Instant};

const BOT: &str = "dcos-images sandbox bot <sandbox-bot@example.invalid>";

fn journals(sb: &Sandbox) -> serde_json::Value {
    Test::new().args(["runs", "--json", "--run-dir", sb.run_dir().to_str().unwrap()]).status(0).json()
}

fn tracked_state(repo: &Path) -> (String, String) {
    (git(repo, &["rev-parse", "HEAD"]), git(repo, &["status", "--porcelain"]))
}

#[test]
fn publish_after_packer_build_builds_checks_tags_commits_and_pushes() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let before_packer = std::fs::read_to_string(repo.join(BUILD_DIR).join("packer.json")).unwrap();
    // On a pull request: statuses on its head, and on the publish commit,
    // which is the pull request's head afterwards.
    const TOKEN: &str = "ghs_sandboxsecret0123456789";
    let fake = common::fake_github::FakeGitHub::start(TOKEN);
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_owned();
    let out = sb
        .qualify(&repo, &["--no-comment", BUILD_DIR])
        .env("GITHUB_REPOSITORY", "dcos/dcos-images")
        .env("GITHUB_API_URL", &fake.url)
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_SHA", &head)
        .status(0);
    assert!(out.stdout.contains(&format!("qualified {BUILD_DIR}")), "{}", out.stdout);
    assert!(out.stderr.contains("==> amazon-ebs: Provisioning with shell script"), "progress is shown: {}", out.stderr);

    // EC2 itself: one new image per region packer was asked for, available and tagged.
    let runs = journals(&sb);
    let run_id = runs[0]["run_id"].as_str().unwrap().to_owned();
    let mut published = Vec::new();
    for region in ["us-east-1", "us-west-2"] {
        let images = sb.own_images(region);
        assert_eq!(images.len(), 1, "{region}: {images:?}");
        let (id, state, tags) = &images[0];
        assert_eq!(state, "available");
        assert!(tags.contains(&("dcos-images:build-dir".into(), BUILD_DIR.into())), "{tags:?}");
        assert!(tags.contains(&("dcos-images:run-id".into(), run_id.clone())), "{tags:?}");
        published.push(format!("{region}: {id}"));
    }
    assert!(sb.live_instances("us-west-2").is_empty(), "an instance was left running");

    // The tracked files: images, history with the previous build kept, source image.
    let dir = repo.join(BUILD_DIR);
    assert_eq!(std::fs::read_to_string(dir.join("dcos_images.yaml")).unwrap(), format!("{}\n", published.join("\n")));
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("packer_build_history.json")).unwrap()).unwrap();
    let builds = history["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 2);
    assert_eq!(builds[0]["artifact_id"], "us-west-2:ami-0a1b2c3d4e5f60718");
    assert_eq!(history["last_run_uuid"], builds[1]["packer_run_uuid"]);
    let artifact = builds[1]["artifact_id"].as_str().unwrap();
    for p in &published {
        assert!(artifact.contains(&p.replace(": ", ":")), "{artifact} lacks {p}");
    }
    let after_packer = std::fs::read_to_string(dir.join("packer.json")).unwrap();
    let changed: Vec<(&str, &str)> = before_packer.lines().zip(after_packer.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(changed, vec![("      \"source_ami\": \"ami-1e749f67\",", "      \"source_ami\": \"ami-03cf127a\",")]);

    // One commit, exactly those files, by the bot, pushed; nothing left over.
    let remote = sb.dir.path().join("remote.git");
    assert_eq!(git(&remote, &["log", "-1", "--format=%an <%ae>|%s"]).trim(), format!("{BOT}|Publish dcos_images.yaml for {BUILD_DIR}"));
    let files = git(&remote, &["diff-tree", "--no-commit-id", "--name-only", "-r", "main"]);
    let mut files: Vec<&str> = files.lines().collect();
    files.sort();
    let want = ["dcos_images.yaml", "packer.json", "packer_build_history.json"].map(|f| format!("{BUILD_DIR}/{f}"));
    assert_eq!(files, want.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), git(&remote, &["rev-parse", "main"]));
    let publish_commit = git(&remote, &["rev-parse", "main"]).trim().to_owned();
    assert_eq!(runs[0]["publish_commit"], publish_commit.as_str(), "{:#}", runs[0]);
    assert_eq!(runs[0]["commit"], head.as_str());
    let statuses: Vec<(String, String)> =
        fake.state.lock().unwrap().statuses.iter().map(|(sha, s)| (sha.clone(), s["state"].as_str().unwrap().to_owned())).collect();
    let (pending, success) = ("pending".to_owned(), "success".to_owned());
    assert_eq!(statuses, vec![(head.clone(), pending), (head, success.clone()), (publish_commit, success)]);

    // The journal, and the tree now validates clean for that directory.
    assert_eq!(runs[0]["state"], "qualified");
    let stages: Vec<(&str, &str)> =
        runs[0]["stages"].as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap())).collect();
    assert_eq!(
        stages,
        vec![
            ("render", "ok"),
            ("packer_validate", "ok"),
            ("terraform_init", "ok"),
            ("terraform_validate", "ok"),
            ("terraform_plan", "skipped"),
            ("packer_build", "ok"),
            ("check_images", "ok"),
            ("publish", "ok"),
            ("cluster_apply", "ok"),
            ("cluster_outputs", "ok"),
            ("install_dcos", "ok"),
            ("integration_tests", "ok"),
            ("framework_tests", "skipped"),
            ("teardown", "ok"),
        ]
    );
    assert_eq!(runs[0]["integration_tests"]["passed"], 3);
    assert_eq!(runs[0]["integration_tests"]["failed"], 0);
    assert_eq!(runs[0]["cluster"]["state"], "destroyed");
    // Its --dry-run says the same: each stage run or skipped alike (terraform
    // plan is the dry run's own). Now that the directory's last build has the
    // current inputs it would reuse them: --rebuild plans the build this run made.
    sb.qualify(&repo, &["--dry-run", "--rebuild", BUILD_DIR]).status(0);
    let all = journals(&sb);
    let dry = all.as_array().unwrap().iter().find(|j| j["state"] == "planned").unwrap();
    common::assert_dry_run_matched(dry, &runs[0]);
    assert_eq!(runs[0]["cluster"]["instance_ids"].as_array().unwrap().len(), 5, "the bootstrap node, the master and three agents");
    let v = Test::new().root(&repo).args(["validate", "--format", "json", repo.join(BUILD_DIR).to_str().unwrap()]).status(0).json();
    let codes: Vec<&str> =
        v["diagnostics"].as_array().unwrap().iter().filter(|d| d["build_dir"] == BUILD_DIR).map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, Vec::<&str>::new());
}

#[test]
fn a_failing_provisioner_exits_3_and_changes_nothing() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let before = tracked_state(&repo);
    let out = sb.qualify(&repo, &[&format!("{BUILD_DIR}/broken_provisioner")]).status(3);
    assert!(out.stderr.contains("failed to build the image with packer"), "{}", out.stderr);
    assert!(
        out.stderr.contains("docker-ce-19.03.12 is not available from the configured repositories"),
        "packer's own words: {}",
        out.stderr
    );
    assert_eq!(tracked_state(&repo), before);
    assert_eq!(git(&sb.dir.path().join("remote.git"), &["rev-list", "--count", "main"]).trim(), "1");
    for region in ["us-east-1", "us-west-2"] {
        assert_eq!(sb.own_images(region), vec![], "{region}: no image may be left");
    }
    assert!(sb.live_instances("us-west-2").is_empty());
    let runs = journals(&sb);
    assert_eq!(runs[0]["state"], "failed");
    assert_eq!(runs[0]["exit_code"], 3);
}

#[test]
fn dry_run_prints_the_plan_and_builds_nothing() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let before = tracked_state(&repo);
    let out = sb.qualify(&repo, &["--dry-run", BUILD_DIR]).status(0);
    for expected in [
        format!("plan for {BUILD_DIR}"),
        "publish after:  packer_build".to_owned(),
        "base image:     us-west-2 ami-03cf127a (from centos/7.8/aws/base_images.json)".to_owned(),
        "2. check the rendered template with packer".to_owned(),
        "packer validate packer.json".to_owned(),
        "5. preview the cluster with terraform plan\n".to_owned(),
        "6. build the image with packer [skipped: dry run]".to_owned(),
        "dry run: the template and the cluster module are valid".to_owned(),
        "terraform init -input=false -no-color".to_owned(),
    ] {
        assert!(out.stdout.contains(&expected), "missing `{expected}` in:\n{}", out.stdout);
    }
    assert_eq!(sb.own_images("us-west-2"), vec![]);
    assert_eq!(tracked_state(&repo), before);
    // The rendered template: current base image, and moto's endpoint in the run directory only.
    let run_dir = sb.run_dir().join(journals(&sb)[0]["run_id"].as_str().unwrap());
    let rendered: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("packer.json")).unwrap()).unwrap();
    assert_eq!(rendered["builders"][0]["source_ami"], "ami-03cf127a");
    assert_eq!(rendered["builders"][0]["custom_endpoint_ec2"], sb.endpoint());
    assert!(rendered["provisioners"][0]["script"].as_str().unwrap().starts_with(repo.to_str().unwrap()));
    assert!(!std::fs::read_to_string(repo.join(BUILD_DIR).join("packer.json")).unwrap().contains("custom_endpoint_ec2"));
}

#[test]
fn dry_run_reports_what_packer_rejects_with_exit_3() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let p = repo.join(BUILD_DIR).join("packer.json");
    std::fs::write(&p, std::fs::read_to_string(&p).unwrap().replace("\"instance_type\"", "\"instance_typo\"")).unwrap();
    let out = sb.qualify(&repo, &["--dry-run", BUILD_DIR]).status(3);
    assert!(out.stderr.contains("failed to check the rendered template with packer"), "{}", out.stderr);
    assert!(out.stderr.contains("unknown configuration key: '\"instance_typo\"'"), "{}", out.stderr);
}

#[test]
fn no_publish_builds_but_writes_nothing_tracked() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let before = tracked_state(&repo);
    let out = sb.qualify(&repo, &["--no-publish", BUILD_DIR]).status(0);
    assert!(out.stdout.contains("not published: --no-publish: results stay in the run directory; results in"), "{}", out.stdout);
    assert_eq!(tracked_state(&repo), before);
    assert_eq!(git(&sb.dir.path().join("remote.git"), &["rev-list", "--count", "main"]).trim(), "1");
    let images = sb.own_images("us-east-1");
    assert_eq!(images.len(), 1);
    let run_dir = sb.run_dir().join(journals(&sb)[0]["run_id"].as_str().unwrap());
    let kept = std::fs::read_to_string(run_dir.join("results/dcos_images.yaml")).unwrap();
    assert!(kept.contains(&format!("us-east-1: {}", images[0].0)), "{kept}");
    assert_eq!(journals(&sb)[0]["state"], "built");
}

#[test]
fn ctrl_c_during_packer_build_stops_packers_process_group_and_exits_130() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let before = tracked_state(&repo);
    let mut child = sb
        .qualify(&repo, &[&format!("{BUILD_DIR}/slow_provisioner")])
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the provisioner runs (packer is then mid-build).
    let start = Instant::now();
    let (run_dir, packer_pid) = loop {
        assert!(start.elapsed() < Duration::from_secs(90), "the slow provisioner never started");
        std::thread::sleep(Duration::from_millis(200));
        let Some(run) = std::fs::read_dir(sb.run_dir()).ok().and_then(|mut d| d.next()).map(|e| e.unwrap().path()) else { continue };
        let log = std::fs::read_to_string(run.join("packer.log")).unwrap_or_default();
        if log.contains("slow provisioner started") {
            let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("journal.json")).unwrap()).unwrap();
            let pid = j["stages"].as_array().unwrap().iter().find(|s| s["name"] == "packer_build").unwrap()["pid"].as_i64().unwrap();
            break (run, pid as i32);
        }
    };
    // Ctrl-C reaches dcos-images (packer is in a process group of its own).
    let status = common::interrupt_and_wait(&mut child, Duration::from_secs(120));
    assert_eq!(status.code(), Some(130));
    // The whole process group is gone: kill(-pgid, 0) finds no process.
    assert_eq!(unsafe { libc::killpg(packer_pid, 0) }, -1, "packer's process group {packer_pid} is still alive");
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("journal.json")).unwrap()).unwrap();
    assert_eq!(j["state"], "interrupted");
    assert_eq!(j["exit_code"], 130);
    assert_eq!(tracked_state(&repo), before);
    assert!(sb.live_instances("us-west-2").is_empty(), "packer cleaned up its instance on SIGTERM");
    assert_eq!(sb.own_images("us-west-2"), vec![]);
}

#[test]
fn refusals_come_before_anything_is_spent() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let cfg = repo.join(BUILD_DIR).join("publish_and_test_config.yaml");
    // An invalid build directory: the validator's diagnostics, nothing run.
    std::fs::write(&cfg, "publish_dcos_images_aftr: packer_build\n").unwrap();
    let out = sb.qualify(&repo, &[BUILD_DIR]).status(2);
    assert!(out.stderr.contains("error[unknown-key]"), "{}", out.stderr);
    assert!(out.stderr.contains("did you mean `publish_dcos_images_after`?"), "{}", out.stderr);
    // Under GitHub Actions the same errors are also annotations on the file.
    let out = sb.qualify(&repo, &[BUILD_DIR]).env("GITHUB_ACTIONS", "true").status(2);
    assert!(
        out.stdout.contains(&format!("::error file={BUILD_DIR}/publish_and_test_config.yaml,line=1,title=dcos-images unknown-key::")),
        "{}",
        out.stdout
    );
    std::fs::write(&cfg, "publish_dcos_images_after: packer_build\n").unwrap();
    // No packer on PATH: said before the run, with how to install it.
    let out = sb.qualify(&repo, &[BUILD_DIR]).env("PATH", "/nonexistent").status(2);
    assert!(out.stderr.contains("`packer` is not on PATH"), "{}", out.stderr);
    assert!(out.stderr.contains("apt-get install packer"), "{}", out.stderr);
    // A publish remote that does not exist.
    git(&repo, &["remote", "rename", "origin", "upstream"]);
    let out = sb.qualify(&repo, &[BUILD_DIR]).status(2);
    assert!(out.stderr.contains("the git remote `origin` (publish.remote) does not exist"), "{}", out.stderr);
    // A run directory inside the tree.
    let out = Test::new()
        .envs(&sb.env())
        .args(["--root", repo.to_str().unwrap(), "qualify", "--run-dir"])
        .args([repo.join("runs").to_str().unwrap(), repo.join(BUILD_DIR).to_str().unwrap()]);
    let out = out.status(2);
    assert!(out.stderr.contains("is inside the tree"), "{}", out.stderr);
    assert!(!sb.run_dir().exists() || std::fs::read_dir(sb.run_dir()).unwrap().count() == 0, "nothing ran");
    assert_eq!(sb.own_images("us-west-2"), vec![]);
}

#[test]
fn github_gets_statuses_and_one_comment_and_an_outage_changes_nothing() {
    use common::fake_github::FakeGitHub;
    const TOKEN: &str = "ghs_sandboxsecret0123456789";
    let sb = Sandbox::start();
    let repo = sb.repo();
    let fake = FakeGitHub::start(TOKEN);
    let dir = format!("{BUILD_DIR}/broken_provisioner");
    let github = |t: Test| {
        t.env("GITHUB_REPOSITORY", "dcos/dcos-images")
            .env("GITHUB_API_URL", &fake.url)
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_SHA", "abc123")
            .env("DCOS_IMAGES_GITHUB_BACKOFF_MS", "10")
    };
    let run = |sb: &Sandbox| github(sb.qualify(&repo, &["--pr", "7", &dir])).status(3);
    let first = run(&sb);
    let statuses = fake.state.lock().unwrap().statuses.clone();
    let states: Vec<(&str, &str, &str)> =
        statuses.iter().map(|(sha, s)| (sha.as_str(), s["state"].as_str().unwrap(), s["context"].as_str().unwrap())).collect();
    let context = format!("dcos-images/{dir}");
    assert_eq!(states, vec![("abc123", "pending", context.as_str()), ("abc123", "failure", context.as_str())]);
    let comments = fake.state.lock().unwrap().comments.clone();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].1.starts_with("<!-- dcos-images report -->"), "{}", comments[0].1);
    assert!(comments[0].1.contains(&format!("### ❌ `{dir}`: failed")), "{}", comments[0].1);

    // A second run updates the same comment.
    run(&sb);
    let comments = fake.state.lock().unwrap().comments.clone();
    assert_eq!(comments.len(), 1, "one comment, updated");
    assert!(fake.requests().iter().any(|r| r.method == "PATCH"));

    // A matrix job (--no-comment): its statuses, no comment.
    let before = fake.requests().len();
    github(sb.qualify(&repo, &["--pr", "7", "--no-comment", &dir])).status(3);
    let calls: Vec<String> = fake.requests()[before..].iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert!(calls.iter().all(|c| !c.contains("/comments")), "{calls:?}");
    assert_eq!(calls.iter().filter(|c| c.contains("/statuses/abc123")).count(), 2, "{calls:?}");
    // The report job: one comment for every run under the run directory,
    // with an overview row each, and the files of the whole report. The
    // runs failed with exit 3: so does the report (the check branch
    // protection requires).
    let out_dir = sb.dir.path().join("report");
    let report = github(Test::new())
        .args(["--root", repo.to_str().unwrap(), "report", "--run-dir", sb.run_dir().to_str().unwrap(), "--pr", "7"])
        .args(["--out", out_dir.to_str().unwrap()])
        .status(3);
    assert!(report.stdout.contains("reported 3 run(s)"), "{}", report.stdout);
    let comments = fake.state.lock().unwrap().comments.clone();
    assert_eq!(comments.len(), 1, "still one comment");
    assert!(comments[0].1.contains("| directory | result | images | tests | cleanup |"), "{}", comments[0].1);
    assert_eq!(comments[0].1.matches(&format!("| `{dir}` | ❌ failed |")).count(), 3, "{}", comments[0].1);
    assert_eq!(std::fs::read_to_string(out_dir.join("report.md")).unwrap(), comments[0].1);
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite name=\"dcos-images: ").count(), 3, "{junit}");
    // Three runs of one directory: each run's suites are told apart by its id.
    assert_eq!(junit.matches(&format!("<testsuite name=\"dcos-images: {dir} (run ")).count(), 3, "{junit}");
    common::assert_valid_junit(&junit, "report's junit.xml");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), 3);

    // GitHub down: the qualification's result stands, a warning says so.
    for method in ["GET", "POST", "PATCH"] {
        fake.fail(method, "/repos/", 502, 1000);
    }
    let third = run(&sb);
    assert!(third.stderr.contains("the report to GitHub failed (the qualification result stands)"), "{}", third.stderr);

    // The token is nowhere: not in output, not in the run directories.
    for out in [&first.stdout, &first.stderr, &third.stdout, &third.stderr] {
        assert!(!out.contains(TOKEN));
    }
    for entry in walkdir::WalkDir::new(sb.run_dir()) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains(TOKEN), "{} holds the token", entry.path().display());
        }
    }
}
