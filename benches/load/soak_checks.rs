//! The soak's checks (see `soak.rs`): the daemon log's lines as it grows,
//! growth of the sampled values after the warm-up, every store serving its
//! last POS menu, and image files as the lifetime rule allows in every kept
//! release and on the target.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Seek as _};

use super::*;
use scenarios::now_secs;
use soak::Sample;

/// Reads the daemon log as it grows and counts the lines the soak checks.
pub(crate) struct LogWatch {
    /// Unix seconds the run started, to place each reload line.
    pub(crate) start: f64,
    pub(crate) offset: u64,
    pub(crate) refused: usize,
    pub(crate) reloaded: usize,
    pub(crate) preview_warnings: usize,
    pub(crate) panics: usize,
    /// `tasks=` of each "config reloaded" line: (seconds into the run, tasks).
    pub(crate) tasks: Vec<(f64, f64)>,
}

impl LogWatch {
    pub(crate) fn new(start: f64) -> LogWatch {
        LogWatch {
            start,
            offset: 0,
            refused: 0,
            reloaded: 0,
            preview_warnings: 0,
            panics: 0,
            tasks: Vec::new(),
        }
    }

    pub(crate) fn poll(&mut self, path: &Path) {
        let at = now_secs() - self.start;
        let Ok(mut file) = std::fs::File::open(path) else {
            return;
        };
        let mut bytes = Vec::new();
        if file.seek(std::io::SeekFrom::Start(self.offset)).is_err()
            || file.read_to_end(&mut bytes).is_err()
        {
            return;
        }
        // Only whole lines; a line being written is read next time.
        let Some(last) = bytes.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        self.offset += last as u64 + 1;
        for line in String::from_utf8_lossy(&bytes[..=last]).lines() {
            self.refused += usize::from(line.contains("reload refused"));
            self.preview_warnings += usize::from(line.contains("preview pages not written"));
            self.panics += usize::from(line.contains("panicked"));
            if line.contains("config reloaded") {
                self.reloaded += 1;
                let tasks = line
                    .split_once("tasks=")
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .and_then(|n| n.parse().ok());
                self.tasks.extend(tasks.map(|n| (at, n)));
            }
        }
    }
}

/// item id → (price, sold out), from a POS menu or a published menu.json.
type Prices = BTreeMap<String, (i64, bool)>;

fn pos_prices(menu: &serde_json::Value) -> Prices {
    menu["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let id = item["itemId"].as_str().unwrap_or_default().to_string();
            let price = item["price"].as_i64().unwrap_or(-1);
            (id, (price, item["soldOut"].as_bool().unwrap_or(false)))
        })
        .collect()
}

fn served_prices(menu: &serde_json::Value) -> Prices {
    menu["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|category| category["items"].as_array().into_iter().flatten())
        .map(|item| {
            let id = item["id"].as_str().unwrap_or_default().to_string();
            let price = item["price"].as_i64().unwrap_or(-1);
            (id, (price, item["soldOut"].as_bool().unwrap_or(false)))
        })
        .collect()
}

fn read_json(path: &Path) -> serde_json::Value {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Waits until every active store's `menu.json` on the target has the
/// prices and sold-out flags the POS serves now; says how long that took.
pub(crate) async fn converge(
    pos: &Pos,
    u: &Universe,
    active: &BTreeSet<usize>,
    interval: u64,
    problems: &mut Vec<String>,
) -> String {
    let mut want = BTreeMap::new();
    for &n in active {
        let body = serde_json::json!({ "storeId": u.pos_ids[n] }).to_string();
        let text = pos.control(reqwest::Method::POST, "api/menu", body).await;
        let menu: serde_json::Value = serde_json::from_str(&text).expect("POS menu is JSON");
        want.insert(n, pos_prices(&menu));
    }
    let started = Instant::now();
    let limit = Duration::from_secs((25 * interval).max(30));
    loop {
        want.retain(|&n, prices| {
            let served = u.served(n).join("data/menu.json");
            served_prices(&read_json(&served)) != *prices
        });
        if want.is_empty() {
            return format!(
                "within {:.1} s of the last change",
                started.elapsed().as_secs_f64()
            );
        }
        if started.elapsed() > limit {
            let some: Vec<&str> = want.keys().take(5).map(|&n| u.ids[n].as_str()).collect();
            problems.push(format!(
                "{} stores not serving their last POS menu {} s after the last change: {}",
                want.len(),
                limit.as_secs(),
                some.join(", ")
            ));
            return format!("except {} stores", want.len());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The image files the menu.json under `dir` names: each item's `image` and
/// every width of its `imageVariants` (the crate's own `Item::image_paths`).
fn named(dir: &Path) -> BTreeSet<String> {
    let Ok(menu) =
        serde_json::from_value::<menusync::menu::Menu>(read_json(&dir.join("data/menu.json")))
    else {
        return BTreeSet::new();
    };
    menu.items()
        .flat_map(|item| item.image_paths())
        .map(|path| path.trim_start_matches("/images/").to_string())
        .collect()
}

/// The lifetime rule with the default settings (`keep_releases = 5`, a grace of
/// an hour): every kept release holds what its own menu names; the current
/// release and the target hold nothing no kept release names; the target
/// holds exactly the current release's images.
pub(crate) fn check_images(u: &Universe, active: &BTreeSet<usize>, problems: &mut Vec<String>) {
    let mut broken = Vec::new();
    let (mut most, mut most_named) = (0, 0);
    for &n in active {
        let id = &u.ids[n];
        let store = u.dir.path().join("state/stores").join(id);
        let releases: Vec<PathBuf> = std::fs::read_dir(store.join("releases"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .collect();
        let mut allowed = BTreeSet::new();
        for release in &releases {
            let names = named(release);
            let missing = names.difference(&files_in(&release.join("images"))).count();
            if missing > 0 {
                broken.push(format!(
                    "{id}: a kept release lacks {missing} images its menu names"
                ));
            }
            allowed.extend(names);
        }
        let Ok(current) = std::fs::canonicalize(store.join("current")) else {
            broken.push(format!("{id}: no current release"));
            continue;
        };
        let held = files_in(&current.join("images"));
        let beyond = held.difference(&allowed).count();
        if beyond > 0 {
            broken.push(format!(
                "{id}: current release holds {beyond} images no kept release names"
            ));
        }
        let target = files_in(&u.dir.path().join("web").join(id).join("images"));
        if target != held {
            broken.push(format!(
                "{id}: target holds {} images, its release {} ({} not in the release)",
                target.len(),
                held.len(),
                target.difference(&held).count()
            ));
        }
        if held.len() > most {
            (most, most_named) = (held.len(), named(&current).len());
        }
    }
    if !broken.is_empty() {
        problems.push(format!(
            "images beyond the rule in {} places: {}",
            broken.len(),
            broken
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    eprintln!(
        "SOAK images: the fullest current release holds {most} image files, its menu names {most_named}"
    );
}

/// The growth of each sampled value from the warm-up's end to the churn's end,
/// as a Markdown table; RSS, fds and threads must stay within 5% (or +2).
///
/// Each end is a window of samples (a quarter of them, at least 3): for fds
/// and threads its lowest value, since a leak raises the floor while a busy
/// moment (passes in flight, slow POS answers, blocking threads) raises only
/// the peak; for RSS, which the allocator rarely gives back, its highest.
pub(crate) fn growth_table(
    samples: &[Sample],
    warmup: f64,
    churn_end: f64,
    problems: &mut Vec<String>,
) -> String {
    let post: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= warmup && s.at <= churn_end)
        .collect();
    if post.len() < 2 {
        problems.push(format!("only {} samples after the warm-up", post.len()));
        return String::new();
    }
    let window = (post.len() / 4).max(3).min(post.len() / 2).max(1);
    // A window of seconds (the smoke form) cannot tell a leak from a busy
    // connection pool: there the resources are reported, not judged.
    let judged = churn_end - warmup >= 120.0;
    let mut out = format!(
        "| sampled | after warm-up (t={:.0} s) | end (t={:.0} s) | growth | growth % | min–max after warm-up | bar | within |\n\
         |---|---|---|---|---|---|---|---|\n",
        post[0].at,
        post[post.len() - 1].at
    );
    type Get = fn(&Sample) -> f64;
    // (name, value, barred, the window's highest rather than its lowest)
    let metrics: [(&str, Get, bool, bool); 6] = [
        ("RSS MB (VmRSS), window peak", |s| s.rss_mb, true, true),
        ("open fds, window floor", |s| s.fds, true, false),
        (
            "of which sockets, window floor",
            |s| s.sockets,
            false,
            false,
        ),
        ("threads, window floor", |s| s.threads, true, false),
        (
            "files in the state dir, window peak",
            |s| s.state_files,
            false,
            true,
        ),
        (
            "files on the target, window peak",
            |s| s.target_files,
            false,
            true,
        ),
    ];
    for (name, get, barred, peak) in metrics {
        let of = |part: &[&Sample]| {
            let values = part.iter().map(|s| get(s));
            if peak {
                values.fold(f64::NAN, f64::max)
            } else {
                values.fold(f64::NAN, f64::min)
            }
        };
        let base = of(&post[..window]);
        let end = of(&post[post.len() - window..]);
        let (low, high) = post
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
                (lo.min(get(s)), hi.max(get(s)))
            });
        let growth = end - base;
        let percent = growth / base * 100.0;
        let allowed = (base * 0.05).max(2.0);
        let (bar, within) = if !barred || !judged {
            ("report only".to_string(), "–")
        } else if growth <= allowed {
            (format!("≤ +{allowed:.1}"), "yes")
        } else {
            problems.push(format!("{name} grew {base:.1} → {end:.1} ({percent:+.1}%)"));
            (format!("≤ +{allowed:.1}"), "**no**")
        };
        let _ = writeln!(
            out,
            "| {name} | {base:.1} | {end:.1} | {growth:+.1} | {percent:+.1}% | {low:.1}–{high:.1} | {bar} | {within} |"
        );
    }
    out
}
