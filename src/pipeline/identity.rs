//! A build's identity: the inputs that define the image it makes, each
//! hashed, and one digest over them all. Every build records them in its
//! history entry (packer's manifest `custom_data`, so packer itself writes
//! them beside the images), and a later run whose inputs are the same
//! reuses those images instead of building identical ones again.
//!
//! What goes in, and why:
//!
//! - `template`: packer.json as dcos-images renders it for a build (the
//!   directory's path as `ami_description`, the tags packer puts on what it
//!   makes), minus what differs between two runs that make the same image:
//!   the run id tag, the manifest's path and `custom_data`, absolute paths
//!   (provisioner files are named relative to the build directory), the
//!   EC2 endpoint and its checks (where the build talks to, not what it
//!   makes), and `source_ami`, which is an input of its own below. Keys are
//!   sorted: reordering a template's keys makes the same image.
//! - `base_image:<region>`: the base image of each builder's region, by id.
//! - `file:<path>`: every file packer reads from the build directory, by
//!   content: provisioners' `script`, `scripts`, `source`, `sources`
//!   (uploads only; a directory is read recursively) and builders'
//!   `user_data_file`.
//!
//! Not in it: what packer only decides at build time (`{{timestamp}}`,
//! `{{uuid}}`, `{{env}}` values), which are the same template text from run
//! to run; the profile and publish_and_test_config.yaml, which describe the
//! cluster and the tests, not the image. A file whose path packer would
//! only know from a variable makes the inputs unknowable: such a directory
//! always builds.

use super::plan::ImageSource;
use super::{render, QualifyOptions};
use crate::cloud::ec2::Ec2;
use crate::formats::history::HistoryBuild;
use crate::formats::packer::PackerTemplate;
use crate::formats::publish_config::PublishStep;
use crate::tree::HISTORY;
use crate::tree::{LoadedBuildDir, Tree};
use serde_json::Value;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::Path;

/// The `custom_data` key of the digest over every input.
pub const DIGEST_KEY: &str = "dcos_images_inputs";
/// The prefix of each input's `custom_data` key.
pub const INPUT_PREFIX: &str = "dcos_images_input:";

/// A build's inputs: name -> hash (or, for a base image, its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInputs {
    parts: BTreeMap<String, String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `v` with every object's keys sorted, as text.
fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sort(v)).expect("JSON values serialize")
}

impl BuildInputs {
    /// The inputs of building `template` (of the build directory `build_dir`,
    /// described as `description`) from `base_images`.
    pub fn of(
        template: &PackerTemplate,
        base_images: &BTreeMap<String, String>,
        description: &str,
        build_dir: &Path,
    ) -> Result<BuildInputs, String> {
        let mut parts = BTreeMap::new();
        parts.insert("template".to_owned(), sha256_hex(canonical(&template_part(template, description)).as_bytes()));
        for (region, image) in base_images {
            parts.insert(format!("base_image:{region}"), image.clone());
        }
        for rel in files_read(template)? {
            let path = build_dir.join(&rel);
            add_file(&mut parts, &path, &rel)?;
        }
        Ok(BuildInputs { parts })
    }

    /// One digest over every input.
    pub fn digest(&self) -> String {
        let lines: String = self.parts.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
        sha256_hex(lines.as_bytes())
    }

    /// What packer's manifest records: the digest and each input.
    pub fn custom_data(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert(DIGEST_KEY.to_owned(), Value::String(self.digest()));
        for (k, v) in &self.parts {
            m.insert(format!("{INPUT_PREFIX}{k}"), Value::String(v.clone()));
        }
        m
    }

    /// What differs from a build's recorded inputs, by name (empty when the
    /// digests agree); None when the build recorded none.
    pub fn changes_since(&self, build: &HistoryBuild) -> Option<Vec<String>> {
        let recorded = recorded_inputs(build)?;
        if recorded.digest == self.digest() {
            return Some(Vec::new());
        }
        let mut changes = Vec::new();
        for (k, v) in &self.parts {
            match recorded.parts.get(k) {
                None => changes.push(format!("{} is new", human(k))),
                Some(old) if old != v => changes.push(match k.strip_prefix("base_image:") {
                    Some(region) => format!("the base image of {region} changed ({old} -> {v})"),
                    None => format!("{} changed", human(k)),
                }),
                Some(_) => {}
            }
        }
        for k in recorded.parts.keys().filter(|k| !self.parts.contains_key(*k)) {
            changes.push(format!("{} is no longer read", human(k)));
        }
        if changes.is_empty() {
            // The same inputs, hashed another way (another dcos-images).
            changes.push("the inputs digest differs".to_owned());
        }
        Some(changes)
    }
}

/// A build's recorded inputs.
struct Recorded {
    digest: String,
    parts: BTreeMap<String, String>,
}

fn recorded_inputs(build: &HistoryBuild) -> Option<Recorded> {
    let data = build.custom_data.as_ref()?;
    let digest = data.get(DIGEST_KEY)?.clone();
    let parts = data.iter().filter_map(|(k, v)| Some((k.strip_prefix(INPUT_PREFIX)?.to_owned(), v.clone()))).collect();
    Some(Recorded { digest, parts })
}

/// The digest a build recorded, if it recorded one.
pub fn recorded_digest(build: &HistoryBuild) -> Option<String> {
    recorded_inputs(build).map(|r| r.digest)
}

/// An input's name as a person reads it.
fn human(key: &str) -> String {
    if key == "template" {
        return "packer.json".to_owned();
    }
    if let Some(region) = key.strip_prefix("base_image:") {
        return format!("the base image of {region}");
    }
    key.strip_prefix("file:").unwrap_or(key).to_owned()
}

/// The template as a build renders it, without what differs between runs.
fn template_part(template: &PackerTemplate, description: &str) -> Value {
    let none = BTreeMap::new();
    let mut doc = render::render(
        template,
        &render::RenderInputs {
            base_images: &none,
            description,
            build_dir: Path::new(""),
            manifest: Path::new(HISTORY),
            ec2_endpoint: None,
            run_id: "",
            custom_data: None,
        },
    );
    for b in doc.get_mut("builders").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(b) = b.as_object_mut() {
            b.remove("source_ami");
            for key in render::TAGGED_BY_PACKER {
                if let Some(tags) = b.get_mut(key).and_then(Value::as_object_mut) {
                    tags.remove(crate::cloud::sweep::RUN_ID_TAG);
                }
            }
        }
    }
    doc
}

/// The build directory's files packer reads, relative to it.
fn files_read(template: &PackerTemplate) -> Result<Vec<String>, String> {
    let doc = template.document();
    let mut refs: Vec<&Value> = Vec::new();
    for p in doc["provisioners"].as_array().into_iter().flatten() {
        if p["direction"] == "download" {
            // A download writes to this machine; its `source` is on the build instance.
            refs.extend(["script", "scripts"].iter().map(|k| &p[*k]));
        } else {
            refs.extend(["script", "scripts", "source", "sources"].iter().map(|k| &p[*k]));
        }
    }
    for b in doc["builders"].as_array().into_iter().flatten() {
        refs.push(&b["user_data_file"]);
    }
    let mut files = Vec::new();
    for r in refs {
        let items: Vec<&Value> = match r {
            Value::Array(items) => items.iter().collect(),
            Value::Null => Vec::new(),
            one => vec![one],
        };
        for item in items {
            let Some(s) = item.as_str() else { continue };
            let s = s.replace("{{template_dir}}", ".").replace("{{ template_dir }}", ".");
            if s.contains("{{") {
                return Err(format!("packer.json reads `{s}`, a file packer only knows when it runs: the build's inputs cannot be known"));
            }
            files.push(s.trim_start_matches("./").to_owned());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// `path`'s content as `file:<rel>`, or every file below it for a directory.
fn add_file(parts: &mut BTreeMap<String, String>, path: &Path, rel: &str) -> Result<(), String> {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        entries.sort();
        for name in entries {
            add_file(parts, &path.join(&name), &format!("{}/{name}", rel.trim_end_matches('/')))?;
        }
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}, which packer reads: {e}", path.display()))?;
    parts.insert(format!("file:{rel}"), sha256_hex(&bytes));
    Ok(())
}

/// Where a run's images come from: a build, a reused build (same inputs,
/// its images still `available` in EC2 in every region the template copies
/// them to), or the recorded images (`never`, `cluster up`). Asked of EC2
/// before the plan is made, so the plan can say it.
pub async fn decide(ec2: &Ec2, tree: &Tree, d: &LoadedBuildDir, opts: &QualifyOptions) -> ImageSource {
    if opts.cluster_up.is_some() {
        return ImageSource::Recorded { why: "cluster up: the images of dcos_images.yaml (or --image) are used".into() };
    }
    if d.config().is_some_and(|c| c.publish_dcos_images_after == PublishStep::Never) {
        return ImageSource::Recorded { why: "publish step is never: the recorded images are tested".into() };
    }
    let (base_images, _) = super::plan::base_images_of(tree, d);
    let template = d.packer.value().expect("a valid build directory's packer.json parses");
    let inputs = match BuildInputs::of(template, &base_images, &d.dir.rel, &d.dir.abs) {
        Ok(i) => i,
        Err(why) => return ImageSource::Build { inputs: None, why },
    };
    let build = |inputs: BuildInputs, why: String| ImageSource::Build { inputs: Some(inputs), why };
    if opts.rebuild {
        return build(inputs, "--rebuild".into());
    }
    let Some(last) = d.history().and_then(|h| h.last_build()) else {
        return build(inputs, "no earlier build".into());
    };
    let uuid = last.packer_run_uuid.clone();
    let built = last.built_at().map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_else(|| "at an unknown time".into());
    match inputs.changes_since(last) {
        None => {
            return build(
                inputs,
                format!("the last build {uuid} ({built}) recorded no inputs digest (it is older than dcos-images' digests): built once, recorded from now on"),
            )
        }
        Some(changes) if !changes.is_empty() => return build(inputs, format!("since build {uuid}: {}", changes.join("; "))),
        Some(_) => {}
    }
    let Ok(images) = last.images() else {
        return build(inputs, format!("build {uuid}'s artifact_id is not `region:ami,...`"));
    };
    // Every region the template copies the image to, as a build would leave it.
    let wanted: Vec<String> = template.builders.iter().flat_map(|b| b.image_regions()).collect();
    for region in &wanted {
        let Some(image) = images.get(region) else {
            return build(inputs, format!("same inputs as build {uuid}, but it made no image in {region}"));
        };
        match ec2.image_facts(region, image).await {
            Ok(Some(facts)) if facts.state == "available" => {}
            Ok(Some(facts)) => {
                return build(inputs, format!("same inputs as build {uuid}, but its image {image} in {region} is `{}`", facts.state))
            }
            Ok(None) => {
                return build(inputs, format!("same inputs as build {uuid}, but its image {image} in {region} is gone (deregistered)"))
            }
            Err(e) => return build(inputs, format!("same inputs as build {uuid}, but EC2 cannot say its images are still there: {e}")),
        }
    }
    let images = images.into_iter().filter(|(r, _)| wanted.contains(r)).collect();
    ImageSource::Reuse { uuid, built, images }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"{
      "variables": {"region": "us-west-2"},
      "builders": [{"type": "amazon-ebs", "region": "us-west-2", "source_ami": "ami-0a248ce88bcc7bd23",
                    "instance_type": "m5.xlarge", "ssh_username": "centos", "ami_name": "dcos-{{uuid}}",
                    "ami_regions": ["us-west-2", "us-east-1"]}],
      "provisioners": [
        {"type": "file", "source": "files", "destination": "/tmp/files"},
        {"type": "shell", "script": "install_dcos_prerequisites.sh"}
      ],
      "post-processors": [[{"type": "manifest", "output": "packer_build_history.json", "strip_path": true}]]
    }"#;

    struct Dir {
        tmp: tempfile::TempDir,
    }

    impl Dir {
        fn new() -> Dir {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::write(tmp.path().join("install_dcos_prerequisites.sh"), "#!/bin/sh\nyum install -y docker\n").unwrap();
            std::fs::create_dir_all(tmp.path().join("files/sub")).unwrap();
            std::fs::write(tmp.path().join("files/chrony.conf"), "server 169.254.169.123\n").unwrap();
            std::fs::write(tmp.path().join("files/sub/a.conf"), "a\n").unwrap();
            Dir { tmp }
        }

        fn inputs(&self, template: &str, base: &[(&str, &str)]) -> BuildInputs {
            let t = PackerTemplate::parse(template).value.unwrap();
            let base: BTreeMap<String, String> = base.iter().map(|(r, i)| ((*r).to_owned(), (*i).to_owned())).collect();
            BuildInputs::of(&t, &base, "centos/7.8/aws/DCOS-2.1.1/docker-19.03.12", self.tmp.path()).unwrap()
        }
    }

    const BASE: &[(&str, &str)] = &[("us-west-2", "ami-0a248ce88bcc7bd23")];

    #[test]
    fn the_same_directory_gives_the_same_digest_and_every_input_changes_it() {
        let dir = Dir::new();
        let first = dir.inputs(TEMPLATE, BASE);
        assert_eq!(first.digest(), dir.inputs(TEMPLATE, BASE).digest(), "a second rendering");
        assert_eq!(first.digest().len(), 64);
        // Key order and the tracked source_ami (the base image is its own input) do not count.
        let reordered = TEMPLATE.replace(
            r#""instance_type": "m5.xlarge", "ssh_username": "centos""#,
            r#""ssh_username": "centos", "instance_type": "m5.xlarge""#,
        );
        assert_eq!(dir.inputs(&reordered, BASE).digest(), first.digest());
        let other_source = TEMPLATE.replace("\"source_ami\": \"ami-0a248ce88bcc7bd23\"", "\"source_ami\": \"ami-00000000\"");
        assert_eq!(dir.inputs(&other_source, BASE).digest(), first.digest());

        let changed = |inputs: &BuildInputs, what: &str| {
            assert_ne!(inputs.digest(), first.digest(), "{what}");
            let parts: Vec<&String> = first.parts.keys().chain(inputs.parts.keys()).collect();
            assert!(parts.len() >= first.parts.len(), "{what}");
        };
        changed(&dir.inputs(&TEMPLATE.replace("m5.xlarge", "m5.2xlarge"), BASE), "the template");
        changed(&dir.inputs(TEMPLATE, &[("us-west-2", "ami-0b248ce88bcc7bd23")]), "a base image");
        std::fs::write(dir.tmp.path().join("install_dcos_prerequisites.sh"), "#!/bin/sh\nyum install -y docker-ce\n").unwrap();
        changed(&dir.inputs(TEMPLATE, BASE), "the provisioner script");
        let script_changed = dir.inputs(TEMPLATE, BASE);
        std::fs::write(dir.tmp.path().join("files/sub/a.conf"), "b\n").unwrap();
        assert_ne!(dir.inputs(TEMPLATE, BASE).digest(), script_changed.digest(), "a file deep in an uploaded directory");
        let keys: Vec<&String> = first.parts.keys().collect();
        assert_eq!(
            keys,
            vec![
                "base_image:us-west-2",
                "file:files/chrony.conf",
                "file:files/sub/a.conf",
                "file:install_dcos_prerequisites.sh",
                "template"
            ]
        );
    }

    #[test]
    fn changes_are_named_and_older_builds_have_none() {
        let dir = Dir::new();
        let first = dir.inputs(TEMPLATE, BASE);
        let build = |data: Option<serde_json::Map<String, Value>>| {
            let mut b: HistoryBuild = serde_json::from_str(
                r#"{"name":"amazon-ebs","builder_type":"amazon-ebs","build_time":1,"artifact_id":"us-west-2:ami-1","packer_run_uuid":"u"}"#,
            )
            .unwrap();
            b.custom_data = data.map(|d| d.into_iter().map(|(k, v)| (k, v.as_str().unwrap().to_owned())).collect());
            b
        };
        assert_eq!(first.changes_since(&build(None)), None, "a build before digests");
        let recorded = build(Some(first.custom_data()));
        assert_eq!(first.changes_since(&recorded), Some(vec![]));
        assert_eq!(recorded_digest(&recorded), Some(first.digest()));
        std::fs::write(dir.tmp.path().join("install_dcos_prerequisites.sh"), "changed\n").unwrap();
        let now = dir.inputs(TEMPLATE, &[("us-west-2", "ami-0b248ce88bcc7bd23")]);
        assert_eq!(
            now.changes_since(&recorded).unwrap(),
            vec![
                "the base image of us-west-2 changed (ami-0a248ce88bcc7bd23 -> ami-0b248ce88bcc7bd23)",
                "install_dcos_prerequisites.sh changed"
            ]
        );
        let fewer = TEMPLATE.replace(r#"{"type": "file", "source": "files", "destination": "/tmp/files"},"#, "");
        let changes = dir.inputs(&fewer, BASE).changes_since(&recorded).unwrap();
        assert!(changes.contains(&"files/chrony.conf is no longer read".to_owned()), "{changes:?}");
        assert!(changes.contains(&"packer.json changed".to_owned()), "{changes:?}");
    }

    #[test]
    fn a_templated_path_makes_the_inputs_unknowable() {
        let dir = Dir::new();
        let t = TEMPLATE.replace("\"script\": \"install_dcos_prerequisites.sh\"", "\"script\": \"{{user `script`}}\"");
        let t = PackerTemplate::parse(&t).value.unwrap();
        let err = BuildInputs::of(&t, &BTreeMap::new(), "d", dir.tmp.path()).unwrap_err();
        assert!(err.contains("cannot be known"), "{err}");
        // `{{template_dir}}` is the build directory: the same files are read.
        let t = TEMPLATE.replace("\"source\": \"files\"", "\"source\": \"{{template_dir}}/files\"");
        let files = |i: &BuildInputs| {
            i.parts.iter().filter(|(k, _)| k.starts_with("file:")).map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>()
        };
        assert_eq!(files(&dir.inputs(&t, BASE)), files(&dir.inputs(TEMPLATE, BASE)));
    }
}
