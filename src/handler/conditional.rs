//! Validators and conditional requests (RFC 9110 §8.8, §13).
//!
//! Owns: the `ETag` and `Last-Modified` of a file, derived from its metadata only (never from its
//! contents); parsing entity-tag lists and HTTP dates; the strong and weak comparisons; and the
//! evaluation of `If-Match`, `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since` and
//! `If-Range` in the order RFC 9110 §13.2.2 prescribes ([`evaluate`]). Never touches a socket,
//! never reads the clock (the caller passes `now`), never opens a file.
//!
//! Cost per request: the ETag is formatted into a 52-byte stack buffer; each `If-*` field present is
//! scanned once, and a date field is parsed by `httpdate` without allocating. No heap allocation.

use std::fs::Metadata;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::Method;
use crate::http::parse::{FieldLines, Fields, trim_ows};
use crate::response::etag::ETag;
use crate::response::reason::Condition;

/// First second that `httpdate` cannot render (year 10000); it panics on later times, and on
/// times before 1970, so a file whose mtime lies outside gets no `Last-Modified`.
const HTTP_DATE_END: u64 = 253_402_300_800;

/// The validators of a file response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validators {
    pub etag: ETag,
    /// Seconds since the epoch of `Last-Modified`: the file's mtime, clamped to `now` (RFC 9110
    /// §8.8.2.1: an origin must not send a modification date later than its Date), or `None`
    /// when the mtime cannot be written as an HTTP date (before 1970, after 9999).
    pub last_modified: Option<u64>,
}

impl Validators {
    /// The validators of a file with `meta`, whose ETag (from [`ETag::of`] on the same metadata)
    /// is known, as of `now`.
    pub(crate) fn with_etag(etag: ETag, meta: &Metadata, now: SystemTime) -> Validators {
        let mtime = meta.modified().ok().map(|t| t.min(now));
        Validators {
            etag,
            last_modified: mtime.and_then(unix_seconds),
        }
    }
}

/// Whole seconds since the epoch, if `time` can be written as an HTTP date.
fn unix_seconds(time: SystemTime) -> Option<u64> {
    let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    (secs < HTTP_DATE_END).then_some(secs)
}

/// What the preconditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// 412 Precondition Failed, because of this field.
    Failed(Condition),
    /// 304 Not Modified, because of this field.
    NotModified(Condition),
    /// Perform the method; `use_range` says whether a `Range` field is to be honoured (the
    /// request is a GET with `Range`, and `If-Range`, if any, holds); `if_range` is the outcome
    /// of an `If-Range` field that was evaluated.
    Serve {
        use_range: bool,
        if_range: Option<bool>,
    },
}

/// Evaluates the conditional fields of a request for a file with `validators`, at `now`.
///
/// RFC 9110 §13.2.2, in its order:
/// 1. When `If-Match` is present: if it is false, 412; if true, go to step 3.
/// 2. When `If-Match` is absent and `If-Unmodified-Since` is present: if false, 412; if true, go
///    to step 3.
/// 3. When `If-None-Match` is present: if false, 304 for GET and HEAD (412 for other methods);
///    if true, go to step 5.
/// 4. When `If-None-Match` is absent, `If-Modified-Since` is present and the method is GET or
///    HEAD: if false, 304; if true, go to step 5.
/// 5. When the method is GET and both `Range` and `If-Range` are present: if `If-Range` is true,
///    honour `Range`; otherwise ignore it and send the whole representation.
/// 6. Otherwise perform the method (a GET with `Range` and no `If-Range` honours `Range`).
// Always inline: it runs once per file response, where a request without preconditions passes
// it in a few instructions; once the built-in favicon became a second caller, the compiler kept
// it out of line, which cost a kept-alive GET about 50 instructions under callgrind.
#[inline(always)]
pub fn evaluate(
    method: Method,
    fields: &Fields<'_>,
    validators: &Validators,
    now: SystemTime,
) -> Precondition {
    let get_or_head = matches!(method, Method::Get | Method::Head);
    // Steps 1 and 2.
    if let Some(value) = fields.if_match {
        if !if_match(value, &validators.etag) {
            return Precondition::Failed(Condition::IfMatch);
        }
    } else if let Some(value) = fields.if_unmodified_since
        && !if_unmodified_since(value, validators.last_modified)
    {
        return Precondition::Failed(Condition::IfUnmodifiedSince);
    }
    // Steps 3 and 4.
    if let Some(value) = fields.if_none_match {
        if !if_none_match(value, &validators.etag) {
            return if get_or_head {
                Precondition::NotModified(Condition::IfNoneMatch)
            } else {
                Precondition::Failed(Condition::IfNoneMatch)
            };
        }
    } else if let Some(value) = fields.if_modified_since
        && get_or_head
        && !if_modified_since(value, validators.last_modified, now)
    {
        return Precondition::NotModified(Condition::IfModifiedSince);
    }
    // Steps 5 and 6.
    let ranged = method == Method::Get && fields.range.is_some();
    let if_range = fields
        .if_range
        .filter(|_| ranged)
        .map(|value| if_range(value, validators));
    Precondition::Serve {
        use_range: ranged && if_range != Some(false),
        if_range,
    }
}

/// `If-Match` (RFC 9110 §13.1.1): true for `*` (the file exists) or when a listed tag matches
/// the current one by strong comparison. A malformed list matches nothing from its fault on.
/// The field's lines are one list (§5.3): `*` is a value only alone, on a single line.
pub fn if_match(value: FieldLines<'_>, current: &ETag) -> bool {
    value.single() == Some(b"*") || any_tag(value, |tag| tag.strong_eq(current))
}

/// `If-None-Match` (RFC 9110 §13.1.2): false for `*` (the file exists) or when a listed tag
/// matches the current one by weak comparison, on any of the field's lines.
pub fn if_none_match(value: FieldLines<'_>, current: &ETag) -> bool {
    !(value.single() == Some(b"*") || any_tag(value, |tag| tag.weak_eq(current)))
}

/// `If-Modified-Since` (RFC 9110 §13.1.3): false (not modified) when the file's modification
/// date is at or before the given date. An unparsable date, or one later than `now` (it cannot
/// come from this server's clock), is ignored: the condition holds. Without a modification date
/// the condition holds too.
pub fn if_modified_since(value: &[u8], last_modified: Option<u64>, now: SystemTime) -> bool {
    let (Some(date), Some(modified)) = (parse_date(value), last_modified) else {
        return true;
    };
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if date > now {
        return true;
    }
    modified > date
}

/// `If-Unmodified-Since` (RFC 9110 §13.1.4): false when the file was modified after the given
/// date. An unparsable date is ignored (the condition holds); so is a file without a
/// modification date, since nothing can be said against it.
pub fn if_unmodified_since(value: &[u8], last_modified: Option<u64>) -> bool {
    match (parse_date(value), last_modified) {
        (Some(date), Some(modified)) => modified <= date,
        _ => true,
    }
}

/// `If-Range` (RFC 9110 §13.1.5): an entity-tag holds if it matches the current tag by strong
/// comparison (a weak tag never does); a date holds if it equals `Last-Modified` exactly.
/// Anything else does not hold, so the whole file is sent.
pub fn if_range(value: &[u8], validators: &Validators) -> bool {
    let value = trim_ows(value);
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        return match parse_tag(value) {
            Some((tag, rest)) => trim_ows(rest).is_empty() && tag.strong_eq(&validators.etag),
            None => false,
        };
    }
    matches!((parse_date(value), validators.last_modified), (Some(d), Some(m)) if d == m)
}

/// An entity-tag as received (RFC 9110 §8.8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityTag<'a> {
    /// Marked `W/`.
    pub weak: bool,
    /// The opaque tag, quotes included.
    pub opaque: &'a [u8],
}

impl EntityTag<'_> {
    /// Strong comparison (§8.8.3.2): neither is weak and the opaque tags are equal. The tags
    /// this server makes are all strong.
    pub(crate) fn strong_eq(&self, current: &ETag) -> bool {
        !self.weak && self.opaque == current.as_bytes()
    }

    /// Weak comparison (§8.8.3.2): the opaque tags are equal, weak or not.
    pub(crate) fn weak_eq(&self, current: &ETag) -> bool {
        self.opaque == current.as_bytes()
    }
}

/// Whether any tag of the list `value` (`1#entity-tag`, empty elements allowed, over all of the
/// field's lines) satisfies `pred`. Parsing stops at the first malformed element: tags after it,
/// on its line or a later one, do not count.
fn any_tag(value: FieldLines<'_>, mut pred: impl FnMut(&EntityTag<'_>) -> bool) -> bool {
    for line in value.lines() {
        match tag_in_line(line, &mut pred) {
            TagSearch::Found => return true,
            TagSearch::Malformed => return false,
            TagSearch::NotHere => {}
        }
    }
    false
}

/// What one line of an entity-tag list holds for [`any_tag`].
enum TagSearch {
    Found,
    /// A malformed element: the list ends here.
    Malformed,
    /// Well formed, no tag satisfies the predicate.
    NotHere,
}

fn tag_in_line(line: &[u8], pred: &mut impl FnMut(&EntityTag<'_>) -> bool) -> TagSearch {
    let mut rest = line;
    loop {
        rest = skip_list_separators(rest);
        if rest.is_empty() {
            return TagSearch::NotHere;
        }
        let Some((tag, after)) = parse_tag(rest) else {
            return TagSearch::Malformed;
        };
        if pred(&tag) {
            return TagSearch::Found;
        }
        rest = trim_start(after);
        match rest.first() {
            None => return TagSearch::NotHere,
            Some(b',') => {}
            Some(_) => return TagSearch::Malformed,
        }
    }
}

/// Parses one `entity-tag` at the start of `input`; returns it and what follows.
/// `entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE`, `etagc = %x21 / %x23-7E / obs-text`.
pub fn parse_tag(input: &[u8]) -> Option<(EntityTag<'_>, &[u8])> {
    let (weak, rest) = match input.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    if rest.first() != Some(&b'"') {
        return None;
    }
    let close = 1 + rest[1..].iter().position(|&b| b == b'"')?;
    let opaque = &rest[..=close];
    if !opaque[1..close]
        .iter()
        .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
    {
        return None;
    }
    Some((EntityTag { weak, opaque }, &rest[close + 1..]))
}

/// An HTTP date in any of the three formats recipients must accept (RFC 9110 §5.6.7):
/// IMF-fixdate, RFC 850 and asctime, as seconds since the epoch.
pub fn parse_date(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(trim_ows(value)).ok()?;
    let time = httpdate::parse_http_date(text).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

fn skip_list_separators(bytes: &[u8]) -> &[u8] {
    let skip = bytes
        .iter()
        .take_while(|&&b| b == b',' || b == b' ' || b == b'\t')
        .count();
    &bytes[skip..]
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &bytes[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// `Sun, 06 Nov 1994 08:49:37 GMT`.
    const T: u64 = 784_111_777;
    const NOW: u64 = T + 1_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn tag() -> ETag {
        ETag::from_parts(0x1f, 0xabc, 0x10)
    }

    fn validators() -> Validators {
        Validators {
            etag: tag(),
            last_modified: Some(T),
        }
    }

    #[test]
    fn last_modified_is_clamped_and_representable() {
        let path = std::env::temp_dir().join(format!("mioserve-lm-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let cases: &[(SystemTime, Option<u64>)] = &[
            // ordinary
            (UNIX_EPOCH + Duration::new(T, 999_999_999), Some(T)),
            // in the future: clamped to now
            (now() + Duration::from_secs(3600), Some(NOW)),
            // before 1970: no Last-Modified (httpdate would panic)
            (UNIX_EPOCH - Duration::from_secs(3600), None),
        ];
        for (mtime, want) in cases {
            file.set_modified(*mtime).unwrap();
            let meta = file.metadata().unwrap();
            let v = Validators::with_etag(ETag::of(&meta), &meta, now());
            assert_eq!(v.last_modified, *want, "{mtime:?}");
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn entity_tag_parsing() {
        // (input, Some((weak, opaque, rest)))
        type Parsed = Option<(bool, &'static str, &'static str)>;
        let cases: &[(&str, Parsed)] = &[
            (r#""abc""#, Some((false, r#""abc""#, ""))),
            (r#"W/"abc", "d""#, Some((true, r#""abc""#, r#", "d""#))),
            (r#""""#, Some((false, r#""""#, ""))),
            // not tags
            ("abc", None),
            (r#"w/"abc""#, None),
            (r#""abc"#, None),
            (r#""a b""#, None),
            ("*", None),
        ];
        for (input, want) in cases {
            let got = parse_tag(input.as_bytes())
                .map(|(t, rest)| (t.weak, t.opaque, std::str::from_utf8(rest).unwrap()));
            let want = want.map(|(w, o, r)| (w, o.as_bytes(), r));
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn comparison_functions() {
        let current = tag();
        // (field value, If-Match result, If-None-Match result)
        let cases: &[(&str, bool, bool)] = &[
            // exact
            (r#""1f-abc-10""#, true, false),
            // weak form: weak comparison matches, strong does not
            (r#"W/"1f-abc-10""#, false, false),
            // lists, with OWS and empty elements
            (r#""x", "1f-abc-10""#, true, false),
            (r#""x","1f-abc-10""#, true, false),
            (r#" , "x" ,, W/"1f-abc-10" "#, false, false),
            (r#""x", "y""#, false, true),
            // star
            ("*", true, false),
            // malformed: nothing matches from the fault on
            ("1f-abc-10", false, true),
            (r#"garbage, "1f-abc-10""#, false, true),
            (r#""1f-abc-10" junk"#, true, false),
            ("", false, true),
        ];
        for (value, want_match, want_none_match) in cases {
            let v = FieldLines::one(value.as_bytes());
            assert_eq!(if_match(v, &current), *want_match, "If-Match: {value}");
            assert_eq!(
                if_none_match(v, &current),
                *want_none_match,
                "If-None-Match: {value}"
            );
        }
    }

    #[test]
    fn the_lines_of_a_list_field_are_one_list() {
        use crate::http::parse::{Limits, find_head_end, parse_head};
        let current = tag();
        let etag = std::str::from_utf8(current.as_bytes()).unwrap();
        // (If-* lines, If-Match result, If-None-Match result)
        let cases: &[(&[&str], bool, bool)] = &[
            // the current tag on any line matches (issue 19: the last line alone said otherwise)
            (&[etag, r#""zzz""#], true, false),
            (&[r#""zzz""#, etag], true, false),
            (&[r#""x", "y""#, "", &format!("W/{etag}")], false, false),
            (&[r#""x""#, r#""y""#], false, true),
            // `*` is a value only alone: as a line among others it is malformed
            (&["*", "*"], false, true),
            // a malformed element ends the list, on its line and after
            (&["junk", etag], false, true),
        ];
        for (lines, want_match, want_none_match) in cases {
            let fields: String = lines
                .iter()
                .map(|l| format!("If-Match: {l}\r\nIf-None-Match: {l}\r\n"))
                .collect();
            let mut head = format!("GET / HTTP/1.1\r\nHost: t\r\n{fields}\r\n").into_bytes();
            let end = find_head_end(&head, 0).unwrap();
            let head = parse_head(&mut head[..end], &Limits::default()).unwrap();
            let (m, n) = (
                head.fields.if_match.unwrap(),
                head.fields.if_none_match.unwrap(),
            );
            assert_eq!(if_match(m, &current), *want_match, "If-Match: {lines:?}");
            assert_eq!(
                if_none_match(n, &current),
                *want_none_match,
                "If-None-Match: {lines:?}"
            );
        }
    }

    #[test]
    fn date_formats() {
        let cases: &[(&str, Option<u64>)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(T)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(T)),
            ("Sun Nov  6 08:49:37 1994", Some(T)),
            ("  Sun, 06 Nov 1994 08:49:37 GMT ", Some(T)),
            ("Sun, 06 Nov 1994 08:49:37", None),
            (
                "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
                None,
            ),
            ("yesterday", None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_date(value.as_bytes()), *want, "{value:?}");
        }
    }

    #[test]
    fn evaluation_table() {
        use Condition::*;
        use Precondition::{Failed, NotModified, Serve};
        let serve = Serve {
            use_range: false,
            if_range: None,
        };
        let ranged = Serve {
            use_range: true,
            if_range: None,
        };
        // If-Range held / did not hold.
        let if_range_held = Serve {
            use_range: true,
            if_range: Some(true),
        };
        let if_range_failed = Serve {
            use_range: false,
            if_range: Some(false),
        };
        const ETAG: &str = r#""1f-abc-10""#;
        const WEAK: &str = r#"W/"1f-abc-10""#;
        const OTHER: &str = r#""other""#;
        const AT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
        const BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
        const AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";
        const FUTURE: &str = "Fri, 01 Jan 2100 00:00:00 GMT";
        const RANGE: &str = "bytes=0-1";
        struct Case {
            method: Method,
            /// (If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since, Range, If-Range)
            f: [Option<&'static str>; 6],
            want: Precondition,
        }
        let c = |method, f, want| Case { method, f, want };
        use Method::{Get, Head, Post};
        let cases = [
            // no conditions
            c(Get, [None, None, None, None, None, None], serve),
            // 1. If-Match
            c(Get, [Some(ETAG), None, None, None, None, None], serve),
            c(Get, [Some("*"), None, None, None, None, None], serve),
            c(
                Get,
                [Some(OTHER), None, None, None, None, None],
                Failed(IfMatch),
            ),
            c(
                Get,
                [Some(WEAK), None, None, None, None, None],
                Failed(IfMatch),
            ),
            // ... and it takes precedence over If-Unmodified-Since
            c(
                Get,
                [Some(ETAG), Some(BEFORE), None, None, None, None],
                serve,
            ),
            // 2. If-Unmodified-Since
            c(Get, [None, Some(AT), None, None, None, None], serve),
            c(Get, [None, Some(AFTER), None, None, None, None], serve),
            c(
                Get,
                [None, Some(BEFORE), None, None, None, None],
                Failed(IfUnmodifiedSince),
            ),
            c(
                Get,
                [None, Some("not a date"), None, None, None, None],
                serve,
            ),
            // 3. If-None-Match
            c(
                Get,
                [None, None, Some(ETAG), None, None, None],
                NotModified(IfNoneMatch),
            ),
            c(
                Head,
                [None, None, Some(ETAG), None, None, None],
                NotModified(IfNoneMatch),
            ),
            c(
                Post,
                [None, None, Some(ETAG), None, None, None],
                Failed(IfNoneMatch),
            ),
            c(
                Get,
                [None, None, Some("*"), None, None, None],
                NotModified(IfNoneMatch),
            ),
            c(Get, [None, None, Some(OTHER), None, None, None], serve),
            // ... after If-Match
            c(
                Get,
                [Some(OTHER), None, Some(ETAG), None, None, None],
                Failed(IfMatch),
            ),
            // ... and If-Modified-Since is ignored when it is present
            c(Get, [None, None, Some(OTHER), Some(AT), None, None], serve),
            // 4. If-Modified-Since
            c(
                Get,
                [None, None, None, Some(AT), None, None],
                NotModified(IfModifiedSince),
            ),
            c(
                Get,
                [None, None, None, Some(AFTER), None, None],
                NotModified(IfModifiedSince),
            ),
            c(Get, [None, None, None, Some(BEFORE), None, None], serve),
            c(Get, [None, None, None, Some(FUTURE), None, None], serve),
            c(Get, [None, None, None, Some("garbage"), None, None], serve),
            c(Post, [None, None, None, Some(AT), None, None], serve),
            // 5. If-Range
            c(Get, [None, None, None, None, Some(RANGE), None], ranged),
            c(
                Get,
                [None, None, None, None, Some(RANGE), Some(ETAG)],
                if_range_held,
            ),
            c(
                Get,
                [None, None, None, None, Some(RANGE), Some(OTHER)],
                if_range_failed,
            ),
            c(
                Get,
                [None, None, None, None, Some(RANGE), Some(WEAK)],
                if_range_failed,
            ),
            c(
                Get,
                [None, None, None, None, Some(RANGE), Some(AT)],
                if_range_held,
            ),
            c(
                Get,
                [None, None, None, None, Some(RANGE), Some(AFTER)],
                if_range_failed,
            ),
            c(
                Get,
                [None, None, None, None, Some(RANGE), Some("junk")],
                if_range_failed,
            ),
            // ... If-Range without Range is ignored, Range on HEAD is not honoured
            c(Get, [None, None, None, None, None, Some(OTHER)], serve),
            c(Head, [None, None, None, None, Some(RANGE), None], serve),
            // ... after a 304
            c(
                Get,
                [None, None, Some(ETAG), None, Some(RANGE), Some(ETAG)],
                NotModified(IfNoneMatch),
            ),
        ];
        for case in cases {
            let b = |i: usize| case.f[i].map(str::as_bytes);
            let fields = Fields {
                if_match: b(0).map(FieldLines::one),
                if_unmodified_since: b(1),
                if_none_match: b(2).map(FieldLines::one),
                if_modified_since: b(3),
                range: b(4),
                if_range: b(5),
                ..Fields::default()
            };
            let got = evaluate(case.method, &fields, &validators(), now());
            assert_eq!(got, case.want, "{:?} {:?}", case.method, case.f);
        }
    }

    #[test]
    fn no_last_modified_means_dates_do_not_decide() {
        let v = Validators {
            etag: tag(),
            last_modified: None,
        };
        let at = b"Sun, 06 Nov 1994 08:49:37 GMT";
        assert!(if_modified_since(at, None, now()));
        assert!(if_unmodified_since(at, None));
        assert!(!if_range(at, &v));
    }
}
