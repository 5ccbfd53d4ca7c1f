//! S6 (issue 16): freshness at chain scale. `menusync run` with many stores on
//! a short schedule pushing to a local rsync target; the POS changes random
//! stores at a known rate and the harness records, for every change, when the
//! target served it. Also the POS's request rate second by second (peak
//! against mean) and the daemon's CPU as a share of one core.

use super::*;
use scenarios::{next_tick, start_daemon, stop_daemon, sync_every_store};

/// How long a change may take to reach the target before it counts as lost.
const LOST_AFTER: Duration = Duration::from_secs(120);

pub(crate) async fn freshness(pos: &Pos, sizes: &Sizes, plan: &Plan, splay: bool) -> Row {
    let interval = sizes.s6_interval;
    let (name, daemon_extra) = if splay {
        ("f", "splay = true\n")
    } else {
        ("g", "splay = false\n")
    };
    let u = universe(
        pos,
        &Shape {
            name,
            stores: sizes.s6_stores,
            images: 1,
            items: 10,
            concurrency: sizes.concurrency,
            schedule: Some(format!("*/{interval} * * * * *")),
            daemon_extra,
            target: Some(WEB),
            sections: "",
        },
    );
    let label = if splay { "splay" } else { "no splay" };
    sync_every_store(pos, &u, &format!("S6 ({label})")).await;

    let daemon = start_daemon(pos, &u, plan, "S6").await;
    let pid = daemon.pid;
    let start = next_tick(interval as f64);
    let end = start + sizes.s6_seconds as f64;
    sleep_until_unix(start).await;
    let cpu0 = cpu_seconds_of(pid);

    // Changes at a steady rate, each to a store not changed before in this run.
    let mut rng = seeded(&[6, u64::from(splay)]);
    let mut changed = std::collections::HashSet::new();
    let mut watchers = Vec::new();
    let step = 1.0 / sizes.s6_rate;
    let mut next = start;
    while next < end && changed.len() < sizes.s6_stores {
        sleep_until_unix(next).await;
        next += step;
        let n = loop {
            let n = (xorshift(&mut rng) % sizes.s6_stores as u64) as usize;
            if changed.insert(n) {
                break n;
            }
        };
        let served = u.served(n).join("data/menu.json");
        let before = std::fs::read(&served).unwrap_or_default();
        let changed_at = now_secs();
        pos.control(
            reqwest::Method::POST,
            "_change",
            format!("price {}", u.pos_ids[n]),
        )
        .await;
        watchers.push(tokio::spawn(async move {
            let lost = Instant::now() + LOST_AFTER;
            loop {
                if std::fs::read(&served).is_ok_and(|now| now != before) {
                    return Some(now_secs() - changed_at);
                }
                if Instant::now() > lost {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    sleep_until_unix(end).await;
    let cpu = cpu_seconds_of(pid) - cpu0;
    let mut latencies = Vec::new();
    let mut lost = 0;
    for watcher in watchers {
        match watcher.await.expect("watcher") {
            Some(latency) => latencies.push(latency),
            None => lost += 1,
        }
    }
    let (log, usage) = stop_daemon(pos, daemon).await;

    // Menu requests per second of the window.
    let seconds = sizes.s6_seconds as usize;
    let mut per_second = vec![0u64; seconds];
    for line in log.lines() {
        let Some(ms) = line.split(' ').nth(1).and_then(|ms| ms.parse::<f64>().ok()) else {
            continue;
        };
        let at = ms / 1000.0 - start;
        if (0.0..sizes.s6_seconds as f64).contains(&at) {
            per_second[at as usize] += 1;
        }
    }
    let mean = per_second.iter().sum::<u64>() as f64 / seconds.max(1) as f64;
    let peak = per_second.iter().copied().max().unwrap_or(0) as f64;
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        latencies[((latencies.len() - 1) as f64 * q).round() as usize]
    };
    let share = cpu / sizes.s6_seconds as f64 * 100.0;
    Row {
        name: format!("S6 freshness, {label}"),
        stores: sizes.s6_stores,
        wall: sizes.s6_seconds as f64,
        cpu,
        rss_mb: usage.rss_mb,
        failed: usize::from(usage.exit != Some(0)),
        extra: format!(
            "every {interval} s, {} changes at {} a second: change to served p50 {:.1} s, \
             p99 {:.1} s, max {:.1} s, {lost} lost; POS menu requests a second peak {peak:.0} \
             vs mean {mean:.1} ({:.2}×); daemon CPU {share:.1}% of one core",
            latencies.len() + lost,
            sizes.s6_rate,
            quantile(0.5),
            quantile(0.99),
            latencies.last().copied().unwrap_or(f64::NAN),
            if mean > 0.0 { peak / mean } else { f64::NAN },
        ),
        ..Row::default()
    }
}
