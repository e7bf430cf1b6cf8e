//! The docs stay true: every relative link of README.md and docs/ resolves
//! (the file, and the heading an anchor names), every command of `--help`
//! has its row in docs/commands.md and its page names each of its flags,
//! every key of dcos-images.yaml's schema is in docs/configuration.md, and
//! README.md stays short.

mod common;

use common::Test;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("CHANGELOG.md"), root().join("benches/README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The text outside code blocks and code spans.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || line.starts_with("    ") {
            continue;
        }
        // Code spans hold no links.
        let mut in_code = false;
        for part in line.split('`') {
            if !in_code {
                out.push_str(part);
            }
            in_code = !in_code;
        }
        out.push('\n');
    }
    out
}

/// GitHub's anchor of a heading: lower case, letters, digits, `-` and `_`
/// kept, spaces made `-`, everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_lowercase().next().unwrap()),
            _ => None,
        })
        .collect()
}

fn anchors(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// `(target)` of every `[text](target)` in the prose.
fn links(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut out = Vec::new();
    let mut rest = prose.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let Some(end) = after.find(')') else { break };
        out.push(after[..end].to_owned());
        rest = &after[end..];
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = link.split_once('#').map_or((link.as_str(), None), |(p, a)| (p, Some(a)));
            let target = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(path) };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", file.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                if target.extension().is_some_and(|e| e == "md") && !anchors(&target).contains(anchor) {
                    broken.push(format!("{}: {link} (no such heading)", file.display()));
                }
            }
        }
    }
    assert!(checked > 40, "only {checked} links checked");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Subcommands in a `--help`'s "Commands:" list.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
}

/// The long flags of a `--help`, but the ones every command has.
fn flags(help: &str) -> Vec<String> {
    help.lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("--")))
        .map(|w| w.trim_end_matches(',').split(['=', '[', '<']).next().unwrap().to_owned())
        .filter(|f| !matches!(f.as_str(), "--help" | "--version" | "--root"))
        .collect()
}

#[test]
fn every_command_has_its_row_and_its_page_names_its_flags() {
    let commands_md = std::fs::read_to_string(root().join("docs/commands.md")).unwrap();
    let top = Test::new().args(["--help"]).status(0).stdout;
    let mut commands: Vec<Vec<String>> = Vec::new();
    for c in subcommands(&top) {
        let help = Test::new().args([c.as_str(), "--help"]).status(0).stdout;
        let nested = subcommands(&help);
        if nested.is_empty() {
            commands.push(vec![c]);
        } else {
            commands.extend(nested.into_iter().map(|n| vec![c.clone(), n]));
        }
    }
    assert!(commands.len() >= 18, "{commands:?}");
    let mut missing = Vec::new();
    for words in &commands {
        let name = format!("`dcos-images {}`", words.join(" "));
        let Some(row) = commands_md.lines().find(|l| l.starts_with(&format!("| {name} |"))) else {
            missing.push(format!("docs/commands.md has no row for {name}"));
            continue;
        };
        let link = links(row).into_iter().next().unwrap_or_else(|| panic!("the row of {name} links no page"));
        let page = std::fs::read_to_string(root().join("docs").join(link.split('#').next().unwrap())).unwrap();
        let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
        args.push("--help");
        for flag in flags(&Test::new().args(&args).status(0).stdout) {
            if !page.contains(&flag) {
                missing.push(format!("{}'s page ({link}) never names {flag}", words.join(" ")));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_key_of_the_configuration_is_documented() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("schemas/dcos-images.schema.json")).unwrap()).unwrap();
    let doc = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    // Every leaf key, as `section.key`, resolving the schema's references.
    fn walk(schema: &serde_json::Value, node: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        let node = match node["$ref"].as_str() {
            Some(r) => &schema["definitions"][r.rsplit('/').next().unwrap()],
            None => node,
        };
        let node = node["allOf"].get(0).map_or(node, |n| match n["$ref"].as_str() {
            Some(r) => &schema["definitions"][r.rsplit('/').next().unwrap()],
            None => n,
        });
        match node["properties"].as_object() {
            Some(props) if !prefix.ends_with("base_images") && !prefix.ends_with("dcos.config") => {
                for (k, v) in props {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(schema, v, &key, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut keys = Vec::new();
    walk(&schema, &schema, "", &mut keys);
    assert!(keys.len() > 30, "{keys:?}");
    let undocumented: Vec<&String> =
        keys.iter().filter(|k| !doc.contains(&format!("`{k}`")) && !doc.contains(&format!("`{k}`,"))).collect();
    assert!(undocumented.is_empty(), "docs/configuration.md does not name {undocumented:?}");
}

#[test]
fn the_readme_stays_short_and_links_every_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 260, "README.md is {lines} lines: the reference belongs in docs/");
    for page in std::fs::read_dir(root().join("docs")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()) {
        if page.ends_with(".md") {
            assert!(readme.contains(&format!("(docs/{page}")), "README.md does not link docs/{page}");
        }
    }
}
