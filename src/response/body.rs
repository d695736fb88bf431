//! What a response's content is: nothing, static bytes, a slice of an open file, or a body
//! generated piece by piece. The writer ([`super::writer`]) carries it to the socket.

use std::fs::File;
use std::io;
use std::rc::Rc;

/// A slice of an open file to send as (part of) a body.
#[derive(Debug)]
pub struct FileBody {
    /// Shared: the open-file cache may hold the same descriptor for other responses.
    pub file: Rc<File>,
    /// Where the next byte to send starts.
    pub offset: u64,
    /// Bytes still to send.
    pub remaining: u64,
}

/// One step of a [`BodySource`].
#[derive(Debug)]
pub enum Piece {
    /// Bytes were appended to the buffer passed in.
    Bytes,
    /// A slice of a file comes next (sent zero-copy where possible).
    File(FileBody),
    /// The body is complete.
    End,
}

/// A body produced piece by piece, with bounded work per piece, so a large generated body (a
/// listing of 100,000 entries, a multipart range response) never sits whole in memory and never
/// stalls the event loop. If the plan has no `Content-Length`, the connection frames the pieces
/// with chunked encoding (HTTP/1.1) or by closing (HTTP/1.0); the source never frames anything.
pub trait BodySource: std::fmt::Debug {
    /// Produces the next piece: appends about `max` bytes or fewer to `out` and returns
    /// [`Piece::Bytes`], or returns a file slice, or [`Piece::End`]. Must not return `Bytes`
    /// forever without appending anything.
    fn next_piece(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<Piece>;
}

/// Where a response's content comes from.
#[derive(Debug)]
pub enum Body {
    /// No content (HEAD, 204, 304, or a redirect whose page is not worth sending).
    Empty,
    /// Bytes compiled into the binary (built-in error pages).
    Static(&'static [u8]),
    /// A slice of a file, sent with `sendfile` or read into the write buffer.
    File(FileBody),
    /// Generated piece by piece.
    Stream(Box<dyn BodySource>),
}
