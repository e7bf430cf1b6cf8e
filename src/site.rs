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
use crate::fsutil;
use crate::tree::version::{canonical_dcos, compare};
use crate::tree::Layout;
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
}

#[derive(Serialize)]
struct ImagesJson<'a> {
    /// Bumped when a field changes meaning.
    format: u32,
    build_directories: &'a [Entry],
}

/// Every build directory of the tree, in the tree's order.
pub fn entries(layout: &Layout) -> Vec<Entry> {
    browse::rows(layout, &Filter::default())
        .into_iter()
        .map(|row| Entry { state: row.state(), dcos_release: canonical_dcos(&row.coords.dcos_version), row })
        .collect()
}

/// Writes `index.html` and `images.json` into `out` (created if needed),
/// each atomically. Returns the paths written.
pub fn write(layout: &Layout, out: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let entries = entries(layout);
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

/// A cell of the matrix: OS, OS version, DC/OS version.
type Cell<'a> = (&'a str, &'a str, &'a str);

fn page(entries: &[Entry], json: &str) -> String {
    // Rows: OS and OS version; columns: DC/OS versions, newest first.
    let mut rows: Vec<(&str, &str)> = entries.iter().map(|e| (e.row.coords.os.as_str(), e.row.coords.os_version.as_str())).collect();
    rows.sort_by(|a, b| a.0.cmp(b.0).then_with(|| compare(b.1, a.1)));
    rows.dedup();
    let mut columns: Vec<&str> = entries.iter().map(|e| e.row.coords.dcos_version.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    columns.sort_by(|a, b| compare(b, a));
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
        "<caption>Build directories by OS (rows) and DC/OS version (columns): {} in all, {qualified} qualified</caption>",
        entries.len()
    );
    let _ = write!(table, "<thead><tr><th scope=\"col\">OS</th>");
    for (col, v) in columns.iter().enumerate() {
        let _ = write!(table, "<th scope=\"col\" data-col=\"{col}\">DC/OS {}</th>", esc(v));
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
        for (col, v) in columns.iter().enumerate() {
            match cells.get(&(*os, *os_version, *v)) {
                None => {
                    let _ = write!(table, "<td data-col=\"{col}\"><span class=\"visually-hidden\">none</span></td>");
                }
                Some(dirs) => {
                    let _ = write!(table, "<td data-col=\"{col}\"><ul>");
                    for (i, e) in dirs {
                        let c = &e.row.coords;
                        let variant = c.variant.as_deref().map(|v| format!(" · {}", esc(v))).unwrap_or_default();
                        let _ = write!(
                            table,
                            "<li><button type=\"button\" class=\"dir {state}\" data-entry=\"{i}\" aria-label=\"{os} {osv}, DC/OS {dcos}, Docker {docker}{variant_label}: {label}\">Docker {docker}{variant} <span class=\"state\">{label}</span></button></li>",
                            state = match e.state {
                                State::Qualified => "qualified",
                                State::BuiltNotPublished => "built",
                                State::NotBuilt => "not-built",
                            },
                            os = esc(os),
                            osv = esc(os_version),
                            dcos = esc(v),
                            docker = esc(&c.docker_version),
                            variant_label = c.variant.as_deref().map(|v| format!(", {}", esc(v))).unwrap_or_default(),
                            label = label(e.state),
                        );
                    }
                    let _ = write!(table, "</ul></td>");
                }
            }
        }
        let _ = writeln!(table, "</tr>");
    }
    let _ = writeln!(table, "</tbody>\n</table>");

    PAGE.replace("{{TABLE}}", &table).replace("{{DATA}}", &script_safe(json))
}

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DC/OS images: compatibility</title>
<style>
:root { color-scheme: light dark; --ok: #1a7f37; --built: #9a6700; --none: #6e7781; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1rem; max-width: 90rem; }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
label { font-weight: 600; display: block; margin-bottom: .25rem; }
input[type=search] { width: 100%; max-width: 40rem; font: inherit; padding: .5rem .6rem; border: 1px solid var(--line); border-radius: 6px; }
.hint { color: var(--none); margin: .25rem 0 1rem; }
#answer:empty { display: none; }
#answer { margin: 0 0 1rem; padding: .75rem; border: 1px solid var(--line); border-radius: 6px; }
#answer ul, #details ul { list-style: none; padding: 0; margin: .25rem 0; }
#answer li, #details li { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; padding: .2rem 0; }
code { font: .95em ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
.scroll { overflow-x: auto; position: relative; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; padding: .5rem; color: var(--none); }
th, td { border-top: 1px solid var(--line); padding: .4rem; text-align: left; vertical-align: top; }
thead th { position: sticky; top: 0; background: Canvas; white-space: nowrap; }
tbody th { white-space: nowrap; }
td ul { list-style: none; margin: 0; padding: 0; }
button { font: inherit; cursor: pointer; border: 1px solid var(--line); border-radius: 6px; background: Canvas; color: CanvasText; padding: .25rem .5rem; margin: .1rem 0; text-align: left; }
button:focus-visible, input:focus-visible { outline: 3px solid Highlight; outline-offset: 2px; }
button.dir { border-left: 6px solid var(--none); width: 100%; min-width: 11rem; }
button.dir.qualified { border-left-color: var(--ok); }
button.dir.built { border-left-color: var(--built); }
.state { display: block; font-size: .85em; color: var(--none); }
.qualified .state { color: var(--ok); }
.built .state { color: var(--built); }
[hidden] { display: none !important; }
#details { margin: 1rem 0; padding: .75rem; border: 2px solid var(--ok); border-radius: 6px; }
#details h2 { font-size: 1.1rem; margin: 0 0 .25rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 40rem) { body { padding: .5rem; } button.dir { min-width: 9rem; } }
</style>
</head>
<body>
<main>
<h1>DC/OS images: which image runs which DC/OS</h1>
<form role="search" onsubmit="return false">
<label for="q">Find an image</label>
<input id="q" type="search" autocomplete="off" spellcheck="false" placeholder="centos 7.8 2.1.1 us-west-2" aria-describedby="q-hint">
<p id="q-hint" class="hint">Type any of: OS, OS version, DC/OS version, Docker version, variant, region. The matrix below keeps what matches.</p>
</form>
<section id="answer" aria-live="polite" aria-label="Answer"></section>
<section id="details" hidden tabindex="-1" aria-labelledby="details-title"></section>
<div class="scroll">
{{TABLE}}
</div>
<p class="hint">Also as data: <a href="images.json">images.json</a>. Generated by <code>dcos-images site</code>.</p>
</main>
<script type="application/json" id="data">{{DATA}}</script>
<script>
"use strict";
const entries = JSON.parse(document.getElementById("data").textContent).build_directories;
const REGION = /^[a-z]{2}(-gov)?-[a-z]+-[0-9]+$/;
const q = document.getElementById("q"), answer = document.getElementById("answer"), details = document.getElementById("details");

// As the tool's filters: a version matches whole components (2.1 is 2.1.0 and 2.1.1, not 2.10).
function prefix(value, f) {
  return value === f || (value.startsWith(f) && (value[f.length] === "." || value[f.length] === "-"));
}
function fieldsOf(e) {
  return [e.os, e.os_version, e.dcos_version, e.dcos_release, e.docker_version, "docker-" + e.docker_version, e.variant || "", e.path];
}
function matches(e, words) {
  return words.every(w => fieldsOf(e).some(v => v && (prefix(v.toLowerCase(), w) || v.toLowerCase() === w)));
}
function el(tag, props, ...children) {
  const n = document.createElement(tag);
  Object.assign(n, props || {});
  for (const c of children) n.append(c);
  return n;
}
function copyButton(text, what) {
  const b = el("button", { type: "button", textContent: "Copy" });
  b.setAttribute("aria-label", "Copy " + what);
  b.addEventListener("click", async () => {
    let done = false;
    try { await navigator.clipboard.writeText(text); done = true; } catch (_) {
      const t = el("textarea", { value: text });
      document.body.append(t); t.select();
      try { done = document.execCommand("copy"); } catch (_) { done = false; }
      t.remove();
    }
    b.textContent = done ? "Copied" : "Select and copy";
  });
  return b;
}
function imageList(e, region) {
  const list = el("ul");
  const regions = Object.keys(e.images).filter(r => !region || r === region);
  for (const r of regions) {
    list.append(el("li", {}, el("code", { textContent: e.images[r] }), " " + r + " ", copyButton(e.images[r], e.images[r] + " (" + r + ")")));
  }
  return list;
}
function stateLabel(s) {
  return { "qualified": "qualified", "built-not-published": "built, not published", "not-built": "not built" }[s];
}
function show(i) {
  const e = entries[i];
  details.replaceChildren(
    el("h2", { id: "details-title", textContent: e.path }),
    el("p", { textContent: stateLabel(e.state) + (e.last_build ? "; last build " + e.last_build.slice(0, 10) : "; never built") +
      (e.publish_after ? "; publishes after " + e.publish_after : "") }),
    Object.keys(e.images).length ? imageList(e) : el("p", { textContent: "No published image." }),
    el("button", { type: "button", textContent: "Close", onclick: () => { details.hidden = true; } }));
  details.hidden = false;
  details.focus();
}
function update() {
  const words = q.value.toLowerCase().split(/[\s,/]+/).filter(Boolean);
  const regions = words.filter(w => REGION.test(w));
  const others = words.filter(w => !REGION.test(w));
  const region = regions[regions.length - 1];
  const hits = entries.map((e, i) => [e, i]).filter(([e]) => matches(e, others));
  for (const b of document.querySelectorAll("button.dir")) {
    const e = entries[+b.dataset.entry];
    b.closest("li").hidden = !(matches(e, others) && (!region || e.images[region]));
  }
  for (const tr of document.querySelectorAll("#matrix tbody tr")) {
    tr.hidden = !tr.querySelector("li:not([hidden])");
  }
  // Columns (DC/OS versions) with nothing left in any shown row go too.
  const shown = new Set();
  for (const li of document.querySelectorAll("#matrix tbody tr:not([hidden]) li:not([hidden])")) {
    shown.add(li.closest("td").dataset.col);
  }
  for (const cell of document.querySelectorAll("#matrix [data-col]")) {
    cell.hidden = !shown.has(cell.dataset.col);
  }
  if (!words.length) { answer.replaceChildren(); return; }
  const found = hits.filter(([e]) => Object.keys(e.images).some(r => !region || r === region));
  if (!found.length) {
    answer.replaceChildren(el("p", { textContent: hits.length
      ? hits.length + " build director" + (hits.length === 1 ? "y matches" : "ies match") + ", but none has a qualified image" + (region ? " in " + region : "") + "."
      : "No build directory matches." }));
    return;
  }
  const list = el("ul");
  for (const [e] of found) {
    for (const r of Object.keys(e.images).filter(r => !region || r === region)) {
      list.append(el("li", {}, el("code", { className: "image", textContent: e.images[r] }), " " + r + " ", el("code", { textContent: e.path }), " ",
        copyButton(e.images[r], e.images[r] + " (" + r + ")")));
    }
  }
  answer.replaceChildren(el("p", { textContent: found.length === 1 ? "Image:" : "Images:" }), list);
}
document.getElementById("matrix").addEventListener("click", ev => {
  const b = ev.target.closest("button.dir");
  if (b) show(+b.dataset.entry);
});
q.addEventListener("input", update);
const initial = new URLSearchParams(location.search).get("q");
if (initial) { q.value = initial; }
update();
</script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_end_its_script_element() {
        assert_eq!(script_safe(r#"{"a":"</script><!--"}"#), r#"{"a":"<\/script><\!--"}"#);
        assert_eq!(esc(r#"<a href="x">'&"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
    }
}
