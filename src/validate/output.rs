//! The three ways diagnostics are printed: for people, for programs, for GitHub.

use crate::diagnostic::Diagnostic;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// rustc-like, one block per diagnostic.
    Text,
    /// `{"diagnostics": [...], "errors": N, "warnings": N}`.
    Json,
    /// GitHub Actions workflow commands: annotations on the pull request's files.
    Github,
}

/// Writes the diagnostics as [`render`] renders them, straight to `out`,
/// counting them on the way: a tree with thousands of findings is never
/// held twice in memory, nor gathered into one list to be written. Errors
/// and warnings, as [`super::counts`] counts them.
pub fn write<'a>(
    out: &mut impl std::io::Write,
    format: Format,
    diags: impl Iterator<Item = &'a Diagnostic>,
    build_dirs: usize,
) -> std::io::Result<(usize, usize)> {
    let counts = match format {
        Format::Json => json(out, diags)?,
        Format::Text | Format::Github => {
            let mut tally = Tally::default();
            let mut text = String::new();
            let diags = diags.inspect(|d| tally.add(d));
            if format == Format::Text {
                self::text(&mut text, diags);
            } else {
                github(&mut text, diags);
            }
            let _ = writeln!(text, "{}", summary(tally.errors, tally.warnings, build_dirs));
            out.write_all(text.as_bytes())?;
            (tally.errors, tally.warnings)
        }
    };
    out.flush()?;
    Ok(counts)
}

/// Errors and warnings, counted while they are written.
#[derive(Default)]
struct Tally {
    errors: usize,
    warnings: usize,
}

impl Tally {
    fn add(&mut self, d: &Diagnostic) {
        match d.severity {
            crate::diagnostic::Severity::Error => self.errors += 1,
            crate::diagnostic::Severity::Warning => self.warnings += 1,
        }
    }
}

/// What [`json`] hands `out` at a time: the real tree's 1.5 MB are
/// written through one buffer of this size, not held whole.
const CHUNK: usize = 1 << 16;

/// The JSON document, `{"diagnostics": [...], "errors": N, "warnings": N}`,
/// byte for byte as serde_json's pretty printer writes it (a test compares
/// them), through [`json_text`](crate::json_text).
///
/// Writing the second half on another core was tried twice: the thread and
/// the fresh pages of its buffer cost what the core saved, and rendering
/// every other block of 256 findings on a second core, buffers handed back
/// and forth, made the ten-times tree's output 3.5 -> 5.7 ms (each hand-over
/// wakes the other core).
fn json<'a>(out: &mut impl std::io::Write, diags: impl Iterator<Item = &'a Diagnostic>) -> std::io::Result<(usize, usize)> {
    use crate::json_text::number;
    let mut tally = Tally::default();
    let mut buf = Vec::with_capacity(CHUNK + 1024);
    buf.extend_from_slice(b"{\n  \"diagnostics\": [");
    for d in diags {
        finding(&mut buf, d, tally.errors + tally.warnings == 0);
        tally.add(d);
        if buf.len() >= CHUNK {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    buf.extend_from_slice(if tally.errors + tally.warnings == 0 { b"]" } else { b"\n  ]" });
    buf.extend_from_slice(b",\n  \"errors\": ");
    number(&mut buf, tally.errors);
    buf.extend_from_slice(b",\n  \"warnings\": ");
    number(&mut buf, tally.warnings);
    buf.extend_from_slice(b"\n}\n");
    out.write_all(&buf)?;
    Ok((tally.errors, tally.warnings))
}

/// One finding of the `diagnostics` array, after its separator.
fn finding(out: &mut Vec<u8>, d: &Diagnostic, first: bool) {
    use crate::json_text::{number, optional, string};
    out.extend_from_slice(if first { b"\n    {\n      \"code\": \"" } else { b",\n    {\n      \"code\": \"" });
    // Codes and severities are plain identifiers (a test checks every one):
    // nothing to escape.
    out.extend_from_slice(d.code.as_str().as_bytes());
    out.extend_from_slice(b"\",\n      \"severity\": \"");
    out.extend_from_slice(d.severity.as_str().as_bytes());
    out.extend_from_slice(b"\",\n      \"build_dir\": ");
    optional(out, d.build_dir.as_deref());
    out.extend_from_slice(b",\n      \"file\": ");
    string(out, &d.file);
    out.extend_from_slice(b",\n      \"line\": ");
    match d.line {
        Some(line) => number(out, line),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\n      \"message\": ");
    string(out, &d.message);
    out.extend_from_slice(b",\n      \"hint\": ");
    string(out, &d.hint);
    out.extend_from_slice(b"\n    }");
}

/// The diagnostics as one text, as [`write`] writes them.
pub fn render(format: Format, diags: &[Diagnostic], build_dirs: usize) -> String {
    let mut bytes = Vec::new();
    write(&mut bytes, format, diags.iter(), build_dirs).expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("diagnostics are UTF-8")
}

fn github<'a>(out: &mut String, diags: impl Iterator<Item = &'a Diagnostic>) {
    for d in diags {
        let level = d.severity.as_str();
        let line = d.line.map(|l| format!(",line={l}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "::{level} file={}{line},title={}::{}",
            escape_property(&d.file),
            escape_property(&format!("dcos-images {}", d.code)),
            escape_data(&format!("{}\n{}", d.message, d.hint)),
        );
    }
}

fn text<'a>(out: &mut String, diags: impl Iterator<Item = &'a Diagnostic>) {
    for d in diags {
        let level = d.severity.as_str();
        let at = match d.line {
            Some(l) => format!("{}:{l}", d.file),
            None => d.file.to_string(),
        };
        let _ = writeln!(out, "{level}[{}]: {}\n  --> {at}\n  = help: {}\n", d.code, d.message, d.hint);
    }
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
    fn json_is_what_serde_json_writes_pretty() {
        #[derive(serde::Serialize)]
        struct Report<'a> {
            diagnostics: &'a [Diagnostic],
            errors: usize,
            warnings: usize,
        }
        let hostile = ["", "plain", "quote \" and \\ back", "tab\tnew\nline\r", "\u{1}\u{1f}\u{7f}", "\u{2028} é 🦀", "`code` ]]> <&>"];
        let mut diags = Vec::new();
        for (i, text) in hostile.iter().enumerate() {
            let code = if i % 2 == 0 { Code::ParseError } else { Code::LegacyVariable };
            let problem = FileProblem::new(code, (i % 3 != 0).then_some(i * 1000), *text, format!("hint {text}"));
            diags.push(problem.into_diagnostic((i % 2 == 0).then_some(*text), &format!("dir/{text}")));
        }
        for n in [0, 1, diags.len()] {
            let some = &diags[..n];
            let (errors, warnings) = crate::validate::counts(some);
            let mut want = serde_json::to_string_pretty(&Report { diagnostics: some, errors, warnings }).unwrap();
            want.push('\n');
            assert_eq!(render(Format::Json, some, 1), want);
            let mut written = Vec::new();
            write(&mut written, Format::Json, some.iter(), 1).unwrap();
            assert_eq!(String::from_utf8(written).unwrap(), want);
        }
    }

    #[test]
    fn codes_and_severities_need_no_escaping() {
        // `finding` writes them without escaping.
        let plain = |s: &str| serde_json::to_string(s).unwrap() == format!("\"{s}\"");
        assert!(Code::ALL.iter().all(|c| plain(c.as_str())));
        assert!(plain(crate::diagnostic::Severity::Error.as_str()) && plain(crate::diagnostic::Severity::Warning.as_str()));
    }

    #[test]
    fn many_findings_are_written_in_chunks_as_serde_json_writes_them() {
        // Escapes, and findings across the chunks' ends.
        let n = 1025;
        let diags: Vec<Diagnostic> = (0..n)
            .map(|i| {
                let text = format!("finding {i} \"quoted\"\t{}", "x".repeat(i % 300));
                FileProblem::new(Code::ALL[i % Code::ALL.len()], (i % 4 != 0).then_some(i), text, "hint\n")
                    .into_diagnostic((i % 3 != 0).then_some("dir/a"), &format!("dir/a/file{i}.json"))
            })
            .collect();
        let (errors, warnings) = crate::validate::counts(&diags);
        assert!(errors > 0 && warnings > 0);
        let want = serde_json::json!({"diagnostics": &diags, "errors": errors, "warnings": warnings});
        let mut want = serde_json::to_string_pretty(&want).unwrap();
        want.push('\n');
        let mut written = Vec::new();
        write(&mut written, Format::Json, diags.iter(), 1).unwrap();
        assert!(written.len() > 2 * CHUNK);
        assert_eq!(String::from_utf8(written).unwrap(), want);
    }

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
