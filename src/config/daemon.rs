//! `[daemon]` and `[log]`: the settings every store shares, checked.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::checker::Checker;
use super::defaults::{
    DEFAULT_CONNECT_TIMEOUT_SECS, DEFAULT_DEPLOY_CONCURRENCY, DEFAULT_DEPLOY_TIMEOUT_SECS,
    DEFAULT_IMAGE_CACHE_DAYS, DEFAULT_IMAGE_GRACE_SECS, DEFAULT_IMAGE_TIMEOUT_SECS,
    DEFAULT_IO_CONCURRENCY, DEFAULT_KEEP_RELEASES, DEFAULT_LOG_FILE_KEEP_DAYS,
    DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_MENU_BYTES,
    DEFAULT_MAX_SHRINK_PERCENT, DEFAULT_PASS_TIMEOUT_SECS, DEFAULT_READ_TIMEOUT_SECS,
    DEFAULT_SCHEDULE, DEFAULT_SHUTDOWN_TIMEOUT_SECS, DEFAULT_STALE_AFTER_SECS, DEFAULT_STATE_DIR,
    DEFAULT_TIME_ZONE,
};
use super::error::ConfigError;
use super::gates::{self, Gates};
use super::raw::{self, RawDaemon};
use super::schedule::Schedule;
use super::target::Target;
use super::variants::{ImageVariants, RawImageVariants};

#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Where releases, state and staging live; absolute or relative to the config file.
    pub state_dir: PathBuf,
    pub schedule: Schedule,
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
    /// How the photos of stores that set none of their own are published.
    pub image_variants: ImageVariants,
    /// A made variant set no pass used for this long leaves the cache.
    pub image_cache_age: Duration,
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

impl Checker<'_> {
    pub(super) fn check_daemon(&self, raw: &RawDaemon) -> Result<DaemonSettings, ConfigError> {
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
            None => {
                Schedule::parse(DEFAULT_SCHEDULE).expect("DEFAULT_SCHEDULE is a valid schedule")
            }
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
        let image_variants = self.check_image_variants(
            RawImageVariants {
                enabled: raw.image_variants,
                widths: &raw.image_widths,
                quality: &raw.image_quality,
                keep_original: raw.keep_original_images,
            },
            &ImageVariants::default(),
        )?;
        let image_cache_days = self.bounded(
            &raw.image_cache_days,
            "image_cache_days",
            DEFAULT_IMAGE_CACHE_DAYS,
        )?;
        Ok(DaemonSettings {
            image_variants,
            image_cache_age: Duration::from_secs(image_cache_days * 24 * 3600),
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

    pub(super) fn check_log(&self, raw: &raw::RawLog) -> Result<LogSettings, ConfigError> {
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
