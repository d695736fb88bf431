use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::util::*;

const BODY: &str = "<!doctype html><p>cached page</p>\n";
/// The fixture's modification time: 2020-01-01 00:00:00 UTC.
const MTIME: u64 = 1_577_836_800;
const LAST_MODIFIED: &str = "Wed, 01 Jan 2020 00:00:00 GMT";

fn set_mtime(path: &Path, time: SystemTime) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

/// A server with `page.html` modified at [`MTIME`].
fn page_server() -> TestServer {
    TestServer::with(
        |root| {
            fs::write(root.join("page.html"), BODY).unwrap();
            set_mtime(
                &root.join("page.html"),
                UNIX_EPOCH + Duration::from_secs(MTIME),
            );
        },
        |_| {},
    )
}

/// The page's ETag, from an unconditional GET.
fn etag(server: &TestServer) -> String {
    server
        .get("/page.html")
        .header("etag")
        .expect("ETag")
        .to_string()
}

#[track_caller]
fn assert_not_modified(response: &Response, etag: &str) {
    response.assert_status(304);
    assert_eq!(response.header("etag"), Some(etag), "{}", response.head);
    assert_eq!(response.header("last-modified"), Some(LAST_MODIFIED));
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    assert!(response.header("date").is_some());
    assert_eq!(response.header("content-length"), None, "{}", response.head);
    assert_eq!(response.header("transfer-encoding"), None);
    assert!(response.body.is_empty());
}

#[test]
fn full_response_carries_validators() {
    let server = page_server();
    let response = server.get("/page.html");
    response.assert_status(200);
    assert_eq!(response.text(), BODY);
    assert_eq!(response.header("last-modified"), Some(LAST_MODIFIED));
    assert_eq!(response.header("accept-ranges"), Some("bytes"));
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    let etag = response.header("etag").expect("ETag");
    // A strong tag of hex numbers, the size last: "<inode>-<mtime ns>-<size>".
    let inner = etag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a strong tag: {etag}"));
    let fields: Vec<&str> = inner.split('-').collect();
    assert_eq!(fields.len(), 3, "{etag}");
    assert!(
        fields.iter().all(|f| u64::from_str_radix(f, 16).is_ok()),
        "{etag}"
    );
    assert_eq!(fields[1], format!("{:x}", MTIME * 1_000_000_000));
    assert_eq!(fields[2], format!("{:x}", BODY.len()));
    assert_eq!(
        server.get("/page.html").header("etag"),
        Some(etag),
        "stable"
    );
}

#[test]
fn if_none_match_gives_304() {
    let server = page_server();
    let etag = etag(&server);
    let cases = [
        etag.clone(),
        format!("\"other\", {etag}"),
        format!("\"a\",\"b\" , {etag} ,\"c\""),
        format!("W/{etag}"),
        format!("\"x\", W/{etag}"),
        "*".to_string(),
    ];
    for value in &cases {
        let response = server.request("GET", "/page.html", &[("If-None-Match", value)]);
        assert_not_modified(&response, &etag);
        let response = server.request("HEAD", "/page.html", &[("If-None-Match", value)]);
        assert_not_modified(&response, &etag);
    }
    for value in ["\"other\"", "\"a\", W/\"b\"", "garbage"] {
        let response = server.request("GET", "/page.html", &[("If-None-Match", value)]);
        response.assert_status(200);
        assert_eq!(response.text(), BODY, "If-None-Match: {value}");
    }
}

#[test]
fn not_modified_keeps_the_connection() {
    let server = page_server();
    let etag = etag(&server);
    let mut client = server.connect();
    let conditional = request_bytes("GET", "/page.html", &[("If-None-Match", &etag)]);
    let plain = request_bytes("GET", "/page.html", &[]);
    // Pipelined: a 304 has no body, so the next response must follow it directly.
    client.send(format!("{conditional}{plain}{conditional}").as_bytes());
    assert_not_modified(&client.response(), &etag);
    assert_eq!(client.response().assert_status(200).text(), BODY);
    assert_not_modified(&client.response(), &etag);
}

#[test]
fn if_modified_since_gives_304() {
    let server = page_server();
    let etag = etag(&server);
    // The three formats RFC 9110 §5.6.7 requires recipients to accept, and later dates.
    for date in [
        LAST_MODIFIED,
        "Wednesday, 01-Jan-20 00:00:00 GMT",
        "Wed Jan  1 00:00:00 2020",
        "Thu, 02 Jan 2020 00:00:00 GMT",
    ] {
        let response = server.request("GET", "/page.html", &[("If-Modified-Since", date)]);
        assert_not_modified(&response, &etag);
    }
    // Earlier, in the future, or not a date: the full page.
    for date in [
        "Tue, 31 Dec 2019 23:59:59 GMT",
        "Fri, 01 Jan 2100 00:00:00 GMT",
        "yesterday",
        "Wed, 01 Jan 2020 00:00:00",
        "",
    ] {
        let response = server.request("GET", "/page.html", &[("If-Modified-Since", date)]);
        response.assert_status(200);
        assert_eq!(response.text(), BODY, "If-Modified-Since: {date:?}");
    }
}

#[test]
fn if_modified_since_is_ignored_with_if_none_match() {
    let server = page_server();
    let response = server.request(
        "GET",
        "/page.html",
        &[
            ("If-None-Match", "\"stale\""),
            ("If-Modified-Since", LAST_MODIFIED),
        ],
    );
    response.assert_status(200);
    assert_eq!(response.text(), BODY);
}

#[test]
fn if_match_and_if_unmodified_since_give_412() {
    let server = page_server();
    let etag = etag(&server);
    let failing: &[(&str, &str)] = &[
        ("If-Match", "\"other\""),
        ("If-Match", "\"a\", \"b\""),
        ("If-Unmodified-Since", "Tue, 31 Dec 2019 23:59:59 GMT"),
    ];
    for header in failing {
        let response = server.request("GET", "/page.html", &[*header]);
        response.assert_status(412);
        assert!(
            response.text().contains("412 Precondition Failed"),
            "{header:?}"
        );
    }
    let weak = format!("W/{etag}");
    let response = server.request("GET", "/page.html", &[("If-Match", &weak)]);
    response.assert_status(412);

    let list = format!("\"a\", {etag}");
    let passing: &[(&str, &str)] = &[
        ("If-Match", &etag),
        ("If-Match", &list),
        ("If-Match", "*"),
        ("If-Unmodified-Since", LAST_MODIFIED),
        ("If-Unmodified-Since", "Thu, 02 Jan 2020 00:00:00 GMT"),
        ("If-Unmodified-Since", "garbage"),
    ];
    for header in passing {
        let response = server.request("GET", "/page.html", &[*header]);
        response.assert_status(200);
        assert_eq!(response.text(), BODY, "{header:?}");
    }
    // If-Match decides before If-Unmodified-Since (RFC 9110 §13.2.2 steps 1 and 2).
    let response = server.request(
        "GET",
        "/page.html",
        &[
            ("If-Match", &etag),
            ("If-Unmodified-Since", "Tue, 31 Dec 2019 23:59:59 GMT"),
        ],
    );
    response.assert_status(200);
    // A failed If-Match wins over a matching If-None-Match (step 1 before step 3).
    let response = server.request(
        "GET",
        "/page.html",
        &[("If-Match", "\"other\""), ("If-None-Match", &etag)],
    );
    response.assert_status(412);
}

#[test]
fn an_edit_changes_the_validators() {
    let server = page_server();
    let etag = etag(&server);
    let path = server.root().join("page.html");
    fs::write(&path, "<p>edited, same mtime</p>").unwrap();
    set_mtime(&path, UNIX_EPOCH + Duration::from_secs(MTIME));
    let response = server.request("GET", "/page.html", &[("If-None-Match", &etag)]);
    response.assert_status(200);
    assert_eq!(response.text(), "<p>edited, same mtime</p>");
    assert_ne!(response.header("etag"), Some(etag.as_str()));
}

#[test]
fn hashed_names_are_immutable() {
    let server = TestServer::with(
        |root| {
            for name in [
                "app.3f9c2e1a.js",
                "main-5d41402abc4b2a76.css",
                "app.js",
                "report-20240115.pdf",
            ] {
                fs::write(root.join(name), "x").unwrap();
            }
        },
        |_| {},
    );
    let cases = [
        ("/app.3f9c2e1a.js", "public, max-age=31536000, immutable"),
        (
            "/main-5d41402abc4b2a76.css",
            "public, max-age=31536000, immutable",
        ),
        ("/app.js", "no-cache"),
        ("/report-20240115.pdf", "no-cache"),
    ];
    for (path, want) in cases {
        let response = server.get(path);
        response.assert_status(200);
        assert_eq!(response.header("cache-control"), Some(want), "{path}");
    }
}

#[test]
fn cache_control_flag_overrides_every_file() {
    let server = TestServer::with(
        |root| {
            fs::write(root.join("app.3f9c2e1a.js"), "x").unwrap();
            fs::write(root.join("index.html"), "x").unwrap();
        },
        |config| config.cache_control = Some("public, max-age=600".into()),
    );
    for path in ["/app.3f9c2e1a.js", "/index.html", "/"] {
        let response = server.get(path);
        response.assert_status(200);
        assert_eq!(
            response.header("cache-control"),
            Some("public, max-age=600"),
            "{path}"
        );
    }
    let etag = server
        .get("/index.html")
        .header("etag")
        .unwrap()
        .to_string();
    let response = server.request("GET", "/index.html", &[("If-None-Match", &etag)]);
    response.assert_status(304);
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=600")
    );
}

#[test]
fn errors_carry_no_validators() {
    let server = page_server();
    let response = server.get("/missing.html");
    response.assert_status(404);
    for name in ["etag", "last-modified", "cache-control", "accept-ranges"] {
        assert_eq!(response.header(name), None, "{name} on a 404");
    }
}

/// A file dated before 1970 (or in the future) must not bring the server down: `httpdate`
/// panics on dates it cannot render, so Last-Modified is left out, or clamped to now.
#[test]
fn regression_issue4_out_of_range_mtimes() {
    let server = TestServer::with(
        |root| {
            fs::write(root.join("old.txt"), "old").unwrap();
            set_mtime(
                &root.join("old.txt"),
                UNIX_EPOCH - Duration::from_secs(10 * 365 * 86_400),
            );
            fs::write(root.join("future.txt"), "future").unwrap();
            set_mtime(
                &root.join("future.txt"),
                SystemTime::now() + Duration::from_secs(10 * 365 * 86_400),
            );
        },
        |_| {},
    );
    let response = server.get("/old.txt");
    response.assert_status(200);
    assert_eq!(response.text(), "old");
    assert_eq!(response.header("last-modified"), None);
    assert!(response.header("etag").is_some());
    let response = server.get("/future.txt");
    response.assert_status(200);
    let last_modified = response.header("last-modified").expect("Last-Modified");
    let date = response.header("date").unwrap();
    let parse = |s: &str| httpdate::parse_http_date(s).unwrap();
    assert!(
        parse(last_modified) <= parse(date) + Duration::from_secs(1),
        "Last-Modified {last_modified} is after Date {date}"
    );
}
