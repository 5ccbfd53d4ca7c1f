//! The `http` provider: the reference POS protocol of `pos-api.md`.
//!
//! It keeps the last answer of each document with its `ETag` and asks with
//! `If-None-Match`; a `304` hands back the kept bytes, so the content hash
//! still decides and the pipeline after the fetch does not know the difference.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode};
use tracing::debug;
use url::Url;

use super::client::{ApiKey, KeyHeader, PosClient, check_status, read_json_body, send};
use super::resilience::ResilienceSettings;
use crate::config::{ApiKeySource, DaemonSettings};
use crate::error::{Category, StoreError};
use crate::images::ImageSink;

/// (document path, pos_store_id) → (`ETag`, body of that `200`).
type EtagMap = HashMap<(&'static str, String), (HeaderValue, Vec<u8>)>;

/// The last `200` of each document per store, with its `ETag`; at most two
/// entries per configured store.
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

    fn etag(&self, path: &'static str, store: &str) -> Option<HeaderValue> {
        let cache = self.lock();
        cache
            .get(&(path, store.to_string()))
            .map(|(etag, _)| etag.clone())
    }

    fn body(&self, path: &'static str, store: &str) -> Option<Vec<u8>> {
        let cache = self.lock();
        cache
            .get(&(path, store.to_string()))
            .map(|(_, body)| body.clone())
    }

    fn remember(&self, path: &'static str, store: &str, etag: Option<HeaderValue>, body: &[u8]) {
        let mut cache = self.lock();
        let key = (path, store.to_string());
        match etag {
            Some(etag) => {
                cache.insert(key, (etag, body.to_vec()));
            }
            None => {
                cache.remove(&key);
            }
        }
    }
}

#[derive(Debug)]
pub struct HttpPos {
    client: PosClient,
    etags: EtagCache,
}

impl HttpPos {
    pub fn new(
        name: &str,
        base_url: &Url,
        key: ApiKeySource,
        resilience: ResilienceSettings,
        daemon: &DaemonSettings,
    ) -> Result<HttpPos, StoreError> {
        Ok(HttpPos {
            client: PosClient::new(
                name,
                base_url,
                key,
                KeyHeader::PosApiKey,
                resilience,
                daemon,
            )?,
            etags: EtagCache::default(),
        })
    }

    pub async fn fetch_documents(
        &self,
        pos_store_id: &str,
        max_bytes: u64,
    ) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        let key = self.client.api_key()?;
        let menu = self
            .post_document("api/menu", pos_store_id, &key, max_bytes)
            .await?;
        let images = self
            .post_document("api/images", pos_store_id, &key, max_bytes)
            .await?;
        Ok((menu, images))
    }

    async fn post_document(
        &self,
        path: &'static str,
        pos_store_id: &str,
        key: &ApiKey,
        max_bytes: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let url = self.client.url(path);
        self.client
            .call(|| self.post_document_once(&url, path, pos_store_id, key, max_bytes))
            .await
    }

    async fn post_document_once(
        &self,
        url: &Url,
        path: &'static str,
        pos_store_id: &str,
        key: &ApiKey,
        max_bytes: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let mut request = self
            .client
            .request(Method::POST, url, key)?
            .json(&serde_json::json!({ "storeId": pos_store_id }));
        if let Some(etag) = self.etags.etag(path, pos_store_id) {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        let response = send(url, request).await?;
        if response.status() == StatusCode::NOT_MODIFIED {
            debug!(%url, "304 Not Modified: the POS document is the one kept from before");
            return self.etags.body(path, pos_store_id).ok_or_else(|| {
                StoreError::new(
                    Category::Data,
                    format!("POST {url} answered 304 Not Modified to a request without an ETag"),
                )
            });
        }
        let response = check_status(url, response)?;
        let etag = response.headers().get(header::ETAG).cloned();
        let body = read_json_body("POST", url, response, max_bytes).await?;
        self.etags.remember(path, pos_store_id, etag, &body);
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
    fn the_etag_cache_keeps_a_body_only_with_its_etag() {
        let cache = EtagCache::default();
        let etag = HeaderValue::from_static("\"v1\"");
        cache.remember("api/menu", "S1", Some(etag.clone()), b"{}");
        assert_eq!(cache.etag("api/menu", "S1"), Some(etag));
        assert_eq!(cache.body("api/menu", "S1").as_deref(), Some(&b"{}"[..]));
        assert_eq!(cache.etag("api/images", "S1"), None, "per document");
        assert_eq!(cache.etag("api/menu", "S2"), None, "per store");
        cache.remember("api/menu", "S1", None, b"{\"new\":1}");
        assert_eq!(
            cache.etag("api/menu", "S1"),
            None,
            "an answer without ETag forgets"
        );
        assert!(cache.body("api/menu", "S1").is_none());
    }
}
