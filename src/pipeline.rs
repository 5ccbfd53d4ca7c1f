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

use crate::config::{Store, StoreSettings};
use crate::detect;
use crate::diff::MenuDiff;
use crate::error::{Category, StoreError};
use crate::images::{self, ImageRequest};
use crate::lock::StoreLock;
use crate::menu::Menu;
use crate::pos::{self, Documents, Fetched, Provider};
use crate::publish::{IMAGES_DIR, MENU_PATH, StoreTree};
pub use crate::report::{Outcome, PassReport};
use crate::state::{InputMemo, StoreState};
use crate::transform::{self, Problem};

/// Item-level problems logged one by one per pass; the rest are counted.
const MAX_PROBLEM_LINES: usize = 20;

/// Choices an operator makes for one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassOptions {
    /// Publish even a menu that shrank past the guard.
    pub allow_shrink: bool,
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
    let span = info_span!("pass", store = %store.id, pos = %store.pos, run = %new_run_id());
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
        warn!(category = %err.category, "starting from a fresh state: {}", err.chain());
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
            state.record_failure(err.category, err.chain(), now);
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
    state.record_failure(err.category, err.chain(), Utc::now());
    match state.save(&state_file) {
        Ok(()) => Some(state),
        Err(save_err) => {
            warn!(category = %save_err.category, "cannot record the failure: {}", save_err.chain());
            None
        }
    }
}

fn failed(err: &StoreError) -> Outcome {
    Outcome::Failed {
        category: err.category,
        message: err.chain(),
    }
}

/// The pass proper; `state` is updated in place as stages succeed.
async fn sync(
    ctx: &Context,
    store: &Store,
    tree: &StoreTree,
    state: &mut StoreState,
    options: PassOptions,
) -> Result<Outcome, StoreError> {
    let daemon = &ctx.config.daemon;
    let provider = ctx.provider(store);

    let images_deadline = tokio::time::Instant::now() + images_budget(daemon.pass_timeout);
    let build = build_release(ctx, store, provider, tree, state, options, images_deadline);
    let built = tokio::time::timeout(daemon.pass_timeout, build)
        .await
        .map_err(|_| {
            StoreError::new(
                Category::Network,
                format!("the pass did not finish within {:?}", daemon.pass_timeout),
            )
        })??;

    let outcome = match built {
        Some(release) => Outcome::Published { release },
        None => Outcome::Unchanged,
    };
    stage("deploy", deploy_pending(ctx, store, tree, state)).await?;
    Ok(outcome)
}

/// A cheap hash of everything the content hash covers: equal fingerprints
/// mean equal content hashes, so a known fingerprint spares the parse.
fn input_fingerprint(fetched: &Fetched, store_id: &str, settings: &StoreSettings) -> String {
    match fetched {
        Fetched::Raw { menu, images } => {
            detect::raw_fingerprint(store_id, &menu.digest, &images.digest, settings)
        }
        Fetched::Mapped(documents) => detect::content_hash(
            store_id,
            &documents.menu_value,
            &documents.images_value,
            settings,
        ),
    }
}

/// How long into a pass the images stage may run: the pass timeout less a
/// quarter of it (at most 10 s) kept for publishing, so images still
/// outstanding then are left out and the menu goes out without them.
fn images_budget(pass_timeout: std::time::Duration) -> std::time::Duration {
    pass_timeout - (pass_timeout / 4).min(std::time::Duration::from_secs(10))
}

/// Fetch to publish. `Some(release)` when a new release went live.
async fn build_release(
    ctx: &Context,
    store: &Store,
    provider: &Provider,
    tree: &StoreTree,
    state: &mut StoreState,
    options: PassOptions,
    images_deadline: tokio::time::Instant,
) -> Result<Option<String>, StoreError> {
    let daemon = &ctx.config.daemon;
    let fetched = stage(
        "fetch",
        fetch(ctx, store, provider, pos::Freshness::Conditional),
    )
    .await?;

    let current = tree.current_release()?;
    // Inputs byte-equal to the last ones have the content hash computed then:
    // a quiet pass neither parses nor re-serialises the documents.
    let fingerprint = input_fingerprint(&fetched, &store.id, &store.settings);
    let (content_hash, documents) = match state.known_hash(&fingerprint) {
        Some(hash) => (hash.to_string(), Fetch::Pending(fetched)),
        None => {
            let parsed = parse_or_refetch(ctx, store, provider, fetched).await?;
            (
                memoise(state, store, &parsed),
                Fetch::Parsed(parsed.documents),
            )
        }
    };
    let unchanged = stage("detect", async {
        if let Some(pin) = &state.pinned {
            if current.as_deref() == Some(pin.release.as_str()) && pin.input_hash == content_hash {
                debug!(release = %pin.release, "held at the rolled-back release until the POS menu changes");
                return true;
            }
            info!("the POS menu changed since the rollback; publishing it");
            state.pinned = None;
        }
        let unchanged = current.is_some()
            && state.release == current
            && state.content_hash.as_deref() == Some(content_hash.as_str())
            && !state.retry_images;
        debug!(unchanged, hash = %&content_hash[..16], "compared with the published release");
        unchanged
    })
    .await;
    if unchanged {
        return Ok(None);
    }
    let (documents, content_hash) = match documents {
        Fetch::Parsed(documents) => (documents, content_hash),
        Fetch::Pending(fetched) => {
            let parsed = parse_or_refetch(ctx, store, provider, fetched).await?;
            // A 304 asked again in full may have brought newer bytes than the
            // fingerprint the memo answered for: then hash what was parsed.
            let content_hash = if parsed.fingerprint == fingerprint {
                content_hash
            } else {
                memoise(state, store, &parsed)
            };
            (parsed.documents, content_hash)
        }
    };
    // The JSON trees served the hash; free them before the long images stage,
    // which up to io_concurrency passes may be in at once.
    let Documents {
        menu: menu_doc,
        images: images_doc,
        menu_value,
        images_value,
    } = documents;
    drop((menu_value, images_value));

    let mut menu = stage("transform", async {
        let transformed = transform::transform(&store.id, &menu_doc, &store.settings);
        log_problems(&transformed.problems);
        let published_items = state.item_count.filter(|_| current.is_some());
        transform::check_publishable(
            &transformed.menu,
            published_items,
            daemon.max_shrink_percent,
            options.allow_shrink,
        )?;
        Ok::<_, StoreError>(transformed.menu)
    })
    .await?;

    let staging = tree.begin(&content_hash, Utc::now())?;
    let held_dir = current
        .as_ref()
        .map(|release| tree.release_dir(release).join(IMAGES_DIR));
    let staging_images = staging.images_dir();
    let gathered = stage("images", async {
        let request = ImageRequest {
            provider,
            pos_store_id: &store.pos_store_id,
            io: &ctx.shared.io,
            concurrency: daemon.io_concurrency.get(),
            max_bytes: daemon.max_image_bytes,
            max_pixels: daemon.max_image_pixels,
            image_timeout: daemon.image_timeout,
            deadline: images_deadline,
            held_dir: held_dir.as_deref(),
            held_index: &state.images,
            staging_dir: &staging_images,
        };
        let gathered =
            images::gather(&request, &images_doc, &transform::wanted_images(&menu)).await?;
        log_problems(&gathered.problems);
        let _ = RECORDER.try_with(|recorder| {
            recorder
                .image_bytes
                .fetch_add(gathered.downloaded_bytes, Ordering::Relaxed)
        });
        debug!(
            downloaded = gathered.downloaded,
            downloaded_bytes = gathered.downloaded_bytes,
            linked = gathered.linked,
            "images ready"
        );
        Ok::<_, StoreError>(gathered)
    })
    .await?;
    transform::attach_images(&mut menu, &gathered.files);
    let carried = images::carry_forward(tree, &staging_images, Utc::now(), daemon.image_grace)?;
    debug!(
        carried,
        "images of recently replaced releases carried forward"
    );

    stage("publish", async {
        let bytes = menu.to_bytes();
        let published = current
            .as_ref()
            .and_then(|release| std::fs::read(tree.release_dir(release).join(MENU_PATH)).ok());
        let same_as_current = published.as_deref() == Some(bytes.as_slice());
        let release = if same_as_current {
            // New inputs, same output (say, a POS version bump): keep the live release.
            debug!("the new menu is byte-equal to the published one; nothing to publish");
            drop(staging);
            None
        } else {
            staging.write_menu(&bytes)?;
            let release = staging.publish()?;
            let old_menu = published.and_then(|bytes| serde_json::from_slice::<Menu>(&bytes).ok());
            let changes = match &old_menu {
                Some(old_menu) => MenuDiff::between(old_menu, &menu).to_string(),
                None => format!("first release, {} items", menu.item_count()),
            };
            info!(
                release = %release,
                images_downloaded = gathered.downloaded,
                "{}: published {}… — {changes}, {} images downloaded",
                store.id,
                &release[..release.len().min(24)],
                gathered.downloaded
            );
            let pruned = tree.prune(daemon.keep_releases.get())?;
            debug!(pruned = pruned.len(), "old releases pruned");
            state.last_change = Some(Utc::now());
            Some(release)
        };
        state.release = tree.current_release()?;
        state.content_hash = Some(content_hash.clone());
        state.item_count = Some(menu.item_count());
        state.images = gathered.index;
        state.retry_images = gathered.transient_failures > 0;
        Ok(release)
    })
    .await
}

/// The POS documents of a pass: parsed, or fetched and not parsed yet.
enum Fetch {
    Pending(Fetched),
    Parsed(Documents),
}

/// Fetches a store's POS documents under an I/O permit.
async fn fetch(
    ctx: &Context,
    store: &Store,
    provider: &Provider,
    freshness: pos::Freshness,
) -> Result<Fetched, StoreError> {
    let _permit = ctx
        .shared
        .io
        .acquire()
        .await
        .expect("the I/O semaphore is never closed");
    provider
        .fetch(
            &store.pos_store_id,
            ctx.config.daemon.max_menu_bytes,
            freshness,
        )
        .await
}

/// Parsed documents and the fingerprint of exactly the bytes they came from.
struct Parsed {
    documents: Documents,
    fingerprint: String,
}

/// Parses fetched documents; one the POS answered `304` is asked for again in full.
async fn parse_or_refetch(
    ctx: &Context,
    store: &Store,
    provider: &Provider,
    fetched: Fetched,
) -> Result<Parsed, StoreError> {
    let fingerprint = input_fingerprint(&fetched, &store.id, &store.settings);
    if let Some(documents) = stage("parse", async { fetched.documents() }).await? {
        return Ok(Parsed {
            documents,
            fingerprint,
        });
    }
    let fetched = stage("fetch", async {
        debug!("a document answered 304 is needed in full; asking again without ETag");
        fetch(ctx, store, provider, pos::Freshness::Full).await
    })
    .await?;
    let fingerprint = input_fingerprint(&fetched, &store.id, &store.settings);
    let documents = stage("parse", async { fetched.documents() })
        .await?
        .expect("a full fetch always carries both bodies");
    Ok(Parsed {
        documents,
        fingerprint,
    })
}

/// The canonical content hash of parsed documents, remembered for their fingerprint.
fn memoise(state: &mut StoreState, store: &Store, parsed: &Parsed) -> String {
    let documents = &parsed.documents;
    let content_hash = detect::content_hash(
        &store.id,
        &documents.menu_value,
        &documents.images_value,
        &store.settings,
    );
    state.inputs = Some(InputMemo {
        fingerprint: parsed.fingerprint.clone(),
        content_hash: content_hash.clone(),
    });
    content_hash
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

mod context;
mod deploy;
mod slot;

pub use context::{Context, Shared};
pub(crate) use deploy::deploy_pending;
pub use slot::{run_guarded, run_in_slot};
