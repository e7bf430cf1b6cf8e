//! `dcos-images migrate`.

use crate::cli::Invocation;
use crate::error::Error;
use std::path::PathBuf;

// Its arguments; the command's help is its doc comment in cli.rs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Build directories or directories above them (default: the whole tree).
    pub paths: Vec<PathBuf>,
    /// Change nothing: print what would change, exit 1 when anything would.
    #[arg(long)]
    pub check: bool,
}

pub fn run(inv: &Invocation, args: &Args) -> Result<u8, Error> {
    let tree = inv.load_tree()?;
    let selection = super::validate::select(tree.dirs.iter().map(|d| &d.dir), &tree.misplaced, &inv.root, &args.paths)?;
    let dirs: Vec<String> = match selection.dirs {
        Some(d) => d.into_iter().collect(),
        None => tree.dirs.iter().map(|d| d.dir.rel.clone()).collect(),
    };
    crate::migrate::run(&inv.root, &tree, &dirs, args.check)
}
