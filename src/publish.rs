//! The publish stage: build a complete release beside the live one, then swap.
//!
//! Layout of one store under the state directory:
//!
//! ```text
//! stores/<id>/releases/<release>/data/menu.json
//! stores/<id>/releases/<release>/images/<hash>.<ext>
//! stores/<id>/current -> releases/<release>
//! stores/<id>/staging/<release>/      (being built; removed at start-up)
//! stores/<id>/state.json              (see `state`)
//! stores/<id>/.lock                   (held while a pass runs)
//! ```
//!
//! A release is written once in `staging/`, fsynced, renamed into
//! `releases/`, and only then does a new `current` link get renamed over the
//! old one. Nothing under `releases/` is ever written in place, so a crash at
//! any instant leaves `current` pointing at a complete release.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use crate::error::{Kind, StoreError};

const RELEASES: &str = "releases";
const STAGING: &str = "staging";
const CURRENT: &str = "current";
pub const MENU_PATH: &str = "data/menu.json";
pub const IMAGES_DIR: &str = "images";
/// Release ids start with the UTC time to the millisecond: `20261124T183000123Z`.
const STAMP_FORMAT: &str = "%Y%m%dT%H%M%S%3fZ";
const STAMP_LEN: usize = 19;
/// Hex digits of the content hash that end a release id.
const RELEASE_HASH_LEN: usize = 16;

/// One store's folder under the state directory.
#[derive(Debug, Clone)]
pub struct StoreTree {
    root: PathBuf,
}

impl StoreTree {
    pub fn new(state_dir: &Path, store_id: &str) -> StoreTree {
        StoreTree {
            root: state_dir.join("stores").join(store_id),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.root.join(".lock")
    }

    pub fn current_link(&self) -> PathBuf {
        self.root.join(CURRENT)
    }

    pub fn release_dir(&self, release: &str) -> PathBuf {
        self.root.join(RELEASES).join(release)
    }

    /// Creates the store's folders if they are missing, and refuses any of
    /// them that is not a real directory: a symbolic link planted at
    /// `stores/`, `stores/<id>/`, `releases/` or `staging/` would make the
    /// pass write into, and clean out, whatever folder it points to.
    pub fn ensure(&self) -> Result<(), StoreError> {
        let stores = self.root.parent().expect("a store's root is stores/<id>");
        if let Some(state_dir) = stores.parent() {
            // The configured state_dir itself may be a link (ops' choice); below it, nothing is.
            fs::create_dir_all(state_dir).map_err(|err| {
                StoreError::storage(format!("creating {}", state_dir.display()), err)
            })?;
        }
        for dir in [
            stores.to_path_buf(),
            self.root.clone(),
            self.root.join(RELEASES),
            self.root.join(STAGING),
        ] {
            real_dir(&dir)?;
        }
        Ok(())
    }

    /// The release `current` points at, if any; read from the link itself.
    pub fn current_release(&self) -> Result<Option<String>, StoreError> {
        let link = self.current_link();
        match fs::read_link(&link) {
            Ok(target) => {
                let release = target
                    .strip_prefix(RELEASES)
                    .ok()
                    .and_then(|rest| rest.to_str())
                    .filter(|name| is_release_id(name))
                    .map(str::to_string);
                Ok(release.filter(|name| self.release_dir(name).is_dir()))
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(StoreError::storage(
                format!("reading {}", link.display()),
                err,
            )),
        }
    }

    /// Every kept release, oldest first (release ids sort by time).
    pub fn releases(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join(RELEASES);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => {
                return Err(StoreError::storage(
                    format!("listing {}", dir.display()),
                    err,
                ));
            }
        };
        let mut releases = Vec::new();
        for entry in entries {
            let entry = entry
                .map_err(|err| StoreError::storage(format!("listing {}", dir.display()), err))?;
            if let Some(name) = entry
                .file_name()
                .to_str()
                .filter(|name| is_release_id(name))
            {
                releases.push(name.to_string());
            }
        }
        releases.sort();
        Ok(releases)
    }

    /// Removes half-built releases that a crash or a kill left in `staging/`.
    ///
    /// Call only while holding the store's lock, so no live pass is building there.
    pub fn clean_staging(&self) -> Result<usize, StoreError> {
        let dir = self.root.join(STAGING);
        real_dir(&dir)?;
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(err) => {
                return Err(StoreError::storage(
                    format!("listing {}", dir.display()),
                    err,
                ));
            }
        };
        let mut removed = 0;
        for entry in entries {
            let path = entry
                .map_err(|err| StoreError::storage(format!("listing {}", dir.display()), err))?
                .path();
            remove_any(&path)
                .map_err(|err| StoreError::storage(format!("removing {}", path.display()), err))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Starts a new release in `staging/`, named after the time and the content hash.
    ///
    /// Release ids sort in publish order, which pruning relies on: a stamp not
    /// after the newest kept release (same millisecond, or a clock stepped
    /// back) is moved to just after it.
    pub fn begin(&self, content_hash: &str, now: DateTime<Utc>) -> Result<Staging, StoreError> {
        self.ensure()?;
        let mut stamp = now.naive_utc();
        if let Some(newest) = self.releases()?.last().and_then(|id| release_time(id))
            && stamp <= newest
        {
            stamp = newest + chrono::TimeDelta::milliseconds(1);
        }
        let short = &content_hash[..RELEASE_HASH_LEN.min(content_hash.len())];
        let release = format!("{}-{short}", stamp.format(STAMP_FORMAT));
        let dir = self.root.join(STAGING).join(&release);
        for sub in [dir.join("data"), dir.join(IMAGES_DIR)] {
            fs::create_dir_all(&sub)
                .map_err(|err| StoreError::storage(format!("creating {}", sub.display()), err))?;
        }
        Ok(Staging {
            tree: self.clone(),
            release,
            dir,
        })
    }

    /// The latest mtime of a kept release's (or a held one's) `menu.json`.
    fn newest_menu_mtime(&self) -> io::Result<Option<SystemTime>> {
        let mut newest = None;
        for release in self.releases().map_err(io::Error::other)? {
            let menu = self.release_dir(&release).join(MENU_PATH);
            if let Ok(modified) = fs::metadata(&menu).and_then(|meta| meta.modified()) {
                newest = newest.max(Some(modified));
            }
        }
        Ok(newest)
    }

    /// Points `current` at `release` atomically: a new link renamed over the old one.
    pub fn swap_current(&self, release: &str) -> Result<(), StoreError> {
        swap_current_link(&self.root, release).map_err(|err| {
            StoreError::storage(
                format!("pointing {} at {release}", self.current_link().display()),
                err,
            )
        })
    }

    /// Removes one release that `current` does not point at (a held one
    /// rejected or replaced); a missing one is already gone.
    pub fn remove_release(&self, release: &str) -> Result<(), StoreError> {
        if !is_release_id(release) || self.current_release()?.as_deref() == Some(release) {
            return Ok(());
        }
        let dir = self.release_dir(release);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(StoreError::storage(
                format!("removing {}", dir.display()),
                err,
            )),
        }
    }

    /// An empty folder in `staging/` to receive `release` as a target holds
    /// it (a cluster's new leader taking over the live release).
    pub fn pull_dir(&self, release: &str) -> Result<PathBuf, StoreError> {
        if !is_release_id(release) {
            return Err(StoreError::new(
                Kind::Storage,
                format!("`{release}` is not a release id"),
            ));
        }
        self.ensure()?;
        let dir = self.root.join(STAGING).join(format!("pull-{release}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)
            .map_err(|err| StoreError::storage(format!("creating {}", dir.display()), err))?;
        Ok(dir)
    }

    /// Moves a release pulled into `dir` (see [`StoreTree::pull_dir`]) into
    /// `releases/`, fsynced, when it holds a menu; `current` is not touched.
    pub fn keep_pulled(&self, dir: &Path, release: &str) -> Result<(), StoreError> {
        let target = self.release_dir(release);
        (|| {
            let menu = File::open(dir.join(MENU_PATH))?;
            menu.sync_all()?;
            for sub in [dir.join(IMAGES_DIR), dir.join("data")] {
                for entry in fs::read_dir(&sub).into_iter().flatten().flatten() {
                    File::open(entry.path())?.sync_all()?;
                }
                if sub.is_dir() {
                    sync_dir(&sub)?;
                }
            }
            sync_dir(dir)?;
            fs::create_dir_all(self.root.join(RELEASES))?;
            fs::rename(dir, &target)?;
            sync_dir(&self.root.join(RELEASES))
        })()
        .map_err(|err| {
            let _ = fs::remove_dir_all(dir);
            StoreError::storage(
                format!("taking the pulled release into {}", target.display()),
                err,
            )
        })
    }

    /// Deletes all but the newest `keep` releases, never the one `current`
    /// points at nor `held` (a release waiting for approval).
    pub fn prune(&self, keep: usize, held: Option<&str>) -> Result<Vec<String>, StoreError> {
        real_dir(&self.root.join(RELEASES))?;
        let current = self.current_release()?;
        let releases = self.releases()?;
        let old: Vec<String> = prunable(
            releases.iter().map(String::as_str),
            current.as_deref(),
            keep,
        )
        .into_iter()
        .filter(|release| Some(release.as_str()) != held)
        .collect();
        for release in &old {
            let dir = self.release_dir(release);
            fs::remove_dir_all(&dir)
                .map_err(|err| StoreError::storage(format!("removing {}", dir.display()), err))?;
        }
        Ok(old)
    }
}

/// Points `<root>/current` at `releases/<release>`: a uniquely named new link
/// renamed over the old one, then `root` fsynced, so a reader sees the old
/// release or the new one, never neither. The one swap of local publishing
/// and of local targets (`rsync`); remote targets run the same steps in sh.
pub fn swap_current_link(root: &Path, release: &str) -> io::Result<()> {
    let temp = crate::atomic::temp_path(root, CURRENT);
    let result = (|| {
        std::os::unix::fs::symlink(Path::new(RELEASES).join(release), &temp)?;
        fs::rename(&temp, root.join(CURRENT))?;
        sync_dir(root)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The releases among `names` to delete: all but the newest `keep` release
/// ids, never `current`, never a name that is not a release id. The one
/// pruning rule of local publishing and of local targets.
pub fn prunable<'a>(
    names: impl IntoIterator<Item = &'a str>,
    current: Option<&str>,
    keep: usize,
) -> Vec<String> {
    let mut releases: Vec<&str> = names
        .into_iter()
        .map(str::trim)
        .filter(|name| is_release_id(name))
        .collect();
    releases.sort_unstable();
    let excess = releases.len().saturating_sub(keep);
    releases
        .into_iter()
        .take(excess)
        .filter(|name| Some(*name) != current)
        .map(str::to_string)
        .collect()
}

/// A release being built in `staging/`; dropped unfinished, it removes itself.
#[derive(Debug)]
pub struct Staging {
    tree: StoreTree,
    release: String,
    dir: PathBuf,
}

impl Staging {
    pub fn release(&self) -> &str {
        &self.release
    }

    pub fn images_dir(&self) -> PathBuf {
        self.dir.join(IMAGES_DIR)
    }

    /// Writes `data/menu.json` and fsyncs it. Its mtime falls in a later
    /// whole second than every kept release's menu (see
    /// [`crate::atomic::mtime_after`]): web servers derive `ETag` and
    /// `Last-Modified` from it and rsync carries it to the targets, so a
    /// browser revalidating its copy gets this menu even when the last one
    /// had the same size and was published less than a second ago.
    pub fn write_menu(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.dir.join(MENU_PATH);
        (|| {
            let newest = self.tree.newest_menu_mtime()?;
            let mut file = File::create(&path)?;
            file.write_all(bytes)?;
            file.set_modified(crate::atomic::mtime_after(newest, SystemTime::now()))?;
            file.sync_all()
        })()
        .map_err(|err| StoreError::storage(format!("writing {}", path.display()), err))
    }

    /// Makes the release durable, moves it into `releases/` and points `current` at it.
    pub fn publish(self) -> Result<String, StoreError> {
        let tree = self.tree.clone();
        let release = self.keep()?;
        tree.swap_current(&release)?;
        Ok(release)
    }

    /// Makes the release durable and moves it into `releases/`, complete, without
    /// pointing `current` at it: a release held for approval.
    pub fn keep(self) -> Result<String, StoreError> {
        let target = self.tree.release_dir(&self.release);
        (|| {
            // Files were fsynced as they were written; now their folders.
            sync_dir(&self.dir.join("data"))?;
            sync_dir(&self.dir.join(IMAGES_DIR))?;
            sync_dir(&self.dir)?;
            fs::rename(&self.dir, &target)?;
            sync_dir(&self.tree.root.join(STAGING))?;
            sync_dir(&self.tree.root.join(RELEASES))
        })()
        .map_err(|err| {
            StoreError::storage(format!("moving release into {}", target.display()), err)
        })?;
        let release = self.release.clone();
        // Already renamed away: nothing for Drop to clean.
        std::mem::forget(self);
        Ok(release)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// [`is_release_id`] as an extended regular expression, for the one place
/// that cannot call it: the prune step of a remote target, run by `sh` over ssh.
pub const RELEASE_ID_ERE: &str = "^[0-9]{8}T[0-9]{9}Z-[0-9a-f]{16}$";

/// Release ids look like `20261124T183000123Z-0123456789abcdef`.
pub fn is_release_id(name: &str) -> bool {
    let Some((stamp, hash)) = name.split_once('-') else {
        return false;
    };
    release_time(name).is_some()
        && stamp.len() == STAMP_LEN
        && hash.len() == RELEASE_HASH_LEN
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The publish time a release id starts with.
pub fn release_time(name: &str) -> Option<chrono::NaiveDateTime> {
    let stamp = name.get(..STAMP_LEN)?;
    chrono::NaiveDateTime::parse_from_str(stamp, STAMP_FORMAT).ok()
}

/// Makes sure `dir` is a real directory, creating it if missing; anything
/// else there, a symbolic link above all, is refused and named, never followed.
fn real_dir(dir: &Path) -> Result<(), StoreError> {
    let refuse = |what: String| {
        StoreError::new(
            Kind::Storage,
            format!(
                "{} is {what}, not a folder; menusync never writes or deletes through it: \
                 remove it and the next pass recreates the folder",
                dir.display()
            ),
        )
    };
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_dir() => Ok(()),
        Ok(meta) if meta.file_type().is_symlink() => {
            let target = fs::read_link(dir)
                .map(|target| target.display().to_string())
                .unwrap_or_else(|_| "?".to_string());
            Err(refuse(format!("a symbolic link to {target}")))
        }
        Ok(_) => Err(refuse("a file".to_string())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => match fs::create_dir(dir) {
            Ok(()) => Ok(()),
            // Created meanwhile (another process): check what it is.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                match fs::symlink_metadata(dir) {
                    Ok(meta) if meta.file_type().is_dir() => Ok(()),
                    _ => Err(refuse("not a folder".to_string())),
                }
            }
            Err(err) => Err(StoreError::storage(
                format!("creating {}", dir.display()),
                err,
            )),
        },
        Err(err) => Err(StoreError::storage(
            format!("inspecting {}", dir.display()),
            err,
        )),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests;
