//! The preview pages a publish or a hold writes for staff.

use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use super::Pass;
use crate::menu::Menu;
use crate::preview::Shown;

/// The preview pages of one publish or hold (`preview`): written after the
/// release is in place, and never failing the pass.
pub(super) struct Previews<'a> {
    pub(super) pass: Pass<'a>,
    pub(super) old: Option<&'a Menu>,
    pub(super) old_release: Option<&'a str>,
}

impl Previews<'_> {
    pub(super) fn write(
        &self,
        menu: &Menu,
        release: &str,
        held: Option<(&[String], DateTime<Utc>)>,
    ) {
        let (tree, daemon) = (self.pass.tree, &self.pass.ctx.config.daemon);
        let preview = crate::preview::StorePreview::new(&daemon.state_dir, &self.pass.store.id);
        let new_dir = tree.release_dir(release);
        let new = Shown {
            menu,
            release_dir: &new_dir,
        };
        let old_dir = self.old_release.map(|old| tree.release_dir(old));
        let old = self
            .old
            .zip(old_dir.as_deref())
            .map(|(menu, release_dir)| Shown { menu, release_dir });
        let written = (|| {
            preview.write_changes(old, new, release, held.map(|(reasons, _)| reasons))?;
            match held {
                Some((reasons, since)) => preview.write_held(
                    new,
                    release,
                    reasons,
                    &since.format("%Y-%m-%d %H:%M UTC").to_string(),
                )?,
                None => {
                    preview.write_published(new, release)?;
                    preview.clear_held()?;
                }
            }
            preview.prune(daemon.keep_releases.get())?;
            crate::preview::write_index(&daemon.state_dir, &index_rows(&self.pass.ctx.config))
        })();
        match written {
            Ok(()) => debug!(dir = %preview.dir().display(), "preview pages written"),
            Err(err) => {
                warn!(category = %err.category(), "preview pages not written: {}", err.chain())
            }
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
