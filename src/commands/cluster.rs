//! `dcos-images cluster up` and `cluster down`: clusters for engineers.

use super::{parse_duration, run_root};
use crate::cli::Invocation;
use crate::error::Error;
use crate::pipeline::{ClusterUp, QualifyOptions};
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a cluster, install DC/OS, and keep it.
    ///
    /// From the images in dcos_images.yaml (or --image), with the
    /// directory's profile: no build, no tests, nothing published, nothing
    /// tracked changed.
    Up {
        /// The build directory whose profile and qualified images the cluster uses.
        build_dir: PathBuf,
        /// The image of a region, over dcos_images.yaml (repeatable): REGION=AMI.
        #[arg(long, value_name = "REGION=AMI", value_parser = parse_image)]
        image: Vec<(String, String)>,
        /// How long the cluster is meant to live, e.g. 8h, 90m, 2d (the
        /// dcos-images:keep-until tag).
        #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
        ttl: std::time::Duration,
        /// Parent directory of the run directories (default: $XDG_STATE_HOME/dcos-images/runs).
        #[arg(long, value_name = "DIR")]
        run_dir: Option<PathBuf>,
    },
    /// Destroy a cluster made by `cluster up` (any run's, in fact), and check in EC2.
    Down {
        /// The run id `cluster up` printed (`dcos-images runs` lists them).
        run_id: String,
        /// Parent directory of the run directories (default: $XDG_STATE_HOME/dcos-images/runs).
        #[arg(long, value_name = "DIR")]
        run_dir: Option<PathBuf>,
    },
}

fn parse_image(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((region, image)) if !region.is_empty() && crate::formats::image_id::is_valid(image) => {
            Ok((region.to_owned(), image.to_owned()))
        }
        _ => Err(format!("`{s}` is not REGION=AMI, e.g. us-west-2=ami-0a248ce88bcc7bd23")),
    }
}

pub fn run(inv: &Invocation, command: &Command) -> Result<u8, Error> {
    match command {
        Command::Up { build_dir, image, ttl, run_dir } => {
            let tree = inv.load_tree()?;
            let opts = QualifyOptions {
                build_dirs: vec![build_dir.clone()],
                dry_run: false,
                no_publish: true,
                run_root: run_root(run_dir.as_deref())?,
                publish_branch: None,
                keep_cluster: false,
                keep_images: false,
                jobs: 1,
                selection: crate::pipeline::test_command::Selection::default(),
                build_url: None,
                pr: None,
                no_comment: true,
                cluster_up: Some(ClusterUp { images: image.iter().cloned().collect(), ttl: *ttl }),
                rebuild: false,
                retries: None,
            };
            crate::pipeline::qualify_blocking(&inv.root, &tree, &inv.config, &opts)
        }
        Command::Down { run_id, run_dir } => crate::pipeline::destroy_blocking(&run_root(run_dir.as_deref())?, run_id, false),
    }
}
