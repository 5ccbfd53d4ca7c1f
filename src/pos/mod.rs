//! The fetch stage: asks a store's POS for its menu, its image list and its images.
//!
//! [`Provider`] is the seam between the POS side and the rest of the
//! pipeline, which never knows which kind ran: every kind hands back the same
//! [`doc`] model. `http` speaks the reference protocol of `pos-api.md` (with
//! `ETag`s); `fixture` reads the same documents from a folder (the offline
//! demo); `square` and `gloriafood` map those vendors' menu APIs into it.
//! The content hash is taken over the documents as the provider gives them:
//! the reference documents as received, a vendor's menu as mapped.
//!
//! A fetch hands back [`Fetched`]: the reference documents stay unparsed bytes
//! with a digest, and a vendor's answer stays unmapped behind a digest of what
//! its mapping reads, until the pipeline needs them, so a pass whose inputs
//! match the last ones never parses or maps them at all.
//!
//! This file is the module's front: `provider.rs` holds the seam,
//! `fetched.rs` what a fetch hands back, `parse.rs` how a body is read as a
//! document; children name those siblings, never this file.

mod client;
pub mod doc;
mod fetched;
mod fixture;
mod gloriafood;
mod http;
mod keys;
mod parse;
mod provider;
mod resilience;
mod square;

pub use fetched::{Body, Documents, Fetched, Freshness};
pub use keys::{CREDENTIALS_SOURCE_DIR, preload_credentials, read_secret};
pub use parse::quote;
pub use provider::Provider;
