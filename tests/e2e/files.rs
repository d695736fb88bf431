use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, SystemTime};

use crate::util::*;

#[test]
fn serves_a_file_with_its_headers() {
    let server = TestServer::with(
        |root| fs::write(root.join("a.txt"), "hello\n").unwrap(),
        |_| {},
    );
    let response = server.get("/a.txt");
    response.assert_status(200);
    assert_eq!(response.text(), "hello\n");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.header("content-length"), Some("6"));
    // Last-Modified is the file's mtime, Date the current time, both as IMF-fixdate.
    let http_date = |name| {
        let value = response.header(name).unwrap_or_default();
        httpdate::parse_http_date(value).unwrap_or_else(|e| panic!("{name}: {value:?}: {e}"))
    };
    let mtime = fs::metadata(server.root().join("a.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        httpdate::fmt_http_date(http_date("last-modified")),
        httpdate::fmt_http_date(mtime)
    );
    let skew = http_date("date")
        .duration_since(SystemTime::now() - Duration::from_secs(5))
        .expect("Date lies more than 5 s in the past");
    assert!(skew < Duration::from_secs(10), "Date is off by {skew:?}");
    assert_eq!(
        response.header("server"),
        Some(concat!("mioserve/", env!("CARGO_PKG_VERSION")))
    );
}

/// A root with hostile names, a folder with an index and one without.
fn server() -> TestServer {
    TestServer::with(
        |root| {
            write_file(root, "a.txt", "hello\n");
            write_file(root, "café.txt", "unicode\n");
            write_file(root, "with space.txt", "space\n");
            write_file(root, "😀.txt", "emoji\n");
            write_file(root, "100%.txt", "percent\n");
            write_file(root, "a+b.txt", "plus\n");
            write_file(root, "quote\"s'.txt", "quotes\n");
            write_file(root, "new\nline.txt", "newline\n");
            write_file(root, "foo..txt", "dots\n");
            write_file(root, "dir/index.html", "<h1>index</h1>\n");
            write_file(root, "dir/inner.txt", "inner\n");
            write_file(root, "café/index.html", "<h1>café</h1>\n");
            fs::create_dir(root.join("noindex")).unwrap();
            // A name that is not UTF-8: Linux names are bytes.
            let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
            fs::write(root.join(latin1), "latin1\n").unwrap();
        },
        |_| {},
    )
}

#[test]
fn names_are_percent_decoded() {
    let server = server();
    let cases = [
        // (target, body)
        ("/caf%C3%A9.txt", "unicode\n"),
        ("/caf%c3%a9.txt", "unicode\n"),
        ("/café.txt", "unicode\n"),
        ("/with%20space.txt", "space\n"),
        ("/%F0%9F%98%80.txt", "emoji\n"),
        ("/100%25.txt", "percent\n"),
        ("/a+b.txt", "plus\n"),
        ("/a%2Bb.txt", "plus\n"),
        ("/quote%22s'.txt", "quotes\n"),
        ("/new%0Aline.txt", "newline\n"),
        ("/foo..txt", "dots\n"),
        ("/%61.txt", "hello\n"),
        ("/caf%E9.txt", "latin1\n"),
    ];
    assert_bodies(&server, &cases);
}

#[test]
fn query_is_ignored_and_paths_collapse() {
    let server = server();
    let cases = [
        // (target, body)
        ("/a.txt?x=1", "hello\n"),
        ("/a.txt?", "hello\n"),
        ("/a.txt?../../secret.txt", "hello\n"),
        ("/a.txt?%00", "hello\n"),
        ("//a.txt", "hello\n"),
        ("/./a.txt", "hello\n"),
        ("/.//./a.txt", "hello\n"),
        ("/dir/../a.txt", "hello\n"),
        ("/dir//inner.txt", "inner\n"),
        ("/dir/./inner.txt?q", "inner\n"),
        ("/dir%2Finner.txt", "inner\n"),
    ];
    assert_bodies(&server, &cases);
}

#[test]
fn directory_without_slash_redirects_keeping_the_query() {
    let server = server();
    let cases = [
        // (target, Location)
        ("/dir", "/dir/"),
        ("/dir?x=1", "/dir/?x=1"),
        ("/dir?a=1&b=%20", "/dir/?a=1&b=%20"),
        ("/caf%C3%A9", "/caf%C3%A9/"),
        ("/noindex", "/noindex/"),
        ("/dir/../dir", "/dir/"),
        ("//dir", "/dir/"),
    ];
    for (target, location) in cases {
        let response = server.get(target);
        assert_eq!(response.status, 301, "{target}: {}", response.head);
        response
            .assert_header("location", Some(location))
            .assert_error_page();
    }
}

#[test]
fn directory_with_slash_serves_its_index() {
    let server = server();
    for (target, body) in [
        ("/dir/", "<h1>index</h1>\n"),
        ("/dir/?x=1", "<h1>index</h1>\n"),
        ("/dir/./", "<h1>index</h1>\n"),
        ("/dir/index.html", "<h1>index</h1>\n"),
        ("/caf%C3%A9/", "<h1>café</h1>\n"),
    ] {
        let response = server.get(target);
        assert_eq!(response.status, 200, "{target}: {}", response.head);
        response.assert_header("content-type", Some("text/html; charset=utf-8"));
        assert_eq!(response.text(), body, "{target}");
    }
    // Without an index the directory is listed (see listing.rs for listings off).
    let listing = server.get("/noindex/");
    listing.assert_status(200);
    assert!(
        listing.text().contains("Index of /noindex/"),
        "{}",
        listing.text()
    );
}

#[test]
fn content_types() {
    let server = TestServer::with(
        |root| {
            for name in [
                "page.html",
                "style.css",
                "app.js",
                "pic.png",
                "data.json",
                "logo.svg",
                "blob.zzzunknown",
                "Makefile",
                "v1.2/README",
            ] {
                write_file(root, name, "x");
            }
        },
        |_| {},
    );
    let cases = [
        // (path, Content-Type)
        ("/page.html", "text/html; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/pic.png", "image/png"),
        ("/data.json", "application/json; charset=utf-8"),
        ("/logo.svg", "image/svg+xml; charset=utf-8"),
        ("/blob.zzzunknown", "application/octet-stream"),
        ("/Makefile", "application/octet-stream"),
        ("/v1.2/README", "application/octet-stream"),
    ];
    for (path, content_type) in cases {
        let response = server.get(path);
        response.assert_status(200);
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "{path}"
        );
    }
}

/// Sizes around the inlining threshold (16 KiB) and the write buffer, plus an empty file.
const SIZES: &[usize] = &[
    0,
    1,
    16 * 1024 - 1,
    16 * 1024,
    16 * 1024 + 1,
    64 * 1024 + 7,
    1 << 20,
];

const FIVE_MIB: usize = 5 * 1024 * 1024;

/// Serves files of [`SIZES`] and a 5 MiB file of pseudo-random bytes, and checks every byte,
/// twice on one connection (so a large body leaves the connection usable).
fn check_exact_bytes(sendfile: bool) {
    let server = TestServer::with(
        |root| {
            for (i, &size) in SIZES.iter().enumerate() {
                write_file(
                    root,
                    &format!("s{size}.bin"),
                    pseudo_random_bytes(size, i as u64),
                );
            }
            write_file(root, "big.bin", pseudo_random_bytes(FIVE_MIB, 42));
        },
        |config| config.conn.sendfile = sendfile,
    );
    let big = pseudo_random_bytes(FIVE_MIB, 42);
    let mut client = server.connect();
    for _ in 0..2 {
        client.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        let response = client.response();
        response
            .assert_status(200)
            .assert_header("content-length", Some("5242880"));
        assert_same_bytes(&response.body, &big, "big.bin");
    }
    for (i, &size) in SIZES.iter().enumerate() {
        client.send(format!("GET /s{size}.bin HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let response = client.response();
        response.assert_status(200);
        assert_same_bytes(
            &response.body,
            &pseudo_random_bytes(size, i as u64),
            &format!("s{size}.bin"),
        );
    }
    client.send(b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    client
        .head_response()
        .assert_status(200)
        .assert_header("content-length", Some("5242880"));
    client.assert_closed();
}

#[test]
fn exact_bytes_of_large_files_with_sendfile() {
    check_exact_bytes(true);
}

#[test]
fn exact_bytes_of_large_files_without_sendfile() {
    check_exact_bytes(false);
}

/// Large downloads side by side, one reader pausing long enough for its socket to fill and the
/// others read only after it: every byte arrives on each. Between its turns a large body waits
/// for its socket to be writable again, so a reader that pauses must be woken when it reads
/// again, and the others must not wait on it.
#[test]
fn side_by_side_downloads_complete_when_readers_pause() {
    for sendfile in [true, false] {
        let server = TestServer::with(
            |root| write_file(root, "big.bin", pseudo_random_bytes(FIVE_MIB, 7)),
            |config| config.conn.sendfile = sendfile,
        );
        let big = pseudo_random_bytes(FIVE_MIB, 7);
        let mut clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
        for client in &mut clients {
            client.send(b"GET /big.bin HTTP/1.0\r\n\r\n");
        }
        let mut paused = vec![0u8; 256 * 1024];
        clients[0].stream.read_exact(&mut paused).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        for (i, client) in clients.iter_mut().enumerate() {
            let mut raw = if i == 0 {
                std::mem::take(&mut paused)
            } else {
                Vec::new()
            };
            raw.extend(client.read_to_close());
            let head_end = find(&raw, b"\r\n\r\n").expect("a response head") + 4;
            assert_same_bytes(
                &raw[head_end..],
                &big,
                &format!("reader {i}, sendfile {sendfile}"),
            );
        }
    }
}

#[test]
fn large_file_to_an_http10_client_ends_with_close() {
    let server = TestServer::with(
        |root| write_file(root, "big.bin", pseudo_random_bytes(FIVE_MIB, 9)),
        |_| {},
    );
    let mut client = server.connect();
    client.send(b"GET /big.bin HTTP/1.0\r\n\r\n");
    let raw = client.read_to_close();
    let head_end = find(&raw, b"\r\n\r\n").expect("a response head") + 4;
    assert_same_bytes(
        &raw[head_end..],
        &pseudo_random_bytes(FIVE_MIB, 9),
        "big.bin",
    );
}

#[test]
fn the_demo_site_is_served() {
    let public = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("public");
    let server = TestServer::with(|_| {}, |config| config.root = public.clone());
    let index = server.get("/");
    index.assert_status(200);
    assert_eq!(index.body, fs::read(public.join("index.html")).unwrap());
    let cases = [
        // (path, Content-Type)
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/logo.svg", "image/svg+xml; charset=utf-8"),
        ("/docs/", "text/html; charset=utf-8"),
        // No index.html: the demo's directory listing.
        ("/samples/", "text/html; charset=utf-8"),
    ];
    for (path, content_type) in cases {
        assert!(
            index.text().contains(&format!("\"{}\"", &path[1..])),
            "index.html does not link {path}"
        );
        let response = server.get(path);
        assert_eq!(response.status, 200, "{path}: {}", response.head);
        response.assert_header("content-type", Some(content_type));
    }
    let listing = server.get("/samples/?format=json");
    listing.assert_status(200);
    let json: serde_json::Value = serde_json::from_slice(&listing.body).expect("JSON listing");
    let names: Vec<&str> = json
        .as_array()
        .expect("an array of entries")
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for name in [
        "nested",
        "README.md",
        "beep.wav",
        "bundle.zip",
        "chart.svg",
        "data.json",
        "gradient.png",
        "notes.txt",
        "table.csv",
    ] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
}

/// The open-file cache never serves a changed file stale: an edit in place, a replacement by
/// rename (same size), a deletion and a symlink swap all show on the very next request.
#[test]
fn changed_files_are_never_served_stale() {
    let server = TestServer::with(
        |root| fs::write(root.join("f.txt"), "one\n").unwrap(),
        |_| {},
    );
    let root = server.root();
    let mut client = server.connect();
    let get = |client: &mut Client| {
        client.send(b"GET /f.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        client.response()
    };
    assert_eq!(get(&mut client).text(), "one\n");
    assert_eq!(get(&mut client).text(), "one\n", "served from the cache");
    fs::write(root.join("f.txt"), "two!\n").unwrap();
    assert_eq!(get(&mut client).text(), "two!\n", "edited in place");
    fs::write(root.join("g.txt"), "3ree\n").unwrap();
    fs::rename(root.join("g.txt"), root.join("f.txt")).unwrap();
    assert_eq!(
        get(&mut client).text(),
        "3ree\n",
        "replaced by rename, same size"
    );
    fs::remove_file(root.join("f.txt")).unwrap();
    get(&mut client).assert_status(404);
    fs::write(root.join("h.txt"), "four\n").unwrap();
    std::os::unix::fs::symlink("h.txt", root.join("f.txt")).unwrap();
    assert_eq!(get(&mut client).text(), "four\n", "now a symlink");
}

/// GETs each target on one kept-alive connection and checks it answers 200 with `body`.
#[track_caller]
fn assert_bodies(server: &TestServer, cases: &[(&str, &str)]) {
    let mut client = server.connect();
    for (target, body) in cases {
        client.send(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let response = client.response();
        assert_eq!(response.status, 200, "{target}: {}", response.head);
        assert_eq!(response.text(), *body, "{target}");
    }
}

/// A root without `favicon.ico` still answers it, with the built-in icon (so a 404 page or a
/// text file costs the browser one request, not a second failing one); a root's own icon wins.
#[test]
fn built_in_favicon_unless_the_root_has_one() {
    let server = TestServer::start();
    let icon = server.get("/favicon.ico");
    icon.assert_status(200)
        .assert_header("content-type", Some("image/png"))
        .assert_header("cache-control", Some("public, max-age=86400"));
    assert!(icon.body.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let head = server.request("HEAD", "/favicon.ico", &[]);
    head.assert_status(200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(icon.body.len().to_string().as_str())
    );
    // Only that exact path: elsewhere a missing icon is missing.
    server.get("/sub/favicon.ico").assert_status(404);
    server.get("/favicon.png").assert_status(404);

    let own = TestServer::with(|root| write_file(root, "favicon.ico", "my icon"), |_| {});
    let response = own.get("/favicon.ico");
    response.assert_status(200);
    assert_eq!(response.text(), "my icon");
}

/// `/__mioserve/` belongs to the server: it is routed before the file system, so a folder of
/// that name in the root is never served (nor listed, nor redirected to), and a reserved path
/// that names nothing is a 404 whatever the root holds. The built-in icon lives there too.
#[test]
fn the_reserved_prefix_is_never_the_roots() {
    let server = TestServer::with(
        |root| {
            write_file(root, "__mioserve/secret.txt", "user file\n");
            write_file(root, "__mioserve/favicon.ico", "user icon");
            write_file(root, "__mioservex/a.txt", "not reserved\n");
        },
        |_| {},
    );
    for target in [
        "/__mioserve/secret.txt",
        "/__mioserve/",
        "/__mioserve",
        "/%5F%5Fmioserve/secret.txt",
        "/a/../__mioserve/secret.txt",
        "/__mioserve/nothing/here",
    ] {
        let response = server.get(target);
        response.assert_status(404);
        assert!(!response.text().contains("user file"), "{target}");
    }
    let icon = server.get("/__mioserve/favicon.ico");
    icon.assert_status(200)
        .assert_header("content-type", Some("image/png"));
    assert!(
        icon.body.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the built-in icon"
    );
    // Only the whole first segment is reserved.
    assert_eq!(server.get("/__mioservex/a.txt").text(), "not reserved\n");
    // The methods are answered as for any path.
    server
        .request("POST", "/__mioserve/favicon.ico", &[])
        .assert_status(405);
}
