//! Issue 19: where a comparison against nginx and lighttpd on mutated requests found mioserve the
//! one to change. One test per finding.

use std::time::Duration;

use crate::util::*;

fn server() -> TestServer {
    TestServer::with(|root| write_file(root, "a.txt", "hello\n"), |_| {})
}

/// Reads one response on `client` and asserts it is a 400 that closes the connection.
#[track_caller]
fn assert_400_and_close(client: &mut Client, what: &str) {
    let response = client.response();
    assert_eq!(response.status, 400, "{what}; head:\n{}", response.head);
    response.assert_header("connection", Some("close"));
    assert!(
        client.closed_within(Duration::from_secs(2)),
        "still open after {what}"
    );
}

#[test]
fn regression_issue19_a_bare_cr_before_a_request_line_is_400_and_close() {
    // RFC 9112 §2.2: only empty lines (CRLF, or a bare LF) may precede a request line.
    let server = server();
    for raw in [
        "\rGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "\r\n\rGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let mut client = server.connect();
        client.send(raw.as_bytes());
        assert_400_and_close(&mut client, &format!("{raw:?}"));
    }
    // ... and so is a lone CR after a request, ahead of the next one.
    let mut client = server.connect();
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n\rGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
    assert_400_and_close(&mut client, "a CR between two requests");
    // Empty lines themselves are still skipped, before the first request and between two.
    let mut client = server.connect();
    client.send(
        b"\r\n\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    client.response().assert_status(200);
    client.response().assert_status(200);
}
