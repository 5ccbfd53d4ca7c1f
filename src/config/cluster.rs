//! `[cluster]`: active/standby on etcd. Absent, this host runs alone, as
//! before; present, every instance runs `menusync run` and one leads.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::checker::{Checker, check_name};
use super::defaults::DEFAULT_LEASE_TTL_SECS;
use super::error::ConfigError;
use super::pos::ApiKeySource;
use super::raw::RawCluster;
use super::store::Store;
use super::target::{DeployMode, TargetKind};

/// Most etcd endpoints listed: a cluster has 3, 5 or 7 members.
const MAX_ENDPOINTS: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    pub endpoints: Vec<url::Url>,
    /// Keys live under `/menusync/<name>/`.
    pub name: String,
    /// This instance among the members.
    pub member: String,
    pub lease_ttl: Duration,
    pub tls: ClusterTls,
    pub auth: Option<ClusterAuth>,
}

impl ClusterSettings {
    /// Every key of this cluster starts with this.
    pub fn prefix(&self) -> String {
        format!("/menusync/{}/", self.name)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterTls {
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key, both PEM.
    pub identity: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterAuth {
    pub user: String,
    pub password: ApiKeySource,
}

impl Checker<'_> {
    pub(super) fn check_cluster(&self, raw: &RawCluster) -> Result<ClusterSettings, ConfigError> {
        let endpoints = raw.endpoints.get_ref();
        if endpoints.is_empty() || endpoints.len() > MAX_ENDPOINTS {
            return Err(self.error(
                raw.endpoints.span(),
                format!("`endpoints` lists 1 to {MAX_ENDPOINTS} etcd client URLs"),
            ));
        }
        let mut urls = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let url = url::Url::parse(endpoint)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
                .filter(|url| url.username().is_empty() && url.password().is_none())
                .ok_or_else(|| {
                    self.error(
                        raw.endpoints.span(),
                        format!(
                            "`{endpoint}` is not an etcd client URL: give http:// or https://host:port, \
                             without a user or password (those go in `user` and `password_file`)"
                        ),
                    )
                })?;
            urls.push(url);
        }
        check_name(raw.name.get_ref())
            .map_err(|why| self.error(raw.name.span(), format!("cluster `name`: {why}")))?;
        let member = match &raw.member {
            Some(member) => {
                check_name(member.get_ref())
                    .map_err(|why| self.error(member.span(), format!("cluster `member`: {why}")))?;
                member.get_ref().clone()
            }
            None => host_name(),
        };
        let lease_ttl = Duration::from_secs(self.bounded(
            &raw.lease_ttl_secs,
            "lease_ttl_secs",
            DEFAULT_LEASE_TTL_SECS,
        )?);
        let file =
            |value: &Option<Spanned<String>>| value.as_ref().map(|v| self.resolve(v.get_ref()));
        let identity = match (file(&raw.cert_file), file(&raw.key_file)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                let span = raw
                    .cert_file
                    .as_ref()
                    .or(raw.key_file.as_ref())
                    .map(Spanned::span)
                    .unwrap_or(0..0);
                return Err(self.error(span, "give both `cert_file` and `key_file`, or neither"));
            }
        };
        let tls = ClusterTls {
            ca_file: file(&raw.ca_file),
            identity,
        };
        if (tls.ca_file.is_some() || tls.identity.is_some())
            && urls.iter().any(|url| url.scheme() != "https")
        {
            return Err(self.error(
                raw.endpoints.span(),
                "TLS files are set: every endpoint must be https://",
            ));
        }
        let auth = self.check_cluster_auth(raw)?;
        Ok(ClusterSettings {
            endpoints: urls,
            name: raw.name.get_ref().clone(),
            member,
            lease_ttl,
            tls,
            auth,
        })
    }

    fn check_cluster_auth(&self, raw: &RawCluster) -> Result<Option<ClusterAuth>, ConfigError> {
        let sources = [
            &raw.password_file,
            &raw.password_credential,
            &raw.password_env,
        ];
        let given: Vec<&Spanned<String>> = sources.iter().filter_map(|s| s.as_ref()).collect();
        let Some(user) = &raw.user else {
            if let Some(source) = given.first() {
                return Err(self.error(source.span(), "a password without `user`: add `user`"));
            }
            return Ok(None);
        };
        let password = match (given.len(), &raw.password_file, &raw.password_credential) {
            (1, Some(file), _) => ApiKeySource::File(self.resolve(file.get_ref())),
            (1, None, Some(credential)) => ApiKeySource::Credential(credential.get_ref().clone()),
            (1, None, None) => ApiKeySource::Env(
                raw.password_env
                    .as_ref()
                    .expect("one source is given")
                    .get_ref()
                    .clone(),
            ),
            _ => {
                return Err(self.error(
                    user.span(),
                    "`user` needs exactly one of `password_file`, `password_credential` and \
                     `password_env` (never the password itself in this file)",
                ));
            }
        };
        Ok(Some(ClusterAuth {
            user: user.get_ref().clone(),
            password,
        }))
    }

    /// With a cluster, every store pushes to targets in `releases` mode: a
    /// standby serves nothing from its own disk, and only a `releases` swap
    /// can be fenced on the web host (`.epoch`, see `target::rsync`); `files`
    /// mode writes the served folder in several rsync runs that a paused
    /// leader could finish after a newer one.
    pub(super) fn check_cluster_targets(
        &self,
        raw: &RawCluster,
        stores: &[std::sync::Arc<Store>],
    ) -> Result<(), ConfigError> {
        for store in stores {
            if store.targets.is_empty() {
                return Err(self.error(
                    raw.name.span(),
                    format!(
                        "with [cluster], store `{}` needs a target: a standby takes over from \
                         what the targets hold, never from another host's disk",
                        store.id
                    ),
                ));
            }
        }
        for target in stores.iter().flat_map(|store| &store.targets) {
            let TargetKind::Rsync(rsync) = &target.kind;
            if rsync.mode != DeployMode::Releases {
                return Err(self.error(
                    raw.name.span(),
                    format!(
                        "with [cluster], target `{}` needs `mode = \"releases\"`: only a \
                         releases swap is fenced on the web host, so a paused leader can never \
                         move it back",
                        target.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// This machine's host name, the default member name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| check_name(name).is_ok())
        .unwrap_or_else(|| "menusync".to_string())
}
