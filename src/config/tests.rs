//! Tests for the config loader: the shipped file, defaults, path resolution and every invalid-config fixture.

use std::path::{Path, PathBuf};

use super::checker::line_column;
use super::*;

/// A valid config with one fixture pos, one rsync target and one store, minus `[daemon]`.
const MINIMAL: &str = r#"
[pos.demo]
kind = "fixture"
path = "fixtures/pos"

[target.web]
kind = "rsync"
dest = "var/web"

[[store]]
id = "gangnam"
name = "블리스월드 강남점"
pos = "demo"
pos_store_id = "S001"
targets = ["web"]
"#;

fn parse(text: &str) -> Config {
    Config::parse(Path::new("/etc/menusync/stores.toml"), text).expect("config should be valid")
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_config_is_valid() {
    let config = Config::load(&manifest_dir().join("stores.toml")).unwrap();

    let ids: Vec<&str> = config.stores.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["gangnam", "hongdae", "jamsil"]);
    assert!(matches!(config.pos["demo"].kind, PosKind::Fixture { .. }));
    assert!(config.daemon.state_dir.ends_with("var/state"));
    assert!(config.daemon.state_dir.starts_with(manifest_dir()));
    // Keys the file leaves out.
    let daemon = &config.daemon;
    assert_eq!(daemon.pass_timeout.as_secs(), DEFAULT_PASS_TIMEOUT_SECS);
    assert_eq!(daemon.deploy_timeout.as_secs(), DEFAULT_DEPLOY_TIMEOUT_SECS);
    assert_eq!(daemon.max_shrink_percent, DEFAULT_MAX_SHRINK_PERCENT);
    assert_eq!(config.store("gangnam").unwrap().schedule, DEFAULT_SCHEDULE);
    assert_eq!(config.store("jamsil").unwrap().schedule, "30 * * * * *");
}

/// Parses a fixture's first line, `# expect: <line>: <substring>`.
fn expectation(text: &str) -> Option<(usize, &str)> {
    let rest = text.lines().next()?.strip_prefix("# expect: ")?;
    let (line, substring) = rest.split_once(": ")?;
    Some((line.parse().ok()?, substring))
}

#[test]
fn every_invalid_config_gives_its_error() {
    let dir = manifest_dir().join("fixtures/invalid-config");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 15,
        "only {} fixtures in {}",
        files.len(),
        dir.display()
    );

    let mut mismatches = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        let text = std::fs::read_to_string(file).unwrap();
        let Some((want_line, want_message)) = expectation(&text) else {
            mismatches.push(format!(
                "{name}: first line is not `# expect: <line>: <message>`"
            ));
            continue;
        };
        match Config::load(file) {
            Err(ConfigError::Invalid {
                path,
                line,
                message,
                ..
            }) if line == want_line && message.contains(want_message) && path.contains(&*name) => {}
            Err(err) => mismatches.push(format!(
                "{name}: want line {want_line} with `{want_message}`, got: {err}"
            )),
            Ok(_) => mismatches.push(format!("{name}: loaded without error")),
        }
    }
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}

#[test]
fn defaults_apply_when_the_daemon_section_is_absent() {
    let config = parse(MINIMAL);
    let daemon = &config.daemon;
    assert_eq!(
        daemon.state_dir,
        Path::new("/etc/menusync").join(DEFAULT_STATE_DIR)
    );
    assert_eq!(daemon.schedule, DEFAULT_SCHEDULE);
    assert_eq!(daemon.io_concurrency.get(), DEFAULT_IO_CONCURRENCY);
    assert_eq!(daemon.deploy_concurrency.get(), DEFAULT_DEPLOY_CONCURRENCY);
    assert_eq!(
        daemon.connect_timeout.as_secs(),
        DEFAULT_CONNECT_TIMEOUT_SECS
    );
    assert_eq!(daemon.read_timeout.as_secs(), DEFAULT_READ_TIMEOUT_SECS);
    assert_eq!(daemon.pass_timeout.as_secs(), DEFAULT_PASS_TIMEOUT_SECS);
    assert_eq!(daemon.deploy_timeout.as_secs(), DEFAULT_DEPLOY_TIMEOUT_SECS);
    assert_eq!(daemon.keep_releases.get(), DEFAULT_KEEP_RELEASES);
    assert_eq!(daemon.max_image_bytes, DEFAULT_MAX_IMAGE_BYTES);
    assert_eq!(daemon.max_menu_bytes, DEFAULT_MAX_MENU_BYTES);
    assert_eq!(daemon.max_shrink_percent, DEFAULT_MAX_SHRINK_PERCENT);
    assert_eq!(config.stores[0].schedule, DEFAULT_SCHEDULE);
}

#[test]
fn a_store_schedule_overrides_the_default() {
    let text =
        format!("[daemon]\nschedule = \"0 0 * * * *\"\n{MINIMAL}schedule = \"30 * * * * *\"\n");
    let config = parse(&text);
    assert_eq!(config.daemon.schedule, "0 0 * * * *");
    assert_eq!(config.stores[0].schedule, "30 * * * * *");
}

#[test]
fn image_variant_settings_default_then_daemon_then_store() {
    let config = parse(MINIMAL);
    assert_eq!(
        config.stores[0].settings.image_variants,
        ImageVariants::default()
    );
    assert_eq!(
        config.stores[0].settings.image_variants.widths,
        DEFAULT_IMAGE_WIDTHS
    );
    assert_eq!(
        config.daemon.image_cache_age.as_secs(),
        DEFAULT_IMAGE_CACHE_DAYS * 86_400
    );
    let text = format!(
        "[daemon]\nimage_widths = [400, 800]\nimage_quality = 60\nimage_cache_days = 2\n{MINIMAL}\
         image_quality = 90\nkeep_original_images = true\n"
    );
    let config = parse(&text);
    let store = &config.stores[0].settings.image_variants;
    assert_eq!(store.widths, [400, 800], "the daemon's widths");
    assert_eq!(store.quality, 90, "the store's own quality");
    assert!(store.keep_original && store.enabled);
    assert_eq!(config.daemon.image_variants.quality, 60);
    assert_eq!(config.daemon.image_cache_age.as_secs(), 2 * 86_400);
    let off = parse(&format!("{MINIMAL}image_variants = false\n"));
    assert!(!off.stores[0].settings.image_variants.enabled);
}

#[test]
fn a_store_without_a_schedule_takes_the_daemon_one() {
    let config = parse(&format!("[daemon]\nschedule = \"0 0 * * * *\"\n{MINIMAL}"));
    assert_eq!(config.stores[0].schedule, "0 0 * * * *");
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let text = MINIMAL.replace("var/web", "/srv/www")
        + r#"
[target.web1]
kind = "rsync"
dest = "deploy@web1:/srv/www"
"#;
    let config = parse(&text);
    assert_eq!(config.daemon.state_dir, Path::new("/etc/menusync/var"));
    let PosKind::Fixture { dir } = &config.pos["demo"].kind else {
        panic!("demo should be a fixture pos");
    };
    assert_eq!(dir, Path::new("/etc/menusync/fixtures/pos"));
    let dest = |name: &str| rsync(&config.targets[name]).dest.clone();
    assert_eq!(dest("web"), RsyncDest::Local("/srv/www".into()));
    assert_eq!(
        dest("web1"),
        RsyncDest::Remote {
            host: "deploy@web1".into(),
            path: "/srv/www".into()
        }
    );
}

#[test]
fn a_relative_local_dest_resolves_against_the_config_folder() {
    let config = parse(MINIMAL);
    assert_eq!(
        rsync(&config.targets["web"]).dest,
        RsyncDest::Local("/etc/menusync/var/web".into())
    );
}

/// The settings of an rsync target; a test of another kind's target fails here.
fn rsync(target: &Target) -> &RsyncTarget {
    match &target.kind {
        TargetKind::Rsync(rsync) => rsync,
        #[allow(unreachable_patterns)]
        _ => panic!("target {} is not an rsync target", target.name),
    }
}

#[test]
fn line_column_counts_lines_from_1_and_columns_in_characters() {
    let text = "a = 1\nname = \"강남점\" x\n";
    assert_eq!(line_column(text, 0), (1, 1));
    assert_eq!(line_column(text, 4), (1, 5));
    assert_eq!(line_column(text, 6), (2, 1));
    // `x` comes after 3 three-byte Korean characters: byte 25, character 14.
    let x = text.find('x').unwrap();
    assert_eq!(line_column(text, x), (2, 14));
    // An offset inside a character points at that character; past the end clamps.
    assert_eq!(line_column(text, text.find('남').unwrap() + 1), (2, 10));
    assert_eq!(line_column(text, 1000), (3, 1));
}

#[test]
fn store_ids_are_checked() {
    let cases = [
        ("gangnam", true),
        ("store-01", true),
        ("7", true),
        (&*"a".repeat(64), true),
        (&*"a".repeat(65), false),
        ("", false),
        ("Gangnam", false),
        ("-gangnam", false),
        ("seoul/gangnam", false),
        ("..", false),
        ("gang nam", false),
        ("gang_nam", false),
        ("강남", false),
    ];
    for (id, valid) in cases {
        assert_eq!(validate_store_id(id).is_ok(), valid, "store id {id:?}");
    }
}

#[test]
fn schedules_are_checked() {
    let cases = [
        (DEFAULT_SCHEDULE, Ok(())),
        ("30 * * * * *", Ok(())),
        ("0 0 9-18 * * Mon-Fri", Ok(())),
        ("*/5 * * * *", Err("has 5 fields")),
        ("0 0 0 * * * 2030", Err("has 7 fields")),
        ("", Err("has 0 fields")),
        (
            "0 61 * * * *",
            Err("the minutes field `61` is out of range"),
        ),
        (
            "0 0 25 * * *",
            Err("the hours field `25` is out of range: hours go from 0 to 23"),
        ),
        (
            "0 0 0 0 * *",
            Err("the day-of-month field `0` is out of range"),
        ),
        (
            "0 0 0 1 1-13 *",
            Err("the month field `1-13` is out of range"),
        ),
        (
            "0 0 0 * * 8",
            Err("the day-of-week field `8` is out of range"),
        ),
        (
            "*/0 * * * * *",
            Err("the seconds field `*/0` has a step of 0"),
        ),
        ("every minute of the day please", Err("does not parse")),
        // Issue 12: parses, but never comes round; the store would sync once, then never.
        ("0 0 6 30 2 *", Err("never runs within a year")),
        ("0 0 6 31 4,6,9,11 *", Err("never runs within a year")),
        ("0 0 12 31 12 *", Ok(())),
    ];
    for (schedule, want) in cases {
        match (
            Schedule::parse(schedule).map(|parsed| parsed.to_string()),
            want,
        ) {
            (Ok(parsed), Ok(())) => assert_eq!(parsed, schedule),
            (Err(got), Err(want)) => assert!(got.contains(want), "{schedule:?}: {got}"),
            (got, want) => panic!("{schedule:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn remote_dests_are_checked() {
    let resolve = |local: &str| PathBuf::from("/base").join(local);
    let cases = [
        ("deploy@web1:/srv/www", true),
        ("web1.example.com:/srv/www", true),
        ("deploy@[2001:db8::1]:/srv/www", true),
        ("deploy@-oProxyCommand=x:/srv", false),
        ("-deploy@web1:/srv", false),
        ("deploy@web1:relative", false),
        ("deploy@:/srv", false),
    ];
    for (dest, valid) in cases {
        let parsed = target::parse_rsync_dest(dest, resolve);
        assert_eq!(
            matches!(parsed, Ok(RsyncDest::Remote { .. })),
            valid,
            "{dest}: {parsed:?}"
        );
    }
    assert_eq!(
        target::parse_rsync_dest("var/web", resolve),
        Ok(RsyncDest::Local("/base/var/web".into()))
    );
}

/// bounds.rs promises that the README's table lists every bound.
#[test]
fn the_readme_lists_every_bound() {
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).unwrap();
    for (key, bound) in bounds::BOUNDS {
        let range = format!("{}–{}", bound.min, bound.max);
        assert!(
            readme.lines().any(|line| line.starts_with("| ")
                && line.contains(&format!("`{key}`"))
                && line.contains(&range)),
            "README.md has no table line for `{key}` with {range}"
        );
    }
}

/// The previews are mirrored with `--delete`: a preview folder beside the
/// stores' is fine, one that holds a store target's or lies in a store's is not.
#[test]
fn a_preview_target_may_not_be_mirrored_over_a_store() {
    // MINIMAL's store, its web target moved to web1, and a preview target.
    let config = |preview_dest: &str| {
        let daemon = "[daemon]\nstate_dir = \"/var/lib/menusync\"\npreview_target = \"staff\"\n";
        let stores = MINIMAL.replace("\"var/web\"", "\"deploy@web1.example.com:/srv/www\"");
        format!("{daemon}{stores}\n[target.staff]\nkind = \"rsync\"\ndest = \"{preview_dest}\"\n")
    };
    let path = Path::new("/etc/menusync/stores.toml");
    for fine in [
        "ops@web1.example.com:/srv/www/preview",
        "ops@web2.example.com:/srv/www",
        "/srv/www",
        "/var/lib/menusync-preview",
    ] {
        assert!(Config::parse(path, &config(fine)).is_ok(), "{fine}");
    }
    for refused in [
        "ops@web1.example.com:/srv/www",
        "web1.example.com:/srv",
        "ops@web1.example.com:/srv/www/gangnam/preview",
        "ops@web1.example.com:/srv/www/./x/../gangnam",
        "/var/lib",
        "/var/lib/menusync/stores/x",
        "/var/lib/menusync/preview",
    ] {
        assert!(Config::parse(path, &config(refused)).is_err(), "{refused}");
    }
}
