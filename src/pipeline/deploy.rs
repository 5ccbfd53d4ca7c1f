//! The deploy stage: the current release to every target that lacks it.
//!
//! Runs after a publish and also after an unchanged pass, so a target that
//! missed a release (it was down) or drifted catches up without waiting for a
//! POS change. Targets are pushed concurrently through the deploy limit, each
//! recorded on its own; one failing host never holds back the others, and a
//! failing host is retried with a per-target backoff.

use std::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use tracing::{debug, info, warn};

use super::context::Context;
use crate::config::{Store, Target, TargetKind};
use crate::error::{Kind, StoreError};
use crate::publish::StoreTree;
use crate::rsync::{self, Push, Site};
use crate::state::{Lag, LastError, StoreState, TargetState};

/// The longest wait between pushes to a failing target.
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The wait after `failures` failed pushes in a row: `base`, doubling, capped.
pub fn backoff(base: std::time::Duration, failures: u32) -> std::time::Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

/// What happened to one target in this pass.
enum TargetResult {
    UpToDate,
    Waiting(DateTime<Utc>),
    Pushed(TargetState),
    Failed(TargetState, String),
}

/// Mirrors the preview pages to `[daemon] preview_target`, if one is set; a
/// failure is logged as that target's `deploy` failure and never fails the pass.
pub async fn push_previews(ctx: &Context) {
    let daemon = &ctx.config.daemon;
    let Some(target) = &daemon.preview_target else {
        return;
    };
    let TargetKind::Rsync { dest, ssh, .. } = &target.kind;
    let site = Site { dest, ssh };
    let _permit = ctx.shared.deploy.acquire().await;
    let pushed = rsync::mirror(
        site,
        &crate::preview::root(&daemon.state_dir),
        daemon.read_timeout.max(daemon.connect_timeout),
        daemon.deploy_timeout,
    )
    .await;
    match pushed {
        Ok(()) => debug!(deploy_target = %target.name, "previews mirrored"),
        Err(err) => warn!(
            deploy_target = %target.name,
            category = %err.category(),
            "previews not mirrored: {}",
            err.chain()
        ),
    }
}

pub(crate) async fn deploy_pending(
    ctx: &Context,
    store: &Store,
    tree: &StoreTree,
    state: &mut StoreState,
) -> Result<(), StoreError> {
    let Some(current) = tree.current_release()? else {
        return Ok(());
    };
    // Targets removed from the config are forgotten.
    state
        .targets
        .retain(|name, _| store.targets.iter().any(|target| target.name == *name));
    // A target recorded before locations were is taken to be where it was.
    for target in &store.targets {
        if let Some(recorded) = state.targets.get_mut(&target.name)
            && recorded.location.is_none()
        {
            recorded.location = Some(target.location());
        }
    }
    let release_dir = tree.release_dir(&current);
    let now = Utc::now();
    let pushes = store.targets.iter().map(|target| {
        let previous = state.targets.get(&target.name).cloned().unwrap_or_default();
        push_one(ctx, store, target, previous, &current, &release_dir, now)
    });
    let results = join_all(pushes).await;

    let mut failures = Vec::new();
    for (target, result) in store.targets.iter().zip(results) {
        let name = &target.name;
        match result {
            TargetResult::UpToDate => {}
            TargetResult::Waiting(until) => failures.push(format!(
                "{name}: last push failed, next try after {}",
                until.format("%H:%M:%SZ")
            )),
            TargetResult::Pushed(target) => {
                // The first push of the change to this target: pushing the same
                // release again (the target moved) is no new lag.
                if let Some(lag) = state.lag.as_mut().filter(|lag| lag.release == current)
                    && !lag.targets.contains_key(name)
                {
                    let at = target.deployed_at.unwrap_or_else(Utc::now);
                    lag.targets
                        .insert(name.clone(), Lag::seconds_since(lag.changed_at, at));
                }
                state.targets.insert(name.clone(), target);
            }
            TargetResult::Failed(target, message) => {
                state.targets.insert(name.clone(), target);
                failures.push(format!("{name}: {message}"));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(StoreError::new(
            Kind::Push,
            format!(
                "{} of {} targets lack release {current}: {}",
                failures.len(),
                store.targets.len(),
                failures.join("; ")
            ),
        ))
    }
}

async fn push_one(
    ctx: &Context,
    store: &Store,
    target: &Target,
    mut target_state: TargetState,
    current: &str,
    release_dir: &std::path::Path,
    now: DateTime<Utc>,
) -> TargetResult {
    let location = target.location();
    if target_state.location.as_deref() != Some(location.as_str()) {
        // Moved in the config: what it held and its backoff belong to the old place.
        if let Some(old) = &target_state.location {
            info!(deploy_target = %target.name, "the target moved from {old} to {location}; pushing the release there");
        }
        target_state = TargetState {
            location: Some(location.clone()),
            ..TargetState::default()
        };
    }
    if target_state.release.as_deref() == Some(current) {
        return TargetResult::UpToDate;
    }
    if let Some(retry_at) = target_state.retry_at.filter(|retry_at| *retry_at > now) {
        return TargetResult::Waiting(retry_at);
    }
    let name = &target.name;
    let TargetKind::Rsync {
        dest,
        mode,
        keep_releases,
        retry_backoff,
        ssh,
    } = &target.kind;
    let daemon = &ctx.config.daemon;
    let push = Push {
        store_id: &store.id,
        release: current,
        release_dir,
        previous: target_state.release.as_deref(),
        carries_previous_images: !daemon.image_grace.is_zero(),
        mode: *mode,
        keep_releases: keep_releases.get(),
        io_timeout: daemon.read_timeout.max(daemon.connect_timeout),
        wall_timeout: daemon.deploy_timeout,
    };
    let started = Instant::now();
    let result = {
        let _permit = ctx
            .shared
            .deploy
            .acquire()
            .await
            .expect("the deploy semaphore is never closed");
        match rsync::push(Site { dest, ssh }, &push).await {
            Ok(()) => after_push(target, &push, store_tree_images(ctx, store, &push)).await,
            Err(err) => Err(err),
        }
    };
    let finished = Utc::now();
    match result {
        Ok(()) => {
            let elapsed_ms = started.elapsed().as_millis() as u64;
            info!(deploy_target = %name, release = %current, elapsed_ms, "deployed");
            TargetResult::Pushed(TargetState {
                release: Some(current.to_string()),
                deployed_at: Some(finished),
                location: Some(location),
                ..TargetState::default()
            })
        }
        Err(err) => {
            target_state.failures += 1;
            let wait = backoff(*retry_backoff, target_state.failures);
            target_state.retry_at = Some(finished + wait);
            target_state.last_error = Some(LastError {
                category: err.category(),
                message: err.chain(),
                at: finished,
            });
            warn!(deploy_target = %name, category = %err.category(), "{}; next try in {wait:?}", err.chain());
            TargetResult::Failed(target_state, err.chain())
        }
    }
}

/// Most image paths handed to `after_push`; past it, the images folder stands for them.
const MAX_AFTER_PUSH_IMAGES: usize = 500;

/// The image names of the pushed release that the target's previous release
/// lacked (every one when that release is gone locally); `None` when the
/// target has no `after_push`.
fn store_tree_images(ctx: &Context, store: &Store, push: &Push<'_>) -> Option<Vec<String>> {
    let names = |release: &str| -> std::collections::BTreeSet<String> {
        let dir = StoreTree::new(&ctx.config.daemon.state_dir, &store.id)
            .release_dir(release)
            .join(crate::publish::IMAGES_DIR);
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = push.previous.map(names).unwrap_or_default();
    Some(
        names(push.release)
            .into_iter()
            .filter(|name| !before.contains(name))
            .collect(),
    )
}

/// Runs the target's `after_push` command (a CDN purge) with the store, the
/// release and the paths that changed under the target's root, without a
/// shell, under its timeout. Its failure is the push's: the target is retried.
async fn after_push(
    target: &Target,
    push: &Push<'_>,
    new_images: Option<Vec<String>>,
) -> Result<(), StoreError> {
    let (Some(hook), Some(new_images)) = (&target.after_push, new_images) else {
        return Ok(());
    };
    // Paths as the web host serves them, relative to the target's `dest`.
    let root = match push.mode {
        crate::config::DeployMode::Files => push.store_id.to_string(),
        crate::config::DeployMode::Releases => format!("{}/current", push.store_id),
    };
    let mut args = hook.args.clone();
    args.extend([push.store_id.to_string(), push.release.to_string()]);
    args.push(format!("{root}/data/menu.json"));
    if new_images.len() > MAX_AFTER_PUSH_IMAGES {
        args.push(format!("{root}/images/"));
    } else {
        args.extend(
            new_images
                .iter()
                .map(|name| format!("{root}/images/{name}")),
        );
    }
    let what = format!("after_push `{}` of target {}", hook.program, target.name);
    rsync::run(&hook.program, &args, &what, hook.timeout).await?;
    info!(deploy_target = %target.name, release = %push.release, "after_push ran");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_is_capped() {
        let base = Duration::from_secs(30);
        let waits: Vec<u64> = (1..=8)
            .map(|failures| backoff(base, failures).as_secs())
            .collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1800, 1800]);
        assert_eq!(backoff(base, 1000), MAX_BACKOFF);
    }
}
