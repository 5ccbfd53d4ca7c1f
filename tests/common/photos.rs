//! Photos as a phone takes them, made in the test: a JPEG with an EXIF
//! block (orientation, GPS position) and an XMP packet, and the readers
//! that check what a published variant still carries.

/// A `width`×`height` JPEG, stored sideways with EXIF orientation
/// `orientation`, GPS tags and XMP. Its stored top-left quarter is red, the
/// rest blue, so where the corner lands shows how it was turned.
pub fn phone_jpeg(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    photo(width, height, orientation, 1)
}

/// [`phone_jpeg`] with sensor-like noise from `seed` (not 0), so each seed
/// is another photo of about a phone's size in bytes (benches/load/photos.rs).
pub fn photo(width: u32, height: u32, orientation: u16, seed: u64) -> Vec<u8> {
    let mut state = seed.max(1);
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state % 10) as u8;
        if x < width / 4 && y < height / 4 {
            image::Rgb([230 - noise, 20 + noise, 20 + noise])
        } else {
            // Texture and noise, so the encoders have real work, as with a photo.
            let shade = ((x / 7 + y / 5) % 40) as u8;
            image::Rgb([20 + shade + noise, 40 + shade + noise, 200 - shade - noise])
        }
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92)
        .encode(
            picture.as_raw(),
            width,
            height,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    let mut out = jpeg[..2].to_vec();
    out.extend(app1(&exif(orientation)));
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend_from_slice(b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF/></x:xmpmeta>");
    out.extend(app1(&xmp));
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn app1(payload: &[u8]) -> Vec<u8> {
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    segment.extend_from_slice(payload);
    segment
}

/// `Exif\0\0` and a little-endian TIFF: IFD0 with Orientation and a GPS IFD
/// pointer; the GPS IFD with GPSLatitudeRef `N` and GPSLatitude 37°30'0".
fn exif(orientation: u16) -> Vec<u8> {
    let entry = |tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        let mut bytes = tag.to_le_bytes().to_vec();
        bytes.extend_from_slice(&kind.to_le_bytes());
        bytes.extend_from_slice(&count.to_le_bytes());
        bytes.extend_from_slice(&value);
        bytes
    };
    let (gps_ifd, latitude) = (38u32, 68u32);
    let mut tiff = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    tiff.extend_from_slice(&2u16.to_le_bytes());
    let o = orientation.to_le_bytes();
    tiff.extend(entry(0x0112, 3, 1, [o[0], o[1], 0, 0]));
    tiff.extend(entry(0x8825, 4, 1, gps_ifd.to_le_bytes()));
    tiff.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(tiff.len(), gps_ifd as usize);
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend(entry(0x0001, 2, 2, *b"N\0\0\0"));
    tiff.extend(entry(0x0002, 5, 3, latitude.to_le_bytes()));
    tiff.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(tiff.len(), latitude as usize);
    for (numerator, denominator) in [(37u32, 1u32), (30, 1), (0, 1)] {
        tiff.extend_from_slice(&numerator.to_le_bytes());
        tiff.extend_from_slice(&denominator.to_le_bytes());
    }
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    payload
}

/// The JPEG's header segments up to the scan: (marker, payload).
pub fn jpeg_segments(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    assert_eq!(&bytes[..2], [0xFF, 0xD8], "a JPEG starts with SOI");
    let mut segments = Vec::new();
    let mut at = 2;
    while at + 4 <= bytes.len() {
        assert_eq!(bytes[at], 0xFF, "a marker at {at}");
        let marker = bytes[at + 1];
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        segments.push((marker, bytes[at + 4..at + 2 + length].to_vec()));
        if marker == 0xDA {
            break;
        }
        at += 2 + length;
    }
    segments
}

/// The WebP's RIFF chunk ids (`VP8 `, `VP8X`, `EXIF`, `XMP `, …).
pub fn webp_chunks(bytes: &[u8]) -> Vec<String> {
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WEBP");
    let mut chunks = Vec::new();
    let mut at = 12;
    while at + 8 <= bytes.len() {
        chunks.push(String::from_utf8_lossy(&bytes[at..at + 4]).into_owned());
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        at += 8 + size + (size & 1);
    }
    chunks
}

/// A JPEG whose header gives its size but that holds no picture: the scan
/// is cut off, so no decoder can read it.
pub fn headless_jpeg() -> Vec<u8> {
    let whole = phone_jpeg(64, 48, 1);
    let sos = whole
        .windows(2)
        .position(|pair| pair == [0xFF, 0xDA])
        .expect("a scan");
    let mut cut = whole[..sos].to_vec();
    cut.extend_from_slice(&[0xFF, 0xD9]);
    cut
}
