//! TLS over a non-blocking TCP socket, as a [`Transport`]: rustls's buffered `ServerConnection`
//! driven the way `tlsserver-mio` drives it (`read_tls` → `process_new_packets` → plaintext;
//! `write_tls` while it wants to write), but under edge triggering: reads go on until the socket
//! is empty, writes until it is full, and what the socket did not take stays in rustls until the
//! connection flushes it ([`Transport::flush`]), since no second event comes for it.
//!
//! The first bytes decide what the connection is: a TLS handshake record (first byte `0x16`)
//! starts the handshake; anything else is plain HTTP sent to an HTTPS port, passed through as it
//! is so the connection can answer it, readably, with a redirect to `https://`. They are read into
//! the connection's own buffer, so telling them apart costs no `peek`.
//!
//! Owns: the TCP socket, the rustls state (in its box, so a plain connection stays small), the
//! handshake's outcome. Never allocates a buffer of its own: rustls holds the record buffers.
//!
//! Cost of a kept-alive request (TLS 1.3, AES-128-GCM): one `recvfrom` (two when a read fills
//! what rustls offers, 4 KiB), the record decrypted in rustls's buffer and copied to the
//! connection's; the response copied into rustls, encrypted into one record per 16 KiB, and sent
//! with one `sendmsg`. rustls 0.23 allocates per record: the received plaintext is kept as an
//! owned chunk, and each encrypted record is a new `Vec`. So a kept-alive 1 KiB GET costs two
//! allocations (1,454 bytes over TLS 1.3: the request, and the response's record), which
//! `tests/alloc.rs` pins. The unbuffered API makes the same two inside
//! (`ReadTraffic::next_record` pops an owned chunk, `WriteTraffic::encrypt` copies an owned
//! record out), so it would not avoid them; rustls 0.24 (in development) decrypts in place and
//! encrypts into the caller's buffer.

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::server::ServerConnection;

use super::{Failure, Outcome, TlsContext};
use crate::sys;
use crate::transport::{Security, Tcp, Transport};

/// The first byte of a TLS handshake record (RFC 8446 §5.1, `ContentType.handshake`).
const HANDSHAKE_RECORD: u8 = 0x16;

/// What the first bytes said the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing read yet.
    Sniffing,
    /// A TLS handshake began: bytes go through rustls.
    Tls,
    /// Plain HTTP on the HTTPS port: bytes pass through untouched; the address the client reached.
    Plain(SocketAddr),
}

/// A server-side TLS connection over `tcp`.
pub struct TlsStream {
    tcp: Tcp,
    session: ServerConnection,
    mode: Mode,
    /// The TCP peer shut its side: nothing more will come.
    tcp_eof: bool,
    /// The handshake completed (counted in the outcome).
    established: bool,
    /// Why the handshake failed, once it has.
    failure: Option<Failure>,
    /// `close_notify` was queued: a second goodbye is never sent.
    said_goodbye: bool,
    /// The write side is to be shut once rustls holds nothing more (see `shutdown_write`).
    shut_when_flushed: bool,
}

/// The session's last word, however the connection ends (closed by either side, refused, or cut
/// off when the shutdown grace period runs out): `close_notify`, sent without waiting.
impl Drop for TlsStream {
    fn drop(&mut self) {
        let _ = self.goodbye();
    }
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("mode", &self.mode)
            .field("established", &self.established)
            .finish()
    }
}

/// The socket as rustls reads it: one `recvfrom`, remembering whether it filled what was offered
/// (a shorter read means the socket is empty, so no further read is spent to see `WouldBlock`).
struct Reading<'a> {
    tcp: &'a TcpStream,
    short: bool,
}

impl Read for Reading<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&mut &*self.tcp).read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

/// The socket as rustls writes it: `sendmsg` with every queued record at once, through the
/// platform seam (a vanished peer fails the write instead of raising SIGPIPE).
struct Writing<'a>(&'a TcpStream);

impl Write for Writing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::send(self.0, buf, false, sys::Sending::Plain)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        sys::send_vectored(self.0, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsStream {
    /// A connection accepted on an HTTPS port; the handshake starts with the first bytes.
    pub fn new(tcp: Tcp, tls: &TlsContext) -> io::Result<TlsStream> {
        let session = ServerConnection::new(Arc::clone(tls.config())).map_err(io::Error::other)?;
        Ok(TlsStream {
            tcp,
            session,
            mode: Mode::Sniffing,
            tcp_eof: false,
            established: false,
            failure: None,
            said_goodbye: false,
            shut_when_flushed: false,
        })
    }

    /// The TCP socket (for the poll).
    pub(crate) fn tcp(&mut self) -> &mut Tcp {
        &mut self.tcp
    }

    /// How the connection's TLS went, as it ends. `timed_out`: it ends at the header deadline.
    pub(crate) fn outcome(&self, timed_out: bool) -> Outcome {
        match self.mode {
            Mode::Sniffing => Outcome::Nothing,
            Mode::Plain(_) => Outcome::PlainHttp,
            Mode::Tls if self.established => Outcome::Completed {
                resumed: self.session.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            },
            Mode::Tls => Outcome::Failed(match self.failure {
                Some(failure) => failure,
                None if timed_out => Failure::Timeout,
                None => Failure::ClientClosed,
            }),
        }
    }

    /// The first read: the bytes land in `buf` as they are, and decide the mode.
    fn sniff(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = Transport::recv(&mut self.tcp, buf)?;
        if n == 0 {
            return Ok(0);
        }
        if buf[0] != HANDSHAKE_RECORD {
            // A local address is needed only to redirect a request without Host; an error
            // leaves the unspecified one, and the redirect then names the Host alone.
            let here = self
                .tcp
                .stream()
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
            self.mode = Mode::Plain(here);
            return Ok(n);
        }
        self.mode = Mode::Tls;
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            if self.session.read_tls(&mut rest)? == 0 {
                return Err(io::ErrorKind::InvalidData.into());
            }
            self.process()?;
        }
        if n < buf.len() {
            // The socket is empty, and a handshake gives no plaintext yet.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.read_tls_records(buf)
    }

    /// Reads records until `buf` is full of plaintext or the socket is empty.
    fn read_tls_records(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        let mut socket_empty = false;
        loop {
            match self.session.reader().read(&mut buf[filled..]) {
                // A close_notify: the client sends nothing more.
                Ok(0) if filled < buf.len() => return Ok(filled),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The TCP stream ended without close_notify: an end all the same (a truncated
                // request is then an incomplete head, answered by nothing).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(filled),
                Err(e) => return Err(e),
            }
            if filled == buf.len() || self.tcp_eof {
                return Ok(filled);
            }
            if socket_empty {
                return if filled > 0 {
                    Ok(filled)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            let mut reading = Reading {
                tcp: self.tcp.stream(),
                short: false,
            };
            match self.session.read_tls(&mut reading) {
                Ok(0) => self.tcp_eof = true,
                Ok(_) => socket_empty = reading.short,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket_empty = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.process()?;
        }
    }

    /// Has rustls process what was read: handshake messages are answered (written at once, as far
    /// as the socket takes them), records decrypted. A TLS error sends its alert and fails.
    fn process(&mut self) -> io::Result<()> {
        if let Err(e) = self.session.process_new_packets() {
            if !self.established {
                self.failure = Some(Failure::of(&e));
            }
            log::debug!("TLS: {e}");
            let _ = self.write_records();
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        if !self.established && !self.session.is_handshaking() {
            self.established = true;
        }
        match self.write_records() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }

    /// Writes queued records until none is left (`Ok`) or the socket is full (`WouldBlock`).
    fn write_records(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut Writing(self.tcp.stream())) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Queues `close_notify` (once, and only on an established session) and writes what it can.
    fn goodbye(&mut self) -> io::Result<()> {
        if self.mode != Mode::Tls || !self.established || self.said_goodbye {
            return Ok(());
        }
        self.said_goodbye = true;
        self.session.send_close_notify();
        self.write_records()
    }
}

impl Transport for TlsStream {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.mode {
            Mode::Sniffing => self.sniff(buf),
            Mode::Tls => self.read_tls_records(buf),
            Mode::Plain(_) => Transport::recv(&mut self.tcp, buf),
        }
    }

    fn send(&mut self, buf: &[u8], more: bool) -> io::Result<usize> {
        if let Mode::Plain(_) = self.mode {
            return Transport::send(&mut self.tcp, buf, more);
        }
        // Records the socket did not take go first; until they have, nothing more is accepted.
        self.write_records()?;
        let n = self.session.writer().write(buf)?;
        match self.write_records() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }

    fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: &mut u64,
        count: usize,
    ) -> io::Result<usize> {
        match self.mode {
            Mode::Plain(_) => Transport::send_file(&mut self.tcp, file, offset, count),
            // Never called: `can_send_file` says no, so the body writer reads the file instead.
            _ => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// Says `close_notify`, then shuts the write side; when the socket has no room for the
    /// records yet (a socket that holds little unsent, as on Linux, often has none right after a
    /// large body), the shutdown waits for `flush` to have written them: shut now, they would be
    /// stranded in rustls and the client would see the connection end without them.
    fn shutdown_write(&mut self) -> io::Result<()> {
        match self.goodbye() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
        if self.session.wants_write() {
            self.shut_when_flushed = true;
            return Ok(());
        }
        Transport::shutdown_write(&mut self.tcp)
    }

    fn can_send_file(&self) -> bool {
        matches!(self.mode, Mode::Plain(_))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_records()?;
        if std::mem::take(&mut self.shut_when_flushed) {
            Transport::shutdown_write(&mut self.tcp)?;
        }
        Ok(())
    }

    fn holds_output(&self) -> bool {
        self.session.wants_write()
    }

    fn security(&self) -> Security {
        match self.mode {
            Mode::Plain(here) => Security::PlainOnTlsPort(here),
            _ => Security::Tls {
                version: match self.session.protocol_version() {
                    Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
                    Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
                    _ => "TLS",
                },
                suite: self
                    .session
                    .negotiated_cipher_suite()
                    .and_then(|s| s.suite().as_str())
                    .unwrap_or("-"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

    use super::*;
    use crate::tls::cert::SelfSigned;
    use crate::transport::tests::tcp_pair;

    const BOUND: Duration = Duration::from_secs(20);

    /// Runs `step` until it is done (`Some`), sleeping between tries, within [`BOUND`].
    fn until<T>(what: &str, mut step: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(done) = step() {
                return done;
            }
            assert!(start.elapsed() < BOUND, "{what} did not happen in time");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The client of [`established`]: a blocking rustls client on another thread that reads
    /// nothing until [`Reader::go`].
    struct Reader {
        go: std::sync::mpsc::Sender<()>,
        thread: std::thread::JoinHandle<io::Result<usize>>,
    }

    impl Reader {
        /// Lets the client read to the end.
        fn go(&self) {
            self.go.send(()).unwrap();
        }

        /// The bytes it read, or an error if the stream ended without `close_notify`.
        fn finish(self) -> io::Result<usize> {
            self.thread.join().unwrap()
        }
    }

    /// A server stream whose client completed the handshake and sent one request.
    fn established() -> (TlsStream, Reader) {
        let made = SelfSigned::generate(std::net::Ipv4Addr::LOCALHOST.into(), None).unwrap();
        let tls = TlsContext::from_pem(made.cert_pem.as_bytes(), made.key_pem.as_bytes()).unwrap();
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(made.cert_pem.as_bytes()).unwrap())
            .unwrap();
        let config = ClientConfig::builder_with_provider(Arc::new(super::super::provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (tcp, client_tcp) = tcp_pair(sys::Sending::Plain);
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let session = ClientConnection::new(Arc::new(config), name).unwrap();
        let (go, wait) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut client = StreamOwned::new(session, client_tcp);
            client.write_all(b"GET")?;
            wait.recv_timeout(BOUND).expect("the go-ahead");
            let mut read = Vec::new();
            client.read_to_end(&mut read).map(|_| read.len())
        });
        let mut server = TlsStream::new(tcp, &tls).unwrap();
        let mut request = [0u8; 16];
        until("the handshake and the request", || {
            match server.recv(&mut request) {
                Ok(n) if n > 0 => return Some(()),
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => panic!("{e}"),
                _ => {}
            }
            server.flush().ok();
            None
        });
        (server, Reader { go, thread })
    }

    /// The socket has no room for `close_notify` when the write side is to be shut: it goes out
    /// once the client reads, and the FIN after it, so the client sees a clean end.
    #[test]
    fn the_write_side_is_shut_only_after_close_notify_went_out() {
        let (mut server, client) = established();
        let chunk = [b'x'; 16 * 1024];
        let mut sent = 0;
        loop {
            match server.send(&chunk, false) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
            assert!(sent < 256 << 20, "the socket never filled");
        }
        server.shutdown_write().unwrap();
        assert!(server.holds_output(), "close_notify is waiting for room");
        client.go();
        until("the held records to go out", || match server.flush() {
            Ok(()) if !server.holds_output() => Some(()),
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => panic!("{e}"),
            _ => None,
        });
        let read = client.finish().expect("a stream ended by close_notify");
        assert_eq!(read, sent);
    }
}
