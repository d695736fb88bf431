//! The access log: one line per response in Common or Combined Log Format, on stdout.
//!
//! Lines are formatted straight into a reused buffer (no allocation per request) and written out
//! when the buffer passes `FLUSH_BYTES` (64 KiB), when the loop's once-a-second tick finds it non-empty,
//! and at exit. When the log is off, `AccessLog::record` is one branch. Writes are blocking, as
//! nginx's are: whoever reads mioserve's stdout must keep reading it.
//!
//! Logged request fields are escaped: `"`, `\` and every byte outside printable ASCII become
//! `\xHH`, so a hostile request line cannot forge log lines or terminal escapes.

use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use clap::ValueEnum;

use crate::stats::CloseReason;
use crate::transport::Security;

/// Which line format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `host - - [time] "request" status bytes "referer" "user-agent"`
    Combined,
    /// `host - - [time] "request" status bytes`
    Common,
    /// Combined plus `conn=<id>` on each line (and `tls=<version>/<cipher suite>` on a TLS
    /// connection, `tls=none` for plain HTTP sent to an HTTPS port), and one line per connection end saying why it
    /// ended and how many requests it carried: `host - - [time] "-" 000 - "-" "-" conn=<id>
    /// end=<reason> requests=<n>`. For reconciling a load generator's socket errors with what the
    /// server saw.
    Extended,
    /// No access log.
    Off,
}

/// Buffered bytes that trigger a write. Arbitrary: a few hundred lines per `write`.
const FLUSH_BYTES: usize = 64 * 1024;
/// Most bytes of an unparsable request line that are logged.
const MAX_RAW_LINE: usize = 1024;
/// Longest time a line waits in the buffer.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// A client address as text. The log keeps the last one rendered, so a line from the same client
/// as the line before (the common case under load, and on a kept-alive connection) copies bytes
/// instead of formatting the address again; a connection itself holds only its `IpAddr`, which
/// keeps an idle connection small.
#[derive(Clone, Copy)]
pub(crate) struct PeerText {
    bytes: [u8; 45],
    len: u8,
}

impl PeerText {
    /// `addr` as text (IPv6 in its shortest form, as `Display` writes it).
    pub fn new(addr: IpAddr) -> PeerText {
        let mut bytes = [0u8; 45];
        let mut cursor = &mut bytes[..];
        // 45 bytes hold the longest IPv6 text (an IPv4-mapped address in full).
        let _ = write!(cursor, "{addr}");
        let len = 45 - cursor.len();
        PeerText {
            bytes,
            len: len as u8,
        }
    }

    /// The text.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// What a log line starts with before any address was written.
const UNSPECIFIED: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// `addr` as text, rendered only if it is not the address in `last` (which it then becomes). A
/// free function, so that the cache can be borrowed beside the log's line buffer.
fn peer_text(last: &mut (IpAddr, PeerText), addr: IpAddr) -> &[u8] {
    if last.0 != addr {
        *last = (addr, PeerText::new(addr));
    }
    last.1.as_bytes()
}

impl std::fmt::Debug for PeerText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// The request line of a logged response.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RequestLine<'a> {
    /// A parsed request.
    Parsed {
        method: &'a str,
        target: &'a str,
        version: &'a str,
    },
    /// A request that could not be parsed: what there was of its first line.
    Raw(&'a [u8]),
}

/// What one access-log line says about a response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub(crate) peer: IpAddr,
    /// The connection's id (shown by the extended format).
    pub(crate) conn: u64,
    pub(crate) request: RequestLine<'a>,
    pub(crate) status: u16,
    /// Body bytes, if known up front (`-` otherwise, and for empty bodies, as CLF wants).
    pub(crate) body_bytes: Option<u64>,
    pub(crate) referer: Option<&'a [u8]>,
    pub(crate) user_agent: Option<&'a [u8]>,
    /// What the connection speaks (the extended format marks TLS with its version and suite).
    pub(crate) security: Security,
}

/// An [`Entry`] kept, owned, until its response is complete: for a generated body of unknown
/// length (a listing), whose bytes are known only at its end, and for the response to a request
/// whose body is still to be read, which a broken body replaces with a 400. Allocates, as
/// generating a listing or reading a request body does anyway; other responses are logged at once.
#[derive(Debug)]
pub(crate) struct Deferred {
    conn: u64,
    request: DeferredLine,
    status: u16,
    body_bytes: DeferredBytes,
    referer: Option<Vec<u8>>,
    user_agent: Option<Vec<u8>>,
    security: Security,
}

/// What a deferred entry's body bytes will be.
#[derive(Debug)]
enum DeferredBytes {
    /// As the entry had them (`None` is logged as `-`).
    Known(Option<u64>),
    /// The bytes generated by the end of the response.
    Generated,
}

#[derive(Debug)]
enum DeferredLine {
    Parsed {
        method: String,
        target: String,
        version: String,
    },
    Raw(Vec<u8>),
}

impl Deferred {
    /// An owned copy of `entry`; `generated`: its body bytes are those generated by its end.
    pub(crate) fn new(entry: &Entry<'_>, generated: bool) -> Deferred {
        Deferred {
            conn: entry.conn,
            request: match entry.request {
                RequestLine::Parsed {
                    method,
                    target,
                    version,
                } => DeferredLine::Parsed {
                    method: method.to_string(),
                    target: target.to_string(),
                    version: version.to_string(),
                },
                RequestLine::Raw(line) => DeferredLine::Raw(line.to_vec()),
            },
            status: entry.status,
            body_bytes: if generated {
                DeferredBytes::Generated
            } else {
                DeferredBytes::Known(entry.body_bytes)
            },
            referer: entry.referer.map(<[u8]>::to_vec),
            user_agent: entry.user_agent.map(<[u8]>::to_vec),
            security: entry.security,
        }
    }

    /// The entry again, with the body bytes now known (`generated`, unless known up front).
    pub(crate) fn entry(&self, peer: IpAddr, generated: u64) -> Entry<'_> {
        Entry {
            peer,
            conn: self.conn,
            request: match &self.request {
                DeferredLine::Parsed {
                    method,
                    target,
                    version,
                } => RequestLine::Parsed {
                    method,
                    target,
                    version,
                },
                DeferredLine::Raw(line) => RequestLine::Raw(line),
            },
            status: self.status,
            body_bytes: match self.body_bytes {
                DeferredBytes::Known(bytes) => bytes,
                DeferredBytes::Generated => Some(generated),
            },
            referer: self.referer.as_deref(),
            user_agent: self.user_agent.as_deref(),
            security: self.security,
        }
    }
}

/// The loop's access log.
pub struct AccessLog {
    format: LogFormat,
    buf: Vec<u8>,
    out: Box<dyn Write + Send>,
    /// When the oldest buffered line was written, if any is buffered.
    oldest: Option<Instant>,
    /// Writing failed once (stdout closed): stop trying, say so once.
    broken: bool,
    /// The address last written, rendered (see [`PeerText`]).
    last_peer: (IpAddr, PeerText),
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("format", &self.format)
            .field("buffered", &self.buf.len())
            .finish()
    }
}

impl AccessLog {
    /// A log in `format` writing to stdout, through [`crate::terminal::Terminal`] so that it
    /// never writes into the live stats line.
    pub(crate) fn stdout(format: LogFormat) -> AccessLog {
        AccessLog::to(format, Box::new(crate::terminal::Stdout))
    }

    /// A log in `format` writing to `out`.
    pub fn to(format: LogFormat, out: Box<dyn Write + Send>) -> AccessLog {
        AccessLog {
            format,
            buf: Vec::with_capacity(if format == LogFormat::Off {
                0
            } else {
                FLUSH_BYTES + 4096
            }),
            out,
            oldest: None,
            broken: false,
            last_peer: (UNSPECIFIED, PeerText::new(UNSPECIFIED)),
        }
    }

    /// Whether lines are being written.
    pub(crate) fn enabled(&self) -> bool {
        self.format != LogFormat::Off && !self.broken
    }

    /// Appends a line for `entry`, timestamped with `clf_time` (see
    /// [`crate::http::date::DateCache::clf`]).
    pub(crate) fn record(&mut self, entry: &Entry<'_>, clf_time: &[u8], now: Instant) {
        if !self.enabled() {
            return;
        }
        let buf = &mut self.buf;
        buf.extend_from_slice(peer_text(&mut self.last_peer, entry.peer));
        buf.extend_from_slice(b" - - [");
        buf.extend_from_slice(clf_time);
        buf.extend_from_slice(b"] \"");
        match entry.request {
            RequestLine::Parsed {
                method,
                target,
                version,
            } => {
                escape(buf, method.as_bytes());
                buf.push(b' ');
                escape(buf, target.as_bytes());
                buf.push(b' ');
                escape(buf, version.as_bytes());
            }
            RequestLine::Raw([]) => buf.push(b'-'),
            RequestLine::Raw(line) => escape(buf, &line[..line.len().min(MAX_RAW_LINE)]),
        }
        buf.extend_from_slice(b"\" ");
        buf.extend_from_slice(itoa::Buffer::new().format(entry.status).as_bytes());
        buf.push(b' ');
        match entry.body_bytes {
            Some(n) if n > 0 => buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            _ => buf.push(b'-'),
        }
        if self.format != LogFormat::Common {
            for field in [entry.referer, entry.user_agent] {
                buf.extend_from_slice(b" \"");
                match field {
                    Some(value) => escape(buf, value),
                    None => buf.push(b'-'),
                }
                buf.push(b'"');
            }
        }
        if self.format == LogFormat::Extended {
            buf.extend_from_slice(b" conn=");
            buf.extend_from_slice(itoa::Buffer::new().format(entry.conn).as_bytes());
            match entry.security {
                Security::Plain => {}
                Security::Tls { version, suite } => {
                    buf.extend_from_slice(b" tls=");
                    buf.extend_from_slice(version.as_bytes());
                    buf.push(b'/');
                    buf.extend_from_slice(suite.as_bytes());
                }
                Security::PlainOnTlsPort(_) => buf.extend_from_slice(b" tls=none"),
            }
        }
        self.end_line(now);
    }

    /// In the extended format, records that connection `conn` ended for `reason` after `requests`
    /// requests.
    pub(crate) fn record_close(
        &mut self,
        peer: IpAddr,
        conn: u64,
        reason: CloseReason,
        requests: u64,
        clf_time: &[u8],
        now: Instant,
    ) {
        if self.format != LogFormat::Extended || self.broken {
            return;
        }
        let buf = &mut self.buf;
        buf.extend_from_slice(peer_text(&mut self.last_peer, peer));
        buf.extend_from_slice(b" - - [");
        buf.extend_from_slice(clf_time);
        buf.extend_from_slice(b"] \"-\" 000 - \"-\" \"-\" conn=");
        buf.extend_from_slice(itoa::Buffer::new().format(conn).as_bytes());
        buf.extend_from_slice(b" end=");
        buf.extend_from_slice(reason.name().as_bytes());
        if let CloseReason::Rejected(status) = reason {
            buf.push(b'-');
            buf.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
        }
        buf.extend_from_slice(b" requests=");
        buf.extend_from_slice(itoa::Buffer::new().format(requests).as_bytes());
        self.end_line(now);
    }

    fn end_line(&mut self, now: Instant) {
        self.buf.push(b'\n');
        self.oldest.get_or_insert(now);
        if self.buf.len() >= FLUSH_BYTES {
            self.flush();
        }
    }

    /// Writes buffered lines if the oldest has waited a second. Called once per loop wake-up.
    pub(crate) fn tick(&mut self, now: Instant) {
        if self
            .oldest
            .is_some_and(|t| now.duration_since(t) >= FLUSH_INTERVAL)
        {
            self.flush();
        }
    }

    /// When [`AccessLog::tick`] next has work, for the poll timeout.
    pub(crate) fn next_flush(&self) -> Option<Instant> {
        self.oldest.map(|t| t + FLUSH_INTERVAL)
    }

    /// Writes every buffered line now.
    pub(crate) fn flush(&mut self) {
        self.oldest = None;
        if self.buf.is_empty() {
            return;
        }
        let result = self
            .out
            .write_all(&self.buf)
            .and_then(|()| self.out.flush());
        self.buf.clear();
        if let Err(e) = result {
            if !self.broken {
                log::warn!("access log disabled: cannot write to stdout: {e}");
            }
            self.broken = true;
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Bytes logged as they are: printable ASCII but `"` and `\`.
const PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        table[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    table
};

/// Appends `bytes` with `"`, `\` and non-printable or non-ASCII bytes as `\xHH`.
fn escape(buf: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut rest = bytes;
    // Copy runs of plain bytes in one piece: a field with nothing to escape is one copy.
    while !rest.is_empty() {
        let run = rest
            .iter()
            .position(|&b| !PLAIN[usize::from(b)])
            .unwrap_or(rest.len());
        buf.extend_from_slice(&rest[..run]);
        let Some((&b, tail)) = rest[run..].split_first() else {
            break;
        };
        buf.extend_from_slice(&[
            b'\\',
            b'x',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]);
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn entry() -> Entry<'static> {
        Entry {
            peer: "127.0.0.1".parse().unwrap(),
            conn: 7,
            request: RequestLine::Parsed {
                method: "GET",
                target: "/a b\"\x1b[31m",
                version: "HTTP/1.1",
            },
            status: 200,
            body_bytes: Some(1234),
            referer: None,
            user_agent: Some(b"curl/8 \\ \xff"),
            security: Security::Plain,
        }
    }

    #[test]
    fn combined_and_common_lines() {
        let now = Instant::now();
        for (format, want) in [
            (
                LogFormat::Combined,
                "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a b\\x22\\x1B[31m HTTP/1.1\" 200 1234 \"-\" \"curl/8 \\x5C \\xFF\"\n",
            ),
            (
                LogFormat::Common,
                "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a b\\x22\\x1B[31m HTTP/1.1\" 200 1234\n",
            ),
        ] {
            let sink = Shared::default();
            let mut log = AccessLog::to(format, Box::new(sink.clone()));
            log.record(&entry(), b"06/Nov/1994:08:49:37 +0000", now);
            assert!(sink.0.lock().unwrap().is_empty(), "buffered until flushed");
            log.tick(now + Duration::from_millis(999));
            assert!(sink.0.lock().unwrap().is_empty());
            log.tick(now + FLUSH_INTERVAL);
            assert_eq!(
                String::from_utf8(sink.0.lock().unwrap().clone()).unwrap(),
                want
            );
        }
    }

    #[test]
    fn extended_adds_the_connection_and_its_end() {
        let now = Instant::now();
        let sink = Shared::default();
        let mut log = AccessLog::to(LogFormat::Extended, Box::new(sink.clone()));
        let time = b"06/Nov/1994:08:49:37 +0000";
        log.record(&entry(), time, now);
        log.record_close(
            "::1".parse().unwrap(),
            7,
            CloseReason::Rejected(431),
            2,
            time,
            now,
        );
        let peer = "127.0.0.1".parse().unwrap();
        log.record_close(peer, 8, CloseReason::HeaderTimeout, 0, time, now);
        let tls = Entry {
            security: Security::Tls {
                version: "TLSv1.3",
                suite: "TLS13_AES_128_GCM_SHA256",
            },
            ..entry()
        };
        log.record(&tls, time, now);
        log.flush();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].ends_with("\"curl/8 \\x5C \\xFF\" conn=7"),
            "{}",
            lines[0]
        );
        assert_eq!(
            lines[1],
            "::1 - - [06/Nov/1994:08:49:37 +0000] \"-\" 000 - \"-\" \"-\" conn=7 end=rejected-431 requests=2"
        );
        assert!(
            lines[2].starts_with("127.0.0.1 - - ")
                && lines[2].ends_with("conn=8 end=header-timeout requests=0"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].ends_with("conn=7 tls=TLSv1.3/TLS13_AES_128_GCM_SHA256"),
            "{}",
            lines[3]
        );
    }

    #[test]
    fn peer_text_renders_both_families() {
        for text in [
            "127.0.0.1",
            "::1",
            "2001:db8::1",
            "::ffff:192.168.100.200",
            "255.255.255.255",
        ] {
            assert_eq!(
                PeerText::new(text.parse().unwrap()).as_bytes(),
                text.as_bytes()
            );
        }
        let longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
        let addr: IpAddr = longest.parse().unwrap();
        assert_eq!(PeerText::new(addr).as_bytes(), addr.to_string().as_bytes());
    }

    #[test]
    fn off_writes_nothing() {
        let sink = Shared::default();
        let mut log = AccessLog::to(LogFormat::Off, Box::new(sink.clone()));
        log.record(&entry(), b"x", Instant::now());
        log.flush();
        assert!(sink.0.lock().unwrap().is_empty());
    }
}
