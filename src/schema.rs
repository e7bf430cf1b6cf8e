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
        ("publish_and_test_config.schema.json", publish_config_schema()),
        one::<RootConfig>("dcos-images.schema.json"),
    ]
}

/// publish_and_test_config.yaml's schema says what the parser says: an empty
/// file is the defaults (`null`), and `tests_to_run` holds no empty item and
/// at most one `-k` item. Counting matches takes `maxContains`: draft 2019-09.
fn publish_config_schema() -> String {
    use crate::formats::publish_config::{K_ITEM_PATTERN, NON_EMPTY_PATTERN};
    let mut schema = serde_json::to_value(schemars::schema_for!(PublishTestConfig)).expect("schemas serialize");
    schema["$schema"] = serde_json::json!("https://json-schema.org/draft/2019-09/schema");
    schema["type"] = serde_json::json!(["object", "null"]);
    let tests = &mut schema["properties"]["tests_to_run"];
    tests["items"] = serde_json::json!({ "type": "string", "pattern": NON_EMPTY_PATTERN });
    tests["contains"] = serde_json::json!({ "type": "string", "pattern": K_ITEM_PATTERN });
    tests["minContains"] = serde_json::json!(0);
    tests["maxContains"] = serde_json::json!(1);
    let mut s = serde_json::to_string_pretty(&schema).expect("schemas serialize");
    s.push('\n');
    s
}
