//! Loads `stores.toml` and checks it into the types the rest of the daemon uses.
//!
//! Parsing happens in [`raw`]; this module turns the raw file into [`Config`],
//! whose fields are already validated (non-zero limits, resolved references,
//! parsed schedules, safe store ids). Every error names the file, line and
//! column, the way `menusync check` prints it.

pub mod bounds;
mod daemon;
mod explain;
mod gates;
mod pos;
mod raw;
mod schedule;
mod store;
mod target;

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

pub use daemon::{DaemonSettings, LogFormat, LogSettings};
pub use gates::Gates;
pub use pos::{ApiKeySource, PosEndpoint, PosKind, ResilienceSettings};
use raw::RawConfig;
pub use schedule::Schedule;
pub use store::{Store, StoreSettings, validate_store_id};
pub use target::{
    AfterPush, DeployMode, RsyncDest, RsyncTarget, SshOptions, Target, TargetKind, lexical,
};

pub const DEFAULT_STATE_DIR: &str = "var";
/// Every five minutes, at second 0 (6 fields, seconds first).
pub const DEFAULT_SCHEDULE: &str = "0 */5 * * * *";
pub const DEFAULT_IO_CONCURRENCY: usize = 16;
pub const DEFAULT_DEPLOY_CONCURRENCY: usize = 2;
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 3;
pub const DEFAULT_READ_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_PASS_TIMEOUT_SECS: u64 = 120;
pub const DEFAULT_DEPLOY_TIMEOUT_SECS: u64 = 300;
pub const DEFAULT_KEEP_RELEASES: usize = 5;
pub const DEFAULT_MAX_IMAGE_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_MAX_MENU_BYTES: u64 = 5 * 1024 * 1024;
pub const DEFAULT_MAX_SHRINK_PERCENT: u8 = 50;
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
/// A store failing for longer than this is stale: an error in the journal, a non-zero `status`.
pub const DEFAULT_STALE_AFTER_SECS: u64 = 3600;
pub const DEFAULT_LOG_FILE_KEEP_DAYS: usize = 14;
/// Images of releases replaced less than this long ago stay in the newest release.
pub const DEFAULT_IMAGE_GRACE_SECS: u64 = 3600;
/// Wall-clock cap on fetching one image; past it the image is left out, the menu goes on.
pub const DEFAULT_IMAGE_TIMEOUT_SECS: u64 = 30;
/// Pixels an image may announce (width × height); 25 megapixels is a 5000×5000 photo.
pub const DEFAULT_MAX_IMAGE_PIXELS: u64 = 25_000_000;
/// The time zone of a store's windows when neither it nor `[daemon]` names one.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Seoul";

/// A config file that cannot be used, with where in it the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// The checked configuration.
#[derive(Debug)]
pub struct Config {
    /// The file this was read from, for messages.
    pub path: PathBuf,
    pub daemon: DaemonSettings,
    pub log: LogSettings,
    pub pos: BTreeMap<String, Arc<PosEndpoint>>,
    pub targets: BTreeMap<String, Arc<Target>>,
    pub stores: Vec<Arc<Store>>,
    /// Line and column of `state_dir` in the file (1:1 when it is not set), for messages.
    pub state_dir_position: (usize, usize),
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::check_text(path, &text, true)
    }

    /// Checks `text` as if read from `path`; relative paths resolve against its folder.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        Config::check_text(path, text, false)
    }

    fn check_text(path: &Path, text: &str, on_disk: bool) -> Result<Config, ConfigError> {
        let checker = Checker {
            path,
            text,
            on_disk,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|err| {
            let span = err.span().unwrap_or(0..0);
            checker.error(
                span.clone(),
                explain::parse_error(err.message(), text, span),
            )
        })?;
        checker.check(raw)
    }

    /// For commands that write (`check`, `once`, `run`, `rollback`): an
    /// existing `state_dir` must be writable by this process. Read-only
    /// commands (`status`, `releases`, `diff`) skip it, so a monitoring user
    /// may run `menusync status`.
    pub fn check_state_dir_writable(&self) -> Result<(), ConfigError> {
        let dir = &self.daemon.state_dir;
        if !dir.is_dir() {
            return Ok(());
        }
        let access = rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK;
        rustix::fs::access(dir, access).map_err(|err| ConfigError::Invalid {
            path: self.path.display().to_string(),
            line: self.state_dir_position.0,
            column: self.state_dir_position.1,
            message: format!(
                "`state_dir` {} is not writable by this user ({err}): fix its owner or \
                 mode, or run as its owner",
                dir.display()
            ),
        })
    }

    pub fn store(&self, id: &str) -> Option<&Arc<Store>> {
        self.stores.iter().find(|store| store.id == id)
    }
}

/// Turns a [`RawConfig`] into a [`Config`], with spans mapped to lines.
struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    /// Whether to look at the disk too (`state_dir`); `parse` checks the text alone.
    on_disk: bool,
}

impl Checker<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_column(self.text, span.start);
        ConfigError::Invalid {
            path: self.path.display().to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    fn base_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn resolve(&self, value: &str) -> PathBuf {
        let path = Path::new(value);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir().join(path)
        }
    }

    fn check(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let mut daemon = self.check_daemon(&raw.daemon)?;
        // Both maps are in name order, so an endpoint's slot is its place in `pos`.
        let mut pos = BTreeMap::new();
        for (slot, (name, endpoint)) in raw.pos.iter().enumerate() {
            let checked = self.check_pos(name, slot, endpoint)?;
            pos.insert(name.get_ref().clone(), Arc::new(checked));
        }
        let mut targets = BTreeMap::new();
        for (name, target) in &raw.target {
            let checked = self.check_target(name, target, &daemon.state_dir)?;
            targets.insert(name.get_ref().clone(), Arc::new(checked));
        }
        // Square locations go into their endpoint before stores share it.
        self.attach_locations(&mut pos, &raw.store)?;
        if let Some(name) = &raw.daemon.preview_target {
            daemon.preview_target =
                Some(self.check_preview_target(name, &targets, &raw.store, &daemon.state_dir)?);
        }
        let mut stores = Vec::with_capacity(raw.store.len());
        let mut seen_ids = HashSet::new();
        for store in &raw.store {
            let checked = self.check_store(store, &daemon, &pos, &targets)?;
            if !seen_ids.insert(checked.id.clone()) {
                return Err(self.error(
                    store.id.span(),
                    format!("store id `{}` is used twice", checked.id),
                ));
            }
            stores.push(Arc::new(checked));
        }
        let log = self.check_log(&raw.log)?;
        let state_dir_position = match &raw.daemon.state_dir {
            Some(dir) => line_column(self.text, dir.span().start),
            None => (1, 1),
        };
        Ok(Config {
            path: self.path.to_path_buf(),
            daemon,
            log,
            pos,
            targets,
            stores,
            state_dir_position,
        })
    }

    /// `value`, or `default` when absent, refused outside `name`'s range in [`bounds::BOUNDS`].
    fn bounded(
        &self,
        value: &Option<Spanned<i64>>,
        name: &str,
        default: u64,
    ) -> Result<u64, ConfigError> {
        match value {
            None => Ok(default),
            Some(spanned) => bounds::of(name)
                .check(name, *spanned.get_ref())
                .map_err(|message| self.error(spanned.span(), message)),
        }
    }
}

/// 1-based line and column of a byte offset, counting columns in characters.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!("name `{name}` must be letters, digits, `-` or `_`"))
    }
}

#[cfg(test)]
mod tests;
