//! Fuzzes `Range` evaluation against an independent reading of RFC 9110 §14.1–14.2: the decision
//! must be the reference's, every satisfied range must lie inside the file, several ranges never
//! overlap nor add up past the file, and ranges written back as a `Range` value decide the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mioserve::handler::range::{Decision, MAX_RANGES, evaluate};
use mioserve::response::content_range::{ByteRange, ContentRange};

/// What the reference decides: `None` for the whole file, `Some(empty)` for 416.
fn reference(value: &[u8], len: u64) -> Option<Vec<(u64, u64)>> {
    // A byte beyond ASCII makes its unit or its spec invalid, so such a value is ignored.
    let text = std::str::from_utf8(value).ok()?;
    let (unit, set) = text.split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = 0usize;
    let mut satisfied = Vec::new();
    for element in set.split(',') {
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() {
            continue;
        }
        specs += 1;
        if specs > MAX_RANGES {
            return None;
        }
        let (first, last) = element.split_once('-')?;
        let number = |s: &str| -> Option<u128> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Saturate at u64::MAX, as the server reads overlong digits.
            Some(s.bytes().fold(0u128, |n, d| {
                (n * 10 + u128::from(d - b'0')).min(u128::from(u64::MAX))
            }))
        };
        let len = u128::from(len);
        let range = match (first.is_empty(), last.is_empty()) {
            (true, true) => return None,
            (true, false) => {
                let n = number(last)?;
                (n > 0 && len > 0).then(|| (len - n.min(len), len - 1))
            }
            (false, true) => {
                let start = number(first)?;
                (start < len).then(|| (start, len - 1))
            }
            (false, false) => {
                let (start, end) = (number(first)?, number(last)?);
                if start > end {
                    return None;
                }
                (start < len).then(|| (start, end.min(len - 1)))
            }
        };
        if let Some((start, end)) = range {
            satisfied.push((start as u64, end as u64));
        }
    }
    if specs == 0 {
        return None;
    }
    if satisfied.len() > 1 {
        let mut sorted = satisfied.clone();
        sorted.sort_unstable();
        let overlap = sorted.windows(2).any(|w| w[1].0 <= w[0].1);
        let total: u128 = satisfied.iter().map(|&(s, e)| u128::from(e - s) + 1).sum();
        if overlap || total > u128::from(len) {
            return None;
        }
    }
    Some(satisfied)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    // The first byte picks the file length's scale: small files hit the edges, huge ones the
    // 64-bit arithmetic.
    let (len, value) = match data[0] % 4 {
        0 => (u64::from(data[1]), &data[2..]),
        1 => (u64::from(data[1]) * 1000, &data[2..]),
        2 if data.len() >= 9 => (
            u64::from_le_bytes(data[1..9].try_into().unwrap()),
            &data[9..],
        ),
        _ => (0, &data[1..]),
    };
    let decision = evaluate(value, len);
    assert_eq!(decision, evaluate(value, len), "not deterministic");
    let got = match decision {
        Decision::Full => None,
        Decision::Unsatisfiable => Some(Vec::new()),
        Decision::Partial(ranges) => {
            let ranges = ranges.as_slice();
            assert!(!ranges.is_empty() && ranges.len() <= MAX_RANGES);
            for r in ranges {
                assert!(r.start <= r.end && r.end < len, "{r:?} outside {len}");
            }
            Some(ranges.iter().map(|r| (r.start, r.end)).collect())
        }
    };
    assert_eq!(
        got,
        reference(value, len),
        "value {:?}, len {len}",
        String::from_utf8_lossy(value)
    );

    if let Decision::Partial(ranges) = decision {
        // Written back, the ranges decide the same.
        let again: Vec<String> = ranges
            .as_slice()
            .iter()
            .map(|r| format!("{}-{}", r.start, r.end))
            .collect();
        let again = format!("bytes={}", again.join(","));
        assert_eq!(evaluate(again.as_bytes(), len), decision, "{again}");
        // And each Content-Range value says exactly its range.
        for &range in ranges.as_slice() {
            let mut out = Vec::new();
            ContentRange::Bytes {
                range,
                complete: len,
            }
            .write_value(&mut out);
            let text = String::from_utf8(out).unwrap();
            let (span, complete) = text
                .strip_prefix("bytes ")
                .unwrap()
                .split_once('/')
                .unwrap();
            let (start, end) = span.split_once('-').unwrap();
            let parsed = ByteRange {
                start: start.parse().unwrap(),
                end: end.parse().unwrap(),
            };
            assert_eq!(parsed, range);
            assert_eq!(complete.parse::<u64>().unwrap(), len);
        }
    }
});
