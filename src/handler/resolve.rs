//! Request target → open file, never outside the root.
//!
//! Owns: taking the path out of an origin-form or absolute-form target, percent-decoding it to
//! bytes, normalising dot-segments lexically (rejecting any that climb above the root), the hidden
//! file policy, and opening the result relative to the root directory.
//!
//! Containment is enforced twice: lexically here (`..` can never climb above the root), and when
//! opening, by [`crate::sys::Root`]: the kernel's own containment, or a walk that holds each
//! directory open, so no path and no symlink leads out of the root, and none leads through a
//! hidden name unless hidden files are served.
//!
//! Cost per request: the decoded path is built in a caller-owned buffer (no allocation);
//! one `openat2` and one `fstat` for a file; one more `openat2` for a directory's index.

use std::fs::{File, Metadata};

use rustix::io::Errno;

use crate::sys::{Refusal, Root};

/// Why a target did not resolve to something to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    /// Not an origin-form or absolute-form target, a NUL byte, or a `%` that is no
    /// percent-encoding.
    BadRequest,
    /// `..` that would climb above the root.
    LeavesRoot,
    /// A name starting with `.` while hidden files are not served, asked for or on the way of a
    /// symlink.
    Hidden,
    /// No such file, a symlink whose target leaves the root, or a file named with a
    /// trailing slash.
    NotFound,
    /// Exists but may not be read, or is not a regular file or directory.
    Forbidden,
    /// The path is longer than the file system accepts.
    TooLong,
    /// The server is out of file descriptors.
    Unavailable,
}

/// What a target resolved to.
#[derive(Debug)]
pub(crate) enum Resolved {
    /// A regular file, opened, with its metadata. The path buffer holds its path.
    File(File, Metadata),
    /// A directory requested with a trailing slash and holding no `index.html`. The path buffer
    /// holds its path.
    Directory(File),
    /// A directory requested without its trailing slash: redirect to this location.
    AddSlash(String),
}

/// The parts of a request target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The path, still percent-encoded, starting with `/`.
    pub path: &'a str,
    /// The query without its `?`, if any.
    pub(crate) query: Option<&'a str>,
}

/// Splits a request target (RFC 9112 §3.2) into path and query. Origin-form (`/a?b`) and
/// absolute-form (`http://host/a?b`) are accepted; authority-form and asterisk-form are not
/// targets of a file.
pub fn split_target(target: &str) -> Result<Target<'_>, ResolveError> {
    let rest = if target.starts_with('/') {
        target
    } else {
        let scheme_end = target.find("://").ok_or(ResolveError::BadRequest)?;
        let scheme = &target[..scheme_end];
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(ResolveError::BadRequest);
        }
        let after = &target[scheme_end + 3..];
        match after.find(['/', '?']) {
            Some(i) if after.as_bytes()[i] == b'/' => &after[i..],
            // `http://host?q` and `http://host` both mean the root.
            Some(i) => {
                return Ok(Target {
                    path: "/",
                    query: Some(&after[i + 1..]),
                });
            }
            None => "/",
        }
    };
    // A fragment is never sent by a client, but must not reach the file system if one is. The
    // first `?` or `#` is found in one `memchr2` pass (a `str` char pattern cost about 90
    // instructions a search here, and a search for each byte twice that); both are ASCII, so the
    // cuts fall on character boundaries.
    let bytes = rest.as_bytes();
    Ok(match memchr::memchr2(b'?', b'#', bytes) {
        Some(i) if bytes[i] == b'?' => {
            let query = &rest[i + 1..];
            Target {
                path: &rest[..i],
                query: Some(match memchr::memchr(b'#', query.as_bytes()) {
                    Some(j) => &query[..j],
                    None => query,
                }),
            }
        }
        Some(i) => Target {
            path: &rest[..i],
            query: None,
        },
        None => Target {
            path: rest,
            query: None,
        },
    })
}

/// A request target decoded into the path buffer by [`decode_target`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoded<'a> {
    /// For a target naming a directory (a trailing slash, or the root), the length of the
    /// directory's path: the buffer then holds its index's path ([`push_index`]).
    pub(crate) dir_len: Option<usize>,
    /// The target's query.
    pub(crate) query: Option<&'a str>,
}

impl Decoded<'_> {
    /// The path as the target named it, without an index's name: the directory's for a
    /// directory.
    pub(crate) fn named<'p>(&self, path: &'p [u8]) -> &'p [u8] {
        &path[..self.dir_len.unwrap_or(path.len())]
    }
}

/// Splits `target` ([`split_target`]) and decodes its path into `out` ([`normalise`]); a path
/// naming a directory gets its index's name ([`push_index`]), so the open-file cache finds an
/// index by the file's own path.
pub(crate) fn decode_target<'a>(
    target: &'a str,
    hidden: bool,
    out: &mut Vec<u8>,
) -> Result<Decoded<'a>, ResolveError> {
    let target = split_target(target)?;
    let trailing_slash = normalise(target.path, hidden, out)?;
    let dir_len = (trailing_slash || out.is_empty()).then(|| push_index(out));
    Ok(Decoded {
        dir_len,
        query: target.query,
    })
}

/// Percent-decodes `path` and normalises it into `out` as a relative path with no `.`/`..`
/// segments and no empty segments (`a/b/c`, or empty for the root). Returns whether the decoded
/// path ended in a slash (or in a dot-segment, which names a directory).
///
/// Decoding comes first, so `%2e%2e` and `..%2f` are dot-segments like any other: they are
/// resolved lexically and rejected if they would climb above the root. A decoded NUL is rejected.
/// So is a `%` not followed by two hex digits (`/%zz`, `/%u0061`, a `%` at the end): RFC 3986
/// §2.1 allows no other use of it in a path, so the target is malformed (RFC 9112 §3), and nginx
/// answers 400 too; passing the `%` through as a byte would make `/%zz.txt` a name lookup.
/// Unless `hidden`, a segment starting with `.` is reported as not found.
pub fn normalise(path: &str, hidden: bool, out: &mut Vec<u8>) -> Result<bool, ResolveError> {
    out.clear();
    // Start of the segment being read, within `out`; `None` between segments.
    let mut segment: Option<usize> = None;
    let mut trailing_slash = false;
    let path = path.as_bytes();
    let mut at = 0;
    while at <= path.len() {
        let byte = match path.get(at) {
            Some(b'%') => {
                let digit = |i: usize| path.get(i).and_then(|&b| (b as char).to_digit(16));
                let (Some(high), Some(low)) = (digit(at + 1), digit(at + 2)) else {
                    return Err(ResolveError::BadRequest);
                };
                at += 2;
                (high * 16 + low) as u8
            }
            Some(&byte) => byte,
            // A final `/` closes the last segment; it does not count as a trailing slash by
            // itself.
            None => b'/',
        };
        at += 1;
        match byte {
            0 => return Err(ResolveError::BadRequest),
            b'/' => {
                trailing_slash = match segment.take() {
                    Some(start) => close_segment(out, start, hidden)?,
                    None => true,
                }
            }
            _ => {
                if segment.is_none() {
                    if !out.is_empty() {
                        out.push(b'/');
                    }
                    segment = Some(out.len());
                }
                out.push(byte);
            }
        }
    }
    Ok(trailing_slash)
}

/// Applies the segment `out[start..]`: drops `.`, pops the parent for `..` (an error at the root),
/// refuses hidden names. Returns whether it was a dot-segment (which names a directory).
fn close_segment(out: &mut Vec<u8>, start: usize, hidden: bool) -> Result<bool, ResolveError> {
    // Where `out` ended before this segment and the `/` pushed ahead of it.
    let before = start.saturating_sub(1);
    match &out[start..] {
        b"." => {
            out.truncate(before);
            Ok(true)
        }
        b".." => {
            out.truncate(before);
            if out.is_empty() {
                return Err(ResolveError::LeavesRoot);
            }
            let parent = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
            out.truncate(parent);
            Ok(true)
        }
        name if name[0] == b'.' && !hidden => Err(ResolveError::Hidden),
        _ => Ok(false),
    }
}

/// The name of a directory's index file.
const INDEX: &[u8] = b"index.html";

/// Turns the directory path [`normalise`] wrote into `path` into its index file's path
/// (`a/b` → `a/b/index.html`, the root → `index.html`); returns the directory path's length.
fn push_index(path: &mut Vec<u8>) -> usize {
    let dir_len = path.len();
    if !path.is_empty() {
        path.push(b'/');
    }
    path.extend_from_slice(INDEX);
    dir_len
}

/// Resolves the path [`normalise`] wrote into `path` beneath `root`, leaving the relative path
/// of what was found in `path`. For a target naming a directory (with a trailing slash, or the
/// root), `path` holds the index's path from [`push_index`] and `dir_len` the directory's length.
/// `query` is kept in a redirect's `Location`.
pub(crate) fn resolve(
    root: &Root,
    dir_len: Option<usize>,
    query: Option<&str>,
    path: &mut Vec<u8>,
) -> Result<Resolved, ResolveError> {
    let file = open_beneath(root, &path[..dir_len.unwrap_or(path.len())])?;
    let meta = file.metadata().map_err(|_| ResolveError::Forbidden)?;
    if meta.is_file() {
        // A trailing slash names a directory, as `open("a.txt/")` would say (ENOTDIR): serving
        // the file there would give it a second URL under which its relative links break.
        if dir_len.is_some() {
            return Err(ResolveError::NotFound);
        }
        return Ok(Resolved::File(file, meta));
    }
    if !meta.is_dir() {
        return Err(ResolveError::Forbidden);
    }
    let Some(dir_len) = dir_len else {
        return Ok(Resolved::AddSlash(slash_location(path, query)));
    };
    match open_beneath(root, path) {
        Ok(index) => {
            let meta = index.metadata().map_err(|_| ResolveError::Forbidden)?;
            if meta.is_file() {
                Ok(Resolved::File(index, meta))
            } else {
                Err(ResolveError::Forbidden)
            }
        }
        Err(ResolveError::NotFound | ResolveError::Hidden) => {
            path.truncate(dir_len);
            Ok(Resolved::Directory(file))
        }
        Err(e) => Err(e),
    }
}

/// `/<path>/` re-encoded from the normalised path (so a `//host`-looking path can never become a
/// protocol-relative redirect), with the query kept.
fn slash_location(path: &[u8], query: Option<&str>) -> String {
    let mut location = String::with_capacity(path.len() + 2);
    location.push('/');
    location.extend(percent_encoding::percent_encode(path, PATH_ENCODE));
    location.push('/');
    if let Some(query) = query {
        location.push('?');
        location.push_str(query);
    }
    location
}

/// Bytes to percent-encode when a file path is written into a URL path: controls, space, and the
/// characters with a meaning in URLs or HTML attributes. `/` stays as the separator.
pub(crate) const PATH_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'\'')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Opens `rel` (normalised, relative) beneath the root. Non-blocking, so a FIFO opens at once
/// (and is then refused as not a regular file) instead of stalling the event loop.
pub(crate) fn open_beneath(root: &Root, rel: &[u8]) -> Result<File, ResolveError> {
    root.open_beneath(rel).map_err(|refusal| match refusal {
        // A symlink leading out of the root answers as a missing file: whether something lies
        // there does not show.
        Refusal::Escapes => ResolveError::NotFound,
        Refusal::Hidden => ResolveError::Hidden,
        Refusal::Os(e) => map_errno(e),
    })
}

fn map_errno(e: Errno) -> ResolveError {
    match e {
        Errno::ACCESS | Errno::PERM => ResolveError::Forbidden,
        // A socket, or a device node with no driver behind it: it exists but is no regular file.
        Errno::NXIO | Errno::NODEV => ResolveError::Forbidden,
        Errno::NAMETOOLONG => ResolveError::TooLong,
        Errno::MFILE | Errno::NFILE | Errno::NOMEM => ResolveError::Unavailable,
        // ENOENT, ENOTDIR, ELOOP (a symlink loop) and anything else: nothing to serve here.
        _ => ResolveError::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_target_table() {
        let t = |path, query| Ok(Target { path, query });
        let cases: &[(&str, Result<Target<'_>, ResolveError>)] = &[
            // origin-form
            ("/", t("/", None)),
            ("/a/b?x=1&y", t("/a/b", Some("x=1&y"))),
            ("/a?", t("/a", Some(""))),
            ("/a#frag", t("/a", None)),
            // absolute-form
            ("http://example.com/a/b?q", t("/a/b", Some("q"))),
            ("HTTP://example.com", t("/", None)),
            ("https://example.com?q", t("/", Some("q"))),
            ("http://h/../etc/passwd", t("/../etc/passwd", None)),
            // neither
            ("*", Err(ResolveError::BadRequest)),
            ("example.com:443", Err(ResolveError::BadRequest)),
            ("ftp://h/a", Err(ResolveError::BadRequest)),
            ("a/b", Err(ResolveError::BadRequest)),
        ];
        for (target, want) in cases {
            assert_eq!(split_target(target), *want, "{target}");
        }
    }

    #[test]
    fn normalise_table() {
        use ResolveError::*;
        // (path, normalised, trailing slash)
        let ok: &[(&str, &str, bool)] = &[
            // plain
            ("/", "", true),
            ("/a", "a", false),
            ("/a/b/", "a/b", true),
            // collapse `//` and `/./`
            ("//a///b", "a/b", false),
            ("/a/./b/.", "a/b", true),
            // `..` within the root
            ("/a/b/../c", "a/c", false),
            ("/a/..", "", true),
            ("/a/%2e%2E/b", "b", false),
            // decoding
            ("/with%20space.txt", "with space.txt", false),
            ("/caf%C3%A9", "café", false),
            ("/a%2Fb", "a/b", false),
            ("/%41%2d%7E", "A-~", false),
            ("/100%25.txt", "100%.txt", false),
            ("/back\\slash", "back\\slash", false),
        ];
        let mut out = Vec::new();
        for (path, want, slash) in ok {
            let got = normalise(path, false, &mut out);
            assert_eq!(got, Ok(*slash), "{path}");
            assert_eq!(String::from_utf8_lossy(&out), *want, "{path}");
        }
        assert_eq!(normalise("/%E9", false, &mut out), Ok(false));
        assert_eq!(out, b"\xe9", "non-UTF-8 bytes pass through as bytes");

        let bad: &[(&str, ResolveError)] = &[
            // escapes above the root
            ("/..", LeavesRoot),
            ("/../etc/passwd", LeavesRoot),
            ("/a/../../etc", LeavesRoot),
            ("/%2e%2e/etc", LeavesRoot),
            ("/..%2fetc", LeavesRoot),
            ("/a/..%2F..%2Fetc", LeavesRoot),
            // NUL
            ("/a%00.txt", BadRequest),
            // a `%` that is no percent-encoding (issue 19: was a name lookup, 404)
            ("/%zz.txt", BadRequest),
            ("/%u0061", BadRequest),
            ("/a%2", BadRequest),
            ("/a%", BadRequest),
            ("/a%%41", BadRequest),
            ("/%g0", BadRequest),
            // hidden files
            ("/.env", Hidden),
            ("/a/.git/config", Hidden),
            ("/%2egit", Hidden),
        ];
        for (path, want) in bad {
            assert_eq!(normalise(path, false, &mut out), Err(*want), "{path}");
        }
        assert_eq!(normalise("/.well-known/x", true, &mut out), Ok(false));
        assert_eq!(out, b".well-known/x");
    }

    #[test]
    fn slash_location_is_reencoded() {
        assert_eq!(slash_location(b"a b/c", Some("x=1")), "/a%20b/c/?x=1");
        assert_eq!(slash_location(b"evil.com", None), "/evil.com/");
    }
}
