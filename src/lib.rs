//! menusync: keeps a restaurant chain's ordering site in step with each store's POS.
//!
//! The pipeline, one module per stage:
//! - [`config`]: `stores.toml`, parsed and checked;
//! - [`schedule`]: the daemon loop, cron ticks fanned out to stores;
//! - [`pipeline`]: one pass for one store, tying the stages together;
//! - [`pos`]: the fetch stage, one provider per POS kind;
//! - [`detect`]: change detection by content hash;
//! - [`transform`]: POS menu → the standard [`menu`] schema (pure);
//! - [`images`]: the images stage, with [`image_sink`] receiving and checking one image;
//! - [`publish`]: releases built in staging and swapped in atomically;
//! - [`deploy`]: rsync to the web hosts.
//!
//! Cross-cutting: [`error`] (failure categories), [`report`] (how a pass ended), [`state`] (per-store status
//! files), [`lock`] (one pass per store across processes), [`shutdown`]
//! (signals), [`privileges`] (root by hand becomes the state owner),
//! [`notify`] (systemd notifications), [`telemetry`] (logging), [`cli`] and [`commands`].

pub mod cli;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod detect;
pub mod diff;
pub mod error;
pub mod image_sink;
pub mod images;
pub mod lock;
pub mod menu;
pub mod metrics;
pub mod notify;
pub mod operations;
pub mod pipeline;
pub mod pos;
pub mod privileges;
pub mod publish;
pub mod report;
pub mod schedule;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod transform;
