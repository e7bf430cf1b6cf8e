//! JSON text written by hand, byte for byte as serde_json's pretty printer
//! writes it (the callers' tests compare the two), for the outputs of the
//! whole-tree commands: serde_json looks up each byte of each string in a
//! table, which was an eighth of `validate --format json` and a tenth of
//! `list --format json`, all of it on one core after the parallel work.

use std::io::{self, Write};

/// `s` as a JSON string. A string that needs no escaping, nearly every one,
/// is copied whole.
pub fn string(out: &mut impl Write, s: &str) -> io::Result<()> {
    // No early exit: the fold compiles to a vector loop.
    let plain = !s.bytes().fold(false, |escape, b| escape | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if plain {
        out.write_all(b"\"")?;
        out.write_all(s.as_bytes())?;
        out.write_all(b"\"")
    } else {
        serde_json::to_writer(out, s).map_err(io::Error::from)
    }
}

/// `s` as a JSON string, or `null`.
pub fn optional(out: &mut impl Write, s: Option<&str>) -> io::Result<()> {
    match s {
        Some(s) => string(out, s),
        None => out.write_all(b"null"),
    }
}
