//! A generated store for the `fixture` provider: many items, each with its own image.

use std::path::Path;

use serde_json::json;

/// A fixture POS store `S001` with `n_items` items, item `i` with its own PNG made
/// distinct by `salt(i)`, and prices `price + i`.
pub fn write_store(dir: &Path, n_items: usize, price: i64, salt: &dyn Fn(usize) -> String) {
    let store = dir.join("S001");
    std::fs::create_dir_all(store.join("img")).unwrap();
    let base_png = super::fixture_image("IMG102.png");
    let mut items = Vec::new();
    let mut images = Vec::new();
    for i in 0..n_items {
        // Bytes after a PNG's end are ignored by readers; they make each image distinct.
        let mut bytes = base_png.clone();
        bytes.extend_from_slice(salt(i).as_bytes());
        let file = format!("img/{i}.png");
        std::fs::write(store.join(&file), &bytes).unwrap();
        images.push(
            json!({"imageId": format!("IMG{i}"), "url": file, "sha256": super::sha256_hex(&bytes)}),
        );
        items.push(
            json!({"itemId": format!("I{i}"), "categoryId": "C", "name": format!("메뉴 {i}"),
                          "price": price + i as i64, "imageId": format!("IMG{i}")}),
        );
    }
    let menu = json!({"categories": [{"categoryId": "C", "name": "전체"}], "items": items});
    std::fs::write(store.join("menu.json"), menu.to_string()).unwrap();
    std::fs::write(
        store.join("images.json"),
        json!({"images": images}).to_string(),
    )
    .unwrap();
}
