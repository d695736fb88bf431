//! Counters for the live stats line, the exit report and the metrics page.
//!
//! Each worker owns one [`Stats`] and is its only writer; readers (the stats printer, the exit
//! report, the metrics page of any worker) may be on other threads. Updates are a relaxed load
//! and store (no locked instruction): a handful of plain adds per request, no allocation, whether
//! or not anything is displayed. Service times go into a fixed-size log-linear `Histogram`, so
//! percentiles need no sorting and no memory per request. A [`Registry`] lists every worker's
//! counters, so that one worker can sum them all (`--metrics`); it is locked only to register a
//! worker and to take a snapshot, never on a request's path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::http::Method;
use crate::tls::{Failure, Outcome};

/// Adds `n` to a counter that only this thread writes.
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Linear sub-buckets per power of two: 16 gives about 6% resolution.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets cover 0 µs to 2^40 µs (12 days), far past any service time.
const BUCKETS: usize = (SUB + (40 - SUB_BITS as u64) * SUB) as usize;

/// The upper bounds the metrics page gives the service-time histogram, in microseconds: each
/// power of two from 1 µs to about 33 s, which are boundaries of the log-linear buckets (so each
/// cumulative count is exact) and span what a static server's answers take.
pub(crate) const EXPORTED_BOUNDS: [u64; 26] = {
    let mut bounds = [0; 26];
    let mut k = 0;
    while k < 26 {
        bounds[k] = 1 << k;
        k += 1;
    }
    bounds
};

/// A log-linear histogram of microsecond values: values below 16 have a bucket each; above, each
/// power of two is split into 16 equal buckets.
pub(crate) struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    /// The bucket of `value`.
    fn bucket(value: u64) -> usize {
        if value < SUB {
            return value as usize;
        }
        let exponent = 63 - value.leading_zeros(); // >= SUB_BITS
        let sub = (value >> (exponent - SUB_BITS)) & (SUB - 1);
        let index = SUB + u64::from(exponent - SUB_BITS) * SUB + sub;
        (index as usize).min(BUCKETS - 1)
    }

    /// The smallest value in bucket `index`.
    fn lower_bound(index: usize) -> u64 {
        let index = index as u64;
        if index < SUB {
            return index;
        }
        let exponent = (index - SUB) / SUB + u64::from(SUB_BITS);
        let sub = (index - SUB) % SUB;
        (1 << exponent) + (sub << (exponent - u64::from(SUB_BITS)))
    }

    /// Records `n` occurrences of `value` (single writer).
    pub(crate) fn record(&self, value: u64, n: u64) {
        bump(&self.counts[Histogram::bucket(value)], n);
    }

    /// How many of `counts` (a [`Histogram::snapshot`]) are below `bound`, which must be the
    /// lower bound of a bucket (any value below 16, a power of two, …). Values are whole
    /// microseconds, truncated: a value below `bound` was a time below `bound` µs.
    pub(crate) fn below(counts: &[u64], bound: u64) -> u64 {
        let index = Histogram::bucket(bound);
        debug_assert_eq!(
            Histogram::lower_bound(index),
            bound,
            "not a bucket boundary"
        );
        counts[..index.min(counts.len())].iter().sum()
    }

    /// A copy of the counts, to diff two moments.
    pub fn snapshot(&self) -> Vec<u64> {
        self.counts.iter().map(read).collect()
    }

    /// The value at quantile `q` (0..=1) of the counts `now - before` (both from
    /// [`Histogram::snapshot`], or `before` empty for all time), as the middle of its bucket.
    pub(crate) fn quantile(now: &[u64], before: &[u64], q: f64) -> Option<u64> {
        let delta = |i: usize| now[i] - before.get(i).copied().unwrap_or(0);
        let total: u64 = (0..now.len()).map(delta).sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for i in 0..now.len() {
            seen += delta(i);
            if seen >= rank {
                let low = Histogram::lower_bound(i);
                let high = Histogram::lower_bound(i + 1);
                return Some(low + (high - low) / 2);
            }
        }
        None
    }
}

/// Why a connection ended: counted for the exit report, shown by the extended access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The client closed its side with no request pending.
    ClientClosed,
    /// The server closed after a response because of `Connection: close` or HTTP/1.0.
    ConnectionClose,
    /// Idle between requests for the keep-alive timeout.
    IdleTimeout,
    /// A request head (or a first request) did not arrive within the header timeout.
    HeaderTimeout,
    /// A response made no progress for the send timeout.
    SendTimeout,
    /// A request body being discarded stalled.
    BodyTimeout,
    /// The request was refused with this status (400, 413, 414, 431, 505…) and the connection
    /// closed.
    Rejected(u16),
    /// The client sent a TLS handshake to this plain-HTTP port (answered 400, saying to use
    /// `http://`). Counted apart from parse errors: it is a misdirected client, not a bad request.
    TlsHandshake,
    /// The peer reset the connection or vanished (ECONNRESET, EPIPE).
    Reset,
    /// Another I/O error, or a file that ended before its announced length.
    Error,
    /// Closed by the server's shutdown.
    Shutdown,
}

impl CloseReason {
    /// A short name for logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client-closed",
            CloseReason::ConnectionClose => "connection-close",
            CloseReason::IdleTimeout => "idle-timeout",
            CloseReason::HeaderTimeout => "header-timeout",
            CloseReason::SendTimeout => "send-timeout",
            CloseReason::BodyTimeout => "body-timeout",
            CloseReason::Rejected(_) => "rejected",
            CloseReason::TlsHandshake => "tls-handshake",
            CloseReason::Reset => "reset",
            CloseReason::Error => "error",
            CloseReason::Shutdown => "shutdown",
        }
    }

    /// Index into [`Stats::closes`]; rejections are counted per status in [`Stats::rejected`].
    fn index(self) -> usize {
        match self {
            CloseReason::ClientClosed => 0,
            CloseReason::ConnectionClose => 1,
            CloseReason::IdleTimeout => 2,
            CloseReason::HeaderTimeout => 3,
            CloseReason::SendTimeout => 4,
            CloseReason::BodyTimeout => 5,
            CloseReason::Rejected(_) => 6,
            CloseReason::Reset => 7,
            CloseReason::Error => 8,
            CloseReason::Shutdown => 9,
            CloseReason::TlsHandshake => 10,
        }
    }
}

pub(crate) const CLOSE_KINDS: usize = 11;
/// Every close reason, in the order of [`CloseReason::index`].
pub(crate) const CLOSE_REASONS: [CloseReason; CLOSE_KINDS] = [
    CloseReason::ClientClosed,
    CloseReason::ConnectionClose,
    CloseReason::IdleTimeout,
    CloseReason::HeaderTimeout,
    CloseReason::SendTimeout,
    CloseReason::BodyTimeout,
    CloseReason::Rejected(0),
    CloseReason::Reset,
    CloseReason::Error,
    CloseReason::Shutdown,
    CloseReason::TlsHandshake,
];
/// Statuses a connection can be refused with, counted separately in the exit report (the last,
/// 500, stands for any other).
pub(crate) const REJECT_STATUSES: [u16; 8] = [400, 408, 413, 414, 431, 501, 505, 500];

/// Request methods as the counters name them: each method the server knows, and `other` for an
/// unknown one or a request refused before its method could be read.
pub(crate) const METHODS: [&str; 10] = [
    "GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH", "CONNECT", "TRACE", "other",
];

/// The index of `method` in [`METHODS`].
fn method_index(method: Method) -> usize {
    match method {
        Method::Get => 0,
        Method::Head => 1,
        Method::Options => 2,
        Method::Post => 3,
        Method::Put => 4,
        Method::Delete => 5,
        Method::Patch => 6,
        Method::Connect => 7,
        Method::Trace => 8,
        Method::Unknown => 9,
    }
}

/// The content codings of compressed responses, as the counters name them.
pub(crate) const CODINGS: [&str; 3] = ["br", "zstd", "gzip"];
/// Where a compressed response's bytes came from, as the counters name it.
pub(crate) const CODED_FROM: [&str; 3] = ["sidecar", "cached-variant", "on-the-fly"];

/// A compressed response: its coding (an index into [`CODINGS`]) and where its bytes came from
/// (an index into [`CODED_FROM`]). The exchange maps the plan's coding to it, so the counters
/// stay below the response types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Coded {
    pub(crate) coding: usize,
    pub(crate) from: usize,
}

/// What one response adds to the counters: its request's method, its status, and its coding
/// if it is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) method: Method,
    pub(crate) status: u16,
    pub(crate) coded: Option<Coded>,
}

/// One worker's counters.
pub struct Stats {
    /// Responses by method ([`METHODS`]) and status class (1xx … 5xx).
    responses: [[AtomicU64; 5]; METHODS.len()],
    /// Compressed responses by coding ([`CODINGS`]) and source ([`CODED_FROM`]).
    coded: [[AtomicU64; CODED_FROM.len()]; CODINGS.len()],
    bytes_out: AtomicU64,
    accepted: AtomicU64,
    open: AtomicU64,
    /// Times accepting paused at the connection cap or for lack of file descriptors.
    accept_pauses: AtomicU64,
    closes: [AtomicU64; CLOSE_KINDS],
    rejected: [AtomicU64; REJECT_STATUSES.len()],
    /// Microseconds from a complete request head to its response fully written.
    service: Histogram,
    /// The sum of the service times recorded, in microseconds.
    service_sum: AtomicU64,
    /// Live reload's event streams open now.
    subscribers: AtomicU64,
    /// Live reload's event streams opened.
    subscriptions: AtomicU64,
    /// Live reload's events sent (one per subscriber per change).
    events: AtomicU64,
    tls: TlsCounters,
}

/// How TLS connections went (HTTPS only): counted when each ends.
#[derive(Default)]
struct TlsCounters {
    completed: AtomicU64,
    /// Of the completed, those resumed by a ticket or a session id.
    resumed: AtomicU64,
    /// Failed handshakes by [`Failure`], in [`Failure::ALL`]'s order.
    failed: [AtomicU64; Failure::ALL.len()],
    /// Connections that spoke plain HTTP to the HTTPS port (each answered with a 308).
    plain_http: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            responses: Default::default(),
            coded: Default::default(),
            bytes_out: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            open: AtomicU64::new(0),
            accept_pauses: AtomicU64::new(0),
            closes: Default::default(),
            rejected: Default::default(),
            service: Histogram::default(),
            service_sum: AtomicU64::new(0),
            tls: TlsCounters::default(),
            subscribers: AtomicU64::new(0),
            subscriptions: AtomicU64::new(0),
            events: AtomicU64::new(0),
        }
    }
}

impl Stats {
    /// A response was decided: one add, two for a compressed one.
    pub(crate) fn response(&self, tally: Tally) {
        let class = usize::from(tally.status / 100).clamp(1, 5) - 1;
        bump(&self.responses[method_index(tally.method)][class], 1);
        if let Some(Coded { coding, from }) = tally.coded {
            bump(&self.coded[coding][from], 1);
        }
    }

    /// `n` responses completed, each `elapsed` after its head was complete.
    pub(crate) fn served(&self, n: u64, elapsed: Duration) {
        let micros = elapsed.as_micros() as u64;
        self.service.record(micros, n);
        bump(&self.service_sum, micros.saturating_mul(n));
    }

    /// Bytes written to clients.
    pub(crate) fn sent(&self, bytes: u64) {
        bump(&self.bytes_out, bytes);
    }

    /// A connection was accepted.
    pub(crate) fn accepted(&self) {
        bump(&self.accepted, 1);
        bump(&self.open, 1);
    }

    /// Accepting paused.
    pub(crate) fn accept_paused(&self) {
        bump(&self.accept_pauses, 1);
    }

    /// A connection ended.
    pub(crate) fn closed(&self, reason: CloseReason) {
        self.open
            .store(read(&self.open).saturating_sub(1), Ordering::Relaxed);
        bump(&self.closes[reason.index()], 1);
        if let CloseReason::Rejected(status) = reason {
            let slot = REJECT_STATUSES
                .iter()
                .position(|&s| s == status)
                .unwrap_or(REJECT_STATUSES.len() - 1);
            bump(&self.rejected[slot], 1);
        }
    }

    /// A TLS connection ended, its handshake having gone as `outcome` says.
    pub(crate) fn tls(&self, outcome: Outcome) {
        let t = &self.tls;
        match outcome {
            Outcome::Completed { resumed } => {
                bump(&t.completed, 1);
                bump(&t.resumed, u64::from(resumed));
            }
            Outcome::PlainHttp => bump(&t.plain_http, 1),
            Outcome::Failed(failure) => {
                let i = Failure::ALL.iter().position(|&f| f == failure).unwrap_or(0);
                bump(&t.failed[i], 1);
            }
            Outcome::Nothing => {}
        }
    }

    /// A live reload event stream opened.
    pub(crate) fn subscribed(&self) {
        bump(&self.subscribers, 1);
        bump(&self.subscriptions, 1);
    }

    /// A live reload event stream ended.
    pub(crate) fn unsubscribed(&self) {
        self.subscribers
            .store(read(&self.subscribers).saturating_sub(1), Ordering::Relaxed);
    }

    /// A live reload event went out on one stream.
    pub(crate) fn event_sent(&self) {
        bump(&self.events, 1);
    }

    /// A point-in-time copy.
    pub fn snapshot(&self) -> Snapshot {
        let responses = self
            .responses
            .each_ref()
            .map(|row| row.each_ref().map(read));
        Snapshot {
            responses,
            coded: self.coded.each_ref().map(|row| row.each_ref().map(read)),
            bytes_out: read(&self.bytes_out),
            accepted: read(&self.accepted),
            open: read(&self.open),
            accept_pauses: read(&self.accept_pauses),
            closes: self.closes.each_ref().map(read),
            rejected: self.rejected.each_ref().map(read),
            service: self.service.snapshot(),
            service_sum: read(&self.service_sum),
            tls: TlsSnapshot {
                completed: read(&self.tls.completed),
                resumed: read(&self.tls.resumed),
                failed: self.tls.failed.each_ref().map(read),
                plain_http: read(&self.tls.plain_http),
            },
            subscribers: read(&self.subscribers),
            subscriptions: read(&self.subscriptions),
            events: read(&self.events),
        }
    }
}

/// Every worker's counters, so that any worker can report the whole server's (the metrics page):
/// each worker registers its own [`Stats`] when it is bound, and goes on bumping them through its
/// own reference, so the lock here is taken only to register and to take a snapshot.
#[derive(Default)]
pub struct Registry {
    workers: Mutex<Vec<Arc<Stats>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registry({} workers)", self.workers())
    }
}

impl Registry {
    /// Adds a worker's counters.
    pub(crate) fn register(&self, stats: Arc<Stats>) {
        self.lock().push(stats);
    }

    /// How many workers have registered.
    pub fn workers(&self) -> usize {
        self.lock().len()
    }

    /// The sum of every registered worker's counters now.
    pub fn snapshot(&self) -> Snapshot {
        let snapshots: Vec<Snapshot> = self.lock().iter().map(|s| s.snapshot()).collect();
        Snapshot::sum(&snapshots)
    }

    /// The list, even if a thread panicked holding it (it is only ever pushed to).
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Stats>>> {
        self.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counter values at one moment, summable across workers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Responses (requests answered or refused) by method ([`METHODS`]) and status class; their
    /// totals are [`Snapshot::classes`] and [`Snapshot::requests`].
    pub(crate) responses: [[u64; 5]; METHODS.len()],
    /// Compressed responses by coding ([`CODINGS`]) and source ([`CODED_FROM`]).
    pub(crate) coded: [[u64; CODED_FROM.len()]; CODINGS.len()],
    pub(crate) bytes_out: u64,
    pub(crate) accepted: u64,
    pub(crate) open: u64,
    pub(crate) accept_pauses: u64,
    pub(crate) closes: [u64; CLOSE_KINDS],
    pub(crate) rejected: [u64; REJECT_STATUSES.len()],
    pub(crate) service: Vec<u64>,
    /// The sum of the service times in `service`, in microseconds.
    pub(crate) service_sum: u64,
    /// Live reload's event streams open (part of `open`).
    pub(crate) subscribers: u64,
    pub(crate) subscriptions: u64,
    pub(crate) events: u64,
    pub(crate) tls: TlsSnapshot,
}

/// The TLS counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSnapshot {
    pub(crate) completed: u64,
    pub(crate) resumed: u64,
    pub(crate) failed: [u64; Failure::ALL.len()],
    pub(crate) plain_http: u64,
}

impl Snapshot {
    /// Responses by status class, every method's together.
    pub(crate) fn classes(&self) -> [u64; 5] {
        let mut classes = [0; 5];
        for row in &self.responses {
            add(&mut classes, row);
        }
        classes
    }

    /// The sum of several workers' snapshots.
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a Snapshot>) -> Snapshot {
        let mut total = Snapshot {
            service: vec![0; BUCKETS],
            ..Snapshot::default()
        };
        for s in all {
            total.bytes_out += s.bytes_out;
            total.accepted += s.accepted;
            total.open += s.open;
            total.accept_pauses += s.accept_pauses;
            total.service_sum += s.service_sum;
            total.subscribers += s.subscribers;
            total.subscriptions += s.subscriptions;
            total.events += s.events;
            for (into, from) in total.responses.iter_mut().zip(&s.responses) {
                add(into, from);
            }
            for (into, from) in total.coded.iter_mut().zip(&s.coded) {
                add(into, from);
            }
            add(&mut total.closes, &s.closes);
            add(&mut total.rejected, &s.rejected);
            total.tls.completed += s.tls.completed;
            total.tls.resumed += s.tls.resumed;
            total.tls.plain_http += s.tls.plain_http;
            add(&mut total.tls.failed, &s.tls.failed);
            total
                .service
                .iter_mut()
                .zip(&s.service)
                .for_each(|(a, b)| *a += b);
        }
        total
    }

    /// Live reload event streams open.
    pub fn subscribers(&self) -> u64 {
        self.subscribers
    }

    /// Live reload events sent, one per subscriber per change.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Connections that ended for `reason` (all rejections together for `Rejected`).
    pub(crate) fn closes(&self, reason: CloseReason) -> u64 {
        self.closes[reason.index()]
    }

    /// The live line for the second between `before` and `self`.
    pub fn live_line(&self, before: &Snapshot, seconds: f64) -> String {
        let per_sec = |now: u64, then: u64| (now - then) as f64 / seconds.max(1e-9);
        let micros = |q| {
            Histogram::quantile(&self.service, &before.service, q)
                .map_or_else(|| "-".to_string(), format_micros)
        };
        let (classes, classes_before) = (self.classes(), before.classes());
        let class = |i: usize| classes[i] - classes_before[i];
        let errors: u64 = [
            CloseReason::Reset,
            CloseReason::Error,
            CloseReason::SendTimeout,
        ]
        .iter()
        .map(|&r| self.closes(r) - before.closes(r))
        .sum();
        // Live reload's subscribers are connections too, counted apart: they idle for hours.
        let live = if self.subscriptions > 0 {
            format!(" ({} live)", self.subscribers)
        } else {
            String::new()
        };
        format!(
            "{:>8.0} req/s {:>8.2} MB/s {:>6} conns{live}  p50 {:>7} p99 {:>7}  2xx {} 3xx {} 4xx {} 5xx {}  errors {}",
            per_sec(classes.iter().sum(), classes_before.iter().sum()),
            per_sec(self.bytes_out, before.bytes_out) / 1e6,
            self.open,
            micros(0.5),
            micros(0.99),
            class(1),
            class(2),
            class(3),
            class(4),
            errors,
        )
    }

    /// The exit report: totals and why connections ended.
    pub fn report(&self, uptime: Duration) -> String {
        let classes = self.classes();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "mioserve: {} requests in {:.1}s (1xx {}, 2xx {}, 3xx {}, 4xx {}, 5xx {}), {} bytes out, {} connections accepted",
            classes.iter().sum::<u64>(),
            uptime.as_secs_f64(),
            classes[0],
            classes[1],
            classes[2],
            classes[3],
            classes[4],
            self.bytes_out,
            self.accepted,
        );
        let rejected: Vec<String> = REJECT_STATUSES
            .iter()
            .zip(self.rejected)
            .filter(|(_, n)| *n > 0)
            .map(|(status, n)| format!("{status}: {n}"))
            .collect();
        let rejected = if rejected.is_empty() {
            String::new()
        } else {
            format!(" ({})", rejected.join(", "))
        };
        let c = |r| self.closes(r);
        let _ = writeln!(
            out,
            "connections ended: client closed {}, Connection: close {}, keep-alive idle timeout {}, header timeout {}, send timeout {}, body timeout {}, parse error {}{}, TLS handshake on plain HTTP {}, reset by peer {}, other error {}, shutdown {}; accept paused {} times (connection cap or no descriptors)",
            c(CloseReason::ClientClosed),
            c(CloseReason::ConnectionClose),
            c(CloseReason::IdleTimeout),
            c(CloseReason::HeaderTimeout),
            c(CloseReason::SendTimeout),
            c(CloseReason::BodyTimeout),
            c(CloseReason::Rejected(0)),
            rejected,
            c(CloseReason::TlsHandshake),
            c(CloseReason::Reset),
            c(CloseReason::Error),
            c(CloseReason::Shutdown),
            self.accept_pauses,
        );
        let t = &self.tls;
        if t.completed + t.plain_http + t.failed.iter().sum::<u64>() > 0 {
            let failed: Vec<String> = Failure::ALL
                .iter()
                .zip(t.failed)
                .map(|(f, n)| format!("{} {n}", f.name()))
                .collect();
            let _ = writeln!(
                out,
                "TLS: handshakes completed {} (resumed {}), failed {} ({}); plain HTTP on the HTTPS port {} (answered 308)",
                t.completed,
                t.resumed,
                t.failed.iter().sum::<u64>(),
                failed.join(", "),
                t.plain_http,
            );
        }
        if self.subscriptions > 0 {
            let _ = writeln!(
                out,
                "live reload: {} event streams opened, {} events sent",
                self.subscriptions, self.events,
            );
        }
        out
    }
}

fn add(into: &mut [u64], from: &[u64]) {
    into.iter_mut().zip(from).for_each(|(a, b)| *a += b);
}

fn format_micros(us: u64) -> String {
    if us < 1000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// What a connection has answered, for the counters and the service-time histogram.
#[derive(Debug, Default)]
pub(crate) struct Answered {
    /// Requests answered (or refused) on this connection.
    pub(crate) total: u64,
    /// When the oldest response not yet fully written had its head complete.
    batch_since: Option<Instant>,
    /// Responses in that batch.
    batch_len: u32,
}

impl Answered {
    /// Counts a response, queued in the loop's wake-up at `now`. Its service time runs from that
    /// wake-up, which read its head (or found it waiting its turn), rather than from a clock read
    /// of its own per response.
    pub(crate) fn count(&mut self, stats: &Stats, tally: Tally, now: Instant) {
        stats.response(tally);
        self.total += 1;
        self.batch_since.get_or_insert(now);
        self.batch_len += 1;
    }

    /// Every queued response has been written: the batch's service time goes into the histogram.
    pub(crate) fn written(&mut self, stats: &Stats) {
        if let Some(since) = self.batch_since.take() {
            stats.served(u64::from(self.batch_len), since.elapsed());
            self.batch_len = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip() {
        for value in [0, 1, 15, 16, 17, 31, 32, 100, 1000, 123_456, 1 << 30] {
            let bucket = Histogram::bucket(value);
            assert!(Histogram::lower_bound(bucket) <= value, "{value}");
            assert!(value < Histogram::lower_bound(bucket + 1), "{value}");
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        // 1..=10_000 µs, uniform: p50 ≈ 5,000, p99 ≈ 9,900, within the 1/16 bucket resolution.
        let h = Histogram::default();
        for v in 1..=10_000 {
            h.record(v, 1);
        }
        let all = h.snapshot();
        for (q, want) in [(0.5, 5_000.0), (0.99, 9_900.0), (0.999, 9_990.0)] {
            let got = Histogram::quantile(&all, &[], q).unwrap() as f64;
            assert!(
                (got - want).abs() / want < 1.0 / 16.0,
                "q{q}: {got} vs {want}"
            );
        }
        // A two-valued distribution: 90% at 100 µs, 10% at 50 ms.
        let h = Histogram::default();
        h.record(100, 900);
        h.record(50_000, 100);
        let all = h.snapshot();
        let p50 = Histogram::quantile(&all, &[], 0.5).unwrap();
        let p99 = Histogram::quantile(&all, &[], 0.99).unwrap();
        assert!((96..=104).contains(&p50), "{p50}");
        assert!((48_000..=52_000).contains(&p99), "{p99}");
    }

    #[test]
    fn quantiles_over_a_window() {
        let h = Histogram::default();
        h.record(10, 1000);
        let before = h.snapshot();
        h.record(5000, 10);
        let now = h.snapshot();
        let p50 = Histogram::quantile(&now, &before, 0.5).unwrap();
        assert!(
            (4800..=5200).contains(&p50),
            "only the window counts: {p50}"
        );
        assert_eq!(Histogram::quantile(&before, &before, 0.5), None);
    }

    #[test]
    fn close_reasons_are_listed_in_index_order() {
        for (i, reason) in CLOSE_REASONS.iter().enumerate() {
            assert_eq!(reason.index(), i, "{reason:?}");
        }
    }

    #[test]
    fn a_registry_sums_its_workers() {
        let registry = Registry::default();
        let (a, b) = (Arc::new(Stats::default()), Arc::new(Stats::default()));
        registry.register(Arc::clone(&a));
        registry.register(Arc::clone(&b));
        let get = Tally {
            method: Method::Get,
            status: 200,
            coded: None,
        };
        a.response(get);
        b.response(get);
        b.response(Tally {
            method: Method::Post,
            status: 405,
            coded: Some(Coded { coding: 0, from: 2 }),
        });
        b.served(3, Duration::from_micros(7));
        let total = registry.snapshot();
        assert_eq!(registry.workers(), 2);
        assert_eq!(total.classes().iter().sum::<u64>(), 3);
        assert_eq!(total.classes(), [0, 2, 0, 1, 0]);
        assert_eq!(total.responses[0][1], 2);
        assert_eq!(total.responses[3][3], 1);
        assert_eq!(total.coded[0][2], 1);
        assert_eq!(total.service_sum, 21);
    }

    #[test]
    fn report_counts_reasons() {
        let stats = Stats::default();
        stats.accepted();
        stats.accepted();
        stats.response(Tally {
            method: Method::Get,
            status: 200,
            coded: None,
        });
        stats.response(Tally {
            method: Method::Unknown,
            status: 431,
            coded: None,
        });
        stats.closed(CloseReason::Rejected(431));
        stats.closed(CloseReason::HeaderTimeout);
        stats.closed(CloseReason::TlsHandshake);
        let total = Snapshot::sum([&stats.snapshot(), &stats.snapshot()]);
        assert_eq!(total.classes().iter().sum::<u64>(), 4);
        assert_eq!(total.closes(CloseReason::HeaderTimeout), 2);
        let report = total.report(Duration::from_secs(3));
        assert!(
            report.contains("4 requests in 3.0s (1xx 0, 2xx 2, 3xx 0, 4xx 2, 5xx 0)"),
            "{report}"
        );
        assert!(report.contains("parse error 2 (431: 2)"), "{report}");
        assert!(report.contains("header timeout 2"), "{report}");
        assert!(report.contains("TLS handshake on plain HTTP 2"), "{report}");
    }
}
