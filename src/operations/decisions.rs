//! What staff decide about a held release: `approve` publishes exactly it,
//! `reject` drops it and keeps the published menu until the POS changes.
//!
//! Both take the store's lock (waiting for a running pass like `rollback`),
//! so they are safe beside the daemon, and both are logged and shown in
//! `status`. Approve is refused when the POS no longer sends what built the
//! held release: staff approve what they saw, never what came after. A pass
//! then runs at once, so the new content is held again (or publishes, if it
//! trips no gate).

use chrono::Utc;
use tracing::{info, warn};

use super::{lock_store, read_menu};
use crate::config::Store;
use crate::error::{Kind, StoreError};
use crate::lock::StoreLock;
use crate::menu::Menu;
use crate::pipeline::{Context, PassOptions, deploy_pending};
use crate::preview::{Shown, StorePreview};
use crate::publish::StoreTree;
use crate::report::Outcome;
use crate::state::{Held, Lag, Rejected, StoreState};

/// The store's lock, its state, and what is held.
async fn held(
    ctx: &Context,
    store: &Store,
) -> Result<(StoreTree, StoreLock, StoreState, Held), StoreError> {
    let (tree, lock) = lock_store(ctx, store).await?;
    let state = StoreState::load(&tree.state_file())?;
    let Some(held) = state.held.clone() else {
        return Err(StoreError::new(
            Kind::Settings,
            "nothing is held for this store (`menusync status` shows held stores)",
        ));
    };
    Ok((tree, lock, state, held))
}

/// Publishes the held release, as it was previewed, and pushes it to the targets.
pub async fn approve(ctx: &Context, store: &Store) -> Result<String, StoreError> {
    let (tree, lock, mut state, held) = held(ctx, store).await?;
    let menu = read_menu(&tree, &held.release)?;
    let now_sending = crate::pipeline::pos_content_hash(ctx, store, &tree, &state).await?;
    if now_sending != held.input_hash {
        drop(lock);
        let report = crate::pipeline::run_pass(ctx, store, PassOptions::default()).await;
        let now = match &report.outcome {
            Outcome::Held { release, .. } => format!("held again as {release}"),
            Outcome::Published { release } => {
                format!("it passed every gate and published {release}")
            }
            Outcome::Failed { category, message } => {
                format!("the pass failed [{category}]: {message}")
            }
            other => format!("{other:?}"),
        };
        return Err(StoreError::new(
            Kind::Moved,
            format!(
                "the POS menu changed since {} was held; not approved. A new pass ran: {now}",
                held.release
            ),
        ));
    }
    tree.swap_current(&held.release)?;
    state.release = Some(held.release.clone());
    state.content_hash = Some(held.input_hash.clone());
    state.item_count = Some(held.item_count);
    state.images = held.images.clone();
    state.retry_images = false;
    let now = Utc::now();
    state.last_change = Some(now);
    if let Some(changed_at) = held.changed_at
        && let Some(lag) = Lag::measure(state.lag.as_ref(), &held.release, changed_at, false, now)
    {
        info!(store = %store.id, lag_secs = lag.publish_secs, "the POS change of {} is published, approved", changed_at.format("%Y-%m-%dT%H:%M:%SZ"));
        state.lag = Some(lag);
    }
    state.held = None;
    state.pinned = None;
    state.rejected = None;
    let state_file = tree.state_file();
    state.save(&state_file)?;
    info!(store = %store.id, release = %held.release, "approved {}: published; {}", held.release, held.reasons.join("; "));
    show_published(ctx, store, &tree, &menu, &held.release);
    if let Err(err) = StorePreview::new(&ctx.config.daemon.state_dir, &store.id).clear_held() {
        warn!(category = %err.category(), "preview pages not written: {}", err.chain());
    }
    crate::pipeline::push_previews(ctx).await;
    let deployed = deploy_pending(ctx, store, &tree, &mut state).await;
    state.save(&state_file)?;
    deployed.map(|()| held.release)
}

/// Rewrites the store's preview of its published menu after `current` moved
/// by hand; a failure is logged, never fatal.
pub(super) fn show_published(
    ctx: &Context,
    store: &Store,
    tree: &StoreTree,
    menu: &Menu,
    release: &str,
) {
    let preview = StorePreview::new(&ctx.config.daemon.state_dir, &store.id);
    let shown = Shown {
        menu,
        release_dir: &tree.release_dir(release),
    };
    if let Err(err) = preview.write_published(shown, release) {
        warn!(category = %err.category(), "preview pages not written: {}", err.chain());
    }
}

/// Drops the held release; the POS inputs that built it are not published
/// again until they change.
pub async fn reject(ctx: &Context, store: &Store) -> Result<String, StoreError> {
    let (tree, _lock, mut state, held) = held(ctx, store).await?;
    tree.remove_release(&held.release)?;
    state.rejected = Some(Rejected {
        input_hash: held.input_hash.clone(),
        release: held.release.clone(),
        at: Utc::now(),
    });
    state.held = None;
    state.save(&tree.state_file())?;
    info!(store = %store.id, release = %held.release, "rejected {}: the published menu stays until the POS changes", held.release);
    if let Err(err) = StorePreview::new(&ctx.config.daemon.state_dir, &store.id).clear_held() {
        warn!(category = %err.category(), "preview pages not written: {}", err.chain());
    }
    crate::pipeline::push_previews(ctx).await;
    Ok(held.release)
}
