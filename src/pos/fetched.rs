//! What a fetch hands back: [`Fetched`], the reference bodies unparsed with
//! their sha256, or a vendor's menu already mapped into the model.
//!
//! The documents are parsed only when the pipeline asks for them, so a pass
//! whose inputs match the last ones (by the bodies' digests) never parses them.

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

/// Documents a provider mapped from its own format; hashed as mapped.
pub(super) fn mapped((menu, images): (MenuDoc, ImagesDoc)) -> Fetched {
    Fetched::Mapped(Box::new(Documents {
        menu_value: serde_json::to_value(&menu).expect("the menu model always serialises"),
        images_value: serde_json::to_value(&images).expect("the menu model always serialises"),
        menu,
        images,
    }))
}
