//! `dcos_images.yaml`: region -> the qualified DC/OS image, written on publish.

use super::{parse_yaml, Parsed, RegionImages};
use schemars::JsonSchema;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct DcosImages(pub RegionImages);

impl DcosImages {
    pub fn parse(text: &str) -> Parsed<DcosImages> {
        parse_yaml::<RegionImages>(text, "a YAML mapping of region to AMI id, e.g. `us-west-2: ami-0a248ce88bcc7bd23`", || None)
            .map(DcosImages)
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
