//! The `gloriafood` provider: GloriaFood's Fetch Menu API v2 mapped into the menu model.
//!
//! One `GET <base>/pos/menu` with the restaurant key in `Authorization` and
//! `Glf-Api-Version: 2` answers the whole menu of the restaurant the key
//! belongs to, so a store's `pos_store_id` must be that restaurant's id.
//!
//! - Categories and items keep GloriaFood's order; `active: false` hides one.
//! - A category's option groups apply to each of its items, before the item's own.
//! - `sizes` become variants whose price is the item's price plus the size's
//!   (GloriaFood's default size is usually priced `0`); a size's groups
//!   apply only to that variant.
//! - A group's `force_min` counts only when the group is `required` (then at
//!   least 1); a `force_max` of 0 means no limit.
//! - Prices are JSON numbers such as `7.5`: they are read from their literal
//!   text as decimals, never through `f64`, into the currency's minor units
//!   ([`minor_units`]); an item whose price does not fit is left out and reported.
//! - GloriaFood has no image URLs: items have no image.
//!
//! Change signal: the body itself. A fetch hands back the body's sha256
//! (with the store's `pos_store_id` and [`MAPPING_REVISION`]) and maps it only
//! when the pipeline asks, so an unchanged body is neither parsed nor mapped:
//! the pipeline's memo already knows its content hash. Nothing is kept here.

use reqwest::Method;
use reqwest::header::ACCEPT;
use sha2::{Digest, Sha256};
use url::Url;

use super::client::{Asked, KeyHeader, PosClient, check_status, read_json_body, send};
use super::doc::{
    CategoryDoc, DocProblem, ImagesDoc, ItemDoc, MenuDoc, Nutrition, OptionDoc, OptionGroupDoc,
    VariantDoc, WindowDoc,
};
use super::fetched::Vendor;
use super::keys::ApiKey;
use super::parse::parse_document;
use crate::error::{Kind, StoreError};
use crate::menu::{DEFAULT_CURRENCY, NutritionBasis};

mod money;
mod wire;

use money::minor_units;
use wire::{GfAllergen, GfCategory, GfExtras, GfGroup, GfItem, GfMenu, GfSize};

const MENU_PATH: &str = "pos/menu";

/// Bumped when the mapping gives something else for the same body, so that
/// the pipeline's memo (which outlives the process) maps it again. The
/// package version counts too, for an upgrade that forgets to bump this.
const MAPPING_REVISION: u32 = 1;

#[derive(Debug)]
pub struct GloriaFoodPos {
    client: PosClient,
}

impl GloriaFoodPos {
    /// GloriaFood takes the bare key in `Authorization`.
    pub(super) const KEY_HEADER: KeyHeader = KeyHeader::Authorization;

    /// `client` was built with [`Self::KEY_HEADER`].
    pub(super) fn new(client: PosClient) -> GloriaFoodPos {
        GloriaFoodPos { client }
    }

    /// Reads the restaurant's menu; it is parsed and mapped only when the
    /// pipeline asks the [`Vendor`] for its documents.
    pub async fn fetch_documents(
        &self,
        pos_store_id: &str,
        max_bytes: u64,
    ) -> Result<Vendor, StoreError> {
        let key = self.client.api_key()?;
        let url = self.client.url(MENU_PATH);
        let body = self
            .client
            .call(|| self.get_once(&url, &key, max_bytes))
            .await?;
        let digest = body_digest(pos_store_id, &body);
        let pos_store_id = pos_store_id.to_string();
        Ok(Vendor::new(digest, move || map_body(&pos_store_id, &body)))
    }

    async fn get_once(
        &self,
        url: &Url,
        key: &ApiKey,
        max_bytes: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let request = self
            .client
            .request(Method::GET, url, key)?
            .header("Glf-Api-Version", "2")
            .header(ACCEPT, "application/json");
        let response = check_status(url, send(url, request).await?, Asked::Document)?;
        read_json_body("GET", url, response, max_bytes).await
    }
}

/// What names a body's mapping: the body, the store it is read for, and the mapping's revision.
fn body_digest(pos_store_id: &str, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let revision = format!(
        "gloriafood mapping {MAPPING_REVISION} menusync {}",
        env!("CARGO_PKG_VERSION")
    );
    for part in [revision.as_bytes(), pos_store_id.as_bytes(), body] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Parses and maps a body for the store `pos_store_id`.
fn map_body(pos_store_id: &str, body: &[u8]) -> Result<(MenuDoc, ImagesDoc), StoreError> {
    let menu = parse_menu(body)?;
    if let Some(restaurant) = menu.restaurant_id.as_ref().map(id_text)
        && restaurant != pos_store_id
    {
        return Err(StoreError::new(
            Kind::Settings,
            format!(
                "the GloriaFood key is restaurant {restaurant}'s, but the store's pos_store_id is {pos_store_id:?}"
            ),
        ));
    }
    Ok((map_menu(&menu), ImagesDoc::default()))
}

/// Checks the body is a JSON object, then reads it keeping each price's literal text.
fn parse_menu(body: &[u8]) -> Result<GfMenu, StoreError> {
    parse_document::<serde::de::IgnoredAny>("menu", body)?;
    serde_json::from_slice(body).map_err(|err| {
        StoreError::new(
            Kind::BadDocument,
            format!("the GloriaFood menu does not fit Fetch Menu v2: {err}"),
        )
    })
}

/// GloriaFood ids are integers; anything else is kept as written.
fn id_text(id: &serde_json::Value) -> String {
    match id {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn map_menu(menu: &GfMenu) -> MenuDoc {
    let currency = menu.currency.as_deref().unwrap_or(DEFAULT_CURRENCY);
    let mut categories = Vec::new();
    let mut items = Vec::new();
    let mut problems = Vec::new();
    for category in menu.categories.iter().flatten() {
        let category_id = id_text(&category.id);
        categories.push(CategoryDoc {
            category_id: category_id.clone(),
            name: category.name.clone().unwrap_or_default(),
            display_order: None,
            visible: Some(category.active != Some(false)),
            availability: windows(
                category.active_days,
                category.active_begin.as_deref(),
                category.active_end.as_deref(),
            ),
        });
        for item in category.items.iter().flatten() {
            match map_item(item, category, currency) {
                Ok(doc) => items.push(doc),
                Err(message) => problems.push(DocProblem {
                    subject: format!("item {}", id_text(&item.id)),
                    message,
                }),
            }
        }
    }
    MenuDoc {
        store_id: menu.restaurant_id.as_ref().map(id_text),
        version: None,
        updated_at: None,
        currency: menu.currency.clone(),
        // The Fetch Menu answer does not say; the restaurant's tax setting does.
        prices_include_tax: None,
        categories,
        items,
        problems,
    }
}

/// GloriaFood's day mask and times as windows. The mask's bit order is not
/// documented; menusync reads bit 0 as Monday through bit 6 as Sunday (the
/// ISO order), and 0 or 127 as every day. No times and every day is no window.
fn windows(days: Option<i64>, begin: Option<&str>, end: Option<&str>) -> Vec<WindowDoc> {
    let begin = begin.map(str::trim).filter(|text| !text.is_empty());
    let end = end.map(str::trim).filter(|text| !text.is_empty());
    let mask = days.filter(|mask| (1..127).contains(mask));
    if mask.is_none() && begin.is_none() && end.is_none() {
        return Vec::new();
    }
    let days = DAY_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask.is_none_or(|mask| mask & (1 << bit) != 0))
        .map(|(_, name)| (*name).to_string())
        .collect();
    vec![WindowDoc {
        days,
        start: begin.unwrap_or("00:00").to_string(),
        end: end.unwrap_or("24:00").to_string(),
    }]
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// GloriaFood's built-in allergen ids (the US "big 8"); others are a
/// restaurant's own, known by their name only.
fn allergen_name(value: &GfAllergen) -> Option<String> {
    let builtin = match value.id.as_ref().and_then(serde_json::Value::as_i64) {
        Some(1) => Some("milk"),
        Some(2) => Some("tree-nuts"),
        Some(3) => Some("eggs"),
        Some(4) => Some("peanuts"),
        Some(5) => Some("fish"),
        Some(6) => Some("wheat"),
        Some(7) => Some("crustaceans"),
        Some(8) => Some("soy"),
        _ => None,
    };
    builtin
        .map(str::to_string)
        .or_else(|| value.name.clone())
        .filter(|name| !name.trim().is_empty())
}

/// Nutrition values of a size; ids 9 to 14 are energy (kcal), carbohydrate,
/// fat, protein, sugars and salt (grams), values are text with `.` or `,`.
fn nutrition(extras: Option<&GfExtras>) -> Option<Nutrition> {
    let extras = extras?;
    let values = extras.menu_item_nutritional_values.as_ref()?;
    let basis = match extras.menu_item_nutritional_values_size.as_deref() {
        Some("per_100g") => NutritionBasis::Per100g,
        Some("per_100ml") => NutritionBasis::Per100ml,
        _ => NutritionBasis::Serving,
    };
    let mut facts = Nutrition {
        basis,
        energy_kcal: None,
        fat_g: None,
        carbohydrate_g: None,
        sugars_g: None,
        protein_g: None,
        salt_g: None,
    };
    for value in values {
        let Some(amount) = value
            .value
            .as_ref()
            .map(|text| match text {
                serde_json::Value::String(text) => text.trim().replace(',', "."),
                other => other.to_string(),
            })
            .and_then(|text| text.parse::<f64>().ok())
            .filter(|amount| amount.is_finite() && *amount >= 0.0)
        else {
            continue;
        };
        let slot = match value.id.as_ref().and_then(serde_json::Value::as_i64) {
            Some(9) => &mut facts.energy_kcal,
            Some(10) => &mut facts.carbohydrate_g,
            Some(11) => &mut facts.fat_g,
            Some(12) => &mut facts.protein_g,
            Some(13) => &mut facts.sugars_g,
            Some(14) => &mut facts.salt_g,
            _ => continue,
        };
        *slot = Some(amount);
    }
    let any = [
        facts.energy_kcal,
        facts.fat_g,
        facts.carbohydrate_g,
        facts.sugars_g,
        facts.protein_g,
        facts.salt_g,
    ]
    .iter()
    .any(Option::is_some);
    any.then_some(facts)
}

/// One item of `category`; the category's option groups come before the item's own.
fn map_item(item: &GfItem, category: &GfCategory, currency: &str) -> Result<ItemDoc, String> {
    let price = match &item.price {
        Some(literal) => minor_units(literal.get(), currency)?,
        None => return Err("has no price".into()),
    };
    let option_groups = map_groups(
        category
            .groups
            .iter()
            .flatten()
            .chain(item.groups.iter().flatten()),
        currency,
    )?;
    let variants = item
        .sizes
        .iter()
        .flatten()
        .map(|size| map_size(size, price, currency))
        .collect::<Result<Vec<_>, _>>()?;
    let extras = item.extras.as_ref();
    let allergens = extras
        .and_then(|extras| extras.menu_item_allergens_values.as_ref())
        .into_iter()
        .flatten()
        .filter_map(allergen_name)
        .collect();
    let tags = item.tags.clone().unwrap_or_default();
    // GloriaFood's documented tags are dietary facts, except RAW.
    let dietary = tags.clone();
    // An item for order types none of which is pickup or delivery is not for online ordering.
    let online = extras
        .and_then(|extras| extras.menu_item_order_types.as_ref())
        .is_none_or(|types| {
            types
                .iter()
                .any(|kind| matches!(kind.as_str(), "pickup" | "delivery" | "order_ahead"))
        });
    Ok(ItemDoc {
        item_id: id_text(&item.id),
        category_id: id_text(&category.id),
        name: item.name.clone().unwrap_or_default(),
        name_en: None,
        description: item.description.clone().filter(|text| !text.is_empty()),
        price,
        display_order: None,
        sold_out: None,
        visible: Some(item.active != Some(false) && online),
        image_id: None,
        tags,
        option_groups,
        variants,
        also_in: Vec::new(),
        availability: windows(
            item.active_days,
            item.active_begin.as_deref(),
            item.active_end.as_deref(),
        ),
        allergens,
        dietary,
        // A single size folds into the item, and its nutrition with it.
        nutrition: nutrition(extras),
        sold_out_until: None,
    })
}

/// A size as a variant: the item's price plus the size's.
fn map_size(size: &GfSize, item_price: i64, currency: &str) -> Result<VariantDoc, String> {
    let size_id = id_text(&size.id);
    let extra = match &size.price {
        Some(literal) => {
            minor_units(literal.get(), currency).map_err(|why| format!("size {size_id}: {why}"))?
        }
        None => 0,
    };
    let price = item_price
        .checked_add(extra)
        .ok_or_else(|| format!("size {size_id} costs more than can be counted"))?;
    Ok(VariantDoc {
        variant_id: size_id,
        name: size.name.clone().unwrap_or_default(),
        price,
        sold_out: None,
        is_default: size.default,
        option_groups: map_groups(size.groups.iter().flatten(), currency)?,
        image_id: None,
        sold_out_until: None,
        nutrition: nutrition(size.extras.as_ref()),
    })
}

fn map_groups<'g>(
    groups: impl Iterator<Item = &'g GfGroup>,
    currency: &str,
) -> Result<Vec<OptionGroupDoc>, String> {
    groups.map(|group| map_group(group, currency)).collect()
}

fn map_group(group: &GfGroup, currency: &str) -> Result<OptionGroupDoc, String> {
    let group_id = id_text(&group.id);
    let count = |value: i64| u32::try_from(value.max(0)).unwrap_or(u32::MAX);
    let min_select = if group.required == Some(true) {
        count(group.force_min.unwrap_or(1)).max(1)
    } else {
        0
    };
    let max_select = group.force_max.filter(|max| *max > 0).map(count);
    let mut options = Vec::new();
    for option in group.options.iter().flatten() {
        let option_id = id_text(&option.id);
        let price = match &option.price {
            Some(literal) => minor_units(literal.get(), currency)
                .map_err(|why| format!("option {option_id} of group {group_id}: {why}"))?,
            None => 0,
        };
        options.push(OptionDoc {
            option_id,
            name: option.name.clone().unwrap_or_default(),
            price,
            sold_out: None,
            is_default: option.default,
            max_quantity: None,
        });
    }
    Ok(OptionGroupDoc {
        group_id,
        name: group.name.clone().unwrap_or_default(),
        min_select: Some(min_select),
        max_select,
        allow_quantities: group.allow_quantity,
        options,
    })
}

#[cfg(test)]
mod tests;
