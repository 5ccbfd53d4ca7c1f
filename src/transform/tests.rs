//! Table-style tests of the transform: ordering, visibility, overrides, problems.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::*;
use crate::error::Category;

fn settings() -> StoreSettings {
    StoreSettings {
        display_name: "블리스월드 강남점".into(),
        hidden_categories: BTreeSet::new(),
        hidden_items: BTreeSet::new(),
        price_overrides: BTreeMap::new(),
        time_zone: "Asia/Seoul".into(),
        publish_allergens: true,
        image_variants: Default::default(),
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
    let files = BTreeMap::from([(
        "IMG100".to_string(),
        crate::menu::PublishedImage::file("0123456789abcdef.jpg".to_string()),
    )]);
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
            assert_eq!(err.kind, Kind::Unpublishable);
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

fn sized(variants: serde_json::Value) -> MenuDoc {
    doc(json!({
        "categories": [{"categoryId": "C", "name": "c"}],
        "items": [{"itemId": "PIZZA", "categoryId": "C", "name": "pizza", "price": 1,
                   "optionGroups": [{"groupId": "CRUST", "name": "crust", "options": []}],
                   "variants": variants}]
    }))
}

fn size(id: &str, price: i64, extra: serde_json::Value) -> serde_json::Value {
    let mut variant = json!({"variantId": id, "name": id, "price": price});
    for (key, value) in extra.as_object().unwrap() {
        variant[key] = value.clone();
    }
    variant
}

#[test]
fn the_default_variant_prices_the_item_else_the_first_one() {
    // (is_default of S, M, L) → (expected item price, expected default id)
    let table = [
        ((None, None, None), (700, "S")),
        ((None, Some(true), None), (900, "M")),
        ((Some(false), None, Some(true)), (1100, "L")),
        ((None, Some(true), Some(true)), (900, "M")),
    ];
    for ((s, m, l), (price, default)) in table {
        let menu = transform(
            "s",
            &sized(json!([
                size("S", 700, json!({"isDefault": s})),
                size("M", 900, json!({"isDefault": m})),
                size("L", 1100, json!({"isDefault": l}))
            ])),
            &settings(),
        )
        .menu;
        let pizza = menu.items().next().unwrap();
        assert_eq!(pizza.price, price, "{s:?} {m:?} {l:?}");
        let defaults: Vec<&str> = pizza
            .variants
            .iter()
            .filter(|variant| variant.is_default)
            .map(|variant| variant.id.as_str())
            .collect();
        assert_eq!(defaults, [default], "exactly one default");
    }
}

#[test]
fn price_overrides_name_a_variant_or_the_items_default_variant() {
    let variants = json!([
        size("S", 700, json!({})),
        size("L", 1100, json!({"isDefault": true}))
    ]);
    let mut settings = settings();
    settings.price_overrides.insert("PIZZA".into(), 1000);
    settings.price_overrides.insert("S".into(), 650);
    let pizza = transform("s", &sized(variants.clone()), &settings)
        .menu
        .items()
        .next()
        .cloned()
        .unwrap();
    let prices: Vec<(&str, i64)> = pizza
        .variants
        .iter()
        .map(|v| (v.id.as_str(), v.price))
        .collect();
    assert_eq!(prices, [("S", 650), ("L", 1000)]);
    assert_eq!(pizza.price, 1000);
    settings.price_overrides.insert("L".into(), 1200);
    let menu = transform("s", &sized(variants), &settings).menu;
    assert_eq!(
        menu.items().next().unwrap().price,
        1200,
        "the variant id wins"
    );
}

#[test]
fn variant_sold_out_and_option_groups_are_kept_per_variant() {
    let large_only = json!([{"groupId": "XL", "name": "xl", "minSelect": 0, "options": []}]);
    let menu = transform(
        "s",
        &sized(json!([
            size("S", 700, json!({"soldOut": true})),
            size("L", 1100, json!({"optionGroups": large_only}))
        ])),
        &settings(),
    )
    .menu;
    let pizza = menu.items().next().unwrap();
    assert!(!pizza.sold_out, "one size is left");
    assert!(pizza.variants[0].sold_out);
    assert_eq!(pizza.option_groups[0].id, "CRUST");
    assert_eq!(pizza.variants[1].option_groups[0].id, "XL");
    assert_eq!(
        pizza.variants[1].option_groups[0].max_select, None,
        "no upper limit"
    );

    let all_gone = json!([
        size("S", 7, json!({"soldOut": true})),
        size("L", 9, json!({"soldOut": true}))
    ]);
    let menu = transform("s", &sized(all_gone), &settings()).menu;
    assert!(menu.items().next().unwrap().sold_out);
}

#[test]
fn a_single_variant_folds_into_its_item() {
    let only = json!([{"groupId": "XL", "name": "xl", "options": []}]);
    let menu = transform(
        "s",
        &sized(json!([size(
            "REGULAR",
            995,
            json!({"soldOut": true, "optionGroups": only})
        )])),
        &settings(),
    )
    .menu;
    let pizza = menu.items().next().unwrap();
    assert!(pizza.variants.is_empty());
    assert_eq!((pizza.price, pizza.sold_out), (995, true));
    let groups: Vec<&str> = pizza.option_groups.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(groups, ["CRUST", "XL"]);
}

#[test]
fn bad_variants_make_their_item_a_problem() {
    let crust_again = json!([{"groupId": "CRUST", "name": "again", "options": []}]);
    let cases = [
        (
            json!([size("S", 700, json!({})), size("L", -1, json!({}))]),
            "negative price",
        ),
        (
            json!([size("S", 700, json!({})), size("S", 900, json!({}))]),
            "appears twice",
        ),
        (
            json!([
                size("S", 700, json!({})),
                size("L", 900, json!({"optionGroups": crust_again}))
            ]),
            "option group CRUST appears twice",
        ),
    ];
    for (variants, message) in cases {
        let result = transform("s", &sized(variants), &settings());
        assert_eq!(result.menu.item_count(), 0, "{message}");
        assert_eq!(result.problems.len(), 1, "{message}");
        assert!(
            result.problems[0].message.contains(message),
            "{:?}",
            result.problems
        );
    }
}

#[test]
fn problems_of_the_providers_mapping_come_first() {
    let mut menu = sample();
    menu.problems.push(crate::pos::doc::DocProblem {
        subject: "item 58424".into(),
        message: "price 7.555 has 3 fraction digits; USD allows 2".into(),
    });
    menu.items.push(menu.items[0].clone());
    let result = transform("s", &menu, &settings());
    let subjects: Vec<&str> = result.problems.iter().map(|p| p.subject.as_str()).collect();
    assert_eq!(subjects, ["item 58424", "item I102"]);
    assert!(result.problems.iter().all(|p| p.category == Category::Data));
}

/// Issue 14: the reference protocol's schema-2 fields, end to end through the transform.
fn schema_two() -> MenuDoc {
    doc(json!({
        "pricesIncludeTax": true,
        "categories": [
            {"categoryId": "C10", "name": "커피", "displayOrder": 1},
            {"categoryId": "C40", "name": "런치", "displayOrder": 2,
             "availability": [{"days": ["MON", "tue"], "start": "11:00", "end": "14:00"}]},
            {"categoryId": "C50", "name": "심야", "displayOrder": 3,
             "availability": [{"days": ["fri"], "start": "late", "end": "02:00"}]}
        ],
        "items": [
            {"itemId": "I1", "categoryId": "C10", "name": "라떼", "price": 5000,
             "alsoIn": [{"categoryId": "C40", "displayOrder": 0}, {"categoryId": "C99"}],
             "allergens": ["우유", "MILK", "pine nuts", "견과류 흔적", " "], "dietary": ["VEGETARIAN", "low-fodmap"],
             "nutrition": {"basis": "serving", "energyKcal": 180, "fatG": -1},
             "soldOut": true, "soldOutUntil": "2026-12-04T09:00:00+09:00",
             "optionGroups": [{"groupId": "G1", "name": "샷", "allowQuantities": true, "maxSelect": 3,
                "options": [{"optionId": "O1", "name": "샷 추가", "price": 500, "maxQuantity": 2},
                            {"optionId": "O2", "name": "시럽", "price": 0, "isDefault": true}]}]},
            {"itemId": "I2", "categoryId": "C40", "name": "샌드위치", "price": 7000,
             "availability": [{"days": ["mon"], "start": "11:30", "end": "13:00"}]},
            {"itemId": "I3", "categoryId": "C10", "name": "깨진 창", "price": 1000,
             "availability": [{"days": ["mon"], "start": "11:30", "end": "99:00"}]},
            {"itemId": "I4", "categoryId": "C50", "name": "야식", "price": 9000}
        ]
    }))
}

#[test]
fn schema_two_fields_are_carried_checked_and_normalised() {
    let result = transform("gangnam", &schema_two(), &settings());
    let menu = &result.menu;
    assert_eq!(menu.schema_version, 2);
    assert_eq!(menu.store.time_zone, "Asia/Seoul");
    assert_eq!(menu.prices_include_tax, Some(true));
    let ids: Vec<(&str, Vec<&str>)> = menu
        .categories
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                c.items.iter().map(|i| i.id.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [("C10", vec!["I1"]), ("C40", vec!["I1", "I2"])],
        "I1 in both categories; C50's bad window leaves it out with its items; I3 too"
    );
    let subjects: Vec<&str> = result.problems.iter().map(|p| p.subject.as_str()).collect();
    assert_eq!(
        subjects,
        ["category C50", "item I1", "item I3"],
        "{:?}",
        result.problems
    );
    let latte = &menu.categories[0].items[0];
    assert_eq!(latte, &menu.categories[1].items[0], "the same item in each");
    assert_eq!(
        latte.allergens,
        [menu::Allergen::Milk, menu::Allergen::PineNuts]
    );
    assert_eq!(latte.other_allergens, ["견과류 흔적"]);
    assert_eq!(latte.dietary, [menu::Diet::Vegetarian]);
    assert!(latte.tags.contains(&"low-fodmap".to_string()));
    let facts = latte.nutrition.as_ref().unwrap();
    assert_eq!((facts.energy_kcal, facts.fat_g), (Some(180.0), None));
    assert_eq!(
        latte.sold_out_until.as_deref(),
        Some("2026-12-04T00:00:00Z")
    );
    let shots = &latte.option_groups[0];
    assert!(shots.allow_quantities);
    assert_eq!(shots.options[0].max_quantity, Some(2));
    assert!(shots.options[1].is_default);
    assert_eq!(menu.categories[1].availability[0].days.len(), 2);
    assert_eq!(menu.categories[1].items[1].availability[0].start, "11:30");

    let mut quiet = settings();
    quiet.publish_allergens = false;
    let latte = &transform("gangnam", &schema_two(), &quiet).menu.categories[0].items[0];
    assert!(latte.allergens.is_empty() && latte.other_allergens.is_empty());
}
