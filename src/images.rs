//! The images stage: bring every image the menu needs into the new release.
//!
//! Images already held in the published release are hard-linked, not fetched
//! again. New ones are streamed to disk under a size cap, checked to be real
//! images by their magic bytes, verified against the POS's sha256 when given,
//! and stored under a name derived from their content, so a changed photo gets
//! a new name and a page cached with the old menu never shows the wrong one.
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

use crate::error::{Category, StoreError};
use crate::pos::Provider;
use crate::pos::doc::{ImageDoc, ImagesDoc};
use crate::publish::{StoreTree, release_time};
use crate::transform::Problem;
use chrono::{DateTime, Utc};

mod dimensions;
pub use dimensions::Dimensions;

/// Bytes of an image's start kept in memory for its format and dimensions;
/// a JPEG's frame header may follow EXIF data of tens of kilobytes.
const HEAD_BYTES: usize = 64 * 1024;

/// Hex digits of the content hash kept in an image's file name (64 bits).
const NAME_HASH_LEN: usize = 16;

/// Image formats we publish, by their magic numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
    Gif,
}

impl ImageFormat {
    /// Recognises a format from the first bytes of a file, whatever its content type claims.
    pub fn sniff(head: &[u8]) -> Option<ImageFormat> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
            Some(ImageFormat::Webp)
        } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
            Some(ImageFormat::Gif)
        } else {
            None
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
            ImageFormat::Gif => "gif",
        }
    }
}

/// Whether `name` is one of our content-derived image names, such as `0123456789abcdef.jpg`.
///
/// Names read back from the state file pass through this before they touch a path.
pub fn is_image_name(name: &str) -> bool {
    let Some((stem, extension)) = name.split_once('.') else {
        return false;
    };
    stem.len() == NAME_HASH_LEN
        && stem
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && matches!(extension, "jpg" | "png" | "webp" | "gif")
}

/// Bytes an image sink holds in memory before it writes them out; most
/// images fit, so each is written, fsynced and renamed in one blocking call.
/// With `io_concurrency` downloads at once this bounds their buffers together.
const SINK_BUFFER: usize = 128 * 1024;

/// Where a provider streams one image's bytes: hashed and capped as it grows,
/// held in memory up to [`SINK_BUFFER`], then spilled to a temp file.
pub struct ImageSink {
    /// The temp file, once the image outgrew the buffer.
    file: Option<std::fs::File>,
    buffer: Vec<u8>,
    path: PathBuf,
    hasher: Sha256,
    written: u64,
    max_bytes: u64,
    /// Width × height the header may announce.
    max_pixels: u64,
    /// The first [`HEAD_BYTES`] bytes, for the format and the dimensions.
    head: Vec<u8>,
}

/// Runs blocking file work off the async workers; a lost task is a storage failure.
async fn blocking<T: Send + 'static>(
    what: String,
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(|err| StoreError::storage(what, err)),
        Err(err) => Err(StoreError::storage(what, std::io::Error::other(err))),
    }
}

impl ImageSink {
    fn new(path: PathBuf, max_bytes: u64, max_pixels: u64) -> ImageSink {
        ImageSink {
            file: None,
            buffer: Vec::new(),
            path,
            hasher: Sha256::new(),
            written: 0,
            max_bytes,
            max_pixels,
            head: Vec::new(),
        }
    }

    /// Empties the sink so a retried download starts from its first byte.
    pub async fn restart(&mut self) -> Result<(), StoreError> {
        self.buffer.clear();
        self.hasher = Sha256::new();
        self.written = 0;
        self.head.clear();
        if let Some(file) = self.file.take() {
            let kept = blocking(format!("truncating {}", self.path.display()), move || {
                file.set_len(0)?;
                Ok(file)
            })
            .await?;
            // Writes go through a cursor-less `write_all` at the end, so rewind too.
            use std::io::Seek;
            let mut kept = kept;
            kept.seek(std::io::SeekFrom::Start(0)).map_err(|err| {
                StoreError::storage(format!("rewinding {}", self.path.display()), err)
            })?;
            self.file = Some(kept);
        }
        Ok(())
    }

    /// Appends a chunk; refuses to grow past the cap, so a huge body is never stored.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.written += chunk.len() as u64;
        if self.written > self.max_bytes {
            return Err(StoreError::new(
                Category::Data,
                format!("image is larger than the {} byte cap", self.max_bytes),
            ));
        }
        if self.head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        self.buffer.extend_from_slice(chunk);
        if self.buffer.len() >= SINK_BUFFER {
            self.spill().await?;
        }
        Ok(())
    }

    /// Writes the buffer out to the temp file, creating it on first use.
    async fn spill(&mut self) -> Result<(), StoreError> {
        let buffer = std::mem::take(&mut self.buffer);
        let file = self.file.take();
        let path = self.path.clone();
        let file = blocking(format!("writing {}", self.path.display()), move || {
            use std::io::Write;
            let mut file = match file {
                Some(file) => file,
                None => std::fs::File::create(&path)?,
            };
            file.write_all(&buffer)?;
            Ok(file)
        })
        .await?;
        self.file = Some(file);
        Ok(())
    }

    /// The byte count a `Content-Length` or file size announces, checked before streaming.
    pub fn check_announced_size(&self, size: u64) -> Result<(), StoreError> {
        if size > self.max_bytes {
            return Err(StoreError::new(
                Category::Data,
                format!(
                    "image announces {size} bytes, over the {} byte cap",
                    self.max_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Checks what arrived, makes it durable under its content name in `dir`
    /// (file written, fsynced, renamed in one blocking call) and returns the name.
    async fn finish(self, expected_sha256: Option<&str>, dir: &Path) -> Result<String, StoreError> {
        let format = ImageFormat::sniff(&self.head).ok_or_else(|| {
            StoreError::new(
                Category::Data,
                "bytes are not a JPEG, PNG, WebP or GIF image",
            )
        })?;
        let sha256 = hex::encode(self.hasher.finalize());
        if let Some(expected) = expected_sha256
            && !expected.eq_ignore_ascii_case(&sha256)
        {
            return Err(StoreError::new(
                Category::Data,
                format!("bytes hash to {sha256}, but the POS says {expected}"),
            ));
        }
        // Whole in memory, the buffer is the image; spilled, its head usually
        // holds the frame header, else the part file is read back (under the cap).
        let in_memory = self.file.is_none();
        let dimensions = if in_memory {
            dimensions::read(&self.buffer)
        } else {
            dimensions::read(&self.head)
        };
        if in_memory || dimensions.is_some() {
            check_pixels(dimensions, self.max_pixels)?;
        }
        let max_pixels = self.max_pixels;
        let name = format!("{}.{}", &sha256[..NAME_HASH_LEN], format.extension());
        let target = dir.join(&name);
        let (part, buffer, file) = (self.path, self.buffer, self.file);
        let stored = blocking(format!("storing {}", target.display()), move || {
            use std::io::Write;
            match file {
                // Spilled: finish the part file, then give it its content name.
                Some(mut file) => {
                    file.write_all(&buffer)?;
                    file.sync_all()?;
                    if dimensions.is_none() {
                        let whole = std::fs::read(&part)?;
                        if let Err(err) = check_pixels(dimensions::read(&whole), max_pixels) {
                            return Ok(Err(err));
                        }
                    }
                    std::fs::rename(&part, &target).map(Ok)
                }
                // Whole in memory, so its name is known before it touches the
                // disk: write it under that name, with no part file to rename.
                // Another entry with the same bytes may have stored it already.
                None => match std::fs::File::create_new(&target) {
                    Ok(mut file) => {
                        file.write_all(&buffer)?;
                        file.sync_all().map(Ok)
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(Ok(())),
                    Err(err) => Err(err),
                },
            }
        })
        .await?;
        stored.map(|()| name)
    }
}

/// Refuses an image whose header gives no size, or more pixels than allowed:
/// a small file can announce a picture that no phone can decode.
fn check_pixels(dimensions: Option<Dimensions>, max_pixels: u64) -> Result<(), StoreError> {
    let Some(dimensions) = dimensions else {
        return Err(StoreError::new(
            Category::Data,
            "the image header gives no width and height (cut short or malformed)",
        ));
    };
    if dimensions.pixels() > max_pixels {
        return Err(StoreError::new(
            Category::Data,
            format!(
                "image is {}×{} = {} pixels, over max_image_pixels ({max_pixels})",
                dimensions.width,
                dimensions.height,
                dimensions.pixels()
            ),
        ));
    }
    Ok(())
}

/// What the images stage produced for one release.
#[derive(Debug, Default)]
pub struct GatheredImages {
    /// POS image id → file name under the release's `images/`.
    pub files: BTreeMap<String, String>,
    pub problems: Vec<Problem>,
    /// Fingerprint of an image's POS entry → file name, for the next pass.
    pub index: BTreeMap<String, String>,
    pub downloaded: usize,
    pub downloaded_bytes: u64,
    pub linked: usize,
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
            Some(name) => {
                result.linked += 1;
                result.index.insert(print, name.clone());
                result.files.insert(image_id.clone(), name);
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
                let outcome = download(request, &image, part).await;
                (image_id, print, outcome)
            }
        })
        .buffer_unordered(request.concurrency.max(1));
    while let Some((image_id, print, outcome)) = downloads.next().await {
        match outcome {
            Ok((name, bytes)) => {
                result.downloaded += 1;
                result.downloaded_bytes += bytes;
                result.index.insert(print, name.clone());
                result.files.insert(image_id, name);
            }
            Err(err) if err.category == Category::Storage => return Err(err),
            Err(err) => {
                if err.category == Category::Network {
                    result.transient_failures += 1;
                }
                // An image the POS lists but cannot serve (404) is a fault of its data.
                let category = match err.category {
                    Category::Config => Category::Data,
                    other => other,
                };
                result.problems.push(Problem {
                    category,
                    subject: format!("image {image_id}"),
                    message: err.chain(),
                });
            }
        }
    }
    Ok(result)
}

/// Links an image the published release already holds into staging, if it does.
async fn link_held(request: &ImageRequest<'_>, print: &str) -> Result<Option<String>, StoreError> {
    let (Some(held_dir), Some(name)) = (request.held_dir, request.held_index.get(print)) else {
        return Ok(None);
    };
    if !is_image_name(name) {
        return Ok(None);
    }
    let source = held_dir.join(name);
    let target = request.staging_dir.join(name);
    match tokio::fs::hard_link(&source, &target).await {
        Ok(()) => Ok(Some(name.clone())),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(Some(name.clone())),
        // The published release lost the file (rolled back, pruned): fetch it again.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
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
            Category::Network,
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
            let bytes = sink.written;
            sink.finish(image.sha256.as_deref(), request.staging_dir)
                .await
                .map(|name| (name, bytes))
        }
        Ok(Err(err)) => Err(err),
        Err(_) if deadline == own_deadline => Err(StoreError::new(
            Category::Network,
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

/// Links into `staging_dir` the images of releases replaced less than `grace` ago.
///
/// A page that loaded `menu.json` just before a publish asks for its images
/// just after, from the new release; carrying them forward keeps them there,
/// on the local tree and on every target, until the grace period has passed.
pub fn carry_forward(
    tree: &StoreTree,
    staging_dir: &Path,
    now: DateTime<Utc>,
    grace: std::time::Duration,
) -> Result<usize, StoreError> {
    if grace.is_zero() {
        return Ok(0);
    }
    let releases = tree.releases()?;
    let current = tree.current_release()?;
    let cutoff =
        now.naive_utc() - chrono::TimeDelta::from_std(grace).unwrap_or(chrono::TimeDelta::MAX);
    let mut carried = 0;
    for (index, release) in releases.iter().enumerate() {
        // A release was live until the next one replaced it; the current one until now.
        let replaced_at = releases.get(index + 1).and_then(|next| release_time(next));
        let recent = current.as_deref() == Some(release.as_str())
            || replaced_at.is_some_and(|at| at > cutoff);
        if !recent {
            continue;
        }
        let dir = tree.release_dir(release).join(crate::publish::IMAGES_DIR);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str().filter(|name| is_image_name(name)) else {
                continue;
            };
            match std::fs::hard_link(entry.path(), staging_dir.join(name)) {
                Ok(()) => carried += 1,
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
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

#[cfg(test)]
mod tests;
