//! The records a store's state keeps beside its release: a held release, a
//! rejection, a rollback pin, the input memo, the last error, the lag of a
//! dated change, and what each target holds. Plain data with their own
//! small rules (`Lag::measure`); how the state changes is `state`'s.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Category;

/// From the time the POS says its menu changed (`updatedAt`) to the publish
/// of the release that carries the change, and to each target serving it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lag {
    /// The release that carried the change.
    pub release: String,
    /// When the POS said the menu changed.
    pub changed_at: DateTime<Utc>,
    /// Seconds from `changed_at` to the local publish.
    pub publish_secs: f64,
    /// Seconds from `changed_at` to each target's successful push.
    #[serde(default)]
    pub targets: BTreeMap<String, f64>,
    /// The store had no release before this one: the seconds are the age of
    /// the POS menu menusync first saw, not a delay of menusync's, so the
    /// metrics' histogram leaves them out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_release: bool,
}

impl Lag {
    /// Seconds from `changed_at` to `now`, never negative (the POS clock may run ahead).
    pub fn seconds_since(changed_at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
        ((now - changed_at).num_milliseconds().max(0) as f64) / 1000.0
    }

    /// The lag of publishing `release` now for a change the POS dated
    /// `changed_at`, once per date: `None` when `last` measured this date
    /// already (a republish for another reason, or an older date).
    pub fn measure(
        last: Option<&Lag>,
        release: &str,
        changed_at: DateTime<Utc>,
        first_release: bool,
        now: DateTime<Utc>,
    ) -> Option<Lag> {
        if last.is_some_and(|last| last.changed_at >= changed_at) {
            return None;
        }
        Some(Lag {
            release: release.to_string(),
            changed_at,
            publish_secs: Lag::seconds_since(changed_at, now),
            targets: BTreeMap::new(),
            first_release,
        })
    }

    /// When a lag of `seconds` was measured: the change time plus the lag.
    pub fn measured_at(&self, seconds: f64) -> DateTime<Utc> {
        self.changed_at + chrono::TimeDelta::milliseconds((seconds * 1000.0).round() as i64)
    }
}

/// A complete release under `releases/` that `current` does not point at,
/// waiting for `menusync approve` or `reject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub release: String,
    /// The content hash of the inputs that built it: approve refuses other inputs.
    pub input_hash: String,
    /// Why, one line per tripped gate.
    pub reasons: Vec<String>,
    pub since: DateTime<Utc>,
    pub item_count: usize,
    /// Image index of the held release, taken over when it is approved.
    pub images: BTreeMap<String, String>,
    /// When the POS dated the menu of the held release; approving it
    /// records the lag from then, the time it waited for staff included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub input_hash: String,
    /// The release that was rejected (deleted), for the record.
    pub release: String,
    pub at: DateTime<Utc>,
}

/// Inputs with this raw fingerprint have this content hash (a pure function
/// of them, so the memo never goes stale; it is only replaced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputMemo {
    pub fingerprint: String,
    pub content_hash: String,
}

/// A rollback that holds until the POS menu or the store's settings change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The release rolled back to.
    pub release: String,
    /// The content hash of the inputs whose menu was rolled away from.
    pub input_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastError {
    pub category: Category,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TargetState {
    /// The release this target holds, if its last push succeeded.
    pub release: Option<String>,
    pub deployed_at: Option<DateTime<Utc>>,
    pub last_error: Option<LastError>,
    /// Failed pushes in a row; the wait before the next try doubles with each.
    pub failures: u32,
    /// No push before this time (backoff after failures).
    pub retry_at: Option<DateTime<Utc>>,
    /// Where the pushes above went (`target::location` of its config); a
    /// target whose `dest` or mode changed since holds nothing yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}
