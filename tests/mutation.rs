//! No input makes a command panic: every parser, and the whole-tree commands
//! on a tree holding a mutated file, run on seeded mutations of the real
//! corpus files (`../shared/corpus`). A failure prints the seed and the
//! mutated text, so it can be replayed.

mod common;

use dcos_images::formats::base_images::BaseImages;
use dcos_images::formats::dcos_images::DcosImages;
use dcos_images::formats::history::BuildHistory;
use dcos_images::formats::packer::PackerTemplate;
use dcos_images::formats::publish_config::PublishTestConfig;
use dcos_images::formats::tfvars::Tfvars;
use dcos_images::formats::{json_keys, profile};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: the same seed gives the same mutations on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Tokens that matter to the formats: quotes, escapes, brackets, heredocs,
/// interpolation, YAML indicators, and multi-byte characters next to them.
const TOKENS: &[&str] = &[
    "é",
    "\\",
    "\\é",
    "\"",
    "'",
    "{",
    "}",
    "[",
    "]",
    "=",
    "#",
    "//",
    "/*",
    "*/",
    "<<EOF\n",
    "<<-EOT\n",
    "${",
    "%{",
    "\n",
    "\r\n",
    "\t",
    "\0",
    "\u{FEFF}",
    "💥",
    ":",
    "- ",
    "  ",
    "&a",
    "*a",
    "!!",
    "|",
    ">",
    "?",
    ",",
    "-1",
    "1e999",
    "0x",
    "null",
    "true",
    "\\u",
    "\\ud800",
    "ami-",
    "us-west-2",
    "\"\":",
    "=\n",
    "[\n",
    "{\n",
    "</testcase>",
    "<testcase ",
    "/>",
    "<failure",
    "&amp;",
];

/// One mutation of `text`, chosen by `rng`.
fn mutate(text: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = text.to_vec();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at..end.max(at));
            }
            1 | 2 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            3 => out.truncate(at),
            4 => {
                // A byte anywhere, also inside a multi-byte character.
                if at < out.len() {
                    out[at] = rng.next() as u8;
                }
            }
            5 => {
                let end = (at + rng.below(64)).min(out.len());
                let copy = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            _ => {
                let end = (at + rng.below(8)).min(out.len());
                out[at..end].reverse();
            }
        }
    }
    out
}

/// Every parser that reads a file of this name.
fn parse_all(name: &str, text: &str) {
    match name {
        "packer.json" => {
            // What qualify does with an accepted template: its whole
            // document, rendered.
            if let Some(t) = PackerTemplate::parse(text).value {
                let _ = t.to_json();
            }
            let _ = json_keys::duplicate_keys(text);
        }
        "packer_build_history.json" => {
            if let Some(h) = BuildHistory::parse(text).value {
                for b in h.builds.iter().chain(h.last_build()) {
                    let _ = b.images();
                    let _ = b.built_at();
                }
            }
        }
        "base_images.json" | "coreos_production_ami_all.json" => {
            let _ = BaseImages::parse(text);
        }
        "dcos_images.yaml" => {
            let _ = DcosImages::parse(text);
        }
        "publish_and_test_config.yaml" => {
            let _ = PublishTestConfig::parse(text);
        }
        "junit.xml" => {
            let _ = dcos_images::formats::junit::parse(text);
            let _ = dcos_images::formats::junit::cases(text);
        }
        n if n.ends_with(".tfvars") => {
            if let Some(t) = Tfvars::parse(text).value {
                let _ = profile::read(&t);
                let _ = profile::migrate(text, &t);
            }
        }
        _ => {}
    }
}

const PYTEST_JUNIT: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="3" time="12.5" timestamp="2026-11-23T10:00:00" hostname="master-0"><testcase classname="test_auth" name="test_login" time="1.0" /><testcase classname="test_networking.TestVip" name="test_vip[é &amp; &lt;x&gt;]" time="2.0"><failure message="AssertionError: 1 != 2">def test_vip():
&gt;       assert 1 == 2
E       AssertionError</failure></testcase><testcase classname="test_x" name="test_skip" time="0"><skipped type="pytest.skip" message="no GPU">skipped</skipped></testcase></testsuite></testsuites>"#;

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(common::corpus())
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file() && e.file_name() != "README.md")
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// The first panics, with what replays them.
fn report(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} input(s) made a parser panic; the first:\n{}",
        failures.len(),
        failures[..failures.len().min(3)].join("\n\n")
    );
}

#[test]
fn no_mutation_of_a_real_file_makes_a_parser_panic() {
    // The parsers' own messages would drown the report: the hook is quiet on
    // this test's thread (every panic is collected instead), as before elsewhere.
    let this_test = std::thread::current().name().map(str::to_owned);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name().map(str::to_owned) != this_test {
            default_hook(info);
        }
    }));
    let files = corpus_files();
    assert!(files.len() > 1000, "the corpus is the real tree: {} files", files.len());
    let mut texts: Vec<(String, Vec<u8>)> =
        files.iter().map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(p).unwrap())).collect();
    // The reports fetched from the cluster: what pytest writes.
    for _ in 0..50 {
        texts.push(("junit.xml".into(), PYTEST_JUNIT.as_bytes().to_vec()));
    }
    let (wanted, budget) = (20_000, Duration::from_secs(90));
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut done = 0;
    let mut rng = Rng(0x5EED_DC05);
    while done < wanted && started.elapsed() < budget {
        let (name, original) = &texts[rng.below(texts.len())];
        let seed = rng.next() | 1;
        let mutated = mutate(original, &mut Rng(seed));
        let text = String::from_utf8_lossy(&mutated);
        if catch_unwind(AssertUnwindSafe(|| parse_all(name, &text))).is_err() {
            failures.push(format!("{name}, seed {seed:#x}:\n{text}"));
        }
        done += 1;
    }
    // The default hook again, so that this test's own failure is printed.
    let _ = std::panic::take_hook();
    report(&failures);
    // Bounded in time, but never vacuous: a debug build on 2 cores does
    // thousands in the budget.
    assert!(done >= 3_000, "only {done} mutations ran in {budget:?}");
    eprintln!("{done} mutations of {} real files: no panic", texts.len());
}

/// The corpus file's text at `rel` under `root`, writable (the corpus is read-only).
fn restore(source: &Path, root: &Path, rel: &Path) {
    std::fs::write(root.join(rel), std::fs::read(source.join(rel)).unwrap()).unwrap();
}

/// The same, through the binary: `validate`, `list` and `migrate --check` on a
/// one-directory tree whose files are mutated one at a time (bytes that are
/// not UTF-8 included).
#[test]
fn no_mutated_file_makes_a_whole_tree_command_panic() {
    let build_dir = "centos/7.8/aws/DCOS-2.1.1/docker-19.03.9-ce/selinux_enforcing";
    let source = common::corpus();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut files = Vec::new();
    for rel in ["centos/7.8/aws/base_images.json"]
        .into_iter()
        .map(PathBuf::from)
        .chain(std::fs::read_dir(source.join(build_dir)).unwrap().map(|e| Path::new(build_dir).join(e.unwrap().file_name())))
    {
        if source.join(&rel).is_file() {
            std::fs::create_dir_all(root.join(&rel).parent().unwrap()).unwrap();
            restore(&source, root, &rel);
            files.push(rel);
        }
    }
    assert!(files.len() >= 5, "{files:?}");
    let mut rng = Rng(0xD1_5EED);
    let started = Instant::now();
    let mut runs = 0;
    let mut failures = Vec::new();
    while runs < 150 && started.elapsed() < Duration::from_secs(90) {
        let rel = &files[rng.below(files.len())];
        let original = std::fs::read(source.join(rel)).unwrap();
        let seed = rng.next() | 1;
        std::fs::write(root.join(rel), mutate(&original, &mut Rng(seed))).unwrap();
        for args in [&["validate", "--format", "json"][..], &["list", "--format", "json"], &["migrate", "--check"]] {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_dcos-images")).arg("--root").arg(root).args(args).output().unwrap();
            // 0, 1 (problems found) and 2 (bad input) are answers; a panic is 101.
            let code = out.status.code();
            if !matches!(code, Some(0..=2)) {
                failures.push(format!(
                    "{} {}: exit {code:?}, seed {seed:#x}:\n{}",
                    rel.display(),
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        restore(&source, root, rel);
        runs += 1;
    }
    report(&failures);
    assert!(runs >= 50, "only {runs} trees in the budget");
}
