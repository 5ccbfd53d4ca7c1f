//! An image's width and height, read from its header without decoding it.
//!
//! A small file can announce a huge picture (a 20000×20000 PNG compresses to
//! a few kilobytes), and a customer's phone that decodes it runs out of
//! memory. The images stage refuses any image whose header announces more
//! pixels than `max_image_pixels`, as a problem of that image only. Pure: it
//! reads the bytes it is given, nothing else.

/// Width and height in pixels, as the header announces them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dimensions {
    pub width: u32,
    pub height: u32,
}

impl Dimensions {
    pub fn pixels(self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// The dimensions of a JPEG, PNG, GIF or WebP; `None` when the header is
/// missing, cut short or malformed (then the image is refused as well).
pub fn read(bytes: &[u8]) -> Option<Dimensions> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        png(bytes)
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        jpeg(bytes)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        gif(bytes)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        webp(bytes)
    } else {
        None
    }
}

fn be16(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 2)?;
    Some(u32::from(u16::from_be_bytes([b[0], b[1]])))
}

fn le16(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 2)?;
    Some(u32::from(u16::from_le_bytes([b[0], b[1]])))
}

fn le24(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 3)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], 0]))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn nonzero(width: u32, height: u32) -> Option<Dimensions> {
    (width > 0 && height > 0).then_some(Dimensions { width, height })
}

/// The IHDR chunk comes first: length 13, "IHDR", width, height (big-endian).
fn png(bytes: &[u8]) -> Option<Dimensions> {
    if bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    nonzero(be32(bytes, 16)?, be32(bytes, 20)?)
}

/// Walks the marker segments to the first start-of-frame (SOF0–SOF15 but
/// DHT, JPG and DAC), which holds height then width.
fn jpeg(bytes: &[u8]) -> Option<Dimensions> {
    let mut at = 2;
    loop {
        // Markers may be padded with any number of 0xFF bytes.
        while *bytes.get(at)? == 0xFF && *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        match marker {
            // Standalone markers without a length: TEM, RSTn.
            0x01 | 0xD0..=0xD7 => at += 2,
            // End of image or start of scan before any frame header.
            0xD9 | 0xDA => return None,
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return nonzero(be16(bytes, at + 7)?, be16(bytes, at + 5)?);
            }
            _ => {
                let length = be16(bytes, at + 2)? as usize;
                if length < 2 {
                    return None;
                }
                at += 2 + length;
            }
        }
    }
}

/// The logical screen: width and height, little-endian, after the signature.
fn gif(bytes: &[u8]) -> Option<Dimensions> {
    nonzero(le16(bytes, 6)?, le16(bytes, 8)?)
}

/// The first chunk: VP8 (lossy), VP8L (lossless) or VP8X (extended).
fn webp(bytes: &[u8]) -> Option<Dimensions> {
    match bytes.get(12..16)? {
        b"VP8 " => {
            // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit sizes.
            if bytes.get(23..26)? != [0x9d, 0x01, 0x2a] {
                return None;
            }
            nonzero(le16(bytes, 26)? & 0x3FFF, le16(bytes, 28)? & 0x3FFF)
        }
        b"VP8L" => {
            if *bytes.get(20)? != 0x2f {
                return None;
            }
            let bits = u32::from_le_bytes(bytes.get(21..25)?.try_into().ok()?);
            nonzero((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        }
        b"VP8X" => nonzero(le24(bytes, 24)? + 1, le24(bytes, 27)? + 1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes.extend([8, 6, 0, 0, 0]);
        bytes
    }

    fn jpeg_header(width: u16, height: u16) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8];
        // An APP1 segment of 100 bytes, padding before the next marker, then SOF2.
        bytes.extend([0xFF, 0xE1, 0x00, 0x64]);
        bytes.extend([0u8; 98]);
        bytes.extend([0xFF, 0xFF, 0xC2, 0x00, 0x11, 0x08]);
        bytes.extend(height.to_be_bytes());
        bytes.extend(width.to_be_bytes());
        bytes.extend([0x03; 12]);
        bytes
    }

    #[test]
    fn headers_of_every_accepted_format_give_their_size() {
        let mut gif = b"GIF89a".to_vec();
        gif.extend(640u16.to_le_bytes());
        gif.extend(480u16.to_le_bytes());
        let mut vp8x = b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x10\x00\x00\x00".to_vec();
        vp8x.extend(&(1999u32.to_le_bytes())[..3]);
        vp8x.extend(&(999u32.to_le_bytes())[..3]);
        let mut vp8l = b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f".to_vec();
        vp8l.extend((99u32 | (49u32 << 14)).to_le_bytes());
        let mut vp8 =
            b"RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00\x00\x00\x00\x9d\x01\x2a".to_vec();
        vp8.extend(320u16.to_le_bytes());
        vp8.extend(240u16.to_le_bytes());
        type Case = (&'static str, Vec<u8>, Option<(u32, u32)>);
        let cases: [Case; 8] = [
            ("png", png_header(20000, 20000), Some((20000, 20000))),
            (
                "jpeg after APP1 and fill bytes",
                jpeg_header(1200, 800),
                Some((1200, 800)),
            ),
            ("gif", gif, Some((640, 480))),
            ("webp VP8X", vp8x, Some((2000, 1000))),
            ("webp VP8L", vp8l, Some((100, 50))),
            ("webp VP8", vp8, Some((320, 240))),
            ("png cut short", png_header(1, 1)[..20].to_vec(), None),
            ("png of zero width", png_header(0, 10), None),
        ];
        for (name, bytes, expected) in cases {
            let got = read(&bytes).map(|d| (d.width, d.height));
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn garbage_and_truncated_jpegs_have_no_size() {
        assert_eq!(read(b"not an image"), None);
        assert_eq!(read(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF]), None);
        assert_eq!(read(&[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02]), None);
        let jpeg = jpeg_header(10, 10);
        assert_eq!(read(&jpeg[..jpeg.len() - 14]), None);
    }

    #[test]
    fn the_shipped_fixture_images_read() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pos/S001/img");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let dimensions = read(&std::fs::read(&path).unwrap());
            assert!(dimensions.is_some(), "{}", path.display());
            seen += 1;
        }
        assert!(seen > 0);
    }
}
