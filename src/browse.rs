//! Browsing the tree: `list`, `find` and `tree`. Everything here reads the
//! three files of each build directory that say what it published (see
//! [`Row::read`]) and prints; nothing spends.

use crate::formats::{dcos_images::DcosImages, history::BuildHistory, publish_config::PublishTestConfig};
use crate::tree::version::{canonical_dcos, compare, matches_prefix};
use crate::tree::{self, BuildDir, Coordinates, Layout, TreeError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Filters shared by `list` and `find`. Versions match whole components:
/// `--dcos 2.1` selects 2.1.0 and 2.1.1, not 2.10.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filter {
    /// Operating system (centos, rhel, flatcar-linux, ...).
    #[arg(long)]
    pub os: Option<String>,
    /// OS version, e.g. 7.8.
    #[arg(long)]
    pub os_version: Option<String>,
    /// Cloud, e.g. aws.
    #[arg(long)]
    pub cloud: Option<String>,
    /// DC/OS version, e.g. 2.1.1 (1.14.0-2.0 and 2.0.0 are one release).
    #[arg(long)]
    pub dcos: Option<String>,
    /// Docker version, e.g. 19.03.5-ce.
    #[arg(long)]
    pub docker: Option<String>,
    /// Variant (selinux_enforcing, tmp_noexec, ...); `none` for directories without one.
    #[arg(long)]
    pub variant: Option<String>,
    /// Only directories with a qualified image in this region; images shown for it alone.
    #[arg(long)]
    pub region: Option<String>,
}

impl Filter {
    pub fn matches(&self, c: &Coordinates) -> bool {
        let opt = |f: &Option<String>, v: &str| f.as_deref().is_none_or(|f| matches_prefix(v, f));
        opt(&self.os, &c.os)
            && opt(&self.os_version, &c.os_version)
            && opt(&self.cloud, &c.cloud)
            && self.dcos.as_deref().is_none_or(|f| matches_prefix(&canonical_dcos(&c.dcos_version), &canonical_dcos(f)))
            && opt(&self.docker, &c.docker_version)
            && match (self.variant.as_deref(), c.variant.as_deref()) {
                (None, _) => true,
                (Some("none"), v) => v.is_none(),
                (Some(f), Some(v)) => f == v,
                (Some(_), None) => false,
            }
    }
}

impl Filter {
    /// Whether a directory `depth` levels below the root, named `name`, can
    /// hold a build directory this filter selects (`<os>/<os-version>/<cloud>/
    /// DCOS-<v>/docker-<v>/<variant>`). A name outside the layout is admitted:
    /// the tree reports it, the filter does not hide it.
    pub fn admits(&self, depth: usize, name: &str) -> bool {
        let opt = |f: &Option<String>, v: &str| f.as_deref().is_none_or(|f| matches_prefix(v, f));
        match depth {
            1 => opt(&self.os, name),
            2 => opt(&self.os_version, name),
            3 => opt(&self.cloud, name),
            4 => match (name.strip_prefix("DCOS-"), self.dcos.as_deref()) {
                (Some(v), Some(f)) => matches_prefix(&canonical_dcos(v), &canonical_dcos(f)),
                _ => true,
            },
            5 => name.strip_prefix("docker-").is_none_or(|v| opt(&self.docker, v)),
            6 => match self.variant.as_deref() {
                None => true,
                Some("none") => false,
                Some(f) => f == name,
            },
            _ => true,
        }
    }
}

/// What a build directory has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Its images are published in dcos_images.yaml.
    Qualified,
    /// Packer built it (the history says when), nothing is published.
    BuiltNotPublished,
    NotBuilt,
}

/// One build directory, as `list --format json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub path: String,
    #[serde(flatten)]
    pub coords: Coordinates,
    pub images: BTreeMap<String, String>,
    pub last_build: Option<String>,
    pub publish_after: Option<String>,
}

impl Row {
    /// Reads the three files browsing shows (dcos_images.yaml, the build
    /// history and the publish config); packer.json and the profile are
    /// not opened. A file that does not parse shows as absent: `validate`
    /// is where it is reported.
    pub fn read(dir: &BuildDir) -> Row {
        Row::read_in(dir, None)
    }

    /// As [`Row::read`], reading through `open` (see [`BuildDir::files_in`]).
    pub fn read_in(dir: &BuildDir, open: Option<tree::fs::Dir>) -> Row {
        let files = dir.files_in(open);
        let images = files.read(tree::DCOS_IMAGES, DcosImages::parse).and_then(|f| f.parsed.value).map(|i| i.0).unwrap_or_default();
        let last_build = files
            .read(tree::HISTORY, BuildHistory::parse_value)
            .and_then(|f| f.parsed.value)
            .and_then(|h| h.last_build().and_then(|b| b.built_at()))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let publish_after = match files.read(tree::PUBLISH_CONFIG, PublishTestConfig::parse) {
            None => Some(PublishTestConfig::default()),
            Some(f) => f.parsed.value,
        }
        .map(|c| c.publish_dcos_images_after.to_string());
        Row { path: dir.rel.clone(), coords: dir.coords.clone(), images, last_build, publish_after }
    }

    /// What the directory has reached: published images, a build, nothing.
    pub fn state(&self) -> State {
        match (self.images.is_empty(), self.last_build.is_some()) {
            (false, _) => State::Qualified,
            (true, true) => State::BuiltNotPublished,
            (true, false) => State::NotBuilt,
        }
    }

    /// The build date, `YYYY-MM-DD`.
    fn built_on(&self) -> Option<&str> {
        self.last_build.as_deref().map(|t| &t[..10])
    }
}

/// Every build directory of `layout` that `filter` selects, in the tree's
/// order, read on all cores; with `--region`, only that region's images.
pub fn rows(layout: &Layout, filter: &Filter) -> Vec<Row> {
    let selected: Vec<&BuildDir> = layout.dirs.iter().filter(|d| filter.matches(&d.coords)).collect();
    only_region(tree::parallel_map(selected, Row::read), filter)
}

/// [`rows`] of the tree below `root`, walked where `filter` admits and each
/// directory read by the thread that walked it, in the same pass (see
/// [`Layout::discover_with`]), with the layout walked.
pub fn walked_rows(root: &Path, exclude: &[String], filter: &Filter) -> Result<(Layout, Vec<Row>), TreeError> {
    let (layout, rows) = Layout::discover_with(root, exclude, &|depth, name| filter.admits(depth, name), &|dir, open, _| {
        filter.matches(&dir.coords).then(|| Row::read_in(dir, open))
    })?;
    Ok((layout, only_region(rows.into_iter().flatten().collect(), filter)))
}

/// With `--region`, only that region's images, and only the rows that have one.
fn only_region(mut rows: Vec<Row>, filter: &Filter) -> Vec<Row> {
    if let Some(region) = &filter.region {
        rows.iter_mut().for_each(|r| r.images.retain(|k, _| k == region));
        rows.retain(|r| !r.images.is_empty());
    }
    rows
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
    Markdown,
}

const HEADERS: [&str; 9] = ["OS", "VERSION", "CLOUD", "DC/OS", "DOCKER", "VARIANT", "PUBLISH AFTER", "LAST BUILD", "IMAGES"];

fn cells(r: &Row, image_sep: &str) -> [String; 9] {
    let images = if r.images.is_empty() {
        "-".to_owned()
    } else {
        r.images.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(image_sep)
    };
    [
        r.coords.os.clone(),
        r.coords.os_version.clone(),
        r.coords.cloud.clone(),
        r.coords.dcos_version.clone(),
        r.coords.docker_version.clone(),
        r.coords.variant.clone().unwrap_or_else(|| "-".into()),
        r.publish_after.clone().unwrap_or_else(|| "?".into()),
        r.built_on().unwrap_or("-").to_owned(),
        images,
    ]
}

/// The rows as `serde_json::to_string_pretty` writes them, and a newline,
/// through [`json_text`](crate::json_text): serde's pretty printer (and the
/// flattened coordinates, serialized as a map) was a tenth of `list`.
fn list_json(out: &mut Vec<u8>, rows: &[Row]) {
    use crate::json_text::{optional, string};
    if rows.is_empty() {
        return out.extend_from_slice(b"[]\n");
    }
    for (i, r) in rows.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"[\n  {\n    \"path\": " } else { b",\n  {\n    \"path\": " });
        string(out, &r.path);
        let c = &r.coords;
        for (key, value) in [
            (&b",\n    \"os\": "[..], &c.os),
            (b",\n    \"os_version\": ", &c.os_version),
            (b",\n    \"cloud\": ", &c.cloud),
            (b",\n    \"dcos_version\": ", &c.dcos_version),
            (b",\n    \"docker_version\": ", &c.docker_version),
        ] {
            out.extend_from_slice(key);
            string(out, value);
        }
        out.extend_from_slice(b",\n    \"variant\": ");
        optional(out, c.variant.as_deref());
        out.extend_from_slice(b",\n    \"images\": {");
        for (k, (region, image)) in r.images.iter().enumerate() {
            out.extend_from_slice(if k == 0 { b"\n      " } else { b",\n      " });
            string(out, region);
            out.extend_from_slice(b": ");
            string(out, image);
        }
        out.extend_from_slice(if r.images.is_empty() { b"}" } else { b"\n    }" });
        out.extend_from_slice(b",\n    \"last_build\": ");
        optional(out, r.last_build.as_deref());
        out.extend_from_slice(b",\n    \"publish_after\": ");
        optional(out, r.publish_after.as_deref());
        out.extend_from_slice(b"\n  }");
    }
    out.extend_from_slice(b"\n]\n")
}

pub fn render_list(rows: &[Row], format: ListFormat) -> String {
    match format {
        ListFormat::Json => {
            // Sized once: a listing of the real tree is 120 KB.
            let mut out = Vec::with_capacity(128 + rows.iter().map(|r| 360 + r.path.len() + 48 * r.images.len()).sum::<usize>());
            list_json(&mut out, rows);
            String::from_utf8(out).expect("JSON of strings is UTF-8")
        }
        ListFormat::Markdown => {
            let mut out = format!("| {} |\n|{}\n", HEADERS.join(" | "), " --- |".repeat(HEADERS.len()));
            for r in rows {
                let _ = writeln!(out, "| {} |", cells(r, "<br>").map(|c| c.replace('|', "\\|")).join(" | "));
            }
            out
        }
        ListFormat::Table => {
            let body: Vec<[String; 9]> = rows.iter().map(|r| cells(r, " ")).collect();
            let mut widths = HEADERS.map(str::len);
            for row in &body {
                for (w, c) in widths.iter_mut().zip(row) {
                    *w = (*w).max(c.len());
                }
            }
            let mut out = String::new();
            let mut line = |cols: &[String]| {
                let mut l = String::new();
                for (i, c) in cols.iter().enumerate() {
                    if i + 1 == cols.len() {
                        l.push_str(c);
                    } else {
                        let _ = write!(l, "{c:<w$}  ", w = widths[i]);
                    }
                }
                out.push_str(l.trim_end());
                out.push('\n');
            };
            line(&HEADERS.map(String::from));
            body.iter().for_each(|r| line(r));
            out
        }
    }
}

/// What `find` answers: the images, or why there are none and what is nearest.
pub enum FindOutcome {
    Found(Vec<(String, String, String)>),
    NotFound { reason: String, nearest: Vec<Row> },
}

/// Finds the qualified images for the coordinates in `filter` among `rows`
/// (read without a region filter).
pub fn find(rows: &[Row], filter: &Filter) -> FindOutcome {
    let matching: Vec<&Row> = rows.iter().filter(|r| filter.matches(&r.coords)).collect();
    let mut found = Vec::new();
    for r in &matching {
        for (region, image) in &r.images {
            if filter.region.as_deref().is_none_or(|f| f == region) {
                found.push((image.clone(), region.clone(), r.path.clone()));
            }
        }
    }
    if !found.is_empty() {
        return FindOutcome::Found(found);
    }
    let what = describe(filter);
    if !matching.is_empty() {
        let reason = match &filter.region {
            Some(r) => {
                format!("{} build director{} match {what}, but none has a qualified image in {r}", matching.len(), plural_y(matching.len()))
            }
            None => {
                format!("{} build director{} match {what}, but none has a qualified image yet", matching.len(), plural_y(matching.len()))
            }
        };
        return FindOutcome::NotFound { reason, nearest: matching.into_iter().cloned().collect() };
    }
    FindOutcome::NotFound { reason: format!("no build directory matches {what}"), nearest: nearest(rows, filter) }
}

fn plural_y(n: usize) -> &'static str {
    if n == 1 {
        "y"
    } else {
        "ies"
    }
}

fn describe(f: &Filter) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &f.os {
        parts.push(v.clone());
    }
    if let Some(v) = &f.os_version {
        parts.push(v.clone());
    }
    if let Some(v) = &f.cloud {
        parts.push(v.clone());
    }
    if let Some(v) = &f.dcos {
        parts.push(format!("DC/OS {v}"));
    }
    if let Some(v) = &f.docker {
        parts.push(format!("Docker {v}"));
    }
    if let Some(v) = &f.variant {
        parts.push(format!("variant {v}"));
    }
    parts.join(" ")
}

/// The closest build directories: relax the most specific filter first, and
/// among versions keep the nearest one below and above what was asked.
fn nearest(rows: &[Row], filter: &Filter) -> Vec<Row> {
    type Field = fn(&Coordinates) -> &str;
    type Take = fn(&mut Filter) -> Option<String>;
    let relaxations: [(Field, Take); 4] = [
        (|c| c.variant.as_deref().unwrap_or(""), |f| f.variant.take()),
        (|c| &c.docker_version, |f| f.docker.take()),
        (|c| &c.dcos_version, |f| f.dcos.take()),
        (|c| &c.os_version, |f| f.os_version.take()),
    ];
    let mut relaxed = filter.clone();
    relaxed.region = None;
    for (field, take) in relaxations {
        let Some(wanted) = take(&mut relaxed) else { continue };
        let candidates: Vec<&Row> = rows.iter().filter(|r| relaxed.matches(&r.coords)).collect();
        if candidates.is_empty() {
            continue;
        }
        let wanted = canonical_dcos(&wanted);
        let key = |r: &&Row| canonical_dcos(field(&r.coords));
        let below = candidates.iter().filter(|d| compare(&key(d), &wanted).is_lt()).map(key).max_by(|a, b| compare(a, b));
        let above = candidates.iter().filter(|d| compare(&key(d), &wanted).is_gt()).map(key).min_by(|a, b| compare(a, b));
        return candidates.into_iter().filter(|d| Some(key(d)) == below || Some(key(d)) == above).cloned().collect();
    }
    Vec::new()
}

/// `dcos-images tree`: the tree with what is qualified, at a glance.
pub fn render_tree(rows: &[Row]) -> String {
    let mut out = String::new();
    let (mut group, mut dcos) = (String::new(), String::new());
    let mut qualified = 0;
    for r in rows {
        let c = &r.coords;
        let g = format!("{}/{}/{}", c.os, c.os_version, c.cloud);
        if g != group {
            let _ = writeln!(out, "{g}");
            group = g;
            dcos.clear();
        }
        if c.dcos_version != dcos {
            let _ = writeln!(out, "  DCOS-{}", c.dcos_version);
            dcos.clone_from(&c.dcos_version);
        }
        let leaf = match &c.variant {
            Some(v) => format!("docker-{}/{v}", c.docker_version),
            None => format!("docker-{}", c.docker_version),
        };
        let status = match (r.state(), r.built_on()) {
            (State::Qualified, built) => {
                qualified += 1;
                let regions = r.images.keys().cloned().collect::<Vec<_>>().join(" ");
                match built {
                    Some(b) => format!("qualified  {regions}  (built {b})"),
                    None => format!("qualified  {regions}"),
                }
            }
            (State::BuiltNotPublished, built) => format!("built {}, not published", built.unwrap_or_default()),
            (State::NotBuilt, _) => "not built".to_owned(),
        };
        let _ = writeln!(out, "    {leaf:<40} {status}");
    }
    let _ = writeln!(out, "\n{} build directories, {qualified} qualified", rows.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_listing_is_what_serde_json_writes_pretty() {
        let hostile = ["", "plain", "quote \" and \\ back", "tab\tnew\nline\r", "\u{1}\u{1f}\u{7f}", "\u{2028} é 🦀"];
        let mut rows = Vec::new();
        for (i, text) in hostile.iter().enumerate() {
            let images: BTreeMap<String, String> = (0..i).map(|k| (format!("{text}-{k}"), format!("ami-{k}{text}"))).collect();
            rows.push(Row {
                path: format!("a/{text}"),
                coords: Coordinates {
                    os: text.to_string(),
                    os_version: "7.8".into(),
                    cloud: "aws".into(),
                    dcos_version: format!("2.1.{i}"),
                    docker_version: text.to_string(),
                    variant: (i % 2 == 0).then(|| text.to_string()),
                },
                images,
                last_build: (i % 3 != 0).then(|| text.to_string()),
                publish_after: (i % 2 == 1).then(|| "dcos_installation".to_owned()),
            });
        }
        for n in [0, 1, 2, rows.len()] {
            let some = &rows[..n];
            let want = format!("{}\n", serde_json::to_string_pretty(some).unwrap());
            assert_eq!(render_list(some, ListFormat::Json), want, "{n} rows");
        }
    }
}
