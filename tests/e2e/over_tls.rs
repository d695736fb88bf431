//! The framing, keep-alive, pipelining, range, conditional, compression, listing, archive and
//! storm tests again, over TLS: the same files, compiled a second time against a `util` whose servers
//! speak HTTPS (with the test certificate) and whose clients connect with TLS (rustls), so every
//! request, response and close they check crosses a TLS session.

// Each file is compiled twice on purpose: once in the crate root, once here.
#![allow(clippy::duplicate_mod)]

/// The plain helpers, but servers that speak HTTPS.
mod util {
    pub use crate::util::https::{ChildServer, OVER_TLS, TestServer};
    pub use crate::util::*;
}

#[path = "archive.rs"]
mod archive;
#[path = "compression.rs"]
mod compression;
#[path = "conditional.rs"]
mod conditional;
#[path = "framing.rs"]
mod framing;
#[path = "keepalive.rs"]
mod keepalive;
#[path = "listing.rs"]
mod listing;
#[path = "pipelining.rs"]
mod pipelining;
#[path = "range.rs"]
mod range;
#[path = "storm.rs"]
mod storm;
