//! Tests of variant making: widths, orientation, metadata, the cache, names.

use super::cache::VariantCache;
use super::*;

/// A JPEG of `width`×`height` whose top-left corner is red and the rest blue,
/// with an EXIF block saying `orientation` inserted after SOI.
fn jpeg_with_orientation(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        if x < width / 4 && y < height / 4 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode(
            picture.as_raw(),
            width,
            height,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    // TIFF little-endian, one IFD entry: Orientation (0x0112), SHORT, 1.
    let mut tiff = b"II\x2a\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00".to_vec();
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn settings(widths: &[u32]) -> ImageVariants {
    ImageVariants {
        widths: widths.to_vec(),
        ..ImageVariants::default()
    }
}

#[test]
fn widths_are_never_upscaled() {
    let cases: [(u32, &[u32], &[u32]); 4] = [
        (4032, &[320, 640, 1280], &[320, 640, 1280]),
        (1000, &[320, 640, 1280], &[320, 640, 1000]),
        (200, &[320, 640, 1280], &[200]),
        (640, &[320, 640, 1280], &[320, 640]),
    ];
    for (width, wanted, expected) in cases {
        assert_eq!(target_widths(width, wanted), expected, "{width} px");
    }
}

#[test]
fn orientation_6_is_applied_and_the_corner_lands_top_right() {
    // Stored 400×300 landscape, shown rotated 90° clockwise: 300×400 portrait.
    let made = make(
        &jpeg_with_orientation(400, 300, 6),
        &settings(&[100, 200]),
        1 << 24,
    )
    .unwrap();
    let sizes: Vec<(u32, u32)> = made.iter().map(|m| (m.width, m.height)).collect();
    assert_eq!(sizes, [(100, 133), (200, 266)]);
    for variant in &made {
        for bytes in [&variant.jpeg, &variant.webp] {
            let picture = image::load_from_memory(bytes).unwrap().to_rgb8();
            let (w, h) = picture.dimensions();
            assert_eq!((w, h), (variant.width, variant.height));
            // The stored top-left red corner is now at the top right.
            let top_right = picture.get_pixel(w - 3, 3).0;
            let top_left = picture.get_pixel(2, 2).0;
            assert!(top_right[0] > 180 && top_right[2] < 80, "{top_right:?}");
            assert!(top_left[2] > 180 && top_left[0] < 80, "{top_left:?}");
        }
    }
}

#[test]
fn variants_carry_no_exif() {
    let made = make(&jpeg_with_orientation(64, 48, 6), &settings(&[32]), 1 << 20).unwrap();
    let jpeg = &made[0].jpeg;
    assert!(
        !jpeg.windows(2).any(|w| w == [0xFF, 0xE1]),
        "an APP1 segment"
    );
    assert!(!jpeg.windows(4).any(|w| w == b"Exif"));
    let webp = &made[0].webp;
    assert!(!webp.windows(4).any(|w| w == b"EXIF" || w == b"XMP "));
}

#[test]
fn a_corrupt_or_oversized_image_is_a_bad_image() {
    let mut cut = jpeg_with_orientation(64, 48, 1);
    cut.truncate(cut.len() / 3);
    let err = make(&cut, &settings(&[32]), 1 << 20).unwrap_err();
    assert_eq!(err.kind, Kind::BadImage);
    let err = make(b"not an image at all", &settings(&[32]), 1 << 20).unwrap_err();
    assert_eq!(err.kind, Kind::BadImage);
    // The decoder's own limit holds even if a header check were missed.
    let err = make(&jpeg_with_orientation(640, 480, 1), &settings(&[32]), 100).unwrap_err();
    assert_eq!(err.kind, Kind::BadImage);
}

#[test]
fn the_cache_stores_complete_entries_and_prunes_unused_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cache = VariantCache::new(dir.path());
    let settings = settings(&[32]);
    let key = VariantCache::key("0123456789abcdef", &settings);
    assert_ne!(
        key,
        VariantCache::key("0123456789abcdef", &ImageVariants::default())
    );
    assert_eq!(cache.lookup(&key).unwrap(), None);
    let made = make(&jpeg_with_orientation(64, 48, 1), &settings, 1 << 20).unwrap();
    let sizes = cache.store(&key, "0123456789abcdef", &made).unwrap();
    // A second writer of the same entry keeps the first.
    assert_eq!(cache.store(&key, "0123456789abcdef", &made).unwrap(), sizes);
    assert_eq!(cache.lookup(&key).unwrap(), Some(sizes.clone()));
    let staging = dir.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    cache
        .link_into(&key, "0123456789abcdef", &sizes, &staging)
        .unwrap();
    let mut linked: Vec<String> = std::fs::read_dir(&staging)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    linked.sort();
    assert_eq!(
        linked,
        ["0123456789abcdef-32.jpg", "0123456789abcdef-32.webp"]
    );
    assert_eq!(
        cache
            .prune(std::time::Duration::from_secs(3600))
            .unwrap()
            .entries,
        0
    );
    assert_eq!(cache.prune(std::time::Duration::ZERO).unwrap().entries, 1);
    assert_eq!(cache.lookup(&key).unwrap(), None);
    // The release keeps its hard links.
    assert!(staging.join("0123456789abcdef-32.jpg").is_file());
}

#[test]
fn only_content_names_are_image_names() {
    use crate::menu::is_image_name;
    for good in [
        "0123456789abcdef.jpg",
        "0123456789abcdef.webp",
        "0123456789abcdef-320.webp",
        "0123456789abcdef-1280.jpg",
    ] {
        assert!(is_image_name(good), "{good} must be accepted");
    }
    for bad in [
        "../../etc/passwd",
        "0123456789abcdef.exe",
        "0123456789ABCDEF.jpg",
        "0123456789abcde.jpg",
        "0123456789abcdef",
        "/abs/0123456789abcdef.jpg",
        "0123456789abcdef.jpg/..",
        "0123456789abcdef-.jpg",
        "0123456789abcdef-032.jpg",
        "0123456789abcdef-123456.jpg",
        "0123456789abcdef-12/.jpg",
    ] {
        assert!(!is_image_name(bad), "{bad} must be refused");
    }
}
