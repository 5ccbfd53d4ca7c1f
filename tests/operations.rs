//! What ops use: status and its exit code, stale errors, diff, releases,
//! rollback and its hold, the metrics file, and the fields of log lines.

mod common;

use std::time::Duration;

use common::{Env, default_images, item, menu_doc, refuse_everything, serve_pos, text};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Env's config plus `extra` lines in [daemon] and an optional [log] section.
fn configure(env: &Env, pos: &MockServer, daemon_extra: &str, log_section: &str) {
    let text = std::fs::read_to_string(env.config()).unwrap();
    let text = text.replace("[daemon]\n", &format!("[daemon]\n{daemon_extra}\n"));
    let text = text.replace("base_url = ", "retries = 0\nbase_url = ");
    env.write_config(&format!("{text}\n{log_section}"));
    let _ = pos;
}

#[tokio::test]
async fn a_store_failing_past_the_threshold_is_stale_in_log_status_and_exit_code() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    configure(&env, &pos, "stale_after_secs = 1", "");
    assert!(env.run(&["once"]).await.status.success());

    refuse_everything(&pos).await;
    let first = env.run(&["once"]).await;
    assert_eq!(first.status.code(), Some(1));
    let log = String::from_utf8_lossy(&first.stdout);
    assert!(
        log.contains(" WARN ") && log.contains("failed network"),
        "{log}"
    );
    let status = env.run(&["status"]).await;
    assert_eq!(
        status.status.code(),
        Some(0),
        "failing, not yet stale: {}",
        text(&status)
    );

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = env.run(&["once"]).await;
    let log = String::from_utf8_lossy(&second.stdout);
    assert!(
        log.contains("ERROR") && log.contains("stale since"),
        "{log}"
    );

    let status = env.run(&["status"]).await;
    assert_eq!(
        status.status.code(),
        Some(1),
        "a stale store fails the check: {}",
        text(&status)
    );
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(
        table.contains("STALE SINCE") && table.contains("[network]"),
        "{table}"
    );
    assert!(
        !table.contains("\x1b["),
        "no colours when stdout is not a terminal"
    );
    let json = env.run(&["status", "--json"]).await;
    assert_eq!(json.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json[0]["stale"], true);
    assert_eq!(json[0]["consecutive_failures"], 2);
    assert!(json[0]["stale_since"].is_string());
    assert!(
        json[0]["release"].is_string(),
        "the last good release is still reported"
    );
}

#[tokio::test]
async fn diff_shows_what_would_change_and_publishes_nothing() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    assert!(env.run(&["once"]).await.status.success());
    let release = env.current_release();

    serve_pos(&pos, &menu_doc(4800), &default_images()).await;
    let output = env.run(&["diff", "gangnam"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.contains("1 price change (아메리카노 4500→4800)"),
        "{shown}"
    );
    assert!(
        !shown.contains("images new"),
        "held images are recognised: {shown}"
    );
    assert!(
        !shown.contains("would not publish"),
        "a 7% rise trips no gate: {shown}"
    );
    assert_eq!(env.current_release(), release);
    assert_eq!(env.releases().len(), 1);

    // A typo that a pass would hold: diff says so, with the pass's reasons.
    serve_pos(&pos, &menu_doc(45_000), &default_images()).await;
    let output = env.run(&["diff", "gangnam"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.contains("gangnam: a pass would not publish this: held for approval: 1 price(s) moved more than 50%"),
        "{shown}"
    );
    assert_eq!(env.current_release(), release);
    assert_eq!(env.releases().len(), 1, "diff builds nothing");
}

#[tokio::test]
async fn rollback_goes_back_pushes_and_holds_until_the_pos_changes() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    assert!(env.run(&["once"]).await.status.success());
    let first = env.current_release().unwrap();
    serve_pos(&pos, &menu_doc(4800), &default_images()).await;
    assert!(env.run(&["once"]).await.status.success());
    let second = env.current_release().unwrap();

    let listed = env.run(&["releases", "gangnam"]).await;
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains(&first) && listed.contains(&format!("{second}     3 items  <- current")),
        "{listed}"
    );

    let output = env.run(&["rollback", "gangnam"]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(env.current_release().unwrap(), first);
    assert_eq!(item(&env.menu(), "I100")["price"], 4500);
    let pushed = common::tree_menu(&env.path().join("web/gangnam"));
    assert_eq!(
        item(&pushed, "I100")["price"],
        4500,
        "the rollback reached the target"
    );

    // The POS still says 4800: the rollback holds.
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(env.current_release().unwrap(), first);
    assert_eq!(env.status().await[0]["pinned"], true);
    let shown = env.run(&["diff", "gangnam"]).await;
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains(&format!(
            "a pass would not publish this: rolled back to {first}"
        )),
        "diff says what a pass does: {shown}"
    );

    // A real change at the POS ends the hold.
    serve_pos(&pos, &menu_doc(4900), &default_images()).await;
    assert!(env.run(&["once"]).await.status.success());
    assert_eq!(item(&env.menu(), "I100")["price"], 4900);
    assert_eq!(env.status().await[0]["pinned"], false);

    let unknown = env
        .run(&["rollback", "gangnam", "--to", "m-00000000000000000000"])
        .await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no kept release"));
}

#[tokio::test]
async fn the_metrics_file_parses_as_prometheus_text() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    configure(&env, &pos, "metrics_dir = \"metrics\"", "");
    assert!(env.run(&["once"]).await.status.success());

    let text = std::fs::read_to_string(env.path().join("metrics/menusync.prom")).unwrap();
    let mut samples = std::collections::BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.starts_with("menusync_")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
        samples.insert(series.to_string(), value);
    }
    let get = |series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(
        get("menusync_passes_total{store=\"gangnam\",result=\"published\",category=\"\"}"),
        1.0
    );
    assert!(get("menusync_last_success_timestamp_seconds{store=\"gangnam\"}") > 1.7e9);
    assert!(get("menusync_image_bytes_downloaded_total{store=\"gangnam\"}") > 1000.0);
    assert_eq!(get("menusync_consecutive_failures{store=\"gangnam\"}"), 0.0);
    assert!(get("menusync_stage_duration_seconds_count{store=\"gangnam\",stage=\"fetch\"}") >= 1.0);
}

#[tokio::test]
async fn a_failing_store_logs_its_fields_in_human_and_json_form() {
    let pos = MockServer::start().await;
    refuse_everything(&pos).await;
    let env = Env::new(&pos.uri());
    configure(&env, &pos, "", "");
    let human = env.run(&["once"]).await;
    let log = String::from_utf8_lossy(&human.stdout);
    let line = log
        .lines()
        .find(|line| line.contains("failed network"))
        .unwrap_or_else(|| panic!("{log}"));
    for field in [
        "store=gangnam",
        "pos=hq",
        "run=",
        "stage=result",
        "category=network",
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }

    let config = std::fs::read_to_string(env.config()).unwrap();
    env.write_config(&format!("{config}\n[log]\nformat = \"json\"\n"));
    let json = env.run(&["once"]).await;
    let log = String::from_utf8_lossy(&json.stdout);
    let failure = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| {
            event["fields"]["category"] == "network" && event["span"]["stage"] == "result"
        })
        .unwrap_or_else(|| panic!("no JSON failure line in\n{}", text(&json)));
    assert_eq!(failure["level"], "WARN");
    let spans = failure["spans"].as_array().unwrap();
    assert_eq!(spans[0]["store"], "gangnam");
    assert_eq!(spans[0]["pos"], "hq");
    assert!(spans[0]["run"].is_string());
}

#[tokio::test]
async fn file_logs_are_written_beside_stdout() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    let config = std::fs::read_to_string(env.config()).unwrap();
    env.write_config(&format!(
        "{config}\n[log]\nfile_dir = \"logs\"\nfile_keep_days = 3\n"
    ));
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let files: Vec<_> = std::fs::read_dir(env.path().join("logs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("menusync.") && name.ends_with(".log"),
        "{name}"
    );
    let logged = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        logged.contains("store=gangnam") && logged.contains("published"),
        "{logged}"
    );
}

/// Regression (issue 11): the deploy stage logged a field `target`, which
/// journald stores as `TARGET=` beside tracing's own `TARGET=` (the module),
/// so entries carried two. Under journald every field name is upper-cased
/// with no prefix; none may take a name that tracing-journald or journald
/// itself writes.
#[tokio::test]
async fn no_log_field_takes_a_name_journald_already_uses() {
    const RESERVED: &[&str] = &[
        "TARGET",
        "MESSAGE",
        "PRIORITY",
        "CODE_FILE",
        "CODE_LINE",
        "CODE_FUNC",
        "SYSLOG_IDENTIFIER",
        "SYSLOG_FACILITY",
        "SYSLOG_PID",
        "SPAN_NAME",
        "ERRNO",
        "MESSAGE_ID",
    ];
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    let config = std::fs::read_to_string(env.config()).unwrap();
    env.write_config(&format!("{config}\n[log]\nformat = \"json\"\n"));
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert!(
        events
            .iter()
            .any(|event| event["fields"]["deploy_target"] == "web"),
        "the deploy line names its target:\n{}",
        text(&output)
    );
    for event in &events {
        let spans = event["spans"].as_array().cloned().unwrap_or_default();
        let objects = std::iter::once(&event["fields"]).chain(spans.iter());
        for object in objects {
            for key in object.as_object().into_iter().flat_map(|map| map.keys()) {
                if key == "message" || key == "name" {
                    continue; // the event's text and the span's name, not fields
                }
                assert!(
                    !RESERVED.contains(&key.to_uppercase().as_str()),
                    "field `{key}` becomes journald's {} in {event}",
                    key.to_uppercase()
                );
            }
        }
    }
}

/// Regression (issue 11): every retry of a POS call was a warning, so
/// `journalctl -p warning` listed stores whose POS had healed by itself.
#[tokio::test]
async fn a_retry_that_heals_is_logged_but_is_no_warning() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    Mock::given(wiremock::matchers::path("/api/menu"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&pos)
        .await;
    let env = Env::new(&pos.uri());
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        log.lines()
            .any(|line| line.contains("retrying") && line.contains("INFO")),
        "the retry is logged:\n{log}"
    );
    let warnings: Vec<&str> = log.lines().filter(|line| line.contains("WARN")).collect();
    assert!(
        warnings.is_empty(),
        "warnings after a healed retry: {warnings:#?}"
    );
}

/// Issue 16: a change the POS dates (`updatedAt`) is measured to the local
/// publish and to each target, shown in status and counted once in the metrics.
/// A store's first release shows its menu's age but is not counted: menusync
/// was not watching the store when the POS dated that menu.
#[tokio::test]
async fn the_lag_of_a_dated_change_is_in_status_and_metrics() {
    let pos = MockServer::start().await;
    let dated = |menu: &mut serde_json::Value, seconds_ago: i64| {
        let at = chrono::Utc::now() - chrono::TimeDelta::seconds(seconds_ago);
        menu["updatedAt"] = at.to_rfc3339().into();
    };
    let mut menu = menu_doc(4500);
    dated(&mut menu, 86_400);
    serve_pos(&pos, &menu, &default_images()).await;
    let env = Env::new(&pos.uri());
    configure(&env, &pos, "metrics_dir = \"metrics\"", "");
    let metrics = || std::fs::read_to_string(env.path().join("metrics/menusync.prom")).unwrap();
    let count = |to: &str, n: u64| {
        format!("menusync_change_lag_seconds_count{{store=\"gangnam\",to=\"{to}\"}} {n}")
    };

    assert!(env.run(&["once"]).await.status.success());
    let lag = env.status().await[0]["lag"].clone();
    assert_eq!(lag["first_release"], true, "{lag}");
    assert!(lag["publish_secs"].as_f64().unwrap() >= 86_400.0, "{lag}");
    let table = String::from_utf8_lossy(&env.run(&["status"]).await.stdout).into_owned();
    assert!(table.contains("first release"), "{table}");
    let text = metrics();
    assert!(text.contains(&count("publish", 0)), "{text}");
    assert!(
        text.contains("menusync_last_change_lag_seconds{store=\"gangnam\",to=\"publish\"} 864"),
        "the menu's age is shown as the last lag:\n{text}"
    );

    let mut menu = menu_doc(4800);
    dated(&mut menu, 3);
    serve_pos(&pos, &menu, &default_images()).await;
    assert!(env.run(&["once"]).await.status.success());
    let status = env.status().await;
    let lag = &status[0]["lag"];
    assert!(lag.get("first_release").is_none(), "{lag}");
    let publish = lag["publish_secs"].as_f64().unwrap();
    let web = lag["targets"]["web"].as_f64().unwrap();
    assert!((3.0..60.0).contains(&publish), "{lag}");
    assert!(
        web >= publish,
        "a target serves it after the publish: {lag}"
    );
    let table = String::from_utf8_lossy(&env.run(&["status"]).await.stdout).into_owned();
    assert!(table.contains("lag of the POS change"), "{table}");
    assert!(!table.contains("first release"), "{table}");
    let text = metrics();
    for to in ["publish", "web"] {
        assert!(text.contains(&count(to, 1)), "{} in\n{text}", count(to, 1));
    }
    assert!(text.contains(
        "menusync_change_lag_seconds_bucket{store=\"gangnam\",to=\"publish\",le=\"60\"} 1"
    ));

    // The same date again (a settings change republishes, or a new process
    // reads the state back): no new lag, and nothing counted twice.
    assert!(env.run(&["once"]).await.status.success());
    assert_eq!(env.status().await[0]["lag"]["publish_secs"], publish);
    let text = metrics();
    assert!(text.contains(&count("publish", 0)), "{text}");
}
