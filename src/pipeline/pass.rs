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
    /// What started this pass, for `status` and the metrics.
    pub trigger: crate::state::Trigger,
}

/// What any work on one store reads: a pass, `approve` or `rollback`.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub ctx: &'a Context,
    pub store: &'a Store,
    pub tree: &'a StoreTree,
    /// Where stages and image bytes are recorded (a pass's recorder, or a
    /// throwaway one for a command run by hand).
    pub recorder: &'a Recorder,
}

/// What every step of one pass reads; the same for the whole pass. Its
/// [`Scope`] fields read as its own (`pass.ctx`).
#[derive(Clone, Copy)]
pub(crate) struct Pass<'a> {
    pub scope: Scope<'a>,
    pub provider: &'a Provider,
    /// The store's state as the pass found it; what the pass learns goes
    /// into a `StateUpdate` (see `release`), applied when it ends.
    pub state: &'a StoreState,
}

impl<'a> Scope<'a> {
    pub(crate) fn new(
        ctx: &'a Context,
        store: &'a Store,
        tree: &'a StoreTree,
        recorder: &'a Recorder,
    ) -> Scope<'a> {
        Scope {
            ctx,
            store,
            tree,
            recorder,
        }
    }
}

impl<'a> std::ops::Deref for Pass<'a> {
    type Target = Scope<'a>;

    fn deref(&self) -> &Scope<'a> {
        &self.scope
    }
}

impl<'a> Pass<'a> {
    /// A pass's view of the store `scope` names, with its state.
    pub(crate) fn new(scope: Scope<'a>, state: &'a StoreState) -> Pass<'a> {
        Pass {
            scope,
            provider: scope.ctx.provider(scope.store),
            state,
        }
    }
}
