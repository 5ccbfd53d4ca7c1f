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

struct Universe {
    _dir: tempfile::TempDir,
    config: Arc<menusync::config::Config>,
    ctx: menusync::pipeline::Context,
}

fn store_id(universe: &str, n: usize, k: usize, m: usize) -> String {
    format!("{universe}-{n}-k{k}-m{m}")
}

fn universe(
    pos: &Pos,
    name: &str,
    stores: usize,
    k: usize,
    m: usize,
    concurrency: usize,
) -> Universe {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("key"), "bench-key\n").expect("key");
    let mut text = format!(
        "[daemon]\nstate_dir = \"state\"\nio_concurrency = {concurrency}\n\n\
         [pos.bench]\nkind = \"http\"\nbase_url = \"{}\"\napi_key_file = \"key\"\n\
         requests_per_second = 1000000\n",
        pos.base
    );
    for n in 0..stores {
        let _ = write!(
            text,
            "\n[[store]]\nid = \"s{n}\"\nname = \"벤치 {n}호점\"\npos = \"bench\"\npos_store_id = \"{}\"\n",
            store_id(name, n, k, m)
        );
    }
    let path = dir.path().join("stores.toml");
    std::fs::write(&path, &text).expect("config");
    let config = Arc::new(menusync::config::Config::parse(&path, &text).expect("config parses"));
    let ctx = menusync::pipeline::Context::new(
        Arc::clone(&config),
        tokio_util::sync::CancellationToken::new(),
        Arc::default(),
    )
    .expect("context");
    Universe {
        _dir: dir,
        config,
        ctx,
    }
}

#[derive(Default, Clone)]
struct Row {
    name: String,
    stores: usize,
    wall: f64,
    floor: Option<f64>,
    cpu: f64,
    rss_mb: f64,
    served: [(u64, u64); 3],
    published: usize,
    unchanged: usize,
    failed: usize,
    extra: String,
}

/// user+sys of the whole process from /proc/self/stat (clock ticks, 100 per second on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
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

fn reset_peak_rss() {
    // Linux ≥ 4.0: writing 5 resets VmHWM to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs one pass over `stores` (indices) of `u` with the universe's concurrency.
async fn daemon_pass(pos: &Pos, u: &Universe, name: &str, stores: &[usize]) -> Row {
    pos.control(reqwest::Method::POST, "_reset", String::new())
        .await;
    reset_peak_rss();
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let concurrency = u.config.daemon.io_concurrency.get();
    let outcomes: Vec<_> = futures_util::stream::iter(stores.iter().map(|&i| {
        let store = &u.config.stores[i];
        menusync::pipeline::run_pass(&u.ctx, store, Default::default())
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let mut row = Row {
        name: name.to_string(),
        stores: stores.len(),
        wall,
        cpu,
        rss_mb: peak_rss_mb(),
        served: pos.stats().await,
        ..Row::default()
    };
    for report in outcomes {
        match report.outcome {
            menusync::pipeline::Outcome::Published { .. } => row.published += 1,
            menusync::pipeline::Outcome::Unchanged => row.unchanged += 1,
            other => {
                if row.failed == 0 {
                    eprintln!("first failure: {} {other:?}", report.store_id);
                }
                row.failed += 1;
            }
        }
    }
    row
}

/// The floor: the same requests with the same concurrency, no processing.
async fn floor_pass(pos: &Pos, u: &Universe, stores: &[usize], with_images: bool) -> f64 {
    let client = reqwest::Client::new();
    let concurrency = u.config.daemon.io_concurrency.get();
    let io = Arc::new(tokio::sync::Semaphore::new(concurrency));
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
    futures_util::stream::iter(stores.iter().map(|&i| {
        let id = u.config.stores[i].pos_store_id.clone();
        let base = pos.base.clone();
        let get = &get;
        async move {
            let body = format!("{{\"storeId\":\"{id}\"}}");
            let post = reqwest::Method::POST;
            let (_, list) = futures_util::join!(
                get(post.clone(), format!("{base}api/menu"), Some(body.clone())),
                get(post, format!("{base}api/images"), Some(body)),
            );
            if with_images {
                let list: serde_json::Value = serde_json::from_slice(&list).expect("images JSON");
                let urls: Vec<String> = list["images"]
                    .as_array()
                    .expect("images")
                    .iter()
                    .map(|x| format!("{base}{}", x["url"].as_str().expect("url")))
                    .collect();
                futures_util::stream::iter(
                    urls.into_iter()
                        .map(|url| get(reqwest::Method::GET, url, None)),
                )
                .buffer_unordered(concurrency)
                .for_each(|_| async {})
                .await;
            }
        }
    }))
    .buffer_unordered(concurrency)
    .for_each(|_| async {})
    .await;
    started.elapsed().as_secs_f64()
}

fn current_release(u: &Universe, store: usize) -> PathBuf {
    let link = u
        .config
        .daemon
        .state_dir
        .join("stores")
        .join(&u.config.stores[store].id)
        .join("current");
    std::fs::canonicalize(link).expect("current release")
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
}

async fn run_all(sizes: &Sizes) -> Vec<Row> {
    let pos = Pos::start();
    let mut rows = Vec::new();

    // S1: first full sync.
    let a = universe(
        &pos,
        "a",
        sizes.s1_stores,
        sizes.s1_images,
        sizes.items,
        sizes.concurrency,
    );
    let all_a: Vec<usize> = (0..sizes.s1_stores).collect();
    let floor = floor_pass(&pos, &a, &all_a, true).await;
    let mut s1 = daemon_pass(&pos, &a, "S1 first full sync", &all_a).await;
    s1.floor = Some(floor);
    rows.push(s1);

    // S4: one image change in one store of universe a.
    let before = current_release(&a, 0);
    pos.control(
        reqwest::Method::POST,
        "_change",
        format!("image {} 1", store_id("a", 0, sizes.s1_images, sizes.items)),
    )
    .await;
    let mut s4 = daemon_pass(&pos, &a, "S4 one image change, 1 store", &[0]).await;
    let after = current_release(&a, 0);
    let (count, bytes, names) = written_files(&before, &after);
    s4.extra = format!("files written {count} ({bytes} B): {}", names.join(", "));
    rows.push(s4);
    drop(a);

    // S2, S3 on the big universe, after an unmeasured first sync.
    let b = universe(
        &pos,
        "b",
        sizes.big_stores,
        sizes.big_images,
        sizes.items,
        sizes.concurrency,
    );
    let all_b: Vec<usize> = (0..sizes.big_stores).collect();
    let setup = daemon_pass(&pos, &b, "setup", &all_b).await;
    eprintln!(
        "setup of {} stores: {:.1}s, {} failed",
        sizes.big_stores, setup.wall, setup.failed
    );
    let floor = floor_pass(&pos, &b, &all_b, false).await;
    let mut s2 = daemon_pass(&pos, &b, "S2 no-change pass", &all_b).await;
    s2.floor = Some(floor);
    rows.push(s2);

    let changed = store_id("b", sizes.big_stores / 2, sizes.big_images, sizes.items);
    pos.control(reqwest::Method::POST, "_change", format!("price {changed}"))
        .await;
    rows.push(daemon_pass(&pos, &b, "S3 one price change", &all_b).await);
    drop(b);
    rows
}

fn check(rows: &[Row]) -> Vec<String> {
    let mut problems = Vec::new();
    for row in rows {
        if row.failed > 0 {
            problems.push(format!("{}: {} stores failed", row.name, row.failed));
        }
    }
    if rows[0].published != rows[0].stores {
        problems.push(format!(
            "S1 published {} of {}",
            rows[0].published, rows[0].stores
        ));
    }
    if rows[1].published != 1 || !rows[1].extra.starts_with("files written 2 ") {
        problems.push(format!(
            "S4: published {}, {}",
            rows[1].published, rows[1].extra
        ));
    }
    if rows[2].served[2].0 != 0 || rows[2].published != 0 {
        problems.push(format!(
            "S2: {} image requests, {} published",
            rows[2].served[2].0, rows[2].published
        ));
    }
    if rows[3].published != 1 {
        problems.push(format!("S3 published {} stores, not 1", rows[3].published));
    }
    problems
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | stores | wall s | floor s | ratio | CPU s (user+sys) | CPU ms/store | peak RSS MB | POST /api/menu | POST /api/images | GET images | published / unchanged / failed |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let (floor, ratio) = match r.floor {
            Some(f) => (format!("{f:.2}"), format!("{:.2}×", r.wall / f)),
            None => ("–".into(), "–".into()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {floor} | {ratio} | {:.2} | {:.2} | {:.1} | {} ({}) | {} ({}) | {} ({}) | {} / {} / {} |",
            r.name,
            r.stores,
            r.wall,
            r.cpu,
            r.cpu * 1000.0 / r.stores as f64,
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--serve") {
        serve();
        return;
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    let write = args
        .iter()
        .position(|a| a == "--write")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let sizes = if smoke {
        Sizes {
            s1_stores: 20,
            s1_images: 3,
            big_stores: 20,
            big_images: 3,
            items: 10,
            concurrency: 16,
        }
    } else {
        Sizes {
            s1_stores: 200,
            s1_images: 100,
            big_stores: 1000,
            big_images: 10,
            items: 100,
            concurrency: 64,
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let started = Instant::now();
    let rows = runtime.block_on(run_all(&sizes));
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
        let text = format!(
            "<!-- GENERATED-TABLE -->\nMeasured {date} on {}.\n\nCommand: `cargo bench --bench load -- --write BENCHMARKS.md`\n\n\
             Sizes: S1 {} stores × {} images × {} items; S2/S3 {} stores × {} images × {} items; concurrency {}.\n\n{table}\n{extras}",
            machine(),
            sizes.s1_stores,
            sizes.s1_images,
            sizes.items,
            sizes.big_stores,
            sizes.big_images,
            sizes.items,
            sizes.concurrency
        );
        std::fs::write(&path, text).expect("write the report");
        println!("wrote {path}");
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("FAILED: {p}");
        }
        std::process::exit(1);
    }
}
