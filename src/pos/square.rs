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
//! Change signal: Square's `latest_time`. The provider keeps the catalog of
//! its last read (one per endpoint: a merchant's catalog serves all its
//! locations) and asks the next pass only for what changed since
//! (`begin_time`), deleted objects included; `square/changes.rs` applies the
//! answer. An empty answer is one small request, and the pass hands back the
//! same digest as the last one, so the pipeline's memo answers and nothing is
//! mapped. A location override's `sold_out` flipped by inventory moves no
//! catalog time, so one pass in `full_read_every` (counted over the endpoint's
//! passes) reads the whole catalog again, as does the first pass after a start
//! and any pass after an incremental answer that cannot be used. The catalog
//! is replaced or changed only once every page of an answer has been read, so a
//! half-read answer is never mapped.
//!
//! `square/wire.rs` holds Square's answers as serde reads them,
//! `square/changes.rs` what an incremental answer changes in the kept catalog,
//! and `square/mapping.rs` maps it, naming `wire` as its sibling; none names this file.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::Method;
use reqwest::header::HeaderValue;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tracing::{debug, warn};
use url::Url;

use super::client::{Asked, KeyHeader, PosClient, check_status, read_json_body, send};
use super::fetched::{Freshness, Vendor};
use super::keys::ApiKey;
use super::parse::parse_document;
use crate::error::{Category, Kind, StoreError};
use crate::image_sink::ImageSink;

mod changes;
mod mapping;
mod wire;

use wire::{Catalog, CatalogObject, SearchPage};

/// Bumped when the mapping gives something else for the same catalog, so
/// that the pipeline's memo (which outlives the process) maps it again. The
/// package version counts too, for an upgrade that forgets to bump this.
const MAPPING_REVISION: u32 = 1;

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
/// What an incremental read asks for: the same, and modifiers on their own.
const CHANGED_OBJECT_TYPES: [&str; 8] = [
    "ITEM",
    "ITEM_VARIATION",
    "CATEGORY",
    "MODIFIER_LIST",
    "MODIFIER",
    "IMAGE",
    "AVAILABILITY_PERIOD",
    "TAX",
];

/// One page request of a search.
struct Search<'a> {
    key: &'a ApiKey,
    cursor: Option<&'a str>,
    begin_time: Option<&'a str>,
    max_bytes: u64,
}

/// The catalog as the endpoint last read it, kept for the next pass.
#[derive(Debug)]
struct Kept {
    /// Shared with the mapping of passes that asked for it, so a change
    /// applied later copies it rather than changing what they map.
    catalog: Arc<Catalog>,
    /// The `latest_time` of the read that brought it up to date: the next
    /// `begin_time`. `None` when Square sent none: then every pass reads in full.
    latest_time: Option<String>,
    /// Names the catalog's content: its full read's pages, then every
    /// answer that changed it. Equal digests, equal catalogs.
    digest: [u8; 32],
    /// Incremental reads since the full read.
    incremental_reads: u32,
}

#[derive(Debug)]
pub struct SquarePos {
    client: PosClient,
    version: HeaderValue,
    /// `pos_store_id` → location id, where a store names one.
    locations: BTreeMap<String, String>,
    /// One read in this many is a full read.
    full_read_every: u32,
    /// The kept catalog, behind an async lock held for a whole read: two
    /// stores of one merchant never apply the same changes twice, and a store
    /// waits for a full read another store is making instead of making its
    /// own. Memory: one catalog per endpoint, dropped with the provider
    /// (when the endpoint leaves or changes in the config).
    kept: Mutex<Option<Kept>>,
}

/// The pages of one search, read to the end.
struct Answer {
    pages: Vec<SearchPage>,
    /// The sha256 of the pages' bodies, in order.
    digest: [u8; 32],
    /// The earliest `latest_time` of its pages (a change during the read is asked for again).
    latest_time: Option<String>,
}

impl SquarePos {
    /// Square takes the key as a bearer token.
    pub(super) const KEY_HEADER: KeyHeader = KeyHeader::Bearer;

    /// `client` was built with [`Self::KEY_HEADER`].
    pub(super) fn new(
        client: PosClient,
        square_version: &str,
        locations: BTreeMap<String, String>,
        full_read_every: u32,
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
            full_read_every: full_read_every.max(1),
            kept: Mutex::new(None),
        })
    }

    /// Brings the kept catalog up to date (only its changes, or in full:
    /// always for [`Freshness::Full`]) and hands it back for the store's
    /// location, mapped only when the pipeline asks.
    pub async fn fetch_documents(
        &self,
        pos_store_id: &str,
        max_bytes: u64,
        freshness: Freshness,
    ) -> Result<Vendor, StoreError> {
        let location = self
            .locations
            .get(pos_store_id)
            .map_or(pos_store_id, String::as_str)
            .to_string();
        let mut kept = self.kept.lock().await;
        let incremental = kept.as_ref().and_then(|kept| {
            let due = kept.incremental_reads + 1 >= self.full_read_every;
            let since = kept.latest_time.clone()?;
            (freshness == Freshness::Conditional && !due).then_some(since)
        });
        if let Some(since) = incremental.as_deref() {
            match self.read_changes(since, max_bytes, &mut kept).await {
                Ok(()) => {}
                // Unreachable or overloaded: the kept catalog stays and the
                // next pass asks again from the same time. Anything else (an
                // answer that does not read, a request Square refuses only
                // with `begin_time`) would fail every pass until the full
                // read came, which counts only answered incremental reads:
                // read in full now instead.
                Err(err) if err.category() == Category::Network => return Err(err),
                Err(err) => {
                    warn!(
                        category = %err.category(),
                        "the Square catalog's changes since {since} cannot be used, reading it in full: {err:#}"
                    );
                    *kept = None;
                }
            }
        }
        if incremental.is_none() || kept.is_none() {
            *kept = None;
            let answer = self.search(max_bytes, None).await?;
            let mut catalog = Catalog::default();
            for page in answer.pages {
                catalog.add(page);
            }
            *kept = Some(Kept {
                catalog: Arc::new(catalog),
                latest_time: answer.latest_time,
                digest: chain(&[0; 32], &answer.digest),
                incremental_reads: 0,
            });
        }
        let kept = kept.as_ref().expect("the catalog was just read or kept");
        let catalog = Arc::clone(&kept.catalog);
        let digest = store_digest(&kept.digest, &location);
        Ok(Vendor::new(digest, move || {
            Ok(mapping::map_catalog(&catalog, &location))
        }))
    }

    /// Asks for what changed since `since` and applies it to the kept catalog.
    async fn read_changes(
        &self,
        since: &str,
        max_bytes: u64,
        kept: &mut Option<Kept>,
    ) -> Result<(), StoreError> {
        let answer = self.search(max_bytes, Some(since)).await?;
        // Square may leave `latest_time` out (its own sample of an empty
        // answer has none): the next read asks from the same time again,
        // which repeats what is already kept and so changes nothing.
        let latest_time = answer.latest_time.unwrap_or_else(|| since.to_string());
        let kept = kept
            .as_mut()
            .expect("changes are read only into a kept catalog");
        let changed: Vec<CatalogObject> = answer
            .pages
            .into_iter()
            .flat_map(|page| page.objects.into_iter().chain(page.related_objects))
            .collect();
        let n_objects = changed.len();
        kept.incremental_reads += 1;
        kept.latest_time = Some(latest_time);
        if n_objects > 0 && Arc::make_mut(&mut kept.catalog).apply(changed) {
            kept.digest = chain(&kept.digest, &answer.digest);
            debug!(n_objects, since, "the Square catalog changed");
        } else {
            debug!(n_objects, since, "the Square catalog is unchanged");
        }
        Ok(())
    }

    /// One search (the whole catalog, or its changes since `begin_time`),
    /// every page read under `max_bytes` together before anything is used.
    async fn search(&self, max_bytes: u64, begin_time: Option<&str>) -> Result<Answer, StoreError> {
        let key = self.client.api_key()?;
        let url = self.client.url(SEARCH_PATH);
        let mut pages = Vec::new();
        let mut hasher = Sha256::new();
        let mut latest_time: Option<String> = None;
        let mut cursor: Option<String> = None;
        let mut budget = max_bytes;
        for page_number in 1..=MAX_PAGES {
            let ask = Search {
                key: &key,
                cursor: cursor.as_deref(),
                begin_time,
                max_bytes: budget,
            };
            let body = self.client.call(|| self.search_once(&url, &ask)).await?;
            budget = budget.saturating_sub(body.len() as u64);
            hasher.update((body.len() as u64).to_be_bytes());
            hasher.update(&body);
            let (_, mut page) = parse_document::<SearchPage>("Square catalog page", &body)?;
            debug!(
                page = page_number,
                latest_time = page.latest_time.as_deref().unwrap_or("-"),
                "read a Square catalog page"
            );
            if let Some(time) = page.latest_time.take() {
                latest_time = Some(match latest_time {
                    Some(earlier) if !later_than(&earlier, &time) => earlier,
                    _ => time,
                });
            }
            cursor = page.cursor.take().filter(|cursor| !cursor.is_empty());
            pages.push(page);
            if cursor.is_none() {
                return Ok(Answer {
                    pages,
                    digest: hasher.finalize().into(),
                    latest_time,
                });
            }
        }
        Err(StoreError::new(
            Kind::BadDocument,
            format!(
                "the Square catalog did not end within {MAX_PAGES} pages of {PAGE_LIMIT} objects"
            ),
        ))
    }

    async fn search_once(&self, url: &Url, ask: &Search<'_>) -> Result<Vec<u8>, StoreError> {
        let mut body = serde_json::json!({
            "object_types": OBJECT_TYPES,
            "include_related_objects": true,
            "include_deleted_objects": false,
            "limit": PAGE_LIMIT,
        });
        if let Some(begin_time) = ask.begin_time {
            // Changes: deleted objects too (the filter returns them anyway),
            // and modifiers, which a full read finds inside their lists.
            body["begin_time"] = begin_time.into();
            body["include_deleted_objects"] = true.into();
            body["object_types"] = CHANGED_OBJECT_TYPES.as_slice().into();
        }
        if let Some(cursor) = ask.cursor {
            body["cursor"] = cursor.into();
        }
        let request = self
            .client
            .request(Method::POST, url, ask.key)?
            .header("Square-Version", self.version.clone())
            .json(&body);
        let response = check_status(url, send(url, request).await?, Asked::Document)?;
        read_json_body("POST", url, response, ask.max_bytes).await
    }

    pub async fn fetch_image(&self, url: &str, sink: &mut ImageSink) -> Result<(), StoreError> {
        self.client.fetch_image(url, sink).await
    }
}

/// The digest after `answer` changed the catalog named `before`.
fn chain(before: &[u8; 32], answer: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(before);
    hasher.update(answer);
    hasher.finalize().into()
}

/// What names one store's mapping: the catalog, the location, the mapping's revision.
fn store_digest(catalog: &[u8; 32], location: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let revision = format!(
        "square mapping {MAPPING_REVISION} menusync {}",
        env!("CARGO_PKG_VERSION")
    );
    for part in [revision.as_bytes(), catalog, location.as_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Whether the RFC 3339 time `a` is after `b`, compared as instants: Square
/// varies the digits of its fractions (`…35.4Z`, `…35.41Z`), so their text
/// does not sort. A time that does not read sorts as text.
fn later_than(a: &str, b: &str) -> bool {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(a), Ok(b)) => a > b,
        _ => a > b,
    }
}

#[cfg(test)]
mod tests {
    use super::later_than;

    #[test]
    fn square_times_compare_as_instants_not_text() {
        // As text, "35.4Z" sorts after "35.41Z".
        assert!(later_than(
            "2026-12-05T10:00:35.41Z",
            "2026-12-05T10:00:35.4Z"
        ));
        assert!(!later_than(
            "2026-12-05T10:00:35.4Z",
            "2026-12-05T10:00:35.41Z"
        ));
        assert!(later_than(
            "2026-12-05T19:00:00+09:00",
            "2026-12-05T09:59:59Z"
        ));
        assert!(!later_than(
            "2026-12-05T10:00:00Z",
            "2026-12-05T10:00:00.000Z"
        ));
        assert!(later_than("b", "a"), "what does not read sorts as text");
    }
}
