//! Issue 19: where a comparison against nginx and lighttpd on mutated requests found mioserve the
//! one to change. One test per finding.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mioserve::http::auth::Credentials;

use crate::util::*;

fn server() -> TestServer {
    TestServer::with(|root| write_file(root, "a.txt", "hello\n"), |_| {})
}

/// A root with a text file, a script worth compressing and a folder to list.
fn site(root: &std::path::Path) {
    write_file(root, "a.txt", "hello\n");
    write_file(root, "app.js", "function f() { return 42; }\n".repeat(200));
    write_file(root, "docs/x.txt", "x");
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

#[test]
fn regression_issue19_list_fields_combine_their_lines() {
    // RFC 9110 §5.3: the lines of a list field are one comma-separated list.
    let server = TestServer::with(site, |c| c.cors = true);
    let etag = server.get("/a.txt").header("etag").unwrap().to_string();
    let zzz = "\"zzz\"";
    // The current tag on the first line, another on the second: 304, not 200.
    let response = server.request(
        "GET",
        "/a.txt",
        &[("If-None-Match", &etag), ("If-None-Match", zzz)],
    );
    response.assert_status(304);
    // ... and for If-Match, the tag on the first line holds: 200, not 412.
    let response = server.request("GET", "/a.txt", &[("If-Match", &etag), ("If-Match", zzz)]);
    response.assert_status(200);
    // Accept-Encoding: gzip on one line, deflate on the next: gzip.
    let response = server.request(
        "GET",
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("Accept-Encoding", "deflate")],
    );
    response.assert_header("content-encoding", Some("gzip"));
    // Accept: JSON first, HTML ranked lower on a second line: the listing is JSON.
    let response = server.request(
        "GET",
        "/docs/",
        &[
            ("Accept", "application/json"),
            ("Accept", "text/html;q=0.5"),
        ],
    );
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{}",
        response.head
    );
    // A preflight asking for headers on two lines is allowed both.
    let response = server.request(
        "OPTIONS",
        "/a.txt",
        &[
            ("Origin", "https://a.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "x-a"),
            ("Access-Control-Request-Headers", "x-b"),
        ],
    );
    response.assert_header("access-control-allow-headers", Some("x-a, x-b"));
    // Expect: 100-continue on the first line, another expectation on the second: the client
    // waits for 100 Continue, so it is answered at once and the connection closes.
    let mut client = server.connect();
    client.send(
        b"PUT /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\
          Expect: 100-continue\r\nExpect: x-other\r\n\r\n",
    );
    client
        .response()
        .assert_status(405)
        .assert_header("connection", Some("close"));
}

#[test]
fn regression_issue19_singleton_fields_given_twice() {
    let credentials = Credentials::parse("ann:s3cret").unwrap();
    let server = TestServer::with(site, |c| c.auth = Some(credentials));
    let right = format!("Basic {}", STANDARD.encode("ann:s3cret"));
    let wrong = format!("Basic {}", STANDARD.encode("bob:guess"));
    // Two Authorization lines: which one counts would be a guess. 400 and close, whichever
    // comes first.
    for pair in [[&wrong, &right], [&right, &wrong], [&right, &right]] {
        let mut client = server.connect();
        client.send(
            request_bytes(
                "GET",
                "/a.txt",
                &[("Authorization", pair[0]), ("Authorization", pair[1])],
            )
            .as_bytes(),
        );
        assert_400_and_close(&mut client, "two Authorization lines");
    }
    let auth = ("Authorization", right.as_str());
    // A Range on two lines is ignored: the whole file, 200.
    let response = server.request(
        "GET",
        "/a.txt",
        &[auth, ("Range", "bytes=0-1"), ("Range", "bytes=2-3")],
    );
    response.assert_status(200);
    assert_eq!(response.text(), "hello\n");
    // ... as is a Range whose If-Range comes twice (no validator can match two).
    let etag = server
        .request("GET", "/a.txt", &[auth])
        .header("etag")
        .unwrap()
        .to_string();
    let response = server.request(
        "GET",
        "/a.txt",
        &[
            auth,
            ("Range", "bytes=0-1"),
            ("If-Range", &etag),
            ("If-Range", &etag),
        ],
    );
    response.assert_status(200);
    // If-Modified-Since on two lines is ignored: 200, where one line gets 304.
    let modified = server
        .request("GET", "/a.txt", &[auth])
        .header("last-modified")
        .unwrap()
        .to_string();
    let since = ("If-Modified-Since", modified.as_str());
    server
        .request("GET", "/a.txt", &[auth, since])
        .assert_status(304);
    server
        .request("GET", "/a.txt", &[auth, since, since])
        .assert_status(200);
}

#[test]
fn regression_issue19_a_percent_that_is_no_percent_encoding_is_400() {
    // RFC 3986 §2.1, RFC 9112 §3: a `%` in a path starts two hex digits; nginx answers 400 too.
    let server = TestServer::with(
        |root| {
            write_file(root, "a.txt", "hello\n");
            write_file(root, "%zz.txt", "a file named with a literal %\n");
        },
        |_| {},
    );
    let mut client = server.connect();
    for target in ["/%zz.txt", "/%u0061", "/a.txt%", "/a.txt%2", "/%%7a%7a.txt"] {
        client.send(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let response = client.response();
        assert_eq!(response.status, 400, "{target}; head:\n{}", response.head);
    }
    // The framing was sound: the connection still serves, and a real escape still decodes.
    client.send(b"GET /%61.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
    client.send(b"GET /%25zz.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    client.response().assert_status(200);
}

#[test]
fn regression_issue19_trailer_lines_are_checked_like_field_lines() {
    // RFC 9112 §7.1.2, §5: a trailer section is field lines, under the head's rules.
    let server = server();
    let post =
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n";
    for trailer in [
        "NoColon\r\n\r\n",
        "X: y\r\n folded\r\n\r\n",
        "X : y\r\n\r\n",
        ": y\r\n\r\n",
        "X: a\x01b\r\n\r\n",
    ] {
        let mut client = server.connect();
        client.send(format!("{post}{trailer}").as_bytes());
        assert_400_and_close(&mut client, &format!("trailer {trailer:?}"));
    }
    // A well-formed trailer is read past, and the next request is served.
    let mut client = server.connect();
    client.send(
        format!("{post}Checksum: abc\r\nX-Empty:\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            .as_bytes(),
    );
    client.response().assert_status(405);
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
}

#[test]
fn regression_issue19_tabs_in_framing_fields_are_400_and_close() {
    // RFC 9110 lets OWS be a tab, but a proxy that does not strip one frames the body otherwise
    // (nginx refuses these too): the two framing fields take spaces only.
    let server = server();
    for framing in [
        "Content-Length:\t5",
        "Content-Length: 5\t",
        "Content-Length: 5,\t5",
        "Transfer-Encoding:\tchunked",
        "Transfer-Encoding: chunked\t",
    ] {
        let body = if framing.contains("chunked") {
            "5\r\nhello\r\n0\r\n\r\n"
        } else {
            "hello"
        };
        let mut client = server.connect();
        client
            .send(format!("POST /a.txt HTTP/1.1\r\nHost: t\r\n{framing}\r\n\r\n{body}").as_bytes());
        assert_400_and_close(&mut client, &format!("{framing:?}"));
    }
    // Spaces stay allowed there, and tabs everywhere else.
    let mut client = server.connect();
    client.send(b"POST /a.txt HTTP/1.1\r\nHost:\tt\t\r\nContent-Length:  5 \r\n\r\nhello");
    client.response().assert_status(405);
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nAccept:\t*/*\r\n\r\n");
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
}

#[test]
fn regression_issue19_a_malformed_auth_value_is_never_echoed() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    const SECRET: &str = "S3cr3t-pa55";
    let dir = TempDir::new();
    let values: Vec<OsString> = vec![
        format!("ann{SECRET}").into(),
        format!("ann:sha256:{SECRET}").into(),
        format!(":{SECRET}").into(),
        format!("-{SECRET}").into(),
        format!("--{SECRET}").into(),
        format!("ann\x01:{SECRET}").into(),
        OsString::from_vec([b"ann:".as_slice(), SECRET.as_bytes(), b"\xff"].concat()),
    ];
    for value in values {
        for args in [
            vec![OsString::from("--auth"), value.clone()],
            vec![{
                let mut joined = OsString::from("--auth=");
                joined.push(&value);
                joined
            }],
        ] {
            let mut child = Command::new(env!("CARGO_BIN_EXE_mioserve"))
                .args(&args)
                .args(["-p", "0", "--no-stats"])
                .arg(dir.path())
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start mioserve");
            let started = Instant::now();
            while child.try_wait().unwrap().is_none() && started.elapsed() < IO_TIMEOUT {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            let out = String::from_utf8_lossy(&output.stdout);
            let err = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{args:?} accepted: {out}{err}"
            );
            assert!(err.contains("--auth"), "{args:?}: {err}");
            assert!(
                !out.contains(SECRET) && !err.contains(SECRET),
                "{args:?} echoed:\n{out}{err}"
            );
        }
    }
}

#[test]
fn regression_issue19_the_built_in_favicon_is_revalidated_with_its_etag() {
    let server = server();
    let icon = server.get("/favicon.ico");
    icon.assert_status(200)
        .assert_header("cache-control", Some("public, max-age=86400"));
    let etag = icon.header("etag").expect("the built-in icon has an ETag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    // The same tag every time, so a browser asks once and then revalidates.
    server.get("/favicon.ico").assert_header("etag", Some(etag));
    let mut client = server.connect();
    for method in ["GET", "HEAD"] {
        client.send(request_bytes(method, "/favicon.ico", &[("If-None-Match", etag)]).as_bytes());
        client
            .head_response()
            .assert_status(304)
            .assert_header("etag", Some(etag))
            .assert_header("cache-control", Some("public, max-age=86400"))
            .assert_header("content-length", None);
    }
    // The connection goes on.
    assert_eq!(client.response_to_get("/a.txt").text(), "hello\n");
    // The icon at its reserved path is the same, with the same validators.
    let reserved = ("If-None-Match", etag);
    server
        .request("GET", "/__mioserve/favicon.ico", &[reserved])
        .assert_status(304)
        .assert_header("etag", Some(etag));
}

#[test]
fn regression_issue19_concurrent_first_requests_share_one_compression() {
    // A script of 8 MB that does not compress (so its coded body outgrows the socket buffers)
    // but whose worst case fits the variant cache's per-file limit (8 MiB with this cap).
    let server = TestServer::with(
        |root| write_file(root, "big.js", pseudo_random_bytes(8_000_000, 19)),
        |c| c.compress_cache = 128 << 20,
    );
    let request = request_bytes("GET", "/big.js", &[("Accept-Encoding", "gzip")]);
    // The second response starts and stalls: its client reads nothing, through a small window.
    let mut stalled = Client::with_receive_buffer(server.addr, 4096);
    stalled.send(request.as_bytes());
    // The first runs to its end, so the compression is complete (and cached).
    let mut first = server.connect();
    first.send(request.as_bytes());
    let whole = first.response();
    whole.assert_header("content-encoding", Some("gzip"));
    // Now the file shrinks. A response coding it for itself would read past the new end and be
    // cut short; the stalled one reads the shared compression's output instead, whole.
    std::fs::OpenOptions::new()
        .write(true)
        .open(server.root().join("big.js"))
        .unwrap()
        .set_len(10)
        .unwrap();
    let late = stalled.response();
    late.assert_status(200)
        .assert_header("content-encoding", Some("gzip"));
    assert_same_bytes(&late.body, &whole.body, "the stalled response");
}
