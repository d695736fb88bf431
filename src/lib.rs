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
//!   --response::head::encode--> head bytes in the write buffer (+ a small file's bytes)
//!   --response::writer (send | sendfile | pread)--> socket
//!   --done--> back to reading, parsing any pipelined bytes already buffered at once
//! ```
//!
//! The event loop ([`server`]) knows tokens, readiness and deadlines; the connection ([`conn`])
//! knows phases and buffers; the handler ([`handler`]) knows files and HTTP semantics but never a
//! socket; the response writer ([`response`]) turns a plan into bytes and syscalls.

#![forbid(unsafe_code)]

pub mod access_log;
pub mod config;
pub mod conn;
pub(crate) mod error;
pub(crate) mod explain;
pub mod handler;
pub mod http;
pub mod pool;
pub mod response;
pub mod server;
pub mod stats;
pub mod sys;
pub(crate) mod timer;
pub mod transport;

pub use config::{Cli, Config};
pub use error::StartupError;
pub use server::{Running, Server};
