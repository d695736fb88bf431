//! Proves that serving kept-alive GET requests, one at a time or pipelined, allocates nothing per
//! request: a counting global
//! allocator (`stats_alloc`, so no `unsafe` here) watches a connection driven over the in-memory
//! transport after a warm-up. Its own binary, since the allocator counts every thread's
//! allocations and must see no other test's.
//!
//! Over TLS a kept-alive request is not free, and the test pins what it costs: rustls 0.23 keeps
//! the request's decrypted plaintext in a `Vec` of its own and encrypts the response into a new
//! `Vec` per record (its unbuffered API does the same inside), so a 1 KiB GET costs exactly two
//! allocations, of the request's length and of the response's record. Fewer or more is news.

use std::alloc::System;
use std::fs;
use std::time::{Duration, Instant, UNIX_EPOCH};

use mioserve::access_log::{AccessLog, LogFormat};
use mioserve::config::ConnConfig;
use mioserve::conn::{Conn, Cx, Next};
use mioserve::handler::{Site, SiteOptions, WorkerState};
use mioserve::http::date::DateCache;
use mioserve::pool::BufferPool;
use mioserve::response::compress::sample_text;
use mioserve::stats::Stats;
use mioserve::sys::Strategy;
use mioserve::transport::{MemoryTransport, Tcp};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Requests of the common kinds: small file (inlined), large file (sendfile or pread), index,
/// HEAD, a range, a 404, each with the headers a browser or wrk sends, and a script asked for
/// coded: after the warm-up streamed and cached its variants, they are sent from memory (one
/// inlined, one large), a range of one included.
const REQUESTS: &[&str] = &[
    "GET /small.txt HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: Mozilla/5.0\r\nReferer: http://localhost/\r\n\r\n",
    "GET /dir/ HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
    "HEAD /small.txt HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: localhost:8080\r\nRange: bytes=100-4099\r\n\r\n",
    "GET /missing.txt HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
    "GET /app.js HTTP/1.1\r\nHost: localhost:8080\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\r\n",
    "GET /app.js HTTP/1.1\r\nHost: localhost:8080\r\nAccept-Encoding: gzip\r\n\r\n",
    "GET /big.js HTTP/1.1\r\nHost: localhost:8080\r\nAccept-Encoding: gzip\r\n\r\n",
    "GET /big.js HTTP/1.1\r\nHost: localhost:8080\r\nAccept-Encoding: gzip\r\nRange: bytes=10-99\r\n\r\n",
];

fn allocations_for(sendfile: bool, log_format: LogFormat) -> usize {
    let dir =
        std::env::temp_dir().join(format!("mioserve-alloc-{}-{sendfile}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("dir")).unwrap();
    fs::write(dir.join("small.txt"), vec![b'a'; 1024]).unwrap();
    fs::write(dir.join("big.bin"), vec![b'b'; 256 * 1024]).unwrap();
    fs::write(dir.join("dir/index.html"), "<p>hi</p>").unwrap();
    fs::write(dir.join("app.js"), sample_text(40 * 1024)).unwrap();
    fs::write(dir.join("big.js"), sample_text(400 * 1024)).unwrap();

    let site = Site::open(&dir, SiteOptions::default()).unwrap();
    let config = ConnConfig {
        sendfile,
        ..ConnConfig::default()
    };
    let mut pool = BufferPool::new(config.limits.max_head_bytes);
    let mut date = DateCache::new();
    date.refresh(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let mut worker = WorkerState::default();
    let mut log = AccessLog::to(log_format, Box::new(std::io::sink()));
    let stats = Stats::default();

    const WARM_UP: usize = 3;
    const MEASURED: usize = 50;
    let mut transport = MemoryTransport::default();
    transport.sent.reserve(64 << 20);
    for _ in 0..WARM_UP + MEASURED {
        for request in REQUESTS {
            transport.push(request.as_bytes());
        }
    }
    let now = Instant::now();
    let mut conn = Conn::new(transport, "127.0.0.1".parse().unwrap(), 0, now, &config);
    let mut turn = |conn: &mut Conn<MemoryTransport>| {
        conn.on_event(true, true, false);
        let mut cx = Cx {
            site: &site,
            config: &config,
            pool: &mut pool,
            date: &date,
            worker: &mut worker,
            log: &mut log,
            stats: &stats,
            now,
            draining: false,
        };
        // A coded stream (warm-up only) takes several turns: run it until it waits.
        loop {
            match conn.drive(&mut cx) {
                Next::Wait(_) => break,
                Next::Yield | Next::Paced => {}
                Next::Close => panic!("connection ended"),
            }
        }
    };
    // Each turn reads one queued request (each is its own segment) and answers it.
    for _ in 0..WARM_UP * REQUESTS.len() {
        turn(&mut conn);
    }
    let before_len = conn.socket().sent.len();
    let region = Region::new(GLOBAL);
    for _ in 0..MEASURED * REQUESTS.len() {
        turn(&mut conn);
    }
    let change = region.change();
    let answered = &conn.socket().sent[before_len..];
    let responses = answered.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
    assert_eq!(
        responses,
        MEASURED * REQUESTS.len(),
        "every request answered"
    );
    // The coded requests were answered from the variant cache: coded, with a length.
    let count = |needle: &[u8]| {
        answered
            .windows(needle.len())
            .filter(|w| w == &needle)
            .count()
    };
    assert_eq!(
        count(b"Content-Encoding: gzip\r\nContent-Length: "),
        3 * MEASURED,
        "gzip variants from memory"
    );
    assert_eq!(
        count(b"Content-Encoding: br\r\nContent-Length: "),
        MEASURED,
        "br variant from memory"
    );
    let _ = fs::remove_dir_all(&dir);
    change.allocations + change.reallocations
}

/// Pipelined batches of small responses, each batch one segment of 16 requests: small files
/// (held by the open-file cache, so copied from memory), a HEAD, a range, an index. Returns the
/// allocations made while answering the measured batches.
fn pipelined_allocations(log_format: LogFormat) -> usize {
    const BATCH: &[&str] = &[
        "GET /small.txt HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: h2load\r\n\r\n",
        "GET /dir/ HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
        "HEAD /small.txt HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
        "GET /small.txt HTTP/1.1\r\nHost: localhost:8080\r\nRange: bytes=10-99\r\n\r\n",
    ];
    const DEPTH: usize = 16;
    const WARM_UP: usize = 3;
    const MEASURED: usize = 50;
    let dir = std::env::temp_dir().join(format!("mioserve-alloc-pipe-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("dir")).unwrap();
    fs::write(dir.join("small.txt"), vec![b'a'; 1024]).unwrap();
    fs::write(dir.join("dir/index.html"), "<p>hi</p>").unwrap();
    let site = Site::open(&dir, SiteOptions::default()).unwrap();
    let config = ConnConfig::default();
    let mut pool = BufferPool::new(config.limits.max_head_bytes);
    let mut date = DateCache::new();
    date.refresh(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let mut worker = WorkerState::default();
    let mut log = AccessLog::to(log_format, Box::new(std::io::sink()));
    let stats = Stats::default();
    let mut transport = MemoryTransport::default();
    transport.sent.reserve(64 << 20);
    let batch: String = BATCH.iter().cycle().take(DEPTH).copied().collect();
    for _ in 0..WARM_UP + MEASURED {
        transport.push(batch.as_bytes());
    }
    let now = Instant::now();
    let mut conn = Conn::new(transport, "127.0.0.1".parse().unwrap(), 0, now, &config);
    let mut turn = |conn: &mut Conn<MemoryTransport>| {
        conn.on_event(true, true, false);
        let mut cx = Cx {
            site: &site,
            config: &config,
            pool: &mut pool,
            date: &date,
            worker: &mut worker,
            log: &mut log,
            stats: &stats,
            now,
            draining: false,
        };
        assert!(
            matches!(conn.drive(&mut cx), Next::Wait(_)),
            "a batch is answered in one turn"
        );
    };
    for _ in 0..WARM_UP {
        turn(&mut conn);
    }
    let before_len = conn.socket().sent.len();
    let region = Region::new(GLOBAL);
    for _ in 0..MEASURED {
        turn(&mut conn);
    }
    let change = region.change();
    let answered = &conn.socket().sent[before_len..];
    let count = |needle: &[u8]| {
        answered
            .windows(needle.len())
            .filter(|w| w == &needle)
            .count()
    };
    assert_eq!(
        count(b"HTTP/1.1 "),
        MEASURED * DEPTH,
        "every request answered"
    );
    assert_eq!(count(b"HTTP/1.1 206 "), MEASURED * DEPTH / BATCH.len());
    let _ = fs::remove_dir_all(&dir);
    change.allocations + change.reallocations
}

/// One test, so that nothing else runs while the allocator counts.
#[test]
fn what_a_kept_alive_request_allocates() {
    for sendfile in [true, false] {
        for format in [LogFormat::Combined, LogFormat::Off] {
            let allocations = allocations_for(sendfile, format);
            assert_eq!(
                allocations, 0,
                "sendfile {sendfile}, access log {format:?}: {allocations} allocations for 500 requests"
            );
        }
    }
    for format in [LogFormat::Combined, LogFormat::Off] {
        let allocations = pipelined_allocations(format);
        assert_eq!(
            allocations, 0,
            "pipelined, access log {format:?}: {allocations} allocations for 800 requests"
        );
    }
    for (version, overhead) in [
        (&rustls::version::TLS13, TLS13_GCM_OVERHEAD),
        (&rustls::version::TLS12, TLS12_GCM_OVERHEAD),
    ] {
        const MEASURED: usize = 100;
        let cost = tls_cost(version, MEASURED);
        // A change here, either way, is news: the README's HTTPS section and `tls::stream`
        // state these figures.
        assert_eq!(
            cost.allocations,
            2 * MEASURED,
            "{version:?}: {cost:?} for {MEASURED} requests; two expected per request (rustls's \
             received plaintext and encrypted record)"
        );
        assert_eq!(
            cost.bytes,
            MEASURED * (cost.request + cost.response + overhead),
            "{version:?}: {cost:?} for {MEASURED} requests: more than the request's plaintext \
             and the response's record"
        );
    }
}

/// Bytes a TLS 1.3 record adds to its plaintext with an AEAD suite: the 5-byte header, the inner
/// content type and the 16-byte tag.
const TLS13_GCM_OVERHEAD: usize = 5 + 1 + 16;
/// Bytes a TLS 1.2 AES-GCM record adds: the header, the 8-byte explicit nonce and the tag.
const TLS12_GCM_OVERHEAD: usize = 5 + 8 + 16;

/// What the server allocated over the measured requests, and the lengths of one request and one
/// response (plaintext) to account for the bytes.
#[derive(Debug, Default, Clone, Copy)]
struct TlsCost {
    allocations: usize,
    bytes: usize,
    request: usize,
    response: usize,
}

/// Kept-alive GETs of a 1 KiB file over TLS (`version`, AES-GCM), one at a time, by a rustls
/// client over a real loopback connection, all in this thread. Only the server's turns are
/// counted: a region is opened around each `Conn::drive` and closed before the client encrypts
/// or decrypts anything, so the client's own allocations are never seen.
fn tls_cost(version: &'static rustls::SupportedProtocolVersion, measured: usize) -> TlsCost {
    use std::io::{ErrorKind, Read, Write};
    use std::sync::Arc;

    use mioserve::tls::{TlsContext, TlsStream};
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

    const REQUEST: &[u8] =
        b"GET /small.txt HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";
    const BODY: [u8; 1024] = [b'a'; 1024];
    let dir = std::env::temp_dir().join(format!("mioserve-alloc-tls-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("small.txt"), BODY).unwrap();
    let site = Site::open(&dir, SiteOptions::default()).unwrap();
    let config = ConnConfig::default();
    let mut pool = BufferPool::new(config.limits.max_head_bytes);
    let mut date = DateCache::new();
    date.refresh(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let mut worker = WorkerState::default();
    let mut log = AccessLog::to(LogFormat::Combined, Box::new(std::io::sink()));
    let stats = Stats::default();

    let made =
        mioserve::tls::SelfSigned::generate(std::net::Ipv4Addr::LOCALHOST.into(), None).unwrap();
    let cert_pem = made.cert_pem;
    let tls = TlsContext::from_pem(cert_pem.as_bytes(), made.key_pem.as_bytes()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = mioserve::tls::provider();
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client_tcp = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client_tcp.set_nonblocking(true).unwrap();
    let (server_tcp, peer) = listener.accept().unwrap();
    server_tcp.set_nonblocking(true).unwrap();
    let tcp = Tcp::new(
        mio::net::TcpStream::from_std(server_tcp),
        Strategy::native().sending,
    )
    .unwrap();
    let socket = TlsStream::new(tcp, &tls).unwrap();
    let now = Instant::now();
    let mut conn = Conn::new(socket, peer.ip(), 0, now, &config);

    let mut cost = TlsCost {
        request: REQUEST.len(),
        ..TlsCost::default()
    };
    let mut received = Vec::with_capacity(64 * 1024);
    // One request, answered in full: the client writes, the server takes a turn, the client
    // reads what came, until the whole body is there (or 10 s pass).
    let mut exchange = |count: bool| {
        client.writer().write_all(REQUEST).unwrap();
        received.clear();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            while client.wants_write() {
                client.write_tls(&mut client_tcp).unwrap();
            }
            conn.on_event(true, true, false);
            let mut cx = Cx {
                site: &site,
                config: &config,
                pool: &mut pool,
                date: &date,
                worker: &mut worker,
                log: &mut log,
                stats: &stats,
                now,
                draining: false,
            };
            let region = Region::new(GLOBAL);
            let next = conn.drive(&mut cx);
            let change = region.change();
            assert!(matches!(next, Next::Wait(_)), "the connection waits");
            if count {
                cost.allocations += change.allocations + change.reallocations;
                cost.bytes += change.bytes_allocated;
            }
            match client.read_tls(&mut client_tcp) {
                Ok(0) => panic!("the server closed the connection"),
                Ok(_) => {
                    client.process_new_packets().unwrap();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            let mut piece = [0; 4096];
            match client.reader().read(&mut piece) {
                Ok(n) => received.extend_from_slice(&piece[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            if received.ends_with(&BODY) {
                assert!(received.starts_with(b"HTTP/1.1 200 OK\r\n"));
                cost.response = received.len();
                return;
            }
            assert!(Instant::now() < deadline, "no whole response within 10 s");
        }
    };
    // The handshake, the session ticket, and every buffer's first growth.
    for _ in 0..3 {
        exchange(false);
    }
    for _ in 0..measured {
        exchange(true);
    }
    assert_eq!(client.protocol_version(), Some(version.version));
    let suite = client.negotiated_cipher_suite().unwrap().suite();
    assert!(format!("{suite:?}").contains("_GCM_"), "{suite:?}");
    let _ = fs::remove_dir_all(&dir);
    cost
}
