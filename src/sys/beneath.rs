//! Opening a path beneath the served root, and never anything outside it.
//!
//! The rule: a path is opened when it resolves inside the root, symlinks followed wherever they
//! lead as long as where they lead is inside the root (an absolute target naming a place inside
//! the root included, and a path that goes out through one symlink and back in through the
//! root's own name). Unless hidden names are served, no name starting with `.` may be passed
//! through, whether the request names it or a symlink on the way leads through it (every link of
//! a chain included). Refusals say which rule refused ([`Refusal`]); the kernel's own ways of
//! saying "this would escape" (`EXDEV`, `ENOTCAPABLE`, `ELOOP`) never reach the caller as such.
//!
//! Two mechanisms apply it, and agree on every path (a property test below checks this on
//! generated trees):
//! - the kernel's (see the table in [`crate::sys`]): one system call that refuses to follow any
//!   symlink, or to leave the root, so the common path, with no symlink on it, costs one `openat2`
//!   or `openat`; anything it refuses goes to the walk, which decides;
//! - the walk, portable: one component at a time from the root, each directory opened without
//!   following symlinks and kept open, each symlink read (`readlinkat`) and its target put in
//!   front of what is left of the path. `..` pops a directory the walk holds, so a directory
//!   moved meanwhile cannot lead it out. Above the root the walk opens nothing: it follows the
//!   root's canonical path by name, and any other name there is an escape. There is no check
//!   that is then acted on by a second lookup, so there is no race to win.
//!
//! Cost: the kernel's mechanism is one system call; the walk costs one `openat` per component
//! and one `readlinkat` per symlink, plus a small allocation for the path it rewrites.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::{Opening, os};

/// Most symlinks followed in one resolution, as Linux allows (`MAXSYMLINKS`); more is a loop.
const MAX_LINKS: usize = 40;

/// How every file is opened: read-only, without blocking on a FIFO (which is then refused as no
/// regular file instead of stalling the event loop), never becoming the controlling terminal.
const FILE_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOCTTY);

/// Why [`Root::open_beneath`] opened nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The path, through a symlink, leads out of the root.
    Escapes,
    /// The path, or a symlink on the way, passes through a name starting with `.`.
    Hidden,
    /// The system's answer: no such file, permission denied, too many symlinks, …
    Os(Errno),
}

/// What the kernel's mechanism made of a path.
pub(super) enum Kernel {
    Opened(OwnedFd),
    /// A symlink is on the way (or the kernel lacks the mechanism): the walk decides.
    Walk,
    Failed(Errno),
}

/// The served directory, opened once, and the policy of what may be opened beneath it.
#[derive(Debug)]
pub struct Root {
    dir: File,
    /// Canonical.
    path: PathBuf,
    /// The names of `path`'s components from `/` down, the root's own name last: the only way
    /// back in for a path that went above the root.
    ancestors: Vec<Box<[u8]>>,
    hidden: bool,
    opening: Opening,
}

impl Root {
    /// Opens the directory `path` (made canonical); `hidden` serves names starting with `.`.
    pub fn open(path: &Path, hidden: bool, opening: Opening) -> io::Result<Root> {
        let path = path.canonicalize()?;
        let dir = File::open(&path)?;
        if !dir.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let ancestors = path
            .iter()
            .skip(1)
            .map(|name| name.as_bytes().into())
            .collect();
        Ok(Root {
            dir,
            path,
            ancestors,
            hidden,
            opening,
        })
    }

    /// The open directory.
    pub fn dir(&self) -> &File {
        &self.dir
    }

    /// The canonical path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names starting with `.` are served.
    pub fn hidden(&self) -> bool {
        self.hidden
    }

    /// Opens `rel` (relative, without `.` or `..` segments: what `normalise` makes of a request
    /// path; empty for the root itself) read-only, under the rule in the module docs.
    pub fn open_beneath(&self, rel: &[u8]) -> Result<File, Refusal> {
        // The kernel's mechanisms are only asked about paths that climb nowhere (macOS's would let
        // `..` out) and whose own names are allowed; the walk looks at every name anyway.
        let mut dot_segments = false;
        for name in rel.split(|&b| b == b'/') {
            match name {
                b"." | b".." => dot_segments = true,
                [b'.', ..] if !self.hidden => return Err(Refusal::Hidden),
                _ => {}
            }
        }
        let fd = match self.opening {
            Opening::Kernel if !dot_segments => {
                let path = Path::new(OsStr::from_bytes(if rel.is_empty() { b"." } else { rel }));
                match os::open_kernel(self.dir.as_fd(), path, FILE_FLAGS, self.hidden) {
                    Kernel::Opened(fd) => fd,
                    Kernel::Walk => self.walk(rel)?,
                    Kernel::Failed(e) => return Err(Refusal::Os(e)),
                }
            }
            Opening::Kernel | Opening::Walk => self.walk(rel)?,
        };
        Ok(File::from(fd))
    }

    /// The walk (see the module docs).
    fn walk(&self, rel: &[u8]) -> Result<OwnedFd, Refusal> {
        // What is left to resolve is `path[at..]`; a symlink's target replaces the link's name
        // (the one copy a walk makes, and only when there is a symlink).
        let mut path = Cow::Borrowed(rel);
        let mut at = 0;
        let mut dirs = Dirs::default();
        // How many levels above the root the walk stands (`dirs` is then empty).
        let mut above = 0;
        let mut links = 0;
        loop {
            while path.get(at) == Some(&b'/') {
                at += 1;
            }
            if at == path.len() {
                break;
            }
            let end = memchr::memchr(b'/', &path[at..]).map_or(path.len(), |i| at + i);
            let name = &path[at..end];
            // Only slashes after it: the last name, a directory if a slash follows.
            let last = path[end..].iter().all(|&b| b == b'/');
            let slash = end < path.len();
            match name {
                b"." => {}
                b".." if above > 0 => above = (above + 1).min(self.ancestors.len()),
                b".." => {
                    if !dirs.pop() {
                        above = 1.min(self.ancestors.len());
                    }
                }
                _ if above > 0 => {
                    // Above the root nothing is opened: the way back in is the root's own path.
                    if *name != *self.ancestors[self.ancestors.len() - above] {
                        return Err(Refusal::Escapes);
                    }
                    above -= 1;
                }
                _ => {
                    if !self.hidden && name[0] == b'.' {
                        return Err(Refusal::Hidden);
                    }
                    let base = dirs.last().unwrap_or(self.dir.as_fd());
                    let flags = if last {
                        FILE_FLAGS | OFlags::NOFOLLOW
                    } else {
                        os::WALK_DIR_FLAGS | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
                    };
                    let flags = if slash {
                        flags | OFlags::DIRECTORY
                    } else {
                        flags
                    };
                    match rustix::fs::openat(base, OsStr::from_bytes(name), flags, Mode::empty()) {
                        Ok(fd) if last => return Ok(fd),
                        Ok(fd) => dirs.push(fd),
                        // A symlink refused by O_NOFOLLOW (FreeBSD says EMLINK; with O_DIRECTORY,
                        // ENOTDIR), or a file where a directory was asked for.
                        Err(e @ (Errno::LOOP | Errno::MLINK | Errno::NOTDIR)) => {
                            let target = read_link(base, name).ok_or(Refusal::Os(e))?;
                            links += 1;
                            if links > MAX_LINKS {
                                return Err(Refusal::Os(Errno::LOOP));
                            }
                            if target.first() == Some(&b'/') {
                                dirs.clear();
                                above = self.ancestors.len();
                            }
                            let mut rest = target;
                            rest.extend_from_slice(&path[end..]);
                            path = Cow::Owned(rest);
                            at = 0;
                            continue;
                        }
                        Err(e) => return Err(Refusal::Os(e)),
                    }
                }
            }
            at = end;
        }
        // The path ended in `.` or `..` (as written, or through a symlink): the place itself.
        if above > 0 {
            return Err(Refusal::Escapes);
        }
        let base = dirs.last().unwrap_or(self.dir.as_fd());
        rustix::fs::openat(base, ".", FILE_FLAGS, Mode::empty()).map_err(Refusal::Os)
    }
}

/// Directories held inline by [`Dirs`]; deeper ones cost an allocation.
const INLINE_DIRS: usize = 8;

/// The directories below the root the walk stands in, innermost last, held open so that `..`
/// returns to the directory the walk came through. The first [`INLINE_DIRS`] live inline, so a
/// walk of a path without a symlink allocates nothing.
#[derive(Default)]
struct Dirs {
    inline: [Option<OwnedFd>; INLINE_DIRS],
    deeper: Vec<OwnedFd>,
    len: usize,
}

impl Dirs {
    fn push(&mut self, dir: OwnedFd) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = Some(dir),
            None => self.deeper.push(dir),
        }
        self.len += 1;
    }

    /// Leaves the innermost directory; `false` when the walk stands in the root.
    fn pop(&mut self) -> bool {
        if self.len == 0 {
            return false;
        }
        self.len -= 1;
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = None,
            None => drop(self.deeper.pop()),
        }
        true
    }

    fn last(&self) -> Option<BorrowedFd<'_>> {
        let innermost = match self.len.checked_sub(1)? {
            i if i < INLINE_DIRS => self.inline[i].as_ref()?,
            _ => self.deeper.last()?,
        };
        Some(innermost.as_fd())
    }

    fn clear(&mut self) {
        while self.pop() {}
    }
}

/// The target of the symlink `name` in `dir`; `None` if it is no symlink (any more). An empty
/// target resolves to nothing, as the kernel has it.
fn read_link(dir: BorrowedFd<'_>, name: &[u8]) -> Option<Vec<u8>> {
    let target = rustix::fs::readlinkat(dir, OsStr::from_bytes(name), Vec::new()).ok()?;
    let target = target.into_bytes();
    (!target.is_empty()).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, symlink};

    /// A temporary tree removed on drop: `<dir>/root` is the root, `<dir>/out.txt` lies beside it.
    struct Tree(PathBuf);

    impl Tree {
        fn new(name: &str) -> Tree {
            let dir = std::env::temp_dir().join(format!(
                "mioserve-beneath-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("root")).unwrap();
            fs::write(dir.join("out.txt"), "outside").unwrap();
            Tree(dir.canonicalize().unwrap())
        }

        fn root(&self) -> PathBuf {
            self.0.join("root")
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Every mechanism this platform has.
    const OPENINGS: [Opening; 2] = [Opening::Kernel, Opening::Walk];

    /// What an open answered, comparable across mechanisms: the file's identity, or the refusal.
    /// A file's device and inode, or why nothing was opened.
    type Outcome = Result<(u64, u64), Refusal>;

    fn outcome(root: &Root, rel: &str) -> Outcome {
        let file = root.open_beneath(rel.as_bytes())?;
        let meta = file.metadata().unwrap();
        Ok((meta.dev(), meta.ino()))
    }

    fn id(path: &Path) -> Outcome {
        let meta = fs::metadata(path).unwrap();
        Ok((meta.dev(), meta.ino()))
    }

    #[test]
    fn the_rule_under_every_mechanism() {
        let tree = Tree::new("rule");
        let root = tree.root();
        fs::create_dir_all(root.join("sub/deep")).unwrap();
        fs::create_dir_all(root.join(".private")).unwrap();
        fs::write(root.join("a.txt"), "a").unwrap();
        fs::write(root.join("sub/b.txt"), "b").unwrap();
        fs::write(root.join(".env"), "secret").unwrap();
        fs::write(root.join(".private/p.txt"), "p").unwrap();
        // inside the root
        symlink("a.txt", root.join("rel")).unwrap();
        symlink(root.join("sub/b.txt"), root.join("abs")).unwrap();
        symlink("../a.txt", root.join("sub/up")).unwrap();
        symlink("sub", root.join("subdir")).unwrap();
        symlink("rel", root.join("chain")).unwrap();
        symlink("..", root.join("updir")).unwrap();
        symlink("deep/..", root.join("sub/back")).unwrap();
        // out of it
        symlink("../out.txt", root.join("escape")).unwrap();
        symlink(tree.0.join("out.txt"), root.join("escape-abs")).unwrap();
        symlink("/", root.join("slash")).unwrap();
        // to hidden names
        symlink(".env", root.join("env")).unwrap();
        symlink(".private/p.txt", root.join("private")).unwrap();
        symlink(".private", root.join("privdir")).unwrap();
        symlink("env", root.join("env-chain")).unwrap();
        symlink(root.join(".env"), root.join("env-abs")).unwrap();
        // broken
        symlink("nowhere", root.join("dangling")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        symlink("a.txt/", root.join("file-as-dir")).unwrap();

        use Refusal::*;
        let a = id(&root.join("a.txt"));
        let b = id(&root.join("sub/b.txt"));
        let cases: &[(&str, Outcome, Outcome)] = &[
            // (path, hidden names off, hidden names on)
            ("", id(&root), id(&root)),
            ("a.txt", a, a),
            ("rel", a, a),
            ("abs", b, b),
            ("sub/up", a, a),
            ("subdir/b.txt", b, b),
            ("chain", a, a),
            ("updir/root/a.txt", a, a),
            ("sub/back", id(&root.join("sub")), id(&root.join("sub"))),
            ("escape", Err(Escapes), Err(Escapes)),
            ("escape-abs", Err(Escapes), Err(Escapes)),
            ("updir/out.txt", Err(Escapes), Err(Escapes)),
            ("updir", Err(Escapes), Err(Escapes)),
            ("slash", Err(Escapes), Err(Escapes)),
            ("env", Err(Hidden), id(&root.join(".env"))),
            ("private", Err(Hidden), id(&root.join(".private/p.txt"))),
            (
                "privdir/p.txt",
                Err(Hidden),
                id(&root.join(".private/p.txt")),
            ),
            ("env-chain", Err(Hidden), id(&root.join(".env"))),
            ("env-abs", Err(Hidden), id(&root.join(".env"))),
            ("missing", Err(Os(Errno::NOENT)), Err(Os(Errno::NOENT))),
            ("dangling", Err(Os(Errno::NOENT)), Err(Os(Errno::NOENT))),
            ("loop1", Err(Os(Errno::LOOP)), Err(Os(Errno::LOOP))),
            ("a.txt/x", Err(Os(Errno::NOTDIR)), Err(Os(Errno::NOTDIR))),
            (
                "file-as-dir",
                Err(Os(Errno::NOTDIR)),
                Err(Os(Errno::NOTDIR)),
            ),
        ];
        for opening in OPENINGS {
            for hidden in [false, true] {
                let served = Root::open(&root, hidden, opening).unwrap();
                for (rel, off, on) in cases {
                    let want = if hidden { on } else { off };
                    assert_eq!(
                        &outcome(&served, rel),
                        want,
                        "{rel} {opening:?} hidden {hidden}"
                    );
                }
            }
        }
    }

    #[test]
    fn deeper_than_the_inline_directories() {
        let tree = Tree::new("deep");
        let root = tree.root();
        let deep = "d/".repeat(INLINE_DIRS + 3);
        fs::create_dir_all(root.join(&deep)).unwrap();
        fs::write(root.join("a.txt"), "a").unwrap();
        fs::write(root.join(&deep).join("f.txt"), "f").unwrap();
        // Back up every level to the root, and one more, which leaves it.
        symlink(
            format!("{}a.txt", "../".repeat(INLINE_DIRS + 3)),
            root.join(&deep).join("up"),
        )
        .unwrap();
        symlink(
            format!("{}a.txt", "../".repeat(INLINE_DIRS + 4)),
            root.join(&deep).join("out"),
        )
        .unwrap();
        for opening in OPENINGS {
            let served = Root::open(&root, false, opening).unwrap();
            let f = format!("{deep}f.txt");
            assert_eq!(outcome(&served, &f), id(&root.join(&f)), "{opening:?}");
            let up = format!("{deep}up");
            assert_eq!(
                outcome(&served, &up),
                id(&root.join("a.txt")),
                "{opening:?}"
            );
            let out = format!("{deep}out");
            assert_eq!(outcome(&served, &out), Err(Refusal::Escapes), "{opening:?}");
        }
    }

    #[test]
    fn the_file_system_root_as_the_root() {
        // `/` as root: `..` stays at the root, every absolute target is inside.
        for opening in OPENINGS {
            let root = Root::open(Path::new("/"), true, opening).unwrap();
            let etc = fs::metadata("/etc").unwrap();
            assert_eq!(outcome(&root, "etc"), Ok((etc.dev(), etc.ino())));
        }
    }

    mod agree {
        //! The mechanisms agree on generated trees and paths, with each other and with a model of
        //! the rule written another way (by path, with `lstat` and `readlink`, opening nothing):
        //! the kernel's mechanism hands every path with a symlink on it to the walk when hidden
        //! names are not served, so only the model checks the walk there.

        use super::*;
        use proptest::prelude::*;
        use std::collections::VecDeque;

        /// The rule of the module docs, by path: what `rel` names beneath `root`.
        fn model(root: &Path, hidden: bool, rel: &str) -> Outcome {
            let ancestors: Vec<&OsStr> = root.iter().skip(1).collect();
            let os =
                |e: io::Error| Refusal::Os(Errno::from_raw_os_error(e.raw_os_error().unwrap()));
            let mut todo: VecDeque<Vec<u8>> = rel
                .as_bytes()
                .split(|&b| b == b'/')
                .map(<[u8]>::to_vec)
                .collect();
            // The names asked for are looked at before anything is opened.
            let dot_segment = |n: &Vec<u8>| n == b"." || n == b"..";
            if !hidden
                && todo
                    .iter()
                    .any(|n| n.first() == Some(&b'.') && !dot_segment(n))
            {
                return Err(Refusal::Hidden);
            }
            let mut below = PathBuf::new();
            let mut above = 0;
            let mut links = 0;
            while let Some(name) = todo.pop_front() {
                match &name[..] {
                    b"" | b"." => {}
                    b".." if above > 0 => above = (above + 1).min(ancestors.len()),
                    b".." => {
                        if !below.pop() {
                            above = 1.min(ancestors.len());
                        }
                    }
                    _ if above > 0 => {
                        if name != ancestors[ancestors.len() - above].as_bytes() {
                            return Err(Refusal::Escapes);
                        }
                        above -= 1;
                    }
                    _ if !hidden && name[0] == b'.' => return Err(Refusal::Hidden),
                    _ => {
                        let here = root.join(&below).join(OsStr::from_bytes(&name));
                        let meta = fs::symlink_metadata(&here).map_err(os)?;
                        if meta.file_type().is_symlink() {
                            links += 1;
                            if links > MAX_LINKS {
                                return Err(Refusal::Os(Errno::LOOP));
                            }
                            let target = fs::read_link(&here).map_err(os)?;
                            let target = target.as_os_str().as_bytes();
                            if target.first() == Some(&b'/') {
                                below = PathBuf::new();
                                above = ancestors.len();
                            }
                            for part in target.split(|&b| b == b'/').rev() {
                                todo.push_front(part.to_vec());
                            }
                        } else if !meta.is_dir() && !todo.is_empty() {
                            return Err(Refusal::Os(Errno::NOTDIR));
                        } else {
                            below.push(OsStr::from_bytes(&name));
                        }
                    }
                }
            }
            if above > 0 {
                return Err(Refusal::Escapes);
            }
            id(&root.join(below))
        }

        /// Names entries and paths are made of (the first four), and symlink targets of: plain,
        /// hidden, the dot-segments, and the root's own name, the way back in from above it.
        const NAMES: [&str; 7] = ["a", "b", ".h", "c.txt", "..", ".", "root"];

        #[derive(Debug, Clone)]
        enum Node {
            File,
            Dir(Vec<(usize, Node)>),
            /// Relative target, or absolute: inside the root (`true`) or at the tree's top.
            Link(Vec<usize>, Option<bool>),
        }

        fn node() -> impl Strategy<Value = Node> {
            let link = (
                prop::collection::vec(0..NAMES.len(), 0..4),
                prop::option::of(any::<bool>()),
            )
                .prop_map(|(t, abs)| Node::Link(t, abs));
            let leaf = prop_oneof![Just(Node::File), link];
            leaf.prop_recursive(3, 12, 4, |inner| {
                prop::collection::vec((0..4usize, inner), 0..4).prop_map(Node::Dir)
            })
        }

        fn target(names: &[usize]) -> String {
            names
                .iter()
                .map(|&i| NAMES[i])
                .collect::<Vec<_>>()
                .join("/")
        }

        fn build(dir: &Path, top: &Path, root: &Path, children: &[(usize, Node)]) {
            for (name, node) in children {
                let path = dir.join(NAMES[*name]);
                if path.symlink_metadata().is_ok() {
                    continue;
                }
                match node {
                    Node::File => fs::write(&path, "x").unwrap(),
                    Node::Dir(inner) => {
                        fs::create_dir(&path).unwrap();
                        build(&path, top, root, inner);
                    }
                    Node::Link(t, abs) => {
                        let rel = target(t);
                        let to = match abs {
                            None => PathBuf::from(if rel.is_empty() { "." } else { &rel }),
                            Some(true) => root.join(&rel),
                            Some(false) => top.join(&rel),
                        };
                        symlink(to, &path).unwrap();
                    }
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn kernel_walk_and_model_agree(
                tree in prop::collection::vec((0..4usize, node()), 1..5),
                paths in prop::collection::vec(prop::collection::vec(0..4usize, 0..4), 16),
            ) {
                let dir = Tree::new("agree");
                let root = dir.root();
                build(&root, &dir.0, &root, &tree);
                for hidden in [false, true] {
                    let kernel = Root::open(&root, hidden, Opening::Kernel).unwrap();
                    let walk = Root::open(&root, hidden, Opening::Walk).unwrap();
                    for path in &paths {
                        let rel = target(path);
                        let k = outcome(&kernel, &rel);
                        let w = outcome(&walk, &rel);
                        prop_assert_eq!(&k, &w, "{} hidden {}", rel, hidden);
                        prop_assert_eq!(&w, &model(&root, hidden, &rel), "{} hidden {}", rel, hidden);
                        if let Ok(found) = k {
                            // Whatever was opened lies inside the root.
                            prop_assert_ne!(Ok(found), id(&dir.0.join("out.txt")));
                        }
                    }
                }
            }
        }
    }
}
