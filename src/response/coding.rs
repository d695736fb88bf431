//! Content codings (RFC 9110 §8.4.1): the names a representation's `Content-Encoding` can carry,
//! and what each means to this server (its sidecar suffix, its ETag suffix).

/// A content coding this server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    /// No coding: the file's own bytes.
    Identity,
    /// Brotli (RFC 7932): sidecars and on the fly.
    Brotli,
    /// Zstandard (RFC 8878): sidecars only (see [`Coding::on_the_fly`]).
    Zstd,
    /// gzip (RFC 1952): sidecars and on the fly.
    Gzip,
}

impl Coding {
    /// The codings other than identity, in the server's order of preference when a client
    /// accepts several equally: brotli compresses text best, zstd decodes fastest, gzip is
    /// understood everywhere.
    pub const PREFERENCE: [Coding; 3] = [Coding::Brotli, Coding::Zstd, Coding::Gzip];

    /// The coding's token in `Content-Encoding` and `Accept-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }

    /// The suffix of a precompressed sidecar: `app.js.br` beside `app.js`.
    pub fn sidecar_suffix(self) -> Option<&'static [u8]> {
        match self {
            Coding::Identity => None,
            Coding::Brotli => Some(b".br"),
            Coding::Zstd => Some(b".zst"),
            Coding::Gzip => Some(b".gz"),
        }
    }

    /// What the ETag of a coded representation carries inside its quotes after the file's tag, so
    /// each coding has its own strong validator (RFC 9110 §8.8.3: different bytes, different tag).
    pub fn etag_suffix(self) -> &'static [u8] {
        match self {
            Coding::Identity => b"",
            Coding::Brotli => b"-br",
            Coding::Zstd => b"-zst",
            Coding::Gzip => b"-gz",
        }
    }

    /// Whether this server compresses with the coding as it sends. Zstandard is served from
    /// sidecars only: the one well-kept Rust encoder (`zstd`) binds the C library, and every
    /// client that accepts zstd accepts brotli too, which compresses text at least as well.
    pub fn on_the_fly(self) -> bool {
        matches!(self, Coding::Brotli | Coding::Gzip)
    }

    /// A small index, for tables of per-coding values.
    pub fn index(self) -> usize {
        match self {
            Coding::Identity => 0,
            Coding::Brotli => 1,
            Coding::Zstd => 2,
            Coding::Gzip => 3,
        }
    }
}
