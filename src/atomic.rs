//! Whole-file writes that a reader or a crash never sees half done, and the
//! clean-up of what a crashed writer left.
//!
//! Every file menusync replaces (`state.json`, the metrics file, preview
//! pages, the `current` link) is written to a temp file in the same folder,
//! fsynced and renamed over the old one. A temp name is unique per writer,
//! not per process (`.<name>.tmp-<pid>-<sequence>`), so two tasks of one
//! process never share one; and it names its process, so whoever comes
//! later can tell a temp file whose writer died (`kill -9` between create
//! and rename) from one being written now, and remove only the former
//! ([`remove_orphans`]).
//!
//! The mtime of a file that replaces another is made to differ from the old
//! one's in whole seconds ([`mtime_after`]): stock web servers (nginx,
//! Apache) derive `ETag` and `Last-Modified` from the mtime in seconds and
//! the size, so two versions of the same size written within one second
//! would otherwise answer a browser's revalidation with 304 for new content.
//! This module names no other module of the crate.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What every temp name of ours holds between the file's name and the writer.
const TEMP_MARK: &str = ".tmp-";

/// How the new file's modification time is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mtime {
    /// The time of the write, as the file system sets it.
    Now,
    /// The time of the write, moved past the replaced file's in whole
    /// seconds when needed: for files a web server serves.
    AfterReplaced,
}

/// A temp path in `dir` for replacing `name`, unique to this call.
pub fn temp_path(dir: &Path, name: &str) -> PathBuf {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(
        ".{name}{TEMP_MARK}{}-{sequence}",
        std::process::id()
    ))
}

/// Writes `bytes` to `path` through a temp file in the same folder, fsyncing
/// the file and the folder; the temp file is removed when anything fails.
pub fn write(path: &Path, bytes: &[u8], mtime: Mtime) -> io::Result<()> {
    let dir = path
        .parent()
        .expect("replaced files always live in a folder");
    let name = path
        .file_name()
        .expect("replaced files always have a name")
        .to_string_lossy();
    let temp = temp_path(dir, &name);
    let result = (|| {
        // create_new: never through a link or file planted at the temp name.
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        if mtime == Mtime::AfterReplaced {
            let replaced = fs::symlink_metadata(path).and_then(|meta| meta.modified());
            file.set_modified(mtime_after(replaced.ok(), SystemTime::now()))?;
        }
        file.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The mtime for a new version of a file whose last version had `previous`:
/// `now`, unless that falls in the same whole second as `previous` or before
/// it (two writes in one second, or a clock stepped back); then the second
/// after `previous`. Whole seconds are what HTTP validators carry.
pub fn mtime_after(previous: Option<SystemTime>, now: SystemTime) -> SystemTime {
    let seconds = |at: SystemTime| at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    match previous {
        Some(previous) if seconds(now) <= seconds(previous) => {
            UNIX_EPOCH + Duration::from_secs(seconds(previous) + 1)
        }
        _ => now,
    }
}

/// The process that wrote a temp file of ours (or of an earlier version of
/// menusync: `.<name>.tmp-<pid>`, `.<pid>.tmp`, `.current-<pid>-<release>`).
fn writer_of(file_name: &str) -> Option<u32> {
    let hidden = file_name.strip_prefix('.')?;
    let digits = |text: &str| -> Option<u32> {
        let end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        text[..end].parse().ok()
    };
    if let Some(at) = hidden.rfind(TEMP_MARK) {
        return digits(&hidden[at + TEMP_MARK.len()..]);
    }
    if let Some(pid) = hidden.strip_suffix(".tmp") {
        return pid.parse().ok();
    }
    digits(hidden.strip_prefix("current-")?)
}

/// Whether process `pid` is running (Linux: it has a `/proc` entry).
fn is_running(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the temp files in `dir` (not below it) whose writing process is
/// gone: what a crash between create and rename left. Temp files of running
/// processes, this one included, are being written and stay. With `only`,
/// just the temp files for replacing that name (a folder shared with other
/// programs, such as node_exporter's). A missing folder holds nothing.
/// Returns how many were removed.
pub fn remove_orphans(dir: &Path, only: Option<&str>) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if only.is_some_and(|only| !name.starts_with(&format!(".{only}{TEMP_MARK}"))) {
            continue;
        }
        let Some(writer) = writer_of(name) else {
            continue;
        };
        // Only files and links: a temp name never stands for a folder of ours.
        if entry.file_type()?.is_dir() || is_running(writer) {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unique_per_call_and_name_their_writer() {
        let dir = Path::new("/x");
        let (a, b) = (temp_path(dir, "state.json"), temp_path(dir, "state.json"));
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert_eq!(writer_of(name), Some(std::process::id()));
    }

    #[test]
    fn writers_are_read_from_every_temp_name_menusync_ever_used() {
        let cases = [
            (".state.json.tmp-4242-7", Some(4242)),
            (".state.json.tmp-4242", Some(4242)),
            (".4242.tmp", Some(4242)),
            (".current-4242-m-0123456789abcdef0123", Some(4242)),
            (".current.tmp-4242-0", Some(4242)),
            ("state.json", None),
            (".lock", None),
            ("index.html", None),
            (".hidden.tmp", None),
            (".current-x", None),
        ];
        for (name, writer) in cases {
            assert_eq!(writer_of(name), writer, "{name}");
        }
    }

    #[test]
    fn a_new_version_never_shares_the_old_ones_second() {
        let at = |secs: u64, millis: u64| {
            UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
        };
        let seconds = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        // (previous, now) → the whole second of the new mtime
        let cases = [
            (None, at(100, 500), 100),
            (Some(at(90, 0)), at(100, 500), 100),
            (Some(at(100, 100)), at(100, 900), 101),
            (Some(at(101, 0)), at(100, 900), 102),
            (Some(at(100, 999)), at(101, 0), 101),
        ];
        for (previous, now, want) in cases {
            assert_eq!(
                seconds(mtime_after(previous, now)),
                want,
                "{previous:?} {now:?}"
            );
        }
    }

    #[test]
    fn only_temp_files_of_dead_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dead = {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            pid
        };
        let ours = temp_path(dir.path(), "state.json");
        for name in [
            format!(".state.json.tmp-{dead}-3"),
            format!(".{dead}.tmp"),
            format!(".current-{dead}-m-0123456789abcdef0123"),
        ] {
            fs::write(dir.path().join(name), b"half").unwrap();
        }
        fs::write(&ours, b"being written").unwrap();
        fs::write(dir.path().join("state.json"), b"{}").unwrap();
        fs::create_dir(dir.path().join(format!(".{dead}.tmp-dir"))).unwrap();

        let other = format!(".other.tmp-{dead}-1");
        fs::write(dir.path().join(&other), b"not ours to judge").unwrap();
        assert_eq!(remove_orphans(dir.path(), Some("state.json")).unwrap(), 1);
        assert_eq!(remove_orphans(dir.path(), None).unwrap(), 3);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![
            ours.file_name().unwrap().to_str().unwrap().to_string(),
            format!(".{dead}.tmp-dir"),
            "state.json".to_string(),
        ];
        want.sort();
        assert_eq!(left, want);
        assert_eq!(
            remove_orphans(&dir.path().join("missing"), None).unwrap(),
            0
        );
    }

    #[test]
    fn a_replacement_written_in_the_same_second_gets_a_later_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("menu.json");
        write(&path, b"{\"price\":4500}", Mtime::AfterReplaced).unwrap();
        let first = fs::metadata(&path).unwrap().modified().unwrap();
        write(&path, b"{\"price\":4600}", Mtime::AfterReplaced).unwrap();
        let second = fs::metadata(&path).unwrap().modified().unwrap();
        let seconds = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert!(seconds(second) > seconds(first));
        assert_eq!(fs::read(&path).unwrap(), b"{\"price\":4600}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
