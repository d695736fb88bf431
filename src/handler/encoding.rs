//! Content-coding negotiation (RFC 9110 §12.5.3) and the compressibility policy.
//!
//! Owns: reading `Accept-Encoding` into a q-value per coding ([`Accepted::parse`]), choosing the
//! best of the representations a file has ([`Accepted::choose`]), and which content types are
//! worth compressing ([`compressible`]). Pure: no file system, no clock.
//!
//! Cost per request: one scan of the field, no allocation.

use crate::http::is_tchar;
use crate::http::parse::{FieldLines, trim_ows};
use crate::response::coding::Coding;

/// Files smaller than this are sent as they are. Arbitrary but cheap to justify: below about
/// half a TCP segment the saving is a few hundred bytes of a packet that is sent anyway, while
/// the coded response costs a compressor's set-up and a `Vary`-split cache entry.
pub const MIN_COMPRESS_SIZE: u64 = 512;

/// What a request's `Accept-Encoding` allows: a q-value per coding, in thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// Indexed by [`Coding::index`]. For identity, `None` means "not mentioned": acceptable, but
    /// only when nothing the client named is available (RFC 9110 §12.5.3: identity is acceptable
    /// unless excluded, yet a client that lists codings asks for them).
    q: [Option<u16>; 4],
}

impl Accepted {
    /// Identity only: what a missing, empty or malformed field means. A malformed field never
    /// fails the request; the plain representation is always a correct answer.
    pub const IDENTITY: Accepted = Accepted { q: [None; 4] };

    /// Reads an `Accept-Encoding` field, all of its lines as one list (`None`: the field is
    /// absent). Tokens and parameters are case-insensitive; `x-gzip` is gzip (RFC 9110 §18.6);
    /// `*` sets every coding not named; unknown codings (deflate, compress) are ignored.
    pub fn parse(value: Option<FieldLines<'_>>) -> Accepted {
        let Some(value) = value else {
            return Accepted::IDENTITY;
        };
        let mut named: [Option<u16>; 4] = [None; 4];
        let mut star = None;
        // False for a malformed element, which makes the whole field mean identity.
        let well_formed = value.all_lines(|line| {
            for element in line.split(|&b| b == b',') {
                let mut parts = element.split(|&b| b == b';');
                let token = trim_ows(parts.next().unwrap_or_default());
                if token.is_empty() {
                    // Empty list elements are allowed and ignored (RFC 9110 §5.6.1).
                    continue;
                }
                let mut q = 1000;
                for param in parts {
                    let Some(parsed) = parse_q(trim_ows(param)) else {
                        return false;
                    };
                    q = parsed;
                }
                if !token.iter().all(|&b| is_tchar(b)) {
                    return false;
                }
                let coding = if token.eq_ignore_ascii_case(b"*") {
                    star = Some(q);
                    continue;
                } else if token.eq_ignore_ascii_case(b"gzip")
                    || token.eq_ignore_ascii_case(b"x-gzip")
                {
                    Coding::Gzip
                } else if token.eq_ignore_ascii_case(b"br") {
                    Coding::Brotli
                } else if token.eq_ignore_ascii_case(b"zstd") {
                    Coding::Zstd
                } else if token.eq_ignore_ascii_case(b"identity") {
                    Coding::Identity
                } else {
                    continue;
                };
                // A coding listed twice keeps its best q (lenient: the RFC does not say).
                let slot = &mut named[coding.index()];
                *slot = Some(slot.map_or(q, |old: u16| old.max(q)));
            }
            true
        });
        if !well_formed {
            return Accepted::IDENTITY;
        }
        let mut q = named;
        if let Some(star) = star {
            for slot in &mut q {
                slot.get_or_insert(star);
            }
        }
        Accepted { q }
    }

    /// The q-value of `coding` in thousandths (0: not acceptable). Identity not mentioned counts
    /// as 1 (acceptable).
    pub fn q(&self, coding: Coding) -> u16 {
        match (coding, self.q[coding.index()]) {
            (Coding::Identity, None) => 1,
            (_, q) => q.unwrap_or(0),
        }
    }

    /// The best coding among those `available` says the file has (identity is always
    /// available): the highest q, ties going to the server's [`Coding::PREFERENCE`] and then to a
    /// coding over identity. If the client refuses everything available, identity still: a 406
    /// would help nobody, and RFC 9110 §12.5.3 allows sending an unacceptable representation.
    pub fn choose(&self, available: impl Fn(Coding) -> bool) -> Coding {
        let mut best = Coding::Identity;
        let mut best_q = self.q(Coding::Identity);
        for coding in Coding::PREFERENCE {
            let q = self.q(coding);
            if q > 0 && q >= best_q && (best == Coding::Identity || q > best_q) && available(coding)
            {
                best = coding;
                best_q = q;
            }
        }
        best
    }

    /// Whether any coding other than identity is acceptable at all: if not, there is no point
    /// looking for sidecars or a compressor.
    pub fn wants_coding(&self) -> bool {
        Coding::PREFERENCE.iter().any(|&c| self.q(c) > 0)
    }
}

/// Parses one parameter, which must be a qvalue (RFC 9110 §12.4.2): `q=0`, `q=0.5`, `q=1.000`.
fn parse_q(param: &[u8]) -> Option<u16> {
    let (name, value) = param.split_at(param.iter().position(|&b| b == b'=')?);
    if !trim_ows(name).eq_ignore_ascii_case(b"q") {
        return None;
    }
    let value = trim_ows(&value[1..]);
    let (int, frac) = match value.iter().position(|&b| b == b'.') {
        Some(dot) => (&value[..dot], &value[dot + 1..]),
        None => (value, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether content of type `mime` is worth compressing: text, JavaScript, JSON, XML and their
/// `+json`/`+xml` families (SVG, web manifests, feeds), WebAssembly, playlists and uncompressed
/// fonts. Never images other than SVG, audio, video, archives or WOFF/WOFF2: they are compressed
/// already, and coding them again costs CPU to gain nothing (or to grow them).
pub fn compressible(mime: &str) -> bool {
    mime.starts_with("text/")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || matches!(
            mime,
            "application/javascript"
                | "application/x-javascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "application/vnd.apple.mpegurl"
                | "application/x-mpegurl"
                | "application/x-ndjson"
                | "font/ttf"
                | "font/otf"
                | "application/vnd.ms-fontobject"
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::*;

    /// Every coding available.
    fn all(_: Coding) -> bool {
        true
    }

    #[test]
    fn negotiation_table() {
        let cases: &[(Option<&str>, Coding)] = &[
            // Absent, empty or nothing usable: identity.
            (None, Identity),
            (Some(""), Identity),
            (Some("identity"), Identity),
            (Some("deflate, compress"), Identity),
            // What browsers send; equal q, so the server's order decides.
            (Some("gzip, deflate, br, zstd"), Brotli),
            (Some("gzip, deflate, br"), Brotli),
            (Some("gzip, zstd"), Zstd),
            (Some("gzip"), Gzip),
            (Some("x-gzip"), Gzip),
            // Any case, any whitespace.
            (Some("GZIP"), Gzip),
            (Some("  Br ;  Q=0.9 ,gzip;q=0.8"), Brotli),
            (Some("br\t;\tq=1"), Brotli),
            // q-values decide before the server's order.
            (Some("br;q=0.5, gzip"), Gzip),
            (Some("br;q=0.5, gzip;q=0.500"), Brotli),
            (Some("br;q=0.001, gzip;q=0"), Brotli),
            (Some("br;q=0, gzip;q=0"), Identity),
            // Identity named explicitly competes by q; unnamed, it loses to any coding.
            (Some("identity, gzip;q=0.5"), Identity),
            (Some("identity;q=0.5, gzip"), Gzip),
            (Some("gzip;q=0.1"), Gzip),
            (Some("identity;q=0, gzip"), Gzip),
            // `*` covers codings not named.
            (Some("*"), Brotli),
            (Some("*;q=0.5, gzip"), Gzip),
            (Some("br;q=0, *"), Zstd),
            (Some("*;q=0"), Identity),
            (Some("identity;q=0, *;q=0"), Identity),
            // Empty elements are ignored.
            (Some(", ,gzip,,"), Gzip),
            // Malformed: identity, never a failure.
            (Some("gzip;q=2"), Identity),
            (Some("gzip;q=1.5"), Identity),
            (Some("gzip;q=0.1234"), Identity),
            (Some("gzip;q="), Identity),
            (Some("gzip;q=abc"), Identity),
            (Some("gzip;level=1"), Identity),
            (Some("gzip;q"), Identity),
            (Some("gz ip"), Identity),
            (Some("br, \"gzip\""), Identity),
            (Some("gzip;q=-1"), Identity),
        ];
        for (value, want) in cases {
            let accepted = Accepted::parse(value.map(|v| FieldLines::one(v.as_bytes())));
            assert_eq!(accepted.choose(all), *want, "{value:?}");
        }
    }

    /// One line's value, as the parser hands it over.
    fn one(value: &[u8]) -> Option<FieldLines<'_>> {
        Some(FieldLines::one(value))
    }

    #[test]
    fn the_lines_of_the_field_are_one_list() {
        use crate::http::parse::{Limits, find_head_end, parse_head};
        // (Accept-Encoding lines, choice)
        let cases: &[(&[&str], Coding)] = &[
            (&["gzip", "deflate"], Gzip),
            (&["deflate", "gzip;q=0.5", "br;q=0.7"], Brotli),
            (&["br;q=0", "*"], Zstd),
            // a malformed element on any line: the whole field means identity
            (&["gzip", "br;q=2"], Identity),
            (&["gz ip", "br"], Identity),
        ];
        for (lines, want) in cases {
            let fields: String = lines
                .iter()
                .map(|l| format!("Accept-Encoding: {l}\r\nX: y\r\n"))
                .collect();
            let mut head = format!("GET / HTTP/1.1\r\nHost: t\r\n{fields}\r\n").into_bytes();
            let end = find_head_end(&head, 0).unwrap();
            let head = parse_head(&mut head[..end], &Limits::default()).unwrap();
            let accepted = Accepted::parse(head.fields.accept_encoding);
            assert_eq!(accepted.choose(all), *want, "{lines:?}");
        }
    }

    #[test]
    fn only_available_codings_are_chosen() {
        let browser = Accepted::parse(one(b"gzip, deflate, br, zstd"));
        assert_eq!(browser.choose(|c| c == Gzip), Gzip);
        assert_eq!(browser.choose(|c| c == Zstd || c == Gzip), Zstd);
        assert_eq!(browser.choose(|_| false), Identity);
        // A refused identity is still what is sent when nothing acceptable exists.
        let picky = Accepted::parse(one(b"identity;q=0, br"));
        assert_eq!(picky.choose(|c| c == Gzip), Identity);
    }

    #[test]
    fn q_values_in_thousandths() {
        let accepted = Accepted::parse(one(b"br;q=0.25, gzip;q=1.0, zstd;q=0"));
        assert_eq!(accepted.q(Brotli), 250);
        assert_eq!(accepted.q(Gzip), 1000);
        assert_eq!(accepted.q(Zstd), 0);
        assert_eq!(accepted.q(Identity), 1);
        assert!(accepted.wants_coding());
        assert!(!Accepted::parse(one(b"identity")).wants_coding());
        assert!(!Accepted::parse(None).wants_coding());
    }

    proptest::proptest! {
        /// Any bytes at all, and any set of available codings: no panic, and the choice is
        /// identity or an available coding the client accepts.
        #[test]
        fn any_field_gives_an_acceptable_choice(
            value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            available in proptest::prelude::any::<[bool; 4]>(),
        ) {
            let accepted = Accepted::parse(one(&value));
            let chosen = accepted.choose(|c| available[c.index()]);
            proptest::prop_assert!(
                chosen == Identity || (available[chosen.index()] && accepted.q(chosen) > 0)
            );
        }

        /// Well-formed fields built from the tokens: the choice has the highest q on offer.
        #[test]
        fn the_choice_has_the_best_q(
            items in proptest::collection::vec(
                (proptest::sample::select(&["gzip", "br", "zstd", "identity", "*", "deflate"][..]),
                 0u16..=1000),
                0..6,
            ),
        ) {
            let value = items
                .iter()
                .map(|(token, q)| format!("{token};q={}.{:03}", q / 1000, q % 1000))
                .collect::<Vec<_>>()
                .join(", ");
            let accepted = Accepted::parse(one(value.as_bytes()));
            let chosen = accepted.choose(all);
            let best = accepted.q(chosen);
            for coding in Coding::PREFERENCE {
                let q = accepted.q(coding);
                if chosen == Identity {
                    // Identity wins only over codings refused or ranked strictly lower.
                    proptest::prop_assert!(q == 0 || q < best, "{value}: {coding:?}");
                } else {
                    proptest::prop_assert!(q <= best, "{value}: {coding:?} over {chosen:?}");
                }
            }
            if chosen != Identity {
                proptest::prop_assert!(best >= accepted.q(Identity), "{value}");
            }
        }
    }

    #[test]
    fn compressibility_table() {
        let cases: &[(&str, bool)] = &[
            ("text/html", true),
            ("text/css", true),
            ("text/plain", true),
            ("text/javascript", true),
            ("application/javascript", true),
            ("application/json", true),
            ("application/xml", true),
            ("image/svg+xml", true),
            ("application/manifest+json", true),
            ("application/atom+xml", true),
            ("application/wasm", true),
            ("application/vnd.apple.mpegurl", true),
            ("font/ttf", true),
            ("image/png", false),
            ("image/jpeg", false),
            ("image/webp", false),
            ("image/avif", false),
            ("audio/mpeg", false),
            ("video/mp4", false),
            ("video/mp2t", false),
            ("application/zip", false),
            ("application/gzip", false),
            ("application/x-bzip2", false),
            ("application/pdf", false),
            ("application/octet-stream", false),
            ("font/woff", false),
            ("font/woff2", false),
        ];
        for (mime, want) in cases {
            assert_eq!(compressible(mime), *want, "{mime}");
        }
    }
}
