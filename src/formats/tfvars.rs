//! `cluster_profile.tfvars`: the subset of HCL that real cluster profiles use.
//! `key = value` per line; strings, numbers, bools, lists and maps (which may
//! span lines); `#`, `//` and `/* */` comments; heredocs. Every error names its
//! line and column.

use super::Parsed;
use crate::diagnostic::{Code, FileProblem};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub enum TfValue {
    String(String),
    /// Kept as written, so that `3` and `3.0` round-trip to terraform unchanged.
    Number(String),
    Bool(bool),
    Null,
    List(Vec<TfValue>),
    Map(Vec<(String, TfValue)>),
}

impl TfValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            TfValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as JSON, for `*.tfvars.json` files handed to terraform.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            TfValue::String(s) => Value::String(s.clone()),
            TfValue::Number(n) => serde_json::from_str(n).unwrap_or_else(|_| Value::String(n.clone())),
            TfValue::Bool(b) => Value::Bool(*b),
            TfValue::Null => Value::Null,
            TfValue::List(items) => Value::Array(items.iter().map(TfValue::to_json).collect()),
            TfValue::Map(entries) => Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TfEntry {
    pub key: String,
    pub value: TfValue,
    pub line: usize,
    /// Byte offsets of the whole assignment (`key` to the value's end) and of
    /// the value alone, so that `migrate` can edit a file and keep the rest.
    pub span: std::ops::Range<usize>,
    pub value_span: std::ops::Range<usize>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tfvars {
    pub entries: Vec<TfEntry>,
}

impl Tfvars {
    pub fn get(&self, key: &str) -> Option<&TfEntry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    pub fn parse(text: &str) -> Parsed<Tfvars> {
        let mut p = Parser { src: text.as_bytes(), text, pos: 0, line: 1, line_start: 0 };
        match p.file() {
            Ok(entries) => {
                // A profile sets a dozen or two variables: looking back
                // through them costs less than hashing each name; a set
                // keeps a long file linear.
                let mut first_line: HashMap<&str, usize> = HashMap::new();
                let mut first_of = |i: usize| -> Option<usize> {
                    let e = &entries[i];
                    if entries.len() <= 64 {
                        entries[..i].iter().find(|f| f.key == e.key).map(|f| f.line)
                    } else {
                        match first_line.get(e.key.as_str()) {
                            Some(&first) => Some(first),
                            None => {
                                first_line.insert(&e.key, e.line);
                                None
                            }
                        }
                    }
                };
                let problems = entries
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| {
                        first_of(i).map(|first| {
                            FileProblem::new(
                                Code::DuplicateKey,
                                Some(e.line),
                                format!("`{}` is set twice (first on line {first}); terraform refuses such a file", e.key),
                                "remove one of the two assignments",
                            )
                        })
                    })
                    .collect();
                Parsed { value: Some(Tfvars { entries }), problems }
            }
            Err(problem) => Parsed::failed(problem),
        }
    }
}

struct Parser<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    line: usize,
    line_start: usize,
}

type PResult<T> = Result<T, FileProblem>;

impl Parser<'_> {
    fn error(&self, what: impl Into<String>) -> FileProblem {
        // `get`: an error must never panic, whatever offsets a failed parse left.
        let column = self.text.get(self.line_start..self.pos.min(self.text.len())).map_or(0, |s| s.chars().count()) + 1;
        FileProblem::new(
            Code::ParseError,
            Some(self.line),
            format!("invalid tfvars: {} (column {column})", what.into()),
            "write `name = value` with a quoted string, a number, true/false, [list] or {map}",
        )
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
            self.line_start = self.pos;
        }
        Some(c)
    }

    /// Skips blanks and comments; newlines too when `newlines` is set.
    fn skip(&mut self, newlines: bool) -> PResult<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r') => {
                    self.bump();
                }
                Some(b'\n') if newlines => {
                    self.bump();
                }
                Some(b'#') => self.skip_line_comment(),
                Some(b'/') if self.src.get(self.pos + 1) == Some(&b'/') => self.skip_line_comment(),
                Some(b'/') if self.src.get(self.pos + 1) == Some(&b'*') => {
                    let (line, col_pos, line_start) = (self.line, self.pos, self.line_start);
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            Some(b'*') if self.peek() == Some(b'/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                            None => {
                                (self.line, self.pos, self.line_start) = (line, col_pos, line_start);
                                return Err(self.error("a `/*` comment is never closed"));
                            }
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn skip_line_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'\n' {
                break;
            }
            self.bump();
        }
    }

    fn file(&mut self) -> PResult<Vec<TfEntry>> {
        let mut entries = Vec::new();
        loop {
            self.skip(true)?;
            let Some(c) = self.peek() else { return Ok(entries) };
            if !(c.is_ascii_alphabetic() || c == b'_') {
                return Err(self.error(format!("expected a variable name, found `{}`", self.char_here())));
            }
            let (line, key_start) = (self.line, self.pos);
            let key = self.ident();
            self.skip(false)?;
            if self.peek() != Some(b'=') {
                return Err(self.error(format!("expected `=` after `{key}`")));
            }
            self.bump();
            self.skip(false)?;
            let value_start = self.pos;
            let value = self.value()?;
            let value_end = self.pos;
            self.skip(false)?;
            match self.peek() {
                None | Some(b'\n') => {}
                Some(_) => return Err(self.error(format!("unexpected `{}` after the value of `{key}`", self.char_here()))),
            }
            entries.push(TfEntry { key, value, line, span: key_start..value_end, value_span: value_start..value_end });
        }
    }

    fn char_here(&self) -> String {
        self.text[self.pos..].chars().next().map(String::from).unwrap_or_default()
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' {
                self.bump();
            } else {
                break;
            }
        }
        self.text[start..self.pos].to_owned()
    }

    fn value(&mut self) -> PResult<TfValue> {
        match self.peek() {
            Some(b'"') => self.string().map(TfValue::String),
            Some(b'[') => self.list(),
            Some(b'{') => self.map(),
            Some(b'<') if self.text[self.pos..].starts_with("<<") => self.heredoc(),
            Some(c) if c.is_ascii_digit() || c == b'-' => {
                let start = self.pos;
                self.bump();
                while let Some(c) = self.peek() {
                    if c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-') {
                        self.bump();
                    } else {
                        break;
                    }
                }
                let raw = &self.text[start..self.pos];
                if raw.parse::<f64>().is_err() {
                    self.pos = start;
                    return Err(self.error(format!("`{raw}` is not a number")));
                }
                Ok(TfValue::Number(raw.to_owned()))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                let word = self.ident();
                match word.as_str() {
                    "true" => Ok(TfValue::Bool(true)),
                    "false" => Ok(TfValue::Bool(false)),
                    "null" => Ok(TfValue::Null),
                    _ => {
                        self.pos = start;
                        Err(self.error(format!("`{word}` is not a value; quote strings: \"{word}\"")))
                    }
                }
            }
            None => Err(self.error("the file ends where a value should be")),
            Some(_) => Err(self.error(format!("`{}` cannot start a value", self.char_here()))),
        }
    }

    fn string(&mut self) -> PResult<String> {
        let (start_line, start_pos, start_ls) = (self.line, self.pos, self.line_start);
        self.bump(); // opening quote
        let mut out = String::new();
        let mut depth = 0usize; // inside ${ ... } quotes do not end the string
        loop {
            // The plain run up to the next byte that means something here,
            // taken whole: it holds no newline, so the line is unchanged,
            // and it ends at an ASCII byte, so on a character boundary.
            let run = self.src[self.pos..].iter().position(|c| matches!(c, b'"' | b'\\' | b'\n' | b'$' | b'}'));
            let end = run.map_or(self.src.len(), |n| self.pos + n);
            out.push_str(&self.text[self.pos..end]);
            self.pos = end;
            let Some(c) = self.peek() else {
                (self.line, self.pos, self.line_start) = (start_line, start_pos, start_ls);
                return Err(self.error("a string is never closed"));
            };
            match c {
                b'"' if depth == 0 => {
                    self.bump();
                    return Ok(out);
                }
                b'\n' if depth == 0 => {
                    (self.line, self.pos, self.line_start) = (start_line, start_pos, start_ls);
                    return Err(self.error("a string is not closed on its line"));
                }
                b'\\' => {
                    self.bump();
                    match self.bump() {
                        Some(b'n') => out.push('\n'),
                        Some(b't') => out.push('\t'),
                        Some(b'r') => out.push('\r'),
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(other) => {
                            // Kept as written; a non-ASCII character after the
                            // backslash is taken whole, never split.
                            self.pos -= 1;
                            let ch = self.text[self.pos..].chars().next().unwrap_or(other as char);
                            self.pos += ch.len_utf8();
                            out.push('\\');
                            out.push(ch);
                        }
                        None => return Err(self.error("a string ends in a backslash")),
                    }
                }
                _ => {
                    if c == b'$' && self.src.get(self.pos + 1) == Some(&b'{') {
                        depth += 1;
                    } else if c == b'}' && depth > 0 {
                        depth -= 1;
                    }
                    let ch = self.text[self.pos..].chars().next().expect("in bounds");
                    for _ in 0..ch.len_utf8() {
                        self.bump();
                    }
                    out.push(ch);
                }
            }
        }
    }

    fn list(&mut self) -> PResult<TfValue> {
        self.bump(); // [
        let mut items = Vec::new();
        loop {
            self.skip(true)?;
            if self.peek() == Some(b']') {
                self.bump();
                return Ok(TfValue::List(items));
            }
            if self.peek().is_none() {
                return Err(self.error("a list `[` is never closed"));
            }
            items.push(self.value()?);
            self.skip(true)?;
            match self.peek() {
                Some(b',') => {
                    self.bump();
                }
                Some(b']') => {}
                _ => return Err(self.error("expected `,` or `]` in a list")),
            }
        }
    }

    fn map(&mut self) -> PResult<TfValue> {
        self.bump(); // {
        let mut entries: Vec<(String, TfValue)> = Vec::new();
        loop {
            self.skip(true)?;
            match self.peek() {
                Some(b'}') => {
                    self.bump();
                    return Ok(TfValue::Map(entries));
                }
                None => return Err(self.error("a map `{` is never closed")),
                _ => {}
            }
            let key = match self.peek() {
                Some(b'"') => self.string()?,
                Some(c) if c.is_ascii_alphabetic() || c == b'_' => self.ident(),
                _ => return Err(self.error(format!("expected a map key, found `{}`", self.char_here()))),
            };
            self.skip(false)?;
            if !matches!(self.peek(), Some(b'=' | b':')) {
                return Err(self.error(format!("expected `=` after map key `{key}`")));
            }
            self.bump();
            self.skip(false)?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(FileProblem { code: Code::DuplicateKey, ..self.error(format!("map key `{key}` is set twice")) });
            }
            let value = self.value()?;
            entries.push((key, value));
            self.skip(false)?;
            if self.peek() == Some(b',') {
                self.bump();
            }
        }
    }

    fn heredoc(&mut self) -> PResult<TfValue> {
        self.bump();
        self.bump();
        let indented = self.peek() == Some(b'-');
        if indented {
            self.bump();
        }
        let marker = self.ident();
        if marker.is_empty() {
            return Err(self.error("a heredoc `<<` needs a marker, e.g. <<EOT"));
        }
        self.skip_line_comment();
        self.bump();
        let mut lines = Vec::new();
        loop {
            if self.peek().is_none() {
                return Err(self.error(format!("heredoc `{marker}` is never closed")));
            }
            let start = self.pos;
            self.skip_line_comment();
            let line = &self.text[start..self.pos];
            // The closing marker's newline ends the assignment, as after any value.
            if line.trim() == marker {
                break;
            }
            self.bump();
            lines.push(if indented { line.trim_start() } else { line });
        }
        let mut s = lines.join("\n");
        s.push('\n');
        Ok(TfValue::String(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_real_profiles_use() {
        let text = r#"
os = "coreos" # trailing comment
// a comment
num_of_masters = "1"
num_masters    = 3
ratio = -0.5
enable_os_setup_script = false
availability_zones = ["us-west-2a",
   "us-west-2b",]
tags={owner = "dcos-images", "expiration": "10h"}
/* block
   comment */
script = <<-EOT
    echo "${var.x}"
    EOT
url = "https://x/${lookup(var.m, "k")}/y"
"#;
        let p = Tfvars::parse(text);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let t = p.value.unwrap();
        assert_eq!(t.get("os").unwrap().value, TfValue::String("coreos".into()));
        assert_eq!(t.get("num_masters").unwrap().value, TfValue::Number("3".into()));
        assert_eq!(t.get("num_masters").unwrap().line, 5);
        assert_eq!(t.get("enable_os_setup_script").unwrap().value, TfValue::Bool(false));
        assert_eq!(t.get("availability_zones").unwrap().value.to_json(), serde_json::json!(["us-west-2a", "us-west-2b"]));
        assert_eq!(t.get("tags").unwrap().value.to_json(), serde_json::json!({"owner": "dcos-images", "expiration": "10h"}));
        assert_eq!(t.get("script").unwrap().value, TfValue::String("echo \"${var.x}\"\n".into()));
        assert_eq!(t.get("url").unwrap().value.as_str(), Some("https://x/${lookup(var.m, \"k\")}/y"));
    }

    #[test]
    fn a_long_file_finds_its_repeated_keys_as_a_short_one_does() {
        let mut text: String = (0..70).map(|i| format!("k{i} = {i}\n")).collect();
        text.push_str("k3 = 0\nk69 = 1\n");
        let p = Tfvars::parse(&text);
        let found: Vec<(Option<usize>, &str)> = p.problems.iter().map(|p| (p.line, p.message.as_ref())).collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, Some(71));
        assert!(found[0].1.contains("first on line 4"), "{found:?}");
        assert!(found[1].1.contains("`k69`") && found[1].1.contains("first on line 70"), "{found:?}");
    }

    #[test]
    fn strings_keep_every_character_between_their_quotes() {
        let p = Tfvars::parse("a = \"é}ü ${f(\"x\")} \\\"q\\n\"\nb = \"${a}}\"\n");
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let t = p.value.unwrap();
        assert_eq!(t.get("a").unwrap().value.as_str(), Some("é}ü ${f(\"x\")} \"q\n"));
        assert_eq!(t.get("b").unwrap().value.as_str(), Some("${a}}"));
        assert_eq!(t.get("b").unwrap().line, 2);
    }

    #[test]
    fn errors_name_line_and_column() {
        let p = Tfvars::parse("a = \"x\"\nb = \"unterminated\nc = 1\n");
        assert_eq!(p.problems[0].code, Code::ParseError);
        assert_eq!(p.problems[0].line, Some(2));
        assert!(p.problems[0].message.contains("column 5"), "{}", p.problems[0].message);

        let p = Tfvars::parse("a = \"x\"\n\nb \"y\"\n");
        assert_eq!(p.problems[0].line, Some(3));
        assert!(p.problems[0].message.contains("expected `=`"));

        let p = Tfvars::parse("list = [1, 2\nx = 3\n");
        assert_eq!(p.problems[0].code, Code::ParseError);

        let p = Tfvars::parse("a = bare\n");
        assert!(p.problems[0].message.contains("quote strings"));
    }

    #[test]
    fn repeated_keys_are_duplicate_key_with_both_lines() {
        let p = Tfvars::parse("a = 1\nb = 2\na = 3\n");
        assert_eq!(p.problems.len(), 1);
        assert_eq!(p.problems[0].code, Code::DuplicateKey);
        assert_eq!(p.problems[0].line, Some(3));
        assert!(p.problems[0].message.contains("first on line 1"));
        assert_eq!(p.value.unwrap().get("a").unwrap().value, TfValue::Number("3".into()));
    }
}
