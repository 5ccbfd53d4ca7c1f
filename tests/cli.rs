//! The commands a user types: `check`, `once` on the shipped demo, and the daemon under signals.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Env, default_images, menu_doc, serve_pos, text};
use menusync::cli::INSTALLED_CONFIG;
use wiremock::MockServer;

/// Copies the shipped `stores.toml` and `fixtures/` into a temp dir, as a fresh clone has them.
fn shipped_demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::repo().join("stores.toml"),
        dir.path().join("stores.toml"),
    )
    .unwrap();
    let options = fs_extra::dir::CopyOptions::new();
    fs_extra::dir::copy(common::repo().join("fixtures"), dir.path(), &options).unwrap();
    dir
}

fn menusync(config: &Path) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("menusync").unwrap();
    command
        .arg("--config")
        .arg(config)
        .timeout(Duration::from_secs(60));
    command
}

#[test]
fn check_accepts_the_shipped_config() {
    let output = menusync(&common::repo().join("stores.toml"))
        .arg("check")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("3 stores"));
}

#[test]
fn check_refuses_a_misspelled_key_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(common::repo().join("stores.toml")).unwrap();
    let line = shipped
        .lines()
        .position(|line| line.starts_with("pos_store_id"))
        .unwrap()
        + 1;
    let broken = shipped.replacen("pos_store_id", "pos_stor_id", 1);
    let config = dir.path().join("stores.toml");
    std::fs::write(&config, broken).unwrap();

    let output = menusync(&config).arg("check").output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("stores.toml:{line}:")), "{stderr}");
    assert!(stderr.contains("pos_stor_id"), "{stderr}");
}

#[test]
fn the_shipped_demo_publishes_once_and_then_holds_still() {
    let demo = shipped_demo();
    let config = demo.path().join("stores.toml");
    for _ in 0..2 {
        let output = menusync(&config).arg("once").output().unwrap();
        assert!(output.status.success(), "{}", text(&output));
    }
    for store in ["gangnam", "hongdae", "jamsil"] {
        let root = demo.path().join("var/state/stores").join(store);
        let releases = std::fs::read_dir(root.join("releases")).unwrap().count();
        assert_eq!(releases, 1, "{store}: two runs leave exactly one release");
        let menu = common::tree_menu(&root.join("current"));
        let images = common::image_paths(&menu);
        assert!(!images.is_empty(), "{store} has images");
        for image in images {
            assert!(
                root.join("current")
                    .join(image.trim_start_matches('/'))
                    .is_file(),
                "{store}: {image}"
            );
        }
        assert_eq!(
            common::tree(&root.join("current")),
            common::tree(&demo.path().join("var/web").join(store)),
            "{store}: the local target mirrors the release"
        );
    }
    let gangnam = common::StoreDir::under(&demo.path().join("var"), "gangnam").menu();
    assert_eq!(
        common::item(&gangnam, "I100")["price"],
        4800,
        "the price override applies"
    );
    // Issue 14: the demo shows schema 2's time windows and allergens.
    assert_eq!(gangnam["schemaVersion"], 2);
    assert_eq!(gangnam["store"]["timeZone"], "Asia/Seoul");
    let desserts = gangnam["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|category| category["id"] == "C30")
        .unwrap();
    assert_eq!(
        desserts["availability"],
        serde_json::json!([{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                            "start": "10:00", "end": "22:00"}])
    );
    assert_eq!(
        common::item(&gangnam, "I105")["availability"][0]["start"],
        "14:00"
    );
    assert_eq!(
        common::item(&gangnam, "I101")["allergens"],
        serde_json::json!(["milk"]),
        "우유 is recognised as milk"
    );
    assert_eq!(
        common::item(&gangnam, "I110")["otherAllergens"],
        serde_json::json!(["아몬드"])
    );

    let output = menusync(&config)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status.as_array().unwrap().len(), 3);
    for store in status.as_array().unwrap() {
        assert!(store["release"].is_string(), "{store}");
        assert!(
            Path::new(store["published_dir"].as_str().unwrap()).is_dir(),
            "{store}"
        );
    }
}

#[test]
fn once_with_an_unknown_store_is_refused() {
    let demo = shipped_demo();
    let output = menusync(&demo.path().join("stores.toml"))
        .args(["once", "--store", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nowhere"));
}

#[tokio::test]
async fn the_daemon_publishes_on_schedule_and_stops_cleanly_on_sigterm() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());

    let binary = assert_cmd::cargo::cargo_bin("menusync");
    let mut daemon = std::process::Command::new(binary)
        .arg("--config")
        .arg(env.config())
        .arg("run")
        .env(common::KEY_ENV, common::API_KEY)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // The first pass runs at start; then a price change is picked up by a tick (every second).
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.current_release().is_none() {
        assert!(Instant::now() < deadline, "the daemon never published");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = env.current_release().unwrap();
    serve_pos(&pos, &menu_doc(4900), &default_images()).await;
    while env.current_release().as_deref() == Some(first.as_str()) {
        assert!(
            Instant::now() < deadline,
            "the daemon never picked up the change"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(common::item(&env.menu(), "I100")["price"], 4900);

    let status = std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        loop {
            if let Some(exit) = daemon.try_wait().unwrap() {
                let mut log = String::new();
                std::io::Read::read_to_string(daemon.stdout.as_mut().unwrap(), &mut log).unwrap();
                return (exit, log);
            }
            if started.elapsed() > Duration::from_secs(15) {
                daemon.kill().unwrap();
                panic!("the daemon did not stop within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(exit.0.success(), "exit {:?}\n{}", exit.0, exit.1);
    assert!(exit.1.contains("SIGTERM"), "{}", exit.1);
    // Nothing half-built is left behind.
    let staging = env.store_root().join("staging");
    assert_eq!(std::fs::read_dir(staging).unwrap().count(), 0);
}

/// `menusync check` in `dir` without `--config`, as on a machine with nothing
/// installed: where an installed config exists (the package is on this
/// machine), the binary runs in a private mount namespace with an empty tmpfs
/// over its folder, so the test means the same on every machine.
fn check_without_an_installed_config(dir: &Path) -> std::process::Output {
    let installed = Path::new(INSTALLED_CONFIG);
    if !installed.exists() {
        return assert_cmd::Command::cargo_bin("menusync")
            .unwrap()
            .current_dir(dir)
            .arg("check")
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
    }
    let folder = installed.parent().unwrap().display().to_string();
    // Exit 97 says the hiding failed, which the binary never exits with.
    let script = format!("mount -t tmpfs -o size=16k tmpfs {folder} || exit 97; exec \"$0\" check");
    let output = assert_cmd::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .arg(env!("CARGO_BIN_EXE_menusync"))
        .current_dir(dir)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap_or_else(|err| {
            panic!("{INSTALLED_CONFIG} is installed and hiding it needs unshare ({err}): apt-get install util-linux")
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() != Some(97) && !stderr.starts_with("unshare:"),
        "{INSTALLED_CONFIG} is installed; hiding it from this test needs root \
         (`unshare --mount` and a tmpfs over {folder}): run the tests as root, or remove the \
         installed config: {stderr}"
    );
    output
}

/// Issue 11: without `--config`, a folder with no stores.toml falls back to
/// the installed /etc/menusync/stores.toml; when that is missing too, the
/// error says where menusync looked and what to give.
#[test]
fn without_a_config_anywhere_the_error_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    // `menusync check` in that folder, without --config.
    let check_here = || check_without_an_installed_config(dir.path());
    let output = check_here();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/etc/menusync/stores.toml: cannot read"),
        "{stderr}"
    );
    assert!(stderr.contains("give --config PATH"), "{stderr}");

    // With a stores.toml in the folder, that one is read.
    std::fs::copy(
        common::repo().join("stores.toml"),
        dir.path().join("stores.toml"),
    )
    .unwrap();
    let output = check_here();
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("stores.toml: ok"),
        "{}",
        text(&output)
    );
}
