use std::time::Duration;

use super::util::*;

/// A root holding `f00.txt` … `f{n-1}.txt`, each saying its own number, and `big.bin`, large
/// enough to be sent by `sendfile` (or by `pread` with `sendfile` off) rather than inlined
/// behind its head.
fn numbered_files(n: usize, sendfile: bool) -> TestServer {
    TestServer::with(
        |root| {
            for i in 0..n {
                write_file(root, &format!("f{i:02}.txt"), file_text(i));
            }
            write_file(root, "big.bin", pseudo_random_bytes(100_000, 7));
        },
        |c| c.conn.sendfile = sendfile,
    )
}

fn file_text(i: usize) -> String {
    format!("this is file number {i:02}\n")
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

#[test]
fn sixteen_requests_in_one_write_get_sixteen_ordered_responses() {
    for sendfile in [true, false] {
        let server = numbered_files(16, sendfile);
        let mut client = server.connect();
        let batch: String = (0..16).map(|i| get(&format!("/f{i:02}.txt"))).collect();
        client.send(batch.as_bytes());
        for i in 0..16 {
            let response = client.response();
            response.assert_status(200);
            assert_eq!(response.text(), file_text(i), "response {i} out of order");
        }
        // The connection is still good for more.
        client.send(get("/f03.txt").as_bytes());
        assert_eq!(client.response().text(), file_text(3));
    }
}

#[test]
fn pipeline_of_mixed_responses_stays_in_order() {
    for sendfile in [true, false] {
        let server = numbered_files(4, sendfile);
        let big = pseudo_random_bytes(100_000, 7);
        let mut client = server.connect();
        let batch = [
            get("/f00.txt"),
            "HEAD /f01.txt HTTP/1.1\r\nHost: t\r\n\r\n".to_string(),
            get("/missing.txt"),
            get("/big.bin"),
            "POST /f02.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody".to_string(),
            "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n".to_string(),
            get("/f03.txt"),
            get("/big.bin"),
            get("/f01.txt"),
        ]
        .concat();
        client.send(batch.as_bytes());

        assert_eq!(client.response().assert_status(200).text(), file_text(0));
        let head = client.head_response();
        let len = file_text(1).len().to_string();
        head.assert_status(200)
            .assert_header("content-length", Some(&len));
        client.response().assert_status(404);
        assert_same_bytes(&client.response().assert_status(200).body, &big, "big.bin");
        client.response().assert_status(405);
        client.response().assert_status(204);
        assert_eq!(client.response().assert_status(200).text(), file_text(3));
        assert_same_bytes(&client.response().assert_status(200).body, &big, "big.bin");
        assert_eq!(client.response().assert_status(200).text(), file_text(1));
    }
}

#[test]
fn pipeline_longer_than_the_read_buffer_and_one_turn() {
    for sendfile in [true, false] {
        // 300 requests: more than one turn's worth, and more bytes than one 8 KiB read buffer, so
        // heads straddle buffer refills.
        let server = numbered_files(10, sendfile);
        let mut client = server.connect();
        let batch: String = (0..300)
            .map(|i| get(&format!("/f{:02}.txt", i % 10)))
            .collect();
        assert!(batch.len() > 8 * 1024);
        client.send(batch.as_bytes());
        for i in 0..300 {
            let response = client.response();
            response.assert_status(200);
            assert_eq!(response.text(), file_text(i % 10), "response {i}");
        }
    }
}

#[test]
fn requests_after_connection_close_are_not_answered() {
    let server = numbered_files(3, true);
    let mut client = server.connect();
    let batch = [
        get("/f00.txt"),
        "GET /f01.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_string(),
        get("/f02.txt"),
    ]
    .concat();
    client.send(batch.as_bytes());
    assert_eq!(client.response().text(), file_text(0));
    let last = client.response();
    last.assert_header("connection", Some("close"));
    assert_eq!(last.text(), file_text(1));
    client.assert_closed();
}

#[test]
fn head_split_across_writes_after_a_complete_request() {
    let server = numbered_files(2, true);
    let mut client = server.connect();
    let second = get("/f01.txt");
    let (start, rest) = second.split_at(10);
    client.send(format!("{}{start}", get("/f00.txt")).as_bytes());
    assert_eq!(client.response().text(), file_text(0));
    client.send(rest.as_bytes());
    assert_eq!(client.response().text(), file_text(1));
}

#[test]
fn request_written_one_byte_at_a_time() {
    let server = numbered_files(2, true);
    let mut client = server.connect();
    let pause = Duration::from_millis(1);
    client.send_slowly(get("/f00.txt").as_bytes(), pause);
    assert_eq!(client.response().assert_status(200).text(), file_text(0));
    // Again on the same connection, with a body that is discarded byte by byte too.
    let post = "POST /f00.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n";
    client.send_slowly(post.as_bytes(), pause);
    client.response().assert_status(405);
    client.send_slowly(get("/f01.txt").as_bytes(), pause);
    assert_eq!(client.response().assert_status(200).text(), file_text(1));
}
