//! What every command run by hand on one store starts from: the store's
//! folder under its lock (waiting a while for a pass in flight), and reading
//! a kept release's menu.

use crate::config::Store;
use crate::error::{Kind, StoreError};
use crate::lock::StoreLock;
use crate::menu::Menu;
use crate::pipeline::Context;
use crate::publish::{MENU_PATH, StoreTree};

/// How long `rollback` waits for a pass of the same store to end.
const ROLLBACK_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The store's folder and its lock, for a command run by hand: the daemon
/// may be in the middle of a pass of this store, so wait for it a while.
pub(super) async fn lock_store(
    ctx: &Context,
    store: &Store,
) -> Result<(StoreTree, StoreLock), StoreError> {
    let tree = StoreTree::new(&ctx.config.daemon.state_dir, &store.id);
    tree.ensure()?;
    let lock = StoreLock::acquire_within(&tree.lock_file(), ROLLBACK_LOCK_WAIT)
        .await?
        .ok_or_else(|| {
            StoreError::new(
                Kind::Busy,
                format!(
                    "a pass of this store has been running for over {}s; try again later",
                    ROLLBACK_LOCK_WAIT.as_secs()
                ),
            )
        })?;
    Ok((tree, lock))
}

pub(super) fn read_menu(tree: &StoreTree, release: &str) -> Result<Menu, StoreError> {
    let path = tree.release_dir(release).join(MENU_PATH);
    let bytes = std::fs::read(&path)
        .map_err(|err| StoreError::storage(format!("reading {}", path.display()), err))?;
    serde_json::from_slice(&bytes).map_err(|err| {
        StoreError::with_source(
            Kind::Storage,
            format!("{} is not a menu", path.display()),
            err,
        )
    })
}
