//! Active/standby on a real three-member etcd (Debian's etcd-server) with
//! real `menusync run` instances, each with its own state folder, pushing to
//! the same two targets in `releases` mode: a local folder and a folder over
//! the test sshd. Every wait is bounded.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::etcd::EtcdCluster;
use common::sshd::Sshd;
use common::{Env, config, default_images, menu_doc, serve_pos};
use serde_json::Value;
use wiremock::MockServer;

/// The lease TTL the tests run with: short, so failovers are quick.
const TTL_SECS: u64 = 3;
/// The schedule's interval (`MOCK_POS_DAEMON`: every second).
const INTERVAL: Duration = Duration::from_secs(1);
/// Slack for a shared, loaded CI machine on top of TTL + interval.
const SLACK: Duration = Duration::from_secs(8);

/// The web hosts every instance pushes to, and the POS they all read.
struct Site {
    etcd: EtcdCluster,
    pos: MockServer,
    sshd: Sshd,
    /// Holds `web/` (a local target) and `far/` (the sshd target's folder).
    shared: tempfile::TempDir,
}

impl Site {
    async fn start() -> Site {
        let etcd = EtcdCluster::start(3);
        let pos = MockServer::start().await;
        serve_pos(&pos, &menu_doc(1000), &default_images()).await;
        Site {
            etcd,
            pos,
            sshd: Sshd::start(),
            shared: tempfile::tempdir().unwrap(),
        }
    }

    fn web(&self) -> PathBuf {
        self.shared.path().join("web")
    }

    fn far(&self) -> PathBuf {
        self.shared.path().join("far")
    }

    /// A host named `member` with its own state folder; `extra` goes into the store.
    fn host(&self, member: &str, extra: &str) -> Env {
        let env = Env::new(&self.pos.uri());
        let endpoints: Vec<String> = self
            .etcd
            .endpoints()
            .iter()
            .map(|e| format!("\"{e}\""))
            .collect();
        env.write_config(
            &(config::daemon(config::MOCK_POS_DAEMON)
                + &config::remote_pos("hq", "http", &self.pos.uri(), "")
                + &format!(
                    "\n[target.web]\nkind = \"rsync\"\ndest = \"{}\"\nmode = \"releases\"\nretry_backoff_secs = 1\n\n",
                    self.web().display()
                )
                + &self.sshd.target_section("far", &self.far(), "releases")
                + &format!(
                    "\n[cluster]\nendpoints = [{}]\nname = \"chain\"\nmember = \"{member}\"\nlease_ttl_secs = {TTL_SECS}\n",
                    endpoints.join(", ")
                )
                + &config::unpushed_store(
                    "gangnam",
                    "블리스월드 강남점",
                    "hq",
                    "S001",
                    &format!("targets = [\"web\", \"far\"]\n{extra}"),
                )),
        );
        env
    }
}

/// The release `current` points at on a target folder.
fn served(root: &Path) -> Option<String> {
    std::fs::read_link(root.join("gangnam/current"))
        .ok()
        .and_then(|link| link.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// The price of the first item a target serves.
fn served_price(root: &Path) -> Option<i64> {
    let bytes = std::fs::read(root.join("gangnam/current/data/menu.json")).ok()?;
    let menu: Value = serde_json::from_slice(&bytes).ok()?;
    common::find_item(&menu, "I100")?["price"].as_i64()
}

/// Waits until `condition`, at most `limit`; how long it took. A timeout
/// prints the logs of the daemons named in `what`'s thread (`LOGS`).
async fn until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !condition() {
        if started.elapsed() >= limit {
            let logs: String = LOGS.with(|logs| {
                logs.borrow()
                    .iter()
                    .map(|path| {
                        let log = std::fs::read_to_string(path).unwrap_or_default();
                        let tail = &log[log.len().saturating_sub(6000)..];
                        format!("--- {}:\n{tail}\n", path.display())
                    })
                    .collect()
            });
            panic!("timed out after {limit:?} waiting for {what}\n{logs}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

thread_local! {
    /// The daemon logs of the running test, for timeout messages.
    static LOGS: std::cell::RefCell<Vec<PathBuf>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Starts `menusync run` on `host`; its log joins the timeout messages.
fn start(host: &Env) -> Daemon {
    LOGS.with(|logs| logs.borrow_mut().push(host.path().join("daemon.log")));
    Daemon::start(host)
}

fn leads(daemon: &Daemon) -> bool {
    daemon.log().contains("leading the cluster")
}

/// Lines of `daemon`'s log after the first line containing `mark`.
fn after(daemon: &Daemon, mark: &str) -> String {
    let log = daemon.log();
    log.find(mark)
        .map(|at| log[at..].to_string())
        .unwrap_or_default()
}

fn kill_9(daemon: &Daemon) {
    daemon.signal("KILL");
}

async fn status_json(env: &Env) -> Value {
    env.status().await[0].clone()
}

/// A leader killed with SIGKILL: the standby leads within the TTL, takes the
/// live release over from a target, pushes nothing for the unchanged store
/// (no `deployed` line, no new epoch on a target), and the next change
/// reaches both targets within TTL + one interval (plus CI slack).
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_leader_is_replaced_and_unchanged_stores_are_not_pushed_again() {
    let site = Site::start().await;
    let (host_a, host_b) = (site.host("a", ""), site.host("b", ""));
    let a = start(&host_a);
    until("a leads", Duration::from_secs(20), || leads(&a)).await;
    until("both targets serve 1000", Duration::from_secs(30), || {
        served_price(&site.web()) == Some(1000) && served_price(&site.far()) == Some(1000)
    })
    .await;
    let b = start(&host_b);
    until("b stands by", Duration::from_secs(20), || {
        b.log().contains("standing by; a leads")
    })
    .await;
    let status = status_json(&host_b).await;
    assert_eq!(status["cluster"]["leader"], "a", "{status}");
    assert_eq!(status["cluster"]["role"], "standby", "{status}");
    let release = served(&site.web()).unwrap();
    let epoch = std::fs::read_to_string(site.web().join("gangnam/.epoch")).unwrap();

    kill_9(&a);
    let killed = Instant::now();
    until("b leads", Duration::from_secs(TTL_SECS) + SLACK, || {
        leads(&b)
    })
    .await;
    // b's first passes of the store: the live release taken over, nothing pushed.
    until("b's first passes", Duration::from_secs(20), || {
        after(&b, "leading the cluster")
            .matches("stage=result")
            .count()
            >= 3
    })
    .await;
    let since = after(&b, "leading the cluster");
    assert!(
        since.contains("took over the cluster's live release"),
        "{since}"
    );
    assert!(
        !since.contains("deployed"),
        "b pushed an unchanged store:\n{since}"
    );
    assert_eq!(served(&site.web()).as_deref(), Some(release.as_str()));
    assert_eq!(
        std::fs::read_to_string(site.web().join("gangnam/.epoch")).unwrap(),
        epoch,
        "a target saw a swap of an unchanged store"
    );

    serve_pos(&site.pos, &menu_doc(1200), &default_images()).await;
    let served_in = until("both targets serve 1200", Duration::from_secs(30), || {
        served_price(&site.web()) == Some(1200) && served_price(&site.far()) == Some(1200)
    })
    .await;
    let failover = killed.elapsed();
    println!(
        "kill -9 → the next change served on both targets: {failover:?} ({served_in:?} after the change)"
    );
    assert!(
        failover < Duration::from_secs(TTL_SECS) + INTERVAL + SLACK,
        "the change took {failover:?}"
    );
    let new_epoch: u64 = std::fs::read_to_string(site.web().join("gangnam/.epoch"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        new_epoch > epoch.trim().parse().unwrap(),
        "the epoch did not grow"
    );
    let status = status_json(&host_a).await;
    assert_eq!(status["cluster"]["leader"], "b", "{status}");
    assert_eq!(status["release"], served(&site.web()).unwrap().as_str());
    drop(b);
}

/// A leader paused (SIGSTOP) past its lease: the standby leads and publishes
/// a newer menu; resumed, the old leader finds out, says so, publishes and
/// pushes nothing, and `current` on the targets never moves back.
#[tokio::test(flavor = "multi_thread")]
async fn a_paused_leader_wakes_up_as_a_standby_and_never_moves_current_back() {
    let site = Site::start().await;
    let (host_a, host_b) = (site.host("a", ""), site.host("b", ""));
    let a = start(&host_a);
    until("a leads", Duration::from_secs(20), || leads(&a)).await;
    until("both targets serve 1000", Duration::from_secs(30), || {
        served_price(&site.web()) == Some(1000) && served_price(&site.far()) == Some(1000)
    })
    .await;
    let b = start(&host_b);
    until("b stands by", Duration::from_secs(20), || {
        b.log().contains("standing by")
    })
    .await;
    let old = served(&site.web()).unwrap();

    a.signal("STOP");
    until("b leads", Duration::from_secs(TTL_SECS) + SLACK, || {
        leads(&b)
    })
    .await;
    serve_pos(&site.pos, &menu_doc(1200), &default_images()).await;
    until("both targets serve 1200", Duration::from_secs(30), || {
        served_price(&site.web()) == Some(1200) && served_price(&site.far()) == Some(1200)
    })
    .await;
    let new = served(&site.web()).unwrap();
    assert_ne!(new, old);
    let log_before = a.log().len();

    a.signal("CONT");
    // Watch the targets for several of a's renewals and ticks.
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(TTL_SECS * 2 + 2) {
        assert_eq!(
            served(&site.web()).as_deref(),
            Some(new.as_str()),
            "web moved back"
        );
        assert_eq!(
            served(&site.far()).as_deref(),
            Some(new.as_str()),
            "far moved back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let woke = a.log()[log_before..].to_string();
    assert!(
        woke.contains("lost the leadership"),
        "a did not say it lost:\n{woke}"
    );
    assert!(
        !woke.contains("deployed"),
        "a pushed after waking up:\n{woke}"
    );
    assert!(
        !woke.contains("published"),
        "a published after waking up:\n{woke}"
    );
    let status = status_json(&host_a).await;
    assert_eq!(status["cluster"]["leader"], "b", "{status}");
    assert_eq!(status["cluster"]["role"], "standby", "{status}");
}

/// Two of three etcd members stopped: the leader stops publishing within
/// the TTL and says so (journal, `status`), a POS change waits; with the
/// members back, a leader resumes on its own and the change is served.
#[tokio::test(flavor = "multi_thread")]
async fn quorum_lost_stops_publishing_until_it_returns() {
    let mut site = Site::start().await;
    let host_a = site.host("a", "");
    let a = start(&host_a);
    until("a leads", Duration::from_secs(20), || leads(&a)).await;
    until("web serves 1000", Duration::from_secs(30), || {
        served_price(&site.web()) == Some(1000)
    })
    .await;
    // Keep the member a talks to first (the first endpoint) and stop the others.
    site.etcd.kill(1);
    site.etcd.kill(2);
    serve_pos(&site.pos, &menu_doc(1200), &default_images()).await;
    until(
        "a says the quorum is gone",
        Duration::from_secs(TTL_SECS) + SLACK,
        || a.log().contains("cannot reach a quorum of etcd"),
    )
    .await;
    let status = status_json(&host_a).await;
    assert_eq!(status["cluster"]["role"], "no-quorum", "{status}");
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(5) {
        assert_eq!(
            served_price(&site.web()),
            Some(1000),
            "published without a quorum"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    site.etcd.restart(1);
    site.etcd.restart(2);
    until("web serves 1200", Duration::from_secs(40), || {
        served_price(&site.web()) == Some(1200)
    })
    .await;
    let status = status_json(&host_a).await;
    assert_eq!(status["cluster"]["role"], "leader", "{status}");
}

/// Decisions live in etcd: a rollback asked on host A pins the store, and
/// after A is killed, B keeps the pin; a change B holds at a gate is
/// approved from A's command line, and B publishes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_pin_survives_failover_and_a_hold_is_approved_from_the_other_host() {
    let site = Site::start().await;
    let gate = "hold_price_change_percent = 100\n";
    let (host_a, host_b) = (site.host("a", gate), site.host("b", gate));
    let a = start(&host_a);
    until("a leads", Duration::from_secs(20), || leads(&a)).await;
    until("web serves 1000", Duration::from_secs(30), || {
        served_price(&site.web()) == Some(1000)
    })
    .await;
    let first = served(&site.web()).unwrap();
    serve_pos(&site.pos, &menu_doc(1500), &default_images()).await;
    until("web serves 1500", Duration::from_secs(30), || {
        served_price(&site.web()) == Some(1500)
    })
    .await;
    let b = start(&host_b);
    until("b stands by", Duration::from_secs(20), || {
        b.log().contains("standing by")
    })
    .await;

    // Rollback asked on host A's command line: A's daemon leads and does it.
    let output = host_a.run(&["rollback", "gangnam"]).await;
    assert!(output.status.success(), "{}", common::text(&output));
    assert_eq!(served(&site.web()).as_deref(), Some(first.as_str()));
    kill_9(&a);
    until("b leads", Duration::from_secs(TTL_SECS) + SLACK, || {
        leads(&b)
    })
    .await;
    until("b's passes", Duration::from_secs(20), || {
        after(&b, "leading the cluster")
            .matches("stage=result")
            .count()
            >= 3
    })
    .await;
    assert_eq!(
        served(&site.web()).as_deref(),
        Some(first.as_str()),
        "b dropped the pin"
    );
    assert_eq!(served_price(&site.far()), Some(1000));
    let status = status_json(&host_b).await;
    assert_eq!(status["pinned"], true, "{status}");

    // A price tripled: the gate holds it on B; approved from A's command line.
    serve_pos(&site.pos, &menu_doc(3000), &default_images()).await;
    until("b holds the change", Duration::from_secs(20), || {
        b.log().contains("for approval")
    })
    .await;
    let status = status_json(&host_a).await;
    assert!(status["held"].is_object(), "{status}");
    assert_eq!(served_price(&site.web()), Some(1000));
    let output = host_a.run(&["approve", "gangnam"]).await;
    assert!(output.status.success(), "{}", common::text(&output));
    until("both targets serve 3000", Duration::from_secs(20), || {
        served_price(&site.web()) == Some(3000) && served_price(&site.far()) == Some(3000)
    })
    .await;
}
