//! The scenarios S1–S5, each returning its rows, and the order all groups run in.

use super::*;

/// S1 (first full sync) and S4 (one image change) on 200 stores × 100 images.
pub(crate) async fn first_sync_and_image_change(pos: &Pos, sizes: &Sizes, plan: &Plan) -> Vec<Row> {
    let a = universe(
        pos,
        &Shape {
            name: "a",
            stores: sizes.s1_stores,
            images: sizes.s1_images,
            items: sizes.items,
            concurrency: sizes.concurrency,
            schedule: None,
            daemon_extra: &plan.daemon_extra,
            target: None,
            sections: "",
        },
    );
    let all: Vec<usize> = (0..sizes.s1_stores).collect();
    let floor = floor_pass(pos, &a, Images::Discard).await;
    let mut s1 = daemon_pass(pos, &a, "S1 first full sync", &all, &plan.wrap).await;
    s1.floor = Some(floor);

    let before = a.current_release(0).expect("S1 published store 0");
    pos.control(
        reqwest::Method::POST,
        "_change",
        format!("image {} 1", a.pos_ids[0]),
    )
    .await;
    let mut s4 = daemon_pass(pos, &a, "S4 one image change, 1 store", &[0], &plan.wrap).await;
    let after = a.current_release(0).expect("S4 keeps a release");
    let (count, bytes, names) = written_files(&before, &after);
    s4.extra = format!("files written {count} ({bytes} B): {}", names.join(", "));
    // Last, so its 20,000 files (kept until the universe goes) disturb no measured run.
    s1.disk_floor = Some(floor_pass(pos, &a, Images::Durable).await);
    vec![s1, s4]
}

/// S2 (no-change pass) and S3 (one price change) on 1,000 stores, after an unmeasured first sync.
pub(crate) async fn quiet_passes(pos: &Pos, sizes: &Sizes, plan: &Plan) -> Vec<Row> {
    let b = universe(
        pos,
        &Shape {
            name: "b",
            stores: sizes.big_stores,
            images: sizes.big_images,
            items: sizes.items,
            concurrency: sizes.concurrency,
            schedule: None,
            daemon_extra: &plan.daemon_extra,
            target: None,
            sections: "",
        },
    );
    let all = sync_every_store(pos, &b, "S2").await;
    let floor = floor_pass(pos, &b, Images::Skip).await;
    let mut s2 = daemon_pass(pos, &b, "S2 no-change pass", &all, &plan.wrap).await;
    s2.floor = Some(floor);

    let changed = &b.pos_ids[sizes.big_stores / 2];
    pos.control(reqwest::Method::POST, "_change", format!("price {changed}"))
        .await;
    let s3 = daemon_pass(pos, &b, "S3 one price change", &all, &plan.wrap).await;
    vec![s2, s3]
}

/// The unmeasured first sync of every store of `u`, so that measured runs
/// start from published menus; returns the stores' numbers.
pub(crate) async fn sync_every_store(pos: &Pos, u: &Universe, label: &str) -> Vec<usize> {
    let all: Vec<usize> = (0..u.ids.len()).collect();
    let setup = daemon_pass(pos, u, "setup", &all, &[]).await;
    eprintln!(
        "{label} setup of {} stores: {:.1}s, {} failed",
        all.len(),
        setup.wall,
        setup.failed
    );
    all
}

/// The first whole multiple of `interval` seconds (Unix time) at least a
/// second from now: a cron tick the daemon cannot be about to miss.
pub(crate) fn next_tick(interval: f64) -> f64 {
    ((now_secs() + 1.0) / interval).ceil() * interval
}

pub(crate) fn now_secs() -> f64 {
    unix_ms() as f64 / 1000.0
}

pub(crate) async fn sleep_until_unix(at: f64) {
    let wait = at - now_secs();
    if wait > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    }
}

/// S5: `menusync run` with many stores on one cron schedule for several ticks.
/// The POS logs when each store's menu is fetched; every store should be fetched
/// exactly once between one tick and the next.
pub(crate) async fn scheduler_ticks(pos: &Pos, sizes: &Sizes, plan: &Plan) -> Row {
    let interval = sizes.s5_interval;
    let c = universe(
        pos,
        &Shape {
            name: "c",
            stores: sizes.s5_stores,
            images: 1,
            items: sizes.s5_items,
            concurrency: sizes.concurrency,
            schedule: Some(format!("*/{interval} * * * * *")),
            // S5 counts each store's fetch in its tick's window, so the stores
            // start at the tick; S6 measures splay.
            daemon_extra: "splay = false\n",
            target: None,
            sections: "",
        },
    );
    sync_every_store(pos, &c, "S5").await;

    let daemon = start_daemon(pos, &c, plan, "S5").await;
    let pid = daemon.pid;
    let interval_f = interval as f64;
    let first_tick = next_tick(interval_f);
    let end = first_tick + (sizes.s5_ticks * interval) as f64;
    sleep_until_unix(first_tick - 0.2).await;
    let cpu0 = cpu_seconds_of(pid);
    pos.control(reqwest::Method::POST, "_reset", String::new())
        .await;
    sleep_until_unix(end - 0.2).await;
    let cpu = cpu_seconds_of(pid) - cpu0;
    let served = pos.stats().await;
    let (log, usage) = stop_daemon(pos, daemon).await;

    let ticks = sizes.s5_ticks as usize;
    let mut counts = vec![vec![0u32; ticks]; sizes.s5_stores];
    let mut latest = 0.0f64;
    for line in log.lines() {
        let mut words = line.split(' ');
        let (Some(n), Some(ms)) = (words.next(), words.next()) else {
            continue;
        };
        let (Ok(n), Ok(ms)) = (n.parse::<usize>(), ms.parse::<f64>()) else {
            continue;
        };
        let at = ms / 1000.0;
        if at < first_tick || at >= end || n >= sizes.s5_stores {
            continue;
        }
        let tick = ((at - first_tick) / interval_f) as usize;
        counts[n][tick] += 1;
        latest = latest.max(at - first_tick - tick as f64 * interval_f);
    }
    let missed: usize = counts.iter().flatten().filter(|&&c| c == 0).count();
    let doubled: usize = counts.iter().flatten().filter(|&&c| c > 1).count();
    Row {
        name: "S5 scheduler ticks".to_string(),
        stores: sizes.s5_stores,
        wall: end - first_tick,
        cpu,
        rss_mb: usage.rss_mb,
        served,
        failed: usize::from(usage.exit != Some(0)),
        extra: format!(
            "{ticks} ticks every {interval} s over {} stores ({} items, 1 image each): \
             {missed} runs missed, {doubled} doubled; the last menu fetch of a tick came {latest:.2} s after it; \
             CPU is per store per tick",
            sizes.s5_stores, sizes.s5_items
        ),
        ..Row::default()
    }
}

/// `menusync run` on `u`, with the POS recording every menu request, once
/// its own first pass has fetched every store (counting starts after it).
pub(crate) async fn start_daemon(pos: &Pos, u: &Universe, plan: &Plan, label: &str) -> Measured {
    pos.control(reqwest::Method::POST, "_record", String::new())
        .await;
    let daemon = u.spawn(&["run".to_string()], &plan.wrap);
    let pid = daemon.pid;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let log = pos
            .control(reqwest::Method::GET, "_log", String::new())
            .await;
        if log.lines().count() >= u.ids.len() {
            return daemon;
        }
        if Instant::now() > deadline || !Path::new(&format!("/proc/{pid}")).exists() {
            terminate(pid);
            panic!(
                "{label}: the daemon's first pass did not finish; see {}",
                u.log_path().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Stops a daemon from [`start_daemon`]; returns the POS's log of menu
/// requests and what the daemon used.
pub(crate) async fn stop_daemon(pos: &Pos, daemon: Measured) -> (String, Usage) {
    let log = pos
        .control(reqwest::Method::GET, "_log", String::new())
        .await;
    terminate(daemon.pid);
    let usage = tokio::task::spawn_blocking(move || daemon.wait())
        .await
        .expect("wait");
    (log, usage)
}

pub(crate) async fn run_all(sizes: &Sizes, plan: &Plan) -> Vec<Row> {
    let pos = Pos::start();
    let mut rows = Vec::new();
    if plan.runs("S1") {
        rows.extend(first_sync_and_image_change(&pos, sizes, plan).await);
    }
    if plan.runs("S2") {
        rows.extend(quiet_passes(&pos, sizes, plan).await);
    }
    if plan.runs("S5") {
        rows.push(scheduler_ticks(&pos, sizes, plan).await);
    }
    if plan.runs("S8") {
        rows.extend(photos::phone_photos(&sizes.photos, plan).await);
    }
    if plan.runs("S6") {
        // The before row (every store at the tick) beside the splayed one, in one run.
        rows.push(freshness::freshness(&pos, sizes, plan, false).await);
        rows.push(freshness::freshness(&pos, sizes, plan, true).await);
    }
    if plan.runs("QUIET") {
        let exe = plan
            .menusync
            .clone()
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_menusync").to_string());
        let label = if plan.menusync.is_some() {
            " (--menusync)"
        } else {
            ""
        };
        rows.extend(quiet::quiet(&sizes.quiet, &exe, label).await);
    }
    if plan.runs("S7") {
        rows.push(events::events(&pos, &sizes.events, plan).await);
    }
    if plan.runs("FAILOVER") {
        rows.push(failover::failover(&pos, &sizes.failover, plan).await);
    }
    if plan.runs_soak() {
        rows.push(soak::soak(&pos, &sizes.soak, plan).await);
    }
    rows
}
