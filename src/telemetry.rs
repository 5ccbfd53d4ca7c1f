//! Logging setup: human-readable lines on stdout, filtered by `MENUSYNC_LOG`.
//!
//! Store passes log inside `pass` and `stage` spans, so every line of a pass
//! shows `store`, `pos`, `run` and `stage`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The filter when `MENUSYNC_LOG` is unset.
/// The scheduler crate announces its own start at info; that is noise in the journal.
pub const DEFAULT_LOG_FILTER: &str = "info,tokio_cron_scheduler=warn";

pub fn init() {
    let filter = EnvFilter::try_from_env("MENUSYNC_LOG")
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(std::io::stdout)
        .init();
}
