//! Hostile and careless input (issue 12): each bad input costs exactly what
//! it touches, gets a precise error, and nothing good is lost or blocked.
//! Config refusals live in fixtures/invalid-config/ (checked by config's tests).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::raw_pos::{RawPos, Reply};
use common::{Env, PosImage, default_images, fixture_image, item, menu_doc, serve_pos, text};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Adds `lines` to the `[daemon]` section of env's config.
fn daemon_lines(env: &Env, lines: &str) {
    let config = std::fs::read_to_string(env.config()).unwrap();
    env.write_config(&config.replace("[daemon]\n", &format!("[daemon]\n{lines}\n")));
}

/// Replaces the image list with `images` (entries as the POS sends them).
async fn serve_image_list(pos: &MockServer, images: serde_json::Value) {
    Mock::given(method("POST"))
        .and(path("/api/images"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "images": images })))
        .with_priority(1)
        .mount(pos)
        .await;
}

fn standard_entries() -> Vec<serde_json::Value> {
    default_images()
        .iter()
        .map(|image| json!({"imageId": image.id, "url": format!("/img/{}", image.id)}))
        .collect()
}

/// Issue 12, 1: a symlink planted at `stores/<id>/staging` made the next
/// pass (even an unchanged one) delete everything in the folder it points to.
#[tokio::test]
async fn a_planted_staging_link_is_refused_and_never_followed() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    let first = env.run(&["once"]).await;
    assert!(first.status.success(), "{}", text(&first));
    let published = env.current_release().unwrap();

    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("precious.txt"), "keep me").unwrap();
    std::fs::create_dir(victim.path().join("sub")).unwrap();
    std::fs::write(victim.path().join("sub/also.txt"), "and me").unwrap();
    let staging = env.store_root().join("staging");
    std::fs::remove_dir_all(&staging).unwrap();
    std::os::unix::fs::symlink(victim.path(), &staging).unwrap();

    for price in [4500, 4800] {
        // Unchanged, then a real change that would build a release through the link.
        serve_pos(&pos, &menu_doc(price), &default_images()).await;
        let run = env.run(&["once"]).await;
        assert_eq!(run.status.code(), Some(1), "{}", text(&run));
        let out = text(&run);
        assert!(out.contains("category=storage"), "{out}");
        assert!(
            out.contains("staging is a symbolic link to"),
            "the link is named: {out}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(victim.path().join("precious.txt")).unwrap(),
        "keep me"
    );
    assert!(victim.path().join("sub/also.txt").exists());
    assert_eq!(
        std::fs::read_dir(victim.path()).unwrap().count(),
        2,
        "nothing was built in the folder the link points to"
    );
    assert_eq!(env.current_release().unwrap(), published);
    let status = env.status().await;
    assert_eq!(status[0]["consecutive_failures"], 2, "{status}");
    assert_eq!(status[0]["last_error"]["category"], "storage", "{status}");

    // Removing the link heals it.
    std::fs::remove_file(&staging).unwrap();
    let healed = env.run(&["once"]).await;
    assert!(healed.status.success(), "{}", text(&healed));
    assert_ne!(env.current_release().unwrap(), published);
}

/// Issue 12, 2: a user name or password in a URL (here an image URL from
/// the POS) is never printed or stored.
#[tokio::test]
async fn a_key_inside_a_url_is_never_printed_or_stored() {
    const SECRET: &str = "S3CRET-IN-URL";
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let mut entries = standard_entries();
    entries[1]["url"] = json!(format!("http://user:{SECRET}@127.0.0.1:9/img/x.jpg"));
    serve_image_list(&pos, json!(entries)).await;
    let env = Env::new(&pos.uri());
    let run = env.run(&["once"]).await;
    assert!(run.status.success(), "{}", text(&run));
    let out = text(&run);
    assert!(
        out.contains("image IMG101"),
        "the image's failure is logged: {out}"
    );
    assert!(!out.contains(SECRET), "the secret was printed: {out}");
    let state = std::fs::read_to_string(env.store_root().join("state.json")).unwrap();
    assert!(!state.contains(SECRET), "{state}");
}

/// Issue 12, 3: one image sent at a byte a second held the whole store's
/// menu back, every pass. It now costs that image only, within
/// `image_timeout_secs`.
#[tokio::test]
async fn an_image_sent_a_byte_a_second_costs_that_image_only() {
    let slow = RawPos::start(|_| Reply::Drip {
        content_type: "image/jpeg".into(),
        body: fixture_image("IMG101.jpg"),
        every: Duration::from_millis(500),
    })
    .await;
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let mut entries = standard_entries();
    entries[1]["url"] = json!(format!("{}/img/slow.jpg", slow.uri()));
    serve_image_list(&pos, json!(entries)).await;
    let env = Env::new(&pos.uri());
    daemon_lines(&env, "image_timeout_secs = 2");

    let started = Instant::now();
    let run = env.run(&["once"]).await;
    let took = started.elapsed();
    assert!(run.status.success(), "{}", text(&run));
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let menu = env.menu();
    assert!(item(&menu, "I101").get("image").is_none(), "{menu}");
    assert!(item(&menu, "I100")["image"].is_string(), "{menu}");
    let out = text(&run);
    assert!(
        out.contains("image IMG101") && out.contains("image_timeout_secs"),
        "{out}"
    );
}

/// Issue 12, 4: one badly typed price refused the whole store.
#[tokio::test]
async fn badly_typed_prices_cost_their_items_only() {
    let pos = MockServer::start().await;
    let mut menu = menu_doc(4500);
    let template = menu["items"][0].clone();
    let items = menu["items"].as_array_mut().unwrap();
    for (n, bad) in [
        json!(4500.5),
        json!("4500"),
        json!(null),
        json!(9_223_372_036_854_775_808_u64),
    ]
    .into_iter()
    .enumerate()
    {
        let mut entry = template.clone();
        entry["itemId"] = json!(format!("BAD{n}"));
        entry["price"] = bad;
        items.push(entry);
    }
    serve_pos(&pos, &menu, &default_images()).await;
    let env = Env::new(&pos.uri());
    let run = env.run(&["once"]).await;
    assert!(run.status.success(), "{}", text(&run));
    let published = env.menu();
    let out = text(&run);
    for n in 0..4 {
        let id = format!("BAD{n}");
        assert!(!published.to_string().contains(&id), "{id} left out");
        assert!(out.contains(&format!("item {id}")), "{id} logged: {out}");
    }
    assert_eq!(item(&published, "I100")["price"], 4500);
    assert!(out.contains("expected a whole number"), "{out}");
}

/// Issue 12, 10: a 20000×20000 PNG of a few hundred bytes went to customers.
#[tokio::test]
async fn an_image_announcing_too_many_pixels_is_left_out() {
    let mut bomb = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bomb.extend(20_000u32.to_be_bytes());
    bomb.extend(20_000u32.to_be_bytes());
    bomb.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
    let mut images = default_images();
    images[2] = PosImage::honest("IMG102", bomb);
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &images).await;
    let env = Env::new(&pos.uri());
    let run = env.run(&["once"]).await;
    assert!(run.status.success(), "{}", text(&run));
    let out = text(&run);
    assert!(
        out.contains("image IMG102") && out.contains("20000×20000"),
        "{out}"
    );
    let menu = env.menu();
    assert!(item(&menu, "I100")["image"].is_string(), "{menu}");
    let images_dir = env.current().join("images");
    assert!(
        std::fs::read_dir(&images_dir).unwrap().all(|entry| !entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".png")),
        "the bomb is not in the release"
    );
}

/// Issue 12, 9: SIGHUP built new semaphores, rate limiters, breakers and
/// ETag memos while passes of the old config still ran.
#[tokio::test]
async fn a_reload_keeps_the_limits_and_the_endpoints_whose_settings_did_not_change() {
    use menusync::config::Config;
    use menusync::pipeline::Context;
    let base = |io: usize, rate: u32| {
        format!(
            r#"
[daemon]
io_concurrency = {io}
deploy_concurrency = 2

[pos.hq]
kind = "http"
base_url = "http://127.0.0.1:9/"
api_key_env = "X"

[pos.other]
kind = "http"
base_url = "http://127.0.0.1:9/"
api_key_env = "X"
requests_per_second = {rate}

[[store]]
id = "gangnam"
name = "강남점"
pos = "hq"
pos_store_id = "S001"
"#
        )
    };
    let parse =
        |text: &str| Arc::new(Config::parse(std::path::Path::new("/x/stores.toml"), text).unwrap());
    let old = Context::new(parse(&base(4, 5)), Default::default(), Default::default()).unwrap();
    let held = old
        .shared
        .passes
        .clone()
        .acquire_many_owned(3)
        .await
        .unwrap();

    // io_concurrency 4 → 2 while three passes of the old config run.
    let new = old.reloaded(parse(&base(2, 7))).unwrap();
    assert!(
        Arc::ptr_eq(&old.shared.passes, &new.shared.passes),
        "one pass limit, resized"
    );
    assert!(Arc::ptr_eq(&old.shared.deploy, &new.shared.deploy));
    assert!(
        Arc::ptr_eq(&old.providers["hq"], &new.providers["hq"]),
        "hq unchanged: kept"
    );
    assert!(
        !Arc::ptr_eq(&old.providers["other"], &new.providers["other"]),
        "other changed: new"
    );
    assert_eq!(
        new.shared.passes.available_permits(),
        0,
        "old passes count against the new limit"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        new.shared.passes.available_permits(),
        2,
        "then the limit is the new one"
    );

    // And back up.
    let grown = new.reloaded(parse(&base(6, 7))).unwrap();
    assert_eq!(grown.shared.passes.available_permits(), 6);
    assert_eq!(grown.shared.io.available_permits(), 6);
}
