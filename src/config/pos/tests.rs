//! The `[pos.*]` kinds `square` and `gloriafood`, and `location_id` on stores.

use std::path::Path;

use super::super::{Config, ConfigError};
use super::*;

fn parse(pos: &str, stores: &str) -> Result<Config, ConfigError> {
    let text = format!("{pos}\n[target.web]\nkind = \"rsync\"\ndest = \"web\"\n{stores}");
    Config::parse(Path::new("/etc/menusync/stores.toml"), &text)
}

fn store(pos_store_id: &str, extra: &str) -> String {
    format!(
        "[[store]]\nid = \"s{}\"\nname = \"S\"\npos = \"p\"\npos_store_id = \"{pos_store_id}\"\n{extra}\n",
        pos_store_id.to_lowercase()
    )
}

fn error(pos: &str, stores: &str) -> String {
    parse(pos, stores)
        .expect_err("config should be refused")
        .to_string()
}

const SQUARE: &str = "[pos.p]\nkind = \"square\"\napi_key_env = \"SQUARE_TOKEN\"\n";

#[test]
fn square_takes_defaults_and_its_stores_locations() {
    let stores = store("L1", "") + &store("DOWNTOWN", "location_id = \"L2\"");
    let config = parse(SQUARE, &stores).unwrap();
    let PosKind::Square {
        base_url,
        key,
        square_version,
        locations,
        ..
    } = &config.pos["p"].kind
    else {
        panic!("a square pos");
    };
    assert_eq!(base_url.as_str(), "https://connect.squareup.com/");
    assert_eq!(*key, ApiKeySource::Env("SQUARE_TOKEN".into()));
    assert_eq!(square_version, DEFAULT_SQUARE_VERSION);
    let expected = BTreeMap::from([("DOWNTOWN".to_string(), "L2".to_string())]);
    assert_eq!(*locations, expected);
    assert_eq!(
        config.store("sdowntown").unwrap().location_id.as_deref(),
        Some("L2")
    );
    assert_eq!(config.pos["p"].kind.as_str(), "square");
}

#[test]
fn remote_kinds_take_a_base_url_and_a_square_version() {
    let pos = "[pos.p]\nkind = \"square\"\nbase_url = \"https://connect.squareupsandbox.com\"\n\
               square_version = \"2024-01-18\"\napi_key_file = \"square.token\"\n";
    let config = parse(pos, &store("L1", "")).unwrap();
    let PosKind::Square {
        base_url,
        square_version,
        key,
        ..
    } = &config.pos["p"].kind
    else {
        panic!("a square pos");
    };
    assert_eq!(base_url.host_str(), Some("connect.squareupsandbox.com"));
    assert_eq!(square_version, "2024-01-18");
    assert_eq!(
        *key,
        ApiKeySource::File("/etc/menusync/square.token".into())
    );

    let gloria = "[pos.p]\nkind = \"gloriafood\"\napi_key_credential = \"glf\"\nretries = 1\n";
    let config = parse(gloria, &store("4172", "")).unwrap();
    let PosKind::GloriaFood {
        base_url,
        resilience,
        key,
    } = &config.pos["p"].kind
    else {
        panic!("a gloriafood pos");
    };
    assert_eq!(base_url.as_str(), "https://pos.globalfoodsoft.com/");
    assert_eq!(resilience.retries, 1);
    assert_eq!(*key, ApiKeySource::Credential("glf".into()));
}

#[test]
fn an_endpoint_slot_is_its_place_in_name_order_and_not_part_of_its_equality() {
    let fixture = |name: &str| format!("[pos.{name}]\nkind = \"fixture\"\npath = \"x\"\n");
    let config = parse(&(fixture("p") + &fixture("b")), &store("L1", "")).unwrap();
    let slots: Vec<(&str, usize)> = config
        .pos
        .values()
        .map(|endpoint| (endpoint.name.as_str(), endpoint.slot))
        .collect();
    assert_eq!(slots, [("b", 0), ("p", 1)]);
    // `[pos.a]` added: `p` moves to slot 2 and is still the same endpoint.
    let more = parse(
        &(fixture("p") + &fixture("b") + &fixture("a")),
        &store("L1", ""),
    )
    .unwrap();
    assert_eq!(more.pos["p"].slot, 2);
    assert_eq!(more.pos["p"], config.pos["p"]);
    assert_eq!(more.stores[0], config.stores[0]);
}

#[test]
fn misplaced_or_malformed_keys_are_refused_with_their_line() {
    let http =
        "[pos.p]\nkind = \"http\"\nbase_url = \"https://pos.example\"\napi_key_env = \"K\"\n";
    let conflict = store("L1", "location_id = \"A\"")
        + "[[store]]\nid = \"other\"\nname = \"O\"\npos = \"p\"\npos_store_id = \"L1\"\nlocation_id = \"B\"\n";
    // (pos section, stores, expected line:column: message)
    let cases = [
        (
            http.to_string(),
            store("S1", "location_id = \"L1\""),
            ":14:15: `location_id` applies only to stores on a pos of kind `square`, not `http`",
        ),
        (
            format!("{http}square_version = \"2025-08-20\"\n"),
            String::new(),
            ":5:18: `square_version` does not apply to a pos of kind `http`",
        ),
        (
            format!("{SQUARE}square_version = \"latest\"\n"),
            String::new(),
            ":4:18: `square_version` is a Square API version",
        ),
        (
            "[pos.p]\nkind = \"square\"\n".to_string(),
            String::new(),
            ":2:8: a pos of kind `square` needs one of `api_key_env`",
        ),
        (
            "[pos.p]\nkind = \"gloriafood\"\napi_key_env = \"K\"\npath = \"x\"\n".to_string(),
            String::new(),
            ":4:8: `path` does not apply to a pos of kind `gloriafood`",
        ),
        (
            SQUARE.to_string(),
            store("L1", "location_id = \"\""),
            ":13:15: `location_id` must not be empty",
        ),
        (
            SQUARE.to_string(),
            conflict,
            ":19:15: pos_store_id `L1` already has location_id `A` on pos `p`",
        ),
    ];
    for (pos, stores, expected) in cases {
        let message = error(&pos, &stores);
        assert!(message.contains(expected), "{message}\nwanted {expected}");
    }
}
