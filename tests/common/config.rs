//! `stores.toml` text for the integration tests, put together from sections,
//! so the keys that every test config shares are written once and each test
//! writes only what it is about.

use super::KEY_ENV;

/// `[daemon]` lines of a test against a mock POS: a pass every second, and
/// timeouts short enough that a POS which does not answer fails the test soon.
pub const MOCK_POS_DAEMON: &str = "schedule = \"*/1 * * * * *\"\n\
                                   connect_timeout_secs = 2\n\
                                   read_timeout_secs = 5\n\
                                   pass_timeout_secs = 30\n";

/// `[daemon]` keeping the state in `state/` beside the config, then `lines`.
/// It starts the text: `state_dir` is on line 2, column 13.
pub fn daemon(lines: &str) -> String {
    format!("[daemon]\nstate_dir = \"state\"\n{lines}")
}

/// A `[pos.NAME]` of a remote `kind` at `base_url` that reads the test key
/// from [`KEY_ENV`], then `extra` lines.
pub fn remote_pos(name: &str, kind: &str, base_url: &str, extra: &str) -> String {
    format!(
        "\n[pos.{name}]\nkind = \"{kind}\"\nbase_url = \"{base_url}\"\napi_key_env = \"{KEY_ENV}\"\n{extra}"
    )
}

/// A `[pos.NAME]` reading the fixture files under `path`.
pub fn fixture_pos(name: &str, path: &str) -> String {
    format!("\n[pos.{name}]\nkind = \"fixture\"\npath = \"{path}\"\n")
}

/// A `[target.NAME]` pushing with rsync to `dest`, a folder beside the config.
pub fn rsync_target(name: &str, dest: &str) -> String {
    format!("\n[target.{name}]\nkind = \"rsync\"\ndest = \"{dest}\"\n")
}

/// A `[[store]]` named `name` that is pushed nowhere, then `extra` lines.
pub fn unpushed_store(id: &str, name: &str, pos: &str, pos_store_id: &str, extra: &str) -> String {
    format!(
        "\n[[store]]\nid = \"{id}\"\nname = \"{name}\"\npos = \"{pos}\"\npos_store_id = \"{pos_store_id}\"\n{extra}"
    )
}

/// A `[[store]]` named `name` pushed to target `web`, then `extra` lines.
pub fn store(id: &str, name: &str, pos: &str, pos_store_id: &str, extra: &str) -> String {
    unpushed_store(
        id,
        name,
        pos,
        pos_store_id,
        &format!("targets = [\"web\"]\n{extra}"),
    )
}
