//! `dcos-images base-images refresh`.

use super::relative_to_root;
use crate::cli::Invocation;
use crate::error::Error;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The vendors' newest images into base_images.json, from EC2.
    ///
    /// For each OS, its newest vendor image in every region a
    /// base_images.json lists, rewritten in place (atomically, key order and
    /// layout kept). Owners and name patterns: `base_images` in
    /// dcos-images.yaml, with defaults for CentOS, RHEL, Flatcar, CoreOS,
    /// Oracle Linux and Ubuntu.
    Refresh {
        /// base_images.json files or directories above them (default: the whole tree).
        paths: Vec<PathBuf>,
        /// Change nothing; exit 1 when a newer image exists, listing them.
        #[arg(long)]
        check: bool,
    },
}

pub fn run(inv: &Invocation, command: &Command) -> Result<u8, Error> {
    let Command::Refresh { paths, check } = command;
    let prefixes = paths.iter().map(|p| relative_to_root(&inv.root, p)).collect::<Result<Vec<_>, _>>()?;
    crate::base_images_refresh::run_blocking(&inv.root, &inv.config, &prefixes, *check)
}
