//! Duplicate keys in JSON. serde_json keeps the last of two equal keys without a
//! word; packer does the same, so a duplicated `source_ami` silently wins. This
//! scanner runs over text that already parsed, so it only tracks strings,
//! nesting and which strings are keys.

use super::line_at;
use crate::diagnostic::{Code, FileProblem};
use std::collections::HashSet;

pub fn duplicate_keys(text: &str) -> Vec<FileProblem> {
    scan(text).problems
}

/// serde_json reads a `Value` at most this deep (its recursion limit is 128).
pub const MAX_DOCUMENT_DEPTH: usize = 127;

/// What one pass over a JSON text finds: its repeated keys, how deeply its
/// arrays and objects nest, and whether a string holds a `\u` escape.
pub struct Scan {
    pub problems: Vec<FileProblem>,
    pub depth: usize,
    pub unicode_escapes: bool,
}

pub fn scan(text: &str) -> Scan {
    let bytes = text.as_bytes();
    let mut depth = 0;
    let mut unicode_escapes = false;
    // One entry per open object (Some(keys)) or array (None).
    let mut stack: Vec<Option<Keys>> = Vec::new();
    let mut problems = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                stack.push(Some(Keys::Few(Vec::new())));
                depth = depth.max(stack.len());
            }
            b'[' => {
                stack.push(None);
                depth = depth.max(stack.len());
            }
            b'}' | b']' => {
                stack.pop();
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                // To the closing quote, a string at a time (memchr's SIMD
                // search: most of a packer.json's bytes are in strings).
                while let Some(at) = memchr::memchr2(b'"', b'\\', &bytes[j.min(bytes.len())..]) {
                    j += at;
                    if bytes[j] == b'"' {
                        break;
                    }
                    unicode_escapes |= bytes.get(j + 1) == Some(&b'u');
                    j += 2;
                }
                if j >= bytes.len() || bytes[j] != b'"' {
                    j = bytes.len();
                }
                let s = &text[start..j.min(text.len())];
                let mut k = j + 1;
                while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                    k += 1;
                }
                if k < bytes.len() && bytes[k] == b':' {
                    if let Some(Some(keys)) = stack.last_mut() {
                        if !keys.insert(s) {
                            problems.push(FileProblem::new(
                                Code::DuplicateKey,
                                Some(line_at(text, i)),
                                format!("key \"{s}\" is set twice in one object; the last one wins silently"),
                                "remove one of the two entries",
                            ));
                        }
                    }
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    Scan { problems, depth, unicode_escapes }
}

/// The keys of one open object: a short list scanned in place (the objects
/// of the tree's files have a few dozen keys at most, and hashing every key
/// was a tenth of validating a tree), a hash set once an object grows past
/// that, so that a huge object stays linear.
enum Keys<'a> {
    Few(Vec<&'a str>),
    Many(HashSet<&'a str>),
}

impl<'a> Keys<'a> {
    const FEW: usize = 32;

    /// False when `key` is already there.
    fn insert(&mut self, key: &'a str) -> bool {
        match self {
            Keys::Few(keys) if keys.contains(&key) => false,
            Keys::Few(keys) if keys.len() < Self::FEW => {
                keys.push(key);
                true
            }
            Keys::Few(keys) => {
                let mut set: HashSet<&str> = keys.drain(..).collect();
                set.insert(key);
                *self = Keys::Many(set);
                true
            }
            Keys::Many(set) => set.insert(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates_per_object_with_lines() {
        let text = "{\n \"a\": 1,\n \"b\": {\"a\": 2},\n \"c\": [\"a\", \"a\"],\n \"a\": 3\n}";
        let found = duplicate_keys(text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, Some(5));
        assert!(found[0].message.contains("\"a\""));
    }

    #[test]
    fn a_large_object_is_checked_as_a_small_one() {
        let mut text = String::from("{");
        for i in 0..100 {
            text.push_str(&format!("\"k{i}\": {i},\n"));
        }
        text.push_str("\"k3\": 0, \"k99\": 1}");
        let found: Vec<String> = duplicate_keys(&text).into_iter().map(|p| p.message.into_owned()).collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("\"k3\"") && found[1].contains("\"k99\""), "{found:?}");
    }

    #[test]
    fn escaped_quotes_do_not_confuse_it() {
        let text = r#"{"a\"b": 1, "x": "a\"b", "a\"b2": 2}"#;
        assert!(duplicate_keys(text).is_empty());
    }
}
