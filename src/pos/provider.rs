//! [`Provider`]: the seam between the POS side and the rest of the pipeline,
//! which never knows which kind ran: one variant per kind, each handing back
//! the same [`doc`](super::doc) model as a [`Fetched`].

use url::Url;

use super::client::{PosClient, redact};
use super::fetched::{Body, Documents, Fetched, Freshness};
use super::fixture::FixturePos;
use super::gloriafood::GloriaFoodPos;
use super::http::HttpPos;
use super::resilience::ResilienceSettings;
use super::square::SquarePos;
use crate::config::{ApiKeySource, DaemonSettings, PosEndpoint, PosKind};
use crate::error::{Kind, StoreError};
use crate::image_sink::ImageSink;

/// One configured POS endpoint, ready to be asked.
#[derive(Debug)]
pub enum Provider {
    Http(Box<HttpPos>),
    Fixture(FixturePos),
    Square(Box<SquarePos>),
    GloriaFood(Box<GloriaFoodPos>),
}

impl Provider {
    pub fn new(endpoint: &PosEndpoint, daemon: &DaemonSettings) -> Result<Provider, StoreError> {
        // Every remote kind talks through a `PosClient` built the same way;
        // only how it sends the key differs.
        let client =
            |base_url: &Url, key: &ApiKeySource, resilience: &ResilienceSettings, header| {
                let (key, resilience) = (key.clone(), resilience.clone());
                PosClient::new(&endpoint.name, base_url, key, header, resilience, daemon)
            };
        Ok(match &endpoint.kind {
            PosKind::Http {
                base_url,
                key,
                resilience,
            } => {
                let client = client(base_url, key, resilience, HttpPos::KEY_HEADER)?;
                Provider::Http(Box::new(HttpPos::new(client)))
            }
            PosKind::Fixture { dir } => Provider::Fixture(FixturePos::new(dir.clone())),
            PosKind::Square {
                base_url,
                key,
                resilience,
                square_version,
                locations,
                full_read_every,
            } => {
                let client = client(base_url, key, resilience, SquarePos::KEY_HEADER)?;
                let square =
                    SquarePos::new(client, square_version, locations.clone(), *full_read_every)?;
                Provider::Square(Box::new(square))
            }
            PosKind::GloriaFood {
                base_url,
                key,
                resilience,
            } => {
                let client = client(base_url, key, resilience, GloriaFoodPos::KEY_HEADER)?;
                Provider::GloriaFood(Box::new(GloriaFoodPos::new(client)))
            }
        })
    }

    /// Forgets what this provider keeps per store for every `pos_store_id`
    /// that `keep` refuses (a reload kept the endpoint, not its stores).
    /// Square's kept catalog is per endpoint and GloriaFood keeps nothing.
    pub fn forget(&self, keep: &dyn Fn(&str) -> bool) {
        if let Provider::Http(pos) = self {
            pos.forget(keep);
        }
    }

    /// Fetches the menu and the image list of one store; each body is capped at `max_bytes`.
    pub async fn fetch(
        &self,
        pos_store_id: &str,
        max_bytes: u64,
        freshness: Freshness,
    ) -> Result<Fetched, StoreError> {
        let (menu, images) = match self {
            Provider::Http(pos) => {
                pos.fetch_documents(pos_store_id, max_bytes, freshness)
                    .await?
            }
            Provider::Fixture(pos) => {
                let (menu, images) = pos.fetch_documents(pos_store_id, max_bytes).await?;
                (Body::new(menu), Body::new(images))
            }
            Provider::Square(pos) => {
                let vendor = pos
                    .fetch_documents(pos_store_id, max_bytes, freshness)
                    .await?;
                return Ok(Fetched::Vendor(vendor));
            }
            Provider::GloriaFood(pos) => {
                let vendor = pos.fetch_documents(pos_store_id, max_bytes).await?;
                return Ok(Fetched::Vendor(vendor));
            }
        };
        Ok(Fetched::Raw { menu, images })
    }

    /// Fetches both documents in full and parses them.
    pub async fn fetch_documents(
        &self,
        pos_store_id: &str,
        max_bytes: u64,
    ) -> Result<Documents, StoreError> {
        let fetched = self.fetch(pos_store_id, max_bytes, Freshness::Full).await?;
        Ok(fetched
            .documents()?
            .expect("a full fetch always carries both bodies"))
    }

    /// Streams one image, named by the image list's `url`, into `sink`.
    pub async fn fetch_image(
        &self,
        pos_store_id: &str,
        url: &str,
        sink: &mut ImageSink,
    ) -> Result<(), StoreError> {
        match self {
            Provider::Http(pos) => pos.fetch_image(url, sink).await,
            Provider::Fixture(pos) => pos.fetch_image(pos_store_id, url, sink).await,
            Provider::Square(pos) => pos.fetch_image(url, sink).await,
            Provider::GloriaFood(_) => Err(StoreError::new(
                Kind::BadImage,
                format!(
                    "GloriaFood lists no images, yet image {:?} was asked for",
                    redact(url)
                ),
            )),
        }
    }
}
