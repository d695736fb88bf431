//! Every name in a listing is escaped exactly once for where it goes: percent-encoded in an
//! href, HTML-escaped as text, JSON-escaped in a string. Names that are not UTF-8 keep their
//! bytes in hrefs and show U+FFFD as text.
//!
//! Cost: one pass over the name, appending to the output buffer; no allocation once it has room.

use std::io::Write;

use percent_encoding::AsciiSet;

use crate::handler::resolve::PATH_ENCODE;

/// Bytes percent-encoded in one path segment of an href: those of [`PATH_ENCODE`] plus `/` (the
/// separator), `:` (so a relative href is never read as a scheme, as `a:b` would be) and `&` (so
/// the href needs no HTML escaping inside a quoted attribute).
pub(crate) const SEGMENT_ENCODE: &AsciiSet = &PATH_ENCODE.add(b'/').add(b':').add(b'&');

/// Appends `name` percent-encoded as one path segment ([`SEGMENT_ENCODE`]; bytes outside ASCII,
/// including those of names that are not UTF-8, are always encoded).
pub(crate) fn push_encoded(out: &mut Vec<u8>, name: &[u8]) {
    for part in percent_encoding::percent_encode(name, SEGMENT_ENCODE) {
        out.extend_from_slice(part.as_bytes());
    }
}

/// Appends `name` as HTML text (also safe in a quoted attribute); bytes that are not UTF-8 show
/// as U+FFFD.
pub(crate) fn push_html_name(out: &mut Vec<u8>, name: &[u8]) {
    for chunk in name.utf8_chunks() {
        for byte in chunk.valid().bytes() {
            match byte {
                b'&' => out.extend_from_slice(b"&amp;"),
                b'<' => out.extend_from_slice(b"&lt;"),
                b'>' => out.extend_from_slice(b"&gt;"),
                b'"' => out.extend_from_slice(b"&quot;"),
                b'\'' => out.extend_from_slice(b"&#39;"),
                _ => out.push(byte),
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
}

/// Appends `name` as the inside of a JSON string (RFC 8259 §7); bytes that are not UTF-8 become
/// U+FFFD.
pub(crate) fn push_json_name(out: &mut Vec<u8>, name: &[u8]) {
    for chunk in name.utf8_chunks() {
        for byte in chunk.valid().bytes() {
            match byte {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0..0x20 | 0x7f => {
                    let _ = write!(out, "\\u{byte:04x}");
                }
                _ => out.push(byte),
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_table() {
        // (name, HTML text, href segment, JSON string body)
        let cases: &[(&[u8], &str, &str, &str)] = &[
            (b"plain.txt", "plain.txt", "plain.txt", "plain.txt"),
            (b"with space", "with space", "with%20space", "with space"),
            (b"100%.txt", "100%.txt", "100%25.txt", "100%.txt"),
            (b"a#b?c", "a#b?c", "a%23b%3Fc", "a#b?c"),
            (b"a&b", "a&amp;b", "a%26b", "a&b"),
            (
                b"\"q\" 'q'",
                "&quot;q&quot; &#39;q&#39;",
                "%22q%22%20%27q%27",
                "\\\"q\\\" 'q'",
            ),
            (b"<b>", "&lt;b&gt;", "%3Cb%3E", "<b>"),
            (b"[x]", "[x]", "%5Bx%5D", "[x]"),
            (b"a:b", "a:b", "a%3Ab", "a:b"),
            (
                b"back\\slash",
                "back\\slash",
                "back%5Cslash",
                "back\\\\slash",
            ),
            (
                b"line\nbreak",
                "line\nbreak",
                "line%0Abreak",
                "line\\nbreak",
            ),
            (b"bell\x07", "bell\x07", "bell%07", "bell\\u0007"),
            (
                "café ☕".as_bytes(),
                "café ☕",
                "caf%C3%A9%20%E2%98%95",
                "café ☕",
            ),
            (
                b"latin1-\xe9.txt",
                "latin1-\u{fffd}.txt",
                "latin1-%E9.txt",
                "latin1-\\ufffd.txt",
            ),
        ];
        for (name, html, href, json) in cases {
            let shown = String::from_utf8_lossy(name);
            let mut out = Vec::new();
            push_html_name(&mut out, name);
            assert_eq!(String::from_utf8(out).unwrap(), *html, "html of {shown:?}");
            let mut out = Vec::new();
            push_encoded(&mut out, name);
            assert_eq!(String::from_utf8(out).unwrap(), *href, "href of {shown:?}");
            let mut out = Vec::new();
            push_json_name(&mut out, name);
            assert_eq!(String::from_utf8(out).unwrap(), *json, "json of {shown:?}");
            // The href decodes back to the exact bytes.
            let decoded: Vec<u8> = percent_encoding::percent_decode(href.as_bytes()).collect();
            assert_eq!(decoded, *name, "round trip of {shown:?}");
        }
    }
}
