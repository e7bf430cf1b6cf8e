//! Nothing leaks: a run killed with SIGKILL (what a cancelled CI job ends
//! with) is cleaned up by `destroy RUN_ID` until EC2 shows nothing of it, and
//! the janitor `gc` removes what nobody needs, against moto with the real
//! packer and terraform (tests/common/sandbox.rs).

mod common;

use aws_sdk_ec2::types::{BlockDeviceMapping, EbsBlockDevice, ResourceType, Tag, TagSpecification};
use common::sandbox::{Sandbox, BUILD_DIR};
use common::Test;
use std::time::{Duration, Instant};

fn journal(sb: &Sandbox) -> serde_json::Value {
    let runs = Test::new().args(["runs", "--json", "--run-dir", sb.run_dir().to_str().unwrap()]).status(0).json();
    runs.as_array().unwrap().last().expect("a run").clone()
}

/// Waits until the run's journal shows `stage` running with its tool's pid,
/// and `ready` holds; returns the journal.
fn wait_for_stage(sb: &Sandbox, stage: &str, ready: impl Fn() -> bool) -> serde_json::Value {
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < Duration::from_secs(240), "stage {stage} never ran");
        std::thread::sleep(Duration::from_millis(200));
        let Some(run) = std::fs::read_dir(sb.run_dir()).ok().and_then(|mut d| d.next()).map(|e| e.unwrap().path()) else { continue };
        let Ok(j) = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(run.join("journal.json")).unwrap_or_default())
        else {
            continue;
        };
        let running = j["stages"].as_array().unwrap().iter().any(|s| s["name"] == stage && s["state"] == "running" && s["pid"].is_u64());
        if running && ready() {
            return j;
        }
    }
}

/// Waits until packer's builder instance carries the run's tag (run_tags
/// puts it there from the start).
fn wait_for_tagged_builder(sb: &Sandbox, run_id: &str) {
    let start = Instant::now();
    while !sb.tagged_with_run("us-west-2", run_id).iter().any(|r| r.starts_with("instance ")) {
        assert!(start.elapsed() < Duration::from_secs(60), "packer's instance is not tagged with the run");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tool_pgid(j: &serde_json::Value, stage: &str) -> i32 {
    j["stages"].as_array().unwrap().iter().find(|s| s["name"] == stage).unwrap()["pid"].as_i64().unwrap() as i32
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: killpg has no memory-safety preconditions.
    unsafe { libc::killpg(pgid, 0) == 0 }
}

fn run_state(sb: &Sandbox) -> String {
    let listed = Test::new().args(["runs", "--run-dir", sb.run_dir().to_str().unwrap()]).status(0).stdout;
    listed.lines().nth(1).unwrap().split_whitespace().nth(1).unwrap().to_owned()
}

fn destroy(sb: &Sandbox, run_id: &str) -> common::Output {
    Test::new().envs(&sb.env()).args(["destroy", run_id, "--run-dir", sb.run_dir().to_str().unwrap()]).status(0)
}

/// A cancelled CI job: the runner SIGKILLs dcos-images and terraform while
/// the cluster is being created. Terraform's state holds part of it at most;
/// EC2 holds the rest, and the run's images.
#[test]
fn sigkill_while_terraform_applies_then_destroy_leaves_nothing_of_the_run() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let mut child = sb
        .qualify(&repo, &["--no-publish", BUILD_DIR])
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let j = wait_for_stage(&sb, "cluster_apply", || !sb.live_instances("us-west-2").is_empty());
    let terraform = tool_pgid(&j, "cluster_apply");
    // SAFETY: kill and killpg have no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
        libc::killpg(terraform, libc::SIGKILL);
    }
    child.wait().unwrap();
    let run_id = j["run_id"].as_str().unwrap().to_owned();
    let left = sb.tagged_with_run("us-west-2", &run_id);
    assert!(left.iter().any(|r| r.starts_with("instance ")), "the killed apply left instances: {left:?}");
    assert!(left.iter().any(|r| r.starts_with("image ")), "and the run's image: {left:?}");
    assert!(!sb.tagged_with_run("us-east-1", &run_id).is_empty(), "and its copy in the second region");
    assert_eq!(run_state(&sb), "died");

    let out = destroy(&sb, &run_id);
    assert!(out.stdout.contains(&format!("nothing of {run_id} is left in EC2 (us-east-1, us-west-2)")), "{}", out.stdout);
    for region in ["us-west-2", "us-east-1"] {
        assert_eq!(sb.tagged_with_run(region, &run_id), Vec::<String>::new(), "{region}: {}", out.stderr);
    }
    assert!(sb.live_instances("us-west-2").is_empty());
    assert_eq!(journal(&sb)["cluster"]["state"], "destroyed");
    assert_eq!(journal(&sb)["images_removed"], true);
    assert_eq!(run_state(&sb), "interrupted", "killed, then cleaned up");
    // Once more: nothing to do, still exit 0.
    destroy(&sb, &run_id);
}

/// dcos-images SIGKILLed while packer builds: packer, in a process group of
/// its own, goes on building. `destroy --all` (CI's cleanup step) stops it,
/// and removes what packer, killed by SIGPIPE as it cleans up, leaves.
#[test]
fn sigkill_while_packer_builds_then_destroy_stops_packer_and_leaves_nothing() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let slow = format!("{BUILD_DIR}/slow_provisioner");
    let mut child =
        sb.qualify(&repo, &[&slow]).command().stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let j = wait_for_stage(&sb, "packer_build", || !sb.live_instances("us-west-2").is_empty());
    let run_id = j["run_id"].as_str().unwrap().to_owned();
    wait_for_tagged_builder(&sb, &run_id);
    let packer = tool_pgid(&j, "packer_build");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert!(group_alive(packer), "packer outlives a SIGKILL of dcos-images");
    assert_eq!(run_state(&sb), "died");

    // What CI's cleanup step runs: every run of the directory that may
    // have left something.
    let out = Test::new().envs(&sb.env()).args(["destroy", "--all", "--run-dir", sb.run_dir().to_str().unwrap()]).status(0);
    assert!(out.stderr.contains("died while `build the image with packer` ran; stopping it"), "{}", out.stderr);
    assert!(!group_alive(packer), "packer was stopped");
    for region in ["us-west-2", "us-east-1"] {
        assert_eq!(sb.tagged_with_run(region, &run_id), Vec::<String>::new(), "{region}: {}", out.stderr);
    }
    assert!(sb.live_instances("us-west-2").is_empty());
    // Packer dies of SIGPIPE while it cleans up (its reader is gone): its
    // temporary group is removed through its instance when that is still
    // alive, else by the name packer's log gave it.
    assert!(
        out.stderr.contains("removed security-group sg-") || out.stderr.contains("removed packer's temporary security-group packer_"),
        "{}",
        out.stderr
    );
    let groups = sb.security_group_names("us-west-2");
    assert!(!groups.iter().any(|g| g.starts_with("packer_")), "packer's temporary group is gone: {groups:?}\n{}", out.stderr);
    // Nothing may be left now: a second --all finds no run to look at.
    let again = Test::new().envs(&sb.env()).args(["destroy", "--all", "--run-dir", sb.run_dir().to_str().unwrap()]).status(0);
    assert!(again.stdout.contains("may have left anything"), "{}", again.stdout);
}

/// A qualify of the slow build directory, its output piped, once packer's
/// builder instance runs with the run's tag: the child, the journal, the run id.
fn slow_build_with_tagged_builder(sb: &Sandbox) -> (std::process::Child, serde_json::Value, String) {
    let repo = sb.repo();
    let slow = format!("{BUILD_DIR}/slow_provisioner");
    let child =
        sb.qualify(&repo, &[&slow]).command().stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let j = wait_for_stage(sb, "packer_build", || !sb.live_instances("us-west-2").is_empty());
    let run_id = j["run_id"].as_str().unwrap().to_owned();
    wait_for_tagged_builder(sb, &run_id);
    (child, j, run_id)
}

/// Packer dies in the middle of a build (OOM-killed, a crash: here SIGKILL
/// to its process group) and cannot clean up: its builder instance, key pair
/// and security group stay. The run, failing, removes them itself; nobody
/// has to run `destroy` or wait for `gc`.
#[test]
fn packer_killed_mid_build_leaves_nothing_once_the_run_ends() {
    let sb = Sandbox::start();
    let (child, j, run_id) = slow_build_with_tagged_builder(&sb);
    assert!(sb.security_group_names("us-west-2").iter().any(|g| g.starts_with("packer_")), "packer made its temporary group");
    // SAFETY: killpg has no memory-safety preconditions.
    unsafe { libc::killpg(tool_pgid(&j, "packer_build"), libc::SIGKILL) };
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let code = out.status.code();
    assert!(code.is_some_and(|c| c != 0 && c != 4), "the build failed, the cleanup did not: {code:?}\n{stdout}\n{stderr}");
    assert!(stderr.contains("remove what packer left of the run in"), "{stderr}");
    for region in ["us-west-2", "us-east-1"] {
        assert_eq!(sb.tagged_with_run(region, &run_id), Vec::<String>::new(), "{region}: {stderr}");
    }
    assert!(sb.live_instances("us-west-2").is_empty(), "{stderr}");
    let groups = sb.security_group_names("us-west-2");
    assert!(!groups.iter().any(|g| g.starts_with("packer_")), "packer's temporary group is gone: {groups:?}\n{stderr}");
    assert_eq!(run_state(&sb), "failed");
    let j = journal(&sb);
    assert_eq!(j["stages"].as_array().unwrap().iter().find(|s| s["name"] == "packer_build").unwrap()["state"], "failed", "{j}");
}

/// The same, with EC2 out of reach by then (an outage, expired
/// credentials): nothing is known to be left, so the run's result is the
/// build's failure, not a failed teardown, and a warning names the command
/// that makes sure.
#[test]
fn packer_killed_with_ec2_unreachable_warns_and_keeps_the_builds_exit_code() {
    let mut sb = Sandbox::start();
    let (child, j, run_id) = slow_build_with_tagged_builder(&sb);
    sb.stop_ec2();
    // SAFETY: killpg has no memory-safety preconditions.
    unsafe { libc::killpg(tool_pgid(&j, "packer_build"), libc::SIGKILL) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "the build's failure: {stderr}");
    assert!(stderr.contains("warning: cannot ask EC2 what packer left"), "{stderr}");
    assert!(stderr.contains(&format!("to make sure nothing is: dcos-images destroy {run_id}")), "{stderr}");
    assert!(!stderr.contains("TEARDOWN FAILED"), "{stderr}");
}

const AMI: &str = "ami-1812c061";

fn tags(pairs: &[(&str, &str)], kind: ResourceType) -> TagSpecification {
    let tags: Vec<Tag> = pairs.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect();
    TagSpecification::builder().resource_type(kind).set_tags(Some(tags)).build()
}

/// An instance with `tags` in us-west-2.
fn instance(sb: &Sandbox, pairs: &[(&str, &str)]) -> String {
    let spec = (!pairs.is_empty()).then(|| tags(pairs, ResourceType::Instance));
    sb.ec2("us-west-2", |c| async move {
        let out =
            c.run_instances().image_id(AMI).min_count(1).max_count(1).set_tag_specifications(spec.map(|s| vec![s])).send().await.unwrap();
        out.instances()[0].instance_id().unwrap().to_owned()
    })
}

/// An image with a snapshot of its own, both tagged with `pairs`. (moto's
/// RegisterImage ignores tag specifications and makes the image's snapshot
/// itself: both are tagged afterwards, as packer does.)
fn image(sb: &Sandbox, name: &str, pairs: &[(&str, &str)]) -> (String, String) {
    let tags: Vec<Tag> = pairs.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect();
    let name = name.to_owned();
    sb.ec2("us-west-2", |c| async move {
        let volume = c.create_volume().availability_zone("us-west-2a").size(8).send().await.unwrap();
        let volume = volume.volume_id().unwrap().to_owned();
        let source = c.create_snapshot().volume_id(&volume).send().await.unwrap().snapshot_id().unwrap().to_owned();
        let mapping =
            BlockDeviceMapping::builder().device_name("/dev/sda1").ebs(EbsBlockDevice::builder().snapshot_id(&source).build()).build();
        let image = c
            .register_image()
            .name(name)
            .root_device_name("/dev/sda1")
            .block_device_mappings(mapping)
            .send()
            .await
            .unwrap()
            .image_id()
            .unwrap()
            .to_owned();
        let described = c.describe_images().image_ids(&image).send().await.unwrap();
        let snapshot = described.images()[0].block_device_mappings()[0].ebs().unwrap().snapshot_id().unwrap().to_owned();
        c.create_tags().resources(&image).resources(&snapshot).set_tags(Some(tags)).send().await.unwrap();
        c.delete_snapshot().snapshot_id(&source).send().await.unwrap();
        c.delete_volume().volume_id(&volume).send().await.unwrap();
        (image, snapshot)
    })
}

#[test]
fn gc_removes_what_no_run_needs_and_leaves_the_rest_with_a_reason() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let run = "dcos-images:run-id";
    let (old, old_kept, young) = ("20200101T000000Z-centos-old-0001", "20200101T000000Z-centos-kept-0002", {
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ-centos-young-0003").to_string()
    });
    // An old failed run's leftovers: an instance, an image with its
    // snapshot, a key pair and a security group.
    let leaked = instance(&sb, &[(run, old)]);
    let (leaked_image, leaked_snapshot) = image(&sb, "leaked", &[(run, old)]);
    sb.ec2("us-west-2", |c| async move {
        c.create_key_pair().key_name("leaked-key").tag_specifications(tags(&[(run, old)], ResourceType::KeyPair)).send().await.unwrap();
        c.create_security_group()
            .group_name("leaked-group")
            .description("leaked")
            .tag_specifications(tags(&[(run, old)], ResourceType::SecurityGroup))
            .send()
            .await
            .unwrap();
    });
    // What must stay: an image the tree lists, an image tagged qualified, a
    // cluster kept until tomorrow, an instance nobody tagged, a young run.
    let (listed_image, listed_snapshot) = image(&sb, "listed", &[(run, old)]);
    std::fs::write(repo.join(BUILD_DIR).join("dcos_images.yaml"), format!("us-west-2: {listed_image}\n")).unwrap();
    let (qualified_image, _) = image(&sb, "qualified", &[(run, old), ("dcos-images:qualified", "2020-01-01T02:00:00Z")]);
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let kept = instance(&sb, &[(run, old_kept), ("dcos-images:keep-until", &tomorrow)]);
    let untagged = instance(&sb, &[]);
    let young_instance = instance(&sb, &[(run, &young)]);

    let gc = |extra: &[&str]| {
        Test::new()
            .envs(&sb.env())
            .args(["--root", repo.to_str().unwrap(), "gc", "--json", "--run-dir", sb.run_dir().to_str().unwrap()])
            .args(extra)
            .status(0)
            .json()
    };
    let ids = |v: &serde_json::Value, key: &str| -> Vec<String> {
        let mut ids: Vec<String> = v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r["resource"]["kind"].as_str().unwrap(), r["resource"]["id"].as_str().unwrap()))
            .collect();
        ids.sort();
        ids
    };
    let leaked_group = sb.ec2("us-west-2", |c| async move {
        let out = c.describe_security_groups().group_names("leaked-group").send().await.unwrap();
        out.security_groups()[0].group_id().unwrap().to_owned()
    });
    let mut doomed = vec![
        format!("image {leaked_image}"),
        format!("instance {leaked}"),
        "key-pair leaked-key".to_owned(),
        format!("security-group {leaked_group}"),
    ];
    doomed.sort();

    // --dry-run: the same list, nothing removed. The region is the tree's own.
    let dry = gc(&["--dry-run"]);
    assert_eq!(dry["regions"], serde_json::json!(["us-east-1", "us-west-2"]));
    assert_eq!(ids(&dry, "removed"), doomed);
    let reasons: Vec<String> = dry["kept"].as_array().unwrap().iter().map(|k| k["reason"].as_str().unwrap().to_owned()).collect();
    assert!(reasons.contains(&"listed in a dcos_images.yaml of the tree".to_owned()), "{reasons:?}");
    assert!(reasons.contains(&format!("kept until {tomorrow}")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("younger than 6h")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("dcos-images:qualified")), "{reasons:?}");
    assert!(sb.live_instances("us-west-2").contains(&leaked), "--dry-run removes nothing");
    assert!(sb.tagged_with_run("us-west-2", old).contains(&format!("image {leaked_image}")));

    let done = gc(&["--region", "us-west-2"]);
    assert_eq!(ids(&done, "removed"), doomed);
    assert!(done["removed"].as_array().unwrap().iter().all(|r| r["error"].is_null()), "{done}");
    let live = sb.live_instances("us-west-2");
    assert!(!live.contains(&leaked), "{live:?}");
    for stays in [&kept, &untagged, &young_instance] {
        assert!(live.contains(stays), "{stays} was removed: {live:?}");
    }
    let left = sb.tagged_with_run("us-west-2", old);
    assert!(left.contains(&format!("image {listed_image}")) && left.contains(&format!("image {qualified_image}")), "{left:?}");
    assert!(!left.iter().any(|r| r.starts_with("instance ") || r.starts_with("key-pair ") || r.starts_with("security-group ")), "{left:?}");
    assert!(!left.contains(&format!("image {leaked_image}")), "{left:?}");
    assert!(!sb.own_snapshots("us-west-2").contains(&leaked_snapshot), "the leaked image's snapshot went with it");
    assert!(sb.own_snapshots("us-west-2").contains(&listed_snapshot));
    // Nothing left to do.
    assert_eq!(ids(&gc(&["--region", "us-west-2"]), "removed"), Vec::<String>::new());
}
