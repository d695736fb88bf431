//! The platform seam: everything that differs between Linux, macOS and FreeBSD lives in this
//! folder, behind small functions; nothing above it names an operating system.
//!
//! | what | Linux | FreeBSD | macOS |
//! |---|---|---|---|
//! | opening beneath the root | `openat2(RESOLVE_BENEATH)` | `openat(O_RESOLVE_BENEATH)` where the kernel enforces it | `openat(O_NOFOLLOW_ANY)` |
//! | … when a symlink is on the way | the walk ([`beneath`]) | the walk | the walk |
//! | sending a file | `sendfile` | `sendfile` (partial count kept) | `sendfile` (partial count kept) |
//! | a body follows the head | `MSG_MORE` | no hint | no hint |
//! | no `SIGPIPE` | `MSG_NOSIGNAL` | `MSG_NOSIGNAL` | `SO_NOSIGPIPE` on each accepted socket |
//! | several workers | `SO_REUSEPORT` listeners | `SO_REUSEPORT_LB` listeners | one listener, shared |
//! | a large body's next turn | when the poll says writable (re-registered) | the next turn of the loop | the next turn of the loop |
//! | unsent bytes a socket holds | about 16 KiB under BBR (`TCP_NOTSENT_LOWAT`) | its send buffer's worth | its send buffer's worth |
//!
//! Every choice the platform makes can be forced to its portable form at run time with
//! [`Strategy`] (the `MIOSERVE_STRATEGY` environment variable), so the Linux test suite runs the
//! walk, plain sends, a shared listener, turn-by-turn pacing and full send buffers too. Nothing
//! here uses `unsafe`: `rustix`, `socket2` and, on the BSDs, `nix` hold the system calls.
//!
//! Cost: the per-request calls (`send`, `sendfile`, opening beneath the root) are one system call
//! each on the common path; the rest runs at startup.

mod beneath;
mod limits;
mod net;
mod sendfile;

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;

#[cfg(target_os = "freebsd")]
use freebsd as os;
#[cfg(target_os = "linux")]
use linux as os;
#[cfg(target_os = "macos")]
use macos as os;

#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "macos")))]
compile_error!("mioserve runs on Linux, FreeBSD and macOS");

pub use beneath::{Refusal, Root};
pub use limits::{NofileLimits, raise_nofile_limit};
pub(crate) use net::{listen, prepare_accepted, send, send_file, send_vectored, share_listener};

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// How files are opened beneath the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// The kernel's own containment (see the module table), and the walk only when a symlink is
    /// on the way or the kernel lacks it.
    Kernel,
    /// The portable component-by-component walk for every path.
    Walk,
}

/// How bytes are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    /// With every hint the platform has (`MSG_MORE` on Linux).
    Hinted,
    /// Without hints, as on a platform that has none.
    Plain,
}

/// How several workers share the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listening {
    /// A listener per worker, the kernel spreading connections among them.
    PerWorker,
    /// One listener, every worker accepting from it.
    Shared,
}

/// When a connection that sent its turn's share of a large body (a file, a cached variant) sends
/// more.
///
/// Measured on Linux (`benches/load.sh`, 10 MiB over `wrk -c8`, 5 rounds): waiting for the poll
/// to report the socket writable, as a level-triggered loop does (lighttpd's), keeps every
/// connection's socket partly full and written in turn, where running the connection again
/// each turn fills one socket at a time to the brim and then waits for a third of it to drain:
/// 3,101 against 2,739 MiB/s, the client's CPU 230 against 278 µs per MiB (lighttpd's 225), the
/// server's 276 against 286; over TLS 2,026 against 1,719 MiB/s. With unsent bytes capped
/// ([`Unsent::Capped`]) no socket fills to the brim, and turns measured about the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Re-register the socket with the poll, which reports it once it is writable (at once if it
    /// still is; see `os::REARM_REPORTS_READY`).
    Rearm,
    /// Run it again before the loop next waits; it waits for the poll only once its socket is
    /// full. Needs nothing of the poll but edges.
    Turns,
}

/// How much of a response a connection's socket may hold that has not gone out yet.
///
/// Measured on Linux under BBR congestion control (`benches/load.sh`, 10 MiB over `wrk -c8`, 5
/// interleaved rounds): capped, 5,025 against 3,207 MiB/s, the server's CPU 156 against 276 µs
/// per MiB, the client's 176 against 222 (lighttpd, which leaves it full: 4,035, 222, 212). A
/// socket that holds only what is about to leave sends a turn's bytes within the call, in
/// full-sized segments; one holding megabytes has the kernel send them later, from timers and
/// acknowledgements, in smaller pieces, waking the client two to three times as often. Under
/// CUBIC that does not happen, and the cap cost server CPU instead (108-134 against 90-110 µs
/// per MiB, 6 alternating runs), so it is set only under BBR. Where readers pause, the cap
/// costs more calls per MiB (ARCHITECTURE.md, "What a large file costs").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsent {
    /// A little where the congestion control is BBR (`TCP_NOTSENT_LOWAT`, 16 KiB, set on the
    /// listener and inherited): a write stops once 16 KiB waits unsent, and the poll calls the
    /// socket writable only under 8 KiB. Under any other, the system's default.
    Capped,
    /// The system's default: as much as the send buffer holds, unless the administrator set
    /// `net.ipv4.tcp_notsent_lowat`.
    Full,
}

/// The platform mechanisms a server uses. [`Strategy::native`] is what the platform does best;
/// the others are forced by tests so that every path runs on Linux too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strategy {
    pub opening: Opening,
    pub sending: Sending,
    pub listening: Listening,
    pub pacing: Pacing,
    pub unsent: Unsent,
}

/// The environment variable that forces portable mechanisms: a comma-separated list of `walk`,
/// `plain-send`, `shared-listener`, `turns`, `full-buffer`, or `portable` for all five (`native`
/// or unset for none).
pub const STRATEGY_VAR: &str = "MIOSERVE_STRATEGY";

impl Strategy {
    /// The platform's own mechanisms.
    pub fn native() -> Strategy {
        Strategy {
            opening: Opening::Kernel,
            sending: Sending::Hinted,
            listening: if os::SPREADS_CONNECTIONS {
                Listening::PerWorker
            } else {
                Listening::Shared
            },
            pacing: if os::REARM_REPORTS_READY {
                Pacing::Rearm
            } else {
                Pacing::Turns
            },
            unsent: if os::CAPS_UNSENT {
                Unsent::Capped
            } else {
                Unsent::Full
            },
        }
    }

    /// The portable mechanisms, every one of them.
    pub fn portable() -> Strategy {
        Strategy {
            opening: Opening::Walk,
            sending: Sending::Plain,
            listening: Listening::Shared,
            pacing: Pacing::Turns,
            unsent: Unsent::Full,
        }
    }

    /// The native strategy with what [`STRATEGY_VAR`] forces; an unknown word is an error, never
    /// ignored (a test run that asked for the walk must not silently run without it).
    pub fn from_env() -> Result<Strategy, String> {
        match std::env::var(STRATEGY_VAR) {
            Ok(value) => Strategy::parse(&value),
            Err(std::env::VarError::NotPresent) => Ok(Strategy::native()),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("{STRATEGY_VAR} is not UTF-8")),
        }
    }

    /// [`Strategy::from_env`], for a constructor that cannot fail: an invalid value panics, as a
    /// test run that asked for a mechanism must not run without it. (The binary checks the
    /// variable first and reports it in one line.)
    pub fn forced() -> Strategy {
        Strategy::from_env().unwrap_or_else(|why| panic!("{why}"))
    }

    fn parse(value: &str) -> Result<Strategy, String> {
        let mut strategy = Strategy::native();
        for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "native" => {}
                "walk" => strategy.opening = Opening::Walk,
                "plain-send" => strategy.sending = Sending::Plain,
                "shared-listener" => strategy.listening = Listening::Shared,
                "turns" => strategy.pacing = Pacing::Turns,
                "full-buffer" => strategy.unsent = Unsent::Full,
                "portable" => strategy = Strategy::portable(),
                _ => {
                    return Err(format!(
                        "{STRATEGY_VAR}: unknown {word:?} (expected a comma-separated list of \
                         walk, plain-send, shared-listener, turns, full-buffer, portable, native)"
                    ));
                }
            }
        }
        Ok(strategy)
    }

    /// One line for the startup log: what this server uses.
    pub fn describe(&self) -> String {
        let opening = match self.opening {
            Opening::Kernel => os::KERNEL_OPENING,
            Opening::Walk => "the portable walk",
        };
        let sending = match self.sending {
            Sending::Hinted => os::SEND_HINTS,
            Sending::Plain => "no hints",
        };
        let listening = match self.listening {
            Listening::PerWorker => os::LISTENER_PER_WORKER,
            Listening::Shared => "one listener shared by the workers",
        };
        let pacing = match self.pacing {
            Pacing::Rearm => "when the poll says writable",
            Pacing::Turns => "every turn of the loop",
        };
        let unsent = match self.unsent {
            Unsent::Capped => {
                "sockets hold only what is about to go out under BBR (TCP_NOTSENT_LOWAT)"
            }
            Unsent::Full => "sockets hold a full send buffer",
        };
        format!(
            "opening: {opening}; sends: {sending}; workers: {listening}; large bodies go on \
             {pacing}; {unsent}"
        )
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

/// What identifies one version of a file: device, inode, size, modification and change times.
/// A file edited in place, replaced by a rename or truncated has another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileVersion {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileVersion {
    /// The version `meta` describes.
    pub(crate) fn of(meta: &Metadata) -> FileVersion {
        FileVersion {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The version of what `path` (relative to `dir`) names, its last component not followed;
    /// `None` if it cannot be stat'ed. One `fstatat`, no allocation.
    pub(crate) fn of_path(dir: &std::fs::File, path: &[u8]) -> Option<FileVersion> {
        use std::os::unix::ffi::OsStrExt;
        let st = rustix::fs::statat(
            dir,
            std::ffi::OsStr::from_bytes(path),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .ok()?;
        // `dev_t` is `i32` on macOS and `u64` elsewhere: `as` converts as std's `MetadataExt::dev`
        // does, so the two versions of one file compare equal.
        #[allow(clippy::unnecessary_cast)]
        let dev = st.st_dev as u64;
        Some(FileVersion {
            dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime, st.st_ctime_nsec as i64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_words() {
        let native = Strategy::native();
        assert_eq!(Strategy::parse(""), Ok(native));
        assert_eq!(Strategy::parse("native"), Ok(native));
        assert_eq!(Strategy::parse("portable"), Ok(Strategy::portable()));
        assert_eq!(
            Strategy::parse(" walk , plain-send"),
            Ok(Strategy {
                opening: Opening::Walk,
                sending: Sending::Plain,
                ..native
            })
        );
        assert_eq!(
            Strategy::parse("shared-listener").map(|s| s.listening),
            Ok(Listening::Shared)
        );
        assert_eq!(
            Strategy::parse("turns").map(|s| s.pacing),
            Ok(Pacing::Turns)
        );
        assert_eq!(
            Strategy::parse("full-buffer").map(|s| s.unsent),
            Ok(Unsent::Full)
        );
        let refused = Strategy::parse("walk,walkk").unwrap_err();
        assert!(refused.contains("\"walkk\""), "{refused}");
    }

    #[test]
    fn a_file_version_changes_with_its_content() {
        let dir = std::env::temp_dir().join(format!("mioserve-version-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f"), "one").unwrap();
        let root = std::fs::File::open(&dir).unwrap();
        let first = FileVersion::of_path(&root, b"f").unwrap();
        let meta = std::fs::metadata(dir.join("f")).unwrap();
        assert_eq!(FileVersion::of(&meta), first);
        std::fs::write(dir.join("f"), "three").unwrap();
        assert_ne!(FileVersion::of_path(&root, b"f"), Some(first));
        assert_eq!(FileVersion::of_path(&root, b"missing"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
