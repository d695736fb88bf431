//! The open-file cache: descriptors of recently served files, kept open per worker, so a hit
//! costs one `statat` instead of `openat2` + `fstat` + `close`.
//!
//! A small file's content ([`CONTENT_MAX`] bytes at most, [`CONTENT_BUDGET`] in all per worker)
//! is held with its entry, read once when the entry is made, so answering it is a copy into the
//! write buffer and a pipelined batch of such responses is one `send`, with no `pread` each.
//! Larger files are read fresh for every response. A hit is revalidated on every request by
//! `statat` of the path (the final component not followed): device, inode, size,
//! mtime and ctime must all equal the cached descriptor's, so a file edited in place, replaced by a
//! rename, truncated or turned into a symlink is opened afresh through the full resolution. Entries
//! also expire a second after they were checked that way ([`RECHECK`]), so a change the identity
//! check cannot see (an intermediate directory swapped for a symlink) lasts at most that long.
//! Only regular files reached without a symlink as their last component are cached.
//!
//! Within one wake-up of the loop (the `now` passed in), a path is revalidated once: further hits
//! in the same wake-up (a pipelined batch, many ready connections) reuse that check. A change in
//! that window could only race the read of the file anyway, which every server has between its
//! `fstat` and its `read`. Held content is read before the identity check that admits the
//! entry, so a change during the read keeps it out; a change the identity cannot see (a write of
//! the same size within the file system's timestamp granularity, after the read) is served for
//! at most [`RECHECK`], like any other.
//!
//! Cost of a hit: one `statat` per path per loop wake-up, a hash lookup; no allocation.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::response::content_type::{ContentType, Source};
use crate::response::etag::ETag;
use crate::sys::FileVersion;

/// Entries kept at most; beyond it the cache starts over. Arbitrary: each costs a descriptor and
/// about 300 bytes, and the working set of a static site is usually far smaller.
const MAX_ENTRIES: usize = 1024;

/// How long an entry is served on identity checks alone before a full resolution again.
pub(crate) const RECHECK: Duration = Duration::from_secs(1);

/// Largest file whose content an entry holds: the largest the body writer puts behind its head
/// in the write buffer anyway, so holding it trades a `pread` per response for a copy.
pub(crate) const CONTENT_MAX: u64 = crate::response::writer::INLINE_FILE_MAX;

/// Most content bytes held by one worker's entries. Arbitrary: 256 files of the largest kept size,
/// a small site's whole working set, a fixed bound on the memory it costs.
const CONTENT_BUDGET: usize = 4 * 1024 * 1024;

/// An open file and what the handler derives from it alone, worked out once when it is opened
/// rather than on every request: the ETag (hex formatting) and the content type (`mime_guess`'s
/// table search) were together a fifth of a cached request's instructions.
#[derive(Debug, Clone)]
pub(crate) struct CachedFile {
    pub(crate) file: Rc<File>,
    pub(crate) meta: Metadata,
    pub(crate) etag: ETag,
    pub(crate) content_type: (ContentType, Source),
    pub(crate) cache_control: std::sync::Arc<str>,
    /// The whole content, for a small file served from the cache (see the module docs).
    pub(crate) content: Option<Rc<Vec<u8>>>,
}

impl CachedFile {
    /// `file`, just opened, with its validator and the content type its `name` (the last path
    /// component) says; the content is read only when the cache keeps it.
    pub(crate) fn new(
        file: File,
        meta: Metadata,
        name: &[u8],
        cache_control: std::sync::Arc<str>,
    ) -> CachedFile {
        CachedFile {
            file: Rc::new(file),
            etag: ETag::of(&meta),
            content_type: super::mime::content_type(name),
            cache_control,
            meta,
            content: None,
        }
    }
}

#[derive(Debug)]
struct Entry {
    /// Shared with the responses that use it: a hit hands out a reference count, not a copy of
    /// the metadata and the handles (about 300 bytes and three counts).
    cached: Rc<CachedFile>,
    identity: FileVersion,
    /// When the path was last fully resolved to this file.
    resolved_at: Instant,
    /// The loop wake-up in which the identity was last checked.
    checked_at: Instant,
}

/// FNV-1a over the path, with a final mix so the low bits the table indexes by depend on every
/// byte: a fifth of SipHash's instructions for a short path. SipHash's keyed defence against
/// chosen collisions is not needed here: only paths of regular files that exist beneath the root
/// are inserted, so a client cannot choose the keys, at most 1,024 of them.
#[derive(Debug)]
struct PathHasher(u64);

impl Default for PathHasher {
    fn default() -> PathHasher {
        PathHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        (self.0 ^ (self.0 >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
    }
}

/// One worker's open files, keyed by normalised relative path.
#[derive(Debug, Default)]
pub(crate) struct OpenFiles {
    entries: HashMap<Box<[u8]>, Entry, BuildHasherDefault<PathHasher>>,
    /// Content bytes the entries hold, at most [`CONTENT_BUDGET`].
    held: usize,
}

impl OpenFiles {
    /// The cached file at `path` (relative to `root_dir`), if it is still the same file. `now` is
    /// the loop's wake-up time (see the module docs).
    pub(crate) fn lookup(
        &mut self,
        root_dir: &File,
        path: &[u8],
        now: Instant,
    ) -> Option<Rc<CachedFile>> {
        let entry = self.entries.get_mut(path)?;
        // Checked in this wake-up means it passed both tests as of this `now` already.
        let fresh = entry.checked_at == now
            || (now.duration_since(entry.resolved_at) < RECHECK
                && FileVersion::of_path(root_dir, path) == Some(entry.identity));
        if fresh {
            entry.checked_at = now;
            Some(Rc::clone(&entry.cached))
        } else {
            if let Some(gone) = self.entries.remove(path) {
                self.held -= gone.held();
            }
            None
        }
    }

    /// Remembers `cached`, just resolved at `path`, if it may be cached (see the module docs), and
    /// returns it shared: as the entry holds it (its content read, for a small file), so the
    /// first response is the same as the next ones.
    pub(crate) fn insert(
        &mut self,
        root_dir: &File,
        path: &[u8],
        cached: CachedFile,
        now: Instant,
    ) -> Rc<CachedFile> {
        let meta = &cached.meta;
        let identity = FileVersion::of(meta);
        if !meta.is_file() {
            return Rc::new(cached);
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
            self.held = 0;
        }
        // Read before the identity check, so that a change during the read keeps the entry out.
        let content = (meta.len() <= CONTENT_MAX
            && self.held + meta.len() as usize <= CONTENT_BUDGET)
            .then(|| read_whole(&cached.file, meta.len()))
            .flatten();
        if FileVersion::of_path(root_dir, path) != Some(identity) {
            return Rc::new(cached);
        }
        let entry = Entry {
            cached: Rc::new(CachedFile { content, ..cached }),
            identity,
            resolved_at: now,
            checked_at: now,
        };
        let shared = Rc::clone(&entry.cached);
        self.held += entry.held();
        if let Some(old) = self.entries.insert(path.into(), entry) {
            self.held -= old.held();
        }
        shared
    }

    /// Closes the entries not resolved within [`RECHECK`], so an unused file (a deleted one
    /// included, whose space is freed only once no descriptor holds it) is not kept open. The loop
    /// calls this at most once a [`RECHECK`] while the cache holds anything; O(entries).
    pub(crate) fn sweep(&mut self, now: Instant) {
        let held = &mut self.held;
        self.entries.retain(|_, entry| {
            let keep = now.duration_since(entry.resolved_at) < RECHECK;
            if !keep {
                *held -= entry.held();
            }
            keep
        });
    }

    /// Entries held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Entry {
    /// Content bytes held.
    fn held(&self) -> usize {
        self.cached.content.as_ref().map_or(0, |c| c.len())
    }
}

/// The first `len` bytes of `file`, if it has that many (by `pread`, so the descriptor's offset
/// is left alone).
pub(super) fn read_whole(file: &File, len: u64) -> Option<Rc<Vec<u8>>> {
    use std::os::unix::fs::FileExt;
    let mut bytes = vec![0; usize::try_from(len).ok()?];
    file.read_exact_at(&mut bytes, 0).ok()?;
    Some(Rc::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;

    struct Dir(std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn setup(name: &str) -> (Dir, File) {
        let dir =
            std::env::temp_dir().join(format!("mioserve-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("a.txt"), "one").unwrap();
        let root = File::open(&dir).unwrap();
        (Dir(dir), root)
    }

    fn open(dir: &Dir, name: &str) -> CachedFile {
        let file = File::open(dir.0.join(name)).unwrap();
        let meta = file.metadata().unwrap();
        CachedFile::new(file, meta, name.as_bytes(), "no-cache".into())
    }

    #[test]
    fn a_small_file_is_held_within_the_budget_and_the_budget_is_given_back() {
        let (dir, root) = setup("content");
        let mut cache = OpenFiles::default();
        let now = Instant::now();
        // The first response gets what the entry holds, content included.
        let inserted = cache.insert(&root, b"a.txt", open(&dir, "a.txt"), now);
        assert_eq!(
            inserted.content.as_deref().map(Vec::as_slice),
            Some(&b"one"[..])
        );
        let hit = cache.lookup(&root, b"a.txt", now).expect("hit");
        assert!(Rc::ptr_eq(&inserted, &hit));
        assert_eq!(cache.held, 3);
        // One byte over the largest held size: the descriptor only.
        fs::write(dir.0.join("big.bin"), vec![7; CONTENT_MAX as usize + 1]).unwrap();
        cache.insert(&root, b"big.bin", open(&dir, "big.bin"), now);
        assert!(
            cache
                .lookup(&root, b"big.bin", now)
                .unwrap()
                .content
                .is_none()
        );
        // A full budget: further files are served by descriptor too.
        let names: Vec<String> = (0..CONTENT_BUDGET / CONTENT_MAX as usize + 1)
            .map(|i| format!("f{i}"))
            .collect();
        for name in &names {
            fs::write(dir.0.join(name), vec![1; CONTENT_MAX as usize]).unwrap();
            cache.insert(&root, name.as_bytes(), open(&dir, name), now);
        }
        assert!(cache.held <= CONTENT_BUDGET, "{} held", cache.held);
        let last = names.last().unwrap().as_bytes();
        assert!(cache.lookup(&root, last, now).unwrap().content.is_none());
        // A changed file gives its bytes back; so does the sweep.
        let before = cache.held;
        fs::write(dir.0.join("a.txt"), "changed").unwrap();
        let next_wake_up = now + Duration::from_micros(1);
        assert!(cache.lookup(&root, b"a.txt", next_wake_up).is_none());
        assert_eq!(cache.held, before - 3);
        cache.sweep(now + RECHECK);
        assert_eq!((cache.len(), cache.held), (0, 0));
    }

    #[test]
    fn a_hit_is_the_same_descriptor_until_the_file_changes() {
        let (dir, root) = setup("change");
        let mut cache = OpenFiles::default();
        let now = Instant::now();
        let file = open(&dir, "a.txt");
        cache.insert(&root, b"a.txt", file.clone(), now);
        let hit = cache.lookup(&root, b"a.txt", now).expect("hit");
        assert!(Rc::ptr_eq(&hit.file, &file.file));
        // An edit in place (size changes) is a miss from the next wake-up of the loop on.
        fs::OpenOptions::new()
            .append(true)
            .open(dir.0.join("a.txt"))
            .unwrap()
            .write_all(b"!")
            .unwrap();
        let next_wake_up = now + Duration::from_micros(1);
        assert!(cache.lookup(&root, b"a.txt", next_wake_up).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn one_check_per_wake_up() {
        let (dir, root) = setup("wake");
        let mut cache = OpenFiles::default();
        let now = Instant::now();
        let file = open(&dir, "a.txt");
        cache.insert(&root, b"a.txt", file.clone(), now);
        fs::remove_file(dir.0.join("a.txt")).unwrap();
        // Same wake-up: the check made when the file was opened stands.
        assert!(cache.lookup(&root, b"a.txt", now).is_some());
        assert!(
            cache
                .lookup(&root, b"a.txt", now + Duration::from_micros(1))
                .is_none()
        );
    }

    #[test]
    fn a_replaced_file_is_a_miss() {
        let (dir, root) = setup("replace");
        let mut cache = OpenFiles::default();
        let now = Instant::now();
        let file = open(&dir, "a.txt");
        cache.insert(&root, b"a.txt", file.clone(), now);
        fs::write(dir.0.join("b.txt"), "two").unwrap();
        fs::rename(dir.0.join("b.txt"), dir.0.join("a.txt")).unwrap();
        let next_wake_up = now + Duration::from_micros(1);
        assert!(
            cache.lookup(&root, b"a.txt", next_wake_up).is_none(),
            "same size, new inode"
        );
    }

    #[test]
    fn sweep_closes_expired_entries() {
        let (dir, root) = setup("sweep");
        let mut cache = OpenFiles::default();
        let now = Instant::now();
        let file = open(&dir, "a.txt");
        cache.insert(&root, b"a.txt", file.clone(), now);
        drop(file);
        cache.sweep(now + RECHECK / 2);
        assert_eq!(cache.len(), 1);
        cache.sweep(now + RECHECK);
        assert!(cache.is_empty());
    }

    #[test]
    fn entries_expire_and_symlinks_are_not_cached() {
        let (dir, root) = setup("expire");
        let mut cache = OpenFiles::default();
        let now = Instant::now();
        let file = open(&dir, "a.txt");
        cache.insert(&root, b"a.txt", file.clone(), now);
        assert!(
            cache.lookup(&root, b"a.txt", now + RECHECK).is_none(),
            "expired"
        );
        std::os::unix::fs::symlink("a.txt", dir.0.join("link")).unwrap();
        let file = open(&dir, "link");
        cache.insert(&root, b"link", file.clone(), now);
        assert!(
            cache.is_empty(),
            "a symlink's target is not cached under the link"
        );
    }
}
