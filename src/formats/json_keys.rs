//! Duplicate keys in JSON. serde_json keeps the last of two equal keys without a
//! word; packer does the same, so a duplicated `source_ami` silently wins. This
//! scanner runs over text that already parsed, so it only tracks strings,
//! nesting and which strings are keys.

use super::line_at;
use crate::diagnostic::{Code, FileProblem};
use std::borrow::Cow;
use std::collections::HashSet;

pub fn duplicate_keys(text: &str) -> Vec<FileProblem> {
    let bytes = text.as_bytes();
    let mut state = State { text, stack: Vec::new(), keys: Vec::new(), problems: Vec::new(), string_start: None, skip_to: 0 };
    // The bytes that can matter, sixteen at a time: a packer.json is mostly
    // indentation and short strings. Looking at each byte of them, and
    // searching each string for its end with a call of its own, took 8.7 M
    // of validate's 71 M instructions on the real tree; this takes 7.1 M,
    // two thirds of it the work at each quote and bracket.
    let mut chunks = bytes.chunks_exact(16);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let mut mask = structural_mask(chunk.try_into().expect("16 bytes"));
        while mask != 0 {
            state.event(at + mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
        at += 16;
    }
    for (k, b) in chunks.remainder().iter().enumerate() {
        if is_structural(*b) {
            state.event(at + k);
        }
    }
    state.problems
}

/// The bytes the scan stops at: quotes and backslashes (strings), brackets
/// and braces (nesting).
fn is_structural(b: u8) -> bool {
    matches!(b, b'"' | b'\\' | b'{' | b'}' | b'[' | b']')
}

/// Bit `i` is set when byte `i` of `chunk` is [`is_structural`].
#[cfg(target_arch = "x86_64")]
fn structural_mask(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
    // SAFETY: SSE2 is part of every x86_64 CPU, and the unaligned load reads
    // exactly the 16 bytes `chunk` borrows.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        let eq = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
        let strings = _mm_or_si128(eq(b'"'), eq(b'\\'));
        let objects = _mm_or_si128(eq(b'{'), eq(b'}'));
        let arrays = _mm_or_si128(eq(b'['), eq(b']'));
        _mm_movemask_epi8(_mm_or_si128(strings, _mm_or_si128(objects, arrays))) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn structural_mask(chunk: &[u8; 16]) -> u32 {
    structural_mask_bytewise(chunk)
}

#[cfg(any(test, not(target_arch = "x86_64")))]
fn structural_mask_bytewise(chunk: &[u8; 16]) -> u32 {
    chunk.iter().enumerate().filter(|(_, b)| is_structural(**b)).fold(0, |mask, (i, _)| mask | 1 << i)
}

/// The scan between two structural bytes.
struct State<'a> {
    text: &'a str,
    stack: Vec<Open<'a>>,
    /// The keys of the open objects, innermost last.
    keys: Vec<Cow<'a, str>>,
    problems: Vec<FileProblem>,
    /// Inside a string: where its text starts.
    string_start: Option<usize>,
    /// Bytes before this were escaped by a backslash.
    skip_to: usize,
}

impl<'a> State<'a> {
    /// The structural byte at `i`.
    fn event(&mut self, i: usize) {
        if i < self.skip_to {
            return;
        }
        let bytes = self.text.as_bytes();
        match (self.string_start, bytes[i]) {
            (Some(_), b'\\') => self.skip_to = i + 2,
            (Some(start), b'"') => {
                self.string_start = None;
                let after = bytes[i + 1..].iter().position(|b| !b.is_ascii_whitespace()).map(|k| i + 1 + k);
                if after.is_some_and(|k| bytes[k] == b':') {
                    // Both ends are ASCII quotes: character boundaries.
                    let key = &self.text[start..i];
                    // Compared as read: `"a"` and `"\u0061"` are one key
                    // to serde_json and to packer.
                    let read = match key.contains('\\') {
                        true => serde_json::from_str::<String>(&self.text[start - 1..=i]).map_or(Cow::Borrowed(key), Cow::Owned),
                        false => Cow::Borrowed(key),
                    };
                    if !self.insert_key(read) {
                        self.problems.push(FileProblem::new(
                            Code::DuplicateKey,
                            Some(line_at(self.text, start - 1)),
                            format!("key \"{key}\" is set twice in one object; the last one wins silently"),
                            "remove one of the two entries",
                        ));
                    }
                }
            }
            (Some(_), _) => {}
            (None, b'"') => self.string_start = Some(i + 1),
            (None, b'{') => self.stack.push(Open::Object { first_key: self.keys.len(), many: None }),
            (None, b'[') => self.stack.push(Open::Array),
            (None, b'}' | b']') => {
                if let Some(Open::Object { first_key, .. }) = self.stack.pop() {
                    self.keys.truncate(first_key);
                }
            }
            (None, _) => {}
        }
    }

    /// Adds a key to the innermost open object; false when it is already there.
    fn insert_key(&mut self, key: Cow<'a, str>) -> bool {
        let Some(Open::Object { first_key, many }) = self.stack.last_mut() else { return true };
        if let Some(set) = many {
            return set.insert(key);
        }
        let own = &self.keys[*first_key..];
        if own.contains(&key) {
            false
        } else if own.len() < FEW_KEYS {
            self.keys.push(key);
            true
        } else {
            let mut set: HashSet<Cow<'a, str>> = self.keys.drain(*first_key..).collect();
            set.insert(key);
            *many = Some(set);
            true
        }
    }
}

/// An open array, or an open object with where its keys start in
/// [`State::keys`]: the keys of all open objects share one list, scanned in
/// place (the objects of the tree's files have a few dozen keys at most;
/// hashing every key was a tenth of validating a tree, a list per object an
/// allocation per object), and an object that grows past [`FEW_KEYS`] moves
/// its keys to a hash set of its own, so that a huge object stays linear.
enum Open<'a> {
    Array,
    Object { first_key: usize, many: Option<HashSet<Cow<'a, str>>> },
}

const FEW_KEYS: usize = 32;

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
        // An object inside the large one keeps its own keys.
        text.push_str("\"k3\": 0, \"n\": {\"k3\": 1, \"k5\": 1, \"k3\": 2}, \"k99\": 1, \"n\": 0}");
        let found: Vec<String> = duplicate_keys(&text).into_iter().map(|p| p.message.into_owned()).collect();
        assert_eq!(found.len(), 4, "{found:?}");
        for (found, key) in found.iter().zip(["k3", "k3", "k99", "n"]) {
            assert!(found.contains(&format!("\"{key}\"")), "{found} is not about {key}");
        }
    }

    #[test]
    fn the_vector_mask_finds_what_a_byte_loop_finds() {
        // Every byte value at every position of a chunk, among neighbours
        // that are and are not structural.
        for fill in [b' ', b'"', b'a', b'{', 0xff] {
            for pos in 0..16 {
                for b in 0..=255u8 {
                    let mut chunk = [fill; 16];
                    chunk[pos] = b;
                    assert_eq!(structural_mask(&chunk), structural_mask_bytewise(&chunk), "byte {b:#x} at {pos} among {fill:#x}");
                }
            }
        }
    }

    #[test]
    fn strings_escapes_and_nesting_across_chunk_edges() {
        // Padded so that each quote, backslash and bracket falls on every
        // position of a 16-byte chunk once.
        for pad in 0..16 {
            let text = format!("{}{{\"a\\\"\": {{\"k\": [1, {{\"k\": 2}}], \"k\": \"\\u00e9{{\"}}, \"a\\\"\" : 3}}", " ".repeat(pad));
            let found: Vec<String> = duplicate_keys(&text).iter().map(|p| p.message.to_string()).collect();
            assert_eq!(found.len(), 2, "{pad}: {found:?} in {text}");
            assert!(found[0].contains("\"k\"") && found[1].contains("\"a\\\"\""), "{pad}: {found:?}");
        }
    }

    #[test]
    fn generated_documents() {
        let mut flagged = 0;
        for (seed, (text, want)) in super::generated::documents().into_iter().enumerate() {
            let got: Vec<(usize, String)> = duplicate_keys(&text)
                .iter()
                .map(|p| {
                    (p.line.unwrap(), p.message.strip_prefix("key \"").and_then(|m| m.rsplit_once("\" is set twice")).unwrap().0.to_owned())
                })
                .collect();
            assert_eq!(got, want, "document {seed}: {text}");
            flagged += got.len();
        }
        assert!(flagged > 50, "the generator repeats keys ({flagged})");
    }

    /// `parse_json` scans a text before it is known to be JSON: any text.
    #[test]
    fn any_text_is_scanned_without_panicking() {
        const PIECES: [&str; 12] = ["\"", "\\", "{", "}", "[", "]", ":", " ", "\n", "é", "a", "\\u"];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut text = String::new();
            for _ in 0..seed % 40 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
            }
            assert!(duplicate_keys(&text).iter().all(|p| p.line.is_some_and(|l| l <= text.matches('\n').count() + 1)), "{text:?}");
        }
    }

    #[test]
    fn keys_are_compared_as_read() {
        let text = "{\"a\": 1, \"b\": {\"\\u00e9\": 1,\n \"é\": 2},\n \"\\u0061\": 3, \"\\u0062x\": 4}";
        let found: Vec<(Option<usize>, String)> = duplicate_keys(text).into_iter().map(|p| (p.line, p.message.into_owned())).collect();
        assert_eq!(
            found,
            [
                (Some(2), "key \"é\" is set twice in one object; the last one wins silently".to_owned()),
                (Some(3), "key \"\\u0061\" is set twice in one object; the last one wins silently".to_owned()),
            ]
        );
    }

    #[test]
    fn escaped_quotes_do_not_confuse_it() {
        let text = r#"{"a\"b": 1, "x": "a\"b", "a\"b2": 2}"#;
        assert!(duplicate_keys(text).is_empty());
    }
}

/// Random JSON documents whose repeated keys are known as they are written
/// (keys and strings with escapes, quotes and brackets, any whitespace):
/// the oracle of every reader that looks for duplicate keys.
#[cfg(test)]
pub(crate) mod generated {
    /// 399 documents, each with its repeated keys: (line, key).
    pub(crate) fn documents() -> Vec<(String, Vec<(usize, String)>)> {
        struct Gen {
            seed: u64,
            out: String,
            want: Vec<(usize, String)>,
        }
        impl Gen {
            fn next(&mut self, n: u64) -> u64 {
                self.seed ^= self.seed << 13;
                self.seed ^= self.seed >> 7;
                self.seed ^= self.seed << 17;
                self.seed % n
            }
            fn space(&mut self) {
                for _ in 0..self.next(3) {
                    let ws = [" ", "\n", "\t", "  ", "\r\n"][self.next(5) as usize];
                    self.out.push_str(ws);
                }
            }
            fn string(&mut self) -> String {
                const PARTS: [&str; 9] = ["a", "k", r#"\""#, r"\\", r"\u00e9", "{", "]", "é", "x y"];
                (0..1 + self.next(3)).map(|_| PARTS[self.next(PARTS.len() as u64) as usize]).collect()
            }
            fn value(&mut self, depth: usize) {
                match if depth > 4 { self.next(2) } else { self.next(5) } {
                    0 => self.out.push_str("12"),
                    1 => {
                        let s = self.string();
                        self.out.push_str(&format!("\"{s}\""));
                    }
                    2 => {
                        self.out.push('[');
                        for i in 0..self.next(4) {
                            if i > 0 {
                                self.out.push(',');
                            }
                            self.space();
                            self.value(depth + 1);
                            self.space();
                        }
                        self.out.push(']');
                    }
                    _ => self.object(depth + 1),
                }
            }
            fn object(&mut self, depth: usize) {
                self.out.push('{');
                let mut keys: Vec<String> = Vec::new();
                for i in 0..self.next(6) {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.space();
                    let key = if !keys.is_empty() && self.next(4) == 0 {
                        keys[self.next(keys.len() as u64) as usize].clone()
                    } else {
                        self.string()
                    };
                    // Repeated as read: `é` and `\u00e9` are one key.
                    let read = |k: &str| serde_json::from_str::<String>(&format!("\"{k}\"")).expect("the generator writes JSON strings");
                    if keys.iter().any(|k| read(k) == read(&key)) {
                        self.want.push((self.out.matches('\n').count() + 1, key.clone()));
                    }
                    self.out.push_str(&format!("\"{key}\""));
                    keys.push(key);
                    self.space();
                    self.out.push(':');
                    self.space();
                    self.value(depth);
                    self.space();
                }
                self.out.push('}');
            }
        }
        (1..400u64)
            .map(|seed| {
                let mut g = Gen { seed: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), out: String::new(), want: Vec::new() };
                g.object(0);
                serde_json::from_str::<serde_json::Value>(&g.out).expect("the generator writes JSON");
                (g.out, g.want)
            })
            .collect()
    }
}
