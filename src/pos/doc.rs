//! The provider-neutral menu model: what every provider hands to the pipeline.
//!
//! Its wire form is the reference protocol of `pos-api.md` (the `http` and
//! `fixture` providers parse it as is); `square` and `gloriafood` map their own
//! formats into it. Unknown fields are ignored on purpose: the POS owns this
//! format and adds fields without asking. Optional fields default the way
//! `pos-api.md` says; `variants` and `isDefault` are extensions the reference
//! protocol does not send.

use serde::{Deserialize, Serialize};

pub use crate::menu::Nutrition;

/// The answer to `POST /api/menu`, or a provider's mapping of its own menu.
///
/// Read leniently: each category and item is checked on its own, and one
/// that does not match the protocol (a price of `4500.5`, `"4500"`, `null`
/// or 2^63) is left out as a problem of that entry, never of the store.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", from = "WireMenuDoc")]
pub struct MenuDoc {
    #[serde(default)]
    pub store_id: Option<String>,
    #[serde(default)]
    pub version: Option<serde_json::Value>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    /// Whether prices include tax; `None` when the POS does not say.
    #[serde(default)]
    pub prices_include_tax: Option<bool>,
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

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryDoc {
    pub category_id: String,
    pub name: String,
    #[serde(default)]
    pub display_order: Option<i64>,
    #[serde(default)]
    pub visible: Option<bool>,
    /// When the category can be ordered; empty: at all hours.
    #[serde(default)]
    pub availability: Vec<WindowDoc>,
}

/// A time window as a POS sends it: day names and local `HH:MM` times,
/// checked and normalised by the transform.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowDoc {
    pub days: Vec<String>,
    pub start: String,
    pub end: String,
}

/// A further category an item is listed in, with its place there.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementDoc {
    pub category_id: String,
    #[serde(default)]
    pub display_order: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
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
    /// Categories the item is listed in besides `categoryId`.
    #[serde(default)]
    pub also_in: Vec<PlacementDoc>,
    /// When the item can be ordered; empty: whenever its category can.
    #[serde(default)]
    pub availability: Vec<WindowDoc>,
    /// Allergen names or codes (`milk`, `TREE_NUTS`, `우유`).
    #[serde(default)]
    pub allergens: Vec<String>,
    /// Dietary facts (`vegan`, `GLUTEN_FREE`, `spicy`).
    #[serde(default)]
    pub dietary: Vec<String>,
    #[serde(default)]
    pub nutrition: Option<Nutrition>,
    /// RFC 3339: when a sold-out item is orderable again.
    #[serde(default)]
    pub sold_out_until: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
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
    #[serde(default)]
    pub image_id: Option<String>,
    #[serde(default)]
    pub sold_out_until: Option<String>,
    #[serde(default)]
    pub nutrition: Option<Nutrition>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionGroupDoc {
    pub group_id: String,
    pub name: String,
    #[serde(default)]
    pub min_select: Option<u32>,
    /// `None`: no upper limit.
    #[serde(default)]
    pub max_select: Option<u32>,
    /// One option may be chosen more than once.
    #[serde(default)]
    pub allow_quantities: Option<bool>,
    #[serde(default)]
    pub options: Vec<OptionDoc>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionDoc {
    pub option_id: String,
    pub name: String,
    #[serde(default)]
    pub price: i64,
    #[serde(default)]
    pub sold_out: Option<bool>,
    /// Preselected when the item is shown.
    #[serde(default)]
    pub is_default: Option<bool>,
    /// With `allowQuantities`: at most this many of this option.
    #[serde(default)]
    pub max_quantity: Option<u32>,
}

/// The answer to `POST /api/images`, or a provider's list of image sources.
///
/// Read leniently like [`MenuDoc`]: a malformed entry costs that image only.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(from = "WireImagesDoc")]
pub struct ImagesDoc {
    #[serde(default)]
    pub images: Vec<ImageDoc>,
    /// Entries left out because they do not match the protocol.
    #[serde(skip)]
    pub problems: Vec<DocProblem>,
}

/// [`MenuDoc`] as it comes off the wire, entries not yet checked one by one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMenuDoc {
    #[serde(default)]
    store_id: Option<String>,
    #[serde(default)]
    version: Option<serde_json::Value>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    prices_include_tax: Option<bool>,
    #[serde(default)]
    categories: Vec<serde_json::Value>,
    #[serde(default)]
    items: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireImagesDoc {
    #[serde(default)]
    images: Vec<serde_json::Value>,
}

impl From<WireMenuDoc> for MenuDoc {
    fn from(wire: WireMenuDoc) -> MenuDoc {
        let mut problems = Vec::new();
        let categories = entries(wire.categories, "category", "categoryId", &mut problems);
        let items = entries(wire.items, "item", "itemId", &mut problems);
        MenuDoc {
            store_id: wire.store_id,
            version: wire.version,
            updated_at: wire.updated_at,
            currency: wire.currency,
            prices_include_tax: wire.prices_include_tax,
            categories,
            items,
            problems,
        }
    }
}

impl From<WireImagesDoc> for ImagesDoc {
    fn from(wire: WireImagesDoc) -> ImagesDoc {
        let mut problems = Vec::new();
        let images = entries(wire.images, "image", "imageId", &mut problems);
        ImagesDoc { images, problems }
    }
}

/// Every entry that reads as a `T`; each other one becomes a problem named
/// by its id where it has one, else by its position.
fn entries<T: serde::de::DeserializeOwned>(
    values: Vec<serde_json::Value>,
    kind: &str,
    id_field: &str,
    problems: &mut Vec<DocProblem>,
) -> Vec<T> {
    let mut kept = Vec::with_capacity(values.len());
    for (index, value) in values.into_iter().enumerate() {
        let subject = match value.get(id_field) {
            Some(serde_json::Value::String(id)) => format!("{kind} {id}"),
            Some(serde_json::Value::Number(id)) => format!("{kind} {id}"),
            _ => format!("{kind} #{} in the list", index + 1),
        };
        match T::deserialize(value) {
            Ok(entry) => kept.push(entry),
            Err(err) => problems.push(DocProblem {
                subject,
                message: format!("left out: {}", plain_serde_message(&err.to_string())),
            }),
        }
    }
    kept
}

/// serde's words for the types a POS gets wrong, in words staff use.
fn plain_serde_message(message: &str) -> String {
    message
        .replace(
            "expected i64",
            "expected a whole number (minor units, e.g. 4500)",
        )
        .replace("expected u64", "expected a whole number of 0 or more")
        .replace("expected u32", "expected a whole number of 0 or more")
        .replace("expected a boolean", "expected true or false")
        .replace("expected a sequence", "expected a list [ ... ]")
        .replace("expected a string", "expected text in quotes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(price: serde_json::Value) -> serde_json::Value {
        json!({"itemId": "I1", "categoryId": "C1", "name": "커피", "price": price})
    }

    /// Issue 12: one badly typed price refused the whole store.
    #[test]
    fn a_badly_typed_price_costs_its_item_only() {
        let doc: MenuDoc = serde_json::from_value(json!({
            "categories": [{"categoryId": "C1", "name": "커피"}, {"name": "no id"}],
            "items": [
                item(json!(4500)),
                item(json!(4500.5)),
                item(json!("4500")),
                item(json!(null)),
                item(json!(9_223_372_036_854_775_808_u64)),
                {"categoryId": "C1", "name": "no id", "price": 1},
            ],
        }))
        .expect("a menu with bad entries still reads");
        assert_eq!(doc.items.len(), 1);
        assert_eq!(doc.categories.len(), 1);
        let subjects: Vec<&str> = doc.problems.iter().map(|p| p.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "category #2 in the list",
                "item I1",
                "item I1",
                "item I1",
                "item I1",
                "item #6 in the list"
            ]
        );
        assert!(
            doc.problems[1].message.contains("expected a whole number"),
            "{}",
            doc.problems[1].message
        );
    }

    #[test]
    fn a_malformed_image_entry_costs_that_image_only() {
        let doc: ImagesDoc = serde_json::from_value(json!({"images": [
            {"imageId": "IMG1", "url": "a.jpg"},
            {"imageId": "IMG2", "url": 7},
        ]}))
        .unwrap();
        assert_eq!(doc.images.len(), 1);
        assert_eq!(doc.problems[0].subject, "image IMG2");
    }

    #[test]
    fn the_top_level_shape_is_still_checked() {
        assert!(serde_json::from_value::<MenuDoc>(json!({"items": {"a": 1}})).is_err());
        assert!(serde_json::from_value::<MenuDoc>(json!([1, 2])).is_err());
    }
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
