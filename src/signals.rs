//! Signals: SIGTERM (what systemd sends) and SIGINT stop the daemon, SIGHUP
//! reloads `stores.toml`, SIGUSR1 asks for a pass over every store now.
//!
//! Signals are read with signal-hook (through signal-hook-tokio's stream), the
//! crate the client asked for: one listener takes every signal the daemon
//! cares about, and stop requests become one `CancellationToken` that every
//! loop selects on, while the others become [`Control`] messages.

use futures_util::StreamExt;
use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook_tokio::Signals;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// What a signal asks of the running daemon, besides stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// SIGHUP: re-read the config; keep the old one if the new one is invalid.
    Reload,
    /// SIGUSR1: run a pass over every store now.
    SyncAll,
}

/// Control requests waiting for the daemon loop; more are dropped, since one
/// pending reload or sync-all covers any number of repeats.
const CONTROL_QUEUE: usize = 4;

/// Starts listening; returns the listener task and the control requests.
pub fn listen(
    shutdown: CancellationToken,
) -> std::io::Result<(JoinHandle<()>, mpsc::Receiver<Control>)> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1])?;
    let (sender, receiver) = mpsc::channel(CONTROL_QUEUE);
    let task = tokio::spawn(async move {
        while let Some(signal) = signals.next().await {
            let control = match signal {
                SIGHUP => Control::Reload,
                SIGUSR1 => Control::SyncAll,
                _ => {
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
                    continue;
                }
            };
            if sender.try_send(control).is_err() {
                warn!(
                    ?control,
                    "signal ignored: the same request is already pending"
                );
            }
        }
    });
    Ok((task, receiver))
}
