//! Why a request head could not be accepted, and the one place that maps each reason to a status.
//!
//! Cost: a `Copy` enum, mapped by one `match`; no allocation, so a flood of bad requests costs no
//! more than good ones.

use super::Status;

/// A request head the server refuses. Every variant ends the connection after the error response:
/// once a head is rejected the start of the next request can no longer be trusted (RFC 9112 §6.3,
/// §11.2 on request smuggling), so the answer always carries `Connection: close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// A TLS handshake record where a request line should be: a client speaking `https://` to
    /// this plain-HTTP port.
    TlsHandshake,
    /// The request line or a header field does not follow RFC 9112 §3 / §5 (includes obs-fold and
    /// whitespace before the colon).
    Malformed,
    /// A `HTTP/x.y` token that is not well formed.
    BadVersion,
    /// A major version other than 1, e.g. `HTTP/2.0` sent as text.
    VersionNotSupported,
    /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2).
    MissingHost,
    /// More than one `Host` field (RFC 9112 §3.2).
    DuplicateHost,
    /// More than one `Authorization` field: it is no list (RFC 9110 §11.6.2, §5.3), and which
    /// credentials count would be a guess.
    DuplicateAuthorization,
    /// A `Host` value, or an absolute-form target's authority, that is not `uri-host [ ":" port ]`
    /// (RFC 9110 §7.2, RFC 3986 §3.2.2), or an `http` authority with an empty host or userinfo
    /// (RFC 9110 §4.2.1, §4.2.4).
    InvalidHost,
    /// Content-Length that is not a decimal number, or a list whose values differ (RFC 9112 §6.3 r5).
    InvalidContentLength,
    /// Both Transfer-Encoding and Content-Length (RFC 9112 §6.3 r3).
    ConflictingFraming,
    /// A Transfer-Encoding other than exactly `chunked` (RFC 9112 §6.3 r4), or any Transfer-Encoding
    /// on an HTTP/1.0 request (RFC 9112 §6.1).
    UnsupportedTransferEncoding,
    /// The head did not end within the head-size limit.
    HeadTooLarge,
    /// More header fields than the limit.
    TooManyHeaders,
    /// The request line alone did not fit within the head-size limit.
    UriTooLong,
    /// A request body larger than the body limit.
    BodyTooLarge,
    /// A chunked request body whose framing is broken (RFC 9112 §7.1).
    BadChunkedBody,
}

impl ParseError {
    /// The status to answer with.
    pub fn status(self) -> Status {
        match self {
            ParseError::TlsHandshake
            | ParseError::Malformed
            | ParseError::BadVersion
            | ParseError::MissingHost
            | ParseError::DuplicateHost
            | ParseError::DuplicateAuthorization
            | ParseError::InvalidHost
            | ParseError::InvalidContentLength
            | ParseError::ConflictingFraming
            | ParseError::UnsupportedTransferEncoding
            | ParseError::BadChunkedBody => Status::BAD_REQUEST,
            ParseError::VersionNotSupported => Status::VERSION_NOT_SUPPORTED,
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => {
                Status::HEADER_FIELDS_TOO_LARGE
            }
            ParseError::UriTooLong => Status::URI_TOO_LONG,
            ParseError::BodyTooLarge => Status::CONTENT_TOO_LARGE,
        }
    }
}
