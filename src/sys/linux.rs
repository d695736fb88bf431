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

/// `TCP_NOTSENT_LOWAT` caps the unsent bytes a socket holds (see `Unsent`).
pub(super) const CAPS_UNSENT: bool = true;

/// The cap: a socket reports itself writable once it holds less than half of this not yet sent.
/// 16 KiB is what Cloudflare runs its servers with (BBR and `tcp_notsent_lowat`, 2018); 32 KiB
/// measured the same here and 128 KiB lost most of the gain (see `Unsent`).
const UNSENT_LOW_WATER: u32 = 16 * 1024;

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

/// Sets `TCP_NOTSENT_LOWAT` on the listener; accepted sockets inherit it, so there is no
/// `setsockopt` per connection.
pub(super) fn cap_unsent(socket: &Socket) -> io::Result<()> {
    socket.set_tcp_notsent_lowat(UNSENT_LOW_WATER)
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

    /// The cap is set once, on the listener: the server relies on this to skip a `setsockopt`
    /// per connection.
    #[test]
    fn accepted_sockets_inherit_the_cap_on_unsent_bytes() {
        assert_eq!(accepted_lowat(Unsent::Capped), UNSENT_LOW_WATER);
        assert_eq!(
            accepted_lowat(Unsent::Full),
            0,
            "left to the system's default"
        );
    }
}
