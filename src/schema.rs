//! JSON Schemas of the tree's files, generated from the Rust types that read
//! them, so that editors (yaml-language-server, VS Code) check what the
//! validator checks. `dcos-images schemas --out schemas` regenerates them.

use crate::config::RootConfig;
use crate::formats::{base_images::BaseImages, dcos_images::DcosImages, history::BuildHistory, publish_config::PublishTestConfig};

/// (file name, pretty JSON) of every schema.
pub fn all() -> Vec<(&'static str, String)> {
    fn one<T: schemars::JsonSchema>(name: &'static str) -> (&'static str, String) {
        let schema = schemars::schema_for!(T);
        let mut s = serde_json::to_string_pretty(&schema).expect("schemas serialize");
        s.push('\n');
        (name, s)
    }
    vec![
        one::<BaseImages>("base_images.schema.json"),
        one::<DcosImages>("dcos_images.schema.json"),
        one::<BuildHistory>("packer_build_history.schema.json"),
        one::<PublishTestConfig>("publish_and_test_config.schema.json"),
        one::<RootConfig>("dcos-images.schema.json"),
    ]
}
