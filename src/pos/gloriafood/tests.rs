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
