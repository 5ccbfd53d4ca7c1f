//! QUIET (issue 25): what one quiet pass of one store costs per provider:
//! the reference protocol (ETag, answered 304), Square (changes since the
//! last `latest_time`) and GloriaFood (the body's digest), each POS a mock on
//! loopback serving an unchanging menu of the same size, the daemon
//! (`menusync run`, a child process) ticking every store on one schedule.
//! After every store has passed twice, a window of ticks is measured:
//! requests and response body bytes per store pass (from the mock's request
//! log), the daemon's CPU per store pass (/proc), and any pass that published
//! or failed. `--menusync PATH` measures another build (the code before
//! issue 25, for its "before" rows); its config is the same file.

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header_exists, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;

#[derive(Clone, Copy)]
pub(crate) struct QuietSizes {
    pub(crate) stores: usize,
    pub(crate) items: usize,
    /// Seconds between ticks.
    pub(crate) interval: u64,
    /// Ticks measured.
    pub(crate) ticks: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Http,
    Square,
    GloriaFood,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Square => "square",
            Kind::GloriaFood => "gloriafood",
        }
    }
}

const KEY_ENV: &str = "MENUSYNC_QUIET_KEY";
const LATEST_TIME: &str = "2026-11-20T09:00:00.000Z";
/// Objects per Square page, so a catalog of a few hundred items spans pages.
const SQUARE_PAGE: usize = 500;

pub(crate) async fn quiet(sizes: &QuietSizes, exe: &str, label: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for kind in [Kind::Http, Kind::Square, Kind::GloriaFood] {
        rows.push(quiet_row(kind, sizes, exe, label).await);
    }
    rows
}

/// The bodies a mock serves, by what a request asks for.
struct Bodies {
    /// http: menu, images; square: the pages, then the empty changes; gloriafood: the menu.
    parts: Vec<Vec<u8>>,
}

impl Bodies {
    /// The body bytes the mock answered `request` with.
    fn answered(&self, kind: Kind, request: &Request) -> u64 {
        let part = match kind {
            Kind::Http if request.headers.contains_key("if-none-match") => return 0,
            Kind::Http if request.url.path() == "/api/menu" => 0,
            Kind::Http => 1,
            Kind::Square => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                if body.get("begin_time").is_some() {
                    self.parts.len() - 1
                } else {
                    body["cursor"]
                        .as_str()
                        .and_then(|cursor| cursor.strip_prefix("PAGE_"))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0)
                }
            }
            Kind::GloriaFood => 0,
        };
        self.parts[part].len() as u64
    }
}

async fn serve(kind: Kind, server: &MockServer, items: usize) -> Bodies {
    let json = |value: Value| serde_json::to_vec(&value).expect("JSON");
    match kind {
        Kind::Http => {
            let parts = vec![json(reference_menu(items)), json(json!({"images": []}))];
            for (route, body) in ["/api/menu", "/api/images"].iter().zip(&parts) {
                Mock::given(method("POST"))
                    .and(path(*route))
                    .and(header_exists("if-none-match"))
                    .respond_with(ResponseTemplate::new(304))
                    .with_priority(1)
                    .mount(server)
                    .await;
                Mock::given(method("POST"))
                    .and(path(*route))
                    .respond_with(
                        ResponseTemplate::new(200)
                            .insert_header("ETag", "\"v1\"")
                            .set_body_raw(body.clone(), "application/json"),
                    )
                    .with_priority(2)
                    .mount(server)
                    .await;
            }
            Bodies { parts }
        }
        Kind::Square => {
            let mut parts: Vec<Vec<u8>> = square_pages(items).into_iter().map(json).collect();
            parts.push(json(json!({"objects": [], "latest_time": LATEST_TIME})));
            let search = || Mock::given(method("POST")).and(path("/v2/catalog/search"));
            search()
                .and(body_partial_json(json!({"include_deleted_objects": true})))
                .respond_with(ResponseTemplate::new(200).set_body_raw(
                    parts.last().expect("the changes answer").clone(),
                    "application/json",
                ))
                .with_priority(1)
                .mount(server)
                .await;
            for (page, body) in parts[..parts.len() - 1].iter().enumerate().skip(1) {
                search()
                    .and(body_partial_json(json!({"cursor": format!("PAGE_{page}")})))
                    .respond_with(
                        ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json"),
                    )
                    .with_priority(2)
                    .mount(server)
                    .await;
            }
            search()
                .respond_with(
                    ResponseTemplate::new(200).set_body_raw(parts[0].clone(), "application/json"),
                )
                .with_priority(3)
                .mount(server)
                .await;
            Bodies { parts }
        }
        Kind::GloriaFood => {
            let parts = vec![json(gloriafood_menu(items))];
            Mock::given(method("GET"))
                .and(path("/pos/menu"))
                .respond_with(
                    ResponseTemplate::new(200).set_body_raw(parts[0].clone(), "application/json"),
                )
                .mount(server)
                .await;
            Bodies { parts }
        }
    }
}

fn reference_menu(items: usize) -> Value {
    let items: Vec<Value> = (0..items)
        .map(|n| {
            json!({"itemId": format!("I{n}"), "categoryId": format!("C{}", n % 5),
                   "name": format!("메뉴 {n}"), "price": 4000 + n * 100})
        })
        .collect();
    let categories: Vec<Value> = (0..5)
        .map(|n| json!({"categoryId": format!("C{n}"), "name": format!("분류 {n}")}))
        .collect();
    json!({"storeId": "S", "currency": "KRW", "categories": categories, "items": items})
}

/// A catalog of `items` items (two variations each) in 5 categories, in pages.
fn square_pages(items: usize) -> Vec<Value> {
    let mut objects: Vec<Value> = (0..5)
        .map(|n| {
            json!({"type": "CATEGORY", "id": format!("CAT_{n}"), "present_at_all_locations": true,
                   "category_data": {"name": format!("Category {n}"), "parent_category": {"ordinal": n}}})
        })
        .collect();
    objects.extend((0..items).map(|n| {
        let variation = |size: &str, cents: usize| {
            json!({"type": "ITEM_VARIATION", "id": format!("VAR_{n}_{size}"), "present_at_all_locations": true,
                   "item_variation_data": {"item_id": format!("ITEM_{n}"), "name": size,
                   "pricing_type": "FIXED_PRICING", "price_money": {"amount": cents, "currency": "USD"}}})
        };
        json!({"type": "ITEM", "id": format!("ITEM_{n}"), "present_at_all_locations": true,
               "item_data": {"name": format!("Item {n}"), "description": "A dish of the house.",
               "categories": [{"id": format!("CAT_{}", n % 5), "ordinal": n}],
               "variations": [variation("Regular", 500 + n), variation("Large", 700 + n)]}})
    }));
    let pages: Vec<&[Value]> = objects.chunks(SQUARE_PAGE).collect();
    let last = pages.len() - 1;
    pages
        .iter()
        .enumerate()
        .map(|(page, objects)| {
            let mut page_value = json!({"objects": objects, "latest_time": LATEST_TIME});
            if page < last {
                page_value["cursor"] = json!(format!("PAGE_{}", page + 1));
            }
            page_value
        })
        .collect()
}

fn gloriafood_menu(items: usize) -> Value {
    let categories: Vec<Value> = (0..5)
        .map(|c| {
            let items: Vec<Value> = (0..items)
                .filter(|n| n % 5 == c)
                .map(|n| {
                    json!({"id": 7000 + n, "menu_category_id": 600 + c, "name": format!("Item {n}"),
                           "description": "A dish of the house.", "price": 7.5 + n as f64, "active": true})
                })
                .collect();
            json!({"id": 600 + c, "name": format!("Category {c}"), "active": true, "items": items})
        })
        .collect();
    json!({"id": 9120, "restaurant_id": 5120, "currency": "EUR", "categories": categories})
}

fn config(kind: Kind, base_url: &str, sizes: &QuietSizes) -> String {
    let mut text = format!(
        "[daemon]\nstate_dir = \"state\"\nschedule = \"*/{} * * * * *\"\nsplay = false\n\n\
         [pos.p]\nkind = \"{}\"\nbase_url = \"{base_url}\"\napi_key_env = \"{KEY_ENV}\"\nretries = 0\n\
         requests_per_second = 1000\n\n[target.web]\nkind = \"rsync\"\ndest = \"web\"\n",
        sizes.interval,
        kind.name()
    );
    for n in 0..sizes.stores {
        let pos_store_id = match kind {
            Kind::GloriaFood => "5120".to_string(),
            _ => format!("LOC{n}"),
        };
        text += &format!(
            "\n[[store]]\nid = \"q{n}\"\nname = \"Quiet {n}\"\npos = \"p\"\npos_store_id = \"{pos_store_id}\"\ntargets = [\"web\"]\n"
        );
    }
    text
}

async fn quiet_row(kind: Kind, sizes: &QuietSizes, exe: &str, label: &str) -> Row {
    let server = MockServer::start().await;
    let bodies = serve(kind, &server, sizes.items).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("stores.toml");
    std::fs::write(&config_path, config(kind, &server.uri(), sizes)).expect("config");
    let log_path = dir.path().join("daemon.log");
    let mut child = Command::new(exe)
        .arg("--config")
        .arg(&config_path)
        .arg("run")
        .env(KEY_ENV, "quiet-key")
        .env("MENUSYNC_LOG", "info")
        .env("MENUSYNC_LOG_TARGET", "stdout")
        .stdout(Stdio::from(std::fs::File::create(&log_path).expect("log")))
        .stderr(Stdio::null())
        .spawn()
        .expect("the daemon starts");
    let pid = child.id();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let results = |log: &str, what: &str| {
        log.lines()
            .filter(|line| line.contains("stage=result") && line.contains(what))
            .count()
    };
    // Every store published, then passed once more (Square's first incremental read).
    let deadline = Instant::now() + Duration::from_secs(300);
    while results(&log(), "") < 2 * sizes.stores {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            terminate(pid);
            let _ = child.wait();
            panic!(
                "QUIET {}: the first passes did not finish\n{}",
                kind.name(),
                log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Start the window between ticks, so it holds whole ticks.
    let interval = sizes.interval as f64;
    sleep_until_unix(next_tick(interval) - interval / 2.0).await;
    let (log0, cpu0) = (log(), cpu_seconds_of(pid));
    let requests0 = server.received_requests().await.expect("recording").len();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(sizes.interval * sizes.ticks)).await;
    let (log1, cpu1) = (log(), cpu_seconds_of(pid));
    let requests = server.received_requests().await.expect("recording");
    let wall = started.elapsed().as_secs_f64();
    terminate(pid);
    let _ = child.wait();

    let window = &requests[requests0..];
    let bytes: u64 = window.iter().map(|r| bodies.answered(kind, r)).sum();
    let full_reads = window
        .iter()
        .filter(|r| {
            kind == Kind::Square && bodies.answered(kind, r) == bodies.parts[0].len() as u64
        })
        .count();
    let passes = (results(&log1, "") - results(&log0, "")).max(1);
    let published = results(&log1, "published") - results(&log0, "published");
    let failed = results(&log1, "failed") - results(&log0, "failed");
    let cpu = cpu1 - cpu0;
    let per_pass = |total: f64| total / passes as f64;
    let catalog_bytes: usize = bodies.parts
        [..bodies.parts.len() - usize::from(kind == Kind::Square)]
        .iter()
        .map(Vec::len)
        .sum();
    Row {
        name: format!("QUIET {} quiet pass{label}", kind.name()),
        stores: sizes.stores,
        wall,
        cpu,
        published,
        unchanged: passes - published - failed,
        failed,
        extra: format!(
            "{passes} passes of {} stores ({} items, menu {catalog_bytes} B): per store pass \
             {:.2} requests, {:.0} B received, {:.2} ms CPU; {full_reads} full catalog reads",
            sizes.stores,
            sizes.items,
            per_pass(window.len() as f64),
            per_pass(bytes as f64),
            per_pass(cpu * 1000.0),
        ),
        ..Row::default()
    }
}
