//! The `stores.toml` file exactly as written, before any check.
//!
//! Every struct denies unknown fields so that a typo is an error with a line
//! number instead of a silently ignored key. Fields whose later checks need a
//! line number are kept as [`Spanned`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub pos: BTreeMap<Spanned<String>, RawPos>,
    #[serde(default)]
    pub target: BTreeMap<Spanned<String>, RawTarget>,
    #[serde(default)]
    pub store: Vec<RawStore>,
    #[serde(default)]
    pub log: RawLog,
    /// Active/standby on etcd; absent, this host runs alone.
    pub cluster: Option<RawCluster>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// etcd client URLs, `http://` or `https://`.
    pub endpoints: Spanned<Vec<String>>,
    /// The cluster's name: its keys live under `/menusync/<name>/`.
    pub name: Spanned<String>,
    /// This instance's name among the members (default: the host name).
    pub member: Option<Spanned<String>>,
    pub lease_ttl_secs: Option<Spanned<i64>>,
    /// PEM files for https endpoints: the CA, and a client certificate and key.
    pub ca_file: Option<Spanned<String>>,
    pub cert_file: Option<Spanned<String>>,
    pub key_file: Option<Spanned<String>>,
    /// etcd user; its password from exactly one of the sources below.
    pub user: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub password_credential: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `human` (default) or `json`, for stdout when there is no journal.
    pub format: Option<Spanned<String>>,
    /// A folder for daily-rotated log files, besides the journal or stdout.
    pub file_dir: Option<Spanned<String>>,
    pub file_keep_days: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    pub state_dir: Option<Spanned<String>>,
    pub schedule: Option<Spanned<String>>,
    pub io_concurrency: Option<Spanned<i64>>,
    pub deploy_concurrency: Option<Spanned<i64>>,
    pub connect_timeout_secs: Option<Spanned<i64>>,
    pub read_timeout_secs: Option<Spanned<i64>>,
    pub pass_timeout_secs: Option<Spanned<i64>>,
    pub deploy_timeout_secs: Option<Spanned<i64>>,
    pub keep_releases: Option<Spanned<i64>>,
    pub max_image_bytes: Option<Spanned<i64>>,
    pub max_menu_bytes: Option<Spanned<i64>>,
    pub max_shrink_percent: Option<Spanned<i64>>,
    pub shutdown_timeout_secs: Option<Spanned<i64>>,
    pub stale_after_secs: Option<Spanned<i64>>,
    pub metrics_dir: Option<Spanned<String>>,
    pub image_grace_secs: Option<Spanned<i64>>,
    pub image_timeout_secs: Option<Spanned<i64>>,
    pub max_image_pixels: Option<Spanned<i64>>,
    /// IANA time zone of every store that names none (default `Asia/Seoul`).
    pub time_zone: Option<Spanned<String>>,
    /// Spread the stores of a schedule over its interval (default true).
    pub splay: Option<bool>,
    /// A `[target.*]` no store lists, where the preview pages are mirrored.
    pub preview_target: Option<Spanned<String>>,
    /// Publish gates (`config::gates`); a store's own win.
    pub hold_price_change_percent: Option<Spanned<i64>>,
    pub hold_price_zero: Option<bool>,
    pub hold_removed_items: Option<Spanned<i64>>,
    pub hold_newly_sold_out: Option<Spanned<i64>>,
    /// Image variants (`config::variants`); a store's own win.
    pub image_variants: Option<bool>,
    pub image_widths: Option<Spanned<Vec<Spanned<i64>>>>,
    pub image_quality: Option<Spanned<i64>>,
    pub keep_original_images: Option<bool>,
    /// Days a made variant set stays in the cache unused.
    pub image_cache_days: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPos {
    pub kind: Spanned<String>,
    /// `http`, `square`, `gloriafood`: where the POS API lives (the last two have defaults).
    pub base_url: Option<Spanned<String>>,
    /// Remote kinds (`http`, `square`, `gloriafood`): the environment variable
    /// holding the API key, access token or restaurant key.
    pub api_key_env: Option<Spanned<String>>,
    /// Remote kinds: a systemd credential (`LoadCredential=`) holding the key.
    pub api_key_credential: Option<Spanned<String>>,
    /// Remote kinds: a file holding the key.
    pub api_key_file: Option<Spanned<String>>,
    /// Remote kinds: retries of a failed request (network failures only).
    pub retries: Option<Spanned<i64>>,
    /// Remote kinds: consecutive network failures that open the breaker.
    pub breaker_failures: Option<Spanned<i64>>,
    /// Remote kinds: how long an open breaker fails calls fast.
    pub breaker_cooldown_secs: Option<Spanned<i64>>,
    /// Remote kinds: requests per second to this POS, across all its stores.
    pub requests_per_second: Option<Spanned<i64>>,
    /// `fixture`: the folder holding one sub-folder per POS store id.
    pub path: Option<Spanned<String>>,
    /// `square`: the `Square-Version` header, e.g. `2025-08-20`.
    pub square_version: Option<Spanned<String>>,
    /// `square`: one pass in this many reads the whole catalog, the others only its changes.
    pub full_read_every: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub kind: Spanned<String>,
    /// `rsync`: a local path or `user@host:/path`.
    pub dest: Spanned<String>,
    /// `files` (default) or `releases`.
    pub mode: Option<Spanned<String>>,
    /// `releases` mode: remote releases kept.
    pub keep_releases: Option<Spanned<i64>>,
    /// Seconds before retrying a target whose last push failed; doubles up to 30 minutes.
    pub retry_backoff_secs: Option<Spanned<i64>>,
    pub ssh_port: Option<Spanned<i64>>,
    pub ssh_key: Option<Spanned<String>>,
    pub known_hosts: Option<Spanned<String>>,
    /// A command run after each successful push (a CDN purge), never through a shell.
    pub after_push: Option<Spanned<Vec<String>>>,
    pub after_push_timeout_secs: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub id: Spanned<String>,
    pub name: Spanned<String>,
    pub pos: Spanned<String>,
    pub pos_store_id: Spanned<String>,
    pub schedule: Option<Spanned<String>>,
    #[serde(default)]
    pub targets: Vec<Spanned<String>>,
    #[serde(default)]
    pub hidden_categories: Vec<String>,
    #[serde(default)]
    pub hidden_items: Vec<String>,
    #[serde(default)]
    pub price_overrides: BTreeMap<String, Spanned<i64>>,
    /// `square` only: the Square location whose presence and overrides apply
    /// (default: `pos_store_id`).
    pub location_id: Option<Spanned<String>>,
    /// IANA time zone of the store's windows (default: `[daemon] time_zone`).
    pub time_zone: Option<Spanned<String>>,
    /// Whether `menu.json` carries the POS's allergens (default: true).
    pub publish_allergens: Option<bool>,
    /// Publish gates (`config::gates`); a store's own win.
    pub hold_price_change_percent: Option<Spanned<i64>>,
    pub hold_price_zero: Option<bool>,
    pub hold_removed_items: Option<Spanned<i64>>,
    pub hold_newly_sold_out: Option<Spanned<i64>>,
    /// Image variants (`config::variants`); a store's own win.
    pub image_variants: Option<bool>,
    pub image_widths: Option<Spanned<Vec<Spanned<i64>>>>,
    pub image_quality: Option<Spanned<i64>>,
    pub keep_original_images: Option<bool>,
}
