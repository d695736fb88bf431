//! Header fields the operator adds to every response (`-H 'Name: value'`, `--cors`), validated
//! and rendered once at startup.
//!
//! Owns: the syntax check of each field (RFC 9110 §5.1 token for the name, §5.5 field-value for
//! the value, nothing that could split the head) and the rendered `Name: value\r\n` lines, which
//! the head encoder copies verbatim. Cost per response: one `extend_from_slice` of the rendered
//! bytes (none when there are no fields), no allocation.

use crate::http::is_tchar;

/// The field `--cors` adds to every response: any origin may read what this server serves (the
/// files are public to whoever can reach the port anyway; credentials are never allowed with `*`,
/// so a browser does not send cookies or `Authorization` cross-origin on the strength of it).
pub(crate) const CORS_ALLOW_ORIGIN: &str = "Access-Control-Allow-Origin: *";

/// With `--cors`, the response fields a cross-origin script may read beyond the CORS-safelisted
/// ones (Fetch standard §3.2.3): what a page needs to revalidate, resume and name a download.
pub(crate) const CORS_EXPOSE_HEADERS: &str =
    "Access-Control-Expose-Headers: ETag, Accept-Ranges, Content-Range, Content-Disposition";

/// Fields the server frames the message with; an operator's copy would contradict the server's
/// own and break the framing, so they are refused at startup.
const FRAMING_FIELDS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
];

/// The rendered extra fields: empty when none were asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ExtraHeaders {
    bytes: Box<[u8]>,
}

impl ExtraHeaders {
    /// Validates the `-H` arguments (each `Name: value`) and renders them, after the CORS field
    /// when `cors` is set. The error is one line naming the bad argument and what is wrong.
    pub(crate) fn new(fields: &[String], cors: bool) -> Result<ExtraHeaders, String> {
        let mut bytes = Vec::new();
        if cors {
            for field in [CORS_ALLOW_ORIGIN, CORS_EXPOSE_HEADERS] {
                bytes.extend_from_slice(field.as_bytes());
                bytes.extend_from_slice(b"\r\n");
            }
        }
        for field in fields {
            let (name, value) = parse_field(field).map_err(|why| format!("{field:?}: {why}"))?;
            bytes.extend_from_slice(name.as_bytes());
            bytes.extend_from_slice(b": ");
            bytes.extend_from_slice(value.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        Ok(ExtraHeaders {
            bytes: bytes.into_boxed_slice(),
        })
    }

    /// The rendered lines, each ending in CRLF.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Splits and checks one `Name: value` argument.
pub(crate) fn parse_field(field: &str) -> Result<(&str, &str), String> {
    let Some((name, value)) = field.split_once(':') else {
        return Err("expected 'Name: value'".into());
    };
    if name.is_empty() {
        return Err("the field name is empty".into());
    }
    if let Some(c) = name.chars().find(|&c| !u8::try_from(c).is_ok_and(is_tchar)) {
        return Err(format!(
            "{c:?} is not allowed in a field name (RFC 9110 token characters only)"
        ));
    }
    if FRAMING_FIELDS.iter().any(|f| name.eq_ignore_ascii_case(f)) {
        return Err(format!(
            "{name} is set by the server itself and cannot be added"
        ));
    }
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return Err("the field value is empty".into());
    }
    if let Some(c) = value.chars().find(|&c| !is_field_char(c)) {
        return Err(format!(
            "{c:?} is not allowed in a field value (visible ASCII, spaces and tabs only)"
        ));
    }
    Ok((name, value))
}

/// A character of a field value (RFC 9110 §5.5) this server accepts from its operator: visible
/// ASCII, space and tab. `obs-text` is refused, so every added field is plain ASCII.
fn is_field_char(c: char) -> bool {
    c == ' ' || c == '\t' || c.is_ascii_graphic()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn renders_fields_after_cors() {
        let extra = ExtraHeaders::new(
            &strings(&["X-Frame-Options: DENY", "Permissions-Policy:camera=()  "]),
            true,
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(extra.as_bytes()).unwrap(),
            "Access-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: ETag, Accept-Ranges, \
             Content-Range, Content-Disposition\r\nX-Frame-Options: DENY\r\n\
             Permissions-Policy: camera=()\r\n"
        );
        assert!(ExtraHeaders::new(&[], false).unwrap().as_bytes().is_empty());
    }

    #[test]
    fn refuses_bad_fields() {
        for bad in [
            "X-Empty:",
            "X-Empty:   ",
            "NoColon",
            ": value",
            "Bad Name: v",
            "Bad\"Name: v",
            "X-Split: a\r\nSet-Cookie: x=1",
            "X-Nl: a\nb",
            "X-Nul: a\0b",
            "X-Latin: caf\u{e9}",
            "Content-Length: 5",
            "transfer-encoding: chunked",
            "Connection: close",
            "T\u{e9}st: v",
        ] {
            let got = ExtraHeaders::new(&strings(&[bad]), false);
            let err = got.expect_err(bad);
            assert!(!err.contains('\n'), "one line: {err}");
            assert!(
                err.contains(&format!("{bad:?}")),
                "names the argument: {err}"
            );
        }
    }
}
