//! One module per command: its arguments (clap) and its `run`. `cli.rs`
//! only parses and dispatches, as cargo's `commands/` do.

pub mod base_images;
pub mod browse;
pub mod changed;
pub mod cluster;
pub mod completions;
pub mod gc;
pub mod migrate;
pub mod qualify;
pub mod report;
pub mod runs;
pub mod schemas;
pub mod site;
pub mod validate;

use crate::error::Error;
use std::path::{Path, PathBuf};

/// Printed after the help of the commands that run tools.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    success: qualified, tree valid, image found
  1    a negative answer: validation errors, nothing found, tests failed
  2    usage or configuration error
  3    a tool failed (packer, terraform, ssh, git) or a file could not be written
  4    teardown failed: something of a run may still be in EC2 (named)
  130  interrupted";

/// The parent of the run directories (`--run-dir`, else the user's state
/// directory), created and made absolute.
pub fn run_root(given: Option<&Path>) -> Result<PathBuf, Error> {
    let dir = given.map(Path::to_owned).unwrap_or_else(crate::pipeline::default_run_root);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Write { path: dir.clone(), source })?;
    dir.canonicalize().map_err(|source| Error::Write { path: dir.clone(), source })
}

/// `90s`, `45m`, `8h`, `2d`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number.parse().map_err(|_| format!("`{s}` is not a duration such as 90m, 8h or 2d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("`{s}` is not a duration such as 90m, 8h or 2d (units: s, m, h, d)")),
    };
    Ok(std::time::Duration::from_secs(n * seconds))
}

/// A path given on the command line, relative to the tree's root and
/// `/`-separated; an error when it does not exist or lies outside the tree.
pub fn relative_to_root(root: &Path, p: &Path) -> Result<String, Error> {
    let abs = p.canonicalize().map_err(|e| Error::usage(format!("{}: {e}", p.display()), "pass paths of the tree that exist"))?;
    let rel = abs.strip_prefix(root).map_err(|_| {
        Error::usage(format!("{} is outside the tree {}", p.display(), root.display()), "pass --root with the tree that holds it")
    })?;
    Ok(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
}
