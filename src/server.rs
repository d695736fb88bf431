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
//! Shutdown (a signal, or `Handle::stop`) runs in phases: stop accepting, close idle
//! connections, let in-flight responses finish with `Connection: close` until the grace period
//! ends, flush the access log, return. A second signal returns at once.
//!
//! Cost per wake-up: one `epoll_wait`, one clock read, the cached Date re-rendered at most once a
//! second, one heap pop per due deadline (never a scan of every connection), and a sweep of the
//! open-file cache at most once a second; no allocation once the slab and the pools are warm.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use crate::access_log::AccessLog;
use crate::config::{Config, ConnConfig};
use crate::conn::{Conn, Cx, Next};
use crate::error::StartupError;
use crate::handler::{Site, WorkerState, open_files};
use crate::http::date::DateCache;
use crate::pool::BufferPool;
use crate::response::extra_headers::ExtraHeaders;
use crate::stats::{CloseReason, Stats};
use crate::sys::{self, Listening, Sending};
use crate::timer::{Timers, Verdict};
use crate::transport::Tcp;

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
const SIGNALS: Token = Token(usize::MAX - 3);

/// Events taken from the poll per wake-up. Arbitrary; more only costs memory.
const EVENTS_CAPACITY: usize = 1024;
/// How long accepting stays paused after running out of file descriptors when no connection is
/// open whose closing would free one. nginx uses 500 ms; shorter recovers sooner at little cost.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

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
        let listener =
            sys::listen(config.addr, spread).map_err(|e| StartupError::Bind(config.addr, e))?;
        Server::with_listener(config, listener)
    }

    /// Another worker's server, on `first`'s address: with its own listener where the kernel
    /// spreads connections among listeners, else accepting from `first`'s.
    pub fn bind_beside(config: &Config, first: &Server) -> Result<Server, StartupError> {
        let listener = match config.strategy.listening {
            Listening::PerWorker => sys::listen(first.local_addr, true),
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
        let signals = if config.handle_signals {
            let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(StartupError::Poll)?;
            poll.registry()
                .register(&mut signals, SIGNALS, Interest::READABLE)
                .map_err(StartupError::Poll)?;
            Some(signals)
        } else {
            None
        };
        Ok(Server {
            poll,
            listener,
            local_addr,
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            site,
            config: config.clone(),
            stats: Arc::new(Stats::default()),
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
            listener: Some(listener),
            accepting: true,
            accept_retry: None,
            emfile_logged: false,
            max_connections: config.max_connections,
            sending: config.strategy.sending,
            worker: (config.workers > 1).then_some(config.worker),
            grace_until: None,
            next_sweep: Instant::now(),
            shared: Shared {
                pool: BufferPool::new(config.conn.limits.max_head_bytes),
                date: DateCache::new(),
                worker: WorkerState::with_compress_cache(config.compress_cache),
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
            let mut stop_requested = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => event_loop.accept(poll.registry(), now),
                    WAKER => stop_requested |= stop.load(Ordering::SeqCst),
                    SIGNALS => {
                        let count = signals.as_mut().map_or(0, |s| s.pending().count());
                        if count > 0 && event_loop.shared.draining {
                            log::warn!("second signal: exiting now");
                            return Ok(Exit::Forced);
                        }
                        if count > 1 {
                            log::warn!("two signals at once: exiting now");
                            return Ok(Exit::Forced);
                        }
                        stop_requested |= count > 0;
                    }
                    Token(slot) => {
                        let readable = event.is_readable() || event.is_error();
                        let writable = event.is_writable() || event.is_write_closed();
                        if let Some(conn) = event_loop.conns.get_mut(slot) {
                            let read_closed = event.is_read_closed() || event.is_error();
                            conn.on_event(readable, writable, read_closed);
                            event_loop.drive(slot, poll.registry(), now);
                        }
                    }
                }
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
            if event_loop.shared.draining
                && (event_loop.conns.is_empty() || event_loop.grace_until.is_some_and(|t| now >= t))
            {
                if !event_loop.conns.is_empty() {
                    log::warn!(
                        "grace period over: closing {} unfinished connections",
                        event_loop.conns.len()
                    );
                    for (_, conn) in event_loop.conns.iter_mut() {
                        conn.ending(CloseReason::Shutdown);
                        event_loop.shared.ended(conn, now);
                    }
                }
                event_loop.shared.log.flush();
                return Ok(Exit::Graceful);
            }
        }
    }
}

/// The loop's state, apart from the poll.
struct Loop<'a> {
    conns: Slab<Conn<Tcp>>,
    timers: Timers,
    /// Connections that yielded with work left; run again before the next sleep.
    ready: Vec<usize>,
    /// Id for the next accepted connection.
    next_id: u64,
    /// The listening socket; dropped (closed) when shutdown begins.
    listener: Option<TcpListener>,
    /// The listener is in the poll set.
    accepting: bool,
    /// Accepting paused for lack of file descriptors with no connection to wait for: retry then.
    accept_retry: Option<Instant>,
    /// The pause for lack of file descriptors has been logged (once per pause, not per attempt).
    emfile_logged: bool,
    max_connections: usize,
    /// How connections send.
    sending: Sending,
    /// This loop's number when there are several, so their messages can be told apart.
    worker: Option<usize>,
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
    fn ended(&mut self, conn: &mut Conn<Tcp>, now: Instant) {
        conn.log_unfinished(&mut self.log, self.date.clf(), now);
        let reason = conn.close_reason();
        self.stats.closed(reason);
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

impl Loop<'_> {
    /// How long the poll may sleep: until the earliest deadline, accept retry, log flush or end of
    /// the grace period.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        let sweep = (!self.shared.worker.open_files.is_empty()).then_some(self.next_sweep);
        let wakeups = [
            self.accept_retry,
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
        while self.accepting {
            if self.conns.len() >= self.max_connections {
                log::warn!(
                    "connection limit ({}) reached: new connections wait until one closes",
                    self.max_connections
                );
                self.pause_accepting(registry);
                self.shared.stats.accept_paused();
                return;
            }
            let Some(listener) = self.listener.as_mut() else {
                return;
            };
            match listener.accept() {
                Ok((socket, peer)) => {
                    self.emfile_logged = false;
                    self.add(socket, peer, registry, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) if matches!(e.raw_os_error(), Some(code) if is_fd_exhaustion(code)) => {
                    if !self.emfile_logged {
                        log::warn!(
                            "out of file descriptors ({e}): pausing accept until a connection closes"
                        );
                        self.emfile_logged = true;
                    }
                    self.pause_accepting(registry);
                    self.shared.stats.accept_paused();
                    if self.conns.is_empty() {
                        self.accept_retry = Some(now + ACCEPT_RETRY);
                    }
                    return;
                }
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Registers an accepted connection. It has `TCP_NODELAY` already: the kernel copies it from
    /// the listener (see `sys::listen`), which saves a `setsockopt` per connection.
    fn add(&mut self, socket: TcpStream, peer: SocketAddr, registry: &Registry, now: Instant) {
        let mut socket = match Tcp::new(socket, self.sending) {
            Ok(socket) => socket,
            Err(e) => {
                log::debug!("prepare {peer}: {e}");
                return;
            }
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

    fn pause_accepting(&mut self, registry: &Registry) {
        if let Some(listener) = self.listener.as_mut()
            && self.accepting
        {
            let _ = registry.deregister(listener);
            self.accepting = false;
        }
    }

    /// Puts the listener back in the poll set if accepting was paused and there is room again.
    fn resume_accepting(&mut self, registry: &Registry, now: Instant) {
        if self.accepting || self.conns.len() >= self.max_connections {
            return;
        }
        if self.accept_retry.is_some_and(|t| now < t) && self.conns.is_empty() {
            return;
        }
        let Some(listener) = self.listener.as_mut() else {
            return;
        };
        if registry
            .register(listener, LISTENER, Interest::READABLE)
            .is_ok()
        {
            self.accepting = true;
            self.accept_retry = None;
            // Connections that queued while paused raise no new edge: accept them now.
            self.accept(registry, now);
        }
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
        self.pause_accepting(registry);
        // Closing the listening socket makes new connection attempts fail fast instead of waiting
        // in a backlog nobody will accept from.
        self.listener = None;
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
            Next::Yield => {
                self.queue_deadline(slot);
                self.ready.push(slot);
            }
            Next::Close => self.close(slot),
        }
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

/// `EMFILE` or `ENFILE`: the process or the system is out of file descriptors.
fn is_fd_exhaustion(code: i32) -> bool {
    code == rustix::io::Errno::MFILE.raw_os_error()
        || code == rustix::io::Errno::NFILE.raw_os_error()
}
