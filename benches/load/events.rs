//! S7 (issue 25): store events against a daemon on a slow schedule.
//! `menusync run` with many stores on a 5-minute schedule (splay on, the
//! default) pushing to a local rsync target; for a set time, at a steady
//! rate, the POS changes a random store's menu and the harness runs the real
//! `menusync notify` for it, as a webhook receiver would. For each event:
//! event to served (from just before `notify` starts to the target serving
//! the new menu.json), and the POS menu requests of that store between the
//! event and a second after it was served (one pass asks once). Also the
//! daemon's CPU over the window.

use super::*;
use scenarios::{now_secs, sleep_until_unix, start_daemon, stop_daemon, sync_every_store};

/// How long an event may take to be served before it counts as lost.
const LOST_AFTER: Duration = Duration::from_secs(30);

/// The sizes of S7.
pub(crate) struct EventSizes {
    pub(crate) stores: usize,
    /// Events a second.
    pub(crate) rate: f64,
    /// How long events come, in seconds.
    pub(crate) seconds: u64,
    /// `--events-at-tick`: events start 10 s before the next 5-minute tick
    /// (waiting for it up to 5 minutes), so most of them find their store
    /// waiting for its splay slot and wake it.
    pub(crate) at_tick: bool,
}

/// What one event measured: its store, when it was sent, and when served.
struct Sent {
    store: usize,
    sent_at: f64,
    served_at: Option<f64>,
}

pub(crate) async fn events(pos: &Pos, sizes: &EventSizes, plan: &Plan) -> Row {
    let u = universe(
        pos,
        &Shape {
            name: "e",
            stores: sizes.stores,
            images: 1,
            items: 10,
            concurrency: 64,
            schedule: Some("0 */5 * * * *".to_string()),
            daemon_extra: "",
            target: Some(WEB),
            sections: "",
        },
    );
    sync_every_store(pos, &u, "S7").await;
    let daemon = start_daemon(pos, &u, plan, "S7").await;
    let pid = daemon.pid;
    let start = if sizes.at_tick {
        (scenarios::next_tick(300.0) - 10.0).max(now_secs() + 1.0)
    } else {
        now_secs() + 1.0
    };
    let end = start + sizes.seconds as f64;
    sleep_until_unix(start).await;
    let cpu0 = cpu_seconds_of(pid);

    let mut rng = seeded(&[25]);
    let mut chosen = std::collections::HashSet::new();
    let mut watchers = Vec::new();
    let step = 1.0 / sizes.rate;
    let mut next = start;
    while next < end && chosen.len() < sizes.stores {
        sleep_until_unix(next).await;
        next += step;
        let n = loop {
            let n = (xorshift(&mut rng) % sizes.stores as u64) as usize;
            if chosen.insert(n) {
                break n;
            }
        };
        let served = u.served(n).join("data/menu.json");
        let before = std::fs::read(&served).unwrap_or_default();
        pos.control(
            reqwest::Method::POST,
            "_change",
            format!("price {}", u.pos_ids[n]),
        )
        .await;
        let config = u.config_path.clone();
        let store = u.ids[n].clone();
        watchers.push(tokio::spawn(async move {
            let sent_at = now_secs();
            let notified = tokio::task::spawn_blocking(move || {
                Command::new(env!("CARGO_BIN_EXE_menusync"))
                    .arg("--config")
                    .arg(config)
                    .args(["notify", &store])
                    .stdout(Stdio::null())
                    .status()
            });
            let lost = Instant::now() + LOST_AFTER;
            let served_at = loop {
                if std::fs::read(&served).is_ok_and(|now| now != before) {
                    break Some(now_secs());
                }
                if Instant::now() > lost {
                    break None;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let ok = notified
                .await
                .expect("notify thread")
                .is_ok_and(|status| status.success());
            Sent {
                store: n,
                sent_at,
                served_at: served_at.filter(|_| ok),
            }
        }));
    }
    let mut sent = Vec::new();
    for watcher in watchers {
        sent.push(watcher.await.expect("watcher"));
    }
    let window = now_secs() - start;
    let cpu = cpu_seconds_of(pid) - cpu0;
    // A second after the last serve, so a pass the events caused after it shows.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (log, usage) = stop_daemon(pos, daemon).await;

    let fetches: Vec<(usize, f64)> = log
        .lines()
        .filter_map(|line| {
            let mut words = line.split(' ');
            let n = words.next()?.parse().ok()?;
            let ms: f64 = words.next()?.parse().ok()?;
            Some((n, ms / 1000.0))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut lost = 0;
    let mut requests = 0usize;
    for event in &sent {
        let Some(served_at) = event.served_at else {
            lost += 1;
            continue;
        };
        latencies.push(served_at - event.sent_at);
        requests += fetches
            .iter()
            .filter(|(n, at)| {
                *n == event.store && *at >= event.sent_at - 0.5 && *at <= served_at + 1.0
            })
            .count();
    }
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        latencies[((latencies.len() - 1) as f64 * q).round() as usize]
    };
    let per_event = requests as f64 / latencies.len().max(1) as f64;
    let (p50, p99) = (quantile(0.5), quantile(0.99));
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    let name = if sizes.at_tick {
        "S7 store events, across a tick"
    } else {
        "S7 store events"
    };
    Row {
        name: name.to_string(),
        stores: sizes.stores,
        wall: window,
        cpu,
        rss_mb: usage.rss_mb,
        failed: lost + usize::from(usage.exit != Some(0)),
        extra: format!(
            "5-minute schedule, {} events (`menusync notify`, each after its store's POS change) \
             at {} a second for {} s: event to served p50 {p50:.2} s, p99 {p99:.2} s, max {:.2} s \
             (goal p99 ≤ 2 s: {}), {lost} lost; POS menu requests per event {per_event:.2} \
             (one pass asks once; goal ≤ 1.1: {}); daemon CPU {:.1}% of one core",
            sent.len(),
            sizes.rate,
            sizes.seconds,
            latencies.last().copied().unwrap_or(f64::NAN),
            verdict(p99 <= 2.0),
            verdict(per_event <= 1.1),
            cpu / window.max(1e-9) * 100.0,
        ),
        ..Row::default()
    }
}
