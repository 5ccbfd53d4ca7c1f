//! Which stores have a pass in flight in this daemon, and what each one's
//! claim holds: waiting for its splay slot or running, the wake-up an event
//! sends a waiting pass, and the events that came while it ran (exactly one
//! more pass, unless it published their date). Also how each store's last
//! pass ended, for systemd's status line. No I/O and no `.await`: every
//! decision is made under one lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::state::{StoreState, Trigger};

/// Stores with a pass in flight in this process, and how each store's last pass ended.
#[derive(Default)]
pub(super) struct Passes {
    /// Store id → its claim, from the moment a pass is spawned (waiting for
    /// its splay slot) until it ends. Held only to look or change, never
    /// across `.await`; the one place a store's pass, its wake-up and the
    /// events that came while it ran are decided together.
    running: Mutex<HashMap<String, Claim>>,
    /// Numbers each claim, so a guard never removes a later claim of its store.
    claims: std::sync::atomic::AtomicU64,
    /// How passes ended, for the systemd status line.
    pub(super) outcomes: Mutex<Outcomes>,
    /// Set after a pass; the daemon loop rewrites the metrics file when set.
    pub(super) metrics_dirty: std::sync::atomic::AtomicBool,
    /// Store id → the newest event date a pass that succeeded was run for:
    /// a POS whose menus carry no date (Square, GloriaFood) publishes none,
    /// so this is what a later event with an older or equal date is held
    /// against. Pruned with the config on reload; empty after a start, whose
    /// first pass covers every store.
    served: Mutex<HashMap<String, DateTime<Utc>>>,
}

/// One store's pass in flight: waiting for its slot, or running.
pub(super) struct Claim {
    id: u64,
    /// The pass left its splay wait (or never had one).
    started: bool,
    /// What the pass will record as its trigger (an event may change it while it waits).
    trigger: Trigger,
    /// Wakes a pass waiting for its splay slot: an event came for its store.
    wake: Arc<tokio::sync::Notify>,
    /// Events that came while the pass ran, as one (see `events::merge`):
    /// they cause exactly one more pass, unless it published their date.
    again: Option<Option<DateTime<Utc>>>,
    /// The newest event date this pass was claimed or woken for (it fetches
    /// after the event came, so it serves it); `served` when it succeeds.
    covers: Option<DateTime<Utc>>,
}

/// Marks a store as running until dropped.
pub(super) struct RunningGuard {
    passes: Arc<Passes>,
    store_id: String,
    id: u64,
    pub(super) wake: Arc<tokio::sync::Notify>,
}

/// What became of an event for a store (see [`Passes::deliver`]).
pub(super) enum Delivered {
    /// Nothing ran for the store: it is claimed now, for a pass to spawn.
    Claimed(RunningGuard),
    /// A pass was waiting for its splay slot: it starts now.
    Woken,
    /// A pass is running: one more follows it.
    Queued,
}

impl Passes {
    pub(super) fn claim(
        self: &Arc<Self>,
        store_id: &str,
        trigger: Trigger,
    ) -> Option<RunningGuard> {
        let mut running = self
            .running
            .lock()
            .expect("the running-stores lock is never poisoned");
        if running.contains_key(store_id) {
            return None;
        }
        Some(self.insert(&mut running, store_id, trigger))
    }

    fn insert(
        self: &Arc<Self>,
        running: &mut HashMap<String, Claim>,
        store_id: &str,
        trigger: Trigger,
    ) -> RunningGuard {
        let id = self
            .claims
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let wake = Arc::new(tokio::sync::Notify::new());
        running.insert(
            store_id.to_string(),
            Claim {
                id,
                started: false,
                trigger,
                wake: Arc::clone(&wake),
                again: None,
                covers: None,
            },
        );
        RunningGuard {
            passes: Arc::clone(self),
            store_id: store_id.to_string(),
            id,
            wake,
        }
    }

    /// An event for `store_id`: claims the store, wakes its waiting pass, or
    /// queues one more pass after the running one.
    pub(super) fn deliver(
        self: &Arc<Self>,
        store_id: &str,
        updated_at: Option<DateTime<Utc>>,
    ) -> Delivered {
        let mut running = self
            .running
            .lock()
            .expect("the running-stores lock is never poisoned");
        match running.get_mut(store_id) {
            None => {
                let guard = self.insert(&mut running, store_id, Trigger::Event);
                if let Some(claim) = running.get_mut(store_id) {
                    claim.covers = updated_at;
                }
                Delivered::Claimed(guard)
            }
            Some(claim) if !claim.started => {
                claim.trigger = Trigger::Event;
                claim.covers = claim.covers.max(updated_at);
                claim.wake.notify_one();
                Delivered::Woken
            }
            Some(claim) => {
                claim.again = Some(match claim.again {
                    Some(waiting) => crate::events::merge(waiting, updated_at),
                    None => updated_at,
                });
                Delivered::Queued
            }
        }
    }

    /// The claimed pass leaves its wait: the trigger it runs under.
    pub(super) fn start(&self, guard: &RunningGuard) -> Trigger {
        let mut running = self
            .running
            .lock()
            .expect("the running-stores lock is never poisoned");
        match running.get_mut(&guard.store_id) {
            Some(claim) if claim.id == guard.id => {
                claim.started = true;
                claim.trigger
            }
            _ => Trigger::Schedule,
        }
    }

    /// After a pass: whether events that came during it ask for one more
    /// (undated, or dated after the newest of what `state` shows published
    /// and what passes were run for). Never after a pass that did not
    /// succeed: a failing POS is the schedule's to try again, not a loop's.
    /// If not, the claim ends here, in the same lock, so a later event finds
    /// the store free.
    pub(super) fn again(
        &self,
        guard: &RunningGuard,
        state: Option<&StoreState>,
        succeeded: bool,
    ) -> bool {
        let mut running = self
            .running
            .lock()
            .expect("the running-stores lock is never poisoned");
        let Some(claim) = running
            .get_mut(&guard.store_id)
            .filter(|claim| claim.id == guard.id)
        else {
            return false;
        };
        let covered = claim.covers.take();
        if succeeded && let Some(at) = covered {
            let mut served = self
                .served
                .lock()
                .expect("the served lock is never poisoned");
            let newest = served.entry(guard.store_id.clone()).or_insert(at);
            *newest = (*newest).max(at);
        }
        let handled = self.handled(&guard.store_id, state);
        let queued = claim.again.take();
        let more = succeeded
            && match queued {
                Some(None) => true,
                Some(Some(at)) => handled.is_none_or(|handled| at > handled),
                None => false,
            };
        if more {
            claim.covers = queued.flatten();
        } else {
            running.remove(&guard.store_id);
        }
        more
    }

    /// The newest event date `store_id` has been handled for: what its
    /// `state` shows published, or what a pass that succeeded was run for.
    pub(super) fn handled(
        &self,
        store_id: &str,
        state: Option<&StoreState>,
    ) -> Option<DateTime<Utc>> {
        let published = state.and_then(StoreState::published_updated_at);
        let served = self
            .served
            .lock()
            .expect("the served lock is never poisoned")
            .get(store_id)
            .copied();
        published.max(served)
    }

    /// Forgets what was served for stores gone from the config.
    pub(super) fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.served
            .lock()
            .expect("the served lock is never poisoned")
            .retain(|store, _| keep(store));
    }

    pub(super) fn summary(&self) -> String {
        self.outcomes
            .lock()
            .expect("the outcome lock is never poisoned")
            .summary()
    }

    pub(super) fn record(&self, store_id: &str, ok: bool, ended: DateTime<Utc>) {
        let mut outcomes = self
            .outcomes
            .lock()
            .expect("the outcome lock is never poisoned");
        outcomes.last_ok.insert(store_id.to_string(), ok);
        outcomes.last_ended = Some(ended);
    }
}

/// How each store's last pass ended, and when the last one ended.
#[derive(Default)]
pub(super) struct Outcomes {
    /// Store id → whether its last pass succeeded.
    pub(super) last_ok: HashMap<String, bool>,
    /// When a pass last ended; `None` until one has.
    last_ended: Option<DateTime<Utc>>,
}

impl Outcomes {
    /// systemd's STATUS= line: the time of the last pass that really ended,
    /// never the time the line is written (a reload writes it too).
    pub(super) fn summary(&self) -> String {
        let failing = self.last_ok.values().filter(|ok| !**ok).count();
        let last = match self.last_ended {
            Some(at) => format!("last pass {}", at.format("%H:%M:%SZ")),
            None => "no pass finished yet".to_string(),
        };
        format!(
            "{} stores ok, {failing} failing, {last}",
            self.last_ok.len() - failing
        )
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let mut running = self
            .passes
            .running
            .lock()
            .expect("the running-stores lock is never poisoned");
        if running
            .get(&self.store_id)
            .is_some_and(|claim| claim.id == self.id)
        {
            running.remove(&self.store_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_can_be_claimed_once_until_its_guard_drops() {
        let passes = Arc::new(Passes::default());
        let guard = passes
            .claim("gangnam", Trigger::Schedule)
            .expect("first claim succeeds");
        assert!(
            passes.claim("gangnam", Trigger::Schedule).is_none(),
            "a running store is not claimed twice"
        );
        assert!(
            passes.claim("yeoksam", Trigger::Schedule).is_some(),
            "other stores are independent"
        );
        drop(guard);
        assert!(passes.claim("gangnam", Trigger::Schedule).is_some());
    }

    /// Issue 25: an event claims a free store, wakes a waiting pass, and
    /// queues exactly one more after a running one, which the pass's own
    /// publish of the event's date cancels.
    #[test]
    fn events_claim_wake_or_queue_one_more_pass() {
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        let published = |date: &str| {
            let mut state = StoreState::default();
            state.went_live(
                "m-0123456789abcdef0123",
                1,
                crate::state::WentLive::Built {
                    content_hash: "h".into(),
                    images: Default::default(),
                    retry_images: false,
                    changed_at: Some(at(date)),
                    first_release: false,
                },
                at("2026-12-05T12:00:00Z"),
            );
            state
        };
        let passes = Arc::new(Passes::default());
        let Delivered::Claimed(guard) = passes.deliver("gangnam", None) else {
            panic!("a free store is claimed by its event");
        };
        assert_eq!(passes.start(&guard), Trigger::Event);
        for _ in 0..100 {
            assert!(matches!(
                passes.deliver("gangnam", Some(at("2026-12-05T10:01:00Z"))),
                Delivered::Queued
            ));
        }
        // The pass published that date: nothing more, and the store is free.
        assert!(!passes.again(&guard, Some(&published("2026-12-05T10:01:00Z")), true));
        drop(guard);
        assert!(passes.claim("gangnam", Trigger::Schedule).is_some());

        let passes = Arc::new(Passes::default());
        let waiting = passes.claim("gangnam", Trigger::Schedule).unwrap();
        assert!(matches!(passes.deliver("gangnam", None), Delivered::Woken));
        assert_eq!(
            passes.start(&waiting),
            Trigger::Event,
            "the event starts it"
        );
        passes.deliver("gangnam", Some(at("2026-12-05T10:02:00Z")));
        passes.deliver("gangnam", Some(at("2026-12-05T10:01:00Z")));
        // Newer than what the pass published: exactly one more, then free.
        assert!(passes.again(&waiting, Some(&published("2026-12-05T10:01:00Z")), true));
        assert!(!passes.again(&waiting, Some(&published("2026-12-05T10:02:00Z")), true));
        assert!(passes.claim("gangnam", Trigger::Schedule).is_some());
    }

    /// A POS whose menus carry no date (Square, GloriaFood) publishes none:
    /// what a pass that succeeded was run for holds back older or equal
    /// events instead, a failed pass serves nothing and is not followed by
    /// another (the schedule tries again), and a reload forgets removed stores.
    #[test]
    fn an_undated_menu_holds_events_by_what_passes_ran_for_and_a_failure_is_no_loop() {
        let passes = Arc::new(Passes::default());
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        let (ten, eleven) = (at("2026-12-05T10:00:00Z"), at("2026-12-05T11:00:00Z"));
        let Delivered::Claimed(guard) = passes.deliver("square", Some(ten)) else {
            panic!("a free store is claimed by its event");
        };
        passes.start(&guard);
        passes.deliver("square", Some(eleven));
        assert!(
            !passes.again(&guard, None, false),
            "no pass after a failed one"
        );
        assert_eq!(
            passes.handled("square", None),
            None,
            "a failed pass served nothing"
        );
        drop(guard);

        let Delivered::Claimed(guard) = passes.deliver("square", Some(ten)) else {
            panic!("the failed pass's claim ended");
        };
        passes.start(&guard);
        passes.deliver("square", Some(ten));
        assert!(
            !passes.again(&guard, None, true),
            "the pass ran for that date"
        );
        assert_eq!(passes.handled("square", None), Some(ten));
        drop(guard);

        let guard = passes.claim("square", Trigger::Schedule).unwrap();
        passes.start(&guard);
        passes.deliver("square", Some(eleven));
        assert!(
            passes.again(&guard, None, true),
            "newer than served: one more"
        );
        assert!(!passes.again(&guard, None, true));
        assert_eq!(passes.handled("square", None), Some(eleven));
        drop(guard);

        passes.retain(|store| store != "square");
        assert_eq!(
            passes.handled("square", None),
            None,
            "forgotten with the store"
        );
    }

    /// Regression (issue 11): after a reload in which no pass ran, STATUS said
    /// `last pass <now>`.
    #[test]
    fn the_status_line_gives_the_time_a_pass_ended_not_the_time_it_is_written() {
        let passes = Passes::default();
        assert_eq!(
            passes.summary(),
            "0 stores ok, 0 failing, no pass finished yet"
        );
        let ended = "2026-12-03T08:15:30Z".parse().unwrap();
        passes.record("gangnam", true, ended);
        passes.record("hongdae", false, ended);
        assert_eq!(
            passes.summary(),
            "1 stores ok, 1 failing, last pass 08:15:30Z"
        );
    }
}
