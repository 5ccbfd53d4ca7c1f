//! The images stage: bring every image the menu needs into the new release.
//! How one image's bytes are received and checked is `image_sink`'s job.
//!
//! Images already held in the published release are hard-linked, not fetched
//! again. New ones are streamed to disk under a size cap, checked to be real
//! images by their magic bytes, verified against the POS's sha256 when given,
//! and stored under a name derived from their content, so a changed photo gets
//! a new name and a page cached with the old menu never shows the wrong one.
//!
//! With variants on (`image_variants`, the default), each photo is then
//! published as its variants (`image_variants`): made once per content and
//! settings in the variant cache, linked into the release from there; the
//! POS's file itself is published only with `keep_original_images`.
//!
//! A bad image is a problem of the items that use it, never of the store: the
//! items are published without an image. Only our own disk failing (a
//! `storage` error) fails the pass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::error::Problem;
use crate::error::{Category, Kind, StoreError};
use crate::image_sink::ImageSink;
use crate::menu::{PublishedImage, is_image_name};
use crate::pos::Provider;
use crate::pos::doc::{ImageDoc, ImagesDoc};
use crate::publish::StoreTree;

mod variants;
use chrono::{DateTime, Utc};
pub use variants::VariantRequest;

/// What the images stage produced for one release.
#[derive(Debug, Default)]
pub struct GatheredImages {
    /// POS image id → the file `image` names under the release's
    /// `images/`, with its variants.
    pub files: BTreeMap<String, PublishedImage>,
    pub problems: Vec<Problem>,
    /// Fingerprint of an image's POS entry → file name, for the next pass.
    pub index: BTreeMap<String, String>,
    pub downloaded: usize,
    pub downloaded_bytes: u64,
    pub linked: usize,
    /// Photos whose variants this pass made (decoded and encoded).
    pub variants_made: usize,
    /// Photos whose variants came from the cache, made by an earlier pass.
    pub variants_reused: usize,
    /// Images that failed for a reason that may pass (network), worth another try.
    pub transient_failures: usize,
}

/// What the images stage needs from the pass around it.
pub struct ImageRequest<'a> {
    pub provider: &'a Provider,
    pub pos_store_id: &'a str,
    /// Shared limit on requests in flight across all stores.
    pub io: &'a Semaphore,
    pub concurrency: usize,
    pub max_bytes: u64,
    pub max_pixels: u64,
    /// Wall-clock cap on one image, from when its download starts.
    pub image_timeout: std::time::Duration,
    /// When the whole stage gives up on the images still outstanding, so
    /// slow images can never hold the menu back past the pass's own deadline.
    pub deadline: tokio::time::Instant,
    /// The published release's `images/`, whose files may be linked.
    pub held_dir: Option<&'a Path>,
    /// The index saved by the last pass: fingerprint → file name.
    pub held_index: &'a BTreeMap<String, String>,
    /// The staging release's `images/`, which this stage fills.
    pub staging_dir: &'a Path,
    /// What photos are published as; `None`: as the POS sends them.
    pub variants: Option<VariantRequest<'a>>,
}

/// Identifies an image entry by what the POS says of it, not by its id.
pub fn fingerprint(image: &ImageDoc) -> String {
    let identity = serde_json::json!([image.url, image.sha256, image.size, image.updated_at]);
    hex::encode(Sha256::digest(identity.to_string().as_bytes()))
}

/// Brings the images named by `wanted` (POS image ids) into the staging release.
pub async fn gather(
    request: &ImageRequest<'_>,
    images: &ImagesDoc,
    wanted: &BTreeSet<String>,
) -> Result<GatheredImages, StoreError> {
    let mut result = GatheredImages::default();
    for problem in &images.problems {
        result.problems.push(Problem::data(
            problem.subject.clone(),
            problem.message.clone(),
        ));
    }
    let mut by_id: BTreeMap<&str, &ImageDoc> = BTreeMap::new();
    for image in &images.images {
        if by_id.contains_key(image.image_id.as_str()) {
            result.problems.push(Problem::data(
                format!("image {}", image.image_id),
                "image id appears twice in the image list; the first entry is used",
            ));
            continue;
        }
        by_id.insert(&image.image_id, image);
    }

    let mut to_download = Vec::new();
    for image_id in wanted {
        let Some(image) = by_id.get(image_id.as_str()) else {
            result.problems.push(Problem::data(
                format!("image {image_id}"),
                "an item uses this image, but the image list does not have it",
            ));
            continue;
        };
        let print = fingerprint(image);
        match link_held(request, &print).await? {
            Some(published) => {
                result.linked += 1;
                if request.variants.is_some() {
                    result.variants_reused += 1;
                }
                result.index.insert(print, published.file.clone());
                result.files.insert(image_id.clone(), published);
            }
            None => to_download.push((image_id.clone(), (*image).clone(), print)),
        }
    }

    let sequence = AtomicU64::new(0);
    let mut downloads = futures_util::stream::iter(to_download)
        .map(|(image_id, image, print)| {
            let part = request.staging_dir.join(format!(
                ".part-{}",
                sequence.fetch_add(1, Ordering::Relaxed)
            ));
            async move {
                let outcome = match download(request, &image, part).await {
                    Ok((name, bytes)) => variants::publish(request, name).await.map(|p| (p, bytes)),
                    Err(err) => Err(err),
                };
                (image_id, print, outcome)
            }
        })
        .buffer_unordered(request.concurrency.max(1));
    while let Some((image_id, print, outcome)) = downloads.next().await {
        match outcome {
            Ok(((published, made), bytes)) => {
                result.downloaded += 1;
                result.downloaded_bytes += bytes;
                match made {
                    Some(true) => result.variants_made += 1,
                    Some(false) => result.variants_reused += 1,
                    None => {}
                }
                result.index.insert(print, published.file.clone());
                result.files.insert(image_id, published);
            }
            Err(err) if err.category() == Category::Storage => return Err(err),
            Err(err) => {
                if err.is_retryable() {
                    result.transient_failures += 1;
                }
                result.problems.push(Problem {
                    category: err.category(),
                    subject: format!("image {image_id}"),
                    message: err.chain(),
                });
            }
        }
    }
    Ok(result)
}

/// Links an image the published release already holds into staging, if it
/// does: its file, or with variants on, its variants from the cache.
async fn link_held(
    request: &ImageRequest<'_>,
    print: &str,
) -> Result<Option<PublishedImage>, StoreError> {
    let (Some(held_dir), Some(name)) = (request.held_dir, request.held_index.get(print)) else {
        return Ok(None);
    };
    if !is_image_name(name) {
        return Ok(None);
    }
    let is_original = !name.contains('-');
    let Some(variants) = &request.variants else {
        // A variant is no original: a store that turned variants off fetches again.
        return match is_original && link_file(held_dir, name, request.staging_dir).await? {
            true => Ok(Some(PublishedImage::file(name.clone()))),
            false => Ok(None),
        };
    };
    if variants.settings.keep_original
        && !(is_original && link_file(held_dir, name, request.staging_dir).await?)
    {
        return Ok(None);
    }
    let sizes = variants::link_cached(variants, name, request.staging_dir).await?;
    Ok(sizes.map(|sizes| variants::published(name, variants.settings, &sizes)))
}

/// Hard-links `name` from `from` into `to`; false when `from` lost it.
async fn link_file(from: &Path, name: &str, to: &Path) -> Result<bool, StoreError> {
    let (source, target) = (from.join(name), to.join(name));
    match tokio::fs::hard_link(&source, &target).await {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(true),
        // The published release lost the file (rolled back, pruned): fetch it again.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(StoreError::storage(
            format!("linking {} to {}", source.display(), target.display()),
            err,
        )),
    }
}

/// Fetches one image into `part`, checks it and renames it to its content name.
async fn download(
    request: &ImageRequest<'_>,
    image: &ImageDoc,
    part: PathBuf,
) -> Result<(String, u64), StoreError> {
    let out_of_time = || {
        StoreError::new(
            Kind::OutOfTime,
            "not fetched: the images stage ran out of time (pass_timeout_secs); \
             the menu goes out without it",
        )
    };
    let _permit = tokio::time::timeout_at(request.deadline, request.io.acquire())
        .await
        .map_err(|_| out_of_time())?
        .expect("the I/O semaphore is never closed");
    let own_deadline = tokio::time::Instant::now() + request.image_timeout;
    let deadline = own_deadline.min(request.deadline);
    let mut sink = ImageSink::new(part.clone(), request.max_bytes, request.max_pixels);
    let keep_dir = match &request.variants {
        Some(variants) => variants.originals_dir,
        None => request.staging_dir,
    };
    if keep_dir != request.staging_dir {
        // Read back for its variants, then removed with the scratch folder.
        sink.scratch();
    }
    let fetch = async {
        if let Some(size) = image.size {
            sink.check_announced_size(size)?;
        }
        request
            .provider
            .fetch_image(request.pos_store_id, &image.url, &mut sink)
            .await?;
        Ok::<_, StoreError>(())
    };
    // A POS that sends an image slowly (a byte a second) costs that image only.
    let outcome = match tokio::time::timeout_at(deadline, fetch).await {
        Ok(Ok(())) => {
            let bytes = sink.written();
            sink.finish(image.sha256.as_deref(), keep_dir)
                .await
                .map(|name| (name, bytes))
        }
        Ok(Err(err)) => Err(err),
        Err(_) if deadline == own_deadline => Err(StoreError::new(
            Kind::OutOfTime,
            format!(
                "the image took longer than image_timeout_secs ({}s); left out",
                request.image_timeout.as_secs()
            ),
        )),
        Err(_) => Err(out_of_time()),
    };
    if outcome.is_err() {
        // The part file may be half-written; it never becomes part of a release.
        let _ = tokio::fs::remove_file(&part).await;
    }
    outcome
}

/// Links into `staging_dir` the images that releases replaced less than
/// `grace` ago named in their menus.
///
/// The image lifetime rule (README, "Images"; one place in the code, here):
/// an image file lives in a release only while that release's menu names
/// it, or while it is within `image_grace_secs` of a kept release that named
/// it. A page that loaded `menu.json` just before a publish asks for its
/// images just after, from the new release; carrying them forward keeps them
/// there, on the local tree and on every target (a target holds exactly the
/// release's images), until the grace period has passed. Only what a menu
/// named is carried, never what its release itself only carried, so images
/// never outlive the grace by riding from release to release.
///
/// `new_release` is the id the release being built takes: a kept release of
/// that id (the menu went back to an earlier one) is replaced by it, so it
/// counts neither as kept nor as carried from.
pub fn carry_forward(
    tree: &StoreTree,
    staging_dir: &Path,
    now: DateTime<Utc>,
    grace: std::time::Duration,
    keep_releases: usize,
    new_release: &str,
) -> Result<usize, StoreError> {
    if grace.is_zero() {
        return Ok(0);
    }
    let all = tree.releases()?;
    let current = tree.current_release()?;
    // A release was live until the next one (in menu mtime order) replaced it.
    let replaced_at: Vec<(String, Option<DateTime<Utc>>)> = all
        .iter()
        .enumerate()
        .map(|(index, release)| {
            let next = all.get(index + 1).and_then(|next| tree.menu_time(next));
            (release.clone(), next.map(DateTime::<Utc>::from))
        })
        .filter(|(release, _)| release != new_release)
        .collect();
    // The releases still kept once the new one is in: the newest
    // `keep_releases - 1` (pruning follows the publish).
    let kept_from = replaced_at
        .len()
        .saturating_sub(keep_releases.saturating_sub(1));
    let cutoff = now - chrono::TimeDelta::from_std(grace).unwrap_or(chrono::TimeDelta::MAX);
    let mut carried = 0;
    for (index, (release, replaced_at)) in replaced_at.iter().enumerate() {
        // The live release is replaced now: a page may have just loaded it.
        let recent = current.as_deref() == Some(release.as_str())
            || (index >= kept_from && replaced_at.is_some_and(|at| at > cutoff));
        if !recent {
            continue;
        }
        let dir = tree.release_dir(release);
        for name in named_images(&dir) {
            let source = dir.join(crate::publish::IMAGES_DIR).join(&name);
            match std::fs::hard_link(&source, staging_dir.join(&name)) {
                Ok(()) => carried += 1,
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                // Named but never held (its download failed): nothing to carry.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(StoreError::storage(
                        format!("carrying {name} forward from {release}"),
                        err,
                    ));
                }
            }
        }
    }
    Ok(carried)
}

/// The image files a release's menu names (items' and variants' images);
/// none when its menu does not read.
fn named_images(release_dir: &Path) -> std::collections::BTreeSet<String> {
    let menu: Option<crate::menu::Menu> =
        std::fs::read(release_dir.join(crate::publish::MENU_PATH))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let Some(menu) = menu else {
        return Default::default();
    };
    let mut names = std::collections::BTreeSet::new();
    for item in menu.items() {
        for path in item.image_paths() {
            if let Some(name) = path
                .strip_prefix("/images/")
                .filter(|name| is_image_name(name))
            {
                names.insert(name.to_string());
            }
        }
    }
    names
}
