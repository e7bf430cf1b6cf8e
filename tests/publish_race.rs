//! Two jobs publishing to one remote: a rejected push is rebased and retried,
//! never forced; a real conflict is named and leaves nothing half-done.

mod common;

use common::sandbox::git;
use dcos_images::pipeline::publish::PublishTarget;
use dcos_images::tools::git::{Git, PushError};
use std::path::{Path, PathBuf};

const A: &str = "centos/7.8/aws/DCOS-2.1.1/docker-19.03.12";
const B: &str = "rhel/8.0/aws/DCOS-2.2.0/docker-19.03.12";

fn init(dir: &Path) -> PathBuf {
    let remote = dir.join("remote.git");
    git(dir, &["init", "-q", "--bare", "-b", "main", remote.to_str().unwrap()]);
    let seed = dir.join("seed");
    std::fs::create_dir_all(seed.join(A)).unwrap();
    std::fs::create_dir_all(seed.join(B)).unwrap();
    std::fs::write(seed.join(A).join("dcos_images.yaml"), "us-west-2: ami-0a1b2c3d4e5f60718\n").unwrap();
    std::fs::write(seed.join(B).join("dcos_images.yaml"), "us-west-2: ami-0b1c2d3e4f5a60718\n").unwrap();
    git(&seed, &["init", "-q", "-b", "main"]);
    git(&seed, &["add", "-A"]);
    git(&seed, &["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "seed"]);
    git(&seed, &["push", "-q", remote.to_str().unwrap(), "main"]);
    remote
}

fn clone(dir: &Path, remote: &Path, name: &str) -> PublishTarget {
    let repo = dir.join(name);
    git(dir, &["clone", "-q", remote.to_str().unwrap(), repo.to_str().unwrap()]);
    PublishTarget {
        git: Git { program: "git".into(), repo },
        remote: "origin".into(),
        branch: "main".into(),
        identity: ("dcos-images bot".into(), "bot@example.invalid".into()),
    }
}

fn publish(t: &PublishTarget, build_dir: &str, image: &str) -> Result<(), PushError> {
    let file = t.git.repo.join(build_dir).join("dcos_images.yaml");
    std::fs::write(&file, format!("us-west-2: {image}\n")).unwrap();
    t.commit_and_push(build_dir, &[file]).map(drop)
}

#[test]
fn two_publishers_racing_both_land_in_either_order() {
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let remote = init(dir.path());
        let (a, b) = (clone(dir.path(), &remote, "a"), clone(dir.path(), &remote, "b"));
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            let ha = s.spawn(|| {
                barrier.wait();
                publish(&a, A, "ami-0aaaaaaaaaaaaaaaa")
            });
            let hb = s.spawn(|| {
                barrier.wait();
                publish(&b, B, "ami-0bbbbbbbbbbbbbbbb")
            });
            ha.join().unwrap().unwrap_or_else(|e| panic!("round {round}: a: {e}"));
            hb.join().unwrap().unwrap_or_else(|e| panic!("round {round}: b: {e}"));
        });
        let log = git(&remote, &["log", "--format=%s", "main"]);
        let subjects: Vec<&str> = log.lines().collect();
        assert_eq!(subjects.len(), 3, "round {round}: {subjects:?}");
        assert!(subjects.contains(&format!("Publish dcos_images.yaml for {A}").as_str()));
        assert!(subjects.contains(&format!("Publish dcos_images.yaml for {B}").as_str()));
        // A straight line: rebased, not merged, not forced.
        assert_eq!(git(&remote, &["rev-list", "--merges", "--count", "main"]).trim(), "0");
        assert_eq!(git(&remote, &["show", &format!("main:{A}/dcos_images.yaml")]), "us-west-2: ami-0aaaaaaaaaaaaaaaa\n");
        assert_eq!(git(&remote, &["show", &format!("main:{B}/dcos_images.yaml")]), "us-west-2: ami-0bbbbbbbbbbbbbbbb\n");
    }
}

#[test]
fn a_real_conflict_is_named_and_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let remote = init(dir.path());
    let (a, b) = (clone(dir.path(), &remote, "a"), clone(dir.path(), &remote, "b"));
    publish(&a, A, "ami-0aaaaaaaaaaaaaaaa").unwrap();
    let err = publish(&b, A, "ami-0cccccccccccccccc").unwrap_err();
    match &err {
        PushError::Conflict { files, .. } => assert_eq!(files, &vec![format!("{A}/dcos_images.yaml")]),
        other => panic!("not a conflict: {other}"),
    }
    assert!(err.to_string().contains("nothing was pushed"), "{err}");
    // b is not left mid-rebase, and the remote has a's publish only.
    assert!(!b.git.repo.join(".git/rebase-merge").exists() && !b.git.repo.join(".git/rebase-apply").exists());
    assert_eq!(git(&remote, &["show", &format!("main:{A}/dcos_images.yaml")]), "us-west-2: ami-0aaaaaaaaaaaaaaaa\n");
    assert_eq!(git(&remote, &["rev-list", "--count", "main"]).trim(), "2");
}

#[test]
fn a_rejected_push_is_rebased_and_retried_not_forced() {
    let dir = tempfile::tempdir().unwrap();
    let remote = init(dir.path());
    let (a, b) = (clone(dir.path(), &remote, "a"), clone(dir.path(), &remote, "b"));
    publish(&a, A, "ami-0aaaaaaaaaaaaaaaa").unwrap();
    // b has not seen a's commit: its first push is rejected.
    let file = b.git.repo.join(B).join("dcos_images.yaml");
    std::fs::write(&file, "us-west-2: ami-0bbbbbbbbbbbbbbbb\n").unwrap();
    b.git.commit_paths("Publish dcos_images.yaml for B", ("bot", "bot@example.invalid"), &[format!("{B}/dcos_images.yaml")]).unwrap();
    let tries = b.git.push_rebasing("origin", "main", 5).unwrap();
    assert_eq!(tries, 2, "rejected once, rebased, pushed");
    assert_eq!(git(&remote, &["rev-list", "--count", "main"]).trim(), "3");
    // With one attempt only, a rejection is an error, never a force-push.
    publish(&a, A, "ami-0dddddddddddddddd").unwrap();
    std::fs::write(&file, "us-west-2: ami-0eeeeeeeeeeeeeeee\n").unwrap();
    b.git.commit_paths("again", ("bot", "bot@example.invalid"), &[format!("{B}/dcos_images.yaml")]).unwrap();
    let err = b.git.push_rebasing("origin", "main", 1).unwrap_err();
    assert!(matches!(err, PushError::StillRejected { attempts: 1, .. }), "{err}");
    assert_eq!(git(&remote, &["show", &format!("main:{A}/dcos_images.yaml")]), "us-west-2: ami-0dddddddddddddddd\n");
}
