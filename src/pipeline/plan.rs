//! The plan of a pass, computed once and read by both the pass and `diff`,
//! so the two can never disagree about what a pass would do:
//!
//! ```text
//! plan:  inputs ──▶ decide ──▶ Plan { content_hash, skip }
//! menu:  documents ──▶ transform ──▶ shrink guard ──▶ gates ──▶ Planned { menu, refusal, hold }
//! ```
//!
//! `plan` fetches the POS inputs and decides whether a pass builds anything
//! (a [`Skip`] says why not); only then does [`Plan::menu`] parse and
//! transform them, so a quiet pass parses nothing. What planning learns for
//! the state goes into [`Learned`], which the pass applies and `diff` drops.

mod inputs;
mod learned;

use chrono::{DateTime, Utc};
use tracing::debug;

use super::pass::{Pass, PassOptions};
use crate::error::StoreError;
use crate::gates;
use crate::instrument::log_problems;
use crate::menu::Menu;
use crate::pos::doc::ImagesDoc;
use crate::publish::MENU_PATH;

use crate::transform;

use inputs::{Inputs, documents, inputs};
pub(crate) use learned::Learned;

/// Why a pass builds nothing from these inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Staff rejected exactly these inputs.
    Rejected,
    /// These inputs built `release`, which waits for approval.
    Held { release: String },
    /// `current` was rolled back to `release` and the POS still sends what it was rolled back from.
    Pinned { release: String },
    /// These inputs built the live release already.
    Unchanged,
}

impl Skip {
    /// Why a pass would not publish these inputs, as `diff` says it; `None`
    /// when there is nothing to publish.
    pub(crate) fn reason(&self, store_id: &str) -> Option<String> {
        match self {
            Skip::Rejected => {
                Some("rejected: a pass keeps it out until the POS menu changes".into())
            }
            Skip::Held { release } => Some(format!(
                "held for approval already as {release} (menusync approve|reject {store_id})"
            )),
            Skip::Pinned { release } => Some(format!(
                "rolled back to {release}: a pass keeps it until the POS menu changes"
            )),
            Skip::Unchanged => None,
        }
    }
}

/// The POS inputs of a pass, their content hash, and whether to build.
pub(crate) struct Plan {
    /// The live release when the pass began.
    pub current: Option<String>,
    pub content_hash: String,
    /// `Some`: build nothing, and why.
    pub skip: Option<Skip>,
    inputs: Inputs,
}

/// What a pass would build from a plan: the menu, and why it would be
/// refused or held instead of going live.
pub(crate) struct Planned {
    pub menu: Menu,
    pub images_doc: ImagesDoc,
    pub content_hash: String,
    /// When the POS dated the menu.
    pub changed_at: Option<DateTime<Utc>>,
    /// The live release's menu and its bytes, when it reads.
    pub published: Option<(Menu, Vec<u8>)>,
    /// The shrink guard refuses it: the pass fails with this.
    pub refusal: Option<StoreError>,
    /// The publish gates it trips: the pass holds it for approval.
    pub hold: Vec<String>,
}

/// Fetches the POS inputs and decides whether a pass builds anything.
pub(crate) async fn plan(
    pass: Pass<'_>,
    options: PassOptions,
    learned: &mut Learned,
) -> Result<Plan, StoreError> {
    let inputs = inputs(pass, learned).await?;
    let skip = pass
        .recorder
        .stage("detect", async { decide(pass, &inputs, options, learned) })
        .await;
    Ok(Plan {
        current: inputs.current.clone(),
        content_hash: inputs.content_hash.clone(),
        skip,
        inputs,
    })
}

impl Plan {
    /// Parses and transforms the inputs, and says what the shrink guard and
    /// the publish gates make of the menu (both waived by `--approve`).
    pub(crate) async fn menu(
        self,
        pass: Pass<'_>,
        options: PassOptions,
        learned: &mut Learned,
    ) -> Result<Planned, StoreError> {
        let current = self.current;
        let (menu_doc, images_doc, content_hash) = documents(pass, self.inputs, learned).await?;
        let changed_at = menu_doc
            .updated_at
            .as_deref()
            .and_then(|text| DateTime::parse_from_rfc3339(text.trim()).ok())
            .map(|at| at.with_timezone(&Utc));
        let published = current
            .as_deref()
            .and_then(|release| read_published(pass, release));
        pass.recorder
            .stage("transform", async {
                let store = pass.store;
                let transformed = transform::transform(&store.id, &menu_doc, &store.settings);
                log_problems(&transformed.problems);
                let menu = transformed.menu;
                // The live menu's own count; the state's when that menu does not read.
                let published_items = match &published {
                    Some((old, _)) => Some(old.item_count()),
                    None => pass.state.item_count().filter(|_| current.is_some()),
                };
                let refusal = transform::check_publishable(
                    &menu,
                    published_items,
                    pass.ctx.config.daemon.max_shrink_percent,
                    options.approve,
                )
                .err();
                let hold = match &published {
                    Some((old, _)) if !options.approve => gates::check(old, &menu, &store.gates),
                    _ => Vec::new(),
                };
                Ok(Planned {
                    menu,
                    images_doc,
                    content_hash,
                    changed_at,
                    published,
                    refusal,
                    hold,
                })
            })
            .await
    }
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
fn decide(
    pass: Pass<'_>,
    inputs: &Inputs,
    options: PassOptions,
    learned: &mut Learned,
) -> Option<Skip> {
    let (state, current, content_hash) = (pass.state, &inputs.current, &inputs.content_hash);
    if state.rejected().is_some() {
        if state.rejects(content_hash) && !options.approve {
            debug!("these POS inputs were rejected; kept out until the POS changes");
            return Some(Skip::Rejected);
        }
        learned.end_rejection = true;
    }
    if let Some(held) = state.held_for(content_hash)
        && pass.tree.release_dir(&held.release).is_dir()
        && !options.approve
    {
        debug!(release = %held.release, "held for approval; the POS still sends what built it");
        return Some(Skip::Held {
            release: held.release.clone(),
        });
    }
    if state.pinned().is_some() {
        if let Some(pin) = state.pinned_at(current.as_deref(), content_hash) {
            debug!(release = %pin.release, "held at the rolled-back release until the POS menu changes");
            return Some(Skip::Pinned {
                release: pin.release.clone(),
            });
        }
        debug!("the POS menu changed since the rollback; the pin is over");
        learned.end_pin = true;
    }
    let unchanged = state.built_live(current.as_deref(), content_hash);
    debug!(unchanged, hash = %&content_hash[..16], "compared with the published release");
    unchanged.then_some(Skip::Unchanged)
}
