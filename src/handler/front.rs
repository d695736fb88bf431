//! The front responder: what answers when the target names no file to serve. A missing path may
//! be the built-in favicon (`/favicon.ico` when the root has none), a single-page app's
//! client-side route (`--spa`: the root's `index.html`), or a 404 with the not-found page (the
//! root's `404.html`, or `--page404 FILE`); every other refusal of a target gets its error page
//! here too.
//!
//! The not-found page is served as a file is, compressed and with its validators, but its
//! status stays 404 whatever the request's conditionals say (see [`file::serve_page`]); a page
//! that is missing or cannot be read leaves the built-in one.
//!
//! Cost: nothing until a target fails to resolve; then one more `openat2` (an `open` for
//! `--page404`) and `fstat` for the SPA index or the not-found page (opened afresh each time, so
//! an edit shows at once), and for the page what a file's representation costs.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::OFlags;

use super::open_files::CachedFile;
use super::resolve::{self, Decoded, ResolveError};
use super::{Site, WorkerState, cache_control, favicon, file};
use crate::http::Status;
use crate::http::parse::RequestHead;
use crate::response::plan::ResponsePlan;
use crate::response::reason::Reason;

/// The file in the root whose content, when it exists, is the body of every 404 response (unless
/// `--page404` names another).
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
        Miss::NotFound(_) if state.path == favicon::PATH => favicon::plan(req, state.wall),
        Miss::NotFound(decoded) if site.spa && is_client_route(decoded.named(&state.path)) => {
            spa_index(req, site, state)
        }
        Miss::NotFound(_) => error_page(req, site, ResolveError::NotFound, state),
        Miss::Reserved => not_found(req, site, state).because(Reason::Reserved),
        Miss::Refused(e) => error_page(req, site, e, state),
    }
}

/// The error page for a target that cannot be served.
fn error_page(
    req: &RequestHead<'_>,
    site: &Site,
    e: ResolveError,
    state: &mut WorkerState,
) -> ResponsePlan {
    let (status, reason) = match e {
        // A hidden name answers exactly as a missing one, so its existence does not show.
        ResolveError::NotFound | ResolveError::Hidden => {
            let plan = not_found(req, site, state);
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

/// 404 with the not-found page as its body (the root's `404.html`, or `--page404`'s file), else
/// the built-in page.
fn not_found(req: &RequestHead<'_>, site: &Site, state: &mut WorkerState) -> ResponsePlan {
    let builtin =
        || ResponsePlan::error(Status::NOT_FOUND).because(Reason::NotFound { custom_page: false });
    let (opened, in_root) = match &site.page404 {
        Some(path) => (open_file(path).ok(), false),
        None => (open_page(site, NOT_FOUND_PAGE), true),
    };
    let Some((file, meta)) = opened else {
        return builtin();
    };
    let name = match &site.page404 {
        Some(path) => path.file_name().map_or(&[][..], |n| n.as_encoded_bytes()),
        None => NOT_FOUND_PAGE,
    };
    let page = CachedFile::new(file, meta, name, cache_control::no_cache());
    // Sidecars are looked for beside the page's path in the root: the path buffer names it now.
    if in_root {
        state.path.clear();
        state.path.extend_from_slice(NOT_FOUND_PAGE);
    }
    file::serve_page(req, site, &page, Status::NOT_FOUND, in_root, state)
        .because(Reason::NotFound { custom_page: true })
}

/// `--spa`: the root's `index.html` for a client-side route, revalidated on every load
/// (`no-cache`, whatever `--cache-control` says: a new build must show at once). A root without
/// one keeps the 404. The index is not taken from the open-file cache, where it would carry the
/// site's Cache-Control.
fn spa_index(req: &RequestHead<'_>, site: &Site, state: &mut WorkerState) -> ResponsePlan {
    let Some((file, meta)) = open_page(site, SPA_INDEX) else {
        return error_page(req, site, ResolveError::NotFound, state);
    };
    let cached = CachedFile::new(file, meta, SPA_INDEX, cache_control::no_cache());
    // Sidecars are those of `index.html`, not of the route's path (`app/settings.gz`).
    state.path.clear();
    state.path.extend_from_slice(SPA_INDEX);
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

/// The regular file at `path` (anywhere: the operator named it), opened afresh and, as every file
/// a request opens, without blocking: a FIFO there is refused rather than stalling the loop.
pub(crate) fn open_file(path: &Path) -> io::Result<(File, Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok((file, meta))
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
