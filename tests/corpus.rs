//! The real dcos-images tree (216 build directories, `../shared/corpus`):
//! every file parses, every build directory is listed, and the real
//! inconsistencies in it are reported. `.ci/run` sets DCOS_IMAGES_CORPUS; the
//! test fails, never skips, when the corpus is not where it is said to be.

mod common;

use common::Test;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn corpus() -> PathBuf {
    common::corpus()
}

/// Files counted by walking the corpus here, independently of the binary.
fn count_files(name: &str) -> Vec<PathBuf> {
    walkdir::WalkDir::new(corpus())
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() == name)
        .map(|e| e.path().parent().unwrap().strip_prefix(corpus()).unwrap().to_owned())
        .collect()
}

#[test]
fn every_build_directory_is_listed_with_its_images() {
    let rows = Test::new().root(&corpus()).args(["list", "--format", "json"]).status(0).json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 216);
    assert_eq!(rows.len(), count_files("packer.json").len());
    let built: BTreeSet<String> = count_files("dcos_images.yaml").iter().map(|p| p.to_string_lossy().into_owned()).collect();
    for r in rows {
        let path = r["path"].as_str().unwrap();
        assert_eq!(!r["images"].as_object().unwrap().is_empty(), built.contains(path), "{path}");
        assert_eq!(r["last_build"].is_null(), !corpus().join(path).join("packer_build_history.json").exists(), "{path}");
        assert!(r["publish_after"].is_string(), "{path}: every config in the corpus parses");
    }
    // One row checked field by field against the files.
    let row = rows.iter().find(|r| r["path"] == "centos/7.8/aws/DCOS-2.2.0-beta1/docker-19.03.5-ce/selinux_enforcing").unwrap();
    assert_eq!(
        row,
        &serde_json::json!({
            "path": "centos/7.8/aws/DCOS-2.2.0-beta1/docker-19.03.5-ce/selinux_enforcing",
            "os": "centos", "os_version": "7.8", "cloud": "aws", "dcos_version": "2.2.0-beta1",
            "docker_version": "19.03.5-ce", "variant": "selinux_enforcing",
            "images": {"us-east-1": "ami-08343d2588eca58d7", "us-west-2": "ami-055d7e33476b8238d"},
            "last_build": "2020-09-21T17:41:25Z", "publish_after": "integration_tests"
        })
    );
}

#[test]
fn every_file_parses_and_the_real_inconsistencies_are_reported() {
    // The corpus holds data files only, no scripts: missing-file is checked below.
    let out = Test::new().root(&corpus()).args(["validate", "--format", "json", "--ignore", "missing-file"]).status(1);
    let json = out.json();
    let diags = json["diagnostics"].as_array().unwrap();
    let of = |code: &str| -> BTreeSet<String> {
        diags.iter().filter(|d| d["code"] == code).map(|d| d["build_dir"].as_str().unwrap().to_owned()).collect()
    };
    for code in ["parse-error", "invalid-value", "unknown-key", "unknown-variable", "duplicate-key", "layout", "malformed-image-id"] {
        assert_eq!(of(code), BTreeSet::new(), "{code}");
    }
    let set = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<String>>();
    // Each of these was checked by hand against the files.
    assert_eq!(
        of("unpublishable"),
        set(&[
            "centos/7.6/aws/DCOS-1.13.6/docker-18.09.9-ce/selinux_enforcing",
            "centos/7.7/aws/DCOS-1.12.5/docker-18.09.9-ce/selinux_enforcing",
            "centos/7.7/aws/DCOS-1.13.7/docker-18.09.9-ce/selinux_enforcing",
        ])
    );
    assert_eq!(
        of("never-without-images"),
        set(&["centos/7.7/aws/DCOS-1.11.12/docker-19.03.0-ce/selinux_disabled", "ubuntu/16.04/aws/DCOS-2.0.3/docker-18.09.9-ce"])
    );
    // The profile downloads 1.12.1 into a DCOS-1.12.0 directory.
    assert_eq!(of("dcos-version-mismatch"), set(&["centos/7.6/aws/DCOS-1.12.0/docker-1.13.1.git8633870/selinux_disabled"]));
    // ami_regions lists 15 regions; only us-west-2 was published.
    assert_eq!(of("region-mismatch"), set(&["centos/7.6/aws/DCOS-1.12.2/docker-18.09.2-ce/selinux_disabled"]));
    let legacy: BTreeSet<String> = count_files("desired_cluster_profile.tfvars").iter().map(|p| p.to_string_lossy().into_owned()).collect();
    assert_eq!(legacy.len(), 51);
    assert_eq!(of("legacy-file"), legacy);
    assert_eq!(of("description-mismatch").len(), 15);
    // Every profile of the public tree uses terraform-dcos's names.
    assert_eq!(of("legacy-variable").len(), 216);
    assert_eq!(json["errors"], 6);

    // Without --ignore, every directory lacks its install script (the corpus
    // has no scripts), and that is reported per directory.
    let out = Test::new().root(&corpus()).args(["validate", "--format", "json"]).status(1);
    let json = out.json();
    let missing: BTreeSet<&str> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "missing-file" && d["file"].as_str().unwrap().ends_with("/install_dcos_prerequisites.sh"))
        .map(|d| d["build_dir"].as_str().unwrap())
        .collect();
    assert_eq!(missing.len(), 216);
}

#[test]
fn find_answers_with_the_recorded_images_or_the_nearest() {
    let dir = corpus().join("centos/7.8/aws/DCOS-2.1.1");
    let mut expected = Vec::new();
    for docker in std::fs::read_dir(&dir).unwrap() {
        let leaf = docker.unwrap().path().join("selinux_enforcing");
        let images: BTreeMap<String, String> =
            serde_yaml::from_str(&std::fs::read_to_string(leaf.join("dcos_images.yaml")).unwrap()).unwrap();
        let rel = leaf.strip_prefix(corpus()).unwrap().to_string_lossy().into_owned();
        expected.push(format!("{} us-west-2 {rel}", images["us-west-2"]));
    }
    expected.sort();
    let out = Test::new()
        .root(&corpus())
        .args(["find", "--os", "centos", "--os-version", "7.8", "--dcos", "2.1.1", "--region", "us-west-2"])
        .status(0);
    let mut found: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    found.sort();
    assert_eq!(found, expected);

    // 2.1.3 does not exist: the nearest below (2.1.1) and above (2.2.0-beta1).
    let out = Test::new().root(&corpus()).args(["find", "--os", "centos", "--os-version", "7.8", "--dcos", "2.1.3"]).status(1);
    assert!(out.stderr.contains("no build directory matches centos 7.8 DC/OS 2.1.3"), "{}", out.stderr);
    assert!(out.stderr.contains("centos/7.8/aws/DCOS-2.1.1/"), "{}", out.stderr);
    assert!(out.stderr.contains("centos/7.8/aws/DCOS-2.2.0-beta1/"), "{}", out.stderr);
    assert!(!out.stderr.contains("DCOS-2.0.6"), "{}", out.stderr);

    // 1.13.10 does not exist; 1.13.9 is below it (not 1.13.1, as text order would say).
    let out = Test::new().root(&corpus()).args(["find", "--os", "centos", "--os-version", "7.8", "--dcos", "1.13.10"]).status(1);
    assert!(out.stderr.contains("DCOS-1.13.9/"), "{}", out.stderr);
    assert!(out.stderr.contains("DCOS-2.0.5/"), "{}", out.stderr);

    // 1.14.0-2.0 is DC/OS 2.0.0.
    Test::new().root(&corpus()).args(["find", "--os", "centos", "--os-version", "7.6", "--dcos", "2.0.0"]).status(0);
}

#[test]
fn migrate_rewrites_every_public_profile_once_and_the_result_validates() {
    let tree = tempfile::tempdir().unwrap();
    common::copy_tree(&corpus(), tree.path());
    // (code, file): lines move when lines are removed.
    let validate = |root: &std::path::Path| -> Vec<(String, String)> {
        let json = Test::new().root(root).args(["validate", "--format", "json", "--ignore", "missing-file"]).run().json();
        json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["code"].as_str().unwrap().to_owned(), d["file"].as_str().unwrap().to_owned()))
            .collect()
    };
    let before = validate(tree.path());

    let out = Test::new().root(tree.path()).args(["migrate", "--check"]).status(1);
    assert!(out.stderr.contains("216 profile(s) use terraform-dcos's names"), "{}", out.stderr);
    let profiles = count_files("cluster_profile.tfvars").len() + count_files("desired_cluster_profile.tfvars").len();
    assert_eq!(profiles, 216);
    let untouched = std::fs::read_to_string(tree.path().join(CORPUS_PROFILE)).unwrap();
    assert_eq!(untouched, std::fs::read_to_string(corpus().join(CORPUS_PROFILE)).unwrap(), "--check writes nothing");

    let out = Test::new().root(tree.path()).args(["migrate"]).status(0);
    assert!(out.stderr.contains("migrated 216 profile(s)"), "{}", out.stderr);
    assert!(out.stdout.contains(&format!("{CORPUS_PROFILE}:12: `num_of_masters` -> `num_masters`")), "{}", out.stdout);
    // Idempotent: nothing left to change.
    let out = Test::new().root(tree.path()).args(["migrate", "--check"]).status(0);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    Test::new().root(tree.path()).args(["migrate"]).status(0);

    // The same diagnostics as before but the legacy names, and each profile
    // says the same: its comments kept.
    let after = validate(tree.path());
    let without_legacy: Vec<_> = before.iter().filter(|(code, _)| code != "legacy-variable").cloned().collect();
    let differ: Vec<_> =
        after.iter().filter(|d| !without_legacy.contains(d)).chain(without_legacy.iter().filter(|d| !after.contains(d))).collect();
    assert_eq!(differ, Vec::<&(String, String)>::new());
    assert_eq!(after.len(), without_legacy.len());
    let migrated = std::fs::read_to_string(tree.path().join(CORPUS_PROFILE)).unwrap();
    assert!(migrated.contains("# Inbound Master Access\nadmin_ips = [\"0.0.0.0/0\"]\n"), "{migrated}");
    assert!(migrated.contains("num_masters        = 1\n"), "{migrated}");
    assert!(migrated.contains("tags = {\n  owner      = \"dcos-images\"\n  expiration = \"3h\"\n}\n"), "{migrated}");
    assert!(!migrated.contains("enable_os_setup_script"), "{migrated}");
}

const CORPUS_PROFILE: &str = "centos/7.8/aws/DCOS-2.1.1/docker-19.03.9-ce/selinux_enforcing/cluster_profile.tfvars";

/// `validate` reads each build directory while checking it and keeps none of
/// its files; on the real tree it finds exactly what checking the fully
/// loaded tree finds, cross-directory findings included, and a validation of
/// one OS version finds the same as the whole tree's findings under it.
#[test]
fn streaming_validation_finds_what_the_loaded_tree_has() {
    use dcos_images::tree::{Layout, Tree};
    use dcos_images::validate::{validate, validate_layout, validate_tree, Rules};
    let loaded = validate(&Tree::load(&corpus(), &[]).unwrap(), Rules::default());
    let layout = Layout::discover(&corpus(), &[], &|_, _| true).unwrap();
    let streamed = validate_layout(&layout, Rules::default(), &|_| true);
    assert!(loaded.len() > 3000, "{}", loaded.len());
    assert!(
        loaded.iter().any(|d| d.code == dcos_images::diagnostic::Code::ImageReused)
            == streamed.iter().any(|d| d.code == dcos_images::diagnostic::Code::ImageReused)
    );
    assert_eq!(streamed, loaded);
    // Walked and checked in one pass: the same findings and the same layout.
    let (walked, in_one_pass) = validate_tree(&corpus(), &[], Rules::default()).unwrap();
    assert_eq!(in_one_pass.into_vec(), loaded);
    let rels = |l: &Layout| l.dirs.iter().map(|d| d.rel.clone()).collect::<Vec<_>>();
    assert_eq!(rels(&walked), rels(&layout));
    assert_eq!(walked.base_images.keys().collect::<Vec<_>>(), layout.base_images.keys().collect::<Vec<_>>());
    assert_eq!(walked.misplaced, layout.misplaced);

    let under = "centos/7.8/";
    let partial = validate_layout(&layout, Rules::default(), &|d| d.rel.starts_with(under));
    let of_dirs = |diags: &[dcos_images::diagnostic::Diagnostic]| -> Vec<_> {
        diags.iter().filter(|d| d.build_dir.as_deref().is_some_and(|b| b.starts_with(under))).cloned().collect()
    };
    assert!(!of_dirs(&partial).is_empty());
    assert_eq!(of_dirs(&partial), of_dirs(&loaded));
}

#[test]
fn the_flat_yaml_reader_reads_every_real_yaml_file_as_serde_yaml_does() {
    use dcos_images::formats::{dcos_images::DcosImages, flat_yaml, publish_config::PublishTestConfig};
    let mut flat = 0;
    let mut files = 0;
    for name in ["publish_and_test_config.yaml", "dcos_images.yaml"] {
        for dir in count_files(name) {
            let text = std::fs::read_to_string(corpus().join(&dir).join(name)).unwrap();
            files += 1;
            flat += usize::from(flat_yaml::read(&text).is_some());
            let context = format!("{}/{name}", dir.display());
            if name == "dcos_images.yaml" {
                let serde: BTreeMap<String, String> = serde_yaml::from_str(&text).unwrap();
                assert_eq!(DcosImages::parse(&text).value.map(|d| d.0), Some(serde), "{context}");
            } else {
                let serde: PublishTestConfig = serde_yaml::from_str(&text).unwrap();
                let parsed = PublishTestConfig::parse(&text);
                // The value, or the selection problems it has whoever reads it.
                assert!(parsed.value.as_ref().is_none_or(|v| *v == serde), "{context}");
                assert_eq!(parsed.value.is_none(), !parsed.problems.is_empty(), "{context}");
            }
        }
    }
    assert_eq!(files, 419);
    // Every one of them is in the flat form: libyaml is left for the rest.
    assert_eq!(flat, files, "files read without libyaml");
}

#[test]
fn each_published_regions_line_is_found_in_one_pass_as_one_by_one() {
    use dcos_images::formats::{line_of_yaml_key, lines_of_yaml_keys};
    let files = count_files("dcos_images.yaml");
    assert!(files.len() > 100, "the corpus has its dcos_images.yaml files ({})", files.len());
    for dir in files {
        let path = corpus().join(dir).join("dcos_images.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        // Every line's key, a key twice and one the file lacks.
        let mut keys: Vec<&str> = text.lines().filter_map(|l| l.split(':').next()).collect();
        keys.extend(keys.first().copied());
        keys.push("us-nowhere-1");
        let want: Vec<Option<usize>> = keys.iter().map(|k| line_of_yaml_key(&text, k)).collect();
        assert_eq!(lines_of_yaml_keys(&text, &keys), want, "{}", path.display());
    }
}

/// Browsing's rows read in the walk's own pass are the rows of the layout
/// the same filter walks, in its order, for filters on every level.
#[test]
fn rows_read_while_walking_are_the_layouts_rows() {
    use dcos_images::browse::{render_list, rows, walked_rows, Filter, ListFormat};
    use dcos_images::tree::Layout;
    let some = |f: &str| Some(f.to_owned());
    let filters = [
        Filter::default(),
        Filter { os: some("centos"), os_version: some("7"), ..Filter::default() },
        Filter { dcos: some("1.11"), region: some("us-west-2"), ..Filter::default() },
        Filter { variant: some("none"), ..Filter::default() },
        Filter { os: some("nothing"), ..Filter::default() },
    ];
    for filter in filters {
        let layout = Layout::discover(&corpus(), &[], &|depth, name| filter.admits(depth, name)).unwrap();
        let want = rows(&layout, &filter);
        let (walked, got) = walked_rows(&corpus(), &[], &filter).unwrap();
        assert_eq!(walked.dirs.len(), layout.dirs.len(), "{filter:?}");
        let paths =
            |r: &[dcos_images::browse::Row]| r.iter().map(|r| (r.path.clone(), r.images.clone(), r.last_build.clone())).collect::<Vec<_>>();
        assert_eq!(paths(&got), paths(&want), "{filter:?}");
        assert_eq!(got.is_empty(), filter.os.as_deref() == Some("nothing"), "{filter:?}: {} rows", got.len());
        // The listing written by hand is serde_json's, on real rows.
        assert_eq!(render_list(&got, ListFormat::Json), format!("{}\n", serde_json::to_string_pretty(&got).unwrap()), "{filter:?}");
    }
}

#[test]
fn whole_tree_commands_run_within_a_small_limit_on_open_files() {
    // The walk keeps directories open (build directories until their files
    // are read, OS versions until their turn); under a low `ulimit -n` it
    // keeps fewer, and the output is the same. Keeping every OS version open
    // needed 44 descriptors on this tree, keeping 128 build directories per
    // walk as well 96; now it runs from 20.
    for args in [&["validate", "--format", "json"][..], &["list", "--format", "json"]] {
        let run = |limit: Option<u32>| {
            let mut sh = std::process::Command::new("sh");
            let line = match limit {
                Some(n) => format!("ulimit -n {n} && exec \"$0\" \"$@\""),
                None => "exec \"$0\" \"$@\"".to_owned(),
            };
            sh.arg("-c").arg(line).arg(env!("CARGO_BIN_EXE_dcos-images")).arg("--root").arg(corpus()).args(args);
            let out = sh.output().unwrap();
            (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
        };
        let (limited, unlimited) = (run(Some(32)), run(None));
        assert!(limited.2.is_empty(), "{args:?} under ulimit -n 32: {}", limited.2);
        assert!(matches!(limited.0, Some(0 | 1)), "{args:?}: {:?}", limited.0);
        assert_eq!(limited, unlimited, "{args:?}");
    }
}
