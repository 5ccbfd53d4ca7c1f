//! This instance among the members: the lease, the election, the proof of
//! leadership every go-live and push asks for, and the role others read.
//!
//! The election is one key, `<prefix>leader`, created only if absent
//! (a transaction comparing its create revision with 0) and attached to
//! this instance's lease. Whoever created it leads; the revision at which
//! it was created is the **fencing token**: strictly greater for every
//! later leader, since etcd's revisions only grow. A dead leader's lease
//! runs out after the TTL and etcd deletes the key; a stopping leader
//! deletes it at once (resign), so a standby takes over within its poll.
//!
//! A lease alone never proves a single holder (a paused leader wakes up
//! believing it leads), so [`Member::prove`] asks etcd, linearizably, that
//! the key still has our create revision; publishing and pushing happen only
//! after that proof, and targets refuse a swap from an older token
//! (`target::rsync`'s `.epoch`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::etcd::{Compare, Etcd, EtcdError, KeyValue, Op};
use crate::config::ClusterSettings;
use crate::error::{Kind, StoreError};
use crate::state::StoreState;

/// What this instance is in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Not yet in touch with etcd.
    Starting,
    /// Another member leads (`None`: nobody right now, an election is due).
    Standby { leader: Option<String> },
    /// This instance leads, with this fencing token.
    Leading { token: i64 },
    /// etcd gives no answer (down, partitioned, no quorum): nothing is published from here.
    Unreachable { since: DateTime<Utc>, why: String },
}

impl Role {
    /// One word, for `status`, metrics and the journal.
    pub fn name(&self) -> &'static str {
        match self {
            Role::Starting => "starting",
            Role::Standby { .. } => "standby",
            Role::Leading { .. } => "leader",
            Role::Unreachable { .. } => "no-quorum",
        }
    }
}

/// The leader key's value: who leads, for `status` on every host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderRecord {
    pub member: String,
    pub pid: u32,
    pub since: DateTime<Utc>,
}

/// This instance's part in the cluster, shared by the daemon and its passes.
#[derive(Debug)]
pub struct Member {
    etcd: Etcd,
    settings: ClusterSettings,
    role: tokio::sync::watch::Sender<Role>,
    /// Until when the lease surely holds, counted from the start of the last
    /// renewal that etcd answered; past it, this instance stops publishing.
    valid_until: Mutex<Option<Instant>>,
    lease: Mutex<Option<i64>>,
    /// The stores' shared state as this leader last read or wrote it.
    facts: Mutex<HashMap<String, StoreState>>,
    /// Stores whose record a pass took over in this term (`take_record`).
    adopted: Mutex<std::collections::HashSet<String>>,
    /// Whether the last poll of the store events failed (warned once a spell).
    pub(super) events_failing: std::sync::atomic::AtomicBool,
}

impl Member {
    pub fn new(etcd: Etcd, settings: ClusterSettings) -> Member {
        Member {
            etcd,
            settings,
            role: tokio::sync::watch::Sender::new(Role::Starting),
            valid_until: Mutex::new(None),
            lease: Mutex::new(None),
            facts: Mutex::new(HashMap::new()),
            adopted: Mutex::new(std::collections::HashSet::new()),
            events_failing: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    pub fn etcd(&self) -> &Etcd {
        &self.etcd
    }

    pub fn lease_id(&self) -> Option<i64> {
        *self.lease.lock().expect("the lease lock is never poisoned")
    }

    pub fn role(&self) -> Role {
        self.role.borrow().clone()
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Role> {
        self.role.subscribe()
    }

    pub fn leader_key(&self) -> String {
        leader_key(&self.settings)
    }

    /// How long one request to etcd may take.
    pub fn request_timeout(&self) -> Duration {
        (self.settings.lease_ttl / 3).clamp(Duration::from_millis(500), Duration::from_secs(5))
    }

    /// How often a standby looks at the leader key: a tenth of the TTL, at
    /// most a second, so a takeover comes within the TTL and a second of a
    /// dead leader's last renewal (one small range request a poll).
    fn poll(&self) -> Duration {
        (self.settings.lease_ttl / 10).clamp(Duration::from_millis(200), Duration::from_secs(1))
    }

    /// The fencing token, while this instance leads and its lease surely holds.
    pub fn leading(&self) -> Option<i64> {
        let Role::Leading { token } = *self.role.borrow() else {
            return None;
        };
        let valid = self
            .valid_until
            .lock()
            .expect("the lease lock is never poisoned")
            .is_some_and(|until| Instant::now() < until);
        valid.then_some(token)
    }

    /// Proves to etcd, now, that this instance still leads; its token.
    /// A failed proof makes this instance a standby and says why.
    pub async fn prove(&self) -> Result<i64, StoreError> {
        let Some(token) = self.leading() else {
            return Err(not_leader(format!(
                "this instance ({}) does not lead the cluster `{}` ({})",
                self.settings.member,
                self.settings.name,
                self.role().name()
            )));
        };
        let key = self.leader_key();
        let txn = self
            .etcd
            // The success branch must hold an operation: etcd serves a
            // transaction without one from the member's own (maybe stale)
            // data, even without a quorum (tests/etcd_harness.rs), which
            // would prove nothing.
            .txn(
                &[Compare::Created(key.clone(), token)],
                &[Op::Get(key.clone())],
                &[Op::Get(key)],
                self.request_timeout(),
            )
            .await;
        match txn {
            Ok(txn) if txn.succeeded => Ok(token),
            Ok(txn) => {
                let leader = txn.found.first().and_then(record).map(|r| r.member);
                self.lost(format!(
                    "the leader key is no longer ours (leader now: {})",
                    leader.as_deref().unwrap_or("nobody")
                ));
                self.set(Role::Standby { leader });
                Err(not_leader(format!(
                    "{} lost the leadership of `{}` before publishing",
                    self.settings.member, self.settings.name
                )))
            }
            Err(err) => Err(not_leader(format!(
                "cannot prove leadership of `{}`: {err}",
                self.settings.name
            ))),
        }
    }

    /// Writes `state` as the cluster's record of `store`, only while this
    /// instance leads (a transaction fenced by the token); unchanged records
    /// are not written again.
    pub async fn record(&self, store: &str, state: &StoreState) -> Result<(), StoreError> {
        let shared = state.for_cluster();
        let unchanged = self
            .facts
            .lock()
            .expect("the facts lock is never poisoned")
            .get(store)
            .is_some_and(|known| known.for_cluster() == shared && !stale(known, state));
        if unchanged {
            return Ok(());
        }
        let token = self.prove().await?;
        let bytes = serde_json::to_vec(state).expect("state always serialises");
        let txn = self
            .etcd
            .txn(
                &[Compare::Created(self.leader_key(), token)],
                &[Op::Put {
                    key: store_key(&self.settings, store),
                    value: bytes,
                    lease: None,
                }],
                &[],
                self.request_timeout(),
            )
            .await
            .map_err(|err| not_leader(format!("recording {store} in etcd: {err}")))?;
        if !txn.succeeded {
            return Err(not_leader(format!(
                "{} lost the leadership while recording {store}",
                self.settings.member
            )));
        }
        self.facts
            .lock()
            .expect("the facts lock is never poisoned")
            .insert(store.to_string(), state.clone());
        Ok(())
    }

    /// The cluster's record of `store`, as this leader knows it.
    pub fn facts(&self, store: &str) -> Option<StoreState> {
        self.facts
            .lock()
            .expect("the facts lock is never poisoned")
            .get(store)
            .cloned()
    }

    /// The cluster's record of `store` for the first pass of this leadership
    /// term to take over; `None` afterwards, and for a store never recorded.
    pub fn take_record(&self, store: &str) -> Option<StoreState> {
        let first = self
            .adopted
            .lock()
            .expect("the adopted lock is never poisoned")
            .insert(store.to_string());
        first.then(|| self.facts(store)).flatten()
    }

    /// Campaigns, leads and renews until `shutdown`, then resigns.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut renewals = 0u32;
        loop {
            let wait = if self.leading().is_some() || matches!(self.role(), Role::Leading { .. }) {
                self.renew().await;
                renewals = renewals.wrapping_add(1);
                self.settings.lease_ttl / 3
            } else {
                self.campaign().await;
                self.poll()
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => break,
            }
        }
        self.resign().await;
    }

    /// One election round: the lease, then the leader key if it is free.
    async fn campaign(&self) {
        let timeout = self.request_timeout();
        let started = Instant::now();
        let lease = match self.live_lease().await {
            Ok(lease) => lease,
            Err(err) => return self.unreachable(&err),
        };
        let key = self.leader_key();
        let me = LeaderRecord {
            member: self.settings.member.clone(),
            pid: std::process::id(),
            since: Utc::now(),
        };
        let txn = self
            .etcd
            .txn(
                &[Compare::Created(key.clone(), 0)],
                &[Op::Put {
                    key: key.clone(),
                    value: serde_json::to_vec(&me).expect("a record serialises"),
                    lease: Some(lease.id),
                }],
                &[Op::Get(key)],
                timeout,
            )
            .await;
        let (token, leader) = match txn {
            Ok(txn) if txn.succeeded => (Some(txn.revision), None),
            Ok(txn) => match txn.found.first() {
                // Ours from an earlier round that etcd applied but did not answer.
                Some(kv)
                    if record(kv).is_some_and(|r| r.member == me.member && r.pid == me.pid) =>
                {
                    (Some(kv.create_revision), None)
                }
                Some(kv) => (None, record(kv).map(|r| r.member)),
                None => (None, None),
            },
            Err(err) => return self.unreachable(&err),
        };
        let Some(token) = token else {
            return self.set(Role::Standby { leader });
        };
        // What the last leader recorded for every store, before any pass runs.
        let facts = match self
            .etcd
            .get_prefix(&stores_prefix(&self.settings), timeout)
            .await
        {
            Ok(kvs) => kvs,
            Err(err) => return self.unreachable(&err),
        };
        let facts: HashMap<String, StoreState> = facts
            .into_iter()
            .filter_map(|kv| {
                let store = kv.key.rsplit('/').next()?.to_string();
                Some((store, serde_json::from_slice(&kv.value).ok()?))
            })
            .collect();
        let stores = facts.len();
        *self.facts.lock().expect("the facts lock is never poisoned") = facts;
        self.adopted
            .lock()
            .expect("the adopted lock is never poisoned")
            .clear();
        *self
            .valid_until
            .lock()
            .expect("the lease lock is never poisoned") = Some(started + lease.ttl);
        info!(
            cluster = %self.settings.name,
            member = %self.settings.member,
            token,
            stores,
            "leading the cluster: passes and pushes run here now"
        );
        self.set(Role::Leading { token });
    }

    /// One renewal of a leader's lease.
    async fn renew(&self) {
        let started = Instant::now();
        let lease = *self.lease.lock().expect("the lease lock is never poisoned");
        let Some(lease) = lease else {
            self.lost("no lease".to_string());
            return self.set(Role::Standby { leader: None });
        };
        match self.etcd.keep_alive(lease, self.request_timeout()).await {
            Ok(ttl) if ttl > 0 => {
                *self
                    .valid_until
                    .lock()
                    .expect("the lease lock is never poisoned") =
                    Some(started + Duration::from_secs(ttl as u64));
            }
            Ok(_) => {
                *self.lease.lock().expect("the lease lock is never poisoned") = None;
                self.lost("the lease expired".to_string());
                self.set(Role::Standby { leader: None });
            }
            Err(err) => {
                let expired = self
                    .valid_until
                    .lock()
                    .expect("the lease lock is never poisoned")
                    .is_none_or(|until| Instant::now() >= until);
                if expired {
                    self.unreachable(&err);
                }
            }
        }
    }

    /// This instance's lease, renewed, or a new one.
    async fn live_lease(&self) -> Result<Lease, EtcdError> {
        let timeout = self.request_timeout();
        let held = *self.lease.lock().expect("the lease lock is never poisoned");
        if let Some(id) = held {
            let ttl = self.etcd.keep_alive(id, timeout).await?;
            if ttl > 0 {
                return Ok(Lease {
                    id,
                    ttl: Duration::from_secs(ttl as u64),
                });
            }
        }
        let ttl = self.settings.lease_ttl;
        let id = self.etcd.grant(ttl.as_secs(), timeout).await?;
        *self.lease.lock().expect("the lease lock is never poisoned") = Some(id);
        Ok(Lease { id, ttl })
    }

    /// On a stop: the leader key deleted (if still ours) and the lease revoked,
    /// so a standby takes over now rather than after the TTL.
    async fn resign(&self) {
        let timeout = self.request_timeout();
        if let Role::Leading { token } = self.role() {
            let key = self.leader_key();
            match self
                .etcd
                .txn(
                    &[Compare::Created(key.clone(), token)],
                    &[Op::Delete(key)],
                    &[],
                    timeout,
                )
                .await
            {
                Ok(txn) if txn.succeeded => info!(
                    cluster = %self.settings.name,
                    "resigned the leadership: a standby takes over now"
                ),
                Ok(_) => {}
                Err(err) => warn!(
                    category = "network",
                    "could not resign the leadership ({err}); a standby takes over within {:?}",
                    self.settings.lease_ttl
                ),
            }
        }
        let lease = self
            .lease
            .lock()
            .expect("the lease lock is never poisoned")
            .take();
        if let Some(lease) = lease {
            let _ = self.etcd.revoke(lease, timeout).await;
        }
        *self
            .valid_until
            .lock()
            .expect("the lease lock is never poisoned") = None;
        self.set(Role::Standby { leader: None });
    }

    fn unreachable(&self, err: &EtcdError) {
        if !matches!(self.role(), Role::Unreachable { .. }) {
            if matches!(self.role(), Role::Leading { .. }) {
                self.lost(format!("etcd does not answer: {err}"));
            }
            warn!(
                category = "network",
                cluster = %self.settings.name,
                "cannot reach a quorum of etcd ({err}): nothing is published from this host until it answers"
            );
            self.set(Role::Unreachable {
                since: Utc::now(),
                why: err.to_string(),
            });
        }
    }

    fn lost(&self, why: String) {
        if matches!(self.role(), Role::Leading { .. }) {
            warn!(
                category = "deploy",
                cluster = %self.settings.name,
                member = %self.settings.member,
                "lost the leadership ({why}): no more passes or pushes from here; standing by"
            );
            *self
                .valid_until
                .lock()
                .expect("the lease lock is never poisoned") = None;
        }
    }

    fn set(&self, role: Role) {
        let changed = *self.role.borrow() != role;
        if changed {
            if let Role::Standby {
                leader: Some(leader),
            } = &role
            {
                info!(cluster = %self.settings.name, leader = %leader, "standing by; {leader} leads");
            }
            self.role.send_replace(role);
        }
    }
}

struct Lease {
    id: i64,
    ttl: Duration,
}

/// A record's last success is rewritten once it is a quiet checkpoint old,
/// as `state.json` is, so `status` on another host shows the store alive.
fn stale(known: &StoreState, state: &StoreState) -> bool {
    match (known.last_success(), state.last_success()) {
        (Some(known), Some(now)) => (now - known)
            .to_std()
            .is_ok_and(|age| age > crate::state::QUIET_CHECKPOINT),
        (None, Some(_)) => true,
        _ => false,
    }
}

pub fn leader_key(settings: &ClusterSettings) -> String {
    format!("{}leader", settings.prefix())
}

pub fn stores_prefix(settings: &ClusterSettings) -> String {
    format!("{}stores/", settings.prefix())
}

fn store_key(settings: &ClusterSettings, store: &str) -> String {
    format!("{}{store}", stores_prefix(settings))
}

pub fn record(kv: &KeyValue) -> Option<LeaderRecord> {
    serde_json::from_slice(&kv.value).ok()
}

fn not_leader(message: String) -> StoreError {
    StoreError::new(Kind::NotLeader, message)
}
