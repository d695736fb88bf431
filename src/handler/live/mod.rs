//! Live reload's part of the handler (`--live-reload`): the event stream and the client scripts
//! under the reserved prefix, and the script tag injected into HTML responses.
//!
//! The event stream (`/__mioserve/live`) is a `text/event-stream` response that never ends: a
//! [`BodySource`] that has nothing to say most of the time ([`Piece::Pending`]) and, when the
//! worker's [`Feed`] has a newer change, says `reload` or `css`. It starts with `retry:` and sends
//! a comment as a heartbeat when it has been quiet for the heartbeat interval, so a subscriber
//! that went away is found. The loop moves the feed forward when the watcher wakes it
//! (`crate::watch`) and runs the subscribers then.
//!
//! Injection puts `<script src="/__mioserve/live.js" defer></script>` before the last `</body>`
//! (else `</html>`, else at the end) of an HTML file, the SPA fallback, a custom 404 page or a
//! built-in error page (listings write it themselves). An injected file is another
//! representation of it: its own bytes, length and ETag (`-lr` inside the quotes), compressed
//! after injection, ranges answered from the injected bytes. A request with an `Origin` field
//! (fetch, XHR) gets the file as it is. The script is external, so a page's CSP that allows
//! `'self'` still runs it.
//!
//! Cost: nothing for a request of anything but HTML. An injected page is read whole (one `pread`
//! unless the open-file cache holds it) and copied once; at most [`INJECT_MAX`] is injected.
//! A subscriber costs its connection and a boxed source of a few words.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cache_control;
use super::open_files::{CachedFile, read_whole};
use crate::http::Status;
use crate::http::parse::RequestHead;
use crate::response::body::{Body, BodySource, MemoryBody, Piece};
use crate::response::content_type::ContentType;
use crate::response::plan::{RareField, ResponsePlan};
use crate::response::reason::{Injection, Reason};
use crate::stats::Stats;
use crate::watch::Change;

/// The event stream, below the reserved prefix.
const EVENTS: &[u8] = b"live";
/// The page's script, below the reserved prefix.
const CLIENT: &[u8] = b"live.js";
/// The shared worker's script, below the reserved prefix.
const WORKER: &[u8] = b"live-worker.js";
const CLIENT_JS: &[u8] = include_bytes!("live.js");
const WORKER_JS: &[u8] = include_bytes!("live-worker.js");
/// What goes into an HTML page.
pub(crate) const TAG: &[u8] = b"<script src=\"/__mioserve/live.js\" defer></script>";
/// The largest HTML file injected: it is read whole into memory. Arbitrary, far above any page a
/// person edits by hand; a larger one is served as it is.
pub(crate) const INJECT_MAX: u64 = 4 * 1024 * 1024;
/// What the event stream says first: reconnect a second after a drop (the browser's default is
/// three).
const RETRY: &[u8] = b"retry: 1000\n\n";
/// A comment line: nothing to the page, proof of life to the connection.
const HEARTBEAT: &[u8] = b": heartbeat\n\n";
/// Seconds a client refused at the subscriber cap is told to wait.
const RETRY_AFTER: u32 = 5;

/// Live reload as one worker sees it: the latest change, the loop's clock for heartbeats, and
/// whether the server is shutting down. Its subscribers each hold a reference, so their number
/// is the reference count less the worker's own.
pub struct Feed {
    /// The latest change's generation (0 before any) and kind.
    latest: Cell<(u64, Change)>,
    /// The loop's current wake-up.
    now: Cell<Instant>,
    /// Shutdown began: every stream ends.
    closing: Cell<bool>,
    /// Quiet time after which a stream sends a heartbeat.
    heartbeat: Duration,
    /// Subscribers one worker takes; more get 503.
    max_subscribers: usize,
    /// The worker's counters: subscriptions and events sent.
    stats: Arc<Stats>,
}

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feed")
            .field("latest", &self.latest.get())
            .field("closing", &self.closing.get())
            .finish()
    }
}

impl Feed {
    /// A feed whose streams send a heartbeat after `heartbeat` of quiet, taking at most
    /// `max_subscribers`, counted in `stats`.
    pub fn new(heartbeat: Duration, max_subscribers: usize, stats: Arc<Stats>) -> Feed {
        Feed {
            latest: Cell::new((0, Change::Reload)),
            now: Cell::new(Instant::now()),
            closing: Cell::new(false),
            heartbeat,
            max_subscribers,
            stats,
        }
    }

    /// Moves to `latest` (from the watcher's hub); returns whether it is news.
    pub fn update(&self, latest: (u64, Change)) -> bool {
        let news = latest.0 != self.latest.get().0;
        self.latest.set(latest);
        news
    }

    /// The loop's clock, set once per wake-up.
    pub fn tick(&self, now: Instant) {
        self.now.set(now);
    }

    /// Ends every stream (shutdown).
    pub fn close(&self) {
        self.closing.set(true);
    }

    /// Streams open on this worker.
    fn subscribers(self: &Rc<Self>) -> usize {
        Rc::strong_count(self) - 1
    }
}

/// One subscriber's stream.
#[derive(Debug)]
struct EventStream {
    feed: Rc<Feed>,
    /// The generation last sent (or current when it subscribed: an older change is no news).
    seen: u64,
    /// `retry:` went out.
    started: bool,
    /// When the stream last said anything.
    last_write: Instant,
}

impl EventStream {
    fn new(feed: Rc<Feed>) -> EventStream {
        feed.stats.subscribed();
        EventStream {
            seen: feed.latest.get().0,
            started: false,
            last_write: feed.now.get(),
            feed,
        }
    }
}

impl BodySource for EventStream {
    fn next_piece(&mut self, out: &mut Vec<u8>, _max: usize) -> io::Result<Piece> {
        let now = self.feed.now.get();
        if !self.started {
            self.started = true;
            self.last_write = now;
            out.extend_from_slice(RETRY);
            return Ok(Piece::Bytes);
        }
        if self.feed.closing.get() {
            return Ok(Piece::End);
        }
        let (generation, change) = self.feed.latest.get();
        if generation != self.seen {
            self.seen = generation;
            self.last_write = now;
            out.extend_from_slice(match change {
                Change::Reload => b"event: reload\ndata: \n\n",
                Change::Css => b"event: css\ndata: \n\n",
            });
            self.feed.stats.event_sent();
            return Ok(Piece::Bytes);
        }
        if now.saturating_duration_since(self.last_write) >= self.feed.heartbeat {
            self.last_write = now;
            out.extend_from_slice(HEARTBEAT);
            return Ok(Piece::Bytes);
        }
        Ok(Piece::Pending)
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.feed.stats.unsubscribed();
    }
}

/// The answer for `rest`, a path below the reserved prefix, if it is one of live reload's; `None`
/// when it is not, or live reload is off (`feed` is `None`).
pub(super) fn serve_reserved(rest: &[u8], feed: Option<&Rc<Feed>>) -> Option<ResponsePlan> {
    let feed = feed?;
    let script = |bytes: &'static [u8]| ResponsePlan {
        content_type: Some(ContentType {
            mime: "text/javascript",
            charset: true,
        }),
        content_length: Some(bytes.len() as u64),
        // The scripts change only with the server: revalidated cheaply, never stale.
        cache_control: Some(cache_control::no_cache()),
        body: Body::Static(bytes),
        reason: Some(Reason::LiveReload),
        ..ResponsePlan::empty(Status::OK)
    };
    Some(match rest {
        CLIENT => script(CLIENT_JS),
        WORKER => script(WORKER_JS),
        EVENTS if feed.subscribers() >= feed.max_subscribers => ResponsePlan {
            rare: Some(RareField::RetryAfter(RETRY_AFTER)),
            ..ResponsePlan::error(Status::SERVICE_UNAVAILABLE).because(Reason::TooManySubscribers)
        },
        EVENTS => ResponsePlan {
            content_type: Some(ContentType {
                mime: "text/event-stream",
                charset: false,
            }),
            content_length: None,
            cache_control: Some(cache_control::no_store()),
            body: Body::Stream(Box::new(EventStream::new(Rc::clone(feed)))),
            reason: Some(Reason::LiveReload),
            ..ResponsePlan::empty(Status::OK)
        },
        _ => return None,
    })
}

/// Whether a response to `req` would get the script: live reload is on (`feed`) and the
/// request is a page load, not a fetch or XHR (those send `Origin`).
pub(super) fn wants_injection(req: &RequestHead<'_>, feed: Option<&Rc<Feed>>) -> Option<Injection> {
    feed?;
    Some(if req.fields.origin {
        Injection::Origin
    } else {
        Injection::Injected
    })
}

/// The content of `cached`, an HTML file, with the script injected; or why it was not.
pub(super) fn inject_file(cached: &CachedFile) -> Result<Rc<Vec<u8>>, Injection> {
    let len = cached.meta.len();
    if len > INJECT_MAX {
        return Err(Injection::TooLarge);
    }
    let read;
    let html = match &cached.content {
        Some(held) => held,
        None => {
            read = read_whole(&cached.file, len).ok_or(Injection::Unreadable)?;
            &read
        }
    };
    Ok(Rc::new(inject(html)))
}

/// `plan`, a built-in HTML error page, with the script injected. Its status and fields stay; only
/// its body and length change. (The root's `404.html` is a file and has its script already:
/// `file::serve_page` injects it as it injects any page.)
pub(super) fn inject_error_page(plan: ResponsePlan) -> ResponsePlan {
    let Body::Static(bytes) = &plan.body else {
        return plan;
    };
    let page = inject(bytes);
    let len = page.len() as u64;
    ResponsePlan {
        content_length: Some(len),
        body: Body::Memory(MemoryBody::new(Rc::new(page), 0, len)),
        ..plan
    }
    .injected(Injection::Injected)
}

/// `html` with [`TAG`] before its last `</body>`, else before its last `</html>`, else at its end
/// (names matched in any case).
pub(crate) fn inject(html: &[u8]) -> Vec<u8> {
    let at = last_tag(html, b"</body")
        .or_else(|| last_tag(html, b"</html"))
        .unwrap_or(html.len());
    let mut out = Vec::with_capacity(html.len() + TAG.len());
    out.extend_from_slice(&html[..at]);
    out.extend_from_slice(TAG);
    out.extend_from_slice(&html[at..]);
    out
}

/// Where the last `tag` (an end tag's opening, like `</body`) starts in `html`, in any case.
fn last_tag(html: &[u8], tag: &[u8]) -> Option<usize> {
    html.windows(tag.len())
        .rposition(|w| w.eq_ignore_ascii_case(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_goes_before_the_last_body_end() {
        let tag = std::str::from_utf8(TAG).unwrap();
        // (page, injected)
        let cases: &[(&str, String)] = &[
            (
                "<html><body><p>x</p></body></html>",
                format!("<html><body><p>x</p>{tag}</body></html>"),
            ),
            (
                "<BODY>a</BODY>\n</HTML>",
                format!("<BODY>a{tag}</BODY>\n</HTML>"),
            ),
            // A `</body>` in a script string comes before the real one: the last wins.
            (
                "<script>'</body>'</script></body>",
                format!("<script>'</body>'</script>{tag}</body>"),
            ),
            (
                "<p>no body end</p></html>",
                format!("<p>no body end</p>{tag}</html>"),
            ),
            ("just text", format!("just text{tag}")),
            ("", tag.to_string()),
        ];
        for (page, want) in cases {
            let got = inject(page.as_bytes());
            assert_eq!(String::from_utf8(got).unwrap(), *want, "{page}");
        }
    }

    fn drain_now(stream: &mut EventStream) -> (String, bool) {
        let mut out = Vec::new();
        let pending = loop {
            match stream.next_piece(&mut out, 1024).unwrap() {
                Piece::Bytes => {}
                Piece::Pending => break true,
                Piece::End => break false,
                Piece::File(_) => panic!("no file pieces"),
            }
        };
        (String::from_utf8(out).unwrap(), pending)
    }

    #[test]
    fn a_stream_says_retry_then_changes_then_heartbeats() {
        let stats = Arc::new(Stats::default());
        let feed = Rc::new(Feed::new(Duration::from_secs(20), 10, Arc::clone(&stats)));
        let start = Instant::now();
        feed.tick(start);
        // A change before the subscription is no news to it.
        feed.update((1, Change::Reload));
        let mut stream = EventStream::new(Rc::clone(&feed));
        assert_eq!(feed.subscribers(), 1);
        assert_eq!(drain_now(&mut stream), ("retry: 1000\n\n".into(), true));
        assert!(!feed.update((1, Change::Reload)), "the same generation");
        assert!(feed.update((2, Change::Css)));
        assert_eq!(
            drain_now(&mut stream),
            ("event: css\ndata: \n\n".into(), true)
        );
        feed.tick(start + Duration::from_secs(19));
        assert_eq!(drain_now(&mut stream), (String::new(), true));
        feed.tick(start + Duration::from_secs(20));
        assert_eq!(drain_now(&mut stream), (": heartbeat\n\n".into(), true));
        feed.update((3, Change::Reload));
        assert_eq!(
            drain_now(&mut stream),
            ("event: reload\ndata: \n\n".into(), true)
        );
        feed.close();
        assert_eq!(drain_now(&mut stream), (String::new(), false));
        let counted = stats.snapshot();
        assert_eq!((counted.subscribers, counted.events), (1, 2));
        drop(stream);
        assert_eq!(feed.subscribers(), 0);
        assert_eq!(stats.snapshot().subscribers, 0);
    }
}
