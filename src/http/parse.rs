//! Request heads: bytes in, [`RequestHead`] out.
//!
//! Owns: finding the end of a head in a buffer, parsing it with `httparse` into a stack array of
//! header slots, and applying the framing and persistence rules of RFC 9112. Never touches a socket
//! or a file. Cost per request: one scan for the end of the head over bytes not scanned before, one
//! `httparse` pass, no heap allocation. The returned head borrows the caller's buffer.
//!
//! Framing rules enforced here (RFC 9112 unless noted), each one a numbered check in [`parse_head`]:
//! 0. A TLS handshake record (RFC 8446 §5.1: content type 22, version 3.x) is no HTTP at all: a
//!    client that meant `https://` reached the plain port. It gets its own refusal, so the answer
//!    can say to use `http://`.
//! 1. §2.2: empty lines (CRLF, or a bare LF) before a request line are skipped (done by the
//!    caller via [`skip_leading_empty_lines`]); a bare CR there is invalid: 400 and close.
//! 2. §3 / §5.1 / §5.2: a malformed request line, a field with whitespace before its colon, or an
//!    obs-folded line is rejected with 400 (`httparse` refuses all three).
//! 3. §2.3, RFC 9110 §2.5: `HTTP/1.x` with x ≥ 2 is answered as HTTP/1.1; a major version other than
//!    1 gets 505; anything else that is not `HTTP/d.d` gets 400.
//! 4. §3.2: an HTTP/1.1 request without `Host`, or any request with more than one, gets 400; so
//!    does a `Host` that is not `uri-host [ ":" port ]` (RFC 9110 §7.2, see [`super::host`]).
//!    §3.2.2: an absolute-form target's authority, checked alike and with a non-empty host (RFC
//!    9110 §4.2.1; userinfo is refused, §4.2.4), replaces `Host` as the request's host.
//! 5. §6.1: Transfer-Encoding on an HTTP/1.0 request means the framing is faulty: 400 and close.
//! 6. §6.3 rule 3: Transfer-Encoding together with Content-Length: 400 and close.
//! 7. §6.3 rule 4: a Transfer-Encoding other than exactly `chunked` leaves the body length unknown:
//!    400 and close.
//! 8. §6.3 rule 5: Content-Length that is not all digits, or repeated with different values: 400
//!    and close. Repeats of one value (`5, 5`) are accepted as that value.
//! 9. §6.3 rule 6: with neither field the request has no body.
//! 10. §9.3: HTTP/1.1 keeps the connection unless `Connection` lists `close`; HTTP/1.0 closes it
//!     unless `Connection` lists `keep-alive` (any letter case, any position in the list).
//! 11. RFC 9110 §5.3: the lines of a list field combine into one comma-separated list, in order
//!     (`Connection`, `Transfer-Encoding`, `Content-Length` and `Expect` here; `If-Match`,
//!     `If-None-Match`, `Accept`, `Accept-Encoding` and `Access-Control-Request-Headers` as
//!     [`FieldLines`]). A field that is no list may not be given twice: a second `Host` or
//!     `Authorization` is 400 (as nginx answers; two credentials are ambiguous); a second
//!     `Range` or `If-Range` makes the Range ignored (RFC 9110 §14.2, §13.1.5: no valid range
//!     set, no validator that can match), and a second `If-Modified-Since` or
//!     `If-Unmodified-Since` is ignored (RFC 9110 §13.1.3, §13.1.4: a recipient MUST ignore a
//!     value that is a list of dates).
//! 12. The framing fields, `Content-Length` and `Transfer-Encoding`, take no tab: one anywhere
//!     in the line (around the value, between list elements) is 400 and close. RFC 9110 §5.6.3
//!     lets OWS be a tab, but nginx takes only spaces there (a tab becomes part of the value,
//!     which is then no length or coding it knows), and a proxy that does not strip tabs frames
//!     the body otherwise than a server that does: the classic request-smuggling disagreement.
//!     Refusing is the safe side for the two fields that decide where a request ends; every
//!     other field keeps tabs as whitespace, as the RFC says.

use std::mem::MaybeUninit;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use super::error::ParseError;
use super::host;
use super::{Method, Version};

/// Limits applied while parsing a head.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest head (request line, fields and the blank line) in bytes; beyond it, 431 or 414.
    pub max_head_bytes: usize,
    /// Largest request body the server will read and discard; beyond it, 413.
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 8 * 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Most header fields a request may carry; the 101st gets 431. Arbitrary, matching the common
/// limit of servers such as nginx and hyper; it also sizes the stack array of `httparse` slots.
pub(crate) const MAX_HEADERS: usize = 100;

/// How a request's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Header fields the handler and the access log use; all borrowed from the request buffer. A
/// list field is [`FieldLines`], all of its lines (rule 11); a singleton given twice has been
/// dealt with by the parser (rule 11), so each of the others holds its one value.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'b> {
    pub host: Option<&'b [u8]>,
    pub range: Option<&'b [u8]>,
    pub if_match: Option<FieldLines<'b>>,
    pub if_none_match: Option<FieldLines<'b>>,
    pub if_modified_since: Option<&'b [u8]>,
    pub if_unmodified_since: Option<&'b [u8]>,
    pub if_range: Option<&'b [u8]>,
    pub accept: Option<FieldLines<'b>>,
    pub accept_encoding: Option<FieldLines<'b>>,
    pub user_agent: Option<&'b [u8]>,
    pub referer: Option<&'b [u8]>,
    /// Basic credentials under `--auth`; never logged.
    pub authorization: Option<&'b [u8]>,
    /// `Origin` and `Access-Control-Request-Method` were sent: with OPTIONS, a CORS preflight
    /// under `--cors`. Only their presence matters, and flags keep the head small (it is moved
    /// on every request).
    pub origin: bool,
    pub cors_request_method: bool,
    /// `Access-Control-Request-Headers`, echoed (once checked) by a preflight's answer.
    pub cors_request_headers: Option<FieldLines<'b>>,
}

/// Every line of a list field (RFC 9110 §5.6.1), which together make one comma-separated list
/// (§5.3). The size of one slice, and combining costs nothing when a field has one line, as it
/// nearly always does: then this is that line's value. For several lines it is the head's bytes
/// from the LF that ends the line before the field's first line to the end of its last value,
/// and [`FieldLines::lines`] picks the field's lines out of them (other fields' lines may lie
/// between). A value never starts with an LF (`httparse` trims it and refuses obs-fold), so the
/// first byte tells the two forms apart: no flag to carry (it cost about 25 instructions a
/// request in copies of the head), no search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldLines<'b>(&'b [u8]);

impl<'b> FieldLines<'b> {
    /// A field given on one line, with this value (which, like any parsed value, holds no LF).
    pub const fn one(value: &'b [u8]) -> FieldLines<'b> {
        FieldLines(value)
    }

    /// The field's lines up to `earlier` and the one whose value is `value`, both inside `head`.
    /// Falls back to `earlier` alone if either is not (it always is: both come from `head`).
    #[cold]
    fn and_then(head: &'b [u8], earlier: FieldLines<'b>, value: &'b [u8]) -> FieldLines<'b> {
        let (Some(first), Some(last)) = (offset_in(head, earlier.0), offset_in(head, value)) else {
            return earlier;
        };
        // The LF before the first line: the one an earlier combination starts with, or the one
        // before the line of the first value (there is one: the request line's).
        let start = if earlier.several() {
            first
        } else {
            match memchr::memrchr(b'\n', &head[..first]) {
                Some(lf) => lf,
                None => return earlier,
            }
        };
        FieldLines(&head[start..last + value.len()])
    }

    /// Whether the field came on several lines.
    fn several(self) -> bool {
        self.0.first() == Some(&b'\n')
    }

    /// The value, if the field came on one line.
    pub fn single(self) -> Option<&'b [u8]> {
        (!self.several()).then_some(self.0)
    }

    /// Calls `each` with each line's value, trimmed, in order, while it returns true; returns
    /// whether every line was visited. For one line, nearly always, that is one direct call, so
    /// a consumer on the per-request path pays nothing for lines it does not have.
    #[inline]
    pub fn all_lines(self, mut each: impl FnMut(&'b [u8]) -> bool) -> bool {
        if !self.several() {
            return each(self.0);
        }
        self.lines().all(each)
    }

    /// Each line's value, trimmed, in order.
    pub fn lines(self) -> Lines<'b> {
        if !self.several() {
            return Lines::One(Some(self.0));
        }
        let first_line = &self.0[1..];
        let colon = memchr::memchr(b':', first_line).unwrap_or(0);
        Lines::Several {
            rest: first_line,
            name: &first_line[..colon],
        }
    }

    /// The elements of the combined list, trimmed, empty ones skipped (RFC 9110 §5.6.1), for a
    /// list whose elements never hold a comma (tokens with parameters, not entity-tags).
    pub fn elements(self) -> impl Iterator<Item = &'b [u8]> {
        self.lines()
            .flat_map(|line| line.split(|&b| b == b',').map(trim_ows))
            .filter(|element| !element.is_empty())
    }
}

/// The values of a list field's lines: see [`FieldLines::lines`].
#[derive(Debug, Clone)]
pub enum Lines<'b> {
    /// A field given on one line: its value, until it is returned.
    One(Option<&'b [u8]>),
    /// A field given on several lines.
    Several {
        /// The head's lines still to look at.
        rest: &'b [u8],
        /// The field's name, as its first line spells it.
        name: &'b [u8],
    },
}

impl<'b> Iterator for Lines<'b> {
    type Item = &'b [u8];

    // Inline, with the scan of several lines kept out of line: a field of one line, nearly every
    // one, then costs its consumer a few instructions (the call cost about 25 a field).
    #[inline]
    fn next(&mut self) -> Option<&'b [u8]> {
        match self {
            Lines::One(value) => value.take(),
            Lines::Several { rest, name } => next_line_named(rest, name),
        }
    }
}

/// The value of the next line in `rest` named `name` (any letter case), taken off `rest`.
#[inline(never)]
fn next_line_named<'b>(rest: &mut &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
    while !rest.is_empty() {
        let (line, after) = match memchr::memchr(b'\n', rest) {
            Some(lf) => (&rest[..lf], &rest[lf + 1..]),
            None => (*rest, &[][..]),
        };
        *rest = after;
        // A line of a head `httparse` accepted: `name ":" OWS value OWS`, CRLF or LF.
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(colon) = memchr::memchr(b':', line)
            && line[..colon].eq_ignore_ascii_case(name)
        {
            return Some(trim_ows(&line[colon + 1..]));
        }
    }
    None
}

/// Rule 11: whether an `Expect` line lists `100-continue` (any line may).
#[cold]
fn expects_continue(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| trim_ows(item).eq_ignore_ascii_case(b"100-continue"))
}

/// Rule 12: whether the field line whose name is `name`, a slice of `head`, holds a tab (a name
/// never does, so the tab is in the value or the whitespace around it). Only the framing fields
/// pay for this scan.
#[cold]
fn tab_in_line(head: &[u8], name: &str) -> bool {
    let Some(start) = offset_in(head, name.as_bytes()) else {
        return false;
    };
    let line = &head[start..];
    let line = &line[..memchr::memchr(b'\n', line).unwrap_or(line.len())];
    memchr::memchr(b'\t', line).is_some()
}

/// Where `part` starts within `whole`, if it lies inside it.
fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let offset = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (offset + part.len() <= whole.len()).then_some(offset)
}

/// A parsed request head, borrowing the buffer it was parsed from.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'b> {
    pub(crate) method: Method,
    /// The method as sent (for the access log and for 501 answers).
    pub(crate) method_token: &'b str,
    /// The request-target as sent: origin-form, absolute-form, or `*`.
    pub(crate) target: &'b str,
    pub(crate) version: Version,
    /// Whether the connection may stay open after the response (rule 10).
    pub(crate) keep_alive: bool,
    /// How the body that follows the head is delimited.
    pub framing: BodyFraming,
    /// `Expect: 100-continue` was sent.
    pub(crate) expect_continue: bool,
    /// The fields; `host` is the absolute-form target's authority when there is one (rule 4).
    pub fields: Fields<'b>,
    /// Length of the head in bytes, including the blank line.
    pub len: usize,
}

/// Header slots for `httparse`, left uninitialised: it writes each slot it fills, and
/// initialising all [`MAX_HEADERS`] first cost about 280 instructions a request.
fn header_slots<'b>() -> [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS] {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// Strips the empty lines (CRLF or LF) that may precede a request line (rule 1) and returns how
/// many bytes they took. A CR not followed by LF is no empty line: it stays, and the parse
/// refuses it (a bare CR outside the content is invalid, RFC 9112 §2.2); a CR that ends the
/// buffer stays too, as its LF may be in the next read.
pub fn skip_leading_empty_lines(buf: &[u8]) -> usize {
    if !matches!(buf.first(), Some(b'\r' | b'\n')) {
        return 0;
    }
    let mut skipped = 0;
    loop {
        match buf[skipped..] {
            [b'\n', ..] => skipped += 1,
            [b'\r', b'\n', ..] => skipped += 2,
            _ => return skipped,
        }
    }
}

/// Finds the end of a head (the byte after its blank line) in `buf`, scanning only from
/// `scanned` on, the length already searched by an earlier call. A blank line is `\n\n` or
/// `\n\r\n`, so bare-LF heads, which `httparse` accepts, are found too.
///
/// Cost: one vectorised search for `\n\r\n` (how heads end in practice), then one for `\n\n`
/// over the bytes before it only, since a bare-LF blank line counts only if it comes first.
/// Two searches with prebuilt finders take about a third of the instructions of visiting every
/// line end of a head.
pub fn find_head_end(buf: &[u8], scanned: usize) -> Option<usize> {
    static CRLF_BLANK: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\n\r\n"));
    static LF_BLANK: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\n\n"));
    // Back up so a terminator split across two reads is still seen.
    let start = scanned.saturating_sub(3);
    let haystack = &buf[start..];
    let crlf = CRLF_BLANK.find(haystack);
    // A `\n\n` at `j` ends the head first only if `j` is before the `\n\r\n`'s first byte;
    // both of its bytes then lie within `..=i`.
    let before = crlf.map_or(haystack, |i| &haystack[..=i]);
    let end = match LF_BLANK.find(before) {
        Some(j) => j + 2,
        None => crlf? + 3,
    };
    Some(start + end)
}

/// The error for a head that did not end within the limit: 414 if even the request line did not
/// end, otherwise 431.
pub fn oversized_head_error(buf: &[u8]) -> ParseError {
    if memchr::memchr(b'\n', buf).is_some() {
        ParseError::HeadTooLarge
    } else {
        ParseError::UriTooLong
    }
}

/// Rule 0: whether `buf` starts like a TLS record carrying a handshake (a ClientHello).
fn is_tls_handshake(buf: &[u8]) -> bool {
    buf.starts_with(&[0x16, 0x03])
}

/// Checks a head that has not ended yet (`buf` holds no blank line): the error [`parse_head`]
/// will return whatever bytes follow, if that is already certain, so the connection can answer
/// bytes that can never become a request at once instead of at the header deadline.
///
/// Certain are: a TLS handshake record (rule 0); a major version other than 1 on a complete
/// request line (rule 3); and what `httparse` refuses in a prefix, since it reads left to right
/// and an error in a prefix is an error in any head that starts with it (a control byte in the
/// method, binary noise, a bad field name). Not certain is a version token cut short: `HTTP/1.`
/// may still become `HTTP/1.2` (answered as 1.1) and `HTTP/2` may become `HTTP/2.0` (505), so
/// it waits for the end of the line.
///
/// Like [`parse_head`], it may rewrite a higher `HTTP/1.x` to `HTTP/1.1` in place, which the
/// complete parse would do anyway. Cost: one `httparse` pass over the buffered bytes; called
/// only when a read ended mid-head, never on a complete head.
pub fn refuse_partial(buf: &mut [u8]) -> Option<ParseError> {
    match buf {
        // One byte of a possible TLS record: the next says which refusal it is.
        [] | [0x16] => return None,
        _ if is_tls_handshake(buf) => return Some(ParseError::TlsHandshake),
        _ => {}
    }
    if let Err(error) = normalise_minor_version(buf) {
        return Some(error);
    }
    let mut slots = header_slots();
    match httparse::Request::new(&mut []).parse_with_uninit_headers(buf, &mut slots) {
        Ok(_) => None,
        Err(httparse::Error::TooManyHeaders) => Some(ParseError::TooManyHeaders),
        Err(httparse::Error::Version) if memchr::memchr(b'\n', buf).is_none() => None,
        Err(httparse::Error::Version) => Some(ParseError::BadVersion),
        Err(_) => Some(ParseError::Malformed),
    }
}

/// Parses one complete head: `head` must end with its blank line (see [`find_head_end`]).
///
/// Takes `&mut` only to rewrite an `HTTP/1.x` (x ≥ 2) version to `HTTP/1.1` in place (rule 3),
/// since `httparse` knows no other 1.x versions.
pub fn parse_head<'b>(head: &'b mut [u8], limits: &Limits) -> Result<RequestHead<'b>, ParseError> {
    // Rule 0.
    if is_tls_handshake(head) {
        return Err(ParseError::TlsHandshake);
    }
    if head.len() > limits.max_head_bytes {
        return Err(oversized_head_error(head));
    }
    // Rule 3: normalise a higher 1.x minor version before httparse sees it.
    normalise_minor_version(head)?;
    let head: &'b [u8] = head;

    let mut slots = header_slots();
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(head, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        // The caller found the blank line, so a partial parse means a malformed head.
        Ok(httparse::Status::Partial) => return Err(ParseError::Malformed),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(ParseError::BadVersion),
        // Rule 2.
        Err(_) => return Err(ParseError::Malformed),
    };
    let (Some(method_token), Some(target), Some(minor)) = (req.method, req.path, req.version)
    else {
        return Err(ParseError::Malformed);
    };
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };

    let mut fields = Fields::default();
    let mut host_count = 0;
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut te_chunked_only = true;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    let mut repeated = Repeated::default();

    for header in req.headers.iter() {
        let name = header.name;
        let value = trim_ows(header.value);
        // A match on the name's length makes one comparison per field, here and in
        // `note_field`; most fields are ones neither reads.
        match name.len() {
            4 if name.eq_ignore_ascii_case("host") => {
                host_count += 1;
                fields.host = Some(value);
            }
            14 if name.eq_ignore_ascii_case("content-length") => {
                // Rule 12.
                if tab_in_line(head, name) {
                    return Err(ParseError::InvalidContentLength);
                }
                // Rule 8.
                for item in value.split(|&b| b == b',') {
                    let n =
                        parse_decimal(trim_ows(item)).ok_or(ParseError::InvalidContentLength)?;
                    if content_length.is_some_and(|prev| prev != n) {
                        return Err(ParseError::InvalidContentLength);
                    }
                    content_length = Some(n);
                }
            }
            17 if name.eq_ignore_ascii_case("transfer-encoding") => {
                // Rule 12.
                if tab_in_line(head, name) {
                    return Err(ParseError::UnsupportedTransferEncoding);
                }
                // Rule 7: exactly one coding, `chunked`, across all Transfer-Encoding fields.
                for item in value.split(|&b| b == b',') {
                    let coding = trim_ows(item);
                    if transfer_encoding || !coding.eq_ignore_ascii_case(b"chunked") {
                        te_chunked_only = false;
                    }
                    transfer_encoding = true;
                }
            }
            10 if name.eq_ignore_ascii_case("connection") => {
                for token in value.split(|&b| b == b',') {
                    let token = trim_ows(token);
                    conn_close |= token.eq_ignore_ascii_case(b"close");
                    conn_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            6 if name.eq_ignore_ascii_case("expect") => {
                expect_continue |= expects_continue(value);
            }
            _ => note_field(&mut fields, &mut repeated, head, name, value),
        }
    }

    // Rule 4.
    if host_count > 1 {
        return Err(ParseError::DuplicateHost);
    }
    // Rule 11.
    if repeated != Repeated::default() {
        repeated.settle(&mut fields)?;
    }
    if host_count == 0 && version == Version::Http11 {
        return Err(ParseError::MissingHost);
    }
    if fields.host.is_some_and(|value| !host::is_valid_host(value)) {
        return Err(ParseError::InvalidHost);
    }
    if let Some(authority) = host::absolute_form_authority(target) {
        if !host::is_valid_host(authority) || matches!(authority.first(), None | Some(b':')) {
            return Err(ParseError::InvalidHost);
        }
        fields.host = Some(authority);
    }
    let framing = if transfer_encoding {
        // Rule 5.
        if version == Version::Http10 {
            return Err(ParseError::UnsupportedTransferEncoding);
        }
        // Rule 6.
        if content_length.is_some() {
            return Err(ParseError::ConflictingFraming);
        }
        // Rule 7.
        if !te_chunked_only {
            return Err(ParseError::UnsupportedTransferEncoding);
        }
        BodyFraming::Chunked
    } else {
        match content_length {
            Some(0) | None => BodyFraming::None, // Rule 9.
            Some(n) => BodyFraming::Length(n),
        }
    };
    // Rule 10.
    let keep_alive = match version {
        Version::Http11 => !conn_close,
        Version::Http10 => conn_keep_alive && !conn_close,
    };

    Ok(RequestHead {
        method: Method::from_token(method_token),
        method_token,
        target,
        version,
        keep_alive,
        framing,
        expect_continue,
        fields,
        len,
    })
}

/// Singleton fields the server reads that came on more than one line (rule 11), one bit each:
/// a bit mask, so the usual "none" is one comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Repeated(u8);

impl Repeated {
    const AUTHORIZATION: u8 = 1;
    const RANGE_OR_IF_RANGE: u8 = 2;
    const IF_MODIFIED_SINCE: u8 = 4;
    const IF_UNMODIFIED_SINCE: u8 = 8;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// Refuses or drops the singletons given twice. Out of line: nearly no request has any.
    #[cold]
    #[inline(never)]
    fn settle(self, fields: &mut Fields<'_>) -> Result<(), ParseError> {
        if self.has(Repeated::AUTHORIZATION) {
            return Err(ParseError::DuplicateAuthorization);
        }
        if self.has(Repeated::RANGE_OR_IF_RANGE) {
            fields.range = None;
        }
        if self.has(Repeated::IF_MODIFIED_SINCE) {
            fields.if_modified_since = None;
        }
        if self.has(Repeated::IF_UNMODIFIED_SINCE) {
            fields.if_unmodified_since = None;
        }
        Ok(())
    }
}

/// Records a field line whose value the server reads, if it is one (rule 11 for a field given
/// again). A field whose presence alone matters is noted as a flag.
fn note_field<'b>(
    fields: &mut Fields<'b>,
    repeated: &mut Repeated,
    head: &'b [u8],
    name: &str,
    value: &'b [u8],
) {
    /// Keeps the first value of a singleton; a second line sets its `bit` in `repeated`.
    fn single<'b>(slot: &mut Option<&'b [u8]>, repeated: &mut Repeated, bit: u8, value: &'b [u8]) {
        match slot {
            Some(_) => repeated.0 |= bit,
            None => *slot = Some(value),
        }
    }
    /// Adds a line to a list field.
    #[inline]
    fn list<'b>(slot: &mut Option<FieldLines<'b>>, head: &'b [u8], value: &'b [u8]) {
        match *slot {
            None => *slot = Some(FieldLines::one(value)),
            Some(earlier) => *slot = Some(FieldLines::and_then(head, earlier, value)),
        }
    }
    match name.len() {
        5 if name.eq_ignore_ascii_case("range") => {
            single(
                &mut fields.range,
                repeated,
                Repeated::RANGE_OR_IF_RANGE,
                value,
            );
        }
        6 if name.eq_ignore_ascii_case("accept") => list(&mut fields.accept, head, value),
        6 if name.eq_ignore_ascii_case("origin") => fields.origin = true,
        7 if name.eq_ignore_ascii_case("referer") => fields.referer = Some(value),
        8 if name.eq_ignore_ascii_case("if-match") => list(&mut fields.if_match, head, value),
        8 if name.eq_ignore_ascii_case("if-range") => {
            single(
                &mut fields.if_range,
                repeated,
                Repeated::RANGE_OR_IF_RANGE,
                value,
            );
        }
        10 if name.eq_ignore_ascii_case("user-agent") => fields.user_agent = Some(value),
        13 if name.eq_ignore_ascii_case("if-none-match") => {
            list(&mut fields.if_none_match, head, value);
        }
        15 if name.eq_ignore_ascii_case("accept-encoding") => {
            list(&mut fields.accept_encoding, head, value);
        }
        13 if name.eq_ignore_ascii_case("authorization") => {
            single(
                &mut fields.authorization,
                repeated,
                Repeated::AUTHORIZATION,
                value,
            );
        }
        17 if name.eq_ignore_ascii_case("if-modified-since") => single(
            &mut fields.if_modified_since,
            repeated,
            Repeated::IF_MODIFIED_SINCE,
            value,
        ),
        19 if name.eq_ignore_ascii_case("if-unmodified-since") => single(
            &mut fields.if_unmodified_since,
            repeated,
            Repeated::IF_UNMODIFIED_SINCE,
            value,
        ),
        29 if name.eq_ignore_ascii_case("access-control-request-method") => {
            fields.cors_request_method = true;
        }
        30 if name.eq_ignore_ascii_case("access-control-request-headers") => {
            list(&mut fields.cors_request_headers, head, value);
        }
        _ => {}
    }
}

/// Rule 3: inspects the version token at the end of the request line. `HTTP/1.d` with d ≥ 2 is
/// rewritten to `HTTP/1.1`; `HTTP/d.d` with a major other than 1 is 505, but only on a request
/// line that is otherwise well formed: a bad method or target is a 400 whatever the version, so
/// the answer never depends on whether the line's end had arrived when a prefix was refused
/// ([`refuse_partial`]). Anything else is left for `httparse` to accept or reject.
fn normalise_minor_version(head: &mut [u8]) -> Result<(), ParseError> {
    let Some(line_end) = memchr::memchr(b'\n', head) else {
        return Ok(());
    };
    let line = &head[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // What nearly every request sends, settled without the search for the last space.
    if line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0") {
        return Ok(());
    }
    let Some(space) = memchr::memrchr(b' ', line) else {
        return Ok(());
    };
    let version = &line[space + 1..];
    let (major_at, minor_at) = (space + 1 + 5, space + 1 + 7);
    if let [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] = *version
        && major.is_ascii_digit()
        && minor.is_ascii_digit()
    {
        if major != b'1' {
            // Check the rest of the line with the version httparse knows, then put it back (the
            // access log shows the line as sent).
            head[major_at] = b'1';
            head[minor_at] = b'1';
            let line = httparse::Request::new(&mut []).parse(&head[..=line_end]);
            head[major_at] = major;
            head[minor_at] = minor;
            return Err(match line {
                Ok(_) => ParseError::VersionNotSupported,
                Err(httparse::Error::Version) => ParseError::BadVersion,
                Err(_) => ParseError::Malformed,
            });
        }
        if minor >= b'2' {
            head[minor_at] = b'1';
        }
    }
    Ok(())
}

/// A non-empty run of ASCII digits as a `u64`; `None` on anything else or on overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Trims optional whitespace (SP / HTAB, RFC 9110 §5.6.3) from both ends.
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RequestHead<'static>, ParseError> {
        let buf: &'static mut [u8] = Box::leak(text.as_bytes().to_vec().into_boxed_slice());
        let end = find_head_end(buf, 0).expect("test head must be complete");
        parse_head(&mut buf[..end], &Limits::default())
    }

    #[test]
    fn finds_head_end() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Some(27)),
            (b"GET / HTTP/1.1\nHost: a\n\n", Some(24)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", None),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r", None),
            (b"GET / HTTP/1.1\r\n\r\nGET", Some(18)),
        ];
        for (buf, want) in cases {
            assert_eq!(
                find_head_end(buf, 0),
                *want,
                "{:?}",
                String::from_utf8_lossy(buf)
            );
        }
    }

    proptest::proptest! {
        /// The two searches find what a walk over every line end finds: the first blank line,
        /// CRLF or bare LF, from wherever an earlier call stopped.
        #[test]
        fn head_end_is_the_first_blank_line(
            buf in proptest::collection::vec(proptest::sample::select(b"\r\na".to_vec()), 0..40),
            scanned in 0usize..40,
        ) {
            let scanned = scanned.min(buf.len());
            let start = scanned.saturating_sub(3);
            let walked = (start..buf.len()).find_map(|i| match &buf[i..] {
                [b'\n', b'\n', ..] => Some(i + 2),
                [b'\n', b'\r', b'\n', ..] => Some(i + 3),
                _ => None,
            });
            proptest::prop_assert_eq!(find_head_end(&buf, scanned), walked);
        }
    }

    #[test]
    fn head_end_split_across_reads() {
        let buf = b"GET / HTTP/1.0\r\n\r\n";
        // The first read ended after "\r\n\r"; the rescan must still see the terminator.
        assert_eq!(find_head_end(buf, 17), Some(18));
        assert_eq!(find_head_end(buf, 18), Some(18));
    }

    #[test]
    fn framing_and_persistence_table() {
        use BodyFraming::*;
        // (request, framing, keep_alive)
        let ok: &[(&str, BodyFraming, bool)] = &[
            // plain requests
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", None, true),
            ("GET / HTTP/1.0\r\n\r\n", None, false),
            // Connection tokens, any case, in lists
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                None,
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n",
                None,
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n",
                None,
                false,
            ),
            (
                "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                None,
                true,
            ),
            (
                "GET / HTTP/1.0\r\nConnection: foo,  keep-alive \r\n\r\n",
                None,
                true,
            ),
            // bodies
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
                Length(5),
                true,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
                Length(5),
                true,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
                None,
                true,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
                Chunked,
                true,
            ),
            // higher minor version is 1.1
            ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", None, true),
            // spaces around the framing fields are fine, and tabs in any other field (rule 12)
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  5 , 5 \r\nX:\tv\t\r\n\r\n",
                Length(5),
                true,
            ),
            (
                "POST / HTTP/1.1\r\nHost:\ta\t\r\nTransfer-Encoding:  chunked  \r\n\r\n",
                Chunked,
                true,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection:\tclose\r\n\r\n",
                None,
                false,
            ),
        ];
        for (text, framing, keep_alive) in ok {
            let head = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
            assert_eq!(head.framing, *framing, "{text:?}");
            assert_eq!(head.keep_alive, *keep_alive, "{text:?}");
        }
    }

    #[test]
    fn rejections_table() {
        use ParseError::*;
        let bad: &[(&str, ParseError)] = &[
            // versions
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", VersionNotSupported),
            ("GET / HTTP/3.0\r\nHost: a\r\n\r\n", VersionNotSupported),
            // ... but a bad request line is a 400 whatever its version (found by fuzzing:
            // the answer depended on whether the line had ended when a prefix was checked)
            ("G\x01T / HTTP/2.0\r\nHost: a\r\n\r\n", Malformed),
            ("GET /a\x7f HTTP/3.0\r\n\r\n", Malformed),
            ("GET / HTTP/1.x\r\nHost: a\r\n\r\n", BadVersion),
            ("GET / HTTX/1.1\r\nHost: a\r\n\r\n", BadVersion),
            // Host
            ("GET / HTTP/1.1\r\n\r\n", MissingHost),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                DuplicateHost,
            ),
            // Host syntax (the grammar's own table is in host.rs)
            ("GET / HTTP/1.1\r\nHost: exa mple\r\n\r\n", InvalidHost),
            ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", InvalidHost),
            ("GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", InvalidHost),
            ("GET / HTTP/1.0\r\nHost: [::1\r\n\r\n", InvalidHost),
            // an absolute-form authority is checked, even when Host is fine
            ("GET http://a%zz/ HTTP/1.1\r\nHost: a\r\n\r\n", InvalidHost),
            (
                "GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
                InvalidHost,
            ),
            ("GET http:///a HTTP/1.1\r\nHost: a\r\n\r\n", InvalidHost),
            ("GET http://:80/a HTTP/1.1\r\nHost: a\r\n\r\n", InvalidHost),
            // ... and the Host it replaces must still be well formed (RFC 9112 §3.2)
            (
                "GET http://a/ HTTP/1.1\r\nHost: exa mple\r\n\r\n",
                InvalidHost,
            ),
            // malformed lines, obs-fold, space before colon
            ("GET /\r\nHost: a\r\n\r\n", Malformed),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n",
                Malformed,
            ),
            ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", Malformed),
            ("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", Malformed),
            // Content-Length
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
                InvalidContentLength,
            ),
            // Transfer-Encoding
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                ConflictingFraming,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
                UnsupportedTransferEncoding,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                UnsupportedTransferEncoding,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                UnsupportedTransferEncoding,
            ),
            (
                "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                UnsupportedTransferEncoding,
            ),
            // a tab in a framing field's line (rule 12)
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\t5\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\t\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\t5\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "POST / HTTP/1.1\nHost: a\nContent-Length: 5 \t\n\n",
                InvalidContentLength,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n",
                UnsupportedTransferEncoding,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n",
                UnsupportedTransferEncoding,
            ),
        ];
        for (text, want) in bad {
            assert_eq!(parse(text).err(), Some(*want), "{text:?}");
        }
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut text = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..MAX_HEADERS {
            text.push_str(&format!("X-{i}: v\r\n"));
        }
        text.push_str("\r\n");
        assert_eq!(parse(&text).err(), Some(ParseError::TooManyHeaders));
    }

    #[test]
    fn oversized_heads() {
        assert_eq!(
            oversized_head_error(b"GET /aaaaaaaa"),
            ParseError::UriTooLong
        );
        assert_eq!(
            oversized_head_error(b"GET / HTTP/1.1\r\nX: aaaa"),
            ParseError::HeadTooLarge
        );
    }

    #[test]
    fn fields_are_captured() {
        let head = parse(
            "GET /x?y HTTP/1.1\r\nhost: example\r\nRange: bytes=0-1\r\nIF-NONE-MATCH: \"a\"\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
        assert_eq!(head.method, Method::Get);
        assert_eq!(head.target, "/x?y");
        assert_eq!(head.fields.host, Some(&b"example"[..]));
        assert_eq!(head.fields.range, Some(&b"bytes=0-1"[..]));
        assert_eq!(head.fields.if_none_match, Some(FieldLines::one(b"\"a\"")));
        assert!(head.expect_continue);
    }

    #[test]
    fn the_host_is_the_absolute_form_authority_when_there_is_one() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "GET / HTTP/1.1\r\nHost: example:80\r\n\r\n",
                Some("example:80"),
            ),
            ("GET / HTTP/1.1\r\nHost:\r\n\r\n", Some("")),
            (
                "GET http://other/a HTTP/1.1\r\nHost: x\r\n\r\n",
                Some("other"),
            ),
            ("GET http://[::1]:8080 HTTP/1.0\r\n\r\n", Some("[::1]:8080")),
            ("GET / HTTP/1.0\r\n\r\n", None),
        ];
        for (text, want) in cases {
            let head = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
            assert_eq!(head.fields.host, want.map(str::as_bytes), "{text:?}");
        }
    }

    #[test]
    fn partial_heads_table() {
        use ParseError::*;
        /// A TLS 1.2/1.3 ClientHello's first bytes, as a browser sends them.
        const CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xa5\x10";
        let cases: &[(&[u8], Option<ParseError>)] = &[
            // prefixes of valid heads wait, however they are cut
            (b"G", None),
            (b"GET", None),
            (b"GET /a?b=c", None),
            (b"GET / HTTP/1.", None),
            (b"GET / HTTP/1.1\r", None),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: v", None),
            (b"BREW /pot HTTP/1.1\r\n", None),
            (b"GET / HTTP/1.1\nHost: a\n", None),
            // a version cut short may still become a valid one, or a 505
            (b"GET / HTTP/2", None),
            (b"GET / HTTP/1", None),
            // TLS: the first byte alone could be any refusal; two say which
            (b"\x16", None),
            (b"\x16\x03", Some(TlsHandshake)),
            (CLIENT_HELLO, Some(TlsHandshake)),
            (b"\x16\x01", Some(Malformed)),
            // bytes that cannot start a request line
            (b"\x00", Some(Malformed)),
            (b"\xff\xfe", Some(Malformed)),
            (b"G\x01T / HTTP/1.1", Some(Malformed)),
            (b"GE\tT", Some(Malformed)),
            (b" GET /", Some(Malformed)),
            (b"GET /a\x7f", Some(Malformed)),
            (b"GET  /", Some(Malformed)),
            (b"{\"json\": 1}", Some(Malformed)),
            // SSH and SMTP banners, a bare response
            (b"SSH-2.0-OpenSSH_9.2\r\n", Some(Malformed)),
            (b"HTTP/1.1 200 OK\r\n", Some(Malformed)),
            // complete request lines with a version that is wrong whatever follows
            (b"GET / HTTP/2.0\r\n", Some(VersionNotSupported)),
            (b"G\x01T / HTTP/2.0\r\n", Some(Malformed)),
            (b"GET / HTTX/1.1\r\n", Some(BadVersion)),
            (b"GET / HTTP/1.1x\r\n", Some(Malformed)),
            // ... or right once rewritten (rule 3)
            (b"GET / HTTP/1.7\r\nHost: a\r\n", None),
            // a bad field line
            (b"GET / HTTP/1.1\r\nHost : a\r\n", Some(Malformed)),
            (b"GET / HTTP/1.1\r\nX\x01: a\r\n", Some(Malformed)),
        ];
        for (bytes, want) in cases {
            let mut buf = bytes.to_vec();
            assert_eq!(
                refuse_partial(&mut buf),
                *want,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn a_partial_refusal_is_what_the_complete_head_gets() {
        // Each refused prefix, completed in the friendliest way, gets the same error in full.
        let prefixes: &[&[u8]] = &[
            b"\x16\x03\x01",
            b"G\x01T / HTTP/1.1",
            b"G\x01T / HTTP/2.0",
            b"GET / HTTP/2.0\r\n",
            b"GET / HTTX/1.1\r\n",
            b"GET / HTTP/1.1\r\nHost : a\r\n",
        ];
        for prefix in prefixes {
            let mut partial = prefix.to_vec();
            let early = refuse_partial(&mut partial).expect("refused");
            let mut full = [*prefix, b"\r\nHost: a\r\n\r\n"].concat();
            let end = find_head_end(&full, 0).unwrap();
            let complete = parse_head(&mut full[..end], &Limits::default()).err();
            assert_eq!(
                complete,
                Some(early),
                "{:?}",
                String::from_utf8_lossy(prefix)
            );
        }
    }

    #[test]
    fn list_fields_combine_their_lines() {
        let head = parse(
            "GET / HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"a\"\r\nRange: bytes=0-1\r\n\
             if-none-match:  W/\"b\", \"c\" \r\nX: if-none-match: \"no\"\r\nIf-None-Match: \"d\"\r\n\
             Accept-Encoding: gzip\r\nAccept-Encoding: br;q=0.5,\r\nAccept: text/html\r\n\
             Access-Control-Request-Headers: x-a\r\naccess-control-request-headers: x-b, x-c\r\n\r\n",
        )
        .unwrap();
        let lines = |field: Option<FieldLines<'_>>| {
            let lines: Vec<_> = field
                .unwrap()
                .lines()
                .map(String::from_utf8_lossy)
                .collect();
            lines.join(" | ")
        };
        let fields = head.fields;
        assert_eq!(
            lines(fields.if_none_match),
            "\"a\" | W/\"b\", \"c\" | \"d\""
        );
        assert_eq!(fields.if_none_match.unwrap().single(), None);
        assert_eq!(lines(fields.accept_encoding), "gzip | br;q=0.5,");
        let elements: Vec<_> = fields.accept_encoding.unwrap().elements().collect();
        assert_eq!(elements, [&b"gzip"[..], b"br;q=0.5"]);
        assert_eq!(fields.accept.unwrap().single(), Some(&b"text/html"[..]));
        let elements: Vec<_> = fields.cors_request_headers.unwrap().elements().collect();
        assert_eq!(elements, [&b"x-a"[..], b"x-b", b"x-c"]);
        assert_eq!(fields.range, Some(&b"bytes=0-1"[..]));
        // One line: its value, with no scan of the head.
        let one = parse("GET / HTTP/1.1\r\nHost: t\r\nIf-Match: \"a\", \"b\"\r\n\r\n").unwrap();
        let if_match = one.fields.if_match.unwrap();
        assert_eq!(if_match.single(), Some(&b"\"a\", \"b\""[..]));
        assert_eq!(if_match.lines().count(), 1);
        // Bare LF line ends too.
        let lf = parse("GET / HTTP/1.1\nHost: t\nIf-Match: \"a\"\nIf-Match: \"b\"\n\n").unwrap();
        assert_eq!(lines(lf.fields.if_match), "\"a\" | \"b\"");
    }

    #[test]
    fn repeated_fields_table() {
        let get = |fields: &str| format!("GET / HTTP/1.1\r\nHost: t\r\n{fields}\r\n");
        // A singleton given twice: Range (with If-Range) is ignored, the dates are ignored.
        let head = parse(&get("Range: bytes=0-1\r\nRange: bytes=2-3\r\n")).unwrap();
        assert_eq!(head.fields.range, None);
        let head = parse(&get(
            "Range: bytes=0-1\r\nIf-Range: \"a\"\r\nIf-Range: \"a\"\r\n",
        ))
        .unwrap();
        assert_eq!(head.fields.range, None);
        let dates = "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                     If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
        let head = parse(&get(&dates.repeat(2))).unwrap();
        assert_eq!(head.fields.if_modified_since, None);
        assert_eq!(head.fields.if_unmodified_since, None);
        let head = parse(&get(dates)).unwrap();
        assert!(
            head.fields.if_modified_since.is_some() && head.fields.if_unmodified_since.is_some()
        );
        // ... and Authorization twice is refused, even twice the same.
        for second in ["Basic YTpi", "Basic Yzpk"] {
            let fields = format!("Authorization: Basic YTpi\r\nAuthorization: {second}\r\n");
            assert_eq!(
                parse(&get(&fields)).err(),
                Some(ParseError::DuplicateAuthorization)
            );
        }
        // The list fields read in the parser combine too.
        let head = parse(&get("Connection: keep-alive\r\nConnection: close\r\n")).unwrap();
        assert!(!head.keep_alive);
        let head = parse(&get("Expect: foo\r\nExpect: 100-continue\r\n")).unwrap();
        assert!(head.expect_continue);
        let head = parse(&get("Expect: 100-continue, foo\r\n")).unwrap();
        assert!(head.expect_continue);
        let head = parse(&get("Expect: 100-continue\r\nExpect: foo\r\n")).unwrap();
        assert!(head.expect_continue);
        let head = parse(&get("Content-Length: 5\r\nContent-Length: 5\r\n")).unwrap();
        assert_eq!(head.framing, BodyFraming::Length(5));
    }

    #[test]
    fn front_end_fields_are_captured() {
        let head = parse(
            "OPTIONS /x HTTP/1.1\r\nHost: t\r\nauthorization: Basic YTpi\r\nORIGIN: https://a.example\r\n\
             Access-Control-Request-Method: GET\r\naccess-control-request-headers: x-a, x-b\r\n\r\n",
        )
        .unwrap();
        assert_eq!(head.fields.authorization, Some(&b"Basic YTpi"[..]));
        assert!(head.fields.origin && head.fields.cors_request_method);
        assert_eq!(
            head.fields.cors_request_headers,
            Some(FieldLines::one(b"x-a, x-b"))
        );
        let plain = parse("GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        assert!(!plain.fields.origin && !plain.fields.cors_request_method);
        assert_eq!(plain.fields.authorization, None);
    }

    #[test]
    fn skips_leading_empty_lines() {
        // (buffer, bytes skipped)
        let cases: &[(&[u8], usize)] = &[
            (b"\r\n\r\nGET", 4),
            (b"\n\r\n\nGET", 4),
            (b"GET", 0),
            // a CR whose LF may be in the next read stays
            (b"\r\n\r", 2),
            // a bare CR is no empty line (RFC 9112 §2.2)
            (b"\rGET", 0),
            (b"\r\n\rGET", 2),
            (b"\r\rGET", 0),
        ];
        for (buf, want) in cases {
            assert_eq!(
                skip_leading_empty_lines(buf),
                *want,
                "{:?}",
                String::from_utf8_lossy(buf)
            );
        }
    }

    #[test]
    fn a_bare_cr_before_the_request_line_is_refused() {
        // What the connection does: skip the empty lines, then parse (or refuse early).
        for bytes in [
            &b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"\r\n\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let mut buf = bytes.to_vec();
            let rest = &mut buf[skip_leading_empty_lines(bytes)..];
            let end = find_head_end(rest, 0).unwrap();
            assert_eq!(
                parse_head(&mut rest[..end], &Limits::default()).err(),
                Some(ParseError::Malformed)
            );
            assert_eq!(refuse_partial(&mut rest[..3]), Some(ParseError::Malformed));
        }
        // A CR alone may still become an empty line.
        assert_eq!(refuse_partial(&mut b"\r".to_vec()), None);
    }
}
