//! The fetch stage: asks a store's POS for its menu, its image list and its images.
//!
//! [`Provider`] is the seam between the POS side and the rest of the
//! pipeline, which never knows which kind ran: every kind hands back the same
//! [`doc`] model. `http` speaks the reference protocol of `pos-api.md` (with
//! `ETag`s); `fixture` reads the same documents from a folder (the offline
//! demo); `square` and `gloriafood` map those vendors' menu APIs into it.
//! The content hash is taken over the documents as the provider gives them:
//! the reference documents as received, a vendor's menu as mapped.
//!
//! A fetch hands back [`Fetched`]: the reference documents stay unparsed bytes
//! with a digest until the pipeline needs them, so a pass whose inputs match
//! the last ones (by [`Fetched::fingerprint`]) never parses them at all.

mod client;
pub mod doc;
mod fixture;
mod gloriafood;
mod http;
mod keys;
mod resilience;
mod square;

use serde::de::DeserializeOwned;

use sha2::{Digest, Sha256};

use crate::config::{DaemonSettings, PosEndpoint, PosKind};
use crate::error::{Kind, StoreError};
use crate::image_sink::ImageSink;
use doc::{ImagesDoc, MenuDoc};

pub use keys::{CREDENTIALS_SOURCE_DIR, preload_credentials};

/// How much of an unexpected body a log line quotes.
const QUOTE_BYTES: usize = 200;

/// Both POS documents: parsed, and as JSON values for the content hash.
#[derive(Debug)]
pub struct Documents {
    pub menu: MenuDoc,
    pub images: ImagesDoc,
    pub menu_value: serde_json::Value,
    pub images_value: serde_json::Value,
}

/// Whether a fetch may ask with `If-None-Match`, and so get a document back without its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Conditional,
    Full,
}

/// One reference document as fetched: the sha256 of its body, and the body
/// itself unless the POS answered `304` (then only the digest is known).
#[derive(Debug)]
pub struct Body {
    pub digest: [u8; 32],
    pub bytes: Option<Vec<u8>>,
}

impl Body {
    pub fn new(bytes: Vec<u8>) -> Body {
        Body {
            digest: Sha256::digest(&bytes).into(),
            bytes: Some(bytes),
        }
    }
}

/// What a fetch hands back, before any parsing.
#[derive(Debug)]
pub enum Fetched {
    /// `http` and `fixture`: the reference documents as received.
    Raw { menu: Body, images: Body },
    /// `square` and `gloriafood`: already mapped into the model.
    Mapped(Box<Documents>),
}

impl Fetched {
    /// The parsed documents; `None` when a body was answered `304`, so the
    /// caller must fetch again with [`Freshness::Full`].
    pub fn documents(self) -> Result<Option<Documents>, StoreError> {
        match self {
            Fetched::Raw { menu, images } => {
                let (Some(menu_bytes), Some(images_bytes)) = (menu.bytes, images.bytes) else {
                    return Ok(None);
                };
                let (menu_value, menu) = parse_document::<MenuDoc>("menu", &menu_bytes)?;
                let (images_value, images) =
                    parse_document::<ImagesDoc>("image list", &images_bytes)?;
                Ok(Some(Documents {
                    menu,
                    images,
                    menu_value,
                    images_value,
                }))
            }
            Fetched::Mapped(documents) => Ok(Some(*documents)),
        }
    }
}

/// One configured POS endpoint, ready to be asked.
#[derive(Debug)]
pub enum Provider {
    Http(Box<http::HttpPos>),
    Fixture(fixture::FixturePos),
    Square(Box<square::SquarePos>),
    GloriaFood(Box<gloriafood::GloriaFoodPos>),
}

impl Provider {
    pub fn new(endpoint: &PosEndpoint, daemon: &DaemonSettings) -> Result<Provider, StoreError> {
        let name = &endpoint.name;
        Ok(match &endpoint.kind {
            PosKind::Http {
                base_url,
                key,
                resilience,
            } => Provider::Http(Box::new(http::HttpPos::new(
                name,
                base_url,
                key.clone(),
                resilience.clone(),
                daemon,
            )?)),
            PosKind::Fixture { dir } => Provider::Fixture(fixture::FixturePos::new(dir.clone())),
            PosKind::Square {
                base_url,
                key,
                resilience,
                square_version,
                locations,
            } => Provider::Square(Box::new(square::SquarePos::new(
                name,
                base_url,
                key.clone(),
                resilience.clone(),
                square_version,
                locations.clone(),
                daemon,
            )?)),
            PosKind::GloriaFood {
                base_url,
                key,
                resilience,
            } => Provider::GloriaFood(Box::new(gloriafood::GloriaFoodPos::new(
                name,
                base_url,
                key.clone(),
                resilience.clone(),
                daemon,
            )?)),
        })
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
                return Ok(mapped(pos.fetch_documents(pos_store_id, max_bytes).await?));
            }
            Provider::GloriaFood(pos) => {
                return Ok(mapped(pos.fetch_documents(pos_store_id, max_bytes).await?));
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
                    client::redact(url)
                ),
            )),
        }
    }
}

/// Documents a provider mapped from its own format; hashed as mapped.
fn mapped((menu, images): (MenuDoc, ImagesDoc)) -> Fetched {
    Fetched::Mapped(Box::new(Documents {
        menu_value: serde_json::to_value(&menu).expect("the menu model always serialises"),
        images_value: serde_json::to_value(&images).expect("the menu model always serialises"),
        menu,
        images,
    }))
}

/// Parses a POS document, quoting the start of the body when it is not what we expect.
fn parse_document<T: DeserializeOwned>(
    what: &str,
    bytes: &[u8],
) -> Result<(serde_json::Value, T), StoreError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|err| {
        StoreError::new(
            Kind::BadDocument,
            format!(
                "the POS {what} is not JSON ({err}); it starts with {}",
                quote(bytes)
            ),
        )
    })?;
    if !value.is_object() {
        return Err(StoreError::new(
            Kind::BadDocument,
            format!(
                "the POS {what} is not a JSON object; it starts with {}",
                quote(bytes)
            ),
        ));
    }
    let parsed = T::deserialize(&value).map_err(|err| {
        StoreError::new(
            Kind::BadDocument,
            format!("the POS {what} does not fit the protocol: {err}"),
        )
    })?;
    Ok((value, parsed))
}

/// At most [`QUOTE_BYTES`] of a body, as a quoted, escaped string safe for one log line.
pub fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(QUOTE_BYTES)]);
    format!("{:?}", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_and_truncated_bodies_are_data_failures_that_quote_the_body() {
        let html = b"<!DOCTYPE html><html><body>Maintenance</body></html>";
        let err = parse_document::<MenuDoc>("menu", html).unwrap_err();
        assert_eq!(err.kind, Kind::BadDocument);
        assert!(err.message.contains("Maintenance"), "{}", err.message);

        let truncated = br#"{"storeId":"S1","items":[{"itemId":"I1""#;
        let err = parse_document::<MenuDoc>("menu", truncated).unwrap_err();
        assert_eq!(err.kind, Kind::BadDocument);

        // A document of the wrong shape fails; one item of the wrong shape
        // costs that item only (issue 12).
        let wrong_shape = br#"{"items":{"itemId":5}}"#;
        let err = parse_document::<MenuDoc>("menu", wrong_shape).unwrap_err();
        assert_eq!(err.kind, Kind::BadDocument);
        let wrong_item = br#"{"items":[{"itemId":5}]}"#;
        let (_, doc) = parse_document::<MenuDoc>("menu", wrong_item).unwrap();
        assert!(doc.items.is_empty());
        assert_eq!(doc.problems[0].subject, "item 5");
    }

    #[test]
    fn quote_is_capped_and_stays_on_one_line() {
        let body = "가".repeat(500);
        let quoted = quote(body.as_bytes());
        assert!(quoted.len() < QUOTE_BYTES + 40, "{}", quoted.len());
        assert!(!quote(b"line1\nline2").contains('\n'));
    }
}
