//! What planning learns for the store's state, whatever the plan says.

use crate::state::{InputMemo, StoreState};

/// What planning learned for the store's state, whatever the plan says.
#[derive(Debug, Default)]
pub(crate) struct Learned {
    /// The content hash of the inputs just parsed, for their fingerprint.
    pub memo: Option<InputMemo>,
    /// The POS menu changed since a rollback: the pin is over.
    pub end_pin: bool,
    /// The POS sent other inputs than the rejected ones: the rejection is over.
    pub end_rejection: bool,
}

impl Learned {
    pub(crate) fn apply(self, state: &mut StoreState) {
        if let Some(memo) = self.memo {
            state.remember_inputs(memo);
        }
        if self.end_pin {
            state.end_pin();
        }
        if self.end_rejection {
            state.end_rejection();
        }
    }
}
