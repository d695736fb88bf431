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

/// Settings from the environment, `--help` against the README's flag table, secrets kept out of
/// every output.
mod settings;

/// Deadlines, limits, request bodies, faults: nothing a client does harms another.
mod robustness;

/// Early refusal: bytes that can never become a request (TLS, noise) get 400 at once.
mod refusal;

/// Good clients through a storm of hostile ones; throughput and descriptors afterwards.
mod storm;

/// Signals, graceful shutdown and the access log, on the real binary.
mod shutdown;

/// Validators, 304, 412 and Cache-Control.
mod conditional;

/// Content coding: negotiation, sidecars, gzip and brotli on the fly, the variant cache.
mod compression;

/// Range requests: 206 (single and multipart), 416, If-Range, files over 4 GiB.
mod range;

/// Resuming interrupted downloads with real clients: `curl -C -` and `wget -c`.
mod resume;

/// Pipelined requests answered in order, fragmented requests.
mod pipelining;

/// The library server: bind, stop, many connections, failing clients, timeouts.
mod server;

/// Path traversal and symlinks: nothing outside the root is ever served.
mod traversal;

/// What the server reports: the exit report and its close reasons, `--explain`.
mod operability;

/// Directory listings (HTML, JSON, sorting, names), chunked streaming, dotfile/symlink policy, 404.html.
mod listing;

/// The binary on a pseudo-terminal: the live stats line never shares a row with other output.
mod terminal;

/// Folders as tar and zip downloads: contents byte for byte, policies, framing, fairness.
mod archive;

/// For front-end work: --spa, -H, --cors, --auth.
mod frontend;

/// `--metrics` against a known request mix, through a strict reader of the Prometheus text
/// format; `--health` and its access-log rule; both 404 when off, metrics behind `--auth`.
mod metrics;

/// `--open` with a stand-in launcher (and without a display), `--qr` read back by a decoder.
mod share;

/// The strict Prometheus text-format reader the metrics tests use (and its own tests).
mod exposition;

/// Pages the front answers with: the not-found page (404.html, --page404) coded and validated
/// but always a 404, its fallback; the SPA index's own sidecar.
mod front_pages;

/// HTTPS: resumption, SNI, plain HTTP's 308, close_notify, certificates, SIGHUP, counts, curl.
mod tls;

/// Live reload: the event stream, the watcher, the injected script.
mod live;

/// Framing, keep-alive, pipelining, ranges, conditionals, compression, listings and archives,
/// the same tests again over TLS.
mod over_tls;
