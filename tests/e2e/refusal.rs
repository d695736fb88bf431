use std::io::{ErrorKind, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::util::*;

fn server() -> TestServer {
    TestServer::with(|root| write_file(root, "a.txt", "hello\n"), |_| {})
}

/// Sends `bytes` on a new connection and returns the response and how long it took to arrive
/// complete with the connection closed, asserting it is a 400 with `Connection: close`.
#[track_caller]
fn refused(server: &TestServer, bytes: &[u8]) -> (Response, Duration) {
    let mut client = server.connect();
    let sent = Instant::now();
    client.send(bytes);
    let response = client.response();
    assert!(client.closed_within(Duration::from_secs(2)), "left open");
    let took = sent.elapsed();
    assert_eq!(
        response.status,
        400,
        "{:?}; head:\n{}",
        String::from_utf8_lossy(bytes),
        response.head
    );
    response.assert_header("connection", Some("close"));
    response.assert_error_page();
    (response, took)
}

/// The header deadline is 10 s; every refusal here must come well before it. The bound is
/// generous for a loaded machine: on an idle one each takes well under a millisecond.
const AT_ONCE: Duration = Duration::from_secs(1);

#[test]
fn bytes_that_cannot_start_a_request_get_400_at_once() {
    let server = server();
    let mut noise = pseudo_random_bytes(512, 7);
    noise[0] = 0xff;
    let cases: &[(&str, &[u8])] = &[
        ("binary noise", &noise),
        ("NUL bytes", b"\0\0\0\0"),
        ("control byte in the method", b"G\x01T / HTTP/1.1\r\n"),
        ("tab in the method", b"GE\tT"),
        ("space before the method", b" GET / HTTP/1.1\r\nHost: t\r\n"),
        ("DEL in the target", b"GET /a\x7f"),
        ("an SSH banner", b"SSH-2.0-OpenSSH_9.2p1\r\n"),
        ("JSON", b"{\"jsonrpc\": \"2.0\"}"),
        ("a bad field name", b"GET / HTTP/1.1\r\nHost : t\r\n"),
        ("a bad version", b"GET / HTTX/1.1\r\nHost: t\r\n"),
    ];
    for (what, bytes) in cases {
        let (_, took) = refused(&server, bytes);
        assert!(took < AT_ONCE, "{what}: answered after {took:?}");
    }
}

#[test]
fn a_tls_client_hello_is_told_to_use_http() {
    let server = server();
    let (response, took) = refused(&server, &client_hello());
    assert!(took < AT_ONCE, "answered after {took:?}");
    let text = response.text();
    assert!(
        text.contains("plain-HTTP server") && text.contains("Use http://"),
        "{text}"
    );
    // The record header alone is enough to know.
    let (response, took) = refused(&server, &client_hello()[..5]);
    assert!(took < AT_ONCE && response.text().contains("plain-HTTP server"));
}

#[test]
fn a_refused_client_that_keeps_sending_still_reads_its_400() {
    let server = server();
    let mut client = server.connect();
    client.send(&client_hello());
    // More bytes keep coming after the refusal: the lingering close drains them, so the
    // client's unread data does not turn the close into a reset that would destroy the 400.
    let mut writer = client.stream.try_clone().unwrap();
    let more = std::thread::spawn(move || {
        for _ in 0..64 {
            if writer.write_all(&[0x17; 4096]).is_err() {
                return;
            }
        }
    });
    client.response().assert_status(400);
    more.join().unwrap();
}

#[test]
fn stray_empty_lines_and_unfinished_valid_heads_wait() {
    let server = server();
    let quiet = |client: &mut Client| {
        client
            .stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut byte = [0u8; 1];
        // A signal (SIGCHLD from the tests' child processes) interrupts a read with a timeout
        // instead of restarting it: read again.
        let result = loop {
            match client.stream.read(&mut byte) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        client.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        match result {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("expected the server to wait, got {other:?}"),
        }
    };
    // (first part, rest, status): each first part alone must draw no answer.
    let cases: &[(&[u8], &[u8], u16)] = &[
        // RFC 9112 §2.2: empty lines before a request line are allowed.
        (b"\r\n\r\n", b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", 200),
        (b"\n", b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", 200),
        (b"GET /a.txt HTTP/1.1\r\nHo", b"st: t\r\n\r\n", 200),
        (b"G", b"ET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", 200),
        // A version cut short may still become a valid one (1.2 is answered as 1.1) or a 505.
        (b"GET /a.txt HTTP/1.", b"2\r\nHost: t\r\n\r\n", 200),
        (b"GET /a.txt HTTP/2", b".0\r\nHost: t\r\n\r\n", 505),
        // A TLS record's first byte alone could be anything.
        (b"\x16", b"\x03\x01\x00\x05", 400),
    ];
    for (first, rest, status) in cases {
        let mut client = server.connect();
        client.send(first);
        quiet(&mut client);
        client.send(rest);
        let response = client.response();
        assert_eq!(
            response.status,
            *status,
            "{:?}; head:\n{}",
            String::from_utf8_lossy(first),
            response.head
        );
    }
}

#[test]
fn openssl_s_client_gets_a_plain_http_answer_at_once() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("note: openssl is not installed; skipping the s_client test");
        return;
    }
    let mut server = ChildServer::spawn(
        |root| write_file(root, "a.txt", "hello\n"),
        &["--access-log", "off", "--no-stats", "--explain"],
    );
    let started = Instant::now();
    let mut s_client = Command::new("openssl")
        .args(["s_client", "-connect", &server.addr.to_string()])
        .args(["-servername", "localhost"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openssl");
    let mut status = None;
    wait_until(Duration::from_secs(5), || {
        status = s_client.try_wait().expect("try_wait");
        status.is_some()
    });
    let took = started.elapsed();
    let Some(status) = status else {
        let _ = s_client.kill();
        panic!("openssl s_client still running after 5 s: the server did not answer");
    };
    assert!(!status.success(), "the handshake cannot succeed");
    // Process start-up included; the server's part is a fraction of it.
    assert!(
        took < Duration::from_secs(3),
        "s_client ended after {took:?}"
    );

    server.signal(Signal::TERM);
    let (exit, stderr) = server.wait(Duration::from_secs(5));
    assert!(exit.success(), "{stderr}");
    assert!(
        stderr
            .contains("(TLS handshake) → 400 (TLS handshake on this plain-HTTP port: use http://)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("TLS handshake on plain HTTP 1,"),
        "{stderr}"
    );
}
