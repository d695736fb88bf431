//! Reserved paths: everything under `/__mioserve/` belongs to the server, not to the root.
//!
//! The router sends a target here when the first segment of its decoded path is `__mioserve`,
//! before the file system is consulted, so a file or folder of that name in the root is never
//! served and can never shadow what the server answers there. Each reserved path names a
//! responder; one whose feature is off (or that names nothing) is a 404, with the site's not-found
//! page, like any missing path. The prefix holds the built-in favicon, which browsers also get at
//! `/favicon.ico` when the root has none (see `front`), and live reload's event stream and
//! scripts (see `live`).
//!
//! Cost: one comparison of the first path segment per request.

use std::rc::Rc;

use super::favicon;
use super::live::{self, Feed};
use crate::response::plan::ResponsePlan;

/// The first segment of every reserved path.
const PREFIX: &[u8] = b"__mioserve";

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

/// The answer for `path`, a path under the reserved prefix; `None` when it names nothing, or a
/// feature that is off (the front answers 404). `feed` is live reload's, when it is on.
pub(super) fn serve_reserved(path: &[u8], feed: Option<&Rc<Feed>>) -> Option<ResponsePlan> {
    match below_prefix(path)? {
        b"favicon.ico" => Some(favicon::plan()),
        rest => live::serve_reserved(rest, feed),
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
}
