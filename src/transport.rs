//! The byte pipe under a connection: a TCP socket in the server, memory in tests.
//!
//! [`Conn`](crate::conn::Conn) and `crate::response::writer` speak only this trait, so the whole
//! connection state machine can be driven without a socket (property tests split request streams at
//! arbitrary points and compare the bytes that come out).
//!
//! Cost on TCP: one syscall per call (`recvfrom`, `sendto`, `sendfile`, through the platform seam
//! [`crate::sys`]); no allocation. TLS (`crate::tls`) is another implementation: it encrypts, so
//! it cannot `sendfile`, and it may hold records the socket has not taken yet
//! ([`Transport::flush`]).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::os::unix::fs::FileExt;

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::sys::{self, Sending};

/// A non-blocking byte stream. Every method returns `WouldBlock` when it cannot make progress.
pub trait Transport {
    /// Reads into `buf`; `Ok(0)` means the peer shut its write side.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes from `buf`. `more` says more of the response follows at once, so the transport may
    /// hold the bytes back to fill a packet (`MSG_MORE`).
    fn send(&mut self, buf: &[u8], more: bool) -> io::Result<usize>;
    /// Writes up to `count` bytes of `file` from `*offset`, advancing it.
    fn send_file(&mut self, file: &File, offset: &mut u64, count: usize) -> io::Result<usize>;
    /// Shuts the write side (sends FIN), leaving the read side open. A transport that still holds
    /// output of its own shuts it once [`Transport::flush`] has written that.
    fn shutdown_write(&mut self) -> io::Result<()>;
    /// Whether [`Transport::send_file`] can carry a file body. A TCP socket can; TLS in user space
    /// cannot (the file must be read and encrypted), so the body writer reads the file into its
    /// buffer instead. Kernel TLS, which would keep `sendfile` under TLS, would answer true here.
    fn can_send_file(&self) -> bool {
        true
    }
    /// Writes what the transport holds back on its own (TLS records it encrypted that the socket
    /// did not take yet): `WouldBlock` while some remain. A TCP socket holds nothing.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Whether [`Transport::flush`] has something to write.
    fn holds_output(&self) -> bool {
        false
    }
    /// What the client connected with: for the logs, and to answer plain HTTP on an HTTPS port.
    fn security(&self) -> Security {
        Security::Plain
    }
}

/// What a connection's bytes travel in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain HTTP on a plain-HTTP port.
    Plain,
    /// TLS, with the negotiated protocol version and cipher suite (rustls's names, such as
    /// `TLSv1_3` and `TLS13_AES_128_GCM_SHA256`).
    Tls {
        version: &'static str,
        suite: &'static str,
    },
    /// Plain HTTP sent to an HTTPS port: every request is answered with a redirect to `https://`.
    /// The address the client reached, for a request without `Host`.
    PlainOnTlsPort(SocketAddr),
}

/// An accepted TCP connection, and how to send on it.
#[derive(Debug)]
pub struct Tcp {
    stream: TcpStream,
    sending: Sending,
}

impl Tcp {
    /// Wraps an accepted connection, setting what the platform needs before the first write.
    pub fn new(stream: TcpStream, sending: Sending) -> io::Result<Tcp> {
        sys::prepare_accepted(&stream)?;
        Ok(Tcp { stream, sending })
    }

    /// The socket itself, for what sends other than this transport's (TLS records).
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

impl Transport for Tcp {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }

    fn send(&mut self, buf: &[u8], more: bool) -> io::Result<usize> {
        sys::send(&self.stream, buf, more, self.sending)
    }

    fn send_file(&mut self, file: &File, offset: &mut u64, count: usize) -> io::Result<usize> {
        sys::send_file(&self.stream, file, offset, count)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }
}

/// Registered with the poll as the socket it wraps.
impl Source for Tcp {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.stream.register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.stream.reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.stream.deregister(registry)
    }
}

/// An in-memory transport: reads come from queued segments (each segment ends in `WouldBlock`, as
/// if the bytes arrived in separate packets), writes collect in `sent`.
#[derive(Debug, Default)]
pub struct MemoryTransport {
    /// Segments still to be read.
    pub(crate) incoming: VecDeque<Vec<u8>>,
    /// Offset into the front segment.
    read_pos: usize,
    /// Set when `incoming` has been read to the end: reads then return EOF, not `WouldBlock`.
    pub peer_closed: bool,
    /// Everything written.
    pub sent: Vec<u8>,
    /// The write side was shut.
    pub(crate) write_shut: bool,
    /// Most bytes a single write accepts (0 = unlimited), to exercise partial writes.
    pub write_limit: usize,
}

impl MemoryTransport {
    /// Queues bytes as one more segment (an empty one is no arrival at all, so it is skipped).
    pub fn push(&mut self, segment: &[u8]) {
        if !segment.is_empty() {
            self.incoming.push_back(segment.to_vec());
        }
    }

    fn write_room(&self, want: usize) -> usize {
        if self.write_limit == 0 {
            want
        } else {
            want.min(self.write_limit)
        }
    }
}

impl Transport for MemoryTransport {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(front) = self.incoming.front() else {
            return if self.peer_closed {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        };
        let rest = &front[self.read_pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.read_pos += n;
        if self.read_pos == front.len() {
            self.incoming.pop_front();
            self.read_pos = 0;
        }
        Ok(n)
    }

    fn send(&mut self, buf: &[u8], _more: bool) -> io::Result<usize> {
        if self.write_shut {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let n = self.write_room(buf.len());
        self.sent.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn send_file(&mut self, file: &File, offset: &mut u64, count: usize) -> io::Result<usize> {
        // Straight into `sent`, so a test that reserved its capacity sees no allocation here.
        let start = self.sent.len();
        self.sent.resize(start + self.write_room(count), 0);
        let read = file.read_at(&mut self.sent[start..], *offset);
        let n = *read.as_ref().unwrap_or(&0);
        self.sent.truncate(start + n);
        *offset += n as u64;
        read
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.write_shut = true;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A connected pair on 127.0.0.1: the server's end as a [`Tcp`] sending as `sending`, and
    /// the client's, blocking, with a bounded read timeout.
    pub(crate) fn tcp_pair(sending: Sending) -> (Tcp, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let (accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        let tcp = Tcp::new(TcpStream::from_std(accepted), sending).unwrap();
        (tcp, client)
    }
}
