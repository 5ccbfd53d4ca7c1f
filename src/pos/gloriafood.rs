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
//! Change signal: none; the content hash of the mapped menu decides.

use reqwest::Method;
use reqwest::header::ACCEPT;
use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use super::client::{Asked, KeyHeader, PosClient, check_status, read_json_body, send};
use super::doc::{
    CategoryDoc, DocProblem, ImagesDoc, ItemDoc, MenuDoc, OptionDoc, OptionGroupDoc, VariantDoc,
};
use super::keys::ApiKey;
use super::resilience::ResilienceSettings;
use crate::config::{ApiKeySource, DaemonSettings};
use crate::error::{Kind, StoreError};
use crate::menu::DEFAULT_CURRENCY;

mod money;

use money::minor_units;

const MENU_PATH: &str = "pos/menu";

#[derive(Debug)]
pub struct GloriaFoodPos {
    client: PosClient,
}

impl GloriaFoodPos {
    pub fn new(
        name: &str,
        base_url: &Url,
        key: ApiKeySource,
        resilience: ResilienceSettings,
        daemon: &DaemonSettings,
    ) -> Result<GloriaFoodPos, StoreError> {
        Ok(GloriaFoodPos {
            client: PosClient::new(
                name,
                base_url,
                key,
                KeyHeader::Authorization,
                resilience,
                daemon,
            )?,
        })
    }

    pub async fn fetch_documents(
        &self,
        pos_store_id: &str,
        max_bytes: u64,
    ) -> Result<(MenuDoc, ImagesDoc), StoreError> {
        let key = self.client.api_key()?;
        let url = self.client.url(MENU_PATH);
        let body = self
            .client
            .call(|| self.get_once(&url, &key, max_bytes))
            .await?;
        let menu = parse_menu(&body)?;
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

/// Checks the body is a JSON object, then reads it keeping each price's literal text.
fn parse_menu(body: &[u8]) -> Result<GfMenu, StoreError> {
    super::parse_document::<serde::de::IgnoredAny>("menu", body)?;
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
        categories,
        items,
        problems,
    }
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
    Ok(ItemDoc {
        item_id: id_text(&item.id),
        category_id: id_text(&category.id),
        name: item.name.clone().unwrap_or_default(),
        name_en: None,
        description: item.description.clone().filter(|text| !text.is_empty()),
        price,
        display_order: None,
        sold_out: None,
        visible: Some(item.active != Some(false)),
        image_id: None,
        tags: item.tags.clone().unwrap_or_default(),
        option_groups,
        variants,
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
        });
    }
    Ok(OptionGroupDoc {
        group_id,
        name: group.name.clone().unwrap_or_default(),
        min_select: Some(min_select),
        max_select,
        options,
    })
}

/// The Fetch Menu v2 answer, with only the fields the mapping reads. Lists
/// may be `null`; prices stay raw JSON so their decimal text survives.
#[derive(Debug, Deserialize)]
struct GfMenu {
    #[serde(default)]
    restaurant_id: Option<serde_json::Value>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    categories: Option<Vec<GfCategory>>,
}

#[derive(Debug, Deserialize)]
struct GfCategory {
    id: serde_json::Value,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    items: Option<Vec<GfItem>>,
    #[serde(default)]
    groups: Option<Vec<GfGroup>>,
}

#[derive(Debug, Deserialize)]
struct GfItem {
    id: serde_json::Value,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    price: Option<Box<RawValue>>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    sizes: Option<Vec<GfSize>>,
    #[serde(default)]
    groups: Option<Vec<GfGroup>>,
}

#[derive(Debug, Deserialize)]
struct GfSize {
    id: serde_json::Value,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    price: Option<Box<RawValue>>,
    #[serde(default)]
    default: Option<bool>,
    #[serde(default)]
    groups: Option<Vec<GfGroup>>,
}

#[derive(Debug, Deserialize)]
struct GfGroup {
    id: serde_json::Value,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    required: Option<bool>,
    #[serde(default)]
    force_min: Option<i64>,
    #[serde(default)]
    force_max: Option<i64>,
    #[serde(default)]
    options: Option<Vec<GfOption>>,
}

#[derive(Debug, Deserialize)]
struct GfOption {
    id: serde_json::Value,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    price: Option<Box<RawValue>>,
}

#[cfg(test)]
mod tests;
