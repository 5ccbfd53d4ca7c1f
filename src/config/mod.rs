//! Loads `stores.toml` and checks it into the types the rest of the daemon uses.
//!
//! Parsing happens in `raw.rs`; `checked.rs` turns the raw file into [`Config`],
//! whose fields are already validated (non-zero limits, resolved references,
//! parsed schedules, safe store ids). Every error names the file, line and
//! column, the way `menusync check` prints it.
//!
//! This file is the module's front: its `mod` lines and re-exports. The
//! sections' checks name the siblings that hold what they use (`checker.rs`,
//! `error.rs`, `defaults.rs`), never this file.

pub mod bounds;
mod checked;
mod checker;
mod cluster;
mod daemon;
mod defaults;
mod error;
mod explain;
mod gates;
mod pos;
mod raw;
mod schedule;
mod store;
mod target;
mod variants;

pub use checked::Config;
pub use cluster::{ClusterAuth, ClusterSettings, ClusterTls};
pub use daemon::{DaemonSettings, LogFormat, LogSettings};
pub use defaults::*;
pub use error::ConfigError;
pub use gates::Gates;
pub use pos::{ApiKeySource, PosEndpoint, PosKind, ResilienceSettings};
pub use schedule::Schedule;
pub use store::{Store, StoreSettings, validate_store_id};
pub use target::{
    AfterPush, DeployMode, RsyncDest, RsyncTarget, SshOptions, Target, TargetKind, lexical,
};
pub use variants::{DEFAULT_IMAGE_QUALITY, DEFAULT_IMAGE_WIDTHS, ImageVariants};

#[cfg(test)]
mod tests;
