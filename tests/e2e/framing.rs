use super::util::*;

fn server() -> TestServer {
    TestServer::with(
        |root| {
            write_file(root, "a.txt", "hello\n");
            write_file(root, "b.txt", "smuggled\n");
        },
        |_| {},
    )
}

/// Sends `raw` on a new connection and asserts it is refused with `status`, `Connection: close`
/// and the error page, and that the server then closes the connection.
#[track_caller]
fn assert_refused_and_closed(server: &TestServer, raw: &str, status: u16) {
    let mut client = server.connect();
    client.send(raw.as_bytes());
    let response = client.response();
    assert_eq!(response.status, status, "{raw:?}; head:\n{}", response.head);
    assert_eq!(
        response.header("connection"),
        Some("close"),
        "{raw:?}; head:\n{}",
        response.head
    );
    response.assert_error_page();
    assert!(
        client.closed_within(std::time::Duration::from_secs(2)),
        "still open after {raw:?}"
    );
}

#[test]
fn malformed_heads_get_400_and_close() {
    let cases: &[&str] = &[
        // malformed request line
        "GARBAGE\r\n\r\n",
        "GET /a.txt\r\nHost: t\r\n\r\n",
        "G@T /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /a.txt HTTP/1.1 extra\r\nHost: t\r\n\r\n",
        "GET /a b HTTP/1.1\r\nHost: t\r\n\r\n",
        // malformed header lines
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n",
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nBad Name: v\r\n\r\n",
        "GET /a.txt HTTP/1.1\r\nHost: t\r\n: no name\r\n\r\n",
        // obs-fold (RFC 9112 §5.2)
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n",
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\tfolded\r\n\r\n",
        // whitespace between field name and colon (RFC 9112 §5.1)
        "GET /a.txt HTTP/1.1\r\nHost : t\r\n\r\n",
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nX-A\t: 1\r\n\r\n",
        // both Transfer-Encoding and Content-Length (RFC 9112 §6.3 rule 3)
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello",
        // conflicting Content-Length (rule 5)
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!",
        // invalid Content-Length (rule 5)
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello",
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0x10\r\n\r\n",
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n\r\n",
        // a Transfer-Encoding other than chunked (rule 4)
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n",
        // Transfer-Encoding on HTTP/1.0 (RFC 9112 §6.1)
        "POST /a.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        // Host (RFC 9112 §3.2)
        "GET /a.txt HTTP/1.1\r\n\r\n",
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n",
        "GET /a.txt HTTP/1.0\r\nHost: t\r\nHost: t\r\n\r\n",
        // malformed versions
        "GET /a.txt HTTP/1.x\r\nHost: t\r\n\r\n",
        "GET /a.txt HTTP/1\r\nHost: t\r\n\r\n",
        "GET /a.txt HTTP/1.10\r\nHost: t\r\n\r\n",
        "GET /a.txt http/1.1\r\nHost: t\r\n\r\n",
        "GET /a.txt HTTX/1.1\r\nHost: t\r\n\r\n",
        // a broken chunked body
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX",
    ];
    let server = server();
    for raw in cases {
        assert_refused_and_closed(&server, raw, 400);
    }
}

#[test]
fn a_rejected_head_ends_a_pipeline() {
    let server = server();
    let mut client = server.connect();
    client.send(
        b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /a.txt HTTP/1.1\r\nHost : t\r\n\r\n\
          GET /b.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
    client
        .response()
        .assert_status(400)
        .assert_header("connection", Some("close"));
    client.assert_closed();
}

#[test]
fn major_versions_other_than_1_get_505_and_close() {
    let server = server();
    for version in ["HTTP/2.0", "HTTP/3.0", "HTTP/0.9", "HTTP/9.9"] {
        let raw = format!("GET /a.txt {version}\r\nHost: t\r\n\r\n");
        assert_refused_and_closed(&server, &raw, 505);
    }
}

#[test]
fn higher_minor_version_is_answered_as_http11() {
    let server = server();
    let mut client = server.connect();
    for _ in 0..2 {
        client.send(b"GET /a.txt HTTP/1.2\r\nHost: t\r\n\r\n");
        let response = client.response();
        assert!(response.head.starts_with("HTTP/1.1 200 OK\r\n"));
        response.assert_header("connection", None);
        assert_eq!(response.text(), "hello\n");
    }
    // And like HTTP/1.1 it needs a Host.
    client.send(b"GET /a.txt HTTP/1.9\r\n\r\n");
    client.response().assert_status(400);
}

#[test]
fn absolute_form_targets_work() {
    let server = server();
    let mut client = server.connect();
    for target in [
        "http://host/a.txt",
        "http://host/a.txt?x=1",
        "HTTP://host:8080/a.txt",
        "http://host/./a.txt",
        "http://[::1]:8080/a.txt",
    ] {
        // The target's authority wins over Host (RFC 9112 §3.2.2), so Host need not match it.
        client.send(format!("GET {target} HTTP/1.1\r\nHost: elsewhere\r\n\r\n").as_bytes());
        let response = client.response();
        assert_eq!(response.status, 200, "{target}; head:\n{}", response.head);
        assert_eq!(response.text(), "hello\n", "{target}");
    }
}

#[test]
fn hosts_that_are_not_uri_host_and_port_get_400_and_close() {
    let server = server();
    for host in [
        "exa mple",
        "exa\tmple",
        "example.com/a",
        "user@example.com",
        "example.com:80a",
        "example.com:80:80",
        "::1",
        "[::1",
        "[::1]x",
        "[fe80::1%eth0]",
        "b\u{fc}cher.example",
        "%zz",
    ] {
        let raw = format!("GET /a.txt HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_refused_and_closed(&server, &raw, 400);
    }
    // An absolute-form target's authority is checked alike, and an http URI needs a host and
    // carries no userinfo (RFC 9110 §4.2.1, §4.2.4).
    for target in [
        "http://user@host/a.txt",
        "http://user:pw@host/a.txt",
        "http:///a.txt",
        "http://:8080/a.txt",
        "http://ho%zzst/a.txt",
        "http://[::1/a.txt",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: host\r\n\r\n");
        assert_refused_and_closed(&server, &raw, 400);
    }
}

#[test]
fn well_formed_hosts_are_served() {
    let server = server();
    let mut client = server.connect();
    for host in [
        "example.com",
        "example.com:8080",
        "example.com:",
        "127.0.0.1:80",
        "[::1]",
        "[2001:db8::7]:443",
        "[v1.fe80::a+en1]",
        "my_host.local",
        "ex%41mple",
        "",
    ] {
        client.send(format!("GET /a.txt HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        let response = client.response();
        assert_eq!(response.status, 200, "{host:?}; head:\n{}", response.head);
    }
}

#[test]
fn leading_empty_lines_and_bare_lf_are_accepted() {
    let server = server();
    let mut client = server.connect();
    // RFC 9112 §2.2: empty lines before a request line are ignored; a bare LF may end a line.
    client.send(b"\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
    client.send(b"GET /a.txt HTTP/1.1\nHost: t\n\n");
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
}

/// A request whose body is itself a well-formed request for `b.txt`: if the server ever read the
/// body as a request, `b.txt` would come back.
const SMUGGLED: &str = "GET /b.txt HTTP/1.1\r\nHost: t\r\n\r\n";

/// After `first` (a request with a body), a pipelined GET of `a.txt` must be answered next, and
/// a last request with `Connection: close` must be the last answered.
#[track_caller]
fn assert_body_discarded(first: &str, first_status: u16) {
    let server = server();
    let mut client = server.connect();
    let batch = format!("{first}GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    client.send(batch.as_bytes());
    client.response().assert_status(first_status);
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
    client.assert_closed();
}

#[test]
fn content_length_body_is_discarded_not_parsed() {
    let post = format!(
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{SMUGGLED}",
        SMUGGLED.len()
    );
    assert_body_discarded(&post, 405);
}

#[test]
fn chunked_body_with_extension_and_trailer_is_discarded_not_parsed() {
    let post = format!(
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;name=value\r\nhello\r\n{:x}\r\n{SMUGGLED}\r\n0\r\nX-Trailer: yes\r\n\r\n",
        SMUGGLED.len()
    );
    assert_body_discarded(&post, 405);
}

#[test]
fn valid_framing_variants_are_accepted() {
    let n = SMUGGLED.len();
    let cases = [
        // repeated Content-Length of one value (RFC 9112 §6.3 rule 5)
        format!("POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {n}, {n}\r\n\r\n{SMUGGLED}"),
        format!(
            "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\ncontent-length: {n}\r\n\r\n{SMUGGLED}"
        ),
        // leading zeros are still 1*DIGIT
        format!("POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 000{n}\r\n\r\n{SMUGGLED}"),
        // coding names are case-insensitive, whitespace around values is optional
        format!(
            "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:  Chunked \r\n\r\n{n:X}\r\n{SMUGGLED}\r\n0\r\n\r\n"
        ),
        // an empty body
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n".to_string(),
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            .to_string(),
    ];
    for first in &cases {
        assert_body_discarded(first, 405);
    }
}

#[test]
fn bodies_on_other_methods_are_discarded() {
    let cases = [
        // a GET may carry a body; it is skipped, the file served
        (
            format!(
                "GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{SMUGGLED}",
                SMUGGLED.len()
            ),
            200,
        ),
        // an unknown method's body is skipped too
        (
            format!(
                "BREW /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{SMUGGLED}\r\n0\r\n\r\n",
                SMUGGLED.len()
            ),
            501,
        ),
        // HTTP/1.0 with keep-alive and a Content-Length body
        (
            format!(
                "PUT /a.txt HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: {}\r\n\r\n{SMUGGLED}",
                SMUGGLED.len()
            ),
            405,
        ),
    ];
    for (first, status) in &cases {
        assert_body_discarded(first, *status);
    }
}

#[test]
fn empty_line_after_a_body_is_skipped() {
    // Some clients end a body with an extra CRLF; RFC 9112 §2.2 lets the server ignore it.
    let post = "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\r\n";
    assert_body_discarded(post, 405);
}

#[test]
fn expect_continue_is_answered_without_waiting_for_the_body() {
    let server = server();
    let mut client = server.connect();
    // The body is never sent: the final answer must come anyway, and the connection then closes
    // since the server cannot know whether the body will follow (RFC 9110 §10.1.1).
    client.send(
        b"POST /a.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
    );
    client
        .response()
        .assert_status(405)
        .assert_header("connection", Some("close"));
    client.assert_closed();
}

#[test]
fn body_larger_than_the_read_buffer_is_discarded() {
    let body = pseudo_random_bytes(300_000, 3);
    let server = server();
    let mut client = server.connect();
    let mut batch = format!(
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    batch.extend_from_slice(&body);
    batch.extend_from_slice(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    client.send(&batch);
    client.response().assert_status(405);
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
}

#[test]
fn body_over_the_limit_gets_413_and_close() {
    let server = TestServer::with(
        |root| write_file(root, "a.txt", "hello\n"),
        |config| config.conn.limits.max_body_bytes = 1000,
    );
    assert_refused_and_closed(
        &server,
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n",
        413,
    );
    // A chunked body is counted as it arrives.
    let mut chunked =
        String::from("POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    chunked.push_str(&format!("3e9\r\n{}\r\n", "x".repeat(1001)));
    assert_refused_and_closed(&server, &chunked, 413);
}
