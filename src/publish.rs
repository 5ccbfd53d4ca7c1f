//! The publish stage: build a complete release beside the live one, then swap.
//!
//! Layout of one store under the state directory:
//!
//! ```text
//! stores/<id>/releases/<release>/data/menu.json
//! stores/<id>/releases/<release>/images/<hash>.<ext>
//! stores/<id>/current -> releases/<release>
//! stores/<id>/staging/build-<pid>-<n>/ (being built; removed at start-up)
//! stores/<id>/state.json              (see `state`)
//! stores/<id>/.lock                   (held while a pass runs)
//! ```
//!
//! A release is written once in `staging/`, fsynced, renamed into
//! `releases/`, and only then does a new `current` link get renamed over the
//! old one. Nothing under `releases/` is ever written in place, so a crash at
//! any instant leaves `current` pointing at a complete release.
//!
//! A release's id is derived from its `menu.json` bytes alone ([`release_id`]):
//! two hosts building from the same POS data name the same release, so a
//! standby that takes over pushes nothing its targets already hold. Ids say
//! nothing about time; releases are ordered by their menu's mtime, which
//! [`crate::atomic::mtime_after`] makes strictly increasing per build.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Kind, StoreError};

const RELEASES: &str = "releases";
const STAGING: &str = "staging";
const CURRENT: &str = "current";
pub const MENU_PATH: &str = "data/menu.json";
pub const IMAGES_DIR: &str = "images";
/// What every release id starts with, so its shape is recognisable.
const RELEASE_PREFIX: &str = "m-";
/// Hex digits of the sha256 of `menu.json` that end a release id (80 bits).
const RELEASE_HASH_LEN: usize = 20;
/// The ids of releases built before ids were content-derived:
/// `20261124T183000123Z-0123456789abcdef`, the UTC time then 16 hex digits.
const LEGACY_STAMP_FORMAT: &str = "%Y%m%dT%H%M%S%3fZ";
const LEGACY_STAMP_LEN: usize = 19;
const LEGACY_HASH_LEN: usize = 16;
/// Prefix of the folders a release is built in under `staging/`.
const BUILD_PREFIX: &str = "build-";

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

    /// Every kept release, oldest first: in the order of their `menu.json`
    /// mtimes (a release whose menu does not read is the oldest), ties by name.
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
                releases.push((self.menu_time(name), name.to_string()));
            }
        }
        releases.sort();
        Ok(releases.into_iter().map(|(_, name)| name).collect())
    }

    /// When `release`'s `menu.json` was written (its mtime), if it reads:
    /// the order of releases, and when one replaced another.
    pub fn menu_time(&self, release: &str) -> Option<SystemTime> {
        fs::metadata(self.release_dir(release).join(MENU_PATH))
            .and_then(|meta| meta.modified())
            .ok()
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

    /// Starts a new release in a folder of its own under `staging/`; it is
    /// named only once its menu is written ([`Staging::write_menu`]).
    pub fn begin(&self) -> Result<Staging, StoreError> {
        self.ensure()?;
        static BUILDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let build = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{BUILD_PREFIX}{}-{build}", std::process::id());
        let dir = self.root.join(STAGING).join(name);
        for sub in [dir.join("data"), dir.join(IMAGES_DIR)] {
            fs::create_dir_all(&sub)
                .map_err(|err| StoreError::storage(format!("creating {}", sub.display()), err))?;
        }
        Ok(Staging {
            tree: self.clone(),
            release: None,
            dir,
        })
    }

    /// The latest mtime of a kept release's (or a held one's) `menu.json`.
    fn newest_menu_mtime(&self) -> io::Result<Option<SystemTime>> {
        let mut newest = None;
        for release in self.releases().map_err(io::Error::other)? {
            newest = newest.max(self.menu_time(&release));
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

/// The releases among `oldest_first` (names in the order the caller knows
/// them went live, oldest first) to delete: all but the newest `keep`
/// release ids, never `current`, never a name that is not a release id.
/// The one pruning rule of local publishing and of local targets; ids say
/// nothing about time, so the order is the caller's (menu mtimes here,
/// `.complete` markers on a target).
pub fn prunable<'a>(
    oldest_first: impl IntoIterator<Item = &'a str>,
    current: Option<&str>,
    keep: usize,
) -> Vec<String> {
    let releases: Vec<&str> = oldest_first
        .into_iter()
        .map(str::trim)
        .filter(|name| is_release_id(name))
        .collect();
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
    /// Its id, known once its menu is written.
    release: Option<String>,
    dir: PathBuf,
}

impl Staging {
    /// The folder it is built in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its id, once [`Staging::write_menu`] has named it.
    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
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
    ///
    /// The bytes name the release ([`release_id`]); returns that id.
    pub fn write_menu(&mut self, bytes: &[u8]) -> Result<String, StoreError> {
        let path = self.dir.join(MENU_PATH);
        (|| {
            let newest = self.tree.newest_menu_mtime()?;
            let mut file = File::create(&path)?;
            file.write_all(bytes)?;
            file.set_modified(crate::atomic::mtime_after(newest, SystemTime::now()))?;
            file.sync_all()
        })()
        .map_err(|err| StoreError::storage(format!("writing {}", path.display()), err))?;
        let release = release_id(bytes);
        self.release = Some(release.clone());
        Ok(release)
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
    ///
    /// A kept release of the same id (the menu went back to an earlier one)
    /// is removed first and this fresh copy takes its place, so its menu's
    /// mtime is the newest (the mtime rule, the order of releases) and it
    /// holds the images carried forward now. The current release is never
    /// touched: the same id is the same menu, already live.
    pub fn keep(self) -> Result<String, StoreError> {
        let release = self
            .release
            .clone()
            .expect("a staging release is kept only after write_menu named it");
        if self.tree.current_release()?.as_deref() == Some(release.as_str()) {
            // Dropped: the staging folder goes, the live release stays as it is.
            return Ok(release);
        }
        self.tree.remove_release(&release)?;
        let target = self.tree.release_dir(&release);
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

/// The id of the release whose `menu.json` is `menu_bytes`: `m-` and the
/// first 20 hex digits of their sha256, like `m-3e70092215d45758a1b2`.
///
/// Only the menu's bytes enter it: equal POS data gives a byte-equal menu
/// (transform is pure, images are named by their content), so two hosts
/// name the same release the same, and what customers see changes exactly
/// when the id does. Images carried forward are a local detail and do not
/// count.
pub fn release_id(menu_bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(menu_bytes);
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{RELEASE_PREFIX}{}", &hex[..RELEASE_HASH_LEN])
}

/// [`is_release_id`] as an extended regular expression, for the one place
/// that cannot call it: the prune step of a remote target, run by `sh` over ssh.
pub const RELEASE_ID_ERE: &str = "^(m-[0-9a-f]{20}|[0-9]{8}T[0-9]{9}Z-[0-9a-f]{16})$";

/// Release ids look like `m-3e70092215d45758a1b2` ([`release_id`]); those
/// built before ids were content-derived, `20261124T183000123Z-0123456789abcdef`,
/// are still recognised, so an upgraded host keeps serving, ordering and
/// pruning them.
pub fn is_release_id(name: &str) -> bool {
    let lower_hex = |text: &str, len: usize| {
        text.len() == len
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if let Some(hash) = name.strip_prefix(RELEASE_PREFIX) {
        return lower_hex(hash, RELEASE_HASH_LEN);
    }
    let Some((stamp, hash)) = name.split_once('-') else {
        return false;
    };
    stamp.len() == LEGACY_STAMP_LEN
        && chrono::NaiveDateTime::parse_from_str(stamp, LEGACY_STAMP_FORMAT).is_ok()
        && lower_hex(hash, LEGACY_HASH_LEN)
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
