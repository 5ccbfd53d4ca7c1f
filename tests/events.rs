//! Store events (issue 25) with real parts: the real `menusync run` on an
//! idle schedule (once a year), the wiremock POS on a loopback port 0, a
//! local rsync target, and for the cluster a real etcd written through its
//! JSON gateway as a webhook would. Every wait is bounded.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::etcd::EtcdCluster;
use common::{Env, config, default_images, menu_doc, serve_pos};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `[daemon]` of an idle daemon: its schedule ticks once a year, so every
/// pass after the first is an event's.
const IDLE_DAEMON: &str = "schedule = \"0 0 0 1 1 *\"\n\
                           connect_timeout_secs = 2\n\
                           read_timeout_secs = 5\n\
                           pass_timeout_secs = 30\n";

/// What an event is given to reach the target on an idle daemon.
const EVENT_BUDGET: Duration = Duration::from_secs(1);

fn at(minute: u32) -> String {
    format!("2026-12-05T10:{minute:02}:00Z")
}

/// The reference menu with `price` for the Americano, dated `updated_at`.
fn menu(price: i64, updated_at: &str) -> Value {
    let mut menu = menu_doc(price);
    menu["updatedAt"] = json!(updated_at);
    menu
}

/// Serves `menu`; with `delay`, every menu answer waits that long, so a
/// pass is surely running while the test acts.
async fn serve(pos: &MockServer, menu: &Value, delay: Option<Duration>) {
    serve_pos(pos, menu, &default_images()).await;
    if let Some(delay) = delay {
        Mock::given(method("POST"))
            .and(path("/api/menu"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(menu)
                    .set_delay(delay),
            )
            .with_priority(1)
            .mount(pos)
            .await;
    }
}

/// The Americano's price the target serves under `root`.
fn served_price(root: &Path) -> Option<i64> {
    let bytes = std::fs::read(root.join("data/menu.json")).ok()?;
    let menu: Value = serde_json::from_slice(&bytes).ok()?;
    common::find_item(&menu, "I100")?["price"].as_i64()
}

async fn until(what: &str, daemon: &Daemon, limit: Duration, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the target under `root` serves `price`, then asserts it took
/// at most [`EVENT_BUDGET`] from `sent` (what: the event, for the message).
async fn served_within_budget(what: &str, daemon: &Daemon, root: &Path, price: i64, sent: Instant) {
    until(
        "the event's change on the target",
        daemon,
        Duration::from_secs(10),
        || served_price(root) == Some(price),
    )
    .await;
    let took = sent.elapsed();
    assert!(
        took <= EVENT_BUDGET,
        "{what} took {took:?} to reach the target\n{}",
        daemon.log()
    );
}

/// An idle single-host daemon on one store, its first pass published.
async fn idle_host(pos: &MockServer) -> (Env, Daemon, PathBuf) {
    let env = Env::new(&pos.uri());
    env.write_config(
        &(config::daemon(IDLE_DAEMON)
            + &config::remote_pos("hq", "http", &pos.uri(), "")
            + &config::rsync_target("web", "web")
            + &config::store("gangnam", "블리스월드 강남점", "hq", "S001", "")),
    );
    let daemon = Daemon::start(&env);
    let target = env.path().join("web/gangnam");
    until("the first pass", &daemon, Duration::from_secs(20), || {
        served_price(&target) == Some(1000)
    })
    .await;
    (env, daemon, target)
}

async fn notify(env: &Env, args: &[&str]) -> std::process::Output {
    let mut all = vec!["notify"];
    all.extend_from_slice(args);
    env.run(&all).await
}

/// Waits until no pass has ended for `quiet`, at most `limit`; the passes done.
async fn settle(daemon: &Daemon, quiet: Duration, limit: Duration) -> usize {
    let started = Instant::now();
    let mut last = (daemon.passes_done(), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let done = daemon.passes_done();
        if done != last.0 {
            last = (done, Instant::now());
        } else if last.1.elapsed() >= quiet {
            return done;
        }
        assert!(
            started.elapsed() < limit,
            "passes never settled\n{}",
            daemon.log()
        );
    }
}

/// An event from `menusync notify` reaches the target well before the
/// yearly tick: within a second of the command, on an idle daemon; status
/// and the log say the pass was the event's.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_from_notify_reaches_the_target_within_a_second() {
    let pos = MockServer::start().await;
    serve(&pos, &menu(1000, &at(0)), None).await;
    let (env, daemon, target) = idle_host(&pos).await;
    serve(&pos, &menu(1100, &at(1)), None).await;

    let sent = Instant::now();
    let output = notify(&env, &["gangnam", "--updated-at", &at(1)]).await;
    assert!(output.status.success(), "{}", common::text(&output));
    served_within_budget("the event", &daemon, &target, 1100, sent).await;
    assert!(
        daemon.log().contains("store event: a pass now"),
        "{}",
        daemon.log()
    );
    let status = env.status().await;
    assert_eq!(status[0]["last_trigger"], "event", "{status:#}");
    let table = env.run(&["status"]).await;
    assert!(
        common::text(&table).contains("TRIGGER"),
        "{}",
        common::text(&table)
    );
    let (exit, _, _) = daemon.stop().await;
    assert!(exit.success());
}

/// The idempotency key and the coalescing: 100 duplicate events for one
/// change cause one pass; an event older than what was published causes
/// none; events during a (slow) pass cause exactly one more.
#[tokio::test(flavor = "multi_thread")]
async fn duplicates_and_old_events_are_dropped_and_events_during_a_pass_cause_one_more() {
    let pos = MockServer::start().await;
    serve(&pos, &menu(1000, &at(0)), None).await;
    let (env, daemon, target) = idle_host(&pos).await;
    let before = settle(&daemon, Duration::from_millis(500), Duration::from_secs(10)).await;

    // 100 duplicates of one change, four at a time.
    serve(&pos, &menu(1100, &at(1)), None).await;
    let date = at(1);
    let args = ["gangnam", "--updated-at", date.as_str()];
    for _ in 0..25 {
        let batch = (0..4).map(|_| notify(&env, &args));
        for output in futures_util::future::join_all(batch).await {
            assert!(output.status.success(), "{}", common::text(&output));
        }
    }
    let after = settle(
        &daemon,
        Duration::from_millis(1500),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(served_price(&target), Some(1100));
    assert_eq!(after - before, 1, "100 duplicate events\n{}", daemon.log());
    assert_eq!(
        common::count_requests(&pos, "POST").await,
        2,
        "one menu and one image list"
    );

    // Older than what the store published: no pass at all.
    let output = notify(&env, &["gangnam", "--updated-at", &at(0)]).await;
    assert!(output.status.success(), "{}", common::text(&output));
    until(
        "the old event dropped",
        &daemon,
        Duration::from_secs(5),
        || {
            daemon
                .log()
                .contains("store event dropped: the store's menu of")
        },
    )
    .await;
    let quiet = settle(
        &daemon,
        Duration::from_millis(1000),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(quiet, after, "an old event ran a pass\n{}", daemon.log());

    // A slow pass for a new change; five events while it runs.
    serve(&pos, &menu(1200, &at(2)), Some(Duration::from_millis(1500))).await;
    let output = notify(&env, &["gangnam", "--updated-at", &at(2)]).await;
    assert!(output.status.success(), "{}", common::text(&output));
    let asked = Instant::now();
    while common::count_requests(&pos, "POST").await == 0 {
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "no slow pass\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..5 {
        let output = notify(&env, &["gangnam"]).await;
        assert!(output.status.success(), "{}", common::text(&output));
    }
    let last = settle(
        &daemon,
        Duration::from_millis(2500),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(served_price(&target), Some(1200));
    assert_eq!(
        last - quiet,
        2,
        "the event's pass and exactly one more for the five during it\n{}",
        daemon.log()
    );
    drop(daemon);
}

/// `notify` for a store the config does not hold: refused with a `config`
/// message and exit code 2, and nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_store_is_refused_by_notify() {
    let env = Env::new("http://127.0.0.1:9");
    let output = notify(&env, &["nowhere", "--updated-at", &at(1)]).await;
    let said = common::text(&output);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(
        said.contains("[config]") && said.contains("no store with id `nowhere`"),
        "{said}"
    );
    let spool = env.path().join("state/events");
    let written = std::fs::read_dir(&spool).map_or(0, |dir| dir.count());
    assert_eq!(written, 0, "nothing is written for an unknown store");
    // A date that does not read is refused by the command line itself.
    let output = notify(&env, &["gangnam", "--updated-at", "yesterday"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", common::text(&output));
}

/// A host `member` of the cluster `chain` on `etcd`, pushing to `web` in
/// `releases` mode, on an idle schedule.
fn cluster_host(etcd: &EtcdCluster, pos: &MockServer, web: &Path, member: &str) -> Env {
    let env = Env::new(&pos.uri());
    let endpoints: Vec<String> = etcd
        .endpoints()
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect();
    env.write_config(
        &(config::daemon(IDLE_DAEMON)
            + &config::remote_pos("hq", "http", &pos.uri(), "")
            + &format!(
                "\n[target.web]\nkind = \"rsync\"\ndest = \"{}\"\nmode = \"releases\"\n",
                web.display()
            )
            + &format!(
                "\n[cluster]\nendpoints = [{}]\nname = \"chain\"\nmember = \"{member}\"\nlease_ttl_secs = 3\n",
                endpoints.join(", ")
            )
            + &config::store("gangnam", "블리스월드 강남점", "hq", "S001", "")),
    );
    env
}

/// With a cluster, a webhook writes the store's event key straight into
/// etcd through its JSON gateway; the leader's pass serves the change
/// within a second and deletes the key it consumed, and the standby leaves
/// events to the leader.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_written_to_etcd_reaches_the_target_within_a_second() {
    let etcd = EtcdCluster::start(1);
    let pos = MockServer::start().await;
    serve(&pos, &menu(1000, &at(0)), None).await;
    let shared = tempfile::tempdir().unwrap();
    let web = shared.path().join("web");
    let env = cluster_host(&etcd, &pos, &web, "a");
    let daemon = Daemon::start(&env);
    let target = web.join("gangnam/current");
    until(
        "the leader's first pass",
        &daemon,
        Duration::from_secs(30),
        || served_price(&target) == Some(1000),
    )
    .await;
    let standby_env = cluster_host(&etcd, &pos, &web, "b");
    let standby = Daemon::start(&standby_env);
    until("the standby", &standby, Duration::from_secs(30), || {
        standby.log().contains("standing by")
    })
    .await;
    serve(&pos, &menu(1100, &at(1)), None).await;

    let key = "/menusync/chain/events/gangnam";
    let sent = Instant::now();
    etcd.put(key, &json!({ "updatedAt": at(1) }).to_string());
    served_within_budget("the etcd event", &daemon, &target, 1100, sent).await;
    until(
        "the consumed key deleted",
        &daemon,
        Duration::from_secs(5),
        || etcd.get(key).is_none(),
    )
    .await;
    assert!(
        daemon.log().contains("store event: a pass now"),
        "{}",
        daemon.log()
    );
    assert!(!standby.log().contains("store event"), "{}", standby.log());
    // A key for a store the config does not hold: taken, dropped with a warning.
    etcd.put("/menusync/chain/events/nowhere", "");
    until(
        "the unknown store's event dropped",
        &daemon,
        Duration::from_secs(5),
        || {
            daemon
                .log()
                .contains("store event dropped: no store with this id")
        },
    )
    .await;
    until(
        "the unknown store's key deleted",
        &daemon,
        Duration::from_secs(5),
        || etcd.get("/menusync/chain/events/nowhere").is_none(),
    )
    .await;
    // `menusync notify` on a cluster host writes the same key.
    let output = notify(&env, &["gangnam", "--updated-at", &at(1)]).await;
    assert!(output.status.success(), "{}", common::text(&output));
    assert!(
        common::text(&output).contains("etcd"),
        "{}",
        common::text(&output)
    );
    until(
        "the duplicate dropped",
        &daemon,
        Duration::from_secs(5),
        || {
            daemon
                .log()
                .contains("store event dropped: the store's menu of")
        },
    )
    .await;
    let (exit, _, _) = daemon.stop().await;
    assert!(exit.success());
}
