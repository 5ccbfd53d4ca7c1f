//! Driving and measuring: the POS child, benchmark universes, the measured
//! daemon (wait4 rusage). The plain-client floor is in `floor.rs`.

use super::*;

pub(crate) struct Pos {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
}

impl Pos {
    pub(crate) fn start() -> Pos {
        let mut child = Command::new(std::env::current_exe().expect("exe"))
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the POS");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port");
        let base = format!("http://127.0.0.1:{}/", line.trim());
        Pos {
            child,
            base,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: String,
    ) -> String {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body)
            .send()
            .await
            .expect("control request");
        assert!(
            response.status().is_success(),
            "control {path}: {}",
            response.status()
        );
        response.text().await.expect("control body")
    }

    /// (requests, bytes) for menu, images list, image GETs.
    pub(crate) async fn stats(&self) -> [(u64, u64); 3] {
        let text = self
            .control(reqwest::Method::GET, "_stats", String::new())
            .await;
        let n: Vec<u64> = text
            .split(' ')
            .map(|x| x.parse().expect("number"))
            .collect();
        [(n[0], n[1]), (n[2], n[3]), (n[4], n[5])]
    }
}

impl Drop for Pos {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// One benchmark world: a state dir and a stores.toml over `stores` generated stores.
pub(crate) struct Universe {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config_path: PathBuf,
    /// menusync store ids, `s0`, `s1`, …
    pub(crate) ids: Vec<String>,
    /// The matching POS store ids.
    pub(crate) pos_ids: Vec<String>,
    pub(crate) concurrency: usize,
}

pub(crate) fn store_id(universe: &str, n: usize, k: usize, m: usize) -> String {
    format!("{universe}-{n}-k{k}-m{m}")
}

pub(crate) struct Shape<'a> {
    pub(crate) name: &'a str,
    pub(crate) stores: usize,
    pub(crate) images: usize,
    pub(crate) items: usize,
    pub(crate) concurrency: usize,
    /// Cron schedule for the daemon (S5); the default one otherwise.
    pub(crate) schedule: Option<String>,
    /// More `[daemon]` lines (S6: `splay = false`).
    pub(crate) daemon_extra: &'a str,
    /// Every store pushes to `[target.web]` (`kind = "rsync"` and these
    /// lines, e.g. [`WEB`]); `None`: no target.
    pub(crate) target: Option<&'a str>,
    /// More sections at the end of the file's head (FAILOVER: `[cluster]`).
    pub(crate) sections: &'a str,
}

/// `[target.web]` in the universe's own folder, `files` mode (S6, the soak).
pub(crate) const WEB: &str = "dest = \"web\"\n";

pub(crate) fn universe(pos: &Pos, shape: &Shape) -> Universe {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("key"), "bench-key\n").expect("key");
    let schedule = shape
        .schedule
        .as_ref()
        .map(|s| format!("schedule = \"{s}\"\n"))
        .unwrap_or_default();
    let mut text = format!(
        "[daemon]\nstate_dir = \"state\"\nio_concurrency = {}\n{schedule}{}\n\
         [pos.bench]\nkind = \"http\"\nbase_url = \"{}\"\napi_key_file = \"key\"\n\
         requests_per_second = 1000000\n",
        shape.concurrency, shape.daemon_extra, pos.base
    );
    let targets = match shape.target {
        Some(lines) => {
            text.push_str("\n[target.web]\nkind = \"rsync\"\n");
            text.push_str(lines);
            "targets = [\"web\"]\n"
        }
        None => "",
    };
    text.push_str(shape.sections);
    let mut ids = Vec::new();
    let mut pos_ids = Vec::new();
    for n in 0..shape.stores {
        let pos_id = store_id(shape.name, n, shape.images, shape.items);
        let _ = write!(
            text,
            "\n[[store]]\nid = \"s{n}\"\nname = \"벤치 {n}호점\"\npos = \"bench\"\npos_store_id = \"{pos_id}\"\n{targets}",
        );
        ids.push(format!("s{n}"));
        pos_ids.push(pos_id);
    }
    let config_path = dir.path().join("stores.toml");
    std::fs::write(&config_path, &text).expect("config");
    Universe {
        dir,
        config_path,
        ids,
        pos_ids,
        concurrency: shape.concurrency,
    }
}

impl Universe {
    /// Store `n`'s folder on the local web target.
    pub(crate) fn served(&self, n: usize) -> PathBuf {
        self.dir.path().join("web").join(&self.ids[n])
    }

    pub(crate) fn store_dir(&self, store: usize) -> PathBuf {
        self.dir.path().join("state/stores").join(&self.ids[store])
    }

    pub(crate) fn current_release(&self, store: usize) -> Option<PathBuf> {
        std::fs::canonicalize(self.store_dir(store).join("current")).ok()
    }

    /// The last error of a store whose last pass failed.
    pub(crate) fn failure(&self, store: usize) -> Option<String> {
        let text = std::fs::read_to_string(self.store_dir(store).join("state.json")).ok()?;
        let state: serde_json::Value = serde_json::from_str(&text).ok()?;
        (state["consecutive_failures"].as_u64() != Some(0)).then(|| state["last_error"].to_string())
    }

    pub(crate) fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// Starts the real binary on this universe's config (under `wrap`, if
    /// any), its output appended to daemon.log, through the `--measure` helper.
    pub(crate) fn spawn(&self, args: &[String], wrap: &[String]) -> Measured {
        let exe = env!("CARGO_BIN_EXE_menusync");
        let mut helper = Command::new(std::env::current_exe().expect("exe"));
        helper
            .arg("--measure")
            .arg(self.log_path())
            .arg("--")
            .args(wrap)
            .arg(exe)
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut helper = helper.spawn().expect("spawn the measuring helper");
        let mut lines = BufReader::new(helper.stdout.take().expect("stdout"));
        let mut line = String::new();
        lines
            .read_line(&mut line)
            .expect("the helper reports a pid");
        let pid = line
            .strip_prefix("pid ")
            .and_then(|pid| pid.trim().parse().ok())
            .unwrap_or_else(|| panic!("helper said {line:?}"));
        Measured { helper, pid, lines }
    }
}

/// A daemon process started through the helper: its pid, and later its usage.
pub(crate) struct Measured {
    pub(crate) helper: Child,
    pub(crate) pid: u32,
    pub(crate) lines: BufReader<std::process::ChildStdout>,
}

impl Measured {
    /// Waits for the daemon to end; blocking.
    pub(crate) fn wait(mut self) -> Usage {
        let mut line = String::new();
        self.lines
            .read_line(&mut line)
            .expect("the helper reports usage");
        let _ = self.helper.wait();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["usage", cpu, rss_mb, exit] => Usage {
                cpu: cpu.parse().expect("cpu"),
                rss_mb: rss_mb.parse().expect("rss"),
                exit: exit.parse().ok().filter(|code: &i32| *code >= 0),
            },
            _ => panic!("helper said {line:?}"),
        }
    }
}

/// `--measure LOG -- PROGRAM ARGS…`: runs PROGRAM with its output appended to
/// LOG, prints `pid N`, waits, prints `usage CPU_S RSS_MB EXIT`.
///
/// Linux carries the spawning process's RSS high-water mark into a child's
/// `ru_maxrss` (vfork shares the address space until exec), so the daemon is
/// spawned from this small process, not from the bench with its floor client.
pub(crate) fn measure(args: &[String]) {
    let [log, dashes, program, rest @ ..] = args else {
        panic!("usage: --measure LOG -- PROGRAM ARGS...");
    };
    assert_eq!(dashes, "--");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("daemon log");
    let child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("spawn the daemon");
    println!("pid {}", child.id());
    std::io::stdout().flush().expect("flush");
    let usage = wait_measured(child);
    println!(
        "usage {} {} {}",
        usage.cpu,
        usage.rss_mb,
        usage.exit.unwrap_or(-1)
    );
}

#[derive(Default, Clone)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) stores: usize,
    pub(crate) wall: f64,
    pub(crate) floor: Option<f64>,
    pub(crate) disk_floor: Option<f64>,
    pub(crate) cpu: f64,
    pub(crate) rss_mb: f64,
    pub(crate) served: [(u64, u64); 3],
    pub(crate) published: usize,
    pub(crate) unchanged: usize,
    pub(crate) failed: usize,
    pub(crate) extra: String,
}

/// What the kernel accounted to one child process.
pub(crate) struct Usage {
    pub(crate) cpu: f64,
    pub(crate) rss_mb: f64,
    pub(crate) exit: Option<i32>,
}

/// Waits for `child` and returns its own CPU time and peak RSS (wait4's rusage).
pub(crate) fn wait_measured(child: Child) -> Usage {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals; `pid` is our unwaited child.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4: {}", std::io::Error::last_os_error());
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Usage {
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        // ru_maxrss is in KiB on Linux.
        rss_mb: usage.ru_maxrss as f64 / 1024.0,
        exit: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
    }
}

/// Asks a daemon to stop, as systemd would.
pub(crate) fn terminate(pid: u32) {
    // SAFETY: plain kill(2) on a pid of our helper's child, which it has not waited for.
    unsafe { libc::kill(libc::pid_t::try_from(pid).expect("pid fits"), libc::SIGTERM) };
}

/// user+sys seconds of a running process, from /proc/<pid>/stat (100 ticks a second).
pub(crate) fn cpu_seconds_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 (utime, stime); `after` starts at field 3.
    (ticks(11) + ticks(12)) / 100.0
}

/// `menusync once` over `stores` (all of them when it is every store) as a child
/// process: wall, CPU and peak RSS are the daemon's alone.
pub(crate) async fn daemon_pass(
    pos: &Pos,
    u: &Universe,
    name: &str,
    stores: &[usize],
    wrap: &[String],
) -> Row {
    pos.control(reqwest::Method::POST, "_reset", String::new())
        .await;
    let before: Vec<_> = stores.iter().map(|&i| u.current_release(i)).collect();
    let mut args = vec!["once".to_string()];
    if stores.len() < u.ids.len() {
        for &i in stores {
            args.extend(["--store".to_string(), u.ids[i].clone()]);
        }
    }
    let started = Instant::now();
    let daemon = u.spawn(&args, wrap);
    let usage = tokio::task::spawn_blocking(move || daemon.wait())
        .await
        .expect("wait");
    let wall = started.elapsed().as_secs_f64();
    let mut row = Row {
        name: name.to_string(),
        stores: stores.len(),
        wall,
        cpu: usage.cpu,
        rss_mb: usage.rss_mb,
        served: pos.stats().await,
        ..Row::default()
    };
    for (&i, before) in stores.iter().zip(before) {
        if let Some(error) = u.failure(i) {
            if row.failed == 0 {
                eprintln!("first failure: {}: {error}", u.ids[i]);
            }
            row.failed += 1;
        } else if u.current_release(i) == before {
            row.unchanged += 1;
        } else {
            row.published += 1;
        }
    }
    if usage.exit != Some(0) && row.failed == 0 {
        row.failed = stores.len();
        eprintln!(
            "{name}: menusync exited with {:?}; see {}",
            usage.exit,
            u.log_path().display()
        );
    }
    row
}

/// Files in `new` (recursively) whose inode is not in `old`: (count, bytes).
pub(crate) fn written_files(old: &Path, new: &Path) -> (usize, u64, Vec<String>) {
    use std::os::unix::fs::MetadataExt;
    pub(crate) fn walk(dir: &Path, out: &mut Vec<(PathBuf, std::fs::Metadata)>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                walk(&entry.path(), out);
            } else {
                out.push((entry.path(), meta));
            }
        }
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    walk(old, &mut a);
    walk(new, &mut b);
    let inodes: std::collections::HashSet<u64> = a.iter().map(|(_, m)| m.ino()).collect();
    let mut names = Vec::new();
    let (mut count, mut bytes) = (0, 0);
    for (path, meta) in &b {
        if !inodes.contains(&meta.ino()) {
            count += 1;
            bytes += meta.len();
            names.push(path.strip_prefix(new).unwrap_or(path).display().to_string());
        }
    }
    (count, bytes, names)
}

pub(crate) struct Sizes {
    pub(crate) s1_stores: usize,
    pub(crate) s1_images: usize,
    pub(crate) big_stores: usize,
    pub(crate) big_images: usize,
    pub(crate) items: usize,
    pub(crate) concurrency: usize,
    pub(crate) s5_stores: usize,
    pub(crate) s5_items: usize,
    /// Seconds between S5 ticks; divides 60.
    pub(crate) s5_interval: u64,
    pub(crate) s5_ticks: u64,
    pub(crate) s6_stores: usize,
    /// Seconds between S6 ticks; divides 60.
    pub(crate) s6_interval: u64,
    /// How long S6 changes the POS, in seconds.
    pub(crate) s6_seconds: u64,
    /// POS changes a second during S6.
    pub(crate) s6_rate: f64,
    /// S8: one store of phone photos.
    pub(crate) photos: photos::PhotoSizes,
    pub(crate) soak: soak::SoakSizes,
    pub(crate) failover: failover::FailoverSizes,
    pub(crate) quiet: quiet::QuietSizes,
    /// S7: store events against a 5-minute schedule.
    pub(crate) events: events::EventSizes,
}

/// Which scenario groups run (`--only S1,S2,S5`) and what wraps the measured daemon.
pub(crate) struct Plan {
    pub(crate) groups: Vec<String>,
    pub(crate) wrap: Vec<String>,
    /// `--smoke`: the soak joins the other groups, in its short form.
    pub(crate) smoke: bool,
    /// More `[daemon]` lines for S1–S4 (`--no-variants`).
    pub(crate) daemon_extra: String,
    /// `--menusync PATH`: the build QUIET measures (another commit's, for a
    /// "before" row); this one's by default.
    pub(crate) menusync: Option<String>,
}

impl Plan {
    pub(crate) fn runs(&self, group: &str) -> bool {
        self.groups.is_empty() || self.named(group)
    }

    fn named(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g.eq_ignore_ascii_case(group))
    }

    /// The soak runs for an hour by default, so a full run leaves it out
    /// unless named (`--only SOAK`); the smoke runs its short form.
    pub(crate) fn runs_soak(&self) -> bool {
        self.named("SOAK") || (self.smoke && self.groups.is_empty())
    }
}
