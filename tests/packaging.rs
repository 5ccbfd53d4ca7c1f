//! The .deb that `cargo deb` builds, made here from the binary under test
//! (`common::deb`): what it installs, its conffile, dependencies and
//! maintainer scripts, and that the installed config is one the packaged
//! binary accepts. Also: the example config agrees with the unit.
//! tests/field.rs installs the same package on a booted Debian 12.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let output = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "dpkg-deb {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A control member of the package (`conffiles`, `postinst`, ...).
fn control(deb: &Path, member: &str) -> String {
    let output = Command::new("dpkg-deb")
        .arg("--info")
        .arg(deb)
        .arg(member)
        .output()
        .unwrap();
    assert!(output.status.success(), "the .deb has no {member}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn deb_installs_binary_unit_sysusers_and_conffile() {
    let out = tempfile::tempdir().unwrap();
    let deb = common::deb::build_deb(out.path());
    println!("checking {}", deb.display());

    // `dpkg-deb -c` lists like `tar tv`: mode, owner, size, date, time, path.
    let listing = dpkg_deb(&["--contents"], &deb);
    println!("{listing}");
    let mode_of = |path: &str| {
        listing
            .lines()
            .find(|line| line.split_whitespace().nth(5) == Some(path))
            .map(|line| line.split_whitespace().next().unwrap().to_string())
            .unwrap_or_else(|| panic!("{path} is not in the package"))
    };
    assert_eq!(mode_of("./usr/bin/menusync"), "-rwxr-xr-x");
    for path in [
        // cargo-deb installs units under /usr/lib; on merged-/usr Debian 12
        // that is also /lib/systemd/system.
        "./usr/lib/systemd/system/menusync.service",
        "./usr/lib/sysusers.d/menusync.conf",
        "./usr/lib/tmpfiles.d/menusync.conf",
        "./etc/menusync/stores.toml",
        "./usr/share/menusync/stores.schema.json",
    ] {
        assert_eq!(mode_of(path), "-rw-r--r--", "{path}");
    }

    let conffiles = control(&deb, "conffiles");
    assert!(
        conffiles
            .lines()
            .any(|line| line.trim() == "/etc/menusync/stores.toml"),
        "stores.toml must be a conffile:\n{conffiles}"
    );

    // `dpkg-deb --field` without a field name prints the whole control file.
    let depends = dpkg_deb(&["--field"], &deb);
    let depends = depends
        .lines()
        .find_map(|line| line.strip_prefix("Depends: "))
        .unwrap_or_else(|| panic!("no Depends in:\n{depends}"))
        .to_string();
    println!("Depends: {depends}");
    let relations: Vec<&str> = depends.split(',').map(str::trim).collect();
    // ca-certificates: regression (issue 11), the daemon did not start without it.
    for package in ["ca-certificates", "rsync", "openssh-client"] {
        assert!(
            relations
                .iter()
                .any(|relation| relation.split_whitespace().next() == Some(package)),
            "Depends lacks {package}: {depends}"
        );
    }

    // postinst creates the user before the folders it owns, and does not
    // start the service on an unedited example config.
    let postinst = control(&deb, "postinst");
    let sysusers = postinst
        .find("systemd-sysusers")
        .unwrap_or_else(|| panic!("postinst does not run systemd-sysusers:\n{postinst}"));
    let tmpfiles = postinst
        .find("systemd-tmpfiles --create menusync.conf")
        .unwrap_or_else(|| panic!("postinst does not run systemd-tmpfiles:\n{postinst}"));
    assert!(
        sysusers < tmpfiles,
        "the user must exist before tmpfiles chowns to it"
    );
    assert!(
        postinst[sysusers..]
            .lines()
            .next()
            .unwrap()
            .contains("menusync.conf")
    );
    // Enabling happens only where the admin had it enabled before (upgrades).
    assert!(
        !postinst.contains("deb-systemd-invoke start"),
        "postinst must not start menusync:\n{postinst}"
    );
    let lines: Vec<&str> = postinst
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .collect();
    for (at, line) in lines.iter().enumerate() {
        if line.contains("deb-systemd-helper enable") {
            assert!(
                at > 0 && lines[at - 1].contains("was-enabled"),
                "postinst enables menusync on a fresh install:\n{postinst}"
            );
        }
    }

    // The files are the repository's, byte for byte, and the packaged binary
    // accepts the packaged config.
    let root = tempfile::tempdir().unwrap();
    let output = Command::new("dpkg-deb")
        .arg("--extract")
        .arg(&deb)
        .arg(root.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    for (installed, source) in [
        (
            "usr/lib/systemd/system/menusync.service",
            "systemd/menusync.service",
        ),
        (
            "usr/lib/sysusers.d/menusync.conf",
            "systemd/menusync.sysusers",
        ),
        (
            "usr/lib/tmpfiles.d/menusync.conf",
            "systemd/menusync.tmpfiles",
        ),
        ("etc/menusync/stores.toml", "packaging/stores.toml"),
        (
            "usr/share/menusync/stores.schema.json",
            "docs/stores.schema.json",
        ),
    ] {
        assert_eq!(
            read(&root.path().join(installed)),
            read(&repo().join(source)),
            "{installed} differs from {source}"
        );
    }
    let check = Command::new(root.path().join("usr/bin/menusync"))
        .arg("--config")
        .arg(root.path().join("etc/menusync/stores.toml"))
        .arg("check")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "the packaged binary refuses the packaged config: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// The values of `key=` in the unit, comments skipped.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .filter(|(name, _)| name.trim() == key)
        .map(|(_, value)| value.trim().to_string())
        .collect()
}

#[test]
fn example_config_fits_the_unit() {
    let unit = read(&repo().join("systemd/menusync.service"));
    let path = repo().join("packaging/stores.toml");
    let check = Command::new(env!("CARGO_BIN_EXE_menusync"))
        .arg("--config")
        .arg(&path)
        .arg("check")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "menusync check refuses packaging/stores.toml: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let config: toml::Value = toml::from_str(&read(&path)).unwrap();

    // ExecStart reads the file the package installs.
    assert_eq!(
        unit_values(&unit, "ExecStart"),
        ["/usr/bin/menusync --config /etc/menusync/stores.toml run"]
    );
    common::deb::assert_deb_installs("packaging/stores.toml", "etc/menusync/stores.toml");

    // The state goes where StateDirectory= lets the sandbox write.
    let state = unit_values(&unit, "StateDirectory");
    assert_eq!(state.len(), 1);
    assert_eq!(
        config["daemon"]["state_dir"].as_str(),
        Some(format!("/var/lib/{}", state[0]).as_str()),
        "state_dir must be the unit's StateDirectory"
    );

    // The unit loads the whole credentials folder under the id the daemon
    // looks for (src/pos/keys.rs), so every `api_key_credential` is a file
    // there and a missing one is named by the daemon, not a bare 243/CREDENTIALS.
    let loaded = unit_values(&unit, "LoadCredential");
    assert_eq!(
        loaded,
        [format!(
            "menusync:{}",
            menusync::pos::CREDENTIALS_SOURCE_DIR
        )],
        "the unit loads the credentials folder"
    );
    let mut used = 0;
    for (_name, pos) in config["pos"].as_table().expect("[pos.*]") {
        if pos.get("api_key_credential").is_some() {
            used += 1;
        }
    }
    assert!(
        used > 0,
        "the example should show a key from LoadCredential="
    );
}
