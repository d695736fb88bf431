//! The platform seam: the listening socket, and whether there is a display to open a browser on.
//! Everything here goes through safe APIs of `socket2`; there is no `unsafe` in mioserve.
//!
//! Cost: startup only (one socket, its options, `bind`, `listen`; the open-file limit raised once).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Listen backlog. mio's default of 128 drops connections under a burst such as `wrk -c1000`; the
/// kernel caps this at `net.core.somaxconn` anyway.
pub(crate) const BACKLOG: i32 = 4096;

/// A non-blocking listener on `addr` with a real backlog, `TCP_NODELAY` for the connections it
/// accepts, and `SO_REUSEADDR` (restart without waiting out TIME_WAIT). With `reuse_port`, several listeners (one per worker) share the port and
/// the kernel spreads connections among them. An IPv6 address listens on IPv6 only.
pub(crate) fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_cloexec(true)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Accepted sockets inherit it on Linux: no `setsockopt` per connection. Responses leave in
    // whole writes, so Nagle's algorithm would only delay the last segment of each.
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The open-file limits before and after [`raise_nofile_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimits {
    /// The soft limit the process started with (`None` = unlimited).
    pub before: Option<u64>,
    /// The soft limit now.
    pub soft: Option<u64>,
    /// The hard limit, the most the soft limit may be raised to.
    pub hard: Option<u64>,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, since every connection costs a descriptor
/// and the usual soft default (1024) is far below a 10,000-connection cap. A refusal leaves the
/// limit as it was.
pub fn raise_nofile_limit() -> NofileLimits {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let old = getrlimit(Resource::Nofile);
    let mut soft = old.current;
    if old.current != old.maximum {
        let raised = Rlimit {
            current: old.maximum,
            maximum: old.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            soft = old.maximum;
        }
    }
    NofileLimits {
        before: old.current,
        soft,
        hard: old.maximum,
    }
}

/// Whether a browser can be shown: on macOS always (its `open` needs no variable); elsewhere (X11,
/// Wayland) when `DISPLAY` or `WAYLAND_DISPLAY` is set, as on a desktop but not over plain SSH
/// or in a container.
pub fn has_display() -> bool {
    cfg!(target_os = "macos")
        || ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server relies on this to skip a `setsockopt` per connection.
    #[test]
    fn accepted_sockets_inherit_nodelay() {
        let listener = listen("127.0.0.1:0".parse().unwrap(), false).unwrap();
        listener.set_nonblocking(false).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
