//! The response: the plan the handler fills in, every value type it carries, and the code that
//! turns a plan into bytes and syscalls.
//!
//! Layering: this module knows HTTP's vocabulary ([`crate::http`]), transports
//! ([`crate::transport`]) and the buffer pool ([`crate::pool`]), never the handler, the connection
//! or the loop. The handler builds a
//! [`plan::ResponsePlan`] out of these types; the connection has [`head::encode`] write its head
//! and `writer` send its body.
//!
//! | file | owns |
//! |---|---|
//! | `plan.rs` | [`plan::ResponsePlan`]: status, header values, body, why |
//! | `body.rs` | `body::Body` and `body::BodySource`, the contract of a generated body |
//! | `content_type.rs`, `etag.rs`, `content_range.rs`, `boundary.rs` | the header values |
//! | `extra_headers.rs`, `cors.rs` | fields the operator adds to every response; the CORS preflight answer |
//! | `reason.rs` | `reason::Reason`: the rule behind an answer, for `--explain` |
//! | `pages.rs` | built-in error pages and the style sheet listings share |
//! | `framing.rs` | keep-alive or close; Content-Length, chunked or close-delimited |
//! | `head.rs` | encoding a head into the write buffer |
//! | `writer.rs` | a body in flight: its framing, its pacing, its syscalls |
//!
//! Cost: each file says; a plan and its head cost no allocation beyond what the plan owns.

pub(crate) mod body;
pub(crate) mod boundary;
pub mod coding;
pub mod compress;
pub mod content_range;
pub mod content_type;
pub(crate) mod cors;
pub mod etag;
pub(crate) mod extra_headers;
pub mod framing;
pub mod head;
pub mod pages;
pub mod plan;
pub mod reason;
pub(crate) mod writer;
