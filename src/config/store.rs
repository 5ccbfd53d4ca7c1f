//! `[[store]]` entries: ids, names, and the POS and targets each refers to, resolved.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use super::checker::Checker;
use super::daemon::DaemonSettings;
use super::error::ConfigError;
use super::gates::{Gates, RawGates};
use super::pos::PosEndpoint;
use super::raw::RawStore;
use super::schedule::Schedule;
use super::target::Target;
use super::variants::{ImageVariants, RawImageVariants};

/// A checked `[[store]]`. Equal stores sync the same way: a reload passes
/// only the stores that are new or not equal to their old selves.
#[derive(Debug, PartialEq)]
pub struct Store {
    /// Lower-case letters, digits and `-`: safe as a directory name and an rsync path.
    pub id: String,
    /// The store's POS endpoint, resolved: a `[pos.*]` of this config.
    pub pos: Arc<PosEndpoint>,
    pub pos_store_id: String,
    /// `square` stores only: the Square location, when it is not `pos_store_id`.
    pub location_id: Option<String>,
    pub schedule: Schedule,
    /// The store's targets, resolved: every one is a `[target.*]` of this config.
    pub targets: Vec<Arc<Target>>,
    pub settings: StoreSettings,
    /// What holds a change for approval; not part of the content hash.
    pub gates: Gates,
}

/// What a store's `menu.json` depends on besides the POS documents.
///
/// It is part of the change-detection hash, so a settings change republishes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreSettings {
    pub display_name: String,
    pub hidden_categories: BTreeSet<String>,
    pub hidden_items: BTreeSet<String>,
    pub price_overrides: BTreeMap<String, i64>,
    /// IANA time zone the store's windows are in.
    pub time_zone: String,
    /// Whether allergens from the POS are published.
    pub publish_allergens: bool,
    /// How photos are published: `menu.json` names what they make.
    pub image_variants: ImageVariants,
}

impl Checker<'_> {
    pub(super) fn check_store(
        &self,
        raw: &RawStore,
        daemon: &DaemonSettings,
        pos: &BTreeMap<String, Arc<PosEndpoint>>,
        targets: &BTreeMap<String, Arc<Target>>,
    ) -> Result<Store, ConfigError> {
        validate_store_id(raw.id.get_ref()).map_err(|why| self.error(raw.id.span(), why))?;
        if raw.name.get_ref().trim().is_empty() {
            return Err(self.error(raw.name.span(), "store `name` must not be empty"));
        }
        let Some(endpoint) = pos.get(raw.pos.get_ref()) else {
            return Err(self.error(
                raw.pos.span(),
                format!(
                    "store refers to pos `{}`, which no [pos.*] section defines",
                    raw.pos.get_ref()
                ),
            ));
        };
        if raw.pos_store_id.get_ref().trim().is_empty() {
            return Err(self.error(raw.pos_store_id.span(), "`pos_store_id` must not be empty"));
        }
        let schedule = match &raw.schedule {
            Some(schedule) => self.check_schedule(schedule)?,
            None => daemon.schedule.clone(),
        };
        let mut resolved: Vec<Arc<Target>> = Vec::new();
        for target in &raw.targets {
            let Some(found) = targets.get(target.get_ref()) else {
                return Err(self.error(
                    target.span(),
                    format!(
                        "store refers to target `{}`, which no [target.*] section defines",
                        target.get_ref()
                    ),
                ));
            };
            if resolved.iter().any(|kept| kept.name == *target.get_ref()) {
                return Err(self.error(
                    target.span(),
                    format!("target `{}` is listed twice", target.get_ref()),
                ));
            }
            resolved.push(Arc::clone(found));
        }
        let mut price_overrides = BTreeMap::new();
        for (item, price) in &raw.price_overrides {
            if *price.get_ref() < 0 {
                return Err(self.error(
                    price.span(),
                    format!("price override for `{item}` must not be negative"),
                ));
            }
            price_overrides.insert(item.clone(), *price.get_ref());
        }
        let gates = self.check_gates(
            RawGates {
                price_change_percent: &raw.hold_price_change_percent,
                price_zero: raw.hold_price_zero,
                removed_items: &raw.hold_removed_items,
                newly_sold_out: &raw.hold_newly_sold_out,
            },
            daemon.gates,
        )?;
        Ok(Store {
            id: raw.id.get_ref().clone(),
            pos: Arc::clone(endpoint),
            pos_store_id: raw.pos_store_id.get_ref().clone(),
            location_id: raw.location_id.as_ref().map(|id| id.get_ref().clone()),
            schedule,
            targets: resolved,
            gates,
            settings: StoreSettings {
                display_name: raw.name.get_ref().clone(),
                hidden_categories: raw.hidden_categories.iter().cloned().collect(),
                hidden_items: raw.hidden_items.iter().cloned().collect(),
                price_overrides,
                time_zone: match &raw.time_zone {
                    Some(zone) => self.check_time_zone(zone)?,
                    None => daemon.time_zone.clone(),
                },
                publish_allergens: raw.publish_allergens.unwrap_or(true),
                image_variants: self.check_image_variants(
                    RawImageVariants {
                        enabled: raw.image_variants,
                        widths: &raw.image_widths,
                        quality: &raw.image_quality,
                        keep_original: raw.keep_original_images,
                    },
                    &daemon.image_variants,
                )?,
            },
        })
    }
}

/// Store ids become directory names and rsync paths, so they are kept boring.
pub fn validate_store_id(id: &str) -> Result<(), String> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "store id `{id}` must be 1 to 64 lower-case letters, digits or `-`, not starting with `-`"
        ))
    }
}
