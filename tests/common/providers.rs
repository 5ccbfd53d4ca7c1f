//! Mock Square and GloriaFood APIs on 127.0.0.1:0 serving the fixtures of
//! `fixtures/square/` and `fixtures/gloriafood/`, a mock CDN for Square's
//! images, the `stores.toml` around them, the vendors' published samples
//! (`../shared/pos-samples/`) as API answers, and a daemon run for the ETag test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{API_KEY, Env, KEY_ENV, repo};

pub const SQUARE_VERSION: &str = "2025-08-20";

/// The text of a file under `fixtures/`.
pub fn fixture_text(relative: &str) -> String {
    std::fs::read_to_string(repo().join("fixtures").join(relative)).expect("fixture exists")
}

/// The two Square catalog pages, their image URLs pointing at `cdn`.
pub fn square_pages(cdn: &str) -> Vec<Value> {
    ["square/catalog-page-1.json", "square/catalog-page-2.json"]
        .iter()
        .map(|page| {
            let text = fixture_text(page).replace("{{CDN}}", cdn);
            serde_json::from_str(&text).expect("fixture pages are JSON")
        })
        .collect()
}

/// Answers `POST /v2/catalog/search` with `pages` in turn, following each page's `cursor`.
pub async fn serve_square(server: &MockServer, pages: &[Value]) {
    server.reset().await;
    let bearer = format!("Bearer {API_KEY}");
    for (index, page) in pages.iter().enumerate() {
        let mut mock = Mock::given(method("POST"))
            .and(path("/v2/catalog/search"))
            .and(header("Authorization", bearer.as_str()))
            .and(header("Square-Version", SQUARE_VERSION))
            .and(body_partial_json(serde_json::json!({
                "include_related_objects": true,
                "include_deleted_objects": false,
            })));
        let mut priority = 5;
        if index > 0 {
            let cursor = pages[index - 1]["cursor"].clone();
            mock = mock.and(body_partial_json(serde_json::json!({ "cursor": cursor })));
            priority = 1;
        }
        mock.respond_with(ResponseTemplate::new(200).set_body_json(page))
            .with_priority(priority)
            .mount(server)
            .await;
    }
}

/// Answers `GET /pos/menu` with `body` exactly as given, so decimal literals survive.
pub async fn serve_gloriafood(server: &MockServer, body: &str) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/pos/menu"))
        .and(header("Authorization", API_KEY))
        .and(header("Glf-Api-Version", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json"))
        .mount(server)
        .await;
}

/// Serves `GET /img/<name>` with the bytes of a shipped fixture image, as a CDN would.
pub async fn serve_cdn(server: &MockServer, images: &[(&str, &str)]) {
    for (name, fixture) in images {
        let bytes = std::fs::read(repo().join("fixtures/pos/S001/img").join(fixture))
            .expect("fixture image exists");
        Mock::given(method("GET"))
            .and(path(format!("/img/{name}")))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes))
            .mount(server)
            .await;
    }
}

/// A `stores.toml` with a local rsync target `web`, then `sections` (pos and stores).
pub fn config(sections: &str) -> String {
    super::config::daemon(super::config::MOCK_POS_DAEMON)
        + &super::config::rsync_target("web", "web")
        + sections
}

/// A `[pos.NAME]` section of a remote kind reading the test key from the
/// environment, without retries.
pub fn remote_pos(name: &str, kind: &str, base_url: &str) -> String {
    super::config::remote_pos(name, kind, base_url, "retries = 0\n")
}

/// A `[[store]]` named as its id, pushed to `web`, plus any `extra` lines.
pub fn store(id: &str, pos: &str, pos_store_id: &str, extra: &str) -> String {
    super::config::store(id, id, pos, pos_store_id, extra)
}

/// The published `menu.json` of store `id` under a test env's folder.
pub fn published_menu(env_dir: &Path, id: &str) -> Value {
    super::StoreDir::under(env_dir, id).menu()
}

/// Item ids of a menu.json, in published order.
pub fn item_ids(menu: &Value) -> Vec<String> {
    menu["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|category| category["items"].as_array().unwrap().iter())
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

/// `(id, price, isDefault)` of an item's variants.
pub fn variants(item: &Value) -> Vec<(String, i64, bool)> {
    item["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|variant| {
            (
                variant["id"].as_str().unwrap().to_string(),
                variant["price"].as_i64().unwrap(),
                variant["isDefault"].as_bool().unwrap(),
            )
        })
        .collect()
}

pub fn ids(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| value.to_string()).collect()
}

/// `(id, minSelect, maxSelect)` of an item's or a variant's option groups.
pub fn groups(owner: &Value) -> Vec<(String, i64, Option<i64>)> {
    owner["optionGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| {
            let id = group["id"].as_str().unwrap().to_string();
            (
                id,
                group["minSelect"].as_i64().unwrap(),
                group["maxSelect"].as_i64(),
            )
        })
        .collect()
}

/// `CARGO_MANIFEST_DIR/../shared/pos-samples`, the vendors' own samples.
/// The project's checkout always has `shared/` beside it (CI too); one
/// without it fails, saying so, rather than passing without checking them.
/// `MENUSYNC_SKIP_SAMPLES=1` skips on purpose, and says so.
pub fn samples_dir() -> Option<PathBuf> {
    let dir = repo().join("../shared/pos-samples");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("MENUSYNC_SKIP_SAMPLES").is_some_and(|value| value == "1") {
        eprintln!("SKIPPED on purpose (MENUSYNC_SKIP_SAMPLES=1): the vendors' samples");
        return None;
    }
    panic!(
        "{} is absent: the vendors' samples live in the project's shared/ folder beside \
         this checkout; set MENUSYNC_SKIP_SAMPLES=1 to skip them on purpose",
        dir.display()
    );
}

/// Square's snake_case answer for one object of the seed script's camelCase upsert input.
fn snake_case(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let mut snake = String::new();
                    for c in key.chars() {
                        if c.is_ascii_uppercase() {
                            snake.push('_');
                        }
                        snake.push(c.to_ascii_lowercase());
                    }
                    (snake, snake_case(value))
                })
                .collect(),
        ),
        Value::Array(values) => Value::Array(values.iter().map(snake_case).collect()),
        Value::String(text) if text == "CURRENCY" => json!("USD"),
        other => other.clone(),
    }
}

/// Each Square sample as the answer of `/v2/catalog/search` would carry it,
/// with the item ids its mapping must publish.
pub fn square_sample_answers(dir: &std::path::Path) -> Vec<(String, Value, Vec<&'static str>)> {
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let one = |object: Value| json!({"objects": [object]});
    let seed = read("seed-restaurant-menu-upsert-input.json");
    let seed_objects: Vec<Value> = seed
        .as_object()
        .unwrap()
        .values()
        .map(|entry| snake_case(&entry["data"]))
        .collect();
    let retrieved = read("retrieve-catalog-object-response.json");
    vec![
        ("batch-retrieve-catalog-objects-response.json", read("batch-retrieve-catalog-objects-response.json"), vec!["W62UWFY35CWMYGVWK6TWJDNI", "AA27W3M2GGTF3H6AVPNB77CK"]),
        ("batch-upsert-catalog-objects-response.json", read("batch-upsert-catalog-objects-response.json"), vec!["67GA7XA2FWMRYY2VCONTYZJR", "MQ4TZKOG3SR2EQI3TWEK4AH7"]),
        ("retrieve-catalog-object-response.json", json!({"objects": [retrieved["object"]], "related_objects": retrieved["related_objects"]}), vec!["W62UWFY35CWMYGVWK6TWJDNI"]),
        // Its items name a category the sample leaves out: mapped, then reported by the transform.
        ("search-catalog-objects-response.json", read("search-catalog-objects-response.json"), vec![]),
        // An item without a category: reported, not published.
        ("search-catalog-items-response.json", json!({"objects": read("search-catalog-items-response.json")["items"]}), vec![]),
        ("list-catalog-response.json", read("list-catalog-response.json"), vec![]),
        ("catalog-modifier-list.json", one(read("catalog-modifier-list.json")), vec![]),
        ("create-catalog-image-response.json", one(read("create-catalog-image-response.json")["image"].clone()), vec![]),
        ("update-catalog-image-response.json", one(read("update-catalog-image-response.json")["image"].clone()), vec![]),
        ("catalog-info-response.json", read("catalog-info-response.json"), vec![]),
        ("catalog-version-updated-event.json", read("catalog-version-updated-event.json"), vec![]),
        // An upsert input with temporary ids, as the catalog would answer it once created;
        // the Autumn Soup has no category and is reported.
        ("seed-restaurant-menu-upsert-input.json", json!({"objects": seed_objects}), vec![
            "#Fried Chicken Sandwich", "#Bacon Cheeseburger", "#Grilled Steak", "#Italian Sandwich", "#Meatballs",
            "#Mediterranean Yogurt Bowl", "#Salmon with Zucchini", "#Steak Tacos", "#Sunny-Side Egg on Toast",
            "#Oatmeal with Fruit", "#Pancakes with Fruit",
        ]),
    ]
    .into_iter()
    .map(|(name, answer, items)| (name.to_string(), answer, items))
    .collect()
}

/// Runs `menusync run` until `done` holds for the log, then stops it with SIGTERM.
pub async fn run_daemon_until(env: &Env, what: &str, done: impl Fn(&str) -> bool) -> String {
    let log_file = env.path().join("run.log");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("menusync"))
        .arg("--config")
        .arg(env.config())
        .arg("run")
        .env(KEY_ENV, API_KEY)
        .env("MENUSYNC_LOG", "debug")
        .env("MENUSYNC_LOG_TARGET", "stdout")
        .stdout(Stdio::from(std::fs::File::create(&log_file).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .expect("the daemon starts");
    let read_log = || std::fs::read_to_string(&log_file).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(&read_log()) {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out waiting for {what}\n{}", read_log());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "the daemon stops cleanly\n{}", read_log());
    read_log()
}

/// Category ids of a menu.json, in published order.
pub fn category_ids(menu: &Value) -> Vec<&str> {
    menu["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|category| category["id"].as_str().unwrap())
        .collect()
}
