//! Compressing a body as it is sent: gzip (`flate2` on the pure-Rust `miniz_oxide` back end) and
//! brotli (the `brotli` crate, a safe port of Google's encoder).
//!
//! Owns: the two encoders behind one [`Encoder`], and `CompressedBody`, a `BodySource` that
//! reads a file (or another source, such as a listing) piece by piece and yields coded pieces,
//! with bounded input per piece so a 50 MiB file never holds the loop for more than a few
//! milliseconds. Its output can be captured whole for the compressed-variant cache. Knows
//! nothing of HTTP framing: the connection frames the coded pieces (chunked or close-delimited).
//!
//! Cost: one encoder per coded response (its tables allocated once, for the response's life), an
//! input buffer of [`INPUT_PIECE`], one `pread` per piece.
//!
//! Levels, measured with `cargo bench --bench compress` on 100 KiB of minified JavaScript (see the
//! README): gzip level 1 runs at five to ten times the rate of level 6 for about a third more
//! output; brotli quality 3 runs at twice the rate of quality 4 for 1 % more output, and faster
//! than gzip level 6 for about the same output. A cached variant is compressed once, so the level
//! matters most for files streamed every time.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Write};
use std::rc::Rc;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::body::{BodySource, FileBody, MemoryBody, Piece};
use super::coding::Coding;

/// gzip level for on-the-fly coding (see the module docs).
pub const GZIP_LEVEL: u32 = 1;
/// Brotli quality for on-the-fly coding (0–11; see the module docs).
pub const BROTLI_QUALITY: u32 = 3;
/// Brotli window, log2 bytes: 18 (256 KiB), wider than most web assets. Measured with 64
/// connections holding coded streams of a 15 MiB log (release build, `--compress-cache 0`): about
/// 0.9 MiB of server memory per brotli stream at 18 against 2 MiB at 20, and 0.3 MiB per gzip
/// stream.
pub const BROTLI_LGWIN: u32 = 18;
/// Input consumed per piece. The writer charges a piece at least 16 KiB of its 256 KiB turn, so
/// a turn codes at most 256 KiB of input: under 2 ms at gzip level 1, about 5 ms at brotli
/// quality 3 (see the module docs for the rates).
pub const INPUT_PIECE: usize = 16 * 1024;

/// A streaming compressor for one coding.
pub enum Encoder {
    Gzip(GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoder::Gzip(_) => "Encoder::Gzip",
            Encoder::Brotli(_) => "Encoder::Brotli",
        })
    }
}

impl Encoder {
    /// An encoder for `coding`, or `None` for a coding this server does not compress with.
    pub fn new(coding: Coding) -> Option<Encoder> {
        Encoder::with_level(coding, None)
    }

    /// An encoder at an explicit level (gzip 0–9, brotli 0–11), for benchmarks; `None` takes
    /// the default.
    pub fn with_level(coding: Coding, level: Option<u32>) -> Option<Encoder> {
        match coding {
            Coding::Gzip => Some(Encoder::Gzip(GzEncoder::new(
                Vec::new(),
                Compression::new(level.unwrap_or(GZIP_LEVEL)),
            ))),
            Coding::Brotli => Some(Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                level.unwrap_or(BROTLI_QUALITY),
                BROTLI_LGWIN,
            )))),
            Coding::Identity | Coding::Zstd => None,
        }
    }

    /// Compresses `input`, appending whatever output the encoder has ready to `out` (possibly
    /// nothing: encoders buffer).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => {
                e.write_all(input)?;
                drain(e.get_mut(), out);
            }
            Encoder::Brotli(e) => {
                e.write_all(input)?;
                drain(e.get_mut(), out);
            }
        }
        Ok(())
    }

    /// Ends the stream, appending the rest of the output (the trailer included) to `out`.
    pub fn finish(self, out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => out.extend_from_slice(&e.finish()?),
            Encoder::Brotli(e) => out.extend_from_slice(&e.into_inner()),
        }
        Ok(())
    }
}

fn drain(staged: &mut Vec<u8>, out: &mut Vec<u8>) {
    out.extend_from_slice(staged);
    staged.clear();
}

/// Compresses all of `input` in one go (tests and benchmarks).
pub fn compress(coding: Coding, level: Option<u32>, input: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = Encoder::with_level(coding, level)
        .ok_or_else(|| io::Error::other("no encoder for this coding"))?;
    let mut out = Vec::new();
    for piece in input.chunks(INPUT_PIECE) {
        encoder.feed(piece, &mut out)?;
    }
    encoder.finish(&mut out)?;
    Ok(out)
}

/// Where a [`CompressedBody`] reads its uncoded bytes.
#[derive(Debug)]
pub(crate) enum Input {
    /// A file (the plan's `FileBody`), read by `pread`.
    File(FileBody),
    /// Another body source (a listing), whose pieces are coded as they come.
    Stream(Box<dyn BodySource>),
    /// Bytes in memory (a page with live reload's script injected).
    Memory(MemoryBody),
}

/// Receives a coded body's complete output once the stream ended well, to keep it as a cached
/// variant. Called at most once; never called for a stream that failed or outgrew its limit.
pub(crate) type OnComplete = Box<dyn FnOnce(Vec<u8>)>;

/// A copy of the coded output being kept for the variant cache.
struct Capture {
    bytes: Vec<u8>,
    /// Output beyond this abandons the capture (the per-file limit of the cache).
    limit: usize,
    /// Bytes all captures in flight may still take, shared by them: output that does not fit
    /// abandons the capture, so many slow streams cannot hold unbounded copies.
    allowance: Rc<Cell<usize>>,
    /// Called with the bytes when the stream completes; `None` once called.
    store: Option<OnComplete>,
}

impl Capture {
    /// Keeps `produced`, or reports that it does not fit (the capture must be abandoned).
    fn keep(&mut self, produced: &[u8]) -> bool {
        let left = self.allowance.get();
        if self.bytes.len() + produced.len() > self.limit || produced.len() > left {
            return false;
        }
        self.allowance.set(left - produced.len());
        self.bytes.extend_from_slice(produced);
        true
    }

    /// Hands the complete output over.
    fn finish(mut self) {
        let bytes = std::mem::take(&mut self.bytes);
        self.allowance.set(self.allowance.get() + bytes.len());
        if let Some(store) = self.store.take() {
            store(bytes);
        }
    }
}

impl Drop for Capture {
    /// What an abandoned or finished capture held is free for others again.
    fn drop(&mut self) {
        self.allowance.set(self.allowance.get() + self.bytes.len());
    }
}

/// A body coded as it is sent: reads [`INPUT_PIECE`] of input per piece and yields whatever the
/// encoder produced. An input that fails (a file that shrank, a listing that cannot be read) is
/// an error, and the connection ends without completing the body.
pub(crate) struct CompressedBody {
    input: Input,
    /// `None` once finished.
    encoder: Option<Encoder>,
    /// Uncoded bytes read this piece; reused.
    staging: Vec<u8>,
    capture: Option<Capture>,
    /// A stream input returned its end.
    input_ended: bool,
    /// The input or the encoder failed: every later call fails too, so the body can never look
    /// complete.
    failed: bool,
}

impl fmt::Debug for CompressedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompressedBody")
            .field("input", &self.input)
            .field("encoder", &self.encoder)
            .field("capturing", &self.capture.is_some())
            .finish()
    }
}

impl CompressedBody {
    /// Codes `input` with `encoder`.
    pub fn new(input: Input, encoder: Encoder) -> CompressedBody {
        CompressedBody {
            input,
            encoder: Some(encoder),
            staging: Vec::new(),
            capture: None,
            input_ended: false,
            failed: false,
        }
    }

    /// Also keeps a copy of the coded output, up to `limit` bytes, handed to `store` when the
    /// stream completes.
    pub fn capture(
        mut self,
        limit: usize,
        allowance: Rc<Cell<usize>>,
        store: OnComplete,
    ) -> CompressedBody {
        self.capture = Some(Capture {
            bytes: Vec::new(),
            limit,
            allowance,
            store: Some(store),
        });
        self
    }

    /// Reads the next piece of input into `staging`; returns false at its end.
    fn read_input(&mut self) -> io::Result<bool> {
        self.staging.clear();
        match &mut self.input {
            Input::File(file) => {
                if file.remaining == 0 {
                    return Ok(false);
                }
                file.read_into(&mut self.staging, INPUT_PIECE)?;
                Ok(true)
            }
            Input::Memory(memory) => {
                let piece = &memory.rest()[..memory.rest().len().min(INPUT_PIECE)];
                if piece.is_empty() {
                    return Ok(false);
                }
                self.staging.extend_from_slice(piece);
                let n = piece.len();
                memory.advance(n);
                Ok(true)
            }
            Input::Stream(source) => {
                if self.input_ended {
                    return Ok(false);
                }
                match source.next_piece(&mut self.staging, INPUT_PIECE)? {
                    Piece::Bytes => Ok(true),
                    Piece::End => {
                        self.input_ended = true;
                        Ok(!self.staging.is_empty())
                    }
                    // Only generated text (listings) is coded; a source handing out file
                    // slices (multipart) or waiting for news (an event stream) never is.
                    Piece::File(_) => Err(io::Error::other("a file piece cannot be coded")),
                    Piece::Pending => Err(io::Error::other("a waiting body cannot be coded")),
                }
            }
        }
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        self.failed = true;
        self.encoder = None;
        self.capture = None;
        e
    }

    fn keep(&mut self, produced: &[u8]) {
        if let Some(capture) = &mut self.capture
            && !capture.keep(produced)
        {
            self.capture = None;
        }
    }
}

impl BodySource for CompressedBody {
    fn next_piece(&mut self, out: &mut Vec<u8>, _max: usize) -> io::Result<Piece> {
        if self.failed {
            return Err(io::Error::other("the coded body failed earlier"));
        }
        if self.encoder.is_none() {
            return Ok(Piece::End);
        }
        let start = out.len();
        let more = match self.read_input() {
            Ok(more) => more,
            Err(e) => return Err(self.fail(e)),
        };
        let result = match (more, self.encoder.take()) {
            (true, Some(mut encoder)) => {
                let result = encoder.feed(&self.staging, out);
                self.encoder = Some(encoder);
                result
            }
            (false, Some(encoder)) => encoder.finish(out),
            (_, None) => Ok(()),
        };
        if let Err(e) = result {
            return Err(self.fail(e));
        }
        self.keep(&out[start..]);
        if self.encoder.is_none() {
            if let Some(capture) = self.capture.take() {
                capture.finish();
            }
            // The trailer just appended is still to be sent: report it as bytes; the next call
            // ends the body.
            if out.len() == start {
                return Ok(Piece::End);
            }
        }
        Ok(Piece::Bytes)
    }
}

/// Deterministic text of `len` bytes that compresses about as well as script source does
/// (keywords, punctuation and short pseudo-random identifiers), for tests and benchmarks.
pub fn sample_text(len: usize) -> Vec<u8> {
    let words = [
        "function",
        "return",
        "const",
        "let",
        "if",
        "else",
        "for",
        "while",
        "this",
        "value",
        "index",
        "length",
        "=>",
        "{",
        "}",
        "(",
        ")",
        ";",
        "=",
        "+",
        "document",
        "element",
        "null",
        "undefined",
        "true",
        "false",
        "await",
        "async",
        "export",
        "import",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if state.is_multiple_of(5) {
            // An identifier: a short pseudo-random name.
            out.extend_from_slice(format!("v{:x}", state % 4096).as_bytes());
        } else {
            out.extend_from_slice(words[(state >> 8) as usize % words.len()].as_bytes());
        }
        out.push(if state.is_multiple_of(11) {
            b'\n'
        } else {
            b' '
        });
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::body::testing::drain_bytes;
    use std::cell::{Cell, RefCell};
    use std::io::Read;
    use std::rc::Rc;

    pub fn decode(coding: Coding, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match coding {
            Coding::Gzip => {
                flate2::read::GzDecoder::new(bytes)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Coding::Brotli => {
                brotli::Decompressor::new(bytes, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            _ => out.extend_from_slice(bytes),
        }
        out
    }

    fn temp_file(name: &str, content: &[u8]) -> (std::path::PathBuf, Rc<std::fs::File>) {
        let path =
            std::env::temp_dir().join(format!("mioserve-compress-{name}-{}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        let file = Rc::new(std::fs::File::open(&path).unwrap());
        (path, file)
    }

    fn plenty() -> Rc<Cell<usize>> {
        Rc::new(Cell::new(usize::MAX / 2))
    }

    #[test]
    fn each_coding_round_trips() {
        for len in [0, 1, 1000, INPUT_PIECE, 3 * INPUT_PIECE + 7, 300_000] {
            let input = sample_text(len);
            for coding in [Coding::Gzip, Coding::Brotli] {
                let coded = compress(coding, None, &input).unwrap();
                assert_eq!(decode(coding, &coded), input, "{coding:?} {len}");
                if len >= 1000 {
                    assert!(
                        coded.len() < input.len() / 2,
                        "{coding:?} {len}: {}",
                        coded.len()
                    );
                }
            }
        }
    }

    #[test]
    fn a_file_streams_in_bounded_pieces_and_is_captured() {
        let input = sample_text(200_000);
        let (path, file) = temp_file("stream", &input);
        for coding in [Coding::Gzip, Coding::Brotli] {
            let kept = Rc::new(RefCell::new(None));
            let sink = kept.clone();
            let mut body = CompressedBody::new(
                Input::File(FileBody {
                    file: file.clone(),
                    offset: 0,
                    remaining: input.len() as u64,
                }),
                Encoder::new(coding).unwrap(),
            )
            .capture(
                1 << 20,
                plenty(),
                Box::new(move |bytes| *sink.borrow_mut() = Some(bytes)),
            );
            let mut out = Vec::new();
            let mut calls = 0;
            loop {
                calls += 1;
                match body.next_piece(&mut out, 16 * 1024).unwrap() {
                    Piece::End => break,
                    Piece::Bytes => {}
                    Piece::File(_) | Piece::Pending => unreachable!(),
                }
            }
            assert!(calls > input.len() / INPUT_PIECE, "{calls} calls");
            assert_eq!(decode(coding, &out), input, "{coding:?}");
            assert_eq!(
                kept.borrow().as_deref(),
                Some(&out[..]),
                "{coding:?} capture"
            );
        }
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_capture_over_its_limit_is_dropped() {
        let input = sample_text(100_000);
        let (path, file) = temp_file("limit", &input);
        let kept = Rc::new(RefCell::new(None));
        let sink = kept.clone();
        let mut body = CompressedBody::new(
            Input::File(FileBody {
                file,
                offset: 0,
                remaining: input.len() as u64,
            }),
            Encoder::new(Coding::Gzip).unwrap(),
        )
        .capture(
            100,
            plenty(),
            Box::new(move |bytes| *sink.borrow_mut() = Some(bytes)),
        );
        let out = drain_bytes(&mut body, 16 * 1024).unwrap();
        assert_eq!(decode(Coding::Gzip, &out), input);
        assert!(kept.borrow().is_none());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn captures_in_flight_share_one_allowance() {
        let input = sample_text(200_000);
        let (path, file) = temp_file("allowance", &input);
        let coded_len = compress(Coding::Gzip, None, &input).unwrap().len();
        // Room for one complete copy, not for two.
        let allowance = Rc::new(Cell::new(coded_len));
        let kept = Rc::new(RefCell::new(Vec::new()));
        let body = || {
            let sink = kept.clone();
            CompressedBody::new(
                Input::File(FileBody {
                    file: file.clone(),
                    offset: 0,
                    remaining: input.len() as u64,
                }),
                Encoder::new(Coding::Gzip).unwrap(),
            )
            .capture(
                1 << 20,
                allowance.clone(),
                Box::new(move |bytes| sink.borrow_mut().push(bytes)),
            )
        };
        // The first stream holds part of its copy while the second runs whole: the second does
        // not fit beside it and is sent without being kept.
        let (mut one, mut two) = (body(), body());
        let mut out_one = Vec::new();
        while out_one.is_empty() {
            one.next_piece(&mut out_one, 16 * 1024).unwrap();
        }
        let out_two = drain_bytes(&mut two, 16 * 1024).unwrap();
        assert_eq!(decode(Coding::Gzip, &out_two), input);
        assert!(kept.borrow().is_empty(), "the second copy did not fit");
        out_one.extend(drain_bytes(&mut one, 16 * 1024).unwrap());
        assert_eq!(decode(Coding::Gzip, &out_one), input);
        assert_eq!(kept.borrow().len(), 1, "the first copy was kept");
        assert_eq!(kept.borrow()[0], out_one);
        // Everything is given back once the streams are done.
        drop((one, two));
        assert_eq!(allowance.get(), coded_len);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_file_that_shrinks_is_an_error_and_nothing_is_captured() {
        let input = sample_text(100_000);
        let (path, file) = temp_file("shrink", &input);
        let kept = Rc::new(RefCell::new(None));
        let sink = kept.clone();
        let mut body = CompressedBody::new(
            Input::File(FileBody {
                file,
                offset: 0,
                remaining: input.len() as u64,
            }),
            Encoder::new(Coding::Brotli).unwrap(),
        )
        .capture(
            1 << 20,
            plenty(),
            Box::new(move |bytes| *sink.borrow_mut() = Some(bytes)),
        );
        let mut out = Vec::new();
        body.next_piece(&mut out, 16 * 1024).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(1000)
            .unwrap();
        assert!(drain_bytes(&mut body, 16 * 1024).is_err());
        assert!(kept.borrow().is_none());
        // Once failed, the body never claims to be complete.
        assert!(body.next_piece(&mut out, 16 * 1024).is_err());
        std::fs::remove_file(path).unwrap();
    }

    /// A source that yields a fixed text in small pieces, like a listing.
    #[derive(Debug)]
    struct Pieces(Vec<u8>, usize);

    impl BodySource for Pieces {
        fn next_piece(&mut self, out: &mut Vec<u8>, _max: usize) -> io::Result<Piece> {
            if self.1 >= self.0.len() {
                return Ok(Piece::End);
            }
            let end = (self.1 + 777).min(self.0.len());
            out.extend_from_slice(&self.0[self.1..end]);
            self.1 = end;
            Ok(Piece::Bytes)
        }
    }

    #[test]
    fn a_stream_input_is_coded_piece_by_piece() {
        let input = sample_text(50_000);
        for coding in [Coding::Gzip, Coding::Brotli] {
            let mut body = CompressedBody::new(
                Input::Stream(Box::new(Pieces(input.clone(), 0))),
                Encoder::new(coding).unwrap(),
            );
            let out = drain_bytes(&mut body, 16 * 1024).unwrap();
            assert_eq!(decode(coding, &out), input, "{coding:?}");
        }
    }
}
