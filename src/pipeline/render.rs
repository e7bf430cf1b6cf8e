//! The packer template as it is built: rendered into the run directory, never
//! into the tracked tree.

use crate::formats::packer::PackerTemplate;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// What the rendering changes in a build directory's template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderInputs<'a> {
    /// The base image per builder region.
    pub base_images: &'a BTreeMap<String, String>,
    /// The build directory's path relative to the root: the image description.
    pub description: &'a str,
    /// The build directory: provisioner paths are made absolute against it, so
    /// packer finds them from the run directory.
    pub build_dir: &'a Path,
    /// Where packer's manifest goes (a copy of the history, appended to).
    pub manifest: &'a Path,
    /// `AWS_ENDPOINT_URL_EC2`, when set: the emulator or LocalStack.
    pub ec2_endpoint: Option<&'a str>,
    /// Tagged on everything packer creates, from the moment it exists: a
    /// build that is killed still leaves nothing `destroy RUN_ID` cannot find.
    pub run_id: &'a str,
    /// The build's inputs (identity.rs), recorded by packer's manifest as
    /// its `custom_data`, beside the images they made.
    pub custom_data: Option<&'a serde_json::Map<String, Value>>,
}

/// The builder options whose tags land on what packer creates: the image,
/// the builder instance, its volumes and the image's snapshots.
pub(super) const TAGGED_BY_PACKER: [&str; 4] = ["tags", "run_tags", "run_volume_tags", "snapshot_tags"];

pub fn render(template: &PackerTemplate, inputs: &RenderInputs) -> Value {
    let mut t = template.clone();
    for (i, b) in template.builders.iter().enumerate() {
        if let Some(image) = b.region.as_deref().and_then(|r| inputs.base_images.get(r)) {
            t.set_builder_str(i, "source_ami", image);
        }
        t.set_builder_str(i, "ami_description", inputs.description);
        if let Some(endpoint) = inputs.ec2_endpoint {
            // An emulator has no region list, no metadata service and no STS:
            // these checks are turned off here only, never in the tracked file.
            t.set_builder_value(i, "custom_endpoint_ec2", Value::String(endpoint.to_owned()));
            t.set_builder_value(i, "skip_region_validation", Value::Bool(true));
            t.set_builder_value(i, "skip_metadata_api_check", Value::Bool(true));
            t.set_builder_value(i, "skip_credential_validation", Value::Bool(true));
        }
    }
    let mut doc = t.document().clone();
    for builder in doc.get_mut("builders").and_then(Value::as_array_mut).into_iter().flatten() {
        if !builder.get("type").and_then(Value::as_str).is_some_and(|t| t.starts_with("amazon-")) {
            continue;
        }
        for key in TAGGED_BY_PACKER {
            let tags =
                builder.as_object_mut().and_then(|b| b.entry(key).or_insert_with(|| Value::Object(Default::default())).as_object_mut());
            // A template's own value that is not a map (a user variable) is
            // left as it is: packer would reject a merge of the two.
            if let Some(tags) = tags {
                tags.insert(crate::cloud::sweep::RUN_ID_TAG.to_owned(), Value::String(inputs.run_id.to_owned()));
                tags.insert("dcos-images:build-dir".to_owned(), Value::String(inputs.description.to_owned()));
            }
        }
    }
    let abs = |v: &mut Value| {
        if let Some(s) = v.as_str() {
            if !s.contains("{{") && !Path::new(s).is_absolute() {
                *v = Value::String(inputs.build_dir.join(s).to_string_lossy().into_owned());
            }
        }
    };
    if let Some(provisioners) = doc.get_mut("provisioners").and_then(Value::as_array_mut) {
        for p in provisioners {
            let download = p.get("direction").and_then(Value::as_str) == Some("download");
            let keys: &[&str] = if download { &["script", "scripts"] } else { &["script", "scripts", "source", "sources"] };
            for key in keys {
                match p.get_mut(*key) {
                    Some(Value::Array(items)) => items.iter_mut().for_each(abs),
                    Some(v) => abs(v),
                    None => {}
                }
            }
        }
    }
    let manifest = inputs.manifest.to_string_lossy().into_owned();
    let mut point_manifest = |pp: &mut Value| {
        if pp.get("type").and_then(Value::as_str) == Some("manifest") {
            pp["output"] = Value::String(manifest.clone());
            if let Some(data) = inputs.custom_data {
                let mut merged = pp.get("custom_data").and_then(Value::as_object).cloned().unwrap_or_default();
                merged.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
                pp["custom_data"] = Value::Object(merged);
            }
        }
    };
    if let Some(pps) = doc.get_mut("post-processors").and_then(Value::as_array_mut) {
        for entry in pps {
            match entry {
                Value::Array(chain) => chain.iter_mut().for_each(&mut point_manifest),
                other => point_manifest(other),
            }
        }
    }
    doc
}
