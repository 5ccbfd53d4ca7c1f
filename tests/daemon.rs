//! The daemon under real signals: reload, sync-now, a stop with a deadline,
//! and one hanging POS that must not delay a healthy store.

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::{Env, config, default_images, menu_doc, serve_pos};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A config whose schedule never fires during a test (once a year), so only
/// the start-up pass and signals trigger passes.
fn quiet_config(env: &Env, pos_url: &str, extra_stores: &str) {
    let fixtures = common::repo().join("fixtures/pos");
    env.write_config(
        &(config::daemon(
            "schedule = \"0 0 0 1 1 *\"\nread_timeout_secs = 30\npass_timeout_secs = 60\n\
             shutdown_timeout_secs = 1\n",
        ) + &config::remote_pos("hq", "http", pos_url, "retries = 0\n")
            + &config::fixture_pos("demo", &fixtures.display().to_string())
            + &config::rsync_target("web", "web")
            + &config::store("gangnam", "강남점", "hq", "S001", "")
            + extra_stores),
    );
}

/// A second store, on the fixture POS.
fn hongdae() -> String {
    config::store("hongdae", "홍대점", "demo", "S002", "")
}

fn published(env: &Env, store: &str) -> bool {
    env.store(store).is_published()
}

/// A healthy POS, one store on a quiet schedule, and a daemon past its start-up pass.
async fn started_daemon() -> (MockServer, Env, Daemon) {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    quiet_config(&env, &pos.uri(), "");
    let daemon = Daemon::start(&env);
    daemon
        .wait_for("the start-up pass", Duration::from_secs(20), |d| {
            d.passes_done() == 1
        })
        .await;
    (pos, env, daemon)
}

#[tokio::test]
async fn sigusr1_syncs_now_and_sighup_reloads_or_refuses() {
    let (pos, env, daemon) = started_daemon().await;
    let first = env.current_release().unwrap();

    // SIGUSR1: the changed price is picked up without waiting for the schedule.
    serve_pos(&pos, &menu_doc(4700), &default_images()).await;
    daemon.signal("USR1");
    daemon
        .wait_for("a pass after SIGUSR1", Duration::from_secs(20), |d| {
            d.passes_done() == 2
        })
        .await;
    assert_ne!(env.current_release().unwrap(), first);
    assert_eq!(common::item(&env.menu(), "I100")["price"], 4700);

    // SIGHUP with a broken file: refused with check's error, the daemon keeps going.
    let good_config = std::fs::read_to_string(env.config()).unwrap();
    env.write_config(&good_config.replace("pos_store_id", "pos_stor_id"));
    daemon.signal("HUP");
    daemon
        .wait_for("the refused reload", Duration::from_secs(20), |d| {
            d.log().contains("reload refused")
        })
        .await;
    let refusal = daemon.log();
    assert!(
        refusal.contains("stores.toml:") && refusal.contains("pos_stor_id"),
        "{refusal}"
    );

    // SIGHUP with a new store: it is scheduled and synced at once.
    quiet_config(&env, &pos.uri(), &hongdae());
    daemon.signal("HUP");
    daemon
        .wait_for("the new store to publish", Duration::from_secs(20), |_| {
            published(&env, "hongdae")
        })
        .await;

    let (status, _, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
    assert!(log.contains("config reloaded"), "{log}");
}

#[tokio::test]
async fn a_stop_waits_then_aborts_a_hanging_pass_and_keeps_the_release() {
    let (pos, env, daemon) = started_daemon().await;
    let good = env.current_release().unwrap();

    // The POS now takes 60 s to answer; a pass started by SIGUSR1 hangs in fetch.
    pos.reset().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&pos)
        .await;
    daemon.signal("USR1");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (status, took, log) = daemon.stop().await;
    assert!(
        status.success(),
        "a stop exits 0 even when it aborts\n{log}"
    );
    assert!(
        took < Duration::from_secs(10),
        "shutdown_timeout_secs = 1, took {took:?}\n{log}"
    );
    assert!(log.contains("aborting them at a safe point"), "{log}");
    assert_eq!(env.current_release().unwrap(), good);
    let staging = env.store_root().join("staging");
    assert_eq!(
        std::fs::read_dir(staging).unwrap().count(),
        0,
        "no half-built release left"
    );
}

#[tokio::test]
async fn a_hanging_pos_does_not_delay_a_healthy_store() {
    let pos = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&pos)
        .await;
    let env = Env::new(&pos.uri());
    quiet_config(&env, &pos.uri(), &hongdae());
    let started = Instant::now();
    let daemon = Daemon::start(&env);
    daemon
        .wait_for("the healthy store", Duration::from_secs(10), |_| {
            published(&env, "hongdae")
        })
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        !published(&env, "gangnam"),
        "the hanging store has nothing yet"
    );
    let (status, _, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
}

/// The `tasks=N` of the last "config reloaded" line, and the daemon's RSS in kB.
fn after_reload(daemon: &Daemon) -> (usize, u64) {
    let log = daemon.log();
    let line = log
        .lines()
        .rfind(|line| line.contains("config reloaded"))
        .expect("a reload line");
    let tasks = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("tasks="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no tasks= in {line}"));
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.child.id())).unwrap();
    let rss = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .expect("VmRSS in /proc/PID/status");
    (tasks, rss)
}

/// Regression (issue 23): every SIGHUP built a new cron scheduler whose
/// listener tasks outlived it, about 0.18 MB per reload for the life of the
/// process. A reload must leave the process as it was: the tasks alive after
/// 200 reloads of an unchanged file are those after 20, and so is the RSS,
/// within what an allocator keeps.
#[tokio::test]
async fn reloads_leave_nothing_behind() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    // Stores on six distinct schedules (one job each), none firing during the test.
    let extra: String = (0..12)
        .map(|i| {
            format!(
                "[[store]]\nid = \"store{i}\"\nname = \"매장 {i}\"\npos = \"demo\"\n\
                 pos_store_id = \"S002\"\nschedule = \"0 0 0 {day} 1 *\"\n",
                day = 1 + i % 6
            )
        })
        .collect();
    quiet_config(&env, &pos.uri(), &extra);
    let daemon = Daemon::start(&env);
    daemon
        .wait_for("the start-up passes", Duration::from_secs(60), |d| {
            d.passes_done() == 13
        })
        .await;
    let reloads = |count: usize| {
        let daemon = &daemon;
        async move {
            for _ in 0..count {
                let before = daemon.log().matches("config reloaded").count();
                daemon.signal("HUP");
                daemon
                    .wait_for("a reload", Duration::from_secs(10), |d| {
                        d.log().matches("config reloaded").count() > before
                    })
                    .await;
            }
        }
    };
    reloads(20).await;
    let (tasks_20, rss_20) = after_reload(&daemon);
    reloads(180).await;
    let (tasks_200, rss_200) = after_reload(&daemon);
    assert!(
        tasks_200 <= tasks_20 + 2,
        "tasks grew from {tasks_20} after 20 reloads to {tasks_200} after 200"
    );
    assert!(
        rss_200 <= rss_20 + 4 * 1024,
        "RSS grew from {rss_20} kB after 20 reloads to {rss_200} kB after 200"
    );
    eprintln!(
        "after 20 reloads: {tasks_20} tasks, {rss_20} kB; after 200: {tasks_200} tasks, {rss_200} kB"
    );
    let (status, _, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
}
