//! The `fixture` provider: the reference POS documents read from a folder.
//!
//! Layout: `<dir>/<pos_store_id>/menu.json`, `<dir>/<pos_store_id>/images.json`
//! and image files at the relative `url`s the image list gives. It is how the
//! shipped demo runs offline; everything after the fetch is the real pipeline.

use std::path::{Component, Path, PathBuf};

use tokio::io::AsyncReadExt;

use crate::error::{Kind, StoreError};
use crate::image_sink::ImageSink;

#[derive(Debug)]
pub struct FixturePos {
    dir: PathBuf,
}

impl FixturePos {
    pub fn new(dir: PathBuf) -> FixturePos {
        FixturePos { dir }
    }

    fn store_dir(&self, pos_store_id: &str) -> Result<PathBuf, StoreError> {
        let safe = !pos_store_id.is_empty()
            && !pos_store_id.contains(['/', '\\'])
            && pos_store_id != "."
            && pos_store_id != "..";
        if !safe {
            return Err(StoreError::new(
                Kind::Settings,
                format!("pos_store_id {pos_store_id:?} cannot name a fixture folder"),
            ));
        }
        let dir = self.dir.join(pos_store_id);
        if !dir.is_dir() {
            return Err(StoreError::new(
                Kind::Settings,
                format!(
                    "the fixture POS has no store {pos_store_id} (no folder {})",
                    dir.display()
                ),
            ));
        }
        Ok(dir)
    }

    pub async fn fetch_documents(
        &self,
        pos_store_id: &str,
        max_bytes: u64,
    ) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        let dir = self.store_dir(pos_store_id)?;
        let menu = read_capped(&dir.join("menu.json"), max_bytes).await?;
        let images = read_capped(&dir.join("images.json"), max_bytes).await?;
        Ok((menu, images))
    }

    pub async fn fetch_image(
        &self,
        pos_store_id: &str,
        url: &str,
        sink: &mut ImageSink,
    ) -> Result<(), StoreError> {
        let dir = self.store_dir(pos_store_id)?;
        let relative = Path::new(url);
        let inside = !url.is_empty()
            && !url.contains(':')
            && relative
                .components()
                .all(|component| matches!(component, Component::Normal(_)));
        if !inside {
            return Err(StoreError::new(
                Kind::BadDocument,
                format!("image url {url:?} must be a relative path inside the fixture store"),
            ));
        }
        let path = dir.join(relative);
        let mut file = tokio::fs::File::open(&path).await.map_err(|err| {
            StoreError::with_source(
                Kind::BadDocument,
                format!("opening {}", path.display()),
                err,
            )
        })?;
        let length = file
            .metadata()
            .await
            .map_err(|err| {
                StoreError::with_source(
                    Kind::BadDocument,
                    format!("reading {}", path.display()),
                    err,
                )
            })?
            .len();
        sink.check_announced_size(length)?;
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let n = file.read(&mut buffer).await.map_err(|err| {
                StoreError::with_source(
                    Kind::BadDocument,
                    format!("reading {}", path.display()),
                    err,
                )
            })?;
            if n == 0 {
                return Ok(());
            }
            sink.write(&buffer[..n]).await?;
        }
    }
}

async fn read_capped(path: &Path, max_bytes: u64) -> Result<Vec<u8>, StoreError> {
    let read_error = |err| {
        StoreError::with_source(
            Kind::BadDocument,
            format!("reading {}", path.display()),
            err,
        )
    };
    let length = tokio::fs::metadata(path).await.map_err(read_error)?.len();
    if length > max_bytes {
        return Err(StoreError::new(
            Kind::BadDocument,
            format!(
                "{} is {length} bytes, over the {max_bytes} byte cap",
                path.display()
            ),
        ));
    }
    tokio::fs::read(path).await.map_err(read_error)
}
