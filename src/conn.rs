//! One client connection: its phase, its buffers, its deadline.
//!
//! Owns: reading bytes, finding and parsing request heads, discarding request bodies, queueing
//! responses in request order, keep-alive and close, and what each deadline means. Knows phases
//! and buffers, not file semantics (that is [`crate::handler`]), not how a body is framed or sent
//! (that is `crate::response::writer`, which it only tells when to send) and not the poll (that
//! is [`crate::server`]): the loop calls [`Conn::drive`] after recording readiness, and
//! `Conn::on_deadline` when a deadline passes.
//!
//! mio is edge-triggered, so the connection records what the last event said (`readable`,
//! `writable`) and drains: it reads until the socket is empty or the buffer is full, writes
//! until done or `WouldBlock`, and parses bytes already buffered as soon as a response finishes,
//! since no new event will come for them. A read shorter than the space offered means the socket was
//! empty at that moment; any later byte raises a new edge, so no second read is spent to see
//! `WouldBlock`. The exception is an end of stream reported together with the bytes: no later
//! edge comes for it, so after such an event the connection reads on until a read returns 0.
//!
//! Cost of a kept-alive GET of a small file: one `read`, one `send` (head and body together), plus
//! the handler's `newfstatat` (an open-file cache hit, once per path per wake-up, whose entry
//! holds the content copied behind the head; a miss costs `openat2` + `statx` + a `pread` + one
//! more `newfstatat`); no heap allocation (buffers come from the loop's pool, and the plan shares
//! the cached descriptor and content by reference count). A connection the client asked to close
//! closes at once after its response; see `After::Close` for when it lingers instead.

use std::io;
use std::net::IpAddr;
use std::time::Instant;

use mio::Interest;

use crate::access_log::{AccessLog, Deferred};
use crate::config::ConnConfig;
pub use crate::exchange::Cx;
use crate::exchange::{self, Client, Queued, Refusal};
use crate::http::body::BodyDecoder;
use crate::http::error::ParseError;
use crate::http::parse::{self, find_head_end, parse_head, skip_leading_empty_lines};
use crate::pool::{BufferPool, ReadBuf};
use crate::response::writer::{BodyWriter, Budget, Flow, Outbox, Turn};
use crate::stats::{Answered, CloseReason, Tally};
use crate::timer::{Deadline, DeadlineKind, TimerSlot};
use crate::transport::{Security, Transport};

/// Requests answered per [`Conn::drive`] before yielding to other connections. Arbitrary: large
/// enough to batch a deep pipeline into a few `send`s, small enough that one client cannot starve
/// the rest.
const REQUESTS_PER_TURN: u32 = 64;
/// Stop batching pipelined responses once this much is waiting to be sent.
const BATCH_MAX: usize = 64 * 1024;
/// Bytes a response may take and still close at once when the client asked for the close: what
/// the initial congestion window (ten full-size Ethernet segments, RFC 6928) lets the kernel
/// transmit as soon as it is written, so none of it waits in the send queue for a reset to
/// discard. A client's kernel keeps data it has received when a reset comes.
const FIRST_FLIGHT: u64 = 10 * 1460;
/// Most bytes discarded while lingering before the connection is closed regardless.
const LINGER_MAX_BYTES: usize = 1024 * 1024;

/// The close reason for an I/O error: the peer resetting or vanishing, or anything else.
fn io_reason(e: &io::Error) -> CloseReason {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => CloseReason::Reset,
        _ => CloseReason::Error,
    }
}

/// What there is of the pending request line: the buffered bytes up to the first line break.
fn pending_line(read: Option<&ReadBuf>) -> &[u8] {
    let pending = read.map_or(&[][..], ReadBuf::data);
    let line = pending.split(|&b| b == b'\n').next().unwrap_or_default();
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// What the loop should do with the connection after it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait for an event with this interest.
    Wait(Interest),
    /// It has more work but used its turn: run it again before sleeping.
    Yield,
    /// It sent its turn's share of a large body: run it again once its socket is writable, or
    /// before sleeping, as the platform's [`crate::sys::Pacing`] says.
    Paced,
    /// Close it.
    Close,
}

/// How a connection ends after the response being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Read the next request.
    KeepAlive,
    /// Close. With `linger`, the client may still be sending (a rejected head or body, a body
    /// it was told not to send, or requests it pipelines because it expected the connection to
    /// stay open): shut the write side and drain first, so that data arriving after the close
    /// does not reset the connection and destroy the response before the client reads it (RFC
    /// 9112 §9.6). Without it the connection still lingers if input is left unread when the
    /// response is complete, or if the response may still be in the kernel's send queue (it
    /// waited for the socket, or is larger than a first flight); otherwise it closes at once (a
    /// client that asked for the close sends nothing more), which saves a `shutdown`, a wake-up
    /// and a `read` per connection.
    Close { linger: bool },
}

/// A response being sent: the buffered bytes in `Conn::out` first, then the rest of its body.
#[derive(Debug)]
struct Sending {
    body: BodyWriter,
    after: After,
}

impl Sending {
    /// Nothing to send beyond what is buffered.
    fn after(after: After) -> Sending {
        Sending {
            body: BodyWriter::default(),
            after,
        }
    }
}

/// The connection's phase, with the data each needs.
#[derive(Debug)]
enum Phase {
    /// Reading a request head (or parsing pipelined ones already buffered).
    Head,
    /// Discarding a request body. Boxed: a request with a body is rare for a static server, and
    /// the phase is part of every connection, idle ones included.
    Body(Box<Discarding>),
    /// Sending a response: what follows it is the connection's `after`, kept beside the phase so
    /// that the phase is no larger than the body writer (an idle `Conn` is part of the 0.25 KiB
    /// per connection that the memory target allows).
    Send(BodyWriter),
    /// Write side shut after the last response; discarding input until EOF or the deadline.
    Linger { drained: usize },
}

/// A request body being discarded. Its response is already encoded in `out` from `mark` on and
/// goes out once the body is consumed; on a framing error it is cut off at `mark` and replaced.
#[derive(Debug)]
struct Discarding {
    decoder: BodyDecoder,
    mark: usize,
    then: Sending,
    /// The request line as sent, for the log line of an error answer replacing the response.
    request_line: Box<[u8]>,
    /// What the response adds to the counters once the body is whole (see
    /// [`exchange::answer`]).
    tally: Tally,
}

/// What one phase step asks of the drive loop.
enum Step {
    Continue,
    Wait(Interest),
    Yield,
    Paced,
    Close,
}

/// A client connection over a transport `T` (a `mio::net::TcpStream` in the server).
#[derive(Debug)]
pub struct Conn<T> {
    socket: T,
    phase: Phase,
    /// What follows the response being sent (read in the send phase only).
    after: After,
    ready: Readiness,
    /// Request bytes; taken from the pool when there is something to read, returned when empty.
    read: Option<ReadBuf>,
    /// Response bytes (heads and inlined bodies) not yet sent; the buffer comes from the pool
    /// likewise.
    out: Outbox,
    /// The live deadline, if any (its meaning depends on the phase), and its place in the loop's
    /// timers.
    timer: TimerSlot,
    account: Account,
}

/// What the poll last reported of the socket, as far as the connection has not used it up, and
/// what it asked the poll for. Edge-triggered events come once: a flag set by an event stays set
/// until a read or write shows the socket has nothing more (see the module docs).
#[derive(Debug)]
struct Readiness {
    /// The socket may hold unread bytes: set by a readable event, cleared when a read finds it empty.
    readable: bool,
    /// The socket may accept more bytes: set by a writable event, cleared on `WouldBlock`.
    writable: bool,
    /// The peer shut its write side (a read returned 0).
    peer_closed: bool,
    /// An event reported the peer's FIN (EPOLLRDHUP): a short read no longer proves the socket is
    /// empty, since the end-of-stream still waits to be read.
    hangup_seen: bool,
    /// Interest registered with the poll.
    interest: Interest,
}

/// What the connection has answered and how it ends, for the access log and the counters.
#[derive(Debug)]
struct Account {
    /// The client's address, for the access log (which renders it as text only when it writes).
    peer: IpAddr,
    /// Unique for the life of the loop (slab slots are reused), so a stale timer entry can tell.
    id: u64,
    answered: Answered,
    /// Why the connection is ending, once that is decided (read by the loop when it closes it).
    close_reason: Option<CloseReason>,
    /// The access-log entry of the response in flight, when its body length is known only at its
    /// end (a generated body of unknown length).
    unfinished_log: Option<Box<Deferred>>,
}

impl Account {
    /// The connection as an exchange names and counts it.
    fn client(&mut self, security: Security, sends_files: bool) -> Client<'_> {
        Client {
            peer: self.peer,
            id: self.id,
            security,
            sends_files,
            answered: &mut self.answered,
        }
    }
}

impl<T: Transport> Conn<T> {
    /// A freshly accepted connection, registered for readable events. Its first request must
    /// arrive within the header timeout.
    pub fn new(socket: T, peer: IpAddr, id: u64, now: Instant, config: &ConnConfig) -> Conn<T> {
        Conn {
            socket,
            phase: Phase::Head,
            after: After::KeepAlive,
            ready: Readiness {
                readable: false,
                writable: true,
                peer_closed: false,
                hangup_seen: false,
                interest: Interest::READABLE,
            },
            read: None,
            out: Outbox::default(),
            timer: TimerSlot::new(Deadline {
                kind: DeadlineKind::Header,
                at: now + config.header_timeout,
            }),
            account: Account {
                peer,
                id,
                answered: Answered::default(),
                close_reason: None,
                unfinished_log: None,
            },
        }
    }

    /// Logs the response that was in flight when the connection ended, if its line waited for
    /// its end: with the body bytes generated until then (some may not have reached the client).
    pub(crate) fn log_unfinished(&mut self, log: &mut AccessLog, clf_time: &[u8], now: Instant) {
        if let Some(deferred) = self.account.unfinished_log.take() {
            let generated = match &self.phase {
                Phase::Send(body) => body.generated(),
                _ => 0,
            };
            log.record(&deferred.entry(self.account.peer, generated), clf_time, now);
        }
    }

    /// The client's address.
    pub(crate) fn peer(&self) -> IpAddr {
        self.account.peer
    }

    /// Requests answered or refused on this connection.
    pub(crate) fn requests(&self) -> u64 {
        self.account.answered.total
    }

    /// Why the connection ended; a connection closed with no other reason was closed by its client.
    pub(crate) fn close_reason(&self) -> CloseReason {
        self.account
            .close_reason
            .unwrap_or(CloseReason::ClientClosed)
    }

    /// Records why the connection ends, unless a reason was already decided (a linger after a
    /// rejection still ends because of the rejection).
    pub(crate) fn ending(&mut self, reason: CloseReason) {
        self.account.close_reason.get_or_insert(reason);
    }

    /// The connection's id (see the field).
    pub(crate) fn id(&self) -> u64 {
        self.account.id
    }

    /// The connection's deadline and its place in the loop's timers.
    pub(crate) fn timer(&mut self) -> &mut TimerSlot {
        &mut self.timer
    }

    /// Records that the poll should report `interest`. Returns the interest to register if it
    /// adds to what is registered (the loop then re-registers), `None` if that already covers it.
    /// It never shrinks: once a response has waited for the socket, the connection stays
    /// registered for writability too. A writable event it does not wait for only costs a turn
    /// that finds nothing to do (the kernel reports one only after a write found the socket full),
    /// where switching back and forth cost two `epoll_ctl` per response that waited: 2 per 10 MiB
    /// response under `wrk -c8`.
    pub(crate) fn set_interest(&mut self, interest: Interest) -> Option<Interest> {
        let wanted = self.ready.interest | interest;
        (std::mem::replace(&mut self.ready.interest, wanted) != wanted).then_some(wanted)
    }

    /// Makes the connection wait for the poll to report its socket writable (the loop then
    /// registers it again, which reports it at once if it already is): forgets that it was, and
    /// returns the interest to register with, grown or not.
    pub(crate) fn await_writable(&mut self) -> Interest {
        self.ready.writable = false;
        self.set_interest(Interest::WRITABLE)
            .unwrap_or(self.ready.interest)
    }

    /// The transport (the socket, for (re)registration with the poll).
    pub fn socket(&mut self) -> &mut T {
        &mut self.socket
    }

    /// Records what an event reported: readable, writable, and whether the peer shut its write side.
    pub fn on_event(&mut self, readable: bool, writable: bool, hangup: bool) {
        self.ready.readable |= readable || hangup;
        self.ready.writable |= writable;
        self.ready.hangup_seen |= hangup;
    }

    /// Whether the connection has work in hand but no response in flight: it is between requests.
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Head) && !self.has_buffered() && self.out.is_empty()
    }

    /// Gives the buffers back to the pool (the connection is closing).
    pub(crate) fn release(&mut self, pool: &mut BufferPool) {
        if let Some(read) = self.read.take() {
            pool.give_read(read);
        }
        self.out.release(pool);
    }

    /// Runs the connection until it must wait, yield or close.
    pub fn drive(&mut self, cx: &mut Cx<'_>) -> Next {
        let mut requests = 0;
        let mut budget = Budget::default();
        if self.flush_transport().is_err() {
            self.release(cx.pool);
            return Next::Close;
        }
        loop {
            let step = match self.phase {
                Phase::Head => self.on_head(cx, &mut requests),
                Phase::Body(_) => self.on_body(cx),
                Phase::Send(_) => self.on_send(cx, &mut budget),
                Phase::Linger { .. } => self.on_linger(cx),
            };
            match step {
                Step::Continue => {}
                Step::Wait(interest) => {
                    self.return_idle_buffers(cx.pool);
                    if self.flush_transport().is_err() {
                        self.release(cx.pool);
                        return Next::Close;
                    }
                    // What the transport still holds goes out when the socket takes it,
                    // whatever the phase waits for.
                    if self.socket.holds_output() {
                        return Next::Wait(interest | Interest::WRITABLE);
                    }
                    return Next::Wait(interest);
                }
                Step::Yield => return Next::Yield,
                Step::Paced => return Next::Paced,
                Step::Close => {
                    self.release(cx.pool);
                    return Next::Close;
                }
            }
        }
    }

    /// The deadline of `kind` has passed. What that means depends on the phase.
    pub(crate) fn on_deadline(&mut self, kind: DeadlineKind, cx: &mut Cx<'_>) -> Next {
        self.timer.set(None);
        let reason = match kind {
            DeadlineKind::Header => CloseReason::HeaderTimeout,
            DeadlineKind::Idle => CloseReason::IdleTimeout,
            DeadlineKind::Send => CloseReason::SendTimeout,
            DeadlineKind::Body => CloseReason::BodyTimeout,
            DeadlineKind::Linger => CloseReason::ConnectionClose,
            // A quiet event stream: it says something (or finds its client gone) when run.
            DeadlineKind::Heartbeat => return self.drive(cx),
        };
        self.ending(reason);
        let request_started = self.has_buffered();
        match (kind, &self.phase) {
            // A request was started but its head did not arrive in time: 408, then close.
            (DeadlineKind::Header, Phase::Head) if request_started => {
                self.queue_error(cx, Refusal::Timeout);
                self.drive(cx)
            }
            // The body being discarded stopped arriving.
            (DeadlineKind::Body, Phase::Body(discarding)) => {
                let mark = discarding.mark;
                self.out.truncate(mark);
                self.queue_error(cx, Refusal::Timeout);
                self.drive(cx)
            }
            // Idle keep-alive, a client that never sent a byte, one that stopped reading, or a
            // linger that ran out: close without a word.
            _ => {
                self.release(cx.pool);
                Next::Close
            }
        }
    }
}

impl<T: Transport> Conn<T> {
    /// Writes what the transport holds of its own (a TLS handshake's flight, records the socket
    /// did not take) while the socket takes it. An error ends the connection.
    fn flush_transport(&mut self) -> io::Result<()> {
        if !self.socket.holds_output() || !self.ready.writable {
            return Ok(());
        }
        match self.socket.flush() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.ready.writable = false;
                Ok(())
            }
            Err(e) => {
                self.ending(io_reason(&e));
                Err(e)
            }
            Ok(()) => Ok(()),
        }
    }

    /// Request bytes are buffered that no request has consumed yet.
    fn has_buffered(&self) -> bool {
        self.read.as_ref().is_some_and(|r| !r.is_empty())
    }

    /// Reads once into the read buffer; on failure, records why the connection ends.
    fn fill(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let result = self.read_once(cx);
        if let Err(e) = &result {
            self.ending(io_reason(e));
        }
        result
    }

    fn read_once(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let read = self.read.get_or_insert_with(|| cx.pool.take_read());
        let spare = read.spare();
        let offered = spare.len();
        if offered == 0 {
            return Ok(());
        }
        match self.socket.recv(spare) {
            Ok(0) => {
                self.ready.peer_closed = true;
                self.ready.readable = false;
            }
            Ok(n) => {
                read.filled(n);
                if n < offered && !self.ready.hangup_seen {
                    self.ready.readable = false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.ready.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn on_head(&mut self, cx: &mut Cx<'_>, requests: &mut u32) -> Step {
        if let Some(read) = &mut self.read {
            let blank = skip_leading_empty_lines(read.data());
            if blank > 0 {
                read.consume(blank);
            }
            if !read.is_empty() {
                let end = find_head_end(read.data(), read.scanned());
                if let Some(end) = end.filter(|_| *requests < REQUESTS_PER_TURN) {
                    // A complete head needs no header deadline: what answering it leads to
                    // (sending, a body, the next request) sets the connection's next one.
                    *requests += 1;
                    return self.start_request(cx, end);
                }
                if end.is_none() {
                    // A read ended mid-head. Bytes that can never become a request (a TLS
                    // handshake, binary noise) are refused now, not at the header deadline;
                    // that is checked before the size limit, since such bytes are no request
                    // line too long, and only when new bytes came.
                    if read.data().len() > read.scanned()
                        && let Some(error) = parse::refuse_partial(read.data_mut())
                    {
                        return self.reject(cx, error);
                    }
                    if read.is_full() {
                        let error = parse::oversized_head_error(read.data());
                        return self.reject(cx, error);
                    }
                    read.mark_scanned();
                }
                if self.timer.kind() != Some(DeadlineKind::Header) {
                    // A request has begun and waits, for its bytes or for its turn: its head must
                    // now arrive (or be answered) within the header timeout, however slowly its
                    // bytes trickle in.
                    self.timer
                        .set(Some(cx.config.deadline(DeadlineKind::Header, cx.now)));
                }
                if end.is_some() {
                    return Step::Yield;
                }
            }
        }
        // No complete head buffered: send what was batched, or read more.
        if !self.out.is_empty() {
            self.send(Sending::after(After::KeepAlive));
            return Step::Continue;
        }
        if self.ready.peer_closed {
            // Nothing left to answer: an incomplete head from a client that gave up gets no reply.
            self.ending(CloseReason::ClientClosed);
            return Step::Close;
        }
        if self.ready.readable {
            return match self.fill(cx) {
                Ok(()) => Step::Continue,
                Err(_) => Step::Close,
            };
        }
        Step::Wait(Interest::READABLE)
    }

    /// Handles the complete head in the first `end` buffered bytes: parses it, has the handler
    /// decide, frames and queues the response, counts and logs it.
    fn start_request(&mut self, cx: &mut Cx<'_>, end: usize) -> Step {
        let Some(read) = self.read.as_mut() else {
            return Step::Close;
        };
        let limits = cx.config.limits;
        let head = match parse_head(&mut read.data_mut()[..end], &limits) {
            Ok(head) => head,
            Err(e) => return self.reject(cx, e),
        };
        let decoder = match BodyDecoder::new(head.framing, limits.max_body_bytes) {
            Ok(decoder) => decoder,
            Err(e) => return self.reject(cx, e),
        };
        // A client waiting for `100 Continue` is answered at once without reading its body, and
        // the connection closes, since the body may or may not follow (RFC 9110 §10.1.1).
        let skip_body = head.expect_continue && decoder.is_some();
        let body_follows = decoder.is_some() && !skip_body;
        let client_keeps_alive = head.keep_alive;
        let out = self.out.buf(cx.pool);
        let mark = out.len();
        let client = self
            .account
            .client(self.socket.security(), self.socket.can_send_file());
        let Queued {
            framing,
            mut body,
            log_at_end,
            tally,
        } = exchange::answer(cx, &head, skip_body, body_follows, client, out);
        self.account.unfinished_log = log_at_end;
        let request_line = body_follows.then(|| Box::<[u8]>::from(pending_line(Some(read))));
        read.consume(end);

        let mut after = if framing.closes() {
            self.account.close_reason.get_or_insert(if cx.draining {
                CloseReason::Shutdown
            } else {
                CloseReason::ConnectionClose
            });
            // A client that expected to keep the connection (the server closes it: shutdown,
            // keep-alive off) may be pipelining requests that arrive after the response: linger
            // for them, as for a body that may follow unread.
            After::Close {
                linger: client_keeps_alive || skip_body,
            }
        } else {
            After::KeepAlive
        };
        if body.take_cut_short() {
            self.account.close_reason = Some(CloseReason::Error);
            after = After::Close { linger: true };
        }
        let sending = Sending { body, after };
        match (decoder, request_line) {
            (Some(decoder), Some(request_line)) => {
                self.phase = Phase::Body(Box::new(Discarding {
                    decoder,
                    mark,
                    then: sending,
                    request_line,
                    tally,
                }));
                self.timer
                    .set(Some(cx.config.deadline(DeadlineKind::Body, cx.now)));
            }
            _ => {
                let batch = sending.body.is_buffered()
                    && sending.after == After::KeepAlive
                    && out.len() < BATCH_MAX;
                if !batch {
                    self.send(sending);
                }
            }
        }
        Step::Continue
    }

    /// Answers a request that cannot be parsed or accepted, then closes.
    fn reject(&mut self, cx: &mut Cx<'_>, error: ParseError) -> Step {
        log::debug!("rejecting request: {error:?}");
        self.queue_error(cx, Refusal::Malformed(error));
        Step::Continue
    }

    /// Queues an error response after whatever is already buffered, drops the unread request
    /// bytes, and sets the connection to close (lingering) once it is sent.
    fn queue_error(&mut self, cx: &mut Cx<'_>, refusal: Refusal) {
        // While a head is being read, its request line is in the buffer even if the rest is
        // refused; while its body is being discarded, the body phase keeps the line (the refusal
        // reads the method from it). The response this answer replaces was neither logged nor counted
        // (see `exchange::answer`), and never will be.
        self.ending(refusal.close_reason());
        if matches!(self.phase, Phase::Body(_)) {
            self.account.unfinished_log = None;
        }
        let replaced = match &self.phase {
            Phase::Body(discarding) => Some(&discarding.request_line),
            _ => None,
        };
        let client = self
            .account
            .client(self.socket.security(), self.socket.can_send_file());
        let line = replaced.map_or_else(|| pending_line(self.read.as_ref()), |line| &line[..]);
        let out = self.out.buf(cx.pool);
        let Queued { body, .. } = exchange::refuse(cx, refusal, line, client, out);
        if let Some(read) = &mut self.read {
            let len = read.data().len();
            read.consume(len);
        }
        self.send(Sending {
            body,
            after: After::Close { linger: true },
        });
    }

    fn on_body(&mut self, cx: &mut Cx<'_>) -> Step {
        let Phase::Body(discarding) = &mut self.phase else {
            return Step::Close;
        };
        let Discarding { decoder, mark, .. } = &mut **discarding;
        if let Some(read) = self.read.as_mut().filter(|r| !r.is_empty()) {
            match decoder.feed(read.data()) {
                Ok(progress) => {
                    read.consume(progress.consumed);
                    if progress.done {
                        let Phase::Body(discarding) =
                            std::mem::replace(&mut self.phase, Phase::Head)
                        else {
                            return Step::Close;
                        };
                        self.account
                            .answered
                            .count(cx.stats, discarding.tally, cx.now);
                        self.send(discarding.then);
                        return Step::Continue;
                    }
                }
                Err(e) => {
                    let mark = *mark;
                    self.out.truncate(mark);
                    return self.reject(cx, e);
                }
            }
        }
        let mark = *mark;
        if self.ready.peer_closed {
            return Step::Close;
        }
        if self.ready.readable {
            return match self.fill(cx) {
                Ok(()) => Step::Continue,
                Err(_) => Step::Close,
            };
        }
        // Responses to earlier pipelined requests (ahead of `mark`) need not wait for this body:
        // a client may well wait for them before it sends the body.
        if self.out.sent() < mark {
            if !self.ready.writable {
                return Step::Wait(Interest::READABLE | Interest::WRITABLE);
            }
            let mut written = 0;
            let result = self.out.flush(&mut self.socket, mark, false, &mut written);
            cx.stats.sent(written);
            match result {
                Ok(Flow::Done) => {}
                Ok(Flow::Blocked) => {
                    self.ready.writable = false;
                    return Step::Wait(Interest::READABLE | Interest::WRITABLE);
                }
                Err(e) => {
                    self.ending(io_reason(&e));
                    return Step::Close;
                }
            }
        }
        Step::Wait(Interest::READABLE)
    }

    /// Enters the send phase for `sending`.
    fn send(&mut self, sending: Sending) {
        self.phase = Phase::Send(sending.body);
        self.after = sending.after;
    }

    fn on_send(&mut self, cx: &mut Cx<'_>, budget: &mut Budget) -> Step {
        let Phase::Send(body) = &mut self.phase else {
            return Step::Close;
        };
        if !self.ready.writable {
            return Step::Wait(Interest::READABLE | Interest::WRITABLE);
        }
        let before = budget.written;
        let turn = body.send(
            &mut self.socket,
            &mut self.out,
            cx.pool,
            cx.config.sendfile,
            budget,
        );
        cx.stats.sent(budget.written - before);
        if body.take_cut_short() {
            // Send what was buffered, then end the connection (see `BodyWriter`).
            self.after = After::Close { linger: true };
            self.account.close_reason = Some(CloseReason::Error);
        }
        match turn {
            Ok(Turn::Done) => {}
            Ok(Turn::Blocked { progressed }) => return self.blocked(cx, progressed),
            Ok(Turn::Paced) => return self.paced(cx),
            Ok(Turn::Yield) => return Step::Yield,
            Ok(Turn::Pending) => return self.await_news(cx),
            Err(e) => {
                self.ending(io_reason(&e));
                return Step::Close;
            }
        }
        // The response is complete.
        if let Some(deferred) = self.account.unfinished_log.take() {
            let entry = deferred.entry(self.account.peer, body.generated());
            cx.log.record(&entry, cx.date.clf(), cx.now);
        }
        if !body.has_waited() {
            self.account.answered.written(cx.stats);
        }
        match self.after {
            After::KeepAlive if cx.draining => {
                self.ending(CloseReason::Shutdown);
                Step::Close
            }
            After::KeepAlive => {
                self.phase = Phase::Head;
                if self.has_buffered() {
                    self.timer
                        .set(Some(cx.config.deadline(DeadlineKind::Header, cx.now)));
                } else {
                    self.timer
                        .set(Some(cx.config.deadline(DeadlineKind::Idle, cx.now)));
                }
                Step::Continue
            }
            After::Close { linger } => {
                // A response that had to wait for the socket, or more than leaves in the first
                // flight, may still be in the kernel's send queue when it is complete here; a
                // reset then would discard it, so even a client that asked for the close (and
                // should send nothing more) gets the linger.
                let in_flight =
                    self.timer.kind() == Some(DeadlineKind::Send) || budget.written > FIRST_FLIGHT;
                self.close(cx, linger || in_flight)
            }
        }
    }

    /// Ends the connection after a complete response: at once, or after shutting the write side
    /// and draining input (see [`After::Close`]) when `linger` says the client may still send, or
    /// when input is left unread: bytes already buffered, or a socket not known to be empty.
    fn close(&mut self, cx: &Cx<'_>, linger: bool) -> Step {
        let unread = self.ready.readable || self.has_buffered();
        if self.ready.peer_closed || !(linger || unread) || self.socket.shutdown_write().is_err() {
            return Step::Close;
        }
        self.phase = Phase::Linger { drained: 0 };
        self.timer
            .set(Some(cx.config.deadline(DeadlineKind::Linger, cx.now)));
        Step::Continue
    }

    /// The response is an event stream with nothing to say now: wait for news (the loop runs the
    /// connection when there is some) or for the heartbeat deadline. The only input expected is
    /// the client's end of stream, which ends the subscription; anything else it sends is
    /// discarded, as no request behind an endless response can ever be answered.
    fn await_news(&mut self, cx: &mut Cx<'_>) -> Step {
        if self.ready.readable {
            if self.fill(cx).is_err() {
                return Step::Close;
            }
            if let Some(read) = &mut self.read {
                let len = read.data().len();
                read.consume(len);
            }
        }
        if self.ready.peer_closed {
            self.ending(CloseReason::ClientClosed);
            return Step::Close;
        }
        if self.ready.readable {
            // More input waits: read it after other connections had their turn.
            return Step::Yield;
        }
        if self.timer.kind() != Some(DeadlineKind::Heartbeat) {
            self.timer
                .set(Some(cx.config.deadline(DeadlineKind::Heartbeat, cx.now)));
        }
        Step::Wait(Interest::READABLE)
    }

    /// Whether the connection is a live reload subscriber waiting for news.
    pub(crate) fn awaits_news(&self) -> bool {
        matches!(&self.phase, Phase::Send(body) if body.has_waited())
    }

    /// The body sent its turn's share and may wait for the socket next (see [`Next::Paced`]):
    /// the wait is bounded like any wait for the socket, a full share being progress.
    fn paced(&mut self, cx: &Cx<'_>) -> Step {
        self.timer
            .set(Some(cx.config.deadline(DeadlineKind::Send, cx.now)));
        Step::Paced
    }

    /// A write hit `WouldBlock`: wait for writability under the send deadline, which moves only
    /// when a write made progress.
    fn blocked(&mut self, cx: &Cx<'_>, progressed: bool) -> Step {
        self.ready.writable = false;
        match self.timer.kind() {
            Some(DeadlineKind::Send) if !progressed => {}
            _ => self
                .timer
                .set(Some(cx.config.deadline(DeadlineKind::Send, cx.now))),
        }
        Step::Wait(Interest::READABLE | Interest::WRITABLE)
    }

    fn on_linger(&mut self, cx: &mut Cx<'_>) -> Step {
        let Phase::Linger { drained } = &mut self.phase else {
            return Step::Close;
        };
        let read = self.read.get_or_insert_with(|| cx.pool.take_read());
        let pending = read.data().len();
        read.consume(pending);
        *drained += pending;
        if self.ready.peer_closed || *drained > LINGER_MAX_BYTES {
            return Step::Close;
        }
        if !self.ready.readable {
            return Step::Wait(Interest::READABLE);
        }
        match self.fill(cx) {
            Ok(()) => Step::Continue,
            Err(_) => Step::Close,
        }
    }

    /// Returns buffers that hold nothing to the pool, so an idle connection costs almost no memory.
    fn return_idle_buffers(&mut self, pool: &mut BufferPool) {
        if let Some(read) = self.read.take_if(|r| r.is_empty()) {
            pool.give_read(read);
        }
        self.out.return_if_empty(pool);
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::{Duration, UNIX_EPOCH};

    use proptest::prelude::*;

    use super::*;
    use crate::access_log::{AccessLog, LogFormat};
    use crate::handler::{Site, WorkerState};
    use crate::http::date::DateCache;
    use crate::pool::BufferPool;
    use crate::stats::Stats;
    use crate::transport::MemoryTransport;

    /// A site on disk shared by every case: a small file, a file larger than the inline limit, a
    /// directory with an index.
    fn site() -> &'static Site {
        static SITE: std::sync::OnceLock<(PathBuf, Site)> = std::sync::OnceLock::new();
        let (_, site) = SITE.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("mioserve-conn-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("dir")).unwrap();
            std::fs::write(dir.join("a.txt"), "hello\n").unwrap();
            let big: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
            std::fs::write(dir.join("big.bin"), big).unwrap();
            std::fs::write(dir.join("dir/index.html"), "<p>index</p>").unwrap();
            let site = Site::open(&dir, crate::handler::SiteOptions::default()).unwrap();
            (dir, site)
        });
        site
    }

    /// What a connection is driven with in a test: the configuration and the loop's shared state.
    struct Harness {
        config: ConnConfig,
        pool: BufferPool,
        date: DateCache,
        worker: WorkerState,
        log: AccessLog,
        stats: Stats,
        now: Instant,
    }

    impl Harness {
        fn new(config: ConnConfig) -> Harness {
            let mut date = DateCache::new();
            date.refresh(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
            Harness {
                pool: BufferPool::new(config.limits.max_head_bytes),
                config,
                date,
                worker: WorkerState::default(),
                log: AccessLog::to(LogFormat::Common, Box::new(std::io::sink())),
                stats: Stats::default(),
                now: Instant::now(),
            }
        }

        /// A connection over `transport`, as accepted now.
        fn conn(&self, transport: MemoryTransport) -> Conn<MemoryTransport> {
            Conn::new(
                transport,
                "127.0.0.1".parse().unwrap(),
                0,
                self.now,
                &self.config,
            )
        }

        /// One turn of `conn` serving `site`.
        fn drive(&mut self, conn: &mut Conn<MemoryTransport>, site: &Site) -> Next {
            let mut cx = Cx {
                site,
                config: &self.config,
                pool: &mut self.pool,
                date: &self.date,
                worker: &mut self.worker,
                log: &mut self.log,
                stats: &self.stats,
                now: self.now,
                draining: false,
            };
            conn.drive(&mut cx)
        }
    }

    /// Feeds `segments` (each arriving separately), then EOF, and returns every byte written.
    /// Panics if the connection does not close within a bounded number of turns.
    fn run(segments: &[&[u8]], write_limit: usize, sendfile: bool) -> Vec<u8> {
        let mut harness = Harness::new(ConnConfig {
            sendfile,
            ..ConnConfig::default()
        });
        let mut transport = MemoryTransport::default();
        transport.write_limit = write_limit;
        transport.peer_closed = true;
        for segment in segments {
            transport.push(segment);
        }
        let mut conn = harness.conn(transport);
        for _ in 0..100_000 {
            conn.on_event(true, true, false);
            if harness.drive(&mut conn, site()) == Next::Close {
                return std::mem::take(&mut conn.socket.sent);
            }
        }
        panic!("connection did not finish");
    }

    /// Requests that together exercise keep-alive, bodies, errors, HEAD and pipelining.
    const REQUESTS: &[&str] = &[
        "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /dir HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /dir/ HTTP/1.1\r\nHost: t\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        "PUT /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
        "GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "\r\nGET /a.txt?q=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    ];

    fn sequence(picks: &[usize]) -> Vec<u8> {
        picks.iter().flat_map(|&i| REQUESTS[i].bytes()).collect()
    }

    /// Cuts `bytes` at the given positions (taken modulo its length).
    fn split<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut segments = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            segments.push(&bytes[start..cut]);
            start = cut;
        }
        segments
    }

    /// An idle keep-alive connection holds its `Conn` (in the slab), one timer entry and no
    /// buffer: 224 + 24 bytes in this debug build, 216 + 24 in a release build, within the
    /// 0.25 KiB per connection that the memory target allows. (mio keeps a selector id beside
    /// each socket in a debug build only, so the send strategy beside the socket costs 8 bytes of
    /// padding here and none in a release build.) What follows a response is kept beside the
    /// phase, not in it, so the phase is no larger than the body writer.
    /// Rarely used state is boxed (a body being discarded, the read buffer's bookkeeping), the
    /// client's address is kept as an `IpAddr` and rendered by the access log, and the timers keep
    /// their instants in 8 bytes.
    #[test]
    fn an_idle_connection_is_small() {
        let size = std::mem::size_of::<Conn<crate::tls::Socket>>();
        assert!(size <= 224, "Conn is {size} bytes");
    }

    /// A body larger than a turn's share ends the turn paced, its send deadline armed. Told to
    /// wait for writability (as the loop does on Linux), the connection sends nothing more until
    /// the poll says the socket is writable, then goes on and finishes the body.
    #[test]
    fn a_large_body_is_paced_and_waits_for_writability_when_told() {
        let dir = std::env::temp_dir().join(format!("mioserve-paced-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let len = 3 << 20;
        let content: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("large.bin"), &content).unwrap();
        let site = Site::open(&dir, crate::handler::SiteOptions::default()).unwrap();
        let mut harness = Harness::new(ConnConfig::default());
        let mut transport = MemoryTransport::default();
        transport.push(b"GET /large.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut conn = harness.conn(transport);
        conn.on_event(true, true, false);
        let mut drive = |conn: &mut Conn<MemoryTransport>| harness.drive(conn, &site);

        assert_eq!(drive(&mut conn), Next::Paced);
        assert_eq!(conn.timer.kind(), Some(DeadlineKind::Send));
        let sent = conn.socket.sent.len();
        assert!(sent > 0 && sent < len, "{sent} bytes after one turn");

        let interest = conn.await_writable();
        assert_eq!(interest, Interest::READABLE | Interest::WRITABLE);
        assert!(matches!(drive(&mut conn), Next::Wait(_)));
        assert_eq!(
            conn.socket.sent.len(),
            sent,
            "sent before the poll said writable"
        );

        let mut turns = 1;
        loop {
            conn.on_event(false, true, false);
            match drive(&mut conn) {
                Next::Paced => turns += 1,
                Next::Wait(_) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        let wire = &conn.socket.sent;
        let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(wire[head_end..] == content[..], "the body differs");
        assert!(turns >= 3, "{turns} turns for 3 MiB");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn answers_every_request_in_order() {
        let all: Vec<usize> = (0..REQUESTS.len()).collect();
        let out = String::from_utf8_lossy(&run(&[&sequence(&all)], 0, true)).into_owned();
        let statuses: Vec<&str> = out
            .match_indices("HTTP/1.1 ")
            .map(|(i, _)| &out[i + 9..i + 12])
            .collect();
        assert_eq!(
            statuses,
            [
                "200", "200", "200", "404", "301", "200", "204", "405", "405", "200", "200"
            ],
            "{out}"
        );
    }

    /// Bytes that can never become a request are refused as soon as a read ends mid-head, with
    /// the answer the complete head would get, however the bytes are split (the fuzzer's
    /// `conn_stream` found a 505 for a whole line but a 400 for its refused prefix).
    #[test]
    fn early_refusal_answers_as_the_complete_head_would() {
        let status = |out: &[u8]| String::from_utf8_lossy(&out[..12]).into_owned();
        let cases: &[(&[u8], &str)] = &[
            (b"G\x01T / HTTP/2.0\r\nHost: t\r\n\r\n", "HTTP/1.1 400"),
            (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", "HTTP/1.1 505"),
            (b"\x16\x03\x01\x00\x05\x01\n\n\x00\x00", "HTTP/1.1 400"),
            (b"\xff\xfe\r\n\r\n", "HTTP/1.1 400"),
        ];
        for (bytes, want) in cases {
            let whole = run(&[bytes], 0, true);
            assert_eq!(status(&whole), *want, "{bytes:?}");
            for cut in 1..bytes.len() {
                let (a, b) = bytes.split_at(cut);
                assert_eq!(run(&[a, b], 0, true), whole, "{bytes:?} cut at {cut}");
            }
        }
        // The TLS page, whether the record's end of line made the head look complete or not.
        let tls = run(&[b"\x16\x03\x01\x00\x05\x01\n\n"], 0, true);
        assert!(String::from_utf8_lossy(&tls).contains("plain-HTTP server"));
        // An unfinished but valid head is not answered (EOF follows: no reply at all).
        assert!(run(&[b"GET / HTTP/1.", b"1\r\nHost: t\r\n"], 0, true).is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any bytes at all: no panic, and the connection always finishes.
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..3000),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            run(&split(&bytes, &cuts), 0, true);
        }

        /// Request-shaped noise: valid prefixes with corrupted bytes, to reach deeper states.
        #[test]
        fn corrupted_requests_never_panic(
            picks in proptest::collection::vec(0..REQUESTS.len(), 1..6),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut bytes = sequence(&picks);
            for (at, byte) in flips {
                let len = bytes.len();
                bytes[at % len] = byte;
            }
            run(&split(&bytes, &cuts), 0, true);
        }

        /// A valid sequence gets the same responses however it is split into reads and however
        /// little each write takes, with sendfile or without.
        #[test]
        fn responses_do_not_depend_on_splitting(
            picks in proptest::collection::vec(0..REQUESTS.len(), 1..8),
            cuts in proptest::collection::vec(any::<usize>(), 0..16),
            write_limit in prop_oneof![Just(0usize), 1usize..4096],
            sendfile in any::<bool>(),
        ) {
            let bytes = sequence(&picks);
            let whole = run(&[&bytes], 0, true);
            let pieces = run(&split(&bytes, &cuts), write_limit, sendfile);
            prop_assert_eq!(String::from_utf8_lossy(&whole), String::from_utf8_lossy(&pieces));
        }
    }
}
