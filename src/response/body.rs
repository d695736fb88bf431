//! What a response's content is: nothing, static bytes, a slice of an open file, or a body
//! generated piece by piece. The writer ([`super::writer`]) carries it to the socket and frames it;
//! nothing here frames anything.
//!
//! A body transformed on its way out (a content coding) is a [`BodySource`] wrapping another
//! body: it takes the inner source's pieces (reading a file slice with [`FileBody::read_into`]
//! rather than letting it go out by `sendfile`) and produces the transformed bytes, a bounded
//! amount per call, so the writer frames and paces it like any generated body.
//!
//! Cost: a `FileBody` is a reference count on an open file and two numbers; a generated body is
//! one `Box` per response.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::rc::Rc;

/// A slice of an open file to send as (part of) a body.
#[derive(Debug)]
pub(crate) struct FileBody {
    /// Shared: the open-file cache may hold the same descriptor for other responses.
    pub(crate) file: Rc<File>,
    /// Where the next byte to send starts.
    pub(crate) offset: u64,
    /// Bytes still to send.
    pub(crate) remaining: u64,
}

impl FileBody {
    /// Appends up to `max` bytes of the slice to `buf` by `pread`, advancing it. A file that ends
    /// before the slice does is an error: a body must never be shorter than announced. On error,
    /// `buf` holds what was read.
    // Inline: the hot path (a small file read behind its head) calls it from another module.
    #[inline]
    pub(crate) fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<()> {
        let want = self.remaining.min(max as u64) as usize;
        let start = buf.len();
        buf.resize(start + want, 0);
        let mut filled = 0;
        while filled < want {
            match self
                .file
                .read_at(&mut buf[start + filled..], self.offset + filled as u64)
            {
                Ok(0) => {
                    buf.truncate(start + filled);
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    buf.truncate(start + filled);
                    return Err(e);
                }
            }
        }
        self.offset += want as u64;
        self.remaining -= want as u64;
        Ok(())
    }
}

/// A slice of bytes held in memory and shared (a cached compressed variant): sent straight from
/// the shared buffer, never copied whole.
///
/// Offsets are 32-bit, which keeps a connection with a body in flight small: a variant is at most
/// a few MiB (see the cache's per-file limit), and [`MemoryBody::new`] clamps to what fits.
#[derive(Debug)]
pub struct MemoryBody {
    bytes: Rc<Vec<u8>>,
    /// Where the next byte to send starts.
    offset: u32,
    /// Where the slice ends.
    end: u32,
}

impl MemoryBody {
    /// The slice `start..end` of `bytes` (clamped to the bytes, and to 4 GiB).
    pub fn new(bytes: Rc<Vec<u8>>, start: u64, end: u64) -> MemoryBody {
        let len = (bytes.len() as u64).min(u64::from(u32::MAX));
        let end = end.min(len) as u32;
        MemoryBody {
            offset: start.min(u64::from(end)) as u32,
            end,
            bytes,
        }
    }

    /// The bytes still to send.
    pub fn rest(&self) -> &[u8] {
        &self.bytes[self.offset as usize..self.end as usize]
    }

    /// Marks `n` more bytes as sent.
    pub fn advance(&mut self, n: usize) {
        self.offset = (self.offset as usize + n).min(self.end as usize) as u32;
    }
}

/// One step of a [`BodySource`].
#[derive(Debug)]
pub(crate) enum Piece {
    /// Bytes were appended to the buffer passed in.
    Bytes,
    /// A slice of a file comes next (sent zero-copy where possible).
    File(FileBody),
    /// Nothing to send now, and the body is not complete: a source that waits for news (live
    /// reload's event stream). The connection runs it again when there may be some.
    Pending,
    /// The body is complete.
    End,
}

/// A body produced piece by piece, with bounded work per piece, so a large generated body (a
/// listing of 100,000 entries, a multipart range response) never sits whole in memory and never
/// stalls the event loop. If the plan has no `Content-Length`, the writer frames the pieces with
/// chunked encoding (HTTP/1.1) or by closing (HTTP/1.0); the source never frames anything.
pub(crate) trait BodySource: std::fmt::Debug {
    /// Produces the next piece: appends about `max` bytes or fewer to `out` and returns
    /// [`Piece::Bytes`], or returns a file slice, or [`Piece::End`]. Each call does a bounded
    /// amount of work; a call may append nothing (a source that reads before it writes), and is
    /// then charged to the turn's budget as a full piece, but must not return `Bytes` forever
    /// without appending anything.
    fn next_piece(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<Piece>;
}

/// Where a response's content comes from.
#[derive(Debug)]
pub(crate) enum Body {
    /// No content (HEAD, 204, 304, or a redirect whose page is not worth sending).
    Empty,
    /// Bytes compiled into the binary (built-in error pages).
    Static(&'static [u8]),
    /// A slice of a file, sent with `sendfile` or read into the write buffer.
    File(FileBody),
    /// A slice of shared bytes in memory.
    Memory(MemoryBody),
    /// Generated piece by piece.
    Stream(Box<dyn BodySource>),
}

/// Helpers for the tests of body sources.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Drains `source` into memory, asking at most `max` bytes a piece and reading file pieces
    /// with `read_at` as the connection would send them.
    pub(crate) fn drain(source: &mut dyn BodySource, max: usize) -> io::Result<Vec<u8>> {
        collect(source, max, true)
    }

    /// Drains a source that must produce bytes only: a file piece fails the test.
    pub(crate) fn drain_bytes(source: &mut dyn BodySource, max: usize) -> io::Result<Vec<u8>> {
        collect(source, max, false)
    }

    fn collect(source: &mut dyn BodySource, max: usize, files: bool) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for _ in 0..100_000 {
            match source.next_piece(&mut out, max)? {
                Piece::Bytes => {}
                Piece::File(piece) => {
                    assert!(files, "this body hands out no file pieces");
                    let start = out.len();
                    out.resize(start + piece.remaining as usize, 0);
                    piece.file.read_exact_at(&mut out[start..], piece.offset)?;
                }
                Piece::End => return Ok(out),
                Piece::Pending => panic!("this body never waits"),
            }
        }
        panic!("the body source never ended");
    }
}
