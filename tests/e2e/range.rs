use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::util::*;

/// Bytes that differ at every offset within a 251-byte cycle, so a slice taken from the wrong
/// place shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

const SMALL: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// Larger than the inline limit, so its ranges go out by sendfile (or pread) and not inline.
const BIG_LEN: usize = 1 << 20;

/// A server with `small.txt` ([`SMALL`]) and `big.bin` ([`pattern`] of [`BIG_LEN`]), sending
/// file bodies by sendfile or by pread.
fn server(sendfile: bool) -> TestServer {
    TestServer::with(
        |root| {
            fs::write(root.join("small.txt"), SMALL).unwrap();
            fs::write(root.join("big.bin"), pattern(BIG_LEN)).unwrap();
        },
        |config| config.conn.sendfile = sendfile,
    )
}

#[track_caller]
fn get_range(server: &TestServer, path: &str, range: &str) -> Response {
    server.request("GET", path, &[("Range", range)])
}

#[track_caller]
fn assert_partial(response: &Response, content_range: &str, body: &[u8]) {
    response.assert_status(206);
    assert_eq!(
        response.header("content-range"),
        Some(content_range),
        "{}",
        response.head
    );
    assert_eq!(
        response.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(response.header("accept-ranges"), Some("bytes"));
    assert!(response.header("etag").is_some() && response.header("last-modified").is_some());
    assert!(response.body == body, "body of {content_range} differs");
}

/// Parses a `multipart/byteranges` response into `(Content-Range, data)` pairs, checking every
/// delimiter, each part's Content-Type, and that nothing follows the closing delimiter.
#[track_caller]
fn multipart_parts(response: &Response, part_type: &str) -> Vec<(String, Vec<u8>)> {
    response.assert_status(206);
    let content_type = response.header("content-type").expect("Content-Type");
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {content_type}"));
    assert!(
        !boundary.is_empty() && boundary.len() <= 70,
        "boundary {boundary:?}"
    );
    assert_eq!(response.header("content-range"), None);
    let delimiter = format!("\r\n--{boundary}");
    let mut rest = &response.body[..];
    let mut parts = Vec::new();
    loop {
        rest = rest
            .strip_prefix(delimiter.as_bytes())
            .unwrap_or_else(|| panic!("no delimiter at {:?}", String::from_utf8_lossy(rest)));
        if rest == b"--\r\n" {
            return parts;
        }
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
        let end = find(rest, b"\r\n\r\n").expect("end of part head");
        let head = String::from_utf8(rest[..end].to_vec()).unwrap();
        rest = &rest[end + 4..];
        let mut content_range = None;
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(": ").expect("part header");
            match name.to_ascii_lowercase().as_str() {
                "content-type" => assert_eq!(value, part_type),
                "content-range" => content_range = Some(value.to_string()),
                other => panic!("unexpected part header {other}"),
            }
        }
        let content_range = content_range.expect("part Content-Range");
        let (first, last) = content_range["bytes ".len()..]
            .split_once('/')
            .and_then(|(r, _)| r.split_once('-'))
            .expect("bytes a-b/len");
        let len = last.parse::<usize>().unwrap() - first.parse::<usize>().unwrap() + 1;
        parts.push((content_range, rest[..len].to_vec()));
        rest = &rest[len..];
    }
}

fn single_ranges(sendfile: bool) {
    let server = server(sendfile);
    let cases: &[(&str, &str, &[u8])] = &[
        // Safari's probe before it plays a video.
        ("bytes=0-1", "bytes 0-1/36", b"01"),
        ("bytes=10-15", "bytes 10-15/36", b"abcdef"),
        ("bytes=30-", "bytes 30-35/36", b"uvwxyz"),
        ("bytes=-3", "bytes 33-35/36", b"xyz"),
        // clamped to the file
        ("bytes=34-1000", "bytes 34-35/36", b"yz"),
        ("bytes=-1000", "bytes 0-35/36", SMALL),
        ("bytes=0-", "bytes 0-35/36", SMALL),
    ];
    for (range, content_range, body) in cases {
        let response = get_range(&server, "/small.txt", range);
        assert_partial(&response, content_range, body);
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
    }
    // Past the inline limit: from the file at the offset.
    let data = pattern(BIG_LEN);
    for (first, last) in [
        (100_000usize, 899_999usize),
        (0, BIG_LEN - 1),
        (BIG_LEN - 70_000, BIG_LEN - 1),
    ] {
        let response = get_range(&server, "/big.bin", &format!("bytes={first}-{last}"));
        assert_partial(
            &response,
            &format!("bytes {first}-{last}/{BIG_LEN}"),
            &data[first..=last],
        );
    }
}

#[test]
fn single_ranges_by_sendfile() {
    single_ranges(true);
}

#[test]
fn single_ranges_by_pread() {
    single_ranges(false);
}

#[test]
fn unsatisfiable_range_is_416() {
    let server = server(true);
    for range in [
        "bytes=36-",
        "bytes=36-40",
        "bytes=100-200, 300-",
        "bytes=-0",
    ] {
        let response = get_range(&server, "/small.txt", range);
        response.assert_status(416);
        assert_eq!(
            response.header("content-range"),
            Some("bytes */36"),
            "{range}"
        );
    }
    // An empty file has no satisfiable range.
    fs::write(server.root().join("empty"), "").unwrap();
    let response = get_range(&server, "/empty", "bytes=0-");
    response.assert_status(416);
    assert_eq!(response.header("content-range"), Some("bytes */0"));
}

#[test]
fn invalid_or_excessive_ranges_are_ignored() {
    let server = server(true);
    let seventeen = format!("bytes={}", vec!["1-1"; 17].join(","));
    let ignored = [
        // bad syntax
        "bytes=5-1",
        "bytes=a-b",
        "bytes=",
        "bytes=-",
        "bytes=0-1;2-3",
        "bytes 0-1",
        "0-1",
        // another unit
        "items=0-1",
        // overlapping or excessive
        "bytes=0-10,5-15",
        "bytes=0-,-1",
        &seventeen,
    ];
    for range in ignored {
        let response = get_range(&server, "/small.txt", range);
        response.assert_status(200);
        assert_eq!(response.body, SMALL, "Range: {range}");
        assert_eq!(response.header("content-range"), None);
        assert_eq!(response.header("accept-ranges"), Some("bytes"));
    }
}

#[test]
fn head_with_range_is_a_plain_head() {
    let server = server(true);
    let response = server.request("HEAD", "/small.txt", &[("Range", "bytes=0-1")]);
    response.assert_status(200);
    assert_eq!(response.header("content-length"), Some("36"));
    assert_eq!(response.header("accept-ranges"), Some("bytes"));
    assert_eq!(response.header("content-range"), None);
    // The connection is still usable: no body was sent after the HEAD response.
    let mut client = server.connect();
    client.send(request_bytes("HEAD", "/small.txt", &[("Range", "bytes=0-1")]).as_bytes());
    client.head_response().assert_status(200);
    client.send(request_bytes("GET", "/small.txt", &[("Range", "bytes=0-1")]).as_bytes());
    assert_partial(&client.response(), "bytes 0-1/36", b"01");
}

fn multipart(sendfile: bool) {
    let server = server(sendfile);
    let response = get_range(&server, "/small.txt", "bytes=0-1,10-12");
    let parts = multipart_parts(&response, "text/plain; charset=utf-8");
    assert_eq!(
        parts,
        [
            ("bytes 0-1/36".to_string(), b"01".to_vec()),
            ("bytes 10-12/36".to_string(), b"abc".to_vec()),
        ]
    );
    let response = get_range(&server, "/small.txt", "bytes=-2, 3-5 ,20-20");
    let parts = multipart_parts(&response, "text/plain; charset=utf-8");
    assert_eq!(
        parts,
        [
            ("bytes 34-35/36".to_string(), b"yz".to_vec()),
            ("bytes 3-5/36".to_string(), b"345".to_vec()),
            ("bytes 20-20/36".to_string(), b"k".to_vec()),
        ]
    );
    // Large parts go out as file slices.
    let data = pattern(BIG_LEN);
    let response = get_range(&server, "/big.bin", "bytes=0-99999,500000-700000,-30000");
    let parts = multipart_parts(&response, "application/octet-stream");
    let want = [
        (0, 99_999),
        (500_000, 700_000),
        (BIG_LEN - 30_000, BIG_LEN - 1),
    ];
    assert_eq!(parts.len(), want.len());
    for ((content_range, body), (first, last)) in parts.iter().zip(want) {
        assert_eq!(content_range, &format!("bytes {first}-{last}/{BIG_LEN}"));
        assert!(body[..] == data[first..=last], "part {content_range}");
    }
    // Two boundaries differ.
    let again = get_range(&server, "/small.txt", "bytes=0-1,10-12");
    assert_ne!(
        again.header("content-type"),
        response.header("content-type")
    );
}

#[test]
fn multipart_by_sendfile() {
    multipart(true);
}

#[test]
fn multipart_by_pread() {
    multipart(false);
}

#[test]
fn partial_responses_keep_the_connection() {
    let server = server(true);
    let mut client = server.connect();
    let requests = [
        request_bytes("GET", "/small.txt", &[("Range", "bytes=0-1")]),
        request_bytes("GET", "/small.txt", &[("Range", "bytes=0-1,4-5")]),
        request_bytes("GET", "/small.txt", &[("Range", "bytes=99-")]),
        request_bytes("GET", "/big.bin", &[("Range", "bytes=1-100000")]),
        request_bytes("GET", "/small.txt", &[]),
    ];
    client.send(requests.concat().as_bytes());
    assert_partial(&client.response(), "bytes 0-1/36", b"01");
    assert_eq!(
        multipart_parts(&client.response(), "text/plain; charset=utf-8").len(),
        2
    );
    client.response().assert_status(416);
    assert_partial(
        &client.response(),
        &format!("bytes 1-100000/{BIG_LEN}"),
        &pattern(BIG_LEN)[1..=100_000],
    );
    assert_eq!(client.response().assert_status(200).body, SMALL);
}

#[test]
fn if_range_decides_between_206_and_200() {
    let server = server(true);
    let full = server.get("/small.txt");
    let etag = full.header("etag").unwrap().to_string();
    let last_modified = full.header("last-modified").unwrap().to_string();
    let weak = format!("W/{etag}");
    let partial = [etag.as_str(), last_modified.as_str()];
    for if_range in partial {
        let response = server.request(
            "GET",
            "/small.txt",
            &[("Range", "bytes=0-1"), ("If-Range", if_range)],
        );
        assert_partial(&response, "bytes 0-1/36", b"01");
    }
    let whole = [
        "\"stale\"",
        weak.as_str(),
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "not a validator",
    ];
    for if_range in whole {
        let response = server.request(
            "GET",
            "/small.txt",
            &[("Range", "bytes=0-1"), ("If-Range", if_range)],
        );
        response.assert_status(200);
        assert_eq!(response.body, SMALL, "If-Range: {if_range}");
    }
}

/// A 5 GiB sparse file (no disk used) with markers written across 2^31 and 2^32.
fn sparse_server(sendfile: bool) -> TestServer {
    TestServer::with(
        |root| {
            let file = File::create(root.join("huge.bin")).unwrap();
            file.set_len(HUGE).unwrap();
            file.write_all_at(b"ABC", (1 << 31) - 1).unwrap();
            file.write_all_at(b"XYZ", (1 << 32) - 1).unwrap();
            file.write_all_at(b"END", HUGE - 3).unwrap();
        },
        |config| config.conn.sendfile = sendfile,
    )
}

const HUGE: u64 = 5 << 30;

fn huge_file_ranges(sendfile: bool) {
    let server = sparse_server(sendfile);
    let head = server.request("HEAD", "/huge.bin", &[]);
    head.assert_status(200);
    assert_eq!(head.header("content-length"), Some("5368709120"));
    let cases: &[(String, String, &[u8])] = &[
        (
            "bytes=2147483647-2147483649".into(),
            "bytes 2147483647-2147483649/5368709120".into(),
            b"ABC",
        ),
        (
            "bytes=4294967295-4294967297".into(),
            "bytes 4294967295-4294967297/5368709120".into(),
            b"XYZ",
        ),
        // zeros of the holes around the markers
        (
            "bytes=2147483640-2147483646".into(),
            "bytes 2147483640-2147483646/5368709120".into(),
            &[0; 7],
        ),
        (
            "bytes=4294967298-4294967301".into(),
            "bytes 4294967298-4294967301/5368709120".into(),
            &[0; 4],
        ),
        (
            "bytes=-3".into(),
            "bytes 5368709117-5368709119/5368709120".into(),
            b"END",
        ),
        (
            "bytes=5368709116-".into(),
            "bytes 5368709116-5368709119/5368709120".into(),
            b"\0END",
        ),
    ];
    for (range, content_range, body) in cases {
        let response = get_range(&server, "/huge.bin", range);
        assert_partial(&response, content_range, body);
    }
    // Multipart across both boundaries.
    let response = get_range(
        &server,
        "/huge.bin",
        "bytes=2147483647-2147483649,4294967295-4294967297",
    );
    let parts = multipart_parts(&response, "application/octet-stream");
    assert_eq!(
        parts,
        [
            (
                "bytes 2147483647-2147483649/5368709120".to_string(),
                b"ABC".to_vec()
            ),
            (
                "bytes 4294967295-4294967297/5368709120".to_string(),
                b"XYZ".to_vec()
            ),
        ]
    );
    let response = get_range(&server, "/huge.bin", "bytes=5368709120-");
    response.assert_status(416);
    assert_eq!(response.header("content-range"), Some("bytes */5368709120"));
}

#[test]
fn huge_sparse_file_by_sendfile() {
    huge_file_ranges(true);
}

#[test]
fn huge_sparse_file_by_pread() {
    huge_file_ranges(false);
}

/// The sparse fixture really is sparse: the test must not fill the disk.
#[test]
fn huge_fixture_uses_no_disk() {
    use std::os::unix::fs::MetadataExt;
    let server = sparse_server(true);
    let meta = fs::metadata(Path::new(&server.root()).join("huge.bin")).unwrap();
    assert_eq!(meta.len(), HUGE);
    assert!(
        meta.blocks() * 512 < 1 << 20,
        "{} bytes allocated",
        meta.blocks() * 512
    );
}
