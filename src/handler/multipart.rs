//! The body of a multi-range 206: `multipart/byteranges` (RFC 9110 §14.6), produced piece by
//! piece as a [`BodySource`]: each part's delimiter and header lines as bytes, each part's data
//! as a slice of the file (sent by `sendfile` or `pread` like any file body, never read whole
//! into memory), then the closing delimiter.
//!
//! The layout is nginx's: every delimiter, the first included, is preceded by a CRLF (RFC 2046
//! lets the preamble be that empty line), each part carries `Content-Type` and `Content-Range`:
//!
//! ```text
//! \r\n--B\r\nContent-Type: T\r\nContent-Range: bytes a-b/len\r\n\r\n<data>  (per part)
//! \r\n--B--\r\n                                                              (closing)
//! ```
//!
//! Cost per multi-range response: one `Vec` holding all part heads (at most 16 parts of about a
//! hundred bytes), one `Box` for the source; the parts share the open file (a reference count per part). The exact length
//! is known before the first byte is sent ([`MultipartBody::len`]).

use std::fs::File;
use std::io;
use std::rc::Rc;

use super::range::MAX_RANGES;
use crate::response::body::{BodySource, FileBody, Piece};
use crate::response::boundary::Boundary;
use crate::response::content_range::{ByteRange, ContentRange};
use crate::response::content_type::ContentType;

/// A `multipart/byteranges` body in progress.
#[derive(Debug)]
pub(crate) struct MultipartBody {
    /// The file the parts are cut from, shared with each part's file piece.
    file: Rc<File>,
    /// Every part's delimiter and header lines, then the closing delimiter, back to back.
    heads: Vec<u8>,
    /// For each part: where its head ends in `heads`, and its range of the file.
    parts: [(usize, ByteRange); MAX_RANGES],
    /// Number of parts.
    count: usize,
    /// The part whose head or data comes next.
    next: usize,
    /// How much of `heads` has been produced.
    emitted: usize,
    /// Total body length, computed once.
    len: u64,
}

impl MultipartBody {
    /// The body for `ranges` (at most [`MAX_RANGES`], all within a file of `complete` bytes) of
    /// `file`, whose own type `content_type` each part declares.
    pub fn new(
        file: Rc<File>,
        ranges: &[ByteRange],
        complete: u64,
        content_type: ContentType,
        boundary: Boundary,
    ) -> MultipartBody {
        assert!(
            ranges.len() <= MAX_RANGES,
            "range count is capped by the parser"
        );
        let mut heads = Vec::with_capacity(ranges.len() * 128 + 32);
        let mut parts = [(0, ByteRange { start: 0, end: 0 }); MAX_RANGES];
        let mut data = 0u64;
        for (slot, &range) in parts.iter_mut().zip(ranges) {
            heads.extend_from_slice(b"\r\n--");
            heads.extend_from_slice(boundary.as_bytes());
            heads.extend_from_slice(b"\r\nContent-Type: ");
            content_type.write_value(&mut heads);
            heads.extend_from_slice(b"\r\nContent-Range: ");
            ContentRange::Bytes { range, complete }.write_value(&mut heads);
            heads.extend_from_slice(b"\r\n\r\n");
            *slot = (heads.len(), range);
            data += range.len();
        }
        heads.extend_from_slice(b"\r\n--");
        heads.extend_from_slice(boundary.as_bytes());
        heads.extend_from_slice(b"--\r\n");
        let len = heads.len() as u64 + data;
        MultipartBody {
            file,
            heads,
            parts,
            count: ranges.len(),
            next: 0,
            emitted: 0,
            len,
        }
    }

    /// The exact length of the whole body, for `Content-Length`.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

impl BodySource for MultipartBody {
    fn next_piece(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<Piece> {
        // Bytes of `heads` due before the next file slice (or before the end).
        let head_end = match self.parts[..self.count].get(self.next) {
            Some(&(end, _)) => end,
            None => self.heads.len(),
        };
        if self.emitted < head_end {
            let take = (head_end - self.emitted).min(max.max(1));
            out.extend_from_slice(&self.heads[self.emitted..self.emitted + take]);
            self.emitted += take;
            return Ok(Piece::Bytes);
        }
        if let Some(&(_, range)) = self.parts[..self.count].get(self.next) {
            self.next += 1;
            return Ok(Piece::File(FileBody {
                file: Rc::clone(&self.file),
                offset: range.start,
                remaining: range.len(),
            }));
        }
        Ok(Piece::End)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    pub(crate) use crate::response::body::testing::drain;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// One part of a parsed multipart body: its Content-Type, Content-Range and data.
    #[derive(Debug, PartialEq, Eq)]
    pub(crate) struct Part {
        pub(crate) content_type: String,
        pub(crate) content_range: String,
        pub(crate) data: Vec<u8>,
    }

    /// Parses a `multipart/byteranges` body with `boundary` strictly: every delimiter where it
    /// must be, nothing after the closing one.
    pub(crate) fn parse(body: &[u8], boundary: &str) -> Vec<Part> {
        let delimiter = format!("\r\n--{boundary}");
        let mut parts = Vec::new();
        let mut rest = body;
        loop {
            rest = rest.strip_prefix(delimiter.as_bytes()).unwrap_or_else(|| {
                panic!("expected delimiter at {:?}", String::from_utf8_lossy(rest))
            });
            if rest == b"--\r\n" {
                return parts;
            }
            rest = rest.strip_prefix(b"\r\n").expect("CRLF after delimiter");
            let head_end = rest
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("part head end");
            let head = std::str::from_utf8(&rest[..head_end]).expect("ASCII part head");
            rest = &rest[head_end + 4..];
            let mut content_type = String::new();
            let mut content_range = String::new();
            for line in head.split("\r\n") {
                let (name, value) = line.split_once(": ").expect("header line");
                match name {
                    "Content-Type" => content_type = value.to_string(),
                    "Content-Range" => content_range = value.to_string(),
                    other => panic!("unexpected part header {other}"),
                }
            }
            // "bytes a-b/len": the data is exactly b - a + 1 bytes.
            let (a, b) = content_range["bytes ".len()..]
                .split_once('/')
                .and_then(|(r, _)| r.split_once('-'))
                .expect("Content-Range");
            let len = (b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1) as usize;
            parts.push(Part {
                content_type,
                content_range,
                data: rest[..len].to_vec(),
            });
            rest = &rest[len..];
        }
    }

    pub(crate) fn temp_file(name: &str, contents: &[u8]) -> (std::path::PathBuf, File) {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "mioserve-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, contents).unwrap();
        let file = File::open(&path).unwrap();
        (path, file)
    }

    const TEXT: ContentType = ContentType {
        mime: "text/plain",
        charset: true,
    };

    #[test]
    fn exact_layout() {
        let (path, file) = temp_file("multipart", b"0123456789abcdefghij");
        let ranges = [
            ByteRange { start: 0, end: 1 },
            ByteRange { start: 15, end: 19 },
        ];
        let mut body =
            MultipartBody::new(Rc::new(file), &ranges, 20, TEXT, Boundary::from_u64(0xabc));
        let len = body.len();
        let bytes = drain(&mut body, 16 * 1024).expect("piece");
        std::fs::remove_file(path).unwrap();
        let want = "\r\n--0000000000000abc\r\nContent-Type: text/plain; charset=utf-8\r\n\
                    Content-Range: bytes 0-1/20\r\n\r\n01\
                    \r\n--0000000000000abc\r\nContent-Type: text/plain; charset=utf-8\r\n\
                    Content-Range: bytes 15-19/20\r\n\r\nfghij\
                    \r\n--0000000000000abc--\r\n";
        assert_eq!(String::from_utf8(bytes).unwrap(), want);
        assert_eq!(len, want.len() as u64);
    }

    #[test]
    fn small_pieces_respect_max_and_add_up_to_len() {
        let (path, file) = temp_file("multipart-small", b"0123456789");
        let ranges = [
            ByteRange { start: 0, end: 0 },
            ByteRange { start: 9, end: 9 },
        ];
        let mut body = MultipartBody::new(Rc::new(file), &ranges, 10, TEXT, Boundary::from_u64(1));
        let mut total = 0u64;
        loop {
            let mut out = Vec::new();
            match body.next_piece(&mut out, 7).unwrap() {
                Piece::Bytes => {
                    assert!((1..=7).contains(&out.len()), "piece of {} bytes", out.len());
                    total += out.len() as u64;
                }
                Piece::File(piece) => total += piece.remaining,
                Piece::End => break,
                Piece::Pending => unreachable!("a multipart body never waits"),
            }
        }
        std::fs::remove_file(path).unwrap();
        assert_eq!(total, body.len());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Disjoint ranges within `len`, in a shuffled order.
        fn disjoint_ranges() -> impl Strategy<Value = (Vec<u8>, Vec<ByteRange>)> {
            (40usize..3000)
                .prop_flat_map(|len| {
                    (
                        proptest::collection::vec(any::<u8>(), len),
                        proptest::collection::btree_set(0..len as u64, 2..=2 * MAX_RANGES),
                    )
                })
                .prop_map(|(data, cuts)| {
                    // Consecutive cut points pair up into disjoint ranges [a, b].
                    let cuts: Vec<u64> = cuts.into_iter().collect();
                    let ranges = cuts
                        .chunks_exact(2)
                        .map(|c| ByteRange {
                            start: c[0],
                            end: c[1],
                        })
                        .collect();
                    (data, ranges)
                })
                .prop_flat_map(|(data, ranges): (Vec<u8>, Vec<ByteRange>)| {
                    (Just(data), Just(ranges).prop_shuffle())
                })
        }

        proptest! {
            /// A multipart body parses back into exactly the requested parts, in order, and has
            /// exactly the announced length.
            #[test]
            fn parses_back_into_the_requested_parts(
                (data, ranges) in disjoint_ranges(),
                max in 1usize..64,
                seed in any::<u64>(),
            ) {
                let (path, file) = temp_file("multipart-prop", &data);
                let boundary = Boundary::from_u64(seed);
                let mut body = MultipartBody::new(Rc::new(file), &ranges, data.len() as u64, TEXT, boundary);
                let len = body.len();
                let bytes = drain(&mut body, max).expect("piece");
                std::fs::remove_file(path).unwrap();
                prop_assert_eq!(bytes.len() as u64, len);
                let parts = parse(&bytes, std::str::from_utf8(boundary.as_bytes()).unwrap());
                prop_assert_eq!(parts.len(), ranges.len());
                for (part, range) in parts.iter().zip(&ranges) {
                    prop_assert_eq!(&part.content_type, "text/plain; charset=utf-8");
                    prop_assert_eq!(
                        &part.content_range,
                        &format!("bytes {}-{}/{}", range.start, range.end, data.len())
                    );
                    prop_assert_eq!(&part.data[..], &data[range.start as usize..=range.end as usize]);
                }
            }
        }
    }
}
