//! The byte-range values a response carries (RFC 9110 §14): a satisfiable range of a file and
//! the `Content-Range` value of a 206, a 416 or a multipart part.
//!
//! Cost: `itoa` digits appended to a buffer; no heap allocation once the buffer has room.

/// A satisfiable range of a file: bytes `start..=end`, never empty, never beyond the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    /// The last byte, inclusive (as in `Content-Range`).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range.
    pub(crate) fn len(&self) -> u64 {
        self.end - self.start + 1
    }
}

/// A `Content-Range` value (RFC 9110 §14.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes <start>-<end>/<complete length>`, in a 206 or a multipart part.
    Bytes { range: ByteRange, complete: u64 },
    /// `bytes */<complete length>`, in a 416.
    Unsatisfied { complete: u64 },
}

impl ContentRange {
    /// Appends the value (without the field name) to `out`: `itoa` digits, no allocation once
    /// `out` has room.
    pub fn write_value(&self, out: &mut Vec<u8>) {
        let mut digits = itoa::Buffer::new();
        out.extend_from_slice(b"bytes ");
        let complete = match *self {
            ContentRange::Bytes { range, complete } => {
                out.extend_from_slice(digits.format(range.start).as_bytes());
                out.push(b'-');
                out.extend_from_slice(digits.format(range.end).as_bytes());
                complete
            }
            ContentRange::Unsatisfied { complete } => {
                out.push(b'*');
                complete
            }
        };
        out.push(b'/');
        out.extend_from_slice(digits.format(complete).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn content_range_values() {
        let cases: &[(ContentRange, &str)] = &[
            (
                ContentRange::Bytes {
                    range: r(0, 1),
                    complete: 100,
                },
                "bytes 0-1/100",
            ),
            (
                ContentRange::Bytes {
                    range: r(4294967295, 4294967297),
                    complete: 5 << 30,
                },
                "bytes 4294967295-4294967297/5368709120",
            ),
            (ContentRange::Unsatisfied { complete: 0 }, "bytes */0"),
            (ContentRange::Unsatisfied { complete: 100 }, "bytes */100"),
        ];
        for (value, want) in cases {
            let mut out = Vec::new();
            value.write_value(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), *want);
        }
    }
}
