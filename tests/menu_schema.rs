//! `docs/menu.schema.json` and `docs/menu-schema.md` say what `src/menu.rs`
//! writes: the documented example validates, and the schema's closed
//! vocabularies are the code's. (Every menu an integration test reads is
//! validated against the schema too: `common::tree_menu`.)

mod common;

use serde_json::Value;

fn doc_text() -> String {
    std::fs::read_to_string(common::repo().join("docs/menu-schema.md")).unwrap()
}

fn schema() -> Value {
    let text = std::fs::read_to_string(common::repo().join("docs/menu.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_documented_example_validates() {
    let text = doc_text();
    let start = text.find("```json\n").expect("the doc has an example") + "```json\n".len();
    let end = start + text[start..].find("```").unwrap();
    let example: Value = serde_json::from_str(&text[start..end]).expect("the example is JSON");
    common::assert_menu_schema(&example, "docs/menu-schema.md's example");
    assert_eq!(example["schemaVersion"], menusync::menu::SCHEMA_VERSION);
    // It also reads back as the code's own type, field for field.
    let menu: menusync::menu::Menu = serde_json::from_value(example.clone()).unwrap();
    assert_eq!(serde_json::to_value(&menu).unwrap(), example);
}

#[test]
fn the_schemas_vocabularies_are_the_codes() {
    let schema = schema();
    let allergens: Vec<String> = schema["$defs"]["allergen"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| value.as_str().unwrap().to_string())
        .collect();
    let code: Vec<String> = menusync::menu::Allergen::ALL
        .iter()
        .map(|allergen| allergen.code())
        .collect();
    assert_eq!(allergens, code);
    for name in &allergens {
        assert!(
            doc_text().contains(&format!("`{name}`")),
            "{name} in the doc"
        );
    }
    assert_eq!(
        schema["properties"]["schemaVersion"]["const"],
        menusync::menu::SCHEMA_VERSION
    );
}
