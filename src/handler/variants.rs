//! The compressed-variant cache: the complete coded output of recently compressed files, kept
//! in memory per worker, so a file is compressed once and later responses are sent from memory
//! with a `Content-Length` (and ranges) at the cost of a `memcpy`.
//!
//! Keyed by the file's identity (device, inode, size, mtime and ctime in nanoseconds) and the
//! coding. The identity comes from the metadata the open-file cache has just revalidated (see
//! [`super::open_files`]), so a changed file has a new key and can never be answered with a
//! variant of its old content; the old variant is dropped when the new one is stored, or evicted
//! in time. A variant is stored only when its stream completed and the file's identity, checked
//! by `fstat` once the stream ended, is still the one it started with, so a file edited
//! mid-stream is not cached.
//!
//! Bounded: a total cap ([`Variants::new`], `--compress-cache BYTES`) and a per-file limit of a
//! sixteenth of it (at most [`PER_FILE_MAX`]); least recently used entries are evicted first. The
//! copies that streams being captured build share an allowance of a quarter of the cap, so many
//! slow streams cannot hold more than that between them.
//!
//! A variant being made is found too ([`coded_stream`]): concurrent first requests for one file
//! in one coding share one compression ([`SharedCoding`]) instead of compressing it once each,
//! as long as its worst-case output fits the per-file limit and the allowance (a larger file is
//! compressed per response and captured as it goes, as before).
//!
//! Cost: a hit is a hash lookup and a reference-count increment; a store (once per file version)
//! keeps the output it is handed (no copy) and scans the entries to evict. A response compressed
//! on the fly costs one more lookup, among the compressions in flight.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::rc::{Rc, Weak};

use crate::config::DEFAULT_COMPRESS_CACHE;
use crate::response::body::{Body, FileBody};
use crate::response::coding::Coding;
use crate::response::compress::{
    CompressedBody, Encoder, Input, OnComplete, Reservation, SharedCoding, coded_bound,
};

/// The largest single variant kept, whatever the cap: bigger files stream every time, which
/// keeps one log file from evicting a site's worth of assets. Arbitrary.
pub const PER_FILE_MAX: usize = 8 * 1024 * 1024;

/// What identifies one version of a file, and a coding of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VariantKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    coding: Coding,
}

impl VariantKey {
    /// The key of `coding` of the file whose metadata is `meta`.
    pub fn of(meta: &Metadata, coding: Coding) -> VariantKey {
        VariantKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            coding,
        }
    }

    /// Whether `other` is another version (or the same) of the same file in the same coding.
    fn same_file(&self, other: &VariantKey) -> bool {
        self.dev == other.dev && self.ino == other.ino && self.coding == other.coding
    }
}

#[derive(Debug)]
struct Entry {
    bytes: Rc<Vec<u8>>,
    /// The use counter's value at the last hit: the smallest is the least recently used.
    used: u64,
}

/// One worker's cached variants.
#[derive(Debug)]
pub struct Variants {
    entries: HashMap<VariantKey, Entry>,
    /// Bytes held in all entries.
    total: usize,
    cap: usize,
    per_file: usize,
    /// Bumped on every hit and store.
    clock: u64,
    /// Bytes the coded streams being captured may hold between them, shared with them: a quarter
    /// of the cap (arbitrary), so slow streams cannot pile up copies beyond it.
    in_flight: Rc<Cell<usize>>,
    /// The shared compressions running, by the variant they make; weak, so a compression whose
    /// responses all ended (clients gone) is freed, and its entry dropped on the next start.
    making: HashMap<VariantKey, Weak<RefCell<SharedCoding>>>,
}

impl Default for Variants {
    fn default() -> Variants {
        Variants::new(DEFAULT_COMPRESS_CACHE)
    }
}

impl Variants {
    /// A cache holding at most `cap` bytes of variants (0 turns it off).
    pub fn new(cap: usize) -> Variants {
        Variants {
            entries: HashMap::new(),
            total: 0,
            cap,
            per_file: (cap / 16).min(PER_FILE_MAX),
            clock: 0,
            in_flight: Rc::new(Cell::new(cap / 4)),
            making: HashMap::new(),
        }
    }

    /// The variant stored under `key`, marked as used.
    pub fn get(&mut self, key: &VariantKey) -> Option<Rc<Vec<u8>>> {
        let entry = self.entries.get_mut(key)?;
        self.clock += 1;
        entry.used = self.clock;
        Some(entry.bytes.clone())
    }

    /// Stores `bytes` under `key`, replacing any variant of an older version of the same file and
    /// evicting the least recently used entries until it fits. Ignored above the per-file limit.
    pub fn insert(&mut self, key: VariantKey, bytes: impl Into<Rc<Vec<u8>>>) {
        let bytes = bytes.into();
        if bytes.len() > self.per_file || bytes.is_empty() {
            return;
        }
        let stale: Vec<VariantKey> = self
            .entries
            .keys()
            .filter(|k| k.same_file(&key))
            .copied()
            .collect();
        for k in stale {
            self.remove(&k);
        }
        while self.total + bytes.len() > self.cap {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.remove(&oldest);
        }
        self.clock += 1;
        self.total += bytes.len();
        self.entries.insert(
            key,
            Entry {
                bytes,
                used: self.clock,
            },
        );
    }

    /// The shared compression making the variant `key`, if one runs that a response may join.
    fn being_made(&self, key: &VariantKey) -> Option<Rc<RefCell<SharedCoding>>> {
        let shared = self.making.get(key)?.upgrade()?;
        let joinable = shared.try_borrow().is_ok_and(|s| s.joinable());
        joinable.then_some(shared)
    }

    /// Records `shared` as making `key`, forgetting compressions that ended.
    fn making(&mut self, key: VariantKey, shared: &Rc<RefCell<SharedCoding>>) {
        self.making.retain(|_, made| made.strong_count() > 0);
        self.making.insert(key, Rc::downgrade(shared));
    }

    fn remove(&mut self, key: &VariantKey) {
        if let Some(entry) = self.entries.remove(key) {
            self.total -= entry.bytes.len();
        }
    }
}

/// What the tests inspect.
#[cfg(test)]
impl Variants {
    fn per_file_limit(&self) -> usize {
        self.per_file
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn bytes(&self) -> usize {
        self.total
    }
}

/// The hook a coded stream calls with its complete output: stores it under `key` if `file` still
/// has the identity the key was made from (an edit during the stream makes the output a mix of
/// two versions, which must not be kept), and forgets the compression that made it.
pub fn store_when_complete(
    cache: &Rc<RefCell<Variants>>,
    key: VariantKey,
    file: Rc<File>,
) -> OnComplete {
    let cache = Rc::clone(cache);
    Box::new(move |bytes| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return;
        };
        cache.making.remove(&key);
        let unchanged = file
            .metadata()
            .is_ok_and(|meta| VariantKey::of(&meta, key.coding) == key);
        if unchanged {
            cache.insert(key, bytes);
        }
    })
}

/// The body of `whole` compressed with `coding` as it is sent, its output stored as a variant
/// under `key` when complete (if the cache takes variants at all). A compression of the same
/// variant already running is joined; otherwise one is started that later responses may join, if
/// its worst-case output fits the per-file limit and can be reserved from the allowance;
/// otherwise the body is compressed for this response alone and captured as it goes.
pub(crate) fn coded_stream(
    cache: &Rc<RefCell<Variants>>,
    whole: FileBody,
    coding: Coding,
    key: VariantKey,
) -> Body {
    let Ok(mut variants) = cache.try_borrow_mut() else {
        return match Encoder::new(coding) {
            Some(encoder) => {
                Body::Stream(Box::new(CompressedBody::new(Input::File(whole), encoder)))
            }
            None => Body::Empty,
        };
    };
    if let Some(shared) = variants.being_made(&key) {
        return Body::Stream(Box::new(SharedCoding::reader(&shared)));
    }
    let Some(encoder) = Encoder::new(coding) else {
        return Body::Empty;
    };
    let (limit, allowance) = (variants.per_file, Rc::clone(&variants.in_flight));
    let bound = usize::try_from(coded_bound(whole.remaining)).unwrap_or(usize::MAX);
    let file = Rc::clone(&whole.file);
    let body = CompressedBody::new(Input::File(whole), encoder);
    if limit == 0 {
        return Body::Stream(Box::new(body));
    }
    let store = store_when_complete(cache, key, file);
    let reservation = (bound <= limit)
        .then(|| Reservation::take(&allowance, bound))
        .flatten();
    match reservation {
        Some(reservation) => {
            let shared = SharedCoding::start(body, reservation, store);
            variants.making(key, &shared);
            Body::Stream(Box::new(SharedCoding::reader(&shared)))
        }
        None => Body::Stream(Box::new(body.capture(limit, allowance, store))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Dir(std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(name: &str) -> Dir {
        let path =
            std::env::temp_dir().join(format!("mioserve-variants-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn key_of(path: &std::path::Path, coding: Coding) -> VariantKey {
        VariantKey::of(&std::fs::metadata(path).unwrap(), coding)
    }

    #[test]
    fn a_hit_returns_the_stored_bytes_per_coding() {
        let d = dir("hit");
        let path = d.0.join("a.js");
        std::fs::write(&path, "x").unwrap();
        let mut cache = Variants::new(1 << 20);
        cache.insert(key_of(&path, Coding::Gzip), b"gz".to_vec());
        cache.insert(key_of(&path, Coding::Brotli), b"br".to_vec());
        assert_eq!(
            cache
                .get(&key_of(&path, Coding::Gzip))
                .as_deref()
                .map(Vec::as_slice),
            Some(&b"gz"[..])
        );
        assert_eq!(
            cache
                .get(&key_of(&path, Coding::Brotli))
                .as_deref()
                .map(Vec::as_slice),
            Some(&b"br"[..])
        );
        assert_eq!(cache.bytes(), 4);
    }

    #[test]
    fn a_changed_file_has_a_new_key_and_replaces_its_old_variant() {
        let d = dir("change");
        let path = d.0.join("a.js");
        std::fs::write(&path, "one").unwrap();
        let old = key_of(&path, Coding::Gzip);
        let mut cache = Variants::new(1 << 20);
        cache.insert(old, b"old".to_vec());
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"!")
            .unwrap();
        let new = key_of(&path, Coding::Gzip);
        assert_ne!(old, new);
        assert!(cache.get(&new).is_none(), "never the old content");
        cache.insert(new, b"new".to_vec());
        assert!(cache.get(&old).is_none(), "old version dropped");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn same_size_rewrite_and_rename_change_the_key() {
        let d = dir("rename");
        let path = d.0.join("a.js");
        std::fs::write(&path, "one").unwrap();
        let old = key_of(&path, Coding::Brotli);
        std::fs::write(d.0.join("b.js"), "two").unwrap();
        std::fs::rename(d.0.join("b.js"), &path).unwrap();
        assert_ne!(old, key_of(&path, Coding::Brotli));
    }

    #[test]
    fn least_recently_used_goes_first_and_the_cap_holds() {
        let d = dir("lru");
        let mut cache = Variants::new(16 * 100);
        assert_eq!(cache.per_file_limit(), 100);
        let keys: Vec<VariantKey> = (0..17)
            .map(|i| {
                let path = d.0.join(format!("{i}.js"));
                std::fs::write(&path, "x").unwrap();
                key_of(&path, Coding::Gzip)
            })
            .collect();
        for key in &keys[..16] {
            cache.insert(*key, vec![0; 100]);
        }
        assert_eq!(cache.bytes(), 1600);
        // Touch the first, so the second is now the least recently used.
        assert!(cache.get(&keys[0]).is_some());
        cache.insert(keys[16], vec![0; 100]);
        assert!(cache.get(&keys[1]).is_none(), "LRU evicted");
        assert!(cache.get(&keys[0]).is_some());
        assert!(cache.get(&keys[16]).is_some());
        assert_eq!(cache.bytes(), 1600);
        // Over the per-file limit: not stored.
        cache.insert(keys[1], vec![0; 101]);
        assert!(cache.get(&keys[1]).is_none());
    }

    #[test]
    fn a_zero_cap_keeps_nothing() {
        let d = dir("zero");
        let path = d.0.join("a.js");
        std::fs::write(&path, "x").unwrap();
        let mut cache = Variants::new(0);
        assert_eq!(cache.per_file_limit(), 0);
        cache.insert(key_of(&path, Coding::Gzip), b"gz".to_vec());
        assert!(cache.is_empty());
    }

    #[test]
    fn the_hook_stores_only_an_unchanged_file() {
        let d = dir("hook");
        let path = d.0.join("a.js");
        std::fs::write(&path, "one").unwrap();
        let cache = Rc::new(RefCell::new(Variants::new(1 << 20)));
        let file = Rc::new(File::open(&path).unwrap());
        let key = key_of(&path, Coding::Gzip);
        store_when_complete(&cache, key, file.clone())(Rc::new(b"coded".to_vec()));
        assert_eq!(
            cache.borrow_mut().get(&key).as_deref().map(Vec::as_slice),
            Some(&b"coded"[..])
        );
        // Edited while "streaming": the output is not kept.
        let other = Rc::new(RefCell::new(Variants::new(1 << 20)));
        let hook = store_when_complete(&other, key, file);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"!")
            .unwrap();
        hook(Rc::new(b"mixed".to_vec()));
        assert!(other.borrow().is_empty());
    }

    /// `coded_stream` for the whole of the file at `path`.
    fn stream(cache: &Rc<RefCell<Variants>>, path: &std::path::Path, coding: Coding) -> Body {
        let file = Rc::new(File::open(path).unwrap());
        let meta = file.metadata().unwrap();
        let whole = FileBody {
            file,
            offset: 0,
            remaining: meta.len(),
        };
        coded_stream(cache, whole, coding, VariantKey::of(&meta, coding))
    }

    /// Pulls one piece of a generated body into `out`; false at its end.
    fn pull(body: &mut Body, out: &mut Vec<u8>) -> std::io::Result<bool> {
        let Body::Stream(source) = body else {
            panic!("not a stream: {body:?}");
        };
        Ok(!matches!(
            source.next_piece(out, 16 * 1024)?,
            crate::response::body::Piece::End
        ))
    }

    fn drain(body: &mut Body) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while pull(body, &mut out)? {}
        Ok(out)
    }

    #[test]
    fn concurrent_first_requests_share_one_compression() {
        use crate::response::compress::{compress, sample_text};
        let d = dir("shared");
        let path = d.0.join("app.js");
        let input = sample_text(300_000);
        std::fs::write(&path, &input).unwrap();
        let cache = Rc::new(RefCell::new(Variants::new(64 << 20)));
        let allowance = cache.borrow().in_flight.get();
        let want = compress(Coding::Gzip, None, &input).unwrap();
        // Two responses start; a third joins once the first is under way.
        let (mut one, mut two) = (
            stream(&cache, &path, Coding::Gzip),
            stream(&cache, &path, Coding::Gzip),
        );
        let mut out_one = Vec::new();
        for _ in 0..5 {
            pull(&mut one, &mut out_one).unwrap();
        }
        let mut three = stream(&cache, &path, Coding::Gzip);
        let mut out_two = Vec::new();
        pull(&mut two, &mut out_two).unwrap();
        out_one.extend(drain(&mut one).unwrap());
        assert_eq!(out_one, want);
        // The first finished the compression, which is now the cached variant; then the file
        // shrinks. The others never read it: they send the one compression's output, whole.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(10)
            .unwrap();
        out_two.extend(drain(&mut two).unwrap());
        assert_eq!(out_two, want, "the second response");
        assert_eq!(drain(&mut three).unwrap(), want, "the late joiner");
        let key = VariantKey::of(&std::fs::metadata(&path).unwrap(), Coding::Gzip);
        assert!(cache.borrow_mut().get(&key).is_none(), "the file changed");
        // Nothing stays reserved, and nothing is left to join.
        drop((one, two, three));
        assert_eq!(cache.borrow().in_flight.get(), allowance);
        assert!(cache.borrow().making.is_empty());
    }

    #[test]
    fn a_shared_compression_is_kept_and_bounded() {
        use crate::response::compress::sample_text;
        let d = dir("bounded");
        let small = d.0.join("small.js");
        std::fs::write(&small, sample_text(50_000)).unwrap();
        // A cap whose per-file limit (a sixteenth) holds the small file's worst case only.
        let cache = Rc::new(RefCell::new(Variants::new(16 * 64 * 1024)));
        let allowance = cache.borrow().in_flight.get();
        let mut one = stream(&cache, &small, Coding::Brotli);
        let mut two = stream(&cache, &small, Coding::Brotli);
        assert!(
            cache.borrow().in_flight.get() < allowance,
            "reserved up front"
        );
        let out = drain(&mut one).unwrap();
        assert_eq!(drain(&mut two).unwrap(), out);
        let key = VariantKey::of(&std::fs::metadata(&small).unwrap(), Coding::Brotli);
        let kept = cache.borrow_mut().get(&key).expect("stored once complete");
        assert_eq!(*kept, out);
        drop((one, two));
        assert_eq!(cache.borrow().in_flight.get(), allowance);
        // A file whose worst case is beyond the per-file limit is not shared: each response
        // codes it (and tries to capture it as before).
        let large = d.0.join("large.js");
        std::fs::write(&large, sample_text(200_000)).unwrap();
        let (mut one, mut two) = (
            stream(&cache, &large, Coding::Gzip),
            stream(&cache, &large, Coding::Gzip),
        );
        assert!(cache.borrow().making.is_empty());
        assert_eq!(drain(&mut one).unwrap(), drain(&mut two).unwrap());
    }

    #[test]
    fn a_failed_shared_compression_fails_its_readers_and_is_not_joined() {
        use crate::response::compress::sample_text;
        let d = dir("failed");
        let path = d.0.join("app.js");
        std::fs::write(&path, sample_text(300_000)).unwrap();
        let cache = Rc::new(RefCell::new(Variants::new(64 << 20)));
        let allowance = cache.borrow().in_flight.get();
        let (mut one, mut two) = (
            stream(&cache, &path, Coding::Gzip),
            stream(&cache, &path, Coding::Gzip),
        );
        let mut out = Vec::new();
        pull(&mut one, &mut out).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(10)
            .unwrap();
        assert!(drain(&mut one).is_err());
        assert!(drain(&mut two).is_err(), "never looks complete");
        // A response for the same key now starts afresh rather than joining the failure.
        let key = VariantKey::of(&meta, Coding::Gzip);
        assert!(cache.borrow().being_made(&key).is_none());
        drop((one, two));
        assert_eq!(cache.borrow().in_flight.get(), allowance);
    }
}
