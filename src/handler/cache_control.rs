//! The `Cache-Control` policy of a site.
//!
//! By default every file gets `no-cache`: a browser may keep it but revalidates before each use,
//! so an edit shows on the next reload while an unchanged file costs a 304. A file whose name
//! carries a content hash (`app.3f9c2e1a.js`, `main-5d41402abc4b2a76.css`) changes name when it
//! changes content, so it gets `public, max-age=31536000, immutable` and is never revalidated.
//! `--cache-control VALUE` replaces both with one value for every file.
//!
//! A directory listing always gets `no-cache` (RFC 9111 §5.2.2.4), whatever `--cache-control`
//! says of files: without it a cache may give the page a heuristic freshness lifetime
//! (RFC 9111 §4.2.2) and show a stale listing. It carries no validator, so every use is a full
//! fetch: a correct one would have to cover every name, size, time and type the page shows,
//! which means reading and stat'ing the whole directory before the head could be sent, while
//! the listing is streamed in bounded pieces precisely so that a folder of 100,000 entries
//! never holds up the loop (the directory's own mtime is no substitute: it does not change
//! when a listed file grows).
//!
//! Cost per request: one scan of the file name; the value is shared text (an `Arc` clone).

use std::sync::{Arc, LazyLock};

/// The default: store, but revalidate before every use.
pub(crate) const NO_CACHE: &str = "no-cache";

/// `no-cache` as answers share it: a response clones a reference count, never the text.
pub(crate) fn no_cache() -> Arc<str> {
    static SHARED: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(NO_CACHE));
    Arc::clone(&SHARED)
}

/// `no-store` (answers no cache may keep: live reload's stream, metrics, health), shared likewise.
pub(crate) fn no_store() -> Arc<str> {
    static SHARED: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("no-store"));
    Arc::clone(&SHARED)
}

/// For content-hashed names: a year (the longest value RFC 9111 §5.2.2.1 caches commonly honour),
/// and `immutable` (RFC 8246) so a reload does not even revalidate.
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Shortest run of hex digits taken for a content hash. Shorter runs are too likely to be part
/// of an ordinary name (`v1.2.3`, `cafe`); 8 is the shortest hash common bundlers emit.
const MIN_HASH_DIGITS: usize = 8;

/// Which `Cache-Control` value a file gets.
#[derive(Debug, Clone)]
pub(crate) struct CachePolicy {
    /// For ordinary names.
    plain: Arc<str>,
    /// For content-hashed names.
    hashed: Arc<str>,
    /// For directory listings: always `no-cache`.
    listing: Arc<str>,
}

impl CachePolicy {
    /// The policy: `value` for every file if given, otherwise `no-cache`, with the immutable
    /// value for hashed names.
    pub fn new(value: Option<&str>) -> CachePolicy {
        match value {
            Some(value) => {
                let value: Arc<str> = Arc::from(value);
                CachePolicy {
                    plain: value.clone(),
                    hashed: value,
                    listing: Arc::from(NO_CACHE),
                }
            }
            None => {
                let plain: Arc<str> = Arc::from(NO_CACHE);
                CachePolicy {
                    listing: plain.clone(),
                    plain,
                    hashed: Arc::from(IMMUTABLE),
                }
            }
        }
    }

    /// The value for a directory listing.
    pub(crate) fn for_listing(&self) -> Arc<str> {
        self.listing.clone()
    }

    /// The value for a file named `name` (its last path segment).
    pub(crate) fn for_name(&self, name: &[u8]) -> Arc<str> {
        if is_hashed_name(name) {
            self.hashed.clone()
        } else {
            self.plain.clone()
        }
    }
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy::new(None)
    }
}

/// Whether a file name carries a content hash: a run of at least 8 hex digits that is a whole
/// dot-separated component (`app.3f9c2e1a.js`) or follows the last dash of one (`main-5d41402a.css`),
/// with an extension after it.
///
/// One refinement over "any 8 hex digits": a run made of decimal digits only is not taken for a
/// hash. Dates and timestamps (`report-20240115.pdf`, `backup.1700000000.tar`) would otherwise be
/// cached for a year with no way to revalidate after an edit; a real hash is all-decimal in 2 %
/// of cases at 8 digits (and almost never at 16), and those files merely get `no-cache`.
pub(crate) fn is_hashed_name(name: &[u8]) -> bool {
    // Everything before the extension; no dot means no extension, hence no hash before one.
    let Some(extension_dot) = name.iter().rposition(|&b| b == b'.') else {
        return false;
    };
    name[..extension_dot].split(|&b| b == b'.').any(|part| {
        let after_dash = match part.iter().rposition(|&b| b == b'-') {
            Some(dash) => &part[dash + 1..],
            None => part,
        };
        looks_like_hash(part) || looks_like_hash(after_dash)
    })
}

fn looks_like_hash(run: &[u8]) -> bool {
    run.len() >= MIN_HASH_DIGITS
        && run.iter().all(u8::is_ascii_hexdigit)
        && !run.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_table() {
        let cases: &[(&str, bool)] = &[
            // between dots
            ("app.3f9c2e1a.js", true),
            ("app.3F9C2E1A.js", true),
            ("vendor.5d41402abc4b2a76.chunk.js", true),
            ("3f9c2e1a.js", true),
            // after a dash, before the extension
            ("main-5d41402abc4b2a76.css", true),
            ("index-deadbeef.js", true),
            ("my-app-0123abcd.min.js", true),
            // too short
            ("app.3f9c2e1.js", false),
            ("main-abc123.css", false),
            // no extension after the hash
            ("app.3f9c2e1a", false),
            ("main-5d41402abc4b2a76", false),
            // not hex, or not a whole run
            ("app.3f9c2e1g.js", false),
            ("app.x3f9c2e1a.js", false),
            ("main_5d41402abc4b2a76.css", false),
            ("app3f9c2e1a.js", false),
            // decimal only: dates and timestamps, not hashes
            ("report-20240115.pdf", false),
            ("backup.1700000000.tar.gz", false),
            // ordinary names
            ("index.html", false),
            ("jquery.min.js", false),
            ("style.css", false),
            ("accepted.txt", false),
            ("feedbeef", false),
            ("", false),
            (".", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_hashed_name(name.as_bytes()), *want, "{name}");
        }
    }

    #[test]
    fn policy_values() {
        let default = CachePolicy::default();
        assert_eq!(&*default.for_name(b"index.html"), "no-cache");
        assert_eq!(
            &*default.for_name(b"app.3f9c2e1a.js"),
            "public, max-age=31536000, immutable"
        );
        let fixed = CachePolicy::new(Some("max-age=60"));
        assert_eq!(&*fixed.for_name(b"index.html"), "max-age=60");
        assert_eq!(&*fixed.for_name(b"app.3f9c2e1a.js"), "max-age=60");
        // Listings revalidate whatever files are told.
        assert_eq!(&*default.for_listing(), "no-cache");
        assert_eq!(&*fixed.for_listing(), "no-cache");
    }
}
