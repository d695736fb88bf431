//! Why the handler gave the answer it gave: one small `Copy` value in every plan, so `--explain`,
//! the logs and tests all read the decision the handler made instead of re-deriving it.
//!
//! Cost: a small `Copy` value per plan; a phrase is a static string; no allocation.

use super::coding::Coding;
use super::content_type::Source;
use crate::http::auth::Denied;

/// A conditional request field that decided a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// The variants are the fields' names, `If-` and all.
#[allow(clippy::enum_variant_names)]
pub enum Condition {
    IfMatch,
    IfUnmodifiedSince,
    IfNoneMatch,
    IfModifiedSince,
}

impl Condition {
    /// The field's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Condition::IfMatch => "If-Match",
            Condition::IfUnmodifiedSince => "If-Unmodified-Since",
            Condition::IfNoneMatch => "If-None-Match",
            Condition::IfModifiedSince => "If-Modified-Since",
        }
    }
}

/// Why a representation has the coding it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodingWhy {
    /// A precompressed file beside the requested one (`app.js.br`).
    Sidecar,
    /// Compressed as it is sent.
    OnTheFly,
    /// Sent from the compressed-variant cache.
    CachedVariant,
    /// Identity: the type is not worth compressing.
    NotCompressible,
    /// Identity: the client accepts no coding this server has for the file.
    NotAccepted,
    /// Identity: the file is too small to be worth it.
    TooSmall,
    /// Identity: a range was asked for and no complete coded representation is at hand (a range
    /// of a stream of unknown length cannot be sent).
    Range,
    /// Identity: HTTP/1.0 has no chunked encoding, and a close-delimited body would cost the
    /// connection; sidecars and cached variants, which have a length, are still sent.
    Http10,
}

/// The representation chosen for a compressible resource (or a listing), for `--explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Representation {
    pub coding: Coding,
    pub why: CodingWhy,
}

impl Representation {
    /// The phrase for `--explain`: `br: sidecar`, `gzip: on the fly`, `identity: image/png`.
    /// `mime` names the type when that is the reason.
    pub fn phrase(self, mime: &str) -> String {
        let why = match self.why {
            CodingWhy::Sidecar => "sidecar",
            CodingWhy::OnTheFly => "on the fly",
            CodingWhy::CachedVariant => "cached variant",
            CodingWhy::NotCompressible => mime,
            CodingWhy::NotAccepted => "not accepted",
            CodingWhy::TooSmall => "too small to compress",
            CodingWhy::Range => "range requested, no coded copy with a length",
            CodingWhy::Http10 => "HTTP/1.0, not streamed",
        };
        format!("{}: {why}", self.coding.token())
    }
}

/// The rule that produced a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// A file, whole; its type came from this source.
    File(Source),
    /// A directory's `index.html`.
    Index,
    /// One range of a file (206). `if_range` is whether an `If-Range` field held.
    Range { if_range: bool },
    /// Several ranges as `multipart/byteranges` (206).
    Multipart { parts: usize },
    /// A `Range` whose `If-Range` did not hold: the whole file (200).
    IfRangeFailed,
    /// A range outside the file (416).
    Unsatisfiable,
    /// A conditional field said the client's copy is current (304).
    NotModified(Condition),
    /// A precondition failed (412).
    PreconditionFailed(Condition),
    /// A generated directory listing.
    Listing,
    /// `/favicon.ico` when the root has none, or under the reserved prefix: the built-in icon.
    Favicon,
    /// A path under the reserved prefix that names nothing, or a feature that is off (404).
    Reserved,
    /// `--metrics`: the metrics page.
    Metrics,
    /// `--health`: the health probe's answer.
    Health,
    /// A directory without `index.html` while listings are off (403).
    NoListing,
    /// A directory named without its trailing slash (301).
    AddSlash,
    /// A name starting with `.` while hidden files are off (404).
    Hidden,
    /// Nothing at this path (404); `custom_page` when the not-found page (the root's `404.html`
    /// or `--page404`'s file) is the body.
    NotFound { custom_page: bool },
    /// `..` would climb above the root (400).
    LeavesRoot,
    /// A target that is not a path, or holds a NUL byte (400).
    BadTarget,
    /// Not readable, or not a regular file or directory (403).
    Forbidden,
    /// A path longer than the file system accepts (414).
    TooLong,
    /// Out of file descriptors (503).
    Unavailable,
    /// `OPTIONS` (204).
    Options,
    /// A method this server knows but does not allow (405).
    MethodNotAllowed,
    /// A method this server does not know (501).
    UnknownMethod,
    /// `--auth` refused the request (401).
    Unauthorized(Denied),
    /// A CORS preflight under `--cors` (204).
    Preflight,
    /// `--spa`: nothing at an extension-less path, so the root's `index.html` (200).
    SpaFallback,
    /// A folder as a download; `zip`, else tar.
    Archive { zip: bool },
    /// Plain HTTP sent to the HTTPS port: a redirect to `https://` (308).
    PlainHttpOnHttps,
    /// Live reload's event stream or client script.
    LiveReload,
    /// Live reload's event stream refused: the worker has as many subscribers as it takes (503).
    TooManySubscribers,
}

/// Whether live reload's script went into an HTML response, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injection {
    /// It did.
    Injected,
    /// A fetch or XHR (the request has `Origin`): the page is data to it, not a page.
    Origin,
    /// The page is larger than what is read whole to inject.
    TooLarge,
    /// The page could not be read.
    Unreadable,
}

impl Injection {
    /// The phrase for `--explain`.
    pub fn phrase(self) -> &'static str {
        match self {
            Injection::Injected => "live reload script injected",
            Injection::Origin => "live reload script not injected: fetch/XHR (Origin)",
            Injection::TooLarge => "live reload script not injected: page over 4 MiB",
            Injection::Unreadable => "live reload script not injected: unreadable",
        }
    }
}

impl Reason {
    /// A short phrase for `--explain`, or `None` when the status says it all.
    pub(crate) fn phrase(self) -> Option<&'static str> {
        Some(match self {
            Reason::File(Source::Override) => "override table",
            Reason::File(Source::Guess) => "mime_guess",
            Reason::File(Source::Unknown) => "unknown type",
            Reason::Index => "index.html",
            Reason::Listing => "directory listing",
            Reason::Favicon => "built-in favicon",
            Reason::Reserved => "reserved path: nothing there, or its feature is off",
            Reason::Metrics => "metrics",
            Reason::Health => "health",
            Reason::NoListing => "directory without index.html, listings off",
            Reason::AddSlash => "directory: add the slash",
            Reason::Hidden => "hidden file",
            Reason::NotFound { custom_page: true } => "no such file; custom 404 page",
            Reason::NotFound { custom_page: false } => "no such file",
            Reason::LeavesRoot => "path leaves root",
            Reason::BadTarget => "bad request target",
            Reason::Forbidden => "unreadable or not a regular file",
            Reason::TooLong => "path too long for the file system",
            Reason::Unavailable => "out of file descriptors",
            Reason::IfRangeFailed => "If-Range did not match: whole file",
            Reason::Unsatisfiable => "range outside the file",
            Reason::MethodNotAllowed => "method not allowed",
            Reason::UnknownMethod => "unknown method",
            Reason::Unauthorized(Denied::Missing) => "no credentials",
            Reason::Unauthorized(Denied::Malformed) => "malformed credentials",
            Reason::Unauthorized(Denied::Wrong) => "wrong credentials",
            Reason::Preflight => "CORS preflight",
            Reason::SpaFallback => "no such file; single-page app index.html",
            Reason::Archive { zip: false } => "folder as tar archive",
            Reason::Archive { zip: true } => "folder as zip archive",
            Reason::PlainHttpOnHttps => "redirect to https://",
            Reason::LiveReload => "live reload",
            Reason::TooManySubscribers => "live reload: subscriber cap reached",
            Reason::Range { .. }
            | Reason::Multipart { .. }
            | Reason::NotModified(_)
            | Reason::PreconditionFailed(_)
            | Reason::Options => return None,
        })
    }
}
