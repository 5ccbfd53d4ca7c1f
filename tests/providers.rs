//! The vendor providers end to end: Square and GloriaFood menus served from
//! mock APIs on 127.0.0.1:0 go through the real binary into `menu.json`; the
//! vendors' own published samples map without error; a store file can mix
//! every kind; and the `http` provider's ETag spares an unchanged pass.

mod common;

use common::providers::{
    category_ids, config, fixture_text, groups, ids, item_ids, published_menu, remote_pos,
    run_daemon_until, samples_dir, serve_cdn, serve_gloriafood, serve_square, square_pages,
    square_sample_answers, store, variants,
};
use common::{Env, default_images, item, menu_doc, serve_pos, text};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CDN_IMAGES: [(&str, &str); 3] = [
    ("classic.jpg", "IMG100.jpg"),
    ("bacon.png", "IMG102.png"),
    ("brownie.jpg", "IMG101.jpg"),
];

/// Visible items of the shipped demo store S002.
const HONGDAE_ITEMS: usize = 9;

/// A Square POS, a CDN for its images and a store `downtown` at location `LOC_DOWNTOWN`.
async fn square_env() -> (Env, MockServer, MockServer) {
    let (square, cdn) = (MockServer::start().await, MockServer::start().await);
    serve_square(&square, &square_pages(&cdn.uri())).await;
    serve_cdn(&cdn, &CDN_IMAGES).await;
    let env = Env::new(&square.uri());
    env.write_config(&config(
        &(remote_pos("sq", "square", &square.uri())
            + &store(
                "downtown",
                "sq",
                "downtown",
                "location_id = \"LOC_DOWNTOWN\"",
            )),
    ));
    (env, square, cdn)
}

#[tokio::test]
async fn a_square_catalog_over_two_pages_publishes_the_locations_menu() {
    let (env, _square, _cdn) = square_env().await;
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let menu = published_menu(env.path(), "downtown");
    assert_eq!(menu["currency"], "USD");
    let categories = category_ids(&menu);
    assert_eq!(
        categories,
        ["CAT_BURGERS", "CAT_SIDES", "CAT_DRINKS", "CAT_DESSERTS"]
    );
    // Left out: absent here (salad), deleted (cold brew), archived (pie), in a
    // category absent here (pancakes), market price (lobster). The brownie is
    // listed under drinks (ordinal 99) as well as desserts.
    let expected = [
        "ITEM_CLASSIC",
        "ITEM_BACON",
        "ITEM_VEGGIE",
        "ITEM_CHICKEN",
        "ITEM_FRIES",
        "ITEM_RINGS",
        "ITEM_LEMONADE",
        "ITEM_LATTE",
        "ITEM_BROWNIE",
        "ITEM_SHAKE",
        "ITEM_BROWNIE",
    ];
    assert_eq!(item_ids(&menu), ids(&expected));
    assert!(
        text(&output).contains("VAR_LOBSTER_REGULAR"),
        "the unpriced variation is reported"
    );

    check_square_items(&env, &menu);
    check_square_schema_two(&menu);
}

/// Issue 14: Square's facts as published (fixtures extended from Square's own
/// API examples): availability periods, food details, a second category, tax.
fn check_square_schema_two(menu: &Value) {
    assert_eq!(menu["pricesIncludeTax"], false, "the sales tax is ADDITIVE");
    let desserts = menu["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|category| category["id"] == "CAT_DESSERTS")
        .unwrap();
    assert_eq!(
        desserts["availability"],
        json!([{"days": ["fri", "sat"], "start": "17:00", "end": "23:00"}]),
        "two periods of the same hours merge into one window"
    );
    let veggie = item(menu, "ITEM_VEGGIE");
    assert_eq!(veggie["allergens"], json!(["gluten", "milk"]));
    assert_eq!(veggie["otherAllergens"], json!(["Beetroot"]));
    assert_eq!(veggie["dietary"], json!(["vegetarian"]));
    assert_eq!(
        veggie["nutrition"],
        json!({"basis": "serving", "energyKcal": 610.0})
    );
    let listed_in: Vec<&str> = menu["categories"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|category| {
            category["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|item| item["id"] == "ITEM_BROWNIE")
        })
        .map(|category| category["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed_in, ["CAT_DRINKS", "CAT_DESSERTS"]);
}

/// What the fixture catalog's items must look like at `LOC_DOWNTOWN`.
fn check_square_items(env: &Env, menu: &Value) {
    let classic = item(menu, "ITEM_CLASSIC");
    assert_eq!(classic["price"], 995);
    let sizes = variants(classic);
    assert_eq!(
        sizes,
        [
            ("VAR_CLASSIC_SINGLE".into(), 995, true),
            ("VAR_CLASSIC_DOUBLE".into(), 1395, false)
        ]
    );
    let expected_groups = [
        ("ML_CHEESE".to_string(), 1, Some(1)),
        ("ML_ADDONS".to_string(), 0, None),
    ];
    assert_eq!(groups(classic), expected_groups);
    let cheese = &classic["optionGroups"][0]["options"];
    assert_eq!(
        (cheese[2]["id"].as_str(), cheese[2]["soldOut"].as_bool()),
        (Some("MOD_SWISS"), Some(true))
    );
    assert_eq!(
        classic["optionGroups"][1]["options"][1]["priceDelta"], 225,
        "the location's modifier price"
    );
    assert_eq!(
        groups(item(menu, "ITEM_BACON"))[0],
        ("ML_CHEESE".into(), 0, Some(1))
    );
    assert_eq!(
        item(menu, "ITEM_VEGGIE")["soldOut"],
        true,
        "sold out at this location"
    );
    let chicken = item(menu, "ITEM_CHICKEN");
    assert_eq!(
        (chicken["price"].as_i64(), groups(chicken).len()),
        (Some(1125), 0)
    );
    assert_eq!(
        variants(item(menu, "ITEM_LEMONADE")).len(),
        2,
        "a variation listed twice counts once"
    );
    assert_eq!(variants(item(menu, "ITEM_SHAKE")).len(), 3);
    for (id, has_image) in [
        ("ITEM_CLASSIC", true),
        ("ITEM_BACON", true),
        ("ITEM_BROWNIE", true),
        ("ITEM_FRIES", false),
    ] {
        let image = item(menu, id)["image"]
            .as_str()
            .map(|image| env.store("downtown").current().join(&image[1..]));
        assert_eq!(
            image.as_ref().is_some_and(|file| file.is_file()),
            has_image,
            "{id}"
        );
    }
}

#[tokio::test]
async fn square_requests_follow_the_cursor_and_keep_the_token_off_the_cdn() {
    let (env, square, cdn) = square_env().await;
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let searches = square.received_requests().await.unwrap();
    let cursors: Vec<Value> = searches
        .iter()
        .map(|request| request.body_json::<Value>().unwrap()["cursor"].clone())
        .collect();
    assert_eq!(cursors, [Value::Null, json!("CURSOR_PAGE_2")]);
    let fetched = cdn.received_requests().await.unwrap();
    assert_eq!(fetched.len(), 3);
    assert!(
        fetched
            .iter()
            .all(|request| !request.headers.contains_key("authorization")),
        "the token never goes to the CDN"
    );

    // The same catalog again: nothing to do, no image fetched.
    let output = env.run(&["once"]).await;
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("unchanged"),
        "{}",
        text(&output)
    );
    assert_eq!(cdn.received_requests().await.unwrap().len(), 3);
}

/// A GloriaFood POS serving the fixture menu (with one `replace`ment in its
/// text) and a store `trattoria` whose `pos_store_id` is given.
async fn gloria_env(pos_store_id: &str, replace: Option<(&str, &str)>) -> (Env, MockServer) {
    let gloria = MockServer::start().await;
    let mut body = fixture_text("gloriafood/menu.json");
    if let Some((from, to)) = replace {
        assert!(body.contains(from), "{from} is in the fixture");
        body = body.replacen(from, to, 1);
    }
    serve_gloriafood(&gloria, &body).await;
    let env = Env::new(&gloria.uri());
    let sections = remote_pos("glf", "gloriafood", &gloria.uri())
        + &store("trattoria", "glf", pos_store_id, "");
    env.write_config(&config(&sections));
    (env, gloria)
}

#[tokio::test]
async fn a_gloriafood_menu_publishes_sizes_groups_and_decimal_prices() {
    let (env, _gloria) = gloria_env("5120", None).await;
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let menu = published_menu(env.path(), "trattoria");
    assert_eq!(menu["currency"], "EUR");
    let categories = category_ids(&menu);
    assert_eq!(
        categories,
        ["601", "602", "603", "604", "605"],
        "Lunch Specials is inactive"
    );
    let expected = [
        "6101", "6102", "6103", "6201", "6202", "6203", "6301", "6302", "6401", "6402", "6403",
        "6501", "6502",
    ];
    assert_eq!(
        item_ids(&menu),
        ids(&expected),
        "Quattro Formaggi is inactive"
    );

    let margherita = item(&menu, "6101");
    assert_eq!(margherita["price"], 700);
    let sizes = variants(margherita);
    assert_eq!(
        sizes,
        [
            ("61011".into(), 700, true),
            ("61012".into(), 950, false),
            ("61013".into(), 1150, false)
        ]
    );
    assert_eq!(
        groups(margherita),
        [("7001".to_string(), 1, Some(1))],
        "the category's crust"
    );
    assert_eq!(
        margherita["optionGroups"][0]["options"][2]["priceDelta"],
        250
    );
    assert_eq!(
        groups(&margherita["variants"][2]),
        [("7002".to_string(), 0, Some(3))],
        "large only"
    );
    assert_eq!(margherita["tags"], json!(["VEGETARIAN"]));
    let prices: Vec<i64> = ["6203", "6301", "6403", "6502"]
        .iter()
        .map(|id| item(&menu, id)["price"].as_i64().unwrap())
        .collect();
    assert_eq!(prices, [1090, 725, 320, 490]);
    assert_eq!(
        groups(item(&menu, "6302")),
        [("7004".to_string(), 1, Some(1))]
    );
    let published = serde_json::to_string(&menu).unwrap();
    assert!(!published.contains("\"image\""), "GloriaFood has no images");

    // Issue 14: windows, allergens, dietary facts and nutrition, as published.
    let pasta = &menu["categories"][1];
    assert_eq!(
        pasta["availability"],
        json!([{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "start": "11:30", "end": "22:00"}])
    );
    assert_eq!(
        item(&menu, "6402")["availability"],
        json!([{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "11:00"}]),
        "espresso on weekday mornings: bits 0-4 of 31"
    );
    assert_eq!(
        item(&menu, "6201")["allergens"],
        json!(["eggs", "milk", "wheat"])
    );
    let arrabbiata = item(&menu, "6202");
    assert_eq!(arrabbiata["allergens"], json!(["wheat"]));
    assert_eq!(arrabbiata["otherAllergens"], json!(["Senape"]));
    assert_eq!(arrabbiata["dietary"], json!(["spicy", "vegan"]));
    assert_eq!(
        margherita["variants"][0]["nutrition"],
        json!({"basis": "100g", "energyKcal": 250.0, "fatG": 9.5}),
        "a decimal comma reads as a point"
    );
}

#[tokio::test]
async fn a_gloriafood_price_that_does_not_fit_leaves_its_item_out() {
    let (env, _gloria) = gloria_env("5120", Some(("\"price\": 5.5,", "\"price\": 5.555,"))).await;
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let log = text(&output);
    assert!(
        log.contains("item 6501") && log.contains("5.555 has 3 fraction digits; EUR allows 2"),
        "{log}"
    );
    let published = item_ids(&published_menu(env.path(), "trattoria"));
    assert!(
        !published.contains(&"6501".to_string()),
        "the tiramisù is left out"
    );
    assert_eq!(published.len(), 12, "the rest is published");
}

#[tokio::test]
async fn a_gloriafood_key_of_another_restaurant_is_a_config_failure() {
    let (env, _gloria) = gloria_env("9999", None).await;
    let output = env.run(&["once"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let status = env.status().await;
    let store = status
        .as_array()
        .unwrap()
        .iter()
        .find(|store| store["store"] == "trattoria")
        .unwrap();
    assert_eq!(store["last_error"]["category"], "config", "{store}");
    assert!(
        text(&output).contains("restaurant 5120"),
        "{}",
        text(&output)
    );
}

#[tokio::test]
async fn the_vendors_own_samples_map_without_error() {
    let Some(dir) = samples_dir() else { return };
    let answers = square_sample_answers(&dir.join("square"));
    let mut listed: Vec<String> = std::fs::read_dir(dir.join("square"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    listed.sort();
    let mut covered: Vec<String> = answers.iter().map(|(name, _, _)| name.clone()).collect();
    covered.sort();
    assert_eq!(
        listed, covered,
        "every Square sample is served, and only those"
    );

    let (square, gloria) = (MockServer::start().await, MockServer::start().await);
    let env = Env::new(&square.uri());
    let sections = remote_pos("sq", "square", &square.uri())
        + &remote_pos("glf", "gloriafood", &gloria.uri())
        + &store("square", "sq", "LOCATION", "")
        + &store("gloria", "glf", "4172", "");
    env.write_config(&config(&sections));
    for (name, answer, expected) in answers {
        serve_square(&square, &[answer]).await;
        let output = env
            .run(&["once", "--store", "square", "--allow-shrink"])
            .await;
        assert!(output.status.success(), "{name}: {}", text(&output));
        let mut published = item_ids(&published_menu(env.path(), "square"));
        published.sort();
        let mut expected = ids(&expected);
        expected.sort();
        assert_eq!(published, expected, "{name}");
    }

    let sample = std::fs::read_to_string(dir.join("gloriafood/fetch-menu-v2-menu.json"))
        .expect("the GloriaFood sample is there");
    serve_gloriafood(&gloria, &sample).await;
    let output = env.run(&["once", "--store", "gloria"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let menu = published_menu(env.path(), "gloria");
    assert_eq!(item_ids(&menu), ids(&["58424", "58425", "58426", "58427"]));
    let margherita = item(&menu, "58424");
    assert_eq!(
        variants(margherita),
        [("37086".into(), 700, true), ("37087".into(), 900, false)]
    );
    assert_eq!(
        groups(margherita),
        [("16977".to_string(), 1, Some(1))],
        "Crust is required"
    );
    assert_eq!(
        groups(&margherita["variants"][1]),
        [("16979".to_string(), 0, Some(1))],
        "toppings are optional"
    );
    assert_eq!(
        margherita["variants"][1]["optionGroups"][0]["options"][1]["priceDelta"],
        170
    );
}

#[tokio::test]
async fn one_store_file_mixes_every_provider_kind() {
    let (http, square, cdn, gloria) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    serve_pos(&http, &menu_doc(4500), &default_images()).await;
    serve_square(&square, &square_pages(&cdn.uri())).await;
    serve_cdn(&cdn, &CDN_IMAGES).await;
    serve_gloriafood(&gloria, &fixture_text("gloriafood/menu.json")).await;
    let env = Env::new(&http.uri());
    let fixtures = common::repo().join("fixtures/pos");
    let sections = remote_pos("hq", "http", &http.uri())
        + &format!(
            "\n[pos.demo]\nkind = \"fixture\"\npath = \"{}\"\n",
            fixtures.display()
        )
        + &remote_pos("sq", "square", &square.uri())
        + &remote_pos("glf", "gloriafood", &gloria.uri())
        + &store("gangnam", "hq", "S001", "")
        + &store("hongdae", "demo", "S002", "")
        + &store("downtown", "sq", "LOC_DOWNTOWN", "")
        + &store("trattoria", "glf", "5120", "");
    env.write_config(&config(&sections));

    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    for (store, pos, items) in [
        ("gangnam", "hq", 3),
        ("hongdae", "demo", HONGDAE_ITEMS),
        ("downtown", "sq", 11), // the brownie is listed twice
        ("trattoria", "glf", 13),
    ] {
        let published = item_ids(&published_menu(env.path(), store));
        assert_eq!(published.len(), items, "{store}: {published:?}");
        assert!(
            text(&output).contains(&format!("store={store} pos={pos}")),
            "{store} logs its pos"
        );
        assert!(
            env.path()
                .join("web")
                .join(store)
                .join("data/menu.json")
                .is_file(),
            "{store} is deployed"
        );
    }
}

/// The POS tags its menu `"menu-v1"`; asked again with that tag, it answers
/// 304 and no body. The image list carries no ETag, so it is always sent in full.
async fn tag_the_menu(pos: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/api/menu"))
        .and(header("If-None-Match", "\"menu-v1\""))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(pos)
        .await;
    let menu_body = serde_json::to_vec(&menu_doc(4500)).unwrap();
    Mock::given(method("POST"))
        .and(path("/api/menu"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("ETag", "\"menu-v1\"")
                .set_body_raw(menu_body, "application/json"),
        )
        .with_priority(2)
        .mount(pos)
        .await;
}

#[tokio::test]
async fn an_etag_answered_304_makes_the_next_pass_unchanged_without_image_requests() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    tag_the_menu(&pos).await;
    let env = Env::new(&pos.uri());

    let log = run_daemon_until(&env, "a pass answered 304", |log| {
        log.matches("stage=result").count() >= 2
    })
    .await;
    let requests = pos.received_requests().await.unwrap();
    let conditional: Vec<&wiremock::Request> = requests
        .iter()
        .filter(|request| request.headers.contains_key("if-none-match"))
        .collect();
    assert!(
        !conditional.is_empty(),
        "a later pass asks with If-None-Match\n{log}"
    );
    assert!(
        conditional
            .iter()
            .all(|request| request.url.path() == "/api/menu"),
        "only the menu had an ETag"
    );
    assert!(log.contains("304 Not Modified"), "{log}");
    assert!(log.contains("unchanged"), "{log}");
    assert_eq!(env.releases().len(), 1, "one release only");
    let image_requests = requests
        .iter()
        .filter(|request| request.method.as_str() == "GET")
        .count();
    assert_eq!(image_requests, 3, "images only on the first pass");
}

#[tokio::test]
async fn a_304_whose_body_is_needed_after_all_is_asked_for_again_in_full() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    tag_the_menu(&pos).await;
    // The first pass gets the tagged menu, then a broken image list, and fails:
    // the next pass's 304 names a menu that was never parsed into a release.
    Mock::given(method("POST"))
        .and(path("/api/images"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html"),
        )
        .with_priority(1)
        .up_to_n_times(1)
        .mount(&pos)
        .await;
    let env = Env::new(&pos.uri());

    let log = run_daemon_until(&env, "a publish after the 304", |log| {
        log.contains("published")
    })
    .await;
    assert!(log.contains("failed data"), "the first pass fails\n{log}");
    assert!(
        log.contains("asking again without ETag"),
        "the 304's body is fetched in full\n{log}"
    );
    let menu_requests: Vec<bool> = pos
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path() == "/api/menu")
        .map(|request| request.headers.contains_key("if-none-match"))
        .collect();
    assert_eq!(
        menu_requests[..3],
        [false, true, false],
        "in full, conditional (304), in full again"
    );
    assert_eq!(env.releases().len(), 1, "the menu was published\n{log}");
}

#[tokio::test]
async fn a_menu_that_changed_between_a_304_and_its_full_refetch_is_hashed_as_received() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let answer = |price: i64| serde_json::to_vec(&menu_doc(price)).unwrap();
    // Pass 1: menu A tagged "v1", then a broken image list: the pass fails.
    // Pass 2: "v1" is answered 304; the menu is asked again in full and is now
    // B (untagged): B is published. Pass 3: the POS is back at A, untagged.
    // Had pass 2 remembered A's bytes as hashing to B, pass 3 would look
    // unchanged and A would never come back.
    let mounts = [
        (1, Some("\"v1\""), ResponseTemplate::new(304), Some(1)),
        (
            2,
            None,
            ResponseTemplate::new(200)
                .insert_header("ETag", "\"v1\"")
                .set_body_raw(answer(4500), "application/json"),
            Some(1),
        ),
        (
            3,
            None,
            ResponseTemplate::new(200).set_body_raw(answer(4900), "application/json"),
            Some(1),
        ),
        (
            4,
            None,
            ResponseTemplate::new(200).set_body_raw(answer(4500), "application/json"),
            None,
        ),
    ];
    for (priority, if_none_match, response, times) in mounts {
        let mut mock = Mock::given(method("POST")).and(path("/api/menu"));
        if let Some(tag) = if_none_match {
            mock = mock.and(header("If-None-Match", tag));
        }
        let mut mock = mock.respond_with(response).with_priority(priority);
        if let Some(times) = times {
            mock = mock.up_to_n_times(times);
        }
        mock.mount(&pos).await;
    }
    Mock::given(method("POST"))
        .and(path("/api/images"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>down</html>", "text/html"))
        .with_priority(1)
        .up_to_n_times(1)
        .mount(&pos)
        .await;
    let env = Env::new(&pos.uri());

    let log = run_daemon_until(&env, "two publishes", |log| {
        log.lines()
            .filter(|line| line.contains("stage=result") && line.contains("published"))
            .count()
            >= 2
    })
    .await;
    assert_eq!(env.releases().len(), 2, "B, then A again\n{log}");
    assert_eq!(
        item(&env.menu(), "I100")["price"],
        4500,
        "A is live again\n{log}"
    );
}
