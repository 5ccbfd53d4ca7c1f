//! Per-store exclusive lock across processes (`flock` on `stores/<id>/.lock`).
//!
//! The daemon's in-memory guard stops two passes of one store inside one
//! process; this lock also stops `menusync once` run by hand from racing the
//! daemon on the same store. The kernel drops it when the process dies, so a
//! `kill -9` never leaves a store locked.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

use crate::error::StoreError;

/// Held while a pass works on a store; unlocks on drop.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Takes the lock without waiting; `Ok(None)` means another pass holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<StoreLock>, StoreError> {
        // O_NOFOLLOW: a link planted at `.lock` is refused, never opened (or created) through.
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)
            .map_err(|err| StoreError::storage(format!("opening {}", path.display()), err))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(StoreLock { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(err) => Err(StoreError::storage(
                format!("locking {}", path.display()),
                err.into(),
            )),
        }
    }

    /// Takes the lock, waiting up to `wait` for a pass that holds it to end;
    /// `Ok(None)` if it is still held then. For commands run by hand, which
    /// should not fail just because the daemon is in the middle of a pass.
    pub async fn acquire_within(
        path: &Path,
        wait: std::time::Duration,
    ) -> Result<Option<StoreLock>, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(lock) = StoreLock::try_acquire(path)? {
                return Ok(Some(lock));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }
}

/// How often a waiting command tries the lock again.
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let first = StoreLock::try_acquire(&path).unwrap();
        assert!(first.is_some());
        assert!(StoreLock::try_acquire(&path).unwrap().is_none());
        drop(first);
        assert!(StoreLock::try_acquire(&path).unwrap().is_some());
    }

    #[tokio::test]
    async fn a_waiting_holder_gets_the_lock_once_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let first = StoreLock::try_acquire(&path).unwrap().unwrap();
        let short = std::time::Duration::from_millis(200);
        assert!(
            StoreLock::acquire_within(&path, short)
                .await
                .unwrap()
                .is_none()
        );
        let release = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            drop(first);
        });
        let long = std::time::Duration::from_secs(10);
        assert!(
            StoreLock::acquire_within(&path, long)
                .await
                .unwrap()
                .is_some()
        );
        release.await.unwrap();
    }
}
