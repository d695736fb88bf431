use std::fs;
use std::io::Read;
use std::path::Path;

use crate::util::*;

/// A not-found page large enough to be compressed (over 512 bytes).
fn page() -> String {
    let mut page = String::from("<!DOCTYPE html><title>Lost</title><h1>Nothing here</h1>\n");
    for i in 0..60 {
        page.push_str(&format!(
            "<p>Try the <a href=\"/docs/{i}\">index {i}</a>.</p>\n"
        ));
    }
    page
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// A request for `path` with `headers` on a new connection.
#[track_caller]
fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Response {
    server.request("GET", path, headers)
}

#[test]
fn the_not_found_page_is_coded_and_validated_and_stays_a_404() {
    let page = page();
    let server = TestServer::with(|root| write_file(root, "404.html", &page), |_| {});

    let plain = get(&server, "/missing", &[]);
    plain
        .assert_status(404)
        .assert_header("content-type", Some("text/html; charset=utf-8"))
        .assert_header("content-length", Some(&page.len().to_string()))
        .assert_header("cache-control", Some("no-cache"))
        .assert_header("vary", Some("Accept-Encoding"))
        .assert_header("accept-ranges", None);
    assert_eq!(plain.text(), page);
    let etag = plain.header("etag").expect("an ETag").to_string();
    let last_modified = plain
        .header("last-modified")
        .expect("Last-Modified")
        .to_string();

    // Compressed on the fly, then from the variant cache, with the coding's own ETag.
    let streamed = get(&server, "/missing", &[("Accept-Encoding", "gzip")]);
    streamed
        .assert_status(404)
        .assert_header("content-encoding", Some("gzip"))
        .assert_header("transfer-encoding", Some("chunked"))
        .assert_header("vary", Some("Accept-Encoding"));
    assert_eq!(gunzip(&streamed.body), page.as_bytes());
    let gz_etag = streamed.header("etag").unwrap().to_string();
    assert_eq!(gz_etag, format!("{}-gz\"", etag.trim_end_matches('"')));
    let cached = get(&server, "/missing", &[("Accept-Encoding", "gzip")]);
    cached
        .assert_status(404)
        .assert_header("content-encoding", Some("gzip"))
        .assert_header("content-length", Some(&cached.body.len().to_string()))
        .assert_header("etag", Some(&gz_etag));
    assert_eq!(gunzip(&cached.body), page.as_bytes());

    // No precondition and no range turns the 404 into anything else.
    let not_a_304_or_412_or_206: [(&str, &str); 5] = [
        ("If-None-Match", &etag),
        ("If-None-Match", "*"),
        ("If-Modified-Since", &last_modified),
        ("If-Match", "\"nope\""),
        ("Range", "bytes=0-9"),
    ];
    for (name, value) in not_a_304_or_412_or_206 {
        let response = get(&server, "/missing", &[(name, value)]);
        response
            .assert_status(404)
            .assert_header("content-range", None);
        assert_eq!(response.text(), page, "{name}: {value}");
    }
    let response = get(
        &server,
        "/missing",
        &[("If-None-Match", &gz_etag), ("Accept-Encoding", "gzip")],
    );
    response.assert_status(404);
    assert_eq!(gunzip(&response.body), page.as_bytes());

    // HEAD: GET's headers, no body (the pipelined GET behind it parses cleanly).
    let mut client = server.connect();
    client.send(
        b"HEAD /missing HTTP/1.1\r\nHost: t\r\n\r\nHEAD /gone HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\nGET /404.html HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let head = client.head_response();
    head.assert_status(404)
        .assert_header("content-length", Some(&page.len().to_string()))
        .assert_header("etag", Some(&etag));
    let coded_head = client.head_response();
    coded_head
        .assert_status(404)
        .assert_header("content-encoding", Some("gzip"))
        .assert_header("etag", Some(&gz_etag));
    let direct = client.response();
    direct.assert_status(200);
    assert_eq!(direct.text(), page);

    // Hidden names and empty reserved paths are answered as missing ones.
    for path in ["/.hidden", "/__mioserve/nothing"] {
        let response = get(&server, path, &[]);
        response.assert_status(404);
        assert_eq!(response.text(), page, "{path}");
    }
}

#[test]
fn the_not_found_page_has_its_own_sidecar() {
    let page = page();
    let sidecar_text = "the page's own precompressed copy\n";
    let server = TestServer::with(
        |root| {
            write_file(root, "404.html", &page);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            std::io::Write::write_all(&mut gz, sidecar_text.as_bytes()).unwrap();
            write_file(root, "404.html.gz", gz.finish().unwrap());
            // A sidecar beside the missing path must not be taken for the page's.
            write_file(root, "missing.gz", b"not a page");
        },
        |_| {},
    );
    let response = get(&server, "/missing", &[("Accept-Encoding", "gzip")]);
    response
        .assert_status(404)
        .assert_header("content-encoding", Some("gzip"))
        .assert_header("transfer-encoding", None);
    assert_eq!(gunzip(&response.body), sidecar_text.as_bytes());
}

#[test]
fn page404_serves_a_file_anywhere_and_falls_back_to_the_built_in_page() {
    let page = page();
    let dir = TempDir::new();
    let pages = dir.path().join("pages");
    fs::create_dir_all(&pages).unwrap();
    let oops = pages.join("oops.html");
    fs::write(&oops, &page).unwrap();
    // A sidecar beside a page outside the root is never looked for.
    fs::write(pages.join("oops.html.gz"), b"not gzip at all").unwrap();
    let server = TestServer::with(
        |root| write_file(root, "404.html", "the root's page, not used\n"),
        |config| config.page404 = Some(oops.clone()),
    );

    let response = get(&server, "/missing", &[]);
    response
        .assert_status(404)
        .assert_header("content-type", Some("text/html; charset=utf-8"))
        .assert_header("cache-control", Some("no-cache"));
    assert!(response.header("etag").is_some() && response.header("last-modified").is_some());
    assert_eq!(response.text(), page);
    let coded = get(&server, "/missing", &[("Accept-Encoding", "gzip")]);
    coded.assert_header("content-encoding", Some("gzip"));
    assert_eq!(gunzip(&coded.body), page.as_bytes());

    // Edited: the new text at once.
    fs::write(&oops, "edited\n").unwrap();
    assert_eq!(get(&server, "/missing", &[]).text(), "edited\n");

    // Missing, a folder, a FIFO (which must not block the loop): the built-in page.
    fs::remove_file(&oops).unwrap();
    get(&server, "/missing", &[])
        .assert_status(404)
        .assert_error_page();
    fs::create_dir(&oops).unwrap();
    get(&server, "/missing", &[])
        .assert_status(404)
        .assert_error_page();
    fs::remove_dir(&oops).unwrap();
    mkfifo(&oops);
    let head = server.request("HEAD", "/missing", &[]);
    head.assert_status(404)
        .assert_header("content-type", Some("text/html; charset=utf-8"));
    get(&server, "/missing", &[])
        .assert_status(404)
        .assert_error_page();
}

#[test]
fn a_missing_or_unusable_root_page_leaves_the_built_in_one() {
    let server = TestServer::with(|root| mkfifo(&root.join("404.html")), |_| {});
    get(&server, "/missing", &[])
        .assert_status(404)
        .assert_error_page()
        .assert_header("etag", None)
        .assert_header("cache-control", None);
    fs::remove_file(server.root().join("404.html")).unwrap();
    fs::create_dir(server.root().join("404.html")).unwrap();
    get(&server, "/missing", &[])
        .assert_status(404)
        .assert_error_page();
}

#[test]
fn the_spa_index_has_its_own_sidecar_not_the_routes() {
    let index = page().replace("Lost", "App");
    let server = TestServer::with(
        |root| {
            write_file(root, "index.html", &index);
            // Beside the route's path: never the index's representation.
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            std::io::Write::write_all(&mut gz, b"a stray file, not the app").unwrap();
            write_file(root, "app/settings.gz", gz.finish().unwrap());
        },
        |config| config.spa = true,
    );
    let response = get(&server, "/app/settings", &[("Accept-Encoding", "gzip")]);
    response
        .assert_status(200)
        .assert_header("content-encoding", Some("gzip"));
    assert_eq!(gunzip(&response.body), index.as_bytes());
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
}

#[test]
fn an_unreadable_page404_is_a_warning_at_start_not_an_error() {
    let dir = TempDir::new();
    let missing = dir.path().join("no-such-page.html");
    let mut server = ChildServer::spawn(|_| {}, &["--page404", missing.to_str().unwrap()]);
    let response = server.connect().response_to_get("/missing");
    response.assert_status(404).assert_error_page();
    server.signal(rustix::process::Signal::TERM);
    let (status, stderr) = server.wait(IO_TIMEOUT);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("--page404 {}: ", missing.display()))
            && stderr.contains("404 answers get the built-in page until it can be read"),
        "{stderr}"
    );
}

#[test]
fn under_live_reload_the_not_found_page_gets_the_script_once_coded_or_not() {
    const TAG: &str = "<script src=\"/__mioserve/live.js\" defer></script>";
    let page = format!("{}</body></html>\n", page());
    let server = TestServer::with(
        |root| write_file(root, "404.html", &page),
        |config| config.live_reload = Some(mioserve::config::LiveReload::default()),
    );
    let want = page.replace("</body>", &format!("{TAG}</body>"));
    let plain = get(&server, "/missing", &[]);
    plain
        .assert_status(404)
        .assert_header("content-length", Some(&want.len().to_string()));
    assert_eq!(plain.text(), want);
    assert!(plain.header("etag").unwrap().ends_with("-lr\""));
    let coded = get(&server, "/missing", &[("Accept-Encoding", "gzip")]);
    coded
        .assert_status(404)
        .assert_header("content-encoding", Some("gzip"));
    assert_eq!(gunzip(&coded.body), want.as_bytes());
    assert!(coded.header("etag").unwrap().ends_with("-lr-gz\""));
    // A script's fetch (with Origin) gets the page as it is.
    let fetched = get(&server, "/missing", &[("Origin", "http://test")]);
    fetched.assert_status(404);
    assert_eq!(fetched.text(), page);
}
