//! Request-head parsing: `find_head_end` (the completeness scan run after every read) and
//! `parse_head` (httparse plus the framing rules), on a typical browser head and on the minimal
//! head `wrk` sends.
//!
//! Run: `cargo bench --bench parse` (add `-- --quick` for a smoke run).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mioserve::http::parse::{Limits, find_head_end, parse_head};

/// What a desktop Firefox sends for a static asset: 10 fields, about 500 bytes.
const BROWSER: &[u8] = b"GET /assets/app.js?v=3 HTTP/1.1\r\n\
Host: localhost:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: */*\r\n\
Accept-Language: en-GB,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: http://localhost:8080/\r\n\
Connection: keep-alive\r\n\
Sec-Fetch-Dest: script\r\n\
Sec-Fetch-Mode: no-cors\r\n\
Sec-Fetch-Site: same-origin\r\n\
If-None-Match: \"5f3a-1a2b\"\r\n\
If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
\r\n";

/// What `wrk -t1 -c64 http://127.0.0.1:PORT/1k.bin` sends.
const WRK: &[u8] = b"GET /1k.bin HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

fn bench_head(c: &mut Criterion, name: &str, head: &[u8]) {
    let limits = Limits::default();
    let mut buf = head.to_vec();
    let end = find_head_end(&buf, 0).expect("bench head is complete");
    assert_eq!(end, buf.len());
    parse_head(&mut buf[..end], &limits).expect("bench head parses");

    let mut group = c.benchmark_group(format!("parse/{name}"));
    group.throughput(Throughput::Bytes(head.len() as u64));
    group.bench_function("find_head_end", |b| {
        b.iter(|| find_head_end(black_box(&buf), black_box(0)))
    });
    group.bench_function("parse_head", |b| {
        b.iter(|| {
            // The heads are HTTP/1.1, so `parse_head` never rewrites the buffer: reusing it is
            // what the connection does, with no copy per iteration.
            let head = parse_head(black_box(&mut buf[..end]), &limits);
            black_box(head.map(|h| h.len)).ok()
        })
    });
    group.bench_function("find_head_end+parse_head", |b| {
        b.iter(|| {
            let end = find_head_end(black_box(&buf), 0)?;
            let head = parse_head(black_box(&mut buf[..end]), &limits);
            black_box(head.map(|h| h.len)).ok()
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_head(c, "browser", BROWSER);
    bench_head(c, "wrk", WRK);
}

criterion_group!(parse, benches);
criterion_main!(parse);
