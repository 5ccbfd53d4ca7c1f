//! The field test, from `cargo test`: the .deb built from this very binary,
//! installed on a real Debian 12 with a booted systemd 252 in a container,
//! and driven through the ops story of the README (tests/field/run.sh and
//! tests/field/inside.sh say what each step asserts).
//!
//! It never skips by accident: without root, debootstrap or systemd-nspawn
//! it fails and says what to install (tests/setup.sh does). Only an explicit
//! `MENUSYNC_SKIP_FIELD=1` skips it, and says so.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A first run builds the Debian root (about a minute or two); later runs take about one.
const FIELD_LIMIT: Duration = Duration::from_secs(900);

#[test]
fn the_package_passes_the_readme_ops_story_on_a_booted_debian_12() {
    if std::env::var_os("MENUSYNC_SKIP_FIELD").is_some() {
        println!("SKIPPED: the field test, because MENUSYNC_SKIP_FIELD is set");
        return;
    }
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the field test boots a container and needs root; \
         run as root, or set MENUSYNC_SKIP_FIELD=1 to skip it on purpose"
    );
    for tool in ["debootstrap", "systemd-nspawn", "nsenter"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        assert!(found, "{tool} is missing: run tests/setup.sh tests");
    }
    let out = tempfile::tempdir().unwrap();
    let deb = common::deb::build_deb(out.path());
    let script = common::repo().join("tests/field/run.sh");
    let mut child = Command::new("bash")
        .arg(&script)
        .arg(&deb)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > FIELD_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the field test ran over {FIELD_LIMIT:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "the field test failed: {status}");
}
