//! The three ways diagnostics are printed: for people, for programs, for GitHub.

use crate::diagnostic::{Diagnostic, Severity};
use std::fmt::Write;
use std::io::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// rustc-like, one block per diagnostic.
    Text,
    /// `{"diagnostics": [...], "errors": N, "warnings": N}`.
    Json,
    /// GitHub Actions workflow commands: annotations on the pull request's files.
    Github,
}

/// Writes the diagnostics as [`render`] renders them, straight to `out`:
/// a tree with thousands of findings is never held twice in memory.
pub fn write(out: &mut impl std::io::Write, format: Format, diags: &[Diagnostic], build_dirs: usize) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    match format {
        Format::Json => {
            let (errors, warnings) = super::counts(diags);
            serde_json::to_writer_pretty(&mut out, &Report { diagnostics: diags, errors, warnings })?;
            out.write_all(b"\n")?;
        }
        _ => out.write_all(render(format, diags, build_dirs).as_bytes())?,
    }
    out.flush()
}

/// The JSON document, in the order people read it.
#[derive(serde::Serialize)]
struct Report<'a> {
    diagnostics: &'a [Diagnostic],
    errors: usize,
    warnings: usize,
}

pub fn render(format: Format, diags: &[Diagnostic], build_dirs: usize) -> String {
    let (errors, warnings) = super::counts(diags);
    match format {
        Format::Text => text(diags, errors, warnings, build_dirs),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&Report { diagnostics: diags, errors, warnings }).expect("diagnostics serialize");
            s.push('\n');
            s
        }
        Format::Github => {
            let mut out = String::new();
            for d in diags {
                let level = match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                let line = d.line.map(|l| format!(",line={l}")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "::{level} file={}{line},title={}::{}",
                    escape_property(&d.file),
                    escape_property(&format!("dcos-images {}", d.code)),
                    escape_data(&format!("{}\n{}", d.message, d.hint)),
                );
            }
            let _ = writeln!(out, "{}", summary(errors, warnings, build_dirs));
            out
        }
    }
}

fn text(diags: &[Diagnostic], errors: usize, warnings: usize, build_dirs: usize) -> String {
    let mut out = String::new();
    for d in diags {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let at = match d.line {
            Some(l) => format!("{}:{l}", d.file),
            None => d.file.clone(),
        };
        let _ = writeln!(out, "{level}[{}]: {}\n  --> {at}\n  = help: {}\n", d.code, d.message, d.hint);
    }
    let _ = writeln!(out, "{}", summary(errors, warnings, build_dirs));
    out
}

fn summary(errors: usize, warnings: usize, build_dirs: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {} in {}",
        plural(errors, "error"),
        plural(warnings, "warning"),
        if build_dirs == 1 { "1 build directory".to_owned() } else { format!("{build_dirs} build directories") }
    )
}

/// GitHub's escaping of a workflow command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// GitHub's escaping of a workflow command's property values.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Code, FileProblem};

    #[test]
    fn github_annotations_escape_what_github_needs() {
        let d = FileProblem::new(Code::ParseError, Some(3), "bad: 100%", "fix, then\nrerun").into_diagnostic(Some("a"), "a/b,c.json");
        let out = render(Format::Github, &[d], 1);
        assert!(
            out.starts_with("::error file=a/b%2Cc.json,line=3,title=dcos-images parse-error::bad: 100%25%0Afix, then%0Arerun\n"),
            "{out}"
        );
    }
}
