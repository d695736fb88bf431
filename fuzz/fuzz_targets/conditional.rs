//! Fuzzes conditional requests: entity-tag lists, HTTP dates and their evaluation in RFC 9110
//! §13.2.2 order. Tag lists are checked against an independent list reader, on one field line and
//! on two (which RFC 9110 §5.3 makes one list), dates must survive being written back, and the
//! decision must follow the precedence of the preconditions.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use mioserve::handler::conditional::{
    Precondition, Validators, evaluate, if_match, if_modified_since, if_none_match, if_range,
    if_unmodified_since, parse_date, parse_tag,
};
use mioserve::http::Method;
use mioserve::http::parse::{FieldLines, Fields, Limits, find_head_end, parse_head};
use mioserve::response::etag::ETag;
use mioserve::response::reason::Condition;

/// The tags of a `#entity-tag` list (RFC 9110 §5.6.1, §8.8.3) up to its first malformed element,
/// read by splitting at commas outside quotes. `None` for `*`.
fn reference_tags(value: &[u8]) -> Option<Vec<(bool, Vec<u8>)>> {
    if value == b"*" {
        return None;
    }
    let is_etagc = |b: u8| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80;
    let mut tags = Vec::new();
    let mut i = 0;
    loop {
        while i < value.len() && matches!(value[i], b',' | b' ' | b'\t') {
            i += 1;
        }
        if i == value.len() {
            return Some(tags);
        }
        let weak = value[i..].starts_with(b"W/");
        if weak {
            i += 2;
        }
        if value.get(i) != Some(&b'"') {
            return Some(tags);
        }
        let start = i;
        i += 1;
        while i < value.len() && is_etagc(value[i]) {
            i += 1;
        }
        if value.get(i) != Some(&b'"') {
            return Some(tags);
        }
        i += 1;
        tags.push((weak, value[start..i].to_vec()));
        while i < value.len() && matches!(value[i], b' ' | b'\t') {
            i += 1;
        }
        match value.get(i) {
            None => return Some(tags),
            Some(b',') => {}
            Some(_) => return Some(tags),
        }
    }
}

/// `value` as a field line's value, if it can be one: no parsed value holds an LF.
fn one_line(value: &[u8]) -> Option<FieldLines<'_>> {
    (!value.contains(&b'\n')).then_some(FieldLines::one(value))
}

/// Takes `n` bytes (fewer at the end of input) as a little-endian number.
fn take_u64(data: &mut &[u8], n: usize) -> u64 {
    let n = n.min(data.len());
    let (head, rest) = data.split_at(n);
    *data = rest;
    head.iter()
        .rev()
        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let etag = ETag::from_parts(
        take_u64(&mut data, 2),
        take_u64(&mut data, 5),
        take_u64(&mut data, 2),
    );
    // Times around the range HTTP dates can express (0 to year 9999 ≈ 2.5e11 s).
    let modified = take_u64(&mut data, 5);
    let last_modified = (!modified.is_multiple_of(7)).then_some(modified);
    let now_secs = take_u64(&mut data, 5);
    let now = UNIX_EPOCH + Duration::from_secs(now_secs);
    let method = [Method::Get, Method::Head, Method::Post, Method::Options]
        [take_u64(&mut data, 1) as usize % 4];
    let validators = Validators {
        etag,
        last_modified,
    };

    // Our own tag is a well-formed strong entity-tag that matches itself.
    let own = etag.as_bytes();
    let (tag, rest) = parse_tag(own).expect("own tag parses");
    assert!(!tag.weak && tag.opaque == own && rest.is_empty());
    let own_line = FieldLines::one(own);
    assert!(if_match(own_line, &etag) && !if_none_match(own_line, &etag));
    let weak_own = [b"W/", own].concat();
    assert!(
        !if_match(FieldLines::one(&weak_own), &etag),
        "weak tags never match strongly"
    );
    assert!(
        !if_none_match(FieldLines::one(&weak_own), &etag),
        "weak comparison ignores W/"
    );
    assert!(if_range(own, &validators) && !if_range(&weak_own, &validators));

    // The rest of the input: up to six field values, separated by 0xff.
    let mut values = data.split(|&b| b == 0xff);
    let mut next = || values.next();
    let (a, b, c, d, e, f) = (next(), next(), next(), next(), next(), next());

    for value in [a, b, f].into_iter().flatten() {
        let Some(lines) = one_line(value) else {
            continue;
        };
        // parse_tag: what it returns is a prefix of the input, quotes included, etagc inside.
        if let Some((tag, rest)) = parse_tag(value) {
            let prefix = if tag.weak { 2 } else { 0 };
            assert_eq!(value[prefix..].len(), tag.opaque.len() + rest.len());
            assert_eq!(&value[prefix..prefix + tag.opaque.len()], tag.opaque);
            assert!(tag.opaque.len() >= 2 && tag.opaque[0] == b'"');
            assert_eq!(tag.opaque.last(), Some(&b'"'));
        }
        // Lists: the same tags as the reference reader, compared both ways.
        let tags = reference_tags(value);
        let strong = tags
            .as_ref()
            .is_none_or(|t| t.iter().any(|(w, o)| !w && o == own));
        let weak = tags
            .as_ref()
            .is_none_or(|t| t.iter().any(|(_, o)| o == own));
        assert_eq!(
            if_match(lines, &etag),
            strong,
            "{:?}",
            String::from_utf8_lossy(value)
        );
        assert_eq!(
            if_none_match(lines, &etag),
            !weak,
            "{:?}",
            String::from_utf8_lossy(value)
        );
        // A list read to its end still matches once our tag is appended to it.
        if let Some(tags) = &tags {
            let full = [value, b", ", own].concat();
            if reference_tags(&full).is_some_and(|t| t.len() == tags.len() + 1) {
                let full = FieldLines::one(&full);
                assert!(if_match(full, &etag) && !if_none_match(full, &etag));
            }
        }
    }

    // Two field lines are the list of their values joined by a comma (RFC 9110 §5.3), read from
    // a head as the parser hands it over.
    let no_lf = |v: &&[u8]| one_line(v).is_some();
    if let (Some(first), Some(second)) = (a.filter(no_lf), f.filter(no_lf)) {
        let mut head = [
            &b"GET / HTTP/1.1\r\nHost: t\r\nIf-Match: "[..],
            first,
            b"\r\nX: y\r\nif-none-match: ",
            first,
            b"\r\nIf-None-Match: ",
            second,
            b"\r\nIF-MATCH: ",
            second,
            b"\r\n\r\n",
        ]
        .concat();
        if let Some(end) = find_head_end(&head, 0)
            && let Ok(request) = parse_head(&mut head[..end], &Limits::default())
            && let (Some(m), Some(n)) = (request.fields.if_match, request.fields.if_none_match)
        {
            let values: Vec<&[u8]> = m.lines().collect();
            assert_eq!(values, n.lines().collect::<Vec<_>>());
            if let [first, second] = values[..] {
                let joined = [first, b", ", second].concat();
                let tags = reference_tags(&joined);
                let strong = tags
                    .as_ref()
                    .is_none_or(|t| t.iter().any(|(w, o)| !w && o == own));
                let weak = tags
                    .as_ref()
                    .is_none_or(|t| t.iter().any(|(_, o)| o == own));
                let shown = String::from_utf8_lossy(&joined);
                assert_eq!(if_match(m, &etag), strong, "{shown:?}");
                assert_eq!(if_none_match(n, &etag), !weak, "{shown:?}");
            }
        }
    }

    for value in [c, d, f].into_iter().flatten() {
        // A date that parses is one HTTP can write, and reads back the same once written.
        if let Some(secs) = parse_date(value) {
            let time = UNIX_EPOCH + Duration::from_secs(secs);
            let written = httpdate::fmt_http_date(time);
            assert_eq!(parse_date(written.as_bytes()), Some(secs), "{written}");
            if let Some(m) = last_modified {
                assert_eq!(if_unmodified_since(value, last_modified), m <= secs);
                let future = secs > now_secs;
                assert_eq!(
                    if_modified_since(value, last_modified, now),
                    future || m > secs
                );
            }
        } else {
            assert!(if_unmodified_since(value, last_modified));
            assert!(if_modified_since(value, last_modified, now));
        }
    }
    // If-Range by date holds only for the exact Last-Modified.
    if let Some(m) = last_modified.filter(|&m| m + 1 < 253_402_300_800) {
        let exact = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(m));
        assert!(if_range(exact.as_bytes(), &validators));
        let later = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(m + 1));
        assert!(!if_range(later.as_bytes(), &validators));
    }

    // The evaluation order of RFC 9110 §13.2.2.
    let (a, b) = (a.filter(no_lf), b.filter(no_lf));
    let fields = Fields {
        if_match: a.map(FieldLines::one),
        if_none_match: b.map(FieldLines::one),
        if_modified_since: c,
        if_unmodified_since: d,
        range: e,
        if_range: f,
        ..Fields::default()
    };
    let get_or_head = matches!(method, Method::Get | Method::Head);
    let got = evaluate(method, &fields, &validators, now);
    let want = if a.is_some_and(|v| !if_match(FieldLines::one(v), &etag)) {
        Precondition::Failed(Condition::IfMatch)
    } else if a.is_none() && d.is_some_and(|v| !if_unmodified_since(v, last_modified)) {
        Precondition::Failed(Condition::IfUnmodifiedSince)
    } else if b.is_some_and(|v| !if_none_match(FieldLines::one(v), &etag)) {
        if get_or_head {
            Precondition::NotModified(Condition::IfNoneMatch)
        } else {
            Precondition::Failed(Condition::IfNoneMatch)
        }
    } else if b.is_none()
        && get_or_head
        && c.is_some_and(|v| !if_modified_since(v, last_modified, now))
    {
        Precondition::NotModified(Condition::IfModifiedSince)
    } else {
        let ranged = method == Method::Get && e.is_some();
        let held = f.filter(|_| ranged).map(|v| if_range(v, &validators));
        Precondition::Serve {
            use_range: ranged && held != Some(false),
            if_range: held,
        }
    };
    assert_eq!(got, want);
});
