//! Table-style tests of the transform: ordering, visibility, overrides, problems.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::*;

fn settings() -> StoreSettings {
    StoreSettings {
        display_name: "블리스월드 강남점".into(),
        hidden_categories: BTreeSet::new(),
        hidden_items: BTreeSet::new(),
        price_overrides: BTreeMap::new(),
    }
}

fn doc(value: serde_json::Value) -> MenuDoc {
    serde_json::from_value(value).expect("test documents fit the protocol")
}

fn item_ids(menu: &Menu) -> Vec<&str> {
    menu.items().map(|item| item.id.as_str()).collect()
}

fn sample() -> MenuDoc {
    doc(json!({
        "storeId": "S001",
        "categories": [
            {"categoryId": "C20", "name": "디저트", "displayOrder": 2},
            {"categoryId": "C10", "name": "커피", "displayOrder": 1},
            {"categoryId": "C90", "name": "직원", "visible": false}
        ],
        "items": [
            {"itemId": "I102", "categoryId": "C10", "name": "라떼", "price": 5000, "displayOrder": 2},
            {"itemId": "I100", "categoryId": "C10", "name": "아메리카노", "price": 4500, "displayOrder": 1,
             "imageId": "IMG100", "tags": ["best"],
             "optionGroups": [{"groupId": "G1", "name": "사이즈", "minSelect": 1, "maxSelect": 1,
                "options": [{"optionId": "O1", "name": "Regular", "price": 0},
                            {"optionId": "O2", "name": "Large", "price": 500, "soldOut": true}]}]},
            {"itemId": "I200", "categoryId": "C20", "name": "케이크", "price": 6500, "soldOut": true},
            {"itemId": "I201", "categoryId": "C20", "name": "숨김", "price": 1, "visible": false},
            {"itemId": "I900", "categoryId": "C90", "name": "직원 커피", "price": 1000}
        ]
    }))
}

#[test]
fn orders_categories_and_items_and_drops_hidden_ones() {
    let result = transform("gangnam", &sample(), &settings());
    assert!(result.problems.is_empty(), "{:?}", result.problems);
    let menu = &result.menu;
    let categories: Vec<&str> = menu.categories.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(categories, ["C10", "C20"]);
    assert_eq!(item_ids(menu), ["I100", "I102", "I200"]);
    assert_eq!(menu.currency, DEFAULT_CURRENCY);
    assert_eq!(menu.store.name, "블리스월드 강남점");
    assert_eq!(menu.schema_version, crate::menu::SCHEMA_VERSION);
}

#[test]
fn sold_out_items_and_options_are_shown_marked() {
    let menu = transform("gangnam", &sample(), &settings()).menu;
    let cake = menu.items().find(|item| item.id == "I200").unwrap();
    assert!(cake.sold_out);
    let americano = menu.items().find(|item| item.id == "I100").unwrap();
    let group = &americano.option_groups[0];
    assert_eq!((group.min_select, group.max_select), (1, Some(1)));
    assert_eq!(group.options[1].price_delta, 500);
    assert!(group.options[1].sold_out);
    assert_eq!(americano.image_id.as_deref(), Some("IMG100"));
    assert_eq!(
        americano.image, None,
        "images are attached only after the images stage"
    );
}

#[test]
fn store_settings_hide_and_override() {
    let mut settings = settings();
    settings.hidden_categories.insert("C20".into());
    settings.hidden_items.insert("I102".into());
    settings.price_overrides.insert("I100".into(), 4800);
    let menu = transform("gangnam", &sample(), &settings).menu;
    assert_eq!(item_ids(&menu), ["I100"]);
    assert_eq!(menu.items().next().unwrap().price, 4800);
}

#[test]
fn document_order_fills_missing_display_order() {
    let menu = transform(
        "s",
        &doc(json!({
            "categories": [{"categoryId": "C", "name": "c"}],
            "items": [
                {"itemId": "B", "categoryId": "C", "name": "b", "price": 1},
                {"itemId": "A", "categoryId": "C", "name": "a", "price": 1},
                {"itemId": "Z", "categoryId": "C", "name": "z", "price": 1, "displayOrder": 0}
            ]
        })),
        &settings(),
    )
    .menu;
    // Z asks for position 0; B and A keep their document positions 0 and 1, Z sorts before A.
    assert_eq!(item_ids(&menu), ["B", "Z", "A"]);
}

#[test]
fn bad_items_are_problems_not_failures() {
    let result = transform(
        "s",
        &doc(json!({
            "categories": [{"categoryId": "C", "name": "c"}, {"categoryId": "C", "name": "again"}],
            "items": [
                {"itemId": "OK", "categoryId": "C", "name": "ok", "price": 1000},
                {"itemId": "OK", "categoryId": "C", "name": "twice", "price": 1000},
                {"itemId": "ORPHAN", "categoryId": "NOPE", "name": "o", "price": 1000},
                {"itemId": "NEG", "categoryId": "C", "name": "n", "price": -1},
                {"itemId": "BADGROUP", "categoryId": "C", "name": "g", "price": 1,
                 "optionGroups": [{"groupId": "G", "name": "g", "minSelect": 2, "maxSelect": 1, "options": []}]},
                {"itemId": "SHORT", "categoryId": "C", "name": "g", "price": 1,
                 "optionGroups": [{"groupId": "G", "name": "g", "minSelect": 2,
                    "options": [{"optionId": "O", "name": "o"}]}]}
            ]
        })),
        &settings(),
    );
    assert_eq!(item_ids(&result.menu), ["OK"]);
    let subjects: Vec<&str> = result.problems.iter().map(|p| p.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "category C",
            "item OK",
            "item ORPHAN",
            "item NEG",
            "item BADGROUP",
            "item SHORT"
        ]
    );
    assert!(result.problems.iter().all(|p| p.category == Category::Data));
}

#[test]
fn equal_input_gives_byte_equal_output() {
    let a = transform("gangnam", &sample(), &settings()).menu.to_bytes();
    let b = transform("gangnam", &sample(), &settings()).menu.to_bytes();
    assert_eq!(a, b);
    assert!(a.ends_with(b"\n"));
    assert!(
        String::from_utf8(a).unwrap().contains("아메리카노"),
        "Korean stays unescaped"
    );
}

#[test]
fn attach_images_sets_root_relative_paths_and_leaves_missing_ones_out() {
    let mut menu = transform("gangnam", &sample(), &settings()).menu;
    assert_eq!(wanted_images(&menu), BTreeSet::from(["IMG100".to_string()]));
    attach_images(&mut menu, &BTreeMap::new());
    assert!(menu.items().all(|item| item.image.is_none()));
    let files = BTreeMap::from([("IMG100".to_string(), "0123456789abcdef.jpg".to_string())]);
    attach_images(&mut menu, &files);
    let americano = menu.items().find(|item| item.id == "I100").unwrap();
    assert_eq!(
        americano.image.as_deref(),
        Some("/images/0123456789abcdef.jpg")
    );
}

#[test]
fn shrink_guard_table() {
    let menu_with = |n: usize| {
        let items: Vec<_> = (0..n)
            .map(|i| json!({"itemId": format!("I{i}"), "categoryId": "C", "name": "x", "price": 1}))
            .collect();
        transform(
            "s",
            &doc(json!({"categories": [{"categoryId": "C", "name": "c"}], "items": items})),
            &settings(),
        )
        .menu
    };
    // (new items, published items, allow_shrink, accepted)
    let cases = [
        (10, None, false, true),
        (0, None, false, false),
        (0, Some(80), false, false),
        (0, Some(80), true, true),
        (40, Some(80), false, true),
        (39, Some(80), false, false),
        (39, Some(80), true, true),
        (90, Some(80), false, true),
    ];
    for (new_items, published, allow, accepted) in cases {
        let result = check_publishable(&menu_with(new_items), published, 50, allow);
        assert_eq!(
            result.is_ok(),
            accepted,
            "new {new_items}, published {published:?}, allow {allow}"
        );
        if let Err(err) = result {
            assert_eq!(err.category, Category::Data);
        }
    }
}

#[test]
fn a_currency_that_is_not_an_iso_code_is_refused() {
    for (currency, accepted) in [
        ("KRW", true),
        ("USD", true),
        ("krw", false),
        ("", false),
        ("WON!", false),
    ] {
        let mut menu = transform("s", &sample(), &settings()).menu;
        menu.currency = currency.into();
        assert_eq!(
            check_publishable(&menu, None, 50, false).is_ok(),
            accepted,
            "{currency:?}"
        );
    }
}

#[test]
fn an_item_with_the_same_option_group_twice_is_a_problem() {
    let group = json!({"groupId": "G1", "name": "사이즈", "options": []});
    let result = transform(
        "s",
        &doc(json!({
            "categories": [{"categoryId": "C", "name": "c"}],
            "items": [{"itemId": "I", "categoryId": "C", "name": "i", "price": 1,
                       "optionGroups": [group.clone(), group]}]
        })),
        &settings(),
    );
    assert_eq!(result.menu.item_count(), 0);
    assert_eq!(result.problems.len(), 1);
    assert!(result.problems[0].message.contains("G1"));
}
