//! One exchange: a request in, a response queued out. Every response goes through here once,
//! answered or refused, in one order: the handler decides (or the request was refused), the
//! framing is decided, `--explain` says why, the head is encoded into the write buffer and the
//! body is started, and the response is logged and counted. Each step is a call down to the
//! module that owns it.
//!
//! Owns that order and [`Cx`], what the loop lends a connection while it runs. Knows nothing of
//! phases, buffers or the socket (that is [`crate::conn`], which calls [`answer`] and [`refuse`]
//! and decides what happens after), nor of files and HTTP semantics (that is [`crate::handler`]).
//!
//! Cost: what the handler, the head encoder and the body writer cost, plus one access-log line
//! formatted into the log's own buffer when the log is on; no allocation of its own (`--explain`
//! formats a `String` per request when it is on, and a listing's log entry is kept, owned, until
//! its body ends).

use std::net::IpAddr;
use std::time::Instant;

use crate::access_log::{AccessLog, Deferred, Entry, RequestLine};
use crate::config::ConnConfig;
use crate::explain::{self, Delivery};
use crate::handler::{self, Site, WorkerState};
use crate::http::date::DateCache;
use crate::http::error::ParseError;
use crate::http::parse::RequestHead;
use crate::http::{Method, Status, Version};
use crate::pool::BufferPool;
use crate::response::coding::Coding;
use crate::response::framing::{self, Framing, Terms};
use crate::response::head;
use crate::response::plan::ResponsePlan;
use crate::response::reason::{CodingWhy, Reason};
use crate::response::writer::BodyWriter;
use crate::stats::{Answered, CloseReason, Coded, Stats, Tally};
use crate::transport::Security;

/// Everything a connection borrows from its loop while it runs.
pub struct Cx<'a> {
    pub site: &'a Site,
    pub config: &'a ConnConfig,
    pub pool: &'a mut BufferPool,
    pub date: &'a DateCache,
    /// What the handler keeps between requests: the open-file cache and its path buffer.
    pub worker: &'a mut WorkerState,
    pub log: &'a mut AccessLog,
    pub stats: &'a Stats,
    pub now: Instant,
    /// The server is shutting down: every response closes its connection.
    pub draining: bool,
}

/// The connection an exchange happens on, as the access log names it.
#[derive(Debug)]
pub(crate) struct Client<'a> {
    pub(crate) peer: IpAddr,
    /// The connection's id (unique for the life of the loop).
    pub(crate) id: u64,
    /// What the connection speaks: TLS is marked in `--explain` and the extended log; plain
    /// HTTP on the HTTPS port is answered with a redirect.
    pub(crate) security: Security,
    /// Whether the transport can `sendfile` (not through TLS), for `--explain`'s delivery.
    pub(crate) sends_files: bool,
    /// What the connection has answered so far, counted here.
    pub(crate) answered: &'a mut Answered,
}

/// A response queued in the write buffer: how it is framed and the rest of its body.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) framing: Framing,
    pub(crate) body: BodyWriter,
    /// The access-log entry, when it waits for the end of the body: a generated body of unknown
    /// length (a listing) is logged with the bytes it turns out to have, and the answer to a
    /// request whose body is still to be read only once it is sent.
    pub(crate) log_at_end: Option<Box<Deferred>>,
    /// What the response adds to the counters: counted here, unless a request body is still to
    /// be read (`body_follows`), when the connection counts it once the body is whole.
    pub(crate) tally: Tally,
}

/// Answers the parsed request `head`, queueing the response behind what `out` holds.
/// `unread_body`: a body follows that will not be read (an `Expect: 100-continue` answered at
/// once), so the connection must close after this response. `body_follows`: a body follows that
/// the connection reads (and discards) before sending the response; a broken one replaces the
/// response with a 400, so this one is logged when sent and counted when the body is whole.
// Inline: the one caller is the connection, once per request.
#[inline]
pub(crate) fn answer(
    cx: &mut Cx<'_>,
    head: &RequestHead<'_>,
    unread_body: bool,
    body_follows: bool,
    client: Client<'_>,
    out: &mut Vec<u8>,
) -> Queued {
    cx.worker.now = cx.now;
    cx.worker.wall = cx.date.now();
    let plan = match client.security {
        Security::PlainOnTlsPort(here) => {
            let authority = head
                .fields
                .host
                .and_then(|host| std::str::from_utf8(host).ok())
                .map_or_else(|| here.to_string(), str::to_string);
            let plan = ResponsePlan::to_https(&authority, head.target);
            if head.method == Method::Head {
                plan.without_body()
            } else {
                plan
            }
        }
        _ => handler::handle(head, cx.site, cx.worker),
    };
    let unframed = plan.is_unframed();
    let framing = framing::decide(Terms {
        version: head.version,
        client_keep_alive: head.keep_alive,
        must_close: plan.close || unread_body || !cx.config.keep_alive || cx.draining,
        unframed,
    });
    if cx.config.explain {
        let sendfile = cx.config.sendfile && client.sends_files;
        let delivery = Delivery::of(&plan, framing.delimiter, sendfile);
        let mut line = explain::line(head, &plan, delivery);
        explain::mark_security(&mut line, client.security);
        explain::print(line);
    }
    let status = plan.status.code();
    let tally = Tally {
        method: head.method,
        status,
        coded: coded(&plan),
    };
    // A container's health probe every few seconds would drown the access log.
    let logged = cx.log.enabled() && (cx.config.log_health || plan.reason != Some(Reason::Health));
    let body_bytes = plan.body_bytes();
    let body = start(cx, plan, framing, out);
    let mut log_at_end = None;
    if logged {
        let entry = Entry {
            peer: client.peer,
            conn: client.id,
            request: RequestLine::Parsed {
                method: head.method_token,
                target: head.target,
                version: match head.version {
                    Version::Http10 => "HTTP/1.0",
                    Version::Http11 => "HTTP/1.1",
                },
            },
            status,
            body_bytes,
            referer: head.fields.referer,
            user_agent: head.fields.user_agent,
            security: client.security,
        };
        if unframed || body_follows {
            log_at_end = Some(Box::new(Deferred::new(&entry, unframed)));
        } else {
            cx.log.record(&entry, cx.date.clf(), cx.now);
        }
    }
    if !body_follows {
        client.answered.count(cx.stats, tally, cx.now);
    }
    Queued {
        framing,
        body,
        log_at_end,
        tally,
    }
}

/// The counters' name for `plan`'s content coding, if it is compressed.
fn coded(plan: &ResponsePlan) -> Option<Coded> {
    let coding = match plan.content_encoding? {
        Coding::Brotli => 0,
        Coding::Zstd => 1,
        Coding::Gzip => 2,
        Coding::Identity => return None,
    };
    let from = match plan.representation?.why {
        CodingWhy::Sidecar => 0,
        CodingWhy::CachedVariant => 1,
        CodingWhy::OnTheFly => 2,
        _ => return None,
    };
    Some(Coded { coding, from })
}

/// Writes the head of `plan` into `out` and starts its body behind it: the step every response,
/// answered or refused, takes after its framing is decided.
#[inline]
fn start(cx: &Cx<'_>, plan: ResponsePlan, framing: Framing, out: &mut Vec<u8>) -> BodyWriter {
    head::encode(&plan, cx.date, framing, cx.site.extra_headers(), out);
    BodyWriter::start(plan.body, framing.delimiter, out)
}

/// Why a request is refused before the handler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its head, or its body's framing, cannot be accepted.
    Malformed(ParseError),
    /// Its head or its body did not arrive in time (408).
    Timeout,
}

impl Refusal {
    /// The status that answers it.
    pub(crate) fn status(self) -> Status {
        match self {
            Refusal::Malformed(error) => error.status(),
            Refusal::Timeout => Status::REQUEST_TIMEOUT,
        }
    }

    /// Why the connection ends after it: a TLS handshake is counted apart from parse errors.
    pub(crate) fn close_reason(self) -> CloseReason {
        match self {
            Refusal::Malformed(ParseError::TlsHandshake) => CloseReason::TlsHandshake,
            _ => CloseReason::Rejected(self.status().code()),
        }
    }
}

/// Queues the built-in error page for `refusal` behind what `out` holds; `request_line` is what
/// there was of the request's first line, which also says whether it is a HEAD request: a refused
/// one still gets no content (RFC 9110 §9.3.2). Where a request was refused, where the next one
/// starts is not known: the connection always closes.
pub(crate) fn refuse(
    cx: &mut Cx<'_>,
    refusal: Refusal,
    request_line: &[u8],
    client: Client<'_>,
    out: &mut Vec<u8>,
) -> Queued {
    if let (true, Refusal::Malformed(error)) = (cx.config.explain, refusal) {
        let mut line = explain::rejected_line(request_line, error);
        explain::mark_security(&mut line, client.security);
        explain::print(line);
    }
    let status = refusal.status();
    let mut plan = match refusal {
        Refusal::Malformed(error) => ResponsePlan::refused(error),
        Refusal::Timeout => ResponsePlan::error(status),
    };
    let method = method_of(request_line);
    if method == Method::Head {
        plan = plan.without_body();
    }
    let framing = framing::decide(Terms {
        version: Version::Http11,
        client_keep_alive: false,
        must_close: true,
        unframed: plan.is_unframed(),
    });
    let body_bytes = plan.body_bytes();
    let body = start(cx, plan, framing, out);
    let tally = Tally {
        method,
        status: status.code(),
        coded: None,
    };
    if cx.log.enabled() {
        let entry = Entry {
            peer: client.peer,
            conn: client.id,
            request: RequestLine::Raw(request_line),
            status: status.code(),
            body_bytes,
            referer: None,
            user_agent: None,
            security: client.security,
        };
        cx.log.record(&entry, cx.date.clf(), cx.now);
    }
    client.answered.count(cx.stats, tally, cx.now);
    Queued {
        framing,
        body,
        log_at_end: None,
        tally,
    }
}

/// The method of a refused request, from what there was of its request line: `Unknown` (counted
/// as `other`) when the line does not start with a method this server knows and a space.
fn method_of(request_line: &[u8]) -> Method {
    request_line
        .iter()
        .position(|&b| b == b' ')
        .and_then(|end| std::str::from_utf8(&request_line[..end]).ok())
        .map_or(Method::Unknown, Method::from_token)
}
