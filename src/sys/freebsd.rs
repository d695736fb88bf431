//! FreeBSD: `openat(O_RESOLVE_BENEATH)` where the kernel enforces it, its own `sendfile`,
//! `MSG_NOSIGNAL`, `SO_REUSEPORT_LB`. Type-checked by CI; not yet run on a FreeBSD machine.

use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::OnceLock;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use rustix::net::SendFlags;
use socket2::Socket;

use super::beneath::Kernel;

pub(super) const KERNEL_OPENING: &str =
    "openat(O_RESOLVE_BENEATH) with hidden names served, else the walk";
pub(super) const SEND_HINTS: &str = "no hints (FreeBSD has no MSG_MORE)";
pub(super) const LISTENER_PER_WORKER: &str = "a SO_REUSEPORT_LB listener each";

/// `SO_REUSEPORT_LB` spreads connections among the listeners bound to one port.
pub(super) const SPREADS_CONNECTIONS: bool = true;

/// Whether re-adding a kqueue filter reports a socket that is already writable has not been
/// verified on FreeBSD: connections take turns instead, which relies on edges alone.
pub(super) const REARM_REPORTS_READY: bool = false;

/// FreeBSD's sockets hold a full send buffer: it has no `TCP_NOTSENT_LOWAT`.
pub(super) const CAPS_UNSENT: bool = false;

/// Directories the walk passes through are opened as paths only (`O_PATH`, FreeBSD 14).
pub(super) const WALK_DIR_FLAGS: OFlags = OFlags::PATH;

/// Whether `O_RESOLVE_BENEATH` is enforced. FreeBSD 13 has the flag, but `..` at the starting
/// directory re-opened it instead of failing, and an older kernel ignores an unknown `O_` flag
/// altogether. `AT_` flags are checked strictly, so the probe is cap-std's: `..` from `/` with
/// `AT_RESOLVE_BENEATH` must answer `ENOTCAPABLE`.
fn beneath_enforced() -> bool {
    static ENFORCED: OnceLock<bool> = OnceLock::new();
    *ENFORCED.get_or_init(|| {
        let Ok(top) = rustix::fs::open("/", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
            return false;
        };
        rustix::fs::statat(&top, "..", AtFlags::RESOLVE_BENEATH) == Err(Errno::NOTCAPABLE)
    })
}

/// `openat` with `O_RESOLVE_BENEATH` when hidden names are served. FreeBSD has no flag that
/// refuses every symlink, so when hidden names are not served only the walk can see the names a
/// symlink leads through, and it opens every path.
pub(super) fn open_kernel(root: BorrowedFd<'_>, rel: &Path, flags: OFlags, hidden: bool) -> Kernel {
    if !hidden || !beneath_enforced() {
        return Kernel::Walk;
    }
    match rustix::fs::openat(root, rel, flags | OFlags::RESOLVE_BENEATH, Mode::empty()) {
        Ok(fd) => Kernel::Opened(fd),
        // An absolute symlink, or one leaving the root: the walk decides where it leads.
        Err(Errno::NOTCAPABLE) => Kernel::Walk,
        Err(e) => Kernel::Failed(e),
    }
}

/// `send` with `MSG_NOSIGNAL`; FreeBSD has no `MSG_MORE`, so that hint is dropped.
pub(super) fn send(socket: BorrowedFd<'_>, buf: &[u8], _more: bool) -> io::Result<usize> {
    Ok(rustix::net::send(socket, buf, NO_SIGPIPE)?)
}

/// The flag that keeps a send to a peer that went away from raising `SIGPIPE`.
pub(super) const NO_SIGPIPE: SendFlags = SendFlags::NOSIGNAL;

/// FreeBSD's `sendfile`, through `nix`: it reports what it sent even when it fails, and
/// [`super::sendfile::outcome`] keeps that count.
pub(super) fn send_file(
    socket: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    if count == 0 {
        // A count of 0 means "to the end of the file" to sendfile.
        return Ok(0);
    }
    let start = i64::try_from(*offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let (result, sent) = nix::sys::sendfile::sendfile(
        file,
        socket,
        start,
        Some(count),
        None,
        None,
        nix::sys::sendfile::SfFlags::empty(),
        0,
    );
    let result = result.map_err(|e| Errno::from_raw_os_error(e as i32));
    let n = super::sendfile::outcome(result, sent)?;
    *offset += n as u64;
    Ok(n)
}

/// Nothing to set: `MSG_NOSIGNAL` guards every send, and `TCP_NODELAY` is inherited from the
/// listener.
pub(super) fn prepare_accepted(_socket: BorrowedFd<'_>) -> io::Result<()> {
    Ok(())
}

pub(super) fn spread_connections(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port_lb(true)
}

pub(super) fn cap_unsent(_socket: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "FreeBSD cannot cap a socket's unsent bytes",
    ))
}
