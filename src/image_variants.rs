//! Responsive variants of one photo: decoded within limits, turned upright
//! by its EXIF orientation, resized to each configured width (never up) and
//! written as WebP and JPEG from bare pixels, so no EXIF, XMP, GPS or ICC
//! block of the POS's file reaches a customer.
//!
//! This is CPU work (a phone photo takes a good fraction of a second): the
//! images stage runs it through [`make_in_pool`], on tokio's blocking
//! threads behind a semaphore sized to the cores, so it never holds up the
//! I/O of any pass. What is made is kept in a content-addressed cache
//! ([`cache`]) under the state dir, so a photo is made once, whatever store
//! or release asks for it again.

use std::io::Cursor;
use std::sync::Arc;

use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use tokio::sync::Semaphore;

use crate::config::ImageVariants;
use crate::error::{Kind, StoreError};
use crate::menu::ImageVariant;

pub mod cache;

/// One width of a photo, encoded.
#[derive(Debug)]
pub struct Encoded {
    pub width: u32,
    pub height: u32,
    pub webp: Vec<u8>,
    pub jpeg: Vec<u8>,
}

/// The widths a `width`-pixel-wide photo is published at: each configured
/// width it reaches, and its own width in place of those it does not
/// (a photo is never upscaled).
pub fn target_widths(width: u32, wanted: &[u32]) -> Vec<u32> {
    let mut widths: Vec<u32> = wanted.iter().map(|w| (*w).min(width)).collect();
    widths.dedup();
    widths
}

/// The file name of one variant of the photo whose content name starts with `hash`.
pub fn file_name(hash: &str, width: u32, extension: &str) -> String {
    format!("{hash}-{width}.{extension}")
}

/// The published description of a variant set: root-relative paths under `/images/`.
pub fn describe(hash: &str, sizes: &[(u32, u32)]) -> Vec<ImageVariant> {
    sizes
        .iter()
        .map(|&(width, height)| ImageVariant {
            width,
            height,
            webp: format!("/images/{}", file_name(hash, width, "webp")),
            jpeg: format!("/images/{}", file_name(hash, width, "jpg")),
        })
        .collect()
}

/// Decodes `original` (at most `max_pixels`, enforced by the decoder too),
/// applies its orientation and encodes every width of `settings`.
pub fn make(
    original: &[u8],
    settings: &ImageVariants,
    max_pixels: u64,
) -> Result<Vec<Encoded>, StoreError> {
    let bad = |what: &str, err: &dyn std::fmt::Display| {
        StoreError::new(Kind::BadImage, format!("{what}: {err}"))
    };
    let mut reader = ImageReader::new(Cursor::new(original))
        .with_guessed_format()
        .map_err(|err| bad("reading the image", &err))?;
    // The header was checked against max_image_pixels before the download
    // was kept; the decoder is held to it as well, in case a format hides a
    // second, larger frame size: 8 bytes a pixel covers 16-bit RGBA.
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|err| bad("not a decodable image", &err))?;
    // Checked again on the decoder's own reading of the header, before a
    // pixel buffer is allocated: a format may disagree with our header parse.
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(StoreError::new(
            Kind::BadImage,
            format!("the decoder reads {width}×{height}, over max_image_pixels ({max_pixels})"),
        ));
    }
    let orientation = decoder
        .orientation()
        .map_err(|err| bad("reading its orientation", &err))?;
    let mut picture =
        DynamicImage::from_decoder(decoder).map_err(|err| bad("decoding the image", &err))?;
    picture.apply_orientation(orientation);
    // JPEG has no alpha: transparent pixels go onto white, for both
    // formats, so the two look the same.
    // `into_rgb8` keeps an 8-bit RGB photo's buffer rather than copying it
    // (36 MB for a phone photo).
    let rgb = if picture.color().has_alpha() {
        flatten_on_white(&picture.to_rgba8())
    } else {
        picture.into_rgb8()
    };
    let (width, height) = rgb.dimensions();
    let mut source = FirImage::from_vec_u8(width, height, rgb.into_raw(), PixelType::U8x3)
        .map_err(|err| bad("preparing the pixels", &err))?;
    let mut resizer = Resizer::new();
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    let mut made = Vec::new();
    // Widest first, each from the one before: a 4032-px photo is read in
    // full once, and halving steps keep Lanczos sharp.
    for target in target_widths(width, &settings.widths).into_iter().rev() {
        if target != source.width() {
            let target_height = scaled_height(source.width(), source.height(), target);
            let mut resized = FirImage::new(target, target_height, PixelType::U8x3);
            resizer
                .resize(&source, &mut resized, &options)
                .map_err(|err| bad("resizing", &err))?;
            source = resized;
        }
        made.push(encode(
            source.buffer(),
            source.width(),
            source.height(),
            settings.quality,
        )?);
    }
    made.reverse();
    Ok(made)
}

/// Runs [`make`] on a blocking thread once a permit of `cpu` is free; the
/// permit moves into the thread, so a caller that gives up (deadline) never
/// lets more photos be worked on at once than `cpu` allows.
pub async fn make_in_pool(
    cpu: Arc<Semaphore>,
    original: Vec<u8>,
    settings: ImageVariants,
    max_pixels: u64,
) -> Result<Vec<Encoded>, StoreError> {
    let permit = cpu
        .acquire_owned()
        .await
        .expect("the CPU semaphore is never closed");
    let work = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        make(&original, &settings, max_pixels)
    });
    match work.await {
        Ok(made) => made,
        Err(err) => Err(StoreError::new(
            Kind::BadImage,
            format!("making its variants failed: {err}"),
        )),
    }
}

/// Photos being made, by cache key: a second maker of the same photo waits
/// for the first and then finds its variants in the cache.
#[derive(Debug, Default)]
pub struct InFlight {
    /// Held only to look up or insert; the per-key lock is awaited outside it.
    keys: std::sync::Mutex<
        std::collections::HashMap<String, std::sync::Weak<tokio::sync::Mutex<()>>>,
    >,
}

impl InFlight {
    /// The lock of `key`, shared with every maker holding it now.
    pub fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut keys = self
            .keys
            .lock()
            .expect("the in-flight lock is never poisoned");
        // Dead keys go as new ones come, so the map holds only live makers.
        keys.retain(|_, lock| lock.strong_count() > 0);
        if let Some(lock) = keys.get(key).and_then(std::sync::Weak::upgrade) {
            return lock;
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        keys.insert(key.to_string(), Arc::downgrade(&lock));
        lock
    }
}

/// How many photos are worked on at once: one per core.
pub fn pool_size() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

fn scaled_height(width: u32, height: u32, target: u32) -> u32 {
    let scaled = u64::from(height) * u64::from(target) / u64::from(width.max(1));
    u32::try_from(scaled).unwrap_or(u32::MAX).max(1)
}

fn flatten_on_white(rgba: &image::RgbaImage) -> image::RgbImage {
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

/// Both formats from bare RGB pixels: nothing but pixels goes in, so no
/// metadata comes out.
fn encode(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Encoded, StoreError> {
    let webp = webp::Encoder::from_rgb(rgb, width, height)
        .encode(f32::from(quality))
        .to_vec();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality)
        .encode(rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|err| StoreError::new(Kind::BadImage, format!("encoding a JPEG: {err}")))?;
    Ok(Encoded {
        width,
        height,
        webp,
        jpeg,
    })
}

#[cfg(test)]
mod tests;
