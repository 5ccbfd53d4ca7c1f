//! The images stage's variants: a photo linked from the variant cache, or
//! made in the CPU pool and cached (`image_variants`), and what `image` and
//! `imageVariants` then say of it.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::ImageRequest;
use crate::config::ImageVariants;
use crate::error::{Kind, StoreError};
use crate::image_sink::blocking;
use crate::image_variants::cache::VariantCache;
use crate::image_variants::{self, InFlight};
use crate::menu::PublishedImage;

/// How the images stage makes variants.
pub struct VariantRequest<'a> {
    pub settings: &'a ImageVariants,
    pub cache: &'a VariantCache,
    /// One permit per core: photos being decoded and encoded at once, across
    /// all stores, so image work never starves the runtime's I/O.
    pub cpu: &'a Arc<Semaphore>,
    /// Photos of one content made by one pass at a time: a second store
    /// asking for it meanwhile waits and finds it in the cache.
    pub in_flight: &'a InFlight,
    /// Where downloaded originals go when they are not published: a
    /// scratch folder of the staging release, removed before it is kept.
    pub originals_dir: &'a Path,
}

/// The sizes of the cached variants of the photo `name`, linked into
/// `staging`; `None` when the cache has none (or lost them meanwhile).
pub(super) async fn link_cached(
    variants: &VariantRequest<'_>,
    name: &str,
    staging: &Path,
) -> Result<Option<Vec<(u32, u32)>>, StoreError> {
    let hash = name[..16].to_string();
    let key = VariantCache::key(&hash, variants.settings);
    let (cache, staging) = (variants.cache.clone(), staging.to_path_buf());
    blocking(format!("linking the variants of {name}"), move || {
        let Some(sizes) = cache.lookup(&key)? else {
            return Ok(None);
        };
        match cache.link_into(&key, &hash, &sizes, &staging) {
            Ok(()) => Ok(Some(sizes)),
            // Pruned meanwhile: fetched and made again.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    })
    .await
}

/// What `image` and `image_variants` say of a photo whose content name is
/// `name` and whose variants have `sizes`.
pub(super) fn published(
    name: &str,
    settings: &ImageVariants,
    sizes: &[(u32, u32)],
) -> PublishedImage {
    let hash = &name[..16];
    let file = match sizes.last() {
        Some(&(widest, _)) if !settings.keep_original => {
            image_variants::file_name(hash, widest, "jpg")
        }
        _ => name.to_string(),
    };
    PublishedImage {
        file,
        variants: image_variants::describe(hash, sizes),
    }
}

/// A downloaded photo made ready to publish: as it is, or as its variants,
/// from the cache or made now. The flag says whether they were made now.
pub(super) async fn publish(
    request: &ImageRequest<'_>,
    name: String,
) -> Result<(PublishedImage, Option<bool>), StoreError> {
    let Some(variants) = &request.variants else {
        return Ok((PublishedImage::file(name), None));
    };
    let outcome = make_variants(request, variants, &name).await;
    if outcome.is_err() && variants.settings.keep_original {
        // Its item goes without a picture, so the file is nobody's.
        let _ = tokio::fs::remove_file(request.staging_dir.join(&name)).await;
    }
    let (sizes, made) = outcome?;
    Ok((published(&name, variants.settings, &sizes), Some(made)))
}

/// The variants of the downloaded photo `name`, linked into staging: from
/// the cache, or made in the CPU pool and cached. True when made now.
async fn make_variants(
    request: &ImageRequest<'_>,
    variants: &VariantRequest<'_>,
    name: &str,
) -> Result<(Vec<(u32, u32)>, bool), StoreError> {
    let hash = name[..16].to_string();
    let key = VariantCache::key(&hash, variants.settings);
    let out_of_time = || {
        StoreError::new(
            Kind::OutOfTime,
            "its variants were not made in time (pass_timeout_secs); \
             the menu goes out without it",
        )
    };
    let lock = variants.in_flight.lock_for(&key);
    // Another store making this photo now: wait for it, within the deadline.
    let _making = tokio::time::timeout_at(request.deadline, lock.lock())
        .await
        .map_err(|_| out_of_time())?;
    if let Some(sizes) = link_cached(variants, name, request.staging_dir).await? {
        return Ok((sizes, false));
    }
    let original_path = variants.originals_dir.join(name);
    let original = blocking(format!("reading {}", original_path.display()), move || {
        std::fs::read(&original_path)
    })
    .await?;
    let making = image_variants::make_in_pool(
        Arc::clone(variants.cpu),
        original,
        variants.settings.clone(),
        request.max_pixels,
    );
    let made = tokio::time::timeout_at(request.deadline, making)
        .await
        .map_err(|_| out_of_time())??;
    let cache = variants.cache.clone();
    let staging = request.staging_dir.to_path_buf();
    let sizes = blocking(format!("caching the variants of {name}"), move || {
        let sizes = cache.store(&key, &hash, &made)?;
        cache.link_into(&key, &hash, &sizes, &staging)?;
        Ok(sizes)
    })
    .await?;
    Ok((sizes, true))
}
