//! One module per file format of the tree. Each parser takes the file's text and
//! returns typed data or [`FileProblem`]s that carry a line and a hint.

pub mod base_images;
pub mod dcos_images;
pub mod flat_yaml;
pub mod history;
pub mod image_id;
pub mod json_keys;
pub mod junit;
pub mod packer;
pub mod prerequisites;
pub mod profile;
pub mod publish_config;
pub mod tfvars;

use crate::diagnostic::{Code, FileProblem};

/// The 1-based line of the first occurrence of `needle` in `text`.
pub fn line_of(text: &str, needle: &str) -> Option<usize> {
    find(text, needle).map(|at| line_at(text, at))
}

/// memchr's searchers for one byte, without its choice of instructions at
/// run time: that choice asks the CPU (CPUID), which a VM traps: 65-90 µs
/// once per process on the 2-core VMs CI runs on, a twentieth of `find`'s
/// whole run, to pick AVX2 for lines of a few dozen bytes. SSE2 is part of
/// x86_64 (and NEON of aarch64): nothing to ask. For the lines of `list`
/// and `find`; `validate`, which counts the lines before each finding
/// through kilobytes, keeps memchr's AVX2 (through SSE2 that was 1.2 M
/// more instructions than the one question costs).
pub mod byte {
    #[cfg(target_arch = "aarch64")]
    use memchr::arch::aarch64::neon::memchr::One;
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    use memchr::arch::all::memchr::One;
    #[cfg(target_arch = "x86_64")]
    use memchr::arch::x86_64::sse2::memchr::One;

    fn searcher(b: u8) -> One {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        return One::new(b).expect("SSE2 and NEON are part of their architectures");
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        return One::new(b);
    }

    /// Where `b` first is in `hay`.
    pub fn find(b: u8, hay: &[u8]) -> Option<usize> {
        searcher(b).find(hay)
    }

    /// Where each `b` is in `hay`, in order.
    pub fn positions(b: u8, hay: &[u8]) -> impl Iterator<Item = usize> + '_ {
        let one = searcher(b);
        let mut from = 0;
        std::iter::from_fn(move || {
            let at = from + one.find(hay.get(from..)?)?;
            from = at + 1;
            Some(at)
        })
    }
}

/// Where `needle` first occurs in `text`. validate asks this for each
/// finding and each published image, in texts of a few KB: `str::find` was
/// a tenth of its work and memchr's `memmem::find`, which builds a searcher
/// for every call, a twentieth. This jumps between occurrences of the
/// needle's rarest byte (in the tree's texts: quotes, blanks and
/// punctuation are everywhere, lowercase letters common, the rest rare)
/// and compares the needle there.
fn find(text: &str, needle: &str) -> Option<usize> {
    fn commonness(b: u8) -> u8 {
        match b {
            b'"' | b' ' | b'\n' | b',' | b':' | b'{' | b'}' | b'[' | b']' => 3,
            b'a'..=b'z' => 2,
            _ => 1,
        }
    }
    let (hay, needle) = (text.as_bytes(), needle.as_bytes());
    // The last of the rarest: an id's distinctive part is at its end.
    let Some((at, &rare)) = needle.iter().enumerate().min_by_key(|&(i, &b)| (commonness(b), usize::MAX - i)) else { return Some(0) };
    let mut from = at;
    while from < hay.len() {
        let Some(found) = memchr::memchr(rare, &hay[from..]) else { break };
        let start = from + found - at;
        if hay[start..].starts_with(needle) {
            return Some(start);
        }
        from += found + 1;
    }
    None
}

/// The 1-based line of byte offset `at`.
pub fn line_at(text: &str, at: usize) -> usize {
    memchr::memchr_iter(b'\n', &text.as_bytes()[..at.min(text.len())]).count() + 1
}

/// Where the `nth` (0-based) `"key":` of a JSON text is: the offset of the
/// key's opening quote and the offset just after its colon.
pub fn find_json_key(text: &str, key: &str, nth: usize) -> Option<(usize, usize)> {
    let quoted = format!("\"{key}\"");
    let mut from = 0;
    let mut seen = 0;
    while let Some(pos) = find(&text[from..], &quoted) {
        let at = from + pos;
        let after_key = at + quoted.len();
        let rest = &text[after_key..];
        let ws = rest.len() - rest.trim_start().len();
        if rest[ws..].starts_with(':') {
            if seen == nth {
                return Some((at, after_key + ws + 1));
            }
            seen += 1;
        }
        from = after_key;
    }
    None
}

/// `text.split('\n')`, each newline found by [`byte::positions`]: the tree's YAML files
/// are lines of a few dozen bytes, where `str`'s searcher spends more on
/// each call than on the bytes (a tenth of `list`'s instructions).
pub fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    byte::positions(b'\n', text.as_bytes()).chain(std::iter::once(text.len())).map(move |end| {
        let line = &text[start..end];
        start = end + 1;
        line
    })
}

/// `text.lines()`, as [`split_lines`]: a line's `\r\n` is dropped, and
/// there is no line after a final newline.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    // Every line but the last ended with a newline; the last did when the text does.
    let last_ended = body.len() < text.len();
    let mut pieces = (!text.is_empty()).then(|| split_lines(body)).into_iter().flatten().peekable();
    std::iter::from_fn(move || {
        let line = pieces.next()?;
        let ended = last_ended || pieces.peek().is_some();
        Some(if ended { line.strip_suffix('\r').unwrap_or(line) } else { line })
    })
}

/// The line of a `"key":` in a JSON text (its `nth` occurrence, 0-based).
pub fn line_of_json_key(text: &str, key: &str, nth: usize) -> Option<usize> {
    find_json_key(text, key, nth).map(|(at, _)| line_at(text, at))
}

/// The line of a top-level `key:` in a YAML text.
pub fn line_of_yaml_key(text: &str, key: &str) -> Option<usize> {
    lines(text).position(|l| is_yaml_key(l, key)).map(|i| i + 1)
}

/// [`line_of_yaml_key`] of each of `keys`, the text split into lines once:
/// a published image's line is its region's, and looking each region up
/// from the top split the file again for every region (1.9 M of
/// `validate`'s instructions on the real tree; this takes 0.7 M).
pub fn lines_of_yaml_keys(text: &str, keys: &[&str]) -> Vec<Option<usize>> {
    let mut found = vec![None; keys.len()];
    let mut left = keys.len();
    for (i, l) in lines(text).enumerate() {
        if left == 0 {
            break;
        }
        for (key, line) in keys.iter().zip(found.iter_mut()) {
            if line.is_none() && is_yaml_key(l, key) {
                *line = Some(i + 1);
                left -= 1;
            }
        }
    }
    found
}

/// The line of the second `key:` in a YAML text, at any indentation.
fn second_yaml_key_line(text: &str, key: &str) -> Option<usize> {
    lines(text).enumerate().filter(|(_, l)| is_yaml_key(l.trim_start().trim_start_matches("- "), key)).nth(1).map(|(i, _)| i + 1)
}

/// Whether `line` starts with `key:`, the key bare or quoted.
fn is_yaml_key(line: &str, key: &str) -> bool {
    let quoted = |q: char| line.strip_prefix(q).and_then(|l| l.strip_prefix(key)).and_then(|l| l.strip_prefix(q));
    line.strip_prefix(key).or_else(|| quoted('"')).or_else(|| quoted('\'')).is_some_and(|rest| rest.trim_start().starts_with(':'))
}

/// Whether a serde error is about a repeated key, which the duplicate-key
/// scanner reports on its own.
pub(crate) fn is_duplicate_field(err: &serde_json::Error) -> bool {
    err.to_string().contains("duplicate field")
}

/// A JSON syntax error, or a type error against the typed view.
pub fn json_problem(err: &serde_json::Error, what: &str) -> FileProblem {
    let line = (err.line() > 0).then_some(err.line());
    let message = strip_json_position(&err.to_string());
    if err.is_data() {
        FileProblem::new(
            Code::InvalidValue,
            line,
            format!("{message} (column {})", err.column()),
            format!("fix the value so that it is {what}"),
        )
    } else {
        FileProblem::new(
            Code::ParseError,
            line,
            format!("invalid JSON: {message} (column {})", err.column()),
            "fix the JSON syntax at that position (a missing comma, quote or bracket is the usual cause)",
        )
    }
}

fn strip_json_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// A YAML error: syntax, duplicate key, or a type error against the typed view.
pub fn yaml_problem(text: &str, err: &serde_yaml::Error, typed: bool, what: &str) -> FileProblem {
    let loc = err.location();
    let line = loc.as_ref().map(|l| l.line());
    let column = loc.as_ref().map(|l| l.column()).unwrap_or(0);
    let mut message = err.to_string();
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    if message.contains("duplicate entry") || message.contains("duplicate field") {
        // serde_yaml points at the mapping; point at the second occurrence.
        let key = message.split(['"', '`']).nth(1).unwrap_or_default();
        let second = (!key.is_empty()).then(|| second_yaml_key_line(text, key)).flatten();
        FileProblem::new(
            Code::DuplicateKey,
            second.or(line),
            message,
            "keep one of the two entries: YAML readers disagree about which one wins",
        )
    } else if typed {
        FileProblem::new(Code::InvalidValue, line, format!("{message} (column {column})"), format!("fix the value so that it is {what}"))
    } else {
        FileProblem::new(
            Code::ParseError,
            line,
            format!("invalid YAML: {message} (column {column})"),
            "fix the YAML syntax at that position (indentation and unquoted `:` are the usual causes)",
        )
    }
}

/// Region -> image maps are read as ordered pairs so that a value of the wrong
/// type is reported with its key, and so that duplicates are seen.
pub type RegionImages = std::collections::BTreeMap<String, String>;

/// What a parser produced: the value when the file could be read at all, and
/// the problems found on the way (a duplicate key still leaves a value).
#[derive(Debug)]
pub struct Parsed<T> {
    pub value: Option<T>,
    pub problems: Vec<FileProblem>,
}

impl<T> Parsed<T> {
    pub fn ok(value: T) -> Self {
        Parsed { value: Some(value), problems: Vec::new() }
    }
    pub fn failed(problem: FileProblem) -> Self {
        Parsed { value: None, problems: vec![problem] }
    }
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Parsed<U> {
        Parsed { value: self.value.map(f), problems: self.problems }
    }
}

/// JSON into `T`: syntax errors are `parse-error`, type errors `invalid-value`,
/// repeated keys `duplicate-key`. `what` describes the expected shape.
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Parsed<T> {
    // One parse on the success path; a failure is parsed again to tell a
    // syntax error from a type error.
    let problems = json_keys::duplicate_keys(text);
    match serde_json::from_str::<T>(text) {
        Ok(v) => Parsed { value: Some(v), problems },
        // The last of two equal keys wins, as in packer; the scanner reported it.
        Err(e) if is_duplicate_field(&e) => {
            let value = serde_json::from_str::<serde_json::Value>(text).ok().and_then(|v| serde_json::from_value(v).ok());
            Parsed { value, problems }
        }
        Err(e) => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Err(syntax) => Parsed::failed(json_problem(&syntax, what)),
            Ok(_) => {
                let mut problems = problems;
                problems.push(json_problem(&e, what));
                Parsed { value: None, problems }
            }
        },
    }
}

/// As [`parse_json`], for a reader that reports nothing (browsing): the
/// value alone, so a text that parses is not scanned for duplicate keys
/// (the scan was most of reading the build histories for `list`). A text
/// that does not parse gets [`parse_json`]'s value, which may still be one.
pub fn parse_json_value<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Option<T> {
    serde_json::from_str::<T>(text).ok().or_else(|| parse_json(text, what).value)
}

/// YAML into `T`, with the same split of codes as [`parse_json`]. An empty
/// document (only comments) is read as `empty`.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str, what: &str, empty: impl FnOnce() -> Option<T>) -> Parsed<T> {
    // One parse on the success path; a failure is parsed again as a plain
    // value to tell a syntax error (or an empty file) from a type error.
    let typed_err = match serde_yaml::from_str::<T>(text) {
        Ok(v) => return Parsed::ok(v),
        Err(e) => e,
    };
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Err(e) => Parsed::failed(yaml_problem(text, &e, false, what)),
        Ok(serde_yaml::Value::Null) => match empty() {
            Some(v) => Parsed::ok(v),
            None => {
                Parsed::failed(FileProblem::new(Code::InvalidValue, None, "the file is empty", format!("write {what}, or delete the file")))
            }
        },
        Ok(_) => Parsed::failed(yaml_problem(text, &typed_err, true, what)),
    }
}

/// The JSON Schema of a region -> image id map.
fn region_image_map_schema(title: &str, description: &str) -> schemars::schema::Schema {
    serde_json::from_value(serde_json::json!({
        "title": title,
        "description": description,
        "type": "object",
        "propertyNames": { "pattern": "^[a-z]{2}(-gov)?-[a-z]+-[0-9]+$" },
        "additionalProperties": { "type": "string", "pattern": "^ami-([0-9a-f]{8}|[0-9a-f]{17})$" }
    }))
    .expect("a literal schema is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_searches_are_the_naive_ones() {
        // Every length across the vector width, the byte at every place.
        for len in 0usize..80 {
            for at in [None, Some(0), Some(len / 2), Some(len.saturating_sub(1))] {
                let mut hay: Vec<u8> = (0..len).map(|i| b'a' + (i % 7) as u8).collect();
                if let Some(at) = at.filter(|&a| a < len) {
                    hay[at] = b'\n';
                    hay.extend_from_slice(b"x\n\n");
                }
                let naive: Vec<usize> = hay.iter().enumerate().filter(|(_, &c)| c == b'\n').map(|(i, _)| i).collect();
                assert_eq!(byte::positions(b'\n', &hay).collect::<Vec<_>>(), naive);
                assert_eq!(byte::find(b'\n', &hay), naive.first().copied());
            }
        }
    }

    #[test]
    fn lines_are_strs_lines() {
        // Every text of up to five of these pieces.
        const PIECES: [&str; 5] = ["a", "\n", "\r", "é", "\r\n"];
        let mut texts = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = texts.iter().flat_map(|t| PIECES.iter().map(move |p| format!("{t}{p}"))).collect();
            texts.extend(longer);
        }
        assert!(texts.len() > 3000);
        for t in &texts {
            assert_eq!(split_lines(t).collect::<Vec<_>>(), t.split('\n').collect::<Vec<_>>(), "{t:?}");
            assert_eq!(lines(t).collect::<Vec<_>>(), t.lines().collect::<Vec<_>>(), "{t:?}");
        }
    }

    #[test]
    fn find_agrees_with_str_find() {
        let texts = ["", "a", "{\n  \"a\": \"ami-0a1b\",\n  \"b\": \"ami-0a1b2c\"\n}", "ééé ami-1 ami-12 ami-123", "xxxxxxxxxxxxxxxxxxxy"];
        let needles = ["", "a", "\"", "ami-0a1b2c", "ami-12", "ami-123", "\"b\"", "é", "xy", "xxxy", "yx", "ami-1234", "}"];
        for text in texts {
            for needle in needles {
                assert_eq!(find(text, needle), text.find(needle), "{needle:?} in {text:?}");
            }
        }
        assert_eq!(line_of("a\nb \"k\"\nc", "\"k\""), Some(2));
    }

    #[test]
    fn lines_of_yaml_keys_agree_with_line_of_yaml_key() {
        let texts = [
            "",
            "us-west-2: ami-1\nus-east-1: ami-2\n",
            "# us-east-1: in a comment\n\"us-east-1\" : ami-2\nus-east-1: ami-3\n'eu-west-1':ami-4\nus-east-1x: ami-5\n",
            "a:b: c\na: d\n  b: e\nb : f",
        ];
        let keys = ["us-east-1", "us-west-2", "eu-west-1", "a", "a:b", "b", "us-east-1x", "missing", "us-east-1"];
        for text in texts {
            let want: Vec<Option<usize>> = keys.iter().map(|k| line_of_yaml_key(text, k)).collect();
            assert_eq!(lines_of_yaml_keys(text, &keys), want, "{text:?}");
        }
    }
}
