use std::fs;
use std::io::Read;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::util::*;

fn site(root: &std::path::Path) {
    fs::write(root.join("a.txt"), "hello\n").unwrap();
    let big: Vec<u8> = (0..(16u32 << 20)).map(|i| (i % 253) as u8).collect();
    fs::write(root.join("big.bin"), big).unwrap();
}

#[test]
fn sigterm_mid_download_lets_it_finish_then_exits_0() {
    let mut server = ChildServer::spawn(site, &["--access-log", "off"]);
    let mut idle = server.connect();
    idle.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    idle.response().assert_status(200);

    let mut client = server.connect();
    client.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut head = [0u8; 1024];
    client.stream.read_exact(&mut head).unwrap();
    server.signal(Signal::TERM);
    // The idle keep-alive connection is closed at once.
    assert!(
        idle.closed_within(Duration::from_secs(2)),
        "idle connection kept"
    );
    // The download completes, byte-exact, and then the connection closes.
    let mut bytes = head.to_vec();
    bytes.extend(client.read_to_close());
    let body_start = find(&bytes, b"\r\n\r\n").unwrap() + 4;
    let expected: Vec<u8> = (0..(16u32 << 20)).map(|i| (i % 253) as u8).collect();
    assert!(
        bytes[body_start..] == expected[..],
        "download not byte-exact"
    );

    let (status, stderr) = server.wait(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
}

#[test]
fn a_second_signal_exits_at_once_with_failure() {
    let mut server = ChildServer::spawn(site, &["--access-log", "off", "--grace-period", "30"]);
    let mut client = server.connect();
    // A download that never progresses keeps the graceful shutdown waiting.
    client.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut head = [0u8; 1024];
    client.stream.read_exact(&mut head).unwrap();
    server.signal(Signal::TERM);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited before in-flight finished"
    );
    let started = Instant::now();
    server.signal(Signal::INT);
    let (status, _) = server.wait(Duration::from_secs(3));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!status.success(), "forced exit must be non-zero: {status}");
}

#[test]
fn access_log_lines_reach_stdout_escaped_and_flushed_at_exit() {
    let mut server = ChildServer::spawn(site, &[]);
    let mut client = server.connect();
    client.send(b"GET /a.txt?q=\x01 HTTP/1.1\r\nHost: t\r\nUser-Agent: agent \"x\"\r\nReferer: http://r/\r\n\r\n");
    // httparse refuses a raw control byte in the target: that request is a 400, logged raw.
    client.response().assert_status(400);
    let mut client = server.connect();
    client.send(
        b"GET /a.txt HTTP/1.1\r\nHost: t\r\nUser-Agent: agent \"x\"\r\nReferer: http://r/\r\n\r\n",
    );
    client.response().assert_status(200);
    client.send(b"HEAD /missing HTTP/1.0\r\n\r\n");
    client.head_response().assert_status(404);
    server.signal(Signal::TERM);
    let (status, _) = server.wait(Duration::from_secs(5));
    assert!(status.success());
    let lines = server.stdout_lines_at_least(3);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let time = r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\]";
    let shape = |line: &str, rest: &str| {
        let prefix = "127.0.0.1 - - [";
        assert!(line.starts_with(prefix), "{line}");
        let close = line.find("] ").unwrap();
        assert_eq!(close, prefix.len() + 26, "time field in {line} ({time})");
        assert_eq!(&line[close + 2..], rest);
    };
    let page_len = mioserve::response::pages::error_page(mioserve::http::Status::BAD_REQUEST).len();
    shape(
        &lines[0],
        &format!("\"GET /a.txt?q=\\x01 HTTP/1.1\" 400 {page_len} \"-\" \"-\""),
    );
    shape(
        &lines[1],
        "\"GET /a.txt HTTP/1.1\" 200 6 \"http://r/\" \"agent \\x22x\\x22\"",
    );
    shape(&lines[2], "\"HEAD /missing HTTP/1.0\" 404 - \"-\" \"-\"");
}

/// A listing's length is known only once it is generated: its line carries the body bytes
/// actually sent, chunked (HTTP/1.1, framing not counted) or close-delimited (HTTP/1.0).
#[test]
fn listings_are_logged_with_the_bytes_sent() {
    let mut server = ChildServer::spawn(
        |root| {
            for i in 0..200 {
                write_file(root, &format!("dir/file-{i:03}.txt"), "x");
            }
        },
        &[],
    );
    let mut client = server.connect();
    let chunked = client.response_to_get("/dir/");
    chunked.assert_header("transfer-encoding", Some("chunked"));
    let mut client = server.connect();
    client.send(b"GET /dir/?format=json HTTP/1.0\r\n\r\n");
    let close_delimited = client.read_to_close();
    // Closing ends the server's linger at once.
    drop(client);
    let json_len = close_delimited.len() - find(&close_delimited, b"\r\n\r\n").expect("a head") - 4;
    let mut client = server.connect();
    client.send(b"HEAD /dir/ HTTP/1.1\r\nHost: t\r\n\r\n");
    client.head_response().assert_status(200);
    server.signal(Signal::TERM);
    let (status, _) = server.wait(Duration::from_secs(5));
    assert!(status.success());
    let lines = server.stdout_lines_at_least(3);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let html = format!("\"GET /dir/ HTTP/1.1\" 200 {} ", chunked.body.len());
    assert!(lines[0].contains(&html), "{} lacks {html}", lines[0]);
    let json = format!("\"GET /dir/?format=json HTTP/1.0\" 200 {json_len} ");
    assert!(lines[1].contains(&json), "{} lacks {json}", lines[1]);
    assert!(
        lines[2].contains("\"HEAD /dir/ HTTP/1.1\" 200 - "),
        "{}",
        lines[2]
    );
}

/// A request with a body is logged and counted once: with its answer once the body was read
/// whole, or, when the body turns out broken, only as the 400 that replaces that answer, under
/// the request line as sent (not the body's first bytes).
#[test]
fn a_broken_request_body_is_logged_and_counted_once_as_its_400() {
    let mut server = ChildServer::spawn(site, &[]);
    let mut client = server.connect();
    client.send(b"POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    client.response().assert_status(405);
    client.send(b"POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    client.response().assert_status(400);
    drop(client);
    server.signal(Signal::TERM);
    let (status, stderr) = server.wait(Duration::from_secs(5));
    assert!(status.success(), "{stderr}");
    let lines = server.stdout_lines_at_least(2);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("\"POST /a.txt HTTP/1.1\" 405 "),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("\"POST /a.txt HTTP/1.1\" 400 "),
        "{}",
        lines[1]
    );
    let report = exit_report(&stderr);
    assert!(
        report.contains("2 requests in ") && report.contains("4xx 2,"),
        "{report}"
    );
}

#[test]
fn quiet_turns_the_access_log_off() {
    let mut server = ChildServer::spawn(site, &["-q"]);
    let mut client = server.connect();
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    client.response().assert_status(200);
    server.signal(Signal::TERM);
    let (status, stderr) = server.wait(Duration::from_secs(5));
    assert!(status.success());
    assert!(stderr.is_empty(), "-q leaves stderr empty: {stderr}");
    assert!(server.stdout_lines.lock().unwrap().is_empty());
}

/// Counts threads in `/proc`. Each worker with its own listener (the kernel spreading
/// connections) and all of them sharing one (as on macOS).
#[cfg(target_os = "linux")]
#[test]
fn workers_share_one_port_and_their_counts_are_summed() {
    for strategy in ["native", "shared-listener"] {
        let program = std::path::Path::new(env!("CARGO_BIN_EXE_mioserve"));
        let mut server = ChildServer::spawn_with(
            program,
            site,
            &["--workers", "2", "--access-log", "off"],
            |command| {
                command.env(mioserve::sys::STRATEGY_VAR, strategy);
            },
        );
        // Two worker threads besides the main one (no stats thread: stderr is not a terminal);
        // they start right after the serving line is printed.
        let tasks = || {
            fs::read_dir(format!("/proc/{}/task", server.child.id()))
                .map(|d| d.count())
                .expect("the child's /proc/PID/task")
        };
        assert!(
            wait_until(Duration::from_secs(2), || tasks() == 3),
            "{strategy}: main thread + 2 workers, got {}",
            tasks()
        );
        for _ in 0..40 {
            let mut client = server.connect();
            client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            assert_eq!(client.response().assert_status(200).text(), "hello\n");
        }
        server.signal(Signal::TERM);
        let (status, stderr) = server.wait(Duration::from_secs(5));
        assert!(status.success(), "{strategy}: {stderr}");
        let report = exit_report(&stderr);
        assert!(
            report.starts_with("mioserve: 40 requests in "),
            "{strategy}: {report}"
        );
        assert!(
            report.ends_with(", 40 connections accepted"),
            "{strategy}: {report}"
        );
        // Each worker says it is shutting down, and which it is.
        for worker in ["worker 0: shutting down", "worker 1: shutting down"] {
            assert_eq!(
                stderr.matches(worker).count(),
                1,
                "{strategy} {worker}: {stderr}"
            );
        }
        let listeners = if strategy == "native" {
            "workers: a SO_REUSEPORT listener each"
        } else {
            "workers: one listener shared by the workers"
        };
        assert!(stderr.contains(listeners), "{strategy}: {stderr}");
    }
}

/// A bad `MIOSERVE_STRATEGY` stops the start with one line, never a run without what it asked.
#[test]
fn an_unknown_strategy_is_refused() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mioserve"))
        .args([".", "-p", "0"])
        .env(mioserve::sys::STRATEGY_VAR, "walk,sideways")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run mioserve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("MIOSERVE_STRATEGY: unknown \"sideways\""),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "it must not start serving");
}

#[test]
fn one_worker_shuts_down_unnumbered() {
    let mut server = ChildServer::spawn(site, &[]);
    server.signal(Signal::TERM);
    let (status, stderr) = server.wait(Duration::from_secs(5));
    assert!(status.success(), "{stderr}");
    assert_eq!(
        stderr
            .matches("] shutting down: finishing 0 connections")
            .count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("worker "), "{stderr}");
}
