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

use super::locked::{lock_store, read_menu};
use crate::config::Store;
use crate::error::{Kind, StoreError};
use crate::instrument::Recorder;
use crate::lock::StoreLock;
use crate::pipeline::{Context, Going, Learned, Pass, PassOptions, Scope, go_live, plan};
use crate::preview::StorePreview;
use crate::publish::StoreTree;
use crate::report::Outcome;
use crate::state::{Held, StoreState, WentLive};

/// The store's lock, its state, and what is held.
async fn held(
    ctx: &Context,
    store: &Store,
) -> Result<(StoreTree, StoreLock, StoreState, Held), StoreError> {
    let (tree, lock) = lock_store(ctx, store).await?;
    let state = StoreState::load(&tree.state_file())?;
    let Some(held) = state.held().cloned() else {
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
    let recorder = Recorder::default();
    // What the POS sends now, planned as a pass would (the memo spares the parse).
    let mut learned = Learned::default();
    let scope = Scope::new(ctx, store, &tree, &recorder);
    let pass = Pass::new(scope, &state);
    let now_sending = plan(pass, PassOptions::default(), &mut learned)
        .await?
        .content_hash;
    learned.apply(&mut state);
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
    info!(store = %store.id, release = %held.release, "approving {}: {}", held.release, held.reasons.join("; "));

    let release = held.release.clone();
    go_live(
        scope,
        &mut state,
        Going {
            release: &release,
            menu: &menu,
            why: WentLive::Approved(held),
        },
    )
    .await?;
    Ok(release)
}

/// Drops the held release; the POS inputs that built it are not published
/// again until they change.
pub async fn reject(ctx: &Context, store: &Store) -> Result<String, StoreError> {
    let (tree, _lock, mut state, held) = held(ctx, store).await?;
    tree.remove_release(&held.release)?;
    state.reject_held(Utc::now());
    state.save(&tree.state_file())?;
    info!(store = %store.id, release = %held.release, "rejected {}: the published menu stays until the POS changes", held.release);
    if let Err(err) = StorePreview::new(&ctx.config.daemon.state_dir, &store.id).clear_held() {
        warn!(category = %err.category(), "preview pages not written: {}", err.chain());
    }
    crate::pipeline::push_previews(ctx).await;
    Ok(held.release)
}
