//! Every line a pass logs, at every level, carries the pass's fields
//! (`store`, `pos`, `run`) and a `stage`: the ARCHITECTURE.md invariant, held
//! over passes that publish, hold, stay unchanged, meet a broken image, start
//! from a broken state file, and fail.
//!
//! Regression (issue 22): the "starting from a fresh state" warning was
//! logged after the lock stage and before any other, so it had no `stage`.

mod common;

use common::{Env, PosImage, default_images, menu_doc, serve_pos, text};
use serde_json::Value;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The JSON events of one `once`, logged at debug.
async fn once_events(env: &Env) -> Vec<Value> {
    let output = env.run(&["once"]).await;
    let log = String::from_utf8_lossy(&output.stdout);
    let events: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert!(!events.is_empty(), "no JSON lines in {}", text(&output));
    events
}

/// The events inside a `pass` span that lack a `stage` span or a pass field.
fn without_stage(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|event| {
            let spans = event["spans"].as_array().cloned().unwrap_or_default();
            let in_pass = spans.iter().any(|span| span["name"] == "pass");
            let has_stage = spans
                .iter()
                .any(|span| span["name"] == "stage" && span["stage"].is_string());
            let has_fields = spans.iter().any(|span| {
                span["store"].is_string() && span["pos"].is_string() && span["run"].is_string()
            });
            in_pass && !(has_stage && has_fields)
        })
        .map(Value::to_string)
        .collect()
}

#[tokio::test]
async fn every_line_inside_a_pass_has_a_stage() {
    let pos = MockServer::start().await;
    let env = Env::new(&pos.uri());
    let config = std::fs::read_to_string(env.config()).unwrap();
    env.write_config(&format!(
        "{}\n[log]\nformat = \"json\"\n",
        config.replace("base_url = ", "retries = 0\nbase_url = ")
    ));
    let mut events = Vec::new();

    // A first publish, then an unchanged pass.
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    events.extend(once_events(&env).await);
    events.extend(once_events(&env).await);
    // A change whose one image is not an image: a problem line of its own.
    let mut images = default_images();
    images[0] = PosImage::honest("IMG100", b"not a picture at all".to_vec());
    serve_pos(&pos, &menu_doc(4600), &images).await;
    events.extend(once_events(&env).await);
    // A price change past the default gate: held for approval.
    serve_pos(&pos, &menu_doc(9900), &default_images()).await;
    events.extend(once_events(&env).await);
    // A broken state file: the pass starts from a fresh state and says so.
    std::fs::write(env.store_root().join("state.json"), b"{ not json").unwrap();
    events.extend(once_events(&env).await);
    // The POS refuses: a failed pass.
    pos.reset().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(503))
        .mount(&pos)
        .await;
    events.extend(once_events(&env).await);

    let messages: Vec<String> = events
        .iter()
        .filter_map(|event| event["fields"]["message"].as_str().map(str::to_string))
        .collect();
    for expected in [
        "published",
        "unchanged",
        "skipped",
        "held",
        "starting from a fresh state",
        "failed network",
    ] {
        assert!(
            messages.iter().any(|message| message.contains(expected)),
            "no line says {expected:?}; the scenario proved nothing:\n{}",
            messages.join("\n")
        );
    }
    let missing = without_stage(&events);
    assert!(
        missing.is_empty(),
        "lines inside a pass without a stage:\n{}",
        missing.join("\n")
    );
}
