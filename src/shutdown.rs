//! The one shutdown signal: SIGTERM (what systemd sends) or SIGINT cancel a token.
//!
//! Signals are read with signal-hook (through signal-hook-tokio's stream), the
//! crate the client asked for: one listener can take every signal the daemon
//! cares about, including SIGHUP and SIGUSR1 when reload and "sync now" come,
//! and it never installs handlers behind our back as a second listener would.

use futures_util::StreamExt;
use signal_hook::consts::signal::{SIGINT, SIGTERM};
use signal_hook_tokio::Signals;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Starts listening; the token is cancelled on the first SIGTERM or SIGINT.
pub fn listen(shutdown: CancellationToken) -> std::io::Result<JoinHandle<()>> {
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    Ok(tokio::spawn(async move {
        while let Some(signal) = signals.next().await {
            let name = if signal == SIGTERM {
                "SIGTERM"
            } else {
                "SIGINT"
            };
            if shutdown.is_cancelled() {
                info!(
                    signal = name,
                    "already stopping; waiting for passes in flight"
                );
            } else {
                info!(
                    signal = name,
                    "stopping: no new passes, waiting for passes in flight"
                );
                shutdown.cancel();
            }
        }
    }))
}
