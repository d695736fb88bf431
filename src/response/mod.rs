//! The response plan: what the handler decided, as data the writer can carry out.
//!
//! A [`ResponsePlan`] owns everything it needs (an open file, a redirect target), so the request
//! bytes it was made from can be dropped before the response is written. The head is encoded by
//! [`head::encode`]; the body is carried out by the connection through [`writer`].

pub mod head;
pub mod multipart;
pub mod reason;
pub mod writer;

use std::fs::File;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use crate::handler::conditional::ETag;
use crate::handler::range::ContentRange;
use crate::http::Status;
use multipart::Boundary;
use reason::Reason;

/// A `Content-Type` value: a static MIME type and whether `; charset=utf-8` follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentType {
    pub mime: &'static str,
    pub charset: bool,
}

impl ContentType {
    /// `text/html; charset=utf-8`, used for built-in pages.
    pub const HTML: ContentType = ContentType {
        mime: "text/html",
        charset: true,
    };

    /// `multipart/byteranges`, the type of a multi-range 206; its boundary is
    /// [`ResponsePlan::boundary`].
    pub const MULTIPART_BYTERANGES: ContentType = ContentType {
        mime: "multipart/byteranges",
        charset: false,
    };

    /// Appends the value (without the field name) to `out`.
    pub fn write_value(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.mime.as_bytes());
        if self.charset {
            out.extend_from_slice(b"; charset=utf-8");
        }
    }
}

/// A slice of an open file to send as (part of) a body.
#[derive(Debug)]
pub struct FileBody {
    /// Shared: the open-file cache may hold the same descriptor for other responses.
    pub file: Rc<File>,
    /// Where the next byte to send starts.
    pub offset: u64,
    /// Bytes still to send.
    pub remaining: u64,
}

/// One step of a [`BodySource`].
#[derive(Debug)]
pub enum Piece {
    /// Bytes were appended to the buffer passed in.
    Bytes,
    /// A slice of a file comes next (sent zero-copy where possible).
    File(FileBody),
    /// The body is complete.
    End,
}

/// A body produced piece by piece, with bounded work per piece, so a large generated body (a
/// listing of 100,000 entries, a multipart range response) never sits whole in memory and never
/// stalls the event loop. If the plan has no `Content-Length`, the connection frames the pieces
/// with chunked encoding (HTTP/1.1) or by closing (HTTP/1.0); the source never frames anything.
pub trait BodySource: std::fmt::Debug {
    /// Produces the next piece: appends about `max` bytes or fewer to `out` and returns
    /// [`Piece::Bytes`], or returns a file slice, or [`Piece::End`]. Must not return `Bytes`
    /// forever without appending anything.
    fn next_piece(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<Piece>;
}

/// Where a response's content comes from.
#[derive(Debug)]
pub enum Body {
    /// No content (HEAD, 204, 304, or a redirect whose page is not worth sending).
    Empty,
    /// Bytes compiled into the binary (built-in error pages).
    Static(&'static [u8]),
    /// A slice of a file, sent with `sendfile` or read into the write buffer.
    File(FileBody),
    /// Generated piece by piece.
    Stream(Box<dyn BodySource>),
}

/// A response decided by the handler.
#[derive(Debug)]
pub struct ResponsePlan {
    pub status: Status,
    pub content_type: Option<ContentType>,
    /// The `boundary` parameter of a `multipart/byteranges` content type.
    pub boundary: Option<Boundary>,
    /// `Content-Length`; `None` for statuses that have none (204, 304).
    pub content_length: Option<u64>,
    pub last_modified: Option<SystemTime>,
    /// `ETag`: the file's validator, on 200, 206 and 304.
    pub etag: Option<ETag>,
    /// `Cache-Control`, on 200, 206 and 304. Shared with the site's policy, so a response
    /// clones a reference count, never the text.
    pub cache_control: Option<Arc<str>>,
    /// Send `Accept-Ranges: bytes` (responses with a file's content).
    pub accept_ranges: bool,
    /// `Content-Range`, on 206 and 416.
    pub content_range: Option<ContentRange>,
    /// `Location` for redirects.
    pub location: Option<String>,
    /// `Vary`: the request fields the content was chosen by (a listing picks HTML or JSON by
    /// `Accept`), so caches keep the variants apart (RFC 9110 §12.5.5).
    pub vary: Option<&'static str>,
    /// Send `Allow: GET, HEAD, OPTIONS` (405 and OPTIONS answers).
    pub allow: bool,
    /// The connection must close after this response, whatever the client asked.
    pub close: bool,
    /// Send `Transfer-Encoding: chunked`. Set by the connection, not the handler: it is how a body
    /// without `Content-Length` is framed for an HTTP/1.1 client.
    pub chunked: bool,
    pub body: Body,
    /// The rule that produced this response (set by the handler; `None` only for plans made
    /// outside it, such as the connection's own error answers).
    pub reason: Option<Reason>,
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
            location: None,
            vary: None,
            allow: false,
            close: false,
            chunked: false,
            body: Body::Empty,
            reason: None,
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

    /// Whether the body has no length known up front and must be framed by chunked encoding or
    /// by closing the connection.
    pub fn is_unframed(&self) -> bool {
        self.content_length.is_none() && !self.status.forbids_body()
    }

    /// The same plan, recording `reason` as the rule that produced it.
    pub fn because(mut self, reason: Reason) -> ResponsePlan {
        self.reason = Some(reason);
        self
    }

    /// Drops the content but keeps every header, `Content-Length` included, as HEAD requires
    /// (RFC 9110 §9.3.2).
    pub fn without_body(mut self) -> ResponsePlan {
        self.body = Body::Empty;
        self
    }
}

/// The style sheet shared by the built-in pages: error pages and directory listings. A macro
/// rather than a `const` so `concat!` can build whole pages at compile time. Light and dark
/// schemes, system fonts, no external assets.
macro_rules! page_style {
    () => {
        concat!(
            ":root{color-scheme:light dark;--fg:#1f2328;--mute:#59636e;--bg:#fff;--line:#d1d9e0;",
            "--head:#f6f8fa;--link:#0969da;--hover:#f6f8fa}",
            "@media(prefers-color-scheme:dark){:root{--fg:#e6edf3;--mute:#9198a1;--bg:#0d1117;",
            "--line:#3d444d;--head:#151b23;--link:#4493f8;--hover:#151b23}}",
            "*{box-sizing:border-box}",
            "body{margin:0;background:var(--bg);color:var(--fg);",
            "font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\",\"DejaVu Sans\",sans-serif}",
            "main{max-width:62rem;margin:0 auto;padding:1.5rem 1rem 2.5rem}",
            "a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}",
            "h1{font-size:1.3rem;font-weight:600;margin:0 0 1rem;overflow-wrap:anywhere}",
            "h1 .sep{color:var(--mute);padding:0 .1em}",
            "p{color:var(--mute)}",
            "footer{margin-top:1rem;color:var(--mute);font-size:.85rem}",
            "footer a{color:inherit;text-decoration:underline}",
            ".msg{max-width:40rem;padding-top:4rem}.msg h1{font-size:1.75rem;margin-bottom:.5rem}",
        )
    };
}
pub(crate) use page_style;

macro_rules! page {
    ($code:literal, $reason:literal, $message:literal) => {
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>",
            $code,
            " ",
            $reason,
            "</title><style>",
            page_style!(),
            "</style></head><body><main class=\"msg\"><h1>",
            $code,
            " ",
            $reason,
            "</h1><p>",
            $message,
            "</p><p><a href=\"/\">Go to the top folder</a></p>",
            "<footer>mioserve</footer></main></body></html>\n"
        )
        .as_bytes()
    };
}

/// The built-in page for an error status: small, self-contained, and saying what went wrong.
pub fn error_page(status: Status) -> &'static [u8] {
    match status.code() {
        301 => page!(
            "301",
            "Moved Permanently",
            "This resource has moved; follow the Location header."
        ),
        400 => page!(
            "400",
            "Bad Request",
            "The server could not understand this request."
        ),
        403 => page!(
            "403",
            "Forbidden",
            "You do not have permission to read this path."
        ),
        404 => page!("404", "Not Found", "Nothing is served at this path."),
        405 => page!(
            "405",
            "Method Not Allowed",
            "This server only reads files: use GET, HEAD or OPTIONS."
        ),
        408 => page!(
            "408",
            "Request Timeout",
            "The request did not arrive in time."
        ),
        412 => page!(
            "412",
            "Precondition Failed",
            "A condition in the request did not hold."
        ),
        413 => page!(
            "413",
            "Content Too Large",
            "The request body is larger than this server accepts."
        ),
        414 => page!(
            "414",
            "URI Too Long",
            "The request line is longer than this server accepts."
        ),
        416 => page!(
            "416",
            "Range Not Satisfiable",
            "The requested range lies outside the file."
        ),
        431 => page!(
            "431",
            "Request Header Fields Too Large",
            "The request head is larger than this server accepts."
        ),
        501 => page!(
            "501",
            "Not Implemented",
            "This server does not know the request method."
        ),
        503 => page!(
            "503",
            "Service Unavailable",
            "The server is out of resources; try again shortly."
        ),
        505 => page!(
            "505",
            "HTTP Version Not Supported",
            "This server speaks HTTP/1.0 and HTTP/1.1."
        ),
        _ => page!(
            "500",
            "Internal Server Error",
            "The server failed to answer this request."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_pages_name_their_status() {
        for code in [
            301, 400, 403, 404, 405, 408, 412, 413, 414, 416, 431, 500, 501, 503, 505,
        ] {
            let status = Status(code);
            let page = std::str::from_utf8(error_page(status)).unwrap();
            let title = format!("<title>{} {}</title>", code, status.reason());
            assert!(page.contains(&title), "{code}: {page}");
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
