//! The platform seam: the listening socket. Everything here goes through safe APIs of `socket2`;
//! there is no `unsafe` in mioserve.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Listen backlog. mio's default of 128 drops connections under a burst such as `wrk -c1000`; the
/// kernel caps this at `net.core.somaxconn` anyway.
pub const BACKLOG: i32 = 4096;

/// A non-blocking listener on `addr` with a real backlog and `SO_REUSEADDR` (restart without
/// waiting out TIME_WAIT). With `reuse_port`, several listeners (one per worker) share the port and
/// the kernel spreads connections among them. An IPv6 address listens on IPv6 only.
pub fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_cloexec(true)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
