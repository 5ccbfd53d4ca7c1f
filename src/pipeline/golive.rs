//! Going live: the one transaction that makes a complete, kept release what
//! customers get, for a pass that built it, `approve` and `rollback` alike.
//! Each caller says only why ([`WentLive`]):
//!
//! ```text
//! current → release ─▶ state.went_live ─▶ held dropped ─▶ preview pages ─▶ prune ─▶ save
//!                                                           ─▶ preview mirror ─▶ deploy ─▶ save
//! ```
//!
//! The state is saved before the push, so a crash or a failing target never
//! leaves `state.json` describing another release than `current`; and again
//! after it, with what each target now holds.

use chrono::Utc;
use tracing::{info, warn};

use super::deploy::{deploy_pending, push_previews};
use super::pass::Scope;
use super::previews::Previews;
use crate::diff::MenuDiff;
use crate::error::StoreError;
use crate::menu::Menu;
use crate::publish::{MENU_PATH, StoreTree};
use crate::state::{StoreState, WentLive};

/// A release to go live, and why.
pub(crate) struct Going<'a> {
    /// Complete under `releases/`.
    pub release: &'a str,
    /// Its menu.
    pub menu: &'a Menu,
    pub why: WentLive,
}

/// Makes the release live for its reason, writes the previews, saves the
/// state and pushes it to every target. A failed push fails the result,
/// after the local go-live.
pub(crate) async fn go_live(
    scope: Scope<'_>,
    state: &mut StoreState,
    going: Going<'_>,
) -> Result<(), StoreError> {
    scope
        .recorder
        .stage("publish", async {
            // With a cluster, only a leader that proves it leads goes live.
            if let Some(member) = scope.ctx.shared.member() {
                member.prove().await?;
            }
            switch(scope, state, going)
        })
        .await?;
    scope
        .recorder
        .stage("deploy", async {
            push_previews(scope.ctx).await;
            let deployed = deploy_pending(scope.ctx, scope.store, scope.tree, state).await;
            state.save(&scope.tree.state_file())?;
            deployed
        })
        .await
}

/// The local part: `current`, the state, the held release, the pages, pruning.
fn switch(scope: Scope<'_>, state: &mut StoreState, going: Going<'_>) -> Result<(), StoreError> {
    let Scope {
        ctx, store, tree, ..
    } = scope;
    let Going { release, menu, why } = going;
    let old_release = tree.current_release()?;
    let old_menu = old_release.as_deref().and_then(|old| read_menu(tree, old));
    let old_held = state.held().map(|held| held.release.clone());
    let how = match &why {
        WentLive::Built { .. } => "published",
        WentLive::Approved(_) => "approved and published",
        WentLive::RolledBack => "rolled back to",
    };
    tree.swap_current(release)?;
    let lag = state.went_live(release, menu.item_count(), why, Utc::now());

    let changes = match &old_menu {
        Some(old) => MenuDiff::between(old, menu).to_string(),
        None => format!("first release, {} items", menu.item_count()),
    };
    info!(release = %release, "{}: {how} {}… — {changes}", store.id, &release[..release.len().min(24)]);
    if let Some(lag) = lag {
        let dated = lag.changed_at.format("%Y-%m-%dT%H:%M:%SZ");
        if lag.first_release {
            info!(
                lag_secs = lag.publish_secs,
                "the POS menu of {dated} is the store's first release (its age, not a lag)"
            );
        } else {
            info!(
                lag_secs = lag.publish_secs,
                "the POS change of {dated} is published"
            );
        }
    }
    let previews = Previews {
        ctx,
        store,
        tree,
        old: old_menu.as_ref().zip(old_release.as_deref()),
    };
    // What was held and is neither live nor held any more waits for nothing.
    if state.held().is_none() {
        if let Some(old_held) = old_held.filter(|old| old != release)
            && let Err(err) = tree.remove_release(&old_held)
        {
            warn!(category = %err.category(), "cannot remove the held release {old_held}: {}", err.chain());
        }
        previews.clear_held();
    }
    previews.write(menu, release, None);
    let held = state.held().map(|held| held.release.clone());
    let pruned = tree.prune(ctx.config.daemon.keep_releases.get(), held.as_deref())?;
    tracing::debug!(pruned = pruned.len(), "old releases pruned");
    state.save(&tree.state_file())
}

/// A kept release's menu, when it reads.
pub(crate) fn read_menu(tree: &StoreTree, release: &str) -> Option<Menu> {
    let bytes = std::fs::read(tree.release_dir(release).join(MENU_PATH)).ok()?;
    serde_json::from_slice(&bytes).ok()
}
