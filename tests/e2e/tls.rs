//! HTTPS itself: resumption, any SNI, plain HTTP answered with a 308, close_notify, certificates
//! refused at start, SIGHUP reloads, the exit report's TLS counts, and real clients (curl,
//! openssl s_client).

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, StreamOwned};

use crate::util::*;

fn one_file(root: &Path) {
    write_file(root, "a.txt", "hello\n");
}

/// A TLS connection to `addr` by `config` for `name`, with the usual timeouts.
fn tls_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    name: &str,
) -> StreamOwned<ClientConnection, TcpStream> {
    let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let name = ServerName::try_from(name.to_string()).unwrap();
    StreamOwned::new(ClientConnection::new(config, name).unwrap(), tcp)
}

/// One `GET /a.txt` with `Connection: close`; returns everything read until the clean end
/// (close_notify), failing if the server closed without one.
fn get_and_close(stream: &mut StreamOwned<ClientConnection, TcpStream>) -> String {
    stream
        .write_all(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .expect("a response ended by close_notify");
    text
}

/// A certificate for `localhost` valid between the two years, and its key, as PEM.
fn certificate(from: i32, until: i32) -> (String, String) {
    make_certificate(&["localhost"], Some((from, until)))
}

#[test]
fn a_second_connection_resumes_and_the_server_says_goodbye() {
    let server = TestServer::speaking(Scheme::Https, one_file, |_| {});
    let config = client_config(&test_certificate().0);
    let mut first = tls_connect(server.addr, Arc::clone(&config), "localhost");
    let text = get_and_close(&mut first);
    assert!(
        text.starts_with("HTTP/1.1 200 OK") && text.ends_with("hello\n"),
        "{text}"
    );
    assert_eq!(first.conn.handshake_kind(), Some(HandshakeKind::Full));
    assert_eq!(first.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    // The client keeps the ticket from the first connection.
    let mut second = tls_connect(server.addr, config, "localhost");
    assert!(get_and_close(&mut second).ends_with("hello\n"));
    assert_eq!(second.conn.handshake_kind(), Some(HandshakeKind::Resumed));
    // TLS 1.2 resumes by session id from the server's cache.
    let tls12 = Arc::new(client_config_for(
        &test_certificate().0,
        &[&rustls::version::TLS12],
    ));
    let mut a = tls_connect(server.addr, Arc::clone(&tls12), "localhost");
    assert!(get_and_close(&mut a).ends_with("hello\n"));
    assert_eq!(
        a.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let mut b = tls_connect(server.addr, tls12, "localhost");
    assert!(get_and_close(&mut b).ends_with("hello\n"));
    assert_eq!(b.conn.handshake_kind(), Some(HandshakeKind::Resumed));
}

#[test]
fn plain_http_on_the_https_port_gets_a_readable_308() {
    let server = TestServer::speaking(Scheme::Https, one_file, |_| {});
    let mut plain = TcpStream::connect_timeout(&server.addr, IO_TIMEOUT).unwrap();
    plain.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let host = server.addr.to_string();
    write!(plain, "GET /a.txt?x=1 HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let mut answer = String::new();
    plain.read_to_string(&mut answer).unwrap();
    let location = format!("https://{host}/a.txt?x=1");
    assert!(
        answer.starts_with("HTTP/1.1 308 Permanent Redirect\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains(&format!("\r\nLocation: {location}\r\n")),
        "{answer}"
    );
    assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
    assert!(
        answer.contains("Content-Type: text/plain; charset=utf-8"),
        "{answer}"
    );
    assert!(answer.ends_with(&format!("Use {location}\n")), "{answer}");
    // Bytes that are neither TLS nor HTTP are still refused in clear.
    let mut noise = TcpStream::connect_timeout(&server.addr, IO_TIMEOUT).unwrap();
    noise.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    noise.write_all(b"\xff\xfe\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = noise.read_to_end(&mut answer);
    assert!(answer.starts_with(b"HTTP/1.1 400 "), "{answer:?}");
}

/// The binary with `args` over a root with `a.txt`; its exit status and stderr, once it stops.
fn start_fails(args: &[&str]) -> String {
    let dir = TempDir::new();
    one_file(&dir.path().join("root"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_mioserve"))
        .arg(dir.path().join("root"))
        .args(["-p", "0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = None;
    wait_until(Duration::from_secs(5), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        panic!("mioserve {args:?} did not stop");
    };
    assert!(!status.success(), "mioserve {args:?} started");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn an_unusable_certificate_stops_the_start_naming_the_file() {
    let dir = TempDir::new();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let (expired, expired_key) = certificate(2001, 2002);
    let (good, _) = certificate(2020, 2049);
    let (_, other_key) = certificate(2020, 2049);
    let (expired, expired_key) = (
        file("expired.pem", &expired),
        file("expired.key", &expired_key),
    );
    let (good, other_key) = (file("good.pem", &good), file("other.key", &other_key));
    let missing = dir.path().join("missing.pem").to_str().unwrap().to_string();
    let cases: &[(&[&str], String)] = &[
        (
            &["--tls-cert", &expired, "--tls-key", &expired_key],
            format!("{expired}: the certificate expired on 2002-01-01"),
        ),
        (
            &["--tls-cert", &good, "--tls-key", &other_key],
            format!("{other_key}: the private key does not match the certificate"),
        ),
        (
            &["--tls-cert", &missing, "--tls-key", &other_key],
            format!("{missing}: no such file"),
        ),
        (
            &["--tls-cert", &good, "--tls-key", &good],
            format!("{good}: no private key in it"),
        ),
    ];
    for (args, want) in cases {
        let stderr = start_fails(args);
        assert!(
            stderr.starts_with(&format!("mioserve: cannot serve HTTPS: {want}")),
            "{args:?}: {stderr}"
        );
    }
}

/// The leaf certificate a handshake with `addr` presents, trusting `roots` (PEM).
fn presented(addr: SocketAddr, roots: &str, name: &str) -> Vec<u8> {
    let mut stream = tls_connect(addr, client_config(roots), name);
    let text = get_and_close(&mut stream);
    assert!(text.ends_with("hello\n"), "{text}");
    stream.conn.peer_certificates().unwrap()[0].to_vec()
}

fn der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// A server of [`one_file`] over HTTPS with the certificate and key in these files.
fn serving_files(cert_file: &Path, key_file: &Path) -> ChildServer {
    ChildServer::spawn(
        one_file,
        &[
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
            "--no-stats",
        ],
    )
}

#[test]
fn sighup_swaps_the_certificate_and_a_failed_reload_keeps_it() {
    let (old, old_key) = certificate(2020, 2049);
    let (new, new_key) = certificate(2021, 2049);
    let dir = TempDir::new();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    fs::write(&cert_file, &old).unwrap();
    fs::write(&key_file, &old_key).unwrap();
    let mut server = serving_files(&cert_file, &key_file);
    let both = format!("{old}{new}");
    assert_eq!(presented(server.addr, &both, "localhost"), der(&old));
    fs::write(&cert_file, &new).unwrap();
    fs::write(&key_file, &new_key).unwrap();
    server.signal(rustix::process::Signal::HUP);
    let swapped = wait_until(Duration::from_secs(5), || {
        presented(server.addr, &both, "localhost") == der(&new)
    });
    assert!(swapped, "a new connection never saw the new certificate");
    // A key that does not match: the reload fails and the new certificate stays.
    fs::write(&key_file, &old_key).unwrap();
    server.signal(rustix::process::Signal::HUP);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(presented(server.addr, &both, "localhost"), der(&new));
    server.signal(rustix::process::Signal::TERM);
    let (status, stderr) = server.wait(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("SIGHUP: certificate reloaded"), "{stderr}");
    assert!(
        stderr.contains("SIGHUP: certificate not reloaded, the current one stays: ")
            && stderr.contains("the private key does not match the certificate"),
        "{stderr}"
    );
}

/// What `openssl s_client` prints after a TLS 1.3 handshake (offering `http/1.1`) with `addr`,
/// naming `server_name`; `None`, with a note, where openssl is not installed.
fn s_client(addr: SocketAddr, server_name: &str) -> Option<String> {
    let Ok(output) = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(["-servername", server_name, "-alpn", "http/1.1", "-tls1_3"])
        .stdin(Stdio::null())
        .output()
    else {
        eprintln!("skipped: no openssl (.ci/run installs it)");
        return None;
    };
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn any_server_name_gets_the_certificate_and_openssl_agrees() {
    let server = ChildServer::spawn_speaking(
        Scheme::Https,
        Path::new(env!("CARGO_BIN_EXE_mioserve")),
        one_file,
        &["--no-stats"],
        |_| {},
    );
    let Some(text) = s_client(server.addr, "wrong.example") else {
        return;
    };
    assert!(
        text.contains("CN=rcgen self signed cert") || text.contains("CN = rcgen self signed cert"),
        "{text}"
    );
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
    assert!(text.contains("TLSv1.3"), "{text}");
    // And rustls, asking for another name, sees the same certificate (it then refuses the name).
    let mut stream = tls_connect(
        server.addr,
        client_config(&test_certificate().0),
        "other.example",
    );
    let refused = stream.write_all(b"GET / HTTP/1.1\r\n\r\n").is_err();
    assert!(refused, "the certificate is not valid for other.example");
}

/// A client that names an IP address as its server name (wrk does) is served, and writes nothing
/// to the server's log: rustls's warning about it would be a line per connection that any client
/// could cause.
#[test]
fn an_ip_address_as_server_name_is_not_logged() {
    let mut server = ChildServer::spawn_speaking(
        Scheme::Https,
        Path::new(env!("CARGO_BIN_EXE_mioserve")),
        one_file,
        &["--no-stats"],
        |command| {
            command.env_remove("RUST_LOG");
        },
    );
    for _ in 0..3 {
        let Some(text) = s_client(server.addr, "127.0.0.1") else {
            return;
        };
        assert!(text.contains("TLSv1.3"), "{text}");
    }
    server.signal(rustix::process::Signal::TERM);
    let (status, stderr) = server.wait(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("handshakes completed 3"), "{stderr}");
    assert!(!stderr.contains("rustls"), "{stderr}");
    assert!(!stderr.contains("WARN"), "{stderr}");
}

#[test]
fn curl_trusts_the_self_signed_certificate_by_its_pem() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipped: no curl (.ci/run installs it)");
        return;
    }
    let mut server = ChildServer::spawn(one_file, &["--tls-self-signed", "--no-stats"]);
    let pem = std::env::temp_dir().join(format!("mioserve-{}-cert.pem", server.child.id()));
    assert!(pem.exists(), "no certificate at {}", pem.display());
    let url = format!("https://{}/a.txt", server.addr);
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--cacert"])
        .arg(&pem)
        .arg(&url)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "hello\n",
        "{output:?}"
    );
    let localhost = format!("https://localhost:{}/a.txt", server.addr.port());
    let output = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "--tlsv1.2",
            "--tls-max",
            "1.2",
            "--cacert",
        ])
        .arg(&pem)
        .arg(&localhost)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "hello\n",
        "{output:?}"
    );
    server.signal(rustix::process::Signal::TERM);
    let (_, stderr) = server.wait(Duration::from_secs(10));
    assert!(
        stderr.contains("self-signed certificate for localhost, 127.0.0.1, ::1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--ignore-certificate-errors-spki-list="),
        "{stderr}"
    );
    assert!(!pem.exists(), "the certificate file outlived the server");
}

#[test]
fn the_exit_report_counts_handshakes_and_explain_marks_tls() {
    let mut server = ChildServer::spawn_speaking(
        Scheme::Https,
        Path::new(env!("CARGO_BIN_EXE_mioserve")),
        |root| {
            one_file(root);
            write_file(root, "big.bin", "x".repeat(40_000));
        },
        &[
            "--no-stats",
            "--explain",
            "--header-timeout",
            "1",
            "--access-log",
            "extended",
        ],
        |_| {},
    );
    let config = client_config(&test_certificate().0);
    for _ in 0..2 {
        let mut stream = tls_connect(server.addr, Arc::clone(&config), "localhost");
        assert!(get_and_close(&mut stream).ends_with("hello\n"));
    }
    // A file past the inline limit goes by pread through TLS, never by sendfile.
    let mut big = tls_connect(server.addr, Arc::clone(&config), "localhost");
    big.write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    big.read_to_string(&mut text).unwrap();
    assert!(text.ends_with(&"x".repeat(40_000)), "{}", text.len());
    // Plain HTTP, a garbage record, a handshake that stalls until the header deadline.
    let mut plain = TcpStream::connect(server.addr).unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut garbage = TcpStream::connect(server.addr).unwrap();
    garbage
        .write_all(b"\x16\x03\x03\x00\x04\x00\x00\x00\x00")
        .unwrap();
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    stalled.write_all(&client_hello()[..20]).unwrap();
    stalled.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut rest = Vec::new();
    let _ = stalled.read_to_end(&mut rest);
    for mut stream in [plain, garbage] {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let _ = stream.read_to_end(&mut rest);
    }
    server.signal(rustix::process::Signal::TERM);
    let (status, stderr) = server.wait(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "TLS: handshakes completed 3 (resumed 2), failed 2 (protocol version 0, no shared \
             cipher 0, bad certificate from client 0, timeout 1, malformed 1, client closed 0, \
             other 0); plain HTTP on the HTTPS port 1 (answered 308)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("GET /a.txt → 200 text/plain (mime_guess, inline) [TLSv1.3 TLS13_"),
        "{stderr}"
    );
    assert!(
        stderr.contains("GET /big.bin → 200 application/octet-stream (mime_guess, pread) [TLS"),
        "{stderr}"
    );
    assert!(stderr.contains("GET / → 308 → https://h/"), "{stderr}");
    let lines = server.stdout_lines_at_least(2);
    assert!(
        lines.iter().any(|l| l.contains(" tls=TLSv1.3/TLS13_")),
        "{lines:?}"
    );
}

/// Runs `openssl` with `args` in `dir`, failing the test if it cannot (CI installs openssl).
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl is needed for this test");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A key made in `dir` by `openssl make_key…` (writing `key.pem`) and a certificate openssl makes
/// for it (`cert.pem`, a leaf for `localhost`): the two files.
fn key_and_certificate(dir: &Path, make_key: &[&str]) -> (std::path::PathBuf, std::path::PathBuf) {
    openssl(dir, make_key);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "key.pem",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-addext",
            // A leaf, not the CA certificate req -x509 makes by default.
            "basicConstraints=critical,CA:FALSE",
            "-days",
            "30",
            "-out",
            "cert.pem",
        ],
    );
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Keys as people have them, made by openssl: RSA as PKCS#1 and PKCS#8, ECDSA P-256 as SEC1,
/// P-384 and Ed25519 as PKCS#8. Each, with a certificate openssl made for it, serves over TLS 1.3
/// and TLS 1.2 (rustls's client checks the server's signature with the certificate's key),
/// except Ed25519 over TLS 1.2, which rustls-graviola's TLS 1.2 suites do not offer (no browser
/// takes an Ed25519 certificate either); a P-521 key, which the crypto cannot sign with, stops
/// the start naming the key file.
#[test]
fn keys_of_every_kind_openssl_makes_serve_both_versions() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "rsa-pkcs1",
            &["genrsa", "-traditional", "-out", "key.pem", "2048"],
            "BEGIN RSA PRIVATE KEY",
        ),
        (
            "rsa-pkcs8",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:3072",
                "-out",
                "key.pem",
            ],
            "BEGIN PRIVATE KEY",
        ),
        (
            "p256-sec1",
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "key.pem",
            ],
            "BEGIN EC PRIVATE KEY",
        ),
        (
            "p384-pkcs8",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-out",
                "key.pem",
            ],
            "BEGIN PRIVATE KEY",
        ),
        (
            "ed25519-pkcs8",
            &["genpkey", "-algorithm", "ed25519", "-out", "key.pem"],
            "BEGIN PRIVATE KEY",
        ),
    ];
    for (kind, make_key, header) in cases {
        let dir = TempDir::new();
        let (cert_file, key_file) = key_and_certificate(dir.path(), make_key);
        assert!(
            fs::read_to_string(&key_file).unwrap().contains(header),
            "{kind}"
        );
        let cert = fs::read_to_string(&cert_file).unwrap();
        let server = serving_files(&cert_file, &key_file);
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let config = client_config_for(&cert, &[version]);
            let mut stream = tls_connect(server.addr, Arc::new(config), "localhost");
            if *kind == "ed25519-pkcs8" && version == &rustls::version::TLS12 {
                let refused = stream.write_all(b"GET /a.txt HTTP/1.1\r\n\r\n");
                assert!(
                    refused.is_err_and(|e| e.to_string().contains("HandshakeFailure")),
                    "Ed25519 over TLS 1.2"
                );
                continue;
            }
            let text = get_and_close(&mut stream);
            assert!(text.ends_with("hello\n"), "{kind} {version:?}: {text}");
            assert_eq!(
                stream.conn.protocol_version(),
                Some(version.version),
                "{kind}"
            );
        }
    }
    let dir = TempDir::new();
    let (cert_file, key_file) = key_and_certificate(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-521",
            "-out",
            "key.pem",
        ],
    );
    let stderr = start_fails(&[
        "--tls-cert",
        cert_file.to_str().unwrap(),
        "--tls-key",
        key_file.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains(key_file.to_str().unwrap())
            && stderr.contains("the private key cannot be used")
            && stderr.contains("ECDSA on P-256 or P-384"),
        "the key file is named, and what can be used: {stderr}"
    );
}

/// A large body that waited for the client, then `Connection: close`: the response still ends
/// with `close_notify` (the transport's unit tests make its records wait for room every time).
#[test]
fn close_notify_follows_a_large_body_that_waited_for_the_client() {
    const SIZE: usize = 4 << 20;
    let server = TestServer::speaking(
        Scheme::Https,
        |root| write_file(root, "big.bin", vec![b'x'; SIZE]),
        |_| {},
    );
    let config = client_config(&test_certificate().0);
    for _ in 0..3 {
        let mut stream = tls_connect(server.addr, Arc::clone(&config), "localhost");
        stream
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        // The server fills the socket and waits for room before its last records.
        std::thread::sleep(Duration::from_millis(100));
        let mut body = Vec::new();
        stream
            .read_to_end(&mut body)
            .expect("a response ended by close_notify");
        assert!(
            body.ends_with(&[b'x'; 64]) && body.len() > SIZE,
            "{}",
            body.len()
        );
    }
}
