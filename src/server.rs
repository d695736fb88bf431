//! One worker's event loop: a `mio::Poll`, a listener, connections in a slab, deadlines.
//!
//! Knows tokens, readiness and deadlines, nothing of HTTP: it accepts, records what each event
//! reported on the connection, and lets [`Conn::drive`] do the rest. An error on one connection
//! closes that connection only; only a failure of `Poll` itself ends the loop.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use slab::Slab;

use crate::config::{Config, ConnConfig};
use crate::conn::{Conn, Cx, Next};
use crate::error::StartupError;
use crate::handler::{Site, SiteOptions};
use crate::http::date::DateCache;
use crate::pool::BufferPool;
use crate::sys;
use crate::timer::{DeadlineKind, Due, Timers};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);

/// Events taken from the poll per wake-up. Arbitrary; more only costs memory.
const EVENTS_CAPACITY: usize = 1024;

/// A bound, not yet running server.
pub struct Server {
    poll: Poll,
    listener: TcpListener,
    local_addr: SocketAddr,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    site: Site,
    conn_config: ConnConfig,
}

/// Stops a running server from another thread.
#[derive(Clone)]
pub struct Handle {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

impl Handle {
    /// Asks the loop to stop; it closes every connection and returns from [`Server::run`].
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
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Running {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) -> io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> io::Result<()> {
        self.handle.stop();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

impl Server {
    /// Opens the root and binds the listener (port 0 picks a free port).
    pub fn bind(config: &Config) -> Result<Server, StartupError> {
        let site = Site::open(&config.root, SiteOptions::from(config))
            .map_err(|e| StartupError::Root(config.root.clone(), e))?;
        let std_listener =
            sys::listen(config.addr, false).map_err(|e| StartupError::Bind(config.addr, e))?;
        let mut listener = TcpListener::from_std(std_listener);
        let local_addr = listener
            .local_addr()
            .map_err(|e| StartupError::Bind(config.addr, e))?;
        let poll = Poll::new().map_err(StartupError::Poll)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(StartupError::Poll)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(StartupError::Poll)?);
        Ok(Server {
            poll,
            listener,
            local_addr,
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            site,
            conn_config: config.conn.clone(),
        })
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
    pub fn handle(&self) -> Handle {
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
    pub fn run(self) -> io::Result<()> {
        let Server {
            mut poll,
            mut listener,
            stop,
            site,
            conn_config,
            ..
        } = self;
        let mut workers = Loop {
            conns: Slab::new(),
            timers: Timers::default(),
            ready: Vec::new(),
            next_id: 0,
            shared: Shared {
                pool: BufferPool::new(conn_config.limits.max_head_bytes),
                date: DateCache::new(),
                scratch: Vec::with_capacity(1024),
                site: &site,
                config: &conn_config,
            },
        };
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let now = Instant::now();
            let timeout = if workers.ready.is_empty() {
                workers.timers.timeout(now)
            } else {
                Some(std::time::Duration::ZERO)
            };
            if let Err(e) = poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            workers.shared.date.refresh(SystemTime::now());
            for event in events.iter() {
                match event.token() {
                    LISTENER => workers.accept(&mut listener, poll.registry(), now),
                    WAKER => {}
                    Token(slot) => {
                        let readable =
                            event.is_readable() || event.is_read_closed() || event.is_error();
                        let writable = event.is_writable() || event.is_write_closed();
                        if let Some(conn) = workers.conns.get_mut(slot) {
                            conn.on_event(readable, writable);
                            workers.drive(slot, poll.registry(), now);
                        }
                    }
                }
            }
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            for slot in std::mem::take(&mut workers.ready) {
                if workers.conns.contains(slot) {
                    workers.drive(slot, poll.registry(), now);
                }
            }
            workers.expire(poll.registry(), now);
        }
    }
}

/// The loop's state, apart from the poll and the listener.
struct Loop<'a> {
    conns: Slab<Conn>,
    timers: Timers,
    /// Connections that yielded with work left; run again before the next sleep.
    ready: Vec<usize>,
    /// Id for the next accepted connection.
    next_id: u64,
    shared: Shared<'a>,
}

/// What every connection borrows while it runs (see [`Cx`]).
struct Shared<'a> {
    pool: BufferPool,
    date: DateCache,
    scratch: Vec<u8>,
    site: &'a Site,
    config: &'a ConnConfig,
}

impl Shared<'_> {
    fn cx(&mut self, now: Instant) -> Cx<'_> {
        Cx {
            site: self.site,
            config: self.config,
            pool: &mut self.pool,
            date: &self.date,
            scratch: &mut self.scratch,
            now,
        }
    }
}

impl Loop<'_> {
    /// Accepts until the listener would block.
    fn accept(&mut self, listener: &mut TcpListener, registry: &Registry, now: Instant) {
        loop {
            match listener.accept() {
                Ok((socket, peer)) => {
                    if let Err(e) = socket.set_nodelay(true) {
                        log::debug!("TCP_NODELAY on {peer}: {e}");
                    }
                    let id = self.next_id;
                    self.next_id += 1;
                    let entry = self.conns.vacant_entry();
                    let slot = entry.key();
                    let conn = entry.insert(Conn::new(socket, id, now, self.shared.config));
                    if let Err(e) =
                        registry.register(conn.socket(), Token(slot), Interest::READABLE)
                    {
                        log::debug!("register {peer}: {e}");
                        self.conns.remove(slot);
                        continue;
                    }
                    self.queue_deadline(slot);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    return;
                }
            }
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
                if conn.interest != interest {
                    conn.interest = interest;
                    if registry
                        .reregister(conn.socket(), Token(slot), interest)
                        .is_err()
                    {
                        self.close(slot, registry);
                        return;
                    }
                }
                self.queue_deadline(slot);
            }
            Next::Yield => {
                self.queue_deadline(slot);
                self.ready.push(slot);
            }
            Next::Close => self.close(slot, registry),
        }
    }

    /// Puts the connection's deadline in the heap unless an entry of its kind is already there
    /// (that entry is re-queued lazily when it comes due; see [`crate::timer`]).
    fn queue_deadline(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if let Some(deadline) = conn.deadline {
            let bit = 1 << deadline.kind as u8;
            if conn.queued & bit == 0 {
                conn.queued |= bit;
                self.timers.push(slot, conn.id(), deadline);
            }
        }
    }

    fn close(&mut self, slot: usize, registry: &Registry) {
        let mut conn = self.conns.remove(slot);
        let _ = registry.deregister(conn.socket());
        conn.release(&mut self.shared.pool);
    }

    /// Fires the deadlines that have passed.
    fn expire(&mut self, registry: &Registry, now: Instant) {
        let mut fired: Vec<(usize, DeadlineKind)> = Vec::new();
        let conns = &mut self.conns;
        self.timers.expire(now, |timers, slot, id, kind| {
            let Some(conn) = conns.get_mut(slot).filter(|c| c.id() == id) else {
                return Due::Stale;
            };
            conn.queued &= !(1 << kind as u8);
            match conn.deadline {
                Some(d) if d.kind == kind && d.at <= now => {
                    fired.push((slot, kind));
                    Due::Fire
                }
                Some(d) if d.kind == kind => {
                    conn.queued |= 1 << kind as u8;
                    timers.push(slot, id, d);
                    Due::Requeued
                }
                _ => Due::Stale,
            }
        });
        for (slot, kind) in fired {
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            let next = conn.on_deadline(kind, &mut self.shared.cx(now));
            self.apply(slot, next, registry);
        }
    }
}
