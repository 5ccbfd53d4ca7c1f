//! With `[cluster]`: a leader's first pass of a store in its term takes
//! over the cluster's record of that store (its live release, the targets'
//! releases, a rollback pin, a held release, a rejection) and makes this
//! host's `current` that live release, fetched from a target that holds it
//! when this host lacks it. Decisions then read exactly what the last leader
//! left: a pin holds, a held change stays held (the gates compare it with
//! the live menu, not with whatever this host published long ago), and a
//! release the targets already hold is not pushed again.

use tracing::info;

use super::context::Context;
use crate::config::Store;
use crate::error::{Kind, StoreError};
use crate::publish::{MENU_PATH, StoreTree};
use crate::state::StoreState;
use crate::target::{self, Timeouts};

/// Replaces `state` by the cluster's record of the store, once per
/// leadership term, and brings the live release onto this host.
pub(super) async fn adopt(
    ctx: &Context,
    store: &Store,
    tree: &StoreTree,
    state: &mut StoreState,
) -> Result<(), StoreError> {
    let Some(member) = ctx.shared.member() else {
        return Ok(());
    };
    let Some(record) = member.take_record(&store.id) else {
        return Ok(());
    };
    if let Some(live) = record.release() {
        let local = tree.current_release()?;
        if local.as_deref() != Some(live) {
            if !tree.release_dir(live).join(MENU_PATH).is_file() {
                fetch_live(ctx, store, tree, &record, live).await?;
            }
            tree.swap_current(live)?;
            info!(
                release = %live,
                "took over the cluster's live release {live} (this host had {})",
                local.as_deref().unwrap_or("none")
            );
        }
    }
    *state = record;
    // Saved now: a quiet pass skips the write, and the next pass must not
    // read this host's older file (it would push what the targets hold).
    state.save(&tree.state_file())
}

/// Fetches `live` from the first target the record says holds it.
async fn fetch_live(
    ctx: &Context,
    store: &Store,
    tree: &StoreTree,
    record: &StoreState,
    live: &str,
) -> Result<(), StoreError> {
    let mut failures = Vec::new();
    for target in &store.targets {
        let holds = record.targets().get(&target.name).is_some_and(|held| {
            held.release.as_deref() == Some(live)
                && held.location.as_deref() == Some(target::location(target).as_str())
        });
        if !holds {
            continue;
        }
        let dir = tree.pull_dir(live)?;
        let timeouts = Timeouts::of(&ctx.config.daemon);
        let fetched = {
            let _permit = ctx
                .shared
                .deploy
                .acquire()
                .await
                .expect("the deploy semaphore is never closed");
            target::fetch(target, &store.id, live, &dir, timeouts).await
        };
        match fetched.and_then(|()| tree.keep_pulled(&dir, live)) {
            Ok(()) => return Ok(()),
            Err(err) => failures.push(format!("{}: {}", target.name, err.chain())),
        }
    }
    Err(StoreError::new(
        Kind::Push,
        format!(
            "this host lacks the cluster's live release {live} and no target gave it ({}); \
             nothing is built or pushed until one does",
            if failures.is_empty() {
                "no target holds it".to_string()
            } else {
                failures.join("; ")
            }
        ),
    ))
}
