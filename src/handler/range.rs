//! Range requests (RFC 9110 §14): the `Range` field → whole file, one or more byte ranges, or
//! unsatisfiable; and the `Content-Range` value.
//!
//! Owns: parsing `bytes=` range sets into `u64` offsets, resolving them against the file length
//! (clamping, suffixes), and refusing sets that would amplify the response. Whether a `Range` is
//! to be looked at at all (GET only, `If-Range`) is decided by [`super::conditional::evaluate`];
//! the multipart body itself is `handler::multipart`.
//!
//! Rules, in the order [`evaluate`] applies them:
//! 1. §14.2: a field that is not `bytes=` followed by a valid range set (another unit, bad syntax,
//!    a last-pos below its first-pos) is ignored: the whole file is sent with 200.
//! 2. More than [`MAX_RANGES`] range-specs: the whole file with 200 (§14.2 lets a server ignore
//!    Range; a set that large is a denial-of-service pattern, not a player).
//! 3. §14.1.1: a range-spec is satisfiable if its first-pos is below the length (int-range), or if
//!    its suffix-length is non-zero and the file is not empty (suffix-range). last-pos beyond the
//!    end is clamped to the last byte; a suffix longer than the file means the whole file.
//! 4. §15.5.17: none satisfiable → 416 with `Content-Range: bytes */<length>`.
//! 5. §14.6: several satisfiable ranges that overlap, or whose total exceeds the length, would
//!    make the response larger than the file: the whole file with 200 instead.
//! 6. One satisfiable range → 206 with that range; several → 206 `multipart/byteranges`, parts in
//!    the order requested (unsatisfiable range-specs among satisfiable ones are dropped).
//!
//! Cost per request: one pass over the field value, ranges kept in a fixed array on the stack;
//! no heap allocation.

use crate::http::parse::trim_ows;
use crate::response::content_range::ByteRange;

/// Most range-specs honoured in one request. Arbitrary: generous for media players and download
/// managers (which ask for one, rarely a handful), small enough that a multipart response's
/// overhead stays bounded.
pub const MAX_RANGES: usize = 16;

/// Up to [`MAX_RANGES`] satisfiable ranges, in request order, in a fixed array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranges {
    items: [ByteRange; MAX_RANGES],
    len: usize,
}

impl Ranges {
    fn new() -> Ranges {
        Ranges {
            items: [ByteRange { start: 0, end: 0 }; MAX_RANGES],
            len: 0,
        }
    }

    fn push(&mut self, range: ByteRange) {
        self.items[self.len] = range;
        self.len += 1;
    }

    /// The ranges, in request order.
    pub fn as_slice(&self) -> &[ByteRange] {
        &self.items[..self.len]
    }

    /// Sum of the range lengths (saturating: only compared against the file length).
    pub(crate) fn total(&self) -> u64 {
        self.as_slice()
            .iter()
            .fold(0u64, |sum, r| sum.saturating_add(r.len()))
    }

    /// Whether any two ranges share a byte.
    fn overlap(&self) -> bool {
        let mut sorted = self.items;
        let sorted = &mut sorted[..self.len];
        sorted.sort_unstable_by_key(|r| r.start);
        sorted.windows(2).any(|w| w[1].start <= w[0].end)
    }
}

/// What the `Range` field asks of a file of a given length.
// `Partial` is 264 bytes against nothing for the others: kept inline on purpose, since boxing it
// would allocate for every range request, and a `Decision` lives only until the plan is built.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Ignore the field: 200 with the whole file (rules 1, 2, 5).
    Full,
    /// 206 with these ranges (rule 6): one range as a plain body, several as multipart.
    Partial(Ranges),
    /// 416 (rule 4).
    Unsatisfiable,
}

/// One range-spec as written (§14.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-last` (int-range with last-pos).
    FromTo(u64, u64),
    /// `first-` (int-range without last-pos).
    From(u64),
    /// `-n` (suffix-range).
    Suffix(u64),
}

impl Spec {
    /// Rule 3: the range this spec selects in a file of `len` bytes, if satisfiable.
    fn resolve(self, len: u64) -> Option<ByteRange> {
        let last = len.checked_sub(1)?;
        match self {
            Spec::FromTo(start, end) if start <= last => Some(ByteRange {
                start,
                end: end.min(last),
            }),
            Spec::From(start) if start <= last => Some(ByteRange { start, end: last }),
            Spec::Suffix(n) if n > 0 => Some(ByteRange {
                start: len - n.min(len),
                end: last,
            }),
            _ => None,
        }
    }
}

/// Decides what the `Range` field `value` asks of a file of `len` bytes (rules 1–6).
pub fn evaluate(value: &[u8], len: u64) -> Decision {
    // Rule 1: `bytes=` (the unit is case-insensitive, §14.1), then the range set.
    let Some(eq) = value.iter().position(|&b| b == b'=') else {
        return Decision::Full;
    };
    if !value[..eq].eq_ignore_ascii_case(b"bytes") {
        return Decision::Full;
    }
    let mut ranges = Ranges::new();
    let mut specs = 0;
    // `1#range-spec`: comma-separated, optional whitespace around elements, empty elements
    // allowed (§5.6.1), at least one spec.
    for element in value[eq + 1..].split(|&b| b == b',') {
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        specs += 1;
        // Rule 2.
        if specs > MAX_RANGES {
            return Decision::Full;
        }
        let Some(spec) = parse_spec(element) else {
            return Decision::Full;
        };
        if let Some(range) = spec.resolve(len) {
            ranges.push(range);
        }
    }
    match ranges.len {
        _ if specs == 0 => Decision::Full,
        // Rule 4.
        0 => Decision::Unsatisfiable,
        1 => Decision::Partial(ranges),
        // Rule 5.
        _ if ranges.overlap() || ranges.total() > len => Decision::Full,
        _ => Decision::Partial(ranges),
    }
}

/// `int-range = first-pos "-" [ last-pos ]` or `suffix-range = "-" suffix-length`, all digits.
/// A last-pos below its first-pos makes the spec invalid (§14.1.1).
fn parse_spec(spec: &[u8]) -> Option<Spec> {
    let dash = spec.iter().position(|&b| b == b'-')?;
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    match (first.is_empty(), last.is_empty()) {
        (true, true) => None,
        (true, false) => Some(Spec::Suffix(parse_digits(last)?)),
        (false, true) => Some(Spec::From(parse_digits(first)?)),
        (false, false) => {
            let (start, end) = (parse_digits(first)?, parse_digits(last)?);
            (start <= end).then_some(Spec::FromTo(start, end))
        }
    }
}

/// A non-empty run of ASCII digits. A value beyond `u64` saturates: as a first-pos it lies past
/// any file (unsatisfiable), as a last-pos or suffix-length it reaches the end, which is what
/// the digits mean.
fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    /// A decision in a table: `(start, end)` pairs, `Err("full")` or `Err("416")`.
    type Want = Result<Vec<(u64, u64)>, &'static str>;

    fn decide(value: &str, len: u64) -> Want {
        match evaluate(value.as_bytes(), len) {
            Decision::Full => Err("full"),
            Decision::Unsatisfiable => Err("416"),
            Decision::Partial(ranges) => {
                Ok(ranges.as_slice().iter().map(|r| (r.start, r.end)).collect())
            }
        }
    }

    #[test]
    fn range_table() {
        const FULL: Want = Err("full");
        const E416: Want = Err("416");
        let ok = |v: &[(u64, u64)]| Ok(v.to_vec());
        let many = format!("bytes={}", vec!["0-0"; 17].join(","));
        let sixteen = format!(
            "bytes={}",
            (0..16)
                .map(|i| format!("{}-{}", i * 2, i * 2))
                .collect::<Vec<_>>()
                .join(",")
        );
        let sixteen_want: Vec<(u64, u64)> = (0..16).map(|i| (i * 2, i * 2)).collect();
        let cases: Vec<(&str, u64, Want)> = vec![
            // int-range
            ("bytes=0-1", 100, ok(&[(0, 1)])),
            ("bytes=0-0", 100, ok(&[(0, 0)])),
            ("bytes=10-19", 100, ok(&[(10, 19)])),
            ("bytes=0-99", 100, ok(&[(0, 99)])),
            // clamped last-pos
            ("bytes=90-200", 100, ok(&[(90, 99)])),
            ("bytes=0-18446744073709551615", 100, ok(&[(0, 99)])),
            ("bytes=0-99999999999999999999999", 100, ok(&[(0, 99)])),
            // open-ended
            ("bytes=0-", 100, ok(&[(0, 99)])),
            ("bytes=99-", 100, ok(&[(99, 99)])),
            // suffix
            ("bytes=-1", 100, ok(&[(99, 99)])),
            ("bytes=-10", 100, ok(&[(90, 99)])),
            ("bytes=-100", 100, ok(&[(0, 99)])),
            ("bytes=-500", 100, ok(&[(0, 99)])),
            ("bytes=-99999999999999999999999", 100, ok(&[(0, 99)])),
            // unit is case-insensitive; whitespace around list elements
            ("BYTES=0-1", 100, ok(&[(0, 1)])),
            ("bytes= 0-1 ", 100, ok(&[(0, 1)])),
            ("bytes=,0-1,", 100, ok(&[(0, 1)])),
            // unsatisfiable
            ("bytes=100-", 100, E416),
            ("bytes=100-200", 100, E416),
            ("bytes=-0", 100, E416),
            ("bytes=0-", 0, E416),
            ("bytes=-5", 0, E416),
            ("bytes=99999999999999999999999-", 100, E416),
            ("bytes=100-150, 200-", 100, E416),
            // invalid syntax or another unit: ignored
            ("bytes=5-1", 100, FULL),
            ("bytes=-", 100, FULL),
            ("bytes=", 100, FULL),
            ("bytes=,", 100, FULL),
            ("bytes=a-b", 100, FULL),
            ("bytes=0-1x", 100, FULL),
            ("bytes=+0-1", 100, FULL),
            ("bytes=0 - 1", 100, FULL),
            ("bytes=--1", 100, FULL),
            ("bytes=1-2-3", 100, FULL),
            ("bytes = 0-1", 100, FULL),
            ("bytes 0-1", 100, FULL),
            ("items=0-1", 100, FULL),
            ("0-1", 100, FULL),
            ("", 100, FULL),
            ("bytes=0-1,5-1", 100, FULL),
            // several
            ("bytes=0-1,5-6", 100, ok(&[(0, 1), (5, 6)])),
            (
                "bytes=0-9, 20-29, -10",
                100,
                ok(&[(0, 9), (20, 29), (90, 99)]),
            ),
            ("bytes=50-59,0-9", 100, ok(&[(50, 59), (0, 9)])),
            ("bytes=0-9,10-19", 100, ok(&[(0, 9), (10, 19)])),
            // ... unsatisfiable ones among them are dropped
            ("bytes=0-1,200-300", 100, ok(&[(0, 1)])),
            ("bytes=200-300,-0,5-6,7-8", 100, ok(&[(5, 6), (7, 8)])),
            // ... overlapping: the whole file
            ("bytes=0-9,5-14", 100, FULL),
            ("bytes=0-9,9-14", 100, FULL),
            ("bytes=0-,-1", 100, FULL),
            ("bytes=0-0,0-0", 100, FULL),
            ("bytes=-60,0-50", 100, FULL),
            // ... too many
            (&many, 100, FULL),
            (&sixteen, 100, Ok(sixteen_want)),
            // offsets beyond 4 GiB
            (
                "bytes=4294967295-4294967297",
                5 << 30,
                ok(&[(4294967295, 4294967297)]),
            ),
            (
                "bytes=2147483647-2147483649",
                5 << 30,
                ok(&[(2147483647, 2147483649)]),
            ),
            ("bytes=-1", 5 << 30, ok(&[((5 << 30) - 1, (5 << 30) - 1)])),
        ];
        for (value, len, want) in cases {
            assert_eq!(decide(value, len), want, "Range: {value} (len {len})");
        }
    }

    /// A range-spec as a test writes it, with the model of what it selects.
    #[derive(Debug, Clone)]
    pub(crate) enum TestSpec {
        FromTo(u64, u64),
        From(u64),
        Suffix(u64),
    }

    impl TestSpec {
        pub(crate) fn text(&self) -> String {
            match self {
                TestSpec::FromTo(a, b) => format!("{a}-{b}"),
                TestSpec::From(a) => format!("{a}-"),
                TestSpec::Suffix(n) => format!("-{n}"),
            }
        }

        /// The model: the half-open byte interval selected in a file of `len` bytes.
        pub(crate) fn model(&self, len: u64) -> Option<(u64, u64)> {
            let (start, end) = match *self {
                TestSpec::FromTo(a, b) => (a, b.saturating_add(1).min(len)),
                TestSpec::From(a) => (a, len),
                TestSpec::Suffix(n) => (len.saturating_sub(n), if n == 0 { 0 } else { len }),
            };
            (start < end).then_some((start, end))
        }
    }

    pub(crate) fn any_spec() -> impl Strategy<Value = TestSpec> {
        let pos = prop_oneof![0u64..200, any::<u64>(), Just(u64::MAX)];
        prop_oneof![
            (pos.clone(), pos.clone()).prop_map(|(a, b)| TestSpec::FromTo(a.min(b), a.max(b))),
            pos.clone().prop_map(TestSpec::From),
            pos.prop_map(TestSpec::Suffix),
        ]
    }

    proptest! {
        /// For any length and any field value, a satisfied range never leaves the file, the set is
        /// bounded and (when several) disjoint.
        #[test]
        fn satisfied_ranges_stay_in_the_file(
            len in prop_oneof![0u64..300, any::<u64>()],
            value in prop_oneof![
                "[ -~]{0,40}",
                "bytes=[0-9,\\- ]{0,40}",
                proptest::collection::vec(any_spec(), 1..20)
                    .prop_map(|s| format!("bytes={}", s.iter().map(TestSpec::text).collect::<Vec<_>>().join(","))),
            ],
        ) {
            if let Decision::Partial(ranges) = evaluate(value.as_bytes(), len) {
                let ranges = ranges.as_slice();
                prop_assert!(!ranges.is_empty() && ranges.len() <= MAX_RANGES);
                for r in ranges {
                    prop_assert!(r.start <= r.end && r.end < len, "{r:?} in {len}");
                }
                if ranges.len() > 1 {
                    let total: u64 = ranges.iter().map(ByteRange::len).sum();
                    prop_assert!(total <= len);
                }
            }
        }

        /// A single well-formed range-spec selects exactly the model's interval, or is 416.
        #[test]
        fn single_spec_matches_the_model(len in prop_oneof![0u64..300, any::<u64>()], spec in any_spec()) {
            let got = evaluate(format!("bytes={}", spec.text()).as_bytes(), len);
            match spec.model(len) {
                Some((start, end)) => {
                    let Decision::Partial(ranges) = got else {
                        return Err(TestCaseError::fail(format!("{got:?}")));
                    };
                    prop_assert_eq!(ranges.as_slice(), &[r(start, end - 1)][..]);
                }
                None => prop_assert_eq!(got, Decision::Unsatisfiable),
            }
        }
    }
}
