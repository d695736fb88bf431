//! macOS: `openat(O_NOFOLLOW_ANY)`, its own `sendfile`, `SO_NOSIGPIPE`, one listener shared by
//! the workers. Type-checked by CI; not yet run on a Mac.

use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::net::SendFlags;
use socket2::{SockRef, Socket};

use super::beneath::Kernel;

pub(super) const KERNEL_OPENING: &str =
    "openat(O_NOFOLLOW_ANY), the walk where a symlink is on the way";
pub(super) const SEND_HINTS: &str = "no hints (macOS has no MSG_MORE)";
pub(super) const LISTENER_PER_WORKER: &str =
    "a listener each (macOS does not spread connections among them)";

/// `SO_REUSEPORT` lets listeners share a port on macOS but sends every connection to one of
/// them, so the workers share one listener instead.
pub(super) const SPREADS_CONNECTIONS: bool = false;

/// Whether re-adding a kqueue filter reports a socket that is already writable has not been
/// verified on macOS: connections take turns instead, which relies on edges alone.
pub(super) const REARM_REPORTS_READY: bool = false;

/// macOS's sockets hold a full send buffer: its `TCP_NOTSENT_LOWAT` has no safe binding
/// (neither `socket2`, `rustix` nor `nix` offers it).
pub(super) const CAPS_UNSENT: bool = false;

/// macOS has no `O_PATH` (nor an `O_SEARCH` that rustix offers): directories the walk passes
/// through are opened for reading, which needs read permission on them.
pub(super) const WALK_DIR_FLAGS: OFlags = OFlags::RDONLY;

/// Whether `O_NOFOLLOW_ANY` (macOS 11) is honoured: an older kernel ignores an unknown flag and
/// would follow every symlink. `/tmp` is a symlink on every macOS, so opening `/tmp/` with the
/// flag must fail with `ELOOP`; if it does not, the walk opens every path.
fn nofollow_any_honoured() -> bool {
    static HONOURED: OnceLock<bool> = OnceLock::new();
    *HONOURED.get_or_init(|| {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW_ANY;
        rustix::fs::open("/tmp/", flags, Mode::empty()).err() == Some(Errno::LOOP)
    })
}

/// `openat` with `O_NOFOLLOW_ANY`: a path with no symlink on it (the paths given here climb
/// nowhere, so it stays beneath the root) opens in this one call, any other goes to the walk.
pub(super) fn open_kernel(
    root: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlags,
    _hidden: bool,
) -> Kernel {
    if !nofollow_any_honoured() {
        return Kernel::Walk;
    }
    match rustix::fs::openat(root, rel, flags | OFlags::NOFOLLOW_ANY, Mode::empty()) {
        Ok(fd) => Kernel::Opened(fd),
        Err(Errno::LOOP) => Kernel::Walk,
        Err(e) => Kernel::Failed(e),
    }
}

/// `send` without flags: macOS has neither `MSG_NOSIGNAL` (each accepted socket has
/// `SO_NOSIGPIPE` instead, see [`prepare_accepted`]) nor `MSG_MORE`.
pub(super) fn send(socket: BorrowedFd<'_>, buf: &[u8], _more: bool) -> io::Result<usize> {
    Ok(rustix::net::send(socket, buf, NO_SIGPIPE)?)
}

/// No flag keeps a send from raising `SIGPIPE` here: each accepted socket has `SO_NOSIGPIPE`
/// instead (see [`prepare_accepted`]).
pub(super) const NO_SIGPIPE: SendFlags = SendFlags::empty();

/// macOS's `sendfile`, through `nix`: it reports what it sent even when it fails, and
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
    let invalid = || io::Error::from(io::ErrorKind::InvalidInput);
    let start = i64::try_from(*offset).map_err(|_| invalid())?;
    let count = i64::try_from(count).map_err(|_| invalid())?;
    let (result, sent) = nix::sys::sendfile::sendfile(file, socket, start, Some(count), None, None);
    let result = result.map_err(|e| Errno::from_raw_os_error(e as i32));
    let n = super::sendfile::outcome(result, sent)?;
    *offset += n as u64;
    Ok(n)
}

/// `SO_NOSIGPIPE`: a write to a peer that went away fails instead of killing the process with
/// `SIGPIPE`. One `setsockopt` per connection, macOS only.
pub(super) fn prepare_accepted(socket: BorrowedFd<'_>) -> io::Result<()> {
    SockRef::from(&socket).set_nosigpipe(true)
}

pub(super) fn spread_connections(_socket: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "macOS does not spread connections among listeners: share one",
    ))
}

pub(super) fn cap_unsent(_socket: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "macOS cannot cap a socket's unsent bytes",
    ))
}
