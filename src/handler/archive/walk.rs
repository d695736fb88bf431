//! A folder walked recursively, a few entries per call, under the listing's policies.
//!
//! Owns: which entries go into an archive and under what name. Every entry is opened with
//! [`open_beneath`] from the served root, the rule serving applies, so nothing outside the root
//! is ever read: a symlink leaving the root is left out exactly as the listing leaves it out. Names
//! starting with `.` are left out unless `hidden`; an unreadable entry, a FIFO, socket or device,
//! a folder already being walked (a symlink loop) and a folder nested deeper than [`MAX_DEPTH`]
//! are left out and, under `--explain`, said on stderr. Names inside the archive are the archived
//! folder's name followed by the path below it, built from directory entries only: never
//! absolute, never `..`.
//!
//! Cost per call: at most [`READ_BATCH`] directory entries, each one `openat2` and one `fstat`
//! (plus a share of `getdents64`); one open descriptor per folder level being walked and one for
//! the file being archived.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use rustix::fs::Dir;

use crate::handler::resolve::{ResolveError, open_beneath};
use crate::sys::Root;

/// Most directory entries looked at per call. Arbitrary, as the listing's batch: each costs an
/// `openat2` and an `fstat`, so this bounds the delay one archive adds for other clients.
const READ_BATCH: usize = 32;

/// Deepest folder nesting walked; deeper folders are left out. Arbitrary: each level holds a
/// descriptor and a directory buffer while it is walked.
pub(crate) const MAX_DEPTH: usize = 64;

/// What a call found.
#[derive(Debug)]
pub(crate) enum Step<'a> {
    /// A folder, named `name` in the archive (no trailing slash); its entries follow.
    Dir { name: &'a [u8], meta: Meta },
    /// A regular file, open, named `name` in the archive.
    File {
        name: &'a [u8],
        file: File,
        meta: Meta,
    },
    /// Work was done but nothing found yet (left-out entries, the end of a folder).
    Nothing,
    /// Every entry was seen.
    End,
}

/// What an archive records of an entry, and what tells whether a file changed while it was
/// being archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) size: u64,
    /// Permission bits.
    pub(crate) mode: u32,
    /// Modification time, seconds since the Unix epoch.
    pub(crate) mtime: i64,
    pub(crate) mtime_nsec: i64,
}

impl Meta {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Meta {
        Meta {
            size: meta.len(),
            mode: meta.mode() & 0o7777,
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }

    /// Whether `file` still has the size and modification time recorded in `self`: an archive
    /// entry whose header promised other bytes would be wrong.
    pub(crate) fn still(&self, file: &File) -> io::Result<()> {
        let now = Meta::of(&file.metadata()?);
        if now.size == self.size && now.mtime == self.mtime && now.mtime_nsec == self.mtime_nsec {
            Ok(())
        } else {
            Err(io::Error::other("a file changed while it was archived"))
        }
    }
}

/// A folder being read.
struct Level {
    dir: Dir,
    /// Length of this folder's path in [`Walk::path`].
    path_len: usize,
    /// Device and inode, to refuse walking into a folder already being walked.
    id: (u64, u64),
}

/// A folder walked for an archive; see the module docs.
pub(crate) struct Walk {
    /// The served root (shared with the site: the walk outlives the request that started it).
    root: Arc<Root>,
    /// Prefix of `--explain` lines about left-out entries; `None` when `--explain` is off.
    explain: Option<String>,
    /// Path below the root of the entry being looked at.
    path: Vec<u8>,
    /// Length of the archived folder's own path in `path`.
    base_len: usize,
    /// The archive name of the entry found: `top` then the path below the archived folder.
    name: Vec<u8>,
    /// The archived folder's name, the first segment of every name.
    top: Vec<u8>,
    /// The archived folder, until the first call reports it.
    start: Option<(File, Meta)>,
    stack: Vec<Level>,
}

impl std::fmt::Debug for Walk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walk")
            .field("path", &String::from_utf8_lossy(&self.path))
            .field("depth", &self.stack.len())
            .finish_non_exhaustive()
    }
}

impl Walk {
    /// A walk of `dir`, the open folder found at `path` below the root (`root_dir`, canonical
    /// path `root`), whose entries are named `top/...` in the archive.
    pub(crate) fn new(
        root: Arc<Root>,
        dir: File,
        path: &[u8],
        top: &[u8],
        explain: Option<String>,
    ) -> io::Result<Walk> {
        let meta = Meta::of(&dir.metadata()?);
        Ok(Walk {
            root,
            explain,
            path: path.to_vec(),
            base_len: path.len(),
            name: Vec::new(),
            top: top.to_vec(),
            start: Some((dir, meta)),
            stack: Vec::new(),
        })
    }

    /// Looks at up to [`READ_BATCH`] entries and returns the first folder or file to archive.
    pub(crate) fn step(&mut self) -> io::Result<Step<'_>> {
        if let Some((dir, meta)) = self.start.take() {
            self.enter(dir)?;
            self.name.clear();
            self.name.extend_from_slice(&self.top);
            return Ok(Step::Dir {
                name: &self.name,
                meta,
            });
        }
        for _ in 0..READ_BATCH {
            let Some(level) = self.stack.last_mut() else {
                return Ok(Step::End);
            };
            let path_len = level.path_len;
            let entry = match level.dir.read() {
                None => {
                    self.stack.pop();
                    continue;
                }
                Some(Err(e)) => {
                    self.stack.pop();
                    self.path.truncate(path_len);
                    self.left_out(&format!("unreadable folder: {e}"));
                    continue;
                }
                Some(Ok(entry)) => entry,
            };
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." || (name.starts_with(b".") && !self.root.hidden()) {
                continue;
            }
            self.path.truncate(path_len);
            if !self.path.is_empty() {
                self.path.push(b'/');
            }
            self.path.extend_from_slice(name);
            let file = match open_beneath(&self.root, &self.path) {
                Ok(file) => file,
                // Vanished, or a symlink that dangles, leaves the root or leads through a hidden
                // name: not there to archive, as the listing does not show it.
                Err(ResolveError::NotFound | ResolveError::Hidden) => continue,
                Err(e) => {
                    self.left_out(match e {
                        ResolveError::Forbidden => "unreadable",
                        ResolveError::TooLong => "path too long",
                        ResolveError::Unavailable => "out of file descriptors",
                        _ => "cannot be opened",
                    });
                    continue;
                }
            };
            let meta = match file.metadata() {
                Ok(meta) => meta,
                Err(e) => {
                    self.left_out(&format!("cannot stat: {e}"));
                    continue;
                }
            };
            let recorded = Meta::of(&meta);
            if meta.is_dir() {
                if self.stack.len() >= MAX_DEPTH {
                    self.left_out("folders nested too deep");
                    continue;
                }
                if self.stack.iter().any(|l| l.id == (meta.dev(), meta.ino())) {
                    self.left_out("a folder containing itself (symlink loop)");
                    continue;
                }
                self.enter(file)?;
                self.set_name();
                return Ok(Step::Dir {
                    name: &self.name,
                    meta: recorded,
                });
            }
            if !meta.is_file() {
                self.left_out("not a regular file");
                continue;
            }
            self.set_name();
            return Ok(Step::File {
                name: &self.name,
                file,
                meta: recorded,
            });
        }
        Ok(Step::Nothing)
    }

    /// Starts reading the folder `dir` found at `self.path`.
    fn enter(&mut self, dir: File) -> io::Result<()> {
        let stat = dir.metadata()?;
        let id = (stat.dev(), stat.ino());
        self.stack.push(Level {
            dir: Dir::new(dir)?,
            path_len: self.path.len(),
            id,
        });
        Ok(())
    }

    /// The archive name of the entry at `self.path`.
    fn set_name(&mut self) {
        self.name.clear();
        self.name.extend_from_slice(&self.top);
        let below = &self.path[self.base_len..];
        if !below.starts_with(b"/") {
            self.name.push(b'/');
        }
        self.name.extend_from_slice(below);
    }

    /// Says under `--explain` that the entry at `self.path` is left out, and why, as every
    /// `--explain` line is said.
    fn left_out(&self, why: &str) {
        if let Some(prefix) = &self.explain {
            crate::explain::print(format!(
                "{prefix}: left /{} out of the archive ({why})",
                String::from_utf8_lossy(&self.path)
            ));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A temporary folder, removed on drop.
    pub struct TempTree(pub PathBuf);

    impl TempTree {
        pub fn new() -> TempTree {
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "mioserve-archive-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).unwrap();
            TempTree(path.canonicalize().unwrap())
        }

        pub fn file(&self, rel: &str, contents: &[u8]) {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }

        pub fn dir(&self, rel: &str) {
            std::fs::create_dir_all(self.0.join(rel)).unwrap();
        }

        /// A walk of the folder `rel` (empty for the root) named `top`.
        pub fn walk(&self, rel: &str, top: &str, hidden: bool) -> Walk {
            let opening = crate::sys::Strategy::forced().opening;
            let root = Arc::new(Root::open(&self.0, hidden, opening).unwrap());
            let dir = File::open(self.0.join(rel)).unwrap();
            Walk::new(root, dir, rel.as_bytes(), top.as_bytes(), None).unwrap()
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Every name the walk finds, folders with a trailing slash, with file sizes.
    fn collect(mut walk: Walk) -> BTreeMap<String, Option<u64>> {
        let mut found = BTreeMap::new();
        let mut calls = 0;
        loop {
            calls += 1;
            assert!(calls < 10_000, "the walk does not end");
            match walk.step().unwrap() {
                Step::Dir { name, .. } => {
                    found.insert(format!("{}/", String::from_utf8_lossy(name)), None);
                }
                Step::File { name, meta, .. } => {
                    found.insert(String::from_utf8_lossy(name).into(), Some(meta.size));
                }
                Step::Nothing => {}
                Step::End => return found,
            }
        }
    }

    #[test]
    fn walks_recursively_under_the_policies() {
        let tree = TempTree::new();
        tree.file("site/a.txt", b"aa");
        tree.file("site/sub/deep/b.bin", b"bbb");
        tree.file("site/.secret", b"s");
        tree.file("site/.git/config", b"c");
        tree.dir("site/empty");
        tree.file("outside.txt", b"o");
        std::os::unix::fs::symlink("../outside.txt", tree.0.join("site/inside-link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", tree.0.join("site/escape")).unwrap();
        std::os::unix::fs::symlink("..", tree.0.join("site/sub/up")).unwrap();
        std::os::unix::fs::symlink("nowhere", tree.0.join("site/dangling")).unwrap();
        rustix::fs::mkfifoat(rustix::fs::CWD, tree.0.join("site/fifo"), 0o644.into()).unwrap();

        let found = collect(tree.walk("site", "site", false));
        let want: BTreeMap<String, Option<u64>> = [
            ("site/", None),
            ("site/a.txt", Some(2)),
            ("site/empty/", None),
            // Inside the root, though outside the archived folder: the rule serving applies.
            ("site/inside-link", Some(1)),
            ("site/sub/", None),
            ("site/sub/deep/", None),
            ("site/sub/deep/b.bin", Some(3)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(found, want);

        let hidden = collect(tree.walk("site", "site", true));
        assert_eq!(hidden.get("site/.secret"), Some(&Some(1)));
        assert_eq!(hidden.get("site/.git/config"), Some(&Some(1)));
    }

    #[test]
    fn the_root_and_unreadable_entries() {
        let tree = TempTree::new();
        tree.file("a.txt", b"a");
        tree.file("locked/x", b"x");
        tree.file("secret.txt", b"s");
        std::fs::set_permissions(tree.0.join("secret.txt"), PermissionsExt::from_mode(0o000))
            .unwrap();
        std::fs::set_permissions(tree.0.join("locked"), PermissionsExt::from_mode(0o000)).unwrap();
        // Root bypasses permissions; only check what an ordinary user would see.
        let privileged = File::open(tree.0.join("secret.txt")).is_ok();
        let found = collect(tree.walk("", "www", false));
        std::fs::set_permissions(tree.0.join("locked"), PermissionsExt::from_mode(0o755)).unwrap();
        assert_eq!(found.get("www/"), Some(&None));
        assert_eq!(found.get("www/a.txt"), Some(&Some(1)));
        if !privileged {
            assert!(!found.contains_key("www/secret.txt"), "{found:?}");
            assert!(!found.contains_key("www/locked/"), "{found:?}");
        }
        assert!(found.keys().all(|k| k.starts_with("www/")));
    }
}
