//! `dcos-images gc`: the janitor.

use super::{parse_duration, run_root};
use crate::cli::Invocation;
use crate::error::Error;
use std::path::PathBuf;

// Its arguments; the command's help is its doc comment in cli.rs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only what is older than this (from its run id's time): 90m, 6h, 2d.
    #[arg(long, value_name = "DURATION", default_value = "6h", value_parser = parse_duration)]
    pub older_than: std::time::Duration,
    /// A region to clean (repeatable; default: every region the tree's packer templates build in).
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// Print what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// The run directory whose running runs are left alone (default: $XDG_STATE_HOME/dcos-images/runs).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
}

pub fn run(inv: &Invocation, args: &Args) -> Result<u8, Error> {
    let tree = inv.load_tree()?;
    let opts = crate::gc::GcOptions {
        older_than: args.older_than,
        regions: args.regions.clone(),
        dry_run: args.dry_run,
        json: args.json,
        run_root: run_root(args.run_dir.as_deref())?,
    };
    crate::gc::run_blocking(&tree, &opts)
}
