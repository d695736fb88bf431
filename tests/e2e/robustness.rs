use std::fs;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use crate::util::*;

fn small_site(root: &std::path::Path) {
    fs::write(root.join("a.txt"), "hello\n").unwrap();
}

/// A sparse file of `len` bytes (zeros, no disk used).
fn sparse(root: &std::path::Path, name: &str, len: u64) {
    fs::File::create(root.join(name))
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn short_timeouts(config: &mut mioserve::Config) {
    config.conn.header_timeout = Duration::from_secs(1);
    config.conn.keepalive_timeout = Duration::from_secs(1);
    config.conn.send_timeout = Duration::from_secs(1);
    config.conn.body_timeout = Duration::from_secs(1);
}

#[test]
fn slowloris_gets_408_at_the_header_deadline_while_others_are_served() {
    let _alone = run_alone();
    let server = TestServer::with(small_site, short_timeouts);
    let mut slow = server.connect();
    let started = Instant::now();
    slow.send(b"GET /a.txt HTTP/1.1\r\nHo");
    let mut trickle = slow.stream.try_clone().unwrap();
    let trickler = std::thread::spawn(move || {
        // One byte every 100 ms for 3 s: trickled bytes must not extend the deadline.
        for _ in 0..30 {
            std::thread::sleep(Duration::from_millis(100));
            if trickle.write_all(b"x").is_err() {
                return;
            }
        }
    });
    // Meanwhile another client is served at once.
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    server.get("/a.txt").assert_status(200);
    assert!(
        asked.elapsed() < Duration::from_millis(200),
        "other client waited"
    );

    let response = slow.response();
    response.assert_status(408);
    assert_eq!(response.header("connection"), Some("close"));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(2500),
        "408 after {waited:?}"
    );
    trickler.join().unwrap();
}

#[test]
fn idle_keepalive_and_silent_connections_close_without_a_word() {
    let server = TestServer::with(small_site, short_timeouts);
    let mut kept = server.connect();
    kept.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    kept.response().assert_status(200);
    let mut silent = server.connect();
    assert!(
        kept.closed_within(Duration::from_secs(3)),
        "idle keep-alive"
    );
    assert!(
        silent.closed_within(Duration::from_secs(3)),
        "never sent a byte"
    );
}

#[test]
fn keepalive_timeout_zero_disables_keep_alive() {
    let server = TestServer::with(small_site, |c| c.conn.keep_alive = false);
    let mut client = server.connect();
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let response = client.response();
    assert_eq!(response.header("connection"), Some("close"));
    assert!(client.closed_within(Duration::from_secs(2)));
}

#[test]
fn a_thousand_concurrent_connections_are_all_served() {
    mioserve::sys::raise_nofile_limit();
    let server = TestServer::with(small_site, |_| {});
    let mut clients: Vec<Client> = (0..1000).map(|_| server.connect()).collect();
    for client in &mut clients {
        client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    for client in &mut clients {
        assert_eq!(client.response().assert_status(200).text(), "hello\n");
    }
}

#[test]
fn limits_are_answered_on_the_wire_then_closed() {
    let server = TestServer::with(small_site, |_| {});
    let big_header = format!(
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let many_fields: String = std::iter::once("GET /a.txt HTTP/1.1\r\nHost: t\r\n".to_string())
        .chain((0..101).map(|i| format!("X-{i}: v\r\n")))
        .chain(std::iter::once("\r\n".to_string()))
        .collect();
    let body_too_large =
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n".to_string();
    for (request, status) in [
        (big_header, 431),
        (long_uri, 414),
        (many_fields, 431),
        (body_too_large, 413),
    ] {
        let mut client = server.connect();
        client.send(request.as_bytes());
        let response = client.response();
        response.assert_status(status);
        assert_eq!(response.header("connection"), Some("close"), "{status}");
        assert!(client.closed_within(Duration::from_secs(3)), "{status}");
    }
}

#[test]
fn bodies_within_the_limit_are_discarded_and_the_connection_stays_usable() {
    let server = TestServer::with(small_site, |_| {});
    let mut client = server.connect();
    let body = vec![b'G'; 100 * 1024];
    client.send(
        format!(
            "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    client.send(&body);
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    client.response().assert_status(405);
    assert_eq!(client.response().assert_status(200).text(), "hello\n");

    // A chunked body with extensions and a trailer, then a pipelined GET in the same write.
    client.send(
        b"PUT /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          4;ext=1\r\nGET \r\n6\r\n/ HTTP\r\n0\r\nTrailer: x\r\n\r\n\
          GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    client.response().assert_status(405);
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
}

#[test]
fn chunked_body_framing_errors_are_400_and_close() {
    let server = TestServer::with(small_site, |_| {});
    for body in [
        &b"11111111111111111\r\n"[..], // 17 hex digits
        b"zz\r\n",
        b"3\r\nabcX",
    ] {
        let mut client = server.connect();
        client.send(b"POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
        client.send(body);
        let response = client.response();
        response.assert_status(400);
        assert_eq!(response.header("connection"), Some("close"));
        assert!(client.closed_within(Duration::from_secs(3)));
    }
}

#[test]
fn expect_100_continue_on_a_refused_request_gets_the_final_status_at_once() {
    let server = TestServer::with(small_site, |_| {});
    let mut client = server.connect();
    client.send(
        b"POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n",
    );
    let response = client.response();
    response.assert_status(405);
    assert!(!response.head.contains("100 Continue"));
    assert_eq!(response.header("connection"), Some("close"));
    assert!(client.closed_within(Duration::from_secs(3)));
}

#[test]
fn connection_cap_makes_new_clients_wait_until_one_closes() {
    let server = TestServer::with(small_site, |c| c.max_connections = 2);
    let mut a = server.connect();
    let mut b = server.connect();
    for client in [&mut a, &mut b] {
        client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        client.response().assert_status(200);
    }
    let mut c = server.connect();
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    c.stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(c.stream.read(&mut byte).is_err(), "served beyond the cap");
    c.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    drop(a);
    assert_eq!(c.response().assert_status(200).text(), "hello\n");
    b.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    b.response().assert_status(200);
}

/// At the connection cap every close lets one client in and the next arrival reaches the cap
/// again: clients decide how often that happens, so it is said once, not once a pause.
#[test]
fn reaching_the_connection_cap_is_said_once_not_per_pause() {
    let mut server = ChildServer::spawn(small_site, &["--max-connections", "1", "--no-stats"]);
    let request = b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut first = server.connect();
    first.send(request);
    first.response().assert_status(200);
    for _ in 0..3 {
        // The next client waits at the cap until the one before it closes.
        let mut next = server.connect();
        next.send(request);
        std::thread::sleep(Duration::from_millis(200));
        drop(first);
        next.response().assert_status(200);
        first = next;
    }
    drop(first);
    server.signal(rustix::process::Signal::TERM);
    let (status, stderr) = server.wait(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("connection limit (1) reached").count(),
        1,
        "{stderr}"
    );
    let paused: u32 = stderr
        .split("accept paused ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pause count in {stderr}"));
    assert!(paused >= 2, "the cap was reached once only: {stderr}");
}

/// Waits for the child's descriptor count to settle back to `baseline`.
#[cfg(target_os = "linux")]
#[track_caller]
fn assert_fds_back(server: &ChildServer, baseline: usize, what: &str) {
    let back = wait_until(Duration::from_secs(5), || server.fd_count() == baseline);
    assert!(
        back,
        "{what}: {} fds open, baseline {baseline}",
        server.fd_count()
    );
}

/// Counts descriptors in `/proc`.
#[cfg(target_os = "linux")]
#[test]
fn faults_end_only_their_connection_and_leak_no_descriptor() {
    let server = ChildServer::spawn(
        |root| {
            small_site(root);
            sparse(root, "big.bin", 64 << 20);
        },
        &["--access-log", "off", "--send-timeout", "1"],
    );
    let baseline = server.fd_count();
    let get_big = b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut bystander = server.connect();

    // A reset in the middle of a response.
    let mut client = server.connect();
    client.send(get_big);
    let mut some = [0u8; 65536];
    client.stream.read_exact(&mut some).unwrap();
    client.reset();
    assert_fds_back(&server, baseline + 1, "reset mid-response");

    // A client that half-closes after its request still gets the whole response.
    let mut client = server.connect();
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    client.stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
    assert!(client.closed_within(Duration::from_secs(2)));
    drop(client);
    assert_fds_back(&server, baseline + 1, "half-close");

    // A client that goes away during sendfile with unread bytes.
    let mut client = server.connect();
    client.send(get_big);
    client.stream.read_exact(&mut some).unwrap();
    drop(client);
    assert_fds_back(&server, baseline + 1, "gone during sendfile");

    // A client that never reads is dropped at the send deadline (its socket and the open file).
    let mut client = server.connect();
    client.send(get_big);
    let sending = wait_until(Duration::from_secs(2), || server.fd_count() == baseline + 3);
    assert!(sending, "never reads: the download did not start");
    let dropped_at = Instant::now();
    assert_fds_back(&server, baseline + 1, "never reads (dropped)");
    let waited = dropped_at.elapsed();
    assert!(
        waited > Duration::from_millis(500),
        "dropped too early: {waited:?}"
    );
    drop(client);

    // Through all of it, the bystander's connection kept working.
    bystander.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(bystander.response().assert_status(200).text(), "hello\n");
    drop(bystander);
    assert_fds_back(&server, baseline, "all closed");
}

#[test]
fn a_file_truncated_while_sent_ends_the_connection_short_of_its_length() {
    for sendfile in [true, false] {
        let server = TestServer::with(
            |root| fs::write(root.join("t.bin"), vec![7u8; 16 << 20]).unwrap(),
            |c| c.conn.sendfile = sendfile,
        );
        let mut client = server.connect();
        client.send(b"GET /t.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut first = [0u8; 4096];
        client.stream.read_exact(&mut first).unwrap();
        fs::OpenOptions::new()
            .write(true)
            .open(server.root().join("t.bin"))
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        let rest = client.read_to_close();
        let total = first.len() + rest.len();
        assert!(
            total < (16 << 20),
            "sendfile={sendfile}: got {total} bytes, the full announced length"
        );
    }
}

#[test]
fn earlier_pipelined_responses_do_not_wait_for_a_later_requests_body() {
    let server = TestServer::with(small_site, |_| {});
    let mut client = server.connect();
    // A GET, then a POST whose body the client holds back until it has the GET's answer.
    client.send(
        b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\nPOST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n",
    );
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert_eq!(client.response().assert_status(200).text(), "hello\n");
    client.send(b"hello");
    client.response().assert_status(405);
}

#[test]
fn a_head_request_whose_chunked_body_is_broken_gets_400_without_content() {
    let server = TestServer::with(small_site, |_| {});
    let mut client = server.connect();
    client.send(b"HEAD /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    let response = client.head_response();
    response.assert_status(400);
    assert_eq!(response.header("connection"), Some("close"));
    // No page follows the head: the next thing on the wire is the close.
    assert!(client.closed_within(Duration::from_secs(3)));
}
