//! One test per misbehaviour listed at the end of `../shared/pos-api.md`
//! ("What the POS may do wrong"). Each runs two stores in one config:
//! `gangnam` on a scripted POS (`common::raw_pos`) that first behaves and
//! then misbehaves, and `hongdae` on a healthy wiremock POS whose menu
//! changes at the same moment, so it must publish in the very run in which
//! gangnam's POS misbehaves.
//!
//! After the bad run each test checks the exit code, the failure category in
//! the log, that gangnam still serves its last good release (or, for
//! item-level problems, a new complete release), that hongdae published, and
//! that nothing was written outside the state directory and the target.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::raw_pos::{RawPos, Reply, Request};
use common::{
    API_KEY, Env, KEY_ENV, PosImage, default_images, fixture_image, image_paths, item, menu_doc,
    serve_pos, sha256_hex,
};
use serde_json::{Value, json};
use wiremock::MockServer;

/// What any one `once` may take, retries and backoff included.
const RUN_LIMIT: Duration = Duration::from_secs(40);
/// When a run is killed outright, so a hanging daemon cannot hang the test.
const KILL_AFTER: Duration = Duration::from_secs(50);
/// `pass_timeout_secs` in the test config.
const PASS_TIMEOUT: Duration = Duration::from_secs(6);
const MAX_MENU_BYTES: u64 = 1024 * 1024;
const TWO_GB: u64 = 2 * 1024 * 1024 * 1024;
/// A daemon that stops at the 1 MiB cap has taken far less than this from an endless body.
const STREAM_BOUND: u64 = 64 * 1024 * 1024;
/// Peak resident memory of one `once`; a 2 GB body held in memory would blow it.
const RSS_BOUND_KIB: u64 = 256 * 1024;

fn config(gangnam_pos: &str, hongdae_pos: &str) -> String {
    let daemon = format!(
        "schedule = \"0 0 * * * *\"\nconnect_timeout_secs = 2\nread_timeout_secs = 2\n\
         pass_timeout_secs = {}\nmax_menu_bytes = {MAX_MENU_BYTES}\nmax_image_bytes = 1048576\n",
        PASS_TIMEOUT.as_secs()
    );
    common::config::daemon(&daemon)
        + &common::config::remote_pos("hq", "http", gangnam_pos, "")
        + &common::config::remote_pos("good", "http", hongdae_pos, "")
        + &common::config::rsync_target("web", "web")
        + &common::config::store("gangnam", "블리스월드 강남점", "hq", "S001", "")
        + &common::config::store("hongdae", "블리스월드 홍대점", "good", "S001", "")
}

// ---------------------------------------------------------------------------
// Running the binary

/// One finished run of the real binary.
struct Run {
    output: Output,
    elapsed: Duration,
    /// The highest `VmHWM` seen in /proc while it ran.
    peak_rss_kib: Option<u64>,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn text(&self) -> String {
        format!("after {:?}: {}", self.elapsed, common::text(&self.output))
    }

    /// Log lines inside a pass of `store`.
    fn lines(&self, store: &str) -> Vec<String> {
        let field = format!("store={store}");
        self.log()
            .lines()
            .filter(|line| line.split([' ', '{', '}', ',']).any(|word| word == field))
            .map(str::to_string)
            .collect()
    }

    /// The first line of `store` containing every one of `needles`.
    fn line(&self, store: &str, needles: &[&str]) -> String {
        self.lines(store)
            .into_iter()
            .find(|line| needles.iter().all(|needle| line.contains(needle)))
            .unwrap_or_else(|| {
                panic!(
                    "no log line of {store} contains all of {needles:?}\n{}",
                    self.text()
                )
            })
    }

    fn assert_within(&self, limit: Duration) {
        assert!(
            self.elapsed < limit,
            "the run took {:?}, more than {limit:?}\n{}",
            self.elapsed,
            self.text()
        );
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the real binary in the env's folder (so a relative path escaping the
/// state dir would land where the test looks), with the key and debug logs.
async fn run(env: &Env, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_menusync"));
    command
        .arg("--config")
        .arg(env.config())
        .args(args)
        .current_dir(env.path())
        .env(KEY_ENV, API_KEY)
        .env("MENUSYNC_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut child = command.spawn().expect("the binary starts");
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let mut peak_rss_kib = None;
        let status = loop {
            if let Some(kib) = vm_hwm_kib(child.id()) {
                peak_rss_kib = peak_rss_kib.max(Some(kib));
            }
            if let Some(status) = child.try_wait().expect("wait for the binary") {
                break status;
            }
            if started.elapsed() > KILL_AFTER {
                let _ = child.kill();
                break child.wait().expect("wait for the killed binary");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = started.elapsed();
        Run {
            output: Output {
                status,
                stdout: stdout.join().unwrap(),
                stderr: stderr.join().unwrap(),
            },
            elapsed,
            peak_rss_kib,
        }
    })
    .await
    .expect("the run thread does not panic")
}

// ---------------------------------------------------------------------------
// The scripted POS of gangnam

const FIXTURES: [(&str, &str); 6] = [
    ("IMG100", "IMG100.jpg"),
    ("IMG101", "IMG101.jpg"),
    ("IMG102", "IMG102.png"),
    ("IMG103", "IMG103.jpg"),
    ("IMG104", "IMG104.png"),
    ("IMG105", "IMG105.png"),
];

fn fixture_by_id(id: &str) -> Option<Vec<u8>> {
    FIXTURES
        .iter()
        .find(|(image_id, _)| *image_id == id)
        .map(|(_, file)| fixture_image(file))
}

/// The image list entry `serve_pos` would give: relative url, size, sha256.
fn list_entry(image: &PosImage) -> Value {
    json!({
        "imageId": image.id,
        "url": format!("/img/{}", image.id),
        "size": image.bytes.len(),
        "sha256": image.claimed_sha256,
    })
}

fn default_list() -> Value {
    let images: Vec<Value> = default_images().iter().map(list_entry).collect();
    json!({ "images": images })
}

/// A POS that behaves: the menu at `price`, the default images, fixture bytes under `/img/`.
fn healthy(request: &Request) -> Reply {
    if request.header("X-POS-API-KEY") != Some(API_KEY) {
        return Reply::Full {
            status: 401,
            content_type: "text/plain".into(),
            body: b"bad key".to_vec(),
        };
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/api/menu") => Reply::json(&menu_doc(4500)),
        ("POST", "/api/images") => Reply::json(&default_list()),
        ("GET", path) => match path.strip_prefix("/img/").and_then(fixture_by_id) {
            Some(bytes) => Reply::bytes("application/octet-stream", bytes),
            None => Reply::not_found(),
        },
        _ => Reply::not_found(),
    }
}

fn redirect(location: &str) -> Reply {
    Reply::Raw(
        format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .into_bytes(),
    )
}

/// gangnam's POS: healthy until [`GangnamPos::misbehave`], then `script`
/// decides (None: answer as a healthy POS would).
struct GangnamPos {
    raw: RawPos,
    bad: Arc<AtomicBool>,
}

impl GangnamPos {
    async fn start(script: impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static) -> Self {
        let bad = Arc::new(AtomicBool::new(false));
        let raw = RawPos::start({
            let bad = bad.clone();
            move |request: &Request| {
                if bad.load(Ordering::SeqCst) {
                    script(request).unwrap_or_else(|| healthy(request))
                } else {
                    healthy(request)
                }
            }
        })
        .await;
        GangnamPos { raw, bad }
    }

    fn misbehave(&self) {
        self.bad.store(true, Ordering::SeqCst);
    }

    /// Paths of the requests with `method` so far.
    fn paths(&self, method: &str) -> Vec<String> {
        self.raw
            .requests()
            .into_iter()
            .filter(|(verb, _)| verb == method)
            .map(|(_, path)| path)
            .collect()
    }

    /// After a run: every connection is closed and the server stopped by itself.
    async fn assert_idle(&self) {
        assert!(
            self.raw.wait_idle(Duration::from_secs(10)).await,
            "the scripted POS still serves {} connection(s)",
            self.raw.stats().active.load(Ordering::SeqCst)
        );
    }

    /// An endless body was cut by the daemon long before 2 GB, and it kept no 2 GB in memory.
    fn assert_cut_early(&self, run: &Run) {
        let streamed = self.raw.streamed_bytes();
        assert!(
            streamed < STREAM_BOUND,
            "the daemon took {streamed} bytes of an endless body\n{}",
            run.text()
        );
        let peak = run.peak_rss_kib.expect("the run's memory was sampled");
        assert!(
            peak < RSS_BOUND_KIB,
            "peak RSS {peak} KiB over {RSS_BOUND_KIB} KiB"
        );
    }
}

// ---------------------------------------------------------------------------
// The two-store scenario and its checks

struct Scenario {
    env: Env,
    /// hongdae's POS; kept alive for the second run.
    _good: MockServer,
    gangnam_good: String,
    hongdae_first: String,
    /// /tmp/etc/passwd (the parent of the env) existed before the runs.
    parent_passwd_existed: bool,
}

/// `<16 hex>.<ext>`, or a variant's `<16 hex>-<width>.<ext>`.
fn is_content_name(name: &str) -> bool {
    let Some((stem, extension)) = name.split_once('.') else {
        return false;
    };
    let stem = match stem.split_once('-') {
        Some((hash, width))
            if !width.is_empty()
                && width.len() <= 5
                && width.bytes().all(|b| b.is_ascii_digit()) =>
        {
            hash
        }
        Some(_) => return false,
        None => stem,
    };
    stem.len() == 16
        && stem
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && matches!(extension, "jpg" | "png" | "webp" | "gif")
}

/// A release is complete: its menu parses, every image it names is there,
/// and `images/` holds only content-named files.
fn assert_complete(dir: &Path) -> Value {
    let menu = common::tree_menu(dir);
    for image in common::image_files(&menu) {
        let name = image
            .strip_prefix("/images/")
            .unwrap_or_else(|| panic!("image path {image} is under /images/"));
        assert!(is_content_name(name), "image name {name}");
        assert!(
            dir.join("images").join(name).is_file(),
            "{image} resolves inside {}",
            dir.display()
        );
    }
    for entry in std::fs::read_dir(dir.join("images")).expect("images dir") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(is_content_name(&name), "unexpected file images/{name}");
    }
    menu
}

impl Scenario {
    /// Publishes both stores from healthy POSes, then changes hongdae's price
    /// so that the next run must publish hongdae again.
    async fn start(gangnam: &GangnamPos) -> Scenario {
        let good = MockServer::start().await;
        serve_pos(&good, &menu_doc(4500), &default_images()).await;
        let env = Env::new(&gangnam.raw.uri());
        env.write_config(&config(&gangnam.raw.uri(), &good.uri()));
        let parent_passwd_existed = env.path().parent().unwrap().join("etc/passwd").exists();

        let first = run(&env, &["once"]).await;
        assert_eq!(first.code(), Some(0), "healthy first run\n{}", first.text());
        first.assert_within(RUN_LIMIT);
        let gangnam_good = env
            .store("gangnam")
            .current_release()
            .expect("gangnam published");
        let hongdae_first = env
            .store("hongdae")
            .current_release()
            .expect("hongdae published");
        let menu = assert_complete(&env.store("gangnam").release_dir(&gangnam_good));
        assert_eq!(image_paths(&menu).len(), 3);

        serve_pos(&good, &menu_doc(4800), &default_images()).await;
        Scenario {
            env,
            _good: good,
            gangnam_good,
            hongdae_first,
            parent_passwd_existed,
        }
    }

    /// [`Scenario::start`], then one `once` in which gangnam's POS misbehaves.
    async fn misbehaving_run(gangnam: &GangnamPos) -> (Scenario, Run) {
        let scenario = Scenario::start(gangnam).await;
        gangnam.misbehave();
        let run = run(&scenario.env, &["once"]).await;
        (scenario, run)
    }

    /// gangnam's pass failed with `category`, and it still serves its last good release.
    /// Returns the `failed` log line.
    async fn assert_gangnam_failed(&self, run: &Run, category: &str) -> String {
        assert_eq!(run.code(), Some(1), "gangnam failed\n{}", run.text());
        run.assert_within(RUN_LIMIT);
        let line = run.line("gangnam", &[&format!("failed {category}: ")]);
        assert_eq!(
            self.env.store("gangnam").current_release().as_deref(),
            Some(self.gangnam_good.as_str()),
            "gangnam keeps its last good release\n{}",
            run.text()
        );
        assert_eq!(
            self.env.store("gangnam").releases(),
            std::slice::from_ref(&self.gangnam_good)
        );
        let current = self.env.path().join("state/stores/gangnam/current");
        let menu = assert_complete(&current);
        assert_eq!(item(&menu, "I100")["price"], 4500);
        assert_eq!(
            common::tree(&current),
            common::tree(&self.env.path().join("web/gangnam")),
            "the target still holds the last good release"
        );
        let status = self.status().await;
        let gangnam = status
            .iter()
            .find(|store| store["store"] == "gangnam")
            .unwrap();
        assert_eq!(gangnam["last_error"]["category"], category, "{gangnam}");
        assert_eq!(gangnam["release"], self.gangnam_good.as_str());
        line
    }

    /// gangnam published a new, complete release despite item-level problems.
    fn assert_gangnam_published(&self, run: &Run) -> Value {
        assert_eq!(
            run.code(),
            Some(0),
            "item-level problems never fail the store\n{}",
            run.text()
        );
        run.assert_within(RUN_LIMIT);
        run.line("gangnam", &["published "]);
        let current = self
            .env
            .store("gangnam")
            .current_release()
            .expect("gangnam has a release");
        assert_ne!(current, self.gangnam_good, "a new release\n{}", run.text());
        let dir = self.env.store("gangnam").release_dir(&current);
        let menu = assert_complete(&dir);
        assert_eq!(
            common::tree(&dir),
            common::tree(&self.env.path().join("web/gangnam")),
            "the target got the new release"
        );
        menu
    }

    /// hongdae published its changed menu in the same run.
    fn assert_hongdae_published(&self, run: &Run) {
        run.line("hongdae", &["published "]);
        assert!(
            !run.lines("hongdae")
                .iter()
                .any(|line| line.contains("failed ")),
            "hongdae did not fail\n{}",
            run.text()
        );
        let current = self
            .env
            .store("hongdae")
            .current_release()
            .expect("hongdae has a release");
        assert_ne!(current, self.hongdae_first, "hongdae published anew");
        let menu = assert_complete(&self.env.store("hongdae").release_dir(&current));
        assert_eq!(item(&menu, "I100")["price"], 4800);
        assert_eq!(image_paths(&menu).len(), 3);
        assert_eq!(
            item(
                &common::tree_menu(&self.env.path().join("web/hongdae")),
                "I100"
            )["price"],
            4800
        );
    }

    async fn status(&self) -> Vec<Value> {
        let output = self.env.run(&["status", "--json"]).await;
        assert!(output.status.success(), "{}", common::text(&output));
        serde_json::from_slice(&output.stdout).expect("status --json prints JSON")
    }

    /// What a misbehaving POS must never harm: hongdae published in the same
    /// run, nothing was written out of place, and every connection closed.
    async fn assert_unharmed(&self, run: &Run, pos: &GangnamPos) {
        self.assert_hongdae_published(run);
        self.assert_contained();
        pos.assert_idle().await;
    }

    /// Nothing was written outside `state/` and the target `web/`, and
    /// everything inside has the documented shape.
    fn assert_contained(&self) {
        let root = self.env.path();
        let mut unexpected = Vec::new();
        walk(root, root, &mut unexpected);
        assert!(
            unexpected.is_empty(),
            "unexpected paths in the env: {unexpected:#?}"
        );
        for path in ["etc", "state/etc", "state/stores/etc", "web/etc"] {
            assert!(!root.join(path).exists(), "{path} was created");
        }
        assert_eq!(
            root.parent().unwrap().join("etc/passwd").exists(),
            self.parent_passwd_existed,
            "nothing created next to the env"
        );
    }
}

/// A network failure of gangnam's pass names the menu request, in the
/// failure itself or, when retries let the pass deadline end it first, in the
/// retry warnings.
fn assert_names_the_menu_request(run: &Run, failed_line: &str) {
    assert!(
        failed_line.contains("/api/menu") || failed_line.contains("did not finish within"),
        "{failed_line}"
    );
    run.line("gangnam", &["category=network", "/api/menu"]);
}

/// Collects every path under `root` that does not fit the documented layout.
fn walk(root: &Path, dir: &Path, unexpected: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("dir entry").path();
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if !allowed(&relative) {
            unexpected.push(relative);
            continue;
        }
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        if metadata.is_dir() {
            walk(root, &path, unexpected);
        }
    }
}

fn allowed(relative: &str) -> bool {
    let parts: Vec<&str> = relative.split('/').collect();
    let store = |id: &str| matches!(id, "gangnam" | "hongdae");
    let release_part = |rest: &[&str]| match rest {
        [] | ["data"] | ["data", "menu.json"] | ["images"] => true,
        ["images", name] => is_content_name(name),
        _ => false,
    };
    let page = |name: &str| {
        name.strip_suffix(".html").is_some_and(|stem| {
            stem == "index" || stem == "held" || menusync::publish::is_release_id(stem)
        })
    };
    match parts.as_slice() {
        ["stores.toml"] | ["state"] | ["state", "stores"] | ["web"] => true,
        // The preview pages (src/preview), under the state directory only.
        ["state", "preview"] | ["state", "preview", "index.html"] => true,
        ["state", "preview", id, rest @ ..] if store(id) => match rest {
            [] | ["changes"] | ["images"] => true,
            [name] => page(name),
            ["changes", name] => page(name),
            ["images", name] => is_content_name(name),
            _ => false,
        },
        // The variant cache (src/image_variants/cache.rs): `<16 hex>-<8 hex>/`.
        ["state", "variants"] => true,
        ["state", "variants", key, rest @ ..] => {
            let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
            let key_ok = key
                .split_once('-')
                .is_some_and(|(hash, settings)| hex(hash, 16) && hex(settings, 8));
            key_ok
                && match rest {
                    [] | ["sizes.json"] => true,
                    [name] => is_content_name(name),
                    _ => false,
                }
        }
        ["state", "stores", id] => store(id),
        ["state", "stores", id, rest @ ..] if store(id) => match rest {
            [".lock" | "state.json" | "current" | "releases" | "staging"] => true,
            ["releases", _release, inner @ ..] => release_part(inner),
            _ => false,
        },
        ["web", id, inner @ ..] => store(id) && release_part(inner),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// 1. Answers slowly or never

#[tokio::test]
async fn a_pos_that_never_answers_is_a_network_failure_cut_by_the_timeouts() {
    let pos =
        GangnamPos::start(|request| (request.path == "/api/menu").then_some(Reply::Hang)).await;
    let (scenario, run) = Scenario::misbehaving_run(&pos).await;
    let line = scenario.assert_gangnam_failed(&run, "network").await;
    assert!(
        line.contains("timed out") || line.contains("did not finish within"),
        "cut by the read timeout or the pass deadline: {line}"
    );
    scenario.assert_unharmed(&run, &pos).await;
}

// 2. Resets connections

#[tokio::test]
async fn a_pos_that_resets_connections_is_a_network_failure() {
    let pos = GangnamPos::start(|_| Some(Reply::Reset)).await;
    let (scenario, run) = Scenario::misbehaving_run(&pos).await;
    let line = scenario.assert_gangnam_failed(&run, "network").await;
    assert_names_the_menu_request(&run, &line);
    scenario.assert_unharmed(&run, &pos).await;
}

// 3. HTML error pages with status 200

#[tokio::test]
async fn an_html_page_with_status_200_is_a_data_failure_quoting_the_body_start() {
    // No `"` or control characters, so the quoted start reads back verbatim.
    let page = format!(
        "<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><h1>Maintenance</h1>{}<p>TAIL-MARKER-NOT-QUOTED</p></body></html>",
        "<p>The POS is under maintenance, please come back later.</p>".repeat(8)
    );
    assert!(page.len() > 400);
    let body = page.clone();
    let pos = GangnamPos::start(move |request| {
        (request.path == "/api/menu")
            .then(|| Reply::bytes("text/html; charset=utf-8", body.clone().into_bytes()))
    })
    .await;
    let (scenario, run) = Scenario::misbehaving_run(&pos).await;
    let line = scenario.assert_gangnam_failed(&run, "data").await;
    assert!(line.contains("HTML"), "says it is HTML: {line}");
    assert!(
        !line.contains("TAIL-MARKER-NOT-QUOTED"),
        "quotes only the start: {line}"
    );
    let (_, after) = line
        .split_once("<!DOCTYPE html>")
        .unwrap_or_else(|| panic!("quotes the body start: {line}"));
    let quoted = format!("<!DOCTYPE html>{}", after.split('"').next().unwrap());
    assert!(
        page.starts_with(&quoted),
        "quote is the body's start: {quoted}"
    );
    assert!(
        quoted.len() >= 100 && quoted.len() <= 200,
        "quotes at most 200 bytes, got {}: {quoted}",
        quoted.len()
    );
    scenario.assert_unharmed(&run, &pos).await;
}

// 4. Truncated bodies

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_a_network_failure() {
    let pos = GangnamPos::start(|request| {
        (request.path == "/api/menu").then(|| {
            let full = serde_json::to_vec(&menu_doc(4700)).unwrap();
            let sent = &full[..full.len() / 2];
            let mut bytes = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                full.len()
            )
            .into_bytes();
            bytes.extend_from_slice(sent);
            Reply::Raw(bytes)
        })
    })
    .await;
    let (scenario, run) = Scenario::misbehaving_run(&pos).await;
    let line = scenario.assert_gangnam_failed(&run, "network").await;
    assert_names_the_menu_request(&run, &line);
    scenario.assert_unharmed(&run, &pos).await;
}

#[tokio::test]
async fn a_complete_response_with_json_cut_in_the_middle_is_a_data_failure() {
    let pos = GangnamPos::start(|request| {
        (request.path == "/api/menu").then(|| {
            let full = serde_json::to_vec(&menu_doc(4700)).unwrap();
            Reply::bytes("application/json", full[..full.len() / 2].to_vec())
        })
    })
    .await;
    let (scenario, run) = Scenario::misbehaving_run(&pos).await;
    let line = scenario.assert_gangnam_failed(&run, "data").await;
    assert!(line.contains("not JSON"), "{line}");
    assert!(line.contains("categoryId"), "quotes the body start: {line}");
    scenario.assert_unharmed(&run, &pos).await;
}

// 5. Zero items during maintenance

#[tokio::test]
async fn an_empty_menu_is_held_back_until_allow_shrink() {
    let pos = GangnamPos::start(|request| {
        (request.path == "/api/menu").then(|| {
            let mut menu = menu_doc(4500);
            menu["items"] = json!([]);
            Reply::json(&menu)
        })
    })
    .await;
    let scenario = Scenario::start(&pos).await;
    pos.misbehave();

    let run_held = run(&scenario.env, &["once"]).await;
    let line = scenario.assert_gangnam_failed(&run_held, "data").await;
    assert!(line.contains("no visible items"), "{line}");
    assert!(line.contains("--allow-shrink"), "names the way out: {line}");
    scenario.assert_hongdae_published(&run_held);
    scenario.assert_contained();

    let hongdae_now = scenario.env.store("hongdae").current_release();
    let forced = run(
        &scenario.env,
        &["once", "--store", "gangnam", "--allow-shrink"],
    )
    .await;
    assert_eq!(forced.code(), Some(0), "{}", forced.text());
    forced.assert_within(RUN_LIMIT);
    let menu = scenario.assert_gangnam_published(&forced);
    let items: usize = menu["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|category| category["items"].as_array().unwrap().len())
        .sum();
    assert_eq!(items, 0, "the empty menu is live: {menu}");
    assert!(forced.lines("hongdae").is_empty(), "only gangnam ran");
    assert_eq!(scenario.env.store("hongdae").current_release(), hongdae_now);
    scenario.assert_contained();
    pos.assert_idle().await;
}

// 6. A repeated imageId

#[tokio::test]
async fn a_repeated_image_id_is_an_item_level_warning() {
    let pos = GangnamPos::start(|request| match request.path.as_str() {
        "/api/menu" => Some(Reply::json(&menu_doc(4700))),
        "/api/images" => {
            let mut list = default_list();
            let other = PosImage::honest("IMG100", fixture_image("IMG105.png"));
            let mut duplicate = list_entry(&other);
            duplicate["url"] = json!("/img/IMG105");
            list["images"].as_array_mut().unwrap().push(duplicate);
            Some(Reply::json(&list))
        }
        _ => None,
    })
    .await;
    let (scenario, run) = Scenario::misbehaving_run(&pos).await;
    let menu = scenario.assert_gangnam_published(&run);
    run.line(
        "gangnam",
        &["category=data", "image IMG100", "appears twice"],
    );
    assert_eq!(item(&menu, "I100")["price"], 4700);
    assert_eq!(image_paths(&menu).len(), 3, "every item keeps an image");
    // Published as its variants, named after the original's content.
    let i100 = item(&menu, "I100")["image"].as_str().unwrap();
    assert!(i100.starts_with("/images/"), "{i100}");
    assert_eq!(
        &i100["/images/".len()..][..16],
        &sha256_hex(&fixture_image("IMG100.jpg"))[..16],
        "the first entry is used"
    );
    assert!(
        !pos.paths("GET").iter().any(|path| path == "/img/IMG105"),
        "the duplicate entry is never fetched"
    );
    scenario.assert_unharmed(&run, &pos).await;
}

// 7. An image url pointing at a redirect loop

#[tokio::test]
async fn an_image_behind_a_redirect_loop_is_left_out_of_its_item() {
    let pos = GangnamPos::start(|request| match request.path.as_str() {
        "/api/menu" => Some(Reply::json(&menu_doc(4700))),
        "/api/images" => {
            let mut list = default_list();
            list["images"][1] = json!({"imageId": "IMG101", "url": "/img/loop-a"});
            Some(Reply::json(&list))
        }
        "/img/loop-a" => Some(redirect("/img/loop-b")),
        "/img/loop-b" => Some(redirect("/img/loop-a")),
        _ => None,
    })
    .await;
    let (scenario, run) = Scenario::misbehaving_run(&pos).await;
    let menu = scenario.assert_gangnam_published(&run);
    assert!(
        item(&menu, "I101").get("image").is_none(),
        "I101 has no image: {menu}"
    );
    assert!(item(&menu, "I100")["image"].is_string());
    assert!(item(&menu, "I102")["image"].is_string());
    run.line("gangnam", &["category=data", "image IMG101", "redirect"]);
    let hops = pos
        .paths("GET")
        .iter()
        .filter(|path| path.starts_with("/img/loop-"))
        .count();
    assert!(
        (1..=50).contains(&hops),
        "the loop is followed a bounded number of times: {hops}"
    );
    scenario.assert_unharmed(&run, &pos).await;
}

// 8. Image names and ids such as ../../etc/passwd

#[tokio::test]
async fn hostile_ids_and_urls_never_become_paths() {
    let pos = GangnamPos::start(|request| match request.path.as_str() {
        "/api/menu" => {
            let mut menu = menu_doc(4700);
            menu["items"][0]["imageId"] = json!("../../etc/passwd");
            let items = menu["items"].as_array_mut().unwrap();
            items.push(json!({"itemId": "../../I666", "categoryId": "C10",
                "name": "경로", "price": 100, "imageId": "IMG103"}));
            items.push(json!({"itemId": "/abs/I667", "categoryId": "C10",
                "name": "절대", "price": 200, "imageId": "/abs/path"}));
            items.push(json!({"itemId": "I668", "categoryId": "C10",
                "name": "파일", "price": 300, "imageId": "IMG104"}));
            Some(Reply::json(&menu))
        }
        "/api/images" => Some(Reply::json(&json!({"images": [
            {"imageId": "../../etc/passwd", "url": "/img/IMG100"},
            {"imageId": "IMG101", "url": "../../../../etc/passwd"},
            {"imageId": "IMG102", "url": "/abs/path"},
            {"imageId": "IMG103", "url": "file:///etc/passwd"},
            {"imageId": "/abs/path", "url": "/img/IMG105"},
            {"imageId": "IMG104", "url": "../../../../../../../../tmp/../etc/passwd%00.png"}
        ]}))),
        // What the hostile urls resolve to on the POS origin: real images, so
        // they are downloaded and must land under content names.
        "/etc/passwd" => Some(Reply::bytes("image/jpeg", fixture_image("IMG101.jpg"))),
        "/abs/path" => Some(Reply::bytes("image/png", fixture_image("IMG102.png"))),
        _ => None,
    })
    .await;
    let (scenario, run) = Scenario::misbehaving_run(&pos).await;
    let menu = scenario.assert_gangnam_published(&run);
    // Hostile item ids are only data: such an item is published (or skipped), never a path.
    let file_item = common::find_item(&menu, "../../I666");
    assert!(
        file_item.is_none_or(|item| item.get("image").is_none()),
        "the file:// image is refused: {menu}"
    );
    run.line("gangnam", &["category=data", "image IMG103"]);
    scenario.assert_hongdae_published(&run);
    scenario.assert_contained();
    // The menu.json of every release is the only file under data/.
    for release in scenario.env.store("gangnam").releases() {
        let data = scenario
            .env
            .store("gangnam")
            .release_dir(&release)
            .join("data");
        let names: BTreeSet<String> = std::fs::read_dir(data)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, BTreeSet::from(["menu.json".to_string()]));
    }
    pos.assert_idle().await;
}

// 9. A 2 GB body

/// A menu body that never ends, announced as 2 GB or chunked, is cut at the cap.
async fn assert_endless_menu_is_refused_at_the_cap(announced: Option<u64>) {
    let pos = GangnamPos::start(move |request| {
        (request.path == "/api/menu").then(|| Reply::Endless {
            content_type: "application/json".into(),
            announced,
        })
    })
    .await;
    let (scenario, run) = Scenario::misbehaving_run(&pos).await;
    let line = scenario.assert_gangnam_failed(&run, "data").await;
    assert!(
        line.contains("cap") && line.contains(&MAX_MENU_BYTES.to_string()),
        "names the byte cap: {line}"
    );
    run.assert_within(PASS_TIMEOUT);
    assert!(
        !run.log().contains("did not finish within"),
        "{}",
        run.text()
    );
    scenario.assert_unharmed(&run, &pos).await;
    pos.assert_cut_early(&run);
}

#[tokio::test]
async fn a_menu_announcing_2_gb_is_refused_at_the_cap_quickly() {
    assert_endless_menu_is_refused_at_the_cap(Some(TWO_GB)).await;
}

#[tokio::test]
async fn an_endless_chunked_menu_is_refused_at_the_cap_quickly() {
    assert_endless_menu_is_refused_at_the_cap(None).await;
}

#[tokio::test]
async fn a_2_gb_image_is_left_out_of_its_item() {
    let pos = GangnamPos::start(|request| match request.path.as_str() {
        "/api/menu" => Some(Reply::json(&menu_doc(4700))),
        "/api/images" => {
            let mut list = default_list();
            // No size or sha256: only the response itself tells how big it is.
            list["images"][1] = json!({"imageId": "IMG101", "url": "/img/huge-announced"});
            list["images"][2] = json!({"imageId": "IMG102", "url": "/img/huge-chunked"});
            Some(Reply::json(&list))
        }
        "/img/huge-announced" => Some(Reply::Endless {
            content_type: "image/jpeg".into(),
            announced: Some(TWO_GB),
        }),
        "/img/huge-chunked" => Some(Reply::Endless {
            content_type: "image/png".into(),
            announced: None,
        }),
        _ => None,
    })
    .await;
    let (scenario, run) = Scenario::misbehaving_run(&pos).await;
    let menu = scenario.assert_gangnam_published(&run);
    run.assert_within(PASS_TIMEOUT);
    assert!(item(&menu, "I100")["image"].is_string());
    assert!(item(&menu, "I101").get("image").is_none(), "{menu}");
    assert!(item(&menu, "I102").get("image").is_none(), "{menu}");
    run.line("gangnam", &["category=data", "image IMG101", "cap"]);
    run.line("gangnam", &["category=data", "image IMG102", "cap"]);
    scenario.assert_unharmed(&run, &pos).await;
    pos.assert_cut_early(&run);
}
