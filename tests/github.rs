//! octocrab against a local server that answers like GitHub's REST API.

mod common;

use common::fake_github::FakeGitHub;
use dcos_images::github::{CommentOutcome, GitHub, Status, Target};
use std::time::Duration;

const TOKEN: &str = "ghs_sandboxtoken0123456789";
const MARKER: &str = "<!-- dcos-images report -->";

/// octocrab's client is built inside a runtime (its service spawns a task).
fn client(fake: &FakeGitHub, token: &str, rt: &tokio::runtime::Runtime) -> GitHub {
    let _inside = rt.enter();
    let target =
        Target { api: fake.url.clone(), owner: "dcos".into(), repo: "dcos-images".into(), pr: Some(7), sha: Some("abc123".into()) };
    let mut gh = GitHub::new(&target, token).unwrap();
    gh.backoff = Duration::from_millis(20);
    gh
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn the_report_comment_is_created_once_then_updated() {
    let fake = FakeGitHub::start(TOKEN);
    let rt = rt();
    let gh = client(&fake, TOKEN, &rt);
    // Someone else's comment is left alone.
    fake.state.lock().unwrap().comments.push((1, "LGTM".into()));
    let first = rt.block_on(gh.upsert_comment(7, MARKER, &format!("{MARKER}\nfirst run"))).unwrap();
    let CommentOutcome::Created(id) = first else { panic!("{first:?}") };
    let second = rt.block_on(gh.upsert_comment(7, MARKER, &format!("{MARKER}\nsecond run"))).unwrap();
    assert_eq!(second, CommentOutcome::Updated(id));
    let comments = fake.state.lock().unwrap().comments.clone();
    assert_eq!(comments, vec![(1, "LGTM".to_owned()), (id, format!("{MARKER}\nsecond run"))]);
    let requests = fake.requests();
    let methods: Vec<(&str, &str)> = requests.iter().map(|r| (r.method.as_str(), r.path.split('?').next().unwrap())).collect();
    assert_eq!(
        methods,
        vec![
            ("GET", "/repos/dcos/dcos-images/issues/7/comments"),
            ("POST", "/repos/dcos/dcos-images/issues/7/comments"),
            ("GET", "/repos/dcos/dcos-images/issues/7/comments"),
            ("PATCH", &*format!("/repos/dcos/dcos-images/issues/comments/{id}")),
        ]
    );
    assert!(requests.iter().all(|r| r.authorization == format!("Bearer {TOKEN}")));
}

#[test]
fn statuses_carry_state_context_description_and_link() {
    let fake = FakeGitHub::start(TOKEN);
    let rt = rt();
    let gh = client(&fake, TOKEN, &rt);
    rt.block_on(gh.set_status("abc123", Status::Pending, "dcos-images/centos/7.8", "qualifying", None)).unwrap();
    let long = "x".repeat(300);
    rt.block_on(gh.set_status("abc123", Status::Failure, "dcos-images/centos/7.8", &long, Some("https://ci.example.invalid/1"))).unwrap();
    let statuses = fake.state.lock().unwrap().statuses.clone();
    assert_eq!(statuses.len(), 2);
    assert_eq!(statuses[0].0, "abc123");
    assert_eq!(statuses[0].1["state"], "pending");
    assert_eq!(statuses[1].1["state"], "failure");
    assert_eq!(statuses[1].1["context"], "dcos-images/centos/7.8");
    assert_eq!(statuses[1].1["description"].as_str().unwrap().len(), 140);
    assert_eq!(statuses[1].1["target_url"], "https://ci.example.invalid/1");
}

#[test]
fn server_errors_and_rate_limits_are_retried_with_backoff() {
    let fake = FakeGitHub::start(TOKEN);
    let rt = rt();
    let gh = client(&fake, TOKEN, &rt);
    fake.fail("POST", "/repos/dcos/dcos-images/statuses/", 502, 2);
    rt.block_on(gh.set_status("abc123", Status::Success, "ctx", "ok", None)).unwrap();
    fake.fail("GET", "/repos/dcos/dcos-images/issues/7/comments", 403, 1);
    rt.block_on(gh.upsert_comment(7, MARKER, MARKER)).unwrap();
    let posts = fake.requests().iter().filter(|r| r.method == "POST" && r.path.contains("/statuses/")).count();
    assert_eq!(posts, 3, "two 502s, then success");
    // A lasting outage is an error after the bounded attempts, naming the call.
    fake.fail("POST", "/repos/dcos/dcos-images/statuses/", 502, 100);
    let err = rt.block_on(gh.set_status("abc123", Status::Success, "ctx", "ok", None)).unwrap_err().to_string();
    assert!(err.contains("failed to set the commit status `ctx`: 502"), "{err}");
    assert!(err.contains("after 5 attempts"), "{err}");
}

#[test]
fn a_refused_token_is_a_clear_error_that_does_not_show_the_token() {
    let fake = FakeGitHub::start(TOKEN);
    let rt = rt();
    let gh = client(&fake, "ghs_wrongtoken", &rt);
    let err = rt.block_on(gh.upsert_comment(7, MARKER, "x")).unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("check GITHUB_TOKEN"), "{err}");
    assert!(!err.contains("ghs_wrongtoken"), "{err}");
    assert_eq!(fake.requests().len(), 1, "a 401 is not retried");
}

fn others(n: usize) -> Vec<(u64, String)> {
    (0..n as u64).map(|i| (10 + i, format!("comment {i}"))).collect()
}

#[test]
fn the_report_comment_is_found_again_on_a_later_page() {
    let fake = FakeGitHub::start(TOKEN);
    let rt = rt();
    let gh = client(&fake, TOKEN, &rt);
    // 150 comments, the report's the 121st: on page 2 of 100.
    let mut comments = others(150);
    comments[120] = (500, format!("{MARKER}\nan earlier run"));
    fake.state.lock().unwrap().comments = comments;
    let outcome = rt.block_on(gh.upsert_comment(7, MARKER, &format!("{MARKER}\nthis run"))).unwrap();
    assert_eq!(outcome, CommentOutcome::Updated(500));
    let paths: Vec<String> = fake.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        paths,
        vec![
            "GET /repos/dcos/dcos-images/issues/7/comments?per_page=100",
            "GET /repos/dcos/dcos-images/issues/7/comments?per_page=100&page=2",
            "PATCH /repos/dcos/dcos-images/issues/comments/500",
        ]
    );
    assert_eq!(fake.state.lock().unwrap().comments.len(), 150, "no second comment");
}

#[test]
fn an_html_502_and_an_empty_503_are_retried_by_their_status() {
    let fake = FakeGitHub::start(TOKEN);
    let rt = rt();
    let gh = client(&fake, TOKEN, &rt);
    fake.fail("POST", "/repos/dcos/dcos-images/statuses/", 502, 1);
    fake.fail("GET", "/repos/dcos/dcos-images/issues/7/comments", 503, 1);
    rt.block_on(gh.set_status("abc123", Status::Success, "ctx", "ok", None)).unwrap();
    rt.block_on(gh.upsert_comment(7, MARKER, MARKER)).unwrap();
    let calls: Vec<String> = fake.requests().iter().map(|r| format!("{} {}", r.method, r.path.split('?').next().unwrap())).collect();
    assert_eq!(
        calls,
        vec![
            "POST /repos/dcos/dcos-images/statuses/abc123",
            "POST /repos/dcos/dcos-images/statuses/abc123",
            "GET /repos/dcos/dcos-images/issues/7/comments",
            "GET /repos/dcos/dcos-images/issues/7/comments",
            "POST /repos/dcos/dcos-images/issues/7/comments",
        ]
    );
    // A lasting HTML outage names the status and the page's title.
    fake.fail("POST", "/repos/dcos/dcos-images/statuses/", 502, 100);
    let err = rt.block_on(gh.set_status("abc123", Status::Success, "ctx", "ok", None)).unwrap_err().to_string();
    assert!(err.contains("502 502 Bad Gateway (after 5 attempts)"), "{err}");
}

#[test]
fn a_rate_limit_waits_for_its_reset_and_a_429_for_retry_after() {
    let fake = FakeGitHub::start(TOKEN);
    let rt = rt();
    let gh = client(&fake, TOKEN, &rt);
    fake.fail("GET", "/repos/dcos/dcos-images/issues/7/comments", 403, 1);
    rt.block_on(gh.upsert_comment(7, MARKER, MARKER)).unwrap();
    let r = fake.requests();
    let reset = r[0].at as i64 + 2;
    assert!(r[1].at >= reset as f64, "retried at {} before the reset at {reset}", r[1].at);
    fake.fail("POST", "/repos/dcos/dcos-images/statuses/", 429, 1);
    rt.block_on(gh.set_status("abc123", Status::Success, "ctx", "ok", None)).unwrap();
    let r: Vec<_> = fake.requests().into_iter().filter(|r| r.path.contains("/statuses/")).collect();
    assert!(r[1].at - r[0].at >= 1.0, "retry-after: 1 was not honoured: {} then {}", r[0].at, r[1].at);
}

#[test]
fn a_rate_limit_longer_than_the_run_waits_is_an_error_at_once() {
    let fake = FakeGitHub::start(TOKEN);
    let rt = rt();
    let mut gh = client(&fake, TOKEN, &rt);
    gh.max_wait = Duration::from_secs(1);
    fake.state.lock().unwrap().rate_limit_reset_secs = 3600;
    fake.fail("POST", "/repos/dcos/dcos-images/statuses/", 403, 1);
    let err = rt.block_on(gh.set_status("abc123", Status::Success, "ctx", "ok", None)).unwrap_err().to_string();
    assert!(err.contains("403 API rate limit exceeded") && err.contains("over the 1s this run waits"), "{err}");
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn a_422_is_github_s_words_and_not_retried() {
    let fake = FakeGitHub::start(TOKEN);
    let rt = rt();
    let gh = client(&fake, TOKEN, &rt);
    let err = rt.block_on(gh.set_status("not-a-commit", Status::Success, "ctx", "ok", None)).unwrap_err().to_string();
    assert!(err.contains("422 No commit found for SHA: not-a-commit"), "{err}");
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn a_comment_over_github_s_limit_is_cut_with_a_pointer() {
    let fake = FakeGitHub::start(TOKEN);
    let rt = rt();
    let gh = client(&fake, TOKEN, &rt);
    let body: String = std::iter::once(format!("{MARKER}\n")).chain((0..5000).map(|i| format!("| row {i:05} | some text |\n"))).collect();
    assert!(body.len() > 70_000);
    let outcome = rt.block_on(gh.upsert_comment_cut(7, MARKER, &body, "The whole report: the run's artifact.")).unwrap();
    assert!(matches!(outcome, CommentOutcome::Created(_)), "{outcome:?}");
    let stored = fake.state.lock().unwrap().comments[0].1.clone();
    assert!(stored.chars().count() <= 65_536, "{}", stored.len());
    assert!(
        stored.starts_with(MARKER) && stored.ends_with("cut here.** The whole report: the run's artifact.\n"),
        "{}",
        &stored[stored.len() - 200..]
    );
    assert!(stored.contains("| row 02000 | some text |\n"));
}

#[test]
fn a_cut_inside_a_code_fence_closes_it_before_the_pointer() {
    let fake = FakeGitHub::start(TOKEN);
    let rt = rt();
    let gh = client(&fake, TOKEN, &rt);
    let body: String =
        std::iter::once(format!("{MARKER}\n~~~~~text\n")).chain((0..5000).map(|i| format!("log line {i:05} ~~~~\n"))).collect();
    rt.block_on(gh.upsert_comment_cut(7, MARKER, &body, "[The whole report](https://example.invalid/artifacts).")).unwrap();
    let stored = fake.state.lock().unwrap().comments[0].1.clone();
    assert!(stored.chars().count() <= 65_536, "{}", stored.len());
    let tail = &stored[stored.len() - 200..];
    assert!(
        tail.ends_with("~~~~\n~~~~~\n\n---\n**The report is longer than a GitHub comment can be: cut here.** [The whole report](https://example.invalid/artifacts).\n"),
        "the fence is closed, so the pointer is Markdown: {tail}"
    );
    assert_eq!(dcos_images::github::open_fence(&stored), None);
}

/// The report job: the runs of two matrix jobs, downloaded side by side as
/// artifacts, become one comment with both directories, and each
/// directory's final status lands on the head and on its publish commit.
#[test]
fn report_makes_one_comment_of_every_matrix_job() {
    use dcos_images::journal::{Journal, RunState, StageState};
    let fake = FakeGitHub::start(TOKEN);
    let tmp = tempfile::tempdir().unwrap();
    let artifacts = tmp.path().join("artifacts");
    let head = "1111111111111111111111111111111111111111";
    let publish = "2222222222222222222222222222222222222222";
    for (job, dir, state, exit, published) in [
        (0, "centos/7.8/aws/DCOS-2.1.1/docker-19.03.12", RunState::Qualified, 0, true),
        (1, "rhel/8.2/aws/DCOS-2.1.1/docker-19.03.12", RunState::Failed, 1, false),
    ] {
        let run_dir = artifacts.join(format!("runs-{job}")).join(format!("20261123T100000Z-job{job}"));
        std::fs::create_dir_all(&run_dir).unwrap();
        let mut j = Journal::start(&format!("20261123T100000Z-job{job}"), dir, tmp.path(), &run_dir, "integration_tests");
        j.begin("integration_tests", "run the integration tests");
        j.end(if exit == 0 { StageState::Ok } else { StageState::Failed }, 1.0, None);
        j.commit = Some(head.into());
        j.publish_commit = published.then(|| publish.to_owned());
        j.build_url = Some(format!("https://github.example.invalid/dcos/dcos-images/actions/runs/9/job/{job}"));
        // A provisioner's output that tries to end the fence around it and
        // go on as the bot's own Markdown.
        let error = (exit != 0)
            .then(|| "packer: the provisioner said:\n~~~~\n@dcos/maintainers ![x](https://example.invalid/x.png)\n~~~~~~\nend".to_owned());
        j.finish(state, exit, error);
    }
    // A second comment of someone else's stays apart.
    fake.state.lock().unwrap().comments.push((1, "LGTM".into()));
    let report = || {
        common::Test::new()
            .root(tmp.path())
            .args(["report", "--run-dir", artifacts.to_str().unwrap(), "--pr", "7", "--out", tmp.path().join("out").to_str().unwrap()])
            .env("GITHUB_REPOSITORY", "dcos/dcos-images")
            .env("GITHUB_API_URL", &fake.url)
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_SHA", head)
            .status(1)
    };
    // One run failed (exit 1): so does the report, the one check a branch can require.
    let out = report();
    assert!(out.stdout.contains("reported 2 run(s)"), "{}", out.stdout);
    let comments = fake.state.lock().unwrap().comments.clone();
    assert_eq!(comments.len(), 2, "{comments:?}");
    let body = &comments[1].1;
    assert!(body.starts_with(MARKER), "{body}");
    let job = "https://github.example.invalid/dcos/dcos-images/actions/runs/9/job/0";
    assert!(
        body.contains(&format!(
            "| `centos/7.8/aws/DCOS-2.1.1/docker-19.03.12` | ✅ qualified ([job]({job}), [artifacts]({job}#artifacts))"
        )),
        "{body}"
    );
    assert!(body.contains("| `rhel/8.2/aws/DCOS-2.1.1/docker-19.03.12` | ❌ failed ([job]("), "{body}");
    assert!(body.contains(&format!("Commit: {head}")), "{body}");
    // The output stays inside a fence longer than any run of `~` in it.
    let fenced =
        "~~~~~~~text\npacker: the provisioner said:\n~~~~\n@dcos/maintainers ![x](https://example.invalid/x.png)\n~~~~~~\nend\n~~~~~~~\n";
    assert!(body.contains(fenced), "{body}");
    assert_eq!(dcos_images::github::open_fence(body), None);
    let junit = std::fs::read_to_string(tmp.path().join("out/junit.xml")).unwrap();
    common::assert_valid_junit(&junit, "report's junit.xml");
    assert!(
        junit.contains("<testsuite name=\"dcos-images: rhel/8.2/aws/DCOS-2.1.1/docker-19.03.12\""),
        "one run a directory: no run id in the name: {junit}"
    );
    let statuses: Vec<(String, String, String)> = fake
        .state
        .lock()
        .unwrap()
        .statuses
        .iter()
        .map(|(sha, s)| (sha[..1].to_owned(), s["context"].as_str().unwrap().to_owned(), s["state"].as_str().unwrap().to_owned()))
        .collect();
    let centos = "dcos-images/centos/7.8/aws/DCOS-2.1.1/docker-19.03.12".to_owned();
    let rhel = "dcos-images/rhel/8.2/aws/DCOS-2.1.1/docker-19.03.12".to_owned();
    assert_eq!(
        statuses,
        vec![("1".into(), centos.clone(), "success".into()), ("2".into(), centos, "success".into()), ("1".into(), rhel, "failure".into()),]
    );
    // Run again (a re-run of the workflow): the same comment, updated.
    report();
    assert_eq!(fake.state.lock().unwrap().comments.len(), 2);
}
