//! Tests of the rsync and ssh command lines and of local pushes in both modes.

use std::path::PathBuf;

use super::*;

// Pushed in this order; their names sort the other way round.
const R1: &str = "m-cccccccccccccccccccc";
const R2: &str = "m-bbbbbbbbbbbbbbbbbbbb";
const R3: &str = "m-aaaaaaaaaaaaaaaaaaaa";

fn push<'a>(
    dir: &'a Path,
    release: &'a str,
    mode: DeployMode,
    previous: Option<&'a str>,
) -> Push<'a> {
    Push {
        store_id: "s",
        release,
        release_dir: dir,
        previous,
        carries_previous_images: false,
        epoch: 0,
        mode,
        keep_releases: 2,
        io_timeout: Duration::from_secs(5),
        wall_timeout: Duration::from_secs(30),
    }
}

/// A site on this machine: no ssh options.
fn local_site(dest: &RsyncDest) -> Site<'_> {
    static NO_SSH: SshOptions = SshOptions {
        port: None,
        key: None,
        known_hosts: None,
    };
    Site { dest, ssh: &NO_SSH }
}

fn release(root: &Path, name: &str, menu: &str, images: &[&str]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::write(dir.join("data/menu.json"), menu).unwrap();
    // One fixed mtime: rsync's --link-dest links a file only when its time
    // matches too, and files written a second apart would not (a flaky test).
    let fixed = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for image in images {
        let path = dir.join("images").join(image);
        std::fs::write(&path, image.as_bytes()).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(fixed)
            .unwrap();
    }
    dir
}

/// Pushes releases R1, R2, … holding `(menu, images)`, one after the other,
/// to a local target `web/` in files mode; returns the folder holding `web/`.
async fn push_in_files_mode(releases: &[(&str, &[&str])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let dest = RsyncDest::Local(dir.path().join("web"));
    let site = local_site(&dest);
    assert!(releases.len() <= 3, "release names for three pushes only");
    for (name, (menu, images)) in [R1, R2, R3].into_iter().zip(releases) {
        let local = release(dir.path(), name, menu, images);
        push_to(site, &push(&local, name, DeployMode::Files, None))
            .await
            .unwrap();
    }
    dir
}

#[test]
fn paths_follow_a_double_dash_and_remote_uses_batch_ssh() {
    let dest = RsyncDest::Remote {
        host: "web@host".into(),
        path: "/srv/www".into(),
    };
    let ssh = SshOptions {
        port: Some(2222),
        key: Some("/etc/menusync/id".into()),
        known_hosts: Some("/etc/menusync/known_hosts".into()),
    };
    let site = Site {
        dest: &dest,
        ssh: &ssh,
    };
    let target = site.rsync_path("gangnam", "images/");
    assert_eq!(target, "web@host:/srv/www/gangnam/images/");
    let args = rsync_args(
        site,
        "/r/images/",
        &target,
        &["--delete"],
        Duration::from_secs(30),
    );
    let dash = args.iter().position(|arg| arg == "--").unwrap();
    assert_eq!(
        &args[dash + 1..],
        ["/r/images/", "web@host:/srv/www/gangnam/images/"]
    );
    let rsh = args.iter().find(|arg| arg.starts_with("--rsh=")).unwrap();
    for expected in [
        "BatchMode=yes",
        "-p 2222",
        "-i /etc/menusync/id",
        "StrictHostKeyChecking=yes",
    ] {
        assert!(rsh.contains(expected), "{rsh}");
    }
    assert!(!args.iter().any(|arg| arg == "--inplace"));

    let local = RsyncDest::Local(PathBuf::from("/srv/www"));
    let site = local_site(&local);
    let args = rsync_args(
        site,
        "/r/",
        &site.rsync_path("gangnam", ""),
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(args.last().unwrap(), "/srv/www/gangnam/");
    assert!(!args.iter().any(|arg| arg.starts_with("--rsh")));
}

#[test]
fn prune_keeps_the_newest_and_the_current_and_ignores_strangers() {
    // Oldest first, as the caller orders them.
    let names = [R1, "lost+found", R2, R3, "../etc"];
    assert_eq!(prunable(names, Some(R3), 2), [R1]);
    assert_eq!(prunable(names, Some(R1), 1), [R2]);
    assert!(prunable(names, Some(R3), 5).is_empty());
    assert_eq!(prunable(names, None, 1), [R1, R2]);
}

#[test]
fn quoting_survives_a_quote() {
    assert_eq!(quote("a'b"), r"'a'\''b'");
}

#[tokio::test]
async fn a_failing_rsync_is_a_deploy_error_with_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let dest = RsyncDest::Local(dir.path().join("out"));
    let site = local_site(&dest);
    let missing = dir.path().join("missing");
    let err = push_files(site, &push(&missing, R1, DeployMode::Files, None))
        .await
        .unwrap_err();
    assert_eq!(err.kind, Kind::Push);
    assert!(err.message.contains("exit code 23"), "{}", err.message);
    assert!(err.message.contains("missing"), "{}", err.message);
}

/// Regression: a price change that keeps menu.json's size, pushed within the same
/// second, was skipped by rsync's size-and-mtime check and the target kept the old menu.
#[tokio::test]
async fn a_same_size_change_in_the_same_second_reaches_the_target() {
    let dir = push_in_files_mode(&[("{\"price\":4500}", &[]), ("{\"price\":4800}", &[])]).await;
    let pushed = std::fs::read_to_string(dir.path().join("web/s/data/menu.json")).unwrap();
    assert_eq!(pushed, "{\"price\":4800}");
}

#[tokio::test]
async fn files_mode_drops_images_the_release_no_longer_holds() {
    let dir = push_in_files_mode(&[("1", &["a.jpg", "b.jpg"]), ("2", &["b.jpg", "c.jpg"])]).await;
    let mut images: Vec<String> = std::fs::read_dir(dir.path().join("web/s/images"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    images.sort();
    assert_eq!(images, ["b.jpg", "c.jpg"]);
}

#[tokio::test]
async fn releases_mode_swaps_current_links_unchanged_files_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let dest = RsyncDest::Local(dir.path().join("web"));
    let site = local_site(&dest);
    let mut previous = None;
    for (name, menu) in [(R1, "1"), (R2, "2"), (R3, "3")] {
        let local = release(&dir.path().join("local"), name, menu, &["same.jpg"]);
        push_to(site, &push(&local, name, DeployMode::Releases, previous))
            .await
            .unwrap();
        previous = Some(name);
    }
    let store = dir.path().join("web/s");
    assert_eq!(
        std::fs::read_link(store.join("current")).unwrap(),
        Path::new("releases").join(R3)
    );
    assert_eq!(
        std::fs::read_to_string(store.join("current/data/menu.json")).unwrap(),
        "3"
    );
    assert!(store.join("current").join(COMPLETE_MARKER).is_file());
    assert!(!store.join("releases").join(R1).exists(), "pruned to 2");
    use std::os::unix::fs::MetadataExt;
    let inode = |release: &str| {
        std::fs::metadata(store.join("releases").join(release).join("images/same.jpg"))
            .unwrap()
            .ino()
    };
    assert_eq!(inode(R2), inode(R3), "--link-dest shares unchanged files");
}

/// Regression (issue 11): a relative `--link-dest=../PREV` made Debian 12's
/// rsync discard every file of a remote release after the first.
#[test]
fn link_dest_is_an_absolute_path_on_the_target() {
    let remote = RsyncDest::Remote {
        host: "web@host".into(),
        path: "/srv/www".into(),
    };
    let local = RsyncDest::Local("relative/web".into());
    let ssh = SshOptions::default();
    let remote_path = Site {
        dest: &remote,
        ssh: &ssh,
    }
    .release_path("s", R1);
    assert_eq!(remote_path, format!("/srv/www/s/releases/{R1}"));
    let local_path = Site {
        dest: &local,
        ssh: &ssh,
    }
    .release_path("s", R1);
    assert!(local_path.starts_with('/'), "{local_path}");
    assert!(local_path.ends_with(&format!("relative/web/s/releases/{R1}")));
}

/// Release ids are content hashes: on a target, the newest are the last to
/// go live there (their `.complete` marker), never the largest names.
#[tokio::test]
async fn releases_mode_prunes_by_when_releases_went_live_there() {
    let dir = tempfile::tempdir().unwrap();
    let dest = RsyncDest::Local(dir.path().join("web"));
    let site = local_site(&dest);
    let store = dir.path().join("web/s");
    let names = |store: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(store.join("releases"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let mut previous = None;
    // R1 goes live again after R3 (a rollback): R2 is now the oldest.
    for (name, menu) in [(R1, "1"), (R2, "2"), (R3, "3"), (R1, "1")] {
        let local = release(&dir.path().join("local"), name, menu, &[]);
        push_to(site, &push(&local, name, DeployMode::Releases, previous))
            .await
            .unwrap();
        previous = Some(name);
    }
    assert_eq!(names(&store), [R3, R1], "kept: the last two to go live");
    // A release that never got its marker (a push that failed half-way) is
    // never the newest, whatever its name.
    let half = "m-ffffffffffffffffffff";
    std::fs::create_dir_all(store.join("releases").join(half).join("data")).unwrap();
    let local = release(&dir.path().join("local"), R2, "2", &[]);
    push_to(site, &push(&local, R2, DeployMode::Releases, previous))
        .await
        .unwrap();
    assert_eq!(names(&store), [R2, R1]);
    assert_eq!(
        std::fs::read_link(store.join("current")).unwrap(),
        Path::new("releases").join(R2)
    );
}

/// Issue 24: once a newer leader (epoch 9) has swapped a store on a target,
/// an older one (epoch 5) is refused there and `current` stays.
#[tokio::test]
async fn releases_mode_refuses_a_swap_from_an_older_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let dest = RsyncDest::Local(dir.path().join("web"));
    let site = local_site(&dest);
    let store = dir.path().join("web/s");
    let local = |name: &str, menu: &str| release(&dir.path().join("local"), name, menu, &[]);

    let one = local(R1, "1");
    let mut first = push(&one, R1, DeployMode::Releases, None);
    first.epoch = 9;
    push_to(site, &first).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(store.join(".epoch")).unwrap(),
        "9\n"
    );

    let two = local(R2, "2");
    let mut older = push(&two, R2, DeployMode::Releases, Some(R1));
    older.epoch = 5;
    let err = push_to(site, &older).await.unwrap_err();
    assert_eq!(err.kind, Kind::Fenced);
    assert!(
        err.message
            .contains("a newer leader (epoch 9) has swapped this store; this one has epoch 5"),
        "{}",
        err.message
    );
    assert_eq!(err.category(), crate::error::Category::Deploy);
    assert_eq!(
        std::fs::read_link(store.join("current")).unwrap(),
        Path::new("releases").join(R1),
        "current stays"
    );
    assert_eq!(
        std::fs::read_to_string(store.join(".epoch")).unwrap(),
        "9\n"
    );

    // The same leader, and a newer one, swap as before.
    older.epoch = 9;
    push_to(site, &older).await.unwrap();
    older.epoch = 12;
    push_to(site, &older).await.unwrap();
    assert_eq!(
        std::fs::read_link(store.join("current")).unwrap(),
        Path::new("releases").join(R2)
    );
    assert_eq!(
        std::fs::read_to_string(store.join(".epoch")).unwrap(),
        "12\n"
    );
    // Files mode writes no epoch into its served folder.
    let flat = RsyncDest::Local(dir.path().join("flat"));
    let mut files = push(&one, R1, DeployMode::Files, None);
    files.epoch = 3;
    push_to(local_site(&flat), &files).await.unwrap();
    assert!(!dir.path().join("flat/s/.epoch").exists());
}

#[test]
fn an_epoch_beyond_sh_arithmetic_is_refused_before_any_host_sees_it() {
    assert_eq!(shell_epoch(9).unwrap(), "9");
    assert_eq!(shell_epoch(i64::MAX as u64).unwrap(), i64::MAX.to_string());
    assert_eq!(shell_epoch(u64::MAX).unwrap_err().kind, Kind::Push);
}
