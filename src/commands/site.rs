//! `dcos-images site`.

use crate::browse::Filter;
use crate::cli::Invocation;
use crate::error::{exit, Error};
use std::path::PathBuf;

// Its arguments; the command's help is its doc comment in cli.rs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to write into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(inv: &Invocation, args: &Args) -> Result<u8, Error> {
    let all = Filter::default();
    let options = crate::site::SiteOptions {
        repository_url: crate::site::repository_url(&inv.root, &inv.config),
        rules: crate::validate::Rules::of(&inv.config),
    };
    let written = crate::site::write(&inv.layout_for(&all)?, &args.out, &options).map_err(|e| {
        Error::usage(format!("cannot write the site into {}: {e}", args.out.display()), "pass --out a directory you can write")
    })?;
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(exit::SUCCESS)
}
