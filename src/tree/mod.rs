//! The compatibility tree: discovery of build directories (a walk through
//! directory descriptors, [`fs`]) and the loading of every file they hold
//! into typed values.
//!
//! A build directory is a directory holding `packer.json` at
//! `<os>/<os-version>/<cloud>/DCOS-<version>/docker-<version>[/<variant>]`.

pub mod fs;
pub mod version;

use crate::diagnostic::{Code, FileProblem};
use crate::formats::{
    base_images::BaseImages, dcos_images::DcosImages, history::BuildHistory, packer::PackerTemplate, publish_config::PublishTestConfig,
    tfvars::Tfvars, Parsed,
};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

pub const PACKER: &str = "packer.json";
pub const BASE_IMAGES: &str = "base_images.json";
pub const DCOS_IMAGES: &str = "dcos_images.yaml";
pub const HISTORY: &str = "packer_build_history.json";
pub const PUBLISH_CONFIG: &str = "publish_and_test_config.yaml";
pub const PROFILE: &str = "cluster_profile.tfvars";
pub const LEGACY_PROFILE: &str = "desired_cluster_profile.tfvars";
pub const INSTALL_SCRIPT: &str = "install_dcos_prerequisites.sh";
pub const LEGACY_SETUP: &str = "setup.sh";

/// Where a build directory sits in the tree: what it qualifies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Coordinates {
    pub os: String,
    pub os_version: String,
    pub cloud: String,
    pub dcos_version: String,
    pub docker_version: String,
    pub variant: Option<String>,
}

impl Coordinates {
    /// Reads the coordinates from a path relative to the root, or says why the
    /// path is not a build directory's.
    pub fn from_rel(rel: &str) -> Result<Coordinates, String> {
        let parts: Vec<&str> = rel.split('/').collect();
        if !(5..=6).contains(&parts.len()) {
            return Err(format!("it is {} levels deep; build directories are 5 or 6 levels deep", parts.len()));
        }
        let dcos = parts[3].strip_prefix("DCOS-").filter(|v| !v.is_empty());
        let docker = parts[4].strip_prefix("docker-").filter(|v| !v.is_empty());
        match (dcos, docker) {
            (Some(dcos), Some(docker)) => Ok(Coordinates {
                os: parts[0].to_owned(),
                os_version: parts[1].to_owned(),
                cloud: parts[2].to_owned(),
                dcos_version: dcos.to_owned(),
                docker_version: docker.to_owned(),
                variant: parts.get(5).map(|v| (*v).to_owned()),
            }),
            (None, _) => Err(format!("its fourth level `{}` is not `DCOS-<version>`", parts[3])),
            (_, None) => Err(format!("its fifth level `{}` is not `docker-<version>`", parts[4])),
        }
    }

    /// Sorts build directories the way people read them: by OS, then versions
    /// compared as versions.
    pub fn cmp_versions(&self, other: &Coordinates) -> std::cmp::Ordering {
        use version::compare;
        self.os
            .cmp(&other.os)
            .then_with(|| compare(&self.os_version, &other.os_version))
            .then_with(|| self.cloud.cmp(&other.cloud))
            .then_with(|| compare(&self.dcos_version, &other.dcos_version))
            .then_with(|| compare(&self.docker_version, &other.docker_version))
            .then_with(|| self.variant.cmp(&other.variant))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDir {
    /// Relative to the root, `/`-separated.
    pub rel: String,
    pub abs: PathBuf,
    pub coords: Coordinates,
    /// What the walk saw in it.
    pub listing: Listing,
}

impl BuildDir {
    pub fn file(&self, name: &str) -> String {
        join_rel(&self.rel, name)
    }

    /// Its files, read through one descriptor of the directory.
    pub fn files(&self) -> DirFiles<'_> {
        self.files_in(None)
    }

    /// Its files, read through `open`, the descriptor the walk listed it
    /// with (see [`Layout::discover_with`]), when it kept one.
    pub fn files_in(&self, open: Option<fs::Dir>) -> DirFiles<'_> {
        DirFiles { dir: self, fd: open.map(Ok).map(std::cell::OnceCell::from).unwrap_or_default() }
    }

    /// Whether `path` (relative to the directory) is a file, following links.
    pub fn is_file(&self, path: &str) -> bool {
        match self.listing.kind(path) {
            Some(Seen::File) => true,
            Some(Seen::Dir) | None => false,
            Some(Seen::Other) | Some(Seen::Unknown) => self.abs.join(path).is_file(),
        }
    }

    /// Whether `path` (relative to the directory) exists, following links.
    pub fn exists(&self, path: &str) -> bool {
        match self.listing.kind(path) {
            Some(Seen::File) | Some(Seen::Dir) => true,
            None => false,
            Some(Seen::Other) | Some(Seen::Unknown) => self.abs.join(path).exists(),
        }
    }
}

/// The names of a build directory's entries as the walk saw them, so that
/// loading it opens only the files that are there and asks the filesystem
/// nothing it already answered (`validate` spends 40 % of its CPU time in
/// the kernel; on the real tree this drops 1,468 of its 12,000 system calls).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    files: Vec<String>,
    dirs: Vec<String>,
    /// Symbolic links and the like: only the filesystem knows what they are.
    others: Vec<String>,
}

enum Seen {
    File,
    Dir,
    Other,
    /// A path the listing cannot answer for: below a subdirectory, hidden
    /// (the walk skips hidden directories), or `..`.
    Unknown,
}

impl Listing {
    /// `None`: not there.
    fn kind(&self, path: &str) -> Option<Seen> {
        let mut name = path;
        while let Some(rest) = name.strip_prefix("./") {
            name = rest;
        }
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Some(Seen::Unknown);
        }
        let has = |names: &[String]| names.iter().any(|n| n == name);
        if has(&self.files) {
            Some(Seen::File)
        } else if has(&self.dirs) {
            Some(Seen::Dir)
        } else if has(&self.others) {
            Some(Seen::Other)
        } else {
            None
        }
    }
}

/// A file of the tree as read: its path, its text (for line look-ups) and what
/// its parser made of it.
#[derive(Debug)]
pub struct TreeFile<T> {
    pub rel: String,
    pub text: String,
    pub parsed: Parsed<T>,
}

impl<T> TreeFile<T> {
    pub fn value(&self) -> Option<&T> {
        self.parsed.value.as_ref()
    }
}

/// A build directory with every file it holds, parsed.
#[derive(Debug)]
pub struct LoadedBuildDir {
    pub dir: BuildDir,
    pub packer: TreeFile<PackerTemplate>,
    pub publish_config: Option<TreeFile<PublishTestConfig>>,
    /// `cluster_profile.tfvars`, else the legacy `desired_cluster_profile.tfvars`.
    pub profile: Option<TreeFile<Tfvars>>,
    pub has_legacy_profile: bool,
    pub dcos_images: Option<TreeFile<DcosImages>>,
    pub history: Option<TreeFile<BuildHistory>>,
    pub has_install_script: bool,
    /// install_dcos_prerequisites.sh, read for the mirrors it names.
    pub install_script: Option<TreeFile<()>>,
    pub has_setup_sh: bool,
}

impl LoadedBuildDir {
    /// The directory's publish/test config: the file's, or the defaults when
    /// there is none. `None` when the file exists but cannot be read.
    pub fn config(&self) -> Option<PublishTestConfig> {
        match &self.publish_config {
            None => Some(PublishTestConfig::default()),
            Some(f) => f.value().cloned(),
        }
    }

    pub fn images(&self) -> Option<&DcosImages> {
        self.dcos_images.as_ref().and_then(TreeFile::value)
    }

    pub fn history(&self) -> Option<&BuildHistory> {
        self.history.as_ref().and_then(TreeFile::value)
    }

    /// Every parser problem of every file, with the file it belongs to.
    pub fn file_problems(&self) -> Vec<(&str, &FileProblem)> {
        fn of<T>(f: &TreeFile<T>) -> impl Iterator<Item = (&str, &FileProblem)> {
            f.parsed.problems.iter().map(move |p| (f.rel.as_str(), p))
        }
        let mut out: Vec<(&str, &FileProblem)> = of(&self.packer).collect();
        if let Some(f) = &self.publish_config {
            out.extend(of(f));
        }
        if let Some(f) = &self.profile {
            out.extend(of(f));
        }
        if let Some(f) = &self.dcos_images {
            out.extend(of(f));
        }
        if let Some(f) = &self.history {
            out.extend(of(f));
        }
        if let Some(f) = &self.install_script {
            out.extend(of(f));
        }
        out
    }
}

/// A whole tree, loaded.
#[derive(Debug)]
pub struct Tree {
    pub root: PathBuf,
    /// Sorted by coordinates, versions compared as versions.
    pub dirs: Vec<LoadedBuildDir>,
    /// `base_images.json` files keyed by the directory that holds them.
    pub base_images: BaseImagesFiles,
    /// `packer.json` files outside the layout, with the reason.
    pub misplaced: Vec<(String, String)>,
}

/// `base_images.json` files keyed by the directory that holds them.
pub type BaseImagesFiles = BTreeMap<String, TreeFile<BaseImages>>;

/// A tree as the walk found it: where its build directories are, with none of
/// their files read yet. Commands that need a few files of each directory (or
/// a few directories) start here and read only what they need.
#[derive(Debug)]
pub struct Layout {
    pub root: PathBuf,
    /// Sorted by coordinates, versions compared as versions.
    pub dirs: Vec<BuildDir>,
    /// Read with the walk: a handful of small files the checks of every
    /// build directory refer to.
    pub base_images: BaseImagesFiles,
    pub misplaced: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("cannot read the tree at {path}: {source}")]
    Walk { path: PathBuf, source: io::Error },
    #[error("the tree root {0} is not a directory")]
    NotADirectory(PathBuf),
}

impl Tree {
    /// Walks `root` and loads every build directory. Hidden directories,
    /// `target/` and the `exclude`d paths (relative to the root) are skipped.
    pub fn load(root: &Path, exclude: &[String]) -> Result<Tree, TreeError> {
        Ok(Layout::discover(root, exclude, &|_, _| true)?.load())
    }

    /// The `base_images.json` that applies to a build directory: the nearest one
    /// walking up from it, no higher than `<os>/<os-version>`.
    pub fn base_images_for(&self, dir: &BuildDir) -> Option<&TreeFile<BaseImages>> {
        base_images_for(&self.base_images, dir)
    }
}

impl Layout {
    /// Walks `root`, descending only into the directories `select` admits
    /// (given their depth below the root and their name: the layout names
    /// OS, versions and variant, so a command about a few build directories
    /// walks only their part of the tree), and reads only the
    /// `base_images.json` files. Hidden directories, `target/` and the
    /// `exclude`d paths (relative to the root) are skipped.
    pub fn discover(root: &Path, exclude: &[String], select: &(dyn Fn(usize, &str) -> bool + Sync)) -> Result<Layout, TreeError> {
        Ok(Layout::discover_with(root, exclude, select, &|_, _, _| ())?.0)
    }

    /// As [`Layout::discover`], and `each` called with every build directory
    /// (and the base_images.json files of its OS version's subtree, the
    /// only ones it can refer to) on the thread that walked it, as soon as
    /// that subtree's walk ends: the work on a directory starts while its
    /// listing is fresh, on threads already running, instead of on threads
    /// spawned again once the whole tree is walked. `each` is also given
    /// the descriptor the walk listed the directory with, when it kept one,
    /// to read its files through ([`BuildDir::files_in`]): opening every
    /// build directory a second time was 432 of `validate`'s 3,600 system
    /// calls. The values are in the layout's order: `values[i]` is `each`
    /// of `layout.dirs[i]`.
    pub fn discover_with<U: Send>(
        root: &Path,
        exclude: &[String],
        select: &(dyn Fn(usize, &str) -> bool + Sync),
        each: &(dyn Fn(&BuildDir, Option<fs::Dir>, &BaseImagesFiles) -> U + Sync),
    ) -> Result<(Layout, Vec<U>), TreeError> {
        if !root.is_dir() {
            return Err(TreeError::NotADirectory(root.to_owned()));
        }
        let admits = |depth: usize, rel: &str, name: &str| {
            !(name.starts_with('.') || name == "target" || !select(depth, name) || exclude.iter().any(|x| x.trim_end_matches('/') == rel))
        };
        let root_dir = fs::Dir::open(root).map_err(|source| TreeError::Walk { path: root.to_owned(), source })?;
        // The OS and OS-version levels first, then each OS version's subtree
        // on its own core: the walk's system calls were a fifth of
        // `validate`'s time, all on one core before any file was read.
        let mut found = Found::default();
        let mut os_versions = Vec::new();
        let limit = open_file_limit();
        // The build directories of the walks running at once, and the OS
        // versions waiting for theirs, each a share of the limit.
        let (keep_open, keep_deeper) = (open_share(limit, threads()), open_share(limit, 1));
        Walk { root, max_depth: Some(2), admits: &admits, keep_open, keep_deeper }.dir(root_dir, "", 0, &mut found, &mut os_versions)?;
        let subtrees = parallel_map(os_versions, |(rel, dir)| {
            let dir = match dir {
                Some(dir) => dir,
                None => fs::Dir::open(&root.join(&rel)).map_err(|source| TreeError::Walk { path: root.join(&rel), source })?,
            };
            let mut found = Found::default();
            Walk { root, max_depth: None, admits: &admits, keep_open, keep_deeper }.dir(dir, &rel, 2, &mut found, &mut Vec::new())?;
            let (placed, open) = Placed::of(root, found);
            let values = placed.each(open, each);
            Ok::<_, TreeError>((placed, values))
        });
        let mut subtrees = subtrees.into_iter().collect::<Result<Vec<_>, _>>()?;
        // The OS versions in their order: each one's directories sort
        // after those of every smaller OS version.
        subtrees.sort_by(|(a, _), (b, _)| match (a.dirs.first(), b.dirs.first()) {
            (Some(a), Some(b)) => by_versions(a, b),
            (a, b) => a.is_some().cmp(&b.is_some()),
        });
        let (mut all, open) = Placed::of(root, found);
        let above = all.each(open, each);
        // Sized once: grown by doubling, their copies were fresh pages.
        let count = above.len() + subtrees.iter().map(|(p, _)| p.dirs.len()).sum::<usize>();
        let (mut dirs, mut values) = (Vec::with_capacity(count), Vec::with_capacity(count));
        dirs.append(&mut all.dirs);
        values.extend(above);
        for (mut placed, placed_values) in subtrees {
            dirs.append(&mut placed.dirs);
            values.extend(placed_values);
            all.base_images.extend(placed.base_images);
            all.misplaced.extend(placed.misplaced);
        }
        // Nearly always in order already (each OS version sorted on its
        // own core, the OS versions sorted above): then nothing moves.
        // Otherwise (build directories above the OS versions, or two OS
        // versions that compare equal), sorted with their values.
        if !dirs.is_sorted_by(|a, b| by_versions(a, b).is_le()) {
            let mut pairs: Vec<(BuildDir, U)> = dirs.into_iter().zip(values).collect();
            // A total order (paths are unique): the unstable sort gives the same.
            pairs.sort_unstable_by(|(a, _), (b, _)| by_versions(a, b));
            (dirs, values) = pairs.into_iter().unzip();
        }
        Ok((Layout { root: root.to_owned(), dirs, base_images: all.base_images, misplaced: all.misplaced }, values))
    }

    /// Reads and parses every file of every build directory, on all cores.
    pub fn load(self) -> Tree {
        let dirs = parallel_map(self.dirs, load_build_dir);
        Tree { root: self.root, dirs, base_images: self.base_images, misplaced: self.misplaced }
    }

    pub fn base_images_for(&self, dir: &BuildDir) -> Option<&TreeFile<BaseImages>> {
        base_images_for(&self.base_images, dir)
    }
}

/// The order of build directories: [`Coordinates::cmp_versions`], then
/// their paths (unique), so that it is total.
fn by_versions(a: &BuildDir, b: &BuildDir) -> std::cmp::Ordering {
    a.coords.cmp_versions(&b.coords).then_with(|| a.rel.cmp(&b.rel))
}

/// The `base_images.json` that applies to a build directory: the nearest one
/// walking up from it, no higher than `<os>/<os-version>`.
pub fn base_images_for<'a>(files: &'a BaseImagesFiles, dir: &BuildDir) -> Option<&'a TreeFile<BaseImages>> {
    // `a/b/c` looks at `a/b/c`, then `a/b`; never at `a`.
    let rel = dir.rel.as_str();
    let first = rel.find('/')?;
    let above = rel.rmatch_indices('/').map(|(i, _)| i).filter(move |&i| i > first);
    std::iter::once(rel.len()).chain(above).find_map(|end| files.get(&rel[..end]))
}

/// Only a build directory's `dcos_images.yaml`: what the cross-directory
/// checks need of a directory that is not itself being checked.
pub fn read_dcos_images(dir: &BuildDir) -> Option<TreeFile<DcosImages>> {
    dir.files().read(DCOS_IMAGES, DcosImages::parse)
}

/// What a walk found, relative to the root: the directories holding a
/// packer.json, each with its listing, and the base_images.json files.
#[derive(Default)]
struct Found {
    /// With the descriptors of the first [`Walk::keep_open`], kept open
    /// for reading their files.
    packer_dirs: Vec<(String, Listing, Option<fs::Dir>)>,
    /// Read where they are found, keyed by the directory holding them.
    base_images: Vec<(String, TreeFile<BaseImages>)>,
}

/// What a walk found, as build directories (in the layout's order), the
/// base_images.json files, and the packer.json files outside the layout.
struct Placed {
    dirs: Vec<BuildDir>,
    base_images: BaseImagesFiles,
    misplaced: Vec<(String, String)>,
}

/// How many build directories a walk of one OS version keeps open until
/// their files are read (the rest are opened again): at most 128, and
/// the walks that run at once keep at most a quarter of the process's
/// limit on open files between them (`ulimit -n`: 1,024 by default on
/// Linux, 256 on macOS, where eight walks keep 8 each).
fn open_share(limit: Option<u64>, walks: usize) -> usize {
    let share = limit.map_or(u64::MAX, |limit| limit / 4 / walks.max(1) as u64);
    share.min(128) as usize
}

/// The soft limit on open files; none when unlimited or unknown.
fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    (known && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// The threads [`parallel_map`] works on.
fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8)
}

impl Placed {
    /// The build directories found, sorted, and beside them (`open[i]` of
    /// `dirs[i]`) the descriptors the walk kept. Sorted here, on the walk's
    /// core: the sort of the whole tree then meets sorted runs and only
    /// checks them (comparing versions, it was a tenth of the work left on
    /// one core).
    fn of(root: &Path, found: Found) -> (Placed, Vec<Option<fs::Dir>>) {
        let mut misplaced = Vec::new();
        let mut dirs = Vec::new();
        for (rel, listing, fd) in found.packer_dirs {
            match Coordinates::from_rel(&rel) {
                Ok(coords) => dirs.push((BuildDir { abs: root.join(&rel), rel, coords, listing }, fd)),
                Err(why) => misplaced.push((join_rel(&rel, PACKER), why)),
            }
        }
        dirs.sort_unstable_by(|(a, _), (b, _)| by_versions(a, b));
        let (dirs, open) = dirs.into_iter().unzip();
        (Placed { dirs, base_images: found.base_images.into_iter().collect(), misplaced }, open)
    }

    /// `each` of every build directory, with its descriptor (see
    /// [`Layout::discover_with`]).
    fn each<U>(&self, open: Vec<Option<fs::Dir>>, each: &dyn Fn(&BuildDir, Option<fs::Dir>, &BaseImagesFiles) -> U) -> Vec<U> {
        self.dirs.iter().zip(open).map(|(d, open)| each(d, open, &self.base_images)).collect()
    }
}

/// A walk of the tree below `root`, into the subdirectories `admits`
/// (given their depth, relative path and name), in the filesystem's order.
/// With `max_depth`, the directories at that depth are handed back (the
/// first `keep_deeper` of them open) instead of being entered.
struct Walk<'a> {
    root: &'a Path,
    max_depth: Option<usize>,
    admits: &'a (dyn Fn(usize, &str, &str) -> bool + Sync),
    /// How many build directories it keeps open (see [`open_share`]).
    keep_open: usize,
    /// How many of the directories at `max_depth` it hands over open; the
    /// others are handed over by their paths alone.
    keep_deeper: usize,
}

impl Walk<'_> {
    /// Lists `dir` (`rel` below the root, `depth` levels deep) and walks on.
    fn dir(
        &self,
        dir: fs::Dir,
        rel: &str,
        depth: usize,
        found: &mut Found,
        deeper: &mut Vec<(String, Option<fs::Dir>)>,
    ) -> Result<(), TreeError> {
        let walk_error = |rel: &str, source: io::Error| TreeError::Walk { path: self.root.join(rel), source };
        let mut listing = Listing::default();
        let mut subdirs: Vec<std::ffi::CString> = Vec::new();
        dir.for_each_entry(|name, kind| {
            // The UTF-8 check first: `to_string_lossy` walks every name in
            // chunks, three times the cost, for the few that are not.
            let text = match name.to_str() {
                Ok(text) => std::borrow::Cow::Borrowed(text),
                Err(_) => name.to_string_lossy(),
            };
            match kind {
                fs::EntryKind::File => {
                    if text == BASE_IMAGES {
                        let file = parse_read(dir.read(BASE_IMAGES), join_rel(rel, BASE_IMAGES), BaseImages::parse);
                        // (None: it vanished since the listing.)
                        found.base_images.extend(file.map(|f| (rel.to_owned(), f)));
                    }
                    listing.files.push(text.into_owned());
                }
                fs::EntryKind::Dir => {
                    subdirs.push(name.to_owned());
                    listing.dirs.push(text.into_owned());
                }
                fs::EntryKind::Other => listing.others.push(text.into_owned()),
            }
        })
        .map_err(|e| walk_error(rel, e))?;
        for (name, text) in subdirs.iter().zip(listing.dirs.iter()) {
            let child_rel = join_rel(rel, text);
            if !(self.admits)(depth + 1, &child_rel, text) {
                continue;
            }
            let child = dir.open_dir(name).map_err(|e| walk_error(&child_rel, e))?;
            if Some(depth + 1) == self.max_depth {
                let keep = deeper.len() < self.keep_deeper;
                deeper.push((child_rel, keep.then_some(child)));
            } else {
                self.dir(child, &child_rel, depth + 1, found, deeper)?;
            }
        }
        if listing.files.iter().any(|f| f == PACKER) {
            let keep = found.packer_dirs.len() < self.keep_open;
            found.packer_dirs.push((rel.to_owned(), listing, keep.then_some(dir)));
        }
        Ok(())
    }
}

/// `dir/name`, or `name` below the root. Concatenated, not formatted: a
/// `format!` of two strings took 700 instructions, for each file and
/// directory of the tree (a twentieth of `list`).
fn join_rel(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        return name.to_owned();
    }
    let mut path = String::with_capacity(dir.len() + 1 + name.len());
    path.push_str(dir);
    path.push('/');
    path.push_str(name);
    path
}

/// Parses a file's bytes, or says why they could not be read as one.
/// `None` when the file does not exist. A file that exists but cannot be
/// read is a parse error of that file, not a crash.
fn parse_read<T>(read: io::Result<Vec<u8>>, rel: String, parse: impl FnOnce(&str) -> Parsed<T>) -> Option<TreeFile<T>> {
    match read {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => {
                let parsed = parse(&text);
                Some(TreeFile { rel, text, parsed })
            }
            Err(_) => Some(TreeFile {
                rel,
                text: String::new(),
                parsed: Parsed::failed(FileProblem::new(Code::ParseError, None, "the file is not UTF-8 text", "save it as UTF-8")),
            }),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => Some(TreeFile {
            rel,
            text: String::new(),
            parsed: Parsed::failed(FileProblem::new(Code::ParseError, None, format!("cannot read the file: {e}"), "check its permissions")),
        }),
    }
}

/// A build directory's files, read relative to one descriptor of the
/// directory, opened when the first file is read.
pub struct DirFiles<'a> {
    dir: &'a BuildDir,
    fd: std::cell::OnceCell<io::Result<fs::Dir>>,
}

impl DirFiles<'_> {
    /// The file `name`, read and parsed; `None` when the walk saw no such
    /// file (a link is opened to find out).
    pub fn read<T>(&self, name: &str, parse: impl FnOnce(&str) -> Parsed<T>) -> Option<TreeFile<T>> {
        match self.dir.listing.kind(name) {
            Some(Seen::Dir) | None => None,
            Some(_) => {
                let read = match self.fd.get_or_init(|| fs::Dir::open(&self.dir.abs)) {
                    Ok(fd) => fd.read(name),
                    Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                };
                parse_read(read, self.dir.file(name), parse)
            }
        }
    }
}

pub fn load_build_dir(dir: BuildDir) -> LoadedBuildDir {
    load_build_dir_in(dir, None)
}

/// As [`load_build_dir`], reading through `open` (see
/// [`BuildDir::files_in`]).
pub fn load_build_dir_in(dir: BuildDir, open: Option<fs::Dir>) -> LoadedBuildDir {
    let files = dir.files_in(open);
    let packer = files.read(PACKER, PackerTemplate::parse).unwrap_or_else(|| TreeFile {
        rel: dir.file(PACKER),
        text: String::new(),
        parsed: Parsed::failed(FileProblem::new(Code::MissingFile, None, "packer.json vanished while reading the tree", "run again")),
    });
    let profile = files.read(PROFILE, Tfvars::parse);
    let has_legacy_profile = dir.is_file(LEGACY_PROFILE);
    let profile = match profile {
        Some(p) => Some(p),
        None if has_legacy_profile => files.read(LEGACY_PROFILE, Tfvars::parse),
        None => None,
    };
    let publish_config = files.read(PUBLISH_CONFIG, PublishTestConfig::parse);
    let dcos_images = files.read(DCOS_IMAGES, DcosImages::parse);
    let history = files.read(HISTORY, BuildHistory::parse);
    let install_script = files.read(INSTALL_SCRIPT, crate::formats::prerequisites::parse);
    drop(files);
    LoadedBuildDir {
        packer,
        publish_config,
        profile,
        has_legacy_profile,
        dcos_images,
        history,
        has_install_script: dir.is_file(INSTALL_SCRIPT),
        install_script,
        has_setup_sh: dir.is_file(LEGACY_SETUP),
        dir,
    }
}

/// Maps `items` on all cores, keeping their order. Each thread takes the
/// next item when it is done with one, so a few large items (an OS version
/// with most of the tree) do not leave a core idle.
pub fn parallel_map<T: Send, U: Send>(items: Vec<T>, f: impl Fn(T) -> U + Sync) -> Vec<U> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let threads = threads();
    // A thread costs more than a few small files.
    if threads <= 1 || items.len() < 16 {
        return items.into_iter().map(f).collect();
    }
    let count = items.len();
    let items: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let next = AtomicUsize::new(0);
    let (f, items, next) = (&f, &items, &next);
    let mut done: Vec<(usize, U)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i).and_then(|m| m.lock().expect("taken once").take()) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a loader thread panicked")).collect()
    });
    debug_assert_eq!(done.len(), count);
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, u)| u).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_directories_come_in_order_with_their_values() {
        // `7` and `7.0` are one version to `compare`, so their directories
        // interleave: the OS versions' sorted runs do not simply follow
        // each other, and the whole list is sorted with its values.
        let tmp = tempfile::tempdir().unwrap();
        let dirs = [
            "centos/7/aws/DCOS-2.1.1/docker-19.03.12",
            "centos/7.0/aws/DCOS-2.0.0/docker-19.03.12",
            "centos/7/aws/DCOS-1.13.0/docker-18.09.2-ce",
            "centos/7.10/aws/DCOS-2.1.1/docker-19.03.12",
            "centos/7.9/aws/DCOS-2.1.1/docker-19.03.12/selinux",
            "centos/7.9/aws/DCOS-2.1.1/docker-19.03.12",
            "coreos/1235.12.0/aws/DCOS-1.10.0/docker-1.12.6",
        ];
        for d in dirs {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
            std::fs::write(tmp.path().join(d).join(PACKER), "{}").unwrap();
        }
        let (layout, values) = Layout::discover_with(tmp.path(), &[], &|_, _| true, &|d, _, _| d.rel.clone()).unwrap();
        let found: Vec<&str> = layout.dirs.iter().map(|d| d.rel.as_str()).collect();
        assert_eq!(
            found,
            [
                "centos/7/aws/DCOS-1.13.0/docker-18.09.2-ce",
                "centos/7.0/aws/DCOS-2.0.0/docker-19.03.12",
                "centos/7/aws/DCOS-2.1.1/docker-19.03.12",
                "centos/7.9/aws/DCOS-2.1.1/docker-19.03.12",
                "centos/7.9/aws/DCOS-2.1.1/docker-19.03.12/selinux",
                "centos/7.10/aws/DCOS-2.1.1/docker-19.03.12",
                "coreos/1235.12.0/aws/DCOS-1.10.0/docker-1.12.6",
            ]
        );
        assert_eq!(values, found, "each value beside its directory");
    }

    #[test]
    fn directories_are_read_through_the_walks_descriptors_up_to_a_limit() {
        // More build directories in one OS version than are kept open:
        // each is read, the first ones through the walk's descriptor, the
        // rest opened again.
        let tmp = tempfile::tempdir().unwrap();
        let kept = open_share(open_file_limit(), threads());
        let count = kept + 5;
        for i in 0..count {
            let dir = tmp.path().join(format!("centos/7.9/aws/DCOS-2.1.1/docker-19.03.{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(PACKER), format!("{{\"n\": {i}}}")).unwrap();
        }
        let (layout, values) = Layout::discover_with(tmp.path(), &[], &|_, _| true, &|d, open, _| {
            let kept = open.is_some();
            let text = d.files_in(open).read(PACKER, |t| Parsed::ok(t.to_owned())).and_then(|f| f.parsed.value);
            (kept, text)
        })
        .unwrap();
        assert_eq!(layout.dirs.len(), count);
        assert_eq!(values.iter().filter(|(open, _)| *open).count(), kept);
        for (d, (_, text)) in layout.dirs.iter().zip(&values) {
            let i = d.rel.rsplit('.').next().unwrap();
            assert_eq!(text.as_deref(), Some(format!("{{\"n\": {i}}}").as_str()), "{}", d.rel);
        }
    }

    #[test]
    fn walks_keep_a_share_of_the_open_file_limit() {
        assert_eq!(open_share(None, 8), 128);
        assert_eq!(open_share(Some(1024), 2), 128);
        assert_eq!(open_share(Some(1024), 8), 32);
        assert_eq!(open_share(Some(256), 8), 8);
        assert_eq!(open_share(Some(16), 8), 0);
        assert_eq!(open_share(Some(1024), 0), 128);
    }

    #[test]
    fn coordinates_from_paths() {
        let c = Coordinates::from_rel("centos/7.8/aws/DCOS-2.1.1/docker-19.03.9-ce/selinux_enforcing").unwrap();
        assert_eq!((c.os.as_str(), c.os_version.as_str(), c.cloud.as_str()), ("centos", "7.8", "aws"));
        assert_eq!((c.dcos_version.as_str(), c.docker_version.as_str()), ("2.1.1", "19.03.9-ce"));
        assert_eq!(c.variant.as_deref(), Some("selinux_enforcing"));
        assert!(Coordinates::from_rel("centos/7.8/aws/DCOS-2.1.1").unwrap_err().contains("4 levels"));
        assert!(Coordinates::from_rel("centos/7.8/aws/2.1.1/docker-1").unwrap_err().contains("DCOS-"));
        assert!(Coordinates::from_rel("centos/7.8/aws/DCOS-2.1.1/19.03").unwrap_err().contains("docker-"));
    }
}
