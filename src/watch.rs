//! Watching the root for live reload: one watcher thread for the whole process, feeding every
//! worker's loop through its `mio::Waker`.
//!
//! Owns: the file-system watcher (`notify`: inotify on Linux, FSEvents on macOS, kqueue on the
//! BSDs), which names are ignored, the coalescing of a burst of changes into one, and the [`Hub`]
//! through which the latest change reaches the loops. The loops never block on the file system and
//! never see a watcher event: the thread publishes a change as a generation number (and whether
//! only stylesheets changed) and wakes each loop, which reads the latest generation when it wakes.
//!
//! Every folder is watched on its own (not recursively by the kernel), so ignored folders
//! (`node_modules`, `.git`, anything hidden or matched by `--watch-ignore`) cost no watch at all:
//! inotify's per-user limit counts every watched folder. A folder created later is watched as its
//! creation is reported.
//!
//! Cost: nothing per request. One thread, one watch per folder; per change, one atomic store and
//! one wake-up per worker.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use mio::Waker;
use notify::event::{AccessKind, AccessMode, CreateKind, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// How long the thread waits for the watcher when nothing is pending, before it checks whether
/// anyone still listens. Arbitrary: it bounds how long the thread outlives its hub.
const IDLE_TICK: Duration = Duration::from_millis(250);
/// The longest a change waits for a quiet moment: a file rewritten without pause (a log in the
/// root) would otherwise hold every reload back forever.
const MAX_DELAY: Duration = Duration::from_secs(2);
/// Editor temporaries (vim's swap files and write test, backup files, JetBrains' safe write),
/// never a change worth a reload; names starting with `.` (Emacs' `.#` lock files among them)
/// are ignored before these.
const TEMPORARY_SUFFIXES: [&str; 6] = [".swp", ".swx", ".swo", "~", "___jb_tmp___", "___jb_old___"];

/// What the latest change was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Anything but stylesheets changed: the page reloads.
    Reload,
    /// Only stylesheets changed: the page swaps them without reloading.
    Css,
}

/// Why the root cannot be watched.
#[derive(Debug)]
pub enum WatchError {
    /// The system's limit on watched folders was reached after this many.
    Limit(usize),
    /// Anything else the watcher or the walk reported.
    Other(String),
}

impl std::fmt::Display for WatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatchError::Limit(watched) => write!(
                f,
                "the system's limit on watched folders was reached after {watched} (on Linux: \
                 sysctl fs.inotify.max_user_watches; or leave folders out with --watch-ignore)"
            ),
            WatchError::Other(why) => f.write_str(why),
        }
    }
}

/// Which names a change is ignored for: the built-in rules and the operator's globs.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    globs: Vec<glob::Pattern>,
}

impl IgnoreRules {
    /// The built-in rules plus `globs` (`--watch-ignore`), each matched against the path below
    /// the root (`dist/**`, `*.log`) and against the name alone. A malformed glob is an error
    /// naming it.
    pub fn new(globs: &[String]) -> Result<IgnoreRules, String> {
        let globs = globs
            .iter()
            .map(|g| glob::Pattern::new(g).map_err(|e| format!("--watch-ignore {g:?}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(IgnoreRules { globs })
    }

    /// Whether the file or folder at `rel` (below the root, `/`-separated) is ignored: a name on
    /// its way starts with `.`, is `node_modules`, is an editor temporary, or a glob matches.
    pub fn ignores(&self, rel: &str) -> bool {
        let mut names = rel.split('/').filter(|n| !n.is_empty());
        let built_in = names.any(|name| {
            name.starts_with('.')
                || name == "node_modules"
                || name == "4913"
                || TEMPORARY_SUFFIXES.iter().any(|s| name.ends_with(s))
        });
        built_in
            || self.globs.iter().any(|g| {
                g.matches(rel) || rel.rsplit('/').next().is_some_and(|name| g.matches(name))
            })
    }

    /// The rules, as the start-up message names them.
    pub fn describe(&self) -> String {
        let mut rules = String::from(
            "names starting with '.', node_modules, editor temporaries (*.swp, *~, 4913, \
             *___jb_tmp___)",
        );
        for glob in &self.globs {
            rules.push_str(", ");
            rules.push_str(glob.as_str());
        }
        rules
    }
}

/// The latest change, and the loops to wake when there is a new one. Shared by every worker
/// serving one root; the watcher thread publishes, the loops read.
#[derive(Debug, Default)]
pub struct Hub {
    /// The latest change: its generation (0 before any) shifted left by one, and 1 for
    /// [`Change::Css`]. One word, so a reader never sees a generation with another's kind.
    latest: AtomicU64,
    /// One per worker loop.
    wakers: Mutex<Vec<Arc<Waker>>>,
    /// The watcher runs (it starts once per hub; a second start is a no-op).
    watching: Mutex<bool>,
}

impl Hub {
    /// The latest change and its generation (0 and `Reload` before any change).
    pub fn latest(&self) -> (u64, Change) {
        let latest = self.latest.load(Ordering::Acquire);
        let change = if latest & 1 == 1 {
            Change::Css
        } else {
            Change::Reload
        };
        (latest >> 1, change)
    }

    /// Wakes `waker`'s loop on every change from now on.
    pub fn attach(&self, waker: Arc<Waker>) {
        if let Ok(mut wakers) = self.wakers.lock() {
            wakers.push(waker);
        }
    }

    /// Records `change` as the latest and wakes every loop.
    fn publish(&self, change: Change) {
        let generation = (self.latest.load(Ordering::Acquire) >> 1) + 1;
        let css = u64::from(change == Change::Css);
        self.latest.store(generation << 1 | css, Ordering::Release);
        if let Ok(wakers) = self.wakers.lock() {
            for waker in wakers.iter() {
                // A failed wake only delays the news until the loop's next event.
                let _ = waker.wake();
            }
        }
    }

    /// Starts watching `root` (canonical) with `rules`, coalescing a burst of changes until
    /// `quiet` has passed without one; returns how many folders are watched. Once per hub: a
    /// second call (the next worker's) changes nothing and returns 0.
    pub fn watch(
        self: &Arc<Self>,
        root: &Path,
        rules: IgnoreRules,
        quiet: Duration,
    ) -> Result<usize, WatchError> {
        let mut watching = self
            .watching
            .lock()
            .map_err(|_| WatchError::Other("watcher state poisoned".into()))?;
        if *watching {
            return Ok(0);
        }
        let (events, incoming) = mpsc::channel();
        let watcher = notify::recommended_watcher(events)
            .map_err(|e| WatchError::Other(format!("cannot start a watcher: {e}")))?;
        let mut folders = Folders {
            watcher,
            root: root.to_path_buf(),
            rules,
            watched: HashSet::new(),
        };
        folders.watch_tree(root)?;
        let count = folders.watched.len();
        let hub = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("mioserve-watch".into())
            .spawn(move || coalesce(folders, incoming, hub, quiet))
            .map_err(|e| WatchError::Other(format!("cannot start the watcher thread: {e}")))?;
        *watching = true;
        Ok(count)
    }
}

/// The watcher and the folders it watches, each on its own.
struct Folders {
    watcher: RecommendedWatcher,
    root: PathBuf,
    rules: IgnoreRules,
    watched: HashSet<PathBuf>,
}

impl Folders {
    /// The path of `path` below the root, `/`-separated (lossy for names that are not UTF-8,
    /// which only the globs see).
    fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        Some(
            rel.to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/"),
        )
    }

    /// Watches `top` and every folder below it that is not ignored. Symbolic links are not
    /// followed: a link to a folder outside the root would watch what is not served.
    fn watch_tree(&mut self, top: &Path) -> Result<(), WatchError> {
        let mut stack = vec![top.to_path_buf()];
        while let Some(dir) = stack.pop() {
            if self.watched.contains(&dir) {
                continue;
            }
            match self.watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {}
                Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                    return Err(WatchError::Limit(self.watched.len()));
                }
                // A folder that vanished (or cannot be read) between the walk and the watch.
                Err(_) if dir != self.root => continue,
                Err(e) => return Err(WatchError::Other(format!("cannot watch the root: {e}"))),
            }
            self.watched.insert(dir.clone());
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let path = entry.path();
                if is_dir
                    && !self
                        .relative(&path)
                        .is_some_and(|rel| self.rules.ignores(&rel))
                {
                    stack.push(path);
                }
            }
        }
        Ok(())
    }

    /// What `event` changed, if it is a change worth a reload: `Some(true)` when every path it
    /// names is a stylesheet. A folder it created is watched from now on.
    fn classify(&mut self, event: &notify::Event) -> Option<bool> {
        match event.kind {
            // Opening and reading are no change; closing after writing is one (an editor that
            // writes in place may report nothing else).
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
            EventKind::Access(_) => return None,
            _ => {}
        }
        // An event without a path (a queue overflow) may have hidden anything.
        if event.paths.is_empty() {
            return Some(false);
        }
        let mut relevant = false;
        let mut css_only = true;
        for path in &event.paths {
            let Some(rel) = self.relative(path) else {
                continue;
            };
            if self.rules.ignores(&rel) {
                continue;
            }
            relevant = true;
            css_only &= rel.ends_with(".css");
            let created_dir = matches!(
                event.kind,
                EventKind::Create(CreateKind::Folder | CreateKind::Any)
            ) && path.is_dir();
            if created_dir && let Err(e) = self.watch_tree(path) {
                log::warn!("live reload: cannot watch {}: {e}", path.display());
            }
        }
        relevant.then_some(css_only)
    }
}

/// The watcher thread: collects changes until `quiet` passes without one (or [`MAX_DELAY`] since
/// the first), then publishes them as one. Ends when the hub is gone.
fn coalesce(
    mut folders: Folders,
    incoming: mpsc::Receiver<notify::Result<notify::Event>>,
    hub: Weak<Hub>,
    quiet: Duration,
) {
    // The burst being collected: when it began, when its last change came, whether only
    // stylesheets changed.
    let mut burst: Option<(Instant, Instant, bool)> = None;
    let mut limit_logged = false;
    loop {
        let wait = match burst {
            Some((first, last, _)) => {
                let due = (last + quiet).min(first + MAX_DELAY);
                due.saturating_duration_since(Instant::now())
            }
            None => IDLE_TICK,
        };
        match incoming.recv_timeout(wait) {
            Ok(Ok(event)) => {
                if let Some(css) = folders.classify(&event) {
                    let now = Instant::now();
                    burst = Some(match burst {
                        Some((first, _, css_only)) => (first, now, css_only && css),
                        None => (now, now, css),
                    });
                }
            }
            Ok(Err(e)) => {
                if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) && !limit_logged {
                    log::warn!(
                        "live reload: {}; new folders are not watched",
                        WatchError::Limit(folders.watched.len())
                    );
                    limit_logged = true;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                let Some(hub) = hub.upgrade() else {
                    return;
                };
                if let Some((_, _, css_only)) = burst.take() {
                    hub.publish(if css_only {
                        Change::Css
                    } else {
                        Change::Reload
                    });
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_names() {
        let rules = IgnoreRules::new(&["dist/**".into(), "*.log".into()]).unwrap();
        // (path below the root, ignored)
        let cases: &[(&str, bool)] = &[
            ("index.html", false),
            ("css/site.css", false),
            ("a/b/c.js", false),
            (".git/index", true),
            ("a/.hidden", true),
            (".#index.html", true),
            ("node_modules/x/index.js", true),
            ("sub/node_modules", true),
            ("index.html.swp", true),
            (".index.html.swp", true),
            ("index.html~", true),
            ("4913", true),
            ("src/4913", true),
            ("app.js___jb_tmp___", true),
            ("dist/app.js", true),
            ("dist", false),
            ("logs/today.log", true),
            ("today.log", true),
            ("log.txt", false),
        ];
        for (rel, want) in cases {
            assert_eq!(rules.ignores(rel), *want, "{rel}");
        }
        assert!(IgnoreRules::new(&["[".into()]).is_err());
    }

    #[test]
    fn latest_change_round_trips() {
        let hub = Hub::default();
        assert_eq!(hub.latest(), (0, Change::Reload));
        hub.publish(Change::Css);
        assert_eq!(hub.latest(), (1, Change::Css));
        hub.publish(Change::Reload);
        assert_eq!(hub.latest(), (2, Change::Reload));
    }
}
