//! `dcos-images migrate`: cluster profiles rewritten from terraform-dcos's
//! names to the current ones (the table in formats/profile.rs), in place and
//! atomically, everything else in the file kept.

use crate::error::{exit, Error};
use crate::formats::profile;
use crate::tree::Tree;

/// Migrates (or with `check`, only reports) the profiles of `dirs`, relative
/// build directory paths of `tree`. Exit 1 with `check` when a profile would
/// change, or when one cannot be migrated.
pub fn run(root: &std::path::Path, tree: &Tree, dirs: &[String], check: bool) -> Result<u8, Error> {
    let (mut pending, mut refused) = (0usize, 0usize);
    for d in tree.dirs.iter().filter(|d| dirs.contains(&d.dir.rel)) {
        let Some(file) = &d.profile else { continue };
        let Some(parsed) = file.value() else {
            eprintln!("{}: not migrated: it does not parse (`dcos-images validate` says where)", file.rel);
            refused += 1;
            continue;
        };
        let migration = match profile::migrate(&file.text, parsed) {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(why) => {
                eprintln!("{}: not migrated: {why}", file.rel);
                refused += 1;
                continue;
            }
        };
        pending += 1;
        for c in &migration.changes {
            println!("{}:{}: {}", file.rel, c.line, c.what);
        }
        if !check {
            let path = root.join(&file.rel);
            crate::fsutil::write_atomic(&path, migration.text.as_bytes()).map_err(|source| Error::Write { path, source })?;
        }
    }
    match (check, pending) {
        (true, 0) => eprintln!("every profile uses the current names"),
        (true, n) => eprintln!("{n} profile(s) use terraform-dcos's names: `dcos-images migrate` rewrites them"),
        (false, n) => eprintln!("migrated {n} profile(s)"),
    }
    Ok(if refused > 0 || (check && pending > 0) { exit::NEGATIVE } else { exit::SUCCESS })
}
