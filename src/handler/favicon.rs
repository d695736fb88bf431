//! The built-in `/favicon.ico`, for a root that has none.
//!
//! Browsers ask for `/favicon.ico` on every page that names no icon: a 404 page, a text file, a
//! site without one. Answering 404 there costs every such page a second failed request (and a
//! console error); the built-in icon (the project's logo, a 32x32 PNG of 1.4 KiB, which browsers
//! take at that path whatever its name says) is cached for a day instead, and then revalidated:
//! it carries an `ETag` made from its content, so a browser's `If-None-Match` gets a 304 (the
//! preconditions are evaluated as for a file, RFC 9110 §13.2.2). A `favicon.ico` in the root is
//! served as any file, ahead of this.

use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

use super::conditional::{self, Precondition, Validators};
use crate::http::Status;
use crate::http::parse::RequestHead;
use crate::response::body::Body;
use crate::response::content_type::ContentType;
use crate::response::etag::ETag;
use crate::response::plan::ResponsePlan;
use crate::response::reason::Reason;

/// The icon's bytes.
const ICON: &[u8] = include_bytes!("favicon.png");
/// FNV-1a of the icon, computed at build time: the `ETag` changes with the bytes.
const ICON_HASH: u64 = fnv1a(ICON);
/// The path (normalised: no leading slash) the built-in icon answers.
pub const PATH: &[u8] = b"favicon.ico";
/// A day: the icon never changes within a release, and no revalidation request per page.
static CACHE_CONTROL: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("public, max-age=86400"));

/// The built-in icon's response to `req` at `now`: 200 with the icon, or 304 (or 412) as its
/// preconditions decide. A `Range` is ignored (the icon is small; RFC 9110 §14.2 lets a server
/// send the whole), as the answer carries no `Accept-Ranges`.
pub fn plan(req: &RequestHead<'_>, now: SystemTime) -> ResponsePlan {
    let etag = ETag::of_content(ICON_HASH, ICON.len() as u64);
    let validators = Validators {
        etag,
        last_modified: None,
    };
    // The validators and the cache policy go on 200 and 304 alike (RFC 9110 §15.4.5).
    let validated = |status| ResponsePlan {
        etag: Some(etag),
        cache_control: Some(Arc::clone(&CACHE_CONTROL)),
        ..ResponsePlan::empty(status)
    };
    match conditional::evaluate(req.method, &req.fields, &validators, now) {
        Precondition::NotModified(field) => {
            validated(Status::NOT_MODIFIED).because(Reason::NotModified(field))
        }
        Precondition::Failed(field) => ResponsePlan::error(Status::PRECONDITION_FAILED)
            .because(Reason::PreconditionFailed(field)),
        Precondition::Serve { .. } => ResponsePlan {
            content_type: Some(ContentType {
                mime: "image/png",
                charset: false,
            }),
            content_length: Some(ICON.len() as u64),
            body: Body::Static(ICON),
            reason: Some(Reason::Favicon),
            ..validated(Status::OK)
        },
    }
}

/// FNV-1a, 64 bits: a hash to tell versions of the icon apart, not a defence against anyone.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse::{Limits, find_head_end, parse_head};

    /// The icon's plan for a GET with `fields` (lines of the head, each ending in CRLF).
    fn get(fields: &str) -> ResponsePlan {
        let mut head = format!("GET /favicon.ico HTTP/1.1\r\nHost: t\r\n{fields}\r\n").into_bytes();
        let end = find_head_end(&head, 0).unwrap();
        let req = parse_head(&mut head[..end], &Limits::default()).unwrap();
        plan(&req, SystemTime::now())
    }

    #[test]
    fn the_icon_is_a_png() {
        assert!(ICON.starts_with(b"\x89PNG\r\n\x1a\n"));
        let plan = get("");
        assert_eq!(plan.status, Status::OK);
        assert_eq!(plan.content_length, Some(ICON.len() as u64));
        assert_eq!(
            plan.reason.and_then(Reason::phrase),
            Some("built-in favicon")
        );
    }

    #[test]
    fn the_icon_has_validators_and_answers_preconditions() {
        let full = get("");
        let etag = full.etag.expect("an ETag");
        assert_eq!(full.cache_control.as_deref(), Some("public, max-age=86400"));
        let tag = std::str::from_utf8(etag.as_bytes()).unwrap();
        // A browser revalidating: 304 with the same validators and cache policy, no content.
        let revalidated = get(&format!("If-None-Match: {tag}\r\n"));
        assert_eq!(revalidated.status, Status::NOT_MODIFIED);
        assert_eq!(revalidated.etag, Some(etag));
        assert_eq!(revalidated.cache_control, full.cache_control);
        assert!(matches!(revalidated.body, Body::Empty));
        // Another tag: the icon; an If-Match that fails: 412.
        assert_eq!(get("If-None-Match: \"other\"\r\n").status, Status::OK);
        assert_eq!(
            get("If-Match: \"other\"\r\n").status,
            Status::PRECONDITION_FAILED
        );
    }

    #[test]
    fn fnv1a_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
