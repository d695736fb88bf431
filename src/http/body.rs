//! Request bodies, decoded only to be discarded: a static server has no use for them, but must
//! frame them exactly so a body is never read as the next request (RFC 9112 §6.3, §7.1).
//!
//! A chunked body's trailer section is read with the head's field-line rules (RFC 9112 §7.1.2,
//! §5): a line that is not `token ":" value` (no colon, whitespace before the colon or at the
//! start of the line, which is obs-fold, a control byte) is refused like a bad head, 400 and
//! close, so no trailer line is read one way here and another way by an intermediary.
//!
//! Cost: a byte-at-a-time state machine over chunk framing, a skip over data; no allocation.

use super::error::ParseError;
use super::is_tchar;
use super::parse::BodyFraming;

/// Most hex digits in a chunk size: 16 is a full `u64`, anything longer is an attack.
const MAX_CHUNK_SIZE_DIGITS: u8 = 16;
/// Most bytes of chunk extensions on one size line, and of one trailer field line. Arbitrary:
/// generous for real clients, small enough that a hostile one cannot keep us parsing forever.
const MAX_LINE_EXTRA: u32 = 4096;
/// Most bytes of a whole trailer section. Arbitrary: the default head limit; this server reads
/// no trailer field, so it only bounds the work a client can make it do after the last chunk.
const MAX_TRAILER_BYTES: u32 = 8192;

/// Consumes a request body of known framing.
#[derive(Debug, Clone)]
pub enum BodyDecoder {
    /// `remaining` bytes of a Content-Length body are still to come.
    Length { remaining: u64 },
    /// A chunked body, with the decoder's position in the framing.
    Chunked(Chunked),
}

/// Outcome of feeding bytes to a decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input that belong to the body.
    pub consumed: usize,
    /// The body is complete; input past `consumed` is the next request.
    pub done: bool,
}

impl BodyDecoder {
    /// A decoder for `framing`, or `None` when there is no body. A Content-Length over `limit` is
    /// refused up front with 413.
    pub fn new(framing: BodyFraming, limit: u64) -> Result<Option<BodyDecoder>, ParseError> {
        match framing {
            BodyFraming::None => Ok(None),
            BodyFraming::Length(n) if n > limit => Err(ParseError::BodyTooLarge),
            BodyFraming::Length(n) => Ok(Some(BodyDecoder::Length { remaining: n })),
            BodyFraming::Chunked => Ok(Some(BodyDecoder::Chunked(Chunked::new(limit)))),
        }
    }

    /// Consumes body bytes from `input`.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, ParseError> {
        match self {
            BodyDecoder::Length { remaining } => {
                let take = (*remaining).min(input.len() as u64);
                *remaining -= take;
                Ok(Progress {
                    consumed: take as usize,
                    done: *remaining == 0,
                })
            }
            BodyDecoder::Chunked(chunked) => chunked.feed(input),
        }
    }
}

/// Where a chunked decoder stands (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the first hex digit of a chunk size.
    SizeStart,
    /// In the hex digits of a chunk size.
    Size,
    /// In chunk extensions (after `;` or whitespace), up to CR.
    Extension,
    /// After the CR of a size line.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    TrailerStart,
    /// In a trailer field's name.
    TrailerName,
    /// In a trailer field's value, after the colon.
    TrailerValue,
    /// After the CR of a trailer line.
    TrailerLf,
    /// After the CR of the final empty line.
    FinalLf,
    /// The body is complete.
    Done,
}

/// A chunked-body decoder that checks framing strictly (CRLF line ends) and bounds everything.
#[derive(Debug, Clone)]
pub struct Chunked {
    state: State,
    /// Size of the current chunk, then bytes of it still to skip.
    size: u64,
    digits: u8,
    /// Bytes of extension or trailer on the current line.
    line_extra: u32,
    /// Bytes of the trailer section so far.
    trailer_bytes: u32,
    /// Data bytes left before the body limit is exceeded.
    budget: u64,
}

impl Chunked {
    fn new(limit: u64) -> Chunked {
        Chunked {
            state: State::SizeStart,
            size: 0,
            digits: 0,
            line_extra: 0,
            trailer_bytes: 0,
            budget: limit,
        }
    }

    fn feed(&mut self, input: &[u8]) -> Result<Progress, ParseError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let take = self.size.min((input.len() - i) as u64);
                self.size -= take;
                i += take as usize;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.step(input[i])?;
            i += 1;
        }
        Ok(Progress {
            consumed: i,
            done: self.state == State::Done,
        })
    }

    fn step(&mut self, b: u8) -> Result<(), ParseError> {
        use State::*;
        let bad = Err(ParseError::BadChunkedBody);
        self.state = match (self.state, b) {
            (SizeStart | Size, b) if b.is_ascii_hexdigit() => {
                self.digits += 1;
                if self.digits > MAX_CHUNK_SIZE_DIGITS {
                    return bad;
                }
                let digit = (b as char).to_digit(16).unwrap_or(0);
                self.size = (self.size << 4) | u64::from(digit);
                Size
            }
            (Size, b';' | b' ' | b'\t') => Extension,
            (Size | Extension, b'\r') => SizeLf,
            (Extension, b) if b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80 => {
                self.line_extra += 1;
                if self.line_extra > MAX_LINE_EXTRA {
                    return bad;
                }
                Extension
            }
            (SizeLf, b'\n') => {
                self.line_extra = 0;
                self.digits = 0;
                if self.size == 0 {
                    TrailerStart
                } else if self.size > self.budget {
                    return Err(ParseError::BodyTooLarge);
                } else {
                    self.budget -= self.size;
                    Data
                }
            }
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => SizeStart,
            (TrailerStart, b'\r') => FinalLf,
            (TrailerValue, b'\r') => TrailerLf,
            // A field line as in the head (RFC 9112 §5): a token, a colon, a value of visible
            // bytes, spaces and tabs. Whitespace at the start of a line (obs-fold) or before
            // the colon, a line without a colon, a control byte: all refused.
            (TrailerStart | TrailerName, b) if is_tchar(b) => self.count_trailer(TrailerName)?,
            (TrailerName, b':') => self.count_trailer(TrailerValue)?,
            (TrailerValue, b) if b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80 => {
                self.count_trailer(TrailerValue)?
            }
            (TrailerLf, b'\n') => {
                self.line_extra = 0;
                TrailerStart
            }
            (FinalLf, b'\n') => Done,
            _ => return bad,
        };
        Ok(())
    }
}

impl Chunked {
    /// Counts one byte of a trailer line against the line's and the section's bounds, moving to
    /// `next`.
    fn count_trailer(&mut self, next: State) -> Result<State, ParseError> {
        self.line_extra += 1;
        self.trailer_bytes += 1;
        if self.line_extra > MAX_LINE_EXTRA || self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(ParseError::BadChunkedBody);
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked() -> BodyDecoder {
        BodyDecoder::new(BodyFraming::Chunked, 1 << 20)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn length_body_stops_at_its_end() {
        let mut d = BodyDecoder::new(BodyFraming::Length(5), 100)
            .unwrap()
            .unwrap();
        assert_eq!(
            d.feed(b"abc").unwrap(),
            Progress {
                consumed: 3,
                done: false
            }
        );
        assert_eq!(
            d.feed(b"deGET").unwrap(),
            Progress {
                consumed: 2,
                done: true
            }
        );
    }

    #[test]
    fn length_over_limit_is_413() {
        assert_eq!(
            BodyDecoder::new(BodyFraming::Length(101), 100).err(),
            Some(ParseError::BodyTooLarge)
        );
    }

    #[test]
    fn chunked_bodies_table() {
        // (body followed by "GET", bytes that belong to the body)
        let cases: &[(&[u8], usize)] = &[
            (b"0\r\n\r\nGET", 5),
            (b"5\r\nhello\r\n0\r\n\r\nGET", 15),
            (b"5;ext=1\r\nhello\r\n0\r\n\r\nGET", 21),
            (b"A\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nGET", 32),
            (b"00000000000000005\r\nhello\r\n0\r\n\r\nGET", 0), // 17 digits: rejected below
        ];
        for (input, want) in &cases[..4] {
            let mut d = chunked();
            let p = d.feed(input).unwrap();
            assert_eq!(
                p,
                Progress {
                    consumed: *want,
                    done: true
                },
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(&input[p.consumed..], b"GET");
        }
        assert_eq!(
            chunked().feed(cases[4].0).err(),
            Some(ParseError::BadChunkedBody)
        );
    }

    #[test]
    fn chunked_split_anywhere_gives_same_result() {
        let input = b"5;a=b\r\nhello\r\n3\r\nabc\r\n0\r\nX: y\r\n\r\n";
        for split in 0..input.len() {
            let mut d = chunked();
            let a = d.feed(&input[..split]).unwrap();
            assert_eq!(a.consumed, split);
            let b = d.feed(&input[split..]).unwrap();
            assert!(b.done, "split at {split}");
            assert_eq!(a.consumed + b.consumed, input.len());
        }
    }

    #[test]
    fn trailer_lines_follow_the_field_line_rules() {
        // (trailer section after the last chunk, accepted)
        let cases: &[(&[u8], bool)] = &[
            (b"\r\n", true),
            (b"X: y\r\n\r\n", true),
            (
                b"X-A: 1\r\nx-b:\r\nC:\tv a l\t\r\nD: caf\xc3\xa9\r\n\r\n",
                true,
            ),
            (b"Server-Timing: db;dur=53, app;dur=47.2\r\n\r\n", true),
            // no colon
            (b"NoColon\r\n\r\n", false),
            (b"X: y\r\nNoColon\r\n\r\n", false),
            // whitespace before the colon, or in the name
            (b"X : y\r\n\r\n", false),
            (b"X\t: y\r\n\r\n", false),
            (b"X Y: z\r\n\r\n", false),
            // an empty name
            (b": y\r\n\r\n", false),
            // obs-fold: a line starting with whitespace
            (b"X: y\r\n z\r\n\r\n", false),
            (b"X: y\r\n\tz\r\n\r\n", false),
            (b" X: y\r\n\r\n", false),
            // control bytes, DEL, a bare CR or LF
            (b"X: a\x00b\r\n\r\n", false),
            (b"X: a\x7fb\r\n\r\n", false),
            (b"X\x01: y\r\n\r\n", false),
            (b"X: y\rz\r\n\r\n", false),
            (b"X: y\n\r\n", false),
        ];
        for (trailer, ok) in cases {
            let input = [&b"3\r\nabc\r\n0\r\n"[..], trailer].concat();
            let got = chunked().feed(&input);
            let shown = String::from_utf8_lossy(trailer);
            if *ok {
                assert_eq!(
                    got,
                    Ok(Progress {
                        consumed: input.len(),
                        done: true
                    }),
                    "{shown:?}"
                );
            } else {
                assert_eq!(got.err(), Some(ParseError::BadChunkedBody), "{shown:?}");
            }
        }
    }

    #[test]
    fn the_trailer_section_is_bounded() {
        let line = format!("X-Pad: {}\r\n", "a".repeat(1000));
        let within = line.repeat(MAX_TRAILER_BYTES as usize / line.len());
        let mut d = chunked();
        let body = format!("0\r\n{within}\r\n");
        assert!(d.feed(body.as_bytes()).unwrap().done);
        let beyond = line.repeat(MAX_TRAILER_BYTES as usize / line.len() + 1);
        let body = format!("0\r\n{beyond}\r\n");
        assert_eq!(
            chunked().feed(body.as_bytes()).err(),
            Some(ParseError::BadChunkedBody)
        );
        // One line is bounded by itself too.
        let long = format!("0\r\nX: {}\r\n\r\n", "a".repeat(MAX_LINE_EXTRA as usize));
        assert_eq!(
            chunked().feed(long.as_bytes()).err(),
            Some(ParseError::BadChunkedBody)
        );
    }

    #[test]
    fn chunked_rejections() {
        let bad: &[(&[u8], ParseError)] = &[
            (b"x\r\n", ParseError::BadChunkedBody),
            (b"\r\n", ParseError::BadChunkedBody),
            (b"5\nhello", ParseError::BadChunkedBody),
            (b"5\r\nhelloX", ParseError::BadChunkedBody),
            (b"5\r\nhello\rX", ParseError::BadChunkedBody),
            (b"100001\r\n", ParseError::BodyTooLarge),
        ];
        for (input, want) in bad {
            assert_eq!(
                chunked().feed(input).err(),
                Some(*want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
