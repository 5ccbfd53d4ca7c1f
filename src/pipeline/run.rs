//! One pass for one store, start to end: the `pass` span, the lock, the
//! state loaded and saved, the plan and build (`release`), then going live
//! (`golive`), holding, or only deploying, and the line that closes it.
//!
//! Every line logged inside a pass is inside a `pass` span carrying `store`,
//! `pos` and `run`, and a `stage` span naming the stage. A pass never panics
//! or returns early on a store's failure: it records the failure with its
//! category in the store's state and reports an [`Outcome`].

use std::time::{Duration, Instant};

use chrono::Utc;
use tracing::{Instrument, error, info, info_span, warn};

use super::context::Context;
use super::deploy::{deploy_pending, push_previews};
use super::golive::{Going, go_live};
use super::pass::{Pass, PassOptions, Scope};
use super::release::{self, Built, StateUpdate};
use crate::config::Store;
use crate::error::{Kind, StoreError};
use crate::instrument::{Recorder, new_run_id};
use crate::lock::StoreLock;
use crate::publish::StoreTree;
use crate::report::{Outcome, PassReport};
use crate::state::{StoreState, Trigger};

/// One full pass over one store. Never fails: the report says how it went.
pub async fn run_pass(ctx: &Context, store: &Store, options: PassOptions) -> PassReport {
    let span = info_span!("pass", store = %store.id, pos = %store.pos.name, run = %new_run_id(), trigger = %options.trigger);
    let recorder = Recorder::default();
    let (outcome, state) = async {
        let started = Instant::now();
        let (outcome, state) = locked_pass(ctx, store, options, &recorder).await;
        let stale_since = state
            .as_ref()
            .and_then(|state| state.failing_since())
            .filter(|since| {
                (Utc::now() - *since).to_std().unwrap_or_default() > ctx.config.daemon.stale_after
            });
        log_outcome(&outcome, started.elapsed(), stale_since);
        (outcome, state)
    }
    .instrument(span)
    .await;
    let (stages, image_bytes) = recorder.finish();
    PassReport {
        store_id: store.id.clone(),
        outcome,
        stages,
        image_bytes,
        state,
    }
}

/// The one info, warning or error line that closes a pass.
fn log_outcome(outcome: &Outcome, elapsed: Duration, stale_since: Option<chrono::DateTime<Utc>>) {
    let elapsed_ms = elapsed.as_millis() as u64;
    let span = info_span!("stage", stage = %"result");
    let _entered = span.enter();
    match outcome {
        Outcome::Unchanged => info!(elapsed_ms, "unchanged"),
        Outcome::Published { release } => {
            info!(elapsed_ms, release = %release, "published {release}")
        }
        // The one line that tells ops a change waits for a person.
        Outcome::Held { release, reasons } => warn!(
            elapsed_ms,
            release = %release,
            "held {release} for approval (menusync approve|reject): {}",
            reasons.join("; ")
        ),
        // Failing for longer than the staleness threshold is what pages ops: `err` in the journal.
        Outcome::Failed { category, message } => match stale_since {
            Some(since) => error!(
                elapsed_ms,
                category = %category,
                stale_since = %since.format("%Y-%m-%dT%H:%M:%SZ"),
                "failed {category}, stale since {}: {message}",
                since.format("%Y-%m-%dT%H:%M:%SZ")
            ),
            None => warn!(elapsed_ms, category = %category, "failed {category}: {message}"),
        },
        Outcome::Busy => info!("skipped: another pass of this store is still running"),
        Outcome::Aborted => warn!(
            elapsed_ms,
            "aborted by the stop; the published release stays"
        ),
    }
}

async fn locked_pass(
    ctx: &Context,
    store: &Store,
    options: PassOptions,
    recorder: &Recorder,
) -> (Outcome, Option<StoreState>) {
    let tree = StoreTree::new(&ctx.config.daemon.state_dir, &store.id);
    let locked = recorder
        .stage("lock", async {
            tree.ensure()?;
            let Some(lock) = StoreLock::try_acquire(&tree.lock_file())? else {
                return Ok(None);
            };
            let removed = tree.clean_staging()?;
            if removed > 0 {
                info!(removed, "removed leftover staging directories");
            }
            let removed = remove_orphans(ctx, store, tree.root())?;
            if removed > 0 {
                info!(removed, "removed temp files a killed process left");
            }
            let mut state = StoreState::load(&tree.state_file()).unwrap_or_else(|err| {
                warn!(category = %err.category(), "starting from a fresh state: {}", err.chain());
                StoreState::default()
            });
            super::adopt::adopt(ctx, store, &tree, &mut state).await?;
            Ok::<_, StoreError>(Some((lock, state)))
        })
        .await;
    let (_lock, mut state) = match locked {
        Ok(Some(locked)) => locked,
        Ok(None) => return (Outcome::Busy, None),
        Err(err) => {
            return (
                failed(&err),
                record_early_failure(&tree, &err, options.trigger),
            );
        }
    };
    let state_file = tree.state_file();
    let saved = state.clone();
    // Recorded first, so every save of this pass (going live saves twice) says it.
    state.record_trigger(options.trigger);
    let now = Utc::now();
    // Aborting drops the pass at an `.await`; publishing has none between a
    // rename and its fsync, so a release is either fully in place or not at all.
    let result = tokio::select! {
        result = sync(ctx, store, &tree, &mut state, options, recorder) => result,
        () = ctx.shared.abort.cancelled() => return (Outcome::Aborted, None),
    };
    let mut outcome = match result {
        Ok(outcome) => {
            state.record_success(now);
            outcome
        }
        Err(err) => {
            state.record_failure(err.category(), err.chain(), now);
            failed(&err)
        }
    };
    if state.needs_save(&saved, now)
        && let Err(err) = state.save(&state_file)
    {
        outcome = failed(&err);
    }
    // With a cluster, what the pass learnt becomes the cluster's record
    // (only while this instance provably leads).
    if let Some(member) = ctx.shared.member()
        && let Err(err) = recorder
            .stage("record", member.record(&store.id, &state))
            .await
    {
        outcome = failed(&err);
    }
    (outcome, Some(state))
}

/// Removes the temp files whose writer died (`kill -9` between create and
/// rename) from the store's folder, its preview folder and the preview root.
/// Under the store lock, so nothing of this store is being written; temp
/// files of running processes stay (see `atomic::remove_orphans`).
fn remove_orphans(
    ctx: &Context,
    store: &Store,
    store_root: &std::path::Path,
) -> Result<usize, StoreError> {
    let state_dir = &ctx.config.daemon.state_dir;
    let preview = crate::preview::StorePreview::new(state_dir, &store.id);
    let [pages, changes] = preview.page_folders();
    let preview_root = crate::preview::root(state_dir);
    // The preview root holds a folder per store: listed once per process
    // (a killed process's temp files there cannot multiply while this one
    // runs), not by every pass of every store.
    let root_once = ctx
        .shared
        .first_visit(&preview_root)
        .then_some(preview_root.as_path());
    let mut removed = 0;
    for dir in [store_root, pages.as_path(), changes.as_path()]
        .into_iter()
        .chain(root_once)
    {
        removed += crate::atomic::remove_orphans(dir, None).map_err(|err| {
            StoreError::storage(format!("removing temp files in {}", dir.display()), err)
        })?;
    }
    Ok(removed)
}

/// A pass that failed before it held the lock (a planted link, a broken
/// folder) still shows in `status`: its failure and its trigger go into
/// `state.json` when that file can be written at all.
fn record_early_failure(
    tree: &StoreTree,
    err: &StoreError,
    trigger: Trigger,
) -> Option<StoreState> {
    // Never through a link: only into a real stores/<id>/ under a real stores/.
    let real = |dir: &std::path::Path| {
        std::fs::symlink_metadata(dir).is_ok_and(|meta| meta.file_type().is_dir())
    };
    if !real(tree.root()) || !tree.root().parent().is_some_and(real) {
        return None;
    }
    let state_file = tree.state_file();
    let mut state = StoreState::load(&state_file).ok()?;
    state.record_trigger(trigger);
    state.record_failure(err.category(), err.chain(), Utc::now());
    match state.save(&state_file) {
        Ok(()) => Some(state),
        Err(save_err) => {
            warn!(category = %save_err.category(), "cannot record the failure: {}", save_err.chain());
            None
        }
    }
}

fn failed(err: &StoreError) -> Outcome {
    Outcome::Failed {
        category: err.category(),
        message: err.chain(),
    }
}

/// The pass proper: plan and build (`release`), one state update, then go
/// live, or hold, or only bring the targets up to date.
async fn sync(
    ctx: &Context,
    store: &Store,
    tree: &StoreTree,
    state: &mut StoreState,
    options: PassOptions,
    recorder: &Recorder,
) -> Result<Outcome, StoreError> {
    let daemon = &ctx.config.daemon;
    let images_deadline = tokio::time::Instant::now() + release::images_budget(daemon.pass_timeout);
    // What the steps learn is applied once, after them, even when one failed
    // or the pass ran out of time.
    let mut update = StateUpdate::default();
    let scope = Scope::new(ctx, store, tree, recorder);
    let pass = Pass::new(scope, state);
    let build = release::build_release(pass, options, images_deadline, &mut update);
    let built = tokio::time::timeout(daemon.pass_timeout, build).await;
    update.apply(state);
    let built = built.map_err(|_| {
        StoreError::new(
            Kind::OutOfTime,
            format!("the pass did not finish within {:?}", daemon.pass_timeout),
        )
    })??;

    match built {
        Some(Built::Ready { release, menu, why }) => {
            go_live(
                scope,
                state,
                Going {
                    release: &release,
                    menu: &menu,
                    why,
                },
            )
            .await?;
            Ok(Outcome::Published { release })
        }
        Some(Built::Held { release, reasons }) => {
            recorder
                .stage("deploy", async {
                    push_previews(ctx).await;
                    deploy_pending(ctx, store, tree, state).await
                })
                .await?;
            Ok(Outcome::Held { release, reasons })
        }
        None => {
            recorder
                .stage("deploy", deploy_pending(ctx, store, tree, state))
                .await?;
            Ok(Outcome::Unchanged)
        }
    }
}
