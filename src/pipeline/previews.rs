//! The preview pages a go-live or a hold writes for staff.

use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use super::context::Context;
use crate::config::Store;
use crate::menu::Menu;
use crate::preview::{Shown, StorePreview};
use crate::publish::StoreTree;

/// The preview pages of one go-live or hold: written after the release is
/// in place, and never failing what wrote them.
pub(crate) struct Previews<'a> {
    pub ctx: &'a Context,
    pub store: &'a Store,
    pub tree: &'a StoreTree,
    /// The menu live before, and its release.
    pub old: Option<(&'a Menu, &'a str)>,
}

impl Previews<'_> {
    /// The change page from the old menu to `menu`, then the published page
    /// (or, with `held`, the held page), pruning and the index. A held page
    /// stays until [`Previews::clear_held`].
    pub(crate) fn write(
        &self,
        menu: &Menu,
        release: &str,
        held: Option<(&[String], DateTime<Utc>)>,
    ) {
        let (tree, daemon) = (self.tree, &self.ctx.config.daemon);
        let preview = StorePreview::new(&daemon.state_dir, &self.store.id);
        let new_dir = tree.release_dir(release);
        let new = Shown {
            menu,
            release_dir: &new_dir,
        };
        let old_dir = self.old.map(|(_, old)| tree.release_dir(old));
        let old = self
            .old
            .zip(old_dir.as_deref())
            .map(|((menu, _), release_dir)| Shown { menu, release_dir });
        let written = (|| {
            preview.write_changes(old, new, release, held.map(|(reasons, _)| reasons))?;
            match held {
                Some((reasons, since)) => preview.write_held(
                    new,
                    release,
                    reasons,
                    &since.format("%Y-%m-%d %H:%M UTC").to_string(),
                )?,
                None => preview.write_published(new, release)?,
            }
            preview.prune(daemon.keep_releases.get())?;
            crate::preview::write_index(&daemon.state_dir, &index_rows(&self.ctx.config))
        })();
        match written {
            Ok(()) => debug!(dir = %preview.dir().display(), "preview pages written"),
            Err(err) => {
                warn!(category = %err.category(), "preview pages not written: {}", err.chain())
            }
        }
    }

    /// Drops the held page (nothing is held any more); the next `write`
    /// rewrites the index without its link.
    pub(crate) fn clear_held(&self) {
        let daemon = &self.ctx.config.daemon;
        if let Err(err) = StorePreview::new(&daemon.state_dir, &self.store.id).clear_held() {
            warn!(category = %err.category(), "preview pages not written: {}", err.chain());
        }
    }
}

/// Every configured store for the previews' index page.
fn index_rows(config: &crate::config::Config) -> Vec<(String, String, String)> {
    config
        .stores
        .iter()
        .map(|store| {
            (
                store.id.clone(),
                store.settings.display_name.clone(),
                store.pos.name.clone(),
            )
        })
        .collect()
}
