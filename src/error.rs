//! Failure categories and the error type a store's pass fails with.
//!
//! Every failure that ends a store's pass is a [`StoreError`], and every
//! [`StoreError`] carries exactly one [`Category`]. The categories are what an
//! operator sees in the journal and in `menusync status`, so they are few and
//! each maps to one kind of action (fix the config, renew a key, wait for the
//! POS, fix the data at the POS, free the disk, check the web hosts).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What kind of failure ended a pass; see the README's "Failure handling".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// The configuration is wrong: unknown store at the POS, missing key variable.
    Config,
    /// The POS refused our key.
    Auth,
    /// The POS could not be reached or answered with a server error or timeout.
    Network,
    /// The POS answered, but with something we cannot publish.
    Data,
    /// Our own disk: permissions, space, a broken state directory.
    Storage,
    /// Pushing the release to a web host failed.
    Deploy,
}

impl Category {
    /// Every category, in the order the README documents them.
    pub const ALL: [Category; 6] = [
        Category::Config,
        Category::Auth,
        Category::Network,
        Category::Data,
        Category::Storage,
        Category::Deploy,
    ];

    /// The lower-case name used in logs, status files and the README.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Config => "config",
            Category::Auth => "auth",
            Category::Network => "network",
            Category::Data => "data",
            Category::Storage => "storage",
            Category::Deploy => "deploy",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong, as a value callers and tests match on.
///
/// The [`Category`] an operator sees follows from the kind in one `match`
/// ([`Kind::category`]), so no caller re-decides what a failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A setting is wrong or missing: a key file, a URL, a provider option, a release name.
    Settings,
    /// The POS refused the request as we asked it (400, 404, 405, 410): the store id is wrong.
    RequestRefused { status: u16 },
    /// The POS refused our key (401, 403).
    KeyRefused { status: u16 },
    /// Connecting to the POS, or sending or reading, failed or timed out.
    Unreachable,
    /// The POS answered that it is busy or failing (408, 429, 5xx).
    PosUnavailable { status: u16 },
    /// The breaker of this POS is open after repeated failures.
    BreakerOpen,
    /// The pass, a stage or one image used up its time budget.
    OutOfTime,
    /// A POS document we cannot read: not JSON, HTML, too big, an unexpected status.
    BadDocument,
    /// A menu we will not publish: no items, shrunk too far, a currency that is no code.
    Unpublishable,
    /// An image we refuse: too big, not an image, a wrong checksum, a URL we cannot fetch.
    BadImage,
    /// An image the POS lists but does not serve (400, 404, 405, 410).
    ImageMissing { status: u16 },
    /// The POS sends other data than a decision was about (approve after a change).
    Moved,
    /// Our own disk: permissions, space, a link where a folder belongs.
    Storage,
    /// Another pass of the store held its lock for longer than we wait.
    Busy,
    /// `rsync` or `ssh` is not installed.
    ToolMissing,
    /// A push to a target, or the swap there, failed.
    Push,
    /// With `[cluster]`: this instance could not prove it leads (it lost the
    /// election, its lease ran out, or etcd has no quorum), so it neither
    /// went live nor pushed.
    NotLeader,
    /// The swap on a target was refused: a leader with a newer fencing
    /// epoch has swapped that store there, so this host is no longer the
    /// leader and must not move `current` back to its release.
    Fenced,
}

impl Kind {
    /// The category an operator sees; the one place that decides it.
    pub fn category(self) -> Category {
        match self {
            Kind::Settings | Kind::RequestRefused { .. } => Category::Config,
            Kind::KeyRefused { .. } => Category::Auth,
            Kind::Unreachable
            | Kind::PosUnavailable { .. }
            | Kind::BreakerOpen
            | Kind::OutOfTime => Category::Network,
            Kind::BadDocument
            | Kind::Unpublishable
            | Kind::BadImage
            | Kind::ImageMissing { .. }
            | Kind::Moved => Category::Data,
            Kind::Storage | Kind::Busy => Category::Storage,
            Kind::ToolMissing | Kind::Push | Kind::NotLeader | Kind::Fenced => Category::Deploy,
        }
    }
}

/// A failure that ends one store's pass (or, for images, leaves one image out).
///
/// The message names what failed (URL, path, target); the source keeps the
/// underlying cause so that `{:#}` shows the whole chain.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    pub kind: Kind,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    /// How long the POS asked us to wait (`Retry-After`), already capped.
    pub retry_after: Option<Duration>,
}

impl StoreError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        StoreError {
            kind,
            message: message.into(),
            source: None,
            retry_after: None,
        }
    }

    pub fn with_source(
        kind: Kind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError {
            kind,
            message: message.into(),
            source: Some(Box::new(source)),
            retry_after: None,
        }
    }

    pub fn storage(message: impl Into<String>, source: std::io::Error) -> Self {
        Self::with_source(Kind::Storage, message, source)
    }

    pub fn category(&self) -> Category {
        self.kind.category()
    }

    /// Whether trying the same request again may succeed; the one place that decides.
    ///
    /// Only `network` failures are worth another try: timeouts, refused or reset
    /// connections, 429 and 5xx. A POS that refused our key, does not know the
    /// store, or sent something unpublishable will say the same again.
    pub fn is_retryable(&self) -> bool {
        self.category() == Category::Network
    }

    /// The message followed by every cause, as one line for logs and status.
    pub fn chain(&self) -> String {
        let mut text = self.message.clone();
        let mut cause = std::error::Error::source(self);
        while let Some(err) = cause {
            text.push_str(": ");
            text.push_str(&err.to_string());
            cause = err.source();
        }
        text
    }
}

/// Something in the POS data that was left out of the menu, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub category: Category,
    /// What was left out, e.g. `item I105` or `image IMG100`.
    pub subject: String,
    pub message: String,
}

impl Problem {
    pub fn data(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            category: Category::Data,
            subject: subject.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_includes_every_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let err = StoreError::storage("writing /x/menu.json", io);
        assert_eq!(err.kind, Kind::Storage);
        assert_eq!(err.chain(), "writing /x/menu.json: denied");
    }

    #[test]
    fn only_network_failures_are_retried() {
        let retried = [
            Kind::Unreachable,
            Kind::PosUnavailable { status: 503 },
            Kind::BreakerOpen,
            Kind::OutOfTime,
        ];
        let not_retried = [
            Kind::Settings,
            Kind::RequestRefused { status: 404 },
            Kind::KeyRefused { status: 401 },
            Kind::BadDocument,
            Kind::Unpublishable,
            Kind::BadImage,
            Kind::ImageMissing { status: 404 },
            Kind::Moved,
            Kind::Storage,
            Kind::Busy,
            Kind::ToolMissing,
            Kind::Push,
            Kind::Fenced,
            Kind::NotLeader,
        ];
        for kind in retried {
            assert!(StoreError::new(kind, "x").is_retryable(), "{kind:?}");
        }
        for kind in not_retried {
            assert!(!StoreError::new(kind, "x").is_retryable(), "{kind:?}");
        }
        // Every category is reached by some kind.
        let reached: std::collections::HashSet<Category> = retried
            .iter()
            .chain(&not_retried)
            .map(|kind| kind.category())
            .collect();
        assert_eq!(reached.len(), Category::ALL.len());
    }

    #[test]
    fn category_names_round_trip_through_serde() {
        for category in Category::ALL {
            let json = serde_json::to_string(&category).unwrap();
            assert_eq!(json, format!("\"{}\"", category.as_str()));
            let back: Category = serde_json::from_str(&json).unwrap();
            assert_eq!(back, category);
        }
    }
}
