//! The response plan: what the handler decided, as data the writer can carry out.
//!
//! A [`ResponsePlan`] owns everything it needs (an open file, a redirect target), so the request
//! bytes it was made from can be dropped before the response is written. Building one allocates
//! nothing but what it owns (a redirect's `Location`, a generated body's `Box`).

use std::rc::Rc;
use std::sync::Arc;

use super::body::{Body, MemoryBody};
use super::boundary::Boundary;
use super::coding::Coding;
use super::content_range::ContentRange;
use super::content_type::ContentType;
use super::cors::Preflight;
use super::etag::ETag;
use super::pages::{TLS_ON_PLAIN_PORT, error_page};
use super::reason::{Injection, Reason, Representation};
use crate::http::Status;
use crate::http::error::ParseError;

/// Fields that only an answer of one kind carries, and never two at once: one slot in the plan
/// rather than one per field keeps the plan, moved several times per request, small (boxed text,
/// so the slot is 24 bytes).
#[derive(Debug, Clone)]
pub(crate) enum RareField {
    /// `Location` of a redirect.
    Location(Box<str>),
    /// `WWW-Authenticate` with the Basic challenge (a 401 under `--auth`).
    Challenge,
    /// The fields answering a CORS preflight (a 204 under `--cors`).
    Preflight(Preflight),
    /// `Content-Disposition`: a folder sent as an archive is a download with a file name.
    Disposition(Box<str>),
    /// `Retry-After` in seconds (a 503 that will pass).
    RetryAfter(u32),
}

/// A response decided by the handler.
#[derive(Debug)]
pub struct ResponsePlan {
    pub(crate) status: Status,
    pub content_type: Option<ContentType>,
    /// The `boundary` parameter of a `multipart/byteranges` content type.
    pub(crate) boundary: Option<Boundary>,
    /// `Content-Length`; `None` for statuses that have none (204, 304).
    pub content_length: Option<u64>,
    /// `Last-Modified`, in seconds since the epoch: the form the handler decides it in and the
    /// head writes it from, so no conversion to a time and back is paid per response.
    pub last_modified: Option<u64>,
    /// `ETag`: the file's validator, on 200, 206 and 304.
    pub(crate) etag: Option<ETag>,
    /// `Cache-Control`, on 200, 206 and 304. Shared with the site's policy, so a response
    /// clones a reference count, never the text.
    pub(crate) cache_control: Option<Arc<str>>,
    /// Send `Accept-Ranges: bytes` (responses with a file's content).
    pub(crate) accept_ranges: bool,
    /// `Content-Range`, on 206 and 416.
    pub(crate) content_range: Option<ContentRange>,
    /// `Vary`: the request fields the content was chosen by (a listing picks HTML or JSON by
    /// `Accept`), so caches keep the variants apart (RFC 9110 §12.5.5).
    pub(crate) vary: Option<&'static str>,
    /// `Content-Encoding` of the representation sent; `None` for identity.
    pub(crate) content_encoding: Option<Coding>,
    /// Which representation of a file (or listing) was chosen and why, for `--explain`.
    pub(crate) representation: Option<Representation>,
    /// Send `Allow: GET, HEAD, OPTIONS` (405 and OPTIONS answers).
    pub(crate) allow: bool,
    /// The one field of an answer that only a few answers carry.
    pub(crate) rare: Option<RareField>,
    /// The connection must close after this response, whatever the client asked.
    pub(crate) close: bool,
    pub(crate) body: Body,
    /// The rule that produced this response (set by the handler; `None` only for plans made
    /// outside it, such as the connection's own error answers).
    pub(crate) reason: Option<Reason>,
    /// Whether live reload's script went into this HTML response (`None`: live reload is off, or
    /// the response is no page), for `--explain`.
    pub(crate) live: Option<Injection>,
}

impl ResponsePlan {
    /// A response with `status` and no content.
    pub fn empty(status: Status) -> ResponsePlan {
        ResponsePlan {
            status,
            content_type: None,
            boundary: None,
            content_length: if status.forbids_body() { None } else { Some(0) },
            last_modified: None,
            etag: None,
            cache_control: None,
            accept_ranges: false,
            content_range: None,
            vary: None,
            content_encoding: None,
            representation: None,
            allow: false,
            rare: None,
            close: false,
            body: Body::Empty,
            reason: None,
            live: None,
        }
    }

    /// A built-in error page for `status`.
    pub fn error(status: Status) -> ResponsePlan {
        let page = error_page(status);
        ResponsePlan {
            content_type: Some(ContentType::HTML),
            content_length: Some(page.len() as u64),
            body: Body::Static(page),
            ..ResponsePlan::empty(status)
        }
    }

    /// The content length as the access log shows it: `None` when no content is sent.
    pub(crate) fn body_bytes(&self) -> Option<u64> {
        match self.body {
            Body::Empty => None,
            _ => self.content_length,
        }
    }

    /// The answer to a request head refused with `error`: the error page of its status, or for
    /// a TLS handshake, a 400 page saying this is a plain-HTTP server and to use `http://`.
    pub fn refused(error: ParseError) -> ResponsePlan {
        match error {
            ParseError::TlsHandshake => ResponsePlan {
                content_type: Some(ContentType::HTML),
                content_length: Some(TLS_ON_PLAIN_PORT.len() as u64),
                body: Body::Static(TLS_ON_PLAIN_PORT),
                ..ResponsePlan::empty(error.status())
            },
            _ => ResponsePlan::error(error.status()),
        }
    }

    /// The answer to a request sent in plain HTTP to the HTTPS port: a 308 to the same target on
    /// `https://` at `authority` (the request's `Host`, which reached this port, so it names the
    /// right one), with a plain-text body a person can read, and a close: the client is to come
    /// back in TLS. Allocates its `Location` and body, as a rare answer may.
    pub(crate) fn to_https(authority: &str, target: &str) -> ResponsePlan {
        // An absolute-form target carries its own authority: only its path is kept; `*` (OPTIONS)
        // has none.
        let path = match target.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None if target.starts_with('/') => target,
            None => "/",
        };
        let location = format!("https://{authority}{path}");
        let text =
            format!("This port speaks HTTPS, not plain HTTP.\nUse {location}\n").into_bytes();
        let len = text.len() as u64;
        ResponsePlan {
            content_type: Some(ContentType::TEXT),
            content_length: Some(len),
            body: Body::Memory(MemoryBody::new(Rc::new(text), 0, len)),
            rare: Some(RareField::Location(location.into_boxed_str())),
            close: true,
            ..ResponsePlan::empty(Status::PERMANENT_REDIRECT)
        }
        .because(Reason::PlainHttpOnHttps)
    }

    /// Whether the body has no length known up front and must be framed by chunked encoding or
    /// by closing the connection.
    pub(crate) fn is_unframed(&self) -> bool {
        self.content_length.is_none() && !self.status.forbids_body()
    }

    /// The same plan, recording `reason` as the rule that produced it.
    pub(crate) fn because(mut self, reason: Reason) -> ResponsePlan {
        self.reason = Some(reason);
        self
    }

    /// Records what live reload did with this page (see the field).
    pub(crate) fn injected(mut self, injection: Injection) -> ResponsePlan {
        self.live = Some(injection);
        self
    }

    /// Drops the content but keeps every header, `Content-Length` included, as HEAD requires
    /// (RFC 9110 §9.3.2).
    pub(crate) fn without_body(mut self) -> ResponsePlan {
        self.body = Body::Empty;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::pages::error_page;

    #[test]
    fn plain_http_on_the_https_port_is_sent_to_https() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "127.0.0.1:8443",
                "/a/b?c=d",
                "https://127.0.0.1:8443/a/b?c=d",
            ),
            ("[::1]:8443", "http://[::1]:8443/x", "https://[::1]:8443/x"),
            (
                "example.test",
                "http://example.test",
                "https://example.test/",
            ),
            ("example.test", "*", "https://example.test/"),
        ];
        for (authority, target, want) in cases {
            let plan = ResponsePlan::to_https(authority, target);
            assert_eq!(plan.status, Status::PERMANENT_REDIRECT);
            let Some(RareField::Location(location)) = &plan.rare else {
                panic!("no Location for {target}");
            };
            assert_eq!(&**location, *want);
            let Body::Memory(body) = &plan.body else {
                panic!("no text body");
            };
            let text = String::from_utf8_lossy(body.rest()).into_owned();
            assert!(text.contains(want) && text.contains("HTTPS"), "{text}");
            assert_eq!(plan.content_length, Some(body.rest().len() as u64));
        }
    }

    #[test]
    fn without_body_keeps_length() {
        let plan = ResponsePlan::error(Status::NOT_FOUND).without_body();
        assert!(matches!(plan.body, Body::Empty));
        assert_eq!(
            plan.content_length,
            Some(error_page(Status::NOT_FOUND).len() as u64)
        );
    }
}
