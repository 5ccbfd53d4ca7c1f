//! The image lifetime rule, over many releases: an image file lives in a
//! release only while that release's menu names it, or while it is within
//! `image_grace_secs` of a kept release that named it; every target holds
//! exactly its release's images, in both modes.
//!
//! Regression (issue 23): each release carried every image file of the
//! release it replaced, including images that release only carried itself,
//! so images rode forward for ever (33 files where the menu named 24, and the
//! same on the web target).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{Env, StoreDir, image_files, text, tree_menu};

const ITEMS: usize = 6;
/// Files each item's photo is published as: the fixture PNG is narrower
/// than every width, so one width, in WebP and JPEG (`image_variants`).
const FILES_PER_PHOTO: usize = 2;

fn config(env: &Env, grace_secs: u64) {
    env.write_config(&format!(
        r#"
[daemon]
state_dir = "state"
keep_releases = 3
image_grace_secs = {grace_secs}
hold_price_change_percent = 0
[pos.demo]
kind = "fixture"
path = "pos"
[target.files]
kind = "rsync"
dest = "web-files"
[target.releases]
kind = "rsync"
dest = "web-releases"
mode = "releases"
[[store]]
id = "gangnam"
name = "강남점"
pos = "demo"
pos_store_id = "S001"
targets = ["files", "releases"]
"#
    ));
}

/// Round `round`'s POS: items 0 and 1 keep their images; of items 2 to 5,
/// one gets a new image every round, each in turn.
fn write_round(env: &Env, round: usize) {
    common::fixture_pos::write_store(&env.path().join("pos"), ITEMS, 1000, &|i| {
        let version = if i < 2 { 0 } else { (round + 4 - (i - 2)) / 4 };
        format!("item{i}-v{version}")
    });
}

/// The image files under `dir/images`.
fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir.join("images"))
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// The image files the menu under `dir` names, every variant included.
fn named(dir: &Path) -> BTreeSet<String> {
    image_files(&tree_menu(dir))
        .into_iter()
        .map(|path| path.trim_start_matches("/images/").to_string())
        .collect()
}

fn once(env: &Env) {
    let output = env.run_blocking(&["once"]);
    assert!(output.status.success(), "{}", text(&output));
}

/// What the rule allows in the current release: what its menu names, and
/// what each kept release names (all are within a long grace).
fn allowed(store: &StoreDir) -> BTreeSet<String> {
    store
        .releases()
        .iter()
        .flat_map(|release| named(&store.release_dir(release)))
        .collect()
}

fn check_targets(env: &Env, want: &BTreeSet<String>, round: usize) {
    let files_target = env.path().join("web-files/gangnam");
    assert_eq!(&files(&files_target), want, "files target, round {round}");
    let releases_target = env.path().join("web-releases/gangnam/current");
    assert_eq!(
        &files(&releases_target),
        want,
        "releases target, round {round}"
    );
}

#[test]
fn images_live_as_long_as_a_kept_release_within_the_grace_names_them() {
    let env = Env::new("http://127.0.0.1:9");
    config(&env, 3600);
    let store = env.store("gangnam");
    for round in 0..20 {
        write_round(&env, round);
        once(&env);
        let current = store.current();
        let want = allowed(&store);
        assert!(
            named(&current).is_subset(&want),
            "round {round}: the menu's own images are allowed"
        );
        assert_eq!(files(&current), want, "round {round}: current release");
        check_targets(&env, &want, round);
    }
    // Three kept releases, each naming six photos: never more than 18 photos.
    assert!(files(&store.current()).len() <= 3 * ITEMS * FILES_PER_PHOTO);
}

#[test]
fn with_no_grace_a_release_holds_only_what_its_menu_names() {
    let env = Env::new("http://127.0.0.1:9");
    config(&env, 0);
    let store = env.store("gangnam");
    for round in 0..8 {
        write_round(&env, round);
        once(&env);
        let want = named(&store.current());
        assert_eq!(want.len(), ITEMS * FILES_PER_PHOTO);
        assert_eq!(
            files(&store.current()),
            want,
            "round {round}: current release"
        );
        check_targets(&env, &want, round);
    }
}
