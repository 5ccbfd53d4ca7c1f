//! What must hold whatever happens to the process or its disk: kill -9 at any
//! instant, a full or broken disk, and API keys that never reach a log.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Env, default_images, menu_doc, serve_pos, text};
use wiremock::MockServer;

fn fixture_config(env: &Env, state_dir: &Path) {
    env.write_config(&format!(
        r#"
[daemon]
state_dir = "{state}"
# Every round moves all prices; this test is about crashes, not the price gate.
hold_price_change_percent = 0
[pos.demo]
kind = "fixture"
path = "pos"
[[store]]
id = "gangnam"
name = "강남점"
pos = "demo"
pos_store_id = "S001"
"#,
        state = state_dir.display()
    ));
}

/// Checks that `current`, if any, is a complete release: its menu parses and every image exists whole.
/// Returns the price of item I0, which tells which menu version is live.
fn check_current(store_root: &Path) -> Option<i64> {
    let current = store_root.join("current");
    std::fs::symlink_metadata(&current).ok()?;
    let bytes =
        std::fs::read(current.join("data/menu.json")).expect("current always has a menu.json");
    let menu: serde_json::Value =
        serde_json::from_slice(&bytes).expect("current's menu.json is complete JSON");
    // Every file the menu names, each width of a photo included, decodes whole.
    for image in common::image_files(&menu) {
        let file = current.join(image.trim_start_matches('/'));
        let bytes =
            std::fs::read(&file).unwrap_or_else(|_| panic!("{image} is missing from current"));
        assert!(
            image::load_from_memory(&bytes).is_ok(),
            "{image} is a whole image"
        );
    }
    Some(common::item(&menu, "I0")["price"].as_i64().unwrap())
}

fn once(env: &Env) -> std::process::Output {
    Command::new(assert_cmd::cargo::cargo_bin("menusync"))
        .arg("--config")
        .arg(env.config())
        .arg("once")
        .output()
        .unwrap()
}

#[test]
fn kill_9_at_any_instant_leaves_a_complete_release_current() {
    let env = Env::new("http://127.0.0.1:9");
    let pos_dir = env.path().join("pos");
    let state = env.path().join("state");
    fixture_config(&env, &state);
    common::fixture_pos::write_store(&pos_dir, 120, 1000, &|i| format!("v0-{i}"));
    let started = std::time::Instant::now();
    assert!(once(&env).status.success());
    // Kills are spread over the time a whole pass takes here, and a bit beyond.
    let full_pass = started.elapsed();
    let store_root = state.join("stores/gangnam");

    let mut interrupted = 0;
    let mut completed = 0;
    for round in 1..=24u32 {
        // Each round changes every price and every image, so a pass has real work to do.
        let price = 1000 + round as i64 * 100;
        common::fixture_pos::write_store(&pos_dir, 120, price, &|i| format!("v{round}-{i}"));
        let before = check_current(&store_root);
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("menusync"))
            .arg("--config")
            .arg(env.config())
            .arg("once")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full_pass.mul_f64(round as f64 / 20.0));
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();

        let after = check_current(&store_root).expect("a release stays current");
        if after == price {
            completed += 1;
        } else {
            assert_eq!(
                Some(after),
                before,
                "round {round}: current is either the old or the new menu"
            );
            interrupted += 1;
        }
    }
    eprintln!("kill -9 rounds: {interrupted} interrupted, {completed} completed");
    assert!(
        interrupted > 0,
        "no kill landed inside a pass; the test proved nothing"
    );

    // What a kill between a temp file's create and its rename leaves, named
    // as this version and earlier ones name them: the kills above land there
    // only by chance, so the leftovers of such a kill are laid down as well.
    let dead = dead_pid();
    let preview = state.join("preview");
    for file in [
        store_root.join(format!(".state.json.tmp-{dead}")),
        store_root.join(format!(".state.json.tmp-{dead}-4")),
        preview.join(format!(".{dead}.tmp")),
        preview.join(format!(".index.html.tmp-{dead}-9")),
        preview.join("gangnam").join(format!(".{dead}.tmp")),
        preview
            .join("gangnam/changes")
            .join(format!(".index.html.tmp-{dead}-2")),
    ] {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"half written").unwrap();
    }
    std::os::unix::fs::symlink(
        "releases/x",
        store_root.join(format!(".current-{dead}-m-0123456789abcdef0123")),
    )
    .unwrap();

    // The next pass cleans what the kills left and publishes normally.
    let output = once(&env);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(check_current(&store_root), Some(1000 + 24 * 100));
    assert_eq!(
        std::fs::read_dir(store_root.join("staging"))
            .unwrap()
            .count(),
        0
    );
    let left = temp_files(&state);
    assert!(
        left.is_empty(),
        "temp files left after the next pass: {left:#?}"
    );
}

/// The pid of a process that has ended.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// Every temp file (or temp link) under `dir`, by the names menusync gives them.
fn temp_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            found.extend(temp_files(&entry.path()));
        } else if name.starts_with('.') && (name.contains(".tmp") || name.starts_with(".current-"))
        {
            found.push(entry.path());
        }
    }
    found
}

#[test]
fn a_broken_state_dir_is_a_storage_failure_that_keeps_the_release() {
    let env = Env::new("http://127.0.0.1:9");
    let state = env.path().join("state");
    fixture_config(&env, &state);
    common::fixture_pos::write_store(&env.path().join("pos"), 3, 1000, &|i| format!("a-{i}"));
    assert!(once(&env).status.success());
    let store_root = state.join("stores/gangnam");
    let good = check_current(&store_root);

    // Staging cannot be created: a file sits where its folder should be.
    std::fs::remove_dir(store_root.join("staging")).unwrap();
    std::fs::write(store_root.join("staging"), b"not a directory").unwrap();
    common::fixture_pos::write_store(&env.path().join("pos"), 3, 2000, &|i| format!("b-{i}"));
    let output = once(&env);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("failed storage"),
        "{}",
        text(&output)
    );
    assert_eq!(check_current(&store_root), good);
}

/// Unmounts the tmpfs when the test ends, pass or fail.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_storage_failure_that_keeps_the_release() {
    if !common::needs_root(
        "a_full_disk_is_a_storage_failure_that_keeps_the_release",
        "it mounts a 512 KB tmpfs as the state directory",
    ) {
        return;
    }
    let env = Env::new("http://127.0.0.1:9");
    let state = env.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&state)
        .output()
        .unwrap_or_else(|err| panic!("mount not found ({err}): apt-get install mount"));
    assert!(
        mounted.status.success(),
        "cannot mount a tmpfs at {} (root, but no CAP_SYS_ADMIN?): {}",
        state.display(),
        String::from_utf8_lossy(&mounted.stderr).trim()
    );
    let _mount = Mount(state.clone());
    fixture_config(&env, &state);
    common::fixture_pos::write_store(&env.path().join("pos"), 3, 1000, &|i| format!("a-{i}"));
    assert!(once(&env).status.success());
    let store_root = state.join("stores/gangnam");
    let good = check_current(&store_root);

    // 300 distinct images of ~3.6 KB do not fit beside the first release in 512 KB.
    common::fixture_pos::write_store(&env.path().join("pos"), 300, 2000, &|i| format!("big-{i}"));
    let output = once(&env);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(log.contains("failed storage"), "{log}");
    assert_eq!(
        check_current(&store_root),
        good,
        "the last good menu stays served"
    );
    assert_eq!(
        std::fs::read_dir(store_root.join("staging"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn the_api_key_never_reaches_the_output() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    let published = env.run(&["once"]).await;
    assert!(published.status.success(), "{}", text(&published));

    // And a failing pass, whose errors name URLs and statuses.
    pos.reset().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(401).set_body_string("bad key"))
        .mount(&pos)
        .await;
    let failed = env.run(&["once"]).await;
    assert_eq!(failed.status.code(), Some(1));

    for output in [&published, &failed] {
        let all = text(output);
        assert!(all.contains("DEBUG"), "debug logging was on");
        assert!(!all.contains(common::API_KEY), "the key leaked:\n{all}");
    }
    let state = std::fs::read_to_string(env.store_root().join("state.json")).unwrap();
    assert!(!state.contains(common::API_KEY));
}
