//! GloriaFood's Fetch Menu v2 answer as serde reads it: only the fields
//! the mapping uses, every one optional the way the API sends it.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The Fetch Menu v2 answer, with only the fields the mapping reads. Lists
/// may be `null`; prices stay raw JSON so their decimal text survives.
#[derive(Debug, Deserialize)]
pub(super) struct GfMenu {
    #[serde(default)]
    pub(super) restaurant_id: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) currency: Option<String>,
    #[serde(default)]
    pub(super) categories: Option<Vec<GfCategory>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GfCategory {
    pub(super) id: serde_json::Value,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) active: Option<bool>,
    #[serde(default)]
    pub(super) active_days: Option<i64>,
    #[serde(default)]
    pub(super) active_begin: Option<String>,
    #[serde(default)]
    pub(super) active_end: Option<String>,
    #[serde(default)]
    pub(super) items: Option<Vec<GfItem>>,
    #[serde(default)]
    pub(super) groups: Option<Vec<GfGroup>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GfItem {
    pub(super) id: serde_json::Value,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) price: Option<Box<RawValue>>,
    #[serde(default)]
    pub(super) active: Option<bool>,
    #[serde(default)]
    pub(super) active_days: Option<i64>,
    #[serde(default)]
    pub(super) active_begin: Option<String>,
    #[serde(default)]
    pub(super) active_end: Option<String>,
    #[serde(default)]
    pub(super) tags: Option<Vec<String>>,
    #[serde(default)]
    pub(super) extras: Option<GfExtras>,
    #[serde(default)]
    pub(super) sizes: Option<Vec<GfSize>>,
    #[serde(default)]
    pub(super) groups: Option<Vec<GfGroup>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GfSize {
    pub(super) id: serde_json::Value,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) price: Option<Box<RawValue>>,
    #[serde(default)]
    pub(super) default: Option<bool>,
    #[serde(default)]
    pub(super) groups: Option<Vec<GfGroup>>,
    #[serde(default)]
    pub(super) extras: Option<GfExtras>,
}

/// `extras` of an item or a size; every part may be missing or `null`.
#[derive(Debug, Deserialize)]
pub(super) struct GfExtras {
    #[serde(default)]
    pub(super) menu_item_allergens_values: Option<Vec<GfAllergen>>,
    #[serde(default)]
    pub(super) menu_item_order_types: Option<Vec<String>>,
    #[serde(default)]
    pub(super) menu_item_nutritional_values: Option<Vec<GfNutrient>>,
    #[serde(default)]
    pub(super) menu_item_nutritional_values_size: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GfAllergen {
    #[serde(default)]
    pub(super) id: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GfNutrient {
    #[serde(default)]
    pub(super) id: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) value: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GfGroup {
    pub(super) id: serde_json::Value,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) required: Option<bool>,
    #[serde(default)]
    pub(super) force_min: Option<i64>,
    #[serde(default)]
    pub(super) force_max: Option<i64>,
    #[serde(default)]
    pub(super) allow_quantity: Option<bool>,
    #[serde(default)]
    pub(super) options: Option<Vec<GfOption>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GfOption {
    pub(super) id: serde_json::Value,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) price: Option<Box<RawValue>>,
    #[serde(default)]
    pub(super) default: Option<bool>,
}
