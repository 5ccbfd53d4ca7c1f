//! S8 (issue 26): one store of 40 items, each a phone photo (4032×3024 JPEG,
//! EXIF orientation 6, GPS, XMP, a few MB), published with variants and
//! without: the bytes a phone downloads, the CPU each new photo costs, and a
//! quiet pass after it, which must read and make nothing.

use super::*;

#[allow(dead_code)]
#[path = "../../tests/common/photos.rs"]
mod photos_of_a_phone;

/// How big S8 is: full, or `--smoke` (small photos, few items).
pub(crate) struct PhotoSizes {
    pub(crate) items: usize,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// A fixture POS store `P1` of `sizes.items` photos under `dir/pos`;
/// returns the originals' total bytes.
fn write_store(dir: &Path, sizes: &PhotoSizes) -> u64 {
    let store = dir.join("pos/P1");
    std::fs::create_dir_all(store.join("img")).expect("fixture folder");
    let (mut items, mut images, mut total) = (Vec::new(), Vec::new(), 0);
    for i in 0..sizes.items {
        let bytes = photos_of_a_phone::photo(sizes.width, sizes.height, 6, i as u64 + 1);
        total += bytes.len() as u64;
        let file = format!("img/{i}.jpg");
        std::fs::write(store.join(&file), &bytes).expect("photo");
        images.push(serde_json::json!({"imageId": format!("IMG{i}"), "url": file}));
        items.push(
            serde_json::json!({"itemId": format!("I{i}"), "categoryId": "C",
            "name": format!("메뉴 {i}"), "price": 1000 + i, "imageId": format!("IMG{i}")}),
        );
    }
    let menu =
        serde_json::json!({"categories": [{"categoryId": "C", "name": "전체"}], "items": items});
    std::fs::write(store.join("menu.json"), menu.to_string()).expect("menu");
    std::fs::write(
        store.join("images.json"),
        serde_json::json!({"images": images}).to_string(),
    )
    .expect("images");
    total
}

/// A universe of one store over the fixture POS in `dir`, variants on or off.
fn photo_universe(dir: tempfile::TempDir, variants: bool) -> Universe {
    let config_path = dir.path().join("stores.toml");
    let text = format!(
        "[daemon]\nstate_dir = \"state\"\nimage_variants = {variants}\n\
         [pos.photos]\nkind = \"fixture\"\npath = \"pos\"\n\
         [[store]]\nid = \"s0\"\nname = \"사진점\"\npos = \"photos\"\npos_store_id = \"P1\"\n"
    );
    std::fs::write(&config_path, text).expect("config");
    Universe {
        dir,
        config_path,
        ids: vec!["s0".to_string()],
        pos_ids: vec!["P1".to_string()],
        concurrency: 1,
    }
}

/// `menusync once` on `u`, measured: its row, and the log it wrote.
async fn once(u: &Universe, name: &str, wrap: &[String]) -> (Row, String) {
    let log_before = std::fs::read_to_string(u.log_path())
        .unwrap_or_default()
        .len();
    let before = u.current_release(0);
    let started = Instant::now();
    let daemon = u.spawn(&["once".to_string()], wrap);
    let usage = tokio::task::spawn_blocking(move || daemon.wait())
        .await
        .expect("wait");
    let log = std::fs::read_to_string(u.log_path()).unwrap_or_default()[log_before..].to_string();
    let published = u.current_release(0) != before;
    let failed = usize::from(usage.exit != Some(0) || u.failure(0).is_some());
    let row = Row {
        name: name.to_string(),
        stores: 1,
        wall: started.elapsed().as_secs_f64(),
        cpu: usage.cpu,
        rss_mb: usage.rss_mb,
        published: usize::from(published && failed == 0),
        unchanged: usize::from(!published && failed == 0),
        failed,
        ..Row::default()
    };
    (row, log)
}

/// The bytes of each item's file at the narrowest width of at least
/// `device_px` (the widest when none is), in `format` (`webp`, `jpeg`).
fn phone_bytes(release: &Path, device_px: u64, format: &str) -> u64 {
    let menu: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release.join("data/menu.json")).expect("menu.json"))
            .expect("menu JSON");
    let mut total = 0;
    for category in menu["categories"].as_array().expect("categories") {
        for item in category["items"].as_array().expect("items") {
            let Some(variants) = item["imageVariants"].as_array() else {
                continue;
            };
            let chosen = variants
                .iter()
                .find(|v| v["width"].as_u64().unwrap_or(0) >= device_px)
                .or(variants.last())
                .expect("a variant");
            let path = chosen[format]
                .as_str()
                .expect("path")
                .trim_start_matches('/');
            total += std::fs::metadata(release.join(path)).map_or(0, |m| m.len());
        }
    }
    total
}

pub(crate) async fn phone_photos(sizes: &PhotoSizes, plan: &Plan) -> Vec<Row> {
    let on = photo_universe(tempfile::tempdir().expect("tempdir"), true);
    let off = photo_universe(tempfile::tempdir().expect("tempdir"), false);
    let originals = write_store(on.dir.path(), sizes);
    write_store(off.dir.path(), sizes);
    let n = sizes.items;

    let (mut without, _) = once(
        &off,
        &format!("S8 {n} phone photos, variants off"),
        &plan.wrap,
    )
    .await;
    let (mut with, log) = once(
        &on,
        &format!("S8 {n} phone photos, variants on"),
        &plan.wrap,
    )
    .await;
    let (mut quiet, quiet_log) = once(&on, "S8 quiet pass after it", &plan.wrap).await;
    let made: usize = log
        .lines()
        .filter_map(|line| line.split("variants made for ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse::<usize>().ok())
        .sum();
    if made != n {
        with.failed = 1;
        eprintln!(
            "S8: {made} photos made, not {n}; see {}",
            on.log_path().display()
        );
    }
    if quiet.published != 0 || quiet_log.contains("variants made for") {
        quiet.failed = 1;
        eprintln!("S8: the quiet pass published or made variants:\n{quiet_log}");
    }
    let release = on.current_release(0).expect("S8 published");
    let thumbnails = phone_bytes(&release, 3 * 84, "webp");
    let full_width = phone_bytes(&release, 3 * 390, "webp");
    let full_width_jpeg = phone_bytes(&release, 3 * 390, "jpeg");
    let per_photo_ms = (with.cpu - without.cpu) / n as f64 * 1000.0;
    without.extra = format!("originals published as sent: {} in all", mb(originals));
    with.extra = format!(
        "{made} photos made; extra CPU {per_photo_ms:.0} ms per new photo; a 390-px phone at 3× \
         downloads {} as 84-px thumbnails (320w WebP, {:.0}× fewer than the originals), {} at \
         full width (1280w WebP, {:.1}× fewer; {} as JPEG, {:.1}× fewer)",
        mb(thumbnails),
        originals as f64 / thumbnails.max(1) as f64,
        mb(full_width),
        originals as f64 / full_width.max(1) as f64,
        mb(full_width_jpeg),
        originals as f64 / full_width_jpeg.max(1) as f64,
    );
    quiet.extra = "nothing read, decoded or made: no \"variants made\" line".to_string();
    vec![without, with, quiet]
}
