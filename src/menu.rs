//! The published `menu.json`: the one schema every provider maps into.
//!
//! Documented for the web team in `docs/menu-schema.md` and as a JSON Schema in
//! `docs/menu.schema.json`. It holds no wall-clock time, so the same input
//! gives byte-equal output and an unchanged menu is recognisable as such.

use serde::{Deserialize, Serialize};

/// The currency when the POS names none (`pos-api.md`).
pub const DEFAULT_CURRENCY: &str = "KRW";

/// Bumped whenever the shape of `menu.json` changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Menu {
    pub schema_version: u32,
    pub store: StoreInfo,
    /// ISO 4217 code; every price in the file is an integer in its minor unit.
    pub currency: String,
    /// Visible categories in display order, each with its visible items in order.
    pub categories: Vec<Category>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreInfo {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Category {
    pub id: String,
    pub name: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Item {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The price to show: the default variant's price when there are variants.
    pub price: i64,
    pub sold_out: bool,
    /// Root-relative path of the image in the same release, e.g. `/images/3fa9c2e1d0b4a7f6.jpg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Sizes or variations with their own price; empty when the item has one price.
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub option_groups: Vec<OptionGroup>,
    /// The POS image id this item asked for; resolved into `image` by the images stage.
    #[serde(skip)]
    pub image_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Variant {
    pub id: String,
    pub name: String,
    pub price: i64,
    pub sold_out: bool,
    pub is_default: bool,
    /// Option groups that only apply to this variant (GloriaFood size groups).
    #[serde(default)]
    pub option_groups: Vec<OptionGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptionGroup {
    pub id: String,
    pub name: String,
    pub min_select: u32,
    /// `None` means no upper limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_select: Option<u32>,
    pub options: Vec<OptionChoice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptionChoice {
    pub id: String,
    pub name: String,
    /// Added to the item's price when chosen; may be negative for a discount.
    pub price_delta: i64,
    pub sold_out: bool,
}

impl Menu {
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.categories
            .iter()
            .flat_map(|category| category.items.iter())
    }

    pub fn items_mut(&mut self) -> impl Iterator<Item = &mut Item> {
        self.categories
            .iter_mut()
            .flat_map(|category| category.items.iter_mut())
    }

    pub fn item_count(&self) -> usize {
        self.categories
            .iter()
            .map(|category| category.items.len())
            .sum()
    }

    /// The exact bytes written to `data/menu.json`: pretty, UTF-8, newline-terminated.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a Menu always serialises");
        bytes.push(b'\n');
        bytes
    }
}
