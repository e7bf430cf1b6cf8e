//! The flat YAML the tree's two YAML files are written in, read without a
//! YAML parser: top-level `key: value` lines and `key:` followed by `- item`
//! lines, with comments and blank lines between them.
//!
//! Why: libyaml (through serde_yaml) spent 70,000 instructions on each
//! 250-byte `publish_and_test_config.yaml` and 30,000 on each
//! `dcos_images.yaml`, a fifth of `validate`'s work on the real tree. This
//! reader accepts only text whose meaning under YAML 1.2 is plain (see
//! [`read`]) and says `None` for anything else, which the callers then hand
//! to serde_yaml: every error message, every unusual but valid file still
//! comes from the real parser. `tests::agrees_with_serde_yaml` holds the two
//! to the same values.

/// A top-level value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlatValue<'a> {
    /// A plain scalar, never one YAML reads as null, a boolean or a number
    /// unless it is exactly `true` or `false`.
    Scalar(&'a str),
    /// A block sequence of plain scalars.
    List(Vec<&'a str>),
}

/// The top-level entries in file order, or `None` when the text is anything
/// but: lines of `key: scalar`, or `key:` then one or more `- item` lines at
/// one indentation; blank and comment lines anywhere. Keys are unique, start
/// with a letter and hold letters, digits, `_`, `.` and `-`. A scalar starts
/// with a letter; an item starts with a letter or `-` and a letter. Neither
/// holds `: `, ` #`, a tab, a carriage return or anything but printable ASCII,
/// nor ends with `:`; no item is null or a boolean, no scalar is null or a
/// boolean spelt otherwise than `true` or `false`. An empty document is `None`
/// too.
pub fn read(text: &str) -> Option<Vec<(&str, FlatValue<'_>)>> {
    let mut entries: Vec<(&str, FlatValue<'_>)> = Vec::new();
    // The key whose `key:` line had no value, and the items' indentation.
    let mut open: Option<(&str, Option<usize>, Vec<&str>)> = None;
    for line in super::split_lines(text) {
        let content = line.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - content.len();
        if let Some(item) = content.strip_prefix("- ") {
            let (_, items_indent, items) = open.as_mut()?;
            if *items_indent.get_or_insert(indent) != indent {
                return None;
            }
            let item = item.trim_end_matches(' ');
            let first = item.bytes().next()?;
            let starts_well = first.is_ascii_alphabetic() || (first == b'-' && item.as_bytes().get(1).is_some_and(u8::is_ascii_alphabetic));
            if !starts_well || !plain(item) || special(item) {
                return None;
            }
            items.push(item);
            continue;
        }
        if indent != 0 {
            return None;
        }
        if let Some((key, _, items)) = open.take() {
            if items.is_empty() {
                return None; // `key:` and nothing: null
            }
            entries.push((key, FlatValue::List(items)));
        }
        let colon = super::byte::find(b':', content.as_bytes())?;
        let (key, rest) = (&content[..colon], &content[colon + 1..]);
        let key_ok = key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && !special(key);
        if !key_ok || entries.iter().any(|(k, _)| *k == key) {
            return None;
        }
        let value = rest.trim_end_matches(' ');
        if value.is_empty() {
            open = Some((key, None, Vec::new()));
            continue;
        }
        let value = value.strip_prefix(' ')?.trim_start_matches(' ');
        if !value.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            || !plain(value)
            || (special(value) && !matches!(value, "true" | "false"))
        {
            return None;
        }
        entries.push((key, FlatValue::Scalar(value)));
    }
    if let Some((key, _, items)) = open {
        if items.is_empty() {
            return None;
        }
        entries.push((key, FlatValue::List(items)));
    }
    (!entries.is_empty()).then_some(entries)
}

/// Text that is one plain scalar, read as written: printable ASCII, no
/// `: `, no ` #`, no final `:`. Each byte and each pair of neighbours
/// looked at once, without early exits, so that both folds compile to
/// vector loops (a byte at a time, this was the most of reading the tree's
/// YAML files after the lines themselves).
fn plain(s: &str) -> bool {
    let b = s.as_bytes();
    let printable = b.iter().fold(true, |ok, &c| ok & (b' '..=b'~').contains(&c));
    let pairs = b.iter().zip(b.iter().skip(1)).fold(false, |bad, (&x, &y)| bad | (x == b':' && y == b' ') | (x == b' ' && y == b'#'));
    printable && !pairs && b.last() != Some(&b':')
}

/// Words YAML 1.2's core schema reads as null or a boolean.
fn special(s: &str) -> bool {
    matches!(s, "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml::Value;

    #[test]
    fn plain_is_its_definition() {
        let definition =
            |s: &str| s.bytes().all(|b| (b' '..=b'~').contains(&b)) && !s.contains(": ") && !s.contains(" #") && !s.ends_with(':');
        // Every string of up to four of these pieces.
        const PIECES: [&str; 8] = [":", " ", "#", "a", "\t", "é", "~", "-"];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = texts.iter().flat_map(|t| PIECES.iter().map(move |p| format!("{t}{p}"))).collect();
            texts.extend(longer);
        }
        texts.sort();
        texts.dedup();
        assert!(texts.len() > 4000);
        for t in &texts {
            assert_eq!(plain(t), definition(t), "{t:?}");
        }
    }

    /// What serde_yaml makes of the same text, in the reader's terms.
    fn through_serde(text: &str) -> Option<Vec<(String, Value)>> {
        match serde_yaml::from_str::<Value>(text).ok()? {
            Value::Mapping(map) => Some(map.into_iter().map(|(k, v)| (k.as_str().expect("a string key").to_owned(), v)).collect()),
            _ => None,
        }
    }

    fn as_serde(entries: &[(&str, FlatValue)]) -> Vec<(String, Value)> {
        let scalar = |s: &str| match s {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            s => Value::String(s.to_owned()),
        };
        entries
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    FlatValue::Scalar(s) => scalar(s),
                    FlatValue::List(items) => Value::Sequence(items.iter().map(|i| scalar(i)).collect()),
                };
                ((*k).to_owned(), v)
            })
            .collect()
    }

    /// Lines a tree's YAML files hold, and lines at the edges of what the
    /// reader takes: each text is checked alone and joined with others.
    const LINES: &[&str] = &[
        "us-east-1: ami-012497dd4a512acd0",
        "us-west-2: ami-07e7100280be1cb6b   ",
        "# a comment: with a colon",
        "   # an indented comment",
        "",
        "   ",
        "publish_dcos_images_after: integration_tests",
        "run_framework_tests: false",
        "run_integration_tests: True",
        "run_integration_tests: yes",
        "tests_to_run:",
        "  - -k 'not test_executor_metrics_metadata'",
        "  - test_auth.py",
        "  - test_auth.py::test_login",
        "  - test_x.py # a comment",
        "  - a: b",
        "  - - nested",
        "  - 'quoted'",
        "  - \"double\"",
        "  - null",
        "  - ~",
        "  - 1.5",
        "  - -1",
        "  - .inf",
        "  - on",
        "  - y",
        "- indentless",
        "    - deeper",
        "    continued",
        "key:value",
        "key : value",
        "key: value # comment",
        "key: 'quoted'",
        "key: ~",
        "key: null",
        "key: 123",
        "key: 0x1f",
        "key: 1e3",
        "key: &anchor value",
        "key: *alias",
        "key: !tag value",
        "key: [a, b]",
        "key: {a: b}",
        "key: |",
        "key: >",
        "key: a:b",
        "key: a#b",
        "key: value:",
        "key:\tvalue",
        "key: value\r",
        "key: é",
        "true: x",
        "Null: x",
        "1: x",
        "? complex",
        "---",
        "...",
        "%YAML 1.2",
        "  indented: key",
    ];

    #[test]
    fn agrees_with_serde_yaml() {
        let mut texts: Vec<String> = LINES.iter().map(|l| format!("{l}\n")).collect();
        for a in LINES {
            for b in LINES {
                texts.push(format!("{a}\n{b}\n"));
                texts.push(format!("tests_to_run:\n{a}\n{b}"));
            }
        }
        let mut taken = 0;
        for text in &texts {
            if let Some(entries) = read(text) {
                taken += 1;
                assert_eq!(Some(as_serde(&entries)), through_serde(text), "the reader took {text:?} as {entries:?}");
            }
        }
        // The texts it declines are declined for a reason (each line above
        // that is not plain), not because it declines everything.
        assert!(taken > 200, "the reader took only {taken} of {} texts", texts.len());
    }

    #[test]
    fn reads_the_tree_s_files() {
        let config = "# options: packer_build, dcos_installation\npublish_dcos_images_after: integration_tests\nrun_framework_tests: false\nrun_integration_tests: true\ntests_to_run:\n  - -k 'not test_executor_metrics_metadata'\n";
        assert_eq!(
            read(config),
            Some(vec![
                ("publish_dcos_images_after", FlatValue::Scalar("integration_tests")),
                ("run_framework_tests", FlatValue::Scalar("false")),
                ("run_integration_tests", FlatValue::Scalar("true")),
                ("tests_to_run", FlatValue::List(vec!["-k 'not test_executor_metrics_metadata'"])),
            ])
        );
        let images = "us-east-1: ami-012497dd4a512acd0\nus-west-2: ami-07e7100280be1cb6b\n";
        assert_eq!(read(images).map(|e| e.len()), Some(2));
        // Duplicates, nulls and empty documents are serde_yaml's to report.
        assert_eq!(read("a: b\na: c\n"), None);
        assert_eq!(read("tests_to_run:\nnext: x\n"), None);
        assert_eq!(read("# only a comment\n"), None);
    }
}
