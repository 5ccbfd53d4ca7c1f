//! What a fetch hands back: [`Fetched`], the reference bodies unparsed with
//! their sha256, or a vendor's answer named by a digest and mapped into the
//! model only on demand ([`Vendor`]).
//!
//! The documents are parsed (or mapped) only when the pipeline asks for them,
//! so a pass whose inputs match the last ones (by their digests) never
//! parses or maps them.

use sha2::{Digest, Sha256};

use super::doc::{ImagesDoc, MenuDoc};
use super::parse::parse_document;
use crate::error::StoreError;

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

/// Maps a vendor's answer into the model, when the pipeline needs it.
type Mapper = Box<dyn FnOnce() -> Result<(MenuDoc, ImagesDoc), StoreError> + Send + Sync>;

/// A vendor's answer (`square`, `gloriafood`), not mapped yet: the sha256
/// the provider derived from exactly what the mapping would read (the body,
/// or the kept catalog, with the store's location and the mapping's
/// revision), and the mapping itself, run only by [`Fetched::documents`].
pub struct Vendor {
    pub digest: [u8; 32],
    map: Mapper,
}

impl Vendor {
    /// `digest` must change whenever what `map` would return may change.
    pub(super) fn new(
        digest: [u8; 32],
        map: impl FnOnce() -> Result<(MenuDoc, ImagesDoc), StoreError> + Send + Sync + 'static,
    ) -> Vendor {
        Vendor {
            digest,
            map: Box::new(map),
        }
    }
}

impl std::fmt::Debug for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vendor({})", hex::encode(self.digest))
    }
}

/// What a fetch hands back, before any parsing.
#[derive(Debug)]
pub enum Fetched {
    /// `http` and `fixture`: the reference documents as received.
    Raw { menu: Body, images: Body },
    /// `square` and `gloriafood`: the vendor's answer, mapped on demand.
    Vendor(Vendor),
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
            Fetched::Vendor(vendor) => {
                let (menu, images) = (vendor.map)()?;
                Ok(Some(Documents {
                    menu_value: serde_json::to_value(&menu)
                        .expect("the menu model always serialises"),
                    images_value: serde_json::to_value(&images)
                        .expect("the menu model always serialises"),
                    menu,
                    images,
                }))
            }
        }
    }
}
