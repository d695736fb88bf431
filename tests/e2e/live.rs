//! Live reload: the event stream, the watcher behind it, and the script injected into pages.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use mioserve::config::LiveReload;

use crate::compression::decode;
use crate::util::*;

const TAG: &str = "<script src=\"/__mioserve/live.js\" defer></script>";
const PAGE: &str =
    "<!DOCTYPE html><html><head><title>t</title></head><body><p>hello</p></body></html>\n";

/// A server under `--live-reload` whose streams send a heartbeat after `heartbeat` of quiet.
fn live_server(setup: impl FnOnce(&Path), heartbeat: Duration) -> TestServer {
    live_server_with(setup, heartbeat, LiveReload::default())
}

fn live_server_with(
    setup: impl FnOnce(&Path),
    heartbeat: Duration,
    live: LiveReload,
) -> TestServer {
    TestServer::with(setup, |c| {
        c.live_reload = Some(live);
        c.conn.heartbeat = heartbeat;
    })
}

/// A subscriber: the raw bytes of its event stream, read with bounded waits.
struct Subscriber {
    stream: TcpStream,
    received: Vec<u8>,
}

impl Subscriber {
    #[track_caller]
    fn connect(server: &TestServer) -> Subscriber {
        Subscriber::with_request(server, "GET /__mioserve/live HTTP/1.1\r\nHost: t\r\n\r\n")
    }

    #[track_caller]
    fn with_request(server: &TestServer, request: &str) -> Subscriber {
        let mut stream = TcpStream::connect(server.addr).expect("connect");
        stream.write_all(request.as_bytes()).expect("send");
        let mut subscriber = Subscriber {
            stream,
            received: Vec::new(),
        };
        assert!(
            subscriber.wait_for("retry: 1000", Duration::from_secs(5)),
            "no stream: {}",
            subscriber.text()
        );
        subscriber
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }

    /// Reads until `needle` has arrived once more than it had, or `within` passes.
    fn wait_for(&mut self, needle: &str, within: Duration) -> bool {
        let before = self.count(needle);
        self.read_until(within, |s| s.count(needle) > before)
    }

    /// Reads for `within` (or until the server closes); returns whether it closed.
    fn read_for(&mut self, within: Duration) -> bool {
        self.read_until(within, |_| false)
    }

    fn read_until(&mut self, within: Duration, done: impl Fn(&Subscriber) -> bool) -> bool {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 4096];
        loop {
            if done(self) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return done(self) || within.is_zero(),
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return done(self),
            }
        }
    }
}

/// The stream's head: an event stream, never cached, chunked, never compressed.
#[test]
fn the_event_stream_is_a_chunked_response_that_never_ends_while_idle() {
    let server = live_server(
        |root| write_file(root, "index.html", PAGE),
        Duration::from_millis(200),
    );
    let mut subscriber = Subscriber::with_request(
        &server,
        "GET /__mioserve/live HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip, br\r\n\r\n",
    );
    let head = subscriber.text();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    for field in [
        "Content-Type: text/event-stream\r\n",
        "Cache-Control: no-store\r\n",
        "Transfer-Encoding: chunked\r\n",
    ] {
        assert!(head.contains(field), "{field} in {head}");
    }
    assert!(!head.contains("Content-Encoding"), "{head}");
    // Idle for a second: heartbeats, and the stream stays open.
    assert!(
        !subscriber.read_for(Duration::from_secs(1)),
        "the stream ended"
    );
    let beats = subscriber.count(": heartbeat\n\n");
    assert!(
        (3..=6).contains(&beats),
        "{beats} heartbeats in 1 s at 200 ms"
    );
    assert_eq!(server.stats.snapshot().subscribers(), 1);
}

/// HTTP/1.0 has no chunked encoding: the stream is delimited by the close that never comes.
#[test]
fn an_http10_stream_is_close_delimited() {
    let server = live_server(|_| {}, Duration::from_secs(20));
    let subscriber = Subscriber::with_request(&server, "GET /__mioserve/live HTTP/1.0\r\n\r\n");
    let head = subscriber.text();
    // The server speaks HTTP/1.1 to a 1.0 client (RFC 9110 §2.5), in what 1.0 understands.
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert!(head.contains("\r\n\r\nretry: 1000\n\n"), "{head}");
}

/// A write reaches a subscriber as `reload` within half a second; a stylesheet alone as `css`,
/// a stylesheet with anything else as `reload`.
#[test]
fn a_write_sends_reload_and_a_stylesheet_alone_sends_css() {
    let server = live_server(
        |root| {
            write_file(root, "index.html", PAGE);
            write_file(root, "css/site.css", "p{color:red}");
        },
        Duration::from_secs(20),
    );
    let root = server.root();
    let mut subscriber = Subscriber::connect(&server);
    let wrote = Instant::now();
    write_file(&root, "index.html", "<p>changed</p>");
    assert!(
        subscriber.wait_for("event: reload\n", Duration::from_secs(2)),
        "no reload: {}",
        subscriber.text()
    );
    let took = wrote.elapsed();
    assert!(took < Duration::from_millis(500), "reload after {took:?}");

    write_file(&root, "css/site.css", "p{color:blue}");
    assert!(
        subscriber.wait_for("event: css\n", Duration::from_secs(2)),
        "no css: {}",
        subscriber.text()
    );
    write_file(&root, "css/site.css", "p{color:green}");
    write_file(&root, "app.js", "1");
    assert!(subscriber.wait_for("event: reload\n", Duration::from_secs(2)));
    assert_eq!(subscriber.count("event: css\n"), 1, "{}", subscriber.text());
    assert_eq!(server.stats.snapshot().events(), 3);
}

/// A build that writes 200 files at once causes one reload, not 200.
#[test]
fn a_burst_of_writes_is_one_event() {
    let server = live_server(|_| {}, Duration::from_secs(20));
    let root = server.root();
    let mut subscriber = Subscriber::connect(&server);
    for i in 0..200 {
        write_file(&root, &format!("dist/file{i}.js"), "x");
    }
    assert!(subscriber.wait_for("event: reload\n", Duration::from_secs(3)));
    subscriber.read_for(Duration::from_millis(600));
    assert_eq!(subscriber.count("event: "), 1, "{}", subscriber.text());
}

/// Hidden names, editor temporaries, node_modules and --watch-ignore globs cause nothing; a
/// folder created later is watched.
#[test]
fn ignored_names_send_nothing_and_new_folders_are_watched() {
    let mut live = LiveReload::default();
    live.ignore = vec!["*.log".into(), "build/**".into()];
    let server = live_server_with(
        |root| {
            write_file(root, "index.html", PAGE);
            write_file(root, "node_modules/pkg/index.js", "1");
            write_file(root, "build/out.js", "1");
        },
        Duration::from_secs(20),
        live,
    );
    let root = server.root();
    let mut subscriber = Subscriber::connect(&server);
    for name in [
        ".env",
        ".#index.html",
        "index.html.swp",
        "index.html~",
        "4913",
        "app.js___jb_tmp___",
        "node_modules/pkg/index.js",
        "node_modules/other/new.js",
        "server.log",
        "build/out.js",
        ".git/HEAD",
    ] {
        write_file(&root, name, "changed");
    }
    subscriber.read_for(Duration::from_millis(700));
    assert_eq!(subscriber.count("event: "), 0, "{}", subscriber.text());

    // A new folder: its creation is a change, and what is written in it later too.
    std::fs::create_dir(root.join("posts")).unwrap();
    assert!(subscriber.wait_for("event: reload\n", Duration::from_secs(2)));
    subscriber.read_for(Duration::from_millis(300));
    write_file(&root, "posts/first.html", PAGE);
    assert!(
        subscriber.wait_for("event: reload\n", Duration::from_secs(2)),
        "a file in a new folder: {}",
        subscriber.text()
    );
}

/// Every subscriber gets each change; one that goes away (a reset or a close) is dropped at
/// once and its count goes back down.
#[test]
fn subscribers_that_go_away_are_dropped() {
    let server = live_server(|_| {}, Duration::from_secs(20));
    let mut a = Subscriber::connect(&server);
    let b = Subscriber::connect(&server);
    let c = Subscriber::connect(&server);
    assert_eq!(server.stats.snapshot().subscribers(), 3);
    socket2::SockRef::from(&b.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(b);
    drop(c);
    assert!(
        wait_until(Duration::from_secs(2), || server
            .stats
            .snapshot()
            .subscribers()
            == 1),
        "subscribers: {}",
        server.stats.snapshot().subscribers()
    );
    write_file(&server.root(), "a.txt", "1");
    assert!(a.wait_for("event: reload\n", Duration::from_secs(2)));
}

/// Past the cap a worker takes, a subscriber gets 503 with Retry-After.
#[test]
fn the_subscriber_cap_answers_503() {
    let mut live = LiveReload::default();
    live.max_subscribers = 2;
    let server = live_server_with(|_| {}, Duration::from_secs(20), live);
    let _a = Subscriber::connect(&server);
    let _b = Subscriber::connect(&server);
    let refused = server.get("/__mioserve/live");
    refused
        .assert_status(503)
        .assert_header("retry-after", Some("5"));
}

/// The server's shutdown ends every stream with its last chunk.
#[test]
fn shutdown_ends_the_streams() {
    let dir = TempDir::new();
    let mut config = mioserve::Config::new(dir.path().join("root"), "127.0.0.1:0".parse().unwrap());
    config.live_reload = Some(LiveReload::default());
    let server = mioserve::Server::bind(&config).unwrap();
    let running = server.spawn().unwrap();
    let mut stream = TcpStream::connect(running.local_addr()).unwrap();
    stream
        .write_all(b"GET /__mioserve/live HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut first = Vec::new();
    let mut buf = [0u8; 1024];
    while find(&first, b"retry:").is_none() {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended before it began");
        first.extend_from_slice(&buf[..n]);
    }
    let stopped = std::thread::spawn(move || running.stop());
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("the stream ends");
    assert!(
        rest.ends_with(b"0\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );
    assert!(stopped.join().unwrap().is_ok());
}

/// An HTML page gets the tag before `</body>`, with the right length, its own ETag (which a
/// conditional request honours), compressed after injection, HEAD as GET; not for a fetch.
#[test]
fn pages_get_the_script_with_their_own_length_and_etag() {
    let big_page = format!("<html><body>{}</body></html>", "<p>line</p>\n".repeat(400));
    let server = live_server(
        |root| {
            write_file(root, "index.html", PAGE);
            write_file(root, "big.html", &big_page);
            write_file(root, "app.js", "console.log(1)");
        },
        Duration::from_secs(20),
    );
    let page = server.get("/");
    page.assert_status(200);
    let want = PAGE.replace("</body>", &format!("{TAG}</body>"));
    assert_eq!(page.text(), want);
    assert_eq!(
        page.header("content-length"),
        Some(want.len().to_string().as_str())
    );
    let etag = page.header("etag").unwrap().to_string();
    assert!(etag.ends_with("-lr\""), "{etag}");

    // A fetch (Origin) gets the file as it is, with the file's own ETag.
    let fetched = server.request("GET", "/", &[("Origin", "http://127.0.0.1")]);
    assert_eq!(fetched.text(), PAGE);
    assert_ne!(fetched.header("etag"), Some(etag.as_str()));
    // Each ETag validates its own representation only.
    server
        .request("GET", "/", &[("If-None-Match", &etag)])
        .assert_status(304);
    server
        .request(
            "GET",
            "/",
            &[("If-None-Match", fetched.header("etag").unwrap())],
        )
        .assert_status(200);

    // HEAD says what GET would.
    let head = server.request("HEAD", "/", &[]);
    assert_eq!(
        head.headers_except(&["date"]),
        page.headers_except(&["date"])
    );

    // Compressed after injection, with its own ETag per coding.
    let want_big = big_page.replace("</body>", &format!("{TAG}</body>"));
    for coding in ["gzip", "br"] {
        let coded = server.request("GET", "/big.html", &[("Accept-Encoding", coding)]);
        assert_eq!(coded.header("content-encoding"), Some(coding));
        assert_eq!(
            String::from_utf8(decode(&coded)).unwrap(),
            want_big,
            "{coding}"
        );
        let tag = coded.header("etag").unwrap();
        assert!(tag.contains("-lr-"), "{tag}");
    }
    // A range of an injected page comes from the injected bytes.
    let range = server.request("GET", "/", &[("Range", "bytes=-20")]);
    range.assert_status(206);
    assert_eq!(range.text(), want[want.len() - 20..]);

    // Anything but HTML is left alone.
    let script = server.get("/app.js");
    assert_eq!(script.text(), "console.log(1)");
    assert!(!script.header("etag").unwrap().contains("-lr"));
}

/// Listings and error pages (the built-in one and the root's 404.html) get the tag too; the
/// client scripts are served.
#[test]
fn listings_and_error_pages_get_the_script() {
    let server = live_server(
        |root| write_file(root, "docs/a.txt", "a"),
        Duration::from_secs(20),
    );
    let listing = server.get("/docs/");
    assert!(listing.text().contains(&format!("{TAG}</body>")), "listing");
    let json = server.get("/docs/?format=json");
    assert!(!json.text().contains("script"), "JSON listing");
    let missing = server.get("/nope");
    missing.assert_status(404);
    assert!(
        missing.text().contains(&format!("{TAG}</body>")),
        "built-in 404"
    );
    assert_eq!(
        missing.header("content-length"),
        Some(missing.body.len().to_string().as_str())
    );
    write_file(&server.root(), "404.html", PAGE);
    let custom = server.get("/nope");
    custom.assert_status(404);
    assert_eq!(
        custom.text(),
        PAGE.replace("</body>", &format!("{TAG}</body>"))
    );

    for (path, needle) in [
        ("/__mioserve/live.js", "SharedWorker"),
        ("/__mioserve/live-worker.js", "EventSource"),
    ] {
        let script = server.get(path);
        script
            .assert_status(200)
            .assert_header("content-type", Some("text/javascript; charset=utf-8"));
        assert!(script.text().contains(needle), "{path}");
    }
}

/// Without --live-reload nothing is injected and the reserved paths are 404.
#[test]
fn off_by_default() {
    let server = TestServer::with(|root| write_file(root, "index.html", PAGE), |_| {});
    assert_eq!(server.get("/").text(), PAGE);
    for path in [
        "/__mioserve/live",
        "/__mioserve/live.js",
        "/__mioserve/live-worker.js",
    ] {
        server.get(path).assert_status(404);
    }
    assert!(!server.get("/nope").text().contains("live.js"));
}

/// The binary says at start what it watches and what it ignores; `--explain` says why a page was
/// injected or not; the exit report counts the streams and the events sent.
#[test]
fn the_binary_says_what_it_watches_and_why_it_injects() {
    let mut server = ChildServer::spawn(
        |root| {
            write_file(root, "index.html", PAGE);
            write_file(root, "sub/deeper/a.txt", "a");
            write_file(root, "node_modules/x/y.js", "y");
        },
        &[
            "--live-reload",
            "--watch-ignore",
            "*.log",
            "--explain",
            "--no-stats",
            "--access-log",
            "off",
        ],
    );
    let mut client = server.connect();
    client.response_to_get("/");
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nOrigin: http://t\r\n\r\n");
    client.response();
    let mut subscriber = TcpStream::connect(server.addr).unwrap();
    subscriber
        .write_all(b"GET /__mioserve/live HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    subscriber.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut buf = [0u8; 1024];
    assert!(subscriber.read(&mut buf).unwrap() > 0);
    server.signal(rustix::process::Signal::TERM);
    let (status, stderr) = server.wait(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    // The root, sub and sub/deeper; not node_modules.
    assert!(
        stderr.contains("live reload: watching 3 folders under ")
            && stderr.contains("ignoring names starting with '.', node_modules")
            && stderr.contains(", *.log"),
        "{stderr}"
    );
    assert!(
        stderr.contains("GET / → 200 text/html (index.html, live reload script injected"),
        "{stderr}"
    );
    assert!(
        stderr.contains("live reload script not injected: fetch/XHR (Origin)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("live reload: 1 event streams opened, 0 events sent"),
        "{stderr}"
    );
}

/// A glob the watcher cannot read stops the start with one line naming it.
#[test]
fn a_malformed_watch_ignore_glob_stops_the_start() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mioserve"))
        .args([".", "-p", "0", "--live-reload", "--watch-ignore", "a[b"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--watch-ignore \"a[b\""), "{stderr}");
}
