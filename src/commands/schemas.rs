//! `dcos-images schemas`.

use crate::cli::Invocation;
use crate::error::{exit, Error};
use std::path::{Path, PathBuf};

// Its arguments; the command's help is its doc comment in cli.rs.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_name = "DIR", default_value = "schemas")]
    pub out: PathBuf,
    /// Exit 1 when a schema file differs from what the types produce.
    #[arg(long)]
    pub check: bool,
}

pub fn run(inv: &Invocation, args: &Args) -> Result<u8, Error> {
    schemas(&inv.root.join(&args.out), args.check)
}

fn schemas(dir: &Path, check: bool) -> Result<u8, Error> {
    let mut stale = Vec::new();
    for (name, text) in crate::schema::all() {
        let path = dir.join(name);
        if check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(path.display().to_string());
            }
        } else {
            std::fs::create_dir_all(dir).map_err(|source| Error::Write { path: dir.to_owned(), source })?;
            crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|source| Error::Write { path: path.clone(), source })?;
            println!("wrote {}", path.display());
        }
    }
    if stale.is_empty() {
        Ok(exit::SUCCESS)
    } else {
        eprintln!(
            "schemas differ from the Rust types: {}\n  = help: run `dcos-images schemas --out schemas` and commit the result",
            stale.join(", ")
        );
        Ok(exit::NEGATIVE)
    }
}
