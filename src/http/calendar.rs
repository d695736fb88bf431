//! The proleptic Gregorian calendar in UTC: Unix seconds to a date and time, written as digits.
//! The `Date` header has its own cache ([`super::date`]); this is for times that change per
//! entry, such as the modification times in a directory listing, and per response, such as
//! `Last-Modified`.
//!
//! Cost: a few integer divisions per conversion; digits appended by hand; no allocation.

/// Days from 1970-01-01 to `year`-`month`-`day` (Howard Hinnant's `days_from_civil`): the inverse
/// of [`Civil::from_unix`]'s date, for dates read from text (a certificate's validity).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A UTC date and time from Unix seconds, written by [`Civil::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    year: i64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Civil {
    /// Converts with Howard Hinnant's `civil_from_days`, valid for any `i64` day count.
    pub(crate) fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    pub fn year(&self) -> i64 {
        self.year
    }

    pub fn month(&self) -> u8 {
        self.month
    }

    pub fn day(&self) -> u8 {
        self.day
    }

    pub fn hour(&self) -> u8 {
        self.hour
    }

    pub fn minute(&self) -> u8 {
        self.minute
    }

    pub fn second(&self) -> u8 {
        self.second
    }
}

/// How much of a [`Civil`] time to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeStyle {
    /// `2024-03-09 14:05`
    Minutes,
    /// `2024-03-09 14:05:07`
    Seconds,
    /// `2024-03-09T14:05:07Z` (RFC 3339)
    Rfc3339,
}

impl Civil {
    /// Appends the time in `style`. Digits by hand: `fmt` machinery costs more than the rest of
    /// a row.
    pub fn push(&self, out: &mut Vec<u8>, style: TimeStyle) {
        fn two(out: &mut Vec<u8>, n: u8) {
            out.extend_from_slice(&[b'0' + n / 10, b'0' + n % 10]);
        }
        if (0..10_000).contains(&self.year) {
            let y = self.year as u16;
            two(out, (y / 100) as u8);
            two(out, (y % 100) as u8);
        } else {
            out.extend_from_slice(itoa::Buffer::new().format(self.year).as_bytes());
        }
        out.push(b'-');
        two(out, self.month);
        out.push(b'-');
        two(out, self.day);
        out.push(if style == TimeStyle::Rfc3339 {
            b'T'
        } else {
            b' '
        });
        two(out, self.hour);
        out.push(b':');
        two(out, self.minute);
        if style != TimeStyle::Minutes {
            out.push(b':');
            two(out, self.second);
        }
        if style == TimeStyle::Rfc3339 {
            out.push(b'Z');
        }
    }
}

/// `secs` (Unix seconds, at most year 9999) as an IMF-fixdate, `Sun, 06 Nov 1994 08:49:37
/// GMT` (RFC 9110 §5.6.7): the form of `Last-Modified`. Digits by hand: `httpdate` and the `fmt`
/// machinery cost about 460 instructions a response, this about 60.
pub(crate) fn imf_fixdate(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let secs = secs.min(253_402_300_799);
    let t = Civil::from_unix(secs as i64);
    let two = |n: u8| [b'0' + n / 10, b'0' + n % 10];
    let year = t.year as u16;
    // Filled in place: fifteen appends, each with its capacity check, cost twice as much.
    let mut date = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    date[0..3].copy_from_slice(DAYS[(secs / 86_400 % 7) as usize]);
    date[5..7].copy_from_slice(&two(t.day));
    date[8..11].copy_from_slice(MONTHS[usize::from(t.month - 1)]);
    date[12..14].copy_from_slice(&two((year / 100) as u8));
    date[14..16].copy_from_slice(&two((year % 100) as u8));
    date[17..19].copy_from_slice(&two(t.hour));
    date[20..22].copy_from_slice(&two(t.minute));
    date[23..25].copy_from_slice(&two(t.second));
    date
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_civil_inverts_from_unix() {
        for days in [-719_468, -1, 0, 1, 10_957, 11_016, 19_723, 2_932_896] {
            let c = Civil::from_unix(days * 86_400);
            assert_eq!(
                days_from_civil(c.year(), i64::from(c.month()), i64::from(c.day())),
                days,
                "{c:?}"
            );
        }
    }

    #[test]
    fn imf_fixdate_matches_httpdate() {
        use std::time::{Duration, UNIX_EPOCH};
        let mut secs: u64 = 0;
        // Every day of 1970-1972 (a leap year), then strides across the whole range.
        let samples = (0..3 * 366)
            .map(|d| d * 86_400 + 3_723)
            .chain(std::iter::from_fn(|| {
                secs += 7_777_777_777 / 1000 + 12_345;
                (secs <= 253_402_300_799).then_some(secs)
            }));
        for secs in samples.chain([784_111_777, 951_782_400, 253_402_300_799]) {
            let got = imf_fixdate(secs);
            let want = httpdate::HttpDate::from(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(
                String::from_utf8(got.to_vec()).unwrap(),
                want.to_string(),
                "{secs}"
            );
        }
    }

    #[test]
    fn civil_times() {
        let cases: &[(i64, &str)] = &[
            (0, "1970-01-01T00:00:00Z"),
            (784_111_777, "1994-11-06T08:49:37Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_709_942_707, "2024-03-09T00:05:07Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
        ];
        let text = |secs, style| {
            let mut out = Vec::new();
            Civil::from_unix(secs).push(&mut out, style);
            String::from_utf8(out).unwrap()
        };
        for (secs, want) in cases {
            assert_eq!(text(*secs, TimeStyle::Rfc3339), *want, "{secs}");
        }
        assert_eq!(text(784_111_777, TimeStyle::Minutes), "1994-11-06 08:49");
        assert_eq!(text(784_111_777, TimeStyle::Seconds), "1994-11-06 08:49:37");
        assert_eq!(
            text(-62_198_755_200, TimeStyle::Rfc3339),
            "-1-01-01T00:00:00Z"
        );
        assert_eq!(
            text(253_402_300_800, TimeStyle::Rfc3339),
            "10000-01-01T00:00:00Z"
        );
    }
}
