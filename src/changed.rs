//! `dcos-images changed`: the build directories a diff affects, for CI on
//! pull requests. Computed from git itself (`ls-tree` of the head, `diff` from
//! the merge base), so it does not depend on what is checked out.

use crate::config::RootConfig;
use crate::error::Error;
use crate::tools::git::Git;
use crate::tools::{self, Tool};
use crate::tree::{Coordinates, BASE_IMAGES, PACKER};
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChangedFormat {
    /// One build directory per line.
    Lines,
    /// A JSON array of build directories.
    Json,
    /// `{"include":[{"build_dir":"..."}]}`, for a GitHub Actions `strategy.matrix`.
    GithubMatrix,
}

/// What changed between `base` and `head`, and why nothing may be affected.
pub struct Changed {
    pub build_dirs: Vec<String>,
    pub note: Option<String>,
}

pub fn changed(root: &Path, config: &RootConfig, base: &str, head: &str) -> Result<Changed, Error> {
    let program = tools::locate(Tool::Git, None)?;
    let top = Git::toplevel(&program, root)?;
    let git = Git { program, repo: top.clone() };
    // The tree root inside the repository ("" at the top), with a trailing '/'.
    let prefix = match root.strip_prefix(&top) {
        Ok(p) if p.as_os_str().is_empty() => String::new(),
        Ok(p) => format!("{}/", p.to_string_lossy()),
        Err(_) => String::new(),
    };
    let (_, bot_email) = config.publish.identity().map_err(|e| Error::usage(e, "set publish.author to `Name <email>`"))?;
    let head_email = git.run("read the head commit's author", &["log", "-1", "--format=%ae", head])?;
    if head_email.trim().eq_ignore_ascii_case(&bot_email) {
        return Ok(Changed {
            build_dirs: Vec::new(),
            note: Some(format!("the head commit is the publishing bot's ({bot_email}): its own publish starts no build")),
        });
    }
    let scope = if prefix.is_empty() { ".".to_owned() } else { prefix.clone() };
    let listing = git.run("list the head's files", &["ls-tree", "-r", "--name-only", "-z", head, "--", &scope])?;
    let excluded = |rel: &str| {
        rel.split('/').any(|p| p.starts_with('.') || p == "target")
            || config
                .tree
                .exclude
                .iter()
                .any(|x| rel == x.trim_end_matches('/') || rel.starts_with(&format!("{}/", x.trim_end_matches('/'))))
    };
    let head_dirs: BTreeSet<String> = listing
        .split('\0')
        .filter_map(|f| f.strip_prefix(&prefix))
        .filter_map(|f| f.strip_suffix(&format!("/{PACKER}")))
        .filter(|d| !excluded(d) && Coordinates::from_rel(d).is_ok())
        .map(str::to_owned)
        .collect();
    let range = format!("{base}...{head}");
    let diff = git.run("list the changed files", &["diff", "--name-only", "-z", "--no-renames", &range, "--", &scope])?;
    let mut affected = BTreeSet::new();
    for file in diff.split('\0').filter(|f| !f.is_empty()).filter_map(|f| f.strip_prefix(&prefix)) {
        if let Some(dir) = file.strip_suffix(&format!("/{BASE_IMAGES}")) {
            // Every build directory below a changed base_images.json.
            affected.extend(head_dirs.iter().filter(|d| d.starts_with(&format!("{dir}/"))).cloned());
        }
        // The deepest build directory holding the file.
        if let Some(d) = head_dirs.iter().filter(|d| file.starts_with(&format!("{d}/"))).max_by_key(|d| d.len()) {
            affected.insert(d.clone());
        }
    }
    Ok(Changed { build_dirs: affected.into_iter().collect(), note: None })
}

pub fn render(dirs: &[String], format: ChangedFormat) -> String {
    match format {
        ChangedFormat::Lines => dirs.iter().map(|d| format!("{d}\n")).collect(),
        ChangedFormat::Json => format!("{}\n", serde_json::to_string(dirs).expect("strings serialize")),
        ChangedFormat::GithubMatrix => {
            let include: Vec<_> = dirs.iter().map(|d| serde_json::json!({ "build_dir": d })).collect();
            format!("{}\n", serde_json::json!({ "include": include }))
        }
    }
}
