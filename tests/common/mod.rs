//! Shared helpers for the integration tests: a mock POS on 127.0.0.1:0, a
//! temp state directory with its own `stores.toml`, and the real binary.

#![allow(dead_code)]

pub mod config;
pub mod daemon;
pub mod deb;
pub mod etcd;
pub mod fixture_pos;
pub mod photos;
pub mod providers;
pub mod raw_pos;
pub mod sshd;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const API_KEY: &str = "test-key-7f3a9c";
pub const KEY_ENV: &str = "MENUSYNC_TEST_POS_KEY";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Set to skip, on purpose, the tests that need root (README, Testing).
pub const SKIP_ROOT: &str = "MENUSYNC_SKIP_ROOT";

/// Whether a test that needs root goes on: `false`, said aloud, when
/// `MENUSYNC_SKIP_ROOT` is set; `true` as root; otherwise the test fails
/// saying what it needs, so a run without root cannot pass unseen.
pub fn needs_root(test: &str, why: &str) -> bool {
    if std::env::var_os(SKIP_ROOT).is_some() {
        println!("SKIPPED: {test}, because {SKIP_ROOT} is set");
        return false;
    }
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "{test} needs root ({why}): run the tests as root, as CI does, \
         or set {SKIP_ROOT}=1 to skip it on purpose"
    );
    true
}

/// A real image from the shipped fixtures.
pub fn fixture_image(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("fixtures/pos/S001/img").join(name)).expect("fixture image exists")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A small menu in the reference protocol; `price` is the Americano's price.
pub fn menu_doc(price: i64) -> Value {
    json!({
        "storeId": "S001",
        "version": 1,
        "currency": "KRW",
        "categories": [
            {"categoryId": "C10", "name": "커피", "displayOrder": 1},
            {"categoryId": "C90", "name": "직원", "visible": false}
        ],
        "items": [
            {"itemId": "I100", "categoryId": "C10", "name": "아메리카노", "price": price,
             "imageId": "IMG100", "displayOrder": 1},
            {"itemId": "I101", "categoryId": "C10", "name": "카페라떼", "price": 5000,
             "imageId": "IMG101", "displayOrder": 2, "soldOut": true},
            {"itemId": "I102", "categoryId": "C10", "name": "바닐라 라떼", "price": 5500,
             "imageId": "IMG102", "displayOrder": 3},
            {"itemId": "I900", "categoryId": "C90", "name": "직원 커피", "price": 1000}
        ]
    })
}

/// One image the mock POS serves at `/img/<id>`.
pub struct PosImage {
    pub id: &'static str,
    pub bytes: Vec<u8>,
    /// What the image list claims as sha256 (None: field absent).
    pub claimed_sha256: Option<String>,
}

impl PosImage {
    pub fn honest(id: &'static str, bytes: Vec<u8>) -> PosImage {
        let claimed_sha256 = Some(sha256_hex(&bytes));
        PosImage {
            id,
            bytes,
            claimed_sha256,
        }
    }
}

pub fn default_images() -> Vec<PosImage> {
    vec![
        PosImage::honest("IMG100", fixture_image("IMG100.jpg")),
        PosImage::honest("IMG101", fixture_image("IMG101.jpg")),
        PosImage::honest("IMG102", fixture_image("IMG102.png")),
    ]
}

/// Serves `menu` and `images` the way `pos-api.md` says, replacing any earlier mocks.
pub async fn serve_pos(server: &MockServer, menu: &Value, images: &[PosImage]) {
    server.reset().await;
    let list: Vec<Value> = images
        .iter()
        .map(|image| {
            let mut entry = json!({
                "imageId": image.id,
                "url": format!("/img/{}", image.id),
                "size": image.bytes.len(),
            });
            if let Some(sha) = &image.claimed_sha256 {
                entry["sha256"] = json!(sha);
            }
            entry
        })
        .collect();
    Mock::given(method("POST"))
        .and(path("/api/menu"))
        .and(header("X-POS-API-KEY", API_KEY))
        .and(body_json(json!({"storeId": "S001"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(menu))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/images"))
        .and(header("X-POS-API-KEY", API_KEY))
        .and(body_json(json!({"storeId": "S001"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"images": list})))
        .mount(server)
        .await;
    for image in images {
        Mock::given(method("GET"))
            .and(path(format!("/img/{}", image.id)))
            .and(header("X-POS-API-KEY", API_KEY))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(image.bytes.clone()))
            .mount(server)
            .await;
    }
}

/// Makes the mock POS answer everything with 503, replacing any earlier mocks.
pub async fn refuse_everything(server: &MockServer) {
    server.reset().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(503))
        .mount(server)
        .await;
}

/// How many requests of `verb` the mock POS received since its last reset.
pub async fn count_requests(server: &MockServer, verb: &str) -> usize {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .iter()
        .filter(|request| request.method.as_str() == verb)
        .count()
}

/// A temp folder holding a `stores.toml` for one store `gangnam` on an http POS.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new(pos_url: &str) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let env = Env { dir };
        env.write_config(
            &(config::daemon(config::MOCK_POS_DAEMON)
                + &config::remote_pos("hq", "http", pos_url, "")
                + &config::rsync_target("web", "web")
                + &config::store("gangnam", "블리스월드 강남점", "hq", "S001", "")),
        );
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("stores.toml")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config(), text).expect("write stores.toml");
    }

    /// The folder of store `id` under this env's `state/`.
    pub fn store(&self, id: &str) -> StoreDir {
        StoreDir::under(self.path(), id)
    }

    /// `gangnam`, the one store of [`Env::new`]'s config.
    fn gangnam(&self) -> StoreDir {
        self.store("gangnam")
    }

    pub fn store_root(&self) -> PathBuf {
        self.gangnam().root
    }

    pub fn current(&self) -> PathBuf {
        self.gangnam().current()
    }

    pub fn releases(&self) -> Vec<String> {
        self.gangnam().releases()
    }

    pub fn current_release(&self) -> Option<String> {
        self.gangnam().current_release()
    }

    pub fn menu(&self) -> Value {
        self.gangnam().menu()
    }

    /// Runs the real binary with `args` against this env's config.
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || command.output().expect("binary runs"))
            .await
            .expect("the command thread does not panic")
    }

    /// [`Env::run`] for a test without a runtime: waits on this thread.
    pub fn run_blocking(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("binary runs")
    }

    /// `menusync --config <this env's> ARGS`, with the POS key, debug logs and a 60 s limit.
    fn command(&self, args: &[&str]) -> assert_cmd::Command {
        let mut command = assert_cmd::Command::cargo_bin("menusync").expect("binary builds");
        command
            .arg("--config")
            .arg(self.config())
            .args(args)
            .env(KEY_ENV, API_KEY)
            .env("MENUSYNC_LOG", "debug")
            .timeout(std::time::Duration::from_secs(60));
        command
    }

    pub async fn status(&self) -> Value {
        let output = self.run(&["status", "--json"]).await;
        assert!(output.status.success(), "status failed: {}", text(&output));
        serde_json::from_slice(&output.stdout).expect("status --json prints JSON")
    }
}

/// One store's folder, `<env>/state/stores/<id>`, as the tests read it.
pub struct StoreDir {
    pub root: PathBuf,
}

impl StoreDir {
    /// Store `id` of a config whose `state_dir` is `state`, relative to `env_dir`.
    pub fn under(env_dir: &Path, id: &str) -> StoreDir {
        StoreDir {
            root: env_dir.join("state/stores").join(id),
        }
    }

    pub fn current(&self) -> PathBuf {
        self.root.join("current")
    }

    pub fn release_dir(&self, release: &str) -> PathBuf {
        self.root.join("releases").join(release)
    }

    /// Kept release names, oldest first (by their menu's mtime, as
    /// menusync orders them: ids are content hashes and say nothing about
    /// time); none when the folder is missing.
    pub fn releases(&self) -> Vec<String> {
        let mut names: Vec<(Option<std::time::SystemTime>, String)> =
            std::fs::read_dir(self.root.join("releases"))
                .map(|entries| {
                    entries
                        .map(|entry| {
                            let entry = entry.unwrap();
                            let menu_time = std::fs::metadata(entry.path().join("data/menu.json"))
                                .and_then(|meta| meta.modified())
                                .ok();
                            (menu_time, entry.file_name().to_string_lossy().into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
        names.sort();
        names.into_iter().map(|(_, name)| name).collect()
    }

    pub fn current_release(&self) -> Option<String> {
        std::fs::read_link(self.current())
            .ok()
            .map(|target| target.file_name().unwrap().to_string_lossy().into_owned())
    }

    /// Whether a menu is published.
    pub fn is_published(&self) -> bool {
        self.current().join("data/menu.json").is_file()
    }

    /// The published menu.json.
    pub fn menu(&self) -> Value {
        tree_menu(&self.current())
    }
}

/// Stdout and stderr of a run, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every file under `root` with its bytes, keyed by relative path (symlinks followed at the root only).
pub fn tree(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("readable dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let relative = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    let root = std::fs::canonicalize(root).expect("tree root exists");
    walk(&root, &root, &mut out);
    out
}

/// Every `image` path in a menu.json.
pub fn image_paths(menu: &Value) -> Vec<String> {
    menu["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|category| category["items"].as_array().unwrap().iter())
        .filter_map(|item| item["image"].as_str().map(str::to_string))
        .collect()
}

/// Every image file a menu.json names: `image`, and both files of each of `imageVariants`.
pub fn image_files(menu: &Value) -> Vec<String> {
    menu["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|category| category["items"].as_array().unwrap().iter())
        .flat_map(|item| {
            let variants = item["imageVariants"].as_array().into_iter().flatten();
            let widths = variants.flat_map(|v| [v["webp"].as_str(), v["jpeg"].as_str()]);
            std::iter::once(item["image"].as_str())
                .chain(widths)
                .flatten()
                .map(str::to_string)
        })
        .collect()
}

/// The item with `id` in a menu.json, if it is there.
pub fn find_item<'a>(menu: &'a Value, id: &str) -> Option<&'a Value> {
    menu["categories"]
        .as_array()?
        .iter()
        .flat_map(|category| category["items"].as_array().into_iter().flatten())
        .find(|item| item["id"] == id)
}

/// The item with `id` in a menu.json.
pub fn item<'a>(menu: &'a Value, id: &str) -> &'a Value {
    find_item(menu, id).unwrap_or_else(|| panic!("item {id} in menu"))
}

/// The menu.json under a release or a pushed store folder, checked against
/// `docs/menu.schema.json`: every menu a test reads is one the web team's
/// contract allows.
pub fn tree_menu(store_dir: &Path) -> Value {
    let file = store_dir.join("data/menu.json");
    let bytes = std::fs::read(&file).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
    let menu: Value = serde_json::from_slice(&bytes).expect("menu.json is JSON");
    assert_menu_schema(&menu, &file.display().to_string());
    menu
}

/// Panics with every complaint `docs/menu.schema.json` has about `menu`.
pub fn assert_menu_schema(menu: &Value, what: &str) {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let text = std::fs::read_to_string(repo().join("docs/menu.schema.json"))
            .expect("docs/menu.schema.json");
        let schema: Value = serde_json::from_str(&text).expect("the menu schema is JSON");
        jsonschema::draft202012::new(&schema).expect("the menu schema compiles")
    });
    let errors: Vec<String> = validator
        .iter_errors(menu)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not fit docs/menu.schema.json:\n{}",
        errors.join("\n")
    );
}
