//! The `DEFAULT_*` value of every setting `stores.toml` may leave out, kept together.

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
/// Seconds an etcd lease lives without a renewal: how long a dead leader
/// blocks a standby at most (`[cluster] lease_ttl_secs`).
pub const DEFAULT_LEASE_TTL_SECS: u64 = 10;
/// Days a made variant set stays in `<state_dir>/variants/` without a pass using it.
pub const DEFAULT_IMAGE_CACHE_DAYS: u64 = 30;
