//! End-to-end tests: a real server on 127.0.0.1, real sockets, bounded waits. One binary, one
//! module per area.

mod util;

/// The binary: command line, the startup line, startup errors.
mod cli;

/// Every 4xx/5xx status: its page, its persistence, HEAD of it, 403/404/405/414/431/501.
mod errors;

/// GET/HEAD of files, MIME types, file names, redirects, indexes, large files.
mod files;

/// Request rules: malformed heads, versions, request bodies, absolute-form targets.
mod framing;

/// Persistence: keep-alive, Connection: close, HTTP/1.0, HEAD, OPTIONS.
mod keepalive;

/// Pipelined requests answered in order, fragmented requests.
mod pipelining;

/// The library server: bind, stop, many connections, failing clients, timeouts.
mod server;

/// Path traversal and symlinks: nothing outside the root is ever served.
mod traversal;
