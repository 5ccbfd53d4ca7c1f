//! Loads `stores.toml` and checks it into the types the rest of the daemon uses.
//!
//! Parsing happens in [`raw`]; this module turns the raw file into [`Config`],
//! whose fields are already validated (non-zero limits, resolved references,
//! parsed schedules, safe store ids). Every error names the file, line and
//! column, the way `menusync check` prints it.

pub mod bounds;
mod explain;
mod gates;
mod pos;
mod raw;
mod schedule;
mod store;
mod target;

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

pub use gates::Gates;
pub use pos::{ApiKeySource, PosEndpoint, PosKind, ResilienceSettings};
use raw::{RawConfig, RawDaemon};
pub use schedule::{schedule_interval, schedule_tick, validate_schedule};
pub use store::{Store, StoreSettings, validate_store_id};
pub use target::{AfterPush, DeployMode, RsyncDest, SshOptions, Target, TargetKind};

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

#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Where releases, state and staging live; absolute or relative to the config file.
    pub state_dir: PathBuf,
    pub schedule: String,
    /// Store passes in flight at once, and separately HTTP requests in flight at once.
    pub io_concurrency: NonZeroUsize,
    /// rsync processes running at once.
    pub deploy_concurrency: NonZeroUsize,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Wall-clock cap on one store's fetch, transform and image stages.
    pub pass_timeout: Duration,
    /// Wall-clock cap on one rsync run.
    pub deploy_timeout: Duration,
    pub keep_releases: NonZeroUsize,
    pub max_image_bytes: u64,
    pub max_menu_bytes: u64,
    /// A new menu losing more than this share of the published items is held back.
    pub max_shrink_percent: u8,
    /// How long a stop waits for passes in flight before aborting them.
    pub shutdown_timeout: Duration,
    /// How long a store may fail before it counts as stale.
    pub stale_after: Duration,
    /// Where `menusync.prom` goes for node_exporter's textfile collector, if anywhere.
    pub metrics_dir: Option<PathBuf>,
    /// A page loaded before a publish may still ask for its images: they are
    /// carried into newer releases (and so kept on targets) for this long.
    pub image_grace: Duration,
    /// Wall-clock cap on one image's download; a slower image is left out.
    pub image_timeout: Duration,
    /// Width × height an image may announce in its header; a bigger one is left out.
    pub max_image_pixels: u64,
    /// IANA time zone of stores that name none.
    pub time_zone: String,
    /// The publish gates of stores that set none of their own.
    pub gates: Gates,
    /// Where the preview pages are mirrored after they change, if anywhere.
    pub preview_target: Option<Arc<Target>>,
    /// Spread each schedule's stores evenly over its interval.
    pub splay: bool,
}

/// How logs are written besides the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    pub file_dir: Option<PathBuf>,
    pub file_keep_days: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
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
        let mut pos = BTreeMap::new();
        for (name, endpoint) in &raw.pos {
            let checked = self.check_pos(name, endpoint)?;
            pos.insert(name.get_ref().clone(), Arc::new(checked));
        }
        let mut targets = BTreeMap::new();
        for (name, target) in &raw.target {
            let checked = self.check_target(name, target)?;
            targets.insert(name.get_ref().clone(), Arc::new(checked));
        }
        // Square locations go into their endpoint before stores share it.
        self.attach_locations(&mut pos, &raw.store)?;
        if let Some(name) = &raw.daemon.preview_target {
            let Some(target) = targets.get(name.get_ref()) else {
                return Err(self.error(
                    name.span(),
                    format!(
                        "preview_target `{}` names no [target.*] section",
                        name.get_ref()
                    ),
                ));
            };
            if let Some(store) = raw
                .store
                .iter()
                .find(|store| store.targets.iter().any(|t| t.get_ref() == name.get_ref()))
            {
                return Err(self.error(
                    name.span(),
                    format!(
                        "preview_target `{}` is a target of store `{}` too: the previews would \
                         overwrite its menu; give the previews a [target.*] of their own",
                        name.get_ref(),
                        store.id.get_ref()
                    ),
                ));
            }
            daemon.preview_target = Some(Arc::clone(target));
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

    fn check_daemon(&self, raw: &RawDaemon) -> Result<DaemonSettings, ConfigError> {
        let state_dir = match &raw.state_dir {
            Some(dir) if dir.get_ref().trim().is_empty() => {
                return Err(self.error(dir.span(), "`state_dir` must not be empty"));
            }
            Some(dir) => self.resolve(dir.get_ref()),
            None => self.resolve(DEFAULT_STATE_DIR),
        };
        if self.on_disk
            && let Err(why) = usable_state_dir(&state_dir)
        {
            let span = raw.state_dir.as_ref().map(Spanned::span).unwrap_or(0..0);
            return Err(self.error(span, why));
        }
        let schedule = match &raw.schedule {
            Some(schedule) => self.check_schedule(schedule)?,
            None => DEFAULT_SCHEDULE.to_string(),
        };
        let secs = |value: &Option<Spanned<i64>>, name: &str, default: u64| {
            self.bounded(value, name, default).map(Duration::from_secs)
        };
        let count = |value: &Option<Spanned<i64>>, name: &str, default: usize| {
            self.bounded(value, name, default as u64).map(|n| {
                NonZeroUsize::new(usize::try_from(n).unwrap_or(usize::MAX))
                    .expect("every count's bound starts at 1")
            })
        };
        let time_zone = match &raw.time_zone {
            Some(zone) => self.check_time_zone(zone)?,
            None => DEFAULT_TIME_ZONE.to_string(),
        };
        let gates = self.check_gates(
            gates::RawGates {
                price_change_percent: &raw.hold_price_change_percent,
                price_zero: raw.hold_price_zero,
                removed_items: &raw.hold_removed_items,
                newly_sold_out: &raw.hold_newly_sold_out,
            },
            Gates::default(),
        )?;
        Ok(DaemonSettings {
            state_dir,
            schedule,
            time_zone,
            gates,
            // Resolved once the targets are checked (`check`).
            preview_target: None,
            splay: raw.splay.unwrap_or(true),
            io_concurrency: count(
                &raw.io_concurrency,
                "io_concurrency",
                DEFAULT_IO_CONCURRENCY,
            )?,
            deploy_concurrency: count(
                &raw.deploy_concurrency,
                "deploy_concurrency",
                DEFAULT_DEPLOY_CONCURRENCY,
            )?,
            connect_timeout: secs(
                &raw.connect_timeout_secs,
                "connect_timeout_secs",
                DEFAULT_CONNECT_TIMEOUT_SECS,
            )?,
            read_timeout: secs(
                &raw.read_timeout_secs,
                "read_timeout_secs",
                DEFAULT_READ_TIMEOUT_SECS,
            )?,
            pass_timeout: secs(
                &raw.pass_timeout_secs,
                "pass_timeout_secs",
                DEFAULT_PASS_TIMEOUT_SECS,
            )?,
            deploy_timeout: secs(
                &raw.deploy_timeout_secs,
                "deploy_timeout_secs",
                DEFAULT_DEPLOY_TIMEOUT_SECS,
            )?,
            keep_releases: count(&raw.keep_releases, "keep_releases", DEFAULT_KEEP_RELEASES)?,
            max_image_bytes: self.bounded(
                &raw.max_image_bytes,
                "max_image_bytes",
                DEFAULT_MAX_IMAGE_BYTES,
            )?,
            max_menu_bytes: self.bounded(
                &raw.max_menu_bytes,
                "max_menu_bytes",
                DEFAULT_MAX_MENU_BYTES,
            )?,
            shutdown_timeout: secs(
                &raw.shutdown_timeout_secs,
                "shutdown_timeout_secs",
                DEFAULT_SHUTDOWN_TIMEOUT_SECS,
            )?,
            stale_after: secs(
                &raw.stale_after_secs,
                "stale_after_secs",
                DEFAULT_STALE_AFTER_SECS,
            )?,
            metrics_dir: self.optional_dir(&raw.metrics_dir, "metrics_dir")?,
            image_grace: secs(
                &raw.image_grace_secs,
                "image_grace_secs",
                DEFAULT_IMAGE_GRACE_SECS,
            )?,
            image_timeout: secs(
                &raw.image_timeout_secs,
                "image_timeout_secs",
                DEFAULT_IMAGE_TIMEOUT_SECS,
            )?,
            max_image_pixels: self.bounded(
                &raw.max_image_pixels,
                "max_image_pixels",
                DEFAULT_MAX_IMAGE_PIXELS,
            )?,
            max_shrink_percent: u8::try_from(self.bounded(
                &raw.max_shrink_percent,
                "max_shrink_percent",
                u64::from(DEFAULT_MAX_SHRINK_PERCENT),
            )?)
            .expect("the percent bound ends at 100"),
        })
    }

    fn optional_dir(
        &self,
        value: &Option<Spanned<String>>,
        name: &str,
    ) -> Result<Option<PathBuf>, ConfigError> {
        match value {
            None => Ok(None),
            Some(dir) if dir.get_ref().trim().is_empty() => {
                Err(self.error(dir.span(), format!("`{name}` must not be empty")))
            }
            Some(dir) => Ok(Some(self.resolve(dir.get_ref()))),
        }
    }

    fn check_log(&self, raw: &raw::RawLog) -> Result<LogSettings, ConfigError> {
        let format = match raw
            .format
            .as_ref()
            .map(|format| (format, format.get_ref().as_str()))
        {
            None | Some((_, "human")) => LogFormat::Human,
            Some((_, "json")) => LogFormat::Json,
            Some((format, other)) => {
                return Err(self.error(
                    format.span(),
                    format!("unknown log format `{other}`, expected `human` or `json`"),
                ));
            }
        };
        let keep = self.bounded(
            &raw.file_keep_days,
            "file_keep_days",
            DEFAULT_LOG_FILE_KEEP_DAYS as u64,
        )?;
        Ok(LogSettings {
            format,
            file_dir: self.optional_dir(&raw.file_dir, "file_dir")?,
            file_keep_days: usize::try_from(keep).unwrap_or(usize::MAX),
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

/// A `state_dir` that exists must be a folder this process can write in;
/// one that does not exist yet is created by the first pass.
fn usable_state_dir(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(format!(
            "`state_dir` {} is a file, not a folder: point it at a folder (or a path that \
             does not exist yet)",
            dir.display()
        )),
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(format!(
            "`state_dir` {} cannot be read: {err}",
            dir.display()
        )),
    }
}

#[cfg(test)]
mod tests;
