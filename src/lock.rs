//! Per-store exclusive lock across processes (`flock` on `stores/<id>/.lock`).
//!
//! The daemon's in-memory guard stops two passes of one store inside one
//! process; this lock also stops `menusync once` run by hand from racing the
//! daemon on the same store. The kernel drops it when the process dies, so a
//! `kill -9` never leaves a store locked.

use std::fs::{File, OpenOptions};
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
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
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
}

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
}
