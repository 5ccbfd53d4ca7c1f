//! One pass for one store: fetch → detect → transform → images → publish → deploy.
//!
//! Every line logged inside a pass is inside a `pass` span carrying `store`,
//! `pos` and `run`, and a `stage` span naming the stage. A pass never panics
//! or returns early on a store's failure: it records the failure with its
//! category in the store's state and reports an [`Outcome`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::config::Store;
use crate::error::{Category, Kind, StoreError};
use crate::lock::StoreLock;
use crate::publish::StoreTree;
pub use crate::report::{Outcome, PassReport};
use crate::state::StoreState;
use crate::transform::Problem;

/// Item-level problems logged one by one per pass; the rest are counted.
const MAX_PROBLEM_LINES: usize = 20;

/// Choices an operator makes for one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassOptions {
    /// A person approved this run: publish even a menu that shrank past the
    /// guard or trips a publish gate (`once --approve`).
    pub approve: bool,
}

/// A short id that tells passes apart in the journal.
fn new_run_id() -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    let mixed = nanos
        ^ u64::from(std::process::id()).rotate_left(32)
        ^ SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}", (mixed ^ (mixed >> 32)) as u32)
}

/// What one pass measured, for metrics.
#[derive(Debug, Default)]
struct Recorder {
    /// Written by the stages of one pass only; never held across `.await`.
    stages: std::sync::Mutex<Vec<(&'static str, Duration)>>,
    image_bytes: AtomicU64,
}

tokio::task_local! {
    /// The recorder of the pass running on this task.
    static RECORDER: Arc<Recorder>;
}

/// Runs `future` inside a `stage` span, logs its duration at debug and records it.
async fn stage<T>(name: &'static str, future: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let span = info_span!("stage", stage = %name);
    let output = future.instrument(span.clone()).await;
    let elapsed = started.elapsed();
    span.in_scope(|| debug!(elapsed_ms = elapsed.as_millis() as u64, "stage finished"));
    let _ = RECORDER.try_with(|recorder| {
        recorder
            .stages
            .lock()
            .expect("the recorder lock is never poisoned")
            .push((name, elapsed))
    });
    output
}

/// One full pass over one store. Never fails: the report says how it went.
pub async fn run_pass(ctx: &Context, store: &Store, options: PassOptions) -> PassReport {
    let span = info_span!("pass", store = %store.id, pos = %store.pos.name, run = %new_run_id());
    let recorder = Arc::new(Recorder::default());
    let (outcome, state) = RECORDER
        .scope(Arc::clone(&recorder), async {
            let started = Instant::now();
            let (outcome, state) = locked_pass(ctx, store, options).await;
            let stale_since =
                state
                    .as_ref()
                    .and_then(|state| state.failing_since)
                    .filter(|since| {
                        (Utc::now() - *since).to_std().unwrap_or_default()
                            > ctx.config.daemon.stale_after
                    });
            log_outcome(&outcome, started.elapsed(), stale_since);
            (outcome, state)
        })
        .instrument(span)
        .await;
    PassReport {
        store_id: store.id.clone(),
        outcome,
        stages: std::mem::take(
            &mut *recorder
                .stages
                .lock()
                .expect("the recorder lock is never poisoned"),
        ),
        image_bytes: recorder.image_bytes.load(Ordering::Relaxed),
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
) -> (Outcome, Option<StoreState>) {
    let tree = StoreTree::new(&ctx.config.daemon.state_dir, &store.id);
    let lock = stage("lock", async {
        tree.ensure()?;
        let lock = StoreLock::try_acquire(&tree.lock_file())?;
        if lock.is_some() {
            let removed = tree.clean_staging()?;
            if removed > 0 {
                info!(removed, "removed leftover staging directories");
            }
            let removed = remove_orphans(ctx, store, tree.root())?;
            if removed > 0 {
                info!(removed, "removed temp files a killed process left");
            }
        }
        Ok::<_, StoreError>(lock)
    })
    .await;
    let _lock = match lock {
        Ok(Some(lock)) => lock,
        Ok(None) => return (Outcome::Busy, None),
        Err(err) => return (failed(&err), record_early_failure(&tree, &err)),
    };

    let state_file = tree.state_file();
    let mut state = StoreState::load(&state_file).unwrap_or_else(|err| {
        warn!(category = %err.category(), "starting from a fresh state: {}", err.chain());
        StoreState::default()
    });
    let saved = state.clone();
    let now = Utc::now();
    // Aborting drops the pass at an `.await`; publishing has none between a
    // rename and its fsync, so a release is either fully in place or not at all.
    let result = tokio::select! {
        result = sync(ctx, store, &tree, &mut state, options) => result,
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
    let mut removed = 0;
    for dir in [
        store_root,
        &pages,
        &changes,
        &crate::preview::root(state_dir),
    ] {
        removed += crate::atomic::remove_orphans(dir, None).map_err(|err| {
            StoreError::storage(format!("removing temp files in {}", dir.display()), err)
        })?;
    }
    Ok(removed)
}

/// A pass that failed before it held the lock (a planted link, a broken
/// folder) still shows in `status`: its failure goes into `state.json` when
/// that file can be written at all.
fn record_early_failure(tree: &StoreTree, err: &StoreError) -> Option<StoreState> {
    // Never through a link: only into a real stores/<id>/ under a real stores/.
    let real = |dir: &std::path::Path| {
        std::fs::symlink_metadata(dir).is_ok_and(|meta| meta.file_type().is_dir())
    };
    if !real(tree.root()) || !tree.root().parent().is_some_and(real) {
        return None;
    }
    let state_file = tree.state_file();
    let mut state = StoreState::load(&state_file).ok()?;
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

/// The pass proper: build (pipeline/build.rs), one state update, then deploy.
async fn sync(
    ctx: &Context,
    store: &Store,
    tree: &StoreTree,
    state: &mut StoreState,
    options: PassOptions,
) -> Result<Outcome, StoreError> {
    let daemon = &ctx.config.daemon;
    let provider = ctx.provider(store);

    let images_deadline = tokio::time::Instant::now() + build::images_budget(daemon.pass_timeout);
    // What the steps learn is applied once, after them, even when one failed
    // or the pass ran out of time.
    let mut update = build::StateUpdate::default();
    let pass = build::Pass {
        ctx,
        store,
        provider,
        tree,
        state,
    };
    let build = build::build_release(pass, options, images_deadline, &mut update);
    let built = tokio::time::timeout(daemon.pass_timeout, build).await;
    update.apply(state);
    let built = built.map_err(|_| {
        StoreError::new(
            Kind::OutOfTime,
            format!("the pass did not finish within {:?}", daemon.pass_timeout),
        )
    })??;

    let outcome = match built {
        Some(build::Done::Published(release)) => Outcome::Published { release },
        Some(build::Done::Held { release, reasons }) => Outcome::Held { release, reasons },
        None => Outcome::Unchanged,
    };
    stage("deploy", async {
        if matches!(outcome, Outcome::Published { .. } | Outcome::Held { .. }) {
            push_previews(ctx).await;
        }
        deploy_pending(ctx, store, tree, state).await
    })
    .await?;
    Ok(outcome)
}

/// The content hash of what the store's POS sends now, as a pass would
/// hash it; for `approve`, which publishes only what staff saw.
pub async fn pos_content_hash(
    ctx: &Context,
    store: &Store,
    tree: &StoreTree,
    state: &StoreState,
) -> Result<String, StoreError> {
    let pass = build::Pass {
        ctx,
        store,
        provider: ctx.provider(store),
        tree,
        state,
    };
    build::content_hash(pass).await
}

fn log_problems(problems: &[Problem]) {
    for problem in problems.iter().take(MAX_PROBLEM_LINES) {
        warn!(category = %problem.category, subject = %problem.subject, "skipped {}: {}", problem.subject, problem.message);
    }
    if problems.len() > MAX_PROBLEM_LINES {
        warn!(
            category = %Category::Data,
            "{} more problems not logged one by one",
            problems.len() - MAX_PROBLEM_LINES
        );
    }
}

mod build;
mod context;
mod deploy;
mod slot;

pub use context::{Context, Shared};
pub(crate) use deploy::deploy_pending;
pub use deploy::push_previews;
pub use slot::{run_guarded, run_in_slot};
