//! `dcos-images qualify`.

use super::run_root;
use crate::cli::Invocation;
use crate::error::Error;
use crate::pipeline::{test_command::Selection, QualifyOptions};
use std::path::PathBuf;

// Its arguments; the command's help is its doc comment in cli.rs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Build directories to qualify.
    #[arg(required = true)]
    pub build_dirs: Vec<PathBuf>,
    /// Print the plan and run only what spends nothing: preflight (asks
    /// EC2), render, packer validate, terraform init and validate, and
    /// terraform plan (kept as cluster/cluster.tfplan).
    #[arg(long)]
    pub dry_run: bool,
    /// Build with packer even when the last build has the same inputs
    /// (by default its images are reused while EC2 still has them).
    #[arg(long)]
    pub rebuild: bool,
    /// Run failed integration tests again up to N times on the same cluster (default: tests.retries, 1).
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Build and check, but write nothing tracked: results stay in the run directory.
    #[arg(long)]
    pub no_publish: bool,
    /// Parent directory of the run directories (default: $XDG_STATE_HOME/dcos-images/runs).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// The branch the publish commit is pushed to (default: publish.branch, else the current branch).
    #[arg(long, value_name = "BRANCH")]
    pub publish_branch: Option<String>,
    /// Leave the cluster running and print how to reach and destroy it.
    #[arg(long)]
    pub keep_cluster: bool,
    /// Keep the images of a run that fails (by default they are
    /// deregistered, with their snapshots, in every region).
    #[arg(long)]
    pub keep_images: bool,
    /// Build directories qualified at once, each with its own run directory.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub jobs: usize,
    /// Run only the tests this pytest expression selects (instead of tests_to_run).
    #[arg(short = 'k', value_name = "EXPR")]
    pub keyword: Option<String>,
    /// Run only this test (file or node id; repeatable; instead of tests_to_run).
    #[arg(long = "test", value_name = "NAME")]
    pub tests: Vec<String>,
    /// The CI build's address, linked from the reports (default: GitHub Actions' or Jenkins' variables).
    #[arg(long, value_name = "URL")]
    pub build_url: Option<String>,
    /// Comment the report on this pull request (default: the CI's event, or Jenkins' CHANGE_ID).
    #[arg(long, value_name = "N")]
    pub pr: Option<u64>,
    /// No pull request comment (statuses are still set): a final
    /// `dcos-images report` comments once for every matrix job.
    #[arg(long)]
    pub no_comment: bool,
}

pub fn run(inv: &Invocation, args: &Args) -> Result<u8, Error> {
    let tree = inv.load_tree()?;
    let opts = QualifyOptions {
        build_dirs: args.build_dirs.clone(),
        dry_run: args.dry_run,
        no_publish: args.no_publish,
        run_root: run_root(args.run_dir.as_deref())?,
        publish_branch: args.publish_branch.clone(),
        keep_cluster: args.keep_cluster,
        keep_images: args.keep_images,
        jobs: args.jobs,
        selection: Selection { keyword: args.keyword.clone(), tests: args.tests.clone() },
        build_url: args.build_url.clone(),
        pr: args.pr,
        no_comment: args.no_comment,
        cluster_up: None,
        rebuild: args.rebuild,
        retries: args.retries,
    };
    crate::pipeline::qualify_blocking(&inv.root, &tree, &inv.config, &opts)
}
