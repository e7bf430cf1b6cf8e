//! `packer_build_history.json`: packer's `manifest` post-processor output. Each
//! build appends an entry; `last_run_uuid` names the newest run.

use super::{parse_json, parse_json_value, Parsed, RegionImages};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(title = "packer_build_history.json", description = "Packer's manifest post-processor output: every build of this directory.")]
pub struct BuildHistory {
    pub builds: Vec<HistoryBuild>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_uuid: Option<String>,
    /// Fields a newer packer writes are kept so a rewrite loses nothing.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct HistoryBuild {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub builder_type: String,
    /// Unix seconds.
    pub build_time: i64,
    #[serde(default)]
    pub files: Option<serde_json::Value>,
    /// `region:ami,region:ami`.
    #[schemars(regex(pattern = r"^[a-z0-9-]+:ami-[0-9a-f]+(,[a-z0-9-]+:ami-[0-9a-f]+)*$"))]
    pub artifact_id: String,
    #[serde(default)]
    pub packer_run_uuid: String,
    /// The manifest post-processor's `custom_data`. dcos-images records the
    /// build's inputs here: `dcos_images_inputs` (the digest over them all)
    /// and `dcos_images_input:<input>` (each one), so that a later run with
    /// the same inputs reuses the build's images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<std::collections::BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

const WHAT: &str = "packer's manifest: {\"builds\": [...], \"last_run_uuid\": \"...\"}";

impl BuildHistory {
    pub fn parse(text: &str) -> Parsed<BuildHistory> {
        parse_json(text, WHAT)
    }

    /// The history alone, its problems left to `validate` (see
    /// [`parse_json_value`]).
    pub fn parse_value(text: &str) -> Parsed<BuildHistory> {
        Parsed { value: parse_json_value(text, WHAT), problems: Vec::new() }
    }

    /// The build `last_run_uuid` names; the last entry when it names none.
    pub fn last_build(&self) -> Option<&HistoryBuild> {
        self.last_run_uuid
            .as_deref()
            .and_then(|uuid| self.builds.iter().rev().find(|b| b.packer_run_uuid == uuid))
            .or_else(|| self.builds.last())
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("history serializes");
        s.push('\n');
        s
    }
}

impl HistoryBuild {
    /// The images of this build, per region, from `artifact_id`.
    pub fn images(&self) -> Result<RegionImages, String> {
        parse_artifact_id(&self.artifact_id)
    }

    pub fn built_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp(self.build_time, 0)
    }

    /// Whether `artifact_id` is well formed and every image it names
    /// passes `valid`, without the map of [`HistoryBuild::images`]: true of
    /// nearly every build, and validate asks it of each of the tree's
    /// builds (building the maps was a twentieth of its work).
    pub fn images_all(&self, valid: impl Fn(&str) -> bool) -> bool {
        artifact_pairs(&self.artifact_id).all(|(_, pair)| pair.is_some_and(|(_, image)| valid(image)))
    }
}

/// Each pair of an artifact id as written, and its region and image when
/// it is `region:image`.
fn artifact_pairs(artifact_id: &str) -> impl Iterator<Item = (&str, Option<(&str, &str)>)> {
    artifact_id.split(',').map(|pair| (pair, pair.trim().split_once(':').filter(|(region, image)| !region.is_empty() && !image.is_empty())))
}

/// `us-east-1:ami-1,us-west-2:ami-2` -> {us-east-1: ami-1, us-west-2: ami-2}.
pub fn parse_artifact_id(artifact_id: &str) -> Result<RegionImages, String> {
    artifact_pairs(artifact_id)
        .map(|(pair, parts)| match parts {
            Some((region, image)) => Ok((region.to_owned(), image.to_owned())),
            None => Err(format!("`{pair}` is not `region:image`")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Browsing's parse has the value validate's parse has, whatever the text.
    #[test]
    fn parse_value_is_parse_without_its_problems() {
        let build = r#"{"name": "aws", "builder_type": "amazon-ebs", "build_time": 1600000000, "files": null, "artifact_id": "us-west-2:ami-0af0c2319f0691dab", "packer_run_uuid": "u1", "custom_data": null}"#;
        let texts = [
            format!(r#"{{"builds": [{build}], "last_run_uuid": "u1"}}"#),
            // A repeated unknown key, and a repeated known one: the last wins.
            format!(r#"{{"builds": [{build}], "x": 1, "x": 2, "last_run_uuid": "u1"}}"#),
            format!(r#"{{"builds": [], "builds": [{build}], "last_run_uuid": "u1"}}"#),
            // Not JSON; JSON of the wrong type.
            r#"{"builds": ["#.to_owned(),
            r#"{"builds": 7}"#.to_owned(),
        ];
        for text in &texts {
            let full = BuildHistory::parse(text);
            let value = BuildHistory::parse_value(text);
            assert!(value.problems.is_empty());
            assert_eq!(value.value.map(|h| h.to_json()), full.value.map(|h| h.to_json()), "{text}");
        }
        let got: Vec<bool> = texts.iter().map(|t| BuildHistory::parse_value(t).value.is_some()).collect();
        assert_eq!(got, [true, true, true, false, false]);
        assert!(BuildHistory::parse_value(&texts[2]).value.is_some_and(|h| h.builds.len() == 1), "the last `builds` wins");
        assert!(!BuildHistory::parse(&texts[1]).problems.is_empty(), "validate still reports the repeated key");
    }

    #[test]
    fn artifact_ids_split_into_regions() {
        let m = parse_artifact_id("us-east-1:ami-0af0c2319f0691dab,us-west-2:ami-01a97f895e65e7dfa").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["us-west-2"], "ami-01a97f895e65e7dfa");
        assert!(parse_artifact_id("ami-01a97f895e65e7dfa").is_err());
    }

    #[test]
    fn last_build_follows_last_run_uuid() {
        let text = r#"{"builds":[
            {"name":"a","builder_type":"amazon-ebs","build_time":1,"files":null,"artifact_id":"r:ami-1","packer_run_uuid":"u1"},
            {"name":"a","builder_type":"amazon-ebs","build_time":2,"files":null,"artifact_id":"r:ami-2","packer_run_uuid":"u2"}],
            "last_run_uuid":"u1"}"#;
        let h = BuildHistory::parse(text).value.unwrap();
        assert_eq!(h.last_build().unwrap().packer_run_uuid, "u1");
    }

    #[test]
    fn rewrite_keeps_unknown_fields() {
        let text = r#"{"builds":[{"name":"a","builder_type":"t","build_time":1,"files":null,"artifact_id":"r:ami-1","packer_run_uuid":"u","custom_data":{"k":"v"}}],"last_run_uuid":"u","x":1}"#;
        let h = BuildHistory::parse(text).value.unwrap();
        let again: serde_json::Value = serde_json::from_str(&h.to_json()).unwrap();
        assert_eq!(again, serde_json::from_str::<serde_json::Value>(text).unwrap());
    }
}
