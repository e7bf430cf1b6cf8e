//! `dcos_images.yaml`: region -> the qualified DC/OS image, written on publish.

use super::flat_yaml::{self, FlatValue};
use super::{parse_yaml, Parsed, RegionImages};
use schemars::JsonSchema;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct DcosImages(pub RegionImages);

impl DcosImages {
    pub fn parse(text: &str) -> Parsed<DcosImages> {
        // What `to_yaml` writes, without libyaml; anything else through it.
        let flat = flat_yaml::read(text).and_then(|entries| {
            entries
                .into_iter()
                .map(|(region, image)| match image {
                    FlatValue::Scalar(image) if !matches!(image, "true" | "false") => Some((region.to_owned(), image.to_owned())),
                    _ => None,
                })
                .collect::<Option<RegionImages>>()
        });
        if let Some(images) = flat {
            return Parsed::ok(DcosImages(images));
        }
        parse_yaml::<UniqueKeys>(text, "a YAML mapping of region to AMI id, e.g. `us-west-2: ami-0a248ce88bcc7bd23`", || None)
            .map(|u| DcosImages(u.0))
    }

    /// The file as written on publish: sorted by region, one line each.
    pub fn to_yaml(&self) -> String {
        self.0.iter().map(|(region, image)| format!("{region}: {image}\n")).collect()
    }
}

impl JsonSchema for DcosImages {
    fn schema_name() -> String {
        "DcosImages".into()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        super::region_image_map_schema(
            "dcos_images.yaml",
            "The images that passed qualification, per region. Written by `dcos-images qualify` on publish.",
        )
    }
}

/// A region map that refuses a region twice: serde fills a map silently,
/// keeping the last, and a second `us-west-2:` line is almost always a merge
/// gone wrong.
struct UniqueKeys(RegionImages);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of region to AMI id")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
                let mut out = RegionImages::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    if out.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!("duplicate entry with key \"{k}\"")));
                    }
                    out.insert(k, v);
                }
                Ok(UniqueKeys(out))
            }
        }
        d.deserialize_map(Visitor)
    }
}
