//! `packer.json`: packer's JSON template. The document is kept whole (key order
//! and every field packer knows and we do not), and typed views of the parts the
//! harness reads sit beside it. Edits go through methods that change both, so a
//! rewrite only differs where the harness meant to change something.

use super::{json_keys, json_problem, Parsed};
use serde_json::Value;
use std::sync::{Arc, OnceLock};

mod view;

#[derive(Debug, Clone)]
pub struct PackerTemplate {
    /// The template's text. The whole document is read from it on first use
    /// only: validating and browsing need the typed views, and a document
    /// tree of every template was most of the work of validating a tree.
    source: Arc<str>,
    doc: OnceLock<Value>,
    pub builders: Vec<Builder>,
    pub provisioners: Vec<Provisioner>,
    pub post_processors: Vec<PostProcessor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    pub kind: String,
    pub name: Option<String>,
    pub region: Option<String>,
    pub source_ami: Option<String>,
    pub ssh_username: Option<String>,
    pub ami_regions: Vec<String>,
    pub ami_description: Option<String>,
}

impl Builder {
    /// Every region the build leaves an image in: the build region and the copies.
    pub fn image_regions(&self) -> Vec<String> {
        let mut regions: Vec<String> = self.region.iter().chain(&self.ami_regions).cloned().collect();
        regions.sort();
        regions.dedup();
        regions
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioner {
    pub kind: String,
    pub script: Option<FileRef>,
    pub scripts: Vec<FileRef>,
    pub source: Option<FileRef>,
    pub sources: Vec<FileRef>,
    pub direction: Option<String>,
}

/// A path a provisioner names, as written in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub path: String,
    /// Where the path's string starts in the template's text (after its
    /// quote), when it was read from the text as written (no escapes):
    /// a finding about the file names that line without searching the
    /// text for the path (which was a twelfth of validating a tree whose
    /// provisioner files are missing).
    pub at: Option<usize>,
}

impl Provisioner {
    /// Local files this provisioner uploads or runs.
    pub fn local_files(&self) -> Vec<&FileRef> {
        let mut files: Vec<&FileRef> = Vec::new();
        match self.kind.as_str() {
            "shell" | "powershell" | "windows-shell" => {
                files.extend(self.script.as_ref());
                files.extend(&self.scripts);
            }
            // A download copies from the machine to here: nothing local is read.
            "file" if self.direction.as_deref() != Some("download") => {
                files.extend(self.source.as_ref());
                files.extend(&self.sources);
            }
            _ => {}
        }
        files
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostProcessor {
    pub kind: String,
    pub output: Option<String>,
}

/// The parts of a template the harness reads.
struct View {
    builders: Vec<Builder>,
    provisioners: Vec<Provisioner>,
    post_processors: Vec<PostProcessor>,
}

const WHAT: &str = "what packer's JSON template expects (see packer's amazon-ebs builder documentation)";

impl PackerTemplate {
    pub fn parse(text: &str) -> Parsed<PackerTemplate> {
        // The common case in one pass: the views read straight from the
        // text, each object's keys compared as they are read, and every
        // other value walked as the document's own read would (escapes and
        // depth checked), so that the document can be read from the same
        // text later. Only a text with a repeated key (or an object too
        // large to compare its keys in place) is scanned again for their
        // lines; an error takes the full path below.
        if text.trim_start().starts_with('{') {
            if let Ok((view, rescan)) = view::from_text(text) {
                let problems = if rescan { json_keys::duplicate_keys(text) } else { Vec::new() };
                return Parsed { value: Some(PackerTemplate::new(text, OnceLock::new(), view)), problems };
            }
        }
        let doc: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return Parsed::failed(json_problem(&e, WHAT)),
        };
        let mut problems = json_keys::duplicate_keys(text);
        if !doc.is_object() {
            problems.push(crate::diagnostic::FileProblem::new(
                crate::diagnostic::Code::InvalidValue,
                Some(1),
                "a packer template is a JSON object",
                "start from another build directory's packer.json",
            ));
            return Parsed { value: None, problems };
        }
        // Read from `doc` (where, as in packer, the last of two equal keys
        // won); a type error is read again from the text to get its line.
        let read = view::from_value(&doc).or_else(|_| view::from_text(text).map(|(view, _)| view));
        match read {
            Ok(view) => Parsed { value: Some(PackerTemplate::new(text, OnceLock::from(doc), view)), problems },
            Err(e) => {
                problems.push(json_problem(&e, WHAT));
                Parsed { value: None, problems }
            }
        }
    }

    fn new(text: &str, doc: OnceLock<Value>, view: View) -> PackerTemplate {
        PackerTemplate {
            source: Arc::from(text),
            doc,
            builders: view.builders,
            provisioners: view.provisioners,
            post_processors: view.post_processors,
        }
    }

    /// The whole document, for rendering and inspection.
    pub fn document(&self) -> &Value {
        // The text was read as this template before: it is JSON.
        self.doc.get_or_init(|| serde_json::from_str(&self.source).expect("a template's text parses"))
    }

    fn document_mut(&mut self) -> &mut Value {
        self.document();
        self.doc.get_mut().expect("initialised just above")
    }

    /// Sets a string field of builder `index` in the document and the view.
    pub fn set_builder_str(&mut self, index: usize, key: &str, value: &str) {
        if let Some(builder) = self.document_mut().get_mut("builders").and_then(|b| b.get_mut(index)).and_then(Value::as_object_mut) {
            builder.insert(key.to_owned(), Value::String(value.to_owned()));
        }
        if let Some(view) = self.builders.get_mut(index) {
            match key {
                "source_ami" => view.source_ami = Some(value.to_owned()),
                "ami_description" => view.ami_description = Some(value.to_owned()),
                "region" => view.region = Some(value.to_owned()),
                "ssh_username" => view.ssh_username = Some(value.to_owned()),
                _ => {}
            }
        }
    }

    /// Sets any field of builder `index` in the document only: for settings the
    /// harness passes to packer and never reads back (endpoints, communicators).
    pub fn set_builder_value(&mut self, index: usize, key: &str, value: Value) {
        if let Some(builder) = self.document_mut().get_mut("builders").and_then(|b| b.get_mut(index)).and_then(Value::as_object_mut) {
            builder.insert(key.to_owned(), value);
        }
    }

    /// The template as written back to disk: two-space indentation, final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self.document()).expect("a JSON value serializes");
        s.push('\n');
        s
    }

    /// `original` (this template's text) with builder string fields changed in
    /// place, so the file's own formatting survives; a full rewrite when a
    /// field is not already a string in the text.
    pub fn edit_text(&self, original: &str, edits: &[(usize, &str, &str)]) -> String {
        let mut text = original.to_owned();
        let mut edited = self.clone();
        for (index, key, value) in edits {
            edited.set_builder_str(*index, key, value);
            match replace_string_value(&text, key, *index, value) {
                Some(t) => text = t,
                None => return edited.to_json(),
            }
        }
        // Only trust the textual edit when it reads back as the edited document.
        match serde_json::from_str::<Value>(&text) {
            Ok(v) if v == *edited.document() => text,
            _ => edited.to_json(),
        }
    }
}

/// Replaces the string literal after the `nth` `"key":` in a JSON text.
fn replace_string_value(text: &str, key: &str, nth: usize, value: &str) -> Option<String> {
    let (_, after_colon) = super::find_json_key(text, key, nth)?;
    let start = after_colon + (text[after_colon..].len() - text[after_colon..].trim_start().len());
    if !text[start..].starts_with('"') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut end = start + 1;
    while end < bytes.len() && bytes[end] != b'"' {
        end += if bytes[end] == b'\\' { 2 } else { 1 };
    }
    let literal = serde_json::to_string(value).ok()?;
    Some(format!("{}{literal}{}", &text[..start], &text[(end + 1).min(text.len())..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"{
  "variables": {"region": "us-west-2"},
  "builders": [{"type": "amazon-ebs", "zzz_unknown": 1, "region": "us-west-2", "source_ami": "ami-0a248ce88bcc7bd23",
                "ssh_username": "centos", "ami_regions": ["us-east-1", "us-west-2"], "ami_description": "x"}],
  "provisioners": [
    {"type": "file", "source": "./a.sh", "destination": "/tmp/a.sh"},
    {"type": "file", "source": "/tmp/out", "destination": "out", "direction": "download"},
    {"type": "shell", "script": "install_dcos_prerequisites.sh"},
    {"type": "shell", "scripts": ["b.sh", "c.sh"]},
    {"type": "shell", "inline": ["true"]}
  ],
  "post-processors": [[{"output": "packer_build_history.json", "strip_path": true, "type": "manifest"}]]
}"#;

    #[test]
    fn reads_builders_provisioners_and_nested_post_processors() {
        let t = PackerTemplate::parse(TEMPLATE).value.unwrap();
        assert_eq!(t.builders[0].image_regions(), vec!["us-east-1", "us-west-2"]);
        let files: Vec<&str> = t.provisioners.iter().flat_map(|p| p.local_files()).map(|f| f.path.as_str()).collect();
        assert_eq!(files, vec!["./a.sh", "install_dcos_prerequisites.sh", "b.sh", "c.sh"]);
        assert_eq!(t.post_processors, vec![PostProcessor { kind: "manifest".into(), output: Some("packer_build_history.json".into()) }]);
    }

    #[test]
    fn post_processors_are_names_objects_or_chains_and_anything_else_is_named() {
        let t = PackerTemplate::parse(r#"{"post-processors": ["compress", {"type": "manifest"}, [{"type": "a"}, "b"]]}"#).value.unwrap();
        let kinds: Vec<&str> = t.post_processors.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["compress", "manifest", "a", "b"]);
        let bad = PackerTemplate::parse(
            r#"{"post-processors": [
  7]}"#,
        );
        assert!(bad.value.is_none());
        assert_eq!(bad.problems[0].code, crate::diagnostic::Code::InvalidValue);
        assert_eq!(bad.problems[0].line, Some(2));
        assert!(bad.problems[0].message.contains("expected a post-processor"), "{}", bad.problems[0].message);
    }

    #[test]
    fn edits_keep_key_order_and_unknown_fields() {
        let mut t = PackerTemplate::parse(TEMPLATE).value.unwrap();
        t.set_builder_str(0, "source_ami", "ami-03cf127a");
        let out = t.to_json();
        let builders = &out[out.find("\"builders\"").unwrap()..];
        let keys: Vec<&str> = builders.lines().filter_map(|l| l.trim().strip_prefix('"')?.split('"').next()).collect();
        let pos = |k: &str| keys.iter().position(|x| *x == k).unwrap();
        assert!(pos("zzz_unknown") < pos("region") && pos("region") < pos("source_ami"));
        assert!(out.contains("\"source_ami\": \"ami-03cf127a\""));
        assert_eq!(t.builders[0].source_ami.as_deref(), Some("ami-03cf127a"));
    }

    #[test]
    fn text_edits_keep_the_files_own_formatting() {
        let t = PackerTemplate::parse(TEMPLATE).value.unwrap();
        let out = t.edit_text(TEMPLATE, &[(0, "source_ami", "ami-03cf127a"), (0, "ami_description", "centos/7.8")]);
        let changed: Vec<(&str, &str)> = TEMPLATE.lines().zip(out.lines()).filter(|(a, b)| a != b).collect();
        assert_eq!(changed.len(), 2, "{changed:?}");
        assert_eq!(TEMPLATE.lines().count(), out.lines().count());
        assert!(out.contains("\"source_ami\": \"ami-03cf127a\""));
        // A field that is not in the file yet: a whole, valid rewrite.
        let t = PackerTemplate::parse(r#"{"builders": [{"type": "amazon-ebs", "region": "r"}]}"#).value.unwrap();
        let out = t.edit_text(r#"{"builders": [{"type": "amazon-ebs", "region": "r"}]}"#, &[(0, "source_ami", "ami-03cf127a")]);
        assert_eq!(PackerTemplate::parse(&out).value.unwrap().builders[0].source_ami.as_deref(), Some("ami-03cf127a"));
    }

    #[test]
    fn type_errors_carry_their_line() {
        let p = PackerTemplate::parse("{\n\"builders\": [\n{\"type\": \"amazon-ebs\",\n\"ami_regions\": \"us-east-1\"}]}");
        assert_eq!(p.problems[0].code, crate::diagnostic::Code::InvalidValue);
        assert_eq!(p.problems[0].line, Some(4));
    }

    #[test]
    fn a_template_nested_deeper_than_a_document_can_be_is_refused_not_accepted_half() {
        let deep = format!("{{\"builders\": [], \"x\": {}1{}}}", "[".repeat(200), "]".repeat(200));
        let parsed = PackerTemplate::parse(&deep);
        assert!(parsed.value.is_none(), "its document could never be rendered");
        assert!(parsed.problems.iter().any(|p| p.message.contains("recursion limit")), "{:?}", parsed.problems);
    }

    #[test]
    fn a_template_with_an_invalid_unicode_escape_in_an_unknown_field_is_refused() {
        let parsed = PackerTemplate::parse(r#"{"builders": [], "x": "\ud800 alone"}"#);
        assert!(parsed.value.is_none(), "its document could never be rendered");
        assert!(!parsed.problems.is_empty());
    }
}
