//! The command line: clap types, turned into a validated [`Invocation`] before
//! anything runs, then dispatched.

use crate::browse::{self, Filter, FindOutcome, ListFormat};
use crate::config::RootConfig;
use crate::diagnostic::Code;
use crate::error::{exit, Error};
use crate::tree::{base_images_for, BaseImagesFiles, BuildDir, Layout, Tree};
use crate::validate::{self, output::Format};
use clap::{Parser, Subcommand};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const EXIT_CODES: &str = "\
Exit codes:
  0    success: qualified, tree valid, image found
  1    a negative answer: validation errors, nothing found, tests failed
  2    usage or configuration error
  3    a tool failed (packer, terraform, ssh, git) or a file could not be written
  4    teardown failed: something of a run may still be in EC2 (named)
  130  interrupted";

#[derive(Debug, Parser)]
#[command(name = "dcos-images", version, about = "Qualify machine images for DC/OS clusters and browse the compatibility tree", after_help = EXIT_CODES)]
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
    Validate {
        /// Build directories or directories above them (default: the whole tree).
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Do not report this code (repeatable), e.g. --ignore legacy-file.
        #[arg(long, value_name = "CODE")]
        ignore: Vec<String>,
        /// Print every code with its severity and meaning, then exit.
        #[arg(long)]
        codes: bool,
    },
    /// One row per build directory, with its images.
    List {
        #[command(flatten)]
        filter: Filter,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// The qualified image(s) for an OS version and DC/OS version; exit 1 and
    /// show what is nearest when there is none.
    Find {
        #[command(flatten)]
        filter: Filter,
        #[arg(long, value_enum, default_value_t = FindFormat::Text)]
        format: FindFormat,
    },
    /// The tree with what is qualified, at a glance.
    Tree,
    /// Vendor base images (base_images.json).
    #[command(name = "base-images", subcommand)]
    BaseImages(BaseImagesCommand),
    /// Write the compatibility page: index.html (the matrix, a search box,
    /// every image with a copy button; works offline) and images.json.
    Site {
        /// The directory to write into (created if needed).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// The build directories a diff affects (for CI on pull requests).
    Changed {
        /// The base of the comparison (a pull request's base branch), compared from the merge base.
        #[arg(long, value_name = "REF")]
        base: String,
        #[arg(long, value_name = "REF", default_value = "HEAD")]
        head: String,
        #[arg(long, value_enum, default_value_t = crate::changed::ChangedFormat::Lines)]
        format: crate::changed::ChangedFormat,
    },
    /// Qualify build directories: build the image with packer, create a
    /// cluster with terraform, run the tests over ssh, publish dcos_images.yaml
    /// at the configured step, and always destroy the cluster.
    #[command(after_help = EXIT_CODES)]
    Qualify {
        /// Build directories to qualify.
        #[arg(required = true)]
        build_dirs: Vec<PathBuf>,
        /// Print the plan and run only what spends nothing: preflight (asks
        /// EC2), render, packer validate, terraform init and validate, and
        /// terraform plan (kept as cluster/cluster.tfplan).
        #[arg(long)]
        dry_run: bool,
        /// Build with packer even when the last build has the same inputs
        /// (by default its images are reused while EC2 still has them).
        #[arg(long)]
        rebuild: bool,
        /// Run failed integration tests again up to N times on the same cluster (default: tests.retries, 1).
        #[arg(long, value_name = "N")]
        retries: Option<u32>,
        /// Build and check, but write nothing tracked: results stay in the run directory.
        #[arg(long)]
        no_publish: bool,
        /// Parent directory of the run directories (default: $XDG_STATE_HOME/dcos-images/runs).
        #[arg(long, value_name = "DIR")]
        run_dir: Option<PathBuf>,
        /// The branch the publish commit is pushed to (default: publish.branch, else the current branch).
        #[arg(long, value_name = "BRANCH")]
        publish_branch: Option<String>,
        /// Leave the cluster running and print how to reach and destroy it.
        #[arg(long)]
        keep_cluster: bool,
        /// Keep the images of a run that fails (by default they are
        /// deregistered, with their snapshots, in every region).
        #[arg(long)]
        keep_images: bool,
        /// Build directories qualified at once, each with its own run directory.
        #[arg(long, default_value_t = 1, value_name = "N")]
        jobs: usize,
        /// Run only the tests this pytest expression selects (instead of tests_to_run).
        #[arg(short = 'k', value_name = "EXPR")]
        keyword: Option<String>,
        /// Run only this test (file or node id; repeatable; instead of tests_to_run).
        #[arg(long = "test", value_name = "NAME")]
        tests: Vec<String>,
        /// The CI build's address, linked from the reports (default: GitHub Actions' or Jenkins' variables).
        #[arg(long, value_name = "URL")]
        build_url: Option<String>,
        /// Comment the report on this pull request (default: the CI's event, or Jenkins' CHANGE_ID).
        #[arg(long, value_name = "N")]
        pr: Option<u64>,
        /// No pull request comment (statuses are still set): a final
        /// `dcos-images report` comments once for every matrix job.
        #[arg(long)]
        no_comment: bool,
    },
    /// One report of every run under the run directories (the artifacts of
    /// all matrix jobs): report.json, junit.xml and report.md in --out, the
    /// job summary, one pull request comment updated in place, and each
    /// directory's final commit status on the head and publish commits.
    #[command(after_help = EXIT_CODES)]
    Report {
        /// A directory holding runs (repeatable; searched 4 levels deep for journal.json).
        #[arg(long = "run-dir", value_name = "DIR", required = true)]
        run_dirs: Vec<PathBuf>,
        /// The pull request to comment on (default: the CI's event, or Jenkins' CHANGE_ID).
        #[arg(long, value_name = "N")]
        pr: Option<u64>,
        /// Where report.json, junit.xml and report.md go.
        #[arg(long, value_name = "DIR", default_value = "dcos-images-report")]
        out: PathBuf,
        /// The CI build's address (default: GitHub Actions' or Jenkins' variables).
        #[arg(long, value_name = "URL")]
        build_url: Option<String>,
    },
    /// Clusters for engineers: create and install one from a build
    /// directory's qualified images, keep it, remove it.
    #[command(subcommand, after_help = EXIT_CODES)]
    Cluster(ClusterCommand),
    /// Remove everything a run left in EC2, from its journal (also when its
    /// process died): the tool it left running is stopped, terraform destroys
    /// its state, and EC2 removes whatever else carries the run's tag, images
    /// of a run that did not end well included. Exit 0 only when EC2 shows
    /// nothing of the run.
    #[command(after_help = EXIT_CODES)]
    Destroy {
        /// The runs (`dcos-images runs` lists them).
        #[arg(required_unless_present = "all", value_name = "RUN_ID")]
        run_ids: Vec<String>,
        /// Every run of the run directory that may have left something
        /// (died, or its cluster not known destroyed; kept clusters stay):
        /// what CI runs when a job is cancelled.
        #[arg(long, conflicts_with = "run_ids")]
        all: bool,
        /// Keep the runs' images whatever became of the runs.
        #[arg(long)]
        keep_images: bool,
        /// Parent directory of the run directories (default: $XDG_STATE_HOME/dcos-images/runs).
        #[arg(long, value_name = "DIR")]
        run_dir: Option<PathBuf>,
    },
    /// The janitor: remove what dcos-images tagged in EC2 and no run needs:
    /// older than --older-than, its run not running (per the run directory),
    /// not kept (dcos-images:keep-until in the future), images neither
    /// published nor qualified nor listed in any dcos_images.yaml of the tree.
    #[command(after_help = EXIT_CODES)]
    Gc {
        /// Only what is older than this (from its run id's time): 90m, 6h, 2d.
        #[arg(long, value_name = "DURATION", default_value = "6h", value_parser = parse_duration)]
        older_than: std::time::Duration,
        /// A region to clean (repeatable; default: every region the tree's packer templates build in).
        #[arg(long = "region", value_name = "REGION")]
        regions: Vec<String>,
        /// Print what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// The run directory whose running runs are left alone (default: $XDG_STATE_HOME/dcos-images/runs).
        #[arg(long, value_name = "DIR")]
        run_dir: Option<PathBuf>,
    },
    /// The qualification runs under the run directory, with their state.
    Runs {
        /// Parent directory of the run directories (default: $XDG_STATE_HOME/dcos-images/runs).
        #[arg(long, value_name = "DIR")]
        run_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Rewrite cluster profiles from terraform-dcos's variable names to the
    /// current ones, in place (comments and order kept).
    Migrate {
        /// Build directories or directories above them (default: the whole tree).
        paths: Vec<PathBuf>,
        /// Change nothing: print what would change, exit 1 when anything would.
        #[arg(long)]
        check: bool,
    },
    /// Write the JSON Schemas of the tree's files (or check they are current).
    Schemas {
        #[arg(long, value_name = "DIR", default_value = "schemas")]
        out: PathBuf,
        /// Exit 1 when a schema file differs from what the types produce.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create a cluster from the images in dcos_images.yaml (or --image) with
    /// the directory's profile, install DC/OS, and keep it: no build, no
    /// tests, nothing published, nothing tracked changed.
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

/// `90s`, `45m`, `8h`, `2d`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number.parse().map_err(|_| format!("`{s}` is not a duration such as 90m, 8h or 2d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("`{s}` is not a duration such as 90m, 8h or 2d (units: s, m, h, d)")),
    };
    Ok(std::time::Duration::from_secs(n * seconds))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FindFormat {
    /// `IMAGE REGION PATH` per line.
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum BaseImagesCommand {
    /// Ask EC2 for each OS's newest vendor image in every region a
    /// base_images.json lists, and rewrite the file in place (atomically,
    /// key order and layout kept). Owners and name patterns: `base_images`
    /// in dcos-images.yaml, with defaults for CentOS, RHEL, Flatcar, CoreOS,
    /// Oracle Linux and Ubuntu.
    Refresh {
        /// base_images.json files or directories above them (default: the whole tree).
        paths: Vec<PathBuf>,
        /// Change nothing; exit 1 when a newer image exists, listing them.
        #[arg(long)]
        check: bool,
    },
}

/// A command line, checked: the root exists, its config is valid, codes exist.
pub struct Invocation {
    pub root: PathBuf,
    pub config: RootConfig,
    pub command: Command,
    pub ignore: BTreeSet<Code>,
}

impl Invocation {
    pub fn from_cli(cli: Cli) -> Result<Invocation, Error> {
        let root = cli.root.canonicalize().map_err(|e| {
            Error::usage(format!("the tree root {} cannot be opened: {e}", cli.root.display()), "pass an existing directory with --root")
        })?;
        let config = RootConfig::load(&root)?;
        let mut ignore = BTreeSet::new();
        if let Command::Validate { ignore: names, .. } = &cli.command {
            for name in names {
                let code = Code::from_name(name).ok_or_else(|| {
                    let known: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
                    let hint = match crate::diagnostic::did_you_mean(name, &known) {
                        Some(k) => format!("did you mean `{k}`? `dcos-images validate --codes` lists them all"),
                        None => "`dcos-images validate --codes` lists them all".to_owned(),
                    };
                    Error::usage(format!("--ignore {name}: no such diagnostic code"), hint)
                })?;
                ignore.insert(code);
            }
        }
        if let Command::Find { filter, .. } = &cli.command {
            if filter.os.is_none() || filter.os_version.is_none() || filter.dcos.is_none() {
                return Err(Error::usage(
                    "find needs --os, --os-version and --dcos",
                    "e.g. dcos-images find --os centos --os-version 7.8 --dcos 2.1.1 --region us-west-2",
                ));
            }
        }
        Ok(Invocation { root, config, command: cli.command, ignore })
    }

    fn load_tree(&self) -> Result<Tree, Error> {
        Ok(Tree::load(&self.root, &self.config.tree.exclude)?)
    }

    /// Where the build directories `filter` can select are (see
    /// [`browse::Filter::admits`]), walking no other part of the tree.
    fn layout_for(&self, filter: &browse::Filter) -> Result<Layout, Error> {
        Ok(Layout::discover(&self.root, &self.config.tree.exclude, &|depth, name| filter.admits(depth, name))?)
    }
}

/// Parses the process's arguments, runs, and returns the exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let code = match Invocation::from_cli(cli).and_then(run) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::ExitCode::from(code)
}

pub fn run(inv: Invocation) -> Result<u8, Error> {
    match &inv.command {
        Command::Validate { paths, format, codes, .. } => {
            if *codes {
                for c in Code::ALL {
                    println!("{:<30} {:<8} {}", c.as_str(), format!("{:?}", c.severity()).to_lowercase(), c.description());
                }
                return Ok(exit::SUCCESS);
            }
            // Each build directory is read while it is checked and dropped
            // after, and only the selected ones are checked.
            let layout = Layout::discover(&inv.root, &inv.config.tree.exclude, &|_, _| true)?;
            let selection = select(layout.dirs.iter(), &layout.misplaced, &inv.root, paths)?;
            let diags: Vec<_> = validate::validate_layout(&layout, validate::Rules::of(&inv.config), &|d| selection.checks(d))
                .into_iter()
                .filter(|d| !inv.ignore.contains(&d.code))
                .filter(|d| selection.keeps(d, &layout.base_images, layout.dirs.iter()))
                .collect();
            validate::output::write(&mut std::io::stdout().lock(), *format, &diags, selection.count(layout.dirs.len()))
                .map_err(|e| Error::usage(format!("cannot write the diagnostics: {e}"), "check where standard output goes"))?;
            let code = if validate::counts(&diags).0 > 0 { exit::NEGATIVE } else { exit::SUCCESS };
            // The process ends next: the findings and the tree's layout are
            // left to it rather than freed one by one (thousands of
            // allocations, most made on other threads).
            std::mem::forget((diags, layout));
            Ok(code)
        }
        Command::List { filter, format } => {
            print!("{}", browse::render_list(&browse::rows(&inv.layout_for(filter)?, filter), *format));
            Ok(exit::SUCCESS)
        }
        Command::Find { filter, format } => {
            // The directories asked about are read first; the whole tree only
            // when none matches, to name the nearest ones.
            let all_regions = Filter { region: None, ..filter.clone() };
            let outcome = match browse::find(&browse::rows(&inv.layout_for(filter)?, &all_regions), filter) {
                FindOutcome::NotFound { nearest, .. } if nearest.is_empty() => {
                    browse::find(&browse::rows(&inv.layout_for(&Filter::default())?, &Filter::default()), filter)
                }
                outcome => outcome,
            };
            match outcome {
                FindOutcome::Found(found) => {
                    match format {
                        FindFormat::Text => found.iter().for_each(|(image, region, path)| println!("{image} {region} {path}")),
                        FindFormat::Json => {
                            let items: Vec<_> = found
                                .iter()
                                .map(|(image, region, path)| serde_json::json!({"image": image, "region": region, "path": path}))
                                .collect();
                            println!("{}", serde_json::to_string_pretty(&items).expect("serializes"));
                        }
                    }
                    Ok(exit::SUCCESS)
                }
                FindOutcome::NotFound { reason, nearest } => {
                    eprintln!("{reason}");
                    if nearest.is_empty() {
                        eprintln!("nothing near it in the tree; `dcos-images tree` shows what there is");
                    } else {
                        eprintln!("nearest:");
                        for r in &nearest {
                            let images = if r.images.is_empty() {
                                "not qualified".to_owned()
                            } else {
                                r.images.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
                            };
                            eprintln!("  {}  {images}", r.path);
                        }
                    }
                    Ok(exit::NEGATIVE)
                }
            }
        }
        Command::Changed { base, head, format } => {
            let changed = crate::changed::changed(&inv.root, &inv.config, base, head)?;
            if let Some(note) = &changed.note {
                eprintln!("{note}");
            }
            print!("{}", crate::changed::render(&changed.build_dirs, *format));
            Ok(exit::SUCCESS)
        }
        Command::Tree => {
            let all = Filter::default();
            print!("{}", browse::render_tree(&browse::rows(&inv.layout_for(&all)?, &all)));
            Ok(exit::SUCCESS)
        }
        Command::BaseImages(BaseImagesCommand::Refresh { paths, check }) => {
            let prefixes = paths.iter().map(|p| relative_to_root(&inv.root, p)).collect::<Result<Vec<_>, _>>()?;
            crate::base_images_refresh::run_blocking(&inv.root, &inv.config, &prefixes, *check)
        }
        Command::Site { out } => {
            let all = Filter::default();
            let options = crate::site::SiteOptions {
                repository_url: crate::site::repository_url(&inv.root, &inv.config),
                rules: validate::Rules::of(&inv.config),
            };
            let written = crate::site::write(&inv.layout_for(&all)?, out, &options).map_err(|e| {
                Error::usage(format!("cannot write the site into {}: {e}", out.display()), "pass --out a directory you can write")
            })?;
            for path in written {
                println!("wrote {}", path.display());
            }
            Ok(exit::SUCCESS)
        }
        Command::Schemas { out, check } => schemas(&inv.root.join(out), *check),
        Command::Migrate { paths, check } => {
            let tree = inv.load_tree()?;
            let selection = select(tree.dirs.iter().map(|d| &d.dir), &tree.misplaced, &inv.root, paths)?;
            let dirs: Vec<String> = match selection.dirs {
                Some(d) => d.into_iter().collect(),
                None => tree.dirs.iter().map(|d| d.dir.rel.clone()).collect(),
            };
            crate::migrate::run(&inv.root, &tree, &dirs, *check)
        }
        Command::Destroy { run_ids, all, keep_images, run_dir } => {
            crate::pipeline::destroy_runs(&run_root(run_dir.as_deref())?, run_ids, *all, *keep_images)
        }
        Command::Report { run_dirs, pr, out, build_url } => {
            crate::pipeline::report_blocking(&inv.root, run_dirs, *pr, out, build_url.as_deref())
        }
        Command::Gc { older_than, regions, dry_run, json, run_dir } => {
            let tree = inv.load_tree()?;
            let opts = crate::gc::GcOptions {
                older_than: *older_than,
                regions: regions.clone(),
                dry_run: *dry_run,
                json: *json,
                run_root: run_root(run_dir.as_deref())?,
            };
            crate::gc::run_blocking(&tree, &opts)
        }
        Command::Qualify {
            build_dirs,
            dry_run,
            no_publish,
            run_dir,
            publish_branch,
            keep_cluster,
            keep_images,
            jobs,
            keyword,
            tests,
            build_url,
            pr,
            no_comment,
            rebuild,
            retries,
        } => {
            let tree = inv.load_tree()?;
            let run_root = run_root(run_dir.as_deref())?;
            let opts = crate::pipeline::QualifyOptions {
                build_dirs: build_dirs.clone(),
                dry_run: *dry_run,
                no_publish: *no_publish,
                run_root,
                publish_branch: publish_branch.clone(),
                keep_cluster: *keep_cluster,
                keep_images: *keep_images,
                jobs: *jobs,
                selection: crate::pipeline::test_command::Selection { keyword: keyword.clone(), tests: tests.clone() },
                build_url: build_url.clone(),
                pr: *pr,
                no_comment: *no_comment,
                cluster_up: None,
                rebuild: *rebuild,
                retries: *retries,
            };
            crate::pipeline::qualify_blocking(&inv.root, &tree, &inv.config, &opts)
        }
        Command::Cluster(ClusterCommand::Up { build_dir, image, ttl, run_dir }) => {
            let tree = inv.load_tree()?;
            let opts = crate::pipeline::QualifyOptions {
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
                cluster_up: Some(crate::pipeline::ClusterUp { images: image.iter().cloned().collect(), ttl: *ttl }),
                rebuild: false,
                retries: None,
            };
            crate::pipeline::qualify_blocking(&inv.root, &tree, &inv.config, &opts)
        }
        Command::Cluster(ClusterCommand::Down { run_id, run_dir }) => {
            crate::pipeline::destroy_blocking(&run_root(run_dir.as_deref())?, run_id, false)
        }
        Command::Runs { run_dir, json } => {
            let runs = crate::journal::all(&run_root(run_dir.as_deref())?);
            if *json {
                println!("{}", serde_json::to_string_pretty(&runs).expect("journals serialize"));
            } else {
                print!("{}", crate::journal::render_runs(&runs));
            }
            Ok(exit::SUCCESS)
        }
    }
}

/// The parent of the run directories, created and made absolute.
fn run_root(given: Option<&Path>) -> Result<PathBuf, Error> {
    let dir = given.map(Path::to_owned).unwrap_or_else(crate::pipeline::default_run_root);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Write { path: dir.clone(), source })?;
    dir.canonicalize().map_err(|source| Error::Write { path: dir.clone(), source })
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

/// A path given on the command line, relative to the tree's root and
/// `/`-separated; an error when it does not exist or lies outside the tree.
fn relative_to_root(root: &Path, p: &Path) -> Result<String, Error> {
    let abs = p.canonicalize().map_err(|e| Error::usage(format!("{}: {e}", p.display()), "pass paths of the tree that exist"))?;
    let rel = abs.strip_prefix(root).map_err(|_| {
        Error::usage(format!("{} is outside the tree {}", p.display(), root.display()), "pass --root with the tree that holds it")
    })?;
    Ok(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
}

/// Which build directories `validate PATH...` is about.
struct Selection {
    /// None: the whole tree.
    dirs: Option<BTreeSet<String>>,
    prefixes: Vec<String>,
}

fn select<'a>(
    build_dirs: impl Iterator<Item = &'a BuildDir>,
    misplaced: &[(String, String)],
    root: &Path,
    paths: &[PathBuf],
) -> Result<Selection, Error> {
    if paths.is_empty() {
        return Ok(Selection { dirs: None, prefixes: Vec::new() });
    }
    let rels: Vec<&str> = build_dirs.map(|d| d.rel.as_str()).collect();
    let mut dirs = BTreeSet::new();
    let mut prefixes = Vec::new();
    for p in paths {
        let rel = relative_to_root(root, p)?;
        let under = |d: &str| rel.is_empty() || d == rel || d.starts_with(&format!("{rel}/"));
        let below: Vec<&str> = rels.iter().copied().filter(|d| under(d)).collect();
        let picked: Vec<&str> = if below.is_empty() {
            // A file or directory inside a build directory: the deepest one holding it.
            rels.iter().copied().filter(|d| rel.starts_with(&format!("{d}/"))).max_by_key(|d| d.len()).into_iter().collect()
        } else {
            below
        };
        let misplaced_here = misplaced.iter().any(|(f, _)| under(f));
        if picked.is_empty() && !misplaced_here {
            return Err(Error::usage(
                format!("{} holds no build directory", p.display()),
                "pass a directory with packer.json at <os>/<os-version>/<cloud>/DCOS-<v>/docker-<v>[/<variant>]",
            ));
        }
        dirs.extend(picked.into_iter().map(str::to_owned));
        prefixes.push(rel);
    }
    Ok(Selection { dirs: Some(dirs), prefixes })
}

impl Selection {
    /// Whether a build directory is checked at all.
    fn checks(&self, d: &BuildDir) -> bool {
        self.dirs.as_ref().is_none_or(|dirs| dirs.contains(&d.rel))
    }

    fn keeps<'a>(
        &self,
        d: &crate::diagnostic::Diagnostic,
        bases: &BaseImagesFiles,
        mut build_dirs: impl Iterator<Item = &'a BuildDir>,
    ) -> bool {
        let Some(dirs) = &self.dirs else { return true };
        match &d.build_dir {
            Some(bd) => dirs.contains(bd),
            // A file of no build directory: a base_images.json that applies to a
            // selected directory, or a misplaced packer.json under a given path.
            None => {
                self.prefixes.iter().any(|p| p.is_empty() || d.file.starts_with(&format!("{p}/")))
                    || build_dirs.any(|x| dirs.contains(&x.rel) && base_images_for(bases, x).is_some_and(|b| b.rel == d.file))
            }
        }
    }

    fn count(&self, all: usize) -> usize {
        self.dirs.as_ref().map_or(all, BTreeSet::len)
    }
}
