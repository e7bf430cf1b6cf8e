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
