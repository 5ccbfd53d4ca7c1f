//! Tests of the release layout: content-derived ids, ordering of the swap and
//! of releases, pruning, staging cleanup.

use super::*;

fn menu(c: char) -> Vec<u8> {
    format!("{{\"v\":\"{c}\"}}\n").into_bytes()
}

fn publish_one(tree: &StoreTree, c: char) -> String {
    let mut staging = tree.begin().unwrap();
    staging.write_menu(&menu(c)).unwrap();
    fs::write(
        staging.images_dir().join("0123456789abcdef.jpg"),
        b"\xFF\xD8\xFF",
    )
    .unwrap();
    staging.publish().unwrap()
}

fn menu_mtime(tree: &StoreTree, release: &str) -> SystemTime {
    tree.menu_time(release).expect("the release's menu reads")
}

#[test]
fn publish_makes_a_complete_release_current() {
    let dir = tempfile::tempdir().unwrap();
    let tree = StoreTree::new(dir.path(), "gangnam");
    assert_eq!(tree.current_release().unwrap(), None);

    let release = publish_one(&tree, 'a');
    assert_eq!(release, release_id(&menu('a')));
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
fn a_release_id_is_the_hash_of_its_menu_bytes_only() {
    // sha256 of `{"v":"a"}\n`, its first 20 hex digits.
    assert_eq!(release_id(&menu('a')), "m-00fd60f574b5a2860de4");
    assert_ne!(release_id(&menu('a')), release_id(&menu('b')));
    // Two hosts (two state dirs) building the same menu name the same
    // release, whatever else their releases hold or when they built it.
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = StoreTree::new(one.path(), "gangnam");
    let second = StoreTree::new(two.path(), "gangnam");
    publish_one(&second, 'z');
    let mut staging = second.begin().unwrap();
    fs::write(staging.images_dir().join("carried.jpg"), b"\xFF\xD8\xFF").unwrap();
    staging.write_menu(&menu('a')).unwrap();
    assert_eq!(publish_one(&first, 'a'), staging.publish().unwrap());
    assert_eq!(
        first.current_release().unwrap(),
        second.current_release().unwrap()
    );
}

#[test]
fn a_menu_that_returns_gets_a_fresh_release_under_its_old_name() {
    let dir = tempfile::tempdir().unwrap();
    let tree = StoreTree::new(dir.path(), "gangnam");
    let a = publish_one(&tree, 'a');
    let first_mtime = menu_mtime(&tree, &a);
    // A file only the first copy of A held: the fresh copy must not have it.
    fs::write(tree.release_dir(&a).join("images/stale.jpg"), b"x").unwrap();
    let b = publish_one(&tree, 'b');
    assert_ne!(a, b);
    assert_eq!(tree.releases().unwrap(), [a.clone(), b.clone()]);

    let again = publish_one(&tree, 'a');
    assert_eq!(again, a, "the same menu, the same name");
    assert_eq!(tree.current_release().unwrap().as_deref(), Some(a.as_str()));
    assert!(
        !tree.release_dir(&a).join("images/stale.jpg").exists(),
        "a fresh release, never the old folder reused"
    );
    let mtime = menu_mtime(&tree, &a);
    assert!(mtime > first_mtime && mtime > menu_mtime(&tree, &b));
    assert!(
        mtime
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            > menu_mtime(&tree, &b)
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        "a later whole second than every kept menu (the mtime rule)"
    );
    // Now the newest: B is the one before it.
    assert_eq!(tree.releases().unwrap(), [b.clone(), a.clone()]);
    assert_eq!(fs::read_dir(tree.root().join(STAGING)).unwrap().count(), 0);

    // Building the live menu again leaves the live release as it is.
    let live_mtime = menu_mtime(&tree, &a);
    let mut staging = tree.begin().unwrap();
    staging.write_menu(&menu('a')).unwrap();
    assert_eq!(staging.keep().unwrap(), a);
    assert_eq!(menu_mtime(&tree, &a), live_mtime);
    assert_eq!(fs::read_dir(tree.root().join(STAGING)).unwrap().count(), 0);
}

#[test]
fn an_unfinished_staging_release_never_becomes_current() {
    let dir = tempfile::tempdir().unwrap();
    let tree = StoreTree::new(dir.path(), "gangnam");
    let first = publish_one(&tree, 'a');

    let mut staging = tree.begin().unwrap();
    staging.write_menu(b"{}").unwrap();
    let staged = staging.dir().to_path_buf();
    assert!(staged.is_dir());
    assert!(staged.starts_with(tree.root().join(STAGING)));
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
    let leftover = tree.root().join(STAGING).join("build-4242-0");
    fs::create_dir_all(leftover.join("images")).unwrap();
    fs::write(tree.root().join(STAGING).join("stray-file"), b"x").unwrap();
    assert_eq!(tree.clean_staging().unwrap(), 2);
    assert_eq!(fs::read_dir(tree.root().join(STAGING)).unwrap().count(), 0);
}

#[test]
fn prune_keeps_the_newest_and_never_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let tree = StoreTree::new(dir.path(), "gangnam");
    let releases: Vec<String> = "abcdef".chars().map(|c| publish_one(&tree, c)).collect();
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
fn releases_are_ordered_by_their_menus_mtime_not_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let tree = StoreTree::new(dir.path(), "gangnam");
    // Menus published in the reverse order of their ids.
    let mut menus: Vec<char> = "abc".chars().collect();
    menus.sort_by_key(|c| std::cmp::Reverse(release_id(&menu(*c))));
    let published: Vec<String> = menus.into_iter().map(|c| publish_one(&tree, c)).collect();
    let mut by_name = published.clone();
    by_name.sort();
    assert_ne!(by_name, published, "names sort otherwise");
    assert_eq!(tree.releases().unwrap(), published);
    // A release whose menu does not read is the oldest.
    fs::remove_file(tree.release_dir(&published[1]).join(MENU_PATH)).unwrap();
    assert_eq!(
        tree.releases().unwrap(),
        [
            published[1].clone(),
            published[0].clone(),
            published[2].clone()
        ]
    );
    // Pruning to one keeps the last published, not the largest name.
    tree.prune(1, None).unwrap();
    assert_eq!(tree.releases().unwrap(), [published[2].clone()]);
    assert_eq!(
        tree.current_release().unwrap().as_deref(),
        Some(published[2].as_str())
    );
}

#[test]
fn a_current_link_to_something_odd_reads_as_no_release() {
    let dir = tempfile::tempdir().unwrap();
    let tree = StoreTree::new(dir.path(), "gangnam");
    tree.ensure().unwrap();
    std::os::unix::fs::symlink("/etc", tree.current_link()).unwrap();
    assert_eq!(tree.current_release().unwrap(), None);
    // And a link to a release that was deleted by hand.
    tree.swap_current("m-aaaaaaaaaaaaaaaaaaaa").unwrap();
    assert_eq!(tree.current_release().unwrap(), None);
}

#[test]
fn release_id_shape() {
    for good in [
        "m-0123456789abcdef0123",
        "m-ffffffffffffffffffff",
        // Built before ids were content-derived: still served and pruned.
        "20261124T090000000Z-0123456789abcdef",
        "20261231T235959999Z-ffffffffffffffff",
    ] {
        assert!(is_release_id(good), "{good}");
    }
    for bad in [
        "current",
        "..",
        "m-",
        "m-0123456789abcdef012",
        "m-0123456789abcdef01234",
        "m-0123456789abcdef012F",
        "m-../x",
        "M-0123456789abcdef0123",
        "m-0123456789abcdef0123-2",
        "build-42-0",
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
        "m-0123456789abcdef0123",
        "m-0123456789abcdef012",
        "m-0123456789abcdef0123x",
        "xm-0123456789abcdef0123",
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
