//! `list`, `find` and `tree` on the clean fixture tree.

mod common;

use common::{valid_tree, Test};

const BUILT: &str = "centos/7.8/aws/DCOS-2.1.1/docker-19.03.12";

#[test]
fn list_json_has_one_row_per_build_directory() {
    let tree = valid_tree();
    let rows = Test::new().root(tree.path()).args(["list", "--format", "json"]).status(0).json();
    assert_eq!(
        rows,
        serde_json::json!([
            {"path": BUILT, "os": "centos", "os_version": "7.8", "cloud": "aws", "dcos_version": "2.1.1",
             "docker_version": "19.03.12", "variant": null,
             "images": {"us-east-1": "ami-0b1c2d3e4f5a6b7c8", "us-west-2": "ami-0c1d2e3f4a5b6c7d8"},
             "last_build": "2020-09-21T17:41:25Z", "publish_after": "integration_tests"},
            {"path": format!("{BUILT}/tmp_noexec"), "os": "centos", "os_version": "7.8", "cloud": "aws", "dcos_version": "2.1.1",
             "docker_version": "19.03.12", "variant": "tmp_noexec", "images": {}, "last_build": null,
             "publish_after": "dcos_installation"},
            {"path": "rhel/8.0/aws/DCOS-2.2.0/docker-19.03.12", "os": "rhel", "os_version": "8.0", "cloud": "aws",
             "dcos_version": "2.2.0", "docker_version": "19.03.12", "variant": null,
             "images": {"us-east-1": "ami-0d1e2f3a4b5c6d7e8", "us-west-2": "ami-0e1f2a3b4c5d6e7f8"},
             "last_build": "2020-09-21T17:41:25Z", "publish_after": "never"}
        ])
    );
}

#[test]
fn list_filters_and_formats() {
    let tree = valid_tree();
    let rows = |args: &[&str]| {
        let mut all = vec!["list", "--format", "json"];
        all.extend(args);
        Test::new().root(tree.path()).args(all).status(0).json().as_array().unwrap().len()
    };
    assert_eq!(rows(&["--os", "centos"]), 2);
    assert_eq!(rows(&["--dcos", "2.1"]), 2);
    assert_eq!(rows(&["--dcos", "2"]), 3);
    assert_eq!(rows(&["--dcos", "2.10"]), 0);
    assert_eq!(rows(&["--variant", "none"]), 2);
    assert_eq!(rows(&["--variant", "tmp_noexec"]), 1);
    assert_eq!(rows(&["--region", "us-east-1"]), 2);
    let region_only = Test::new().root(tree.path()).args(["list", "--format", "json", "--region", "us-east-1"]).status(0).json();
    assert_eq!(region_only[0]["images"], serde_json::json!({"us-east-1": "ami-0b1c2d3e4f5a6b7c8"}));

    let table = Test::new().root(tree.path()).args(["list"]).status(0).stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("OS      VERSION  CLOUD  DC/OS  DOCKER    VARIANT"), "{table}");
    assert!(lines[1].contains("us-east-1=ami-0b1c2d3e4f5a6b7c8 us-west-2=ami-0c1d2e3f4a5b6c7d8"), "{table}");
    assert!(lines[1].contains("2020-09-21"), "{table}");
    assert_eq!(lines.len(), 4);

    let md = Test::new().root(tree.path()).args(["list", "--format", "markdown"]).status(0).stdout;
    assert!(md.starts_with("| OS | VERSION | CLOUD | DC/OS |"), "{md}");
    assert!(md.lines().nth(1).unwrap().starts_with("| --- |"), "{md}");
    assert!(md.contains("us-east-1=ami-0b1c2d3e4f5a6b7c8<br>us-west-2=ami-0c1d2e3f4a5b6c7d8"), "{md}");
}

#[test]
fn find_prints_image_region_and_path() {
    let tree = valid_tree();
    let out = Test::new()
        .root(tree.path())
        .args(["find", "--os", "centos", "--os-version", "7.8", "--dcos", "2.1.1", "--region", "us-west-2"])
        .status(0);
    assert_eq!(out.stdout, format!("ami-0c1d2e3f4a5b6c7d8 us-west-2 {BUILT}\n"));
    let json = Test::new()
        .root(tree.path())
        .args(["find", "--os", "rhel", "--os-version", "8.0", "--dcos", "2.2.0", "--format", "json"])
        .status(0)
        .json();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["image"], "ami-0d1e2f3a4b5c6d7e8");
}

#[test]
fn find_without_a_match_exits_1_and_explains() {
    let tree = valid_tree();
    // Matches, but never built in that region.
    let out = Test::new()
        .root(tree.path())
        .args(["find", "--os", "centos", "--os-version", "7.8", "--dcos", "2.1.1", "--variant", "tmp_noexec"])
        .status(1);
    assert!(out.stderr.contains("1 build directory match"), "{}", out.stderr);
    assert!(out.stderr.contains("tmp_noexec  not qualified"), "{}", out.stderr);
    let out = Test::new()
        .root(tree.path())
        .args(["find", "--os", "centos", "--os-version", "7.8", "--dcos", "2.1.1", "--region", "eu-west-1"])
        .status(1);
    assert!(out.stderr.contains("none has a qualified image in eu-west-1"), "{}", out.stderr);
    // An OS version that does not exist: the nearest OS versions.
    let out = Test::new().root(tree.path()).args(["find", "--os", "rhel", "--os-version", "8.2", "--dcos", "2.2.0"]).status(1);
    assert!(out.stderr.contains("rhel/8.0/aws/DCOS-2.2.0/docker-19.03.12"), "{}", out.stderr);
    // Missing coordinates are a usage error.
    let out = Test::new().root(tree.path()).args(["find", "--os", "rhel"]).status(2);
    assert!(out.stderr.contains("find needs --os, --os-version and --dcos"), "{}", out.stderr);
}

#[test]
fn tree_shows_what_is_qualified() {
    let tree = valid_tree();
    let out = Test::new().root(tree.path()).args(["tree"]).status(0).stdout;
    let expected = "\
centos/7.8/aws
  DCOS-2.1.1
    docker-19.03.12                          qualified  us-east-1 us-west-2  (built 2020-09-21)
    docker-19.03.12/tmp_noexec               not built
rhel/8.0/aws
  DCOS-2.2.0
    docker-19.03.12                          qualified  us-east-1 us-west-2  (built 2020-09-21)

3 build directories, 2 qualified
";
    assert_eq!(out, expected);
}

#[test]
fn a_missing_root_is_a_usage_error() {
    let out = Test::new().args(["--root", "/nonexistent/tree", "list"]).status(2);
    assert!(out.stderr.contains("--root"), "{}", out.stderr);
}

/// `find` and a filtered `list` read only the build directories the filter
/// can select: a file elsewhere that would block any reader (a FIFO with no
/// writer) is never opened. The whole tree is read only to name the nearest
/// directories when nothing matches.
#[test]
fn find_and_filtered_list_read_only_the_directories_asked_about() {
    let tree = valid_tree();
    let elsewhere = tree.path().join("rhel/8.0/aws/DCOS-2.2.0/docker-19.03.12/publish_and_test_config.yaml");
    std::fs::remove_file(&elsewhere).unwrap();
    let status = std::process::Command::new("mkfifo").arg(&elsewhere).status().unwrap();
    assert!(status.success());
    let run = |args: &[&str]| run_before_deadline(tree.path(), args);
    let (code, out) = run(&["find", "--os", "centos", "--os-version", "7.8", "--dcos", "2.1.1", "--region", "us-west-2"]);
    assert_eq!((code, out), (Some(0), format!("ami-0c1d2e3f4a5b6c7d8 us-west-2 {BUILT}\n")));
    let (code, out) = run(&["list", "--os", "centos", "--format", "json"]);
    assert_eq!(code, Some(0));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap().as_array().unwrap().len(), 2, "{out}");
}

/// Runs the binary; a run still going after 30 s read a FIFO nothing writes.
fn run_before_deadline(root: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Test::new()
        .root(root)
        .args(args)
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
            return (status.code(), out);
        }
        if start.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("`{}` read a file it does not need", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn replace_with_fifo(path: &std::path::Path) {
    std::fs::remove_file(path).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// Browsing reads the three files it shows (dcos_images.yaml, the build
/// history, the publish config) and never packer.json's builders or a
/// cluster profile; `validate DIR` reads only DIR's files and the other
/// directories' dcos_images.yaml (for the image-reuse check).
#[test]
fn each_command_reads_only_the_files_it_needs() {
    let tree = valid_tree();
    for dir in [BUILT, "rhel/8.0/aws/DCOS-2.2.0/docker-19.03.12"] {
        replace_with_fifo(&tree.path().join(dir).join("cluster_profile.tfvars"));
    }
    let (code, out) = run_before_deadline(tree.path(), &["list", "--format", "json"]);
    assert_eq!(code, Some(0));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap().as_array().unwrap().len(), 3, "{out}");
    let (code, out) = run_before_deadline(tree.path(), &["tree"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("3 build directories, 2 qualified"), "{out}");
    let (code, _) = run_before_deadline(tree.path(), &["find", "--os", "centos", "--os-version", "7.9", "--dcos", "2.1.1"]);
    assert_eq!(code, Some(1));

    let selected = tree.path().join(BUILT).join("tmp_noexec");
    let (code, out) = run_before_deadline(tree.path(), &["validate", "--format", "json", selected.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["errors"], 0, "{out}");
}
