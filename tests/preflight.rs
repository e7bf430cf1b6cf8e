//! Preflight against moto (tests/sandbox/moto_server.py adds what moto 5
//! lacks: image deprecation and the account's block public access): a run
//! that EC2 says cannot succeed is refused with exit 2 before anything is
//! created, naming the region, the resource and what to do.

mod common;

use common::sandbox::Sandbox;
use common::Test;
use std::path::Path;

fn dry_run(sb: &Sandbox, tree: &Path, dir: &Path, status: i32) -> common::Output {
    Test::new()
        .envs(&sb.env())
        .args(["--root", tree.to_str().unwrap(), "qualify", "--dry-run", "--run-dir", sb.run_dir().to_str().unwrap()])
        .args([dir.to_str().unwrap()])
        .status(status)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn what_ec2_says_cannot_work_is_refused_before_anything_is_created() {
    let sb = Sandbox::start();
    let (tree, dir) = sb.public_tree();

    // The profile's key pair does not exist in the account.
    let out = dry_run(&sb, &tree, &dir, 2);
    assert!(out.stderr.contains("preflight: EC2 says these runs cannot succeed; nothing was created"), "{}", out.stderr);
    assert!(
        out.stderr.contains("us-west-2: the profile's key pair (ssh_key_name) dcos-images does not exist in us-west-2"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("aws ec2 import-key-pair --region us-west-2 --key-name dcos-images"), "{}", out.stderr);
    assert!(!sb.run_dir().exists() || std::fs::read_dir(sb.run_dir()).unwrap().next().is_none(), "no run was started");
    sb.import_key_pair("dcos-images");

    // Everything is there: the peak is named (1 × m5.xlarge bootstrap + 4 × m5.xlarge nodes, 4 vCPUs each).
    let out = dry_run(&sb, &tree, &dir, 0);
    assert!(out.stderr.contains("build in us-west-2: base image ami-0a248ce88bcc7bd23 available; m4.xlarge offered"), "{}", out.stderr);
    assert!(out.stderr.contains("public images (ami_groups: all) allowed in us-west-2"), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "cluster in us-west-2: m5.xlarge offered in us-west-2a, the zone the cluster module will pick; key pair dcos-images exists"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("peak: 20 vCPUs at once (the cluster: 5 × m5.xlarge (4); the build, before it: 1 × m4.xlarge (4))"),
        "{}",
        out.stderr
    );

    // An unknown base image.
    let base = tree.join("centos/7.8/aws/base_images.json");
    edit(&base, "ami-0a248ce88bcc7bd23", "ami-0123456789abcdef0");
    let packer = dir.join("packer.json");
    edit(&packer, "ami-0a248ce88bcc7bd23", "ami-0123456789abcdef0");
    let out = dry_run(&sb, &tree, &dir, 2);
    assert!(
        out.stderr
            .contains("us-west-2: the base image ami-0123456789abcdef0 (centos/7.8/aws/base_images.json) does not exist in us-west-2"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("to do: run `dcos-images base-images refresh centos/7.8/aws`"), "{}", out.stderr);
    edit(&base, "ami-0123456789abcdef0", "ami-0a248ce88bcc7bd23");
    edit(&packer, "ami-0123456789abcdef0", "ami-0a248ce88bcc7bd23");

    // Instance types not offered: packer's in the region, the cluster's in any zone.
    edit(&packer, "\"m4.xlarge\"", "\"m4.huge\"");
    let profile = dir.join("cluster_profile.tfvars");
    edit(&profile, "aws_master_instance_type       = \"m5.xlarge\"", "aws_master_instance_type = \"m5.enormous\"");
    let out = dry_run(&sb, &tree, &dir, 2);
    assert!(out.stderr.contains("us-west-2: packer's instance type m4.huge is not offered in us-west-2"), "{}", out.stderr);
    assert!(
        out.stderr.contains("no zone of us-west-2 that needs no opt-in offers every instance type of the cluster (m5.xlarge: us-west-2a, us-west-2b, us-west-2c, us-west-2d; m5.enormous: nowhere)"),
        "{}",
        out.stderr
    );
    edit(&packer, "\"m4.huge\"", "\"m4.xlarge\"");
    edit(&profile, "aws_master_instance_type = \"m5.enormous\"", "aws_master_instance_type       = \"m5.xlarge\"");

    // The account blocks public images, and the template makes its image public.
    sb.ec2("us-west-2", |c| async move {
        c.enable_image_block_public_access()
            .image_block_public_access_state(aws_sdk_ec2::types::ImageBlockPublicAccessEnabledState::BlockNewSharing)
            .send()
            .await
            .unwrap();
    });
    let out = dry_run(&sb, &tree, &dir, 2);
    assert!(
        out.stderr.contains("the account blocks public images in us-west-2 (block public access for AMIs: block-new-sharing)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("aws ec2 disable-image-block-public-access --region us-west-2"), "{}", out.stderr);
    // A template that keeps its images private builds in such an account.
    edit(&packer, "\"ami_groups\": \"all\",", "");
    let out = dry_run(&sb, &tree, &dir, 0);
    assert!(!out.stderr.contains("public images"), "{}", out.stderr);

    // A deprecated base image still builds, with a warning.
    sb.ec2("us-west-2", |c| async move {
        c.enable_image_deprecation()
            .image_id("ami-0a248ce88bcc7bd23")
            .deprecate_at(aws_sdk_ec2::primitives::DateTime::from_secs(1_600_000_000))
            .send()
            .await
            .unwrap();
    });
    let out = dry_run(&sb, &tree, &dir, 0);
    assert!(
        out.stderr.contains("warning: us-west-2: the base image ami-0a248ce88bcc7bd23 is deprecated since 2020-09-13"),
        "{}",
        out.stderr
    );
    assert!(sb.live_instances("us-west-2").is_empty(), "preflight and dry runs create nothing");
}

#[test]
fn without_a_build_the_recorded_image_must_still_exist() {
    let sb = Sandbox::start();
    let repo = sb.repo();
    let dir = repo.join(common::sandbox::BUILD_DIR);
    std::fs::write(dir.join("dcos_images.yaml"), "us-west-2: ami-0fedcba9876543210\n").unwrap();
    std::fs::remove_file(dir.join("packer_build_history.json")).unwrap();
    std::fs::write(dir.join("publish_and_test_config.yaml"), "publish_dcos_images_after: never\n").unwrap();
    let out = sb.qualify(&repo, &["--dry-run", common::sandbox::BUILD_DIR]).status(2);
    assert!(
        out.stderr.contains(
            "us-west-2: the recorded image ami-0fedcba9876543210 (dcos_images.yaml) is gone (deregistered, or never there) in us-west-2"
        ),
        "{}",
        out.stderr
    );
    // One of moto's seeded images is there.
    std::fs::write(dir.join("dcos_images.yaml"), "us-west-2: ami-1812c061\n").unwrap();
    let out = sb.qualify(&repo, &["--dry-run", common::sandbox::BUILD_DIR]).status(0);
    assert!(out.stderr.contains("recorded image ami-1812c061 available in us-west-2"), "{}", out.stderr);
}
