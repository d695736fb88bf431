//! Response-head encoding: `response::head::encode` of a 200 file plan and a 404 plan into one
//! reused `Vec`, with a fixed date, as the connection does per response.
//!
//! Run: `cargo bench --bench head` (add `-- --quick` for a smoke run).

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};

use mioserve::http::Status;
use mioserve::http::date::DateCache;
use mioserve::response::framing::{Framing, Persistence};
use mioserve::response::head::encode;
use mioserve::response::plan::ResponsePlan;

/// Dates at `Sun, 06 Nov 1994 08:49:37 GMT`.
fn dates() -> DateCache {
    let mut dates = DateCache::new();
    dates.refresh(UNIX_EPOCH + Duration::from_secs(784_111_777));
    dates
}

/// The plan `handler::handle` makes for a 1 KiB `.bin` file, minus the open file (the encoder
/// never looks at the body).
fn file_plan() -> ResponsePlan {
    let mut plan = ResponsePlan::empty(Status::OK);
    plan.content_type = Some(mioserve::response::content_type::ContentType {
        mime: "application/octet-stream",
        charset: false,
    });
    plan.content_length = Some(1024);
    plan.last_modified = Some(1_763_700_000);
    plan
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("head");
    let cases = [
        ("200_file", file_plan(), Persistence::KeepAlive),
        (
            "404",
            ResponsePlan::error(Status::NOT_FOUND),
            Persistence::KeepAlive,
        ),
        (
            "404_close",
            ResponsePlan::error(Status::NOT_FOUND),
            Persistence::Close,
        ),
    ];
    for (name, plan, persistence) in &cases {
        // Sized once, like the connection's pooled write buffer.
        let mut out = Vec::with_capacity(16 * 1024);
        let dates = dates();
        group.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                encode(
                    black_box(plan),
                    black_box(&dates),
                    Framing::length(*persistence),
                    b"",
                    &mut out,
                );
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(head, benches);
criterion_main!(head);
