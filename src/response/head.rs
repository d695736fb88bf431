//! Serialises a [`ResponsePlan`]'s status line and headers into the connection's write buffer.
//!
//! Cost per response: static byte strings, `itoa` digits and the cached Date copied into a reused
//! `Vec`; no allocation once the buffer has its capacity (a `Last-Modified` date is written digit
//! by digit by `http::calendar`, the ETag comes from the plan's stack buffer,
//! `Cache-Control` from text shared with the site).

use super::framing::{Delimiter, Framing, Persistence};
use super::plan::{RareField, ResponsePlan};
use crate::http::date::DateCache;

/// What follows every status line: the `Server` field, fixed at compile time, and the name of
/// `Date`, whose value comes next.
const SERVER_DATE: &[u8] =
    concat!("Server: mioserve/", env!("CARGO_PKG_VERSION"), "\r\nDate: ").as_bytes();

/// The `WWW-Authenticate` challenge of every 401 under `--auth` (RFC 7617 §2; `charset` asks the
/// client to send the credentials in UTF-8, §2.1).
pub(crate) const CHALLENGE: &str = "Basic realm=\"mioserve\", charset=\"UTF-8\"";

/// Appends the head for `plan` to `out`, framed as `super::framing::decide` said, with `Date` and
/// `Last-Modified` from `dates`; `extra` are the operator's fields (`-H`, `--cors`), rendered
/// lines copied as they are.
///
/// Each field's name is written together with the line end of the field before it (`\r\nETag: `),
/// so a typical file response takes about a dozen appends rather than twenty.
pub fn encode(
    plan: &ResponsePlan,
    dates: &DateCache,
    framing: Framing,
    extra: &[u8],
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(plan.status.line());
    out.extend_from_slice(SERVER_DATE);
    out.extend_from_slice(dates.bytes());
    if let Some(ct) = plan.content_type {
        out.extend_from_slice(b"\r\nContent-Type: ");
        ct.write_value(out);
        if let Some(boundary) = &plan.boundary {
            out.extend_from_slice(b"; boundary=");
            out.extend_from_slice(boundary.as_bytes());
        }
    }
    if let Some(coding) = plan.content_encoding {
        out.extend_from_slice(b"\r\nContent-Encoding: ");
        out.extend_from_slice(coding.token().as_bytes());
    }
    if let Some(len) = plan.content_length {
        out.extend_from_slice(b"\r\nContent-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    }
    if framing.delimiter == Delimiter::Chunked {
        out.extend_from_slice(b"\r\nTransfer-Encoding: chunked");
    }
    if let Some(secs) = plan.last_modified {
        out.extend_from_slice(b"\r\nLast-Modified: ");
        dates.push_last_modified(secs, out);
    }
    if let Some(etag) = &plan.etag {
        out.extend_from_slice(b"\r\nETag: ");
        out.extend_from_slice(etag.as_bytes());
    }
    if let Some(cache_control) = &plan.cache_control {
        out.extend_from_slice(b"\r\nCache-Control: ");
        out.extend_from_slice(cache_control.as_bytes());
    }
    if plan.accept_ranges {
        out.extend_from_slice(b"\r\nAccept-Ranges: bytes");
    }
    if let Some(range) = &plan.content_range {
        out.extend_from_slice(b"\r\nContent-Range: ");
        range.write_value(out);
    }
    if let Some(vary) = plan.vary {
        out.extend_from_slice(b"\r\nVary: ");
        out.extend_from_slice(vary.as_bytes());
    }
    if plan.allow {
        out.extend_from_slice(b"\r\nAllow: GET, HEAD, OPTIONS");
    }
    match &plan.rare {
        None | Some(RareField::Preflight(_)) => {}
        Some(RareField::Location(location)) => {
            out.extend_from_slice(b"\r\nLocation: ");
            out.extend_from_slice(location.as_bytes());
        }
        Some(RareField::Challenge) => {
            out.extend_from_slice(b"\r\nWWW-Authenticate: ");
            out.extend_from_slice(CHALLENGE.as_bytes());
        }
        Some(RareField::Disposition(disposition)) => {
            out.extend_from_slice(b"\r\nContent-Disposition: ");
            out.extend_from_slice(disposition.as_bytes());
        }
        Some(RareField::RetryAfter(seconds)) => {
            out.extend_from_slice(b"\r\nRetry-After: ");
            out.extend_from_slice(itoa::Buffer::new().format(*seconds).as_bytes());
        }
    }
    // From here on, whole lines.
    out.extend_from_slice(b"\r\nX-Content-Type-Options: nosniff\r\n");
    if let Some(RareField::Preflight(preflight)) = &plan.rare {
        preflight.write_fields(out);
    }
    out.extend_from_slice(extra);
    out.extend_from_slice(match framing.persistence {
        Persistence::KeepAlive => b"\r\n",
        Persistence::KeepAliveEcho => b"Connection: keep-alive\r\n\r\n",
        Persistence::Close => b"Connection: close\r\n\r\n",
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Status;
    use crate::response::boundary::Boundary;
    use crate::response::content_range::{ByteRange, ContentRange};
    use crate::response::content_type::ContentType;
    use crate::response::etag::ETag;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    /// Dates at `Sun, 06 Nov 1994 08:49:37 GMT`.
    fn dates() -> DateCache {
        let mut dates = DateCache::new();
        dates.refresh(UNIX_EPOCH + Duration::from_secs(784111777));
        dates
    }
    const KEEP_ALIVE: Framing = Framing::length(Persistence::KeepAlive);

    #[test]
    fn encodes_a_file_head() {
        let mut plan = ResponsePlan::empty(Status::OK);
        plan.content_type = Some(ContentType::HTML);
        plan.content_length = Some(1234);
        plan.last_modified = Some(784111777);
        let mut out = Vec::new();
        encode(&plan, &dates(), KEEP_ALIVE, b"", &mut out);
        let want = format!(
            "HTTP/1.1 200 OK\r\nServer: mioserve/{}\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: text/html; charset=utf-8\r\nContent-Length: 1234\r\n\
             Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nX-Content-Type-Options: nosniff\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn encodes_validators_and_ranges() {
        let mut plan = ResponsePlan::empty(Status::PARTIAL_CONTENT);
        plan.content_type = Some(ContentType::MULTIPART_BYTERANGES);
        plan.boundary = Some(Boundary::from_u64(0x1234));
        plan.content_length = Some(2);
        plan.etag = Some(ETag::from_parts(1, 2, 3));
        plan.cache_control = Some(Arc::from("no-cache"));
        plan.accept_ranges = true;
        plan.content_range = Some(ContentRange::Bytes {
            range: ByteRange { start: 0, end: 1 },
            complete: 5 << 30,
        });
        let mut out = Vec::new();
        encode(&plan, &dates(), KEEP_ALIVE, b"", &mut out);
        let want = format!(
            "HTTP/1.1 206 Partial Content\r\nServer: mioserve/{}\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: multipart/byteranges; boundary=0000000000001234\r\n\
             Content-Length: 2\r\nETag: \"1-2-3\"\r\nCache-Control: no-cache\r\n\
             Accept-Ranges: bytes\r\nContent-Range: bytes 0-1/5368709120\r\n\
             X-Content-Type-Options: nosniff\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn not_modified_has_validators_and_no_length() {
        let mut plan = ResponsePlan::empty(Status::NOT_MODIFIED);
        plan.etag = Some(ETag::from_parts(1, 2, 3));
        plan.last_modified = Some(784111777);
        plan.cache_control = Some(Arc::from("no-cache"));
        let mut out = Vec::new();
        encode(&plan, &dates(), KEEP_ALIVE, b"", &mut out);
        let text = String::from_utf8(out).unwrap();
        for line in [
            "HTTP/1.1 304 Not Modified\r\n",
            "\r\nETag: \"1-2-3\"\r\n",
            "\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
            "\r\nCache-Control: no-cache\r\n",
            "\r\nDate: ",
        ] {
            assert!(text.contains(line), "{line:?} missing in {text}");
        }
        assert!(!text.contains("Content-Length"), "{text}");
        assert!(!text.contains("\r\nContent-Type:"), "{text}");
    }

    #[test]
    fn vary_names_the_negotiated_field() {
        let mut plan = ResponsePlan::empty(Status::OK);
        plan.vary = Some("Accept");
        let mut out = Vec::new();
        encode(&plan, &dates(), KEEP_ALIVE, b"", &mut out);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("\r\nVary: Accept\r\n")
        );
    }

    #[test]
    fn connection_header_follows_persistence() {
        let plan = ResponsePlan::empty(Status::NO_CONTENT);
        for (persistence, want) in [
            (Persistence::KeepAlive, None),
            (
                Persistence::KeepAliveEcho,
                Some("Connection: keep-alive\r\n"),
            ),
            (Persistence::Close, Some("Connection: close\r\n")),
        ] {
            let mut out = Vec::new();
            encode(&plan, &dates(), Framing::length(persistence), b"", &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(
                !text.contains("Content-Length"),
                "204 has no length: {text}"
            );
            match want {
                Some(line) => assert!(text.contains(line), "{text}"),
                None => assert!(!text.contains("Connection:"), "{text}"),
            }
        }
    }

    #[test]
    fn reused_buffer_keeps_its_capacity() {
        let mut plan = ResponsePlan::error(Status::NOT_FOUND);
        plan.last_modified = Some(0);
        plan.etag = Some(ETag::from_parts(u64::MAX, u64::MAX, u64::MAX));
        plan.cache_control = Some(Arc::from("public, max-age=31536000, immutable"));
        plan.accept_ranges = true;
        plan.content_range = Some(ContentRange::Unsatisfied { complete: u64::MAX });
        let mut out = Vec::with_capacity(4096);
        let ptr = out.as_ptr();
        for _ in 0..100 {
            out.clear();
            encode(&plan, &dates(), KEEP_ALIVE, b"", &mut out);
        }
        assert_eq!(
            out.as_ptr(),
            ptr,
            "encoding must not reallocate a buffer with room"
        );
    }

    #[test]
    fn rare_fields_and_the_operators_fields() {
        let cases: &[(RareField, &str)] = &[
            (RareField::Location("/a/".into()), "\r\nLocation: /a/\r\n"),
            (
                RareField::Challenge,
                "\r\nWWW-Authenticate: Basic realm=\"mioserve\", charset=\"UTF-8\"\r\n",
            ),
            (
                RareField::Disposition("attachment; filename=\"d.tar\"".into()),
                "\r\nContent-Disposition: attachment; filename=\"d.tar\"\r\n",
            ),
            (RareField::RetryAfter(5), "\r\nRetry-After: 5\r\n"),
        ];
        for (field, want) in cases {
            let plan = ResponsePlan {
                rare: Some(field.clone()),
                ..ResponsePlan::empty(Status::OK)
            };
            let mut out = Vec::new();
            encode(
                &plan,
                &dates(),
                KEEP_ALIVE,
                b"X-A: 1\r\nX-B: 2\r\n",
                &mut out,
            );
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(want), "{want:?} missing in {text}");
            assert!(text.contains("\r\nX-A: 1\r\nX-B: 2\r\n"), "{text}");
        }
    }
}
