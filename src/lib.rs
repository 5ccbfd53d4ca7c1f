//! menusync: keeps a restaurant chain's ordering site in step with each store's POS.
//!
//! The pipeline, one module per stage:
//! - [`config`]: `stores.toml`, parsed and checked;
//! - [`daemon`]: the daemon loop, cron ticks fanned out to stores, reloads;
//! - [`pipeline`]: one pass for one store, tying the stages together (its
//!   deploy stage in `pipeline/deploy.rs`);
//! - [`pos`]: the fetch stage, one provider per POS kind;
//! - [`detect`]: change detection by content hash;
//! - [`transform`]: POS menu → the standard [`menu`] schema (pure);
//! - [`images`]: the images stage, with [`image_sink`] receiving and checking one image;
//! - [`publish`]: releases built in staging and swapped in atomically;
//! - [`target`]: pushing one release to one web host, one module per kind (rsync today).
//!
//! Cross-cutting: [`atomic`] (whole-file writes, their validators, what a
//! killed writer left), [`error`] (failure categories), [`report`] (how a pass
//! ended), [`state`] (per-store status files), [`lock`] (one pass per store
//! across processes), [`signals`] (stop, reload, sync now), [`privileges`]
//! (root by hand becomes the state owner), [`notify`] (systemd
//! notifications), [`events`] (store events without a port), [`telemetry`] (logging), [`metrics`], [`diff`],
//! [`operations`], [`cli`] and [`commands`].

pub mod atomic;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod diff;
pub mod error;
pub mod events;
pub mod gates;
pub mod image_sink;
pub mod image_variants;
pub mod images;
pub mod instrument;
pub mod lock;
pub mod menu;
pub mod metrics;
pub mod notify;
pub mod operations;
pub mod pipeline;
pub mod pos;
pub mod preview;
pub mod privileges;
pub mod publish;
pub mod report;
pub mod signals;
pub mod state;
pub mod target;
pub mod telemetry;
pub mod transform;
