use std::fs;
use std::net::Shutdown;
use std::time::Duration;

use super::util::*;

fn one_file_server() -> TestServer {
    TestServer::with(
        |root| fs::write(root.join("a.txt"), "hello\n").unwrap(),
        |_| {},
    )
}

#[test]
fn one_socket_serves_large_and_small_files_with_and_without_sendfile() {
    let big = pseudo_random_bytes(200_000, 3);
    for sendfile in [true, false] {
        let server = TestServer::with(
            |root| {
                fs::write(root.join("a.txt"), "hello\n").unwrap();
                fs::write(root.join("big.bin"), &big).unwrap();
            },
            |c| c.conn.sendfile = sendfile,
        );
        let mut client = server.connect();
        for i in 0..20 {
            client.send(
                b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
            );
            let response = client.response();
            response.assert_status(200);
            assert!(
                response.body == big,
                "sendfile {sendfile}: big.bin differs in round {i}"
            );
            assert_eq!(
                client.response().text(),
                "hello\n",
                "sendfile {sendfile}, round {i}"
            );
        }
    }
}

#[test]
fn one_socket_serves_100_requests() {
    let server = one_file_server();
    let mut client = server.connect();
    for i in 0..100 {
        client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        let response = client.response();
        response.assert_status(200);
        assert_eq!(response.text(), "hello\n", "request {i}");
        assert_eq!(
            response.header("connection"),
            None,
            "HTTP/1.1 keeps alive silently"
        );
    }
}

#[test]
fn connection_close_variants_close_after_the_response() {
    let server = one_file_server();
    for value in [
        "close",
        "CLOSE",
        "Close",
        "keep-alive, close",
        "close , foo",
    ] {
        let mut client = server.connect();
        client.send(
            format!("GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: {value}\r\n\r\n").as_bytes(),
        );
        let response = client.response();
        response.assert_status(200);
        assert_eq!(
            response.header("connection"),
            Some("close"),
            "Connection: {value}"
        );
        assert!(
            client.closed_within(Duration::from_secs(2)),
            "Connection: {value}"
        );
    }
}

/// A client that asked for the close sends nothing more, so the server closes its socket as soon
/// as the response is out instead of lingering for input (a `shutdown`, a wake-up and a `read`
/// fewer per connection): anything sent afterwards is refused with a reset. A server closing a
/// connection the client expected to stay open still lingers (see `pipelining.rs` and
/// `shutdown.rs`).
#[test]
fn a_requested_close_is_a_full_close_at_once() {
    let server = one_file_server();
    let mut client = server.connect();
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
    client.assert_closed();
    // The first write after the close draws the reset; a later one fails on it. A lingering
    // server would read and discard both.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let refused = loop {
        match std::io::Write::write(&mut client.stream, b"GET /a.txt HTTP/1.1\r\n") {
            Err(_) => break true,
            Ok(_) if std::time::Instant::now() >= deadline => break false,
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    assert!(refused, "the server kept reading after a requested close");
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let server = one_file_server();
    let mut client = server.connect();
    client.send(b"GET /a.txt HTTP/1.0\r\n\r\n");
    let raw = String::from_utf8(client.read_to_close()).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(raw.contains("\r\nConnection: close\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\nhello\n"), "{raw}");

    let mut client = server.connect();
    for _ in 0..3 {
        client.send(b"GET /a.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        let response = client.response();
        response.assert_status(200);
        assert_eq!(response.header("connection"), Some("keep-alive"));
        assert_eq!(response.text(), "hello\n");
    }
}

#[test]
fn head_has_get_headers_and_no_body() {
    let server = TestServer::with(
        |root| {
            fs::write(root.join("a.txt"), "hello\n").unwrap();
            fs::create_dir(root.join("dir")).unwrap();
        },
        |_| {},
    );
    let mut client = server.connect();
    for (path, status) in [("/a.txt", 200), ("/missing.txt", 404), ("/dir", 301)] {
        // HEAD then GET in one write: a body after the HEAD response would be read as the head
        // of the GET response and fail to parse.
        client.send(
            format!(
                "HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\nGET {path} HTTP/1.1\r\nHost: t\r\n\r\n"
            )
            .as_bytes(),
        );
        let head = client.head_response();
        let get = client.response();
        head.assert_status(status);
        get.assert_status(status);
        assert_eq!(
            head.headers_except(&["date"]),
            get.headers_except(&["date"]),
            "{path}"
        );
        let len = get.body.len().to_string();
        head.assert_header("content-length", Some(&len));
    }
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response().text(), "hello\n");
}

#[test]
fn errors_keep_the_connection_when_framing_is_intact() {
    let server = one_file_server();
    let mut client = server.connect();
    client.send(b"GET /missing HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    client
        .response()
        .assert_status(404)
        .assert_header("connection", Some("keep-alive"));
    client.send(b"DELETE /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    client
        .response()
        .assert_status(405)
        .assert_header("connection", None);
    client.send(b"GET /missing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    client
        .response()
        .assert_status(404)
        .assert_header("connection", Some("close"));
    client.assert_closed();
}

#[test]
fn http10_without_keep_alive_closes_even_on_errors() {
    let server = one_file_server();
    let mut client = server.connect();
    client.send(b"GET /missing HTTP/1.0\r\n\r\n");
    client
        .response()
        .assert_status(404)
        .assert_header("connection", Some("close"));
    client.assert_closed();
}

#[test]
fn options_and_other_methods() {
    let server = TestServer::start();
    let mut client = server.connect();
    client.send(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    let response = client.response();
    response.assert_status(204);
    assert_eq!(response.header("allow"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(server.root().read_dir().unwrap().count(), 0);
}

#[test]
fn client_that_half_closes_is_answered_then_closed_at_once() {
    let server = one_file_server();
    let get = "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let cases: [(String, &[u16]); 4] = [
        // (bytes sent before the client shuts its sending side, statuses of the responses)
        (get.to_string(), &[200]),
        (get.repeat(3), &[200, 200, 200]),
        (
            format!("POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc{get}"),
            &[405, 200],
        ),
        // an incomplete head is dropped without a reply
        ("GET /a.txt HTTP/1.1\r\nHo".to_string(), &[]),
    ];
    // Repeated: whether the end of stream reaches the server with the request or after it is a
    // race, and only the first way used to lose it.
    for _ in 0..10 {
        for (request, statuses) in &cases {
            let mut client = server.connect();
            client.send(request.as_bytes());
            client.stream.shutdown(Shutdown::Write).unwrap();
            for status in *statuses {
                client.response().assert_status(*status);
            }
            // The server saw the end of stream: it closes now, not after its idle timeout.
            assert!(
                client.closed_within(Duration::from_secs(2)),
                "{request:?}: left open after the client half-closed"
            );
        }
    }
}
