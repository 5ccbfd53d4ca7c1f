//! The deploy stage: the current release to every target that lacks it.
//!
//! Runs after a publish and also after an unchanged pass, so a target that
//! missed a release (it was down) or drifted catches up without waiting for a
//! POS change. Targets are pushed concurrently through the deploy limit, each
//! recorded on its own; one failing host never holds back the others, and a
//! failing host is retried with a per-target backoff. What a push does on a
//! host is the target's kind's business (`target`); this stage only decides
//! when, and records how it went.

use std::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use tracing::{debug, info, warn};

use super::context::Context;
use crate::config::{Store, Target};
use crate::error::{Kind, StoreError};
use crate::publish::StoreTree;
use crate::state::{LastError, StoreState, TargetState};
use crate::target::{self, Release, Timeouts};

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
    let _one_mirror = ctx.shared.preview_mirror.lock().await;
    let _permit = ctx.shared.deploy.acquire().await;
    let pushed = target::mirror(
        target,
        &crate::preview::root(&daemon.state_dir),
        Timeouts::of(daemon),
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
    let configured = store
        .targets
        .iter()
        .map(|target| (target.name.as_str(), target::location(target)))
        .collect();
    state.keep_targets(&configured);
    let now = Utc::now();
    let pushes = store.targets.iter().map(|target| {
        let previous = state
            .targets()
            .get(&target.name)
            .cloned()
            .unwrap_or_default();
        push_one(ctx, store, tree, target, previous, &current, now)
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
            TargetResult::Pushed(target) => state.target_pushed(name, target),
            TargetResult::Failed(target, message) => {
                state.target_failed(name, target);
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
    tree: &StoreTree,
    target: &Target,
    mut target_state: TargetState,
    current: &str,
    now: DateTime<Utc>,
) -> TargetResult {
    let location = target::location(target);
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
    let daemon = &ctx.config.daemon;
    // With a cluster, every push first proves this instance leads, and the
    // target's swap refuses a token older than one it has seen (`.epoch`).
    let epoch = match ctx.shared.member() {
        None => 0,
        Some(member) => match member.prove().await {
            Ok(token) => u64::try_from(token).unwrap_or(0),
            Err(err) => {
                warn!(deploy_target = %name, category = %err.category(), "not pushed: {}", err.chain());
                return TargetResult::Failed(target_state, err.chain());
            }
        },
    };
    let release = Release {
        store_id: &store.id,
        tree,
        id: current,
        previous: target_state.release.as_deref(),
        carries_previous_images: !daemon.image_grace.is_zero(),
        epoch,
    };
    let started = Instant::now();
    let result = {
        let _permit = ctx
            .shared
            .deploy
            .acquire()
            .await
            .expect("the deploy semaphore is never closed");
        target::push(target, &release, Timeouts::of(daemon)).await
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
            // A newer leader swapped there: this instance finds out it no
            // longer leads (the proof fails and makes it a standby).
            if err.kind == Kind::Fenced
                && let Some(member) = ctx.shared.member()
            {
                let _ = member.prove().await;
            }
            target_state.failures += 1;
            let wait = backoff(target.retry_backoff, target_state.failures);
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
