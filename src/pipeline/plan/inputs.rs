//! The `inputs` and `documents` steps of a plan: fetching under an I/O
//! permit, the cheap fingerprint of the bytes, and the canonical content
//! hash, parsed only when the memo cannot answer.

use tracing::debug;

use super::learned::Learned;
use crate::config::{Store, StoreSettings};
use crate::detect;
use crate::error::StoreError;
use crate::pipeline::pass::Pass;
use crate::pos::doc::{ImagesDoc, MenuDoc};
use crate::pos::{self, Documents, Fetched};
use crate::state::InputMemo;

/// The POS documents of a pass: parsed, or fetched and not parsed yet.
enum Fetch {
    Pending(Fetched),
    Parsed(Documents),
}

/// What the pass starts from: the live release and the POS inputs with their content hash.
pub(in crate::pipeline) struct Inputs {
    pub(in crate::pipeline) current: Option<String>,
    fingerprint: String,
    pub(in crate::pipeline) content_hash: String,
    fetch: Fetch,
}

/// Fetches the POS documents and finds their content hash: from the memo
/// when the bytes equal the last ones seen (a quiet pass parses nothing),
/// else by parsing them.
pub(super) async fn inputs(pass: Pass<'_>, learned: &mut Learned) -> Result<Inputs, StoreError> {
    let fetched = pass
        .recorder
        .stage("fetch", fetch(pass, pos::Freshness::Conditional))
        .await?;
    let current = pass.tree.current_release()?;
    let fingerprint = input_fingerprint(&fetched, &pass.store.id, &pass.store.settings);
    let (content_hash, fetch) = match pass.state.known_hash(&fingerprint) {
        Some(hash) => (hash.to_string(), Fetch::Pending(fetched)),
        None => {
            let parsed = parse_or_refetch(pass, fetched).await?;
            (
                memoise(learned, pass.store, &parsed),
                Fetch::Parsed(parsed.documents),
            )
        }
    };
    Ok(Inputs {
        current,
        fingerprint,
        content_hash,
        fetch,
    })
}

/// The parsed documents (parsing them now if the memo spared it so far),
/// with the JSON trees that served the hash already freed: the images stage
/// is long, and up to io_concurrency passes may be in it at once.
pub(super) async fn documents(
    pass: Pass<'_>,
    inputs: Inputs,
    learned: &mut Learned,
) -> Result<(MenuDoc, ImagesDoc, String), StoreError> {
    let (documents, content_hash) = match inputs.fetch {
        Fetch::Parsed(documents) => (documents, inputs.content_hash),
        Fetch::Pending(fetched) => {
            let parsed = parse_or_refetch(pass, fetched).await?;
            // A 304 asked again in full may have brought newer bytes than the
            // fingerprint the memo answered for: then hash what was parsed.
            let content_hash = if parsed.fingerprint == inputs.fingerprint {
                inputs.content_hash
            } else {
                memoise(learned, pass.store, &parsed)
            };
            (parsed.documents, content_hash)
        }
    };
    let Documents { menu, images, .. } = documents;
    Ok((menu, images, content_hash))
}

/// Fetches a store's POS documents under an I/O permit.
async fn fetch(pass: Pass<'_>, freshness: pos::Freshness) -> Result<Fetched, StoreError> {
    let _permit = pass
        .ctx
        .shared
        .io
        .acquire()
        .await
        .expect("the I/O semaphore is never closed");
    pass.provider
        .fetch(
            &pass.store.pos_store_id,
            pass.ctx.config.daemon.max_menu_bytes,
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
async fn parse_or_refetch(pass: Pass<'_>, fetched: Fetched) -> Result<Parsed, StoreError> {
    let store = pass.store;
    let fingerprint = input_fingerprint(&fetched, &store.id, &store.settings);
    if let Some(documents) = pass
        .recorder
        .stage("parse", async { fetched.documents() })
        .await?
    {
        return Ok(Parsed {
            documents,
            fingerprint,
        });
    }
    let fetched = pass
        .recorder
        .stage("fetch", async {
            debug!("a document answered 304 is needed in full; asking again without ETag");
            fetch(pass, pos::Freshness::Full).await
        })
        .await?;
    let fingerprint = input_fingerprint(&fetched, &store.id, &store.settings);
    let documents = pass
        .recorder
        .stage("parse", async { fetched.documents() })
        .await?
        .expect("a full fetch always carries both bodies");
    Ok(Parsed {
        documents,
        fingerprint,
    })
}

/// The canonical content hash of parsed documents, remembered for their fingerprint.
fn memoise(learned: &mut Learned, store: &Store, parsed: &Parsed) -> String {
    let documents = &parsed.documents;
    let content_hash = detect::content_hash(
        &store.id,
        &documents.menu_value,
        &documents.images_value,
        &store.settings,
    );
    learned.memo = Some(InputMemo {
        fingerprint: parsed.fingerprint.clone(),
        content_hash: content_hash.clone(),
    });
    content_hash
}

/// A cheap hash of everything the content hash covers: equal fingerprints
/// mean equal content hashes, so a known fingerprint spares the parse.
fn input_fingerprint(fetched: &Fetched, store_id: &str, settings: &StoreSettings) -> String {
    match fetched {
        Fetched::Raw { menu, images } => {
            detect::raw_fingerprint(store_id, &menu.digest, &images.digest, settings)
        }
        Fetched::Vendor(vendor) => detect::vendor_fingerprint(store_id, &vendor.digest, settings),
    }
}
