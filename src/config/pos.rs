//! Checks a `[pos.NAME]` section: the provider kind (`http`, `fixture`,
//! `square`, `gloriafood`), where its key comes from, and its retry, breaker
//! and rate-limit knobs; and gives each `square` pos its stores' locations.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::checker::{Checker, check_name};
use super::error::ConfigError;
use super::raw::{RawPos, RawStore};

pub const DEFAULT_RETRIES: u64 = 3;
pub const DEFAULT_BREAKER_FAILURES: u64 = 5;
pub const DEFAULT_BREAKER_COOLDOWN_SECS: u64 = 60;
pub const DEFAULT_REQUESTS_PER_SECOND: u64 = 10;
/// Where a `square` pos lives without `base_url`: Square's production API
/// (the sandbox is `https://connect.squareupsandbox.com`). Not one default of
/// `base_url` but the vendor's address, as is [`GLORIAFOOD_BASE_URL`].
pub const SQUARE_BASE_URL: &str = "https://connect.squareup.com";
/// The Square API version the mapping was written against (`Square-Version` header).
pub const DEFAULT_SQUARE_VERSION: &str = "2025-08-20";
/// A `square` pos reads the whole catalog at least once in this many passes;
/// the others ask only for what changed since the last read (`begin_time`).
/// A change no catalog time announces (possibly a sold-out flip from
/// inventory; not verified against Square) waits up to this many passes of
/// the pos's stores: 20 passes on a 5-minute schedule with one store is 100
/// minutes at worst, with N stores about a Nth of that.
pub const DEFAULT_FULL_READ_EVERY: u64 = 20;
/// Where a `gloriafood` pos lives without `base_url`: GloriaFood's Fetch Menu API.
pub const GLORIAFOOD_BASE_URL: &str = "https://pos.globalfoodsoft.com";

/// The knobs of one endpoint, from its `[pos.NAME]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ResilienceSettings {
    pub retries: usize,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    pub requests_per_second: NonZeroU32,
}

#[derive(Debug)]
pub struct PosEndpoint {
    pub name: String,
    /// The endpoint's place in its config's `pos` (in name order, from 0):
    /// a pipeline `Context` keeps the endpoint's provider at this place, so
    /// a store reaches its provider without a lookup that could miss.
    pub slot: usize,
    pub kind: PosKind,
}

/// Equal endpoints reach the same POS the same way; the slot says where a
/// config keeps one, not what it is, so a `[pos.*]` added before another
/// changes nothing about the other.
impl PartialEq for PosEndpoint {
    fn eq(&self, other: &PosEndpoint) -> bool {
        self.name == other.name && self.kind == other.kind
    }
}

#[derive(Debug, PartialEq)]
pub enum PosKind {
    /// The reference protocol of `pos-api.md` over HTTP(S).
    Http {
        base_url: url::Url,
        key: ApiKeySource,
        resilience: ResilienceSettings,
    },
    /// The same documents read from a folder: `<dir>/<pos_store_id>/menu.json`, `images.json`.
    Fixture { dir: PathBuf },
    /// Square's Catalog API; the key source holds an access token.
    Square {
        base_url: url::Url,
        key: ApiKeySource,
        resilience: ResilienceSettings,
        /// Sent as `Square-Version`.
        square_version: String,
        /// `pos_store_id` → Square location id, for the stores that name one
        /// with `location_id`; any other store's `pos_store_id` is its location id.
        locations: BTreeMap<String, String>,
        /// One pass in this many (counted over the pos's stores) reads the
        /// whole catalog; 1 reads it every pass.
        full_read_every: u32,
    },
    /// GloriaFood's Fetch Menu API v2; the key source holds the restaurant key.
    GloriaFood {
        base_url: url::Url,
        key: ApiKeySource,
        resilience: ResilienceSettings,
    },
}

impl PosKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            PosKind::Http { .. } => "http",
            PosKind::Fixture { .. } => "fixture",
            PosKind::Square { .. } => "square",
            PosKind::GloriaFood { .. } => "gloriafood",
        }
    }
}

/// Where an API key is read from, at every pass, so a rotated key takes effect.
/// Never the key itself: `stores.toml` holds no secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeySource {
    /// An environment variable.
    Env(String),
    /// A file in `$CREDENTIALS_DIRECTORY`, as systemd's `LoadCredential=` provides.
    Credential(String),
    /// A file, relative to the config file's folder unless absolute.
    File(PathBuf),
}

/// What every remote kind has: where the POS lives, its key, and its resilience knobs.
struct Remote {
    base_url: url::Url,
    key: ApiKeySource,
    resilience: ResilienceSettings,
}

impl Checker<'_> {
    pub(super) fn check_pos(
        &self,
        name: &Spanned<String>,
        slot: usize,
        raw: &RawPos,
    ) -> Result<PosEndpoint, ConfigError> {
        check_name(name.get_ref()).map_err(|why| self.error(name.span(), why))?;
        let kind_name = raw.kind.get_ref().as_str();
        if kind_name != "square" {
            self.forbid(&raw.square_version, "square_version", kind_name)?;
            self.forbid(&raw.full_read_every, "full_read_every", kind_name)?;
        }
        let kind = match kind_name {
            "http" => self.check_http_pos(raw)?,
            "fixture" => self.check_fixture_pos(raw)?,
            "square" => self.check_square_pos(raw)?,
            "gloriafood" => self.check_gloriafood_pos(raw)?,
            other => {
                return Err(self.error(
                    raw.kind.span(),
                    format!(
                        "unknown pos kind `{other}`, expected `http`, `fixture`, `square` or `gloriafood`"
                    ),
                ));
            }
        };
        Ok(PosEndpoint {
            name: name.get_ref().clone(),
            slot,
            kind,
        })
    }

    fn check_fixture_pos(&self, raw: &RawPos) -> Result<PosKind, ConfigError> {
        for (value, field) in [
            (&raw.base_url, "base_url"),
            (&raw.api_key_env, "api_key_env"),
            (&raw.api_key_credential, "api_key_credential"),
            (&raw.api_key_file, "api_key_file"),
        ] {
            self.forbid(value, field, "fixture")?;
        }
        for (value, field) in [
            (&raw.retries, "retries"),
            (&raw.breaker_failures, "breaker_failures"),
            (&raw.breaker_cooldown_secs, "breaker_cooldown_secs"),
            (&raw.requests_per_second, "requests_per_second"),
        ] {
            self.forbid(value, field, "fixture")?;
        }
        let path = self.require(&raw.path, &raw.kind, "path", "fixture")?;
        if path.get_ref().trim().is_empty() {
            return Err(self.error(path.span(), "`path` must not be empty"));
        }
        Ok(PosKind::Fixture {
            dir: self.resolve(path.get_ref()),
        })
    }

    fn check_http_pos(&self, raw: &RawPos) -> Result<PosKind, ConfigError> {
        let base = self.require(&raw.base_url, &raw.kind, "base_url", "http")?;
        let remote = self.check_remote(raw, "http", Some(base), "")?;
        Ok(PosKind::Http {
            base_url: remote.base_url,
            key: remote.key,
            resilience: remote.resilience,
        })
    }

    fn check_gloriafood_pos(&self, raw: &RawPos) -> Result<PosKind, ConfigError> {
        let base = raw.base_url.as_ref();
        let remote = self.check_remote(raw, "gloriafood", base, GLORIAFOOD_BASE_URL)?;
        Ok(PosKind::GloriaFood {
            base_url: remote.base_url,
            key: remote.key,
            resilience: remote.resilience,
        })
    }

    fn check_square_pos(&self, raw: &RawPos) -> Result<PosKind, ConfigError> {
        let Remote {
            base_url,
            key,
            resilience,
        } = self.check_remote(raw, "square", raw.base_url.as_ref(), SQUARE_BASE_URL)?;
        let square_version = match &raw.square_version {
            None => DEFAULT_SQUARE_VERSION.to_string(),
            Some(version) => {
                let text = version.get_ref();
                let date_like = text.len() == 10
                    && text.char_indices().all(|(at, c)| {
                        if at == 4 || at == 7 {
                            c == '-'
                        } else {
                            c.is_ascii_digit()
                        }
                    });
                if !date_like {
                    return Err(self.error(
                        version.span(),
                        "`square_version` is a Square API version such as `2025-08-20`",
                    ));
                }
                text.clone()
            }
        };
        let full_read_every = self.bounded(
            &raw.full_read_every,
            "full_read_every",
            DEFAULT_FULL_READ_EVERY,
        )?;
        Ok(PosKind::Square {
            base_url,
            key,
            resilience,
            square_version,
            locations: BTreeMap::new(),
            full_read_every: u32::try_from(full_read_every)
                .expect("the bound of full_read_every fits a u32"),
        })
    }

    /// Checks what the remote kinds share; `base` falls back to `default_base` when absent.
    fn check_remote(
        &self,
        raw: &RawPos,
        kind_name: &str,
        base: Option<&Spanned<String>>,
        default_base: &str,
    ) -> Result<Remote, ConfigError> {
        self.forbid(&raw.path, "path", kind_name)?;
        let base_url = match base {
            None => url::Url::parse(default_base).expect("default base URLs parse"),
            Some(base) => url::Url::parse(base.get_ref())
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
                .ok_or_else(|| {
                    self.error(base.span(), "`base_url` must be an http:// or https:// URL")
                })?,
        };
        if !base_url.username().is_empty() || base_url.password().is_some() {
            return Err(self.error(
                base.map(Spanned::span).unwrap_or(0..0),
                "`base_url` holds a user name or password (`user:KEY@`), which would be \
                 printed and stored: remove it and give the key with api_key_credential, \
                 api_key_env or api_key_file",
            ));
        }
        let key = self.check_key_source(raw, kind_name)?;
        Ok(Remote {
            base_url,
            key,
            resilience: self.check_resilience(raw)?,
        })
    }

    fn check_resilience(&self, raw: &RawPos) -> Result<ResilienceSettings, ConfigError> {
        let retries = self.bounded(&raw.retries, "retries", DEFAULT_RETRIES)?;
        let breaker_failures = self.bounded(
            &raw.breaker_failures,
            "breaker_failures",
            DEFAULT_BREAKER_FAILURES,
        )?;
        let cooldown = self.bounded(
            &raw.breaker_cooldown_secs,
            "breaker_cooldown_secs",
            DEFAULT_BREAKER_COOLDOWN_SECS,
        )?;
        let rate = self.bounded(
            &raw.requests_per_second,
            "requests_per_second",
            DEFAULT_REQUESTS_PER_SECOND,
        )?;
        Ok(ResilienceSettings {
            retries: retries as usize,
            breaker_failures: u32::try_from(breaker_failures).unwrap_or(u32::MAX),
            breaker_cooldown: Duration::from_secs(cooldown),
            requests_per_second: NonZeroU32::new(u32::try_from(rate).unwrap_or(u32::MAX))
                .expect("the bound of requests_per_second starts at 1"),
        })
    }

    /// Fills each square pos's `locations` from the stores, and refuses
    /// `location_id` on a store whose pos is not `square`.
    pub(super) fn attach_locations(
        &self,
        pos: &mut BTreeMap<String, Arc<PosEndpoint>>,
        stores: &[RawStore],
    ) -> Result<(), ConfigError> {
        for store in stores {
            let Some(endpoint) = pos.get_mut(store.pos.get_ref()) else {
                continue;
            };
            let endpoint = Arc::get_mut(endpoint)
                .expect("pos endpoints are not shared until the config is checked");
            let PosKind::Square { locations, .. } = &mut endpoint.kind else {
                if let Some(location) = &store.location_id {
                    return Err(self.error(
                        location.span(),
                        format!(
                            "`location_id` applies only to stores on a pos of kind `square`, not `{}`",
                            endpoint.kind.as_str()
                        ),
                    ));
                }
                continue;
            };
            let Some(location) = &store.location_id else {
                continue;
            };
            if location.get_ref().trim().is_empty() {
                return Err(self.error(location.span(), "`location_id` must not be empty"));
            }
            let pos_store_id = store.pos_store_id.get_ref();
            match locations.insert(pos_store_id.clone(), location.get_ref().clone()) {
                Some(earlier) if earlier != *location.get_ref() => {
                    return Err(self.error(
                        location.span(),
                        format!(
                            "pos_store_id `{pos_store_id}` already has location_id `{earlier}` on pos `{}`",
                            store.pos.get_ref()
                        ),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_key_source(&self, raw: &RawPos, kind_name: &str) -> Result<ApiKeySource, ConfigError> {
        let given: Vec<&Spanned<String>> =
            [&raw.api_key_env, &raw.api_key_credential, &raw.api_key_file]
                .into_iter()
                .flatten()
                .collect();
        if given.len() > 1 {
            return Err(self.error(
                given[1].span(),
                "give only one of `api_key_env`, `api_key_credential` and `api_key_file`",
            ));
        }
        let plain_name = |value: &str| {
            !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        };
        if let Some(env) = &raw.api_key_env {
            let valid = !env.get_ref().is_empty()
                && env
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(self.error(
                    env.span(),
                    "`api_key_env` names an environment variable (letters, digits, `_`), not the key itself",
                ));
            }
            Ok(ApiKeySource::Env(env.get_ref().clone()))
        } else if let Some(credential) = &raw.api_key_credential {
            if !plain_name(credential.get_ref()) || credential.get_ref().starts_with('.') {
                return Err(self.error(
                    credential.span(),
                    "`api_key_credential` names a credential (letters, digits, `_`, `-`, `.`)",
                ));
            }
            Ok(ApiKeySource::Credential(credential.get_ref().clone()))
        } else if let Some(file) = &raw.api_key_file {
            if file.get_ref().trim().is_empty() {
                return Err(self.error(file.span(), "`api_key_file` must not be empty"));
            }
            Ok(ApiKeySource::File(self.resolve(file.get_ref())))
        } else {
            Err(self.error(
                raw.kind.span(),
                format!(
                    "a pos of kind `{kind_name}` needs one of `api_key_env`, `api_key_credential` or `api_key_file`"
                ),
            ))
        }
    }

    fn require<'v>(
        &self,
        value: &'v Option<Spanned<String>>,
        kind: &Spanned<String>,
        field: &str,
        kind_name: &str,
    ) -> Result<&'v Spanned<String>, ConfigError> {
        value.as_ref().ok_or_else(|| {
            self.error(
                kind.span(),
                format!("a pos of kind `{kind_name}` needs `{field}`"),
            )
        })
    }

    fn forbid<T>(
        &self,
        value: &Option<Spanned<T>>,
        field: &str,
        kind_name: &str,
    ) -> Result<(), ConfigError> {
        match value {
            Some(value) => Err(self.error(
                value.span(),
                format!("`{field}` does not apply to a pos of kind `{kind_name}`"),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
