//! Tests of the images stage's checks: names, caps, formats, pixels, sha256, spilling.

use super::*;

#[test]
fn sniff_recognises_each_format_and_nothing_else() {
    let cases: [(&[u8], Option<ImageFormat>); 8] = [
        (b"\xFF\xD8\xFF\xE0\x00\x10JFIF", Some(ImageFormat::Jpeg)),
        (b"\x89PNG\r\n\x1a\n\x00\x00", Some(ImageFormat::Png)),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", Some(ImageFormat::Webp)),
        (b"GIF89a\x01\x00", Some(ImageFormat::Gif)),
        (b"GIF87a\x01\x00", Some(ImageFormat::Gif)),
        (b"<!DOCTYPE html><html>", None),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"", None),
    ];
    for (head, expected) in cases {
        assert_eq!(ImageFormat::sniff(head), expected, "head {head:?}");
    }
}

/// The start of a PNG: signature and IHDR announcing `width`×`height`.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bytes.extend(width.to_be_bytes());
    bytes.extend(height.to_be_bytes());
    bytes.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
    bytes
}

/// Issue 12: a 20000×20000 PNG of a few kilobytes passed the magic-byte
/// check and went to customers' phones.
#[tokio::test]
async fn an_image_announcing_more_pixels_than_allowed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = png_header(20_000, 20_000);
    let mut sink = ImageSink::new(dir.path().join("a"), 1 << 20, 25_000_000);
    sink.write(&bomb).await.unwrap();
    let err = sink.finish(None, dir.path()).await.unwrap_err();
    assert_eq!(err.kind, Kind::BadImage);
    assert!(err.message.contains("20000×20000"), "{}", err.message);

    // The same check when the image outgrew memory and its frame header
    // lies past the kept head (a JPEG after a big EXIF block).
    let mut jpeg = vec![0xFF, 0xD8];
    for _ in 0..3 {
        jpeg.extend([0xFF, 0xE1, 0xFF, 0xFF]);
        jpeg.extend(vec![0u8; 0xFFFF - 2]);
    }
    jpeg.extend([0xFF, 0xC0, 0x00, 0x11, 0x08, 0x4E, 0x20, 0x4E, 0x20]);
    jpeg.extend([0u8; 9]);
    assert!(jpeg.len() > HEAD_BYTES && jpeg.len() > SINK_BUFFER);
    let mut sink = ImageSink::new(dir.path().join("b"), 1 << 20, 25_000_000);
    sink.write(&jpeg).await.unwrap();
    let err = sink.finish(None, dir.path()).await.unwrap_err();
    assert!(err.message.contains("20000×20000"), "{}", err.message);

    let mut sink = ImageSink::new(dir.path().join("c"), 1 << 20, 25_000_000);
    sink.write(&png_header(4000, 3000)).await.unwrap();
    assert!(sink.finish(None, dir.path()).await.is_ok(), "12 MP is fine");
}

#[tokio::test]
async fn sink_refuses_past_the_cap_and_checks_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ImageSink::new(dir.path().join("a"), 8, u64::MAX);
    sink.write(b"\x89PNG").await.unwrap();
    let err = sink.write(b"\r\n\x1a\n\x00").await.unwrap_err();
    assert_eq!(err.kind, Kind::BadImage);
    assert!(err.message.contains("cap"), "{}", err.message);

    let png: &[u8] = &png_header(2, 2);
    let mut sink = ImageSink::new(dir.path().join("b"), 1024, u64::MAX);
    sink.write(png).await.unwrap();
    let err = sink
        .finish(Some(&"0".repeat(64)), dir.path())
        .await
        .unwrap_err();
    assert_eq!(err.kind, Kind::BadImage);

    let mut sink = ImageSink::new(dir.path().join("c"), 1024, u64::MAX);
    sink.write(png).await.unwrap();
    let good = hex::encode(Sha256::digest(png));
    let name = sink
        .finish(Some(&good.to_uppercase()), dir.path())
        .await
        .unwrap();
    assert_eq!(name, format!("{}.png", &good[..NAME_HASH_LEN]));
    assert_eq!(std::fs::read(dir.path().join(&name)).unwrap(), png);
    assert!(
        !dir.path().join("c").exists(),
        "no part file is left behind"
    );
}

#[tokio::test]
async fn a_large_image_spills_to_disk_and_a_restart_starts_it_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut image = png_header(640, 480);
    image.extend((0..3 * SINK_BUFFER).map(|i| (i % 251) as u8));
    let mut sink = ImageSink::new(dir.path().join("part"), 1 << 20, u64::MAX);
    // A first try that breaks off after spilling, then the whole image.
    sink.write(&b"\xff\xd8\xff"[..]).await.unwrap();
    sink.write(&vec![7; SINK_BUFFER]).await.unwrap();
    assert!(
        dir.path().join("part").exists(),
        "past the buffer, bytes go to disk"
    );
    sink.restart().await.unwrap();
    for chunk in image.chunks(10_000) {
        sink.write(chunk).await.unwrap();
    }
    let name = sink.finish(None, dir.path()).await.unwrap();
    assert!(name.ends_with(".png"), "{name}: sniffed after the restart");
    assert_eq!(std::fs::read(dir.path().join(&name)).unwrap(), image);
}

#[tokio::test]
async fn sink_refuses_html_posing_as_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ImageSink::new(dir.path().join("a"), 1024, u64::MAX);
    sink.write(b"<html><body>502 Bad Gateway</body></html>")
        .await
        .unwrap();
    let err = sink.finish(None, dir.path()).await.unwrap_err();
    assert_eq!(err.kind, Kind::BadImage);
}
