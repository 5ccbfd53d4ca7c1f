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

/// A failure that ends one store's pass.
///
/// The message names what failed (URL, path, target); the source keeps the
/// underlying cause so that `{:#}` shows the whole chain.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    pub category: Category,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    /// How long the POS asked us to wait (`Retry-After`), already capped.
    pub retry_after: Option<Duration>,
}

impl StoreError {
    pub fn new(category: Category, message: impl Into<String>) -> Self {
        StoreError {
            category,
            message: message.into(),
            source: None,
            retry_after: None,
        }
    }

    pub fn with_source(
        category: Category,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError {
            category,
            message: message.into(),
            source: Some(Box::new(source)),
            retry_after: None,
        }
    }

    pub fn storage(message: impl Into<String>, source: std::io::Error) -> Self {
        Self::with_source(Category::Storage, message, source)
    }

    /// Whether trying the same request again may succeed; the one place that decides.
    ///
    /// Only `network` failures are worth another try: timeouts, refused or reset
    /// connections, 429 and 5xx. A POS that refused our key, does not know the
    /// store, or sent something unpublishable will say the same again.
    pub fn is_retryable(&self) -> bool {
        self.category == Category::Network
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
        assert_eq!(err.category, Category::Storage);
        assert_eq!(err.chain(), "writing /x/menu.json: denied");
    }

    #[test]
    fn only_network_failures_are_retried() {
        for category in Category::ALL {
            let err = StoreError::new(category, "x");
            assert_eq!(
                err.is_retryable(),
                category == Category::Network,
                "{category}"
            );
        }
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
