//! `dcos-images changed`.

use crate::cli::Invocation;
use crate::error::{exit, Error};

// Its arguments; the command's help is its doc comment in cli.rs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The base of the comparison (a pull request's base branch), compared from the merge base.
    #[arg(long, value_name = "REF")]
    pub base: String,
    #[arg(long, value_name = "REF", default_value = "HEAD")]
    pub head: String,
    #[arg(long, value_enum, default_value_t = crate::changed::ChangedFormat::Lines)]
    pub format: crate::changed::ChangedFormat,
}

pub fn run(inv: &Invocation, args: &Args) -> Result<u8, Error> {
    let changed = crate::changed::changed(&inv.root, &inv.config, &args.base, &args.head)?;
    if let Some(note) = &changed.note {
        eprintln!("{note}");
    }
    print!("{}", crate::changed::render(&changed.build_dirs, args.format));
    Ok(exit::SUCCESS)
}
