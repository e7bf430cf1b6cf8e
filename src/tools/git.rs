//! git, for publishing: the commit of a build directory's results, pushed.
//! Remote URLs are never printed: they can carry a token.

use super::{ToolCall, ToolError};

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("the publish commit conflicts with what was pushed meanwhile, in: {}; the rebase was aborted and nothing was pushed\n  = help: merge the remote branch by hand, then rerun qualify (publish step never tests the images already recorded)\n{detail}", files.join(", "))]
    Conflict { files: Vec<String>, detail: String },
    #[error("the push was still rejected after {attempts} attempts (other jobs keep pushing): {last}")]
    StillRejected { attempts: u32, last: String },
}
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Git {
    pub program: PathBuf,
    pub repo: PathBuf,
}

impl Git {
    fn call(&self, description: &str, args: &[&str]) -> ToolCall {
        ToolCall::new(description, &self.program, args.iter().copied(), &self.repo)
    }

    pub fn run(&self, description: &str, args: &[&str]) -> Result<String, ToolError> {
        self.call(description, args).run_captured()
    }

    /// The top of the work tree holding `dir`.
    pub fn toplevel(program: &Path, dir: &Path) -> Result<PathBuf, ToolError> {
        let git = Git { program: program.to_owned(), repo: dir.to_owned() };
        let out = git.run("find the git work tree of the tree root", &["rev-parse", "--show-toplevel"])?;
        Ok(PathBuf::from(out.trim()))
    }

    /// The checked-out branch; None on a detached HEAD.
    pub fn current_branch(&self) -> Option<String> {
        self.run("read the current branch", &["symbolic-ref", "--quiet", "--short", "HEAD"]).ok().map(|s| s.trim().to_owned())
    }

    pub fn has_remote(&self, remote: &str) -> bool {
        self.run("look up the publish remote", &["remote", "get-url", remote]).is_ok()
    }

    /// Commits exactly `paths` (relative to the work tree) as `author`.
    pub fn commit_paths(&self, message: &str, (name, email): (&str, &str), paths: &[String]) -> Result<(), ToolError> {
        let mut add = vec!["add", "--"];
        add.extend(paths.iter().map(String::as_str));
        self.run("stage the published files", &add)?;
        let user = format!("user.name={name}");
        let mail = format!("user.email={email}");
        let mut commit = vec!["-c", &user, "-c", &mail, "commit", "--quiet", "--no-verify", "-m", message, "--"];
        commit.extend(paths.iter().map(String::as_str));
        self.run("commit the published files", &commit)?;
        Ok(())
    }

    pub fn push(&self, remote: &str, branch: &str) -> Result<(), ToolError> {
        let refspec = format!("HEAD:refs/heads/{branch}");
        self.run(&format!("push the publish commit to {remote} {branch}"), &["push", "--quiet", remote, &refspec])?;
        Ok(())
    }

    /// Pushes; when another job pushed first (non-fast-forward), fetches,
    /// rebases the local commits onto the remote branch and tries again, at
    /// most `attempts` times. Never a force-push. A rebase conflict is
    /// aborted (the work tree is left as it was) and named.
    pub fn push_rebasing(&self, remote: &str, branch: &str, attempts: u32) -> Result<u32, PushError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let err = match self.push(remote, branch) {
                Ok(()) => return Ok(tries),
                Err(e) => e,
            };
            let rejected = matches!(&err, ToolError::Failed { stderr, .. }
                if ["[rejected]", "non-fast-forward", "fetch first", "failed to update ref", "cannot lock ref"].iter().any(|m| stderr.contains(m)));
            if !rejected {
                return Err(PushError::Tool(err));
            }
            if tries >= attempts {
                return Err(PushError::StillRejected { attempts: tries, last: err.to_string() });
            }
            self.run(&format!("fetch {remote} {branch} after a rejected push"), &["fetch", "--quiet", remote, branch])?;
            if let Err(e) =
                self.run("rebase the publish commit onto the remote branch", &["rebase", "--quiet", "--autostash", "FETCH_HEAD"])
            {
                let files = self
                    .run("list the files in conflict", &["diff", "--name-only", "--diff-filter=U"])
                    .map(|out| out.lines().map(str::to_owned).collect::<Vec<_>>())
                    .unwrap_or_default();
                let _ = self.run("abort the rebase", &["rebase", "--abort"]);
                return Err(PushError::Conflict { files, detail: e.to_string() });
            }
            // Spread the retries of jobs that raced: 0.5 s, 1 s, 1.5 s, ...
            std::thread::sleep(std::time::Duration::from_millis(500 * u64::from(tries)));
        }
    }
}
