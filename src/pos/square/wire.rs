//! Square's Catalog API answers as serde reads them: only the fields the
//! mapping uses, every one optional the way the API sends it; the
//! [`Catalog`] the pages of one pass add up to; and how Square's conventions
//! read (presence per location, `YES`/`NO` toggles, `-1` for unset).
//! Pure data: no I/O, no menu model.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

/// One answer of `POST /v2/catalog/search`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SearchPage {
    #[serde(default)]
    pub(super) objects: Vec<CatalogObject>,
    #[serde(default)]
    pub(super) related_objects: Vec<CatalogObject>,
    #[serde(default)]
    pub(super) cursor: Option<String>,
    #[serde(default)]
    pub(super) latest_time: Option<String>,
}

/// The objects of every page, sorted by type, each id once, deleted ones
/// dropped; kept between passes and brought up to date by `square/changes.rs`.
#[derive(Debug, Clone, Default)]
pub(super) struct Catalog {
    pub(super) items: Vec<CatalogObject>,
    /// Variations returned as objects of their own (besides those nested in items).
    pub(super) variations: Vec<CatalogObject>,
    pub(super) categories: Vec<CatalogObject>,
    pub(super) modifier_lists: BTreeMap<String, CatalogObject>,
    pub(super) images: BTreeMap<String, CatalogObject>,
    pub(super) periods: BTreeMap<String, CatalogObject>,
    pub(super) taxes: Vec<CatalogObject>,
    /// Ids already taken in, so an object repeated across pages counts once.
    seen: HashSet<String>,
}

impl Catalog {
    /// Takes in one page of a full read; returns the cursor of the next one, if any.
    pub(super) fn add(&mut self, page: SearchPage) -> Option<String> {
        for object in page.objects.into_iter().chain(page.related_objects) {
            if object.is_deleted == Some(true) || !self.seen.insert(object.id.clone()) {
                continue;
            }
            match object.kind.as_str() {
                "ITEM" => self.items.push(object),
                "ITEM_VARIATION" => self.variations.push(object),
                "CATEGORY" => self.categories.push(object),
                "MODIFIER_LIST" => {
                    self.modifier_lists.insert(object.id.clone(), object);
                }
                "IMAGE" => {
                    self.images.insert(object.id.clone(), object);
                }
                "AVAILABILITY_PERIOD" => {
                    self.periods.insert(object.id.clone(), object);
                }
                "TAX" => self.taxes.push(object),
                _ => {}
            }
        }
        page.cursor.filter(|cursor| !cursor.is_empty())
    }
}

/// A `CatalogObject`, with only the fields the mapping reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct CatalogObject {
    #[serde(rename = "type", default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) id: String,
    #[serde(default)]
    pub(super) is_deleted: Option<bool>,
    #[serde(default)]
    pub(super) present_at_all_locations: Option<bool>,
    #[serde(default)]
    pub(super) present_at_location_ids: Vec<String>,
    #[serde(default)]
    pub(super) absent_at_location_ids: Vec<String>,
    #[serde(default)]
    pub(super) item_data: Option<ItemData>,
    #[serde(default)]
    pub(super) item_variation_data: Option<VariationData>,
    #[serde(default)]
    pub(super) category_data: Option<CategoryData>,
    #[serde(default)]
    pub(super) modifier_list_data: Option<ModifierListData>,
    #[serde(default)]
    pub(super) modifier_data: Option<ModifierData>,
    #[serde(default)]
    pub(super) image_data: Option<ImageData>,
    #[serde(default)]
    pub(super) availability_period_data: Option<PeriodData>,
    #[serde(default)]
    pub(super) tax_data: Option<TaxData>,
}

/// One day's window of a category: `HH:MM:SS` local times (`8:30:00` too).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct PeriodData {
    #[serde(default)]
    pub(super) start_local_time: Option<String>,
    #[serde(default)]
    pub(super) end_local_time: Option<String>,
    #[serde(default)]
    pub(super) day_of_week: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct TaxData {
    /// `ADDITIVE` (added on top of prices) or `INCLUSIVE` (in them).
    #[serde(default)]
    pub(super) inclusion_type: Option<String>,
    #[serde(default)]
    pub(super) enabled: Option<bool>,
}

/// `food_and_beverage_details` of an item.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct FoodDetails {
    #[serde(default)]
    pub(super) calorie_count: Option<i64>,
    #[serde(default)]
    pub(super) dietary_preferences: Vec<FoodFact>,
    #[serde(default)]
    pub(super) ingredients: Vec<FoodFact>,
}

/// A dietary preference or an ingredient: a `STANDARD` name or a `CUSTOM` one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct FoodFact {
    #[serde(default)]
    pub(super) standard_name: Option<String>,
    #[serde(default)]
    pub(super) custom_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct ItemData {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) is_archived: Option<bool>,
    /// The categories the item is in, with its ordinal in each (newer API versions).
    #[serde(default)]
    pub(super) categories: Vec<Ordinal>,
    #[serde(default)]
    pub(super) reporting_category: Option<Ordinal>,
    /// The single category of older API versions.
    #[serde(default)]
    pub(super) category_id: Option<String>,
    #[serde(default)]
    pub(super) variations: Vec<CatalogObject>,
    #[serde(default)]
    pub(super) modifier_list_info: Vec<ModifierListInfo>,
    #[serde(default)]
    pub(super) image_ids: Vec<String>,
    #[serde(default)]
    pub(super) food_and_beverage_details: Option<FoodDetails>,
    /// Older API versions: whether the item is sold online at all.
    #[serde(default)]
    pub(super) available_online: Option<bool>,
    /// Undocumented in the current spec; `HIDDEN` or `UNAVAILABLE` keep it off the site.
    #[serde(default)]
    pub(super) ecom_visibility: Option<String>,
}

/// A reference with a position: `{id, ordinal}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct Ordinal {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) ordinal: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct VariationData {
    #[serde(default)]
    pub(super) item_id: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) ordinal: Option<i64>,
    #[serde(default)]
    pub(super) pricing_type: Option<String>,
    #[serde(default)]
    pub(super) price_money: Option<Money>,
    #[serde(default)]
    pub(super) location_overrides: Vec<LocationOverride>,
    #[serde(default)]
    pub(super) image_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct Money {
    #[serde(default)]
    pub(super) amount: Option<i64>,
    #[serde(default)]
    pub(super) currency: Option<String>,
}

/// What one location changes of a variation or a modifier.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct LocationOverride {
    #[serde(default)]
    pub(super) location_id: Option<String>,
    #[serde(default)]
    pub(super) price_money: Option<Money>,
    #[serde(default)]
    pub(super) sold_out: Option<bool>,
    /// RFC 3339: the variation is no longer sold out after this time.
    #[serde(default)]
    pub(super) sold_out_valid_until: Option<String>,
    /// `VARIABLE_PRICING` here: the price is keyed in at the till, so no site price.
    #[serde(default)]
    pub(super) pricing_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct CategoryData {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) parent_category: Option<Ordinal>,
    #[serde(default)]
    pub(super) availability_period_ids: Vec<String>,
    #[serde(default)]
    pub(super) online_visibility: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct ModifierListData {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) selection_type: Option<String>,
    #[serde(default)]
    pub(super) modifier_type: Option<String>,
    #[serde(default)]
    pub(super) min_selected_modifiers: Option<i64>,
    #[serde(default)]
    pub(super) max_selected_modifiers: Option<i64>,
    #[serde(default)]
    pub(super) hidden_from_customer: Option<bool>,
    #[serde(default)]
    pub(super) allow_quantities: Option<bool>,
    #[serde(default)]
    pub(super) modifiers: Vec<CatalogObject>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct ModifierData {
    #[serde(default)]
    pub(super) name: Option<String>,
    /// The list the modifier belongs to: where a changed modifier goes.
    #[serde(default)]
    pub(super) modifier_list_id: Option<String>,
    #[serde(default)]
    pub(super) ordinal: Option<i64>,
    #[serde(default)]
    pub(super) price_money: Option<Money>,
    #[serde(default)]
    pub(super) hidden_online: Option<bool>,
    #[serde(default)]
    pub(super) on_by_default: Option<bool>,
    #[serde(default)]
    pub(super) location_overrides: Vec<LocationOverride>,
}

/// How one item uses one modifier list; `-1` in min/max means "the list's own".
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct ModifierListInfo {
    pub(super) modifier_list_id: String,
    #[serde(default)]
    pub(super) min_selected_modifiers: Option<i64>,
    #[serde(default)]
    pub(super) max_selected_modifiers: Option<i64>,
    #[serde(default)]
    pub(super) enabled: Option<bool>,
    #[serde(default)]
    pub(super) ordinal: Option<i64>,
    /// `YES`, `NO` or `NOT_SET` (the list's own).
    #[serde(default)]
    pub(super) allow_quantities: Option<String>,
    #[serde(default)]
    pub(super) modifier_overrides: Vec<ModifierOverride>,
}

/// How one item changes one modifier: `YES`/`NO`/`NOT_SET` toggles.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct ModifierOverride {
    #[serde(default)]
    pub(super) modifier_id: Option<String>,
    #[serde(default)]
    pub(super) on_by_default: Option<bool>,
    #[serde(default)]
    pub(super) on_by_default_override: Option<String>,
    #[serde(default)]
    pub(super) hidden_online_override: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(super) struct ImageData {
    #[serde(default)]
    pub(super) url: Option<String>,
}

// How Square's fields read: the conventions the API documents for them.

impl CatalogObject {
    /// Whether the object is sold at `location`.
    pub(super) fn is_at(&self, location: &str) -> bool {
        let listed = |ids: &[String]| ids.iter().any(|id| id == location);
        if self.present_at_all_locations.unwrap_or(true) {
            !listed(&self.absent_at_location_ids)
        } else {
            listed(&self.present_at_location_ids)
        }
    }
}

impl LocationOverride {
    /// The override for `location` among `overrides`, if the object has one.
    pub(super) fn find<'o>(overrides: &'o [Self], location: &str) -> Option<&'o Self> {
        overrides
            .iter()
            .find(|entry| entry.location_id.as_deref() == Some(location))
    }
}

impl Money {
    /// The amount (already in minor units) and its currency.
    pub(super) fn split(self) -> Option<(i64, Option<String>)> {
        Some((self.amount?, self.currency))
    }
}

/// Square's `YES`/`NO` toggle; `NOT_SET` or nothing leaves the object's own value.
pub(super) fn toggle(value: Option<&str>) -> Option<bool> {
    match value {
        Some("YES") => Some(true),
        Some("NO") => Some(false),
        _ => None,
    }
}

/// Square's `-1` (and anything negative) means unset.
pub(super) fn set(value: Option<i64>) -> Option<u32> {
    value.and_then(|value| u32::try_from(value).ok())
}
