//! The `square` provider: Square's Catalog API mapped into the menu model.
//!
//! One pass asks `POST /v2/catalog/search` for ITEM, ITEM_VARIATION, CATEGORY,
//! MODIFIER_LIST, IMAGE, AVAILABILITY_PERIOD and TAX objects (with their related objects), following
//! `cursor` to the last page, then maps the catalog for the store's Square
//! location: presence per location, `location_overrides` for price and sold
//! out, variations as variants, modifier lists as option groups. Deleted and
//! archived objects are left out. Images live on Square's CDN, so the token
//! never goes with them (see [`PosClient::fetch_image`]).
//!
//! Change signal: none beyond the content hash. The catalog's `latest_time`
//! does not move when a location override's `sold_out` flips with inventory,
//! so every pass reads the whole catalog and the hash of the mapped menu decides.

use std::collections::{BTreeMap, HashSet};

use reqwest::Method;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use tracing::debug;
use url::Url;

use super::client::{Asked, KeyHeader, PosClient, check_status, read_json_body, send};
use super::doc::{ImagesDoc, MenuDoc};
use super::keys::ApiKey;
use super::parse::parse_document;
use super::resilience::ResilienceSettings;
use crate::config::{ApiKeySource, DaemonSettings};
use crate::error::{Kind, StoreError};
use crate::image_sink::ImageSink;

mod mapping;

const SEARCH_PATH: &str = "v2/catalog/search";
/// Pages read before the catalog counts as broken (a cursor that never ends).
pub const MAX_PAGES: usize = 100;
/// Objects per page: Square's `search_max_page_limit`.
const PAGE_LIMIT: u32 = 1000;
const OBJECT_TYPES: [&str; 7] = [
    "ITEM",
    "ITEM_VARIATION",
    "CATEGORY",
    "MODIFIER_LIST",
    "IMAGE",
    "AVAILABILITY_PERIOD",
    "TAX",
];

#[derive(Debug)]
pub struct SquarePos {
    client: PosClient,
    version: HeaderValue,
    /// `pos_store_id` → location id, where a store names one.
    locations: BTreeMap<String, String>,
}

impl SquarePos {
    pub fn new(
        name: &str,
        base_url: &Url,
        key: ApiKeySource,
        resilience: ResilienceSettings,
        square_version: &str,
        locations: BTreeMap<String, String>,
        daemon: &DaemonSettings,
    ) -> Result<SquarePos, StoreError> {
        let version = HeaderValue::from_str(square_version).map_err(|_| {
            StoreError::new(
                Kind::Settings,
                format!("square_version {square_version:?} cannot be sent as a header"),
            )
        })?;
        Ok(SquarePos {
            client: PosClient::new(name, base_url, key, KeyHeader::Bearer, resilience, daemon)?,
            version,
            locations,
        })
    }

    /// Reads the whole catalog (all its pages under `max_bytes` together) and
    /// maps it for the store's location.
    pub async fn fetch_documents(
        &self,
        pos_store_id: &str,
        max_bytes: u64,
    ) -> Result<(MenuDoc, ImagesDoc), StoreError> {
        let location = self
            .locations
            .get(pos_store_id)
            .map_or(pos_store_id, String::as_str);
        let catalog = self.fetch_catalog(max_bytes).await?;
        Ok(mapping::map_catalog(&catalog, location))
    }

    async fn fetch_catalog(&self, max_bytes: u64) -> Result<Catalog, StoreError> {
        let key = self.client.api_key()?;
        let url = self.client.url(SEARCH_PATH);
        let mut catalog = Catalog::default();
        let mut cursor: Option<String> = None;
        let mut budget = max_bytes;
        for page_number in 1..=MAX_PAGES {
            let body = self
                .client
                .call(|| self.search_once(&url, &key, cursor.as_deref(), budget))
                .await?;
            budget = budget.saturating_sub(body.len() as u64);
            let (_, page) = parse_document::<SearchPage>("Square catalog page", &body)?;
            debug!(
                page = page_number,
                latest_time = page.latest_time.as_deref().unwrap_or("-"),
                "read a Square catalog page"
            );
            cursor = catalog.add(page);
            if cursor.is_none() {
                return Ok(catalog);
            }
        }
        Err(StoreError::new(
            Kind::BadDocument,
            format!(
                "the Square catalog did not end within {MAX_PAGES} pages of {PAGE_LIMIT} objects"
            ),
        ))
    }

    async fn search_once(
        &self,
        url: &Url,
        key: &ApiKey,
        cursor: Option<&str>,
        max_bytes: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let mut body = serde_json::json!({
            "object_types": OBJECT_TYPES,
            "include_related_objects": true,
            "include_deleted_objects": false,
            "limit": PAGE_LIMIT,
        });
        if let Some(cursor) = cursor {
            body["cursor"] = cursor.into();
        }
        let request = self
            .client
            .request(Method::POST, url, key)?
            .header("Square-Version", self.version.clone())
            .json(&body);
        let response = check_status(url, send(url, request).await?, Asked::Document)?;
        read_json_body("POST", url, response, max_bytes).await
    }

    pub async fn fetch_image(&self, url: &str, sink: &mut ImageSink) -> Result<(), StoreError> {
        self.client.fetch_image(url, sink).await
    }
}

/// One answer of `POST /v2/catalog/search`.
#[derive(Debug, Default, Deserialize)]
struct SearchPage {
    #[serde(default)]
    objects: Vec<CatalogObject>,
    #[serde(default)]
    related_objects: Vec<CatalogObject>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    latest_time: Option<String>,
}

/// The objects of every page, sorted by type, each id once, deleted ones dropped.
#[derive(Debug, Default)]
struct Catalog {
    items: Vec<CatalogObject>,
    /// Variations returned as objects of their own (besides those nested in items).
    variations: Vec<CatalogObject>,
    categories: Vec<CatalogObject>,
    modifier_lists: BTreeMap<String, CatalogObject>,
    images: BTreeMap<String, CatalogObject>,
    periods: BTreeMap<String, CatalogObject>,
    taxes: Vec<CatalogObject>,
    seen: HashSet<String>,
}

impl Catalog {
    /// Takes in one page; returns the cursor of the next one, if any.
    fn add(&mut self, page: SearchPage) -> Option<String> {
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
#[derive(Debug, Clone, Default, Deserialize)]
struct CatalogObject {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    is_deleted: Option<bool>,
    #[serde(default)]
    present_at_all_locations: Option<bool>,
    #[serde(default)]
    present_at_location_ids: Vec<String>,
    #[serde(default)]
    absent_at_location_ids: Vec<String>,
    #[serde(default)]
    item_data: Option<ItemData>,
    #[serde(default)]
    item_variation_data: Option<VariationData>,
    #[serde(default)]
    category_data: Option<CategoryData>,
    #[serde(default)]
    modifier_list_data: Option<ModifierListData>,
    #[serde(default)]
    modifier_data: Option<ModifierData>,
    #[serde(default)]
    image_data: Option<ImageData>,
    #[serde(default)]
    availability_period_data: Option<PeriodData>,
    #[serde(default)]
    tax_data: Option<TaxData>,
}

/// One day's window of a category: `HH:MM:SS` local times (`8:30:00` too).
#[derive(Debug, Clone, Default, Deserialize)]
struct PeriodData {
    #[serde(default)]
    start_local_time: Option<String>,
    #[serde(default)]
    end_local_time: Option<String>,
    #[serde(default)]
    day_of_week: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct TaxData {
    /// `ADDITIVE` (added on top of prices) or `INCLUSIVE` (in them).
    #[serde(default)]
    inclusion_type: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// `food_and_beverage_details` of an item.
#[derive(Debug, Clone, Default, Deserialize)]
struct FoodDetails {
    #[serde(default)]
    calorie_count: Option<i64>,
    #[serde(default)]
    dietary_preferences: Vec<FoodFact>,
    #[serde(default)]
    ingredients: Vec<FoodFact>,
}

/// A dietary preference or an ingredient: a `STANDARD` name or a `CUSTOM` one.
#[derive(Debug, Clone, Default, Deserialize)]
struct FoodFact {
    #[serde(default)]
    standard_name: Option<String>,
    #[serde(default)]
    custom_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ItemData {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    is_archived: Option<bool>,
    /// The categories the item is in, with its ordinal in each (newer API versions).
    #[serde(default)]
    categories: Vec<Ordinal>,
    #[serde(default)]
    reporting_category: Option<Ordinal>,
    /// The single category of older API versions.
    #[serde(default)]
    category_id: Option<String>,
    #[serde(default)]
    variations: Vec<CatalogObject>,
    #[serde(default)]
    modifier_list_info: Vec<ModifierListInfo>,
    #[serde(default)]
    image_ids: Vec<String>,
    #[serde(default)]
    food_and_beverage_details: Option<FoodDetails>,
    /// Older API versions: whether the item is sold online at all.
    #[serde(default)]
    available_online: Option<bool>,
    /// Undocumented in the current spec; `HIDDEN` or `UNAVAILABLE` keep it off the site.
    #[serde(default)]
    ecom_visibility: Option<String>,
}

/// A reference with a position: `{id, ordinal}`.
#[derive(Debug, Clone, Default, Deserialize)]
struct Ordinal {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    ordinal: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct VariationData {
    #[serde(default)]
    item_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    ordinal: Option<i64>,
    #[serde(default)]
    pricing_type: Option<String>,
    #[serde(default)]
    price_money: Option<Money>,
    #[serde(default)]
    location_overrides: Vec<LocationOverride>,
    #[serde(default)]
    image_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Money {
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
}

/// What one location changes of a variation or a modifier.
#[derive(Debug, Clone, Default, Deserialize)]
struct LocationOverride {
    #[serde(default)]
    location_id: Option<String>,
    #[serde(default)]
    price_money: Option<Money>,
    #[serde(default)]
    sold_out: Option<bool>,
    /// RFC 3339: the variation is no longer sold out after this time.
    #[serde(default)]
    sold_out_valid_until: Option<String>,
    /// `VARIABLE_PRICING` here: the price is keyed in at the till, so no site price.
    #[serde(default)]
    pricing_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct CategoryData {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    parent_category: Option<Ordinal>,
    #[serde(default)]
    availability_period_ids: Vec<String>,
    #[serde(default)]
    online_visibility: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ModifierListData {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    selection_type: Option<String>,
    #[serde(default)]
    modifier_type: Option<String>,
    #[serde(default)]
    min_selected_modifiers: Option<i64>,
    #[serde(default)]
    max_selected_modifiers: Option<i64>,
    #[serde(default)]
    hidden_from_customer: Option<bool>,
    #[serde(default)]
    allow_quantities: Option<bool>,
    #[serde(default)]
    modifiers: Vec<CatalogObject>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ModifierData {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    ordinal: Option<i64>,
    #[serde(default)]
    price_money: Option<Money>,
    #[serde(default)]
    hidden_online: Option<bool>,
    #[serde(default)]
    on_by_default: Option<bool>,
    #[serde(default)]
    location_overrides: Vec<LocationOverride>,
}

/// How one item uses one modifier list; `-1` in min/max means "the list's own".
#[derive(Debug, Clone, Default, Deserialize)]
struct ModifierListInfo {
    modifier_list_id: String,
    #[serde(default)]
    min_selected_modifiers: Option<i64>,
    #[serde(default)]
    max_selected_modifiers: Option<i64>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    ordinal: Option<i64>,
    /// `YES`, `NO` or `NOT_SET` (the list's own).
    #[serde(default)]
    allow_quantities: Option<String>,
    #[serde(default)]
    modifier_overrides: Vec<ModifierOverride>,
}

/// How one item changes one modifier: `YES`/`NO`/`NOT_SET` toggles.
#[derive(Debug, Clone, Default, Deserialize)]
struct ModifierOverride {
    #[serde(default)]
    modifier_id: Option<String>,
    #[serde(default)]
    on_by_default: Option<bool>,
    #[serde(default)]
    on_by_default_override: Option<String>,
    #[serde(default)]
    hidden_online_override: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ImageData {
    #[serde(default)]
    url: Option<String>,
}
