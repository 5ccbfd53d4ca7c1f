//! `status` tells a store failing now from one whose last error is history.
//!
//! Regression (issue 23): a healed store showed its old `last_error` in the
//! same field, and the same table column, as a failing one; a monitoring
//! script had to read two fields to tell them apart.

mod common;

use common::{Env, default_images, menu_doc, refuse_everything, serve_pos, text};
use wiremock::MockServer;

/// The store's row of the human table.
async fn table_row(env: &Env) -> String {
    let table = env.run(&["status"]).await;
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    table
        .lines()
        .find(|line| line.starts_with("gangnam"))
        .expect("a row for gangnam")
        .to_string()
}

#[tokio::test]
async fn status_separates_failing_now_from_healed() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    let config = std::fs::read_to_string(env.config()).unwrap();
    env.write_config(&config.replace("base_url = ", "retries = 0\nbase_url = "));
    assert!(env.run(&["once"]).await.status.success());
    let healthy = &env.status().await[0];
    assert_eq!(healthy["failing"], false);
    assert!(healthy["last_error"].is_null() && healthy["healed_at"].is_null());

    refuse_everything(&pos).await;
    assert_eq!(env.run(&["once"]).await.status.code(), Some(1));
    let failing = &env.status().await[0];
    assert_eq!(failing["failing"], true);
    assert_eq!(failing["consecutive_failures"], 1);
    assert_eq!(failing["last_error"]["category"], "network");
    assert!(failing["healed_at"].is_null());
    let row = table_row(&env).await;
    assert!(
        row.contains("[network]") && !row.contains("healed"),
        "{row}"
    );

    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let healed = &env.status().await[0];
    assert_eq!(healed["failing"], false);
    assert_eq!(healed["consecutive_failures"], 0);
    // The field keeps its name and meaning (the last failure), now history.
    assert_eq!(healed["last_error"]["category"], "network");
    let healed_at = healed["healed_at"].as_str().expect("healed_at is set");
    assert!(healed_at > failing["last_error"]["at"].as_str().unwrap());
    let row = table_row(&env).await;
    assert!(
        row.contains("healed") && row.contains("was [network]"),
        "{row}"
    );

    // Failing again: the heal is over.
    refuse_everything(&pos).await;
    assert_eq!(env.run(&["once"]).await.status.code(), Some(1));
    let again = &env.status().await[0];
    assert_eq!(again["failing"], true);
    assert!(again["healed_at"].is_null());
}
