//! Whether the connection stays open after a response, and how the client finds the end of its
//! body: one pure function (`decide`) for every response, answered or refused.
//!
//! The rules, in the order `decide` applies them:
//! 1. A body whose length is not known up front (a generated listing) is chunked for an HTTP/1.1
//!    client (RFC 9112 §7.1) and delimited by closing the connection for HTTP/1.0, which has no
//!    chunked coding (RFC 9112 §6.3 rule 8); a close-delimited body forces the close.
//! 2. The connection closes if the client asked (`Connection: close`, or HTTP/1.0 without
//!    `keep-alive`; RFC 9112 §9.3) or the server must (see `Terms::must_close`); the head then
//!    says `Connection: close`.
//! 3. Otherwise it stays open: silently for HTTP/1.1, by echoing `Connection: keep-alive` to an
//!    HTTP/1.0 client that asked for it (RFC 9112 §9.3 and Appendix C.2.2).
//!
//! Cost: a few comparisons; no allocation, no I/O.

use crate::http::Version;

/// What the `Connection` header must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// HTTP/1.1 default: no header.
    KeepAlive,
    /// An HTTP/1.0 client asked to keep the connection: echo `Connection: keep-alive`.
    KeepAliveEcho,
    /// The connection closes after this response: `Connection: close`.
    Close,
}

/// How the client finds the end of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delimiter {
    /// By `Content-Length`, or there is no content (HEAD, 204, 304).
    Length,
    /// By `Transfer-Encoding: chunked`.
    Chunked,
    /// By the connection closing (HTTP/1.0 only).
    Close,
}

/// The decision for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    pub(crate) persistence: Persistence,
    pub(crate) delimiter: Delimiter,
}

impl Framing {
    /// A body delimited by its length (or absent) on a connection that stays as `persistence` says.
    pub const fn length(persistence: Persistence) -> Framing {
        Framing {
            persistence,
            delimiter: Delimiter::Length,
        }
    }

    /// Whether the connection closes after this response.
    pub(crate) fn closes(&self) -> bool {
        self.persistence == Persistence::Close
    }
}

/// What the decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Terms {
    /// The request's version (a refused request that never got one counts as HTTP/1.1).
    pub(crate) version: Version,
    /// The client asked to keep the connection open.
    pub(crate) client_keep_alive: bool,
    /// The server closes whatever the client asked: the plan says so, the request was refused,
    /// a body announced with `Expect: 100-continue` will not be read, keep-alive is off, or the
    /// server is shutting down.
    pub(crate) must_close: bool,
    /// The body's length is not known up front.
    pub(crate) unframed: bool,
}

/// Decides persistence and body framing for a response (the rules above).
pub(crate) fn decide(terms: Terms) -> Framing {
    let delimiter = match (terms.unframed, terms.version) {
        (false, _) => Delimiter::Length,
        (true, Version::Http11) => Delimiter::Chunked,
        (true, Version::Http10) => Delimiter::Close,
    };
    let close = !terms.client_keep_alive || terms.must_close || delimiter == Delimiter::Close;
    let persistence = match (close, terms.version) {
        (true, _) => Persistence::Close,
        (false, Version::Http10) => Persistence::KeepAliveEcho,
        (false, Version::Http11) => Persistence::KeepAlive,
    };
    Framing {
        persistence,
        delimiter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Delimiter::{Chunked, Close as ByClose, Length};
    use Persistence::{Close, KeepAlive, KeepAliveEcho};
    use Version::{Http10, Http11};

    #[test]
    fn decision_table() {
        // (version, client keep-alive, must close, unframed) → (persistence, delimiter)
        type Case = ((Version, bool, bool, bool), (Persistence, Delimiter));
        let cases: &[Case] = &[
            // a body of known length: the client decides, unless the server must close
            ((Http11, true, false, false), (KeepAlive, Length)),
            ((Http11, false, false, false), (Close, Length)),
            ((Http11, true, true, false), (Close, Length)),
            ((Http10, true, false, false), (KeepAliveEcho, Length)),
            ((Http10, false, false, false), (Close, Length)),
            ((Http10, true, true, false), (Close, Length)),
            // unknown length: chunked for HTTP/1.1, kept alive if allowed
            ((Http11, true, false, true), (KeepAlive, Chunked)),
            ((Http11, false, false, true), (Close, Chunked)),
            ((Http11, true, true, true), (Close, Chunked)),
            // unknown length to HTTP/1.0: delimited by closing, so always closes
            ((Http10, true, false, true), (Close, ByClose)),
            ((Http10, false, false, true), (Close, ByClose)),
            ((Http10, true, true, true), (Close, ByClose)),
        ];
        for &((version, client_keep_alive, must_close, unframed), (persistence, delimiter)) in cases
        {
            let terms = Terms {
                version,
                client_keep_alive,
                must_close,
                unframed,
            };
            let want = Framing {
                persistence,
                delimiter,
            };
            assert_eq!(decide(terms), want, "{terms:?}");
        }
    }
}
