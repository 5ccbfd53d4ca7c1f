//! How a store's pass ended and what it measured: what the pipeline hands to
//! the daemon loop, `once` and the metrics. Plain data; it knows no stage.

use std::time::Duration;

use crate::error::Category;
use crate::state::StoreState;

/// How a store's pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    Published {
        release: String,
    },
    /// Built completely, kept from customers: a publish gate tripped.
    Held {
        release: String,
        reasons: Vec<String>,
    },
    Failed {
        category: Category,
        message: String,
    },
    /// Another pass (in this or another process) holds the store.
    Busy,
    /// The daemon stopped and the grace period ran out; nothing was published.
    Aborted,
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            Outcome::Unchanged | Outcome::Published { .. } | Outcome::Held { .. }
        )
    }
}

/// How a pass went, what it measured, and the store's state after it.
#[derive(Debug)]
pub struct PassReport {
    pub store_id: String,
    pub outcome: Outcome,
    pub stages: Vec<(&'static str, Duration)>,
    pub image_bytes: u64,
    /// The state as saved after the pass; `None` when the pass never got the store.
    pub state: Option<StoreState>,
}

impl PassReport {
    pub fn failed(store_id: &str, category: Category, message: String) -> PassReport {
        PassReport {
            store_id: store_id.to_string(),
            outcome: Outcome::Failed { category, message },
            stages: Vec::new(),
            image_bytes: 0,
            state: None,
        }
    }
}
