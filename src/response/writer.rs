//! Sending one response body: the state of a body in flight, how it is framed on the wire, and the
//! syscalls that carry it.
//!
//! Owns: the connection's write buffer with what of it was sent ([`Outbox`]); a body in progress
//! ([`BodyWriter`]): a file sent by `sendfile` (or read into the buffer by `pread` when sendfile is
//! off), a generated body pulled piece by piece from its [`BodySource`] and framed as chunks
//! (HTTP/1.1) or delimited by closing (HTTP/1.0), a multipart body whose parts are file slices;
//! and the per-turn budget that keeps one large body from starving other connections. Knows
//! transports and framing, not HTTP semantics: what the body is and whether it is chunked was
//! decided before. [`BodyWriter::send`] is the one call: it answers [`Turn::Done`],
//! [`Turn::Blocked`] (progress recorded; resume on the next writable event), [`Turn::Paced`]
//! or [`Turn::Yield`].
//!
//! The pipeline is `source → framing → socket`: a transformation of the body (a content coding)
//! is a source wrapping the original one (see [`super::body`]), so this module frames and paces
//! its output like any generated body.
//!
//! Cost: one `send` per buffer flush; one `sendfile` per up-to-2 GiB of file (or one `pread` plus
//! one `send` per 64 KiB without sendfile, and always under TLS, whose transport cannot
//! `sendfile`: the pool's write buffer is the reused buffer the file is read into); a chunk's framing is written in place in the buffer
//! (its size line into room reserved ahead of the data, one `memmove` of the data). No allocation
//! beyond the buffer's growth.

use std::io;

use super::body::{Body, BodySource, FileBody, MemoryBody, Piece};
use super::framing::Delimiter;
use crate::pool::BufferPool;
use crate::transport::Transport;

/// Files up to this size are read into the write buffer behind their head, so the response leaves
/// in one `send` (and pipelined small responses batch together).
pub(crate) const INLINE_FILE_MAX: u64 = 16 * 1024;
/// Chunk read from a file per `pread` when sendfile is off.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes asked of a body source per piece (one chunk when chunked).
const STREAM_PIECE: usize = 16 * 1024;
/// Bytes of file sent per turn before pacing: each large download gets a slice in turn, as
/// lighttpd's 256 KiB per write event does. Measured (10 MiB file, `wrk -c8`, server and client
/// pinned apart, 5 rounds): against the 8 MiB of before, 2,188 -> 3,080 MiB/s, server CPU 317 ->
/// 274 µs/MiB, the client's 406 -> 254 µs/MiB; 128 KiB, 192 KiB, 384 KiB and 1 MiB all did worse.
/// Smaller slices keep what each socket holds unsent small, so the receiver copies bytes the
/// caches still hold; the extra wake-ups cost less than that saves. With turns paced by
/// writability (`sys::Pacing::Rearm`), 128 KiB and 512 KiB did worse again. (All measured
/// before the cap on unsent bytes, `sys::Unsent`, which now keeps each socket's unsent bytes
/// small on Linux whatever the slice.)
const FILE_BYTES_PER_TURN: u64 = 256 * 1024;
/// Bytes of file read into the buffer per turn before pacing, when the file cannot go by
/// `sendfile` (sendfile off, or TLS, which encrypts every byte): reading and encrypting cost CPU,
/// so this is smaller than the `sendfile` budget. 1 MiB is about 0.4 ms of AES-GCM on this
/// project's machine. With turns paced by writability, 256 KiB did worse over TLS (1,687 against
/// 1,853 MiB/s, 10 MiB under `wrk -c8`).
const READ_BYTES_PER_TURN: u64 = 1024 * 1024;
/// Bytes of generated body produced per turn before yielding: generating costs CPU, so this is
/// smaller than the file budget, keeping other clients answered within milliseconds.
const STREAM_BYTES_PER_TURN: u64 = 256 * 1024;
/// Most bytes Linux's `sendfile` moves in one call.
const SENDFILE_MAX: u64 = 0x7fff_f000;
/// Room reserved in front of a chunk for its size line: 16 hex digits and CRLF.
const CHUNK_HEAD_ROOM: usize = 18;
/// The last chunk and the empty trailer section that end a chunked body (RFC 9112 §7.1).
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Whether a write finished or must wait for the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Done,
    Blocked,
}

/// What one [`BodyWriter::send`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Everything buffered and the whole body went out.
    Done,
    /// The socket would block; `progressed` says whether anything was written first (the send
    /// deadline moves only on progress).
    Blocked { progressed: bool },
    /// The turn's share of file or memory bytes went out with more to send: run again once the
    /// socket is writable, after other connections (how the loop learns that is
    /// [`crate::sys::Pacing`]).
    Paced,
    /// The turn's budget of generated output is spent with work left: run again after other
    /// connections, before the loop next waits (generating costs CPU, not room in the socket).
    Yield,
    /// Everything so far went out and the body waits for news (a generated body that said
    /// [`Piece::Pending`]): run again when there may be some.
    Pending,
}

/// Work done in one turn of a connection (one drive by the loop), checked against the per-turn
/// limits; it spans every response sent in that turn.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    /// File bytes sent.
    file: u64,
    /// Generated bytes produced.
    stream: u64,
    /// Bytes written to the transport, for the byte counter.
    pub(crate) written: u64,
}

/// The connection's write buffer: heads, inlined bodies and framing, of one response or of a
/// batch of pipelined ones, with how much has been sent. The buffer is borrowed from the pool
/// while there is something in it.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Option<Vec<u8>>,
    /// How much of `buf` has been sent.
    sent: usize,
}

impl Outbox {
    /// The buffer, taken from the pool if the outbox holds none.
    pub(crate) fn buf(&mut self, pool: &mut BufferPool) -> &mut Vec<u8> {
        self.buf.get_or_insert_with(|| pool.take_write())
    }

    /// Bytes in the buffer, sent or not.
    pub(crate) fn len(&self) -> usize {
        self.buf.as_ref().map_or(0, Vec::len)
    }

    /// Whether the buffer holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cuts the buffer back to `len` bytes (a response queued behind a request body is replaced by
    /// an error answer). Never cuts into bytes already sent: only what follows them is queued.
    pub(crate) fn truncate(&mut self, len: usize) {
        if let Some(buf) = &mut self.buf {
            buf.truncate(len.max(self.sent));
        }
    }

    /// Gives the buffer back to the pool if it holds nothing.
    pub(crate) fn return_if_empty(&mut self, pool: &mut BufferPool) {
        if let Some(buf) = self.buf.take_if(|b| b.is_empty()) {
            pool.give_write(buf);
        }
    }

    /// Gives the buffer back to the pool, dropping what it holds (the connection is closing).
    pub(crate) fn release(&mut self, pool: &mut BufferPool) {
        if let Some(buf) = self.buf.take() {
            pool.give_write(buf);
        }
        self.sent = 0;
    }

    /// Sends the unsent bytes before `upto`, adding what was written to `written`. With `more`,
    /// tells the kernel a body follows (`MSG_MORE`) so a head and a `sendfile` body leave in one
    /// packet. Once the whole buffer is sent it is emptied for reuse.
    // Inline: called once or more per response from the connection, another module.
    #[inline]
    pub(crate) fn flush(
        &mut self,
        transport: &mut impl Transport,
        upto: usize,
        more: bool,
        written: &mut u64,
    ) -> io::Result<Flow> {
        let Some(buf) = &mut self.buf else {
            return Ok(Flow::Done);
        };
        let upto = upto.min(buf.len());
        while self.sent < upto {
            match transport.send(&buf[self.sent..upto], more) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    *written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flow::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.sent == buf.len() {
            buf.clear();
            self.sent = 0;
        }
        Ok(Flow::Done)
    }

    /// How much of the buffer has been sent.
    pub(crate) fn sent(&self) -> usize {
        self.sent
    }

    fn has_unsent(&self) -> bool {
        self.sent < self.len()
    }
}

/// A generated body in progress.
#[derive(Debug)]
struct Stream {
    source: Box<dyn BodySource>,
    /// Frame the pieces as chunks (the response carries `Transfer-Encoding: chunked`).
    chunked: bool,
    /// The file piece being sent is a chunk's data: a CRLF must follow it.
    crlf_after_file: bool,
}

/// Content sent as it is, not through the write buffer.
#[derive(Debug)]
enum Bulk {
    /// A file slice, by `sendfile` (or `pread` into the buffer).
    File(FileBody),
    /// Shared bytes sent straight from memory (a cached variant).
    Memory(MemoryBody),
}

/// The part of a response body not yet in the write buffer: a file or bytes in memory, then the
/// pieces of a generated body (each buffered or sent as a file in its turn).
#[derive(Debug, Default)]
pub(crate) struct BodyWriter {
    bulk: Option<Bulk>,
    /// Boxed: a generated body allocates its source anyway, and a `Conn` holding a file body or
    /// none stays small.
    stream: Option<Box<Stream>>,
    /// The body could not be completed (the file shrank, a source failed): what was buffered still
    /// goes out, then the connection must close, so the client sees an incomplete response rather
    /// than a short one taken as whole. Reported once by [`BodyWriter::take_cut_short`].
    cut_short: bool,
    /// Content bytes of the generated body put in the buffer or queued as file pieces so far
    /// (framing excluded): the body's length once it is done, for the access log.
    generated: u64,
    /// The body has waited for news ([`Turn::Pending`]): a subscription, not a response whose
    /// time to complete means anything.
    waited: bool,
}

impl BodyWriter {
    /// Starts sending `body` behind its head, already in `out`. Static bytes and a file of up to
    /// [`INLINE_FILE_MAX`] go into `out` at once; a larger file or a generated body is kept to be
    /// sent by [`BodyWriter::send`]. Generated pieces are framed as chunks when `delimiter` says
    /// so; otherwise they go out as they are, delimited by `Content-Length` or by closing.
    // Inline: once per response, from another module, on the hot path.
    #[inline]
    pub(crate) fn start(body: Body, delimiter: Delimiter, out: &mut Vec<u8>) -> BodyWriter {
        let mut writer = BodyWriter::default();
        match body {
            Body::Empty => {}
            Body::Static(bytes) => out.extend_from_slice(bytes),
            Body::File(mut file) if file.remaining <= INLINE_FILE_MAX => {
                // The file shrank or failed under us: what was read goes out, then the
                // connection ends so the short body cannot be mistaken for a complete one.
                writer.cut_short = file.read_into(out, INLINE_FILE_MAX as usize).is_err();
            }
            Body::File(file) => writer.bulk = Some(Bulk::File(file)),
            Body::Memory(memory) if memory.rest().len() as u64 <= INLINE_FILE_MAX => {
                out.extend_from_slice(memory.rest());
            }
            Body::Memory(memory) => writer.bulk = Some(Bulk::Memory(memory)),
            Body::Stream(source) => {
                writer.stream = Some(Box::new(Stream {
                    source,
                    chunked: delimiter == Delimiter::Chunked,
                    crlf_after_file: false,
                }));
            }
        }
        writer
    }

    /// Whether everything left of the body is in the write buffer (so the response can be batched
    /// with the next pipelined one).
    pub(crate) fn is_buffered(&self) -> bool {
        self.bulk.is_none() && self.stream.is_none()
    }

    /// Whether the body has waited for news: an event stream, which ends only when the server or
    /// the client does.
    pub(crate) fn has_waited(&self) -> bool {
        self.waited
    }

    /// Content bytes of a generated body produced so far (see the field); all of them are sent
    /// once [`BodyWriter::send`] answers [`Turn::Done`].
    pub(crate) fn generated(&self) -> u64 {
        self.generated
    }

    /// Whether the body was cut short since the last call; the connection must close once the
    /// buffered bytes are sent.
    pub(crate) fn take_cut_short(&mut self) -> bool {
        std::mem::take(&mut self.cut_short)
    }

    /// Sends the buffered bytes, then as much of the body as the socket and the turn's budget
    /// allow. An error means the transport failed (or the file shrank under `sendfile`): the body
    /// cannot be completed and the connection ends.
    pub(crate) fn send<T: Transport>(
        &mut self,
        transport: &mut T,
        outbox: &mut Outbox,
        pool: &mut BufferPool,
        sendfile: bool,
        budget: &mut Budget,
    ) -> io::Result<Turn> {
        let start = budget.written;
        let by_sendfile = sendfile && transport.can_send_file();
        loop {
            // A file read into the buffer (no `sendfile`: TLS, or sendfile off) has its next chunk
            // join what waits there when that is little (its head, and any small responses
            // queued ahead), so they leave in one send: over TLS one flush of records in one
            // system call instead of two. If the turn's budget is spent first, they wait for the
            // next turn together (a paced connection goes on once its socket is writable, or
            // at the loop's next turn; see `sys::Pacing`).
            let file_joins = !by_sendfile
                && matches!(self.bulk, Some(Bulk::File(_)))
                && outbox.len() < READ_CHUNK / 4;
            if outbox.has_unsent() && !file_joins {
                // `MSG_MORE` only when a file or memory slice follows in this same call: the
                // kernel holds bytes sent with it for up to 200 ms, which a generated body that
                // waits (an event stream) or yields would pay.
                let more = self.bulk.is_some();
                let upto = outbox.len();
                let before = budget.written;
                if outbox.flush(transport, upto, more, &mut budget.written)? == Flow::Blocked {
                    let progressed = budget.written > before;
                    return Ok(Turn::Blocked { progressed });
                }
            }
            if let Some(bulk) = &mut self.bulk {
                let limit = match bulk {
                    Bulk::File(_) if !by_sendfile => READ_BYTES_PER_TURN,
                    _ => FILE_BYTES_PER_TURN,
                };
                if budget.file >= limit {
                    return Ok(Turn::Paced);
                }
                // What is left of the turn's budget bounds each call, not only the next turn:
                // on a fast socket one call could otherwise send a whole large file.
                let allowed = limit - budget.file;
                match bulk {
                    Bulk::Memory(memory) => {
                        let (flow, n) =
                            send_memory(transport, memory, &mut budget.written, allowed)?;
                        budget.file += n;
                        match flow {
                            Flow::Done if memory.rest().is_empty() => self.bulk = None,
                            // The budget is spent: the check above paces.
                            Flow::Done => continue,
                            Flow::Blocked => return Ok(Turn::Blocked { progressed: n > 0 }),
                        }
                    }
                    // TLS in user space cannot `sendfile`: the file is read and encrypted.
                    Bulk::File(file) if by_sendfile => {
                        let (flow, n) = send_file(transport, file, &mut budget.written, allowed)?;
                        budget.file += n;
                        match flow {
                            Flow::Done if file.remaining == 0 => self.bulk = None,
                            Flow::Done => continue,
                            Flow::Blocked => return Ok(Turn::Blocked { progressed: n > 0 }),
                        }
                    }
                    Bulk::File(file) => {
                        let out = outbox.buf(pool);
                        // Up to one chunk in the buffer, what it joins included: the buffer is
                        // empty here or holds less than a quarter chunk (`file_joins`); the `min`
                        // keeps every read at least three quarters of a chunk regardless.
                        let buffered = out.len();
                        let chunk = READ_CHUNK - buffered.min(READ_CHUNK / 4);
                        if file.read_into(out, chunk).is_err() {
                            self.bulk = None;
                            self.stream = None;
                            self.cut_short = true;
                        } else {
                            budget.file += (out.len() - buffered) as u64;
                            if file.remaining == 0 {
                                self.bulk = None;
                            }
                        }
                        continue;
                    }
                }
            }
            let Some(stream) = &mut self.stream else {
                // The response is done once the transport holds none of it either (TLS records
                // the socket did not take): no event would come to send them later.
                return after_flush(transport, Turn::Done, budget.written > start);
            };
            let out = outbox.buf(pool);
            if stream.crlf_after_file {
                stream.crlf_after_file = false;
                out.extend_from_slice(b"\r\n");
                continue;
            }
            if budget.stream >= STREAM_BYTES_PER_TURN {
                return Ok(Turn::Yield);
            }
            let piece = next_framed_piece(stream, out, &mut self.generated);
            let buffered = out.len() as u64;
            match piece {
                Ok(Some(Piece::File(file))) => {
                    stream.crlf_after_file = stream.chunked;
                    self.bulk = Some(Bulk::File(file));
                }
                Ok(Some(Piece::End)) => self.stream = None,
                // Nothing now: what was buffered goes out first (the source is asked again, and
                // says the same, once the buffer is empty).
                Ok(Some(Piece::Pending)) if outbox.has_unsent() => {}
                Ok(Some(Piece::Pending)) => {
                    self.waited = true;
                    // What the transport still holds (TLS records the socket did not take) goes
                    // before the wait, which no writable event would end.
                    return after_flush(transport, Turn::Pending, budget.written > start);
                }
                // A piece costs at least a full one: a source may work without output (reading a
                // directory) and must still yield.
                Ok(_) => budget.stream += buffered.max(STREAM_PIECE as u64),
                Err(e) => {
                    log::debug!("body source failed: {e}");
                    self.stream = None;
                    self.cut_short = true;
                }
            }
        }
    }
}

/// `then` once the transport has written what it holds back (TLS records the socket did not
/// take), else `Blocked` until the socket is writable; `progressed`: this turn sent something.
#[inline]
fn after_flush<T: Transport>(transport: &mut T, then: Turn, progressed: bool) -> io::Result<Turn> {
    match transport.flush() {
        Ok(()) => Ok(then),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Turn::Blocked { progressed }),
        Err(e) => Err(e),
    }
}

/// Asks `stream` for its next piece and frames it: a chunk around buffered bytes, a chunk size line
/// ahead of a file slice, the last chunk at the end. Returns `None` for a piece that produced
/// nothing (there is nothing to frame). Adds the piece's content bytes to `generated`.
fn next_framed_piece(
    stream: &mut Stream,
    out: &mut Vec<u8>,
    generated: &mut u64,
) -> io::Result<Option<Piece>> {
    let start = out.len();
    let room = if stream.chunked { CHUNK_HEAD_ROOM } else { 0 };
    out.resize(start + room, 0);
    let piece = stream.source.next_piece(out, STREAM_PIECE);
    let produced = out.len() > start + room;
    *generated += (out.len() - start - room) as u64;
    if let Ok(Piece::File(file)) = &piece {
        *generated += file.remaining;
    }
    if stream.chunked {
        if produced {
            frame_chunk(out, start);
        } else {
            out.truncate(start);
        }
    }
    let piece = piece?;
    match &piece {
        Piece::Bytes if !produced => return Ok(None),
        Piece::File(file) if stream.chunked => {
            if file.remaining == 0 {
                return Ok(None);
            }
            let mut line = [0u8; CHUNK_HEAD_ROOM];
            let len = chunk_size_line(file.remaining, &mut line);
            out.extend_from_slice(&line[..len]);
        }
        Piece::End if stream.chunked => out.extend_from_slice(LAST_CHUNK),
        _ => {}
    }
    Ok(Some(piece))
}

/// Sends the rest of `body` with `sendfile`, at most `allowed` bytes, adding what was written to
/// `written`. A file that ends before the announced length is an error: the connection must
/// close rather than send a body shorter than its `Content-Length`. Returns the bytes written by
/// this call; `Done` with bytes left means `allowed` was reached.
fn send_file(
    transport: &mut impl Transport,
    body: &mut FileBody,
    written: &mut u64,
    allowed: u64,
) -> io::Result<(Flow, u64)> {
    let mut sent = 0;
    let result = loop {
        if body.remaining == 0 || sent >= allowed {
            break Ok(Flow::Done);
        }
        let count = body.remaining.min(SENDFILE_MAX).min(allowed - sent) as usize;
        match transport.send_file(&body.file, &mut body.offset, count) {
            Ok(0) => break Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                body.remaining -= n as u64;
                sent += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(Flow::Blocked),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    *written += sent;
    Ok((result?, sent))
}

/// Sends the rest of `body` from memory, at most `allowed` bytes, adding what was written to
/// `written`. Returns the bytes written by this call; `Done` with bytes left means `allowed` was
/// reached.
fn send_memory(
    transport: &mut impl Transport,
    body: &mut MemoryBody,
    written: &mut u64,
    allowed: u64,
) -> io::Result<(Flow, u64)> {
    let mut sent = 0;
    let result = loop {
        let rest = body.rest();
        if rest.is_empty() || sent >= allowed {
            break Ok(Flow::Done);
        }
        let count = rest.len().min((allowed - sent) as usize);
        match transport.send(&rest[..count], false) {
            Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                body.advance(n);
                sent += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(Flow::Blocked),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    *written += sent;
    Ok((result?, sent))
}

/// Frames the chunk data in `buf[start + CHUNK_HEAD_ROOM..]` as one chunk: its size line goes
/// into the room reserved at `start` (the unused part of the room is removed, one `memmove` of the
/// data) and a CRLF follows the data. An empty chunk would end the body: the caller must not frame
/// one.
fn frame_chunk(buf: &mut Vec<u8>, start: usize) {
    let data_len = buf.len() - start - CHUNK_HEAD_ROOM;
    debug_assert!(data_len > 0, "an empty chunk ends the body");
    let mut head = [0u8; CHUNK_HEAD_ROOM];
    let head_len = chunk_size_line(data_len as u64, &mut head);
    buf[start..start + head_len].copy_from_slice(&head[..head_len]);
    buf.drain(start + head_len..start + CHUNK_HEAD_ROOM);
    buf.extend_from_slice(b"\r\n");
}

/// Writes `size` in lowercase hex followed by CRLF into `out`; returns the length.
fn chunk_size_line(size: u64, out: &mut [u8; CHUNK_HEAD_ROOM]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (64 - size.leading_zeros()).div_ceil(4).max(1) as usize;
    for i in 0..digits {
        out[digits - 1 - i] = HEX[((size >> (4 * i)) & 0xf) as usize];
    }
    out[digits] = b'\r';
    out[digits + 1] = b'\n';
    digits + 2
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Sending;
    use crate::transport::MemoryTransport;
    use std::fs::File;
    use std::rc::Rc;

    /// One step of a scripted body source.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        Bytes(&'static [u8]),
        /// A slice of the test file: offset and length.
        File(u64, u64),
        Fail,
    }

    /// A body source that plays a script, then ends.
    #[derive(Debug)]
    struct Script {
        file: Rc<File>,
        steps: Vec<Step>,
        next: usize,
    }

    impl BodySource for Script {
        fn next_piece(&mut self, out: &mut Vec<u8>, _max: usize) -> io::Result<Piece> {
            let step = self.steps.get(self.next).copied();
            self.next += 1;
            Ok(match step {
                Some(Step::Bytes(bytes)) => {
                    out.extend_from_slice(bytes);
                    Piece::Bytes
                }
                Some(Step::File(offset, remaining)) => Piece::File(FileBody {
                    file: Rc::clone(&self.file),
                    offset,
                    remaining,
                }),
                Some(Step::Fail) => return Err(io::ErrorKind::Other.into()),
                None => Piece::End,
            })
        }
    }

    /// Where a test body goes: memory, or a real TCP connection on 127.0.0.1 sending with the
    /// platform's hints or without (as a platform without them does).
    #[derive(Debug, Clone, Copy)]
    enum Wire {
        Memory,
        Tcp(Sending),
    }

    const WIRES: [Wire; 3] = [
        Wire::Memory,
        Wire::Tcp(Sending::Hinted),
        Wire::Tcp(Sending::Plain),
    ];

    /// Drives `writer` until its body is done, over `wire`; returns the bytes that arrived and
    /// whether the body was cut short. Over TCP a reader thread drains the peer, so a body larger
    /// than the socket buffers blocks and resumes as in the server.
    fn deliver(
        mut writer: BodyWriter,
        mut outbox: Outbox,
        mut pool: BufferPool,
        sendfile: bool,
        wire: Wire,
    ) -> (Vec<u8>, bool) {
        fn drive(
            writer: &mut BodyWriter,
            transport: &mut impl Transport,
            outbox: &mut Outbox,
            pool: &mut BufferPool,
            sendfile: bool,
        ) -> bool {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let mut cut_short = false;
            while std::time::Instant::now() < deadline {
                let mut budget = Budget::default();
                let turn = writer
                    .send(transport, outbox, pool, sendfile, &mut budget)
                    .unwrap();
                cut_short |= writer.take_cut_short();
                match turn {
                    Turn::Done => return cut_short,
                    Turn::Blocked { .. } => std::thread::sleep(std::time::Duration::from_millis(1)),
                    Turn::Paced | Turn::Yield | Turn::Pending => {}
                }
            }
            panic!("the body never finished");
        }
        match wire {
            Wire::Memory => {
                let mut transport = MemoryTransport::default();
                let cut = drive(
                    &mut writer,
                    &mut transport,
                    &mut outbox,
                    &mut pool,
                    sendfile,
                );
                (transport.sent, cut)
            }
            Wire::Tcp(sending) => {
                let (mut transport, mut peer) = crate::transport::tests::tcp_pair(sending);
                let reader = std::thread::spawn(move || {
                    let mut got = Vec::new();
                    std::io::Read::read_to_end(&mut peer, &mut got).map(|_| got)
                });
                let cut = drive(
                    &mut writer,
                    &mut transport,
                    &mut outbox,
                    &mut pool,
                    sendfile,
                );
                drop(transport);
                (reader.join().unwrap().unwrap(), cut)
            }
        }
    }

    /// Sends a scripted generated body over `wire`; returns the bytes and whether it was cut
    /// short.
    fn send_script(
        steps: &[Step],
        delimiter: Delimiter,
        sendfile: bool,
        wire: Wire,
    ) -> (String, bool) {
        let path = std::env::temp_dir().join(format!("mioserve-writer-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        let file = Rc::new(File::open(&path).unwrap());
        let source = Script {
            file,
            steps: steps.to_vec(),
            next: 0,
        };
        let mut pool = BufferPool::new(1024);
        let mut outbox = Outbox::default();
        let writer = BodyWriter::start(
            Body::Stream(Box::new(source)),
            delimiter,
            outbox.buf(&mut pool),
        );
        let (sent, cut_short) = deliver(writer, outbox, pool, sendfile, wire);
        let _ = std::fs::remove_file(&path);
        (String::from_utf8(sent).unwrap(), cut_short)
    }

    /// A transport that keeps every send with its `more` flag.
    #[derive(Debug, Default)]
    struct Recorder {
        sends: Vec<(Vec<u8>, bool)>,
    }

    impl Transport for Recorder {
        fn recv(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
        fn send(&mut self, buf: &[u8], more: bool) -> io::Result<usize> {
            self.sends.push((buf.to_vec(), more));
            Ok(buf.len())
        }
        fn send_file(&mut self, _file: &File, offset: &mut u64, count: usize) -> io::Result<usize> {
            *offset += count as u64;
            Ok(count)
        }
        fn shutdown_write(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An event stream's bytes leave at once when it waits: sent with `MSG_MORE`, the kernel
    /// would hold them for up to 200 ms (it did: every live reload event came 200 ms late).
    #[test]
    fn a_waiting_body_sends_what_it_has_without_more() {
        #[derive(Debug)]
        struct Waits(bool);
        impl BodySource for Waits {
            fn next_piece(&mut self, out: &mut Vec<u8>, _max: usize) -> io::Result<Piece> {
                if std::mem::replace(&mut self.0, true) {
                    return Ok(Piece::Pending);
                }
                out.extend_from_slice(b"retry: 1000\n\n");
                Ok(Piece::Bytes)
            }
        }
        let mut pool = BufferPool::new(1024);
        let mut outbox = Outbox::default();
        outbox.buf(&mut pool).extend_from_slice(b"HEAD\r\n\r\n");
        let mut writer = BodyWriter::start(
            Body::Stream(Box::new(Waits(false))),
            Delimiter::Chunked,
            outbox.buf(&mut pool),
        );
        let mut transport = Recorder::default();
        let turn = writer.send(
            &mut transport,
            &mut outbox,
            &mut pool,
            true,
            &mut Budget::default(),
        );
        assert_eq!(turn.unwrap(), Turn::Pending);
        assert!(writer.has_waited());
        let sent: Vec<u8> = transport
            .sends
            .iter()
            .flat_map(|(b, _)| b.clone())
            .collect();
        assert_eq!(sent, b"HEAD\r\n\r\nd\r\nretry: 1000\n\n\r\n");
        assert!(
            transport.sends.iter().all(|(_, more)| !more),
            "{:?}",
            transport.sends
        );
        // A file body still shares its head's packet.
        let sends = send_file_behind(b"HEAD\r\n\r\n", &[b'x'; 100_000], true);
        assert_eq!(sends, [(b"HEAD\r\n\r\n".to_vec(), true)]);
    }

    /// What the transport is handed for `head` and then a file holding `content`, sent whole in
    /// one turn, by `sendfile` or not.
    fn send_file_behind(head: &[u8], content: &[u8], sendfile: bool) -> Vec<(Vec<u8>, bool)> {
        let path =
            std::env::temp_dir().join(format!("mioserve-behind-{}-{sendfile}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        let file = FileBody {
            file: Rc::new(File::open(&path).unwrap()),
            offset: 0,
            remaining: content.len() as u64,
        };
        let _ = std::fs::remove_file(&path);
        let mut pool = BufferPool::new(1024);
        let mut outbox = Outbox::default();
        outbox.buf(&mut pool).extend_from_slice(head);
        let mut writer =
            BodyWriter::start(Body::File(file), Delimiter::Length, outbox.buf(&mut pool));
        let mut transport = Recorder::default();
        let turn = writer.send(
            &mut transport,
            &mut outbox,
            &mut pool,
            sendfile,
            &mut Budget::default(),
        );
        assert_eq!(turn.unwrap(), Turn::Done);
        transport.sends
    }

    /// Without `sendfile` (TLS, or sendfile off) a file is read into the buffer: its first chunk
    /// joins the head there, so the two leave in one send, and the buffer never holds more than
    /// a chunk.
    #[test]
    fn a_file_read_into_the_buffer_leaves_with_its_head() {
        const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\r\n";
        let len = 150_000;
        let content: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let sends = send_file_behind(HEAD, &content, false);
        let sizes: Vec<usize> = sends.iter().map(|(b, _)| b.len()).collect();
        assert_eq!(
            sizes,
            [READ_CHUNK, READ_CHUNK, HEAD.len() + len - 2 * READ_CHUNK]
        );
        let sent: Vec<u8> = sends.iter().flat_map(|(b, _)| b.clone()).collect();
        assert_eq!(&sent[..HEAD.len()], HEAD);
        assert!(
            sent[HEAD.len()..] == content[..],
            "the body arrives whole and in order"
        );
    }

    #[test]
    fn generated_bodies_are_framed_as_delimited() {
        use Step::*;
        // (script, delimiter, bytes on the wire, cut short)
        let cases: &[(&[Step], Delimiter, &str, bool)] = &[
            // chunks around bytes, a size line ahead of a file slice, the last chunk at the end
            (
                &[Bytes(b"ab"), File(2, 3), Bytes(b""), Bytes(b"c")],
                Delimiter::Chunked,
                "2\r\nab\r\n3\r\n234\r\n1\r\nc\r\n0\r\n\r\n",
                false,
            ),
            // an empty file slice is no chunk (it would end the body)
            (
                &[File(0, 0), Bytes(b"x")],
                Delimiter::Chunked,
                "1\r\nx\r\n0\r\n\r\n",
                false,
            ),
            // without chunks the pieces go out as they come
            (
                &[Bytes(b"ab"), File(2, 3), Bytes(b"c")],
                Delimiter::Close,
                "ab234c",
                false,
            ),
            (
                &[Bytes(b"ab"), File(0, 10)],
                Delimiter::Length,
                "ab0123456789",
                false,
            ),
            // a source that fails: what was produced goes out, no last chunk, cut short
            (
                &[Bytes(b"ab"), Fail],
                Delimiter::Chunked,
                "2\r\nab\r\n",
                true,
            ),
        ];
        for &(steps, delimiter, want, cut) in cases {
            for sendfile in [true, false] {
                for wire in WIRES {
                    let got = send_script(steps, delimiter, sendfile, wire);
                    assert_eq!(
                        got,
                        (want.to_string(), cut),
                        "{steps:?} {delimiter:?} {sendfile} {wire:?}"
                    );
                }
            }
        }
    }

    /// A head and a file body larger than the socket buffers arrive whole and in order, by
    /// `sendfile` or `pread`, with hints or without: the writer resumes exactly where a full
    /// socket stopped it.
    #[test]
    fn a_large_file_arrives_whole_over_every_wire() {
        let path = std::env::temp_dir().join(format!("mioserve-writer-big-{}", std::process::id()));
        let content: Vec<u8> = (0..24u32 << 20).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let file = Rc::new(File::open(&path).unwrap());
        for sendfile in [true, false] {
            for wire in WIRES {
                let mut pool = BufferPool::new(1024);
                let mut outbox = Outbox::default();
                let out = outbox.buf(&mut pool);
                out.extend_from_slice(b"HEAD\r\n\r\n");
                let body = Body::File(FileBody {
                    file: Rc::clone(&file),
                    offset: 1,
                    remaining: content.len() as u64 - 1,
                });
                let writer = BodyWriter::start(body, Delimiter::Length, out);
                let (sent, cut) = deliver(writer, outbox, pool, sendfile, wire);
                assert!(!cut, "{sendfile} {wire:?}");
                assert_eq!(&sent[..8], b"HEAD\r\n\r\n", "{sendfile} {wire:?}");
                assert!(
                    sent[8..] == content[1..],
                    "{sendfile} {wire:?}: body differs"
                );
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    /// A file or shared bytes larger than the turn's file budget: each `send` stops at the
    /// budget and paces, even on a socket that takes everything at once.
    #[test]
    fn one_call_sends_no_more_than_the_turn_allows() {
        let len = FILE_BYTES_PER_TURN + FILE_BYTES_PER_TURN / 2;
        let path = std::env::temp_dir().join(format!("mioserve-budget-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        file.set_len(len).unwrap();
        let file = Rc::new(File::open(&path).unwrap());
        let _ = std::fs::remove_file(&path);
        let bodies = [
            Body::File(FileBody {
                file,
                offset: 0,
                remaining: len,
            }),
            Body::Memory(MemoryBody::new(Rc::new(vec![7; len as usize]), 0, len)),
        ];
        for body in bodies {
            let what = format!("{body:?}").chars().take(12).collect::<String>();
            let mut pool = BufferPool::new(1024);
            let mut outbox = Outbox::default();
            let mut writer = BodyWriter::start(body, Delimiter::Length, outbox.buf(&mut pool));
            let mut transport = MemoryTransport::default();
            let mut turns = Vec::new();
            for _ in 0..4 {
                let mut budget = Budget::default();
                let turn = writer
                    .send(&mut transport, &mut outbox, &mut pool, true, &mut budget)
                    .unwrap();
                turns.push((turn, transport.sent.len() as u64));
                if turn == Turn::Done {
                    break;
                }
            }
            assert_eq!(
                turns,
                [(Turn::Paced, FILE_BYTES_PER_TURN), (Turn::Done, len)],
                "{what}"
            );
        }
    }

    #[test]
    fn chunk_size_lines() {
        let cases: &[(u64, &str)] = &[
            (1, "1\r\n"),
            (10, "a\r\n"),
            (255, "ff\r\n"),
            (4096, "1000\r\n"),
            (u64::MAX, "ffffffffffffffff\r\n"),
        ];
        for (size, want) in cases {
            let mut out = [0; CHUNK_HEAD_ROOM];
            let len = chunk_size_line(*size, &mut out);
            assert_eq!(std::str::from_utf8(&out[..len]).unwrap(), *want);
        }
    }

    #[test]
    fn frames_a_chunk_in_place() {
        let mut buf = b"HEAD".to_vec();
        let start = buf.len();
        buf.resize(start + CHUNK_HEAD_ROOM, 0);
        buf.extend_from_slice(b"hello world");
        frame_chunk(&mut buf, start);
        assert_eq!(&buf[..], b"HEADb\r\nhello world\r\n");
    }
}
