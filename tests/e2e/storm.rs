//! A bounded storm (about 15 s): keep-alive clients fetch files and check every byte while
//! slowloris clients, never-readers, clients resetting mid-body, garbage senders and idle
//! connections run at the same time.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::util::*;

/// The files the good clients fetch: (name, contents), from an inlined size to a sendfile one.
fn files() -> Vec<(String, Vec<u8>)> {
    [1_000usize, 16_384, 70_000, 300_000, 1 << 20]
        .iter()
        .enumerate()
        .map(|(i, &len)| (format!("f{i}.bin"), pseudo_random_bytes(len, i as u64 + 1)))
        .collect()
}

/// Good keep-alive clients fetching every file in turn and checking each body, until `stop`.
fn good_clients(
    addr: SocketAddr,
    files: &Arc<Vec<(String, Vec<u8>)>>,
    stop: &Arc<AtomicBool>,
    done: &Arc<AtomicU64>,
) -> Vec<JoinHandle<()>> {
    (0..3)
        .map(|c| {
            let (files, stop, done) = (Arc::clone(files), Arc::clone(stop), Arc::clone(done));
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    let (name, want) = &files[i % files.len()];
                    let response = client.response_to_get(&format!("/{name}"));
                    response.assert_status(200);
                    assert_same_bytes(&response.body, want, name);
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect()
}

/// Runs `attack` in a loop on `n` threads until `stop`; each turn is bounded by the socket
/// timeouts and its own pauses.
fn attackers(
    n: usize,
    stop: &Arc<AtomicBool>,
    attack: impl Fn(&AtomicBool, u64) + Send + Sync + 'static,
) -> Vec<JoinHandle<()>> {
    let attack = Arc::new(attack);
    (0..n)
        .map(|t| {
            let (stop, attack) = (Arc::clone(stop), Arc::clone(&attack));
            std::thread::spawn(move || {
                let mut round = t as u64 * 1000;
                while !stop.load(Ordering::Relaxed) {
                    attack(&stop, round);
                    round += 1;
                }
            })
        })
        .collect()
}

/// Sleeps up to `total` in short steps, returning early once `stop` is set.
fn pause(stop: &AtomicBool, total: Duration) {
    let until = Instant::now() + total;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Counts descriptors in `/proc`.
#[cfg(target_os = "linux")]
#[test]
fn good_clients_are_served_through_a_storm_and_nothing_leaks() {
    let _alone = run_alone();
    let files = Arc::new(files());
    let server = ChildServer::spawn(
        |root| {
            for (name, contents) in files.iter() {
                write_file(root, name, contents);
            }
        },
        &[
            "--access-log",
            "off",
            "--no-stats",
            "--header-timeout",
            "2",
            "--send-timeout",
            "2",
        ],
    );
    let addr = server.addr;
    let baseline_fds = server.fd_count();

    // Baseline: the good clients alone.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let phase = Duration::from_secs(3);
    let good = good_clients(addr, &files, &stop, &done);
    std::thread::sleep(phase);
    stop.store(true, Ordering::Relaxed);
    good.into_iter()
        .for_each(|t| t.join().expect("good client"));
    let alone = done.load(Ordering::Relaxed);

    // The storm.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let mut threads = good_clients(addr, &files, &stop, &done);
    // Slowloris: a byte of a head every 150 ms; the header deadline ends each attempt.
    threads.extend(attackers(8, &stop, move |stop, _| {
        let mut stream = connect(addr);
        for &byte in b"GET /f0.bin HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        {
            if stop.load(Ordering::Relaxed) || stream.write_all(&[byte]).is_err() {
                return;
            }
            pause(stop, Duration::from_millis(150));
        }
    }));
    // Never-readers: ask for the largest file four times over and never read.
    threads.extend(attackers(3, &stop, move |stop, _| {
        let mut stream = connect(addr);
        let _ = stream.write_all(&b"GET /f4.bin HTTP/1.1\r\nHost: t\r\n\r\n".repeat(4));
        pause(stop, Duration::from_secs(3));
    }));
    // Resets in the middle of a body.
    threads.extend(attackers(2, &stop, move |stop, _| {
        let mut client = Client::connect(addr);
        client.send(b"GET /f4.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut some = [0u8; 32 * 1024];
        let _ = client.stream.read_exact(&mut some);
        client.reset();
        pause(stop, Duration::from_millis(20));
    }));
    // Garbage: noise or a TLS ClientHello, answered 400 at once.
    let count = Arc::clone(&refused);
    threads.extend(attackers(2, &stop, move |stop, round| {
        let mut stream = connect(addr);
        let bytes = if round % 2 == 0 {
            let mut noise = pseudo_random_bytes(300, round);
            noise[0] = 0xff;
            noise
        } else {
            client_hello()
        };
        let sent = Instant::now();
        if stream.write_all(&bytes).is_ok() {
            let _ = stream.shutdown(Shutdown::Write);
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            // Over TLS a ClientHello is a handshake: this one offers nothing the server shares,
            // so its answer is an alert record (content type 21).
            let want: &[u8] = if OVER_TLS && bytes[0] == 0x16 {
                &[0x15, 0x03]
            } else {
                b"HTTP/1.1 400 "
            };
            assert!(
                answer.starts_with(want),
                "garbage got {:?}",
                String::from_utf8_lossy(&answer[..answer.len().min(100)])
            );
            assert!(sent.elapsed() < Duration::from_secs(2), "refused late");
            count.fetch_add(1, Ordering::Relaxed);
        }
        pause(stop, Duration::from_millis(10));
    }));
    if OVER_TLS {
        threads.extend(tls_attackers(addr, &stop));
    }
    // Idle connections that never send a byte: closed silently at the header deadline.
    let idle: Vec<TcpStream> = (0..40).map(|_| connect(addr)).collect();

    std::thread::sleep(phase);
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("a client thread failed");
    }
    drop(idle);
    let stormed = done.load(Ordering::Relaxed);
    eprintln!(
        "storm: {alone} good requests in {phase:?} alone, {stormed} during the storm; {} garbage \
         connections refused",
        refused.load(Ordering::Relaxed)
    );

    assert!(
        alone > 0 && stormed > 0,
        "no good requests: {alone} alone, {stormed} in the storm"
    );
    // Generous: the storm's clients share the machine's two cores with the server and the good
    // clients, so some slowdown is expected; a collapse is not.
    assert!(
        stormed * 5 >= alone,
        "good clients' throughput collapsed: {alone} requests in {phase:?} alone, {stormed} in the storm"
    );
    assert!(
        refused.load(Ordering::Relaxed) > 0,
        "no garbage was refused"
    );

    // Every connection the storm opened, and every file it had open, is given back.
    let back = wait_until(Duration::from_secs(10), || {
        server.fd_count() == baseline_fds
    });
    assert!(
        back,
        "{} fds open, baseline {baseline_fds}",
        server.fd_count()
    );
    // And the server still serves.
    let mut client = server.connect();
    let response = client.response_to_get("/f0.bin");
    assert_same_bytes(&response.body, &files[0].1, "after the storm");
}

/// Attacks on the handshake itself: ClientHellos that stall halfway (the header deadline ends
/// them), floods of real ClientHellos dropped once the server has answered (each costs it a key
/// exchange and a signature), and garbage inside a handshake record (an alert and a close).
fn tls_attackers(addr: SocketAddr, stop: &Arc<AtomicBool>) -> Vec<JoinHandle<()>> {
    let mut threads = attackers(4, stop, move |stop, _| {
        let mut stream = connect(addr);
        let hello = real_client_hello();
        if stream.write_all(&hello[..hello.len() / 2]).is_ok() {
            pause(stop, Duration::from_secs(3));
        }
    });
    threads.extend(attackers(2, stop, move |stop, _| {
        let mut stream = connect(addr);
        if stream.write_all(&real_client_hello()).is_ok() {
            let mut some = [0u8; 512];
            let _ = stream.read(&mut some);
        }
        pause(stop, Duration::from_millis(5));
    }));
    threads.extend(attackers(1, stop, move |stop, round| {
        let mut stream = connect(addr);
        let mut record = vec![0x16, 0x03, 0x03, 0x00, 0x40];
        record.extend_from_slice(&pseudo_random_bytes(64, round));
        if stream.write_all(&record).is_ok() {
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            assert!(
                answer.is_empty() || answer[0] == 0x15,
                "a garbage record got {answer:?}"
            );
        }
        pause(stop, Duration::from_millis(10));
    }));
    threads
}

/// The ClientHello a rustls client opens a connection with (TLS 1.3 and 1.2, key shares and
/// all), as bytes.
fn real_client_hello() -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn =
        rustls::ClientConnection::new(client_config(&test_certificate().0), name).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    hello
}
