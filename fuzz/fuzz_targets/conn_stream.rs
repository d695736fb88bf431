//! Fuzzes the connection state machine through the memory transport: byte segments in, bytes
//! out. Whatever arrives, the connection must finish within a bounded number of turns without
//! panicking; what it wrote must be a sequence of well-formed HTTP/1.1 responses, each framed
//! exactly, none after one that said `Connection: close`; and the output must not depend on how
//! the input was split into reads or how little each write took (a desync would show as a
//! difference). Valid request sequences must get exactly their expected statuses, in order.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use mioserve::access_log::{AccessLog, LogFormat};
use mioserve::config::ConnConfig;
use mioserve::conn::{Conn, Cx, Next};
use mioserve::handler::{Site, SiteOptions, WorkerState};
use mioserve::http::date::DateCache;
use mioserve::pool::BufferPool;
use mioserve::stats::Stats;
use mioserve::transport::MemoryTransport;

/// The served tree, made once per process: a small file, one beyond the inline limit, a folder
/// with an index, one without (a listing). No file starts with `HTTP/1.1 `, which the response
/// checker relies on to tell a HEAD response from a GET's.
fn site() -> &'static Site {
    static SITE: OnceLock<(PathBuf, Site)> = OnceLock::new();
    let (_, site) = SITE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mioserve-fuzz-conn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("dir")).unwrap();
        std::fs::create_dir_all(dir.join("list/sub")).unwrap();
        std::fs::write(dir.join("a.txt"), "hello\n").unwrap();
        let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("big.bin"), big).unwrap();
        std::fs::write(dir.join("dir/index.html"), "<p>index</p>").unwrap();
        for name in ["b.txt", "a b.txt", "c&d.html"] {
            std::fs::write(dir.join("list").join(name), name).unwrap();
        }
        let site = Site::open(&dir, SiteOptions::default()).unwrap();
        (dir, site)
    });
    site
}

/// Feeds `segments`, then EOF, and returns every byte written. Panics if the connection does not
/// close within a bounded number of turns.
fn run(segments: &[&[u8]], write_limit: usize, sendfile: bool) -> Vec<u8> {
    let config = ConnConfig {
        sendfile,
        ..ConnConfig::default()
    };
    let mut pool = BufferPool::new(config.limits.max_head_bytes);
    let mut date = DateCache::new();
    date.refresh(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let mut worker = WorkerState::default();
    let mut transport = MemoryTransport::default();
    transport.write_limit = write_limit;
    transport.peer_closed = true;
    for segment in segments {
        transport.push(segment);
    }
    let now = Instant::now();
    let mut conn = Conn::new(transport, "127.0.0.1".parse().unwrap(), 0, now, &config);
    let mut log = AccessLog::to(LogFormat::Common, Box::new(std::io::sink()));
    let stats = Stats::default();
    for _ in 0..200_000 {
        conn.on_event(true, true, false);
        let mut cx = Cx {
            site: site(),
            config: &config,
            pool: &mut pool,
            date: &date,
            worker: &mut worker,
            log: &mut log,
            stats: &stats,
            now,
            draining: false,
        };
        if conn.drive(&mut cx) == Next::Close {
            return std::mem::take(&mut conn.socket().sent);
        }
    }
    panic!("connection did not finish");
}

/// One response as the checker read it.
#[derive(Debug)]
struct Response {
    status: u16,
    close: bool,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Reads `out` as a sequence of responses, asserting each is well formed and framed exactly.
/// A response with a length but no body is taken for the answer to a HEAD request when nothing
/// or another response follows its head.
fn responses(out: &[u8]) -> Vec<Response> {
    let mut all = Vec::new();
    let mut rest = out;
    while !rest.is_empty() {
        let at = out.len() - rest.len();
        assert!(
            all.last().is_none_or(|r: &Response| !r.close),
            "bytes after a Connection: close response at {at}"
        );
        let head_end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete head at {at}"))
            + 4;
        let head = &rest[..head_end - 2];
        let mut lines = head.split(|&b| b == b'\n');
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with(b"HTTP/1.1 "), "status line at {at}");
        let status_line = status_line
            .strip_suffix(b"\r")
            .expect("CRLF after the status");
        assert!(status_line.len() > 13 && status_line[12] == b' ');
        let code = &status_line[9..12];
        assert!(code.iter().all(u8::is_ascii_digit), "status code at {at}");
        let status: u16 = std::str::from_utf8(code).unwrap().parse().unwrap();
        assert!((200..600).contains(&status), "status {status} at {at}");
        assert!(
            status_line[13..]
                .iter()
                .all(|&b| (b' '..=b'~').contains(&b))
        );
        let (mut length, mut chunked, mut close, mut date) = (None, false, false, false);
        for line in lines.filter(|l| !l.is_empty()) {
            let line = line.strip_suffix(b"\r").expect("CRLF after a field");
            let colon = line.iter().position(|&b| b == b':').expect("field colon");
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            assert!(
                !name.is_empty() && name.iter().all(|&b| is_tchar(b)),
                "name"
            );
            let value = value.strip_prefix(b" ").expect("SP after the colon");
            assert!(
                value
                    .iter()
                    .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b)),
                "field value {:?}",
                String::from_utf8_lossy(value)
            );
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            match name.as_str() {
                "content-length" => {
                    assert!(length.is_none(), "two Content-Length fields");
                    length = Some(
                        std::str::from_utf8(value)
                            .unwrap()
                            .parse::<usize>()
                            .unwrap(),
                    );
                }
                "transfer-encoding" => {
                    assert_eq!(value, b"chunked");
                    chunked = true;
                }
                "connection" => {
                    assert!(value == b"close" || value == b"keep-alive");
                    close = value == b"close";
                }
                "date" => date = true,
                _ => {}
            }
        }
        assert!(date, "no Date at {at}");
        assert!(!(chunked && length.is_some()), "both framings at {at}");
        rest = &rest[head_end..];
        let bodiless = matches!(status, 204 | 304)
            || rest.is_empty()
            || rest.starts_with(b"HTTP/1.1 ") && length != Some(0);
        if !bodiless {
            if chunked {
                loop {
                    let eol = rest
                        .windows(2)
                        .position(|w| w == b"\r\n")
                        .expect("chunk line");
                    let size =
                        usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16)
                            .expect("chunk size");
                    rest = &rest[eol + 2..];
                    assert!(rest.len() >= size + 2, "short chunk at {at}");
                    assert_eq!(&rest[size..size + 2], b"\r\n", "chunk end at {at}");
                    rest = &rest[size + 2..];
                    if size == 0 {
                        break;
                    }
                }
            } else if let Some(length) = length {
                assert!(rest.len() >= length, "short body at {at}");
                rest = &rest[length..];
            } else {
                // Delimited by the close: the connection must say so, and nothing may follow.
                assert!(close, "a body without length on a kept connection at {at}");
                rest = &[];
            }
        }
        all.push(Response { status, close });
    }
    all
}

/// `out` with every multipart boundary (random per response) replaced by one of the same length,
/// so two runs can be compared byte for byte.
fn without_boundaries(out: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b"boundary=";
    let mut out = out.to_vec();
    let mut from = 0;
    while let Some(i) = out[from..].windows(KEY.len()).position(|w| w == KEY) {
        let start = from + i + KEY.len();
        let end = start
            + out[start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
        let boundary = out[start..end].to_vec();
        from = end;
        if boundary.is_empty() {
            continue;
        }
        let mut at = 0;
        while let Some(j) = out[at..]
            .windows(boundary.len())
            .position(|w| w == boundary)
        {
            out[at + j..at + j + boundary.len()].fill(b'B');
            at += j + boundary.len();
        }
    }
    out
}

/// Valid requests, their status, and whether the connection closes after them.
const REQUESTS: &[(&str, u16, bool)] = &[
    ("GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
    ("HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
    ("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
    ("GET /missing HTTP/1.1\r\nHost: t\r\n\r\n", 404, false),
    ("GET /dir HTTP/1.1\r\nHost: t\r\n\r\n", 301, false),
    ("GET /dir/ HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
    (
        "GET /list/?sort=size&order=desc HTTP/1.1\r\nHost: t\r\n\r\n",
        200,
        false,
    ),
    ("HEAD /list/ HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
    (
        "GET /list/?format=json HTTP/1.1\r\nHost: t\r\n\r\n",
        200,
        false,
    ),
    ("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", 204, false),
    (
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        405,
        false,
    ),
    (
        "PUT /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
        405,
        false,
    ),
    (
        "GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        200,
        false,
    ),
    ("\r\nGET /a.txt?q=1 HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
    (
        "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9,100-199\r\n\r\n",
        206,
        false,
    ),
    (
        "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=50000-\r\n\r\n",
        416,
        false,
    ),
    (
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: *\r\n\r\n",
        304,
        false,
    ),
    ("GET http://t/a.txt HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
    (
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        200,
        true,
    ),
    ("GET /list/ HTTP/1.0\r\n\r\n", 200, true),
    ("GET /x/../../etc HTTP/1.1\r\nHost: t\r\n\r\n", 400, false),
    // A Range on two lines is ignored; a list field's lines combine.
    (
        "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9\r\nRange: bytes=10-19\r\n\r\n",
        200,
        false,
    ),
    (
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"x\"\r\nIf-None-Match: *\r\n\r\n",
        200,
        false,
    ),
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let mode = data[0] % 3;
    let write_limit = [0, 7, 512, 4096][usize::from(data[1] % 4)];
    let sendfile = data[1] & 0x80 != 0;
    let cuts: Vec<usize> = data[2..8]
        .chunks(2)
        .map(|c| usize::from(c[0]) << 8 | usize::from(c[1]))
        .collect();
    let payload = &data[8..];

    let (bytes, expected) = match mode {
        // Any bytes at all.
        0 => (payload.to_vec(), None),
        // Valid requests, pipelined: each gets its status, in order, up to the first that closes.
        1 => {
            let mut bytes = Vec::new();
            let mut want = Vec::new();
            for &pick in payload.iter().take(24) {
                let (request, status, close) = REQUESTS[usize::from(pick) % REQUESTS.len()];
                bytes.extend_from_slice(request.as_bytes());
                want.push(status);
                if close {
                    break;
                }
            }
            (bytes, Some(want))
        }
        // Valid requests with bytes overwritten, to reach deeper states than noise does.
        _ => {
            let (picks, flips) = payload.split_at(payload.len().min(8));
            let mut bytes: Vec<u8> = picks
                .iter()
                .flat_map(|&p| REQUESTS[usize::from(p) % REQUESTS.len()].0.bytes())
                .collect();
            if bytes.is_empty() {
                return;
            }
            for flip in flips.chunks(3) {
                if let [hi, lo, byte] = *flip {
                    let at = (usize::from(hi) << 8 | usize::from(lo)) % bytes.len();
                    bytes[at] = byte;
                }
            }
            (bytes, None)
        }
    };

    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut segments = Vec::new();
    let mut start = 0;
    for end in bounds.into_iter().chain([bytes.len()]) {
        segments.push(&bytes[start..end]);
        start = end;
    }

    let whole = without_boundaries(&run(&[&bytes], 0, true));
    let answers = responses(&whole);
    if let Some(want) = expected {
        let got: Vec<u16> = answers.iter().map(|r| r.status).collect();
        assert_eq!(got, want, "statuses");
    }
    let pieces = without_boundaries(&run(&segments, write_limit, sendfile));
    if whole != pieces {
        let at = whole.iter().zip(&pieces).position(|(a, b)| a != b);
        let at = at.unwrap_or(whole.len().min(pieces.len()));
        let around = |out: &[u8]| {
            String::from_utf8_lossy(&out[at.saturating_sub(200)..(at + 200).min(out.len())])
                .into_owned()
        };
        panic!(
            "the output depends on the splitting (cuts {cuts:?}, write limit {write_limit}, \
             sendfile {sendfile}): {} vs {} bytes, first difference at {at}:\n{}\n---\n{}",
            whole.len(),
            pieces.len(),
            around(&whole),
            around(&pieces)
        );
    }
});
