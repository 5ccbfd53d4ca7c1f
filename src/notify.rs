//! Tells systemd how the daemon is doing (`Type=notify`): ready, reloading,
//! stopping, a one-line status, and watchdog pings from the scheduler loop.
//!
//! Every call is a no-op outside systemd (no `NOTIFY_SOCKET`), so `menusync
//! run` started by hand behaves the same. Failures to notify are logged, never
//! fatal: the daemon's job is the menus, not the notifications.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::debug;

fn send(states: &[NotifyState]) {
    if let Err(err) = sd_notify::notify(states) {
        debug!("cannot notify systemd: {err}");
    }
}

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn reloading() {
    send(&[NotifyState::Reloading]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to ping the watchdog: half its timeout, if systemd set one.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|timeout| timeout / 2)
}
