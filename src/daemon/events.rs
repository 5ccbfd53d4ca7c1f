//! Store events into passes: the daemon loop takes the events waiting (the
//! spool folder on one host, etcd's `events/` keys for a cluster's leader)
//! every [`EVENT_POLL`], and each becomes at most one pass through the same
//! claim, pass slot and POS limits as a tick. Events are hints: an event
//! dated at or before what the store handled (`Passes::handled`) is dropped, one for a store
//! the config does not hold is dropped with a warning, and the content hash
//! still decides whether a pass publishes anything.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{debug, info, info_span, warn};

use super::Dispatcher;
use super::passes::Delivered;
use crate::events::{Event, Spool, merge};
use crate::state::StoreState;

/// How often the daemon looks for events: a `read_dir` of an empty folder,
/// or one etcd range for a leader. Far below the second an event is given.
pub const EVENT_POLL: Duration = crate::events::SPOOL_POLL;

/// Where this daemon's events come from.
pub enum Intake {
    /// One host: the spool folder under `state_dir`.
    Spool(Spool),
    /// A cluster: the leader takes etcd's event keys; a standby leaves them.
    Cluster,
}

impl Intake {
    /// The intake for `dispatcher`'s config; the spool folder is created
    /// (as the state directory's owner: the daemon runs as it), and what a
    /// killed `notify` or daemon left there, and events from before the
    /// start, are removed. Called before the first pass over every store.
    pub fn new(dispatcher: &Dispatcher) -> Intake {
        let config = &dispatcher.ctx.config;
        if config.cluster.is_some() {
            return Intake::Cluster;
        }
        let spool = Spool::new(&config.daemon.state_dir);
        // Events written while no daemon ran are covered by the first pass
        // over every store, which starts after this: dropped, not run twice.
        let prepared = std::fs::create_dir_all(spool.dir())
            .and_then(|()| crate::atomic::remove_orphans(spool.dir(), None))
            .and_then(|_| spool.take());
        match prepared {
            Ok(stale) if !stale.is_empty() => info!(
                events = stale.len(),
                "store events from before the start dropped: the first pass covers every store"
            ),
            Ok(_) => {}
            Err(err) => warn!(
                category = "storage",
                "cannot prepare the event folder {}: {err}; `menusync notify` cannot reach this daemon",
                spool.dir().display()
            ),
        }
        Intake::Spool(spool)
    }
}

impl Dispatcher {
    /// Takes every waiting event and delivers each store's newest one.
    pub(super) async fn take_events(&self, intake: &Intake) {
        let taken = match intake {
            Intake::Spool(spool) => match spool.take() {
                Ok(taken) => taken,
                Err(err) => {
                    warn!(
                        category = "storage",
                        "cannot read the event folder {}: {err}",
                        spool.dir().display()
                    );
                    return;
                }
            },
            Intake::Cluster => match self.ctx.shared.member() {
                Some(member) => member.take_events().await,
                None => return,
            },
        };
        // One delivery per store, however many events a poll found.
        let mut newest: BTreeMap<String, Option<DateTime<Utc>>> = BTreeMap::new();
        for (event, problem) in taken {
            if let Some(why) = problem {
                warn!(
                    category = "data",
                    store = %event.store,
                    "a store event does not read ({why}); taken as undated"
                );
            }
            newest
                .entry(event.store)
                .and_modify(|at| *at = merge(*at, event.updated_at))
                .or_insert(event.updated_at);
        }
        for (store, updated_at) in newest {
            self.deliver(Event { store, updated_at });
        }
    }

    /// One store's event: dropped (unknown store, or nothing newer than
    /// what it published), or a pass now, or one more after the running one.
    fn deliver(&self, event: Event) {
        let Some(store) = self.ctx.config.store(&event.store).cloned() else {
            warn!(
                category = "config",
                store = %event.store,
                "store event dropped: no store with this id in the running config"
            );
            return;
        };
        let span = info_span!("pass", store = %store.id, pos = %store.pos.name, run = "event");
        let _pass = span.enter();
        let _stage = info_span!("stage", stage = %"event").entered();
        let updated_at = event.updated_at.map(|at| at.to_rfc3339());
        let updated_at = updated_at.as_deref().unwrap_or("-");
        if let Some(at) = event.updated_at
            && let Some(handled) = self.handled_updated_at(&store.id)
            && at <= handled
        {
            info!(
                updated_at,
                "store event dropped: the store's menu of {} was published or checked already",
                handled.to_rfc3339()
            );
            return;
        }
        if !self.may_run() {
            return;
        }
        match self.passes.deliver(&store.id, event.updated_at) {
            Delivered::Claimed(guard) => {
                info!(updated_at, "store event: a pass now");
                self.run_claimed(guard, &store, Duration::ZERO);
            }
            Delivered::Woken => info!(updated_at, "store event: the waiting pass starts now"),
            Delivered::Queued => {
                debug!(
                    updated_at,
                    "store event: one more pass after the running one"
                )
            }
        }
    }

    /// The newest date the store handled: what its state file shows
    /// published (a missing or unreadable one: none) or a successful pass
    /// ran for (`Passes::handled`).
    fn handled_updated_at(&self, store_id: &str) -> Option<DateTime<Utc>> {
        let tree = crate::publish::StoreTree::new(&self.ctx.config.daemon.state_dir, store_id);
        let state = StoreState::load(&tree.state_file()).ok();
        self.passes.handled(store_id, state.as_ref())
    }
}
