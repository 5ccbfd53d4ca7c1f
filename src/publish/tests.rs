//! Tests of the release layout: ordering of the swap, pruning, staging cleanup.

use chrono::TimeZone;

use super::*;

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, second).unwrap()
}

fn hash(c: char) -> String {
    c.to_string().repeat(64)
}

fn publish_one(tree: &StoreTree, c: char, second: u32) -> String {
    let staging = tree.begin(&hash(c), at(second)).unwrap();
    staging
        .write_menu(format!("{{\"v\":\"{c}\"}}\n").as_bytes())
        .unwrap();
    fs::write(
        staging.images_dir().join("0123456789abcdef.jpg"),
        b"\xFF\xD8\xFF",
    )
    .unwrap();
    staging.publish().unwrap()
}

#[test]
fn publish_makes_a_complete_release_current() {
    let dir = tempfile::tempdir().unwrap();
    let tree = StoreTree::new(dir.path(), "gangnam");
    assert_eq!(tree.current_release().unwrap(), None);

    let release = publish_one(&tree, 'a', 0);
    assert_eq!(release, "20261124T090000000Z-aaaaaaaaaaaaaaaa");
    assert!(is_release_id(&release));
    assert_eq!(
        tree.current_release().unwrap().as_deref(),
        Some(release.as_str())
    );
    let live = tree.current_link();
    assert_eq!(fs::read(live.join(MENU_PATH)).unwrap(), b"{\"v\":\"a\"}\n");
    assert!(live.join(IMAGES_DIR).join("0123456789abcdef.jpg").is_file());
    // The link is relative, so the state directory can move.
    assert_eq!(
        fs::read_link(&live).unwrap(),
        Path::new("releases").join(&release)
    );
    // Nothing is left in staging.
    assert_eq!(fs::read_dir(tree.root().join(STAGING)).unwrap().count(), 0);
}

#[test]
fn an_unfinished_staging_release_never_becomes_current() {
    let dir = tempfile::tempdir().unwrap();
    let tree = StoreTree::new(dir.path(), "gangnam");
    let first = publish_one(&tree, 'a', 0);

    let staging = tree.begin(&hash('b'), at(1)).unwrap();
    staging.write_menu(b"{}").unwrap();
    let staged = tree.root().join(STAGING).join(staging.release());
    assert!(staged.is_dir());
    assert_eq!(
        tree.current_release().unwrap().as_deref(),
        Some(first.as_str())
    );
    // A pass that fails after staging drops it, and the staging dir goes with it.
    drop(staging);
    assert!(!staged.exists());
    assert_eq!(
        tree.current_release().unwrap().as_deref(),
        Some(first.as_str())
    );
    assert_eq!(tree.releases().unwrap(), [first]);
}

#[test]
fn clean_staging_removes_what_a_crash_left() {
    let dir = tempfile::tempdir().unwrap();
    let tree = StoreTree::new(dir.path(), "gangnam");
    tree.ensure().unwrap();
    let leftover = tree
        .root()
        .join(STAGING)
        .join("20261124T090000000Z-bbbbbbbbbbbbbbbb");
    fs::create_dir_all(leftover.join("images")).unwrap();
    fs::write(tree.root().join(STAGING).join("stray-file"), b"x").unwrap();
    assert_eq!(tree.clean_staging().unwrap(), 2);
    assert_eq!(fs::read_dir(tree.root().join(STAGING)).unwrap().count(), 0);
}

#[test]
fn prune_keeps_the_newest_and_never_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let tree = StoreTree::new(dir.path(), "gangnam");
    let releases: Vec<String> = "abcdef"
        .chars()
        .enumerate()
        .map(|(i, c)| publish_one(&tree, c, i as u32))
        .collect();
    // Point current back at the oldest, as a rollback would.
    tree.swap_current(&releases[0]).unwrap();
    let removed = tree.prune(3, None).unwrap();
    assert_eq!(removed, &releases[1..3]);
    assert_eq!(
        tree.releases().unwrap(),
        [
            releases[0].clone(),
            releases[3].clone(),
            releases[4].clone(),
            releases[5].clone()
        ]
    );
    assert_eq!(
        tree.current_release().unwrap().as_deref(),
        Some(releases[0].as_str())
    );
}

#[test]
fn release_ids_sort_in_publish_order_even_when_the_clock_does_not_help() {
    let dir = tempfile::tempdir().unwrap();
    let tree = StoreTree::new(dir.path(), "gangnam");
    // Same millisecond with a smaller hash, then a clock stepped back a minute.
    let first = publish_one(&tree, 'f', 30);
    let second = publish_one(&tree, 'a', 30);
    let third = publish_one(&tree, 'a', 0);
    assert_eq!(
        tree.releases().unwrap(),
        [first.clone(), second.clone(), third.clone()]
    );
    assert!(
        is_release_id(&second) && is_release_id(&third),
        "{second} {third}"
    );
    assert_eq!(second, "20261124T090030001Z-aaaaaaaaaaaaaaaa");
    assert_eq!(
        tree.current_release().unwrap().as_deref(),
        Some(third.as_str())
    );
    // Pruning to one keeps the last published, not the largest hash.
    tree.prune(1, None).unwrap();
    assert_eq!(tree.releases().unwrap(), [third]);
}

#[test]
fn a_current_link_to_something_odd_reads_as_no_release() {
    let dir = tempfile::tempdir().unwrap();
    let tree = StoreTree::new(dir.path(), "gangnam");
    tree.ensure().unwrap();
    std::os::unix::fs::symlink("/etc", tree.current_link()).unwrap();
    assert_eq!(tree.current_release().unwrap(), None);
    // And a link to a release that was deleted by hand.
    tree.swap_current("20261124T090000000Z-aaaaaaaaaaaaaaaa")
        .unwrap();
    assert_eq!(tree.current_release().unwrap(), None);
}

#[test]
fn release_id_shape() {
    for good in [
        "20261124T090000000Z-0123456789abcdef",
        "20261231T235959999Z-ffffffffffffffff",
    ] {
        assert!(is_release_id(good), "{good}");
    }
    for bad in [
        "current",
        "..",
        "20261124",
        "20261124T090000Z-0123456789abcdef",
        "20261324T090000000Z-0123456789abcdef",
        "20261124T090000000Z-0123456789abcdeF",
        "20261124T090000000Z-../x",
        "20261124T090000000Z-0123456789abcdef-2",
    ] {
        assert!(!is_release_id(bad), "{bad}");
    }
}

/// The remote prune's `grep -E` pattern agrees with `is_release_id` on shape
/// (the date's validity is beyond a regex: only our own names are there).
#[test]
fn the_remote_pattern_matches_exactly_the_release_id_shape() {
    let names = [
        "20261124T090000000Z-0123456789abcdef",
        "20261231T235959999Z-ffffffffffffffff",
        "current",
        "20261124T090000Z-0123456789abcdef",
        "20261124T090000000Z-0123456789abcdeF",
        "20261124T090000000Z-0123456789abcdef-2",
        "x20261124T090000000Z-0123456789abcdef",
    ];
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '%s\\n' {} | grep -E '{RELEASE_ID_ERE}'",
            names.join(" ")
        ))
        .output()
        .unwrap();
    let matched: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    let expected: Vec<&str> = names.into_iter().filter(|n| is_release_id(n)).collect();
    assert_eq!(matched, expected);
}
