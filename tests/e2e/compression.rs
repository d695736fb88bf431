use std::io::Read;
use std::time::{Duration, Instant, SystemTime};

use super::util::*;

/// Script-like text that compresses as real code does, `len` bytes.
fn script(len: usize) -> Vec<u8> {
    let words = [
        "function ",
        "return ",
        "const ",
        "value",
        "index",
        " = ",
        "(",
        ")",
        "{\n",
        "}\n",
        ";",
        "document.",
        "element",
        "null",
        "await ",
        "=> ",
    ];
    let noise = pseudo_random_bytes(len, 12);
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0;
    while out.len() < len {
        let n = noise[i % noise.len()];
        out.extend_from_slice(words[n as usize % words.len()].as_bytes());
        if n.is_multiple_of(7) {
            out.extend_from_slice(format!("v{}", n % 61).as_bytes());
        }
        i += 1;
    }
    out.truncate(len);
    out
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

pub(crate) fn decode(response: &Response) -> Vec<u8> {
    match response.header("content-encoding") {
        None => response.body.clone(),
        Some("gzip") => gunzip(&response.body),
        Some("br") => unbrotli(&response.body),
        Some(other) => panic!("unexpected coding {other}"),
    }
}

/// A GET with `Accept-Encoding: accept` on a new connection.
#[track_caller]
fn get_coded(server: &TestServer, path: &str, accept: &str) -> Response {
    server.request("GET", path, &[("Accept-Encoding", accept)])
}

/// Sets `path`'s modification time `secs` seconds from now (negative: in the past).
fn touch(path: &std::path::Path, secs: i64) {
    let now = SystemTime::now();
    let time = if secs >= 0 {
        now + Duration::from_secs(secs as u64)
    } else {
        now - Duration::from_secs((-secs) as u64)
    };
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

#[test]
fn each_coding_decodes_to_the_file_bytes_streamed_then_cached() {
    let js = script(300_000);
    let server = TestServer::with(|root| write_file(root, "app.js", &js), |_| {});
    for (accept, coding) in [
        ("gzip", "gzip"),
        ("br", "br"),
        ("gzip, deflate, br, zstd", "br"),
    ] {
        // The first response for a coding is compressed as it goes (the browser's list finds
        // br already cached).
        let first = get_coded(&server, "/app.js", accept);
        first.assert_status(200);
        first.assert_header("content-encoding", Some(coding));
        first.assert_header("vary", Some("Accept-Encoding"));
        first.assert_header("content-type", Some("text/javascript; charset=utf-8"));
        assert_same_bytes(&decode(&first), &js, accept);
        assert!(
            first.body.len() < js.len() / 2,
            "{accept}: {} bytes",
            first.body.len()
        );
        // Later ones come from the variant cache, with a length, byte for byte the same.
        let cached = get_coded(&server, "/app.js", accept);
        cached.assert_header("content-encoding", Some(coding));
        cached.assert_header("transfer-encoding", None);
        cached.assert_header("content-length", Some(&first.body.len().to_string()));
        assert_eq!(cached.body, first.body, "{accept}");
        assert_eq!(cached.header("etag"), first.header("etag"));
    }
    let identity = server.get("/app.js");
    identity.assert_header("content-encoding", None);
    identity.assert_header("vary", Some("Accept-Encoding"));
    assert_same_bytes(&identity.body, &js, "identity");
}

#[test]
fn each_coding_has_its_own_etag_and_304() {
    let js = script(20_000);
    let server = TestServer::with(|root| write_file(root, "app.js", &js), |_| {});
    let identity = server.get("/app.js");
    let gzip = get_coded(&server, "/app.js", "gzip");
    let br = get_coded(&server, "/app.js", "br");
    let tags: Vec<&str> = [&identity, &gzip, &br]
        .iter()
        .map(|r| r.header("etag").expect("etag"))
        .collect();
    assert!(
        tags[1].ends_with("-gz\"") && tags[2].ends_with("-br\""),
        "{tags:?}"
    );
    assert_eq!(&tags[1][..tags[1].len() - 4], &tags[0][..tags[0].len() - 1]);
    // Each tag validates its own representation only.
    for (accept, tag, want) in [
        ("gzip", tags[1], 304),
        ("br", tags[2], 304),
        ("gzip", tags[0], 200),
        ("gzip", tags[2], 200),
        ("identity", tags[0], 304),
        ("identity", tags[1], 200),
    ] {
        let response = server.request(
            "GET",
            "/app.js",
            &[("Accept-Encoding", accept), ("If-None-Match", tag)],
        );
        response.assert_status(want);
        // Vary on every response for the resource, the 304 and the identity included.
        response.assert_header("vary", Some("Accept-Encoding"));
        if want == 304 {
            response.assert_header("etag", Some(tag));
        }
    }
}

#[test]
fn a_fresh_sidecar_is_preferred_and_a_stale_one_ignored() {
    let css = script(10_000);
    let server = TestServer::with(
        |root| {
            write_file(root, "a.css", &css);
            // Not real brotli: the server never looks inside a sidecar.
            write_file(root, "a.css.br", b"precompressed brotli");
            write_file(root, "a.css.zst", b"precompressed zstd");
            write_file(root, "a.css.gz", b"precompressed gzip");
            write_file(root, "old.css", &css);
            write_file(root, "old.css.gz", b"stale gzip");
            touch(&root.join("old.css.gz"), -3600);
        },
        |_| {},
    );
    for (accept, coding, body) in [
        ("br, gzip, zstd", "br", "precompressed brotli"),
        ("gzip, zstd", "zstd", "precompressed zstd"),
        ("gzip", "gzip", "precompressed gzip"),
        ("br;q=0.5, gzip", "gzip", "precompressed gzip"),
    ] {
        let response = get_coded(&server, "/a.css", accept);
        response.assert_status(200);
        response.assert_header("content-encoding", Some(coding));
        response.assert_header("content-type", Some("text/css; charset=utf-8"));
        response.assert_header("content-length", Some(&body.len().to_string()));
        response.assert_header("vary", Some("Accept-Encoding"));
        assert_eq!(response.text(), body, "{accept}");
    }
    // A range of the sidecar: the selected representation's bytes.
    let range = server.request(
        "GET",
        "/a.css",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-12")],
    );
    range.assert_status(206);
    range.assert_header("content-encoding", Some("gzip"));
    range.assert_header("content-range", Some("bytes 0-12/18"));
    assert_eq!(range.text(), "precompressed");
    // Older than its file: ignored, the file is compressed instead.
    let stale = get_coded(&server, "/old.css", "gzip");
    stale.assert_header("content-encoding", Some("gzip"));
    assert_same_bytes(&gunzip(&stale.body), &css, "stale sidecar ignored");
}

#[test]
fn sidecars_follow_the_resolution_rules() {
    let outside = TempDir::new();
    write_file(outside.path(), "secret.gz", SECRET);
    let text = script(4000);
    let server = TestServer::with(
        |root| {
            write_file(root, "a.txt", &text);
            std::os::unix::fs::symlink(outside.path().join("secret.gz"), root.join("a.txt.gz"))
                .unwrap();
            write_file(root, "b.txt", &text);
            std::fs::create_dir_all(root.join("b.txt.gz")).unwrap();
        },
        |_| {},
    );
    for path in ["/a.txt", "/b.txt"] {
        let response = get_coded(&server, path, "gzip");
        response.assert_status(200);
        assert!(!response.text().contains(SECRET), "{path}");
        // No usable sidecar: compressed on the fly.
        response.assert_header("content-encoding", Some("gzip"));
        assert_same_bytes(&gunzip(&response.body), &text, path);
    }
}

#[test]
fn a_sidecar_that_vanishes_falls_back_to_the_file() {
    let text = script(4000);
    let server = TestServer::with(
        |root| {
            write_file(root, "a.txt", &text);
            write_file(root, "a.txt.gz", b"sidecar");
        },
        |_| {},
    );
    assert_eq!(get_coded(&server, "/a.txt", "gzip").text(), "sidecar");
    std::fs::remove_file(server.root().join("a.txt.gz")).unwrap();
    let response = get_coded(&server, "/a.txt", "gzip");
    response.assert_status(200);
    response.assert_header("content-encoding", Some("gzip"));
    assert_same_bytes(&gunzip(&response.body), &text, "after the sidecar vanished");
}

#[test]
fn images_and_small_files_are_never_coded() {
    let png = pseudo_random_bytes(50_000, 3);
    let server = TestServer::with(
        |root| {
            write_file(root, "a.png", &png);
            write_file(root, "a.png.gz", b"never");
            write_file(root, "a.woff2", &png);
            write_file(root, "tiny.txt", "hello\n");
        },
        |_| {},
    );
    for path in ["/a.png", "/a.woff2"] {
        let response = get_coded(&server, path, "gzip, br");
        response.assert_status(200);
        response.assert_header("content-encoding", None);
        response.assert_header("vary", None);
        assert_same_bytes(&response.body, &png, path);
    }
    let tiny = get_coded(&server, "/tiny.txt", "gzip, br");
    tiny.assert_header("content-encoding", None);
    tiny.assert_header("vary", Some("Accept-Encoding"));
    assert_eq!(tiny.text(), "hello\n");
}

#[test]
fn head_mirrors_get() {
    let js = script(50_000);
    let server = TestServer::with(|root| write_file(root, "app.js", &js), |_| {});
    let head = server.request("HEAD", "/app.js", &[("Accept-Encoding", "gzip")]);
    let get = get_coded(&server, "/app.js", "gzip");
    // Before the variant is cached, GET streams: HEAD says so too, with no body.
    assert_eq!(
        head.headers_except(&["date"]),
        get.headers_except(&["date"]),
        "HEAD:\n{}\nGET:\n{}",
        head.head,
        get.head
    );
    head.assert_header("transfer-encoding", Some("chunked"));
    // Once cached, both carry the variant's length.
    let head = server.request("HEAD", "/app.js", &[("Accept-Encoding", "gzip")]);
    let get = get_coded(&server, "/app.js", "gzip");
    assert_eq!(
        head.headers_except(&["date"]),
        get.headers_except(&["date"])
    );
    head.assert_header("content-length", Some(&get.body.len().to_string()));
    // A HEAD of an uncached coding sets up no stream, and the connection stays usable.
    let mut client = server.connect();
    client.send(request_bytes("HEAD", "/app.js", &[("Accept-Encoding", "br")]).as_bytes());
    client
        .head_response()
        .assert_header("content-encoding", Some("br"));
    assert_same_bytes(&client.response_to_get("/app.js").body, &js, "after HEAD");
}

#[test]
fn http10_gets_a_length() {
    let js = script(50_000);
    let server = TestServer::with(|root| write_file(root, "app.js", &js), |_| {});
    let raw = b"GET /app.js HTTP/1.0\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n";
    // No chunked encoding in HTTP/1.0: identity with its length, and the connection kept.
    let mut client = server.connect();
    client.send(raw);
    let response = client.response();
    response.assert_header("content-encoding", None);
    response.assert_header("vary", Some("Accept-Encoding"));
    response.assert_header("connection", Some("keep-alive"));
    assert_same_bytes(&response.body, &js, "HTTP/1.0 identity");
    // Once an HTTP/1.1 client has had the variant cached, HTTP/1.0 gets it too.
    let streamed = get_coded(&server, "/app.js", "gzip");
    client.send(raw);
    let cached = client.response();
    cached.assert_header("content-encoding", Some("gzip"));
    assert_eq!(cached.body, streamed.body);
}

#[test]
fn a_range_is_cut_from_a_complete_representation() {
    let js = script(50_000);
    let server = TestServer::with(|root| write_file(root, "app.js", &js), |_| {});
    let range = [("Accept-Encoding", "gzip"), ("Range", "bytes=100-199")];
    // No coded copy with a length yet: the range of the file itself.
    let response = server.request("GET", "/app.js", &range);
    response.assert_status(206);
    response.assert_header("content-encoding", None);
    response.assert_header("vary", Some("Accept-Encoding"));
    assert_eq!(response.body, &js[100..200]);
    // Once the variant is cached, the range of the coded bytes.
    let whole = get_coded(&server, "/app.js", "gzip");
    let response = server.request("GET", "/app.js", &range);
    response.assert_status(206);
    response.assert_header("content-encoding", Some("gzip"));
    let complete = format!("bytes 100-199/{}", whole.body.len());
    response.assert_header("content-range", Some(&complete));
    assert_eq!(response.body, &whole.body[100..200]);
    // Several ranges of a coded representation: the whole of it.
    let several = server.request(
        "GET",
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-9,100-199")],
    );
    several.assert_status(200);
    assert_eq!(several.body, whole.body);
}

#[test]
fn a_changed_file_never_gets_a_stale_variant() {
    let one = script(30_000);
    let server = TestServer::with(|root| write_file(root, "app.js", &one), |_| {});
    get_coded(&server, "/app.js", "gzip");
    let cached = get_coded(&server, "/app.js", "gzip");
    assert!(cached.header("content-length").is_some(), "{}", cached.head);
    // Same size, new content, a new mtime: the variant of the old content is never sent.
    let mut two = one.clone();
    two[..11].copy_from_slice(b"// edited\n\n");
    write_file(&server.root(), "app.js", &two);
    touch(&server.root().join("app.js"), 5);
    let after = get_coded(&server, "/app.js", "gzip");
    after.assert_header("transfer-encoding", Some("chunked"));
    assert_same_bytes(&gunzip(&after.body), &two, "after the edit");
    assert_ne!(after.header("etag"), cached.header("etag"));
    let again = get_coded(&server, "/app.js", "gzip");
    assert!(again.header("content-length").is_some(), "{}", again.head);
    assert_same_bytes(&gunzip(&again.body), &two, "the new variant");
}

#[test]
fn the_command_line_switches() {
    let js = script(20_000);
    let setup = |root: &std::path::Path| {
        write_file(root, "app.js", &js);
        write_file(root, "side.js", &js);
        write_file(root, "side.js.gz", b"sidecar");
    };
    // --no-compress: sidecars only.
    let server = TestServer::with(setup, |config| config.compress = false);
    let response = get_coded(&server, "/app.js", "gzip");
    response.assert_header("content-encoding", None);
    response.assert_header("vary", Some("Accept-Encoding"));
    assert_eq!(get_coded(&server, "/side.js", "gzip").text(), "sidecar");
    // --no-precompressed: no sidecars, on the fly instead.
    let server = TestServer::with(setup, |config| config.precompressed = false);
    let response = get_coded(&server, "/side.js", "gzip");
    assert_same_bytes(&gunzip(&response.body), &js, "sidecar ignored");
    // --compress-cache 0: every response streams.
    let server = TestServer::with(setup, |config| config.compress_cache = 0);
    for _ in 0..2 {
        let response = get_coded(&server, "/app.js", "gzip");
        response.assert_header("transfer-encoding", Some("chunked"));
        assert_same_bytes(&gunzip(&response.body), &js, "uncached");
    }
}

#[test]
fn listings_are_coded_when_accepted() {
    let server = TestServer::with(
        |root| {
            for i in 0..300 {
                write_file(root, &format!("dir/file-{i}.txt"), "x");
            }
        },
        |_| {},
    );
    let plain = server.get("/dir/");
    for accept in ["gzip", "br"] {
        let coded = get_coded(&server, "/dir/", accept);
        coded.assert_status(200);
        coded.assert_header("content-encoding", Some(accept));
        coded.assert_header("vary", Some("Accept, Accept-Encoding"));
        let text = String::from_utf8(decode(&coded)).unwrap();
        assert_eq!(text, plain.text(), "{accept}");
    }
}

#[test]
fn a_large_stream_does_not_stall_other_clients() {
    let _alone = run_alone();
    // 64 KiB blocks: beyond gzip's 32 KiB window, so repeating them saves the encoder nothing.
    let big = script(64 << 10).repeat(800);
    let server = TestServer::with(
        |root| {
            write_file(root, "big.log", &big);
            write_file(root, "a.txt", "hello\n");
        },
        |_| {},
    );
    let mut streaming = server.connect();
    streaming.send(request_bytes("GET", "/big.log", &[("Accept-Encoding", "gzip")]).as_bytes());
    let stop = streaming.stream.try_clone().unwrap();
    // The reader drains the coded stream as fast as it comes, so the server always has work.
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        let mut total = 0usize;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            match streaming.stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        total
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut worst = Duration::ZERO;
    let mut other = server.connect();
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(other.response_to_get("/a.txt").text(), "hello\n");
        worst = worst.max(started.elapsed());
    }
    assert!(
        worst < Duration::from_millis(500),
        "a small request took {worst:?}"
    );
    // End the stream from the client's side, so the server stops compressing at once.
    stop.shutdown(std::net::Shutdown::Both).unwrap();
    assert!(reader.join().unwrap() > 0, "the stream was flowing");
}

#[test]
fn a_file_that_shrinks_mid_stream_ends_the_connection_without_a_last_chunk() {
    let big = script(64 << 10).repeat(256);
    let server = TestServer::with(|root| write_file(root, "big.txt", &big), |_| {});
    let mut client = server.connect();
    client.send(request_bytes("GET", "/big.txt", &[("Accept-Encoding", "gzip")]).as_bytes());
    let mut first = [0u8; 1024];
    let n = client.stream.read(&mut first).unwrap();
    assert!(n > 0);
    std::fs::File::options()
        .write(true)
        .open(server.root().join("big.txt"))
        .unwrap()
        .set_len(100_000)
        .unwrap();
    let rest = client.read_to_close();
    let mut raw = first[..n].to_vec();
    raw.extend_from_slice(&rest);
    assert!(
        !raw.ends_with(b"\r\n0\r\n\r\n"),
        "a cut stream must not end like a complete chunked body"
    );
}

#[test]
fn the_access_log_counts_the_coded_bytes_streamed_or_cached() {
    let js = script(200_000);
    let mut server = ChildServer::spawn(
        |root| write_file(root, "app.js", &js),
        &["--access-log", "common", "--no-stats"],
    );
    // Streamed (chunked, its length unknown when its head is written), then cached (with a
    // Content-Length): the same coded bytes either way.
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let mut client = server.connect();
        client.send(request_bytes("GET", "/app.js", &[("Accept-Encoding", "gzip")]).as_bytes());
        bodies.push(client.response().body);
    }
    assert_eq!(bodies[0], bodies[1]);
    server.signal(rustix::process::Signal::TERM);
    let (status, _) = server.wait(Duration::from_secs(5));
    assert!(status.success());
    let lines = server.stdout_lines_at_least(2);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let want = format!("\"GET /app.js HTTP/1.1\" 200 {}", bodies[0].len());
    for line in &lines {
        assert!(line.ends_with(&want), "{line} (want {want})");
    }
}
