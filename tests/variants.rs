//! Photos a phone can afford (issue 26): a phone's 4032×3024 JPEG, stored
//! sideways (EXIF orientation 6) with GPS tags and XMP, is published as
//! upright WebP and JPEG variants at the widths asked, with no metadata;
//! the same photo in a second store or a later release is not made again;
//! a photo no decoder can read costs its item's picture only.

mod common;

use std::path::Path;

use serde_json::{Value, json};

use common::photos::{headless_jpeg, jpeg_segments, phone_jpeg, webp_chunks};
use common::{Env, item, text, tree_menu};

/// A fixture POS store `S001`: I0 the phone photo, I1 a photo whose scan is
/// cut off, I2 a small PNG; `price` moves I2's price to make a new release.
fn write_pos(dir: &Path, price: i64) {
    let store = dir.join("S001");
    std::fs::create_dir_all(store.join("img")).unwrap();
    let files: [(&str, Vec<u8>); 3] = [
        ("img/phone.jpg", phone_jpeg(4032, 3024, 6)),
        ("img/broken.jpg", headless_jpeg()),
        ("img/small.png", common::fixture_image("IMG102.png")),
    ];
    let mut images = Vec::new();
    let mut items = Vec::new();
    for (i, (file, bytes)) in files.iter().enumerate() {
        std::fs::write(store.join(file), bytes).unwrap();
        images.push(json!({"imageId": format!("IMG{i}"), "url": file}));
        items.push(json!({"itemId": format!("I{i}"), "categoryId": "C",
            "name": format!("메뉴 {i}"), "price": price + i as i64, "imageId": format!("IMG{i}")}));
    }
    let menu = json!({"categories": [{"categoryId": "C", "name": "전체"}], "items": items});
    std::fs::write(store.join("menu.json"), menu.to_string()).unwrap();
    std::fs::write(
        store.join("images.json"),
        json!({"images": images}).to_string(),
    )
    .unwrap();
}

fn config(env: &Env) {
    env.write_config(
        r#"
[daemon]
state_dir = "state"
hold_price_change_percent = 0
image_widths = [320, 640, 1280]
[pos.demo]
kind = "fixture"
path = "pos"
[target.web]
kind = "rsync"
dest = "web"
[[store]]
id = "gangnam"
name = "강남점"
pos = "demo"
pos_store_id = "S001"
targets = ["web"]
[[store]]
id = "yeoksam"
name = "역삼점"
pos = "demo"
pos_store_id = "S001"
targets = ["web"]
"#,
    );
}

/// Photos made, summed over every "variants made for N new photos" line.
fn photos_made(log: &str) -> usize {
    log.lines()
        .filter_map(|line| line.split("variants made for ").nth(1))
        .map(|rest| rest.split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum()
}

fn once(env: &Env) -> String {
    let output = env.run_blocking(&["once"]);
    assert!(output.status.success(), "{}", text(&output));
    text(&output)
}

#[test]
fn a_phone_photo_is_published_upright_small_and_bare_and_made_once() {
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
    };
    write_pos(&env.path().join("pos"), 1000);
    config(&env);
    let log = once(&env);
    // Two stores, one phone photo and one PNG: each made once, whichever
    // store came first; the broken one is made by nobody.
    assert_eq!(photos_made(&log), 2, "{log}");

    for store in ["gangnam", "yeoksam"] {
        let current = env.store(store).current();
        let menu = tree_menu(&current);
        let phone = item(&menu, "I0");
        let variants = phone["imageVariants"].as_array().expect("variants");
        let sizes: Vec<(u64, u64)> = variants
            .iter()
            .map(|v| (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap()))
            .collect();
        // 4032×3024 stored, 3024×4032 upright.
        assert_eq!(sizes, [(320, 426), (640, 853), (1280, 1706)], "{store}");
        assert_eq!(
            phone["image"], variants[2]["jpeg"],
            "image is the widest JPEG"
        );
        for variant in variants {
            check_variant(&current, variant);
        }
        // The broken photo costs its item's picture only.
        let broken = item(&menu, "I1");
        assert!(broken.get("image").is_none() && broken.get("imageVariants").is_none());
        // The small PNG is never upscaled: one width, its own.
        let small = item(&menu, "I2");
        assert_eq!(small["imageVariants"].as_array().unwrap().len(), 1);
        // No original is published, and nothing the menu does not name.
        let mut files: Vec<String> = std::fs::read_dir(current.join("images"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let mut named = common::image_files(&menu)
            .into_iter()
            .map(|path| path.trim_start_matches("/images/").to_string())
            .collect::<Vec<_>>();
        named.sort();
        named.dedup();
        assert_eq!(files, named, "{store}");
        assert!(files.iter().all(|name| name.contains('-')), "{files:?}");
    }

    // A new release of both stores: nothing is made again.
    write_pos(&env.path().join("pos"), 2000);
    let log = once(&env);
    assert!(log.contains("variants made for 0 new photos"), "{log}");
    assert_eq!(photos_made(&log), 0, "{log}");
    assert_eq!(item(&env.store("gangnam").menu(), "I2")["price"], 2002);
}

/// One variant: both files decode at its size, upright (the red corner at
/// the top right), with no EXIF, XMP or GPS left.
fn check_variant(release: &Path, variant: &Value) {
    let (width, height) = (
        variant["width"].as_u64().unwrap() as u32,
        variant["height"].as_u64().unwrap() as u32,
    );
    for key in ["webp", "jpeg"] {
        let path = variant[key].as_str().unwrap().trim_start_matches('/');
        let bytes = std::fs::read(release.join(path)).unwrap();
        if key == "jpeg" {
            for (marker, payload) in jpeg_segments(&bytes) {
                assert!(
                    !(0xE1..=0xEF).contains(&marker),
                    "{path}: APP{} segment left",
                    marker - 0xE0
                );
                assert!(!payload.windows(4).any(|w| w == b"Exif"), "{path}");
            }
        } else {
            let chunks = webp_chunks(&bytes);
            assert!(
                chunks
                    .iter()
                    .all(|id| !["EXIF", "XMP ", "ICCP"].contains(&id.as_str())),
                "{path}: {chunks:?}"
            );
        }
        let picture = image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert_eq!(picture.dimensions(), (width, height), "{path}");
        let top_right = picture.get_pixel(width - 4, 3).0;
        let top_left = picture.get_pixel(3, 3).0;
        assert!(
            top_right[0] > 170 && top_right[2] < 90,
            "{path}: {top_right:?}"
        );
        assert!(
            top_left[2] > 120 && top_left[0] < 90,
            "{path}: {top_left:?}"
        );
    }
}
