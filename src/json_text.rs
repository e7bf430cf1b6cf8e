//! JSON text written by hand, byte for byte as serde_json's pretty printer
//! writes it (the callers' tests compare the two, and this module's test
//! compares the escaping on every byte that needs it), for the outputs of
//! the whole-tree commands: serde_json looks up each byte of each string in
//! a table and writes through `io::Write` piece by piece, which was an
//! eighth of `validate --format json` and a tenth of `list --format json`,
//! all of it on one core after the parallel work.
//!
//! Everything appends to a `Vec<u8>`: one capacity check per string, then
//! plain copies.

/// `s` as a JSON string. A string that needs no escaping, nearly every
/// one, is copied whole.
pub fn string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    if needs_escaping(s) {
        escaped(out, s);
    } else {
        out.extend_from_slice(s.as_bytes());
    }
    out.push(b'"');
}

/// `s` as a JSON string, or `null`.
pub fn optional(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// `n` in decimal, as `{n}` formats it, without the formatting machinery
/// (a `write!` per finding was a twentieth of validate's output).
pub fn number(out: &mut Vec<u8>, n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Whether any byte of `s` is one JSON escapes: `"`, `\` or a control
/// character. No early exit: the fold compiles to a vector loop.
fn needs_escaping(s: &str) -> bool {
    s.bytes().fold(false, |escape, b| escape | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// The body of `s` escaped as serde_json escapes it: the short forms
/// `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, and `\u00xx` (lowercase hex)
/// for the other control characters; everything else as it is.
fn escaped(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x00..=0x1f => 0,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short == 0 {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        } else {
            out.extend_from_slice(&[b'\\', short]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_what_serde_json_writes() {
        // Every byte that needs escaping, alone and between others, and
        // the neighbours that do not.
        let mut texts: Vec<String> = (0u8..0x80).map(|b| format!("a{}b", b as char)).collect();
        texts.extend((0u8..0x20).map(|b| (b as char).to_string()));
        texts.extend(
            ["", "plain", "\"\\\"", "\\\\", "tab\tnew\nline\r", "\u{7f}\u{80} é \u{2028} 🦀", "end\\", "\"start"].map(String::from),
        );
        texts.push((0u8..0x80).map(char::from).collect());
        for text in &texts {
            assert_eq!(written(|out| string(out, text)), serde_json::to_string(text).unwrap(), "{text:?}");
        }
        assert_eq!(written(|out| optional(out, None)), "null");
        assert_eq!(written(|out| optional(out, Some("x"))), "\"x\"");
    }

    #[test]
    fn numbers_are_what_format_writes() {
        for n in [0, 1, 9, 10, 99, 100, 1234, 65535, 1 << 40, usize::MAX] {
            assert_eq!(written(|out| number(out, n)), n.to_string());
        }
    }
}
