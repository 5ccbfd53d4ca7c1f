//! Where a provider streams one image's bytes, and the checks they pass.
//!
//! An [`ImageSink`] hashes and caps the bytes as they arrive, keeps them in
//! memory up to a buffer and spills the rest to a temp file; `finish` checks
//! the format by magic bytes, the pixel count from the header
//! ([`dimensions`]) and the POS's sha256, then stores the file under its
//! content name. Providers (`pos`) write into it; the images stage
//! (`images`) creates it and keeps what it returns. It knows neither.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Kind, StoreError};

pub mod dimensions;
pub use dimensions::Dimensions;

/// Bytes of an image's start kept apart for its format and, once it outgrew
/// memory, its dimensions (PNG, GIF and WebP say them within 30 bytes). A
/// spilled JPEG whose frame header comes later is read back from its part
/// file. Kept small on purpose: a 64 KiB head per image made the first full
/// sync (S1) cost 2.7× the CPU, growing and freeing buffers on every download.
const HEAD_BYTES: usize = 64;

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
    /// Whether `finish` fsyncs the file: not for a scratch copy that is
    /// read back at once and never published (an original made into variants).
    durable: bool,
}

/// Runs blocking file work off the async workers; a lost task is a storage failure.
pub async fn blocking<T: Send + 'static>(
    what: String,
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(|err| StoreError::storage(what, err)),
        Err(err) => Err(StoreError::storage(what, std::io::Error::other(err))),
    }
}

impl ImageSink {
    pub(crate) fn new(path: PathBuf, max_bytes: u64, max_pixels: u64) -> ImageSink {
        ImageSink {
            file: None,
            buffer: Vec::new(),
            path,
            hasher: Sha256::new(),
            written: 0,
            max_bytes,
            max_pixels,
            head: Vec::new(),
            durable: true,
        }
    }

    /// Makes `finish` skip the fsync: the file is a scratch copy that a
    /// crash may lose, since it is never published (the next pass fetches it).
    pub(crate) fn scratch(&mut self) {
        self.durable = false;
    }

    /// Bytes received so far.
    pub fn written(&self) -> u64 {
        self.written
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
                Kind::BadImage,
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
                Kind::BadImage,
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
    pub(crate) async fn finish(
        self,
        expected_sha256: Option<&str>,
        dir: &Path,
    ) -> Result<String, StoreError> {
        let format = ImageFormat::sniff(&self.head).ok_or_else(|| {
            StoreError::new(
                Kind::BadImage,
                "bytes are not a JPEG, PNG, WebP or GIF image",
            )
        })?;
        let sha256 = hex::encode(self.hasher.finalize());
        if let Some(expected) = expected_sha256
            && !expected.eq_ignore_ascii_case(&sha256)
        {
            return Err(StoreError::new(
                Kind::BadImage,
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
        let (part, buffer, file, durable) = (self.path, self.buffer, self.file, self.durable);
        let stored = blocking(format!("storing {}", target.display()), move || {
            use std::io::Write;
            match file {
                // Spilled: finish the part file, then give it its content name.
                Some(mut file) => {
                    file.write_all(&buffer)?;
                    if durable {
                        file.sync_all()?;
                    }
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
                        if durable { file.sync_all() } else { Ok(()) }.map(Ok)
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
            Kind::BadImage,
            "the image header gives no width and height (cut short or malformed)",
        ));
    };
    if dimensions.pixels() > max_pixels {
        return Err(StoreError::new(
            Kind::BadImage,
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

#[cfg(test)]
mod tests;
