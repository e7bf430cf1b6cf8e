//! The views of a template read in one pass over its text, noticing on the
//! way whether any object, at any depth, sets a key twice.
//!
//! serde_json keeps the last of two equal keys without a word (so does
//! packer), and the derived readers skip unknown fields without looking at
//! them, so duplicate keys used to take a second pass over every template
//! (`json_keys::scan`, 7 M of `validate`'s 65 M instructions on the real
//! tree). Here each object's keys are compared as serde reads them, in one
//! list shared by the open objects as the scan shares it, and every value
//! the views do not read is walked as `serde_json::Value` would read it
//! (strings unescaped and checked, numbers parsed, nesting limited), so a
//! text this accepts is one whose document reads too. Only a text with a
//! repeated key goes to the scan, for the lines.

use super::{Builder, FileRef, PostProcessor, Provisioner, View};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// The views of `text`, and whether it needs the duplicate-key scan: a key
/// was repeated in one object, or an object had too many keys to compare
/// them in place.
pub(super) fn from_text(text: &str) -> Result<(View, bool), serde_json::Error> {
    let mut pass = Pass { text, keys: Vec::new(), rescan: false };
    let mut de = serde_json::Deserializer::from_str(text);
    let view = Object::<View>::seed(&mut pass).deserialize(&mut de)?;
    de.end()?;
    Ok((view, pass.rescan))
}

/// The views of a document already read (its keys are unique).
pub(super) fn from_value(doc: &serde_json::Value) -> Result<View, serde_json::Error> {
    Object::<View>::seed(&mut Pass { text: "", keys: Vec::new(), rescan: false }).deserialize(doc)
}

/// What the pass carries from object to object.
struct Pass<'de> {
    /// The text read (empty when reading a document), for where a
    /// [`FileRef`] is.
    text: &'de str,
    /// The keys of the open objects, innermost last.
    keys: Vec<Cow<'de, str>>,
    rescan: bool,
}

/// Past this many keys an object is left to the scan, whose hash set keeps
/// a large object linear; the objects of real templates have a few dozen.
const FEW_KEYS: usize = 32;

impl<'de> Pass<'de> {
    /// Reads an object's entries: `known` reads the value of a key it knows
    /// and says whether it did; every other value is walked by [`Any`].
    fn entries<A: MapAccess<'de>>(
        &mut self,
        mut map: A,
        mut known: impl FnMut(&str, &mut A, &mut Self) -> Result<bool, A::Error>,
    ) -> Result<(), A::Error> {
        let first = self.keys.len();
        while let Some(Text(key)) = map.next_key()? {
            if !known(&key, &mut map, self)? {
                map.next_value_seed(Any(self))?;
            }
            let own = &self.keys[first..];
            if own.len() >= FEW_KEYS || own.contains(&key) {
                self.rescan = true;
            } else {
                self.keys.push(key);
            }
        }
        self.keys.truncate(first);
        Ok(())
    }
}

/// A string as written: borrowed from the text unless it holds an escape.
/// Read for keys and for provisioner paths (as a derived `String` reads,
/// with its errors).
struct Text<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

impl Text<'_> {
    /// A provisioner's path, and where it is in `text` when it was
    /// borrowed from it (not when unescaped into a copy, nor when read
    /// from a document).
    fn file_ref(self, text: &str) -> FileRef {
        let at = match &self.0 {
            Cow::Borrowed(v) => {
                let (start, at) = (text.as_ptr() as usize, v.as_ptr() as usize);
                (at >= start && at + v.len() <= start + text.len()).then(|| at - start)
            }
            Cow::Owned(_) => None,
        };
        FileRef { path: self.0.into_owned(), at }
    }
}

/// Any value the views do not read, walked for its objects' keys.
struct Any<'p, 'de>(&'p mut Pass<'de>);

impl<'de> DeserializeSeed<'de> for Any<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Any<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Any(self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.0.entries(map, |_, _, _| Ok(false))
    }
}

/// A view read from an object.
trait ReadObject<'de>: Sized {
    /// As the derived reader said it, for the same errors.
    const EXPECTING: &'static str;
    fn read<A: MapAccess<'de>>(map: A, pass: &mut Pass<'de>) -> Result<Self, A::Error>;
}

struct Object<'p, 'de, T>(&'p mut Pass<'de>, std::marker::PhantomData<T>);

impl<'p, 'de, T: ReadObject<'de>> Object<'p, 'de, T> {
    fn seed(pass: &'p mut Pass<'de>) -> Self {
        Object(pass, std::marker::PhantomData)
    }
}

impl<'de, T: ReadObject<'de>> DeserializeSeed<'de> for Object<'_, 'de, T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: ReadObject<'de>> Visitor<'de> for Object<'_, 'de, T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::read(map, self.0)
    }
}

/// A list of views.
struct List<'p, 'de, T>(&'p mut Pass<'de>, std::marker::PhantomData<T>);

impl<'p, 'de, T: ReadObject<'de>> List<'p, 'de, T> {
    fn seed(pass: &'p mut Pass<'de>) -> Self {
        List(pass, std::marker::PhantomData)
    }
}

impl<'de, T: ReadObject<'de>> DeserializeSeed<'de> for List<'_, 'de, T> {
    type Value = Vec<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: ReadObject<'de>> Visitor<'de> for List<'_, 'de, T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Object::<T>::seed(self.0))? {
            items.push(item);
        }
        Ok(items)
    }
}

/// A required field's value, or the derived reader's error for its absence.
fn required<T, E: de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}

impl<'de> ReadObject<'de> for View {
    const EXPECTING: &'static str = "struct View";
    fn read<A: MapAccess<'de>>(map: A, pass: &mut Pass<'de>) -> Result<View, A::Error> {
        let mut view = View { builders: Vec::new(), provisioners: Vec::new(), post_processors: Vec::new() };
        pass.entries(map, |key, map, pass| {
            match key {
                "builders" => view.builders = map.next_value_seed(List::<Builder>::seed(pass))?,
                "provisioners" => view.provisioners = map.next_value_seed(List::<Provisioner>::seed(pass))?,
                // Set twice, the last one wins, as in the document.
                "post-processors" => {
                    view.post_processors.clear();
                    map.next_value_seed(PostProcessors { pass, out: &mut view.post_processors })?;
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(view)
    }
}

impl<'de> ReadObject<'de> for Builder {
    const EXPECTING: &'static str = "struct Builder";
    fn read<A: MapAccess<'de>>(map: A, pass: &mut Pass<'de>) -> Result<Builder, A::Error> {
        let mut kind = None;
        let mut b = Builder {
            kind: String::new(),
            name: None,
            region: None,
            source_ami: None,
            ssh_username: None,
            ami_regions: Vec::new(),
            ami_description: None,
        };
        pass.entries(map, |key, map, _| {
            match key {
                "type" => kind = Some(map.next_value()?),
                "name" => b.name = map.next_value()?,
                "region" => b.region = map.next_value()?,
                "source_ami" => b.source_ami = map.next_value()?,
                "ssh_username" => b.ssh_username = map.next_value()?,
                "ami_regions" => b.ami_regions = map.next_value()?,
                "ami_description" => b.ami_description = map.next_value()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        b.kind = required(kind, "type")?;
        Ok(b)
    }
}

impl<'de> ReadObject<'de> for Provisioner {
    const EXPECTING: &'static str = "struct Provisioner";
    fn read<A: MapAccess<'de>>(map: A, pass: &mut Pass<'de>) -> Result<Provisioner, A::Error> {
        let mut kind = None;
        let mut p =
            Provisioner { kind: String::new(), script: None, scripts: Vec::new(), source: None, sources: Vec::new(), direction: None };
        pass.entries(map, |key, map, pass| {
            let text = pass.text;
            match key {
                "type" => kind = Some(map.next_value()?),
                "script" => p.script = map.next_value::<Option<Text>>()?.map(|t| t.file_ref(text)),
                "scripts" => p.scripts = map.next_value::<Vec<Text>>()?.into_iter().map(|t| t.file_ref(text)).collect(),
                "source" => p.source = map.next_value::<Option<Text>>()?.map(|t| t.file_ref(text)),
                "sources" => p.sources = map.next_value::<Vec<Text>>()?.into_iter().map(|t| t.file_ref(text)).collect(),
                "direction" => p.direction = map.next_value()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        p.kind = required(kind, "type")?;
        Ok(p)
    }
}

impl<'de> ReadObject<'de> for PostProcessor {
    const EXPECTING: &'static str = "struct PostProcessor";
    fn read<A: MapAccess<'de>>(map: A, pass: &mut Pass<'de>) -> Result<PostProcessor, A::Error> {
        let mut kind = None;
        let mut output = None;
        pass.entries(map, |key, map, _| {
            match key {
                "type" => kind = Some(map.next_value()?),
                "output" => output = map.next_value()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(PostProcessor { kind: required(kind, "type")?, output })
    }
}

/// `post-processors`: a list whose entries are a name, an object, or a
/// chain (a list) of those, flattened in order. Read by the JSON type in
/// hand, not as serde's `untagged`, which buffers every entry and builds an
/// error for each variant it tries first.
struct PostProcessors<'p, 'o, 'de> {
    pass: &'p mut Pass<'de>,
    out: &'o mut Vec<PostProcessor>,
}

impl<'de> DeserializeSeed<'de> for PostProcessors<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PostProcessors<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Entry { pass: &mut *self.pass, out: &mut *self.out })?.is_some() {}
        Ok(())
    }
}

/// One entry of `post-processors`.
struct Entry<'p, 'o, 'de> {
    pass: &'p mut Pass<'de>,
    out: &'o mut Vec<PostProcessor>,
}

impl<'de> DeserializeSeed<'de> for Entry<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Entry<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a post-processor: its type, an object, or a list of those")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.out.push(PostProcessor { kind: v.to_owned(), output: None });
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let p = PostProcessor::read(map, self.pass)?;
        self.out.push(p);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        PostProcessors { pass: self.pass, out: self.out }.visit_seq(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::packer::PackerTemplate;

    #[test]
    fn a_repeated_key_at_any_depth_is_noticed_and_nothing_else() {
        for (i, (text, repeated)) in crate::formats::json_keys::generated::documents().into_iter().enumerate() {
            let (_, rescan) = from_text(&text).unwrap_or_else(|e| panic!("document {i} reads: {e}\n{text}"));
            assert_eq!(rescan, !repeated.is_empty(), "document {i}: {repeated:?}\n{text}");
        }
    }

    #[test]
    fn repeated_keys_in_the_views_and_beside_them_are_reported_with_their_lines_and_the_last_wins() {
        let text = r#"{
  "builders": [{"type": "amazon-ebs", "source_ami": "ami-00000001",
    "tags": {"a": "1", "b": "2",
      "a": "3"},
    "source_ami": "ami-00000002"}],
  "provisioners": [{"type": "shell", "script": "a.sh", "x": 1,
    "x": 2}],
  "post-processors": ["compress"],
  "post-processors": [{"type": "manifest", "output": "h.json"}]
}"#;
        let parsed = PackerTemplate::parse(text);
        let lines: Vec<(Option<usize>, &str)> = parsed.problems.iter().map(|p| (p.line, &*p.message)).collect();
        assert_eq!(
            lines,
            [
                (Some(4), "key \"a\" is set twice in one object; the last one wins silently"),
                (Some(5), "key \"source_ami\" is set twice in one object; the last one wins silently"),
                (Some(7), "key \"x\" is set twice in one object; the last one wins silently"),
                (Some(9), "key \"post-processors\" is set twice in one object; the last one wins silently"),
            ]
        );
        let t = parsed.value.expect("a repeated key still leaves a template");
        assert_eq!(t.builders[0].source_ami.as_deref(), Some("ami-00000002"));
        assert_eq!(t.post_processors, [PostProcessor { kind: "manifest".into(), output: Some("h.json".into()) }]);
        assert_eq!(t.document()["builders"][0]["source_ami"], "ami-00000002", "the document agrees with the view");
    }

    #[test]
    fn keys_with_escapes_are_compared_unescaped() {
        // `\u0061` is `a`: serde_json, and packer, read one key twice.
        let (_, rescan) = from_text(r#"{"v": {"a": 1, "\u0061": 2}}"#).unwrap();
        assert!(rescan);
        // And the scan, asked for the line, finds it as read too.
        let problems = PackerTemplate::parse(r#"{"v": {"a": 1, "\u0061": 2}}"#).problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].code, crate::diagnostic::Code::DuplicateKey);
        let (_, rescan) = from_text(r#"{"v": {"a\"": 1, "a": 2}}"#).unwrap();
        assert!(!rescan);
    }

    #[test]
    fn a_large_object_is_left_to_the_scan() {
        let keys: Vec<String> = (0..FEW_KEYS + 5).map(|i| format!("\"k{i}\": {i}")).collect();
        let (_, rescan) = from_text(&format!("{{\"variables\": {{{}}}}}", keys.join(", "))).unwrap();
        assert!(rescan, "past FEW_KEYS the scan decides");
        assert!(PackerTemplate::parse(&format!("{{\"variables\": {{{}}}}}", keys.join(", "))).problems.is_empty());
    }

    #[test]
    fn what_the_document_would_refuse_the_views_refuse() {
        // Each reads as views only if it reads as a document: the document is
        // read from the same text later, and must not fail then.
        let texts = [
            r#"{"x": "\ud800 alone"}"#.to_owned(),
            r#"{"x": 1e999}"#.to_owned(),
            r#"{"x": "\q"}"#.to_owned(),
            format!("{{\"x\": {}1{}}}", "[".repeat(200), "]".repeat(200)),
            r#"{"builders": []} x"#.to_owned(),
        ];
        for text in &texts {
            assert!(serde_json::from_str::<serde_json::Value>(text).is_err(), "{text}");
            assert!(from_text(text).is_err(), "{text}");
        }
        let deepest = format!("{{\"x\": {}1{}}}", "[".repeat(126), "]".repeat(126));
        assert!(serde_json::from_str::<serde_json::Value>(&deepest).is_ok());
        assert!(from_text(&deepest).is_ok());
    }

    #[test]
    fn provisioner_files_know_where_the_text_names_them() {
        // The same path named earlier in the text (a description), once
        // with an escape, and null where a path may be.
        let text = r#"{"description": "runs a.sh",
  "provisioners": [
    {"type": "shell", "script": "a.sh"},
    {"type": "shell", "scripts": ["b.sh",
       "c\u002esh"]},
    {"type": "file", "source": null, "sources": ["d/e.txt"]}]}"#;
        let (view, _) = from_text(text).unwrap();
        let files: Vec<&FileRef> = view.provisioners.iter().flat_map(|p| p.local_files()).collect();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.sh", "b.sh", "c.sh", "d/e.txt"]);
        let at: Vec<Option<&str>> = files.iter().map(|f| f.at.map(|at| &text[at..at + f.path.len()])).collect();
        assert_eq!(at, [Some("a.sh"), Some("b.sh"), None, Some("d/e.txt")]);
        let lines: Vec<Option<usize>> = files.iter().map(|f| f.at.map(|at| crate::formats::line_at(text, at))).collect();
        assert_eq!(lines, [Some(3), Some(4), None, Some(6)]);
        assert_eq!(view.provisioners[2].source, None);
        // From a document, the same files and no places.
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let view = from_value(&doc).unwrap();
        let from_doc: Vec<(&str, Option<usize>)> =
            view.provisioners.iter().flat_map(|p| p.local_files()).map(|f| (f.path.as_str(), f.at)).collect();
        assert_eq!(from_doc, [("a.sh", None), ("b.sh", None), ("c.sh", None), ("d/e.txt", None)]);
    }

    #[test]
    fn type_errors_are_the_derived_readers() {
        let cases = [
            (r#"{"builders": {}}"#, "invalid type: map, expected a sequence"),
            (r#"{"builders": [7]}"#, "invalid type: integer `7`, expected struct Builder"),
            (r#"{"builders": [{"region": "r"}]}"#, "missing field `type`"),
            (r#"{"provisioners": [{"type": "shell", "scripts": "a.sh"}]}"#, "invalid type: string \"a.sh\", expected a sequence"),
            (r#"{"provisioners": [{"type": "shell", "scripts": null}]}"#, "invalid type: null, expected a sequence"),
            (r#"{"provisioners": [{"type": "shell", "scripts": ["a.sh", 7]}]}"#, "invalid type: integer `7`, expected a string"),
            (r#"{"provisioners": [{"type": "shell", "script": 7}]}"#, "invalid type: integer `7`, expected a string"),
            (r#"{"provisioners": [{"type": "file", "source": ["a"]}]}"#, "invalid type: sequence, expected a string"),
            (r#"{"post-processors": [{"output": "o"}]}"#, "missing field `type`"),
        ];
        for (text, want) in cases {
            let err = from_text(text).err().unwrap_or_else(|| panic!("{text} reads"));
            assert!(err.to_string().starts_with(want), "{text}: {err}");
            let doc: serde_json::Value = serde_json::from_str(text).unwrap();
            let err = from_value(&doc).err().unwrap_or_else(|| panic!("{text} reads from its document"));
            assert!(err.to_string().starts_with(want), "{text}: {err}");
        }
    }
}
