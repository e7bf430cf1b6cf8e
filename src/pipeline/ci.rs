//! What a qualification tells GitHub and the CI: commit statuses, the
//! report comment, the job summary; every run's report files.

use super::plan::Plan;
use super::QualifyOptions;
use crate::journal::{Journal, RunState};
use crate::tools::git::Git;
use crate::tools::{self, Tool};
use std::io::Write;
use std::path::Path;

pub(super) fn ci_reporter(root: &Path, opts: &QualifyOptions) -> Option<crate::github::CiReporter> {
    let head = || {
        let git = Git { program: tools::locate(Tool::Git, None).ok()?, repo: root.to_owned() };
        git.run("read the head commit", &["rev-parse", "HEAD"]).ok().map(|s| s.trim().to_owned())
    };
    match crate::github::CiReporter::from_env(opts.pr, head) {
        Ok(ci) => ci,
        Err(why) => {
            eprintln!("warning: {why}");
            None
        }
    }
}

pub(super) fn warn_all(warnings: Vec<String>) {
    for w in warnings {
        eprintln!("warning: the report to GitHub failed (the qualification result stands): {w}");
    }
}

/// Each run's report files, then one Markdown report of all runs: under
/// GitHub Actions into the job's summary, and as the pull request's comment.
pub(super) async fn report_all(plans: &[Plan], opts: &QualifyOptions, ci: Option<&crate::github::CiReporter>, build_url: Option<&str>) {
    let build_url = build_url.map(str::to_owned);
    let journals: Vec<Journal> = plans.iter().filter_map(|p| Journal::load(&p.run_dir)).collect();
    if let Some(ci) = ci {
        let finals: Vec<_> = journals
            .iter()
            .map(|j| {
                let (state, description) = match (j.exit_code, j.state) {
                    (Some(0), _) => (crate::github::Status::Success, crate::journal::state_name(j.state)),
                    (Some(1), _) => (crate::github::Status::Failure, "tests failed".to_owned()),
                    (Some(4), _) => (crate::github::Status::Error, "TEARDOWN FAILED: a cluster may still be running".to_owned()),
                    (_, RunState::Interrupted) => (crate::github::Status::Error, "interrupted".to_owned()),
                    _ => (
                        crate::github::Status::Failure,
                        j.error.as_deref().unwrap_or("failed").lines().next().unwrap_or("failed").to_owned(),
                    ),
                };
                (j.build_dir.clone(), state, description)
            })
            .collect();
        warn_all(ci.statuses(&finals, build_url.as_deref()).await);
    }
    for j in &journals {
        if let Err(e) = crate::report::write_run_files(j, build_url.as_deref()) {
            eprintln!("warning: cannot write the report of {}: {e}", j.run_id);
        }
    }
    if opts.dry_run || journals.is_empty() {
        return;
    }
    let report = crate::report::Report { build_url, runs: journals.iter().map(crate::report::RunReport::of).collect() };
    match crate::report::markdown(&report) {
        Ok(md) => {
            if let Some(ci) = ci {
                warn_all(ci.comment(crate::report::MARKER, &md).await);
            }
            if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
                let appended =
                    std::fs::OpenOptions::new().create(true).append(true).open(&summary).and_then(|mut f| f.write_all(md.as_bytes()));
                if let Err(e) = appended {
                    eprintln!("warning: cannot write GITHUB_STEP_SUMMARY: {e}");
                }
            }
        }
        Err(e) => eprintln!("warning: {e}"),
    }
}
