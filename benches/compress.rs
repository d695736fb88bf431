//! On-the-fly compression rate: MiB of input per second on one core for gzip and brotli at the
//! levels considered, over 100 KiB of script-like text (`compress::sample_text`) or the file
//! named by `COMPRESS_INPUT`. Also prints each level's output size once, so speed and ratio can
//! be weighed together.
//!
//! Run: `cargo bench --bench compress` (add `-- --quick` for a smoke run).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mioserve::response::coding::Coding;
use mioserve::response::compress::{compress, sample_text};

fn input() -> Vec<u8> {
    match std::env::var_os("COMPRESS_INPUT") {
        Some(path) => std::fs::read(path).expect("COMPRESS_INPUT must name a readable file"),
        None => sample_text(100 * 1024),
    }
}

fn benches(c: &mut Criterion) {
    let input = input();
    let mut group = c.benchmark_group("compress");
    group.throughput(Throughput::Bytes(input.len() as u64));
    let cases = [
        ("gzip_1", Coding::Gzip, 1),
        ("gzip_6", Coding::Gzip, 6),
        ("br_3", Coding::Brotli, 3),
        ("br_4", Coding::Brotli, 4),
        ("br_5", Coding::Brotli, 5),
    ];
    for (name, coding, level) in cases {
        let out = compress(coding, Some(level), &input).expect("compress");
        eprintln!(
            "{name}: {} -> {} bytes ({:.1}%)",
            input.len(),
            out.len(),
            100.0 * out.len() as f64 / input.len() as f64
        );
        group.bench_function(name, |b| {
            b.iter(|| compress(coding, Some(level), black_box(&input)).expect("compress"))
        });
    }
    group.finish();
}

criterion_group!(compression, benches);
criterion_main!(compression);
