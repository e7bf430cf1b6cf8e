//! `dcos-images site`: the compatibility page for people who browse the
//! tree ("which image do I use for CentOS 7.8 and DC/OS 2.1.1 in
//! us-west-2?"). One HTML file with its styles, script and data inline (it
//! works offline, from `file://` and from GitHub Pages; no CDN, no font),
//! and `images.json` with the same data for programs.
//!
//! The matrix is rendered here as a real table (it reads without script);
//! the page's script adds the search box, the filter and the details of a
//! cell.

use crate::browse::{self, Filter, Row, State};
use crate::config::RootConfig;
use crate::diagnostic::{Code, Severity};
use crate::fsutil;
use crate::tree::version::{canonical_dcos, compare};
use crate::tree::Layout;
use crate::validate;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;

/// How the page names a state.
fn label(state: State) -> &'static str {
    match state {
        State::Qualified => "qualified",
        State::BuiltNotPublished => "built, not published",
        State::NotBuilt => "not built",
    }
}

/// One build directory as `images.json` lists it.
#[derive(Debug, Serialize)]
pub struct Entry {
    #[serde(flatten)]
    pub row: Row,
    /// The DC/OS release the directory's version names (`1.14.0-2.0` is
    /// 2.0.0), as `find` compares them.
    pub dcos_release: String,
    pub state: State,
    /// Its place in the repository (`site.repository_url`), when known.
    pub url: Option<String>,
    /// What `dcos-images validate` says of it.
    pub findings: Vec<Finding>,
}

/// One validator diagnostic of a build directory.
#[derive(Debug, Serialize)]
pub struct Finding {
    pub severity: &'static str,
    pub code: &'static str,
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

/// Warnings about the images themselves: with errors, what the matrix
/// flags (a terraform-dcos variable name is the details' business).
const IMAGE_WARNINGS: &[Code] = &[Code::RegionMismatch, Code::ImageReused, Code::SourceImageMismatch];

impl Finding {
    /// Whether the matrix marks its directory for it.
    pub fn flagged(&self) -> bool {
        self.severity == Severity::Error.as_str() || IMAGE_WARNINGS.iter().any(|c| c.as_str() == self.code)
    }
}

#[derive(Serialize)]
struct ImagesJson<'a> {
    /// Bumped when a field changes meaning.
    format: u32,
    build_directories: &'a [Entry],
}

/// What the page needs besides the tree.
#[derive(Debug, Clone, Default)]
pub struct SiteOptions {
    /// Where a build directory's path is appended to make its link.
    pub repository_url: Option<String>,
    pub rules: validate::Rules,
}

/// `site.repository_url`, else a GitHub remote's web address (`origin`, or
/// the publish remote) as `https://github.com/OWNER/REPO/tree/HEAD`; None
/// when the tree has no GitHub remote.
pub fn repository_url(root: &Path, config: &RootConfig) -> Option<String> {
    if let Some(u) = &config.site.repository_url {
        return Some(u.trim_end_matches('/').to_owned());
    }
    let out = std::process::Command::new("git").arg("-C").arg(root).args(["remote", "get-url", &config.publish.remote]).output().ok()?;
    github_web_url(String::from_utf8_lossy(&out.stdout).trim())
}

/// A GitHub remote (`git@github.com:o/r.git`, `https://github.com/o/r`,
/// `ssh://git@github.com/o/r.git`) as the web address of its default branch.
pub fn github_web_url(remote: &str) -> Option<String> {
    let rest = remote
        .strip_prefix("git@github.com:")
        .or_else(|| remote.strip_prefix("ssh://git@github.com/"))
        .or_else(|| remote.strip_prefix("https://github.com/"))
        .or_else(|| remote.strip_prefix("http://github.com/"))?;
    let rest = rest.trim_end_matches('/').trim_end_matches(".git");
    let mut parts = rest.split('/');
    let (owner, repo) = (parts.next()?, parts.next()?);
    (!owner.is_empty() && !repo.is_empty() && parts.next().is_none()).then(|| format!("https://github.com/{owner}/{repo}/tree/HEAD"))
}

/// Every build directory of the tree, in the tree's order, with what the
/// validator says of each.
pub fn entries(layout: &Layout, options: &SiteOptions) -> Vec<Entry> {
    let mut findings: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    for d in validate::validate_layout(layout, options.rules, &|_| true) {
        let Some(dir) = d.build_dir.as_deref().map(str::to_owned) else { continue };
        findings.entry(dir).or_default().push(Finding {
            severity: d.severity.as_str(),
            code: d.code.as_str(),
            file: d.file.to_string(),
            line: d.line,
            message: d.message.into_owned(),
        });
    }
    browse::rows(layout, &Filter::default())
        .into_iter()
        .map(|row| Entry {
            state: row.state(),
            dcos_release: canonical_dcos(&row.coords.dcos_version),
            url: options.repository_url.as_ref().map(|u| format!("{u}/{}", row.path)),
            findings: findings.remove(&row.path).unwrap_or_default(),
            row,
        })
        .collect()
}

/// Writes `index.html` and `images.json` into `out` (created if needed),
/// each atomically. Returns the paths written.
pub fn write(layout: &Layout, out: &Path, options: &SiteOptions) -> std::io::Result<Vec<std::path::PathBuf>> {
    let entries = entries(layout, options);
    std::fs::create_dir_all(out)?;
    let json = images_json(&entries);
    let html = page(&entries, &json);
    let (html_path, json_path) = (out.join("index.html"), out.join("images.json"));
    fsutil::write_atomic(&json_path, json.as_bytes())?;
    fsutil::write_atomic(&html_path, html.as_bytes())?;
    Ok(vec![html_path, json_path])
}

fn images_json(entries: &[Entry]) -> String {
    let mut s = serde_json::to_string_pretty(&ImagesJson { format: 1, build_directories: entries }).expect("entries serialize");
    s.push('\n');
    s
}

/// Text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON inside `<script type="application/json">`: nothing in it may end the
/// element or open a comment.
fn script_safe(json: &str) -> String {
    json.replace("</", "<\\/").replace("<!--", "<\\!--")
}

/// The DC/OS minor release a version belongs to, as the matrix groups
/// columns: `2.1.1` -> `2.1`, `1.14.0-2.0` (2.0.0) -> `2.0`, `1.14.0-beta`
/// (2.0.0-beta) -> `2.0`.
pub fn release_group(dcos_version: &str) -> String {
    let canonical = canonical_dcos(dcos_version);
    let numbers: Vec<&str> = canonical.split(['.', '-']).take(2).collect();
    match numbers.as_slice() {
        [major, minor] if major.bytes().all(|b| b.is_ascii_digit()) && minor.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{major}.{minor}")
        }
        _ => canonical,
    }
}

/// How the page names a state, and its class.
fn state_names(e: &Entry) -> (&'static str, &'static str) {
    match e.state {
        State::Qualified => ("qualified", label(State::Qualified)),
        State::BuiltNotPublished => ("built", label(State::BuiltNotPublished)),
        State::NotBuilt => ("not-built", label(State::NotBuilt)),
    }
}

/// A directory's button in a cell: `version` says the DC/OS version too
/// (in a folded release's cell).
fn dir_button(i: usize, e: &Entry, with_version: bool) -> String {
    let c = &e.row.coords;
    let (class, label) = state_names(e);
    let variant = c.variant.as_deref().map(|v| format!(" · {}", esc(v))).unwrap_or_default();
    let version = if with_version { format!("{} · ", esc(&c.dcos_version)) } else { String::new() };
    let findings = e.findings.iter().filter(|f| f.flagged()).count();
    let (flag, flag_label) = match findings {
        0 => (String::new(), String::new()),
        n => (
            " <span class=\"flag\" aria-hidden=\"true\">⚠</span>".to_owned(),
            format!(", {n} validator finding{}", if n == 1 { "" } else { "s" }),
        ),
    };
    format!(
        "<li><button type=\"button\" class=\"dir {class}\" data-entry=\"{i}\" aria-label=\"{os} {osv}, DC/OS {dcos}, Docker {docker}{variant_label}: {label}{flag_label}\">{version}Docker {docker}{variant}{flag} <span class=\"state\">{label}</span></button></li>",
        os = esc(&c.os),
        osv = esc(&c.os_version),
        dcos = esc(&c.dcos_version),
        docker = esc(&c.docker_version),
        variant_label = c.variant.as_deref().map(|v| format!(", {}", esc(v))).unwrap_or_default(),
    )
}

/// A cell of the matrix: OS, OS version, DC/OS version.
type Cell<'a> = (&'a str, &'a str, &'a str);

fn page(entries: &[Entry], json: &str) -> String {
    // Rows: OS and OS version; columns: DC/OS releases (minor versions),
    // newest first, each folding its versions, newest first.
    let mut rows: Vec<(&str, &str)> = entries.iter().map(|e| (e.row.coords.os.as_str(), e.row.coords.os_version.as_str())).collect();
    rows.sort_by(|a, b| a.0.cmp(b.0).then_with(|| compare(b.1, a.1)));
    rows.dedup();
    let mut versions: Vec<&str> = entries.iter().map(|e| e.row.coords.dcos_version.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    versions.sort_by(|a, b| compare(&canonical_dcos(b), &canonical_dcos(a)).then_with(|| compare(b, a)));
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for v in versions {
        let g = release_group(v);
        match groups.iter_mut().find(|(name, _)| *name == g) {
            Some((_, vs)) => vs.push(v),
            None => groups.push((g, vec![v])),
        }
    }
    groups.sort_by(|a, b| compare(&b.0, &a.0));
    let mut cells: BTreeMap<Cell, Vec<(usize, &Entry)>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        let c = &e.row.coords;
        cells.entry((c.os.as_str(), c.os_version.as_str(), c.dcos_version.as_str())).or_default().push((i, e));
    }
    let qualified = entries.iter().filter(|e| e.state == State::Qualified).count();

    let mut table = String::new();
    let _ = writeln!(table, "<table id=\"matrix\">");
    let _ = writeln!(
        table,
        "<caption id=\"matrix-caption\">Build directories by OS (rows) and DC/OS release (columns): {} in all, {qualified} qualified</caption>",
        entries.len()
    );
    let _ = write!(table, "<thead><tr><th scope=\"col\" class=\"corner\">OS</th>");
    let mut col = 0;
    for (g, vs) in &groups {
        let n = vs.len();
        let _ = write!(
            table,
            "<th scope=\"col\" class=\"group\" data-group=\"{g}\"><button type=\"button\" class=\"fold\" data-group=\"{g}\" data-when=\"folded\" aria-expanded=\"false\">DC/OS {g} <span class=\"count\">{n} version{s} ▸</span></button></th>",
            g = esc(g),
            s = if n == 1 { "" } else { "s" }
        );
        for (k, v) in vs.iter().enumerate() {
            let fold = if k == 0 {
                format!(
                    "<button type=\"button\" class=\"fold\" data-group=\"{g}\" data-when=\"open\" aria-expanded=\"false\">DC/OS {g} ◂</button> ",
                    g = esc(g)
                )
            } else {
                String::new()
            };
            let _ = write!(
                table,
                "<th scope=\"col\" class=\"version folded\" data-group=\"{}\" data-col=\"{col}\">{fold}DC/OS {}</th>",
                esc(g),
                esc(v)
            );
            col += 1;
        }
    }
    let _ = writeln!(table, "</tr></thead>\n<tbody>");
    for (os, os_version) in &rows {
        let _ = write!(
            table,
            "<tr data-os=\"{}\" data-os-version=\"{}\"><th scope=\"row\">{} {}</th>",
            esc(os),
            esc(os_version),
            esc(os),
            esc(os_version)
        );
        let mut col = 0;
        for (g, vs) in &groups {
            let in_group: Vec<&(usize, &Entry)> =
                vs.iter().flat_map(|v| cells.get(&(*os, *os_version, *v)).into_iter().flatten()).collect();
            let _ = write!(table, "<td class=\"group\" data-group=\"{}\">", esc(g));
            if in_group.is_empty() {
                let _ = write!(table, "<span class=\"visually-hidden\">none</span>");
            } else {
                let _ = write!(table, "<ul>");
                for (i, e) in in_group {
                    table.push_str(&dir_button(*i, e, true));
                }
                let _ = write!(table, "</ul>");
            }
            let _ = write!(table, "</td>");
            for v in vs {
                let _ = write!(table, "<td class=\"version folded\" data-group=\"{}\" data-col=\"{col}\">", esc(g));
                match cells.get(&(*os, *os_version, *v)) {
                    None => {
                        let _ = write!(table, "<span class=\"visually-hidden\">none</span>");
                    }
                    Some(dirs) => {
                        let _ = write!(table, "<ul>");
                        for (i, e) in dirs {
                            table.push_str(&dir_button(*i, e, false));
                        }
                        let _ = write!(table, "</ul>");
                    }
                }
                let _ = write!(table, "</td>");
                col += 1;
            }
        }
        let _ = writeln!(table, "</tr>");
    }
    let _ = writeln!(table, "</tbody>\n</table>");

    let oses: BTreeSet<&str> = entries.iter().map(|e| e.row.coords.os.as_str()).collect();
    let mut controls = String::from(
        "<ul class=\"legend\" aria-label=\"What the colours say\">\
         <li><span class=\"swatch qualified\"></span>qualified: images published</li>\
         <li><span class=\"swatch built\"></span>built, not published</li>\
         <li><span class=\"swatch\"></span>not built</li>\
         <li><span class=\"flag\" aria-hidden=\"true\">⚠</span> validate finds an error, or fault with the images</li></ul>\n\
         <fieldset class=\"controls\"><legend class=\"visually-hidden\">Show</legend>\
         <label><input type=\"checkbox\" id=\"only-qualified\"> Only qualified</label>\
         <span><label for=\"os\">OS</label> <select id=\"os\"><option value=\"\">every OS</option>",
    );
    for os in oses {
        let _ = write!(controls, "<option value=\"{0}\">{0}</option>", esc(os));
    }
    controls.push_str("</select></span></fieldset>");

    PAGE.replace("{{CONTROLS}}", &controls).replace("{{TABLE}}", &table).replace("{{DATA}}", &script_safe(json))
}

const PAGE: &str = include_str!("page.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_group_versions_and_github_remotes_give_links() {
        assert_eq!(release_group("2.1.1"), "2.1");
        assert_eq!(release_group("1.14.0-2.0"), "2.0", "it is 2.0.0");
        assert_eq!(release_group("1.14.0-beta"), "2.0");
        assert_eq!(release_group("1.13.10"), "1.13");
        assert_eq!(release_group("2.2.0-beta1"), "2.2");
        for remote in
            ["git@github.com:dcos/dcos-images.git", "https://github.com/dcos/dcos-images", "ssh://git@github.com/dcos/dcos-images.git/"]
        {
            assert_eq!(github_web_url(remote).as_deref(), Some("https://github.com/dcos/dcos-images/tree/HEAD"), "{remote}");
        }
        assert_eq!(github_web_url("/srv/git/dcos-images.git"), None);
        assert_eq!(github_web_url("https://gitlab.com/dcos/dcos-images"), None);
    }

    #[test]
    fn data_cannot_end_its_script_element() {
        assert_eq!(script_safe(r#"{"a":"</script><!--"}"#), r#"{"a":"<\/script><\!--"}"#);
        assert_eq!(esc(r#"<a href="x">'&"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
    }
}
