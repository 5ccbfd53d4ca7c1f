//! Issue 25's cheap change checks, end to end through a running daemon and
//! mock vendor APIs on 127.0.0.1:0: a Square quiet pass asks only for the
//! catalog's changes (never a full read) yet finds a change, deleted objects
//! leave the menu, a full read comes back every `full_read_every` passes and
//! after an unusable incremental answer, changes over pages apply together and
//! a failure mid-answer applies none of it; an unchanged GloriaFood body is
//! neither parsed nor mapped, a changed one is published.

mod common;

use common::providers::{
    config, fixture_text, item_ids, published_menu, remote_pos, run_daemon_until, serve_cdn,
    serve_square, square_pages, store, variants,
};
use common::{Env, StoreDir};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CDN_IMAGES: [(&str, &str); 3] = [
    ("classic.jpg", "IMG100.jpg"),
    ("bacon.png", "IMG102.png"),
    ("brownie.jpg", "IMG101.jpg"),
];

/// What the fixture pages say their catalog's `latest_time` is.
const FULL_READ_TIME: &str = "2026-11-20T09:00:00.000Z";

/// A Square POS serving the fixture catalog, a CDN, and a store `downtown`
/// on a pos with `full_read_every`.
async fn square_env(full_read_every: u32) -> (Env, MockServer, MockServer) {
    let (square, cdn) = (MockServer::start().await, MockServer::start().await);
    serve_square(&square, &square_pages(&cdn.uri())).await;
    serve_cdn(&cdn, &CDN_IMAGES).await;
    let env = Env::new(&square.uri());
    let pos = remote_pos("sq", "square", &square.uri())
        + &format!("full_read_every = {full_read_every}\n");
    env.write_config(&config(
        &(pos
            + &store(
                "downtown",
                "sq",
                "downtown",
                "location_id = \"LOC_DOWNTOWN\"",
            )),
    ));
    (env, square, cdn)
}

/// Answers the incremental search (`begin_time`) with `answer`, `times` times
/// (for ever with `None`), before any mock of a higher `priority` number.
async fn serve_changes(square: &MockServer, answer: Value, times: Option<u64>, priority: u8) {
    let answer = ResponseTemplate::new(200).set_body_json(answer);
    answer_changes(square, answer, times, priority).await;
}

/// [`serve_changes`] with any response: an HTML page, a refusal.
async fn answer_changes(
    square: &MockServer,
    answer: ResponseTemplate,
    times: Option<u64>,
    priority: u8,
) {
    let mock = Mock::given(method("POST"))
        .and(path("/v2/catalog/search"))
        .and(body_partial_json(json!({"include_deleted_objects": true})))
        .respond_with(answer)
        .with_priority(priority);
    match times {
        Some(times) => mock.up_to_n_times(times).mount(square).await,
        None => mock.mount(square).await,
    }
}

fn no_changes(latest_time: &str) -> Value {
    json!({"objects": [], "latest_time": latest_time})
}

/// The searches Square received, in order: `F` a full read (its first page),
/// `I` an incremental read since the `begin_time` it carried.
async fn searches(square: &MockServer) -> Vec<(char, Option<String>)> {
    let requests = square.received_requests().await.expect("recording is on");
    requests
        .iter()
        .filter(|request| request.url.path() == "/v2/catalog/search")
        .filter_map(|request| {
            let body: Value = serde_json::from_slice(&request.body).expect("JSON requests");
            if body.get("cursor").is_some() {
                return None;
            }
            let since = body["begin_time"].as_str().map(str::to_string);
            Some((if since.is_some() { 'I' } else { 'F' }, since))
        })
        .collect()
}

fn pattern(searches: &[(char, Option<String>)]) -> String {
    searches.iter().map(|(kind, _)| *kind).collect()
}

/// Passes that parsed or mapped their POS answer (a quiet one does neither).
fn mapped_passes(log: &str) -> usize {
    log.lines()
        .filter(|line| line.contains("stage=parse") && line.contains("stage finished"))
        .count()
}

/// Releases store `id` has built.
fn releases(env: &Env, id: &str) -> usize {
    StoreDir::under(env.path(), id).releases().len()
}

fn passes(log: &str) -> usize {
    log.matches("stage=result").count()
}

/// The first page's object `id`, changed by `change`.
fn fixture_object(cdn: &str, id: &str, change: impl Fn(&mut Value)) -> Value {
    let pages = square_pages(cdn);
    let mut object = pages
        .iter()
        .flat_map(|page| page["objects"].as_array().unwrap().iter())
        .find(|object| object["id"] == id)
        .expect("the fixture holds the object")
        .clone();
    change(&mut object);
    object
}

fn item<'m>(menu: &'m Value, id: &str) -> &'m Value {
    menu["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|category| category["items"].as_array().unwrap().iter())
        .find(|item| item["id"] == id)
        .unwrap_or_else(|| panic!("{id} is published"))
}

#[tokio::test]
async fn a_square_quiet_pass_reads_only_changes_yet_a_change_and_deletions_are_published() {
    let (env, square, cdn) = square_env(1000).await;
    let later = "2026-11-20T10:00:00.000Z";
    let renamed = fixture_object(&cdn.uri(), "ITEM_FRIES", |fries| {
        fries["item_data"]["name"] = json!("Curly Fries");
        fries["updated_at"] = json!(later);
    });
    let deleted = |kind: &str, id: &str| json!({"type": kind, "id": id, "is_deleted": true, "updated_at": later});
    let change = json!({
        "objects": [
            renamed,
            deleted("ITEM", "ITEM_RINGS"),
            deleted("ITEM_VARIATION", "VAR_RINGS_REGULAR"),
            deleted("ITEM_VARIATION", "VAR_CLASSIC_DOUBLE"),
            deleted("MODIFIER", "MOD_AMERICAN"),
        ],
        "latest_time": later,
    });
    serve_changes(&square, no_changes(FULL_READ_TIME), Some(2), 1).await;
    serve_changes(&square, change, Some(1), 2).await;
    serve_changes(&square, no_changes(later), None, 3).await;

    let log = run_daemon_until(&env, "passes after the change", |log| passes(log) >= 6).await;

    let searches = searches(&square).await;
    assert!(
        pattern(&searches).starts_with("FIIIII"),
        "one full read, then only changes: {searches:?}\n{log}"
    );
    assert_eq!(pattern(&searches).matches('F').count(), 1, "{searches:?}");
    let sinces: Vec<Option<&str>> = searches[1..5]
        .iter()
        .map(|(_, since)| since.as_deref())
        .collect();
    assert_eq!(
        sinces,
        [
            Some(FULL_READ_TIME),
            Some(FULL_READ_TIME),
            Some(FULL_READ_TIME),
            Some(later)
        ],
        "each read asks since the last latest_time"
    );
    assert_eq!(
        mapped_passes(&log),
        2,
        "only the first pass and the one that brought a change map anything\n{log}"
    );
    assert_eq!(
        releases(&env, "downtown"),
        2,
        "the change is published once"
    );

    let downtown = StoreDir::under(env.path(), "downtown");
    let first = std::fs::read_to_string(
        downtown
            .release_dir(&downtown.releases()[0])
            .join("data/menu.json"),
    )
    .unwrap();
    for id in ["ITEM_RINGS", "VAR_CLASSIC_DOUBLE", "MOD_AMERICAN"] {
        assert!(first.contains(id), "{id} was published before its deletion");
    }
    let menu = published_menu(env.path(), "downtown");
    assert_eq!(item(&menu, "ITEM_FRIES")["name"], "Curly Fries");
    assert!(
        !item_ids(&menu).contains(&"ITEM_RINGS".to_string()),
        "a deleted item leaves the menu"
    );
    // Single and Double were its variants; one left is no choice, so none are listed.
    assert!(
        variants(item(&menu, "ITEM_CLASSIC")).is_empty()
            && !menu.to_string().contains("VAR_CLASSIC_DOUBLE"),
        "a deleted variation leaves its item: {}",
        item(&menu, "ITEM_CLASSIC")
    );
    assert!(
        !menu.to_string().contains("MOD_AMERICAN"),
        "a deleted modifier leaves its group"
    );
}

#[tokio::test]
async fn square_reads_the_whole_catalog_again_every_full_read_every_passes() {
    let (env, square, _cdn) = square_env(3).await;
    serve_changes(&square, no_changes(FULL_READ_TIME), None, 1).await;

    let log = run_daemon_until(&env, "seven passes", |log| passes(log) >= 7).await;

    let searches = pattern(&searches(&square).await);
    assert!(
        searches.starts_with("FIIFIIF"),
        "a full read, two of changes, again: {searches}\n{log}"
    );
    // The full reads find the catalog as it was: same digest, nothing mapped.
    assert_eq!(mapped_passes(&log), 1, "{log}");
    assert_eq!(releases(&env, "downtown"), 1);
}

#[tokio::test]
async fn an_unusable_incremental_answer_is_dropped_for_a_full_read_in_the_same_pass() {
    let (env, square, _cdn) = square_env(1000).await;
    // Square answers the changes with an HTML page: a data failure of that
    // answer only, so the pass reads the whole catalog and succeeds.
    let html = ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html");
    answer_changes(&square, html, None, 1).await;

    let log = run_daemon_until(&env, "three passes", |log| passes(log) >= 3).await;

    let searches = pattern(&searches(&square).await);
    assert!(searches.starts_with("FIFIF"), "{searches}\n{log}");
    assert!(log.contains("reading it in full"), "{log}");
    assert!(
        log.contains("category=data"),
        "the fallback names its category\n{log}"
    );
    assert!(!log.contains("failed"), "no pass fails\n{log}");
    assert_eq!(
        releases(&env, "downtown"),
        1,
        "the full read is the same catalog"
    );
}

/// Review of issue 25: a request Square refuses only with `begin_time` (a
/// 400, not a network failure) must not fail every pass until a full read
/// that never comes: the pass reads in full at once, and publishes.
#[tokio::test]
async fn an_incremental_read_square_refuses_falls_back_to_a_full_read_in_the_same_pass() {
    let (env, square, _cdn) = square_env(1000).await;
    let refused = ResponseTemplate::new(400).set_body_json(json!({
        "errors": [{"category": "INVALID_REQUEST_ERROR", "code": "BAD_REQUEST", "detail": "begin_time"}]
    }));
    answer_changes(&square, refused, None, 1).await;

    let log = run_daemon_until(&env, "three passes", |log| passes(log) >= 3).await;

    let searches = pattern(&searches(&square).await);
    assert!(searches.starts_with("FIFIF"), "{searches}\n{log}");
    assert!(log.contains("reading it in full"), "{log}");
    assert!(!log.contains("outcome=failed"), "no pass fails\n{log}");
    assert_eq!(releases(&env, "downtown"), 1);
}

/// Review of issue 25: Square's own sample of an empty answer has no
/// `latest_time`. A quiet pass then stays one small incremental read, asked
/// from the same time again, never a full read with a warning.
#[tokio::test]
async fn an_empty_answer_without_latest_time_keeps_the_time_and_reads_nothing_more() {
    let (env, square, _cdn) = square_env(1000).await;
    serve_changes(&square, json!({"objects": []}), None, 1).await;

    let log = run_daemon_until(&env, "four passes", |log| passes(log) >= 4).await;

    let searches = searches(&square).await;
    assert!(
        pattern(&searches).starts_with("FIII"),
        "{searches:?}\n{log}"
    );
    assert!(
        searches[1..]
            .iter()
            .all(|(_, since)| since.as_deref() == Some(FULL_READ_TIME)),
        "asked from the full read's time each pass: {searches:?}"
    );
    assert!(!log.contains("reading it in full"), "{log}");
    assert_eq!(mapped_passes(&log), 1, "{log}");
}

#[tokio::test]
async fn an_unchanged_gloriafood_body_is_neither_parsed_nor_mapped_and_a_changed_one_is_published()
{
    let gloria = MockServer::start().await;
    let before = fixture_text("gloriafood/menu.json");
    let after = before.replacen("Pizza Margherita", "Pizza Margherita DOP", 1);
    assert_ne!(before, after);
    for (body, times, priority) in [(&before, Some(3), 1), (&after, None, 2)] {
        let mock = Mock::given(method("GET"))
            .and(path("/pos/menu"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json"))
            .with_priority(priority);
        match times {
            Some(times) => mock.up_to_n_times(times).mount(&gloria).await,
            None => mock.mount(&gloria).await,
        }
    }
    let env = Env::new(&gloria.uri());
    env.write_config(&config(
        &(remote_pos("glf", "gloriafood", &gloria.uri()) + &store("pizza", "glf", "5120", "")),
    ));

    let log = run_daemon_until(&env, "passes after the change", |log| passes(log) >= 5).await;

    assert_eq!(
        mapped_passes(&log),
        2,
        "the first body and the changed one are mapped, the repeated ones are not\n{log}"
    );

    assert_eq!(releases(&env, "pizza"), 2);
    let menu = published_menu(env.path(), "pizza");
    assert!(
        menu.to_string().contains("Pizza Margherita DOP"),
        "the changed body is published"
    );
}

#[tokio::test]
async fn changes_over_two_pages_are_applied_only_together() {
    let (env, square, cdn) = square_env(1000).await;
    let later = "2026-11-20T10:00:00.000Z";
    let renamed = fixture_object(&cdn.uri(), "ITEM_FRIES", |fries| {
        fries["item_data"]["name"] = json!("Curly Fries");
    });
    let first_page = json!({
        "objects": [{"type": "ITEM", "id": "ITEM_RINGS", "is_deleted": true}],
        "cursor": "CHANGES_2",
        "latest_time": later,
    });
    let second_page = json!({"objects": [renamed], "latest_time": later});
    Mock::given(method("POST"))
        .and(path("/v2/catalog/search"))
        .and(body_partial_json(
            json!({"include_deleted_objects": true, "cursor": "CHANGES_2", "begin_time": FULL_READ_TIME}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(second_page))
        .with_priority(1)
        .mount(&square)
        .await;
    serve_changes(&square, first_page, Some(1), 2).await;
    serve_changes(&square, no_changes(later), None, 3).await;

    let log = run_daemon_until(&env, "passes after the change", |log| passes(log) >= 4).await;

    assert_eq!(pattern(&searches(&square).await).matches('F').count(), 1);
    assert_eq!(
        releases(&env, "downtown"),
        2,
        "both pages, one release\n{log}"
    );
    let menu = published_menu(env.path(), "downtown");
    assert_eq!(item(&menu, "ITEM_FRIES")["name"], "Curly Fries");
    assert!(!item_ids(&menu).contains(&"ITEM_RINGS".to_string()));
}

#[tokio::test]
async fn a_square_error_mid_changes_publishes_nothing_partial_and_the_next_pass_asks_again() {
    let (env, square, cdn) = square_env(1000).await;
    let later = "2026-11-20T10:00:00.000Z";
    let renamed = fixture_object(&cdn.uri(), "ITEM_FRIES", |fries| {
        fries["item_data"]["name"] = json!("Curly Fries");
    });
    let since = |time: &str, cursor: Option<&str>| {
        let mut body = json!({"include_deleted_objects": true, "begin_time": time});
        if let Some(cursor) = cursor {
            body["cursor"] = json!(cursor);
        }
        Mock::given(method("POST"))
            .and(path("/v2/catalog/search"))
            .and(body_partial_json(body))
    };
    // The second page of the changes fails once (retries = 0), then answers.
    since(FULL_READ_TIME, Some("CHANGES_2"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&square)
        .await;
    since(FULL_READ_TIME, Some("CHANGES_2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"objects": [renamed], "latest_time": later})),
        )
        .with_priority(2)
        .mount(&square)
        .await;
    since(FULL_READ_TIME, None)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "objects": [{"type": "ITEM", "id": "ITEM_RINGS", "is_deleted": true}],
            "cursor": "CHANGES_2",
            "latest_time": later,
        })))
        .with_priority(3)
        .mount(&square)
        .await;
    since(later, None)
        .respond_with(ResponseTemplate::new(200).set_body_json(no_changes(later)))
        .with_priority(3)
        .mount(&square)
        .await;

    let log = run_daemon_until(&env, "passes after the failure", |log| passes(log) >= 4).await;

    assert!(
        log.contains("failed network"),
        "the pass with the 503 fails\n{log}"
    );
    let searches = searches(&square).await;
    let sinces: Vec<Option<&str>> = searches.iter().map(|(_, since)| since.as_deref()).collect();
    assert_eq!(
        sinces[..4],
        [
            None,
            Some(FULL_READ_TIME),
            Some(FULL_READ_TIME),
            Some(later)
        ],
        "the failed read is asked again from the same latest_time, never in full"
    );
    assert_eq!(
        releases(&env, "downtown"),
        2,
        "no release of half the changes\n{log}"
    );
    let menu = published_menu(env.path(), "downtown");
    assert_eq!(item(&menu, "ITEM_FRIES")["name"], "Curly Fries");
    assert!(!item_ids(&menu).contains(&"ITEM_RINGS".to_string()));
}
