//! Logging: natively to the journal under systemd, else to stdout, plus optional files.
//!
//! Store passes log inside `pass` and `stage` spans, so every line of a pass
//! carries `store`, `pos`, `run` and `stage`; in the journal they become the
//! fields `STORE`, `POS`, `RUN`, `STAGE` (and `CATEGORY`, `RELEASE` where an
//! event has them), so `journalctl -u menusync STORE=gangnam -p warning` works.
//! Levels map to priorities: a failed store is `warning`, a stale store and an
//! internal error are `err`.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogSettings};

/// The filter when `MENUSYNC_LOG` is unset; the scheduler crate's own start-up
/// lines at info are noise in the journal.
pub const DEFAULT_LOG_FILTER: &str = "info,tokio_cron_scheduler=warn";

/// Where log lines go, decided once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Journald,
    Stdout,
}

/// The journal when `MENUSYNC_LOG_TARGET` says so, or when it is unset, the
/// journal socket exists and stdout is not a terminal (systemd runs us);
/// stdout otherwise, so a person running `menusync once` sees its lines.
pub fn choose_sink(
    target: Option<&str>,
    journal_socket_exists: bool,
    stdout_is_terminal: bool,
) -> Sink {
    match target {
        Some("journald") => Sink::Journald,
        Some("stdout") => Sink::Stdout,
        _ if journal_socket_exists && !stdout_is_terminal => Sink::Journald,
        _ => Sink::Stdout,
    }
}

/// Sets up logging; keep the returned guard alive for as long as logs are written.
pub fn init(settings: &LogSettings) -> Option<WorkerGuard> {
    let filter = || {
        EnvFilter::try_from_env("MENUSYNC_LOG")
            .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER))
    };
    let target = std::env::var("MENUSYNC_LOG_TARGET").ok();
    let socket = std::path::Path::new("/run/systemd/journal/socket").exists();
    let sink = choose_sink(target.as_deref(), socket, std::io::stdout().is_terminal());

    let journald = match sink {
        Sink::Journald => match tracing_journald::layer() {
            Ok(layer) => Some(
                layer
                    .with_field_prefix(None)
                    .with_syslog_identifier("menusync".into()),
            ),
            Err(err) => {
                eprintln!("menusync: no journal ({err}); logging to stdout");
                None
            }
        },
        Sink::Stdout => None,
    };
    let to_stdout = journald.is_none();
    let ansi = std::io::stdout().is_terminal();
    let human = (to_stdout && settings.format == LogFormat::Human).then(|| {
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(ansi)
            .with_writer(std::io::stdout)
    });
    let json = (to_stdout && settings.format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stdout)
    });

    let mut guard = None;
    let file = settings.file_dir.as_ref().and_then(|dir| {
        let appender = tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("menusync")
            .filename_suffix("log")
            .max_log_files(settings.file_keep_days)
            .build(dir);
        match appender {
            Ok(appender) => {
                // lossy(false): a burst of lines waits for the writer instead of vanishing.
                let (writer, worker) =
                    tracing_appender::non_blocking::NonBlockingBuilder::default()
                        .lossy(false)
                        .finish(appender);
                guard = Some(worker);
                Some(
                    tracing_subscriber::fmt::layer()
                        .with_target(false)
                        .with_ansi(false)
                        .with_writer(writer),
                )
            }
            Err(err) => {
                eprintln!(
                    "menusync: cannot write log files in {}: {err}",
                    dir.display()
                );
                None
            }
        }
    });

    tracing_subscriber::registry()
        .with(filter())
        .with(journald)
        .with(human)
        .with(json)
        .with(file)
        .init();
    guard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_only_when_asked_or_run_by_systemd() {
        // (MENUSYNC_LOG_TARGET, socket exists, stdout is a terminal) → sink
        let cases = [
            (None, true, false, Sink::Journald),
            (None, true, true, Sink::Stdout),
            (None, false, false, Sink::Stdout),
            (Some("stdout"), true, false, Sink::Stdout),
            (Some("journald"), false, true, Sink::Journald),
            (Some("nonsense"), false, false, Sink::Stdout),
        ];
        for (target, socket, terminal, expected) in cases {
            assert_eq!(
                choose_sink(target, socket, terminal),
                expected,
                "{target:?} {socket} {terminal}"
            );
        }
    }
}
