//! Store events: "this store's POS menu changed (at `updatedAt`)", a hint
//! that its pass should run now rather than at its next tick. Nothing here
//! listens on a port: an event is written by `menusync notify` or by a
//! webhook receiver the chain already runs, and read by the daemon.
//!
//! Without `[cluster]` the channel is a spool folder, `<state_dir>/events/`,
//! holding at most one file per store, named by the store id. `notify`
//! writes it through a temp file and a rename (`atomic::write`), merging
//! with the event already waiting, so a burst of events for one store is
//! one file. The daemon polls the folder (a `read_dir` of an almost always
//! empty folder every [`SPOOL_POLL`]): no inotify crate, no watch to
//! re-arm when the folder is recreated, and a latency far below the 1 s an
//! event is given. It claims a file by renaming it to a temp name of its own
//! before reading it, so an event written meanwhile lands in a fresh file
//! and is never lost. With `[cluster]` the same value lives in etcd
//! (`cluster/events.rs`).
//!
//! The value is JSON, `{"updatedAt": "2026-12-05T23:40:00Z"}`, or `{}` for
//! an undated event; a bare RFC 3339 date or an empty value reads too, so a
//! webhook can write whatever is simplest for it.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How often the daemon looks into the spool folder.
pub const SPOOL_POLL: Duration = Duration::from_millis(200);

/// The spool folder's name under `state_dir`.
pub const SPOOL_DIR: &str = "events";

/// One store event, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub store: String,
    /// When the POS says the menu changed; `None`: undated, always worth a pass.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Two events for one store as one: undated wins (it can never be dropped
/// as old), else the newer date.
pub fn merge(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    Some(a?.max(b?))
}

/// The value written for an event.
pub fn encode(updated_at: Option<DateTime<Utc>>) -> Vec<u8> {
    match updated_at {
        Some(at) => serde_json::json!({ "updatedAt": at.to_rfc3339() }),
        None => serde_json::json!({}),
    }
    .to_string()
    .into_bytes()
}

/// Reads an event's value: JSON with an optional `updatedAt`, a bare RFC
/// 3339 date, or nothing (undated).
pub fn decode(value: &[u8]) -> Result<Option<DateTime<Utc>>, String> {
    let text = std::str::from_utf8(value)
        .map_err(|_| "the value is not UTF-8".to_string())?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    let date = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|err| format!("`{text}` is not an RFC 3339 date: {err}"))
    };
    if !text.starts_with('{') {
        return date(text.trim_matches('"')).map(Some);
    }
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|err| format!("the value is not JSON: {err}"))?;
    match json.get("updatedAt") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(at)) => date(at).map(Some),
        Some(other) => Err(format!("`updatedAt` is not a date string: {other}")),
    }
}

/// The spool folder of one host's daemon.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    pub fn new(state_dir: &Path) -> Spool {
        Spool {
            dir: state_dir.join(SPOOL_DIR),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes an event for `store` (a checked store id), merged with the one
    /// already waiting. Two `notify`s racing for one store both leave an
    /// event; the date kept may be either's, and the schedule still runs.
    pub fn write(&self, store: &str, updated_at: Option<DateTime<Utc>>) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(store);
        let waiting = match std::fs::read(&path) {
            Ok(bytes) => Some(decode(&bytes).unwrap_or(None)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(err),
        };
        let value = match waiting {
            Some(waiting) => merge(waiting, updated_at),
            None => updated_at,
        };
        crate::atomic::write(&path, &encode(value), crate::atomic::Mtime::Now)
    }

    /// Takes every waiting event: each file is claimed by a rename to a temp
    /// name of this process, read, then removed. A value that does not read
    /// is an undated event, and its problem is returned beside it. Only the
    /// folder itself failing is an error: an entry that cannot be claimed,
    /// read or removed (or is not a plain file: a link is never followed)
    /// costs that entry only, with a `storage` warning, and every event
    /// taken before or after it is still returned.
    pub fn take(&self) -> io::Result<Vec<(Event, Option<String>)>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let mut events = Vec::new();
        for entry in entries {
            let name = match entry {
                Ok(entry) => entry.file_name(),
                Err(err) => {
                    tracing::warn!(
                        category = "storage",
                        "cannot list the event folder {}: {err}",
                        self.dir.display()
                    );
                    break;
                }
            };
            let Some(store) = name.to_str().filter(|name| !name.starts_with('.')) else {
                continue;
            };
            match self.claim(store) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => {}
                Err(err) => tracing::warn!(
                    category = "storage",
                    store,
                    "a store event in {} cannot be taken: {err}; the events beside it are",
                    self.dir.display()
                ),
            }
        }
        Ok(events)
    }

    /// One entry of the folder: `None` when `notify`'s next write or another
    /// taker got there first.
    fn claim(&self, store: &str) -> io::Result<Option<(Event, Option<String>)>> {
        let claimed = crate::atomic::temp_path(&self.dir, store);
        match std::fs::rename(self.dir.join(store), &claimed) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        }
        let kind = std::fs::symlink_metadata(&claimed)?.file_type();
        if !kind.is_file() {
            let removed = if kind.is_dir() {
                std::fs::remove_dir_all(&claimed)
            } else {
                std::fs::remove_file(&claimed)
            };
            removed?;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a plain file (a link or a folder); removed unread",
            ));
        }
        let read = std::fs::read(&claimed);
        std::fs::remove_file(&claimed)?;
        let (updated_at, problem) = match read.map(|bytes| decode(&bytes)) {
            Ok(Ok(at)) => (at, None),
            Ok(Err(why)) => (None, Some(why)),
            Err(err) => (None, Some(err.to_string())),
        };
        let event = Event {
            store: store.to_string(),
            updated_at,
        };
        Ok(Some((event, problem)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn values_read_as_json_a_bare_date_or_nothing() {
        let t = at("2026-12-05T23:40:00Z");
        for (value, expected) in [
            (
                &b"{\"updatedAt\":\"2026-12-05T23:40:00Z\"}"[..],
                Ok(Some(t)),
            ),
            (
                b"{\"updatedAt\":\"2026-12-06T08:40:00+09:00\"}",
                Ok(Some(t)),
            ),
            (b"2026-12-05T23:40:00Z\n", Ok(Some(t))),
            (b"\"2026-12-05T23:40:00Z\"", Ok(Some(t))),
            (b"{}", Ok(None)),
            (b"", Ok(None)),
            (
                b"{\"updatedAt\":null,\"type\":\"catalog.version.updated\"}",
                Ok(None),
            ),
        ] {
            assert_eq!(
                decode(value),
                expected,
                "{}",
                String::from_utf8_lossy(value)
            );
        }
        for bad in [&b"yesterday"[..], b"{\"updatedAt\": 5}", b"{nope"] {
            assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(decode(&encode(Some(t))), Ok(Some(t)));
        assert_eq!(decode(&encode(None)), Ok(None));
    }

    #[test]
    fn merging_keeps_the_newer_date_and_undated_wins() {
        let (old, new) = (at("2026-12-05T10:00:00Z"), at("2026-12-05T11:00:00Z"));
        assert_eq!(merge(Some(old), Some(new)), Some(new));
        assert_eq!(merge(Some(new), Some(old)), Some(new));
        assert_eq!(merge(None, Some(new)), None);
        assert_eq!(merge(Some(old), None), None);
    }

    #[test]
    fn the_spool_holds_one_file_per_store_and_is_emptied_by_take() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        assert!(
            spool.take().unwrap().is_empty(),
            "a missing folder holds nothing"
        );
        let (old, new) = (at("2026-12-05T10:00:00Z"), at("2026-12-05T11:00:00Z"));
        spool.write("gangnam", Some(new)).unwrap();
        spool.write("gangnam", Some(old)).unwrap();
        spool.write("hongdae", Some(old)).unwrap();
        spool.write("hongdae", None).unwrap();
        std::fs::write(spool.dir().join("broken"), "yesterday").unwrap();
        let mut taken = spool.take().unwrap();
        taken.sort_by(|a, b| a.0.store.cmp(&b.0.store));
        let stores: Vec<_> = taken
            .iter()
            .map(|(event, problem)| (event.store.as_str(), event.updated_at, problem.is_some()))
            .collect();
        assert_eq!(
            stores,
            [
                ("broken", None, true),
                ("gangnam", Some(new), false),
                ("hongdae", None, false)
            ]
        );
        assert_eq!(std::fs::read_dir(spool.dir()).unwrap().count(), 0);
        assert!(spool.take().unwrap().is_empty());
    }

    /// A link or a folder in the spool costs that entry only: the link is
    /// removed unread (its target untouched), and the events beside it are
    /// all taken.
    #[test]
    fn an_entry_that_is_not_a_file_costs_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        spool.write("gangnam", None).unwrap();
        spool.write("jamsil", None).unwrap();
        let outside = dir.path().join("secret");
        std::fs::write(&outside, "{}").unwrap();
        std::os::unix::fs::symlink(&outside, spool.dir().join("hongdae")).unwrap();
        std::fs::create_dir(spool.dir().join("mapo")).unwrap();
        let mut stores: Vec<_> = spool
            .take()
            .unwrap()
            .into_iter()
            .map(|(event, _)| event.store)
            .collect();
        stores.sort();
        assert_eq!(stores, ["gangnam", "jamsil"]);
        assert_eq!(
            std::fs::read(&outside).unwrap(),
            b"{}",
            "the link's target is untouched"
        );
        assert_eq!(
            std::fs::read_dir(spool.dir()).unwrap().count(),
            0,
            "nothing left behind"
        );
    }
}
