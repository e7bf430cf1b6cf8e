//! The three ways diagnostics are printed: for people, for programs, for GitHub.

use crate::diagnostic::Diagnostic;
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
        Format::Json => json(&mut out, diags)?,
        _ => out.write_all(render(format, diags, build_dirs).as_bytes())?,
    }
    out.flush()
}

/// The JSON document, `{"diagnostics": [...], "errors": N, "warnings": N}`,
/// byte for byte as serde_json's pretty printer writes it (a test compares
/// them), through [`json_text`].
fn json(out: &mut impl std::io::Write, diags: &[Diagnostic]) -> std::io::Result<()> {
    use crate::json_text::{optional, string};
    let (errors, warnings) = super::counts(diags);
    out.write_all(if diags.is_empty() { b"{\n  \"diagnostics\": []" } else { b"{\n  \"diagnostics\": [" })?;
    for (i, d) in diags.iter().enumerate() {
        out.write_all(if i == 0 { b"\n    {\n      \"code\": " } else { b",\n    {\n      \"code\": " })?;
        string(out, d.code.as_str())?;
        out.write_all(b",\n      \"severity\": ")?;
        string(out, d.severity.as_str())?;
        out.write_all(b",\n      \"build_dir\": ")?;
        optional(out, d.build_dir.as_deref())?;
        out.write_all(b",\n      \"file\": ")?;
        string(out, &d.file)?;
        out.write_all(b",\n      \"line\": ")?;
        match d.line {
            Some(line) => write!(out, "{line}")?,
            None => out.write_all(b"null")?,
        }
        out.write_all(b",\n      \"message\": ")?;
        string(out, &d.message)?;
        out.write_all(b",\n      \"hint\": ")?;
        string(out, &d.hint)?;
        out.write_all(b"\n    }")?;
    }
    if !diags.is_empty() {
        out.write_all(b"\n  ]")?;
    }
    writeln!(out, ",\n  \"errors\": {errors},\n  \"warnings\": {warnings}\n}}")
}

pub fn render(format: Format, diags: &[Diagnostic], build_dirs: usize) -> String {
    let (errors, warnings) = super::counts(diags);
    match format {
        Format::Text => text(diags, errors, warnings, build_dirs),
        Format::Json => {
            let mut bytes = Vec::new();
            json(&mut bytes, diags).expect("writing to memory cannot fail");
            String::from_utf8(bytes).expect("JSON of strings is UTF-8")
        }
        Format::Github => {
            let mut out = String::new();
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
            let _ = writeln!(out, "{}", summary(errors, warnings, build_dirs));
            out
        }
    }
}

fn text(diags: &[Diagnostic], errors: usize, warnings: usize, build_dirs: usize) -> String {
    let mut out = String::new();
    for d in diags {
        let level = d.severity.as_str();
        let at = match d.line {
            Some(l) => format!("{}:{l}", d.file),
            None => d.file.to_string(),
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
            write(&mut written, Format::Json, some, 1).unwrap();
            assert_eq!(String::from_utf8(written).unwrap(), want);
        }
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
