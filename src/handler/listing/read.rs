//! Reading a directory for a listing, through the descriptor the resolver opened (never by path,
//! so what is listed is what was resolved), applying the listing policy: names starting with `.`
//! are left out unless hidden files are on; symlinks are followed, and left out if they dangle,
//! lead out of the root or through a hidden name (the rule serving applies: each is resolved as
//! a request for it would be); an entry that cannot be stat'ed is listed without size and date.
//!
//! Cost per entry: a share of one `getdents64`, one `fstatat` (for a symlink, its resolution
//! beneath the root and an `fstat` instead of a second one), one small allocation made by
//! `rustix` for the name.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Arc;

use rustix::fs::{AtFlags, Dir, FileType};
use rustix::io::Errno;

use crate::sys::Root;

use super::entry::{Entry, entry_of_kind, kind_of};
use super::sort::Runs;

/// Most entries read (one `fstatat` each) per call. Arbitrary: well under 0.1 ms of work on a
/// warm cache in a release build. The body writer makes at most 16 calls per turn of the loop, so
/// this bounds the delay a listing adds for other clients; larger only saves turns.
const READ_BATCH: usize = 32;

/// A directory being read for a listing.
pub(crate) struct Reader {
    /// The directory; dropped (closed) once read.
    dir: Option<Dir>,
    /// The served root, to resolve symlinks beneath it.
    root: Arc<Root>,
}

/// Whether the directory has more entries to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    More,
    End,
}

impl Reader {
    /// A reader of `dir`, an open directory below `root`. Makes no system call.
    pub fn new(dir: File, root: Arc<Root>) -> Reader {
        Reader {
            dir: Dir::new(dir).ok(),
            root,
        }
    }

    /// One step of reading the directory found at `path` below the root: sorts the last run if it
    /// is full, or reads up to [`READ_BATCH`] entries into `runs`. At the end of the directory,
    /// closes it.
    pub(crate) fn read_batch(&mut self, path: &[u8], runs: &mut Runs) -> io::Result<Progress> {
        if runs.sort_full_run() {
            return Ok(Progress::More);
        }
        let Some(dir) = self.dir.as_mut() else {
            return Err(io::Error::other("directory not readable"));
        };
        for _ in 0..READ_BATCH {
            let entry = match dir.read() {
                None => {
                    self.dir = None;
                    return Ok(Progress::End);
                }
                Some(entry) => entry?,
            };
            let name = entry.file_name();
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." || (bytes.starts_with(b".") && !self.root.hidden()) {
                continue;
            }
            let place = (&*self.root, path);
            let Some(meta) = inspect(dir.fd()?, place, name, entry.file_type()) else {
                continue;
            };
            if runs.push(meta, bytes) {
                // Sorted by the next call.
                break;
            }
        }
        Ok(Progress::More)
    }
}

/// Stats the entry `name` of the directory `fd`, which lies at `place.1` below the root
/// `place.0`. `None` leaves it out of the listing: it vanished, or it is a symlink that dangles,
/// loops, leads out of the root or through a hidden name.
fn inspect(
    fd: BorrowedFd<'_>,
    place: (&Root, &[u8]),
    name: &CStr,
    d_type: FileType,
) -> Option<Entry> {
    let stat = match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        // The folder may be read but not searched: the name is all there is to show.
        Err(Errno::ACCESS) if d_type != FileType::Symlink => {
            return Some(Entry {
                known: false,
                size: 0,
                modified: 0,
                ..entry_of_kind(kind_of(d_type))
            });
        }
        Err(_) => return None,
    };
    let stat = if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink {
        // The rule serving applies: resolved beneath the root as a request for it would be.
        let (root, path) = place;
        let mut rel = Vec::with_capacity(path.len() + 1 + name.to_bytes().len());
        rel.extend_from_slice(path);
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.to_bytes());
        rustix::fs::fstat(root.open_beneath(&rel).ok()?).ok()?
    } else {
        stat
    };
    Some(Entry {
        known: true,
        size: stat.st_size.max(0) as u64,
        modified: stat.st_mtime,
        ..entry_of_kind(kind_of(FileType::from_raw_mode(stat.st_mode)))
    })
}
