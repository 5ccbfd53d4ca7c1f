//! The load-generating POS: deterministic menus and images from a seed,
//! served over loopback by the bench binary in `--serve` mode.

use super::*;

/// Per store id (`<universe>-<n>-k<K>-m<M>`): its menu version and per-image versions.
#[derive(Default)]
pub(crate) struct PosState {
    pub(crate) menu_version: HashMap<String, u64>,
    pub(crate) image_version: HashMap<(String, u64), u64>,
    /// Per store: how many times item 1's sold-out flag flipped (odd: sold out).
    pub(crate) sold_out_version: HashMap<String, u64>,
    /// Stores whose menu and image-list endpoints misbehave (soak): answering
    /// 500, or answering late by the given milliseconds, until healed.
    pub(crate) faults: HashMap<String, Fault>,
    pub(crate) counters: [(u64, u64); 3],
    /// While on (S5): (store number, unix ms) of every menu request.
    pub(crate) recording: Option<Vec<(u64, u128)>>,
}

/// How a faulty store's endpoints answer.
#[derive(Clone, Copy)]
pub(crate) enum Fault {
    Fail,
    SlowMs(u64),
}

pub(crate) fn parse_store(id: &str) -> Option<(u64, u64, u64)> {
    let mut parts = id.split('-');
    let _universe = parts.next()?;
    let n = parts.next()?.parse().ok()?;
    let k = parts.next()?.strip_prefix('k')?.parse().ok()?;
    let m = parts.next()?.strip_prefix('m')?.parse().ok()?;
    Some((n, k, m))
}

pub(crate) const SYLLABLES: &[&str] = &[
    "아", "메", "리", "카", "노", "라", "떼", "바", "닐", "초", "코", "녹", "차", "딸", "기", "치",
    "즈", "케", "이", "크", "고", "구", "마", "호", "두", "빵", "우", "유", "레", "몬", "자", "몽",
];
pub(crate) const WORDS: &[&str] = &[
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

pub(crate) fn korean_name(rng: &mut u64) -> String {
    let len = 2 + xorshift(rng) % 4;
    (0..len)
        .map(|_| SYLLABLES[(xorshift(rng) % SYLLABLES.len() as u64) as usize])
        .collect()
}

/// A store's menu at a menu version and a sold-out version.
pub(crate) fn menu_body(
    store: &str,
    (n, k, m): (u64, u64, u64),
    version: u64,
    sold_out_version: u64,
) -> Vec<u8> {
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
                // Bounded, so that a store changed for an hour never moves a
                // price past the 50% hold gate: at most +400 on at least 1,000.
                price += (version % 5) * 100;
            }
            // Item 1 flips in and out of sold-out (soak); one item never trips the gate.
            let sold_out = i == 1 && sold_out_version % 2 == 1;
            serde_json::json!({
                "itemId": format!("I{i}"), "categoryId": format!("C{}", i % 4),
                "name": korean_name(&mut rng), "nameEn": format!("Item {i}"),
                "description": description, "price": price, "displayOrder": i,
                "soldOut": sold_out, "visible": true, "imageId": format!("IMG{}", i % k.max(1)),
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

pub(crate) fn image_len(n: u64, j: u64, version: u64) -> u64 {
    5_000 + seeded(&[2, n, j, version]) % 45_000
}

pub(crate) fn image_body(n: u64, j: u64, version: u64) -> Vec<u8> {
    let len = image_len(n, j, version) as usize;
    let mut body = PNG.to_vec();
    let mut rng = seeded(&[3, n, j, version]);
    while body.len() < len {
        body.extend_from_slice(&xorshift(&mut rng).to_le_bytes());
    }
    body.truncate(len.max(PNG.len()));
    body
}

pub(crate) fn images_body(state: &PosState, store: &str, n: u64, k: u64) -> Vec<u8> {
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

/// Answers one request: (status, body), and how long to wait before answering.
pub(crate) fn route(
    state: &Mutex<PosState>,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Vec<u8>, Duration) {
    let mut state = state.lock().expect("not poisoned");
    let mut delay = Duration::ZERO;
    if path == "/api/menu" || path == "/api/images" {
        let store = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| Some(v.get("storeId")?.as_str()?.to_string()));
        match store.and_then(|s| state.faults.get(&s).copied()) {
            Some(Fault::Fail) => return (500, b"{}".to_vec(), delay),
            Some(Fault::SlowMs(ms)) => delay = Duration::from_millis(ms),
            None => {}
        }
    }
    let (status, reply) = answer(&mut state, method, path, body);
    (status, reply, delay)
}

fn answer(state: &mut PosState, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
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
            let sold_out = state.sold_out_version.get(&store).copied().unwrap_or(0);
            if let Some(log) = &mut state.recording {
                log.push((n, unix_ms()));
            }
            (0, menu_body(&store, (n, k, m), v, sold_out))
        }
        ("POST", "/api/images") => {
            let Some((store, (n, k, _))) =
                store_of(body).and_then(|s| Some((s.clone(), parse_store(&s)?)))
            else {
                return (404, b"{}".to_vec());
            };
            (1, images_body(state, &store, n, k))
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
        ("POST", "/_record_off") => {
            state.recording = None;
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
        // "price <store>", "image <store> <j>", "soldout <store>", "fail <store>",
        // "slow <store> <ms>", "heal <store>" ("heal all"), or "share <fraction> <stores> <universe> <k> <m> <pass>"
        ("POST", "/_change") => {
            let text = String::from_utf8_lossy(body).to_string();
            let words: Vec<&str> = text.split_whitespace().collect();
            let mut changed = 0u64;
            match words[..] {
                ["price", store] => {
                    *state.menu_version.entry(store.to_string()).or_default() += 1;
                    changed = 1;
                }
                ["soldout", store] => {
                    *state.sold_out_version.entry(store.to_string()).or_default() += 1;
                    changed = 1;
                }
                ["fail", store] => {
                    state.faults.insert(store.to_string(), Fault::Fail);
                }
                ["slow", store, ms] => {
                    let ms = ms.parse().unwrap_or(1000);
                    state.faults.insert(store.to_string(), Fault::SlowMs(ms));
                }
                ["heal", "all"] => state.faults.clear(),
                ["heal", store] => {
                    state.faults.remove(store);
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

pub(crate) async fn serve_connection(mut stream: TcpStream, state: Arc<Mutex<PosState>>) {
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
        let (status, reply, delay) = route(&state, &method, &path, &body);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
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

pub(crate) fn serve() {
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
