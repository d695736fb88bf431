//! The metrics page (`--metrics`, `GET /__mioserve/metrics`): the counters of every worker,
//! summed, in the Prometheus text exposition format, version 0.0.4.
//!
//! The figures are those of the exit report and the live line, from the same [`Snapshot`]:
//! responses by method and status class, bytes written, connections accepted, open and ended (by
//! reason, and refusals by status), accept pauses, compressed responses by coding and source, the
//! service-time histogram the live line takes its percentiles from, TLS handshakes (completed,
//! resumed, failed by reason, plain HTTP on the HTTPS port) and live reload's streams and events. No label carries a path
//! or anything else a client chooses, so the page has a fixed set of series whatever the traffic.
//!
//! Each family has its `# HELP` and `# TYPE` lines before its samples, every series of a family
//! is written even at zero (so a rate over it needs no "absent" case), counters end in `_total`,
//! and the histogram's buckets are cumulative with `le` bounds at powers of two microseconds
//! (boundaries of the log-linear buckets, so each count is exact), then `+Inf`, `_sum` and
//! `_count`.
//!
//! Cost: only when the page is asked for, one snapshot per worker (about 600 counters each) and
//! one `String` of about 7 KiB.

use std::fmt::Write as _;

use crate::stats::{
    CLOSE_REASONS, CODED_FROM, CODINGS, EXPORTED_BOUNDS, Histogram, METHODS, REJECT_STATUSES,
    Snapshot,
};
use crate::tls::Failure;

/// The page's `Content-Type`.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// The status classes, as the `class` label names them.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The metrics page for `s`, the sum of `workers` workers' counters.
pub(crate) fn render(s: &Snapshot, workers: usize) -> String {
    let mut out = String::with_capacity(8 * 1024);
    family(
        &mut out,
        "mioserve_requests_total",
        "counter",
        "Requests answered or refused, by request method (other: unknown, or refused before it \
         could be read) and status class, as the exit report counts them.",
    );
    for (method, row) in METHODS.iter().zip(&s.responses) {
        for (class, n) in CLASSES.iter().zip(row) {
            sample(
                &mut out,
                "mioserve_requests_total",
                &[("method", method), ("class", class)],
                *n,
            );
        }
    }
    family(
        &mut out,
        "mioserve_sent_bytes_total",
        "counter",
        "Bytes written to clients, response heads and bodies.",
    );
    sample(&mut out, "mioserve_sent_bytes_total", &[], s.bytes_out);
    family(
        &mut out,
        "mioserve_connections_accepted_total",
        "counter",
        "Connections accepted.",
    );
    sample(
        &mut out,
        "mioserve_connections_accepted_total",
        &[],
        s.accepted,
    );
    family(
        &mut out,
        "mioserve_connections_open",
        "gauge",
        "Connections open now.",
    );
    sample(&mut out, "mioserve_connections_open", &[], s.open);
    family(
        &mut out,
        "mioserve_connections_closed_total",
        "counter",
        "Connections ended, by why they ended (the names of the extended access log).",
    );
    for reason in CLOSE_REASONS {
        sample(
            &mut out,
            "mioserve_connections_closed_total",
            &[("reason", reason.name())],
            s.closes(reason),
        );
    }
    family(
        &mut out,
        "mioserve_connections_refused_total",
        "counter",
        "Connections closed after a request was refused (reason=\"rejected\" above), by the status \
         it was refused with; 500 counts any status not listed.",
    );
    let mut status = itoa::Buffer::new();
    for (code, n) in REJECT_STATUSES.iter().zip(&s.rejected) {
        sample(
            &mut out,
            "mioserve_connections_refused_total",
            &[("status", status.format(*code))],
            *n,
        );
    }
    family(
        &mut out,
        "mioserve_accept_pauses_total",
        "counter",
        "Times accepting paused, at the connection cap or out of file descriptors.",
    );
    sample(
        &mut out,
        "mioserve_accept_pauses_total",
        &[],
        s.accept_pauses,
    );
    family(
        &mut out,
        "mioserve_compressed_responses_total",
        "counter",
        "Responses with a content coding, by coding and by where the coded bytes came from: a \
         precompressed sidecar, the compressed-variant cache, or compression as it was sent.",
    );
    for (coding, row) in CODINGS.iter().zip(&s.coded) {
        for (from, n) in CODED_FROM.iter().zip(row) {
            sample(
                &mut out,
                "mioserve_compressed_responses_total",
                &[("coding", coding), ("source", from)],
                *n,
            );
        }
    }
    histogram(&mut out, s);
    tls(&mut out, s);
    live_reload(&mut out, s);
    family(
        &mut out,
        "mioserve_workers",
        "gauge",
        "Event loops whose counters these figures sum.",
    );
    sample(&mut out, "mioserve_workers", &[], workers as u64);
    out
}

/// How TLS handshakes went (zero without HTTPS): completed, of which resumed, failed by reason
/// (the exit report's, in kebab case), and plain HTTP sent to the HTTPS port.
fn tls(out: &mut String, s: &Snapshot) {
    let t = &s.tls;
    family(
        out,
        "mioserve_tls_handshakes_completed_total",
        "counter",
        "TLS handshakes completed (HTTPS only).",
    );
    sample(
        out,
        "mioserve_tls_handshakes_completed_total",
        &[],
        t.completed,
    );
    family(
        out,
        "mioserve_tls_handshakes_resumed_total",
        "counter",
        "Of the TLS handshakes completed, those that resumed a session (a ticket or a session id).",
    );
    sample(out, "mioserve_tls_handshakes_resumed_total", &[], t.resumed);
    family(
        out,
        "mioserve_tls_handshakes_failed_total",
        "counter",
        "TLS handshakes that failed, by why.",
    );
    for (failure, n) in Failure::ALL.iter().zip(&t.failed) {
        let reason = failure.name().replace(' ', "-");
        sample(
            out,
            "mioserve_tls_handshakes_failed_total",
            &[("reason", &reason)],
            *n,
        );
    }
    family(
        out,
        "mioserve_tls_plain_http_total",
        "counter",
        "Connections that spoke plain HTTP to the HTTPS port (each answered with a 308).",
    );
    sample(out, "mioserve_tls_plain_http_total", &[], t.plain_http);
}

/// Live reload's event streams (zero without `--live-reload`).
fn live_reload(out: &mut String, s: &Snapshot) {
    family(
        out,
        "mioserve_live_reload_streams_open",
        "gauge",
        "Live reload event streams open now (connections too, counted in connections_open).",
    );
    sample(out, "mioserve_live_reload_streams_open", &[], s.subscribers);
    family(
        out,
        "mioserve_live_reload_streams_total",
        "counter",
        "Live reload event streams opened.",
    );
    sample(
        out,
        "mioserve_live_reload_streams_total",
        &[],
        s.subscriptions,
    );
    family(
        out,
        "mioserve_live_reload_events_total",
        "counter",
        "Live reload events sent, one per stream per change.",
    );
    sample(out, "mioserve_live_reload_events_total", &[], s.events);
}

/// The service-time histogram: cumulative buckets, `+Inf`, `_sum` and `_count`.
fn histogram(out: &mut String, s: &Snapshot) {
    const NAME: &str = "mioserve_service_seconds";
    family(
        out,
        NAME,
        "histogram",
        "Time from a request's head being read to its response fully written (a pipelined \
         batch, from the wake-up that read it), as the live line's percentiles; whole \
         microseconds, so a time equal to a bound counts in the next bucket.",
    );
    let bucket = format!("{NAME}_bucket");
    for bound in EXPORTED_BOUNDS {
        let le = seconds(bound);
        sample(
            out,
            &bucket,
            &[("le", &le)],
            Histogram::below(&s.service, bound),
        );
    }
    let count: u64 = s.service.iter().sum();
    sample(out, &bucket, &[("le", "+Inf")], count);
    let _ = writeln!(out, "{NAME}_sum {}", seconds(s.service_sum));
    sample(out, &format!("{NAME}_count"), &[], count);
}

/// `micros` as seconds, exactly: `16` is `0.000016`.
fn seconds(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// A family's `# HELP` and `# TYPE` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// One sample line: `name{label="value",…} n`.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    for (i, (label, text)) in labels.iter().enumerate() {
        out.push(if i == 0 { '{' } else { ',' });
        out.push_str(label);
        out.push_str("=\"");
        for c in text.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    if !labels.is_empty() {
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;
    use crate::stats::{CloseReason, Coded, Stats, Tally};
    use std::time::Duration;

    /// The value of the sample line that starts with `series ` in `page`.
    fn value(page: &str, series: &str) -> String {
        page.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{page}"))
            .to_string()
    }

    #[test]
    fn the_page_shows_what_was_counted() {
        let stats = Stats::default();
        let tally = |method, status, coded| Tally {
            method,
            status,
            coded,
        };
        stats.response(tally(Method::Get, 200, None));
        stats.response(tally(Method::Get, 200, Some(Coded { coding: 2, from: 1 })));
        stats.response(tally(Method::Head, 404, None));
        stats.response(tally(Method::Unknown, 400, None));
        stats.accepted();
        stats.accepted();
        stats.closed(CloseReason::Rejected(400));
        stats.sent(1234);
        stats.served(2, Duration::from_micros(5));
        stats.served(1, Duration::from_micros(1000));
        let total = Snapshot::sum([&stats.snapshot(), &stats.snapshot()]);
        let page = render(&total, 2);
        for (series, want) in [
            (r#"mioserve_requests_total{method="GET",class="2xx"}"#, "4"),
            (r#"mioserve_requests_total{method="HEAD",class="4xx"}"#, "2"),
            (
                r#"mioserve_requests_total{method="other",class="4xx"}"#,
                "2",
            ),
            (r#"mioserve_requests_total{method="POST",class="5xx"}"#, "0"),
            ("mioserve_sent_bytes_total", "2468"),
            ("mioserve_connections_accepted_total", "4"),
            ("mioserve_connections_open", "2"),
            (
                r#"mioserve_connections_closed_total{reason="rejected"}"#,
                "2",
            ),
            (r#"mioserve_connections_refused_total{status="400"}"#, "2"),
            (
                r#"mioserve_compressed_responses_total{coding="gzip",source="cached-variant"}"#,
                "2",
            ),
            (
                r#"mioserve_compressed_responses_total{coding="br",source="on-the-fly"}"#,
                "0",
            ),
            // 5 µs twice per worker: below 8 µs, not below 4; 1 ms: below 1024 µs.
            (r#"mioserve_service_seconds_bucket{le="0.000004"}"#, "0"),
            (r#"mioserve_service_seconds_bucket{le="0.000008"}"#, "4"),
            (r#"mioserve_service_seconds_bucket{le="0.000512"}"#, "4"),
            (r#"mioserve_service_seconds_bucket{le="0.001024"}"#, "6"),
            (r#"mioserve_service_seconds_bucket{le="+Inf"}"#, "6"),
            ("mioserve_service_seconds_sum", "0.002020"),
            ("mioserve_service_seconds_count", "6"),
            ("mioserve_workers", "2"),
            (
                r#"mioserve_tls_handshakes_failed_total{reason="no-shared-cipher"}"#,
                "0",
            ),
            ("mioserve_live_reload_events_total", "0"),
        ] {
            assert_eq!(value(&page, series), want, "{series}");
        }
        assert!(page.ends_with('\n'));
        let series = page.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(series, 125, "the README's count");
    }

    #[test]
    fn exported_bounds_are_bucket_boundaries() {
        let h = Histogram::default();
        for v in [
            0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 1023, 1024, 1025, 40_000_000,
        ] {
            h.record(v, 1);
        }
        let counts = h.snapshot();
        for bound in EXPORTED_BOUNDS {
            let want = [
                0u64, 1, 2, 3, 15, 16, 17, 31, 32, 33, 1023, 1024, 1025, 40_000_000,
            ]
            .iter()
            .filter(|&&v| v < bound)
            .count() as u64;
            assert_eq!(Histogram::below(&counts, bound), want, "{bound}");
        }
    }
}
