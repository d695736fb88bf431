//! The syntax of a request's host: the `Host` field and the authority of an absolute-form target.
//!
//! Owns: deciding whether bytes are `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2,
//! §3.2.3), and taking the authority out of an absolute-form target (RFC 9112 §3.2.2). It does not
//! decide what a host means: this server serves one root whatever the host.
//!
//! The grammar, as [`is_valid_host`] applies it:
//! - `host = IP-literal / IPv4address / reg-name`; every IPv4 address is also a reg-name, so a
//!   dotted quad needs no check of its own (`999.1.1.1` is a valid, unresolvable name).
//! - `reg-name = *( unreserved / pct-encoded / sub-delims )`: letters, digits, `-._~`,
//!   `!$&'()*+,;=` and `%` followed by two hex digits. It may be empty: a client sends an empty
//!   `Host` when the target has no authority (RFC 9112 §3.2).
//! - `IP-literal = "[" ( IPv6address / IPvFuture ) "]"`, `IPvFuture = "v" 1*HEXDIG "."
//!   1*( unreserved / sub-delims / ":" )`. IPv6 text is read by the standard library, whose parser
//!   takes exactly RFC 4291's forms (compression, an embedded dotted quad) and no zone identifier.
//! - `port = *DIGIT`: digits only, possibly none (`host:` is valid, RFC 3986 §3.2.3).
//!
//! Anything else (a space, a control byte, a `/` or `@`, bytes beyond ASCII, an unclosed bracket)
//! is refused.
//!
//! Cost: one pass over the value with a table lookup per byte; no allocation.

use std::net::Ipv6Addr;

/// Bytes of a reg-name other than `%`: unreserved and sub-delims (RFC 3986 §2.2, §2.3).
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        b += 1;
    }
    table
};

/// Whether `value` is `uri-host [ ":" port ]`.
pub fn is_valid_host(value: &[u8]) -> bool {
    // The common host, a name or dotted quad with or without a port, in one table pass with no
    // search for the colon first; what the pass stops at (`%`, `[`, or a byte no host may hold)
    // goes the general way.
    let name_len = value
        .iter()
        .position(|&b| !REG_NAME[usize::from(b)])
        .unwrap_or(value.len());
    match value.get(name_len) {
        None => return true,
        Some(b':') => return value[name_len + 1..].iter().all(u8::is_ascii_digit),
        Some(_) => {}
    }
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(close) = memchr::memchr(b']', value) else {
            return false;
        };
        if !is_ip_literal(&value[1..close]) {
            return false;
        }
        match &value[close + 1..] {
            [] => return true,
            [b':', port @ ..] => (&[][..], port),
            _ => return false,
        }
    } else {
        match memchr::memchr(b':', value) {
            Some(colon) => (&value[..colon], &value[colon + 1..]),
            None => (value, &[][..]),
        }
    };
    is_reg_name(host) && port.iter().all(u8::is_ascii_digit)
}

/// `reg-name`, which includes every IPv4address.
fn is_reg_name(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        if b == b'%' {
            match name.get(i + 1..i + 3) {
                Some([h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else if REG_NAME[usize::from(b)] {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// The inside of an `IP-literal`'s brackets: an IPv6 address or an IPvFuture.
fn is_ip_literal(inside: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = inside {
        let Some(dot) = memchr::memchr(b'.', rest) else {
            return false;
        };
        let (version, tail) = (&rest[..dot], &rest[dot + 1..]);
        return !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && !tail.is_empty()
            && tail
                .iter()
                .all(|&b| b == b':' || (b != b'%' && REG_NAME[usize::from(b)]));
    }
    std::str::from_utf8(inside).is_ok_and(|text| text.parse::<Ipv6Addr>().is_ok())
}

/// The authority of an absolute-form request-target (`scheme "://" authority path-abempty
/// [ "?" query ]`, RFC 9112 §3.2.2), or `None` for any other form (origin-form, `*`,
/// authority-form).
pub fn absolute_form_authority(target: &str) -> Option<&[u8]> {
    let target = target.as_bytes();
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), RFC 3986 §3.1.
    let scheme_len = target
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        .count();
    if scheme_len == 0 || !target[0].is_ascii_alphabetic() {
        return None;
    }
    let rest = target[scheme_len..].strip_prefix(b"://")?;
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_syntax_table() {
        let accepted: &[&str] = &[
            // reg-names
            "example.com",
            "localhost",
            "a",
            "EXAMPLE.com.",
            "xn--bcher-kva.example",
            "my_host",
            "a-b.c~d",
            "!$&'()*+,;=",
            "%41bc",
            "ex%2Eample",
            // empty (a target without authority, RFC 9112 §3.2)
            "",
            // IPv4 (and dotted numbers that are only names)
            "127.0.0.1",
            "999.1.1.1",
            "1.2.3",
            // ports, including none after the colon (RFC 3986 §3.2.3)
            "example.com:8080",
            "127.0.0.1:80",
            "example.com:",
            "example.com:0080",
            ":80",
            // IP-literals
            "[::1]",
            "[::1]:8080",
            "[2001:db8::7]",
            "[2001:db8:0:0:0:0:2:1]:",
            "[::ffff:192.0.2.1]",
            "[v1.fe80::a+en1]",
            "[VF.x:y]:1",
        ];
        for host in accepted {
            assert!(is_valid_host(host.as_bytes()), "refused {host:?}");
        }
        let refused: &[&[u8]] = &[
            // what the issue saw answered 200
            b"exa mple",
            // other bytes outside reg-name
            b"exa\tmple",
            b"example.com/",
            b"user@example.com",
            b"exa\"mple",
            b"a<b>",
            b"a\\b",
            b"a{b}",
            b"a|b",
            b"a^b",
            b"a`b",
            b"[b]c",
            b"exa\x00mple",
            b"exa\x7fmple",
            "bücher.example".as_bytes(),
            // bad percent-encoding
            b"%",
            b"%4",
            b"%4g",
            // ports that are not digits
            b"example.com:80a",
            b"example.com:-1",
            b"example.com: 80",
            b"example.com:80:80",
            b"a:b",
            // IPv6 without brackets, bad literals
            b"::1",
            b"2001:db8::7",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"[::1]:80x",
            b"[::1]]",
            b"[::g]",
            b"[1:2:3:4:5:6:7:8:9]",
            b"[::1%25eth0]",
            b"[fe80::1%eth0]",
            b"[127.0.0.1]",
            b"[v1]",
            b"[v.x]",
            b"[vx.y]",
            b"[v1.]",
            b"[v1.a b]",
            b"[v1.a%41]",
        ];
        for host in refused {
            assert!(
                !is_valid_host(host),
                "accepted {:?}",
                String::from_utf8_lossy(host)
            );
        }
    }

    #[test]
    fn authority_of_absolute_form_targets() {
        let cases: &[(&str, Option<&str>)] = &[
            ("http://example.com/a?b", Some("example.com")),
            ("HTTP://example.com:8080/a", Some("example.com:8080")),
            ("http://example.com", Some("example.com")),
            ("http://example.com?q", Some("example.com")),
            ("http://[::1]:80/", Some("[::1]:80")),
            ("http:///a", Some("")),
            ("http://user@host/a", Some("user@host")),
            ("ftp+x.y://h/a", Some("h")),
            // not absolute-form
            ("/a", None),
            ("/http://x/", None),
            ("*", None),
            ("example.com:443", None),
            ("1http://x/", None),
            ("http:/x", None),
        ];
        for (target, want) in cases {
            assert_eq!(
                absolute_form_authority(target),
                want.map(str::as_bytes),
                "{target}"
            );
        }
    }
}
