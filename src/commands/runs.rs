//! `dcos-images runs` and `destroy`: the runs of a run directory, and
//! removing what they left.

use super::run_root;
use crate::error::{exit, Error};
use std::path::PathBuf;

// Its arguments; the command's help is its doc comment in cli.rs.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Parent directory of the run directories (default: $XDG_STATE_HOME/dcos-images/runs).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

// Its arguments; the command's help is its doc comment in cli.rs.
#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    /// The runs (`dcos-images runs` lists them).
    #[arg(required_unless_present = "all", value_name = "RUN_ID")]
    pub run_ids: Vec<String>,
    /// Every run of the run directory that may have left something
    /// (died, or its cluster not known destroyed; kept clusters stay):
    /// what CI runs when a job is cancelled.
    #[arg(long, conflicts_with = "run_ids")]
    pub all: bool,
    /// Keep the runs' images whatever became of the runs.
    #[arg(long)]
    pub keep_images: bool,
    /// Parent directory of the run directories (default: $XDG_STATE_HOME/dcos-images/runs).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
}

pub fn runs(args: &RunsArgs) -> Result<u8, Error> {
    let runs = crate::journal::all(&run_root(args.run_dir.as_deref())?);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs).expect("journals serialize"));
    } else {
        print!("{}", crate::journal::render_runs(&runs));
    }
    Ok(exit::SUCCESS)
}

pub fn destroy(args: &DestroyArgs) -> Result<u8, Error> {
    crate::pipeline::destroy_runs(&run_root(args.run_dir.as_deref())?, &args.run_ids, args.all, args.keep_images)
}
