//! Fetch to publish, as named steps with typed results:
//!
//! ```text
//! inputs ──▶ decide ──▶ documents ──▶ transform ──▶ gather ──▶ gate ──▶ publish or hold
//! (Inputs)   (bool)     (Documents)   (Menu)        (Built)    (reasons) (Done)
//! ```
//!
//! Each step reads the store's state as it was when the pass began and
//! returns what the next step takes; what the pass learns for the state (the
//! input memo, the end of a rollback hold, the published release) goes into
//! one [`StateUpdate`], applied by the caller once the pass ends, whether it
//! succeeded, failed or ran out of time. A new step (a publish gate, a
//! preview) goes between two of these, with the value it needs.
//!
//! `inputs` and `documents` live in [`inputs`], the preview pages a publish
//! or hold writes in [`previews`]; the rest of the steps are here.

mod inputs;
mod previews;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use super::{Context, PassOptions, RECORDER, log_problems, stage};
use crate::config::Store;
use crate::diff::MenuDiff;
use crate::error::StoreError;
use crate::gates;
use crate::images::{self, GatheredImages, ImageRequest};
use crate::menu::Menu;
use crate::pos::Provider;
use crate::pos::doc::{ImagesDoc, MenuDoc};
use crate::publish::{IMAGES_DIR, MENU_PATH, Staging, StoreTree};
use crate::state::{Held, InputMemo, Lag, StoreState};
use crate::transform;

pub(super) use inputs::content_hash;
use inputs::{Inputs, documents, inputs};
use previews::Previews;

/// What a pass changes in the store's state, applied once when it ends.
#[derive(Debug, Default)]
pub(super) struct StateUpdate {
    /// The content hash of the inputs just parsed, for their fingerprint.
    memo: Option<InputMemo>,
    /// The POS menu changed since a rollback: the hold is over.
    end_hold: bool,
    /// What a completed pass published (or found byte-equal to the live release).
    published: Option<PublishedState>,
    /// `Some(new)`: the held release changed (`None`: nothing held any more).
    held: Option<Option<Held>>,
    /// The POS sent other inputs than the rejected ones: the rejection is over.
    end_rejection: bool,
    /// A change the POS dated reached the local publish.
    lag: Option<Lag>,
}

/// How a pass that built something ended.
#[derive(Debug)]
pub(super) enum Done {
    /// A new release went live.
    Published(String),
    /// A new release was built and kept from customers: a gate tripped.
    Held {
        release: String,
        reasons: Vec<String>,
    },
}

#[derive(Debug)]
struct PublishedState {
    /// What `current` points at now.
    release: Option<String>,
    content_hash: String,
    item_count: usize,
    images: BTreeMap<String, String>,
    retry_images: bool,
    /// Set when a new release went live.
    changed_at: Option<DateTime<Utc>>,
}

impl StateUpdate {
    pub(super) fn apply(self, state: &mut StoreState) {
        if let Some(memo) = self.memo {
            state.inputs = Some(memo);
        }
        if self.end_hold {
            state.pinned = None;
        }
        if self.end_rejection {
            state.rejected = None;
        }
        if let Some(held) = self.held {
            state.held = held;
        }
        if let Some(lag) = self.lag {
            state.lag = Some(lag);
        }
        if let Some(published) = self.published {
            state.release = published.release;
            state.content_hash = Some(published.content_hash);
            state.item_count = Some(published.item_count);
            state.images = published.images;
            state.retry_images = published.retry_images;
            if let Some(at) = published.changed_at {
                state.last_change = Some(at);
            }
        }
    }
}

/// What every step of one pass reads; the same for the whole pass.
#[derive(Clone, Copy)]
pub(super) struct Pass<'a> {
    pub ctx: &'a Context,
    pub store: &'a Store,
    pub provider: &'a Provider,
    pub tree: &'a StoreTree,
    /// The store's state as the pass found it; changes go to [`StateUpdate`].
    pub state: &'a StoreState,
}

/// Fetch to publish. `Some` when a new release went live or was held.
pub(super) async fn build_release(
    pass: Pass<'_>,
    options: PassOptions,
    images_deadline: tokio::time::Instant,
    update: &mut StateUpdate,
) -> Result<Option<Done>, StoreError> {
    let inputs = inputs(pass, update).await?;
    if !stage("detect", async { decide(pass, &inputs, options, update) }).await {
        return Ok(None);
    }
    let current = inputs.current.clone();
    let (menu_doc, images_doc, content_hash) = documents(pass, inputs, update).await?;
    let changed_at = menu_doc
        .updated_at
        .as_deref()
        .and_then(|text| DateTime::parse_from_rfc3339(text.trim()).ok())
        .map(|at| at.with_timezone(&Utc));
    let menu = stage("transform", async {
        transform_menu(pass, &menu_doc, current.is_some(), options)
    })
    .await?;
    let built = gather(
        pass,
        menu,
        &images_doc,
        current.as_deref(),
        &content_hash,
        images_deadline,
    )
    .await?;
    stage("publish", async {
        let published = current
            .as_deref()
            .and_then(|release| read_published(pass, release));
        let reasons = match &published {
            Some((old, _)) if !options.approve => gates::check(old, &built.menu, &pass.store.gates),
            _ => Vec::new(),
        };
        let done = publish(
            pass,
            built,
            published,
            content_hash,
            changed_at,
            reasons,
            update,
        )?;
        if let (Some(Done::Published(release)), Some(changed_at)) = (&done, changed_at) {
            record_lag(pass, release, changed_at, current.is_none(), update);
        }
        Ok(done)
    })
    .await
}

/// The lag of a change the POS dated, once per date: a release published for
/// another reason (a settings change) under the same `updatedAt` is no lag.
/// A store's first release is marked: its menu was dated before menusync saw it.
fn record_lag(
    pass: Pass<'_>,
    release: &str,
    changed_at: DateTime<Utc>,
    first_release: bool,
    update: &mut StateUpdate,
) {
    let Some(lag) = Lag::measure(
        pass.state.lag.as_ref(),
        release,
        changed_at,
        first_release,
        Utc::now(),
    ) else {
        return;
    };
    let publish_secs = lag.publish_secs;
    let dated = changed_at.format("%Y-%m-%dT%H:%M:%SZ");
    if first_release {
        info!(
            lag_secs = publish_secs,
            "the POS menu of {dated} is the store's first release (its age, not a lag)"
        );
    } else {
        info!(
            lag_secs = publish_secs,
            "the POS change of {dated} is published"
        );
    }
    update.lag = Some(lag);
}

/// The live release's menu and bytes, when it reads.
fn read_published(pass: Pass<'_>, release: &str) -> Option<(Menu, Vec<u8>)> {
    let bytes = std::fs::read(pass.tree.release_dir(release).join(MENU_PATH)).ok()?;
    let menu = serde_json::from_slice(&bytes).ok()?;
    Some((menu, bytes))
}

/// Whether to build a release: not while a rollback holds and the POS menu
/// is what it was, nor when the inputs built the live release already, nor
/// for inputs staff rejected or whose release waits for approval.
fn decide(pass: Pass<'_>, inputs: &Inputs, options: PassOptions, update: &mut StateUpdate) -> bool {
    let (state, current, content_hash) = (pass.state, &inputs.current, &inputs.content_hash);
    if state.rejected.is_some() {
        if state.rejects(content_hash) && !options.approve {
            debug!("these POS inputs were rejected; kept out until the POS changes");
            return false;
        }
        update.end_rejection = true;
    }
    if let Some(held) = state.held_for(content_hash)
        && pass.tree.release_dir(&held.release).is_dir()
        && !options.approve
    {
        debug!(release = %held.release, "held for approval; the POS still sends what built it");
        return false;
    }
    if state.pinned.is_some() {
        if let Some(pin) = state.pinned_at(current.as_deref(), content_hash) {
            debug!(release = %pin.release, "held at the rolled-back release until the POS menu changes");
            return false;
        }
        info!("the POS menu changed since the rollback; publishing it");
        update.end_hold = true;
    }
    let unchanged = current.is_some()
        && state.release == *current
        && state.content_hash.as_deref() == Some(content_hash.as_str())
        && !state.retry_images;
    debug!(unchanged, hash = %&content_hash[..16], "compared with the published release");
    !unchanged
}

/// POS menu → the store's `Menu`, refused if it shrank past the guard.
fn transform_menu(
    pass: Pass<'_>,
    menu_doc: &MenuDoc,
    has_current: bool,
    options: PassOptions,
) -> Result<Menu, StoreError> {
    let store = pass.store;
    let transformed = transform::transform(&store.id, menu_doc, &store.settings);
    log_problems(&transformed.problems);
    let published_items = pass.state.item_count.filter(|_| has_current);
    transform::check_publishable(
        &transformed.menu,
        published_items,
        pass.ctx.config.daemon.max_shrink_percent,
        options.approve,
    )?;
    Ok(transformed.menu)
}

/// A complete release in staging: the menu with its image paths, its images.
struct Built {
    staging: Staging,
    menu: Menu,
    gathered: GatheredImages,
}

/// Starts the release in staging and brings its images in: held ones
/// linked, new ones downloaded, recently replaced ones carried forward.
async fn gather(
    pass: Pass<'_>,
    mut menu: Menu,
    images_doc: &ImagesDoc,
    current: Option<&str>,
    content_hash: &str,
    images_deadline: tokio::time::Instant,
) -> Result<Built, StoreError> {
    let (ctx, store, tree) = (pass.ctx, pass.store, pass.tree);
    let daemon = &ctx.config.daemon;
    let staging = tree.begin(content_hash, Utc::now())?;
    let held_dir = current.map(|release| tree.release_dir(release).join(IMAGES_DIR));
    let staging_images = staging.images_dir();
    let gathered = stage("images", async {
        let request = ImageRequest {
            provider: pass.provider,
            pos_store_id: &store.pos_store_id,
            io: &ctx.shared.io,
            concurrency: daemon.io_concurrency.get(),
            max_bytes: daemon.max_image_bytes,
            max_pixels: daemon.max_image_pixels,
            image_timeout: daemon.image_timeout,
            deadline: images_deadline,
            held_dir: held_dir.as_deref(),
            held_index: &pass.state.images,
            staging_dir: &staging_images,
        };
        let gathered =
            images::gather(&request, images_doc, &transform::wanted_images(&menu)).await?;
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
    Ok(Built {
        staging,
        menu,
        gathered,
    })
}

/// Makes the built release live, unless its menu is byte-equal to the live
/// one (new inputs, same output: the live release stays), and prunes. With
/// `reasons` (a gate tripped) the release is kept complete beside the live
/// one instead, for `approve` or `reject`.
fn publish(
    pass: Pass<'_>,
    built: Built,
    published: Option<(Menu, Vec<u8>)>,
    content_hash: String,
    changed_at: Option<DateTime<Utc>>,
    reasons: Vec<String>,
    update: &mut StateUpdate,
) -> Result<Option<Done>, StoreError> {
    let (store, tree) = (pass.store, pass.tree);
    let Built {
        staging,
        menu,
        gathered,
    } = built;
    let bytes = menu.to_bytes();
    let (old_menu, old_bytes) = match published {
        Some((menu, bytes)) => (Some(menu), Some(bytes)),
        None => (None, None),
    };
    let current = tree.current_release()?;
    let old_held = pass.state.held.as_ref().map(|held| held.release.clone());
    let keep = pass.ctx.config.daemon.keep_releases.get();
    if old_bytes.as_deref() == Some(bytes.as_slice()) {
        debug!("the new menu is byte-equal to the published one; nothing to publish");
        drop(staging);
        // The POS went back to the live menu: nothing waits any more.
        drop_held(pass, old_held.as_deref(), current.as_deref());
        if old_held.is_some() {
            update.held = Some(None);
        }
        update.published = Some(PublishedState {
            release: current,
            content_hash,
            item_count: menu.item_count(),
            images: gathered.index,
            retry_images: gathered.transient_failures > 0,
            changed_at: None,
        });
        return Ok(None);
    }
    staging.write_menu(&bytes)?;
    let changes = match &old_menu {
        Some(old_menu) => MenuDiff::between(old_menu, &menu).to_string(),
        None => format!("first release, {} items", menu.item_count()),
    };
    let previews = Previews {
        pass,
        old: old_menu.as_ref(),
        old_release: current.as_deref(),
    };
    if !reasons.is_empty() {
        let release = staging.keep()?;
        if old_held.as_deref() != Some(release.as_str()) {
            drop_held(pass, old_held.as_deref(), current.as_deref());
        }
        info!(release = %release, "{}: built {}… and held — {changes}", store.id, &release[..release.len().min(24)]);
        let since = Utc::now();
        previews.write(&menu, &release, Some((&reasons, since)));
        update.held = Some(Some(Held {
            release: release.clone(),
            input_hash: content_hash,
            reasons: reasons.clone(),
            since,
            item_count: menu.item_count(),
            images: gathered.index,
            changed_at,
        }));
        let pruned = tree.prune(keep, Some(&release))?;
        debug!(pruned = pruned.len(), "old releases pruned");
        return Ok(Some(Done::Held { release, reasons }));
    }
    let release = staging.publish()?;
    drop_held(pass, old_held.as_deref(), Some(&release));
    if old_held.is_some() {
        update.held = Some(None);
    }
    info!(
        release = %release,
        images_downloaded = gathered.downloaded,
        "{}: published {}… — {changes}, {} images downloaded",
        store.id,
        &release[..release.len().min(24)],
        gathered.downloaded
    );
    previews.write(&menu, &release, None);
    let pruned = tree.prune(keep, None)?;
    debug!(pruned = pruned.len(), "old releases pruned");
    update.published = Some(PublishedState {
        release: tree.current_release()?,
        content_hash,
        item_count: menu.item_count(),
        images: gathered.index,
        retry_images: gathered.transient_failures > 0,
        changed_at: Some(Utc::now()),
    });
    Ok(Some(Done::Published(release)))
}

/// Removes a held release that nothing waits for any more (never `current`).
fn drop_held(pass: Pass<'_>, held: Option<&str>, current: Option<&str>) {
    let Some(held) = held.filter(|held| Some(*held) != current) else {
        return;
    };
    if let Err(err) = pass.tree.remove_release(held) {
        warn!(category = %err.category(), "cannot remove the held release {held}: {}", err.chain());
    }
    crate::preview::StorePreview::new(&pass.ctx.config.daemon.state_dir, &pass.store.id)
        .clear_held()
        .unwrap_or_else(|err| warn!(category = %err.category(), "{}", err.chain()));
}

/// How long into a pass the images stage may run: the pass timeout less a
/// quarter of it (at most 10 s) kept for publishing, so images still
/// outstanding then are left out and the menu goes out without them.
pub(super) fn images_budget(pass_timeout: std::time::Duration) -> std::time::Duration {
    pass_timeout - (pass_timeout / 4).min(std::time::Duration::from_secs(10))
}
