//! Load benchmark (issue 7): a deterministic reference-protocol POS on loopback,
//! the daemon driven in-process through the library, and a plain-client floor.
//!
//! `cargo bench --bench load -- --smoke` (CI, seconds) or
//! `cargo bench --bench load -- --write BENCHMARKS.md` (full run).
//! The POS runs as a child process of this binary (`--serve`), so the CPU time and
//! peak RSS measured here are the daemon's (plus the floor client's own run), not
//! the server's. The child exits when its stdin closes or after an hour.

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

const SEED: u64 = 0x6d65_6e75_7379_6e63;
const PNG: &[u8] = include_bytes!("../fixtures/pos/S001/img/IMG102.png");
const MAX_CONNECTIONS: u64 = 10_000_000;
const MAX_REQUESTS_PER_CONNECTION: u64 = 10_000_000;
const IDLE: Duration = Duration::from_secs(30);
const SERVER_LIFETIME: Duration = Duration::from_secs(3600);

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

// ---------------------------------------------------------------- the POS

/// Per store id (`<universe>-<n>-k<K>-m<M>`): its menu version and per-image versions.
#[derive(Default)]
struct PosState {
    menu_version: HashMap<String, u64>,
    image_version: HashMap<(String, u64), u64>,
    counters: [(u64, u64); 3],
    /// While on (S5): (store number, unix ms) of every menu request.
    recording: Option<Vec<(u64, u128)>>,
}

fn parse_store(id: &str) -> Option<(u64, u64, u64)> {
    let mut parts = id.split('-');
    let _universe = parts.next()?;
    let n = parts.next()?.parse().ok()?;
    let k = parts.next()?.strip_prefix('k')?.parse().ok()?;
    let m = parts.next()?.strip_prefix('m')?.parse().ok()?;
    Some((n, k, m))
}

const SYLLABLES: &[&str] = &[
    "아", "메", "리", "카", "노", "라", "떼", "바", "닐", "초", "코", "녹", "차", "딸", "기", "치",
    "즈", "케", "이", "크", "고", "구", "마", "호", "두", "빵", "우", "유", "레", "몬", "자", "몽",
];
const WORDS: &[&str] = &[
    "깔끔한",
    "진한",
    "달콤한",
    "고소한",
    "신선한",
    "부드러운",
    "향긋한",
    "매일",
    "직접",
    "구운",
    "원두로",
    "내린",
    "제철",
    "과일을",
    "듬뿍",
    "넣은",
    "시그니처",
    "음료",
];

fn korean_name(rng: &mut u64) -> String {
    let len = 2 + xorshift(rng) % 4;
    (0..len)
        .map(|_| SYLLABLES[(xorshift(rng) % SYLLABLES.len() as u64) as usize])
        .collect()
}

fn menu_body(store: &str, n: u64, k: u64, m: u64, version: u64) -> Vec<u8> {
    let mut rng = seeded(&[1, n]);
    let target = 30_000 + xorshift(&mut rng) % 50_000;
    let per_item = (target / m.max(1)).saturating_sub(420) as usize;
    let categories: Vec<_> = (0..4)
        .map(|c| {
            serde_json::json!({"categoryId": format!("C{c}"), "name": korean_name(&mut rng),
                "displayOrder": c, "visible": true})
        })
        .collect();
    let items: Vec<_> = (0..m)
        .map(|i| {
            let mut description = String::new();
            while description.len() < per_item {
                description.push_str(WORDS[(xorshift(&mut rng) % WORDS.len() as u64) as usize]);
                description.push(' ');
            }
            let mut price = 1000 + (xorshift(&mut rng) % 90) * 100;
            if i == 0 {
                price += version * 100;
            }
            serde_json::json!({
                "itemId": format!("I{i}"), "categoryId": format!("C{}", i % 4),
                "name": korean_name(&mut rng), "nameEn": format!("Item {i}"),
                "description": description, "price": price, "displayOrder": i,
                "soldOut": false, "visible": true, "imageId": format!("IMG{}", i % k.max(1)),
                "tags": ["best"],
                "optionGroups": [{"groupId": "G1", "name": "사이즈", "minSelect": 1, "maxSelect": 1,
                    "options": [{"optionId": "O1", "name": "Regular", "price": 0, "soldOut": false},
                                {"optionId": "O2", "name": "Large", "price": 500, "soldOut": false}]}]
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"storeId": store, "version": version,
        "currency": "KRW", "categories": categories, "items": items}))
    .expect("JSON serialises")
}

fn image_len(n: u64, j: u64, version: u64) -> u64 {
    5_000 + seeded(&[2, n, j, version]) % 45_000
}

fn image_body(n: u64, j: u64, version: u64) -> Vec<u8> {
    let len = image_len(n, j, version) as usize;
    let mut body = PNG.to_vec();
    let mut rng = seeded(&[3, n, j, version]);
    while body.len() < len {
        body.extend_from_slice(&xorshift(&mut rng).to_le_bytes());
    }
    body.truncate(len.max(PNG.len()));
    body
}

fn images_body(state: &PosState, store: &str, n: u64, k: u64) -> Vec<u8> {
    let images: Vec<_> = (0..k)
        .map(|j| {
            let v = state
                .image_version
                .get(&(store.to_string(), j))
                .copied()
                .unwrap_or(0);
            serde_json::json!({"imageId": format!("IMG{j}"), "url": format!("img/{n}/{j}/{v}.png"),
                "contentType": "image/png", "size": image_len(n, j, v).max(PNG.len() as u64),
                "updatedAt": format!("2026-11-20T09:00:{:02}+09:00", v % 60)})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "images": images })).expect("JSON serialises")
}

/// Answers one request: (status, body, counter slot).
fn route(state: &Mutex<PosState>, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut state = state.lock().expect("not poisoned");
    let store_of = |body: &[u8]| -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        Some(v.get("storeId")?.as_str()?.to_string())
    };
    let (slot, reply) = match (method, path) {
        ("POST", "/api/menu") => {
            let Some((store, (n, k, m))) =
                store_of(body).and_then(|s| Some((s.clone(), parse_store(&s)?)))
            else {
                return (404, b"{}".to_vec());
            };
            let v = state.menu_version.get(&store).copied().unwrap_or(0);
            if let Some(log) = &mut state.recording {
                log.push((n, unix_ms()));
            }
            (0, menu_body(&store, n, k, m, v))
        }
        ("POST", "/api/images") => {
            let Some((store, (n, k, _))) =
                store_of(body).and_then(|s| Some((s.clone(), parse_store(&s)?)))
            else {
                return (404, b"{}".to_vec());
            };
            (1, images_body(&state, &store, n, k))
        }
        ("GET", p) if p.starts_with("/img/") => {
            let nums: Vec<u64> = p[5..]
                .trim_end_matches(".png")
                .split('/')
                .filter_map(|x| x.parse().ok())
                .collect();
            let [n, j, v] = nums[..] else {
                return (404, Vec::new());
            };
            (2, image_body(n, j, v))
        }
        ("GET", "/_stats") => {
            let c = state.counters;
            return (
                200,
                format!(
                    "{} {} {} {} {} {}",
                    c[0].0, c[0].1, c[1].0, c[1].1, c[2].0, c[2].1
                )
                .into_bytes(),
            );
        }
        ("POST", "/_record") => {
            state.recording = Some(Vec::new());
            return (200, Vec::new());
        }
        ("GET", "/_log") => {
            let mut text = String::new();
            for (n, ms) in state.recording.iter().flatten() {
                let _ = writeln!(text, "{n} {ms}");
            }
            return (200, text.into_bytes());
        }
        ("POST", "/_reset") => {
            state.counters = Default::default();
            return (200, Vec::new());
        }
        // "price <store>", "image <store> <j>", or "share <fraction> <stores> <universe> <k> <m> <pass>"
        ("POST", "/_change") => {
            let text = String::from_utf8_lossy(body).to_string();
            let words: Vec<&str> = text.split_whitespace().collect();
            let mut changed = 0u64;
            match words[..] {
                ["price", store] => {
                    *state.menu_version.entry(store.to_string()).or_default() += 1;
                    changed = 1;
                }
                ["image", store, j] => {
                    let j = j.parse().unwrap_or(0);
                    *state
                        .image_version
                        .entry((store.to_string(), j))
                        .or_default() += 1;
                    changed = 1;
                }
                ["share", fraction, stores, universe, k, m, pass] => {
                    let fraction: f64 = fraction.parse().unwrap_or(0.0);
                    let stores: u64 = stores.parse().unwrap_or(0);
                    let pass: u64 = pass.parse().unwrap_or(0);
                    for n in 0..stores {
                        if (seeded(&[4, n, pass]) % 1_000_000) as f64 / 1e6 < fraction {
                            let id = format!("{universe}-{n}-k{k}-m{m}");
                            *state.menu_version.entry(id).or_default() += 1;
                            changed += 1;
                        }
                    }
                }
                _ => return (400, Vec::new()),
            }
            return (200, changed.to_string().into_bytes());
        }
        _ => return (404, Vec::new()),
    };
    state.counters[slot].0 += 1;
    state.counters[slot].1 += reply.len() as u64;
    (200, reply)
}

async fn serve_connection(mut stream: TcpStream, state: Arc<Mutex<PosState>>) {
    let mut buf = Vec::with_capacity(8192);
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        // Read a head.
        let head_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            if buf.len() > 64 * 1024 {
                return;
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout(IDLE, stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let length: usize = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        if length > 1024 * 1024 {
            return;
        }
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout(IDLE, stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        let (status, reply) = route(&state, &method, &path, &body);
        let kind = if path.starts_with("/img/") {
            "image/png"
        } else {
            "application/json"
        };
        let mut out = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        )
        .into_bytes();
        out.extend_from_slice(&reply);
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn serve() {
    // Stop when the parent closes our stdin (or dies), or after SERVER_LIFETIME.
    std::thread::spawn(|| {
        let mut sink = String::new();
        let _ = std::io::stdin().read_line(&mut sink);
        std::process::exit(0);
    });
    std::thread::spawn(|| {
        std::thread::sleep(SERVER_LIFETIME);
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("{}", listener.local_addr().expect("addr").port());
        std::io::stdout().flush().expect("flush");
        let state = Arc::new(Mutex::new(PosState::default()));
        for _ in 0..MAX_CONNECTIONS {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve_connection(stream, Arc::clone(&state)));
        }
    });
}

// ---------------------------------------------------------------- the harness

struct Pos {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Pos {
    fn start() -> Pos {
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

    async fn control(&self, method: reqwest::Method, path: &str, body: String) -> String {
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
    async fn stats(&self) -> [(u64, u64); 3] {
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
struct Universe {
    dir: tempfile::TempDir,
    config_path: PathBuf,
    /// menusync store ids, `s0`, `s1`, …
    ids: Vec<String>,
    /// The matching POS store ids.
    pos_ids: Vec<String>,
    concurrency: usize,
}

fn store_id(universe: &str, n: usize, k: usize, m: usize) -> String {
    format!("{universe}-{n}-k{k}-m{m}")
}

struct Shape<'a> {
    name: &'a str,
    stores: usize,
    images: usize,
    items: usize,
    concurrency: usize,
    /// Cron schedule for the daemon (S5); the default one otherwise.
    schedule: Option<String>,
}

fn universe(pos: &Pos, shape: &Shape) -> Universe {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("key"), "bench-key\n").expect("key");
    let schedule = shape
        .schedule
        .as_ref()
        .map(|s| format!("schedule = \"{s}\"\n"))
        .unwrap_or_default();
    let mut text = format!(
        "[daemon]\nstate_dir = \"state\"\nio_concurrency = {}\n{schedule}\n\
         [pos.bench]\nkind = \"http\"\nbase_url = \"{}\"\napi_key_file = \"key\"\n\
         requests_per_second = 1000000\n",
        shape.concurrency, pos.base
    );
    let mut ids = Vec::new();
    let mut pos_ids = Vec::new();
    for n in 0..shape.stores {
        let pos_id = store_id(shape.name, n, shape.images, shape.items);
        let _ = write!(
            text,
            "\n[[store]]\nid = \"s{n}\"\nname = \"벤치 {n}호점\"\npos = \"bench\"\npos_store_id = \"{pos_id}\"\n",
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
    fn store_dir(&self, store: usize) -> PathBuf {
        self.dir.path().join("state/stores").join(&self.ids[store])
    }

    fn current_release(&self, store: usize) -> Option<PathBuf> {
        std::fs::canonicalize(self.store_dir(store).join("current")).ok()
    }

    /// The last error of a store whose last pass failed.
    fn failure(&self, store: usize) -> Option<String> {
        let text = std::fs::read_to_string(self.store_dir(store).join("state.json")).ok()?;
        let state: serde_json::Value = serde_json::from_str(&text).ok()?;
        (state["consecutive_failures"].as_u64() != Some(0)).then(|| state["last_error"].to_string())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// Starts the real binary on this universe's config (under `wrap`, if
    /// any), its output appended to daemon.log, through the `--measure` helper.
    fn spawn(&self, args: &[String], wrap: &[String]) -> Measured {
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
struct Measured {
    helper: Child,
    pid: u32,
    lines: BufReader<std::process::ChildStdout>,
}

impl Measured {
    /// Waits for the daemon to end; blocking.
    fn wait(mut self) -> Usage {
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
fn measure(args: &[String]) {
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
struct Row {
    name: String,
    stores: usize,
    wall: f64,
    floor: Option<f64>,
    disk_floor: Option<f64>,
    cpu: f64,
    rss_mb: f64,
    served: [(u64, u64); 3],
    published: usize,
    unchanged: usize,
    failed: usize,
    extra: String,
}

/// What the kernel accounted to one child process.
struct Usage {
    cpu: f64,
    rss_mb: f64,
    exit: Option<i32>,
}

/// Waits for `child` and returns its own CPU time and peak RSS (wait4's rusage).
fn wait_measured(child: Child) -> Usage {
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
fn terminate(pid: u32) {
    // SAFETY: plain kill(2) on a pid of our helper's child, which it has not waited for.
    unsafe { libc::kill(libc::pid_t::try_from(pid).expect("pid fits"), libc::SIGTERM) };
}

/// user+sys seconds of a running process, from /proc/<pid>/stat (100 ticks a second).
fn cpu_seconds_of(pid: u32) -> f64 {
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
async fn daemon_pass(
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

/// What the floor client does with image bodies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Images {
    /// S2: no image requests at all.
    Skip,
    /// The floor: fetch and drop.
    Discard,
    /// The disk floor: each body written to its own file and fsynced, as any
    /// durable copy must; the daemon cannot beat the disk it writes to.
    Durable,
}

/// The floor: the same requests with the same concurrency, no processing.
async fn floor_pass(pos: &Pos, u: &Universe, images: Images) -> f64 {
    let sink = tempfile::tempdir_in(u.dir.path())
        .expect("floor dir")
        .keep();
    let files = AtomicU64::new(0);
    let client = reqwest::Client::new();
    let io = Arc::new(tokio::sync::Semaphore::new(u.concurrency));
    let bytes = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let get = |method: reqwest::Method, url: String, body: Option<String>| {
        let (client, io, bytes) = (client.clone(), Arc::clone(&io), Arc::clone(&bytes));
        async move {
            let _permit = io.acquire_owned().await.expect("open");
            let mut request = client
                .request(method, url)
                .header("X-POS-API-KEY", "bench-key");
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body);
            }
            let data = request
                .send()
                .await
                .expect("floor request")
                .bytes()
                .await
                .expect("floor body");
            bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
            data
        }
    };
    futures_util::stream::iter(u.pos_ids.iter().map(|id| {
        let base = pos.base.clone();
        let (get, sink, files) = (&get, &sink, &files);
        async move {
            let body = format!("{{\"storeId\":\"{id}\"}}");
            let post = reqwest::Method::POST;
            let (_, list) = futures_util::join!(
                get(post.clone(), format!("{base}api/menu"), Some(body.clone())),
                get(post, format!("{base}api/images"), Some(body)),
            );
            if images != Images::Skip {
                let list: serde_json::Value = serde_json::from_slice(&list).expect("images JSON");
                let urls: Vec<String> = list["images"]
                    .as_array()
                    .expect("images")
                    .iter()
                    .map(|x| format!("{base}{}", x["url"].as_str().expect("url")))
                    .collect();
                futures_util::stream::iter(urls.into_iter().map(|url| async {
                    let body = get(reqwest::Method::GET, url, None).await;
                    if images == Images::Durable {
                        let path = sink.join(files.fetch_add(1, Ordering::Relaxed).to_string());
                        tokio::task::spawn_blocking(move || {
                            use std::io::Write as _;
                            let mut file = std::fs::File::create(path)?;
                            file.write_all(&body)?;
                            file.sync_all()
                        })
                        .await
                        .expect("join")
                        .expect("floor write");
                    }
                }))
                .buffer_unordered(u.concurrency)
                .for_each(|_| async {})
                .await;
            }
        }
    }))
    .buffer_unordered(u.concurrency)
    .for_each(|_| async {})
    .await;
    started.elapsed().as_secs_f64()
}

/// Files in `new` (recursively) whose inode is not in `old`: (count, bytes).
fn written_files(old: &Path, new: &Path) -> (usize, u64, Vec<String>) {
    use std::os::unix::fs::MetadataExt;
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, std::fs::Metadata)>) {
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

struct Sizes {
    s1_stores: usize,
    s1_images: usize,
    big_stores: usize,
    big_images: usize,
    items: usize,
    concurrency: usize,
    s5_stores: usize,
    s5_items: usize,
    /// Seconds between S5 ticks; divides 60.
    s5_interval: u64,
    s5_ticks: u64,
}

/// Which scenario groups run (`--only S1,S2,S5`) and what wraps the measured daemon.
struct Plan {
    groups: Vec<String>,
    wrap: Vec<String>,
}

impl Plan {
    fn runs(&self, group: &str) -> bool {
        self.groups.is_empty() || self.groups.iter().any(|g| g.eq_ignore_ascii_case(group))
    }
}

/// S1 (first full sync) and S4 (one image change) on 200 stores × 100 images.
async fn first_sync_and_image_change(pos: &Pos, sizes: &Sizes, plan: &Plan) -> Vec<Row> {
    let a = universe(
        pos,
        &Shape {
            name: "a",
            stores: sizes.s1_stores,
            images: sizes.s1_images,
            items: sizes.items,
            concurrency: sizes.concurrency,
            schedule: None,
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
async fn quiet_passes(pos: &Pos, sizes: &Sizes, plan: &Plan) -> Vec<Row> {
    let b = universe(
        pos,
        &Shape {
            name: "b",
            stores: sizes.big_stores,
            images: sizes.big_images,
            items: sizes.items,
            concurrency: sizes.concurrency,
            schedule: None,
        },
    );
    let all: Vec<usize> = (0..sizes.big_stores).collect();
    let setup = daemon_pass(pos, &b, "setup", &all, &[]).await;
    eprintln!(
        "setup of {} stores: {:.1}s, {} failed",
        sizes.big_stores, setup.wall, setup.failed
    );
    let floor = floor_pass(pos, &b, Images::Skip).await;
    let mut s2 = daemon_pass(pos, &b, "S2 no-change pass", &all, &plan.wrap).await;
    s2.floor = Some(floor);

    let changed = &b.pos_ids[sizes.big_stores / 2];
    pos.control(reqwest::Method::POST, "_change", format!("price {changed}"))
        .await;
    let s3 = daemon_pass(pos, &b, "S3 one price change", &all, &plan.wrap).await;
    vec![s2, s3]
}

fn now_secs() -> f64 {
    unix_ms() as f64 / 1000.0
}

async fn sleep_until_unix(at: f64) {
    let wait = at - now_secs();
    if wait > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    }
}

/// S5: `menusync run` with many stores on one cron schedule for several ticks.
/// The POS logs when each store's menu is fetched; every store should be fetched
/// exactly once between one tick and the next.
async fn scheduler_ticks(pos: &Pos, sizes: &Sizes, plan: &Plan) -> Row {
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
        },
    );
    let all: Vec<usize> = (0..sizes.s5_stores).collect();
    let setup = daemon_pass(pos, &c, "setup", &all, &[]).await;
    eprintln!(
        "S5 setup of {} stores: {:.1}s, {} failed",
        sizes.s5_stores, setup.wall, setup.failed
    );

    pos.control(reqwest::Method::POST, "_record", String::new())
        .await;
    let daemon = c.spawn(&["run".to_string()], &plan.wrap);
    let pid = daemon.pid;
    // The daemon's own first pass over every store runs at start; wait for it
    // to have fetched every store, then count from the next tick on.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let log = pos
            .control(reqwest::Method::GET, "_log", String::new())
            .await;
        if log.lines().count() >= sizes.s5_stores {
            break;
        }
        if Instant::now() > deadline || !Path::new(&format!("/proc/{pid}")).exists() {
            terminate(pid);
            panic!(
                "S5: the daemon's first pass did not finish; see {}",
                c.log_path().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let interval_f = interval as f64;
    let first_tick = ((now_secs() + 1.0) / interval_f).ceil() * interval_f;
    let end = first_tick + (sizes.s5_ticks * interval) as f64;
    sleep_until_unix(first_tick - 0.2).await;
    let cpu0 = cpu_seconds_of(pid);
    pos.control(reqwest::Method::POST, "_reset", String::new())
        .await;
    sleep_until_unix(end - 0.2).await;
    let cpu = cpu_seconds_of(pid) - cpu0;
    let served = pos.stats().await;
    let log = pos
        .control(reqwest::Method::GET, "_log", String::new())
        .await;
    terminate(pid);
    let usage = tokio::task::spawn_blocking(move || daemon.wait())
        .await
        .expect("wait");

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

async fn run_all(sizes: &Sizes, plan: &Plan) -> Vec<Row> {
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
    rows
}

fn check(rows: &[Row]) -> Vec<String> {
    let mut problems = Vec::new();
    for row in rows {
        if row.failed > 0 {
            problems.push(format!("{}: {} stores failed", row.name, row.failed));
        }
        let scenario = &row.name[..2];
        match scenario {
            "S1" if row.published != row.stores => {
                problems.push(format!("S1 published {} of {}", row.published, row.stores))
            }
            "S4" if row.published != 1 || !row.extra.starts_with("files written 2 ") => {
                problems.push(format!("S4: published {}, {}", row.published, row.extra));
            }
            "S2" if row.served[2].0 != 0 || row.published != 0 => problems.push(format!(
                "S2: {} image requests, {} published",
                row.served[2].0, row.published
            )),
            "S3" if row.published != 1 => {
                problems.push(format!("S3 published {} stores, not 1", row.published));
            }
            "S5" if !row.extra.contains(" 0 runs missed, 0 doubled") => {
                problems.push(format!("S5: {}", row.extra));
            }
            _ => {}
        }
    }
    problems
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | stores | wall s | floor s | ratio | disk floor s | ratio to disk floor | CPU s (user+sys) | CPU ms/store | peak RSS MB | POST /api/menu | POST /api/images | GET images | published / unchanged / failed |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let versus = |floor: Option<f64>| match floor {
            Some(f) => (format!("{f:.2}"), format!("{:.2}×", r.wall / f)),
            None => ("–".into(), "–".into()),
        };
        let (floor, ratio) = versus(r.floor);
        let (disk_floor, disk_ratio) = versus(r.disk_floor);
        // S5's CPU is over all its ticks: per store per tick.
        let passes = if r.name.starts_with("S5") {
            r.served[0].0.max(1) as f64
        } else {
            r.stores as f64
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {floor} | {ratio} | {disk_floor} | {disk_ratio} | {:.2} | {:.2} | {:.1} | {} ({}) | {} ({}) | {} ({}) | {} / {} / {} |",
            r.name,
            r.stores,
            r.wall,
            r.cpu,
            r.cpu * 1000.0 / passes,
            r.rss_mb,
            r.served[0].0,
            mb(r.served[0].1),
            r.served[1].0,
            mb(r.served[1].1),
            r.served[2].0,
            mb(r.served[2].1),
            r.published,
            r.unchanged,
            r.failed
        );
    }
    out
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .unwrap_or("MemTotal: ?")
        .split_whitespace()
        .nth(1)
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or("?".into(), |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0));
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    format!("{cores} cores ({model}), {mem} RAM")
}

const BEGIN: &str = "<!-- GENERATED-TABLE -->";
const END: &str = "<!-- END GENERATED-TABLE -->";

/// Replaces the generated part of `path` (between the markers), keeping the rest.
fn write_report(path: &str, generated: &str) {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let (before, after) = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if b < e => (&old[..b], &old[e + END.len()..]),
        _ => ("", old.as_str()),
    };
    let text = format!("{before}{BEGIN}\n{generated}{END}{after}");
    std::fs::write(path, text).expect("write the report");
}

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
        }
    };
    // `--scale 0.1`: a tenth of the stores in every scenario (for profiling runs).
    if let Some(scale) = value("--scale").and_then(|v| v.parse::<f64>().ok()) {
        let scaled = |n: usize| ((n as f64 * scale).round() as usize).max(1);
        sizes.s1_stores = scaled(sizes.s1_stores);
        sizes.big_stores = scaled(sizes.big_stores);
        sizes.s5_stores = scaled(sizes.s5_stores);
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
