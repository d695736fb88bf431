//! The front responder: what answers when the target names no file to serve. A missing path may
//! be the built-in favicon (`/favicon.ico` when the root has none), a single-page app's
//! client-side route (`--spa`: the root's `index.html`), or a 404 with the root's `404.html`;
//! every other refusal of a target gets its error page here too.
//!
//! Cost: nothing until a target fails to resolve; then one more `openat2` and `fstat` for the
//! SPA index or the custom 404 page (opened afresh each time, so an edit shows at once).

use std::fs::{File, Metadata};
use std::rc::Rc;
use std::sync::Arc;

use super::open_files::CachedFile;
use super::resolve::{self, Decoded, ResolveError};
use super::{Site, WorkerState, cache_control, favicon, file, mime};
use crate::http::Status;
use crate::http::parse::RequestHead;
use crate::response::body::{Body, FileBody};
use crate::response::content_type::ContentType;
use crate::response::etag::ETag;
use crate::response::plan::ResponsePlan;
use crate::response::reason::Reason;

/// The file in the root whose content, when it exists, is the body of every 404 response.
const NOT_FOUND_PAGE: &[u8] = b"404.html";
/// The SPA fallback's page.
const SPA_INDEX: &[u8] = b"index.html";

/// Why the router has nothing to serve for a target.
#[derive(Debug)]
pub(super) enum Miss<'t> {
    /// Nothing at the path the target was decoded to (in the worker's path buffer).
    NotFound(Decoded<'t>),
    /// A path under the reserved prefix that names nothing, or a feature that is off.
    Reserved,
    /// The target cannot be served: a bad target, a hidden or forbidden name, and so on.
    Refused(ResolveError),
}

/// The answer when the router found nothing to serve.
pub(super) fn serve_front(
    req: &RequestHead<'_>,
    site: &Site,
    miss: Miss<'_>,
    state: &mut WorkerState,
) -> ResponsePlan {
    match miss {
        Miss::NotFound(_) if state.path == favicon::PATH => favicon::plan(),
        Miss::NotFound(decoded)
            if site.spa.is_some() && is_client_route(decoded.named(&state.path)) =>
        {
            spa_index(req, site, state)
        }
        Miss::NotFound(_) => error_page(site, ResolveError::NotFound),
        Miss::Reserved => not_found(site).because(Reason::Reserved),
        Miss::Refused(e) => error_page(site, e),
    }
}

/// The error page for a target that cannot be served.
fn error_page(site: &Site, e: ResolveError) -> ResponsePlan {
    let (status, reason) = match e {
        // A hidden name answers exactly as a missing one, so its existence does not show.
        ResolveError::NotFound | ResolveError::Hidden => {
            let plan = not_found(site);
            return match e {
                ResolveError::Hidden => plan.because(Reason::Hidden),
                _ => plan,
            };
        }
        ResolveError::BadRequest => (Status::BAD_REQUEST, Reason::BadTarget),
        ResolveError::LeavesRoot => (Status::BAD_REQUEST, Reason::LeavesRoot),
        ResolveError::Forbidden => (Status::FORBIDDEN, Reason::Forbidden),
        ResolveError::TooLong => (Status::URI_TOO_LONG, Reason::TooLong),
        ResolveError::Unavailable => (Status::SERVICE_UNAVAILABLE, Reason::Unavailable),
    };
    ResponsePlan::error(status).because(reason)
}

/// 404 with the root's `404.html` as its body if there is one, else the built-in page.
fn not_found(site: &Site) -> ResponsePlan {
    match open_page(site, NOT_FOUND_PAGE) {
        Some((file, meta)) => ResponsePlan {
            content_type: Some(ContentType::HTML),
            content_length: Some(meta.len()),
            body: Body::File(FileBody {
                file: Rc::new(file),
                offset: 0,
                remaining: meta.len(),
            }),
            reason: Some(Reason::NotFound { custom_page: true }),
            ..ResponsePlan::empty(Status::NOT_FOUND)
        },
        None => {
            ResponsePlan::error(Status::NOT_FOUND).because(Reason::NotFound { custom_page: false })
        }
    }
}

/// `--spa`: the root's `index.html` for a client-side route, revalidated on every load
/// (`no-cache`, whatever `--cache-control` says: a new build must show at once). A root without
/// one keeps the 404. The index is not taken from the open-file cache, where it would carry the
/// site's Cache-Control.
fn spa_index(req: &RequestHead<'_>, site: &Site, state: &mut WorkerState) -> ResponsePlan {
    let Some((file, meta)) = open_page(site, SPA_INDEX) else {
        return error_page(site, ResolveError::NotFound);
    };
    let cached = CachedFile {
        file: Rc::new(file),
        etag: ETag::of(&meta),
        content_type: mime::content_type(SPA_INDEX),
        cache_control: site
            .spa
            .clone()
            .unwrap_or_else(|| Arc::from(cache_control::NO_CACHE)),
        meta,
        content: None,
    };
    let plan = file::serve_file(req, site, &cached, false, state);
    match plan.reason {
        Some(Reason::File(_)) => plan.because(Reason::SpaFallback),
        _ => plan,
    }
}

/// The regular file `name` at the root, opened afresh (so an edit shows at once), with its
/// metadata; `None` if there is none or it cannot be read.
fn open_page(site: &Site, name: &[u8]) -> Option<(File, Metadata)> {
    let file = resolve::open_beneath(&site.root, name).ok()?;
    let meta = file.metadata().ok().filter(Metadata::is_file)?;
    Some((file, meta))
}

/// Whether a path that resolved to nothing may be a client-side route: its last segment has no
/// file extension (`/app/settings`, `/users/42/`), unlike a missing asset (`/assets/x.js`), which
/// keeps its 404 so a broken build shows as one. `path` is the decoded path below the root.
pub(crate) fn is_client_route(path: &[u8]) -> bool {
    let last = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    !last.contains(&b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_routes() {
        // (decoded path, is a client route)
        let cases: &[(&[u8], bool)] = &[
            (b"app/settings", true),
            (b"users/42", true),
            (b"app/", true),
            (b"settings", true),
            (b"assets/x.js", false),
            (b"favicon.ico", false),
            (b"v1.2/page", true),
            (b"a/b.c/d.e", false),
        ];
        for (path, want) in cases {
            assert_eq!(
                is_client_route(path),
                *want,
                "{}",
                String::from_utf8_lossy(path)
            );
        }
    }
}
