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

/// A tiny web server on 127.0.0.1:0 serving `root`, recording every path
/// asked for; it stops when dropped (its accept loop polls a flag).
struct LoggingServer {
    port: u16,
    paths: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoggingServer {
    fn start(root: std::path::PathBuf) -> LoggingServer {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let paths = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (logged, stopping) = (paths.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: two minutes at most, whatever the test does.
            let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while !stopping.load(std::sync::atomic::Ordering::Relaxed)
                && std::time::Instant::now() < until
            {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
                logged.lock().unwrap().push(path.clone());
                let file = root.join(path.trim_start_matches('/'));
                let (status, body) = match std::fs::read(&file) {
                    Ok(body) if !path.contains("..") => ("200 OK", body),
                    _ => ("404 Not Found", Vec::new()),
                };
                let kind = match file.extension().and_then(|e| e.to_str()) {
                    Some("html") => "text/html; charset=utf-8",
                    Some("webp") => "image/webp",
                    Some("jpg") => "image/jpeg",
                    Some("png") => "image/png",
                    _ => "application/octet-stream",
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        LoggingServer {
            port,
            paths,
            stop,
            thread: Some(thread),
        }
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

impl Drop for LoggingServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A phone (390 CSS px wide, 3 device pixels each) opening the preview
/// page: the browser asks for the 320-px WebP of the phone photo, never
/// its 640 or 1280 files, as the page's `srcset`/`sizes` say. What it
/// fetched is read off the server's own request log.
#[test]
fn a_phone_browser_loads_the_small_variant_of_the_preview_page() {
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
    };
    write_pos(&env.path().join("pos"), 1000);
    config(&env);
    once(&env);
    let menu = env.store("gangnam").menu();
    let variants = item(&menu, "I0")["imageVariants"]
        .as_array()
        .unwrap()
        .clone();
    let file = |i: usize, key: &str| variants[i][key].as_str().unwrap().to_string();

    let server = LoggingServer::start(env.path().join("state/preview/gangnam"));
    let output = std::process::Command::new("timeout")
        .arg("60")
        .arg("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=390,844",
            "--force-device-scale-factor=3",
            "--dump-dom",
        ])
        .arg(format!("http://127.0.0.1:{}/index.html", server.port))
        .output()
        .expect("chromium runs (tests/setup.sh tests installs it)");
    assert!(output.status.success(), "{}", text(&output));
    let paths = server.paths();
    drop(server);
    assert!(paths.contains(&"/index.html".to_string()), "{paths:?}");
    assert!(
        paths.contains(&file(0, "webp")),
        "the 320-px WebP: {paths:?}"
    );
    for larger in [
        file(1, "webp"),
        file(1, "jpeg"),
        file(2, "webp"),
        file(2, "jpeg"),
    ] {
        assert!(!paths.contains(&larger), "{larger} fetched: {paths:?}");
    }
}

/// Image work keeps to the pass's deadline: with `pass_timeout_secs = 2`
/// (1.5 s for the images stage) and more phone photos than two cores make
/// in that time, the store still publishes on time, the photos not made
/// are left out of their items as `not made in time`, and those made are there.
#[test]
fn photos_not_made_before_the_deadline_are_left_out_and_the_store_publishes() {
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
    };
    let store = env.path().join("pos/S001");
    std::fs::create_dir_all(store.join("img")).unwrap();
    const PHOTOS: usize = 24;
    let (mut images, mut items) = (Vec::new(), Vec::new());
    let photo = phone_jpeg(4032, 3024, 6);
    for i in 0..PHOTOS {
        let file = format!("img/{i}.jpg");
        // Bytes after a JPEG's end are ignored by decoders; each is its own content.
        let mut bytes = photo.clone();
        bytes.extend_from_slice(format!("photo {i}").as_bytes());
        std::fs::write(store.join(&file), bytes).unwrap();
        images.push(json!({"imageId": format!("IMG{i}"), "url": file}));
        items.push(json!({"itemId": format!("I{i}"), "categoryId": "C",
            "name": format!("메뉴 {i}"), "price": 1000, "imageId": format!("IMG{i}")}));
    }
    let menu = json!({"categories": [{"categoryId": "C", "name": "전체"}], "items": items});
    std::fs::write(store.join("menu.json"), menu.to_string()).unwrap();
    std::fs::write(
        store.join("images.json"),
        json!({"images": images}).to_string(),
    )
    .unwrap();
    env.write_config(
        r#"
[daemon]
state_dir = "state"
pass_timeout_secs = 2
[pos.demo]
kind = "fixture"
path = "pos"
[[store]]
id = "gangnam"
name = "강남점"
pos = "demo"
pos_store_id = "S001"
"#,
    );
    let started = std::time::Instant::now();
    let log = once(&env);
    let took = started.elapsed();
    // The 2 s pass plus start-up and the photos still on a core when it ended.
    assert!(took < std::time::Duration::from_secs(10), "{took:?}\n{log}");
    let menu = env.store("gangnam").menu();
    let with_image = (0..PHOTOS)
        .filter(|i| item(&menu, &format!("I{i}")).get("imageVariants").is_some())
        .count();
    assert!(with_image < PHOTOS, "every photo was made in 1.5 s: {log}");
    assert!(log.contains("not made in time"), "{log}");
    assert_eq!(
        menu["categories"][0]["items"].as_array().unwrap().len(),
        PHOTOS
    );
}
