//! HTTP/1.x vocabulary shared by the parser, the handler and the response writer: methods, versions,
//! status codes. Everything here is `Copy` and allocation-free.

pub mod auth;
pub mod body;
pub(crate) mod calendar;
pub mod date;
pub mod error;
pub mod host;
pub mod parse;

/// Whether `b` may appear in a token (RFC 9110 §5.6.2): field names, codings, methods.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A request method. Unknown tokens are kept as [`Method::Unknown`] so the handler can answer 501.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Options,
    Post,
    Put,
    Delete,
    Patch,
    Connect,
    Trace,
    /// A syntactically valid token that names no method this server knows.
    Unknown,
}

impl Method {
    /// Maps a method token (case-sensitive, RFC 9110 §9.1) to a [`Method`].
    pub(crate) fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "CONNECT" => Method::Connect,
            "TRACE" => Method::Trace,
            _ => Method::Unknown,
        }
    }
}

/// The protocol version of a request. Minor versions above 1 are read as 1.1 (RFC 9110 §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    Http10,
    Http11,
}

/// A response status code with its reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u16);

impl Status {
    pub const OK: Status = Status(200);
    pub(crate) const NO_CONTENT: Status = Status(204);
    pub(crate) const PARTIAL_CONTENT: Status = Status(206);
    pub(crate) const MOVED_PERMANENTLY: Status = Status(301);
    pub(crate) const NOT_MODIFIED: Status = Status(304);
    pub(crate) const PERMANENT_REDIRECT: Status = Status(308);
    pub const BAD_REQUEST: Status = Status(400);
    pub(crate) const UNAUTHORIZED: Status = Status(401);
    pub(crate) const FORBIDDEN: Status = Status(403);
    pub const NOT_FOUND: Status = Status(404);
    pub(crate) const METHOD_NOT_ALLOWED: Status = Status(405);
    pub(crate) const REQUEST_TIMEOUT: Status = Status(408);
    pub(crate) const PRECONDITION_FAILED: Status = Status(412);
    pub(crate) const CONTENT_TOO_LARGE: Status = Status(413);
    pub(crate) const URI_TOO_LONG: Status = Status(414);
    pub(crate) const RANGE_NOT_SATISFIABLE: Status = Status(416);
    pub(crate) const HEADER_FIELDS_TOO_LARGE: Status = Status(431);
    pub(crate) const NOT_IMPLEMENTED: Status = Status(501);
    pub(crate) const SERVICE_UNAVAILABLE: Status = Status(503);
    pub(crate) const VERSION_NOT_SUPPORTED: Status = Status(505);

    /// The numeric code.
    pub(crate) fn code(self) -> u16 {
        self.0
    }

    /// The status line up to and including its CRLF, e.g. `HTTP/1.1 404 Not Found\r\n`. Static bytes,
    /// so encoding a head never formats the status.
    pub(crate) fn line(self) -> &'static [u8] {
        match self.0 {
            200 => b"HTTP/1.1 200 OK\r\n",
            204 => b"HTTP/1.1 204 No Content\r\n",
            206 => b"HTTP/1.1 206 Partial Content\r\n",
            301 => b"HTTP/1.1 301 Moved Permanently\r\n",
            304 => b"HTTP/1.1 304 Not Modified\r\n",
            308 => b"HTTP/1.1 308 Permanent Redirect\r\n",
            400 => b"HTTP/1.1 400 Bad Request\r\n",
            401 => b"HTTP/1.1 401 Unauthorized\r\n",
            403 => b"HTTP/1.1 403 Forbidden\r\n",
            404 => b"HTTP/1.1 404 Not Found\r\n",
            405 => b"HTTP/1.1 405 Method Not Allowed\r\n",
            408 => b"HTTP/1.1 408 Request Timeout\r\n",
            412 => b"HTTP/1.1 412 Precondition Failed\r\n",
            413 => b"HTTP/1.1 413 Content Too Large\r\n",
            414 => b"HTTP/1.1 414 URI Too Long\r\n",
            416 => b"HTTP/1.1 416 Range Not Satisfiable\r\n",
            431 => b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            501 => b"HTTP/1.1 501 Not Implemented\r\n",
            503 => b"HTTP/1.1 503 Service Unavailable\r\n",
            505 => b"HTTP/1.1 505 HTTP Version Not Supported\r\n",
            _ => b"HTTP/1.1 500 Internal Server Error\r\n",
        }
    }

    /// The reason phrase alone, e.g. `Not Found` (tests check pages and lines against it).
    #[cfg(test)]
    pub(crate) fn reason(self) -> &'static str {
        let line = self.line();
        // "HTTP/1.1 NNN " is 13 bytes; the line ends in CRLF. All lines are ASCII.
        std::str::from_utf8(&line[13..line.len() - 2]).unwrap_or("")
    }

    /// Whether a response with this status never has content (RFC 9110 §6.4.1).
    pub(crate) fn forbids_body(self) -> bool {
        self.0 == 204 || self.0 == 304 || self.0 < 200
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_characters() {
        for b in b"aZ09!#$%&'*+-.^_`|~" {
            assert!(is_tchar(*b), "{:?}", *b as char);
        }
        for b in b" \t\"(),/:;<=>?@[\\]{}\x7f\xe9" {
            assert!(!is_tchar(*b), "{b:#x}");
        }
    }

    #[test]
    fn reasons_come_from_the_status_line() {
        assert_eq!(Status::NOT_FOUND.reason(), "Not Found");
        assert_eq!(
            Status::VERSION_NOT_SUPPORTED.reason(),
            "HTTP Version Not Supported"
        );
        assert_eq!(Status::OK.reason(), "OK");
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(Method::from_token("GET"), Method::Get);
        assert_eq!(Method::from_token("get"), Method::Unknown);
        assert_eq!(Method::from_token("BREW"), Method::Unknown);
    }
}
