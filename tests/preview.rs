//! Staff see a change before customers do (issue 15), end to end with the
//! real binary on the shipped demo fixtures: a 10× price typo at the POS is
//! held, `status` and the journal say why, the preview pages show old and
//! new price in a real browser (Debian's headless `chromium`, with every
//! host name unresolvable), then `approve` publishes exactly the held
//! release, or `reject` keeps the old menu until the POS changes again.
//! Screenshots of the pages are kept under `target/preview-screenshots/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

/// A temp folder with the demo's fixture POS (store S001 only) and a local target.
struct Story {
    dir: tempfile::TempDir,
}

impl Story {
    fn new() -> Story {
        let dir = tempfile::tempdir().unwrap();
        let pos = dir.path().join("pos/S001");
        std::fs::create_dir_all(&pos).unwrap();
        let options = fs_extra::dir::CopyOptions::new().content_only(true);
        fs_extra::dir::copy(common::repo().join("fixtures/pos/S001"), &pos, &options).unwrap();
        // The previews are mirrored to `staff`, as to an internal host.
        let text = common::config::daemon("preview_target = \"staff\"\n")
            + &common::config::fixture_pos("demo", "pos")
            + &common::config::rsync_target("web", "web")
            + &common::config::rsync_target("staff", "staff")
            + &common::config::store("gangnam", "블리스월드 강남점", "demo", "S001", "");
        std::fs::write(dir.path().join("stores.toml"), text).unwrap();
        Story { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Output {
        assert_cmd::Command::cargo_bin("menusync")
            .unwrap()
            .arg("--config")
            .arg(self.path().join("stores.toml"))
            .args(args)
            .env("MENUSYNC_LOG", "info")
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            common::text(&output)
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// Sets item `id`'s price at the fixture POS, dated now as a POS dates its edits.
    fn set_price(&self, id: &str, price: i64) {
        let file = self.path().join("pos/S001/menu.json");
        let mut menu: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        menu["updatedAt"] = chrono::Utc::now().to_rfc3339().into();
        for item in menu["items"].as_array_mut().unwrap() {
            if item["itemId"] == id {
                item["price"] = price.into();
            }
        }
        std::fs::write(&file, serde_json::to_vec_pretty(&menu).unwrap()).unwrap();
    }

    fn store(&self) -> common::StoreDir {
        common::StoreDir::under(self.path(), "gangnam")
    }

    fn status(&self) -> Value {
        let text = self.ok(&["status", "--json"]);
        let start = text.find('[').unwrap();
        serde_json::from_str::<Value>(&text[start..]).unwrap()[0].clone()
    }

    fn preview(&self, page: &str) -> PathBuf {
        self.path().join("state/preview").join(page)
    }

    /// Published, then the latte keyed in at ten times its price: held.
    fn typo(&self) -> String {
        self.ok(&["once"]);
        self.set_price("I101", 50_000);
        self.ok(&["once"])
    }
}

/// The page as headless Chromium renders it: its DOM after layout, and a
/// screenshot under target/. No name resolves, so nothing could be fetched.
fn browse(page: &Path, shot: &str) -> String {
    let screenshots = common::repo().join("target/preview-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let url = format!("file://{}", page.display());
    let chromium = |extra: &[String]| {
        let output = Command::new("timeout")
            .arg("60")
            .arg("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--window-size=412,1600",
            ])
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs (tests/setup.sh tests installs it)");
        assert!(output.status.success(), "{}", common::text(&output));
        output
    };
    let png = screenshots.join(shot);
    chromium(&[format!("--screenshot={}", png.display())]);
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{}",
        png.display()
    );
    let dom = chromium(&["--dump-dom".to_string()]);
    String::from_utf8(dom.stdout).unwrap()
}

/// Nothing in a page may point anywhere but its own folder.
fn assert_self_contained(page: &Path) {
    let html = std::fs::read_to_string(page).unwrap();
    for outside in ["http://", "https://", "//", "<script"] {
        let found = html.match_indices(outside).find(|(at, _)| {
            // `//` only counts as a scheme-relative URL inside an attribute.
            outside != "//" || html[..*at].ends_with('"')
        });
        assert!(found.is_none(), "{} refers to {outside}", page.display());
    }
}

#[test]
fn a_tenfold_typo_is_held_shown_and_approved_exactly() {
    let story = Story::new();
    let log = story.typo();
    let published = story.store().current_release().unwrap();

    // The journal line and status say why.
    assert!(
        log.contains("held") && log.contains("카페라떼 900% (₩5,000 → ₩50,000)"),
        "{log}"
    );
    let status = story.status();
    let held = &status["held"];
    let held_release = held["release"].as_str().unwrap().to_string();
    assert_ne!(held_release, published);
    assert!(
        held["reasons"][0].as_str().unwrap().contains("₩50,000"),
        "{status}"
    );
    assert_eq!(status["release"], published.as_str(), "the menu stays");
    assert_eq!(
        common::item(&story.store().menu(), "I101")["price"],
        5000,
        "customers still see the old price"
    );
    let table = story.ok(&["status"]);
    assert!(table.contains(&format!("HELD {held_release}")), "{table}");

    // The preview pages, as a browser shows them.
    let held_page = story.preview("gangnam/held.html");
    assert_self_contained(&held_page);
    let dom = browse(&held_page, "held.png");
    assert!(dom.contains("Held: not published yet"), "{dom}");
    assert!(dom.contains("카페라떼") && dom.contains("₩50,000"), "{dom}");
    assert!(dom.contains("menusync approve gangnam"));
    let changes = story.preview(&format!("gangnam/changes/{held_release}.html"));
    assert_self_contained(&changes);
    let dom = browse(&changes, "changes.png");
    assert!(
        dom.contains("price up") && dom.contains("₩5,000 → <b>₩50,000</b>"),
        "{dom}"
    );
    let menu_page = story.preview("gangnam/index.html");
    assert_self_contained(&menu_page);
    let dom = browse(&menu_page, "menu.png");
    assert!(
        dom.contains("아메리카노") && dom.contains("₩4,500"),
        "{dom}"
    );
    assert!(dom.contains("sold out"), "sold-out marks show");
    assert!(
        dom.contains("mon tue wed thu fri 14:00–17:00"),
        "windows show"
    );
    // Every photo the page shows is there beside it.
    for image in dom
        .match_indices("src=\"images/")
        .map(|(at, _)| &dom[at + 5..])
    {
        let name = &image[..image.find('"').unwrap()];
        assert!(story.preview("gangnam").join(name).is_file(), "{name}");
    }

    // The staff host got the same pages.
    let mirrored = story.path().join("staff/gangnam/held.html");
    assert_eq!(
        std::fs::read(&mirrored).unwrap(),
        std::fs::read(&held_page).unwrap()
    );
    assert!(story.path().join("staff/index.html").is_file());

    // Another pass with the same POS data changes nothing: still held.
    story.ok(&["once"]);
    assert_eq!(story.status()["held"]["release"], held_release.as_str());
    assert_eq!(story.store().releases().len(), 2);
    let shown = story.ok(&["diff", "gangnam"]);
    assert!(
        shown.contains(&format!("held for approval already as {held_release}")),
        "{shown}"
    );

    // Approve publishes exactly the release that was previewed.
    let said = story.ok(&["approve", "gangnam"]);
    assert!(said.contains("approved"), "{said}");
    assert_eq!(story.store().current_release(), Some(held_release.clone()));
    assert_eq!(common::item(&story.store().menu(), "I101")["price"], 50_000);
    let pushed = common::tree_menu(&story.path().join("web/gangnam"));
    assert_eq!(
        common::item(&pushed, "I101")["price"],
        50_000,
        "the target has it"
    );
    let status = story.status();
    assert!(status["held"].is_null(), "{status}");
    // The lag runs from the POS edit to the approval: the wait for staff counts.
    let lag = &status["lag"];
    assert_eq!(lag["release"], held_release.as_str(), "{lag}");
    assert!(lag.get("first_release").is_none(), "{lag}");
    assert!(lag["publish_secs"].as_f64().unwrap() < 600.0, "{lag}");
    assert!(lag["targets"]["web"].as_f64().is_some(), "{lag}");
    assert!(!held_page.exists(), "the held page goes with the hold");
    assert!(!mirrored.exists(), "and from the staff host");
    let output = story.run(&["approve", "gangnam"]);
    assert_eq!(output.status.code(), Some(1), "nothing left to approve");
}

#[test]
fn reject_keeps_the_old_menu_until_the_pos_changes_again() {
    let story = Story::new();
    story.typo();
    let published = story.store().current_release().unwrap();
    let held = story.status()["held"]["release"]
        .as_str()
        .unwrap()
        .to_string();

    let said = story.ok(&["reject", "gangnam"]);
    assert!(said.contains("rejected"), "{said}");
    assert!(
        !story.store().release_dir(&held).exists(),
        "the held release is gone"
    );
    assert_eq!(story.store().current_release(), Some(published.clone()));
    let status = story.status();
    assert!(
        status["held"].is_null() && status["rejected"].is_string(),
        "{status}"
    );

    // The POS still sends the typo: nothing is built, nothing is held.
    story.ok(&["once"]);
    assert_eq!(story.store().releases(), std::slice::from_ref(&published));
    assert!(story.status()["held"].is_null());

    // The POS fixes it (and moves another price a little): that publishes.
    story.set_price("I101", 5200);
    story.ok(&["once"]);
    assert_ne!(story.store().current_release(), Some(published));
    assert_eq!(common::item(&story.store().menu(), "I101")["price"], 5200);
    assert!(story.status()["rejected"].is_null());
}

#[test]
fn approve_is_refused_when_the_pos_moved_on_and_the_new_content_is_held() {
    let story = Story::new();
    story.typo();
    let held = story.status()["held"]["release"]
        .as_str()
        .unwrap()
        .to_string();
    let published = story.store().current_release();

    story.set_price("I101", 60_000);
    let output = story.run(&["approve", "gangnam"]);
    assert_eq!(output.status.code(), Some(1), "{}", common::text(&output));
    let text = common::text(&output);
    assert!(
        text.contains("changed since") && text.contains("held again"),
        "{text}"
    );
    assert_eq!(
        story.store().current_release(),
        published,
        "nothing published"
    );
    let now_held = story.status()["held"].clone();
    assert_ne!(now_held["release"], held.as_str(), "{now_held}");
    assert!(now_held["reasons"][0].as_str().unwrap().contains("₩60,000"));
    assert!(
        !story.store().release_dir(&held).exists(),
        "the stale hold is dropped"
    );

    // `once --approve` is the one-off override: it publishes what the POS sends.
    story.ok(&["once", "--approve"]);
    assert_eq!(common::item(&story.store().menu(), "I101")["price"], 60_000);
    assert!(story.status()["held"].is_null());
}
