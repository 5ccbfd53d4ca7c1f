//! Targets: the web hosts a store's releases are pushed to, one kind each.
//!
//! The seam of the deploy stage, as `pos::Provider` is the fetch stage's: `pipeline/deploy.rs` decides when to push, retries
//! with backoff and records each target's state and lag, knowing no kind;
//! this module hands each call to the target's kind. A kind gives:
//! - [`push`]: one release, `Ok` only once readers there see it whole;
//! - [`mirror`]: a local folder (the preview pages) copied to the target,
//!   deleting there what the folder no longer holds;
//! - [`location`]: where the target is, as one line, so a push recorded at
//!   another place does not count for this one;
//! - its served root, from which the paths a push changed are handed to the
//!   target's `after_push` command (a CDN purge), run here for every kind.
//!
//! What every kind must guarantee is written down in ARCHITECTURE.md ("The
//! target seam"). Today's one kind is [`rsync`]; a new kind adds its keys
//! to `config/raw.rs` and its check to `config/target.rs`, its file beside
//! `rsync.rs`, and one arm to each `match` below.

mod command;
mod rsync;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::info;

use crate::config::{AfterPush, DaemonSettings, Target, TargetKind};
use crate::error::StoreError;
use crate::publish::{IMAGES_DIR, MENU_PATH, StoreTree};

/// Most image paths handed to `after_push`; past it, the images folder stands for them.
const MAX_AFTER_PUSH_IMAGES: usize = 500;

/// One release of one store, as a target receives it.
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    pub store_id: &'a str,
    /// The store's local tree, where the release and the previous one are.
    pub tree: &'a StoreTree,
    /// The release's id: its folder under `releases/`.
    pub id: &'a str,
    /// The release this target last received, if any: a kind may reuse its
    /// files, and `after_push` is told only what is new since.
    pub previous: Option<&'a str>,
    /// Whether the release carries the images of the one it replaces (a
    /// grace period is set), so images it lacks may leave with the first copy.
    pub carries_previous_images: bool,
    /// The pusher's fencing token: 0 for a single host; a cluster leader's
    /// etcd revision at which it won leadership, strictly increasing across
    /// leaders. A kind that swaps (rsync's releases mode) refuses, as
    /// `Kind::Fenced`, to swap a store a newer epoch has swapped, so
    /// `current` never moves back to an older leader's release.
    pub epoch: u64,
}

impl Release<'_> {
    /// The release's folder on this machine.
    pub fn dir(&self) -> PathBuf {
        self.tree.release_dir(self.id)
    }
}

/// How long a kind's transfer may stall, and how long one push or mirror may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub io: Duration,
    pub wall: Duration,
}

impl Timeouts {
    pub fn of(daemon: &DaemonSettings) -> Timeouts {
        Timeouts {
            io: daemon.read_timeout.max(daemon.connect_timeout),
            wall: daemon.deploy_timeout,
        }
    }
}

/// Where and how `target` is pushed to, as one line (`releases
/// web@host:2222:/srv/www`): a push recorded at another location does not
/// count for this one.
pub fn location(target: &Target) -> String {
    match &target.kind {
        TargetKind::Rsync(rsync) => rsync::location(rsync),
    }
}

/// Pushes `release` to `target`, then runs its `after_push` command; `Ok`
/// only when readers there see the release whole and the command succeeded.
pub async fn push(
    target: &Target,
    release: &Release<'_>,
    timeouts: Timeouts,
) -> Result<(), StoreError> {
    match &target.kind {
        TargetKind::Rsync(rsync) => rsync::push(rsync, release, timeouts).await?,
    }
    if let Some(hook) = &target.after_push {
        after_push(target, hook, release).await?;
    }
    Ok(())
}

/// Mirrors the folder `source_dir` to the root of `target`, deleting there
/// what the folder no longer holds.
pub async fn mirror(
    target: &Target,
    source_dir: &Path,
    timeouts: Timeouts,
) -> Result<(), StoreError> {
    match &target.kind {
        TargetKind::Rsync(rsync) => rsync::mirror(rsync, source_dir, timeouts).await,
    }
}

/// Copies release `release` of `store_id` as `target` holds it into the
/// empty local folder `into` (a cluster's new leader taking over what the
/// last leader published); the target's own markers stay behind.
pub async fn fetch(
    target: &Target,
    store_id: &str,
    release: &str,
    into: &Path,
    timeouts: Timeouts,
) -> Result<(), StoreError> {
    match &target.kind {
        TargetKind::Rsync(rsync) => rsync::fetch(rsync, store_id, release, into, timeouts).await,
    }
}

/// Where readers of `target` find store `store_id`, relative to its root.
fn served_root(target: &Target, store_id: &str) -> String {
    match &target.kind {
        TargetKind::Rsync(rsync) => rsync::served_root(rsync, store_id),
    }
}

/// Runs `after_push` (a CDN purge) with the store, the release and the
/// paths that changed under the target's root, without a shell, under its
/// timeout. Its failure is the push's: the target is retried.
async fn after_push(
    target: &Target,
    hook: &AfterPush,
    release: &Release<'_>,
) -> Result<(), StoreError> {
    let mut args = hook.args.clone();
    args.extend([release.store_id.to_string(), release.id.to_string()]);
    args.extend(changed_paths(
        &served_root(target, release.store_id),
        &new_images(release),
    ));
    let what = format!("after_push `{}` of target {}", hook.program, target.name);
    command::run(&hook.program, &args, &what, hook.timeout).await?;
    info!(deploy_target = %target.name, release = %release.id, "after_push ran");
    Ok(())
}

/// The paths a push changed under `root`: the menu, and each new image (or
/// the images folder when there are too many to name).
fn changed_paths(root: &str, new_images: &[String]) -> Vec<String> {
    let mut paths = vec![format!("{root}/{MENU_PATH}")];
    if new_images.len() > MAX_AFTER_PUSH_IMAGES {
        paths.push(format!("{root}/{IMAGES_DIR}/"));
    } else {
        paths.extend(
            new_images
                .iter()
                .map(|name| format!("{root}/{IMAGES_DIR}/{name}")),
        );
    }
    paths
}

/// The image names of the release that the target's previous release
/// lacked (every one when that release is gone locally).
fn new_images(release: &Release<'_>) -> Vec<String> {
    let names = |id: &str| -> BTreeSet<String> {
        std::fs::read_dir(release.tree.release_dir(id).join(IMAGES_DIR))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = release.previous.map(names).unwrap_or_default();
    names(release.id)
        .into_iter()
        .filter(|name| !before.contains(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_push_names_the_menu_and_each_new_image_or_their_folder() {
        let few = vec!["a.jpg".to_string(), "b.webp".to_string()];
        assert_eq!(
            changed_paths("s/current", &few),
            [
                "s/current/data/menu.json",
                "s/current/images/a.jpg",
                "s/current/images/b.webp"
            ]
        );
        let many: Vec<String> = (0..=MAX_AFTER_PUSH_IMAGES)
            .map(|n| format!("{n}.jpg"))
            .collect();
        assert_eq!(changed_paths("s", &many), ["s/data/menu.json", "s/images/"]);
    }
}
