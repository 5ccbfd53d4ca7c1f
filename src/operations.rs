//! What ops run by hand on one store: list releases, roll back, preview a
//! change, and approve or reject a held release (`decisions`).
//!
//! Rollback points `current` at an earlier kept release with the same atomic
//! swap a publish uses, pushes it to the targets, and pins it: later passes
//! keep it while the POS inputs stay what they were when it was rolled back,
//! and publish as usual once they change (see README, "Roll back").

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Store;
use crate::diff::MenuDiff;
use crate::error::{Kind, StoreError};
use crate::instrument::Recorder;
use crate::menu::Menu;
use crate::pipeline::{Context, Going, Learned, Pass, PassOptions, Planned, Scope, go_live, plan};
use crate::publish::{IMAGES_DIR, StoreTree};
use crate::state::{StoreState, WentLive};
use crate::transform;

mod decisions;
mod locked;
pub use decisions::{approve, reject};
use locked::{lock_store, read_menu};

/// One kept release, as `menusync releases` lists it.
#[derive(Debug, Serialize)]
pub struct ReleaseInfo {
    pub release: String,
    pub current: bool,
    /// Visible items in its menu.json, if it reads.
    pub items: Option<usize>,
}

pub fn releases(ctx: &Context, store: &Store) -> Result<Vec<ReleaseInfo>, StoreError> {
    let tree = StoreTree::new(&ctx.config.daemon.state_dir, &store.id);
    let current = tree.current_release()?;
    Ok(tree
        .releases()?
        .into_iter()
        .map(|release| ReleaseInfo {
            current: current.as_deref() == Some(release.as_str()),
            items: read_menu(&tree, &release)
                .ok()
                .map(|menu| menu.item_count()),
            release,
        })
        .collect())
}

/// Points `current` at `to` (default: the release before the current one) and deploys it.
pub async fn rollback(
    ctx: &Context,
    store: &Store,
    to: Option<&str>,
) -> Result<String, StoreError> {
    let (tree, _lock) = lock_store(ctx, store).await?;
    let current = tree.current_release()?;
    let kept = tree.releases()?;
    let target = match to {
        Some(release) if kept.iter().any(|kept| kept == release) => release.to_string(),
        Some(release) => {
            return Err(StoreError::new(
                Kind::Settings,
                format!(
                    "no kept release {release}; `menusync releases {}` lists them",
                    store.id
                ),
            ));
        }
        None => {
            let position = current
                .as_ref()
                .and_then(|current| kept.iter().position(|r| r == current));
            match position {
                Some(index) if index > 0 => kept[index - 1].clone(),
                _ => {
                    return Err(StoreError::new(
                        Kind::Settings,
                        "there is no earlier release to roll back to",
                    ));
                }
            }
        }
    };
    let state_file = tree.state_file();
    let mut state = StoreState::load(&state_file).unwrap_or_default();
    if state.held().is_some_and(|held| held.release == target) {
        return Err(StoreError::new(
            Kind::Settings,
            format!(
                "{target} is held by a publish gate; `menusync approve {}` publishes it",
                store.id
            ),
        ));
    }
    let menu = read_menu(&tree, &target)?;
    let recorder = Recorder::default();
    let scope = Scope::new(ctx, store, &tree, &recorder);
    go_live(
        scope,
        &mut state,
        Going {
            release: &target,
            menu: &menu,
            why: WentLive::RolledBack,
        },
    )
    .await?;
    Ok(target)
}

/// What `diff` shows: the changes, and why a pass would not publish them.
pub struct Preview {
    pub diff: MenuDiff,
    /// Why a pass would hold the change for approval or refuse it: the
    /// publish gates and the shrink guard, as a pass would say them.
    pub kept_back: Vec<String>,
}

/// Plans a pass exactly as one would (the same steps, the same rules) and
/// compares its menu with what is published; publishes and saves nothing.
pub async fn preview(ctx: &Context, store: &Store) -> Result<Preview, StoreError> {
    let tree = StoreTree::new(&ctx.config.daemon.state_dir, &store.id);
    let state = StoreState::load(&tree.state_file()).unwrap_or_default();
    let recorder = Recorder::default();
    let scope = Scope::new(ctx, store, &tree, &recorder);
    let pass = Pass::new(scope, &state);
    let options = PassOptions::default();
    // What planning learns (the input memo) is a pass's to record, not diff's.
    let mut learned = Learned::default();
    let plan = plan(pass, options, &mut learned).await?;
    let skip = plan.skip.clone();
    let current = plan.current.clone();
    let Planned {
        mut menu,
        images_doc,
        published,
        refusal,
        hold,
        ..
    } = plan.menu(pass, options, &mut learned).await?;
    let published = match published {
        Some((menu, _)) => menu,
        None => Menu {
            categories: Vec::new(),
            ..menu.clone()
        },
    };
    // Images are named by content, known only after a download; name the ones already held.
    let held_dir = current
        .as_ref()
        .map(|release| tree.release_dir(release).join(IMAGES_DIR));
    let mut files = BTreeMap::new();
    for image in &images_doc.images {
        let name = state.images().get(&crate::images::fingerprint(image));
        if let (Some(name), Some(dir)) = (name, &held_dir)
            && dir.join(name).is_file()
        {
            files
                .entry(image.image_id.clone())
                .or_insert_with(|| crate::menu::PublishedImage::file(name.clone()));
        }
    }
    transform::attach_images(&mut menu, &files);
    // Items whose image is not held yet would get a new one: show them as image changes.
    for item in menu.items_mut() {
        if item.image.is_none() && item.image_id.is_some() {
            item.image = Some("(new image)".to_string());
        }
    }
    let kept_back = match skip {
        Some(skip) => skip.reason(&store.id).into_iter().collect(),
        None => refusal
            .map(|err| format!("refused: {}", err.chain()))
            .into_iter()
            .chain(
                hold.into_iter()
                    .map(|reason| format!("held for approval: {reason}")),
            )
            .collect(),
    };
    Ok(Preview {
        diff: MenuDiff::between(&published, &menu),
        kept_back,
    })
}
