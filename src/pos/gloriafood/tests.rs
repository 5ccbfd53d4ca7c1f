//! The GloriaFood mapping: sizes, groups at three levels, activity, and prices
//! that are problems of their item.

use super::*;

fn map(text: &str) -> MenuDoc {
    map_menu(&parse_menu(text.as_bytes()).expect("test menus parse"))
}

const PIZZERIA: &str = r#"{
  "id": 1, "restaurant_id": 77, "currency": "USD",
  "categories": [
    {"id": 10, "name": "Pizza", "active": true,
     "groups": [{"id": 500, "name": "Crust", "required": true, "force_min": 1, "force_max": 1,
                 "options": [{"id": 5001, "name": "Thin", "price": 0}, {"id": 5002, "name": "Deep", "price": 1.5}]}],
     "items": [
       {"id": 100, "name": "Margherita", "description": "", "price": 7, "active": true, "tags": ["VEGETARIAN"],
        "sizes": [
          {"id": 1001, "name": "Small", "price": 0, "default": true, "groups": []},
          {"id": 1002, "name": "Large", "price": 2.50, "default": false,
           "groups": [{"id": 600, "name": "Extra", "required": false, "force_min": 1, "force_max": 0,
                       "options": [{"id": 6001, "name": "Basil", "price": 0.7}]}]}],
        "groups": [{"id": 700, "name": "Dip", "required": false, "force_min": 0, "force_max": 2, "options": null}]},
       {"id": 101, "name": "Seasonal", "price": 9, "active": false, "sizes": [], "groups": []},
       {"id": 102, "name": "Broken", "price": 7.555, "sizes": [], "groups": []},
       {"id": 103, "name": "Negative", "price": -3, "sizes": [], "groups": []},
       {"id": 104, "name": "Bad size", "price": 5, "sizes": [{"id": 1041, "name": "S", "price": 0.333}], "groups": []},
       {"id": 105, "name": "No price", "sizes": null, "groups": null}
     ]},
    {"id": 20, "name": "Closed", "active": false, "items": [{"id": 200, "name": "Soup", "price": 4}], "groups": []}
  ]
}"#;

#[test]
fn sizes_become_variants_priced_on_top_of_the_item() {
    let menu = map(PIZZERIA);
    let margherita = &menu.items[0];
    assert_eq!(margherita.item_id, "100");
    assert_eq!(margherita.price, 700);
    assert_eq!(margherita.description, None, "an empty description is none");
    assert_eq!(margherita.tags, ["VEGETARIAN"]);
    let sizes: Vec<(&str, i64, Option<bool>)> = margherita
        .variants
        .iter()
        .map(|size| (size.variant_id.as_str(), size.price, size.is_default))
        .collect();
    assert_eq!(
        sizes,
        [("1001", 700, Some(true)), ("1002", 950, Some(false))]
    );
    let large = &margherita.variants[1].option_groups[0];
    assert_eq!(
        (large.group_id.as_str(), large.options[0].price),
        ("600", 70)
    );
}

#[test]
fn groups_apply_category_first_with_required_minimums_and_open_maximums() {
    let menu = map(PIZZERIA);
    let margherita = &menu.items[0];
    let groups: Vec<(&str, Option<u32>, Option<u32>, usize)> = margherita
        .option_groups
        .iter()
        .map(|group| {
            (
                group.group_id.as_str(),
                group.min_select,
                group.max_select,
                group.options.len(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [("500", Some(1), Some(1), 2), ("700", Some(0), Some(2), 0)]
    );
    assert_eq!(margherita.option_groups[0].options[1].price, 150);
    // Not required: force_min does not bind; force_max 0: no limit.
    let extra = &margherita.variants[1].option_groups[0];
    assert_eq!((extra.min_select, extra.max_select), (Some(0), None));
}

#[test]
fn inactive_entries_are_hidden_and_bad_prices_are_item_problems() {
    let menu = map(PIZZERIA);
    let visible = |id: &str| {
        menu.items
            .iter()
            .find(|item| item.item_id == id)
            .map(|item| item.visible)
    };
    assert_eq!(visible("101"), Some(Some(false)));
    assert_eq!(menu.categories[1].visible, Some(false));
    assert_eq!(
        visible("200"),
        Some(Some(true)),
        "hidden through its category"
    );
    assert_eq!(
        visible("103"),
        Some(Some(true)),
        "the transform refuses the negative price"
    );
    let problems: Vec<(&str, &str)> = menu
        .problems
        .iter()
        .map(|problem| (problem.subject.as_str(), problem.message.as_str()))
        .collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(problems[0].0, "item 102");
    assert!(
        problems[0]
            .1
            .contains("7.555 has 3 fraction digits; USD allows 2")
    );
    assert_eq!(problems[1].0, "item 104");
    assert!(problems[1].1.contains("size 1041"));
    assert_eq!(
        problems,
        [problems[0], problems[1], ("item 105", "has no price")]
    );
}

#[test]
fn a_menu_that_is_not_fetch_menu_v2_is_a_data_failure() {
    for body in ["[]", "{\"categories\": {\"id\": 1}}", "<html>"] {
        let err = parse_menu(body.as_bytes()).unwrap_err();
        assert_eq!(err.kind, Kind::BadDocument, "{body}");
    }
}

/// The vendor's own sample answer (`../shared/pos-samples`), read as is.
fn vendor_sample() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/pos-samples/gloriafood/fetch-menu-v2-menu.json");
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn item_named<'m>(menu: &'m MenuDoc, name: &str) -> &'m ItemDoc {
    menu.items
        .iter()
        .find(|item| item.name == name)
        .unwrap_or_else(|| panic!("{name} in the sample"))
}

/// Issue 14: allergens, nutrition and preselected options of GloriaFood's sample.
#[test]
fn the_vendor_sample_carries_allergens_nutrition_and_defaults() {
    let menu = map(&vendor_sample());
    let bolognese = item_named(&menu, "Spaghetti Bolognese");
    assert_eq!(
        bolognese.allergens,
        ["milk", "eggs", "crustaceans", "soy", "peanuts"],
        "built-in ids 1, 3, 7, 8, 4"
    );
    let prosciutto = item_named(&menu, "Pizza Prosciutto");
    let small = &prosciutto.variants[0];
    let facts = small
        .nutrition
        .as_ref()
        .expect("the small size has nutrition");
    assert_eq!(facts.basis, NutritionBasis::Per100g);
    assert_eq!(facts.energy_kcal, Some(123.0));
    let crust = prosciutto
        .option_groups
        .iter()
        .find(|group| group.name == "Crust")
        .expect("the category's crust group");
    let defaults: Vec<(&str, Option<bool>)> = crust
        .options
        .iter()
        .map(|option| (option.name.as_str(), option.is_default))
        .collect();
    assert!(defaults.contains(&("Fluffy", Some(true))), "{defaults:?}");
    assert_eq!(crust.allow_quantities, Some(false));
    // Every entry of the sample is active all week at all hours: no window.
    assert!(menu.items.iter().all(|item| item.availability.is_empty()));
    assert!(menu.categories.iter().all(|c| c.availability.is_empty()));
}

/// Issue 14: a lunch special limited in time is published with its window,
/// read from the day mask (bit 0 Monday) and the local times.
#[test]
fn active_days_and_hours_become_a_window() {
    let mut sample: serde_json::Value = serde_json::from_str(&vendor_sample()).unwrap();
    let item = &mut sample["categories"][0]["items"][0];
    item["active_days"] = 0b0011111.into(); // Monday to Friday
    item["active_begin"] = "11:00".into();
    item["active_end"] = "14:00".into();
    sample["categories"][0]["active_days"] = 0b1100000.into(); // the weekend, all day
    let menu = map(&sample.to_string());
    assert_eq!(
        menu.items[0].availability,
        [WindowDoc {
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            start: "11:00".into(),
            end: "14:00".into(),
        }]
    );
    assert_eq!(
        menu.categories[0].availability,
        [WindowDoc {
            days: vec!["sat".into(), "sun".into()],
            start: "00:00".into(),
            end: "24:00".into(),
        }]
    );
}
