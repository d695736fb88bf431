use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use mioserve::{Config, Server};

use crate::util::*;

#[test]
fn binds_port_zero_runs_and_stops() {
    let dir = TempDir::new();
    let root = dir.path().join("root");
    write_file(&root, "a.txt", "hello\n");
    let server = Server::bind(&Config::new(&root, "127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0, "local_addr reports the real port");
    assert_eq!(server.root(), root.canonicalize().unwrap());
    let running = server.spawn().unwrap();
    assert_eq!(running.local_addr(), addr);

    let mut idle = Client::connect(addr);
    assert_eq!(idle.response_to_get("/a.txt").text(), "hello\n");
    running.stop().expect("the loop ends cleanly");
    // Stopping closed the kept-alive connection and the listener.
    assert!(idle.closed_within(Duration::from_secs(2)));
    let refused = TcpStream::connect_timeout(&addr, IO_TIMEOUT);
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused),
        "still accepting after stop: {refused:?}"
    );
}

/// Workers beside the first, each with its own listener or all sharing the first's: every
/// connection is answered, by whichever worker accepts it, and once the workers stop, the port
/// is closed (a shared listener stays open until its last worker lets it go).
#[test]
fn workers_beside_the_first_serve_the_same_port() {
    use mioserve::sys::{Listening, Strategy};
    for listening in [Strategy::native().listening, Listening::Shared] {
        let dir = TempDir::new();
        let root = dir.path().join("root");
        write_file(&root, "a.txt", "hello\n");
        let mut config = Config::new(&root, "127.0.0.1:0".parse().unwrap());
        config.workers = 3;
        config.strategy.listening = listening;
        let first = Server::bind(&config).unwrap();
        let addr = first.local_addr();
        let others: Vec<Server> = (1..3)
            .map(|worker| {
                config.worker = worker;
                Server::bind_beside(&config, &first).unwrap()
            })
            .collect();
        let running: Vec<_> = std::iter::once(first)
            .chain(others)
            .map(|server| server.spawn().unwrap())
            .collect();
        let mut clients: Vec<Client> = (0..30).map(|_| Client::connect(addr)).collect();
        for client in &mut clients {
            assert_eq!(
                client.response_to_get("/a.txt").text(),
                "hello\n",
                "{listening:?}"
            );
        }
        drop(clients);
        for worker in running {
            worker.stop().expect("the loop ends cleanly");
        }
        let refused = TcpStream::connect_timeout(&addr, IO_TIMEOUT);
        assert!(
            refused.is_err(),
            "{listening:?}: still accepting after stop"
        );
    }
}

#[test]
fn many_connections_are_served_by_one_loop() {
    let server = TestServer::with(|root| write_file(root, "a.txt", "hello\n"), |_| {});
    let mut clients: Vec<Client> = (0..64).map(|_| server.connect()).collect();
    for client in &mut clients {
        client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    // Read in reverse order: no client waits on another.
    for client in clients.iter_mut().rev() {
        assert_eq!(client.response().assert_status(200).text(), "hello\n");
    }
}

#[test]
fn a_client_that_vanishes_mid_response_harms_no_one_else() {
    let big = pseudo_random_bytes(8 << 20, 5);
    let server = TestServer::with(
        |root| {
            write_file(root, "a.txt", "hello\n");
            write_file(root, "big.bin", &big);
        },
        |_| {},
    );
    let mut bystander = server.connect();
    for _ in 0..5 {
        // Ask for 8 MiB, then close without reading: the server's writes fail with a reset.
        let mut rude = TcpStream::connect(server.addr).unwrap();
        rude.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        drop(rude);
        // One that closes its sending side half-way through a head.
        let mut half = TcpStream::connect(server.addr).unwrap();
        half.write_all(b"GET /a.txt HTTP/1.1\r\nHo").unwrap();
        half.shutdown(Shutdown::Write).unwrap();
        assert_eq!(bystander.response_to_get("/a.txt").text(), "hello\n");
    }
    let response = server.get("/big.bin");
    assert_same_bytes(&response.body, &big, "big.bin");
}

#[test]
fn error_response_survives_unread_request_bytes() {
    // The server refuses the head at once, but the client has already sent a large body after it:
    // closing with those bytes unread would reset the connection and could destroy the response,
    // so the server must shut its side and drain first (RFC 9112 §9.6).
    let server = TestServer::with(
        |root| write_file(root, "a.txt", "hello\n"),
        |config| config.conn.limits.max_body_bytes = 1000,
    );
    let body = pseudo_random_bytes(500_000, 1);
    for head in [
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 500000\r\n\r\n",
        "POST /a.txt HTTP/1.1\r\nHost : t\r\nContent-Length: 500000\r\n\r\n",
    ] {
        let mut client = server.connect();
        let mut request = head.as_bytes().to_vec();
        request.extend_from_slice(&body);
        client.send(&request);
        let response = client.response();
        assert!(matches!(response.status, 413 | 400), "{}", response.head);
        response.assert_header("connection", Some("close"));
        assert_eq!(
            response.body.len().to_string(),
            response.header("content-length").unwrap()
        );
        client.assert_closed();
    }
}

#[test]
fn closing_response_survives_bytes_sent_after_its_request() {
    // RFC 9112 §9.6: a server that closes half-closes and drains first, so bytes the client sends
    // after its request (the next request of a pipeline the server will not answer) cannot
    // reset the connection and destroy the response still in flight.
    let big = pseudo_random_bytes(5 << 20, 3);
    let cases = [
        // (keep-alive enabled on the server, request)
        (
            true,
            "GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        ),
        (true, "GET /big.bin HTTP/1.0\r\n\r\n"),
        (false, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"),
    ];
    for (keep_alive, request) in cases {
        let server = TestServer::with(
            |root| write_file(root, "big.bin", &big),
            |config| config.conn.keep_alive = keep_alive,
        );
        let mut client = server.connect();
        client.send(request.as_bytes());
        let mut received = vec![0u8; 64 * 1024];
        let n = client
            .stream
            .read(&mut received)
            .expect("start of the response");
        received.truncate(n);
        client.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        received.extend(client.read_to_close());
        let head_end = find(&received, b"\r\n\r\n").expect("a response head") + 4;
        assert!(
            String::from_utf8_lossy(&received[..head_end]).contains("\r\nConnection: close\r\n")
        );
        assert_same_bytes(&received[head_end..], &big, request);
    }
}

#[test]
fn slow_heads_get_408_and_idle_connections_close_silently() {
    let server = TestServer::with(
        |root| write_file(root, "a.txt", "hello\n"),
        |config| {
            config.conn.header_timeout = Duration::from_millis(300);
            config.conn.keepalive_timeout = Duration::from_millis(300);
        },
    );
    // A started head that never ends: 408, then close.
    let mut client = server.connect();
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n");
    client
        .response()
        .assert_status(408)
        .assert_header("connection", Some("close"))
        .assert_error_page();
    client.assert_closed();
    // The same for HEAD: the 408 has no body.
    let mut client = server.connect();
    client.send(b"HEAD /a.txt HTTP/1.1\r\nHost: t\r\n");
    client
        .head_response()
        .assert_status(408)
        .assert_header("connection", Some("close"));
    client.assert_closed();
    // A connection that never sends a byte: closed without a word.
    let mut client = server.connect();
    client.assert_closed();
    // An idle kept-alive connection: closed without a word after its keep-alive timeout.
    let mut client = server.connect();
    assert_eq!(client.response_to_get("/a.txt").text(), "hello\n");
    client.assert_closed();
}
