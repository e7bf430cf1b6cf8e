//! Diagnostics: what the validator (and every parser) reports about the tree.
//!
//! Codes are stable: CI configurations and `--ignore` refer to them by name.

use serde::Serialize;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    /// The name serde writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

macro_rules! codes {
    ($($variant:ident => $name:literal, $severity:ident, $doc:literal;)*) => {
        /// Every diagnostic code, with its default severity.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $(#[doc = $doc] $variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity,)* }
            }

            pub fn description(self) -> &'static str {
                match self { $(Code::$variant => $doc,)* }
            }
        }
    };
}

codes! {
    ParseError => "parse-error", Error, "not valid JSON / YAML / tfvars";
    Layout => "layout", Error, "a packer.json outside <os>/<os-version>/<cloud>/DCOS-<v>/docker-<v>[/<variant>]";
    MissingFile => "missing-file", Error, "a file packer.json references, install_dcos_prerequisites.sh, or a cluster profile is missing";
    PathEscape => "path-escape", Error, "packer.json references a file outside its build directory";
    UnknownKey => "unknown-key", Error, "a key publish_and_test_config.yaml does not know";
    InvalidValue => "invalid-value", Error, "a value of the wrong type or outside the allowed values";
    MissingBaseImages => "missing-base-images", Error, "no base_images.json applies to the build directory";
    NoBaseImageForRegion => "no-base-image-for-region", Error, "base_images.json lacks the builder's region";
    MalformedImageId => "malformed-image-id", Error, "an image id that is not ami- and 8 or 17 hex digits";
    SourceImageMismatch => "source-image-mismatch", Warning, "packer.json's source_ami is not the applicable base image";
    PublishedImageIsBaseImage => "published-image-is-base-image", Error, "dcos_images.yaml lists a vendor base image";
    HistoryMismatch => "history-mismatch", Error, "dcos_images.yaml disagrees with the last build in packer_build_history.json";
    RegionMismatch => "region-mismatch", Warning, "dcos_images.yaml lacks regions that ami_regions asks for";
    DcosVersionMismatch => "dcos-version-mismatch", Error, "DCOS-<v> differs from the cluster profile's DC/OS version";
    DescriptionMismatch => "description-mismatch", Warning, "ami_description is not the build directory's path";
    Unpublishable => "unpublishable", Error, "publish after integration_tests while run_integration_tests is false";
    NeverWithoutImages => "never-without-images", Error, "publish step never and no dcos_images.yaml to test";
    ReservedTfvar => "reserved-tfvar", Error, "the cluster profile sets a variable the pipeline sets (ssh_user: to another user than packer's)";
    RedundantVariable => "redundant-variable", Warning, "the cluster profile sets ssh_user to packer.json's ssh_username, which the pipeline sets anyway";
    MissingVariable => "missing-variable", Error, "the cluster profile lacks what the built-in cluster module needs (admin_ips, an ssh key)";
    NoInstaller => "no-installer", Error, "no DC/OS installer can be fetched: a version with no stable download, or Enterprise, without custom_dcos_download_path";
    GoneMirror => "gone-mirror", Warning, "install_dcos_prerequisites.sh names a package mirror that no longer exists (mirrorlist.centos.org)";
    UnknownVariable => "unknown-variable", Error, "the cluster profile sets a variable that neither vocabulary knows";
    LegacyVariable => "legacy-variable", Warning, "the cluster profile uses a terraform-dcos name (with the current one)";
    DuplicateKey => "duplicate-key", Error, "a key set twice in one file";
    LegacyFile => "legacy-file", Warning, "desired_cluster_profile.tfvars or setup.sh";
    ImageReused => "image-reused", Warning, "one published image id under two different OS versions";
}

impl Code {
    pub fn from_name(name: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A problem found in one file of the tree. Paths are relative to the tree root
/// and use `/`, so reports read the same on every machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    /// Shared by the findings of one directory and one file (see [`shared`]).
    pub build_dir: Option<Arc<str>>,
    pub file: Arc<str>,
    pub line: Option<usize>,
    /// Texts are borrowed where they are fixed: the real tree's thousands
    /// of findings share a few dozen hints.
    pub message: Cow<'static, str>,
    pub hint: Cow<'static, str>,
}

/// A problem found while reading one file, before it is tied to a build directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub code: Code,
    pub line: Option<usize>,
    pub message: Cow<'static, str>,
    pub hint: Cow<'static, str>,
}

impl FileProblem {
    pub fn new(code: Code, line: Option<usize>, message: impl Into<Cow<'static, str>>, hint: impl Into<Cow<'static, str>>) -> Self {
        FileProblem { code, line, message: message.into(), hint: hint.into() }
    }

    pub fn into_diagnostic(self, build_dir: Option<&str>, file: &str) -> Diagnostic {
        Diagnostic {
            code: self.code,
            severity: self.code.severity(),
            build_dir: build_dir.map(shared),
            file: shared(file),
            line: self.line,
            message: self.message,
            hint: self.hint,
        }
    }
}

/// `path` as an `Arc<str>`, the same one as the last few paths this thread
/// asked for when it is one of them: a directory's findings name it and its
/// few files again and again (the real tree's 3,274 findings name 216
/// directories and about 600 files), and a copy of both paths in each
/// finding was 480 KB of `validate`'s heap, a fresh page for every
/// eighteen findings. Compared by content, so a path freed and another
/// allocated at its address is never mistaken for it.
fn shared(path: &str) -> Arc<str> {
    const RECENT: usize = 4;
    thread_local! {
        static PATHS: RefCell<(usize, [Option<Arc<str>>; RECENT])> = const { RefCell::new((0, [None, None, None, None])) };
    }
    PATHS.with(|paths| {
        let (next, recent) = &mut *paths.borrow_mut();
        if let Some(found) = recent.iter().flatten().find(|p| ***p == *path) {
            return Arc::clone(found);
        }
        let new: Arc<str> = Arc::from(path);
        recent[*next] = Some(Arc::clone(&new));
        *next = (*next + 1) % RECENT;
        new
    })
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known name closest to `unknown`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(unknown, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The hint for an unknown key: a suggestion when one is close, else the list.
pub fn unknown_key_hint(unknown: &str, known: &[&str]) -> String {
    match did_you_mean(unknown, known) {
        Some(k) => format!("did you mean `{k}`? Known keys: {}", known.join(", ")),
        None => format!("remove it; known keys: {}", known.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_findings_paths_are_shared_and_always_its_own() {
        let finding = |dir: &str, file: &str| FileProblem::new(Code::LegacyVariable, Some(1), "m", "h").into_diagnostic(Some(dir), file);
        let (a, b) = (finding("d/1", "d/1/p.tfvars"), finding("d/1", "d/1/p.tfvars"));
        assert!(Arc::ptr_eq(&a.file, &b.file) && Arc::ptr_eq(a.build_dir.as_ref().unwrap(), b.build_dir.as_ref().unwrap()));
        // Paths of the same length, made and dropped in turn (the allocator
        // may hand each the address of the one before): each finding names
        // its own.
        for i in 0..50 {
            let path = format!("d/{}/p.tfvars", i % 10);
            let f = finding("d/x", &path);
            drop(path);
            assert_eq!(&*f.file, format!("d/{}/p.tfvars", i % 10));
        }
        // Past the few it keeps, an older path is made again, equal.
        let c = finding("d/1", "d/1/p.tfvars");
        assert_eq!(c, a);
    }

    #[test]
    fn suggests_close_keys_only() {
        let known = ["publish_dcos_images_after", "run_integration_tests", "tests_to_run"];
        assert_eq!(did_you_mean("publish_dcos_image_after", &known), Some("publish_dcos_images_after"));
        assert_eq!(did_you_mean("test_to_run", &known), Some("tests_to_run"));
        assert_eq!(did_you_mean("colour", &known), None);
    }

    #[test]
    fn every_code_round_trips_by_name() {
        for code in Code::ALL {
            assert_eq!(Code::from_name(code.as_str()), Some(*code));
        }
        assert_eq!(Code::from_name("no-such-code"), None);
    }
}
