//! Carries bytes from a response to a [`Transport`]: the buffered head (and small bodies), then
//! file content by `sendfile` or by reading into the buffer.
//!
//! Knows transports and syscalls, not HTTP. Every function returns [`Flow::Blocked`] on
//! `WouldBlock` with its progress recorded, so the connection can resume on the next writable event.
//! Cost: one `send` per buffer flush; one `sendfile` per up-to-2 GiB of file (or one `pread` plus
//! one `send` per buffer of file without sendfile).

use std::io;
use std::os::unix::fs::FileExt;

use super::body::FileBody;
use crate::transport::Transport;

/// Most bytes Linux's `sendfile` moves in one call.
const SENDFILE_MAX: u64 = 0x7fff_f000;

/// Whether a write finished or must wait for the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Done,
    Blocked,
}

/// Sends `buf[*pos..]`, advancing `pos`. With `more`, tells the kernel a body follows (`MSG_MORE`)
/// so a head and a `sendfile` body leave in one packet. Returns the bytes written.
pub fn send_buffer(
    transport: &mut impl Transport,
    buf: &[u8],
    pos: &mut usize,
    more: bool,
) -> io::Result<(Flow, usize)> {
    let start = *pos;
    while *pos < buf.len() {
        match transport.send(&buf[*pos..], more) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Ok((Flow::Blocked, *pos - start));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((Flow::Done, *pos - start))
}

/// Sends the rest of `body` with `sendfile`. A file that ends before the announced length is an
/// error: the connection must close rather than send a body shorter than its `Content-Length`.
/// Returns the bytes written.
pub fn send_file(transport: &mut impl Transport, body: &mut FileBody) -> io::Result<(Flow, u64)> {
    let mut sent = 0;
    while body.remaining > 0 {
        let count = body.remaining.min(SENDFILE_MAX) as usize;
        match transport.send_file(&body.file, &mut body.offset, count) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                body.remaining -= n as u64;
                sent += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((Flow::Blocked, sent)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((Flow::Done, sent))
}

/// Room reserved in front of a chunk for its size line: 16 hex digits and CRLF.
pub const CHUNK_HEAD_ROOM: usize = 18;

/// The last chunk and the empty trailer section that end a chunked body (RFC 9112 §7.1).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Frames the chunk data in `buf[start + CHUNK_HEAD_ROOM..]` as one chunk: its size line goes
/// into the room reserved at `start` (the unused part of the room is removed, one `memmove` of the
/// data) and a CRLF follows the data. An empty chunk would end the body: the caller must not frame
/// one.
pub fn frame_chunk(buf: &mut Vec<u8>, start: usize) {
    let data_len = buf.len() - start - CHUNK_HEAD_ROOM;
    debug_assert!(data_len > 0, "an empty chunk ends the body");
    let mut head = [0u8; CHUNK_HEAD_ROOM];
    let head_len = chunk_size_line(data_len as u64, &mut head);
    buf[start..start + head_len].copy_from_slice(&head[..head_len]);
    buf.drain(start + head_len..start + CHUNK_HEAD_ROOM);
    buf.extend_from_slice(b"\r\n");
}

/// Writes `size` in lowercase hex followed by CRLF into `out`; returns the length.
pub fn chunk_size_line(size: u64, out: &mut [u8; CHUNK_HEAD_ROOM]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (64 - size.leading_zeros()).div_ceil(4).max(1) as usize;
    for i in 0..digits {
        out[digits - 1 - i] = HEX[((size >> (4 * i)) & 0xf) as usize];
    }
    out[digits] = b'\r';
    out[digits + 1] = b'\n';
    digits + 2
}

/// Appends up to `max` bytes of `body` to `buf` by `pread`, advancing the body. Used for small
/// files (so head and content leave in one `send`) and when sendfile is off. A file that ends early
/// is an error, as in [`send_file`].
pub fn read_into(buf: &mut Vec<u8>, body: &mut FileBody, max: usize) -> io::Result<()> {
    let want = body.remaining.min(max as u64) as usize;
    let start = buf.len();
    buf.resize(start + want, 0);
    let mut filled = 0;
    while filled < want {
        match body
            .file
            .read_at(&mut buf[start + filled..], body.offset + filled as u64)
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
    body.offset += want as u64;
    body.remaining -= want as u64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
