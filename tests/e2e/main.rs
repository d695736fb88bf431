//! End-to-end tests: a real server on 127.0.0.1, real sockets, bounded waits. One binary, one
//! module per area.

mod util;

/// GET/HEAD of files, MIME types, file names, large files.
mod files;

/// Persistence: keep-alive, Connection: close, HTTP/1.0, HEAD, OPTIONS.
mod keepalive;

/// Deadlines, limits, request bodies, faults: nothing a client does harms another.
mod robustness;

/// Signals, graceful shutdown and the access log, on the real binary.
mod shutdown;

/// Validators, 304, 412 and Cache-Control.
mod conditional;

/// Range requests: 206 (single and multipart), 416, If-Range, files over 4 GiB.
mod range;

/// Resuming interrupted downloads with real clients: `curl -C -` and `wget -c`.
mod resume;
