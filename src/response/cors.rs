//! The answer to a CORS preflight (Fetch standard §3.2.2, "CORS-preflight request") under
//! `--cors`.
//!
//! A preflight is an `OPTIONS` request carrying `Origin` and `Access-Control-Request-Method`,
//! sent by a browser before a cross-origin request that is not "simple". It is answered 204 with
//! the methods this server allows, the request headers the page asked to send (echoed once each
//! was checked to be a token, so nothing the client sends can split the head), and how long the
//! browser may cache the answer. `Access-Control-Allow-Origin: *` itself is one of the extra
//! fields every response carries (see [`super::extra_headers`]).
//!
//! Cost: only preflights pay, one small `String` for the echoed header list.

use crate::http::is_tchar;
use crate::http::parse::FieldLines;

/// The methods a cross-origin page may use: the only ones this server serves.
pub(crate) const ALLOW_METHODS: &str = "GET, HEAD, OPTIONS";

/// Seconds a browser may cache a preflight answer: a day. Arbitrary; Chromium caps it at two
/// hours and Firefox at a day, and the answer never changes while the server runs.
pub(crate) const MAX_AGE: &str = "86400";

/// Longest `Access-Control-Request-Headers` echoed. Arbitrary: a page asking for more is not a
/// page this server is built for; beyond it the list is dropped and the browser refuses the
/// request itself.
const MAX_HEADERS_LEN: usize = 1024;

/// A preflight's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Preflight {
    /// The requested header names, lowercased and joined by `", "`; empty when none were asked
    /// for or the list was malformed.
    allow_headers: Box<str>,
}

impl Preflight {
    /// The answer to an OPTIONS request that sent `Origin` and `Access-Control-Request-Method`
    /// (both flags) and these request headers, or `None` if it is not a preflight.
    pub(crate) fn from_request(
        origin: bool,
        request_method: bool,
        request_headers: Option<FieldLines<'_>>,
    ) -> Option<Preflight> {
        if !(origin && request_method) {
            return None;
        }
        Some(Preflight {
            allow_headers: request_headers
                .and_then(header_list)
                .map(String::into_boxed_str)
                .unwrap_or_default(),
        })
    }

    /// Appends the preflight's fields to a response head.
    pub(crate) fn write_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"Access-Control-Allow-Methods: ");
        out.extend_from_slice(ALLOW_METHODS.as_bytes());
        out.extend_from_slice(b"\r\n");
        if !self.allow_headers.is_empty() {
            out.extend_from_slice(b"Access-Control-Allow-Headers: ");
            out.extend_from_slice(self.allow_headers.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Access-Control-Max-Age: ");
        out.extend_from_slice(MAX_AGE.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// `Access-Control-Request-Headers`: a comma-separated list of field names (tokens) with optional
/// whitespace, over all of the field's lines (RFC 9110 §5.3); empty elements are skipped, as RFC
/// 9110 §5.6.1 lets a recipient do. `None` if any element is not a token or the list is too long.
fn header_list(value: FieldLines<'_>) -> Option<String> {
    if value.lines().map(<[u8]>::len).sum::<usize>() > MAX_HEADERS_LEN {
        return None;
    }
    let mut out = String::new();
    for name in value.elements() {
        if !name.iter().all(|&b| is_tchar(b)) {
            return None;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        // Tokens are ASCII, checked above.
        out.extend(name.iter().map(|&b| b.to_ascii_lowercase() as char));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(preflight: &Preflight) -> String {
        let mut out = Vec::new();
        preflight.write_fields(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn only_options_with_origin_and_method_is_a_preflight() {
        assert!(Preflight::from_request(false, true, None).is_none());
        assert!(Preflight::from_request(true, false, None).is_none());
        let p = Preflight::from_request(true, true, None).unwrap();
        assert_eq!(
            rendered(&p),
            "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\nAccess-Control-Max-Age: 86400\r\n"
        );
    }

    #[test]
    fn echoes_checked_header_lists() {
        // (Access-Control-Request-Headers, echoed)
        let cases: &[(&[u8], &str)] = &[
            (b"x-requested-with", "x-requested-with"),
            (b"Content-Type, X-Token", "content-type, x-token"),
            (b" range ,, if-none-match\t", "range, if-none-match"),
            (b"", ""),
            (b"a b", ""),
            (b"x-ok, bad\r\nInjected: 1", ""),
            (b"x\"y", ""),
            (b"caf\xc3\xa9", ""),
        ];
        for (value, want) in cases {
            let p = Preflight::from_request(true, true, Some(FieldLines::one(value))).unwrap();
            let text = rendered(&p);
            let shown = String::from_utf8_lossy(value);
            if want.is_empty() {
                assert!(!text.contains("Allow-Headers"), "{shown:?}: {text}");
            } else {
                let line = format!("\r\nAccess-Control-Allow-Headers: {want}\r\n");
                assert!(text.contains(&line), "{shown:?}: {text}");
            }
        }
        let long = "x-a,".repeat(300);
        let p =
            Preflight::from_request(true, true, Some(FieldLines::one(long.as_bytes()))).unwrap();
        assert!(!rendered(&p).contains("Allow-Headers"));
    }
}
