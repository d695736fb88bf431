//! One worker's event loop: a `mio::Poll`, a listener, connections in a slab, deadlines.
//!
//! Knows tokens, readiness and deadlines, nothing of HTTP: it accepts, records what each event
//! reported on the connection, and lets [`Conn::drive`] do the rest. An error on one connection
//! closes that connection only; only a failure of `Poll` itself ends the loop.
//!
//! Accepting pauses (the listener leaves the poll set, so there is no busy loop) at the connection
//! cap and when the process runs out of file descriptors; it resumes when a connection closes, or
//! after `ACCEPT_RETRY` (100 ms) if none is open to close.
//!
//! Under HTTPS every accepted socket is wrapped in TLS ([`crate::tls::Socket`]); SIGHUP reloads
//! the certificate files (the first worker does it for all: they share the certificate).
//!
//! Shutdown (a signal, or `Handle::stop`) runs in phases: stop accepting, close idle
//! connections, let in-flight responses finish with `Connection: close` until the grace period
//! ends, flush the access log, return. A second signal returns at once.
//!
//! Cost per wake-up: one `epoll_wait`, one clock read, the cached Date re-rendered at most once a
//! second, one heap pop per due deadline (never a scan of every connection), and a sweep of the
//! open-file cache at most once a second; no allocation once the slab and the pools are warm.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use crate::access_log::AccessLog;
use crate::config::{Config, ConnConfig, LiveReload};
use crate::conn::{Conn, Cx, Next};
use crate::error::StartupError;
use crate::handler::live::Feed;
use crate::handler::{Site, WorkerState, open_files};
use crate::http::date::DateCache;
use crate::pool::BufferPool;
use crate::response::extra_headers::ExtraHeaders;
use crate::stats::{CloseReason, Stats};
use crate::sys::{self, Listening, Pacing, Sending};
use crate::timer::{Timers, Verdict};
use crate::tls::{Outcome, Socket, TlsContext, TlsStream};
use crate::transport::Tcp;
use crate::watch::{Change, IgnoreRules};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
const SIGNALS: Token = Token(usize::MAX - 3);

/// Events taken from the poll per wake-up. Arbitrary; more only costs memory.
const EVENTS_CAPACITY: usize = 1024;
/// How long accepting stays paused after running out of file descriptors when no connection is
/// open whose closing would free one. nginx uses 500 ms; shorter recovers sooner at little cost.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// How often a pause in accepting (the connection limit reached, or out of file descriptors) is
/// said on stderr at most, for each cause. Clients decide how often it happens (at the limit,
/// every close lets one more in and the next arrival pauses again), so saying it each time would
/// let them write a line per connection; the exit report and the metrics count every pause.
const PAUSE_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every connection finished (or the grace period ran out) after a stop request.
    Graceful,
    /// A second signal arrived during shutdown.
    Forced,
}

/// A bound, not yet running server.
pub struct Server {
    poll: Poll,
    listener: TcpListener,
    local_addr: SocketAddr,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    site: Site,
    config: Config,
    stats: Arc<Stats>,
    /// SIGINT/SIGTERM, when the server handles signals. Registered at bind time, so every
    /// descriptor the server holds exists before it reports its address.
    signals: Option<Signals>,
}

/// Stops a running server from another thread.
#[derive(Clone)]
pub(crate) struct Handle {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

impl Handle {
    /// Begins a graceful shutdown, as SIGTERM does.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // A failed wake only delays the stop until the next event.
        let _ = self.waker.wake();
    }
}

/// A server running on its own thread (for tests and embedding).
pub struct Running {
    addr: SocketAddr,
    handle: Handle,
    thread: Option<JoinHandle<io::Result<Exit>>>,
}

impl Running {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shuts the server down gracefully and waits for its thread.
    pub fn stop(mut self) -> io::Result<Exit> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> io::Result<Exit> {
        self.handle.stop();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("server thread panicked"))),
            None => Ok(Exit::Graceful),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

impl Server {
    /// Opens the root and binds the listener (port 0 picks a free port). With `config.workers > 1`
    /// and a listener per worker, the listener lets the kernel spread connections among several
    /// bound to the same address; [`Server::bind_beside`] binds the others.
    pub fn bind(config: &Config) -> Result<Server, StartupError> {
        let spread = config.workers > 1 && config.strategy.listening == Listening::PerWorker;
        let listener = sys::listen(config.addr, spread, config.strategy.unsent)
            .map_err(|e| StartupError::Bind(config.addr, e))?;
        Server::with_listener(config, listener)
    }

    /// Another worker's server, on `first`'s address: with its own listener where the kernel
    /// spreads connections among listeners, else accepting from `first`'s.
    pub fn bind_beside(config: &Config, first: &Server) -> Result<Server, StartupError> {
        let listener = match config.strategy.listening {
            Listening::PerWorker => sys::listen(first.local_addr, true, config.strategy.unsent),
            Listening::Shared => sys::share_listener(&first.listener),
        }
        .map_err(|e| StartupError::Bind(first.local_addr, e))?;
        Server::with_listener(config, listener)
    }

    fn with_listener(
        config: &Config,
        std_listener: std::net::TcpListener,
    ) -> Result<Server, StartupError> {
        let extra = ExtraHeaders::new(&config.headers, config.cors)
            .map_err(|why| StartupError::Config(format!("--header {why}")))?;
        let site = Site::from_config(config, extra)
            .map_err(|e| StartupError::Root(config.root.clone(), e))?;
        let mut listener = TcpListener::from_std(std_listener);
        let local_addr = listener
            .local_addr()
            .map_err(|e| StartupError::Bind(config.addr, e))?;
        let poll = Poll::new().map_err(StartupError::Poll)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(StartupError::Poll)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(StartupError::Poll)?);
        if let Some(live) = &config.live_reload {
            watch_root(live, site.root())?;
            live.hub.attach(Arc::clone(&waker));
        }
        let signals = if config.handle_signals {
            // SIGHUP reloads certificate files; without them it keeps its default (the end of
            // the process, as when the terminal closes). One worker reloads for all.
            let reloads =
                config.worker == 0 && config.tls.as_ref().is_some_and(|t| t.files().is_some());
            let wanted: &[i32] = if reloads {
                &[SIGINT, SIGTERM, SIGHUP]
            } else {
                &[SIGINT, SIGTERM]
            };
            let mut signals = Signals::new(wanted).map_err(StartupError::Poll)?;
            poll.registry()
                .register(&mut signals, SIGNALS, Interest::READABLE)
                .map_err(StartupError::Poll)?;
            Some(signals)
        } else {
            None
        };
        let stats = Arc::new(Stats::default());
        config.registry.register(Arc::clone(&stats));
        Ok(Server {
            poll,
            listener,
            local_addr,
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            site,
            config: config.clone(),
            stats,
            signals,
        })
    }

    /// The loop's counters (for the stats line and the exit report).
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// The bound address, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The canonical root being served.
    pub fn root(&self) -> &std::path::Path {
        self.site.root()
    }

    /// A handle that stops the server.
    pub(crate) fn handle(&self) -> Handle {
        Handle {
            waker: Arc::clone(&self.waker),
            stop: Arc::clone(&self.stop),
        }
    }

    /// Runs the loop on a new thread.
    pub fn spawn(self) -> io::Result<Running> {
        let addr = self.local_addr;
        let handle = self.handle();
        let thread = std::thread::Builder::new()
            .name("mioserve".into())
            .spawn(move || self.run())?;
        Ok(Running {
            addr,
            handle,
            thread: Some(thread),
        })
    }

    /// Runs the loop until stopped. Returns an error only if the poll itself fails.
    pub fn run(self) -> io::Result<Exit> {
        let Server {
            mut poll,
            listener,
            stop,
            site,
            config,
            stats,
            mut signals,
            ..
        } = self;
        let mut event_loop = Loop {
            conns: Slab::new(),
            timers: Timers::default(),
            ready: Vec::new(),
            next_id: 0,
            acceptor: Acceptor {
                listener: Some(listener),
                accepting: true,
                retry_at: None,
                limit_warned_at: None,
                emfile_warned_at: None,
                max_connections: config.max_connections,
            },
            sending: config.strategy.sending,
            pacing: config.strategy.pacing,
            worker: (config.workers > 1).then_some(config.worker),
            tls: config.tls.as_ref(),
            grace_until: None,
            next_sweep: Instant::now(),
            shared: Shared {
                pool: BufferPool::new(config.conn.limits.max_head_bytes),
                date: DateCache::new(),
                worker: worker_state(&config, &stats),
                log: AccessLog::stdout(config.access_log),
                stats: &stats,
                site: &site,
                config: &config.conn,
                draining: false,
            },
        };
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let now = Instant::now();
            let timeout = if event_loop.ready.is_empty() {
                event_loop.timeout(now)
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            event_loop.shared.date.refresh(SystemTime::now());
            if let Some(feed) = &event_loop.shared.worker.live {
                feed.tick(now);
            }
            let mut stop_requested = false;
            let mut woken = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => event_loop.accept(poll.registry(), now),
                    WAKER => {
                        stop_requested |= stop.load(Ordering::SeqCst);
                        woken = true;
                    }
                    SIGNALS => {
                        let (mut count, mut hangups) = (0, 0);
                        for signal in signals.iter_mut().flat_map(|s| s.pending()) {
                            if signal == SIGHUP {
                                hangups += 1;
                            } else {
                                count += 1;
                            }
                        }
                        if hangups > 0 {
                            reload_certificate(config.tls.as_ref());
                        }
                        match event_loop.on_signals(count) {
                            Some(exit) => return Ok(exit),
                            None => stop_requested |= count > 0,
                        }
                    }
                    Token(slot) => event_loop.on_event(slot, event, poll.registry(), now),
                }
            }
            if let (true, Some(live)) = (woken, &config.live_reload) {
                event_loop.follow_change(live.hub.latest());
            }
            if stop_requested && !event_loop.shared.draining {
                event_loop.begin_shutdown(poll.registry(), now, config.grace_period);
            }
            for slot in std::mem::take(&mut event_loop.ready) {
                event_loop.drive(slot, poll.registry(), now);
            }
            event_loop.expire(poll.registry(), now);
            event_loop.resume_accepting(poll.registry(), now);
            event_loop.shared.log.tick(now);
            event_loop.sweep_files(now);
            if event_loop.shutdown_finished(now) {
                return Ok(Exit::Graceful);
            }
        }
    }
}

/// What the handler keeps between requests in this worker: the caches, and live reload's feed
/// when it is on.
fn worker_state(config: &Config, stats: &Arc<Stats>) -> WorkerState {
    let state = WorkerState::with_compress_cache(config.compress_cache);
    match &config.live_reload {
        Some(live) => state.with_live_reload(Feed::new(
            config.conn.heartbeat,
            live.max_subscribers,
            Arc::clone(stats),
        )),
        None => state,
    }
}

/// The loop's state, apart from the poll.
struct Loop<'a> {
    conns: Slab<Conn<Socket>>,
    timers: Timers,
    /// Connections that yielded (or were paced, where connections take turns) with work left; run
    /// again before the next sleep.
    ready: Vec<usize>,
    /// Id for the next accepted connection.
    next_id: u64,
    acceptor: Acceptor,
    /// How connections send.
    sending: Sending,
    /// When a connection that sent its share of a large body sends more.
    pacing: Pacing,
    /// This loop's number when there are several, so their messages can be told apart.
    worker: Option<usize>,
    /// Under HTTPS, what every accepted socket's TLS is set up from.
    tls: Option<&'a TlsContext>,
    /// When shutdown stops waiting for in-flight responses.
    grace_until: Option<Instant>,
    /// When the open-file cache is next swept of unused entries.
    next_sweep: Instant,
    shared: Shared<'a>,
}

/// What every connection borrows while it runs (see [`Cx`]).
struct Shared<'a> {
    pool: BufferPool,
    date: DateCache,
    worker: WorkerState,
    log: AccessLog,
    stats: &'a Stats,
    site: &'a Site,
    config: &'a ConnConfig,
    /// Shutdown has begun.
    draining: bool,
}

impl Shared<'_> {
    /// Counts a connection's end and logs it (extended access log).
    fn ended(&mut self, conn: &mut Conn<Socket>, now: Instant) {
        conn.log_unfinished(&mut self.log, self.date.clf(), now);
        let reason = conn.close_reason();
        self.stats.closed(reason);
        let timed_out = reason == CloseReason::HeaderTimeout;
        if let Some(outcome) = conn.socket().tls_outcome(timed_out) {
            self.stats.tls(outcome);
            if let Outcome::Failed(failure) = outcome {
                log::debug!(
                    "TLS handshake with {} failed: {}",
                    conn.peer(),
                    failure.name()
                );
            }
        }
        self.log.record_close(
            conn.peer(),
            conn.id(),
            reason,
            conn.requests(),
            self.date.clf(),
            now,
        );
    }

    fn cx(&mut self, now: Instant) -> Cx<'_> {
        Cx {
            site: self.site,
            config: self.config,
            pool: &mut self.pool,
            date: &self.date,
            worker: &mut self.worker,
            log: &mut self.log,
            stats: self.stats,
            now,
            draining: self.draining,
        }
    }
}

/// Whether a pause last said at `warned_at` may be said again `now` (then noted as said).
fn due_to_warn(warned_at: &mut Option<Instant>, now: Instant) -> bool {
    let due =
        warned_at.is_none_or(|at| now.saturating_duration_since(at) >= PAUSE_WARNING_INTERVAL);
    if due {
        *warned_at = Some(now);
    }
    due
}

/// The listening side of the loop: the listener, and whether it is in the poll set.
struct Acceptor {
    /// The listening socket; dropped (closed) when shutdown begins.
    listener: Option<TcpListener>,
    /// The listener is in the poll set.
    accepting: bool,
    /// Accepting paused for lack of file descriptors with no connection to wait for: retry then.
    retry_at: Option<Instant>,
    /// When reaching the connection limit was last said (see [`PAUSE_WARNING_INTERVAL`]).
    limit_warned_at: Option<Instant>,
    /// When running out of file descriptors was last said (the same).
    emfile_warned_at: Option<Instant>,
    max_connections: usize,
}

impl Acceptor {
    /// The next waiting connection, while accepting and below the cap with `open` connections
    /// open. At the cap, or out of file descriptors, accepting pauses (counted in `stats`) and
    /// this answers `None`, as it does when no connection is waiting.
    fn next(
        &mut self,
        registry: &Registry,
        open: usize,
        now: Instant,
        stats: &Stats,
    ) -> Option<(TcpStream, SocketAddr)> {
        loop {
            if !self.accepting {
                return None;
            }
            if open >= self.max_connections {
                if due_to_warn(&mut self.limit_warned_at, now) {
                    log::warn!(
                        "connection limit ({}) reached: new connections wait until one closes \
                         (said at most once a minute; the exit report counts every pause)",
                        self.max_connections
                    );
                }
                self.pause(registry);
                stats.accept_paused();
                return None;
            }
            match self.listener.as_mut()?.accept() {
                Ok(accepted) => return Some(accepted),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) if matches!(e.raw_os_error(), Some(code) if is_fd_exhaustion(code)) => {
                    if due_to_warn(&mut self.emfile_warned_at, now) {
                        log::warn!(
                            "out of file descriptors ({e}): pausing accept until a connection \
                             closes (said at most once a minute; the exit report counts every pause)"
                        );
                    }
                    self.pause(registry);
                    stats.accept_paused();
                    if open == 0 {
                        self.retry_at = Some(now + ACCEPT_RETRY);
                    }
                    return None;
                }
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    return None;
                }
            }
        }
    }

    /// Takes the listener out of the poll set (no busy loop while accepting cannot proceed).
    fn pause(&mut self, registry: &Registry) {
        if let Some(listener) = self.listener.as_mut()
            && self.accepting
        {
            let _ = registry.deregister(listener);
            self.accepting = false;
        }
    }

    /// Puts the listener back in the poll set if accepting was paused and there is room again
    /// with `open` connections open; returns whether it did.
    fn resume(&mut self, registry: &Registry, open: usize, now: Instant) -> bool {
        if self.accepting || open >= self.max_connections {
            return false;
        }
        if self.retry_at.is_some_and(|t| now < t) && open == 0 {
            return false;
        }
        let Some(listener) = self.listener.as_mut() else {
            return false;
        };
        if registry
            .register(listener, LISTENER, Interest::READABLE)
            .is_err()
        {
            return false;
        }
        self.accepting = true;
        self.retry_at = None;
        true
    }

    /// Stops accepting for good. Closing the listening socket makes new connection attempts fail
    /// fast instead of waiting in a backlog nobody will accept from.
    fn close(&mut self, registry: &Registry) {
        self.pause(registry);
        self.listener = None;
    }
}

impl Loop<'_> {
    /// How long the poll may sleep: until the earliest deadline, accept retry, log flush or end of
    /// the grace period.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        let sweep = (!self.shared.worker.open_files.is_empty()).then_some(self.next_sweep);
        let wakeups = [
            self.acceptor.retry_at,
            self.shared.log.next_flush(),
            self.grace_until,
            sweep,
        ];
        let earliest = wakeups
            .into_iter()
            .flatten()
            .map(|t| t.saturating_duration_since(now))
            .min();
        match (self.timers.timeout(now), earliest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Closes open files the cache no longer uses, at most once per [`open_files::RECHECK`].
    fn sweep_files(&mut self, now: Instant) {
        if now >= self.next_sweep {
            self.shared.worker.open_files.sweep(now);
            self.shared.worker.coding.probes.sweep(now);
            self.next_sweep = now + open_files::RECHECK;
        }
    }

    /// Accepts until the listener would block, the connection cap is reached, or descriptors run
    /// out.
    fn accept(&mut self, registry: &Registry, now: Instant) {
        while let Some((socket, peer)) =
            self.acceptor
                .next(registry, self.conns.len(), now, self.shared.stats)
        {
            self.add(socket, peer, registry, now);
        }
    }

    /// Registers an accepted connection. It has `TCP_NODELAY` (and the cap on unsent bytes)
    /// already: the kernel copies them from the listener (see `sys::listen`), which saves a
    /// `setsockopt` per connection.
    fn add(&mut self, tcp: TcpStream, peer: SocketAddr, registry: &Registry, now: Instant) {
        let tcp = match Tcp::new(tcp, self.sending) {
            Ok(tcp) => tcp,
            Err(e) => {
                log::debug!("prepare {peer}: {e}");
                return;
            }
        };
        let mut socket = match self.tls {
            None => Socket::Plain(tcp),
            Some(tls) => match TlsStream::new(tcp, tls) {
                Ok(stream) => Socket::Tls(Box::new(stream)),
                Err(e) => {
                    log::warn!("TLS for {peer}: {e}");
                    return;
                }
            },
        };
        let entry = self.conns.vacant_entry();
        let slot = entry.key();
        if let Err(e) = registry.register(&mut socket, Token(slot), Interest::READABLE) {
            log::debug!("register {peer}: {e}");
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        entry.insert(Conn::new(socket, peer.ip(), id, now, self.shared.config));
        self.shared.stats.accepted();
        self.queue_deadline(slot);
    }

    /// Accepts what queued while accepting was paused, once there is room again.
    fn resume_accepting(&mut self, registry: &Registry, now: Instant) {
        if self.acceptor.resume(registry, self.conns.len(), now) {
            // Connections that queued while paused raise no new edge: accept them now.
            self.accept(registry, now);
        }
    }

    /// Moves live reload's feed to `latest`; if that is news, runs every subscriber (after the
    /// events of this wake-up) so each sends it.
    fn follow_change(&mut self, latest: (u64, Change)) {
        if self
            .shared
            .worker
            .live
            .as_ref()
            .is_some_and(|feed| feed.update(latest))
        {
            self.run_subscribers();
        }
    }

    /// Queues every live reload subscriber to run before the loop sleeps again.
    fn run_subscribers(&mut self) {
        let waiting = self.conns.iter().filter(|(_, conn)| conn.awaits_news());
        self.ready.extend(waiting.map(|(slot, _)| slot));
    }

    /// Stops accepting, closes idle connections, and lets the rest finish within `grace`.
    fn begin_shutdown(&mut self, registry: &Registry, now: Instant, grace: Duration) {
        log::info!(
            "{}shutting down: finishing {} connections (grace period {}s)",
            self.worker
                .map_or_else(String::new, |n| format!("worker {n}: ")),
            self.conns.len(),
            grace.as_secs_f32()
        );
        self.shared.draining = true;
        self.grace_until = Some(now + grace);
        // Live reload's event streams end now, as if their last change had come.
        if let Some(feed) = &self.shared.worker.live {
            feed.close();
            self.run_subscribers();
        }
        self.acceptor.close(registry);
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, conn)| conn.is_idle())
            .map(|(slot, _)| slot)
            .collect();
        for slot in idle {
            self.conns[slot].ending(CloseReason::Shutdown);
            self.close(slot);
        }
    }

    /// What `count` signals arriving at once mean: a stop (`None`: begin shutting down), or an
    /// exit now when shutdown has already begun or two came together.
    fn on_signals(&self, count: usize) -> Option<Exit> {
        if count > 0 && self.shared.draining {
            log::warn!("second signal: exiting now");
            return Some(Exit::Forced);
        }
        if count > 1 {
            log::warn!("two signals at once: exiting now");
            return Some(Exit::Forced);
        }
        None
    }

    /// Records what `event` reported on the connection in `slot` and runs it.
    fn on_event(&mut self, slot: usize, event: &Event, registry: &Registry, now: Instant) {
        let readable = event.is_readable() || event.is_error();
        let writable = event.is_writable() || event.is_write_closed();
        if let Some(conn) = self.conns.get_mut(slot) {
            let read_closed = event.is_read_closed() || event.is_error();
            conn.on_event(readable, writable, read_closed);
            self.drive(slot, registry, now);
        }
    }

    /// Whether a shutdown is complete: every connection finished, or the grace period is over
    /// (then the rest are closed). The access log is flushed then.
    fn shutdown_finished(&mut self, now: Instant) -> bool {
        if !self.shared.draining
            || !(self.conns.is_empty() || self.grace_until.is_some_and(|t| now >= t))
        {
            return false;
        }
        if !self.conns.is_empty() {
            log::warn!(
                "grace period over: closing {} unfinished connections",
                self.conns.len()
            );
            for (_, conn) in self.conns.iter_mut() {
                conn.ending(CloseReason::Shutdown);
                self.shared.ended(conn, now);
            }
        }
        self.shared.log.flush();
        true
    }

    /// Runs a connection and carries out what it asks.
    fn drive(&mut self, slot: usize, registry: &Registry, now: Instant) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let next = conn.drive(&mut self.shared.cx(now));
        self.apply(slot, next, registry);
    }

    fn apply(&mut self, slot: usize, next: Next, registry: &Registry) {
        match next {
            Next::Wait(interest) => {
                let conn = &mut self.conns[slot];
                if let Some(interest) = conn.set_interest(interest)
                    && registry
                        .reregister(conn.socket(), Token(slot), interest)
                        .is_err()
                {
                    self.close(slot);
                    return;
                }
                self.queue_deadline(slot);
            }
            Next::Paced if self.pacing == Pacing::Rearm => self.rearm_writable(slot, registry),
            Next::Yield | Next::Paced => {
                self.queue_deadline(slot);
                self.ready.push(slot);
            }
            Next::Close => self.close(slot),
        }
    }

    /// Registers a paced connection again, so the poll reports its socket once it is writable (at
    /// once if it still is; see [`Pacing::Rearm`]).
    fn rearm_writable(&mut self, slot: usize, registry: &Registry) {
        let conn = &mut self.conns[slot];
        let interest = conn.await_writable();
        if registry
            .reregister(conn.socket(), Token(slot), interest)
            .is_err()
        {
            self.close(slot);
            return;
        }
        self.queue_deadline(slot);
    }

    /// Puts the connection's deadline in the heap unless an entry of its kind is already there
    /// (that entry is re-queued lazily when it comes due; see [`crate::timer`]).
    fn queue_deadline(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        let id = conn.id();
        self.timers.queue(slot, id, conn.timer());
    }

    /// Closes the connection's socket by dropping it. There is no `epoll_ctl(DEL)`: closing the
    /// last descriptor of a socket removes it from the epoll set, and a connection's socket is
    /// never duplicated (it is opened close-on-exec, and nothing forks).
    fn close(&mut self, slot: usize) {
        let mut conn = self.conns.remove(slot);
        conn.release(&mut self.shared.pool);
        self.shared.ended(&mut conn, Instant::now());
    }

    /// Fires the deadlines that have passed. An entry whose connection is gone is dropped; the
    /// timers decide whether one whose connection is still here fires, is queued again (its
    /// deadline moved later) or is stale.
    fn expire(&mut self, registry: &Registry, now: Instant) {
        while let Some(due) = self.timers.pop_due(now) {
            let slot = due.slot();
            let Some(conn) = self.conns.get_mut(slot).filter(|c| c.id() == due.id()) else {
                continue;
            };
            if let Verdict::Fire(kind) = self.timers.settle(due, conn.timer(), now) {
                let next = conn.on_deadline(kind, &mut self.shared.cx(now));
                self.apply(slot, next, registry);
            }
        }
    }
}

/// SIGHUP: reads the certificate files again. New handshakes get the new certificate; a reload
/// that fails keeps the old one and says why.
fn reload_certificate(tls: Option<&TlsContext>) {
    let Some(tls) = tls else { return };
    match tls.reload() {
        Ok(cert) => log::warn!(
            "SIGHUP: certificate reloaded (SHA-256 {}, valid until {}); new connections use it",
            cert.fingerprint,
            cert.expires()
        ),
        Err(e) => log::error!("SIGHUP: certificate not reloaded, the current one stays: {e}"),
    }
}

/// Starts live reload's watcher on `root` (the first worker to bind does; the others share it) and
/// says on stderr what it watches and what it ignores.
fn watch_root(live: &LiveReload, root: &Path) -> Result<(), StartupError> {
    let rules = IgnoreRules::new(&live.ignore).map_err(StartupError::Config)?;
    let ignored = rules.describe();
    let watched = live.hub.watch(root, rules, live.coalesce).map_err(|e| {
        StartupError::Config(format!(
            "--live-reload: cannot watch {}: {e}",
            root.display()
        ))
    })?;
    if watched > 0 {
        log::info!(
            "live reload: watching {watched} folders under {}; ignoring {ignored}",
            root.display()
        );
    }
    Ok(())
}

/// `EMFILE` or `ENFILE`: the process or the system is out of file descriptors.
fn is_fd_exhaustion(code: i32) -> bool {
    code == rustix::io::Errno::MFILE.raw_os_error()
        || code == rustix::io::Errno::NFILE.raw_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_is_said_at_most_once_an_interval() {
        let start = Instant::now();
        let mut warned_at = None;
        assert!(due_to_warn(&mut warned_at, start));
        assert!(!due_to_warn(&mut warned_at, start + Duration::from_secs(1)));
        assert!(!due_to_warn(
            &mut warned_at,
            start + PAUSE_WARNING_INTERVAL / 2
        ));
        assert!(due_to_warn(&mut warned_at, start + PAUSE_WARNING_INTERVAL));
        assert!(!due_to_warn(
            &mut warned_at,
            start + PAUSE_WARNING_INTERVAL * 3 / 2
        ));
    }
}
