//! What a qualification tells GitHub and the CI: commit statuses, the
//! report comment, the job summary; every run's report files.

use super::plan::Plan;
use super::QualifyOptions;
use crate::journal::{Journal, RunState};
use crate::tools::git::Git;
use crate::tools::{self, Tool};
use std::io::Write;
use std::path::Path;

/// The tree's commit (`git rev-parse HEAD`); None outside a git work tree.
pub(super) fn tree_head(root: &Path) -> Option<String> {
    let git = Git { program: tools::locate(Tool::Git, None).ok()?, repo: root.to_owned() };
    git.run("read the tree's commit", &["rev-parse", "HEAD"]).ok().map(|s| s.trim().to_owned())
}

/// The CI reporter; `head` is the commit statuses go on when the CI's
/// variables name none.
pub(super) fn ci_reporter(head: Option<String>, opts: &QualifyOptions) -> Option<crate::github::CiReporter> {
    match crate::github::CiReporter::from_env(opts.pr, || head) {
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

/// The final commit status of a run.
pub(crate) fn final_status(j: &Journal) -> (crate::github::Status, String) {
    use crate::github::Status;
    match (j.exit_code, j.state) {
        (Some(0), _) => (Status::Success, crate::journal::state_name(j.state)),
        (Some(1), _) => (Status::Failure, "tests failed".to_owned()),
        (Some(4), _) => (Status::Error, "TEARDOWN FAILED: a cluster may still be running".to_owned()),
        (_, RunState::Interrupted) => (Status::Error, "interrupted".to_owned()),
        (_, RunState::Running) => (Status::Error, "the run died (its job was cancelled or killed)".to_owned()),
        _ => (Status::Failure, j.error.as_deref().unwrap_or("failed").lines().next().unwrap_or("failed").to_owned()),
    }
}

/// Each run's final status on the head commit and on the commit its publish
/// step pushed (the pull request's head from then on: a required check
/// must find the status there).
pub(crate) async fn final_statuses(ci: &crate::github::CiReporter, journals: &[Journal], build_url: Option<&str>) {
    for j in journals {
        let (state, description) = final_status(j);
        let states = [(j.build_dir.clone(), state, description)];
        let url = j.build_url.as_deref().or(build_url);
        warn_all(ci.statuses(&states, url).await);
        if let Some(sha) = j.publish_commit.as_deref().filter(|p| ci.target.sha.as_deref() != Some(*p)) {
            warn_all(ci.statuses_on(sha, &states, url).await);
        }
    }
}

/// One Markdown report of `journals`: into the job's summary under GitHub
/// Actions, and, with `comment`, as the pull request's comment (cut to
/// GitHub's limit, pointing at the artifact).
pub(crate) async fn summary_and_comment(ci: Option<&crate::github::CiReporter>, report: &crate::report::Report, comment: bool) {
    match crate::report::markdown(report) {
        Ok(md) => {
            if let (Some(ci), true) = (ci, comment) {
                let artifact = match &report.build_url {
                    Some(u) => format!("The whole report is in the artifacts of {u}."),
                    None => "The whole report is in the run directories' report.md.".to_owned(),
                };
                warn_all(ci.comment_cut(crate::report::MARKER, &md, &artifact).await);
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

/// Each run's report files, then one Markdown report of all runs: under
/// GitHub Actions into the job's summary, and as the pull request's comment
/// (unless `--no-comment`: a final `report` job comments for all jobs).
pub(super) async fn report_all(plans: &[Plan], opts: &QualifyOptions, ci: Option<&crate::github::CiReporter>, build_url: Option<&str>) {
    let journals: Vec<Journal> = plans.iter().filter_map(|p| Journal::load(&p.run_dir)).collect();
    if let Some(ci) = ci {
        final_statuses(ci, &journals, build_url).await;
    }
    for j in &journals {
        if let Err(e) = crate::report::write_run_files(j, build_url) {
            eprintln!("warning: cannot write the report of {}: {e}", j.run_id);
        }
    }
    if opts.dry_run || journals.is_empty() {
        return;
    }
    let report = crate::report::Report::of(&journals, build_url.map(str::to_owned));
    summary_and_comment(ci, &report, !opts.no_comment).await;
}

/// `dcos-images report --run-dir DIR...`: one report of every run whose
/// journal is under the directories (the artifacts of all matrix jobs,
/// downloaded side by side): report.json, junit.xml and report.md in `out`,
/// the job summary, one pull request comment for all of them, and each
/// directory's final status on the head commit and on its publish commit.
pub fn report_blocking(
    root: &Path,
    run_dirs: &[std::path::PathBuf],
    pr: Option<u64>,
    out: &Path,
    build_url: Option<&str>,
) -> Result<u8, crate::error::Error> {
    use crate::error::Error;
    let mut journals: Vec<Journal> = Vec::new();
    for dir in run_dirs {
        for entry in walkdir::WalkDir::new(dir).max_depth(4).into_iter().filter_map(Result::ok) {
            if entry.file_name() != crate::journal::FILE_NAME {
                continue;
            }
            let Some(run_dir) = entry.path().parent() else { continue };
            if let Some(mut j) = Journal::load(run_dir) {
                // Where the artifact put it, not where the job ran it.
                j.run_dir = run_dir.to_owned();
                if !journals.iter().any(|k| k.run_id == j.run_id) {
                    journals.push(j);
                }
            }
        }
    }
    if journals.is_empty() {
        let dirs: Vec<String> = run_dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(Error::usage(
            format!("no run (journal.json) under {}", dirs.join(", ")),
            "point --run-dir at the run directories, or at the downloaded artifacts that hold them",
        ));
    }
    journals.sort_by(|a, b| (&a.build_dir, &a.run_id).cmp(&(&b.build_dir, &b.run_id)));
    let build_url = crate::report::build_url(build_url);
    let report = crate::report::Report::of(&journals, build_url.clone());
    std::fs::create_dir_all(out).map_err(|source| Error::Write { path: out.to_owned(), source })?;
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|source| Error::Write { path, source })
    };
    let mut json = serde_json::to_string_pretty(&report).expect("reports serialize");
    json.push('\n');
    write("report.json", &json)?;
    write("junit.xml", &crate::report::junit_of(&journals))?;
    let md = crate::report::markdown(&report).map_err(|e| Error::usage(e, "report it as a bug"))?;
    write("report.md", &md)?;
    let head = || tree_head(root);
    // octocrab's client is made inside the runtime (its service spawns a task).
    super::runtime()?.block_on(async {
        let ci = match crate::github::CiReporter::from_env(pr, head) {
            Ok(ci) => ci,
            Err(why) => {
                eprintln!("warning: {why}");
                None
            }
        };
        if let Some(ci) = &ci {
            final_statuses(ci, &journals, build_url.as_deref()).await;
        }
        summary_and_comment(ci.as_ref(), &report, true).await;
    });
    println!("reported {} run(s) into {}", journals.len(), out.display());
    // The report job is the one check branch protection can require (the
    // matrix's job names change with the matrix): it fails when any run
    // did, with the worst of their exit codes. A run with none was killed
    // (a cancelled or timed-out job) and counts as interrupted.
    let codes: Vec<u8> = journals.iter().map(|j| j.exit_code.unwrap_or(crate::error::exit::INTERRUPTED)).collect();
    Ok(super::worst(&codes))
}
