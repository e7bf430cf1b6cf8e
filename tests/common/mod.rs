//! A small builder for running the real `dcos-images` binary, after just's
//! `tests/test.rs`: each test states the arguments, the environment, and what
//! it expects of the exit code and the output.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Test {
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
}

pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    pub fn new() -> Test {
        Test { args: Vec::new(), env: Vec::new(), cwd: None }
    }

    pub fn root(self, root: &Path) -> Test {
        self.args(["--root", root.to_str().expect("utf-8 path")])
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Test {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn envs(mut self, vars: &[(&str, String)]) -> Test {
        self.env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        self
    }

    /// The command, to spawn by hand (for tests that signal it).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dcos-images"));
        cmd.args(&self.args).envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd
    }

    pub fn cwd(mut self, dir: &Path) -> Test {
        self.cwd = Some(dir.to_owned());
        self
    }

    pub fn run(self) -> Output {
        let out = self.command().output().expect("the binary runs");
        Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and checks the exit code, printing everything when it differs.
    pub fn status(self, expected: i32) -> Output {
        let args = self.args.join(" ");
        let out = self.run();
        assert_eq!(out.status, expected, "`dcos-images {args}` exited {}\nstdout:\n{}\nstderr:\n{}", out.status, out.stdout, out.stderr);
        out
    }
}

impl Output {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real dcos-images tree (`../shared/corpus`, or `$DCOS_IMAGES_CORPUS`):
/// a test that needs it fails, never skips, when it is not there.
pub fn corpus() -> PathBuf {
    let path = match std::env::var_os("DCOS_IMAGES_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => manifest_dir().join("../shared/corpus/dcos-images"),
    };
    assert!(
        path.join("centos").is_dir(),
        "the corpus is not at {} (set DCOS_IMAGES_CORPUS to the shared corpus's dcos-images directory)",
        path.display()
    );
    path
}

pub fn fixtures() -> PathBuf {
    manifest_dir().join("tests/fixtures")
}

/// Copies a directory tree (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("fixture readable");
        let target = to.join(entry.path().strip_prefix(from).expect("inside"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The clean fixture tree in a fresh temporary directory.
pub fn valid_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixtures().join("valid"), dir.path());
    dir
}
pub mod fake_github;
pub mod sandbox;

/// Sends SIGINT to `child` (as Ctrl-C would reach dcos-images), then waits
/// for it to exit, at most `limit`.
pub fn interrupt_and_wait(child: &mut std::process::Child, limit: std::time::Duration) -> std::process::ExitStatus {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let start = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(start.elapsed() < limit, "dcos-images did not stop within {limit:?} after SIGINT");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// What `--dry-run` planned (its journal) is what the run did (its journal):
/// the same stages in the same order, each run or skipped alike. `terraform
/// plan` is the dry run's own; a "dry run" skip is a stage a run executes.
pub fn assert_dry_run_matched(dry: &serde_json::Value, real: &serde_json::Value) {
    let stages = |j: &serde_json::Value, dry: bool| -> Vec<(String, bool)> {
        j["stages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["name"] != "terraform_plan")
            .map(|s| (s["name"].as_str().unwrap().to_owned(), s["state"] != "skipped" || (dry && s["detail"] == "dry run")))
            .collect()
    };
    assert_eq!(stages(dry, true), stages(real, false), "the dry run's plan is not what the run did");
}

/// The JUnit schema of Jenkins' xUnit plugin, as scripts/install-tools.sh
/// installs it (`$DCOS_IMAGES_JUNIT_XSD` elsewhere): a test that needs it
/// fails, never skips, when it is not there.
pub fn junit_xsd() -> PathBuf {
    let path = std::env::var_os("DCOS_IMAGES_JUNIT_XSD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/local/share/dcos-images/junit-10.xsd"));
    assert!(path.is_file(), "no junit-10.xsd at {} (run scripts/install-tools.sh, or set DCOS_IMAGES_JUNIT_XSD)", path.display());
    path
}

/// Whether `xml` is valid against Jenkins' junit-10.xsd (with xmllint, which
/// libxml2-utils installs): `Err` holds xmllint's words. The schema installed
/// is pytest's copy, which also allows testsuite's `version` attribute:
/// Jenkins' own does not, so that is refused here too.
pub fn junit_validity(xml: &str) -> Result<(), String> {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), xml).expect("write junit");
    let xmllint = |args: &[&str]| {
        let out = Command::new("xmllint")
            .args(args)
            .arg(file.path())
            .output()
            .unwrap_or_else(|e| panic!("xmllint does not run ({e}): run scripts/install-tools.sh"));
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let xsd = junit_xsd();
    let (valid, words) = xmllint(&["--noout", "--schema", xsd.to_str().expect("utf-8 path")]);
    if !valid {
        return Err(words);
    }
    let (ok, count) = xmllint(&["--xpath", "count(//testsuite[@version])"]);
    match (ok, count.trim()) {
        (true, "0") => Ok(()),
        _ => Err(format!("testsuite carries a `version` attribute, which Jenkins' junit-10.xsd does not allow ({count})")),
    }
}

/// Panics with xmllint's words and the document when `xml` is not valid JUnit.
pub fn assert_valid_junit(xml: &str, what: &str) {
    if let Err(words) = junit_validity(xml) {
        panic!("{what} is not valid against junit-10.xsd:\n{words}\n{xml}");
    }
}
