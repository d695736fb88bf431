//! End-to-end tests: a real server on 127.0.0.1, real sockets, bounded waits. One binary, one
//! module per area.

mod util;

/// GET/HEAD of files, MIME types, file names, large files.
mod files;

/// Persistence: keep-alive, Connection: close, HTTP/1.0, HEAD, OPTIONS.
mod keepalive;

/// Directory listings (HTML, JSON, sorting, names), chunked streaming, dotfile/symlink policy, 404.html.
mod listing;
