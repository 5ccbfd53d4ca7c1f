//! Per-store state on disk: what was published, when, and what went wrong.
//!
//! `stores/<id>/state.json` sits beside the releases, outside any published
//! tree. It is replaced atomically (temp file, fsync, rename), so `menusync
//! status` can read it while the daemon runs. A quiet pass (nothing but the
//! success times moved) skips the write unless the recorded success is older
//! than [`QUIET_CHECKPOINT`]: at thousands of stores a minute, that is
//! thousands of fsyncs spared, and `last_success` lags by at most that much.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Category, Kind, StoreError};

mod records;
pub use records::{Held, InputMemo, Lag, LastError, Pin, Rejected, TargetState};

/// How stale a recorded `last_success` may get before a quiet pass rewrites it.
pub const QUIET_CHECKPOINT: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreState {
    /// The release this state describes; the `current` link is the truth, this a cache.
    release: Option<String>,
    /// Content hash of the inputs that built `release`.
    content_hash: Option<String>,
    /// Visible items in `release`, for the shrink guard.
    item_count: Option<usize>,
    last_success: Option<DateTime<Utc>>,
    last_change: Option<DateTime<Utc>>,
    last_attempt: Option<DateTime<Utc>>,
    last_error: Option<LastError>,
    consecutive_failures: u32,
    /// When the current run of failures began; cleared by a success.
    failing_since: Option<DateTime<Utc>>,
    /// When the first success after the last run of failures came: the
    /// `last_error` is history, not news. Cleared by the next failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    healed_at: Option<DateTime<Utc>>,
    /// Some images of `release` failed for a reason that may pass; try again next pass.
    retry_images: bool,
    /// Fingerprint of a POS image entry → file name in `release/images/`.
    images: BTreeMap<String, String>,
    /// What each target last received.
    targets: BTreeMap<String, TargetState>,
    /// Set by `menusync rollback`: hold `release` while the POS inputs stay the same.
    pinned: Option<Pin>,
    /// The last inputs whose content hash was computed; spares the parse and
    /// the hash while the POS keeps sending the same bytes.
    inputs: Option<InputMemo>,
    /// A release built but kept from customers because a publish gate tripped.
    held: Option<Held>,
    /// Inputs staff rejected: not published while the POS keeps sending them.
    rejected: Option<Rejected>,
    /// How long the last change the POS dated took to reach customers.
    lag: Option<Lag>,
    /// What started the last pass (schedule, event, signal, ...). A change
    /// of trigger is news, so even a quiet pass writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_trigger: Option<Trigger>,
}

/// What started a pass: shown per store by `status` and counted in the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The store's schedule ticked (the safety net).
    Schedule,
    /// A store event: `menusync notify` or a key a webhook wrote into etcd.
    Event,
    /// SIGUSR1: every store now.
    Signal,
    /// The daemon's first pass over every store (also a new leader's first).
    Start,
    /// A reload added or changed the store.
    Reload,
    /// `menusync once`, by hand or from a script.
    #[default]
    Once,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Event => "event",
            Trigger::Signal => "signal",
            Trigger::Start => "start",
            Trigger::Reload => "reload",
            Trigger::Once => "once",
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the state says, read-only: every change goes through a named
/// transition below (`went_live`, `same_output`, `hold`, `reject_held`,
/// `end_pin`, `end_rejection`, `remember_inputs`, `record_success`,
/// `record_failure`, `record_trigger`, `target_pushed`, `target_failed`,
/// `keep_targets`).
impl StoreState {
    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }

    pub fn content_hash(&self) -> Option<&str> {
        self.content_hash.as_deref()
    }

    pub fn item_count(&self) -> Option<usize> {
        self.item_count
    }

    pub fn last_success(&self) -> Option<DateTime<Utc>> {
        self.last_success
    }

    pub fn last_change(&self) -> Option<DateTime<Utc>> {
        self.last_change
    }

    pub fn last_attempt(&self) -> Option<DateTime<Utc>> {
        self.last_attempt
    }

    pub fn last_error(&self) -> Option<&LastError> {
        self.last_error.as_ref()
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Whether the store is failing now (its last pass failed).
    pub fn failing(&self) -> bool {
        self.consecutive_failures > 0
    }

    pub fn healed_at(&self) -> Option<DateTime<Utc>> {
        self.healed_at
    }

    pub fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.failing_since
    }

    pub fn retry_images(&self) -> bool {
        self.retry_images
    }

    pub fn images(&self) -> &BTreeMap<String, String> {
        &self.images
    }

    pub fn targets(&self) -> &BTreeMap<String, TargetState> {
        &self.targets
    }

    pub fn pinned(&self) -> Option<&Pin> {
        self.pinned.as_ref()
    }

    pub fn inputs(&self) -> Option<&InputMemo> {
        self.inputs.as_ref()
    }

    pub fn held(&self) -> Option<&Held> {
        self.held.as_ref()
    }

    pub fn rejected(&self) -> Option<&Rejected> {
        self.rejected.as_ref()
    }

    pub fn lag(&self) -> Option<&Lag> {
        self.lag.as_ref()
    }

    pub fn last_trigger(&self) -> Option<Trigger> {
        self.last_trigger
    }

    /// The `updatedAt` of the newest dated POS change this store published:
    /// a store event dated at or before it has nothing new to say (the
    /// seed's `storeId + updatedAt` idempotency key).
    pub fn published_updated_at(&self) -> Option<DateTime<Utc>> {
        self.lag.as_ref().map(|lag| lag.changed_at)
    }
}

/// Why a release went live, with what that changes in the state beyond the
/// release itself (see [`StoreState::went_live`]).
#[derive(Debug)]
pub enum WentLive {
    /// A pass built it from POS inputs that passed every gate.
    Built {
        /// The content hash of the inputs that built it.
        content_hash: String,
        images: BTreeMap<String, String>,
        /// Some images failed for a reason that may pass: try again next pass.
        retry_images: bool,
        /// When the POS dated the menu, if it did.
        changed_at: Option<DateTime<Utc>>,
        /// The store had no release before.
        first_release: bool,
    },
    /// Staff approved the held release.
    Approved(Held),
    /// Ops rolled back to an earlier kept release: it stays until the POS changes.
    RolledBack,
}

impl StoreState {
    /// The named transition of every go-live: `release` (with `item_count`
    /// visible items) is what customers get from `now` on. Returns the lag
    /// measured, under the once-per-date rule of [`Lag::measure`].
    pub fn went_live(
        &mut self,
        release: &str,
        item_count: usize,
        why: WentLive,
        now: DateTime<Utc>,
    ) -> Option<Lag> {
        let dated = match why {
            WentLive::Built {
                content_hash,
                images,
                retry_images,
                changed_at,
                first_release,
            } => {
                self.content_hash = Some(content_hash);
                self.images = images;
                self.retry_images = retry_images;
                // What was held waits no more: newer inputs went live.
                self.held = None;
                changed_at.map(|at| (at, first_release))
            }
            WentLive::Approved(held) => {
                self.content_hash = Some(held.input_hash);
                self.images = held.images;
                self.retry_images = false;
                self.held = None;
                self.pinned = None;
                self.rejected = None;
                held.changed_at.map(|at| (at, false))
            }
            WentLive::RolledBack => {
                if let Some(input_hash) = self.content_hash.clone() {
                    self.pinned = Some(Pin {
                        release: release.to_string(),
                        input_hash,
                    });
                }
                None
            }
        };
        self.release = Some(release.to_string());
        self.item_count = Some(item_count);
        self.last_change = Some(now);
        let (changed_at, first_release) = dated?;
        let lag = Lag::measure(self.lag.as_ref(), release, changed_at, first_release, now)?;
        self.lag = Some(lag.clone());
        Some(lag)
    }

    /// A pass built a menu byte-equal to the live one from these inputs:
    /// nothing went live, but the inputs and images now describe `release`.
    pub fn same_output(
        &mut self,
        release: Option<String>,
        content_hash: String,
        item_count: usize,
        images: BTreeMap<String, String>,
        retry_images: bool,
    ) {
        self.release = release;
        self.content_hash = Some(content_hash);
        self.item_count = Some(item_count);
        self.images = images;
        self.retry_images = retry_images;
        self.held = None;
    }

    /// A gate held `held` for approval (replacing whatever was held before).
    pub fn hold(&mut self, held: Held) {
        self.held = Some(held);
    }

    /// Staff rejected the held release: its inputs stay out until the POS changes.
    pub fn reject_held(&mut self, now: DateTime<Utc>) -> Option<Held> {
        let held = self.held.take()?;
        self.rejected = Some(Rejected {
            input_hash: held.input_hash.clone(),
            release: held.release.clone(),
            at: now,
        });
        Some(held)
    }

    /// The POS sends other inputs than the rejected ones: the rejection is over.
    pub fn end_rejection(&mut self) {
        self.rejected = None;
    }

    /// The POS menu changed since a rollback: the pin is over.
    pub fn end_pin(&mut self) {
        self.pinned = None;
    }

    /// These inputs have this content hash (see [`InputMemo`]).
    pub fn remember_inputs(&mut self, memo: InputMemo) {
        self.inputs = Some(memo);
    }

    /// Keeps the targets in `configured` (name → where it is now) and
    /// forgets the rest; a target recorded before locations were is taken
    /// to be where it is now.
    pub fn keep_targets(&mut self, configured: &BTreeMap<&str, String>) {
        self.targets
            .retain(|name, _| configured.contains_key(name.as_str()));
        for (name, recorded) in &mut self.targets {
            if recorded.location.is_none() {
                recorded.location = configured.get(name.as_str()).cloned();
            }
        }
    }

    /// Target `name` received `pushed.release`. The first push of a dated
    /// change to it is that target's lag; pushing the same release again
    /// (the target moved) is no new lag.
    pub fn target_pushed(&mut self, name: &str, pushed: TargetState) {
        if let Some(lag) = self
            .lag
            .as_mut()
            .filter(|lag| pushed.release.as_deref() == Some(lag.release.as_str()))
            && !lag.targets.contains_key(name)
        {
            let at = pushed.deployed_at.unwrap_or_else(Utc::now);
            lag.targets
                .insert(name.to_string(), Lag::seconds_since(lag.changed_at, at));
        }
        self.targets.insert(name.to_string(), pushed);
    }

    /// A push to target `name` failed; `failed` says what it still holds and when to retry.
    pub fn target_failed(&mut self, name: &str, failed: TargetState) {
        self.targets.insert(name.to_string(), failed);
    }

    /// These inputs built the live release already and its images are
    /// complete: a pass has nothing to build.
    pub fn built_live(&self, current: Option<&str>, content_hash: &str) -> bool {
        current.is_some()
            && self.release.as_deref() == current
            && self.content_hash.as_deref() == Some(content_hash)
            && !self.retry_images
    }

    /// Staff rejected exactly these inputs: a pass keeps them out.
    pub fn rejects(&self, content_hash: &str) -> bool {
        self.rejected
            .as_ref()
            .is_some_and(|rejected| rejected.input_hash == content_hash)
    }

    /// The release these inputs built, waiting for approval.
    pub fn held_for(&self, content_hash: &str) -> Option<&Held> {
        self.held
            .as_ref()
            .filter(|held| held.input_hash == content_hash)
    }

    /// The rollback that still holds: `current` is the release rolled back
    /// to and the POS still sends what was rolled back from.
    pub fn pinned_at(&self, current: Option<&str>, content_hash: &str) -> Option<&Pin> {
        self.pinned
            .as_ref()
            .filter(|pin| current == Some(pin.release.as_str()) && pin.input_hash == content_hash)
    }

    /// What a cluster's record compares: everything but the times of the
    /// last attempt and success, which move on every quiet pass.
    pub fn for_cluster(&self) -> StoreState {
        StoreState {
            last_success: None,
            last_attempt: None,
            ..self.clone()
        }
    }

    /// Reads the state file; a missing file is a fresh store.
    pub fn load(path: &Path) -> Result<StoreState, StoreError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| {
                StoreError::with_source(
                    Kind::Storage,
                    format!("{} is not a valid state file", path.display()),
                    err,
                )
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(StoreState::default()),
            Err(err) => Err(StoreError::storage(
                format!("reading {}", path.display()),
                err,
            )),
        }
    }

    /// Replaces the state file atomically.
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(self).expect("state always serialises");
        crate::atomic::write(path, &bytes, crate::atomic::Mtime::Now)
            .map_err(|err| StoreError::storage(format!("writing {}", path.display()), err))
    }

    pub fn record_failure(&mut self, category: Category, message: String, now: DateTime<Utc>) {
        self.last_attempt = Some(now);
        self.healed_at = None;
        self.consecutive_failures += 1;
        self.failing_since.get_or_insert(now);
        self.last_error = Some(LastError {
            category,
            message,
            at: now,
        });
    }

    /// The content hash memoised for `fingerprint`, if these are the last inputs seen.
    pub fn known_hash(&self, fingerprint: &str) -> Option<&str> {
        self.inputs
            .as_ref()
            .filter(|memo| memo.fingerprint == fingerprint)
            .map(|memo| memo.content_hash.as_str())
    }

    /// Whether this state must be written, `saved` being what the file holds:
    /// anything but the success times changed, or the recorded success is old.
    pub fn needs_save(&self, saved: &StoreState, now: DateTime<Utc>) -> bool {
        let quiet = StoreState {
            last_success: saved.last_success,
            last_attempt: saved.last_attempt,
            ..self.clone()
        };
        // A recorded success in the future (the clock was stepped back) is not recent.
        let recent = saved
            .last_success
            .and_then(|at| (now - at).to_std().ok())
            .is_some_and(|age| age < QUIET_CHECKPOINT);
        quiet != *saved || !recent || self.last_success.is_none()
    }

    /// What started the pass that is ending.
    pub fn record_trigger(&mut self, trigger: Trigger) {
        self.last_trigger = Some(trigger);
    }

    pub fn record_success(&mut self, now: DateTime<Utc>) {
        if self.consecutive_failures > 0 {
            self.healed_at = Some(now);
        }
        self.last_attempt = Some(now);
        self.last_success = Some(now);
        self.consecutive_failures = 0;
        self.failing_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_pass_is_written_only_when_its_recorded_success_is_old() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-24T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut saved = StoreState::default();
        saved.record_success(t0);
        let later = |secs| t0 + chrono::Duration::seconds(secs);

        let mut quiet = saved.clone();
        quiet.record_success(later(60));
        assert!(!quiet.needs_save(&saved, later(60)), "only the times moved");
        quiet.record_success(later(301));
        assert!(
            quiet.needs_save(&saved, later(301)),
            "the record is 5 min old"
        );

        let mut failed = saved.clone();
        failed.record_failure(Category::Network, "down".into(), later(60));
        assert!(failed.needs_save(&saved, later(60)), "a failure is news");

        let mut moved = saved.clone();
        moved.record_success(later(60));
        moved.inputs = Some(InputMemo {
            fingerprint: "f".into(),
            content_hash: "h".into(),
        });
        assert!(moved.needs_save(&saved, later(60)), "new inputs are news");
        assert_eq!(moved.known_hash("f"), Some("h"));
        assert_eq!(moved.known_hash("g"), None);

        assert!(
            StoreState::default().needs_save(&StoreState::default(), t0),
            "a fresh store is written on its first pass"
        );

        let mut stepped_back = saved.clone();
        stepped_back.record_success(later(-3600));
        assert!(
            stepped_back.needs_save(&saved, later(-3600)),
            "a recorded success in the future is rewritten, not trusted"
        );
    }

    #[test]
    fn state_round_trips_and_missing_file_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(StoreState::load(&path).unwrap(), StoreState::default());

        let mut state = StoreState {
            release: Some("m-0123456789abcdef0123".into()),
            ..StoreState::default()
        };
        state.record_failure(Category::Network, "POS down".into(), Utc::now());
        state.save(&path).unwrap();
        let loaded = StoreState::load(&path).unwrap();
        assert_eq!(loaded, state);
        assert_eq!(loaded.consecutive_failures, 1);
        assert!(loaded.failing_since.is_some());

        let mut recovered = loaded;
        recovered.record_success(Utc::now());
        assert_eq!(recovered.consecutive_failures, 0);
        assert!(recovered.failing_since.is_none());
        // The last error stays visible after recovery, for the operator's record.
        assert!(recovered.last_error.is_some());
    }

    #[test]
    fn a_corrupt_state_file_is_a_storage_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(StoreState::load(&path).unwrap_err().kind, Kind::Storage);
    }
}
