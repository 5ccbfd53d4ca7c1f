//! Pushes to "remote" web hosts over a real sshd on loopback, in both target
//! modes: mirrors of the release, a host that is down and comes back, and
//! readers that must never see a torn menu while 200 releases go out.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::fixture_pos::write_store;
use common::sshd::Sshd;

struct Setup {
    dir: tempfile::TempDir,
    sshd: Sshd,
}

impl Setup {
    /// A fixture store `gangnam` pushed to the given (name, mode) targets on one sshd.
    fn new(targets: &[(&str, &str)]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let sshd = Sshd::start();
        let sections: String = targets
            .iter()
            .map(|(name, mode)| {
                sshd.target_section(name, &dir.path().join(format!("remote-{name}")), mode)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let names: Vec<String> = targets
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect();
        std::fs::write(
            dir.path().join("stores.toml"),
            format!(
                "[daemon]\nstate_dir = \"state\"\ndeploy_timeout_secs = 60\n\n[pos.demo]\nkind = \"fixture\"\npath = \"pos\"\n\n\
                 {sections}\n[[store]]\nid = \"gangnam\"\nname = \"강남점\"\npos = \"demo\"\npos_store_id = \"S001\"\ntargets = [{}]\n",
                names.join(", ")
            ),
        )
        .unwrap();
        Setup { dir, sshd }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remote(&self, name: &str) -> PathBuf {
        self.path().join(format!("remote-{name}/gangnam"))
    }

    fn current(&self) -> PathBuf {
        common::StoreDir::under(self.path(), "gangnam").current()
    }

    /// The POS menu for one round: prices move every round, and item 0's image changes.
    fn pos_round(&self, round: usize) {
        write_store(&self.path().join("pos"), 8, 1000 + round as i64, &|i| {
            if i == 0 {
                format!("round-{round}")
            } else {
                format!("steady-{i}")
            }
        });
    }

    fn once(&self) -> std::process::Output {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("menusync"))
            .arg("--config")
            .arg(self.path().join("stores.toml"))
            .arg("once")
            .output()
            .unwrap()
    }
}

/// The release tree, less the `.complete` marker that only remote releases carry.
fn tree_without_marker(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut tree = common::tree(root);
    tree.remove(".complete");
    tree
}

#[test]
fn both_modes_push_over_real_ssh_and_mirror_the_release() {
    let setup = Setup::new(&[("flat", "files"), ("atomic", "releases")]);
    for round in 0..2 {
        setup.pos_round(round);
        let output = setup.once();
        assert!(output.status.success(), "{}", common::text(&output));
        let local = common::tree(&setup.current());
        assert_eq!(
            tree_without_marker(&setup.remote("flat")),
            local,
            "files mode, round {round}"
        );
        let atomic = setup.remote("atomic");
        assert_eq!(
            tree_without_marker(&atomic.join("current")),
            local,
            "releases mode, round {round}"
        );
        assert!(atomic.join("current/.complete").is_file());
    }
    // The second release was hard-linked against the first for unchanged images.
    let releases: Vec<PathBuf> = {
        let mut list: Vec<PathBuf> = std::fs::read_dir(setup.remote("atomic").join("releases"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        list.sort();
        list
    };
    assert_eq!(releases.len(), 2);
    use std::os::unix::fs::MetadataExt;
    let steady = |release: &Path| {
        let menu: serde_json::Value =
            serde_json::from_slice(&std::fs::read(release.join("data/menu.json")).unwrap())
                .unwrap();
        let image = common::item(&menu, "I1")["image"]
            .as_str()
            .unwrap()
            .to_string();
        std::fs::metadata(release.join(image.trim_start_matches('/')))
            .unwrap()
            .ino()
    };
    assert_eq!(
        steady(&releases[0]),
        steady(&releases[1]),
        "--link-dest linked the unchanged image"
    );
}

#[test]
fn a_target_that_is_down_gets_the_release_when_it_comes_back() {
    let mut setup = Setup::new(&[("flat", "files")]);
    setup.pos_round(0);
    assert!(setup.once().status.success());

    setup.sshd.stop();
    setup.pos_round(1);
    let output = setup.once();
    assert_eq!(output.status.code(), Some(1), "{}", common::text(&output));
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(log.contains("failed deploy"), "{log}");
    // Published locally all the same: the POS change is not lost.
    let local_price = common::item(&common::tree_menu(&setup.current()), "I0")["price"].clone();
    assert_eq!(local_price, 1001);
    assert_ne!(
        common::item(&common::tree_menu(&setup.remote("flat")), "I0")["price"],
        local_price
    );

    // Back up, no POS change: the next pass pushes the current release (after the 1 s backoff).
    setup.sshd.resume();
    std::thread::sleep(Duration::from_millis(1100));
    let output = setup.once();
    assert!(output.status.success(), "{}", common::text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("unchanged"));
    assert_eq!(
        common::tree(&setup.remote("flat")),
        common::tree(&setup.current())
    );
}

/// Publishes `rounds` releases in process while reader threads read what the web
/// host serves; returns (reads, torn reads).
fn publish_under_readers(mode: &str, rounds: usize) -> (usize, usize, Vec<String>) {
    let setup = Setup::new(&[("web", mode)]);
    setup.pos_round(0);
    assert!(setup.once().status.success());
    let docroot = match mode {
        "files" => setup.remote("web"),
        _ => setup.remote("web").join("current"),
    };

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let torn = Arc::new(std::sync::Mutex::new(Vec::new()));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, reads, torn, docroot) = (
                Arc::clone(&stop),
                Arc::clone(&reads),
                Arc::clone(&torn),
                docroot.clone(),
            );
            std::thread::spawn(move || {
                // Bounded: stops when publishing ends, or after 5 minutes whatever happens.
                let deadline = std::time::Instant::now() + Duration::from_secs(300);
                while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                    let problem = read_once(&docroot);
                    reads.fetch_add(1, Ordering::Relaxed);
                    if let Some(problem) = problem {
                        torn.lock().unwrap().push(problem);
                    }
                    // Leave the two cores to the publisher now and then.
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();

    let config =
        Arc::new(menusync::config::Config::load(&setup.path().join("stores.toml")).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ctx = menusync::pipeline::Context::new(
        Arc::clone(&config),
        tokio_util::sync::CancellationToken::new(),
        Arc::default(),
    )
    .unwrap();
    for round in 1..=rounds {
        setup.pos_round(round);
        let report = runtime.block_on(menusync::pipeline::run_pass(
            &ctx,
            &config.stores[0],
            Default::default(),
        ));
        assert!(
            matches!(
                report.outcome,
                menusync::pipeline::Outcome::Published { .. }
            ),
            "round {round}: {:?}",
            report.outcome
        );
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }
    let torn = torn.lock().unwrap().clone();
    (reads.load(Ordering::Relaxed), torn.len(), torn)
}

/// Reads menu.json from the docroot, then every image it names; a problem if any fails.
fn read_once(docroot: &Path) -> Option<String> {
    let bytes = match std::fs::read(docroot.join("data/menu.json")) {
        Ok(bytes) => bytes,
        Err(err) => return Some(format!("menu.json unreadable: {err}")),
    };
    let menu: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(menu) => menu,
        Err(err) => return Some(format!("menu.json torn: {err}")),
    };
    for image in common::image_paths(&menu) {
        // Each request resolves the docroot (and `current`) anew, as a web server does.
        if let Err(err) = std::fs::metadata(docroot.join(image.trim_start_matches('/'))) {
            return Some(format!("{image} missing: {err}"));
        }
    }
    None
}

#[test]
fn readers_never_see_a_torn_menu_in_files_mode() {
    let (reads, torn, examples) = publish_under_readers("files", 200);
    eprintln!("files mode: {reads} reads over 200 publishes, {torn} torn");
    assert!(reads > 200, "the readers barely ran: {reads}");
    assert_eq!(
        torn,
        0,
        "torn reads: {:?}",
        &examples[..examples.len().min(5)]
    );
}

#[test]
fn readers_never_see_a_torn_menu_in_releases_mode() {
    let (reads, torn, examples) = publish_under_readers("releases", 200);
    eprintln!("releases mode: {reads} reads over 200 publishes, {torn} torn");
    assert!(reads > 200, "the readers barely ran: {reads}");
    assert_eq!(
        torn,
        0,
        "torn reads: {:?}",
        &examples[..examples.len().min(5)]
    );
}

/// Sets `keep_releases` of every releases-mode target in the setup's config.
fn keep_releases(setup: &Setup, keep: usize) {
    let path = setup.path().join("stores.toml");
    let config = std::fs::read_to_string(&path).unwrap().replace(
        "mode = \"releases\"\n",
        &format!("mode = \"releases\"\nkeep_releases = {keep}\n"),
    );
    std::fs::write(path, config).unwrap();
}

/// The release folders on a remote target, by name.
fn remote_releases(store: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(store.join("releases"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Release ids are content hashes: a remote target keeps the releases that
/// went live there last (their `.complete` marker), whatever their names.
#[test]
fn a_remote_target_prunes_by_when_releases_went_live_there() {
    let setup = Setup::new(&[("atomic", "releases")]);
    keep_releases(&setup, 2);
    let mut live = Vec::new();
    // The third round brings the first menu back: it goes live again.
    for round in [0, 1, 2, 0] {
        setup.pos_round(round);
        let output = setup.once();
        assert!(output.status.success(), "{}", common::text(&output));
        live.push(
            common::StoreDir::under(setup.path(), "gangnam")
                .current_release()
                .unwrap(),
        );
    }
    assert_eq!(live[0], live[3], "the same menu is the same release");
    let mut want = vec![live[2].clone(), live[3].clone()];
    want.sort();
    let remote = setup.remote("atomic");
    assert_eq!(
        remote_releases(&remote),
        want,
        "releases went live: {live:?}"
    );
    assert_eq!(
        std::fs::read_link(remote.join("current")).unwrap(),
        Path::new("releases").join(&live[3])
    );
}

/// Issue 24: a swap with epoch 5 after one with epoch 9 is refused on the
/// remote host, as `Kind::Fenced`, and `current` stays where epoch 9 put it.
#[test]
fn a_remote_swap_from_an_older_epoch_is_refused() {
    let setup = Setup::new(&[("atomic", "releases")]);
    let store_dir = common::StoreDir::under(setup.path(), "gangnam");
    let mut releases = Vec::new();
    for round in 0..2 {
        setup.pos_round(round);
        assert!(setup.once().status.success());
        releases.push(store_dir.current_release().unwrap());
    }
    let config = menusync::config::Config::load(&setup.path().join("stores.toml")).unwrap();
    let store = &config.stores[0];
    let target = &store.targets[0];
    let tree = menusync::publish::StoreTree::new(&config.daemon.state_dir, &store.id);
    let timeouts = menusync::target::Timeouts::of(&config.daemon);
    let push = |id: &str, previous: &str, epoch: u64| {
        let release = menusync::target::Release {
            store_id: &store.id,
            tree: &tree,
            id,
            previous: Some(previous),
            carries_previous_images: true,
            epoch,
        };
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(menusync::target::push(target, &release, timeouts))
    };
    let remote = setup.remote("atomic");
    let current = || std::fs::read_link(remote.join("current")).unwrap();

    push(&releases[0], &releases[1], 9).unwrap();
    assert_eq!(current(), Path::new("releases").join(&releases[0]));
    assert_eq!(
        std::fs::read_to_string(remote.join(".epoch")).unwrap(),
        "9\n"
    );

    let err = push(&releases[1], &releases[0], 5).unwrap_err();
    assert_eq!(err.kind, menusync::error::Kind::Fenced, "{}", err.chain());
    assert!(
        err.message
            .contains("a newer leader (epoch 9) has swapped this store; this one has epoch 5"),
        "{}",
        err.message
    );
    assert_eq!(
        current(),
        Path::new("releases").join(&releases[0]),
        "current stays"
    );
    assert_eq!(
        std::fs::read_to_string(remote.join(".epoch")).unwrap(),
        "9\n"
    );

    // A newer leader swaps as before.
    push(&releases[1], &releases[0], 10).unwrap();
    assert_eq!(current(), Path::new("releases").join(&releases[1]));
    assert_eq!(
        std::fs::read_to_string(remote.join(".epoch")).unwrap(),
        "10\n"
    );
}
