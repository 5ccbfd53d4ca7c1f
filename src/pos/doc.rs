//! The two documents of the reference POS protocol (`pos-api.md`), as parsed.
//!
//! Unknown fields are ignored on purpose: the POS owns this format and adds
//! fields without asking. Optional fields default the way `pos-api.md` says.

use serde::Deserialize;

/// The answer to `POST /api/menu`.
#[derive(Debug, Clone, Deserialize)]
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryDoc {
    pub category_id: String,
    pub name: String,
    #[serde(default)]
    pub display_order: Option<i64>,
    #[serde(default)]
    pub visible: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemDoc {
    pub item_id: String,
    pub category_id: String,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionGroupDoc {
    pub group_id: String,
    pub name: String,
    #[serde(default)]
    pub min_select: Option<u32>,
    #[serde(default)]
    pub max_select: Option<u32>,
    #[serde(default)]
    pub options: Vec<OptionDoc>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionDoc {
    pub option_id: String,
    pub name: String,
    #[serde(default)]
    pub price: i64,
    #[serde(default)]
    pub sold_out: Option<bool>,
}

/// The answer to `POST /api/images`.
#[derive(Debug, Clone, Deserialize)]
pub struct ImagesDoc {
    #[serde(default)]
    pub images: Vec<ImageDoc>,
}

#[derive(Debug, Clone, Deserialize)]
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
