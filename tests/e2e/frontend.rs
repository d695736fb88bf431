use std::fs;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mioserve::http::auth::Credentials;
use rustix::process::Signal;

use crate::util::*;

fn app(root: &std::path::Path) {
    write_file(root, "index.html", "<!doctype html><title>app</title>");
    write_file(root, "assets/app.js", "console.log('app')");
    write_file(root, "docs/guide.txt", "guide");
}

// ---------------------------------------------------------------------------------------------
// --spa

#[test]
fn spa_answers_client_routes_with_the_root_index() {
    let server = TestServer::with(app, |c| c.spa = true);
    let index = fs::read(server.root().join("index.html")).unwrap();
    for route in [
        "/app/settings",
        "/users/42",
        "/deep/a/b/c",
        "/docs/missing-page",
    ] {
        for method in ["GET", "HEAD"] {
            let response = server.request(method, route, &[]);
            response
                .assert_status(200)
                .assert_header("cache-control", Some("no-cache"))
                .assert_header("content-type", Some("text/html; charset=utf-8"));
            let length = index.len().to_string();
            response.assert_header("content-length", Some(length.as_str()));
            if method == "GET" {
                assert_same_bytes(&response.body, &index, route);
            } else {
                assert!(response.body.is_empty());
            }
        }
    }
    // Real files and folders are served as ever.
    assert_eq!(server.get("/assets/app.js").text(), "console.log('app')");
    assert_eq!(server.get("/docs/guide.txt").text(), "guide");
    server.get("/docs/").assert_status(200);
    server.get("/docs").assert_status(301);
}

#[test]
fn spa_keeps_404_for_missing_assets_and_hidden_names() {
    let server = TestServer::with(
        |root| {
            app(root);
            write_file(root, ".env", "SECRET=1");
        },
        |c| c.spa = true,
    );
    for path in [
        "/assets/missing.js",
        "/logo.png",
        "/a/b/style.css",
        "/x.map",
    ] {
        server.get(path).assert_status(404);
    }
    // A hidden name answers as a missing one would without --spa: never the app's shell in its
    // place, which would confirm nothing and hide a misconfiguration.
    server.get("/.env").assert_status(404);
    // Without --spa, a client route is a 404.
    let plain = TestServer::with(app, |_| {});
    plain.get("/app/settings").assert_status(404);
}

#[test]
fn spa_without_an_index_is_a_404() {
    let server = TestServer::with(|root| write_file(root, "a.txt", "a"), |c| c.spa = true);
    server.get("/app/settings").assert_status(404);
}

// ---------------------------------------------------------------------------------------------
// -H and --cors

#[test]
fn extra_headers_are_on_every_response() {
    let server = TestServer::with(app, |c| {
        c.headers = vec![
            "X-Frame-Options: DENY".into(),
            "Permissions-Policy: camera=()".into(),
        ];
    });
    let not_modified = {
        let etag = server
            .get("/assets/app.js")
            .header("etag")
            .unwrap()
            .to_string();
        server.request("GET", "/assets/app.js", &[("If-None-Match", &etag)])
    };
    for response in [
        server.get("/assets/app.js"),
        server.get("/docs/"),
        server.get("/missing"),
        server.get("/docs"),
        server.request("HEAD", "/", &[]),
        server.request("OPTIONS", "/", &[]),
        server.request("DELETE", "/", &[]),
        not_modified,
        // Refused before the handler: no Host, conflicting lengths (both 400).
        server.request_raw(b"GET / HTTP/1.1\r\n\r\n"),
        server.request_raw(
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ),
    ] {
        response
            .assert_header("x-frame-options", Some("DENY"))
            .assert_header("permissions-policy", Some("camera=()"));
    }
}

#[test]
fn cors_allows_any_origin_and_answers_preflights() {
    let server = TestServer::with(app, |c| c.cors = true);
    // Simple requests: the origin is allowed on every answer.
    for path in ["/assets/app.js", "/missing", "/docs/"] {
        server
            .request("GET", path, &[("Origin", "https://app.example")])
            .assert_header("access-control-allow-origin", Some("*"))
            .assert_header(
                "access-control-expose-headers",
                Some("ETag, Accept-Ranges, Content-Range, Content-Disposition"),
            );
    }
    // A preflight.
    let preflight = server.request(
        "OPTIONS",
        "/assets/app.js",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "GET"),
            (
                "Access-Control-Request-Headers",
                "X-Requested-With, content-type",
            ),
        ],
    );
    preflight
        .assert_status(204)
        .assert_header("access-control-allow-origin", Some("*"))
        .assert_header("access-control-allow-methods", Some("GET, HEAD, OPTIONS"))
        .assert_header(
            "access-control-allow-headers",
            Some("x-requested-with, content-type"),
        )
        .assert_header("access-control-max-age", Some("86400"));
    // A request-header list that is not a list of tokens is not echoed.
    server
        .request(
            "OPTIONS",
            "/",
            &[
                ("Origin", "https://app.example"),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "a b, (c)"),
            ],
        )
        .assert_status(204)
        .assert_header("access-control-allow-headers", None);
    // A plain OPTIONS stays what it was.
    server
        .request("OPTIONS", "/", &[])
        .assert_status(204)
        .assert_header("allow", Some("GET, HEAD, OPTIONS"))
        .assert_header("access-control-allow-methods", None);
    // Without --cors, nothing of it.
    let plain = TestServer::with(app, |_| {});
    plain
        .request(
            "OPTIONS",
            "/",
            &[
                ("Origin", "https://app.example"),
                ("Access-Control-Request-Method", "GET"),
            ],
        )
        .assert_status(204)
        .assert_header("access-control-allow-origin", None)
        .assert_header("access-control-allow-methods", None);
}

#[test]
fn bad_header_flags_are_one_line_startup_errors() {
    for bad in [
        "X-Nocolon",
        "Bad Name: v",
        "X-Empty:",
        "Content-Length: 3",
        "X-Latin: caf\u{e9}",
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_mioserve"))
            .args(["-p", "0", "-H", bad])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!output.status.success(), "{bad:?} accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains("--header") && first.contains(bad),
            "{bad:?}: {stderr}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// --auth

fn basic(pair: &str) -> String {
    format!("Basic {}", STANDARD.encode(pair))
}

#[track_caller]
fn assert_challenge(response: &Response) {
    response.assert_status(401).assert_header(
        "www-authenticate",
        Some("Basic realm=\"mioserve\", charset=\"UTF-8\""),
    );
    assert!(
        !response.text().contains("guide"),
        "content leaked: {}",
        response.text()
    );
}

#[test]
fn auth_guards_every_path() {
    let credentials = Credentials::parse("ann:s3cret").unwrap();
    let server = TestServer::with(app, |c| c.auth = Some(credentials));
    let right = basic("ann:s3cret");
    for path in [
        "/docs/guide.txt",
        "/docs/",
        "/docs/?download=tar",
        "/",
        "/missing",
    ] {
        assert_challenge(&server.request("GET", path, &[]));
        assert_challenge(&server.request("HEAD", path, &[]));
        for wrong in [
            basic("bob:s3cret"),
            basic("ann:wrong"),
            basic("ann:"),
            basic("ann"),
            "Basic".into(),
            "Basic !!!".into(),
            "Bearer abc".into(),
            "Basic YW5uOnMzY3JldA".into(),
            "x".repeat(4000),
        ] {
            assert_challenge(&server.request("GET", path, &[("Authorization", &wrong)]));
        }
    }
    let ok = server.request("GET", "/docs/guide.txt", &[("Authorization", &right)]);
    ok.assert_status(200);
    assert_eq!(ok.text(), "guide");
    server
        .request("GET", "/docs/", &[("Authorization", &right)])
        .assert_status(200);
    server
        .request("GET", "/missing", &[("Authorization", &right)])
        .assert_status(404);
    // Malformed bytes in the field: still a 401 on a connection that stays usable.
    let mut client = server.connect();
    client.send(
        b"GET /docs/guide.txt HTTP/1.1\r\nHost: t\r\nAuthorization: Basic \xff\xfe\x80\r\n\r\n",
    );
    assert_challenge(&client.response());
    client.send(request_bytes("GET", "/docs/guide.txt", &[("Authorization", &right)]).as_bytes());
    assert_eq!(client.response().text(), "guide");
}

#[test]
fn auth_takes_the_hashed_form() {
    // sha256("s3cret")
    let hex = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";
    let credentials = Credentials::parse(&format!("ann:sha256:{hex}")).unwrap();
    let server = TestServer::with(app, |c| c.auth = Some(credentials));
    assert_challenge(&server.request("GET", "/", &[]));
    let ok = server.request(
        "GET",
        "/docs/guide.txt",
        &[("Authorization", &basic("ann:s3cret"))],
    );
    assert_eq!(ok.text(), "guide");
}

#[test]
fn auth_and_cors_preflight_need_no_credentials() {
    // Browsers never send credentials on a preflight: it must pass for the real request to go.
    let credentials = Credentials::parse("ann:s3cret").unwrap();
    let server = TestServer::with(app, |c| {
        c.auth = Some(credentials);
        c.cors = true;
    });
    server
        .request(
            "OPTIONS",
            "/docs/guide.txt",
            &[
                ("Origin", "https://app.example"),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "authorization"),
            ],
        )
        .assert_status(204)
        .assert_header("access-control-allow-headers", Some("authorization"));
    assert_challenge(&server.request("OPTIONS", "/", &[]));
}

#[test]
fn credentials_never_reach_the_access_log_or_explain() {
    let mut server = ChildServer::spawn(app, &["--auth", "ann:s3cret", "--explain", "--no-stats"]);
    let right = basic("ann:s3cret");
    let token = right.trim_start_matches("Basic ").to_string();
    for auth in [right.as_str(), "Basic YW5uOndyb25n", "Basic %%%"] {
        let mut client = server.connect();
        client.send(
            request_bytes(
                "GET",
                "/docs/guide.txt",
                &[("Authorization", auth), ("Connection", "close")],
            )
            .as_bytes(),
        );
        let _ = client.response();
    }
    server.signal(Signal::TERM);
    let (status, stderr) = server.wait(Duration::from_secs(5));
    assert!(status.success());
    let stdout = server.stdout_lines_at_least(3).join("\n");
    assert_eq!(stdout.matches("GET /docs/guide.txt").count(), 3, "{stdout}");
    assert!(stdout.contains("\" 401 "), "{stdout}");
    assert!(stdout.contains("\" 200 "), "{stdout}");
    for secret in ["s3cret", token.as_str(), "YW5uOndyb25n", "%%%"] {
        assert!(
            !stdout.contains(secret),
            "{secret:?} in the access log:\n{stdout}"
        );
        assert!(!stderr.contains(secret), "{secret:?} on stderr:\n{stderr}");
    }
    assert!(
        stderr.contains("GET /docs/guide.txt → 401 (wrong credentials"),
        "{stderr}"
    );
}

#[test]
fn auth_beyond_loopback_warns_at_startup() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mioserve"))
        .args([
            "-p",
            "0",
            "-b",
            "0.0.0.0",
            "--auth",
            "ann:s3cret",
            "--no-stats",
        ])
        .arg(std::env::temp_dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let found = wait_until(IO_TIMEOUT, || {
        while let Ok(line) = rx.try_recv() {
            seen.push(line);
        }
        seen.iter()
            .any(|l| l.contains("Basic auth") && l.contains("clear"))
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "no warning in {seen:#?}");
    assert!(!seen.iter().any(|l| l.contains("s3cret")), "{seen:#?}");
}

#[test]
fn a_library_callers_bad_header_fails_the_bind() {
    let dir = TempDir::new();
    let mut config = mioserve::Config::new(dir.path().join("root"), "127.0.0.1:0".parse().unwrap());
    config.headers = vec!["Bad Name: v".into()];
    let err = mioserve::Server::bind(&config)
        .err()
        .expect("bound with a bad header");
    let text = err.to_string();
    assert!(
        text.starts_with("invalid setting: --header \"Bad Name: v\""),
        "{text}"
    );
}
