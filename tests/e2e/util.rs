//! Test harness: a server on 127.0.0.1:0 serving a temp root, raw-socket clients with bounded
//! waits, and a small response parser that shows what came back when an assertion fails.

use std::cell::Cell;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mioserve::stats::Stats;
use mioserve::tls::TlsContext;
use mioserve::{Config, Running, Server};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

/// Whether the tests using these helpers run over TLS (see `over_tls.rs`, whose `util` says true).
pub const OVER_TLS: bool = false;

/// Lets a test that bounds other clients' latency run alone (see [`run_alone`]): on a busy
/// two-core machine, the work of whatever else runs would be charged to the server it times.
/// Every other test shares the machine while it has a server ([`Share`]).
static TIMING: Gate = Gate {
    state: Mutex::new(GateState {
        sharing: 0,
        alone: false,
        waiting: 0,
    }),
    changed: Condvar::new(),
};

struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

struct GateState {
    /// Servers of tests that share the machine.
    sharing: usize,
    /// A timing test runs.
    alone: bool,
    /// Timing tests waiting for the servers to go: no test starts sharing meanwhile.
    waiting: usize,
}

thread_local! {
    /// This thread's servers that share, and whether it runs a timing test (whose own servers
    /// do not share). A test's second server does not wait for a timing test that waits for its
    /// first: that would never end.
    static HELD: Cell<(usize, bool)> = const { Cell::new((0, false)) };
}

impl Gate {
    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A server's share of the machine, held while it lives; nothing for a timing test's servers.
pub struct Share(bool);

impl Share {
    /// Waits until no timing test runs or waits (unless this thread already shares), then shares.
    fn take() -> Share {
        let (servers, alone) = HELD.get();
        if alone {
            return Share(false);
        }
        let mut state = TIMING.state();
        while servers == 0 && (state.alone || state.waiting > 0) {
            state = TIMING
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        state.sharing += 1;
        HELD.set((servers + 1, false));
        Share(true)
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        if self.0 {
            TIMING.state().sharing -= 1;
            let (servers, alone) = HELD.get();
            HELD.set((servers.saturating_sub(1), alone));
            TIMING.changed.notify_all();
        }
    }
}

/// Held by a test that bounds other clients' latency: it runs once every other test's servers
/// are gone, and none starts until it ends.
pub struct Alone(());

/// Runs the calling test alone (see [`Alone`]).
pub fn run_alone() -> Alone {
    let mut state = TIMING.state();
    state.waiting += 1;
    while state.alone || state.sharing > 0 {
        state = TIMING
            .changed
            .wait(state)
            .unwrap_or_else(|e| e.into_inner());
    }
    state.waiting -= 1;
    state.alone = true;
    HELD.set((0, true));
    Alone(())
}

impl Drop for Alone {
    fn drop(&mut self) {
        TIMING.state().alone = false;
        HELD.set((0, false));
        TIMING.changed.notify_all();
    }
}

/// Every read and connect in the tests gives up after this long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Text of the secret file placed beside every test root: no response may ever contain it.
pub const SECRET: &str = "TOP-SECRET-outside-the-root";

/// A temporary directory removed on drop. Layout: `<dir>/root` is served, `<dir>/secret.txt`
/// lies beside it.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("mioserve-e2e-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(path.join("root")).expect("create temp root");
        fs::write(path.join("secret.txt"), SECRET).expect("write secret");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Make unreadable test fixtures removable again.
        let _ = std::process::Command::new("chmod")
            .args(["-R", "u+rwx"])
            .arg(&self.path)
            .status();
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A running server over a temp root; stopped and joined on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: TempDir,
    /// The server's counters.
    pub stats: Arc<Stats>,
    _running: Running,
    /// Dropped after the server has stopped (fields drop in order).
    _share: Share,
}

impl TestServer {
    /// A server with default settings over an empty root.
    pub fn start() -> TestServer {
        TestServer::with(|_| {}, |_| {})
    }

    /// A server over a root prepared by `setup`, with settings changed by `configure`.
    #[track_caller]
    pub fn with(setup: impl FnOnce(&Path), configure: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::speaking(Scheme::Http, setup, configure)
    }

    /// As [`TestServer::with`], speaking `scheme`: over HTTPS with the test certificate, which
    /// every [`Client`] connecting to it trusts.
    #[track_caller]
    pub fn speaking(
        scheme: Scheme,
        setup: impl FnOnce(&Path),
        configure: impl FnOnce(&mut Config),
    ) -> TestServer {
        let share = Share::take();
        let dir = TempDir::new();
        let root = dir.path().join("root");
        setup(&root);
        let mut config = Config::new(&root, "127.0.0.1:0".parse().unwrap());
        if scheme == Scheme::Https {
            let (cert, key) = test_certificate();
            config.tls = Some(TlsContext::from_pem(cert.as_bytes(), key.as_bytes()).unwrap());
        }
        configure(&mut config);
        let tls = config.tls.is_some();
        let server = Server::bind(&config).expect("bind test server");
        let stats = server.stats();
        let running = server.spawn().expect("spawn test server");
        let addr = running.local_addr();
        if tls {
            speaks_tls(addr, true);
        }
        TestServer {
            addr,
            dir,
            stats,
            _running: running,
            _share: share,
        }
    }

    /// The served directory.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A new connection.
    #[track_caller]
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// One request on a new connection; returns the response.
    #[track_caller]
    pub fn get(&self, path: &str) -> Response {
        self.request_raw(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
    }

    /// Sends `raw` on a new connection and reads one response to it (a GET-like response).
    #[track_caller]
    pub fn request_raw(&self, raw: &[u8]) -> Response {
        let mut client = self.connect();
        client.send(raw);
        client.response()
    }

    /// One `method` request with extra `headers` on a new connection; returns the response (read
    /// as a HEAD response for HEAD).
    #[track_caller]
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut client = self.connect();
        client.send(request_bytes(method, path, headers).as_bytes());
        if method == "HEAD" {
            client.head_response()
        } else {
            client.response()
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        speaks_tls(self.addr, false);
    }
}

/// What a test server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// The addresses of the servers that speak TLS now: a [`Client`] connecting to one speaks TLS
/// too, so a test written for plain HTTP runs unchanged over TLS (see `over_tls.rs`).
static TLS_SERVERS: Mutex<Vec<SocketAddr>> = Mutex::new(Vec::new());

/// Records that the server at `addr` speaks TLS (`on`) or no longer runs.
pub fn speaks_tls(addr: SocketAddr, on: bool) {
    let mut servers = TLS_SERVERS.lock().unwrap_or_else(|e| e.into_inner());
    servers.retain(|a| *a != addr);
    if on {
        servers.push(addr);
    }
}

fn is_tls(addr: SocketAddr) -> bool {
    TLS_SERVERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&addr)
}

/// Spawns `command`, again while the program is "text file busy": a test that copies the binary
/// (to run it as another user) can meet another test thread's child, forked while the copy's
/// file was open for writing and not yet exec'd, still holding it. Bounded to 2 s.
#[track_caller]
fn spawn_retrying_busy(command: &mut Command) -> Child {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match command.spawn() {
            Ok(child) => return child,
            Err(e)
                if e.raw_os_error() == Some(rustix::io::Errno::TXTBSY.raw_os_error())
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("spawn {:?}: {e}", command.get_program()),
        }
    }
}

/// The test certificate (for `localhost` and `127.0.0.1`) and its key, as PEM, made once per run.
pub fn test_certificate() -> &'static (String, String) {
    static CERT: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    CERT.get_or_init(|| make_certificate(&["localhost", "127.0.0.1"], None))
}

/// A certificate for `names` (rcgen's default subject), valid from the first day of one year to
/// the first of another when `years` says (rcgen's default validity otherwise), and its key, as
/// PEM.
pub fn make_certificate(names: &[&str], years: Option<(i32, i32)>) -> (String, String) {
    let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let mut params = rcgen::CertificateParams::new(names).expect("a certificate's names");
    if let Some((from, until)) = years {
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(until, 1, 1);
    }
    let key = mioserve::tls::cert::P256Key::generate().expect("a key");
    let cert = key.self_sign(params).expect("a certificate");
    (cert.pem(), key.pkcs8_pem())
}

/// The crypto provider the server uses.
pub fn tls_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(mioserve::tls::provider())
}

/// A client configuration trusting `cert_pem` (the test certificate unless told otherwise),
/// offering ALPN `http/1.1`, with rustls's resumption cache.
pub fn client_config(cert_pem: &str) -> Arc<ClientConfig> {
    let mut config = client_config_for(cert_pem, rustls::DEFAULT_VERSIONS);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A client configuration trusting `cert_pem` that offers only `versions`, without ALPN.
pub fn client_config_for(
    cert_pem: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> ClientConfig {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(cert.expect("a PEM certificate")).unwrap();
    }
    ClientConfig::builder_with_provider(tls_provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A client's byte stream: plain TCP, or TLS over it (rustls, blocking, with the same timeouts).
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// A TLS stream over `tcp` to the server at `name`, trusting `config`'s roots. The handshake
    /// happens with the first write or read.
    pub fn tls(tcp: TcpStream, config: Arc<ClientConfig>, name: &str) -> Stream {
        let name = ServerName::try_from(name.to_string()).expect("a server name");
        let conn = ClientConnection::new(config, name).expect("a TLS client");
        Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
    }

    /// The TCP socket under it.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => &tls.sock,
        }
    }

    /// Sets the TCP socket's read timeout.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    /// Another handle on the TCP socket (to shut it down from another thread).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        self.tcp().try_clone()
    }

    /// Shuts down the TCP socket. A TLS stream says `close_notify` first when it shuts its
    /// writing side, as a well-behaved client does.
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        if let Stream::Tls(tls) = self
            && how != Shutdown::Read
        {
            tls.conn.send_close_notify();
            while tls.conn.wants_write() {
                tls.conn.write_tls(&mut tls.sock)?;
            }
        }
        self.tcp().shutdown(how)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            // A TCP end without close_notify reads as an end, as it does on plain TCP; the TLS
            // tests check close_notify themselves.
            Stream::Tls(tls) => match tls.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                result => result,
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// The text of an HTTP/1.1 request with `Host` and extra `headers`.
pub fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

/// Writes `contents` to `root/rel`, creating the folders on the way.
#[track_caller]
pub fn write_file(root: &Path, rel: &str, contents: impl AsRef<[u8]>) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create fixture folder");
    }
    fs::write(&path, contents).expect("write fixture file");
}

/// `len` deterministic pseudo-random bytes (xorshift64*), different for each `seed`: a body in
/// which any lost, repeated or reordered piece shows.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A TLS 1.2/1.3 ClientHello record as a browser would open an `https://` connection with:
/// record header, handshake header, version, 32 random bytes, no session, two cipher suites, no
/// compression, a server-name extension for `localhost`.
pub fn client_hello() -> Vec<u8> {
    let name = b"localhost";
    let mut sni = vec![0x00, 0x00]; // extension type: server_name
    let list_len = name.len() + 3;
    sni.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
    sni.extend_from_slice(&(list_len as u16).to_be_bytes());
    sni.push(0x00); // host_name
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    let mut hello = vec![0x03, 0x03]; // legacy_version TLS 1.2
    hello.extend_from_slice(&pseudo_random_bytes(32, 443));
    hello.push(0x00); // session id
    hello.extend_from_slice(&[0x00, 0x04, 0x13, 0x01, 0xc0, 0x2f]); // cipher suites
    hello.extend_from_slice(&[0x01, 0x00]); // compression: null
    hello.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    hello.extend_from_slice(&sni);
    let mut handshake = vec![0x01]; // client_hello
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01]; // handshake record, TLS 1.0 framing
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// Asserts two (large) byte strings are equal, reporting the lengths and the first differing
/// offset instead of dumping megabytes.
#[track_caller]
pub fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {first:?}",
            got.len(),
            want.len()
        );
    }
}

/// A raw client connection with bounded reads; over TLS when the server at its address speaks it.
pub struct Client {
    pub stream: Stream,
    /// Bytes read but not yet parsed.
    pending: Vec<u8>,
}

impl Client {
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        tcp.set_nodelay(true).unwrap();
        let stream = if is_tls(addr) {
            Stream::tls(tcp, client_config(&test_certificate().0), "localhost")
        } else {
            Stream::Plain(tcp)
        };
        Client {
            stream,
            pending: Vec::new(),
        }
    }

    /// Connects with a receive buffer of about `bytes` (set before the handshake, so the window
    /// never grows past it): a client that stops reading then stalls the server's writes soon.
    #[track_caller]
    pub fn with_receive_buffer(addr: SocketAddr, bytes: usize) -> Client {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        socket
            .connect_timeout(&addr.into(), IO_TIMEOUT)
            .expect("connect");
        let tcp = TcpStream::from(socket);
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        tcp.set_nodelay(true).unwrap();
        let stream = if is_tls(addr) {
            Stream::tls(tcp, client_config(&test_certificate().0), "localhost")
        } else {
            Stream::Plain(tcp)
        };
        Client {
            stream,
            pending: Vec::new(),
        }
    }

    /// Sends a GET for `path` and reads its response.
    #[track_caller]
    pub fn response_to_get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.response()
    }

    /// Writes all of `bytes`.
    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send request");
    }

    /// Writes `bytes` one at a time with `pause` between them, like a client trickling its request.
    /// The sleep paces the writer; it never stands in for waiting on the server.
    #[track_caller]
    pub fn send_slowly(&mut self, bytes: &[u8], pause: Duration) {
        for byte in bytes {
            self.stream
                .write_all(std::slice::from_ref(byte))
                .expect("send one byte");
            self.stream.flush().expect("send one byte");
            std::thread::sleep(pause);
        }
    }

    /// Reads one response to a GET-like request (a body framed by its headers).
    #[track_caller]
    pub fn response(&mut self) -> Response {
        self.read_response(false)
    }

    /// Reads one response to a HEAD request (headers only, whatever Content-Length says).
    #[track_caller]
    pub fn head_response(&mut self) -> Response {
        self.read_response(true)
    }

    #[track_caller]
    fn read_response(&mut self, head_only: bool) -> Response {
        let head_end = loop {
            if let Some(i) = find(&self.pending, b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill() {
                panic!(
                    "connection ended before a complete response head; got {}",
                    preview(&self.pending)
                );
            }
        };
        let head_text = String::from_utf8_lossy(&self.pending[..head_end]).into_owned();
        self.pending.drain(..head_end);
        let mut response = Response::parse_head(&head_text);
        if head_only || matches!(response.status, 204 | 304) || response.status < 200 {
            return response;
        }
        if response.header("transfer-encoding").is_some() {
            response.body = self.read_chunked();
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().expect("numeric Content-Length");
            while self.pending.len() < len {
                if !self.fill() {
                    panic!(
                        "connection ended after {} of {len} body bytes",
                        self.pending.len()
                    );
                }
            }
            response.body = self.pending.drain(..len).collect();
        } else {
            while self.fill() {}
            response.body = std::mem::take(&mut self.pending);
        }
        response
    }

    /// Decodes a chunked body, checking its framing strictly.
    fn read_chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.pending, b"\r\n") {
                    break i;
                }
                assert!(self.fill(), "connection ended inside chunk framing");
            };
            let size_text = String::from_utf8_lossy(&self.pending[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.trim(), 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {size_text:?}"));
            self.pending.drain(..line_end + 2);
            while self.pending.len() < size + 2 {
                assert!(self.fill(), "connection ended inside a chunk");
            }
            if size == 0 {
                assert_eq!(
                    &self.pending[..2],
                    b"\r\n",
                    "final chunk must end with an empty line"
                );
                self.pending.drain(..2);
                return body;
            }
            body.extend_from_slice(&self.pending[..size]);
            assert_eq!(
                &self.pending[size..size + 2],
                b"\r\n",
                "chunk data must end with CRLF"
            );
            self.pending.drain(..size + 2);
        }
    }

    /// Reads more bytes into `pending`; false at EOF. Panics on timeout.
    #[track_caller]
    fn fill(&mut self) -> bool {
        let mut buf = [0u8; 64 * 1024];
        match read_retrying(&mut self.stream, &mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!(
                "read failed ({e}); had {} bytes: {}",
                self.pending.len(),
                preview(&self.pending)
            ),
        }
    }

    /// Closes the connection with a reset (RST) instead of a FIN, as a client that crashes or is
    /// killed does: `SO_LINGER` 0, then close.
    pub fn reset(self) {
        socket2::SockRef::from(self.stream.tcp())
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
    }

    /// Reads everything until the server closes, within the timeout. Returns the raw bytes,
    /// including any not yet parsed.
    #[track_caller]
    pub fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.pending)
    }

    /// Asserts the server closes the connection (EOF or reset) within 2 s without sending more.
    #[track_caller]
    pub fn assert_closed(&mut self) {
        assert!(
            self.closed_within(Duration::from_secs(2)),
            "the server kept the connection open"
        );
    }

    /// Whether the server closed the connection (EOF or reset) within `within`, with no further
    /// bytes. Panics if bytes arrive.
    #[track_caller]
    pub fn closed_within(&mut self, within: Duration) -> bool {
        assert!(
            self.pending.is_empty(),
            "unread bytes: {}",
            preview(&self.pending)
        );
        self.stream.tcp().set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 1024];
        let result = match read_retrying(&mut self.stream, &mut buf) {
            Ok(0) => true,
            Ok(n) => panic!("expected close, got {}", preview(&buf[..n])),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => true,
            Err(_) => false,
        };
        self.stream
            .tcp()
            .set_read_timeout(Some(IO_TIMEOUT))
            .unwrap();
        result
    }
}

/// Reads once, retrying when a signal interrupts the read: with a receive timeout set, Linux does
/// not restart the call, and the tests' child processes send SIGCHLD to this one.
fn read_retrying(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// The first bytes of `bytes` as text, for failure messages (a body may be megabytes).
fn preview(bytes: &[u8]) -> String {
    const MAX: usize = 300;
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    if bytes.len() > MAX {
        format!("{shown:?}… ({} bytes)", bytes.len())
    } else {
        format!("{shown:?}")
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The head as received, for assertion messages.
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn parse_head(text: &str) -> Response {
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        assert!(
            status_line.starts_with("HTTP/1.1 "),
            "bad status line in {text:?}"
        );
        let status = status_line[9..12].parse().expect("numeric status");
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (name, value) = l
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad header {l:?}"));
                (name.to_ascii_lowercase(), value.trim().to_string())
            })
            .collect();
        Response {
            status,
            head: text.to_string(),
            headers,
            body: Vec::new(),
        }
    }

    /// The value of the (single) header `name`, any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The headers other than those named (lower case), in order: for comparing two responses
    /// whose `Date` may differ.
    pub fn headers_except(&self, names: &[&str]) -> Vec<(String, String)> {
        let mut headers = self.headers.clone();
        headers.retain(|(n, _)| !names.contains(&n.as_str()));
        headers
    }

    /// Asserts the header `name` has `value`, showing the whole head on failure.
    #[track_caller]
    pub fn assert_header(&self, name: &str, value: Option<&str>) -> &Response {
        assert_eq!(
            self.header(name),
            value,
            "header {name}; head:\n{}",
            self.head
        );
        self
    }

    /// Asserts this is a built-in error page: HTML naming its status, as long as `Content-Length`
    /// says (the body was read by that length, so also check nothing follows it where it matters).
    #[track_caller]
    pub fn assert_error_page(&self) -> &Response {
        self.assert_header("content-type", Some("text/html; charset=utf-8"));
        let len = self.body.len().to_string();
        self.assert_header("content-length", Some(&len));
        let title = format!("<title>{} ", self.status);
        assert!(
            self.text().starts_with("<!DOCTYPE html>") && self.text().contains(&title),
            "not the error page for {}: {:?}",
            self.status,
            self.text()
        );
        self
    }

    /// Asserts the status, showing the whole head on failure.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Response {
        assert_eq!(
            self.status, status,
            "unexpected status; head:\n{}",
            self.head
        );
        self
    }
}

/// Position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Polls `condition` every 10 ms until it holds or `within` passes.
pub fn wait_until(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    condition()
}

/// The real `mioserve` binary running as a child process over a temp root, for what only a
/// process shows: signals, exit codes, stdout, its own file descriptors. Killed on drop.
pub struct ChildServer {
    pub child: Child,
    pub addr: SocketAddr,
    /// Kept only to remove the root when the server is dropped.
    _dir: TempDir,
    /// Lines the child wrote to stdout after the serving line (read by a background thread).
    pub stdout_lines: Arc<Mutex<Vec<String>>>,
    /// Dropped after the child was killed (fields drop after `Drop::drop`).
    _share: Share,
}

impl ChildServer {
    /// Starts `mioserve <root> -p 0 <args>` over a root prepared by `setup`.
    #[track_caller]
    pub fn spawn(setup: impl FnOnce(&Path), args: &[&str]) -> ChildServer {
        let program = Path::new(env!("CARGO_BIN_EXE_mioserve"));
        ChildServer::spawn_with(program, setup, args, |_| {})
    }

    /// As [`ChildServer::spawn`], running `program` (a copy of the binary, say) with the command
    /// adjusted by `adjust` first (to run it as another user, say).
    #[track_caller]
    pub fn spawn_with(
        program: &Path,
        setup: impl FnOnce(&Path),
        args: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> ChildServer {
        ChildServer::spawn_speaking(Scheme::Http, program, setup, args, adjust)
    }

    /// As [`ChildServer::spawn_with`], speaking `scheme`: over HTTPS with the test certificate
    /// (`--tls-cert`/`--tls-key`, written beside the root), which every [`Client`] connecting to
    /// it trusts.
    #[track_caller]
    pub fn spawn_speaking(
        scheme: Scheme,
        program: &Path,
        setup: impl FnOnce(&Path),
        args: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> ChildServer {
        let share = Share::take();
        let dir = TempDir::new();
        let root = dir.path().join("root");
        setup(&root);
        let mut command = Command::new(program);
        command.arg(&root).args(["-p", "0"]);
        if scheme == Scheme::Https {
            let (cert, key) = test_certificate();
            let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            fs::write(&cert_file, cert).expect("write the test certificate");
            fs::write(&key_file, key).expect("write the test key");
            command
                .arg("--tls-cert")
                .arg(cert_file)
                .arg("--tls-key")
                .arg(key_file);
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        adjust(&mut command);
        let mut child = spawn_retrying_busy(&mut command);
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stdout_lines);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = reader.next() {
                let _ = tx.send(first);
            }
            for line in reader.map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let first = rx
            .recv_timeout(IO_TIMEOUT)
            .expect("mioserve printed no serving line");
        let url = first
            .split(" at ")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let addr = url
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|_| panic!("no address in {first:?}"));
        if url.starts_with("https://") {
            speaks_tls(addr, true);
        }
        ChildServer {
            child,
            addr,
            _dir: dir,
            stdout_lines,
            _share: share,
        }
    }

    /// A new connection.
    #[track_caller]
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// How many file descriptors the child has open (from `/proc`: Linux only).
    #[cfg(target_os = "linux")]
    pub fn fd_count(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .expect("the child's /proc/PID/fd")
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("child pid");
        rustix::process::kill_process(pid, signal).expect("signal child");
    }

    /// Waits (bounded) for the child to exit; returns its status and stderr.
    #[track_caller]
    pub fn wait(&mut self, within: Duration) -> (ExitStatus, String) {
        let mut status = None;
        wait_until(within, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        let status = status.unwrap_or_else(|| panic!("mioserve did not exit within {within:?}"));
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status, stderr)
    }

    /// The lines written to stdout, once at least `at_least` have arrived: the reader thread may
    /// still be draining the pipe for a moment after the child exits (bounded, 2 s).
    pub fn stdout_lines_at_least(&self, at_least: usize) -> Vec<String> {
        wait_until(Duration::from_secs(2), || {
            self.stdout_lines.lock().unwrap().len() >= at_least
        });
        self.stdout_lines.lock().unwrap().clone()
    }
}

/// The exit report's line (`mioserve: N requests in ...`) in a child's stderr.
#[track_caller]
pub fn exit_report(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("mioserve: "))
        .unwrap_or_else(|| panic!("no exit report in {stderr}"))
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        speaks_tls(self.addr, false);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The helpers as the tests compiled a second time over TLS see them (`over_tls.rs`): the same,
/// except that every server they start speaks HTTPS with the test certificate. Each wraps its
/// plain namesake and derefs to it.
pub mod https {
    use std::ops::{Deref, DerefMut};

    /// The tests using these helpers run over TLS.
    pub const OVER_TLS: bool = true;
    use std::path::Path;
    use std::process::Command;

    use mioserve::Config;

    use super::Scheme;

    /// [`super::TestServer`] over HTTPS.
    pub struct TestServer(super::TestServer);

    impl TestServer {
        pub fn start() -> TestServer {
            TestServer::with(|_| {}, |_| {})
        }

        #[track_caller]
        pub fn with(setup: impl FnOnce(&Path), configure: impl FnOnce(&mut Config)) -> TestServer {
            TestServer(super::TestServer::speaking(Scheme::Https, setup, configure))
        }
    }

    impl Deref for TestServer {
        type Target = super::TestServer;
        fn deref(&self) -> &super::TestServer {
            &self.0
        }
    }

    /// [`super::ChildServer`] over HTTPS.
    pub struct ChildServer(super::ChildServer);

    impl ChildServer {
        #[track_caller]
        pub fn spawn(setup: impl FnOnce(&Path), args: &[&str]) -> ChildServer {
            let program = Path::new(env!("CARGO_BIN_EXE_mioserve"));
            ChildServer::spawn_with(program, setup, args, |_| {})
        }

        #[track_caller]
        pub fn spawn_with(
            program: &Path,
            setup: impl FnOnce(&Path),
            args: &[&str],
            adjust: impl FnOnce(&mut Command),
        ) -> ChildServer {
            ChildServer(super::ChildServer::spawn_speaking(
                Scheme::Https,
                program,
                setup,
                args,
                adjust,
            ))
        }
    }

    impl Deref for ChildServer {
        type Target = super::ChildServer;
        fn deref(&self) -> &super::ChildServer {
            &self.0
        }
    }

    impl DerefMut for ChildServer {
        fn deref_mut(&mut self) -> &mut super::ChildServer {
            &mut self.0
        }
    }
}
