//! Sockets: the listener and the calls that send.
//!
//! Cost: `send` and `send_file` are one system call each; the rest runs at startup, or once per
//! connection on macOS (`SO_NOSIGPIPE`).

use std::fs::File;
use std::io::{self, IoSlice};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;

use rustix::net::SendAncillaryBuffer;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::{Sending, Unsent, os};

/// Listen backlog. mio's default of 128 drops connections under a burst such as `wrk -c1000`; the
/// kernel caps this at `net.core.somaxconn` (Linux) or `kern.ipc.somaxconn` anyway.
pub(crate) const BACKLOG: i32 = 4096;

/// A non-blocking listener on `addr` with a real backlog, `TCP_NODELAY` for the connections it
/// accepts, and `SO_REUSEADDR` (restart without waiting out TIME_WAIT). With `spread`, further
/// listeners (one per worker) may bind the same port and the kernel spreads connections among
/// them (`SO_REUSEPORT`, `SO_REUSEPORT_LB`); a platform that cannot refuses. `Unsent::Capped`
/// caps the unsent bytes each accepted socket holds; a platform that cannot refuses. An IPv6
/// address listens on IPv6 only.
pub(crate) fn listen(addr: SocketAddr, spread: bool, unsent: Unsent) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_cloexec(true)?;
    socket.set_reuse_address(true)?;
    if spread {
        os::spread_connections(&socket)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Accepted sockets inherit it (Linux, and the BSDs' syncache): no `setsockopt` per
    // connection. Responses leave in whole writes, so Nagle's algorithm would only delay the
    // last segment of each.
    socket.set_tcp_nodelay(true)?;
    if unsent == Unsent::Capped {
        os::cap_unsent(&socket)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Another descriptor of `listener`, for a worker that accepts from the same socket.
pub(crate) fn share_listener(listener: &impl AsFd) -> io::Result<TcpListener> {
    let socket = SockRef::from(listener).try_clone()?;
    socket.set_cloexec(true)?;
    Ok(socket.into())
}

/// What a freshly accepted socket needs before its first write (macOS: `SO_NOSIGPIPE`).
pub(crate) fn prepare_accepted(socket: &impl AsFd) -> io::Result<()> {
    os::prepare_accepted(socket.as_fd())
}

/// Sends from `buf`; `more` says more of the response follows at once (a hint, given only with
/// [`Sending::Hinted`] and where the platform has one). A peer that went away fails the write;
/// it never raises `SIGPIPE`.
#[inline]
pub(crate) fn send(
    socket: &impl AsFd,
    buf: &[u8],
    more: bool,
    sending: Sending,
) -> io::Result<usize> {
    os::send(socket.as_fd(), buf, more && sending == Sending::Hinted)
}

/// Sends `bufs` in one call (`sendmsg`), without hints; a peer that went away fails the write
/// (TLS hands over its queued records this way).
#[inline]
pub(crate) fn send_vectored(socket: &impl AsFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let mut no_control = SendAncillaryBuffer::default();
    Ok(rustix::net::sendmsg(
        socket,
        bufs,
        &mut no_control,
        os::NO_SIGPIPE,
    )?)
}

/// Sends up to `count` bytes of `file` from `*offset`, advancing it by what was sent. Any bytes
/// sent are reported as sent, also when the call then stopped on a full socket.
#[inline]
pub(crate) fn send_file(
    socket: &impl AsFd,
    file: &File,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    os::send_file(socket.as_fd(), file.as_fd(), offset, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server relies on this to skip a `setsockopt` per connection.
    #[test]
    fn accepted_sockets_inherit_nodelay() {
        let listener = listen("127.0.0.1:0".parse().unwrap(), false, Unsent::Full).unwrap();
        listener.set_nonblocking(false).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
    }

    #[test]
    fn a_shared_listener_accepts_from_the_same_queue() {
        let listener = listen("127.0.0.1:0".parse().unwrap(), false, Unsent::Full).unwrap();
        let shared = share_listener(&listener).unwrap();
        assert_eq!(shared.local_addr().unwrap(), listener.local_addr().unwrap());
        shared.set_nonblocking(false).unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = shared.accept().unwrap();
        assert_eq!(accepted.peer_addr().unwrap(), client.local_addr().unwrap());
    }

    /// A write to a peer that reset the connection is an error (`EPIPE`, `ECONNRESET`), with or
    /// without hints. (Whether `SIGPIPE` would have been raised cannot show here: Rust ignores it
    /// in every binary, tests included; `MSG_NOSIGNAL` and `SO_NOSIGPIPE` are for a library
    /// caller that restored it.)
    #[test]
    fn a_gone_peer_fails_the_send() {
        for sending in [Sending::Hinted, Sending::Plain] {
            let listener = listen("127.0.0.1:0".parse().unwrap(), false, Unsent::Full).unwrap();
            listener.set_nonblocking(false).unwrap();
            let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (accepted, _) = listener.accept().unwrap();
            prepare_accepted(&accepted).unwrap();
            SockRef::from(&client)
                .set_linger(Some(std::time::Duration::ZERO))
                .unwrap();
            drop(client);
            let mut failed = None;
            for _ in 0..100 {
                if let Err(e) = send(&accepted, &[0; 1024], true, sending) {
                    failed = Some(e);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let e = failed.expect("writes to a reset peer keep succeeding");
            assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ),
                "{e}"
            );
        }
    }
}
