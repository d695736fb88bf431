//! `--explain`: one line per request on stderr saying which rule produced the answer, e.g.
//! `GET /v.mp4 Range: bytes=1000- If-Range matched → 206 bytes 1000-9999/10000 (sendfile)`.
//!
//! It reads the [`Reason`] the handler recorded in the plan, so the explanation is the decision
//! itself, not a second guess at it. Cost: off by default, then one branch per request; when on,
//! it formats a `String` per request and writes it to stderr.

use crate::http::error::ParseError;
use crate::http::parse::RequestHead;
use crate::response::body::Body;
use crate::response::framing::Delimiter;
use crate::response::plan::{RareField, ResponsePlan};
use crate::response::reason::{Condition, Injection, Reason};
use crate::response::writer::INLINE_FILE_MAX;
use crate::transport::Security;

/// How the body goes out, as the connection decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// No body (HEAD, 304, 204…).
    None,
    /// Buffered with the head: built-in pages and small files.
    Inline,
    /// A file by `sendfile`.
    Sendfile,
    /// A file by `pread` into the buffer (sendfile off).
    Pread,
    /// Sent from memory (a cached variant).
    Memory,
    /// Generated and sent with chunked encoding.
    Chunked,
    /// Generated and delimited by closing the connection (HTTP/1.0).
    CloseDelimited,
    /// Generated with a known length (multipart ranges).
    Generated,
}

impl Delivery {
    fn name(self) -> Option<&'static str> {
        Some(match self {
            Delivery::None => return None,
            Delivery::Inline => "inline",
            Delivery::Sendfile => "sendfile",
            Delivery::Pread => "pread",
            Delivery::Memory => "memory",
            Delivery::Chunked => "chunked",
            Delivery::CloseDelimited => "close-delimited",
            Delivery::Generated => "generated",
        })
    }

    /// How `plan`'s body will be sent, as the body writer will send it: delimited as
    /// `delimiter` says, with sendfile on or off.
    pub(crate) fn of(plan: &ResponsePlan, delimiter: Delimiter, sendfile: bool) -> Delivery {
        match &plan.body {
            Body::Empty => Delivery::None,
            Body::Static(_) => Delivery::Inline,
            Body::File(file) if file.remaining <= INLINE_FILE_MAX => Delivery::Inline,
            Body::File(_) if sendfile => Delivery::Sendfile,
            Body::File(_) => Delivery::Pread,
            Body::Memory(memory) if memory.rest().len() as u64 <= INLINE_FILE_MAX => {
                Delivery::Inline
            }
            Body::Memory(_) => Delivery::Memory,
            Body::Stream(_) => match delimiter {
                Delimiter::Chunked => Delivery::Chunked,
                Delimiter::Close => Delivery::CloseDelimited,
                Delimiter::Length => Delivery::Generated,
            },
        }
    }
}

/// Writes `line` on stderr through [`crate::terminal::Terminal`], so it never lands in the live
/// stats line.
pub fn print(mut line: String) {
    line.push('\n');
    let _ = crate::terminal::Terminal::global().write_stderr(line.as_bytes());
}

/// The line for a request the handler answered.
pub(crate) fn line(head: &RequestHead<'_>, plan: &ResponsePlan, delivery: Delivery) -> String {
    let mut line = format!("{} {}", head.method_token, head.target);
    let reason = plan.reason;
    if let Some(range) = head.fields.range {
        line.push_str(" Range: ");
        line.push_str(&String::from_utf8_lossy(range));
        if head.fields.if_range.is_some() {
            match reason {
                Some(Reason::Range { if_range: true } | Reason::Multipart { .. }) => {
                    line.push_str(" If-Range matched");
                }
                Some(Reason::IfRangeFailed) => line.push_str(" If-Range not matched"),
                _ => {}
            }
        }
    }
    match reason {
        Some(Reason::NotModified(Condition::IfModifiedSince)) => {
            line.push_str(" If-Modified-Since: not modified since");
        }
        Some(Reason::NotModified(field)) => {
            line.push(' ');
            line.push_str(field.name());
            line.push_str(" matched");
        }
        Some(Reason::PreconditionFailed(field)) => {
            line.push(' ');
            line.push_str(field.name());
            line.push_str(" failed");
        }
        _ => {}
    }
    line.push_str(" → ");
    line.push_str(itoa::Buffer::new().format(plan.status.code()));
    if let Some(range) = &plan.content_range {
        let mut value = Vec::new();
        range.write_value(&mut value);
        line.push(' ');
        line.push_str(&String::from_utf8_lossy(&value));
    }
    if let Some(Reason::Multipart { parts }) = reason {
        line.push_str(&format!(" multipart/byteranges, {parts} parts"));
    }
    if let (Some(Reason::File(_) | Reason::Index), Some(ct)) = (reason, plan.content_type) {
        line.push(' ');
        line.push_str(ct.mime);
    }
    if let Some(RareField::Location(location)) = &plan.rare {
        line.push_str(" → ");
        line.push_str(location);
    }
    let representation = plan
        .representation
        .map(|r| r.phrase(plan.content_type.map_or("", |ct| ct.mime)));
    let notes: Vec<&str> = [
        reason.and_then(Reason::phrase),
        plan.live.map(Injection::phrase),
        representation.as_deref(),
        delivery.name(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !notes.is_empty() {
        line.push_str(" (");
        line.push_str(&notes.join(", "));
        line.push(')');
    }
    line
}

/// Marks a line of a TLS connection with its protocol version and cipher suite, and one of plain
/// HTTP sent to the HTTPS port as such: ` [TLSv1.3 TLS13_AES_128_GCM_SHA256]`, ` [plain HTTP on
/// the HTTPS port]`.
pub(crate) fn mark_security(line: &mut String, security: Security) {
    match security {
        Security::Plain => {}
        Security::Tls { version, suite } => {
            line.push_str(" [");
            line.push_str(version);
            line.push(' ');
            line.push_str(suite);
            line.push(']');
        }
        Security::PlainOnTlsPort(_) => line.push_str(" [plain HTTP on the HTTPS port]"),
    }
}

/// The line for a request refused before the handler saw it. The raw request line is escaped: it
/// may hold any byte, and stderr is often a terminal.
pub(crate) fn rejected_line(request_line: &[u8], error: ParseError) -> String {
    if error == ParseError::TlsHandshake {
        // The record is binary: what it is says more than its bytes would.
        return format!(
            "(TLS handshake) → {} (TLS handshake on this plain-HTTP port: use http://)",
            error.status().code()
        );
    }
    format!(
        "{} → {} (request refused: {error:?})",
        String::from_utf8_lossy(request_line).escape_debug(),
        error.status().code()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Status;
    use crate::http::parse::{Limits, find_head_end, parse_head};
    use crate::response::content_type::{ContentType, Source};

    fn with_head<R>(text: &str, f: impl FnOnce(&RequestHead<'_>) -> R) -> R {
        let mut buf = text.as_bytes().to_vec();
        let end = find_head_end(&buf, 0).unwrap();
        let head = parse_head(&mut buf[..end], &Limits::default()).unwrap();
        f(&head)
    }

    #[test]
    fn lines_name_the_rule() {
        let mime = |mime| ContentType {
            mime,
            charset: true,
        };
        let cases: Vec<(&str, ResponsePlan, Delivery, &str)> = vec![
            (
                "GET /a.mjs HTTP/1.1\r\nHost: t\r\n\r\n",
                ResponsePlan {
                    content_type: Some(mime("text/javascript")),
                    ..ResponsePlan::empty(Status::OK).because(Reason::File(Source::Override))
                },
                Delivery::Inline,
                "GET /a.mjs → 200 text/javascript (override table, inline)",
            ),
            (
                "GET /app.js HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"x\"\r\n\r\n",
                ResponsePlan::empty(Status::NOT_MODIFIED)
                    .because(Reason::NotModified(Condition::IfNoneMatch)),
                Delivery::None,
                "GET /app.js If-None-Match matched → 304",
            ),
            (
                "GET /.env HTTP/1.1\r\nHost: t\r\n\r\n",
                ResponsePlan::error(Status::NOT_FOUND).because(Reason::Hidden),
                Delivery::Inline,
                "GET /.env → 404 (hidden file, inline)",
            ),
            (
                "GET /x/../../etc HTTP/1.1\r\nHost: t\r\n\r\n",
                ResponsePlan::error(Status::BAD_REQUEST).because(Reason::LeavesRoot),
                Delivery::None,
                "GET /x/../../etc → 400 (path leaves root)",
            ),
        ];
        for (request, plan, delivery, want) in cases {
            assert_eq!(with_head(request, |head| line(head, &plan, delivery)), want);
        }
    }

    #[test]
    fn refused_lines_are_escaped() {
        assert_eq!(
            rejected_line(b"GET /\x1b[2J HTTP/2.0", ParseError::VersionNotSupported),
            "GET /\\u{1b}[2J HTTP/2.0 → 505 (request refused: VersionNotSupported)"
        );
        assert_eq!(
            rejected_line(b"\x16\x03\x01\x02\x00", ParseError::TlsHandshake),
            "(TLS handshake) → 400 (TLS handshake on this plain-HTTP port: use http://)"
        );
    }

    #[test]
    fn a_ranged_line_shows_the_range_and_if_range() {
        use crate::response::content_range::{ByteRange, ContentRange};
        let plan = ResponsePlan {
            content_range: Some(ContentRange::Bytes {
                range: ByteRange {
                    start: 1000,
                    end: 9999,
                },
                complete: 10000,
            }),
            ..ResponsePlan::empty(Status::PARTIAL_CONTENT).because(Reason::Range { if_range: true })
        };
        let got = with_head(
            "GET /v.mp4 HTTP/1.1\r\nHost: t\r\nRange: bytes=1000-\r\nIf-Range: \"e\"\r\n\r\n",
            |head| line(head, &plan, Delivery::Sendfile),
        );
        assert_eq!(
            got,
            "GET /v.mp4 Range: bytes=1000- If-Range matched → 206 bytes 1000-9999/10000 (sendfile)"
        );
    }
}
