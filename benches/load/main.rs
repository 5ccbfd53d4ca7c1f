//! Load benchmark (issue 7): a deterministic reference-protocol POS on loopback,
//! the daemon driven in-process through the library, and a plain-client floor.
//!
//! `cargo bench --bench load -- --smoke` (CI, seconds) or
//! `cargo bench --bench load -- --write BENCHMARKS.md` (full run).
//! The POS runs as a child process of this binary (`--serve`), so the CPU time and
//! peak RSS measured here are the daemon's (plus the floor client's own run), not
//! the server's. The child exits when its stdin closes or after four hours
//! (longer than the one-hour soak with its setup).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub(crate) const SEED: u64 = 0x6d65_6e75_7379_6e63;
const PNG: &[u8] = include_bytes!("../../fixtures/pos/S001/img/IMG102.png");
const MAX_CONNECTIONS: u64 = 10_000_000;
const MAX_REQUESTS_PER_CONNECTION: u64 = 10_000_000;
const IDLE: Duration = Duration::from_secs(30);
const SERVER_LIFETIME: Duration = Duration::from_secs(4 * 3600);

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

fn seeded(parts: &[u64]) -> u64 {
    let mut state = SEED;
    for part in parts {
        state ^= part.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        xorshift(&mut state);
        xorshift(&mut state);
    }
    state | 1
}

#[allow(dead_code)]
#[path = "../../tests/common/etcd.rs"]
mod etcd;
mod events;
mod failover;
mod floor;
mod freshness;
mod harness;
mod photos;
mod pos;
mod quiet;
mod report;
mod scenarios;
mod soak;
mod soak_checks;

use floor::*;
use harness::*;
use pos::*;
use report::*;
use scenarios::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--serve") {
        serve();
        return;
    }
    if args.first().is_some_and(|a| a == "--measure") {
        measure(&args[1..]);
        return;
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let smoke = args.iter().any(|a| a == "--smoke");
    let write = value("--write");
    let plan = Plan {
        groups: value("--only")
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        wrap: value("--wrap")
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        smoke,
        // `--no-variants`: S1–S4 with photos published as sent (issue 26's "off").
        daemon_extra: if args.iter().any(|a| a == "--no-variants") {
            "image_variants = false".to_string()
        } else {
            String::new()
        },
        menusync: value("--menusync"),
    };
    let mut sizes = if smoke {
        Sizes {
            s1_stores: 20,
            s1_images: 3,
            big_stores: 20,
            big_images: 3,
            items: 10,
            concurrency: 16,
            s5_stores: 50,
            s5_items: 5,
            s5_interval: 2,
            s5_ticks: 2,
            s6_stores: 30,
            s6_interval: 3,
            s6_seconds: 6,
            s6_rate: 2.0,
            photos: photos::PhotoSizes {
                items: 4,
                width: 1008,
                height: 756,
            },
            soak: soak::SoakSizes {
                stores: 20,
                interval: 1,
                secs: 25,
                reload: 3,
                concurrency: 16,
            },
            failover: failover::FailoverSizes {
                stores: 5,
                kills: 2,
                ttl: 2,
            },
            quiet: quiet::QuietSizes {
                stores: 5,
                items: 20,
                interval: 1,
                ticks: 3,
            },
            events: events::EventSizes {
                stores: 30,
                rate: 5.0,
                seconds: 4,
                at_tick: false,
            },
        }
    } else {
        Sizes {
            s1_stores: 200,
            s1_images: 100,
            big_stores: 1000,
            big_images: 10,
            items: 100,
            concurrency: 64,
            s5_stores: 10_000,
            s5_items: 10,
            s5_interval: 30,
            s5_ticks: 4,
            s6_stores: 1000,
            s6_interval: 15,
            s6_seconds: 150,
            s6_rate: 2.0,
            photos: photos::PhotoSizes {
                items: 40,
                width: 4032,
                height: 3024,
            },
            soak: soak::SoakSizes {
                stores: 300,
                interval: 2,
                secs: 3600,
                reload: 10,
                concurrency: 64,
            },
            failover: failover::FailoverSizes {
                stores: 20,
                kills: 20,
                ttl: 10,
            },
            quiet: quiet::QuietSizes {
                stores: 100,
                items: 600,
                interval: 5,
                ticks: 6,
            },
            events: events::EventSizes {
                stores: 1000,
                rate: 10.0,
                seconds: 60,
                at_tick: false,
            },
        }
    };
    let number = |flag: &str| value(flag).and_then(|v| v.parse::<u64>().ok());
    sizes.soak.stores = number("--soak-stores").map_or(sizes.soak.stores, |n| n as usize);
    sizes.soak.interval = number("--soak-interval").unwrap_or(sizes.soak.interval);
    sizes.soak.secs = number("--soak-secs").unwrap_or(sizes.soak.secs);
    sizes.soak.reload = number("--soak-reload").unwrap_or(sizes.soak.reload);
    sizes.failover.stores =
        number("--failover-stores").map_or(sizes.failover.stores, |n| n as usize);
    sizes.failover.kills = number("--failover-kills").map_or(sizes.failover.kills, |n| n as usize);
    sizes.failover.ttl = number("--failover-ttl").unwrap_or(sizes.failover.ttl);
    sizes.quiet.stores = number("--quiet-stores").map_or(sizes.quiet.stores, |n| n as usize);
    sizes.quiet.ticks = number("--quiet-ticks").unwrap_or(sizes.quiet.ticks);
    sizes.events.at_tick = args.iter().any(|a| a == "--events-at-tick");
    // `--scale 0.1`: a tenth of the stores in every scenario (for profiling runs).
    if let Some(scale) = value("--scale").and_then(|v| v.parse::<f64>().ok()) {
        let scaled = |n: usize| ((n as f64 * scale).round() as usize).max(1);
        sizes.s1_stores = scaled(sizes.s1_stores);
        sizes.big_stores = scaled(sizes.big_stores);
        sizes.s5_stores = scaled(sizes.s5_stores);
        sizes.s6_stores = scaled(sizes.s6_stores);
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let started = Instant::now();
    let rows = runtime.block_on(run_all(&sizes, &plan));
    let problems = check(&rows);
    let table = table(&rows);
    println!("{table}");
    for row in &rows {
        if !row.extra.is_empty() {
            println!("{}: {}", row.name, row.extra);
        }
    }
    println!(
        "machine: {}; total {:.1}s",
        machine(),
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = write {
        let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
        let extras: String = rows
            .iter()
            .filter(|r| !r.extra.is_empty())
            .map(|r| format!("- {}: {}\n", r.name, r.extra))
            .collect();
        let generated = format!(
            "Measured {date} on {}.\n\nCommand: `cargo bench --locked --bench load -- --write BENCHMARKS.md`\n\n\
             Sizes: S1/S4 {} stores × {} images × {} items; S2/S3 {} stores × {} images × {} items; \
             S5 {} stores × {} items × 1 image, a tick every {} s; concurrency {}.\n\n{table}\n{extras}",
            machine(),
            sizes.s1_stores,
            sizes.s1_images,
            sizes.items,
            sizes.big_stores,
            sizes.big_images,
            sizes.items,
            sizes.s5_stores,
            sizes.s5_items,
            sizes.s5_interval,
            sizes.concurrency
        );
        write_report(&path, &generated);
        println!("wrote {path}");
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("FAILED: {p}");
        }
        std::process::exit(1);
    }
}
