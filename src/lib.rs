//! mioserve: a small, fast, correct HTTP/1.1 static-file server on one `mio` event loop.
//!
//! # Data flow
//!
//! Each arrow is a narrow interface; each step lives in its own module.
//!
//! ```text
//! socket bytes --Conn::fill--> read buffer (conn)
//!   --http::parse::parse_head--> RequestHead borrowing the buffer
//!   --handler::handle--> ResponsePlan owning what it needs (an open file)
//!   --response::framing::decide--> keep-alive or close; Content-Length, chunked or by closing
//!   --response::head::encode--> head bytes in the write buffer
//!   --BodyWriter::start / BodyWriter::send (send | sendfile | pread, chunk framing)--> socket
//!   --done--> back to reading, parsing any pipelined bytes already buffered at once
//! ```
//!
//! Layers, each using only those below it: [`http`] (the protocol's vocabulary and parsing) →
//! [`response`] (the plan, every value it carries, and the body writer) → [`handler`] (decisions
//! and generated bodies) → [`conn`] (phases and buffers) → [`server`] (tokens, readiness and
//! deadlines) → the binary. Beside them, at the bottom: the transport, the buffer pool, the
//! timers, the counters, the access log, and the platform seam ([`sys`]), the only place that
//! names an operating system. The handler never sees a socket; the loop knows nothing
//! of HTTP. No module uses one above it, and no two modules use each other.

//!
//! # Cost
//!
//! A kept-alive GET of a small file costs a share of one `epoll_wait`, one `recvfrom`, a share
//! of one `newfstatat` (the open-file cache revalidating the file once per wake-up; the cache
//! holds the file's content, so there is no `pread64`) and one `sendto`, and no heap allocation
//! (`tests/alloc.rs` proves it, pipelined too). Each module's documentation states its part.

#![forbid(unsafe_code)]

pub mod access_log;
pub mod config;
pub mod conn;
pub(crate) mod error;
pub(crate) mod exchange;
pub(crate) mod explain;
pub mod handler;
pub mod http;
pub(crate) mod metrics;
pub mod pool;
pub mod response;
pub mod server;
pub mod share;
pub mod stats;
pub mod sys;
pub mod terminal;
pub(crate) mod timer;
pub mod tls;
pub mod transport;
pub mod watch;

pub use config::{Cli, Config};
pub use error::StartupError;
pub use server::{Running, Server};
