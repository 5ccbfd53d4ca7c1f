//! Preview pages for staff: static HTML of each store's menu as customers
//! would see it, of a held release, and of what each publish changed.
//!
//! They live under `<state_dir>/preview/`, never inside a release:
//!
//! ```text
//! preview/index.html                     every store, with its state
//! preview/<store>/index.html             the published menu
//! preview/<store>/held.html              the held release (only while one is held)
//! preview/<store>/changes/<release>.html what that release changed (newest kept ones)
//! preview/<store>/images/<name>          hard links to the release images the pages show
//! ```
//!
//! Pages are written to a temp file and renamed, so a reader (or an rsync
//! to the `[preview]` host) never sees half a page. Images are content-named,
//! so one link serves every page that shows it; an image no page names is
//! removed. Writing previews never fails a pass: the caller logs and goes on.

pub mod html;

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::menu::{Menu, is_image_name};

const PREVIEW: &str = "preview";
const IMAGES: &str = "images";
const CHANGES: &str = "changes";
pub const HELD_PAGE: &str = "held.html";

/// The preview folder of one store.
#[derive(Debug, Clone)]
pub struct StorePreview {
    root: PathBuf,
    store_id: String,
}

/// A release's menu and the folder its images are in.
#[derive(Clone, Copy)]
pub struct Shown<'a> {
    pub menu: &'a Menu,
    pub release_dir: &'a Path,
}

/// The preview folder under a state directory.
pub fn root(state_dir: &Path) -> PathBuf {
    state_dir.join(PREVIEW)
}

impl StorePreview {
    pub fn new(state_dir: &Path, store_id: &str) -> StorePreview {
        StorePreview {
            root: root(state_dir).join(store_id),
            store_id: store_id.to_string(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Every folder pages of this store are written into (through temp files).
    pub fn page_folders(&self) -> [PathBuf; 2] {
        [self.root.clone(), self.root.join(CHANGES)]
    }

    pub fn held_page(&self) -> PathBuf {
        self.root.join(HELD_PAGE)
    }

    pub fn changes_page(&self, release: &str) -> PathBuf {
        self.root.join(CHANGES).join(format!("{release}.html"))
    }

    /// `index.html`: the published menu.
    pub fn write_published(&self, shown: Shown<'_>, release: &str) -> Result<(), StoreError> {
        self.link_images(shown)?;
        let body = format!(
            "{}<p class=\"meta\"><a href=\"changes/{release}.html\">what this release changed</a></p>\n{}",
            html::header(shown.menu, &format!("published release {release}")),
            html::menu_body(shown.menu)
        );
        self.write_page(
            &self.root.join("index.html"),
            &html::page(&shown.menu.store.name, &body),
        )
    }

    /// `held.html`: the release that waits, with why.
    pub fn write_held(
        &self,
        shown: Shown<'_>,
        release: &str,
        reasons: &[String],
        since: &str,
    ) -> Result<(), StoreError> {
        self.link_images(shown)?;
        let body = format!(
            "{}{}<p class=\"meta\"><a href=\"changes/{release}.html\">what it changes</a> · \
             <a href=\"index.html\">the published menu</a></p>\n{}",
            html::header(shown.menu, &format!("held release {release}")),
            html::held_banner(reasons, since, &self.store_id),
            html::menu_body(shown.menu)
        );
        self.write_page(
            &self.held_page(),
            &html::page(&format!("{} (held)", shown.menu.store.name), &body),
        )
    }

    /// `changes/<release>.html`: what `new` changes from `old` (the published menu then).
    pub fn write_changes(
        &self,
        old: Option<Shown<'_>>,
        new: Shown<'_>,
        release: &str,
        held: Option<&[String]>,
    ) -> Result<(), StoreError> {
        if let Some(old) = old {
            self.link_images(old)?;
        }
        self.link_images(new)?;
        let banner = held
            .map(|reasons| html::held_banner(reasons, "this pass", &self.store_id))
            .unwrap_or_default();
        let body = format!(
            "{}{banner}{}",
            html::header(new.menu, &format!("changes of release {release}")),
            html::changes_body(old.map(|old| old.menu), new.menu)
        );
        // The page sits one folder down: its image paths go up one.
        let body = body.replace("src=\"images/", "src=\"../images/");
        self.write_page(
            &self.changes_page(release),
            &html::page(&format!("{}: changes", new.menu.store.name), &body),
        )
    }

    /// Removes the held page (approved or rejected).
    pub fn clear_held(&self) -> Result<(), StoreError> {
        match fs::remove_file(self.held_page()) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(StoreError::storage(
                format!("removing {}", self.held_page().display()),
                err,
            )),
        }
    }

    /// Keeps the newest `keep` change pages and the images some page still shows.
    pub fn prune(&self, keep: usize) -> Result<(), StoreError> {
        let changes = self.root.join(CHANGES);
        let mut pages = list(&changes)?;
        // Release ids carry no time (they hash the menu): the newest pages
        // are the last written, and a release that returns rewrites its page.
        pages.sort_by_cached_key(|page| {
            let written = fs::metadata(changes.join(page)).and_then(|meta| meta.modified());
            (written.ok(), page.clone())
        });
        let excess = pages.len().saturating_sub(keep);
        for page in &pages[..excess] {
            remove(&changes.join(page))?;
        }
        let mut shown = BTreeSet::new();
        for page in pages[excess..]
            .iter()
            .map(|page| changes.join(page))
            .chain([self.root.join("index.html"), self.held_page()])
        {
            if let Ok(text) = fs::read_to_string(&page) {
                shown.extend(image_names(&text));
            }
        }
        let images = self.root.join(IMAGES);
        for name in list(&images)? {
            if !shown.contains(&name) {
                remove(&images.join(&name))?;
            }
        }
        Ok(())
    }

    /// Hard-links the images `shown` names into `images/` (copies across file systems).
    fn link_images(&self, shown: Shown<'_>) -> Result<(), StoreError> {
        let images = self.root.join(IMAGES);
        create_dir(&images)?;
        let names = shown.menu.items().flat_map(|item| item.image_paths());
        for path in names {
            let Some(name) = path.strip_prefix("/images/") else {
                continue;
            };
            if !is_image_name(name) {
                continue;
            }
            let (source, target) = (shown.release_dir.join(IMAGES).join(name), images.join(name));
            if target.exists() {
                continue;
            }
            let linked = fs::hard_link(&source, &target).or_else(|err| {
                if err.kind() == io::ErrorKind::AlreadyExists {
                    Ok(())
                } else {
                    fs::copy(&source, &target).map(|_| ())
                }
            });
            if let Err(err) = linked {
                return Err(StoreError::storage(
                    format!("linking {} into {}", source.display(), images.display()),
                    err,
                ));
            }
        }
        Ok(())
    }

    fn write_page(&self, path: &Path, text: &str) -> Result<(), StoreError> {
        let dir = path.parent().expect("pages live in a folder");
        create_dir(dir)?;
        // A page is served (preview_target): its validators must change with it.
        crate::atomic::write(path, text.as_bytes(), crate::atomic::Mtime::AfterReplaced)
            .map_err(|err| StoreError::storage(format!("writing {}", path.display()), err))
    }
}

/// One line per store for `preview/index.html`: its id, and a note (held, failing).
pub fn write_index(
    state_dir: &Path,
    stores: &[(String, String, String)],
) -> Result<(), StoreError> {
    let mut body = String::from("<header><h1>menusync previews</h1></header>\n<table><tbody>");
    for (id, name, note) in stores {
        let held = root(state_dir).join(id).join(HELD_PAGE).is_file();
        body.push_str(&format!(
            "<tr><td><a href=\"{id}/index.html\">{}</a></td><td>{}</td><td>{}</td></tr>",
            html::escape(name),
            html::escape(note),
            if held {
                format!("<a href=\"{id}/held.html\">held change</a>")
            } else {
                String::new()
            }
        ));
    }
    body.push_str("</tbody></table>\n");
    let preview = StorePreview {
        root: root(state_dir),
        store_id: String::new(),
    };
    preview.write_page(
        &root(state_dir).join("index.html"),
        &html::page("menusync previews", &body),
    )
}

/// Content names (`<16 hex>.<ext>`, `<16 hex>-<width>.<ext>`) after `images/` in a page.
fn image_names(text: &str) -> BTreeSet<String> {
    text.match_indices("images/")
        .filter_map(|(at, _)| {
            let rest = &text[at + "images/".len()..];
            // A `src` ends at its quote; a `srcset` entry at its space.
            let end = rest.find(['"', ' ', ','])?;
            let name = &rest[..end];
            is_image_name(name).then(|| name.to_string())
        })
        .collect()
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    fs::create_dir_all(dir)
        .map_err(|err| StoreError::storage(format!("creating {}", dir.display()), err))
}

fn list(dir: &Path) -> Result<Vec<String>, StoreError> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .collect()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(StoreError::storage(
            format!("listing {}", dir.display()),
            err,
        )),
    }
}

fn remove(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(StoreError::storage(
            format!("removing {}", path.display()),
            err,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_are_found_only_when_content_named() {
        let text = r#"<img src="images/0123456789abcdef.jpg"><img src="../images/fedcba9876543210.png">
            <img src="images/../../etc/passwd"><img src="images/ABCDEF0123456789.jpg">"#;
        let names: Vec<String> = image_names(text).into_iter().collect();
        assert_eq!(names, ["0123456789abcdef.jpg", "fedcba9876543210.png"]);
    }
}

#[cfg(test)]
mod prune_tests {
    use super::*;

    /// Release ids hash the menu: change pages are pruned by when they were
    /// written, never by name.
    #[test]
    fn prune_keeps_the_last_written_change_pages() {
        let dir = tempfile::tempdir().unwrap();
        let preview = StorePreview::new(dir.path(), "gangnam");
        fs::create_dir_all(preview.root.join(CHANGES)).unwrap();
        let at = |secs| std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        // Written in this order; their names sort the other way round.
        let written = [
            "m-cccccccccccccccccccc",
            "m-bbbbbbbbbbbbbbbbbbbb",
            "m-aaaaaaaaaaaaaaaaaaaa",
        ];
        for (n, release) in written.iter().enumerate() {
            let page = preview.changes_page(release);
            fs::write(&page, "<p>page</p>").unwrap();
            fs::File::options()
                .write(true)
                .open(&page)
                .unwrap()
                .set_modified(at(1_700_000_000 + n as u64))
                .unwrap();
        }
        preview.prune(2).unwrap();
        let mut kept = list(&preview.root.join(CHANGES)).unwrap();
        kept.sort();
        assert_eq!(
            kept,
            ["m-aaaaaaaaaaaaaaaaaaaa.html", "m-bbbbbbbbbbbbbbbbbbbb.html"]
        );
    }
}
