//! What a pass builds from its plan (see `plan`): the release in staging
//! with its images, then either a release ready to go live (see `golive`)
//! or one held for approval:
//!
//! ```text
//! plan ──▶ menu ──▶ gather ──▶ finish ──▶ Built::Ready (golive) | Built::Held | nothing (byte-equal)
//! (Plan)   (Planned) (Staged)
//! ```
//!
//! Each step reads the store's state as it was when the pass began; what
//! the pass learns for the state goes into one [`StateUpdate`], applied by
//! the caller once the pass ends, whether it succeeded, failed or ran out
//! of time.

use std::collections::BTreeMap;

use chrono::Utc;
use tracing::{debug, info, warn};

use super::pass::{Pass, PassOptions};
use super::plan::{Learned, Planned, plan};
use super::previews::Previews;
use crate::diff::MenuDiff;
use crate::error::StoreError;
use crate::image_variants::cache::VariantCache;
use crate::images::{self, GatheredImages, ImageRequest, VariantRequest};
use crate::instrument::log_problems;
use crate::menu::Menu;
use crate::pos::doc::ImagesDoc;
use crate::publish::{IMAGES_DIR, Staging, release_id};
use crate::state::{Held, StoreState, WentLive};
use crate::transform;

/// What a pass changes in the store's state, applied once when it ends.
#[derive(Debug, Default)]
pub(crate) struct StateUpdate {
    /// What planning learned (the input memo, a pin or rejection over).
    learned: Learned,
    /// A gate held a new release.
    held: Option<Held>,
    /// The menu built is byte-equal to the live one.
    same_output: Option<SameOutput>,
}

/// The live release, described by new inputs that built the same menu.
#[derive(Debug)]
struct SameOutput {
    release: Option<String>,
    content_hash: String,
    item_count: usize,
    images: BTreeMap<String, String>,
    retry_images: bool,
}

impl StateUpdate {
    pub(crate) fn apply(self, state: &mut StoreState) {
        self.learned.apply(state);
        if let Some(held) = self.held {
            state.hold(held);
        }
        if let Some(same) = self.same_output {
            state.same_output(
                same.release,
                same.content_hash,
                same.item_count,
                same.images,
                same.retry_images,
            );
        }
    }
}

/// What a pass built.
#[derive(Debug)]
pub(crate) enum Built {
    /// A new release, complete under `releases/`, to go live for this reason.
    Ready {
        release: String,
        menu: Box<Menu>,
        why: WentLive,
    },
    /// A new release kept from customers: a gate tripped.
    Held {
        release: String,
        reasons: Vec<String>,
    },
}

/// Fetch to a complete release. `None` when the plan builds nothing or the
/// menu built is the live one.
pub(crate) async fn build_release(
    pass: Pass<'_>,
    options: PassOptions,
    images_deadline: tokio::time::Instant,
    update: &mut StateUpdate,
) -> Result<Option<Built>, StoreError> {
    let plan = plan(pass, options, &mut update.learned).await?;
    if plan.skip.is_some() {
        return Ok(None);
    }
    let current = plan.current.clone();
    let planned = plan.menu(pass, options, &mut update.learned).await?;
    if let Some(refusal) = planned.refusal {
        return Err(refusal);
    }
    let Planned {
        menu,
        images_doc,
        content_hash,
        changed_at,
        published,
        hold,
        ..
    } = planned;
    let staged = gather(pass, menu, &images_doc, current.as_deref(), images_deadline).await?;
    pass.recorder
        .stage("publish", async {
            let Staged {
                mut staging,
                menu,
                bytes,
                gathered,
            } = staged;
            let old = published
                .as_ref()
                .map(|(menu, bytes)| (menu, bytes.as_slice()));
            if old.is_some_and(|(_, old_bytes)| old_bytes == bytes.as_slice()) {
                debug!("the new menu is byte-equal to the published one; nothing to publish");
                drop(staging);
                // The POS went back to the live menu: nothing waits any more.
                drop_held(pass, current.as_deref());
                update.same_output = Some(SameOutput {
                    release: pass.tree.current_release()?,
                    content_hash,
                    item_count: menu.item_count(),
                    images: gathered.index,
                    retry_images: gathered.transient_failures > 0,
                });
                return Ok(None);
            }
            // The bytes name the release; an older copy of that name is replaced.
            staging.write_menu(&bytes)?;
            let release = staging.keep()?;
            if !hold.is_empty() {
                let old = old.map(|(menu, _)| menu).zip(current.as_deref());
                let held = Held {
                    release: release.clone(),
                    input_hash: content_hash,
                    reasons: hold.clone(),
                    since: Utc::now(),
                    item_count: menu.item_count(),
                    images: gathered.index,
                    changed_at,
                };
                hold_release(pass, held, &menu, old, update)?;
                return Ok(Some(Built::Held {
                    release,
                    reasons: hold,
                }));
            }
            debug!(
                images_downloaded = gathered.downloaded,
                "release {release} built"
            );
            let why = WentLive::Built {
                content_hash,
                images: gathered.index,
                retry_images: gathered.transient_failures > 0,
                changed_at,
                first_release: current.is_none(),
            };
            Ok(Some(Built::Ready {
                release,
                menu: Box::new(menu),
                why,
            }))
        })
        .await
}

/// A complete release in staging: the menu with its image paths (and as
/// the bytes of `menu.json`, which name the release), its images.
struct Staged {
    staging: Staging,
    menu: Menu,
    bytes: Vec<u8>,
    gathered: GatheredImages,
}

/// Starts the release in staging and brings its images in: held ones
/// linked, new ones downloaded, recently replaced ones carried forward.
/// The menu's bytes, once its image paths are in, are what the release is
/// named after, so they are fixed before anything is carried forward.
async fn gather(
    pass: Pass<'_>,
    mut menu: Menu,
    images_doc: &ImagesDoc,
    current: Option<&str>,
    images_deadline: tokio::time::Instant,
) -> Result<Staged, StoreError> {
    let (ctx, store, tree) = (pass.ctx, pass.store, pass.tree);
    let daemon = &ctx.config.daemon;
    let staging = tree.begin()?;
    let held_dir = current.map(|release| tree.release_dir(release).join(IMAGES_DIR));
    let staging_images = staging.images_dir();
    let settings = &store.settings.image_variants;
    let cache = VariantCache::new(&daemon.state_dir);
    // Originals nobody publishes wait here for their variants; removed below.
    let originals = staging.dir().join("originals");
    let (gathered, bytes) = pass
        .recorder
        .stage("images", async {
            let variants = settings.enabled.then(|| VariantRequest {
                settings,
                cache: &cache,
                cpu: &ctx.shared.cpu,
                in_flight: &ctx.shared.making,
                originals_dir: if settings.keep_original {
                    &staging_images
                } else {
                    &originals
                },
            });
            if variants.is_some() && !settings.keep_original {
                std::fs::create_dir_all(&originals).map_err(|err| {
                    StoreError::storage(format!("creating {}", originals.display()), err)
                })?;
            }
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
                held_index: pass.state.images(),
                staging_dir: &staging_images,
                variants,
            };
            let gathered =
                images::gather(&request, images_doc, &transform::wanted_images(&menu)).await?;
            remove_originals(&originals)?;
            log_problems(&gathered.problems);
            if settings.enabled {
                info!(
                    made = gathered.variants_made,
                    reused = gathered.variants_reused,
                    "variants made for {} new photos, {} from the cache",
                    gathered.variants_made,
                    gathered.variants_reused
                );
                prune_variants(ctx, &cache).await;
            }
            pass.recorder.add_image_bytes(gathered.downloaded_bytes);
            debug!(
                downloaded = gathered.downloaded,
                downloaded_bytes = gathered.downloaded_bytes,
                linked = gathered.linked,
                "images ready"
            );
            transform::attach_images(&mut menu, &gathered.files);
            let bytes = menu.to_bytes();
            let carried = images::carry_forward(
                tree,
                &staging_images,
                Utc::now(),
                daemon.image_grace,
                daemon.keep_releases.get(),
                &release_id(&bytes),
            )?;
            debug!(
                carried,
                "images of recently replaced releases carried forward"
            );
            Ok::<_, StoreError>((gathered, bytes))
        })
        .await?;
    Ok(Staged {
        staging,
        menu,
        bytes,
        gathered,
    })
}

/// Removes the scratch folder of originals nobody publishes, so the
/// release holds only what its menu names.
fn remove_originals(originals: &std::path::Path) -> Result<(), StoreError> {
    match std::fs::remove_dir_all(originals) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(StoreError::storage(
            format!("removing {}", originals.display()),
            err,
        )),
        _ => Ok(()),
    }
}

/// Prunes the variant cache of entries unused for `image_cache_days`, at
/// most once an hour per process; a failure is logged, never the pass's.
async fn prune_variants(ctx: &super::context::Context, cache: &VariantCache) {
    let now = Utc::now().timestamp().max(0) as u64;
    let last = ctx
        .shared
        .variants_pruned_at
        .load(std::sync::atomic::Ordering::Relaxed);
    if now.saturating_sub(last) < 3600
        || ctx
            .shared
            .variants_pruned_at
            .compare_exchange(
                last,
                now,
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
            )
            .is_err()
    {
        return;
    }
    let (cache, max_age) = (cache.clone(), ctx.config.daemon.image_cache_age);
    match tokio::task::spawn_blocking(move || cache.prune(max_age)).await {
        Ok(Ok(pruned)) => debug!(
            entries = pruned.entries,
            temp = pruned.temp,
            "variant cache pruned"
        ),
        Ok(Err(err)) => warn!(
            category = "storage",
            "cannot prune the variant cache: {err}"
        ),
        Err(err) => warn!(
            category = "storage",
            "cannot prune the variant cache: {err}"
        ),
    }
}

/// Keeps the release `held` names complete beside the live one for
/// `approve` or `reject`, in place of anything held before, and writes its
/// held page.
fn hold_release(
    pass: Pass<'_>,
    held: Held,
    menu: &Menu,
    old: Option<(&Menu, &str)>,
    update: &mut StateUpdate,
) -> Result<(), StoreError> {
    let (ctx, store, tree) = (pass.ctx, pass.store, pass.tree);
    let release = held.release.as_str();
    drop_held(pass, Some(release));
    let changes = match old {
        Some((old_menu, _)) => MenuDiff::between(old_menu, menu).to_string(),
        None => format!("first release, {} items", menu.item_count()),
    };
    info!(release = %release, "{}: built {}… and held — {changes}", store.id, &release[..release.len().min(24)]);
    Previews {
        ctx,
        store,
        tree,
        old,
    }
    .write(menu, release, Some((&held.reasons, held.since)));
    let pruned = tree.prune(ctx.config.daemon.keep_releases.get(), Some(release))?;
    debug!(pruned = pruned.len(), "old releases pruned");
    update.held = Some(held);
    Ok(())
}

/// Removes the held release, unless it is `keep`, with its held page.
fn drop_held(pass: Pass<'_>, keep: Option<&str>) {
    let Some(held) = pass.state.held().map(|held| held.release.as_str()) else {
        return;
    };
    if Some(held) == keep {
        return;
    }
    if let Err(err) = pass.tree.remove_release(held) {
        warn!(category = %err.category(), "cannot remove the held release {held}: {}", err.chain());
    }
    Previews {
        ctx: pass.ctx,
        store: pass.store,
        tree: pass.tree,
        old: None,
    }
    .clear_held();
}

/// How long into a pass the images stage may run: the pass timeout less a
/// quarter of it (at most 10 s) kept for publishing, so images still
/// outstanding then are left out and the menu goes out without them.
pub(super) fn images_budget(pass_timeout: std::time::Duration) -> std::time::Duration {
    pass_timeout - (pass_timeout / 4).min(std::time::Duration::from_secs(10))
}
