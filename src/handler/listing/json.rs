//! The JSON form of a listing: an array of `{name, type, size, modified, href}` objects, one per
//! line, for scripts (`?format=json` or `Accept: application/json`).
//!
//! Cost per row: the name escaped twice (JSON string and href); no allocation once the buffer
//! has room.

use super::entry::{Entry, Kind};
use super::escape::{push_encoded, push_json_name};
use crate::http::calendar::{Civil, TimeStyle};

/// One object of the JSON array: `name` (non-UTF-8 bytes become U+FFFD), `type` (`directory`,
/// `file` or `other`), `size` (bytes; `null` for a folder or when unknown), `modified` (RFC 3339,
/// UTC; `null` when unknown), and `href`, the percent-encoded relative URL, which reaches the
/// entry even when its name is not UTF-8.
pub(crate) fn row(out: &mut Vec<u8>, entry: &Entry, name: &[u8], first: bool) {
    out.extend_from_slice(if first {
        b"\n{\"name\":\""
    } else {
        b",\n{\"name\":\""
    });
    push_json_name(out, name);
    let kind = match entry.kind {
        Kind::Directory => "directory",
        Kind::File => "file",
        Kind::Other => "other",
    };
    out.extend_from_slice(b"\",\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"size\":");
    if entry.known && entry.kind != Kind::Directory {
        out.extend_from_slice(itoa::Buffer::new().format(entry.size).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"modified\":");
    if entry.known {
        out.push(b'"');
        Civil::from_unix(entry.modified).push(out, TimeStyle::Rfc3339);
        out.push(b'"');
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"href\":\"");
    push_encoded(out, name);
    if entry.kind == Kind::Directory {
        out.push(b'/');
    }
    out.extend_from_slice(b"\"}");
}
