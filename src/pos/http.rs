//! The `http` provider: the reference POS protocol of `pos-api.md`.
//!
//! It keeps the `ETag` and the body's sha256 of each document's last answer
//! and asks with `If-None-Match`; a `304` hands back that digest without a
//! body. The pipeline's fingerprint then matches the last pass's and nothing
//! is parsed; when it needs the body after all (the last pass failed), it asks
//! again in full. Bodies are not kept: memory stays small at thousands of stores.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode};
use tracing::debug;
use url::Url;

use super::client::{Asked, KeyHeader, PosClient, check_status, read_json_body, send};
use super::fetched::{Body, Freshness};
use super::keys::ApiKey;
use crate::error::{Kind, StoreError};
use crate::image_sink::ImageSink;

/// (document path, pos_store_id) → (`ETag`, sha256 of the body of that `200`).
type EtagMap = HashMap<(&'static str, String), (HeaderValue, [u8; 32])>;

/// The `ETag` and digest of the last `200` of each document per store; at
/// most two entries of about a hundred bytes per configured store.
#[derive(Default)]
struct EtagCache(Mutex<EtagMap>);

impl fmt::Debug for EtagCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.0.lock().map_or(0, |cache| cache.len());
        write!(f, "EtagCache({entries} documents)")
    }
}

impl EtagCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, EtagMap> {
        // A panic while holding this lock leaves a map that is still whole.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drops the entries of every store `keep` refuses.
    fn retain(&self, keep: &dyn Fn(&str) -> bool) {
        self.lock().retain(|(_, store), _| keep(store));
    }

    fn get(&self, path: &'static str, store: &str) -> Option<(HeaderValue, [u8; 32])> {
        self.lock().get(&(path, store.to_string())).cloned()
    }

    fn remember(
        &self,
        path: &'static str,
        store: &str,
        etag: Option<HeaderValue>,
        digest: [u8; 32],
    ) {
        let mut cache = self.lock();
        let key = (path, store.to_string());
        match etag {
            Some(etag) => {
                cache.insert(key, (etag, digest));
            }
            None => {
                cache.remove(&key);
            }
        }
    }
}

/// One document request.
struct Ask<'a> {
    path: &'static str,
    pos_store_id: &'a str,
    key: &'a ApiKey,
    max_bytes: u64,
    freshness: Freshness,
}

#[derive(Debug)]
pub struct HttpPos {
    client: PosClient,
    etags: EtagCache,
}

impl HttpPos {
    /// How the reference protocol sends the key.
    pub(super) const KEY_HEADER: KeyHeader = KeyHeader::PosApiKey;

    /// `client` was built with [`Self::KEY_HEADER`].
    pub(super) fn new(client: PosClient) -> HttpPos {
        HttpPos {
            client,
            etags: EtagCache::default(),
        }
    }

    /// Forgets what was kept for every `pos_store_id` that `keep` refuses:
    /// a reload that kept this endpoint but removed stores leaves nothing of
    /// them behind.
    pub fn forget(&self, keep: &dyn Fn(&str) -> bool) {
        self.etags.retain(keep);
    }

    pub async fn fetch_documents(
        &self,
        pos_store_id: &str,
        max_bytes: u64,
        freshness: Freshness,
    ) -> Result<(Body, Body), StoreError> {
        let key = self.client.api_key()?;
        let ask = |path| Ask {
            path,
            pos_store_id,
            key: &key,
            max_bytes,
            freshness,
        };
        let menu = self.post_document(ask("api/menu")).await?;
        let images = self.post_document(ask("api/images")).await?;
        Ok((menu, images))
    }

    async fn post_document(&self, ask: Ask<'_>) -> Result<Body, StoreError> {
        let url = self.client.url(ask.path);
        self.client
            .call(|| self.post_document_once(&url, &ask))
            .await
    }

    async fn post_document_once(&self, url: &Url, ask: &Ask<'_>) -> Result<Body, StoreError> {
        let mut request = self
            .client
            .request(Method::POST, url, ask.key)?
            .json(&serde_json::json!({ "storeId": ask.pos_store_id }));
        let kept = match ask.freshness {
            Freshness::Conditional => self.etags.get(ask.path, ask.pos_store_id),
            Freshness::Full => None,
        };
        if let Some((etag, _)) = &kept {
            request = request.header(header::IF_NONE_MATCH, etag.clone());
        }
        let response = send(url, request).await?;
        if response.status() == StatusCode::NOT_MODIFIED {
            debug!(%url, "304 Not Modified: the POS document is the one seen before");
            return match kept {
                Some((_, digest)) => Ok(Body {
                    digest,
                    bytes: None,
                }),
                None => Err(StoreError::new(
                    Kind::BadDocument,
                    format!(
                        "POST {} answered 304 Not Modified to a request without an ETag",
                        super::client::shown(url)
                    ),
                )),
            };
        }
        let response = check_status(url, response, Asked::Document)?;
        let etag = response.headers().get(header::ETAG).cloned();
        let body = Body::new(read_json_body("POST", url, response, ask.max_bytes).await?);
        self.etags
            .remember(ask.path, ask.pos_store_id, etag, body.digest);
        Ok(body)
    }

    pub async fn fetch_image(&self, url: &str, sink: &mut ImageSink) -> Result<(), StoreError> {
        self.client.fetch_image(url, sink).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_forgets_the_etags_of_stores_it_removed() {
        let cache = EtagCache::default();
        let etag = HeaderValue::from_static("\"v1\"");
        for store in ["S1", "S2", "S3"] {
            for path in ["api/menu", "api/images"] {
                cache.remember(path, store, Some(etag.clone()), [1; 32]);
            }
        }
        cache.retain(&|store| store != "S2");
        for path in ["api/menu", "api/images"] {
            assert!(cache.get(path, "S1").is_some() && cache.get(path, "S3").is_some());
            assert_eq!(cache.get(path, "S2"), None, "{path} of the removed store");
        }
        assert_eq!(format!("{cache:?}"), "EtagCache(4 documents)");
    }

    #[test]
    fn the_etag_cache_keeps_a_digest_only_with_its_etag() {
        let cache = EtagCache::default();
        let etag = HeaderValue::from_static("\"v1\"");
        let digest = Body::new(b"{}".to_vec()).digest;
        cache.remember("api/menu", "S1", Some(etag.clone()), digest);
        assert_eq!(cache.get("api/menu", "S1"), Some((etag, digest)));
        assert_eq!(cache.get("api/images", "S1"), None, "per document");
        assert_eq!(cache.get("api/menu", "S2"), None, "per store");
        cache.remember("api/menu", "S1", None, [0; 32]);
        assert_eq!(
            cache.get("api/menu", "S1"),
            None,
            "an answer without ETag forgets"
        );
    }
}
