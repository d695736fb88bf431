//! A folder as a download: `GET /dir/?download=tar` or `?download=zip` streams the folder and
//! everything beneath it as one archive named after it.
//!
//! Owns: reading the query, naming the download (`Content-Disposition`, RFC 6266, with an RFC
//! 8187 `filename*` for names that are not plain ASCII), and building the body: [`walk`] finds
//! the entries under the listing's policies, [`tar`] and [`zip`] encode them with the `tar` and
//! `zip` crates. The body is a [`crate::response::BodySource`] of unknown length, so it is sent
//! chunked to HTTP/1.1 clients and close-delimited to HTTP/1.0 ones, a few entries or one file
//! piece per call: an archive of any size neither sits in memory nor stalls the loop.
//!
//! Cost per request: the folder's name copied twice (the disposition and the walk), then the
//! walk's and the encoder's costs per call.

pub(crate) mod tar;
pub(crate) mod walk;
pub(crate) mod zip;

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::response::body::BodySource;
use crate::response::content_type::ContentType;
use crate::sys::Root;
use walk::Walk;

/// The archive formats offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Tar,
    Zip,
}

impl Format {
    /// The format a query asks for with `download=tar` or `download=zip`, if any.
    pub(crate) fn from_query(query: Option<&str>) -> Option<Format> {
        query?.split('&').find_map(|pair| match pair {
            "download=tar" => Some(Format::Tar),
            "download=zip" => Some(Format::Zip),
            _ => None,
        })
    }

    pub(crate) fn content_type(self) -> ContentType {
        ContentType {
            mime: match self {
                Format::Tar => "application/x-tar",
                Format::Zip => "application/zip",
            },
            charset: false,
        }
    }

    pub(crate) fn extension(self) -> &'static str {
        match self {
            Format::Tar => "tar",
            Format::Zip => "zip",
        }
    }
}

/// The name of the archived folder: its last path segment, or for the root the root folder's
/// own name (`root` if it has none, as `/` has not).
pub(crate) fn folder_name<'a>(path: &'a [u8], root: &'a Path) -> &'a [u8] {
    use std::os::unix::ffi::OsStrExt;
    match path.rsplit(|&b| b == b'/').next() {
        Some(last) if !last.is_empty() => last,
        _ => root.file_name().map_or(b"root", |name| name.as_bytes()),
    }
}

/// `attachment; filename="NAME.EXT"`, with `filename*=UTF-8''…` added when the name is not plain
/// printable ASCII without quotes or backslashes: the plain `filename` then carries `_` for each
/// such byte, for clients that know only it (RFC 6266 §4.3).
pub(crate) fn content_disposition(name: &[u8], format: Format) -> String {
    let plain = |b: u8| b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ';
    let mut value = String::from("attachment; filename=\"");
    value.extend(name.iter().map(|&b| if plain(b) { b as char } else { '_' }));
    value.push('.');
    value.push_str(format.extension());
    value.push('"');
    if !name.iter().all(|&b| plain(b)) {
        value.push_str("; filename*=UTF-8''");
        // RFC 8187 §3.2.1 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"; everything else encoded.
        const ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'!')
            .remove(b'#')
            .remove(b'$')
            .remove(b'&')
            .remove(b'+')
            .remove(b'-')
            .remove(b'.')
            .remove(b'^')
            .remove(b'_')
            .remove(b'`')
            .remove(b'|')
            .remove(b'~');
        // A name that is not UTF-8 is shown with U+FFFD where its bad bytes were.
        let name = String::from_utf8_lossy(name);
        value.extend(percent_encoding::percent_encode(name.as_bytes(), ENCODE));
        value.push('.');
        value.push_str(format.extension());
    }
    value
}

/// The body streaming `dir` (found at `path` below the root) in `format`. `explain` prefixes the
/// `--explain` lines for entries left out; `None` keeps them quiet.
pub(crate) fn body(
    format: Format,
    root: Arc<Root>,
    dir: File,
    path: &[u8],
    explain: Option<String>,
) -> io::Result<Box<dyn BodySource>> {
    let top = folder_name(path, root.path());
    let walk = Walk::new(Arc::clone(&root), dir, path, top, explain)?;
    Ok(match format {
        Format::Tar => Box::new(tar::TarBody::new(walk)),
        Format::Zip => Box::new(zip::ZipBody::new(walk)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_picks_the_format() {
        // (query, format)
        let cases: &[(Option<&str>, Option<Format>)] = &[
            (Some("download=tar"), Some(Format::Tar)),
            (Some("download=zip"), Some(Format::Zip)),
            (Some("sort=size&download=zip"), Some(Format::Zip)),
            (Some("download=rar"), None),
            (Some("download=TAR"), None),
            (Some("xdownload=tar"), None),
            (Some(""), None),
            (None, None),
        ];
        for (query, want) in cases {
            assert_eq!(Format::from_query(*query), *want, "{query:?}");
        }
    }

    #[test]
    fn names_the_download() {
        let root = Path::new("/srv/www");
        assert_eq!(folder_name(b"docs/api", root), b"api");
        assert_eq!(folder_name(b"", root), b"www");
        assert_eq!(folder_name(b"", Path::new("/")), b"root");
        // (folder name, format, Content-Disposition)
        let cases: &[(&[u8], Format, &str)] = &[
            (b"docs", Format::Tar, "attachment; filename=\"docs.tar\""),
            (
                b"my docs",
                Format::Zip,
                "attachment; filename=\"my docs.zip\"",
            ),
            (
                "caf\u{e9}".as_bytes(),
                Format::Zip,
                "attachment; filename=\"caf__.zip\"; filename*=UTF-8''caf%C3%A9.zip",
            ),
            (
                b"a\"b\\c",
                Format::Tar,
                "attachment; filename=\"a_b_c.tar\"; filename*=UTF-8''a%22b%5Cc.tar",
            ),
            (
                b"x\xffy",
                Format::Tar,
                "attachment; filename=\"x_y.tar\"; filename*=UTF-8''x%EF%BF%BDy.tar",
            ),
        ];
        for (name, format, want) in cases {
            assert_eq!(content_disposition(name, *format), *want);
        }
    }
}
