//! Active/standby on etcd (`[cluster]` in `stores.toml`): which instance
//! leads, the proof a leader gives before it publishes or pushes, and the
//! stores' state shared across hosts (rollback pins, held releases,
//! rejections, what each target holds).
//!
//! Keys, under `/menusync/<cluster name>/`:
//!
//! ```text
//! leader          who leads: {member, pid, since}; attached to the leader's lease;
//!                 its create revision is the fencing token
//! stores/<id>     the store's state as the leader last recorded it (state.json's shape)
//! requests/<store>/<id>, answers/<id>   staff decisions and the leader's answers
//! events/<store>  a store event (`menusync notify`, or a webhook through the gateway)
//! ```
//!
//! `etcd.rs` speaks etcd's JSON gateway; `member.rs` is this instance's
//! part: lease, election, proof, role; `requests.rs` carries staff's
//! decisions (`approve`, `reject`, `rollback`) from any host to the leader;
//! `events.rs` carries store events to the leader.

mod etcd;
mod events;
mod member;
mod requests;

use std::collections::BTreeMap;
use std::time::Duration;

pub use etcd::{Credentials, Etcd, EtcdError};
pub use events::{events_prefix, notify};
pub use member::{LeaderRecord, Member, Role};
pub use requests::{Answer, Claimed, Decision, Request, ask};

use crate::config::ClusterSettings;
use crate::error::{Kind, StoreError};
use crate::state::StoreState;

/// A client for the cluster's etcd, TLS files and password read now.
pub fn connect(settings: &ClusterSettings) -> Result<Etcd, StoreError> {
    let settings_error = |what: String| StoreError::new(Kind::Settings, what);
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|err| settings_error(format!("[cluster]: reading {}: {err}", path.display())))
    };
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .user_agent(concat!("menusync/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &settings.tls.ca_file {
        for certificate in reqwest::Certificate::from_pem_bundle(&read(ca)?)
            .map_err(|err| settings_error(format!("[cluster] ca_file {}: {err}", ca.display())))?
        {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let Some((cert, key)) = &settings.tls.identity {
        let mut pem = read(cert)?;
        pem.push(b'\n');
        pem.extend(read(key)?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|err| {
            settings_error(format!(
                "[cluster] cert_file {} / key_file {}: {err}",
                cert.display(),
                key.display()
            ))
        })?;
        builder = builder.identity(identity);
    }
    let client = builder
        .build()
        .map_err(|err| settings_error(format!("[cluster]: building the etcd client: {err}")))?;
    let credentials = match &settings.auth {
        Some(auth) => Some(Credentials {
            user: auth.user.clone(),
            password: crate::pos::read_secret(&auth.password).map_err(|err| {
                settings_error(format!("[cluster] etcd password: {}", err.chain()))
            })?,
        }),
        None => None,
    };
    Ok(Etcd::new(settings.endpoints.clone(), client, credentials))
}

/// The cluster as any host sees it, for `status`.
#[derive(Debug, Default)]
pub struct View {
    /// Who leads, if anyone.
    pub leader: Option<LeaderRecord>,
    /// Each store's state as the leader recorded it.
    pub stores: BTreeMap<String, StoreState>,
    /// Why etcd could not be read (the rest is then empty).
    pub error: Option<String>,
}

/// Reads who leads and every store's record, each request under `timeout`.
pub async fn view(settings: &ClusterSettings, timeout: Duration) -> View {
    let etcd = match connect(settings) {
        Ok(etcd) => etcd,
        Err(err) => {
            return View {
                error: Some(err.chain()),
                ..View::default()
            };
        }
    };
    let leader = match etcd.get(&member::leader_key(settings), timeout).await {
        Ok(found) => found.as_ref().and_then(member::record),
        Err(err) => {
            return View {
                error: Some(err.to_string()),
                ..View::default()
            };
        }
    };
    let stores = match etcd
        .get_prefix(&member::stores_prefix(settings), timeout)
        .await
    {
        Ok(kvs) => kvs
            .into_iter()
            .filter_map(|kv| {
                let store = kv.key.rsplit('/').next()?.to_string();
                Some((store, serde_json::from_slice(&kv.value).ok()?))
            })
            .collect(),
        Err(err) => {
            return View {
                leader,
                error: Some(err.to_string()),
                ..View::default()
            };
        }
    };
    View {
        leader,
        stores,
        error: None,
    }
}
