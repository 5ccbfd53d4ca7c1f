//! Change detection: one sha256 over everything a store's output depends on.
//!
//! The POS's own `version` and `updatedAt` are not trusted alone (POS systems
//! bump them without change and forget to bump them on change), so the hash
//! covers the canonical form of both POS documents plus the store's settings.
//! Canonical means parsed and re-serialised with object keys sorted, so key
//! order and whitespace never count as a change.

use sha2::{Digest, Sha256};

use crate::config::StoreSettings;
use crate::menu::SCHEMA_VERSION;

/// Bumped when the transform changes what it produces from the same input,
/// so that every store republishes once after an upgrade.
pub const TRANSFORM_REVISION: u32 = 1;

/// The canonical bytes of a JSON value: compact, object keys sorted.
///
/// `serde_json::Map` is a `BTreeMap` here (the `preserve_order` feature is
/// off), so serialising a parsed value sorts its keys.
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a serde_json::Value always serialises")
}

/// The content hash of one store's inputs, as lower-case hex.
pub fn content_hash(
    store_id: &str,
    menu: &serde_json::Value,
    images: &serde_json::Value,
    settings: &StoreSettings,
) -> String {
    hash_inputs(
        "",
        store_id,
        settings,
        &canonical_json(menu),
        &canonical_json(images),
    )
}

/// A hash of the same inputs with the POS bodies taken as received (by their
/// sha256), not canonical: cheap, and a different domain from [`content_hash`].
/// Equal fingerprints imply equal content hashes; the reverse does not hold.
pub fn raw_fingerprint(
    store_id: &str,
    menu_digest: &[u8; 32],
    images_digest: &[u8; 32],
    settings: &StoreSettings,
) -> String {
    hash_inputs("raw ", store_id, settings, menu_digest, images_digest)
}

/// The same for a vendor's answer, named by the digest its provider gave it
/// (which changes whenever its mapping may): another domain again.
pub fn vendor_fingerprint(store_id: &str, digest: &[u8; 32], settings: &StoreSettings) -> String {
    hash_inputs("vendor ", store_id, settings, digest, b"")
}

fn hash_inputs(
    domain: &str,
    store_id: &str,
    settings: &StoreSettings,
    menu: &[u8],
    images: &[u8],
) -> String {
    let mut hasher = Sha256::new();
    let settings = serde_json::to_value(settings).expect("store settings always serialise");
    let revision =
        format!("menusync {domain}schema {SCHEMA_VERSION} transform {TRANSFORM_REVISION}");
    let parts: [&[u8]; 5] = [
        revision.as_bytes(),
        store_id.as_bytes(),
        &canonical_json(&settings),
        menu,
        images,
    ];
    for part in parts {
        // Length-prefix each part so that moving bytes between parts changes the hash.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::json;

    use super::*;

    fn settings() -> StoreSettings {
        StoreSettings {
            display_name: "강남점".into(),
            hidden_categories: BTreeSet::new(),
            hidden_items: BTreeSet::new(),
            price_overrides: BTreeMap::new(),
            time_zone: "Asia/Seoul".into(),
            publish_allergens: true,
            image_variants: Default::default(),
        }
    }

    #[test]
    fn key_order_and_whitespace_do_not_change_the_hash() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"storeId":"S1","items":[{"itemId":"I1","price":4500}]}"#)
                .unwrap();
        let b: serde_json::Value = serde_json::from_str(
            "{ \"items\" : [ { \"price\": 4500, \"itemId\": \"I1\" } ],\n \"storeId\": \"S1\" }",
        )
        .unwrap();
        let images = json!({"images": []});
        assert_eq!(
            content_hash("gangnam", &a, &images, &settings()),
            content_hash("gangnam", &b, &images, &settings())
        );
    }

    #[test]
    fn every_input_changes_the_hash() {
        let menu = json!({"items": [{"itemId": "I1", "price": 4500}]});
        let images = json!({"images": []});
        let base = content_hash("gangnam", &menu, &images, &settings());

        let cheaper = json!({"items": [{"itemId": "I1", "price": 4400}]});
        assert_ne!(
            base,
            content_hash("gangnam", &cheaper, &images, &settings())
        );

        let more_images = json!({"images": [{"imageId": "A", "url": "a.jpg"}]});
        assert_ne!(
            base,
            content_hash("gangnam", &menu, &more_images, &settings())
        );

        let mut overridden = settings();
        overridden.price_overrides.insert("I1".into(), 5000);
        assert_ne!(base, content_hash("gangnam", &menu, &images, &overridden));

        assert_ne!(base, content_hash("yeoksam", &menu, &images, &settings()));
    }

    #[test]
    fn array_order_is_a_change() {
        // Display order can follow document order, so reordering is a real change.
        let a = json!({"items": [{"itemId": "I1"}, {"itemId": "I2"}]});
        let b = json!({"items": [{"itemId": "I2"}, {"itemId": "I1"}]});
        let images = json!({});
        assert_ne!(
            content_hash("s", &a, &images, &settings()),
            content_hash("s", &b, &images, &settings())
        );
    }
}
