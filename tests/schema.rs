//! `docs/stores.schema.json` describes `stores.toml` the way `src/config` reads it:
//! the shipped configs validate, mistakes that `menusync check` refuses are
//! refused by the schema too, every key of `src/config/raw.rs` is in it, and
//! every `DEFAULT_*` constant is the default it states.

mod common;

use std::path::{Path, PathBuf};

use common::repo;
use serde_json::{Value, json};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn schema() -> Value {
    serde_json::from_str(&read(&repo().join("docs/stores.schema.json"))).expect("schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema()).expect("schema compiles")
}

fn toml_value(text: &str) -> Value {
    toml::from_str(text).expect("valid TOML")
}

/// The schema's complaints about `instance`, one line each.
fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect()
}

#[test]
fn schema_is_a_valid_draft_2020_12_schema() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    if let Err(error) = jsonschema::draft202012::meta::validate(&schema) {
        panic!("not a valid 2020-12 schema: {error}");
    }
}

#[test]
fn shipped_configs_validate_and_name_the_schema() {
    let validator = validator();
    for (file, directive, schema_file) in [
        // In the repository, next to docs/.
        (
            "stores.toml",
            "#:schema ./docs/stores.schema.json",
            repo().join("docs/stores.schema.json"),
        ),
        // Installed as /etc/menusync/stores.toml; the .deb ships the schema.
        (
            "packaging/stores.toml",
            "#:schema file:///usr/share/menusync/stores.schema.json",
            repo().join("docs/stores.schema.json"),
        ),
    ] {
        let text = read(&repo().join(file));
        assert_eq!(text.lines().next(), Some(directive), "first line of {file}");
        assert!(schema_file.is_file());
        let found = errors(&validator, &toml_value(&text));
        assert!(
            found.is_empty(),
            "{file} does not validate:\n{}",
            found.join("\n")
        );
    }
    // The installed reference is the path the package puts the schema at.
    common::deb::assert_deb_installs(
        "docs/stores.schema.json",
        "usr/share/menusync/stores.schema.json",
    );
}

/// A small valid config using every section and every pos kind.
fn base() -> Value {
    json!({
        "daemon": {
            "state_dir": "var", "schedule": "0 */5 * * * *", "stale_after_secs": 600,
            "metrics_dir": "metrics", "image_grace_secs": 0
        },
        "log": { "format": "json", "file_dir": "logs", "file_keep_days": 7 },
        "pos": {
            "hq": { "kind": "http", "base_url": "https://pos.example.com/", "api_key_credential": "pos-hq" },
            "demo": { "kind": "fixture", "path": "fixtures/pos" },
            "sq": { "kind": "square", "api_key_env": "SQUARE_TOKEN", "square_version": "2025-08-20" },
            "gf": { "kind": "gloriafood", "api_key_file": "keys/gloriafood", "retries": 0 }
        },
        "target": {
            "web1": {
                "kind": "rsync", "dest": "deploy@web1.example.com:/srv/www", "mode": "releases",
                "keep_releases": 3, "ssh_port": 2222, "ssh_key": "/etc/menusync/ssh/id_ed25519",
                "known_hosts": "/etc/menusync/ssh/known_hosts"
            },
            "local": { "kind": "rsync", "dest": "/srv/www", "retry_backoff_secs": 10 }
        },
        "store": [{
            "id": "gangnam", "name": "강남점", "pos": "hq", "pos_store_id": "S001",
            "targets": ["web1", "local"], "price_overrides": { "I100": 4800 }
        }, {
            "id": "hongdae", "name": "홍대점", "pos": "sq", "pos_store_id": "S002",
            "location_id": "L123", "schedule": "30 * * * * *", "hidden_items": ["I309"]
        }]
    })
}

/// Runs `menusync check` on `config`, written out as TOML.
fn checker_accepts(config: &Value) -> Result<(), String> {
    let text = toml::to_string(config).expect("serializes as TOML");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stores.toml");
    std::fs::write(&path, &text).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_menusync"))
        .arg("--config")
        .arg(&path)
        .arg("check")
        .output()
        .unwrap();
    match output.status.code() {
        Some(0) => Ok(()),
        // 2: an invalid config, the exit code `check` promises.
        Some(2) => Err(format!(
            "{}{}\n{text}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )),
        other => panic!(
            "menusync check exited {other:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

#[test]
fn schema_refuses_what_menusync_check_refuses() {
    let validator = validator();
    let base = base();
    assert_eq!(errors(&validator, &base), Vec::<String>::new());
    checker_accepts(&base).expect("the base config is valid");

    type Edit = fn(&mut Value);
    let mistakes: &[(&str, Edit)] = &[
        ("typo in a daemon key", |c| {
            c["daemon"]["stat_dir"] = json!("var")
        }),
        ("unknown section", |c| c["deamon"] = json!({})),
        ("zero concurrency", |c| {
            c["daemon"]["io_concurrency"] = json!(0)
        }),
        ("shrink over 100%", |c| {
            c["daemon"]["max_shrink_percent"] = json!(101)
        }),
        ("5-field cron", |c| {
            c["daemon"]["schedule"] = json!("*/5 * * * *")
        }),
        ("zero stale_after_secs", |c| {
            c["daemon"]["stale_after_secs"] = json!(0)
        }),
        ("unknown log format", |c| c["log"]["format"] = json!("xml")),
        ("zero file_keep_days", |c| {
            c["log"]["file_keep_days"] = json!(0)
        }),
        ("unknown pos kind", |c| {
            c["pos"]["hq"]["kind"] = json!("ftp")
        }),
        ("http pos without a key", |c| {
            c["pos"]["hq"]
                .as_object_mut()
                .unwrap()
                .remove("api_key_credential");
        }),
        ("http pos with two keys", |c| {
            c["pos"]["hq"]["api_key_env"] = json!("HQ_KEY")
        }),
        ("http pos with a fixture path", |c| {
            c["pos"]["hq"]["path"] = json!("fixtures")
        }),
        ("ftp base_url", |c| {
            c["pos"]["hq"]["base_url"] = json!("ftp://pos.example.com/")
        }),
        ("the key itself in api_key_env", |c| {
            c["pos"]["hq"]
                .as_object_mut()
                .unwrap()
                .remove("api_key_credential");
            c["pos"]["hq"]["api_key_env"] = json!("sk-live 1234");
        }),
        ("zero requests_per_second", |c| {
            c["pos"]["hq"]["requests_per_second"] = json!(0)
        }),
        ("fixture pos with a base_url", |c| {
            c["pos"]["demo"]["base_url"] = json!("https://pos.example.com/")
        }),
        ("fixture pos without path", |c| {
            c["pos"]["demo"].as_object_mut().unwrap().remove("path");
        }),
        ("unknown target kind", |c| {
            c["target"]["web1"]["kind"] = json!("scp")
        }),
        ("target dest as an option", |c| {
            c["target"]["web1"]["dest"] = json!("--rsh=evil")
        }),
        ("shell metacharacters in dest", |c| {
            c["target"]["web1"]["dest"] = json!("host:/srv/$(reboot)")
        }),
        ("upper-case store id", |c| {
            c["store"][0]["id"] = json!("Gangnam")
        }),
        ("store without a pos_store_id", |c| {
            c["store"][0]
                .as_object_mut()
                .unwrap()
                .remove("pos_store_id");
        }),
        ("negative price", |c| {
            c["store"][0]["price_overrides"]["I100"] = json!(-1)
        }),
        ("a target listed twice", |c| {
            c["store"][0]["targets"] = json!(["web1", "web1"])
        }),
        ("typo in a store key", |c| {
            c["store"][0]["hiden_items"] = json!([])
        }),
        ("square_version on an http pos", |c| {
            c["pos"]["hq"]["square_version"] = json!("2025-08-20")
        }),
        ("a square_version that is no date", |c| {
            c["pos"]["sq"]["square_version"] = json!("v2")
        }),
        ("square pos without a key", |c| {
            c["pos"]["sq"]
                .as_object_mut()
                .unwrap()
                .remove("api_key_env");
        }),
        ("negative image_grace_secs", |c| {
            c["daemon"]["image_grace_secs"] = json!(-1)
        }),
        ("unknown target mode", |c| {
            c["target"]["web1"]["mode"] = json!("tar")
        }),
        ("ssh_port 0", |c| c["target"]["web1"]["ssh_port"] = json!(0)),
        ("ssh_key with a space", |c| {
            c["target"]["web1"]["ssh_key"] = json!("/etc/menusync/my key")
        }),
        ("ssh settings on a local target", |c| {
            c["target"]["local"]["known_hosts"] = json!("/etc/menusync/known_hosts");
        }),
    ];
    for (what, edit) in mistakes {
        let mut config = base.clone();
        edit(&mut config);
        assert!(
            validator.validate(&config).is_err(),
            "the schema accepts {what}"
        );
        assert!(
            checker_accepts(&config).is_err(),
            "menusync check accepts {what}, but the schema refuses it"
        );
    }
}

/// `pub NAME:` fields per `pub struct` of `src/config/raw.rs`.
fn raw_fields() -> Vec<(String, Vec<String>)> {
    let mut structs: Vec<(String, Vec<String>)> = Vec::new();
    for line in read(&repo().join("src/config/raw.rs")).lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("pub struct ") {
            let name = rest.split(|c: char| !c.is_alphanumeric()).next().unwrap();
            structs.push((name.to_string(), Vec::new()));
        } else if let Some(rest) = line.strip_prefix("pub ")
            && let Some((field, _)) = rest.split_once(':')
            && field.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            structs
                .last_mut()
                .expect("a field inside a struct")
                .1
                .push(field.to_string());
        }
    }
    structs
}

#[test]
fn schema_has_every_key_of_raw_rs_and_no_other() {
    let schema = schema();
    let structs = raw_fields();
    assert!(
        structs.len() >= 6,
        "parsed too little of raw.rs: {structs:?}"
    );
    for (name, fields) in structs {
        let pointer = match name.as_str() {
            "RawConfig" => "/properties",
            "RawDaemon" => "/properties/daemon/properties",
            "RawLog" => "/properties/log/properties",
            "RawCluster" => "/properties/cluster/properties",
            "RawPos" => "/$defs/pos/properties",
            "RawTarget" => "/$defs/target/properties",
            "RawStore" => "/$defs/store/properties",
            other => panic!(
                "src/config/raw.rs has a new struct {other}: describe it in docs/stores.schema.json and map it here"
            ),
        };
        let properties = schema
            .pointer(pointer)
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("schema has no {pointer}"));
        let mut in_schema: Vec<&String> = properties.keys().collect();
        in_schema.sort();
        let mut in_rust: Vec<&String> = fields.iter().collect();
        in_rust.sort();
        assert_eq!(
            in_schema, in_rust,
            "{name} (raw.rs) and {pointer} (docs/stores.schema.json) differ"
        );
    }
}

/// The value of a `pub const DEFAULT_*` initializer: a string, a product of
/// integers, or a slice of them (`&[320, 640]`).
fn constant_value(expression: &str) -> Value {
    let expression = expression.trim();
    if let Some(list) = expression
        .strip_prefix("&[")
        .and_then(|s| s.strip_suffix(']'))
    {
        return Value::Array(list.split(',').map(constant_value).collect());
    }
    if let Some(string) = expression
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
    {
        return json!(string);
    }
    let product = expression.split('*').try_fold(1u64, |product, factor| {
        factor
            .trim()
            .replace('_', "")
            .parse::<u64>()
            .map(|factor| product * factor)
    });
    json!(product.unwrap_or_else(|_| panic!("cannot evaluate `{expression}`")))
}

#[test]
fn schema_defaults_are_the_default_constants() {
    let schema = schema();
    // Where a constant's key lives; a section's constants may carry its name
    // as a prefix (DEFAULT_LOG_FILE_KEEP_DAYS is [log] file_keep_days).
    let sections = [
        ("", "/properties/daemon/properties"),
        ("log_", "/properties/log/properties"),
        ("cluster_", "/properties/cluster/properties"),
        ("pos_", "/$defs/pos/properties"),
        ("target_", "/$defs/target/properties"),
    ];
    let mut checked = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("src/config"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    for file in files {
        for line in read(&file).lines() {
            let Some(rest) = line.trim().strip_prefix("pub const DEFAULT_") else {
                continue;
            };
            let (name, rest) = rest.split_once(':').unwrap();
            let (_, expression) = rest.split_once('=').unwrap();
            let value = constant_value(expression.trim_end_matches(';'));
            let key = name.to_ascii_lowercase();
            let exact = sections
                .iter()
                .map(|(_, section)| format!("{section}/{key}"));
            let stripped = sections.iter().filter_map(|(prefix, section)| {
                let short = key.strip_prefix(prefix).filter(|_| !prefix.is_empty())?;
                Some(format!("{section}/{short}"))
            });
            let (pointer, property) = exact
                .chain(stripped)
                .find_map(|pointer| schema.pointer(&pointer).cloned().map(|p| (pointer, p)))
                .unwrap_or_else(|| {
                    panic!(
                        "{}: DEFAULT_{name} has no key `{key}` in docs/stores.schema.json",
                        file.display()
                    )
                });
            assert_eq!(property["default"], value, "default of {pointer}");
            let shown = match &value {
                Value::String(string) => format!("Default \"{string}\""),
                other => format!("Default {other}"),
            };
            let description = property["description"].as_str().unwrap_or_default();
            assert!(
                description.contains(&shown),
                "the description of {pointer} should say `{shown}`: {description}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 18, "found only {checked} DEFAULT_* constants");
}
