//! `dcos-images report`.

use crate::cli::Invocation;
use crate::error::Error;
use std::path::PathBuf;

// Its arguments; the command's help is its doc comment in cli.rs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A directory holding runs (repeatable; searched 4 levels deep for journal.json).
    #[arg(long = "run-dir", value_name = "DIR", required = true)]
    pub run_dirs: Vec<PathBuf>,
    /// The pull request to comment on (default: the CI's event, or Jenkins' CHANGE_ID).
    #[arg(long, value_name = "N")]
    pub pr: Option<u64>,
    /// Where report.json, junit.xml and report.md go.
    #[arg(long, value_name = "DIR", default_value = "dcos-images-report")]
    pub out: PathBuf,
    /// The CI build's address (default: GitHub Actions' or Jenkins' variables).
    #[arg(long, value_name = "URL")]
    pub build_url: Option<String>,
}

pub fn run(inv: &Invocation, args: &Args) -> Result<u8, Error> {
    crate::pipeline::report_blocking(&inv.root, &args.run_dirs, args.pr, &args.out, args.build_url.as_deref())
}
