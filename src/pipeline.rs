//! One pass for one store, and what commands run by hand share with it.
//!
//! ```text
//! run ──▶ plan ──▶ release ──▶ golive ──▶ deploy
//!  │      (inputs, decide,     (gather,    (current, state,    (every target
//!  │       transform, gates)    hold)       previews, save)     lacking it)
//!  └ lock, state, the closing line                 ▲
//!                      approve, rollback (operations) go live the same way
//! ```
//!
//! The files below name only their siblings, never this one: `pass` (what
//! every step reads) and `context` at the bottom, `run` and `slot` at the top.

mod adopt;
mod context;
mod deploy;
mod golive;
mod pass;
mod plan;
mod previews;
mod release;
mod run;
mod slot;

pub use crate::report::{Outcome, PassReport};
pub use context::{Context, Shared};
pub use deploy::push_previews;
pub(crate) use golive::{Going, go_live};
pub use pass::PassOptions;
pub(crate) use pass::{Pass, Scope};
pub(crate) use plan::{Learned, Planned, plan};
pub use run::run_pass;
pub use slot::{run_guarded, run_in_slot};
