//! `dcos-images changed` against real git histories built here.

mod common;

use common::sandbox::git;
use common::{valid_tree, Test};
use std::path::Path;

const D: &str = "centos/7.8/aws/DCOS-2.1.1/docker-19.03.12";
const N: &str = "centos/7.8/aws/DCOS-2.1.1/docker-19.03.12/tmp_noexec";
const R: &str = "rhel/8.0/aws/DCOS-2.2.0/docker-19.03.12";
const BOT: &str = "bot@example.invalid";

fn commit(repo: &Path, email: &str, message: &str) -> String {
    git(repo, &["add", "-A"]);
    git(repo, &["-c", "user.name=someone", "-c", &format!("user.email={email}"), "commit", "-qm", message]);
    git(repo, &["rev-parse", "HEAD"]).trim().to_owned()
}

fn changed(repo: &Path, base: &str, format: &str) -> String {
    Test::new().root(repo).args(["changed", "--base", base, "--format", format]).status(0).stdout
}

fn repo() -> tempfile::TempDir {
    let tree = valid_tree();
    std::fs::write(tree.path().join("dcos-images.yaml"), format!("publish:\n  author: dcos-images bot <{BOT}>\n")).unwrap();
    git(tree.path(), &["init", "-q", "-b", "main"]);
    commit(tree.path(), "dev@example.invalid", "base");
    tree
}

#[test]
fn a_changed_script_affects_its_own_directory_only() {
    let t = repo();
    let base = git(t.path(), &["rev-parse", "HEAD"]).trim().to_owned();
    std::fs::write(t.path().join(D).join("install_dcos_prerequisites.sh"), "#!/bin/sh\necho changed\n").unwrap();
    commit(t.path(), "dev@example.invalid", "script");
    assert_eq!(changed(t.path(), &base, "lines"), format!("{D}\n"));
    // Any file inside a build directory counts, also one packer.json does not name.
    std::fs::write(t.path().join(N).join("notes.txt"), "x\n").unwrap();
    commit(t.path(), "dev@example.invalid", "notes");
    assert_eq!(changed(t.path(), &base, "json"), format!("[\"{D}\",\"{N}\"]\n"));
}

#[test]
fn a_changed_base_images_json_affects_every_directory_below_it() {
    let t = repo();
    let base = git(t.path(), &["rev-parse", "HEAD"]).trim().to_owned();
    std::fs::write(t.path().join("centos/7.8/aws/base_images.json"), "{\"us-west-2\": \"ami-03cf127a\"}\n").unwrap();
    commit(t.path(), "dev@example.invalid", "new base image");
    assert_eq!(changed(t.path(), &base, "lines"), format!("{D}\n{N}\n"));
    assert_eq!(
        changed(t.path(), &base, "github-matrix"),
        format!("{{\"include\":[{{\"build_dir\":\"{D}\"}},{{\"build_dir\":\"{N}\"}}]}}\n")
    );
}

#[test]
fn deleted_directories_are_left_out() {
    let t = repo();
    let base = git(t.path(), &["rev-parse", "HEAD"]).trim().to_owned();
    std::fs::remove_dir_all(t.path().join(R)).unwrap();
    std::fs::write(t.path().join(D).join("cluster_profile.tfvars"), "dcos_version = \"2.1.1\"\n").unwrap();
    commit(t.path(), "dev@example.invalid", "drop rhel, change centos");
    assert_eq!(changed(t.path(), &base, "lines"), format!("{D}\n"));
}

#[test]
fn the_bots_own_publish_commit_affects_nothing() {
    let t = repo();
    let base = git(t.path(), &["rev-parse", "HEAD"]).trim().to_owned();
    std::fs::write(t.path().join(D).join("dcos_images.yaml"), "us-west-2: ami-0c1d2e3f4a5b6c7d8\n").unwrap();
    commit(t.path(), BOT, "Publish dcos_images.yaml");
    let out = Test::new().root(t.path()).args(["changed", "--base", &base, "--format", "github-matrix"]).status(0);
    assert_eq!(out.stdout, "{\"include\":[]}\n");
    assert!(out.stderr.contains("publishing bot"), "{}", out.stderr);
    // The same change by a person is a change.
    git(t.path(), &["reset", "-q", "--soft", "HEAD~1"]);
    commit(t.path(), "dev@example.invalid", "by hand");
    assert_eq!(changed(t.path(), &base, "lines"), format!("{D}\n"));
}

#[test]
fn the_merge_base_is_the_reference_and_a_tree_below_the_top_works() {
    let t = tempfile::tempdir().unwrap();
    // The tree in a subdirectory of the repository.
    common::copy_tree(&common::fixtures().join("valid"), &t.path().join("images"));
    std::fs::write(t.path().join("images/dcos-images.yaml"), format!("publish:\n  author: bot <{BOT}>\n")).unwrap();
    git(t.path(), &["init", "-q", "-b", "main"]);
    commit(t.path(), "dev@example.invalid", "base");
    git(t.path(), &["checkout", "-q", "-b", "pr"]);
    std::fs::write(t.path().join("images").join(R).join("notes.txt"), "x\n").unwrap();
    commit(t.path(), "dev@example.invalid", "pr change");
    // main moves on after the branch point: its changes are not the PR's.
    git(t.path(), &["checkout", "-q", "main"]);
    std::fs::write(t.path().join("images").join(D).join("notes.txt"), "y\n").unwrap();
    commit(t.path(), "dev@example.invalid", "main change");
    git(t.path(), &["checkout", "-q", "pr"]);
    let out = Test::new().root(&t.path().join("images")).args(["changed", "--base", "main"]).status(0);
    assert_eq!(out.stdout, format!("{R}\n"));
}
