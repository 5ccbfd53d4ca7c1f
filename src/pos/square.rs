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
//!
//! `square/wire.rs` holds Square's answers as serde reads them and
//! `square/mapping.rs` maps them, naming `wire` as its sibling; neither names this file.

use std::collections::BTreeMap;

use reqwest::Method;
use reqwest::header::HeaderValue;
use tracing::debug;
use url::Url;

use super::client::{Asked, KeyHeader, PosClient, check_status, read_json_body, send};
use super::doc::{ImagesDoc, MenuDoc};
use super::keys::ApiKey;
use super::parse::parse_document;
use crate::error::{Kind, StoreError};
use crate::image_sink::ImageSink;

mod mapping;
mod wire;

use wire::{Catalog, SearchPage};

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
    /// Square takes the key as a bearer token.
    pub(super) const KEY_HEADER: KeyHeader = KeyHeader::Bearer;

    /// `client` was built with [`Self::KEY_HEADER`].
    pub(super) fn new(
        client: PosClient,
        square_version: &str,
        locations: BTreeMap<String, String>,
    ) -> Result<SquarePos, StoreError> {
        let version = HeaderValue::from_str(square_version).map_err(|_| {
            StoreError::new(
                Kind::Settings,
                format!("square_version {square_version:?} cannot be sent as a header"),
            )
        })?;
        Ok(SquarePos {
            client,
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
