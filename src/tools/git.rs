//! git, for publishing: the commit of a build directory's results, pushed.
//! Remote URLs are never printed: they can carry a token.

use super::{ToolCall, ToolError};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Git {
    pub program: PathBuf,
    pub repo: PathBuf,
}

impl Git {
    fn call(&self, description: &str, args: &[&str]) -> ToolCall {
        ToolCall {
            description: description.to_owned(),
            program: self.program.clone(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            cwd: self.repo.clone(),
        }
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
}
