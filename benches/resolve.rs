//! Path resolution without the file system: `handler::resolve::normalise` (percent-decoding and
//! dot-segment normalisation into a reused buffer) on typical and hostile paths, and
//! `split_target` on origin-form and absolute-form targets.
//!
//! Run: `cargo bench --bench resolve` (add `-- --quick` for a smoke run).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mioserve::handler::resolve::{normalise, split_target};

/// (name, path, expected to resolve)
const PATHS: &[(&str, &str, bool)] = &[
    // typical
    ("root", "/", true),
    ("short", "/1k.bin", true),
    ("nested", "/assets/js/vendor/app.min.js", true),
    ("encoded", "/docs/caf%C3%A9%20menu%20(2024).pdf", true),
    // hostile
    ("dot_segments", "/a/./b/../c//d/./e/../../f", true),
    ("escape", "/..%2f..%2f..%2fetc/passwd", false),
    (
        "encoded_escape",
        "/a/%2e%2e/%2E%2E/%2e%2e/etc/shadow",
        false,
    ),
    ("nul", "/index.html%00.jpg", false),
    ("hidden", "/app/.git/config", false),
    (
        "long_encoded",
        "/%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61/%62%62%62%62%62%62%62%62%62%62%62%62\
         %62%62%62%62/%63%63%63%63%63%63%63%63%63%63%63%63%63%63%63%63/%64%64%64%64%64%64%64%64",
        true,
    ),
];

const TARGETS: &[(&str, &str)] = &[
    ("origin", "/1k.bin"),
    ("origin_query", "/search/index.html?q=mio&page=2#top"),
    ("absolute", "http://example.com:8080/assets/app.js?v=3"),
    ("asterisk", "*"),
];

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("resolve/normalise");
    // Reused across requests, like the worker's path buffer.
    let mut scratch = Vec::with_capacity(4096);
    for &(name, path, ok) in PATHS {
        assert_eq!(
            normalise(path, false, &mut scratch).is_ok(),
            ok,
            "{name}: {path}"
        );
        group.bench_function(name, |b| {
            b.iter(|| normalise(black_box(path), false, &mut scratch).is_ok())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("resolve/split_target");
    for &(name, target) in TARGETS {
        group.bench_function(name, |b| b.iter(|| split_target(black_box(target)).ok()));
    }
    group.finish();
}

criterion_group!(resolve, benches);
criterion_main!(resolve);
