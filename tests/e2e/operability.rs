use std::fs;
use std::io::Read;
use std::time::Duration;

use rustix::process::Signal;

use crate::util::*;

fn site(root: &std::path::Path) {
    fs::write(root.join("a.txt"), "hello\n").unwrap();
    fs::File::create(root.join("big.bin"))
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
}

#[test]
fn exit_report_counts_what_happened_and_why_connections_ended() {
    let mut server = ChildServer::spawn(site, &["--access-log", "off", "--header-timeout", "1"]);

    // Three requests on one connection, then the client closes it.
    let mut client = server.connect();
    for _ in 0..3 {
        client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        client.response().assert_status(200);
    }
    drop(client);
    // Connection: close.
    let mut client = server.connect();
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    client.response().assert_status(200);
    assert!(client.closed_within(Duration::from_secs(2)));
    // A parse error.
    let mut client = server.connect();
    client.send(b"GARBAGE\r\n\r\n");
    client.response().assert_status(400);
    assert!(client.closed_within(Duration::from_secs(3)));
    // A TLS handshake on the plain port.
    let mut client = server.connect();
    client.send(&client_hello());
    client.response().assert_status(400);
    assert!(client.closed_within(Duration::from_secs(3)));
    // A header timeout mid-request.
    let mut client = server.connect();
    client.send(b"GET /a.txt HTTP/1.1\r\n");
    client.response().assert_status(408);
    assert!(client.closed_within(Duration::from_secs(3)));
    // A client that resets in the middle of a download.
    let mut client = server.connect();
    client.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut some = [0u8; 65536];
    client.stream.read_exact(&mut some).unwrap();
    client.reset();
    // An idle keep-alive connection when the shutdown comes.
    let mut idle = server.connect();
    idle.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    idle.response().assert_status(200);
    std::thread::sleep(Duration::from_millis(200));

    server.signal(Signal::TERM);
    assert!(idle.closed_within(Duration::from_secs(2)));
    let (status, stderr) = server.wait(Duration::from_secs(5));
    assert!(status.success(), "{stderr}");
    let report: Vec<&str> = stderr.lines().filter(|l| !l.starts_with('[')).collect();
    assert_eq!(report.len(), 2, "{stderr}");
    assert!(
        report[0].starts_with("mioserve: 9 requests in "),
        "{}",
        report[0]
    );
    assert!(
        report[0].contains("(1xx 0, 2xx 6, 3xx 0, 4xx 3, 5xx 0)"),
        "{}",
        report[0]
    );
    assert!(
        report[0].ends_with(", 7 connections accepted"),
        "{}",
        report[0]
    );
    for expected in [
        "client closed 1,",
        "Connection: close 1,",
        "keep-alive idle timeout 0,",
        "header timeout 1,",
        "send timeout 0,",
        "parse error 1 (400: 1),",
        "TLS handshake on plain HTTP 1,",
        "reset by peer 1,",
        "other error 0,",
        "shutdown 1;",
    ] {
        assert!(
            report[1].contains(expected),
            "{expected:?} missing from {}",
            report[1]
        );
    }
}

#[test]
fn extended_access_log_says_why_each_connection_ended() {
    let mut server =
        ChildServer::spawn(site, &["--access-log", "extended", "--header-timeout", "1"]);
    let mut client = server.connect();
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    client.response().assert_status(200);
    assert!(client.closed_within(Duration::from_secs(2)));
    let mut silent = server.connect();
    assert!(
        silent.closed_within(Duration::from_secs(3)),
        "header timeout"
    );
    server.signal(Signal::TERM);
    let (status, _) = server.wait(Duration::from_secs(5));
    assert!(status.success());
    let lines = server.stdout_lines_at_least(3);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    // Connection ends are logged when they happen, so their order depends on timing.
    let has = |want: &dyn Fn(&str) -> bool| lines.iter().any(|l| want(l));
    assert!(
        has(&|l| l.contains("\"GET /a.txt HTTP/1.1\" 200 6 ") && l.ends_with(" conn=0")),
        "{lines:#?}"
    );
    assert!(
        has(&|l| l.ends_with("\"-\" 000 - \"-\" \"-\" conn=0 end=connection-close requests=1")),
        "{lines:#?}"
    );
    assert!(
        has(&|l| l.ends_with("conn=1 end=header-timeout requests=0")),
        "{lines:#?}"
    );
}

#[test]
fn explain_says_which_rule_produced_each_answer() {
    let mut server = ChildServer::spawn(
        |root| {
            fs::write(root.join("v.bin"), vec![7u8; 100_000]).unwrap();
            fs::write(root.join("app.js"), "console.log(1)\n").unwrap();
            fs::write(root.join("a.mjs"), "export {}\n").unwrap();
            fs::write(root.join(".env"), "SECRET=1\n").unwrap();
            fs::write(root.join("big.js"), "let x = 1;\n".repeat(10_000)).unwrap();
            fs::write(root.join("s.css"), "p { margin: 0 }\n".repeat(100)).unwrap();
            fs::write(root.join("s.css.br"), "not really brotli").unwrap();
            fs::write(root.join("i.png"), vec![1u8; 2000]).unwrap();
        },
        &["--access-log", "off", "--no-stats", "--explain"],
    );
    let get = |target: &str, headers: &[(&str, &str)]| {
        let mut client = server.connect();
        client.send(request_bytes("GET", target, headers).as_bytes());
        client.response()
    };
    let video_etag = get("/v.bin", &[]).header("etag").unwrap().to_string();
    let app_etag = get("/app.js", &[]).header("etag").unwrap().to_string();
    get(
        "/v.bin",
        &[("Range", "bytes=1000-"), ("If-Range", &video_etag)],
    )
    .assert_status(206);
    get("/app.js", &[("If-None-Match", &app_etag)]).assert_status(304);
    get("/.env", &[]).assert_status(404);
    get("/a.mjs", &[]).assert_status(200);
    get("/x/../../etc", &[]).assert_status(400);
    for target in ["/big.js", "/big.js", "/s.css", "/i.png"] {
        get(target, &[("Accept-Encoding", "gzip, br")]).assert_status(200);
    }
    let mut client = server.connect();
    client.send(b"GET / HTTP/2.0\r\n\r\n");
    client.response().assert_status(505);
    let mut client = server.connect();
    client.send(&client_hello());
    client.response().assert_status(400);
    let mut client = server.connect();
    client.send(b"G\x01T / HTTP/1.1\r\n");
    client.response().assert_status(400);

    server.signal(Signal::TERM);
    let (status, stderr) = server.wait(Duration::from_secs(5));
    assert!(status.success());
    for want in [
        "GET /v.bin Range: bytes=1000- If-Range matched → 206 bytes 1000-99999/100000 (sendfile)",
        "GET /app.js If-None-Match matched → 304",
        "GET /.env → 404 (hidden file, inline)",
        "GET /a.mjs → 200 text/javascript (override table, inline)",
        "GET /x/../../etc → 400 (path leaves root, inline)",
        "GET / HTTP/2.0 → 505 (request refused: VersionNotSupported)",
        "(TLS handshake) → 400 (TLS handshake on this plain-HTTP port: use http://)",
        "G\\u{1}T / HTTP/1.1 → 400 (request refused: Malformed)",
        "GET /big.js → 200 text/javascript (override table, br: on the fly, chunked)",
        "GET /big.js → 200 text/javascript (override table, br: cached variant, inline)",
        "GET /s.css → 200 text/css (mime_guess, br: sidecar, inline)",
        "GET /i.png → 200 image/png (mime_guess, identity: image/png, inline)",
    ] {
        assert!(
            stderr.lines().any(|l| l == want),
            "{want:?} not in:\n{stderr}"
        );
    }
}
