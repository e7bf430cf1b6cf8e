//! The GitHub workflows pass actionlint (installed by `.ci/run`; the test
//! fails, never skips, without it): expressions, action inputs, runtimes
//! that are not deprecated, and no untrusted value expanded inside `run:`.

use std::path::PathBuf;

fn workflows() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn every_workflow_passes_actionlint() {
    let files = workflows();
    assert!(files.len() >= 2, "{files:?}");
    let out = std::process::Command::new("actionlint")
        .args(["-no-color", "-shellcheck="])
        .args(&files)
        .output()
        .expect("actionlint is on PATH (scripts/install-tools.sh installs it)");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn untrusted_values_reach_scripts_through_env_only() {
    for file in workflows() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut in_run = false;
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("run:") || trimmed.starts_with("- run:") {
                in_run = true;
            } else if trimmed.starts_with("- ")
                || trimmed.starts_with("uses:")
                || trimmed.starts_with("with:")
                || trimmed.starts_with("env:")
            {
                in_run = false;
            }
            for untrusted in
                ["github.head_ref", "github.event.pull_request.head.ref", "github.event.pull_request.title", "matrix.build_dir"]
            {
                if in_run && line.contains(untrusted) {
                    panic!("{}:{}: `{untrusted}` expanded inside run: (pass it through env:)\n{line}", file.display(), n + 1);
                }
            }
        }
    }
}
