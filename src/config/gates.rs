//! Publish gates: changes big enough that a person looks before customers
//! do. Set in `[daemon]` for every store and per `[[store]]`; a store's own
//! setting wins. `0` turns a counting gate off.

use toml::Spanned;

use super::checker::Checker;
use super::error::ConfigError;

/// A price moving by more than this share, up or down, holds the release.
pub const DEFAULT_HOLD_PRICE_CHANGE_PERCENT: u64 = 50;
/// More items than this removed at once holds the release.
pub const DEFAULT_HOLD_REMOVED_ITEMS: u64 = 10;
/// More items than this newly sold out at once holds the release.
pub const DEFAULT_HOLD_NEWLY_SOLD_OUT: u64 = 20;

/// The gates a store's changes pass before they publish by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gates {
    /// `0`: off.
    pub price_change_percent: u64,
    /// A price (item, variant) that was above 0 becoming 0.
    pub price_zero: bool,
    /// `0`: off.
    pub removed_items: u64,
    /// `0`: off.
    pub newly_sold_out: u64,
}

impl Default for Gates {
    fn default() -> Gates {
        Gates {
            price_change_percent: DEFAULT_HOLD_PRICE_CHANGE_PERCENT,
            price_zero: true,
            removed_items: DEFAULT_HOLD_REMOVED_ITEMS,
            newly_sold_out: DEFAULT_HOLD_NEWLY_SOLD_OUT,
        }
    }
}

/// The gate keys as written, in `[daemon]` or a `[[store]]`.
pub(super) struct RawGates<'a> {
    pub price_change_percent: &'a Option<Spanned<i64>>,
    pub price_zero: Option<bool>,
    pub removed_items: &'a Option<Spanned<i64>>,
    pub newly_sold_out: &'a Option<Spanned<i64>>,
}

impl Checker<'_> {
    /// `raw` over `base`: what a section sets, else what `base` says.
    pub(super) fn check_gates(&self, raw: RawGates<'_>, base: Gates) -> Result<Gates, ConfigError> {
        Ok(Gates {
            price_change_percent: self.bounded(
                raw.price_change_percent,
                "hold_price_change_percent",
                base.price_change_percent,
            )?,
            price_zero: raw.price_zero.unwrap_or(base.price_zero),
            removed_items: self.bounded(
                raw.removed_items,
                "hold_removed_items",
                base.removed_items,
            )?,
            newly_sold_out: self.bounded(
                raw.newly_sold_out,
                "hold_newly_sold_out",
                base.newly_sold_out,
            )?,
        })
    }
}
