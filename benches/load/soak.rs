//! SOAK (issue 23): `menusync run` for a set time on a fast schedule while the
//! POS changes prices, images and sold-out flags, some stores' endpoints fail
//! or slow down and heal, `stores.toml` is rewritten and reloaded by SIGHUP
//! (now and then a broken one, which must be refused) and SIGUSR1 fires. It
//! samples what could grow (RSS, fds, threads, files in the state dir and on
//! the target), reports growth after a warm-up, and at the end checks the
//! issue's bar: flat process, every store serving its last POS menu, image
//! files as the lifetime rule allows, no preview warning, a clean exit.

use std::collections::BTreeSet;

use super::*;
use scenarios::{now_secs, start_daemon, sync_every_store};
use soak_checks::{LogWatch, check_images, converge, growth_table};

/// What the soak is given (`--soak-stores`, `--soak-interval`, `--soak-secs`, `--soak-reload`).
pub(crate) struct SoakSizes {
    pub(crate) stores: usize,
    /// Seconds between cron ticks; divides 60.
    pub(crate) interval: u64,
    pub(crate) secs: u64,
    /// Seconds between SIGHUPs.
    pub(crate) reload: u64,
    pub(crate) concurrency: usize,
}

/// The daemon's process and folders, sampled.
#[derive(Clone, Copy, Default)]
pub(crate) struct Sample {
    /// Seconds into the churn.
    pub(crate) at: f64,
    pub(crate) rss_mb: f64,
    pub(crate) fds: f64,
    /// Of the fds, sockets (the POS connection pool, targets' pipes are not).
    pub(crate) sockets: f64,
    pub(crate) threads: f64,
    pub(crate) state_files: f64,
    pub(crate) target_files: f64,
}

fn sample(pid: u32, u: &Universe, at: f64) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    let links: Vec<PathBuf> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .collect();
    let sockets = links
        .iter()
        .filter(|link| link.to_string_lossy().starts_with("socket:"))
        .count();
    Sample {
        at,
        rss_mb: field("VmRSS:") / 1024.0,
        fds: links.len() as f64,
        sockets: sockets as f64,
        threads: field("Threads:"),
        state_files: count_files(&u.dir.path().join("state")) as f64,
        target_files: count_files(&u.dir.path().join("web")) as f64,
    }
}

/// Files (and links) under `dir`, recursively, without following links.
fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        match entry.file_type() {
            Ok(t) if t.is_dir() => n += count_files(&entry.path()),
            Ok(_) => n += 1,
            Err(_) => {}
        }
    }
    n
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: plain kill(2) on the daemon, our helper's child, not yet waited for.
    unsafe { libc::kill(libc::pid_t::try_from(pid).expect("pid fits"), sig) };
}

/// `stores.toml` split into its head and one block per store, to write any subset.
struct ConfigText {
    head: String,
    blocks: Vec<String>,
}

impl ConfigText {
    fn read(u: &Universe) -> ConfigText {
        let text = std::fs::read_to_string(&u.config_path).expect("config");
        let mut parts = text.split("\n[[store]]");
        let head = parts.next().unwrap_or_default().to_string();
        let blocks = parts.map(|b| format!("\n[[store]]{b}")).collect();
        ConfigText { head, blocks }
    }

    /// Replaces the file in one rename, so the daemon never reads half of it.
    fn write(&self, u: &Universe, active: &BTreeSet<usize>, broken: Option<&str>) {
        let mut text = self.head.clone();
        for &n in active {
            text.push_str(&self.blocks[n]);
        }
        text.push_str(broken.unwrap_or_default());
        let temp = u.config_path.with_extension("toml.next");
        std::fs::write(&temp, text).expect("write stores.toml");
        std::fs::rename(&temp, &u.config_path).expect("rename stores.toml");
    }
}

/// Two ways a staff member breaks the file: bad TOML, and a misspelt key.
const BROKEN: [&str; 2] = [
    "\n[[store]\nid = \"half\"\n",
    "\n[[store]]\nid = \"typo\"\nname = \"오타\"\npos = \"bench\"\npos_store_id = \"x\"\nschedul = \"* * * * * *\"\n",
];

/// What the churn loop did, for the report.
#[derive(Default)]
struct Churned {
    changes: usize,
    faults: usize,
    reloads: usize,
    broken: usize,
    usr1: usize,
}

/// How often each kind of churn comes, from the run's length.
struct Pace {
    secs: f64,
    warmup: f64,
    sample_every: f64,
    fault_every: f64,
    usr1_every: f64,
    reload_every: f64,
    /// POS changes a second, and stores put at fault each fault round.
    per_round: usize,
}

impl Pace {
    fn new(sizes: &SoakSizes) -> Pace {
        let secs = sizes.secs as f64;
        Pace {
            secs,
            warmup: (secs / 10.0).max(60f64.min(secs / 2.0)),
            sample_every: (secs / 20.0).clamp(1.0, 5.0),
            fault_every: (secs / 6.0).clamp(4.0, 30.0),
            usr1_every: (secs / 3.0).clamp(8.0, 60.0),
            reload_every: sizes.reload as f64,
            per_round: (sizes.stores / 100).max(1),
        }
    }
}

/// One soak in progress: the world, the running daemon, and what was done to it.
struct Soaking<'a> {
    pos: &'a Pos,
    u: Universe,
    config: ConfigText,
    /// The stores in `stores.toml` now (numbers into the pool).
    active: BTreeSet<usize>,
    pool: usize,
    pid: u32,
    rng: u64,
    log: LogWatch,
    samples: Vec<Sample>,
    /// Stores at fault, and until when (seconds into the run).
    faulty: Vec<(String, f64)>,
    done: Churned,
}

pub(crate) async fn soak(pos: &Pos, sizes: &SoakSizes, plan: &Plan) -> Row {
    let pool = sizes.stores + (sizes.stores / 10).max(2);
    let u = universe(
        pos,
        &Shape {
            name: "soak",
            stores: pool,
            images: 4,
            items: 12,
            concurrency: sizes.concurrency,
            schedule: Some(format!("*/{} * * * * *", sizes.interval)),
            daemon_extra: "",
            target: Some(WEB),
            sections: "",
        },
    );
    // Every store of the pool has a release and a target folder before the
    // daemon starts, so the files a store added back brings are not growth.
    sync_every_store(pos, &u, "SOAK").await;
    let config = ConfigText::read(&u);
    let active: BTreeSet<usize> = (0..sizes.stores).collect();
    config.write(&u, &active, None);
    let daemon = start_daemon(pos, &u, plan, "SOAK").await;
    pos.control(reqwest::Method::POST, "_record_off", String::new())
        .await;
    let pace = Pace::new(sizes);
    let mut soaking = Soaking {
        pos,
        u,
        config,
        active,
        pool,
        pid: daemon.pid,
        rng: seeded(&[23]),
        log: LogWatch::new(now_secs()),
        samples: Vec::new(),
        faulty: Vec::new(),
        done: Churned::default(),
    };
    let cpu0 = cpu_seconds_of(daemon.pid);
    let churn_end = soaking.churn(&pace).await;
    let mut problems = Vec::new();
    let converged = soaking.quiet(sizes.interval, &mut problems).await;
    let cpu = cpu_seconds_of(daemon.pid) - cpu0;
    terminate(daemon.pid);
    let usage = tokio::task::spawn_blocking(move || daemon.wait())
        .await
        .expect("wait");
    soaking.log.poll(&soaking.u.log_path());
    let growth = growth_table(&soaking.samples, pace.warmup, churn_end, &mut problems);
    soaking.check_log(&usage, &mut problems);
    println!(
        "SOAK: {} stores (pool {pool}), every {} s, {} s (warm-up {:.0} s, samples every {:.0} s), \
         reload every {} s\n{growth}",
        sizes.stores, sizes.interval, sizes.secs, pace.warmup, pace.sample_every, sizes.reload
    );
    for p in &problems {
        println!("SOAK check failed: {p}");
    }
    let share = cpu / (now_secs() - soaking.log.start) * 100.0;
    let mut row = Row {
        name: "SOAK reloads, churn, faults".to_string(),
        stores: sizes.stores,
        wall: churn_end,
        cpu,
        rss_mb: usage.rss_mb,
        served: pos.stats().await,
        failed: problems.len(),
        ..Row::default()
    };
    row.extra = soaking.summary(&pace, &converged, &usage, share, &problems);
    row
}

impl Soaking<'_> {
    /// Churns until the run's time is up; returns when that was (seconds in).
    async fn churn(&mut self, pace: &Pace) -> f64 {
        let start = self.log.start;
        let (mut next_sample, mut next_change) = (0.0, 1.0);
        let (mut next_fault, mut next_reload, mut next_usr1) =
            (pace.fault_every / 2.0, pace.reload_every, pace.usr1_every);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let at = now_secs() - start;
            if at >= pace.secs {
                break;
            }
            self.log.poll(&self.u.log_path());
            if at >= next_sample {
                next_sample += pace.sample_every;
                self.samples.push(sample(self.pid, &self.u, at));
            }
            if at >= next_change {
                next_change += 1.0;
                self.change(pace.per_round).await;
            }
            if at >= next_fault {
                next_fault += pace.fault_every;
                self.fault(at, pace).await;
            }
            if at >= next_reload {
                next_reload += pace.reload_every;
                self.reload().await;
            }
            if at >= next_usr1 {
                next_usr1 += pace.usr1_every;
                signal(self.pid, libc::SIGUSR1);
                self.done.usr1 += 1;
            }
        }
        let churn_end = now_secs() - start;
        self.samples.push(sample(self.pid, &self.u, churn_end));
        churn_end
    }

    async fn tell_pos(&self, change: String) {
        self.pos
            .control(reqwest::Method::POST, "_change", change)
            .await;
    }

    /// `n` POS changes to random stores: a price, an image, a sold-out flag in turn.
    async fn change(&mut self, n: usize) {
        for _ in 0..n {
            let store = &self.u.pos_ids[pick(&self.active, &mut self.rng)];
            let change = match self.done.changes % 3 {
                0 => format!("price {store}"),
                1 => format!("image {store} {}", xorshift(&mut self.rng) % 4),
                _ => format!("soldout {store}"),
            };
            self.tell_pos(change).await;
            self.done.changes += 1;
        }
    }

    /// Heals the stores whose fault is over and puts new ones at fault: half
    /// answering 500, half answering after 3 s, each for 1.5 fault rounds.
    async fn fault(&mut self, at: f64, pace: &Pace) {
        let over: Vec<String> = self
            .faulty
            .iter()
            .filter(|(_, until)| *until <= at)
            .map(|(store, _)| store.clone())
            .collect();
        for store in over {
            self.tell_pos(format!("heal {store}")).await;
        }
        self.faulty.retain(|(_, until)| *until > at);
        for k in 0..pace.per_round {
            let store = self.u.pos_ids[pick(&self.active, &mut self.rng)].clone();
            let fault = if k % 2 == 0 {
                format!("fail {store}")
            } else {
                format!("slow {store} 3000")
            };
            self.tell_pos(fault).await;
            self.faulty.push((store, at + pace.fault_every * 1.5));
            self.done.faults += 1;
        }
    }

    /// One SIGHUP: every fourth a broken file (which must be refused) and then
    /// a good one; otherwise one store removed and one added back from the pool.
    async fn reload(&mut self) {
        self.done.reloads += 1;
        if self.done.reloads.is_multiple_of(4) {
            let broken = BROKEN[self.done.broken % BROKEN.len()];
            self.config.write(&self.u, &self.active, Some(broken));
            self.done.broken += 1;
            let refused = self.log.refused;
            signal(self.pid, libc::SIGHUP);
            // The good file goes in only once the daemon has read the broken one.
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.log.refused == refused && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.log.poll(&self.u.log_path());
            }
        } else {
            let out = pick(&self.active, &mut self.rng);
            self.active.remove(&out);
            let back = loop {
                let n = (xorshift(&mut self.rng) % self.pool as u64) as usize;
                if !self.active.contains(&n) && n != out {
                    break n;
                }
            };
            self.active.insert(back);
        }
        self.config.write(&self.u, &self.active, None);
        signal(self.pid, libc::SIGHUP);
    }

    /// The quiet end: faults healed, a last price change to every store, then
    /// nothing until every store serves it; then the image check.
    async fn quiet(&mut self, interval: u64, problems: &mut Vec<String>) -> String {
        self.tell_pos("heal all".into()).await;
        for &n in &self.active {
            self.tell_pos(format!("price {}", self.u.pos_ids[n])).await;
        }
        let converged = converge(self.pos, &self.u, &self.active, interval, problems).await;
        check_images(&self.u, &self.active, problems);
        converged
    }

    /// What the daemon log and exit must show: no preview warning, no
    /// panic, every broken file refused, every good one applied, exit 0.
    fn check_log(&self, usage: &Usage, problems: &mut Vec<String>) {
        let (log, done) = (&self.log, &self.done);
        if log.preview_warnings > 0 {
            problems.push(format!("{} preview warnings", log.preview_warnings));
        }
        if log.panics > 0 {
            problems.push(format!("{} panics in the daemon log", log.panics));
        }
        if log.refused != done.broken {
            let sent = done.broken;
            problems.push(format!(
                "{sent} broken stores.toml sent, {} refused",
                log.refused
            ));
        }
        if log.reloaded != done.reloads {
            let sent = done.reloads;
            problems.push(format!(
                "{sent} good stores.toml sent, {} applied",
                log.reloaded
            ));
        }
        if usage.exit != Some(0) {
            problems.push(format!("exit on SIGTERM {:?}, not 0", usage.exit));
        }
    }

    fn summary(
        &self,
        pace: &Pace,
        converged: &str,
        usage: &Usage,
        share: f64,
        problems: &[String],
    ) -> String {
        let (log, done) = (&self.log, &self.done);
        let tasks = match (
            log.tasks.iter().find(|(at, _)| *at >= pace.warmup),
            log.tasks.last(),
        ) {
            (Some((_, a)), Some((_, b))) => format!("tasks alive at reload {a} → {b}"),
            _ => "no reload line with tasks".to_string(),
        };
        let images_ok = !problems.iter().any(|p| p.contains("image"));
        let failed = if problems.is_empty() {
            String::new()
        } else {
            format!("; FAILED: {}", problems.join("; "))
        };
        format!(
            "{} POS changes, {} POS faults, {} reloads of a good file ({} applied) and {} of a \
             broken one ({} refused), {} SIGUSR1; {tasks}; {} stores served their last POS menu \
             {converged}; images as the rule allows: {}; {} preview warnings; exit {:?}; daemon \
             CPU {share:.1}% of one core{failed}",
            done.changes,
            done.faults,
            done.reloads,
            log.reloaded,
            done.broken,
            log.refused,
            done.usr1,
            self.active.len(),
            if images_ok { "yes" } else { "no" },
            log.preview_warnings,
            usage.exit,
        )
    }
}

fn pick(active: &BTreeSet<usize>, rng: &mut u64) -> usize {
    let i = (xorshift(rng) % active.len() as u64) as usize;
    *active.iter().nth(i).expect("index within the set")
}
