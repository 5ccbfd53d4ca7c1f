//! What every step of one pass reads: the context, the store, its provider
//! and folder, the state as the pass found it, and the pass's recorder.

use super::context::Context;
use crate::config::Store;
use crate::instrument::Recorder;
use crate::pos::Provider;
use crate::publish::StoreTree;
use crate::state::StoreState;

/// Choices an operator makes for one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassOptions {
    /// A person approved this run: publish even a menu that shrank past the
    /// guard or trips a publish gate (`once --approve`).
    pub approve: bool,
}

/// What every step of one pass reads; the same for the whole pass.
#[derive(Clone, Copy)]
pub(crate) struct Pass<'a> {
    pub ctx: &'a Context,
    pub store: &'a Store,
    pub provider: &'a Provider,
    pub tree: &'a StoreTree,
    /// The store's state as the pass found it; what the pass learns goes
    /// into a `StateUpdate` (see `release`), applied when it ends.
    pub state: &'a StoreState,
    /// Where the pass's stages and image bytes are recorded.
    pub recorder: &'a Recorder,
}

impl<'a> Pass<'a> {
    /// A pass's view of `store`, for the steps a command run by hand shares
    /// with the pass (`diff`, `approve`).
    pub(crate) fn new(
        ctx: &'a Context,
        store: &'a Store,
        tree: &'a StoreTree,
        state: &'a StoreState,
        recorder: &'a Recorder,
    ) -> Pass<'a> {
        Pass {
            ctx,
            store,
            provider: ctx.provider(store),
            tree,
            state,
            recorder,
        }
    }
}
