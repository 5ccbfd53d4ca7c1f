//! The systemd unit: `systemd-analyze verify` is clean, `security` scores 2.0 or
//! lower, and the user it runs as is the one `menusync.sysusers` creates.
//!
//! Tests that need systemd's tools fail where they are missing, saying what to
//! install (`tests/setup.sh tests`); they exist on Debian 12 and in CI.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn unit_path() -> PathBuf {
    repo().join("systemd/menusync.service")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Fails the test unless `tool --version` runs, saying how to install it.
fn require(tool: &str) {
    match Command::new(tool).arg("--version").output() {
        Ok(output) => assert!(
            output.status.success(),
            "`{tool} --version` failed: {}",
            text(&output).trim()
        ),
        Err(err) => panic!("{tool} not found ({err}): run tests/setup.sh tests"),
    }
}

/// The values of `key=` in a unit or config file, in order; comments skipped.
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#') && !line.starts_with(';'))
        .filter_map(|line| line.split_once('='))
        .filter(|(name, _)| name.trim() == key)
        .map(|(_, value)| value.trim())
        .collect()
}

fn single<'a>(unit: &'a str, key: &str) -> &'a str {
    match values(unit, key).as_slice() {
        [value] => value,
        other => panic!("expected exactly one {key}= in the unit, found {other:?}"),
    }
}

/// A duration of the unit such as `60s`, `2min` or `90`, in seconds.
fn seconds(value: &str) -> u64 {
    let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
    let number: u64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("not a duration: {value}"));
    match value[digits.len()..].trim() {
        "" | "s" | "sec" => number,
        "m" | "min" => number * 60,
        unit => panic!("unexpected time unit in {value}: {unit}"),
    }
}

#[test]
fn unit_verifies_clean() {
    require("systemd-analyze");
    // verify insists that every Exec*'s binary exists, so check a copy of the
    // shipped unit that runs the binary cargo built instead of /usr/bin/menusync.
    let shipped = read(&unit_path());
    assert_eq!(
        single(&shipped, "ExecStart"),
        "/usr/bin/menusync --config /etc/menusync/stores.toml run"
    );
    let binary = env!("CARGO_BIN_EXE_menusync");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("menusync.service");
    std::fs::write(
        &copy,
        shipped
            .replace(
                "ExecStart=/usr/bin/menusync ",
                &format!("ExecStart={binary} "),
            )
            .replace(
                "ExecReload=/usr/bin/menusync ",
                &format!("ExecReload={binary} "),
            ),
    )
    .unwrap();

    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let out = text(&output);
    println!("systemd-analyze verify:\n{out}");
    assert!(output.status.success(), "verify failed:\n{out}");
    // Anything verify says about our unit is a finding; lines about the host's
    // own units (none on Debian 12) are not ours to fix.
    let ours: Vec<&str> = out
        .lines()
        .filter(|line| line.contains("menusync"))
        .collect();
    assert!(ours.is_empty(), "verify complains about the unit:\n{out}");
}

#[test]
fn unit_security_exposure_is_at_most_2() {
    require("systemd-analyze");
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(unit_path())
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let out = text(&output);
    let overall = out
        .lines()
        .find(|line| line.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall exposure in:\n{out}"));
    println!("{overall}");
    // "→ Overall exposure level for menusync.service: 1.1 OK 🙂"
    let score: f64 = overall
        .rsplit(": ")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score in: {overall}"));
    assert!(score <= 2.0, "exposure {score} is above 2.0:\n{out}");
    assert!(
        output.status.success(),
        "security --threshold=20 failed:\n{out}"
    );
}

#[test]
fn unit_is_a_notify_service_with_reload_watchdog_and_a_long_enough_stop() {
    let unit = read(&unit_path());
    assert_eq!(single(&unit, "Type"), "notify");
    // Regression (issue 11): a reload of an invalid file returned 0. The
    // file is checked first, so the reload command itself fails.
    let reload = values(&unit, "ExecReload");
    assert_eq!(
        reload,
        [
            "/usr/bin/menusync --config /etc/menusync/stores.toml check",
            "/bin/kill -HUP $MAINPID"
        ],
        "ExecReload checks the file, then signals"
    );
    assert_eq!(single(&unit, "Restart"), "on-failure");
    // Regression (issue 11, found by tests/field/): with the default
    // KillMode=control-group a stop sent SIGTERM to the rsync of a push in
    // flight too, so it failed and the target stayed a release behind.
    assert_eq!(single(&unit, "KillMode"), "mixed");
    assert!(seconds(single(&unit, "WatchdogSec")) > 0);
    // The daemon waits shutdown_timeout_secs for passes in flight; systemd
    // must not SIGKILL it before then.
    let stop = seconds(single(&unit, "TimeoutStopSec"));
    assert!(
        stop > menusync::config::DEFAULT_SHUTDOWN_TIMEOUT_SECS,
        "TimeoutStopSec={stop}s is not above shutdown_timeout_secs' default {}s",
        menusync::config::DEFAULT_SHUTDOWN_TIMEOUT_SECS
    );
    // rsync reaches web hosts over ssh, and the journal and notify socket are AF_UNIX.
    let families = single(&unit, "RestrictAddressFamilies");
    for family in ["AF_UNIX", "AF_INET", "AF_INET6"] {
        assert!(
            families.split_whitespace().any(|given| given == family),
            "{family} missing from RestrictAddressFamilies={families}"
        );
    }
}

/// The `u` lines of a sysusers.d file: (name, id, gecos, home).
fn sysusers(text: &str) -> Vec<(String, String, String, String)> {
    let mut users = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Fields are space-separated; the GECOS field may be quoted.
        let mut fields = Vec::new();
        let mut rest = line;
        while !rest.is_empty() {
            rest = rest.trim_start();
            let (field, after) = if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted.find('"').expect("closing quote");
                (&quoted[..end], &quoted[end + 1..])
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            };
            fields.push(field.to_string());
            rest = after.trim_start();
        }
        if fields[0] == "u" {
            assert!(fields.len() >= 5, "short sysusers line: {line}");
            users.push((
                fields[1].clone(),
                fields[2].clone(),
                fields[3].clone(),
                fields[4].clone(),
            ));
        }
    }
    users
}

#[test]
fn sysusers_declares_the_user_the_unit_runs_as() {
    let unit = read(&unit_path());
    let sysusers_file = repo().join("systemd/menusync.sysusers");
    let users = sysusers(&read(&sysusers_file));
    let user = single(&unit, "User");
    let state = single(&unit, "StateDirectory");
    let declared = users
        .iter()
        .find(|(name, ..)| name == user)
        .unwrap_or_else(|| panic!("User={user} is not declared in {users:?}"));
    // `u NAME -` creates a group of the same name, which Group= names.
    assert_eq!(declared.1, "-", "let sysusers pick the uid and gid");
    assert_eq!(single(&unit, "Group"), user);
    // ssh finds the deploy key in the home folder, which is the state directory.
    assert_eq!(declared.3, format!("/var/lib/{state}"));
    assert!(
        values(&unit, "DynamicUser").iter().all(|v| *v == "no"),
        "a DynamicUser would not be the sysusers user"
    );

    require("systemd-sysusers");
    // Let systemd-sysusers itself read the file, into an empty root.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    let output = Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.path().display()))
        .arg("-")
        .stdin(std::fs::File::open(&sysusers_file).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "sysusers: {}", text(&output));
    let passwd = read(&root.path().join("etc/passwd"));
    let entry = passwd
        .lines()
        .find(|line| line.starts_with(&format!("{user}:")))
        .unwrap_or_else(|| panic!("{user} not created:\n{passwd}"));
    let fields: Vec<&str> = entry.split(':').collect();
    assert_eq!(fields[5], format!("/var/lib/{state}"), "{entry}");
    assert!(
        read(&root.path().join("etc/group")).contains(&format!("{user}:")),
        "group {user} not created"
    );
}

#[test]
fn tmpfiles_create_the_credentials_and_ssh_folders() {
    let tmpfiles = repo().join("systemd/menusync.tmpfiles");
    if !common::needs_root(
        "tmpfiles_create_the_credentials_and_ssh_folders",
        "systemd-tmpfiles hands the folders to menusync with chown",
    ) {
        return;
    }
    require("systemd-tmpfiles");
    require("systemd-sysusers");
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    let sysusers = Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.path().display()))
        .arg("-")
        .stdin(std::fs::File::open(repo().join("systemd/menusync.sysusers")).unwrap())
        .output()
        .unwrap();
    assert!(sysusers.status.success(), "sysusers: {}", text(&sysusers));
    let output = Command::new("systemd-tmpfiles")
        .arg(format!("--root={}", root.path().display()))
        .args(["--create", "-"])
        .stdin(std::fs::File::open(&tmpfiles).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "tmpfiles: {}", text(&output));
    let created = root.path().join("var/lib/menusync/.ssh");
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &str| {
        std::fs::metadata(root.path().join(path))
            .unwrap_or_else(|err| panic!("{path}: {err}"))
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("etc/menusync/credentials"), 0o700);
    assert_eq!(mode("var/lib/menusync/.ssh"), 0o700);
    // ssh refuses a key folder owned by someone else: it must be menusync's.
    use std::os::unix::fs::MetadataExt;
    let passwd = read(&root.path().join("etc/passwd"));
    let uid: u32 = passwd
        .lines()
        .find(|line| line.starts_with("menusync:"))
        .and_then(|line| line.split(':').nth(2))
        .and_then(|uid| uid.parse().ok())
        .expect("menusync in passwd");
    assert_eq!(std::fs::metadata(&created).unwrap().uid(), uid);
    assert_eq!(
        std::fs::metadata(root.path().join("var/lib/menusync"))
            .unwrap()
            .uid(),
        uid
    );
}
