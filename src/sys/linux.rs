//! Linux: `openat2`, `sendfile`, `MSG_MORE`, `MSG_NOSIGNAL`, `SO_REUSEPORT`.

use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::net::SendFlags;
use socket2::Socket;

use super::beneath::Kernel;

pub(super) const KERNEL_OPENING: &str =
    "openat2(RESOLVE_BENEATH), the walk where a symlink is on the way";
pub(super) const SEND_HINTS: &str = "MSG_MORE ahead of a file body";
pub(super) const LISTENER_PER_WORKER: &str = "a SO_REUSEPORT listener each";

/// `SO_REUSEPORT` spreads connections among the listeners bound to one port.
pub(super) const SPREADS_CONNECTIONS: bool = true;

/// `epoll_ctl(EPOLL_CTL_MOD)` polls the socket again and queues its event at once if it is
/// ready (what re-arming an `EPOLLONESHOT` registration relies on), so a re-registered socket
/// that is still writable is reported without waiting for an edge.
pub(super) const REARM_REPORTS_READY: bool = true;

/// `TCP_NOTSENT_LOWAT` caps the unsent bytes a socket holds, where the congestion control is
/// BBR (see `Unsent`).
pub(super) const CAPS_UNSENT: bool = true;

/// The cap: a socket reports itself writable once it holds less than half of this not yet sent.
/// 16 KiB is what Cloudflare runs its servers with (BBR and `tcp_notsent_lowat`, 2018); 32 KiB
/// measured the same here and 128 KiB lost most of the gain (see `Unsent`).
const UNSENT_LOW_WATER: u32 = 16 * 1024;

/// Whether the cap pays under the congestion control `algorithm` (a `TCP_CONGESTION` name):
/// under BBR, whose window stays small where the round trip is short, a socket holding
/// megabytes unsent sends them later in pieces; under CUBIC it sends them at once anyway, and
/// the cap only costs server CPU (see `Unsent`).
fn cap_pays_under(algorithm: &[u8]) -> bool {
    algorithm.starts_with(b"bbr")
}

/// Directories the walk passes through are opened as paths only: searching them needs no read
/// permission, as for the kernel's own lookup.
pub(super) const WALK_DIR_FLAGS: OFlags = OFlags::PATH;

/// Set once `openat2` answered `ENOSYS` (a kernel before 5.6): the walk does its work from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// `openat2` with `RESOLVE_BENEATH` (no `..` or absolute symlink out of the root) and
/// `RESOLVE_NO_MAGICLINKS` (no `/proc` links). Unless hidden names are served, also
/// `RESOLVE_NO_SYMLINKS`: only the walk can see the names a symlink leads through, so a path
/// with one goes to it, and a path without one (nearly all) costs this one call.
pub(super) fn open_kernel(root: BorrowedFd<'_>, rel: &Path, flags: OFlags, hidden: bool) -> Kernel {
    if NO_OPENAT2.load(Ordering::Relaxed) {
        return Kernel::Walk;
    }
    let mut resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    if !hidden {
        resolve |= ResolveFlags::NO_SYMLINKS;
    }
    // `EAGAIN`: a rename somewhere on the system raced the lookup. Retried a few times, as
    // cap-std does; there is no bound on how often it can happen, so then the walk decides.
    for _ in 0..4 {
        match rustix::fs::openat2(root, rel, flags, Mode::empty(), resolve) {
            Ok(fd) => return Kernel::Opened(fd),
            Err(Errno::AGAIN) => {}
            // A symlink refused (`ELOOP` under RESOLVE_NO_SYMLINKS, or a real loop) or one that
            // is absolute or leaves the root (`EXDEV`): the walk decides where it leads. `EPERM`:
            // a seccomp filter that forbids openat2.
            Err(Errno::LOOP | Errno::XDEV | Errno::PERM) => return Kernel::Walk,
            Err(Errno::NOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
                return Kernel::Walk;
            }
            Err(e) => return Kernel::Failed(e),
        }
    }
    Kernel::Walk
}

/// `send` with `MSG_NOSIGNAL` (a peer that went away fails the write instead of killing the
/// process with `SIGPIPE`), and `MSG_MORE` when more of the response follows at once.
pub(super) fn send(socket: BorrowedFd<'_>, buf: &[u8], more: bool) -> io::Result<usize> {
    let flags = if more {
        NO_SIGPIPE | SendFlags::MORE
    } else {
        NO_SIGPIPE
    };
    Ok(rustix::net::send(socket, buf, flags)?)
}

/// The flag that keeps a send to a peer that went away from raising `SIGPIPE`.
pub(super) const NO_SIGPIPE: SendFlags = SendFlags::NOSIGNAL;

/// Linux's `sendfile`: the count it returns is what was sent; `EAGAIN` means nothing was.
pub(super) fn send_file(
    socket: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    Ok(rustix::fs::sendfile(socket, file, Some(offset), count)?)
}

/// Nothing to set: `MSG_NOSIGNAL` guards every send, and `TCP_NODELAY` and the cap on unsent
/// bytes are inherited from the listener.
pub(super) fn prepare_accepted(_socket: BorrowedFd<'_>) -> io::Result<()> {
    Ok(())
}

pub(super) fn spread_connections(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

/// Sets `TCP_NOTSENT_LOWAT` on the listener when its congestion control (the system's default,
/// which accepted sockets take too unless a route names another) is one the cap pays under.
/// Accepted sockets inherit the option, so there is no `setsockopt` per connection.
pub(super) fn cap_unsent(socket: &Socket) -> io::Result<()> {
    if cap_pays_under(&socket.tcp_congestion()?) {
        socket.set_tcp_notsent_lowat(UNSENT_LOW_WATER)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Unsent;

    fn accepted_lowat(unsent: Unsent) -> u32 {
        let listener = crate::sys::listen("127.0.0.1:0".parse().unwrap(), false, unsent).unwrap();
        listener.set_nonblocking(false).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        socket2::SockRef::from(&accepted)
            .tcp_notsent_lowat()
            .unwrap()
    }

    /// The cap is set once, on the listener, where the system's congestion control is one it
    /// pays under: the server relies on this to skip a `setsockopt` per connection.
    #[test]
    fn accepted_sockets_inherit_the_cap_on_unsent_bytes() {
        let probe = Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let capped = cap_pays_under(&probe.tcp_congestion().unwrap());
        let expected = if capped { UNSENT_LOW_WATER } else { 0 };
        assert_eq!(accepted_lowat(Unsent::Capped), expected);
        assert_eq!(
            accepted_lowat(Unsent::Full),
            0,
            "left to the system's default"
        );
    }

    /// Under BBR the cap is set, under anything else (Reno is always built in) it is not.
    #[test]
    fn the_cap_follows_the_congestion_control() {
        let lowat_under = |algorithm: &[u8]| {
            let socket = Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
            socket.set_tcp_congestion(algorithm).ok()?;
            cap_unsent(&socket).unwrap();
            Some(socket.tcp_notsent_lowat().unwrap())
        };
        assert_eq!(lowat_under(b"reno"), Some(0));
        // BBR is a module a kernel may lack; where it has it, the cap is set.
        if let Some(lowat) = lowat_under(b"bbr") {
            assert_eq!(lowat, UNSENT_LOW_WATER);
        }
        assert!(cap_pays_under(b"bbr") && cap_pays_under(b"bbr2"));
        assert!(!cap_pays_under(b"cubic") && !cap_pays_under(b"reno"));
    }
}
