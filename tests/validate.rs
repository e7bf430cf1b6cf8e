//! `dcos-images validate` on fixture trees: the clean tree is quiet, and each
//! overlay under tests/fixtures/codes/ fires exactly the diagnostics its
//! `expect` file lists (code, file and line), nothing more.

mod common;

use common::{copy_tree, fixtures, valid_tree, Test};
use std::collections::BTreeSet;
use std::path::Path;

fn diagnostics(root: &Path) -> (i32, BTreeSet<String>, serde_json::Value) {
    let out = Test::new().root(root).args(["validate", "--format", "json"]).run();
    let json = out.json();
    let found = json["diagnostics"]
        .as_array()
        .expect("diagnostics array")
        .iter()
        .map(|d| match d["line"].as_u64() {
            Some(l) => format!("{} {}:{l}", d["code"].as_str().unwrap(), d["file"].as_str().unwrap()),
            None => format!("{} {}", d["code"].as_str().unwrap(), d["file"].as_str().unwrap()),
        })
        .collect();
    (out.status, found, json)
}

#[test]
fn the_clean_tree_is_quiet() {
    let tree = valid_tree();
    let (status, found, json) = diagnostics(tree.path());
    assert_eq!(found, BTreeSet::new());
    assert_eq!((status, json["errors"].as_u64(), json["warnings"].as_u64()), (0, Some(0), Some(0)));
}

#[test]
fn each_overlay_fires_exactly_what_it_expects() {
    let mut failures = Vec::new();
    let mut overlays: Vec<_> = std::fs::read_dir(fixtures().join("codes")).unwrap().map(|e| e.unwrap().path()).collect();
    overlays.sort();
    assert!(overlays.len() >= 30, "overlays missing: {}", overlays.len());
    for overlay in &overlays {
        let tree = valid_tree();
        // Overlays that only delete have no tree/ (git keeps no empty directory).
        if overlay.join("tree").is_dir() {
            copy_tree(&overlay.join("tree"), tree.path());
        }
        if let Ok(list) = std::fs::read_to_string(overlay.join("delete")) {
            for rel in list.lines().filter(|l| !l.trim().is_empty()) {
                std::fs::remove_file(tree.path().join(rel)).unwrap_or_else(|e| panic!("{}: delete {rel}: {e}", overlay.display()));
            }
        }
        let expected: BTreeSet<String> = std::fs::read_to_string(overlay.join("expect"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        let (status, found, json) = diagnostics(tree.path());
        let want_status = if json["errors"].as_u64().unwrap() > 0 { 1 } else { 0 };
        if found != expected || status != want_status {
            failures.push(format!(
                "{}:\n  expected {expected:?}\n  found    {found:?}\n  exit {status}",
                overlay.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_code_has_an_overlay_that_fires_it() {
    let listed = Test::new().args(["validate", "--codes"]).status(0).stdout;
    let codes: Vec<&str> = listed.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert!(codes.len() >= 21);
    let overlays: Vec<String> =
        std::fs::read_dir(fixtures().join("codes")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    for code in codes {
        assert!(
            overlays.iter().any(|o| o == code || o.starts_with(&format!("{code}."))),
            "no fixture under tests/fixtures/codes/ for `{code}`"
        );
    }
}

#[test]
fn text_output_names_file_line_and_what_to_do() {
    let tree = valid_tree();
    copy_tree(&fixtures().join("codes/unknown-key/tree"), tree.path());
    let out = Test::new().root(tree.path()).args(["validate"]).status(1);
    assert!(out.stdout.contains("error[unknown-key]: unknown key `run_integration_test`"), "{}", out.stdout);
    assert!(out.stdout.contains("--> centos/7.8/aws/DCOS-2.1.1/docker-19.03.12/publish_and_test_config.yaml:2"), "{}", out.stdout);
    assert!(out.stdout.contains("did you mean `run_integration_tests`?"), "{}", out.stdout);
    assert!(out.stdout.ends_with("1 error, 0 warnings in 3 build directories\n"), "{}", out.stdout);
}

#[test]
fn github_format_prints_annotations() {
    let tree = valid_tree();
    copy_tree(&fixtures().join("codes/source-image-mismatch/tree"), tree.path());
    let out = Test::new().root(tree.path()).args(["validate", "--format", "github"]).status(0);
    let first = out.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("::warning file=centos/7.8/aws/DCOS-2.1.1/docker-19.03.12/tmp_noexec/packer.json,line=6,title=dcos-images source-image-mismatch::"),
        "{first}"
    );
}

#[test]
fn paths_select_build_directories_and_ignore_drops_codes() {
    let tree = valid_tree();
    copy_tree(&fixtures().join("codes/legacy-file/tree"), tree.path());
    std::fs::remove_file(tree.path().join("centos/7.8/aws/DCOS-2.1.1/docker-19.03.12/tmp_noexec/cluster_profile.tfvars")).unwrap();
    let nested = tree.path().join("centos/7.8/aws/DCOS-2.1.1/docker-19.03.12/tmp_noexec");
    // The nested directory alone: its legacy profile, not its parent's setup.sh.
    let out = Test::new().root(tree.path()).args(["validate", "--format", "json", nested.to_str().unwrap()]).status(0);
    let files: Vec<String> = out.json()["diagnostics"].as_array().unwrap().iter().map(|d| d["file"].as_str().unwrap().to_owned()).collect();
    assert_eq!(files, vec!["centos/7.8/aws/DCOS-2.1.1/docker-19.03.12/tmp_noexec/desired_cluster_profile.tfvars"]);
    // A file inside a build directory selects that directory.
    let out = Test::new().root(tree.path()).args(["validate", nested.join("packer.json").to_str().unwrap()]).status(0);
    assert!(out.stdout.ends_with("0 errors, 1 warning in 1 build directory\n"), "{}", out.stdout);
    // --ignore drops a code; an unknown code is a usage error with a suggestion.
    let out = Test::new().root(tree.path()).args(["validate", "--ignore", "legacy-file"]).status(0);
    assert!(out.stdout.starts_with("0 errors, 0 warnings"), "{}", out.stdout);
    let out = Test::new().root(tree.path()).args(["validate", "--ignore", "legacy-files"]).status(2);
    assert!(out.stderr.contains("did you mean `legacy-file`?"), "{}", out.stderr);
    // A path with no build directory is a usage error.
    let out = Test::new().root(tree.path()).args(["validate", tree.path().join("rhel/8.0").to_str().unwrap()]).status(0);
    assert!(out.stdout.contains("in 1 build directory"), "{}", out.stdout);
    std::fs::create_dir_all(tree.path().join("empty")).unwrap();
    Test::new().root(tree.path()).args(["validate", tree.path().join("empty").to_str().unwrap()]).status(2);
}

#[test]
fn a_bad_root_config_is_a_usage_error_with_a_suggestion() {
    let tree = valid_tree();
    std::fs::write(tree.path().join("dcos-images.yaml"), "tree:\n  exlude: [tests]\n").unwrap();
    let out = Test::new().root(tree.path()).args(["validate"]).status(2);
    assert!(out.stderr.contains("dcos-images.yaml:2"), "{}", out.stderr);
    assert!(out.stderr.contains("did you mean `exclude`?"), "{}", out.stderr);
}

#[test]
fn the_projects_own_tree_validates_clean() {
    let out = Test::new().root(&common::manifest_dir()).args(["validate", "--format", "json"]).status(0);
    assert_eq!(out.json()["errors"], 0);
    assert_eq!(out.json()["warnings"], 0);
    let list = Test::new().root(&common::manifest_dir()).args(["list", "--format", "json"]).status(0).json();
    let oses: BTreeSet<&str> = list.as_array().unwrap().iter().map(|r| r["os"].as_str().unwrap()).collect();
    assert_eq!(oses, BTreeSet::from(["centos", "flatcar-linux", "rhel"]));
}

#[test]
fn schemas_match_the_rust_types() {
    // Fails when a type changes and schemas/ was not regenerated.
    Test::new().root(&common::manifest_dir()).args(["schemas", "--check"]).status(0);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("schemas")).unwrap();
    std::fs::write(tmp.path().join("schemas/dcos_images.schema.json"), "{}").unwrap();
    let out = Test::new().root(tmp.path()).args(["schemas", "--check"]).status(1);
    assert!(out.stderr.contains("dcos_images.schema.json"), "{}", out.stderr);
}

#[test]
fn schemas_accept_the_files_the_validator_accepts() {
    // The tree's YAML/JSON point editors at these schemas: check the shapes agree
    // on a known-good and a known-bad publish config, with the schema's own rules.
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::manifest_dir().join("schemas/publish_and_test_config.schema.json")).unwrap())
            .unwrap();
    assert_eq!(schema["additionalProperties"], false);
    let props = schema["properties"].as_object().unwrap();
    let keys: Vec<&str> = props.keys().map(String::as_str).collect();
    assert_eq!(keys, vec!["publish_dcos_images_after", "run_integration_tests", "run_framework_tests", "tests_to_run"]);
    let images: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::manifest_dir().join("schemas/dcos_images.schema.json")).unwrap()).unwrap();
    assert_eq!(images["additionalProperties"]["pattern"], "^ami-([0-9a-f]{8}|[0-9a-f]{17})$");
}

/// publish_and_test_config.yaml: the schema (checked by Python's
/// `jsonschema`, what editors' validators implement) and the tool accept
/// and refuse the same files.
#[test]
fn the_schema_and_the_tool_agree_on_publish_configs() {
    use dcos_images::formats::publish_config::PublishTestConfig;
    let schema = common::manifest_dir().join("schemas/publish_and_test_config.schema.json");
    let cases = [
        ("", true),
        ("# only a comment\n", true),
        ("publish_dcos_images_after: never\n", true),
        ("tests_to_run:\n  - test_auth.py\n  - -k 'not slow'\n", true),
        ("tests_to_run:\n  - -k 'not a'\n  - -k 'not b'\n", false),
        ("tests_to_run:\n  - test_auth.py\n  - ''\n", false),
        ("tests_to_run:\n  - '   '\n", false),
        ("publish_dcos_images_after: sometimes\n", false),
        ("publish_dcos_image_after: never\n", false),
    ];
    for (text, valid) in cases {
        let tool = PublishTestConfig::parse(text);
        assert_eq!(tool.value.is_some() && tool.problems.is_empty(), valid, "the tool on {text:?}: {:?}", tool.problems);
        let doc: serde_json::Value = serde_yaml::from_str::<serde_json::Value>(text).unwrap_or(serde_json::Value::Null);
        let check = "import json, sys, jsonschema\n\
                     schema = json.load(open(sys.argv[1]))\n\
                     cls = jsonschema.validators.validator_for(schema)\n\
                     errors = list(cls(schema).iter_errors(json.load(sys.stdin)))\n\
                     print(len(errors))";
        let mut child = std::process::Command::new("python3")
            .args(["-c", check, schema.to_str().unwrap()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 with jsonschema (scripts/install-tools.sh installs it)");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(doc.to_string().as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let errors: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(errors == 0, valid, "the schema on {text:?}: {errors} error(s)");
    }
}

/// validate reads what the walk listed, and a listing cannot say where a
/// link points: links are followed as before, a dangling one is a missing
/// file, a directory a provisioner uploads counts as there.
#[test]
fn links_in_a_build_directory_are_followed_and_dangling_ones_are_missing() {
    let tree = valid_tree();
    let dir = tree.path().join("rhel/8.0/aws/DCOS-2.2.0/docker-19.03.12");
    let elsewhere = tree.path().join("shared");
    std::fs::create_dir(&elsewhere).unwrap();
    // The install script and dcos_images.yaml are links to files elsewhere.
    std::fs::rename(dir.join("install_dcos_prerequisites.sh"), elsewhere.join("install.sh")).unwrap();
    std::os::unix::fs::symlink("../../../../../shared/install.sh", dir.join("install_dcos_prerequisites.sh")).unwrap();
    std::fs::write(elsewhere.join("images.yaml"), "us-east-1: ami-0d1e2f3a4b5c6d7e8\nus-west-2: not-an-image\n").unwrap();
    std::fs::remove_file(dir.join("dcos_images.yaml")).unwrap();
    std::os::unix::fs::symlink("../../../../../shared/images.yaml", dir.join("dcos_images.yaml")).unwrap();
    // A dangling link where the publish config was.
    std::fs::remove_file(dir.join("publish_and_test_config.yaml")).unwrap();
    std::os::unix::fs::symlink("nowhere.yaml", dir.join("publish_and_test_config.yaml")).unwrap();
    // The uploaded directory, behind a link too.
    std::fs::rename(dir.join("files"), elsewhere.join("files")).unwrap();
    std::os::unix::fs::symlink("../../../../../shared/files", dir.join("files")).unwrap();

    let (_, found, json) = diagnostics(tree.path());
    let rel = "rhel/8.0/aws/DCOS-2.2.0/docker-19.03.12";
    assert!(found.contains(&format!("malformed-image-id {rel}/dcos_images.yaml:2")), "the linked file is read: {found:?}");
    assert!(!found.iter().any(|f| f.contains("install_dcos_prerequisites.sh") || f.contains("packer.json")), "{found:?}\n{json}");
    // Without a publish config a directory publishes after the default step: no finding of its own.
    assert!(!found.iter().any(|f| f.contains("publish_and_test_config")), "{found:?}");
    // (The changed image also differs from the build history.)
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&format!("history-mismatch {rel}/dcos_images.yaml:2")), "{found:?}");

    // A link to nothing where a provisioner's file should be: missing.
    std::fs::remove_file(dir.join("files")).unwrap();
    std::os::unix::fs::symlink("nothing-here", dir.join("files")).unwrap();
    let (_, found, _) = diagnostics(tree.path());
    assert!(found.contains(&format!("missing-file {rel}/packer.json:15")), "{found:?}");
}

/// What qualify refuses before anything is spent, validate reports first,
/// from the same rule: qualify (even --dry-run) stops with exit 2 and the
/// validator's own finding, before locating or running any tool.
#[test]
fn validate_and_qualify_refuse_the_same_directories() {
    for (overlay, dir, says) in [
        (
            "missing-variable",
            "centos/7.8/aws/DCOS-2.1.1/docker-19.03.12/tmp_noexec",
            "error[missing-variable]: the profile says nothing about who may reach the cluster",
        ),
        ("no-installer.beta", "centos/7.8/aws/DCOS-2.2.0-beta1/docker-19.03.12", "DC/OS 2.2.0-beta1 has no stable download"),
        ("no-installer.ee", "centos/7.8/aws/DCOS-2.1.1/docker-19.03.12/tmp_noexec", "has no public download"),
    ] {
        let tree = valid_tree();
        copy_tree(&fixtures().join("codes").join(overlay).join("tree"), tree.path());
        let validated = Test::new().root(tree.path()).args(["validate"]).status(1);
        assert!(validated.stdout.contains(says), "{overlay}: {}", validated.stdout);
        let runs = tempfile::tempdir().unwrap();
        let refused = Test::new()
            .root(tree.path())
            .env("PATH", "/nonexistent")
            .args(["qualify", "--dry-run", "--run-dir", runs.path().to_str().unwrap(), tree.path().join(dir).to_str().unwrap()])
            .status(2);
        assert!(refused.stderr.contains(says), "{overlay}: {}", refused.stderr);
        assert!(refused.stderr.contains("custom_dcos_download_path") || overlay == "missing-variable", "{}", refused.stderr);
    }
    // Equal to packer's ssh_username: a warning, and nothing refuses the directory.
    let tree = valid_tree();
    copy_tree(&fixtures().join("codes/redundant-variable/tree"), tree.path());
    let out = Test::new().root(tree.path()).args(["validate"]).status(0);
    assert!(out.stdout.contains("warning[redundant-variable]: `ssh_user = \"centos\"` is packer.json's ssh_username"), "{}", out.stdout);
    // Different: the error names both.
    let profile = tree.path().join("centos/7.8/aws/DCOS-2.1.1/docker-19.03.12/cluster_profile.tfvars");
    std::fs::write(&profile, std::fs::read_to_string(&profile).unwrap().replace("ssh_user = \"centos\"", "ssh_user = \"opc\"")).unwrap();
    let out = Test::new().root(tree.path()).args(["validate"]).status(1);
    assert!(out.stdout.contains("`ssh_user` is `opc` but packer.json's ssh_username is `centos`"), "{}", out.stdout);
}
