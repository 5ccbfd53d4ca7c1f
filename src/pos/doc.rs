//! The provider-neutral menu model: what every provider hands to the pipeline.
//!
//! Its wire form is the reference protocol of `pos-api.md` (the `http` and
//! `fixture` providers parse it as is); `square` and `gloriafood` map their own
//! formats into it. Unknown fields are ignored on purpose: the POS owns this
//! format and adds fields without asking. Optional fields default the way
//! `pos-api.md` says; `variants` and `isDefault` are extensions the reference
//! protocol does not send.

use serde::{Deserialize, Serialize};

/// The answer to `POST /api/menu`, or a provider's mapping of its own menu.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuDoc {
    #[serde(default)]
    pub store_id: Option<String>,
    #[serde(default)]
    pub version: Option<serde_json::Value>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub categories: Vec<CategoryDoc>,
    #[serde(default)]
    pub items: Vec<ItemDoc>,
    /// What a provider's mapping left out and why; the transform reports these
    /// with its own problems. Never read from or written to the wire.
    #[serde(skip)]
    pub problems: Vec<DocProblem>,
}

/// Something a provider could not map, e.g. an item whose price does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocProblem {
    /// What was left out, e.g. `item 58424`.
    pub subject: String,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryDoc {
    pub category_id: String,
    pub name: String,
    #[serde(default)]
    pub display_order: Option<i64>,
    #[serde(default)]
    pub visible: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemDoc {
    pub item_id: String,
    pub category_id: String,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// With `variants`, ignored: the item shows its default variant's price.
    pub price: i64,
    #[serde(default)]
    pub display_order: Option<i64>,
    #[serde(default)]
    pub sold_out: Option<bool>,
    #[serde(default)]
    pub visible: Option<bool>,
    #[serde(default)]
    pub image_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub option_groups: Vec<OptionGroupDoc>,
    /// Sizes or variations, each with its full price (not a difference).
    #[serde(default)]
    pub variants: Vec<VariantDoc>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantDoc {
    pub variant_id: String,
    pub name: String,
    pub price: i64,
    #[serde(default)]
    pub sold_out: Option<bool>,
    /// The variant to preselect; when none is, the first one is.
    #[serde(default)]
    pub is_default: Option<bool>,
    /// Groups that apply only when this variant is chosen.
    #[serde(default)]
    pub option_groups: Vec<OptionGroupDoc>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionGroupDoc {
    pub group_id: String,
    pub name: String,
    #[serde(default)]
    pub min_select: Option<u32>,
    /// `None`: no upper limit.
    #[serde(default)]
    pub max_select: Option<u32>,
    #[serde(default)]
    pub options: Vec<OptionDoc>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionDoc {
    pub option_id: String,
    pub name: String,
    #[serde(default)]
    pub price: i64,
    #[serde(default)]
    pub sold_out: Option<bool>,
}

/// The answer to `POST /api/images`, or a provider's list of image sources.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ImagesDoc {
    #[serde(default)]
    pub images: Vec<ImageDoc>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDoc {
    pub image_id: String,
    pub url: String,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub updated_at: Option<String>,
}
