//! Checks a `[pos.NAME]` section: the provider kind, where its key comes from,
//! and its retry, breaker and rate-limit knobs.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::raw::RawPos;
use super::{Checker, ConfigError, check_name};
use crate::pos::ResilienceSettings;

pub const DEFAULT_RETRIES: u64 = 3;
pub const DEFAULT_BREAKER_FAILURES: u64 = 5;
pub const DEFAULT_BREAKER_COOLDOWN_SECS: u64 = 60;
pub const DEFAULT_REQUESTS_PER_SECOND: u64 = 10;

#[derive(Debug)]
pub struct PosEndpoint {
    pub name: String,
    pub kind: PosKind,
}

#[derive(Debug)]
pub enum PosKind {
    /// The reference protocol of `pos-api.md` over HTTP(S).
    Http {
        base_url: url::Url,
        key: ApiKeySource,
        resilience: ResilienceSettings,
    },
    /// The same documents read from a folder: `<dir>/<pos_store_id>/menu.json`, `images.json`.
    Fixture { dir: PathBuf },
}

impl PosKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            PosKind::Http { .. } => "http",
            PosKind::Fixture { .. } => "fixture",
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

impl Checker<'_> {
    pub(super) fn check_pos(
        &self,
        name: &Spanned<String>,
        raw: &RawPos,
    ) -> Result<PosEndpoint, ConfigError> {
        check_name(name.get_ref()).map_err(|why| self.error(name.span(), why))?;
        let kind = match raw.kind.get_ref().as_str() {
            "http" => self.check_http_pos(raw)?,
            "fixture" => {
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
                PosKind::Fixture {
                    dir: self.resolve(path.get_ref()),
                }
            }
            other => {
                return Err(self.error(
                    raw.kind.span(),
                    format!("unknown pos kind `{other}`, expected `http` or `fixture`"),
                ));
            }
        };
        Ok(PosEndpoint {
            name: name.get_ref().clone(),
            kind,
        })
    }

    fn check_http_pos(&self, raw: &RawPos) -> Result<PosKind, ConfigError> {
        self.forbid(&raw.path, "path", "http")?;
        let base = self.require(&raw.base_url, &raw.kind, "base_url", "http")?;
        let base_url = url::Url::parse(base.get_ref())
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| {
                self.error(base.span(), "`base_url` must be an http:// or https:// URL")
            })?;
        let key = self.check_key_source(raw)?;
        let retries = self.at_least(&raw.retries, "retries", 0, DEFAULT_RETRIES)?;
        let breaker_failures = self.at_least(
            &raw.breaker_failures,
            "breaker_failures",
            1,
            DEFAULT_BREAKER_FAILURES,
        )?;
        let cooldown = self.at_least(
            &raw.breaker_cooldown_secs,
            "breaker_cooldown_secs",
            1,
            DEFAULT_BREAKER_COOLDOWN_SECS,
        )?;
        let rate = self.at_least(
            &raw.requests_per_second,
            "requests_per_second",
            1,
            DEFAULT_REQUESTS_PER_SECOND,
        )?;
        Ok(PosKind::Http {
            base_url,
            key,
            resilience: ResilienceSettings {
                retries: retries.min(10) as usize,
                breaker_failures: u32::try_from(breaker_failures).unwrap_or(u32::MAX),
                breaker_cooldown: Duration::from_secs(cooldown),
                requests_per_second: NonZeroU32::new(u32::try_from(rate).unwrap_or(u32::MAX))
                    .expect("at_least(1) is never zero"),
            },
        })
    }

    fn check_key_source(&self, raw: &RawPos) -> Result<ApiKeySource, ConfigError> {
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
                "a pos of kind `http` needs one of `api_key_env`, `api_key_credential` or `api_key_file`",
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

    fn at_least(
        &self,
        value: &Option<Spanned<i64>>,
        name: &str,
        minimum: i64,
        default: u64,
    ) -> Result<u64, ConfigError> {
        match value {
            None => Ok(default),
            Some(spanned) if *spanned.get_ref() >= minimum => Ok(*spanned.get_ref() as u64),
            Some(spanned) => Err(self.error(
                spanned.span(),
                format!(
                    "`{name}` must be at least {minimum}, got {}",
                    spanned.get_ref()
                ),
            )),
        }
    }
}
