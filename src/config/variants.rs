//! Image variants: the widths, quality and formats each store's photos are
//! published at (`image_variants` and its keys). Set in `[daemon]` for every
//! store and per `[[store]]`; a store's own setting wins.

use toml::Spanned;

use super::checker::Checker;
use super::error::ConfigError;

/// Widths (pixels) an image is published at when nothing says otherwise: a
/// phone's thumbnail, a phone's full width at 2×, a desktop's.
pub const DEFAULT_IMAGE_WIDTHS: &[u32] = &[320, 640, 1280];
/// Lossy quality of the WebP and JPEG variants (libwebp's and `image`'s 0–100 scale).
pub const DEFAULT_IMAGE_QUALITY: u64 = 80;
/// Widths a store may list at most: each is two encodes of every new photo.
const MAX_WIDTHS: usize = 6;
/// The smallest and largest width a variant may have.
const WIDTH_RANGE: std::ops::RangeInclusive<i64> = 16..=4096;

/// How a store's photos are published.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageVariants {
    /// Off: photos are published as the POS sends them (no variants made).
    pub enabled: bool,
    /// Ascending, distinct; a photo narrower than a width is never upscaled.
    pub widths: Vec<u32>,
    /// Lossy quality of both formats, 1 to 100.
    pub quality: u8,
    /// Publish the POS's own file as `image` too; otherwise the largest
    /// JPEG variant is `image` and the original is published nowhere.
    pub keep_original: bool,
}

impl Default for ImageVariants {
    fn default() -> ImageVariants {
        ImageVariants {
            enabled: true,
            widths: DEFAULT_IMAGE_WIDTHS.to_vec(),
            quality: DEFAULT_IMAGE_QUALITY as u8,
            keep_original: false,
        }
    }
}

/// The variant keys as written, in `[daemon]` or a `[[store]]`.
pub(super) struct RawImageVariants<'a> {
    pub enabled: Option<bool>,
    pub widths: &'a Option<Spanned<Vec<Spanned<i64>>>>,
    pub quality: &'a Option<Spanned<i64>>,
    pub keep_original: Option<bool>,
}

impl Checker<'_> {
    /// `raw` over `base`: what a section sets, else what `base` says.
    pub(super) fn check_image_variants(
        &self,
        raw: RawImageVariants<'_>,
        base: &ImageVariants,
    ) -> Result<ImageVariants, ConfigError> {
        let widths = match raw.widths {
            Some(widths) => self.check_widths(widths)?,
            None => base.widths.clone(),
        };
        let quality = self.bounded(raw.quality, "image_quality", u64::from(base.quality))?;
        Ok(ImageVariants {
            enabled: raw.enabled.unwrap_or(base.enabled),
            widths,
            quality: u8::try_from(quality).expect("image_quality's bound is at most 100"),
            keep_original: raw.keep_original.unwrap_or(base.keep_original),
        })
    }

    fn check_widths(&self, widths: &Spanned<Vec<Spanned<i64>>>) -> Result<Vec<u32>, ConfigError> {
        let list = widths.get_ref();
        if list.is_empty() || list.len() > MAX_WIDTHS {
            return Err(self.error(
                widths.span(),
                format!("`image_widths` must list 1 to {MAX_WIDTHS} widths"),
            ));
        }
        let mut checked: Vec<u32> = Vec::with_capacity(list.len());
        for width in list {
            let value = *width.get_ref();
            if !WIDTH_RANGE.contains(&value) {
                return Err(self.error(
                    width.span(),
                    format!(
                        "image width {value} is out of range: it must be between {} and {} pixels",
                        WIDTH_RANGE.start(),
                        WIDTH_RANGE.end()
                    ),
                ));
            }
            let value = u32::try_from(value).expect("inside WIDTH_RANGE");
            if checked.last().is_some_and(|last| *last >= value) {
                return Err(self.error(
                    width.span(),
                    "`image_widths` must be in ascending order, each listed once",
                ));
            }
            checked.push(value);
        }
        Ok(checked)
    }
}
