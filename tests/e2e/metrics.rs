use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;

use crate::exposition::{self, Exposition};
use crate::util::*;

/// A root for the request mix: a small file, a script with a gzip sidecar, a style sheet
/// without one, and a file named like the reserved metrics path (never served).
fn mix_site(root: &std::path::Path) {
    write_file(root, "a.txt", "hello\n");
    let script = "function f(a) { return a + 1; }\n".repeat(64);
    write_file(root, "app.js", &script);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, script.as_bytes()).unwrap();
    write_file(root, "app.js.gz", gz.finish().unwrap());
    write_file(
        root,
        "style.css",
        "body { margin: 0; padding: 0 }\n".repeat(64),
    );
    write_file(
        root,
        "__mioserve/metrics",
        "a file of the root, not the page",
    );
}

/// Sends `request` on a new connection and reads until the server closes it; the bytes read.
fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut client = Client::connect(addr);
    client.send(request);
    client.read_to_close()
}

/// A request that asks for the connection to close after it.
fn closing(method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut with_close = headers.to_vec();
    with_close.push(("Connection", "close"));
    request_bytes(method, path, &with_close).into_bytes()
}

/// The status code of a raw response.
fn status_of(raw: &[u8]) -> u16 {
    String::from_utf8_lossy(&raw[9..12]).parse().unwrap()
}

/// A scrape: the metrics page's raw response (on its own connection, closed after it) and the
/// page parsed by the strict reader.
fn scrape(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> (Vec<u8>, Exposition) {
    let raw = exchange(addr, &closing("GET", "/__mioserve/metrics", headers));
    assert_eq!(status_of(&raw), 200, "{}", String::from_utf8_lossy(&raw));
    let split = find(&raw, b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    assert!(
        head.contains("content-type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{head}"
    );
    assert!(head.contains("cache-control: no-store\r\n"), "{head}");
    let page = std::str::from_utf8(&raw[split..]).expect("UTF-8");
    let parsed = exposition::parse(page).unwrap_or_else(|e| panic!("{e}\n{page}"));
    (raw, parsed)
}

/// The counts a request mix should leave, series by series.
#[derive(Default)]
struct Expected {
    requests: BTreeMap<(&'static str, &'static str), u64>,
    closed: BTreeMap<&'static str, u64>,
    bytes: u64,
    connections: u64,
    written: u64,
}

impl Expected {
    /// One request of `method` answered with a status of `class`, on its own connection that
    /// ended for `reason`, which brought back `raw`.
    fn add(&mut self, method: &'static str, class: &'static str, reason: &'static str, raw: &[u8]) {
        *self.requests.entry((method, class)).or_default() += 1;
        *self.closed.entry(reason).or_default() += 1;
        self.bytes += raw.len() as u64;
        self.connections += 1;
        self.written += 1;
    }
}

#[test]
fn the_metrics_of_two_workers_match_a_known_request_mix_and_the_exit_report() {
    let mut server = ChildServer::spawn(
        mix_site,
        &["-w", "2", "--metrics", "--health", "--compress-cache", "0"],
    );
    let addr = server.addr;
    let mut expected = Expected::default();
    let mut send = |method, class, reason, request: &[u8], want: u16| {
        let raw = exchange(addr, request);
        assert_eq!(status_of(&raw), want, "{}", String::from_utf8_lossy(&raw));
        expected.add(method, class, reason, &raw);
        raw
    };
    // The mix: 26 connections, which the kernel spreads over both workers (all of them on one is
    // a chance of 2 in 2^26).
    let first = send(
        "GET",
        "2xx",
        "connection-close",
        &closing("GET", "/a.txt", &[]),
        200,
    );
    let text = String::from_utf8_lossy(&first).into_owned();
    let etag = text
        .lines()
        .find_map(|l| l.strip_prefix("ETag: "))
        .expect("an ETag")
        .to_string();
    for _ in 0..4 {
        send(
            "GET",
            "2xx",
            "connection-close",
            &closing("GET", "/a.txt", &[]),
            200,
        );
    }
    for _ in 0..3 {
        send(
            "HEAD",
            "2xx",
            "connection-close",
            &closing("HEAD", "/a.txt", &[]),
            200,
        );
    }
    for path in [
        "/missing",
        "/nope/",
        "/__mioserve/other",
        "/__mioserve/metricsx",
    ] {
        send(
            "GET",
            "4xx",
            "connection-close",
            &closing("GET", path, &[]),
            404,
        );
    }
    for _ in 0..2 {
        let request = closing("GET", "/a.txt", &[("If-None-Match", &etag)]);
        send("GET", "3xx", "connection-close", &request, 304);
    }
    for _ in 0..2 {
        let request = closing("POST", "/a.txt", &[("Content-Length", "0")]);
        send("POST", "4xx", "connection-close", &request, 405);
    }
    send(
        "OPTIONS",
        "2xx",
        "connection-close",
        &closing("OPTIONS", "/", &[]),
        204,
    );
    send(
        "other",
        "5xx",
        "connection-close",
        &closing("BREW", "/", &[]),
        501,
    );
    for _ in 0..2 {
        let request = closing("GET", "/app.js", &[("Accept-Encoding", "gzip")]);
        send("GET", "2xx", "connection-close", &request, 200);
        let request = closing("GET", "/style.css", &[("Accept-Encoding", "gzip")]);
        send("GET", "2xx", "connection-close", &request, 200);
        let request = closing("GET", "/__mioserve/health", &[]);
        send("GET", "2xx", "connection-close", &request, 200);
    }
    // Refused: a duplicate Host (its method read from the line), and a TLS handshake.
    let duplicate_host = b"GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    send("GET", "4xx", "rejected", duplicate_host, 400);
    send("other", "4xx", "tls-handshake", &client_hello(), 400);
    assert_eq!(expected.connections, 26);

    // Scrape until the last connections' ends are counted (the server sees a client's close a
    // moment after the client), then every figure must be exact.
    let mut scrapes: Vec<u64> = Vec::new();
    let mut page = None;
    let settled = wait_until(Duration::from_secs(5), || {
        let (raw, parsed) = scrape(addr, &[]);
        let closed: f64 = parsed
            .family("mioserve_connections_closed_total")
            .samples
            .iter()
            .map(|s| s.value)
            .sum();
        let done = closed as u64 == expected.connections + scrapes.len() as u64;
        scrapes.push(raw.len() as u64);
        page = Some(parsed);
        done
    });
    assert!(settled, "connection ends never all counted");
    let page = page.unwrap();
    let earlier = scrapes.len() as u64 - 1;
    let earlier_bytes: u64 = scrapes[..scrapes.len() - 1].iter().sum();

    assert_eq!(page.value("mioserve_workers", &[]), 2.0);
    for family in &page.families {
        if family.name != "mioserve_requests_total" {
            continue;
        }
        for sample in &family.samples {
            let key = (
                sample.labels["method"].as_str(),
                sample.labels["class"].as_str(),
            );
            let mut want = expected
                .requests
                .iter()
                .find(|(k, _)| **k == key)
                .map_or(0, |(_, n)| *n);
            if key == ("GET", "2xx") {
                want += earlier;
            }
            assert_eq!(sample.value, want as f64, "requests {key:?}");
        }
        assert_eq!(
            family.samples.len(),
            50,
            "every method and class, zeros too"
        );
    }
    assert_eq!(
        page.value("mioserve_sent_bytes_total", &[]),
        (expected.bytes + earlier_bytes) as f64
    );
    assert_eq!(
        page.value("mioserve_connections_accepted_total", &[]),
        (expected.connections + earlier + 1) as f64
    );
    assert_eq!(page.value("mioserve_connections_open", &[]), 1.0);
    for sample in &page.family("mioserve_connections_closed_total").samples {
        let reason = sample.labels["reason"].as_str();
        let mut want = expected.closed.get(reason).copied().unwrap_or(0);
        if reason == "connection-close" {
            want += earlier;
        }
        assert_eq!(sample.value, want as f64, "closed for {reason}");
    }
    for sample in &page.family("mioserve_connections_refused_total").samples {
        let want = if sample.labels["status"] == "400" {
            1.0
        } else {
            0.0
        };
        assert_eq!(sample.value, want, "{sample:?}");
    }
    assert_eq!(page.value("mioserve_accept_pauses_total", &[]), 0.0);
    for sample in &page.family("mioserve_compressed_responses_total").samples {
        let key = (
            sample.labels["coding"].as_str(),
            sample.labels["source"].as_str(),
        );
        let want = match key {
            ("gzip", "sidecar") | ("gzip", "on-the-fly") => 2.0,
            _ => 0.0,
        };
        assert_eq!(sample.value, want, "compressed {key:?}");
    }
    let written = (expected.written + earlier) as f64;
    assert_eq!(page.value("mioserve_service_seconds_count", &[]), written);
    assert_eq!(
        page.value("mioserve_service_seconds_bucket", &[("le", "+Inf")]),
        written
    );
    let sum = page.value("mioserve_service_seconds_sum", &[]);
    assert!(sum >= 0.0 && sum < 5.0 * written, "{sum}");

    // The exit report counts the same, plus the last scrape, which its own page could not.
    let last = *scrapes.last().unwrap();
    let requests: f64 = page
        .family("mioserve_requests_total")
        .samples
        .iter()
        .map(|s| s.value)
        .sum();
    server.signal(rustix::process::Signal::TERM);
    let (status, stderr) = server.wait(IO_TIMEOUT);
    assert!(status.success(), "{stderr}");
    let report = exit_report(&stderr);
    let want = format!("mioserve: {} requests in ", requests as u64 + 1);
    assert!(report.starts_with(&want), "{report} (wanted {want})");
    let bytes = page.value("mioserve_sent_bytes_total", &[]) as u64 + last;
    let accepted = page.value("mioserve_connections_accepted_total", &[]) as u64;
    let tail = format!(", {bytes} bytes out, {accepted} connections accepted");
    assert!(report.ends_with(&tail), "{report} (wanted {tail})");
    let closes = page.value(
        "mioserve_connections_closed_total",
        &[("reason", "connection-close")],
    ) as u64
        + 1;
    assert!(
        stderr.contains(&format!("Connection: close {closes},")),
        "{stderr}"
    );
    // Health probes are not in the access log, everything else is.
    let log = server.stdout_lines_at_least(28);
    assert!(
        log.iter().all(|l| !l.contains("/__mioserve/health")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("\"GET /__mioserve/metrics HTTP/1.1\" 200"))
    );
}

#[test]
fn a_cached_variant_is_counted_as_such() {
    let server = TestServer::with(mix_site, |config| config.metrics = true);
    for _ in 0..3 {
        let response = server.request("GET", "/style.css", &[("Accept-Encoding", "gzip")]);
        response.assert_header("content-encoding", Some("gzip"));
    }
    server.request("HEAD", "/app.js", &[("Accept-Encoding", "gzip")]);
    let (_, page) = scrape(server.addr, &[]);
    let coded = |source| {
        page.value(
            "mioserve_compressed_responses_total",
            &[("coding", "gzip"), ("source", source)],
        )
    };
    assert_eq!(coded("on-the-fly"), 1.0);
    assert_eq!(coded("cached-variant"), 2.0);
    assert_eq!(coded("sidecar"), 1.0);
    assert_eq!(
        page.value(
            "mioserve_requests_total",
            &[("method", "HEAD"), ("class", "2xx")]
        ),
        1.0
    );
    assert_eq!(page.value("mioserve_workers", &[]), 1.0);
}

#[test]
fn reserved_pages_are_404_when_their_flag_is_off() {
    let server = TestServer::with(mix_site, |_| {});
    for path in [
        "/__mioserve/metrics",
        "/__mioserve/health",
        "/%5F_mioserve/metrics",
    ] {
        let response = server.get(path);
        response.assert_status(404).assert_error_page();
    }
}

#[test]
fn auth_guards_the_metrics_and_lets_the_health_probe_through() {
    let basic = |pair: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let mut server =
        ChildServer::spawn(mix_site, &["--metrics", "--health", "--auth", "ann:s3cret"]);
    let addr = server.addr;
    let status = |request: Vec<u8>| status_of(&exchange(addr, &request));
    assert_eq!(status(closing("GET", "/__mioserve/metrics", &[])), 401);
    assert_eq!(status(closing("GET", "/a.txt", &[])), 401);
    let (_, page) = scrape(addr, &[("Authorization", &basic("ann:s3cret"))]);
    assert_eq!(
        page.value(
            "mioserve_requests_total",
            &[("method", "GET"), ("class", "4xx")]
        ),
        2.0
    );
    let health = exchange(addr, &closing("GET", "/__mioserve/health?probe=1", &[]));
    let text = String::from_utf8_lossy(&health);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nCache-Control: no-store\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nok\n"), "{text}");
    let head =
        String::from_utf8_lossy(&exchange(addr, &closing("HEAD", "/__mioserve/health", &[])))
            .into_owned();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Length: 3\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    // Only the probe's own spelling is let through without credentials.
    assert_eq!(status(closing("GET", "/%5F_mioserve/health", &[])), 401);
    server.signal(rustix::process::Signal::TERM);
    let (status, stderr) = server.wait(IO_TIMEOUT);
    assert!(status.success(), "{stderr}");
    let log = server.stdout_lines_at_least(4);
    assert_eq!(
        log.len(),
        4,
        "the two health probes are not logged: {log:?}"
    );
    assert!(
        log.iter().all(|l| !l.contains("/__mioserve/health\"")),
        "{log:?}"
    );
}

#[test]
fn log_health_puts_the_probes_in_the_access_log() {
    let mut server = ChildServer::spawn(mix_site, &["--health", "--log-health"]);
    let raw = exchange(server.addr, &closing("GET", "/__mioserve/health", &[]));
    assert_eq!(status_of(&raw), 200);
    server.signal(rustix::process::Signal::TERM);
    let (status, stderr) = server.wait(IO_TIMEOUT);
    assert!(status.success(), "{stderr}");
    let log = server.stdout_lines_at_least(1);
    assert!(
        log.iter()
            .any(|l| l.contains("\"GET /__mioserve/health HTTP/1.1\" 200 3")),
        "{log:?}"
    );
}

#[test]
fn tls_handshakes_and_plain_http_on_the_https_port_are_counted() {
    let server = TestServer::speaking(Scheme::Https, mix_site, |c| c.metrics = true);
    for _ in 0..3 {
        server.get("/a.txt").assert_status(200);
    }
    // Plain HTTP to the HTTPS port: answered with a 308, counted apart.
    let mut plain = std::net::TcpStream::connect(server.addr).unwrap();
    plain.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    std::io::Write::write_all(&mut plain, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut plain, &mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 308"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // Handshakes are counted as their connections end, a moment after the client's.
    let mut page = None;
    let counted = wait_until(Duration::from_secs(5), || {
        let (_, parsed) = scrape(server.addr, &[]);
        let done = parsed.value("mioserve_tls_plain_http_total", &[]) == 1.0
            && parsed.value("mioserve_tls_handshakes_completed_total", &[]) >= 3.0;
        page = Some(parsed);
        done
    });
    let page = page.unwrap();
    assert!(
        counted,
        "{:?}",
        page.family("mioserve_tls_handshakes_completed_total")
    );
    let failed: f64 = page
        .family("mioserve_tls_handshakes_failed_total")
        .samples
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!(failed, 0.0);
    assert_eq!(
        page.family("mioserve_tls_handshakes_failed_total")
            .samples
            .len(),
        7
    );
}
