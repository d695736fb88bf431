//! Reserved paths: everything under `/__mioserve/` belongs to the server, not to the root.
//!
//! The router sends a target here when the first segment of its decoded path is `__mioserve`,
//! before the file system is consulted, so a file or folder of that name in the root is never
//! served and can never shadow what the server answers there. Each reserved path names a
//! responder; one whose feature is off (or that names nothing) is a 404, with the site's not-found
//! page, like any missing path:
//!
//! | path | answers | feature |
//! |---|---|---|
//! | `favicon.ico` | the built-in icon (also at `/favicon.ico` when the root has none, see `front`) | always |
//! | `metrics` | every worker's counters in the Prometheus text format (see `crate::metrics`) | `--metrics` |
//! | `health` | 200 `ok`, for container probes; without credentials under `--auth` (see [`is_health`]) | `--health` |
//! | `live`, `live.js`, `live-worker.js` | live reload's event stream and scripts (see `live`) | `--live-reload` |
//!
//! Cost: one comparison of the first path segment per request; the metrics page, when asked for,
//! a snapshot of every worker's counters and the page rendered into one allocation.

use std::rc::Rc;
use std::time::SystemTime;

use super::live::{self, Feed};
use super::{Site, cache_control, favicon};
use crate::http::Status;
use crate::http::parse::RequestHead;
use crate::metrics;
use crate::response::body::{Body, MemoryBody};
use crate::response::content_type::ContentType;
use crate::response::plan::ResponsePlan;
use crate::response::reason::Reason;
use crate::stats::Registry;

/// The first segment of every reserved path.
const PREFIX: &[u8] = b"__mioserve";
/// The health probe's target, exactly as probes send it.
const HEALTH_TARGET: &str = "/__mioserve/health";

/// The part of `path` (decoded and normalised, no leading slash) below the reserved prefix, if
/// it lies under it: `__mioserve/a/b` → `a/b`, `__mioserve` → empty.
pub(super) fn below_prefix(path: &[u8]) -> Option<&[u8]> {
    let rest = path.strip_prefix(PREFIX)?;
    match rest {
        [] => Some(rest),
        [b'/', rest @ ..] => Some(rest),
        _ => None,
    }
}

/// The answer to `req` for `path`, a path under the reserved prefix; `None` when it names
/// nothing, or a feature that is off (the front answers 404). `feed` is live reload's, when it
/// is on; `now` the loop's wall clock, for preconditions.
pub(super) fn serve_reserved(
    req: &RequestHead<'_>,
    path: &[u8],
    site: &Site,
    feed: Option<&Rc<Feed>>,
    now: SystemTime,
) -> Option<ResponsePlan> {
    match below_prefix(path)? {
        b"favicon.ico" => Some(favicon::plan(req, now)),
        b"metrics" => site.metrics.as_deref().map(metrics_page),
        b"health" if site.health => Some(health()),
        rest => live::serve_reserved(rest, feed),
    }
}

/// Whether `target` is the health probe's, as a probe sends it (a query aside). Under `--auth`
/// the router lets it through without credentials: a container's probe carries none, and its
/// `ok` says nothing a 401 does not already say (that a server is there). Any other spelling of
/// the path (`/%5F_mioserve/health`) still needs them.
pub(super) fn is_health(target: &str) -> bool {
    target.split(['?', '#']).next() == Some(HEALTH_TARGET)
}

/// The metrics page: the sum of every registered worker's counters now.
fn metrics_page(registry: &Registry) -> ResponsePlan {
    let page = metrics::render(&registry.snapshot(), registry.workers()).into_bytes();
    let len = page.len() as u64;
    ResponsePlan {
        content_type: Some(ContentType {
            mime: metrics::CONTENT_TYPE,
            charset: true,
        }),
        content_length: Some(len),
        cache_control: Some(cache_control::no_store()),
        body: Body::Memory(MemoryBody::new(Rc::new(page), 0, len)),
        reason: Some(Reason::Metrics),
        ..ResponsePlan::empty(Status::OK)
    }
}

/// The health probe's answer.
fn health() -> ResponsePlan {
    const OK: &[u8] = b"ok\n";
    ResponsePlan {
        content_type: Some(ContentType {
            mime: "text/plain",
            charset: true,
        }),
        content_length: Some(OK.len() as u64),
        cache_control: Some(cache_control::no_store()),
        body: Body::Static(OK),
        reason: Some(Reason::Health),
        ..ResponsePlan::empty(Status::OK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_a_whole_segment() {
        // (decoded path, below the prefix)
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            (b"__mioserve", Some(b"")),
            (b"__mioserve/", Some(b"")),
            (b"__mioserve/favicon.ico", Some(b"favicon.ico")),
            (b"__mioserve/a/b", Some(b"a/b")),
            (b"__mioservex", None),
            (b"__mioserve.txt", None),
            (b"a/__mioserve/b", None),
            (b"", None),
            (b"index.html", None),
        ];
        for (path, want) in cases {
            assert_eq!(
                below_prefix(path),
                *want,
                "{}",
                String::from_utf8_lossy(path)
            );
        }
    }

    #[test]
    fn the_health_target() {
        for (target, want) in [
            ("/__mioserve/health", true),
            ("/__mioserve/health?probe=1", true),
            ("/__mioserve/health/", false),
            ("/%5F_mioserve/health", false),
            ("/__mioserve/metrics", false),
            ("/health", false),
        ] {
            assert_eq!(is_health(target), want, "{target}");
        }
    }
}
