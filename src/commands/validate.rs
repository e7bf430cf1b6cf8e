//! `dcos-images validate`.

use super::relative_to_root;
use crate::cli::Invocation;
use crate::diagnostic::Code;
use crate::error::{exit, Error};
use crate::tree::{base_images_for, BaseImagesFiles, BuildDir, Layout};
use crate::validate::{self, output::Format};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

// Its arguments; the command's help is its doc comment in cli.rs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Build directories or directories above them (default: the whole tree).
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Do not report this code (repeatable), e.g. --ignore legacy-file.
    #[arg(long, value_name = "CODE")]
    pub ignore: Vec<String>,
    /// Print every code with its severity and meaning, then exit.
    #[arg(long)]
    pub codes: bool,
}

impl Args {
    /// The codes `--ignore` names, each checked (with a "did you mean").
    pub fn ignored(&self) -> Result<BTreeSet<Code>, Error> {
        let mut ignore = BTreeSet::new();
        for name in &self.ignore {
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
        Ok(ignore)
    }
}

pub fn run(inv: &Invocation, args: &Args) -> Result<u8, Error> {
    let ignore = args.ignored()?;
    if args.codes {
        for c in Code::ALL {
            println!("{:<30} {:<8} {}", c.as_str(), format!("{:?}", c.severity()).to_lowercase(), c.description());
        }
        return Ok(exit::SUCCESS);
    }
    // Each build directory is read while it is checked and dropped
    // after, and only the selected ones are checked; the whole tree in the
    // same pass as its walk.
    let rules = validate::Rules::of(&inv.config);
    let (layout, selection, findings) = if args.paths.is_empty() {
        let (layout, findings) = validate::validate_tree(&inv.root, &inv.config.tree.exclude, rules)?;
        (layout, Selection::whole_tree(), findings)
    } else {
        let layout = Layout::discover(&inv.root, &inv.config.tree.exclude, &|_, _| true)?;
        let selection = select(layout.dirs.iter(), &layout.misplaced, &inv.root, &args.paths)?;
        let diags = validate::validate_layout(&layout, rules, &|d| selection.checks(d));
        (layout, selection, validate::Findings::from(diags))
    };
    // Filtered as they are written, not gathered into a list first.
    let shown =
        findings.iter().filter(|d| !ignore.contains(&d.code)).filter(|d| selection.keeps(d, &layout.base_images, layout.dirs.iter()));
    let (errors, _) = validate::output::write(&mut std::io::stdout().lock(), args.format, shown, selection.count(layout.dirs.len()))
        .map_err(|e| Error::usage(format!("cannot write the diagnostics: {e}"), "check where standard output goes"))?;
    let code = if errors > 0 { exit::NEGATIVE } else { exit::SUCCESS };
    // The process ends next: the findings and the tree's layout are
    // left to it rather than freed one by one (thousands of
    // allocations, most made on other threads).
    std::mem::forget((findings, layout));
    Ok(code)
}

/// Which build directories `validate PATH...` is about.
pub struct Selection {
    /// None: the whole tree.
    pub dirs: Option<BTreeSet<String>>,
    prefixes: Vec<String>,
}

pub fn select<'a>(
    build_dirs: impl Iterator<Item = &'a BuildDir>,
    misplaced: &[(String, String)],
    root: &Path,
    paths: &[PathBuf],
) -> Result<Selection, Error> {
    if paths.is_empty() {
        return Ok(Selection::whole_tree());
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
    fn whole_tree() -> Selection {
        Selection { dirs: None, prefixes: Vec::new() }
    }

    /// Whether a build directory is checked at all.
    pub fn checks(&self, d: &BuildDir) -> bool {
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
            Some(bd) => dirs.contains(&**bd),
            // A file of no build directory: a base_images.json that applies to a
            // selected directory, or a misplaced packer.json under a given path.
            None => {
                self.prefixes.iter().any(|p| p.is_empty() || d.file.starts_with(&format!("{p}/")))
                    || build_dirs.any(|x| dirs.contains(&x.rel) && base_images_for(bases, x).is_some_and(|b| *b.rel == *d.file))
            }
        }
    }

    pub fn count(&self, all: usize) -> usize {
        self.dirs.as_ref().map_or(all, BTreeSet::len)
    }
}
