//! The variant cache: every set of variants made, by the photo's content
//! hash and the settings that made it, under `<state_dir>/variants/`, so a
//! photo is decoded and encoded once, whatever store or release wants it.
//!
//! An entry is a folder `<hash>-<settings>/` holding the files and
//! `sizes.json` (written last). It is built under a temp name and renamed
//! into place, so it is complete or absent; a second writer of the same
//! entry keeps the first. Using an entry touches `sizes.json`; entries
//! unused for `image_cache_days` are removed by [`VariantCache::prune`].
//! Releases hold hard links to the files, so pruning never takes a
//! published image away.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::{Encoded, file_name};
use crate::config::ImageVariants;

/// The folder under the state dir the cache lives in.
pub const CACHE_DIR: &str = "variants";
/// Written last into an entry: `[[width, height], …]`, narrowest first.
const SIZES: &str = "sizes.json";
/// Entries and temp folders whose names start with this are being built or removed.
const TEMP_PREFIX: &str = ".tmp-";
/// Bumped when the same settings would make different files (encoder, filter).
const RECIPE: u32 = 1;

/// `<state_dir>/variants/`.
#[derive(Debug, Clone)]
pub struct VariantCache {
    root: PathBuf,
}

/// What [`VariantCache::prune`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub entries: usize,
    pub temp: usize,
}

impl VariantCache {
    pub fn new(state_dir: &Path) -> VariantCache {
        VariantCache {
            root: state_dir.join(CACHE_DIR),
        }
    }

    /// The entry name of the photo `hash` made with `settings`.
    pub fn key(hash: &str, settings: &ImageVariants) -> String {
        let recipe = serde_json::json!([RECIPE, settings.widths, settings.quality]);
        let print = hex::encode(Sha256::digest(recipe.to_string().as_bytes()));
        format!("{hash}-{}", &print[..8])
    }

    /// The sizes of a complete entry, marked as used now; `None` when absent.
    pub fn lookup(&self, key: &str) -> io::Result<Option<Vec<(u32, u32)>>> {
        let path = self.root.join(key).join(SIZES);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        file.set_modified(SystemTime::now())?;
        let sizes: Vec<(u32, u32)> = serde_json::from_reader(io::BufReader::new(file))
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
        Ok(Some(sizes))
    }

    /// Stores what was made for `key` (the photo `hash`): files fsynced in a
    /// temp folder, then renamed into place. Returns the sizes stored.
    pub fn store(&self, key: &str, hash: &str, made: &[Encoded]) -> io::Result<Vec<(u32, u32)>> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(&self.root)?;
        let temp = self.root.join(format!(
            "{TEMP_PREFIX}{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&temp)?;
        let sizes: Vec<(u32, u32)> = made.iter().map(|m| (m.width, m.height)).collect();
        let written = (|| {
            for variant in made {
                write_synced(
                    &temp.join(file_name(hash, variant.width, "webp")),
                    &variant.webp,
                )?;
                write_synced(
                    &temp.join(file_name(hash, variant.width, "jpg")),
                    &variant.jpeg,
                )?;
            }
            let sizes_json = serde_json::to_vec(&sizes).expect("sizes always serialise");
            write_synced(&temp.join(SIZES), &sizes_json)?;
            File::open(&temp)?.sync_all()?;
            fs::rename(&temp, self.root.join(key))
        })();
        // The cache folder itself is not fsynced: a rename a crash loses
        // only means the photo is made again.
        match written {
            Ok(()) => Ok(sizes),
            // Another pass stored the same photo first: keep its entry.
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::AlreadyExists
                ) =>
            {
                let _ = fs::remove_dir_all(&temp);
                Ok(sizes)
            }
            Err(err) => {
                let _ = fs::remove_dir_all(&temp);
                Err(err)
            }
        }
    }

    /// Hard-links the files of entry `key` into `dir` (a staging release's
    /// `images/`). `NotFound` when the entry went away meanwhile (pruned).
    pub fn link_into(
        &self,
        key: &str,
        hash: &str,
        sizes: &[(u32, u32)],
        dir: &Path,
    ) -> io::Result<()> {
        let entry = self.root.join(key);
        for &(width, _) in sizes {
            for extension in ["webp", "jpg"] {
                let name = file_name(hash, width, extension);
                match fs::hard_link(entry.join(&name), dir.join(&name)) {
                    Ok(()) => {}
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(())
    }

    /// Removes entries unused for `max_age`, and temp folders an hour old
    /// (left by a process that died while building or removing one).
    pub fn prune(&self, max_age: Duration) -> io::Result<Pruned> {
        let mut pruned = Pruned::default();
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(pruned),
            Err(err) => return Err(err),
        };
        let now = SystemTime::now();
        let older_than = |path: &Path, age: Duration| {
            fs::metadata(path)
                .and_then(|meta| meta.modified())
                .is_ok_and(|at| now.duration_since(at).is_ok_and(|elapsed| elapsed > age))
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(TEMP_PREFIX) {
                if older_than(&path, Duration::from_secs(3600)) {
                    fs::remove_dir_all(&path)?;
                    pruned.temp += 1;
                }
                continue;
            }
            // An entry without sizes.json is not one of ours: left alone.
            if path.join(SIZES).is_file() && older_than(&path.join(SIZES), max_age) {
                // Renamed away first, so no lookup finds it half removed.
                let doomed = self.root.join(format!("{TEMP_PREFIX}prune-{name}"));
                fs::rename(&path, &doomed)?;
                fs::remove_dir_all(&doomed)?;
                pruned.entries += 1;
            }
        }
        Ok(pruned)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create_new(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
