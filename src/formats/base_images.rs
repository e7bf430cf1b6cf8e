//! `base_images.json`: region -> the vendor's base image for that region.

use super::{parse_json, Parsed, RegionImages};
use schemars::JsonSchema;

/// The vendor base images of one OS version, keyed by region.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct BaseImages(pub RegionImages);

impl BaseImages {
    pub fn parse(text: &str) -> Parsed<BaseImages> {
        parse_json::<RegionImages>(text, "a JSON object of region to AMI id, e.g. {\"us-west-2\": \"ami-0a248ce88bcc7bd23\"}")
            .map(BaseImages)
    }

    pub fn get(&self, region: &str) -> Option<&str> {
        self.0.get(region).map(String::as_str)
    }
}

impl JsonSchema for BaseImages {
    fn schema_name() -> String {
        "BaseImages".into()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        super::region_image_map_schema(
            "base_images.json",
            "The vendor's base image per region for one OS version. The nearest base_images.json above a build directory applies to it.",
        )
    }
}
