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
//! Cost: a hit is a hash lookup and a reference-count increment; a store (once per file version)
//! keeps the output it is handed (no copy) and scans the entries to evict.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::rc::Rc;

use crate::config::DEFAULT_COMPRESS_CACHE;
use crate::response::coding::Coding;
use crate::response::compress::OnComplete;

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
        }
    }

    /// The largest variant kept; a coded stream that grows beyond it is not captured.
    pub fn per_file_limit(&self) -> usize {
        self.per_file
    }

    /// The allowance the captures in flight share (see the field).
    pub fn capture_allowance(&self) -> Rc<Cell<usize>> {
        Rc::clone(&self.in_flight)
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
    pub fn insert(&mut self, key: VariantKey, bytes: Vec<u8>) {
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
                bytes: Rc::new(bytes),
                used: self.clock,
            },
        );
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
/// two versions, which must not be kept).
pub fn store_when_complete(
    cache: &Rc<RefCell<Variants>>,
    key: VariantKey,
    file: Rc<File>,
) -> OnComplete {
    let cache = Rc::clone(cache);
    Box::new(move |bytes| {
        let unchanged = file
            .metadata()
            .is_ok_and(|meta| VariantKey::of(&meta, key.coding) == key);
        if let (true, Ok(mut cache)) = (unchanged, cache.try_borrow_mut()) {
            cache.insert(key, bytes);
        }
    })
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
        store_when_complete(&cache, key, file.clone())(b"coded".to_vec());
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
        hook(b"mixed".to_vec());
        assert!(other.borrow().is_empty());
    }
}
