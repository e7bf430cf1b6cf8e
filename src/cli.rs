//! The command line: clap parses it into a [`Command`] (each command's
//! arguments live with the command, in `commands/`), the tree's root and
//! configuration are checked into an [`Invocation`] before anything runs,
//! and the command is dispatched.

use crate::browse;
use crate::commands::{self, EXIT_CODES};
use crate::config::RootConfig;
use crate::error::Error;
use crate::tree::{Layout, Tree};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// `0.1.0 (commit 1a2b3c4d5e6f)`: the version and the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("DCOS_IMAGES_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(name = "dcos-images", version = VERSION, about = "Qualify machine images for DC/OS clusters and browse the compatibility tree", after_help = EXIT_CODES)]
pub struct Cli {
    /// The tree's root directory.
    #[arg(long, global = true, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check build directories and every file they hold; exit 1 on any error.
    Validate(commands::validate::Args),
    /// One row per build directory, with its images.
    List(commands::browse::ListArgs),
    /// The qualified image(s) for an OS version and DC/OS version.
    ///
    /// Exit 1 and show what is nearest when there is none.
    Find(commands::browse::FindArgs),
    /// The tree with what is qualified, at a glance.
    Tree,
    /// Vendor base images (base_images.json).
    #[command(name = "base-images", subcommand)]
    BaseImages(commands::base_images::Command),
    /// Write the compatibility page: index.html and images.json.
    ///
    /// The page is one offline file: the matrix of OS versions by DC/OS
    /// releases, a search box, every image with a copy button, each
    /// directory's link and validator findings.
    Site(commands::site::Args),
    /// The build directories a diff affects (for CI on pull requests).
    Changed(commands::changed::Args),
    /// Qualify build directories: build, test on a cluster, publish.
    ///
    /// Build the image with packer (or reuse the last build's when its
    /// inputs are the same), create a cluster with terraform, install DC/OS,
    /// run the tests over ssh, publish dcos_images.yaml at the configured
    /// step, and always destroy the cluster.
    #[command(after_help = EXIT_CODES)]
    Qualify(commands::qualify::Args),
    /// One report of every run under the run directories.
    ///
    /// The runs are the artifacts of all matrix jobs: report.json, junit.xml
    /// and report.md in --out, the job summary, one pull request comment
    /// updated in place, and each directory's final commit status on the
    /// head and publish commits. Exits with the worst exit code of the runs:
    /// the one check to require.
    #[command(after_help = EXIT_CODES)]
    Report(commands::report::Args),
    /// Clusters for engineers: create one from qualified images, keep it, remove it.
    #[command(subcommand, after_help = EXIT_CODES)]
    Cluster(commands::cluster::Command),
    /// Remove everything a run left in EC2.
    ///
    /// From its journal, also when its process died: the tool it left
    /// running is stopped, terraform destroys its state, and EC2 removes
    /// whatever else carries the run's tag, images of a run that did not end
    /// well included. Exit 0 only when EC2 shows nothing of the run.
    #[command(after_help = EXIT_CODES)]
    Destroy(commands::runs::DestroyArgs),
    /// The janitor: remove what dcos-images tagged in EC2 and no run needs.
    ///
    /// Older than --older-than, its run not running (per the run directory),
    /// not kept (dcos-images:keep-until in the future), images neither
    /// published nor qualified nor listed in any dcos_images.yaml of the tree.
    #[command(after_help = EXIT_CODES)]
    Gc(commands::gc::Args),
    /// The qualification runs under the run directory, with their state.
    Runs(commands::runs::RunsArgs),
    /// Rewrite cluster profiles from terraform-dcos's names to the current ones.
    ///
    /// In place, comments and order kept.
    Migrate(commands::migrate::Args),
    /// Write the JSON Schemas of the tree's files (or check they are current).
    Schemas(commands::schemas::Args),
    /// Print the shell completion script for SHELL.
    ///
    /// bash, zsh, fish, elvish or powershell, e.g.
    /// `dcos-images completions bash > /etc/bash_completion.d/dcos-images`.
    Completions(commands::completions::CompletionsArgs),
    /// Write man pages: dcos-images.1 and one per command.
    Man(commands::completions::ManArgs),
}

/// A command line, checked: the root exists and its config is valid.
pub struct Invocation {
    pub root: PathBuf,
    pub config: RootConfig,
}

impl Invocation {
    pub fn new(root: &std::path::Path) -> Result<Invocation, Error> {
        let root = root.canonicalize().map_err(|e| {
            Error::usage(format!("the tree root {} cannot be opened: {e}", root.display()), "pass an existing directory with --root")
        })?;
        let config = RootConfig::load(&root)?;
        Ok(Invocation { root, config })
    }

    pub fn load_tree(&self) -> Result<Tree, Error> {
        Ok(Tree::load(&self.root, &self.config.tree.exclude)?)
    }

    /// Where the build directories `filter` can select are (see
    /// [`browse::Filter::admits`]), walking no other part of the tree.
    pub fn layout_for(&self, filter: &browse::Filter) -> Result<Layout, Error> {
        Ok(Layout::discover(&self.root, &self.config.tree.exclude, &|depth, name| filter.admits(depth, name))?)
    }

    /// The rows of the build directories `filter` selects, walked and read
    /// in one pass. The commands that list rows print them and end: the
    /// layout (thousands of small allocations, made on the walk's threads)
    /// is left to the process's exit rather than freed here, on one core
    /// after the parallel work (a twentieth of `list`'s instructions).
    pub fn rows(&self, filter: &browse::Filter) -> Result<Vec<browse::Row>, Error> {
        let (layout, rows) = browse::walked_rows(&self.root, &self.config.tree.exclude, filter)?;
        std::mem::forget(layout);
        Ok(rows)
    }
}

/// The binary that runs the commands which drive tools and services
/// (qualify, report, cluster, destroy, gc, runs, base-images, changed):
/// installed next to `dcos-images`, which hands them over to it.
///
/// Why two binaries: the AWS SDK, octocrab and tokio are most of a 26 MB
/// program whose 51,000 relocations the dynamic loader applies before
/// `main`, on every run. Whole-tree commands need none of them; in their own
/// binary they start in a fraction of that time (docs/speed.md). A command
/// handed over pays one exec, nothing next to packer or an HTTP request.
pub const CLOUD_BINARY: &str = "dcos-images-cloud";

/// `dcos-images`: parses the arguments, runs the whole-tree commands and
/// hands every other one to [`CLOUD_BINARY`], with the same arguments.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    exit_with(run_local(&cli).unwrap_or_else(|| Err(hand_over())))
}

/// `dcos-images-cloud`: every command.
pub fn main_cloud() -> std::process::ExitCode {
    let cli = Cli::parse();
    exit_with(run(cli))
}

fn exit_with(result: Result<u8, Error>) -> std::process::ExitCode {
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::ExitCode::from(code)
}

/// Replaces this process with [`CLOUD_BINARY`] given the same arguments (so
/// signals, the process group and the exit code are its own); returns only
/// when that cannot be done.
fn hand_over() -> Error {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map(|exe| exe.with_file_name(CLOUD_BINARY));
    let exe = match exe {
        Ok(exe) => exe,
        Err(e) => return Error::usage(format!("cannot tell where dcos-images is installed: {e}"), format!("run {CLOUD_BINARY} directly")),
    };
    let e = std::process::Command::new(&exe).arg0("dcos-images").args(std::env::args_os().skip(1)).exec();
    Error::usage(
        format!("this command runs in {}, which cannot be started: {e}", exe.display()),
        format!("install {CLOUD_BINARY} beside dcos-images: `cargo install` and the release archive carry both"),
    )
}

/// Runs the commands `dcos-images` runs itself: the whole-tree ones (they
/// read and check the tree, nothing else) and the ones that need no tree.
/// `None`: the command is [`CLOUD_BINARY`]'s. Nothing here may call into
/// the AWS SDK, octocrab, tokio or the tools, or they are linked back in.
fn run_local(cli: &Cli) -> Option<Result<u8, Error>> {
    use commands::*;
    let with_tree = |f: &dyn Fn(&Invocation) -> Result<u8, Error>| Invocation::new(&cli.root).and_then(|inv| f(&inv));
    Some(match &cli.command {
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
        Command::Validate(args) => with_tree(&|inv| validate::run(inv, args)),
        Command::List(args) => with_tree(&|inv| browse::list(inv, args)),
        Command::Find(args) => with_tree(&|inv| browse::find(inv, args)),
        Command::Tree => with_tree(&browse::tree),
        Command::Site(args) => with_tree(&|inv| site::run(inv, args)),
        Command::Migrate(args) => with_tree(&|inv| migrate::run(inv, args)),
        Command::Schemas(args) => with_tree(&|inv| schemas::run(inv, args)),
        Command::BaseImages(_)
        | Command::Changed(_)
        | Command::Qualify(_)
        | Command::Report(_)
        | Command::Cluster(_)
        | Command::Destroy(_)
        | Command::Gc(_)
        | Command::Runs(_) => return None,
    })
}

/// Dispatches to any command (what `dcos-images-cloud` runs).
pub fn run(cli: Cli) -> Result<u8, Error> {
    use commands::*;
    if let Some(result) = run_local(&cli) {
        return result;
    }
    let inv = match &cli.command {
        Command::Runs(args) => return runs::runs(args),
        Command::Destroy(args) => return runs::destroy(args),
        _ => Invocation::new(&cli.root)?,
    };
    match &cli.command {
        Command::BaseImages(command) => base_images::run(&inv, command),
        Command::Changed(args) => changed::run(&inv, args),
        Command::Qualify(args) => qualify::run(&inv, args),
        Command::Report(args) => report::run(&inv, args),
        Command::Cluster(command) => cluster::run(&inv, command),
        Command::Gc(args) => gc::run(&inv, args),
        command => unreachable!("{command:?} is run by run_local"),
    }
}
