//! The range each numeric setting must fall in.
//!
//! `check` refuses a value outside its range with the range in the message,
//! so an absurd setting (`connect_timeout_secs = 1000000000000`, a zero
//! limit) is caught before it runs. The README's failure-handling section
//! lists the same table; `config::tests` checks that it does.

/// A closed range of accepted values, with the unit the message names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub min: u64,
    pub max: u64,
    pub unit: &'static str,
}

const fn bound(min: u64, max: u64, unit: &'static str) -> Bound {
    Bound { min, max, unit }
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const MIB: u64 = 1024 * 1024;

/// Every bounded setting by its key, as written in `stores.toml`.
pub const BOUNDS: &[(&str, Bound)] = &[
    ("io_concurrency", bound(1, 1024, "")),
    ("deploy_concurrency", bound(1, 64, "")),
    ("connect_timeout_secs", bound(1, 5 * MINUTE, "seconds")),
    ("read_timeout_secs", bound(1, HOUR, "seconds")),
    ("pass_timeout_secs", bound(1, DAY, "seconds")),
    ("image_timeout_secs", bound(1, HOUR, "seconds")),
    ("deploy_timeout_secs", bound(1, DAY, "seconds")),
    ("shutdown_timeout_secs", bound(1, HOUR, "seconds")),
    ("stale_after_secs", bound(1, 30 * DAY, "seconds")),
    ("image_grace_secs", bound(0, 7 * DAY, "seconds")),
    ("keep_releases", bound(1, 1000, "")),
    ("max_image_bytes", bound(1024, 1024 * MIB, "bytes")),
    ("max_menu_bytes", bound(1024, 1024 * MIB, "bytes")),
    ("max_image_pixels", bound(1, 1_000_000_000, "pixels")),
    ("max_shrink_percent", bound(0, 100, "percent")),
    ("hold_price_change_percent", bound(0, 100_000, "percent")),
    ("hold_removed_items", bound(0, 1_000_000, "items")),
    ("hold_newly_sold_out", bound(0, 1_000_000, "items")),
    ("file_keep_days", bound(1, 3650, "days")),
    ("retries", bound(0, 10, "")),
    ("breaker_failures", bound(1, 1000, "")),
    ("breaker_cooldown_secs", bound(1, DAY, "seconds")),
    ("requests_per_second", bound(1, 1_000_000, "")),
    ("full_read_every", bound(1, 1000, "passes")),
    ("retry_backoff_secs", bound(1, DAY, "seconds")),
    ("ssh_port", bound(1, 65535, "")),
    ("after_push_timeout_secs", bound(1, HOUR, "seconds")),
    ("lease_ttl_secs", bound(2, 60, "seconds")),
    ("image_quality", bound(1, 100, "")),
    ("image_cache_days", bound(1, 3650, "days")),
];

/// The bound of `key`; every key a checker asks for is in [`BOUNDS`].
pub fn of(key: &str) -> Bound {
    BOUNDS
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, bound)| *bound)
        .unwrap_or_else(|| panic!("no bound for `{key}`: add it to config::bounds::BOUNDS"))
}

impl Bound {
    /// `Ok(value)` inside the range, else the message `check` prints.
    pub fn check(self, key: &str, value: i64) -> Result<u64, String> {
        match u64::try_from(value) {
            Ok(value) if (self.min..=self.max).contains(&value) => Ok(value),
            _ => {
                let unit = if self.unit.is_empty() {
                    String::new()
                } else {
                    format!(" {}", self.unit)
                };
                Err(format!(
                    "`{key}` = {value} is out of range: it must be between {} and {}{unit}",
                    self.min, self.max
                ))
            }
        }
    }
}
