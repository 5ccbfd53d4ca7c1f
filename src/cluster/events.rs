//! Store events through etcd: one key per store, so a burst of events is
//! coalesced by etcd itself and the keys stay bounded by the stores.
//!
//! ```text
//! events/<store>   {"updatedAt": "..."} or {}   written by `menusync notify`
//!                                                or a webhook through the gateway
//! ```
//!
//! Only the leader takes events: each key is deleted in a transaction fenced
//! by the leader's token and by the key's own modification revision, so a
//! standby or a deposed leader never consumes one, and an event written
//! between the read and the delete is not lost (the delete fails and the
//! next poll reads the new value). Events are hints: a lost one costs a
//! store its freshness until the next tick, never a wrong menu.

use std::time::Duration;

use chrono::{DateTime, Utc};

use tracing::{info, warn};

use super::etcd::{Compare, Etcd, EtcdError, Op};
use super::member::{Member, leader_key};
use crate::config::ClusterSettings;
use crate::events::{Event, decode, encode, merge};

pub fn events_prefix(settings: &ClusterSettings) -> String {
    format!("{}events/", settings.prefix())
}

/// Writes an event for `store`, merged with the one waiting (a transaction
/// on the key's revision, tried a few times; the last try simply puts).
pub async fn notify(
    etcd: &Etcd,
    settings: &ClusterSettings,
    store: &str,
    updated_at: Option<DateTime<Utc>>,
    timeout: Duration,
) -> Result<(), EtcdError> {
    let key = format!("{}{store}", events_prefix(settings));
    for _ in 0..3 {
        let waiting = etcd.get(&key, timeout).await?;
        let (compare, value) = match &waiting {
            Some(kv) => (
                Compare::Modified(key.clone(), kv.mod_revision),
                merge(decode(&kv.value).unwrap_or(None), updated_at),
            ),
            None => (Compare::Created(key.clone(), 0), updated_at),
        };
        let put = Op::Put {
            key: key.clone(),
            value: encode(value),
            lease: None,
        };
        if etcd.txn(&[compare], &[put], &[], timeout).await?.succeeded {
            return Ok(());
        }
    }
    let put = Op::Put {
        key,
        value: encode(updated_at),
        lease: None,
    };
    etcd.txn(&[], &[put], &[], timeout).await.map(drop)
}

/// How long one poll may spend taking event keys.
const TAKE_BUDGET: Duration = Duration::from_secs(1);

impl Member {
    /// Takes every waiting event while this instance leads: each key read
    /// is deleted under the leader's token and its own revision; only the
    /// events this leader deleted are returned (with a problem when the
    /// value did not read: then it is undated).
    pub async fn take_events(&self) -> Vec<(Event, Option<String>)> {
        let Some(token) = self.leading() else {
            return Vec::new();
        };
        let settings = self.settings();
        let prefix = events_prefix(settings);
        let timeout = self.request_timeout();
        // A poll runs in the daemon's loop: past this budget the keys left
        // wait for the next poll, so a burst or a slow etcd delays ticks,
        // signals and watchdog pings by at most the budget and one request.
        let budget = std::time::Instant::now() + TAKE_BUDGET;
        let waiting = match self.etcd().get_prefix(&prefix, timeout).await {
            Ok(waiting) => waiting,
            Err(err) => {
                self.events_failed(&err);
                return Vec::new();
            }
        };
        let mut taken = Vec::new();
        let mut failed = None;
        for kv in waiting {
            if std::time::Instant::now() >= budget {
                break;
            }
            let store = kv.key[prefix.len()..].to_string();
            let claim = self
                .etcd()
                .txn(
                    &[
                        Compare::Created(leader_key(settings), token),
                        Compare::Modified(kv.key.clone(), kv.mod_revision),
                    ],
                    &[Op::Delete(kv.key.clone())],
                    &[],
                    timeout,
                )
                .await;
            match claim {
                Ok(txn) if txn.succeeded => {}
                // Written again since the read (taken next poll) or no
                // longer ours to take (a newer leader's).
                Ok(_) => continue,
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
            let (updated_at, problem) = match decode(&kv.value) {
                Ok(at) => (at, None),
                Err(why) => (None, Some(why)),
            };
            taken.push((Event { store, updated_at }, problem));
        }
        match failed {
            Some(err) => self.events_failed(&err),
            None => self.events_answered(),
        }
        taken
    }

    /// A failed read or delete of the event keys: warned once per failing
    /// spell (the poll runs five times a second), with its category. A
    /// delete whose answer was lost may have been applied: that event is
    /// then gone untold, and the schedule still covers its store.
    fn events_failed(&self, err: &EtcdError) {
        if !self
            .events_failing
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            let category = match err {
                EtcdError::Unreachable(_) => "network",
                EtcdError::Refused(_) => "auth",
            };
            warn!(
                category,
                cluster = %self.settings().name,
                "cannot take store events from etcd ({err}); they wait there, and the schedule still runs"
            );
        }
    }

    fn events_answered(&self) {
        if self
            .events_failing
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            info!(cluster = %self.settings().name, "store events from etcd are taken again");
        }
    }
}
