//! Directory listings: an HTML page for people, a JSON array for scripts, both generated piece by
//! piece as a [`BodySource`].
//!
//! Owns: reading a directory through the descriptor [`super::resolve`] opened (never by path, so
//! what is listed is what was resolved), the listing policy (names starting with `.` are left out
//! unless `hidden`; symlinks are followed, and left out if they dangle or lead out of the root; an
//! entry that cannot be stat'ed is listed without size and date), sorting, and rendering with every
//! name HTML- or JSON-escaped once and every href percent-encoded once. Never sees a socket.
//!
//! # Bounded memory, bounded work
//! Sorting needs every name, so a listing keeps one compact record per entry (24 bytes plus the
//! name: about 4 MiB for 100,000 entries of 16-byte names, given back run by run as rows go out)
//! but never the page: rows are rendered into the connection's buffer a few KiB per call. No call
//! does unbounded work either, so a huge folder never stalls the event loop (the connection makes
//! at most 16 calls per turn of the loop, however few bytes they produce):
//! 1. one call writes the top of the page (title, breadcrumb, table head);
//! 2. each following call reads and stats at most `READ_BATCH` entries, or sorts the run of
//!    `RUN_LEN` entries just filled;
//! 3. rows then come out of a k-way merge of the sorted runs (a binary heap of run indices,
//!    `log k` comparisons per row), at most `ROWS_PER_CALL` per call;
//! 4. a last call writes the footer (the counts) and the end of the page.
//!
//! Measured on the 2-core CI machine (busy with other work), release build, 100,000 empty files:
//! the 16 MB page streams in about 0.4 s, resident memory grows by about 4 MiB, and small GETs on
//! another connection meanwhile take 0.5 ms at the median and under 10 ms at worst (the e2e test
//! `hundred_thousand_entries_stream_in_bounded_memory_without_stalling_others`; the debug build
//! it runs under `cargo test` stays under 30 ms). Headless Chromium shows the first rows after
//! 0.2 s and fires `load` after about 13 s, parsing as the bytes arrive.
//!
//! Cost per entry: a share of one `getdents64`, one `fstatat` (two for a symlink, plus the
//! `canonicalize` of its target), one small allocation made by `rustix` for the name.

use std::cmp::Ordering;
use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use percent_encoding::AsciiSet;
use rustix::fs::{AtFlags, Dir, FileType};
use rustix::io::Errno;

use super::resolve::PATH_ENCODE;
use crate::response::body::{BodySource, Piece};
use crate::response::content_type::ContentType;
use crate::response::pages::page_style;

/// Most entries read (one `fstatat` each) per call. Arbitrary: well under 0.1 ms of work on a
/// warm cache in a release build. The connection makes at most 16 calls per turn of the loop, so
/// this bounds the delay a listing adds for other clients; larger only saves turns.
const READ_BATCH: usize = 32;
/// Entries per sorted run; a full run is sorted in a call of its own. Arbitrary: sorting one run
/// costs about 0.1 ms; smaller runs mean a deeper merge heap (100,000 entries make 391 runs,
/// about 18 comparisons per row).
const RUN_LEN: usize = 256;
/// Most rows rendered per call, for the same reason as [`READ_BATCH`].
const ROWS_PER_CALL: usize = 32;
/// The longest row, with room to spare: a 255-byte name escaped (`&quot;` is 6 bytes per byte)
/// and percent-encoded (3 bytes per byte), plus the markup.
const ROW_MAX: usize = 4096;

/// Bytes percent-encoded in one path segment of an href: those of [`PATH_ENCODE`] plus `/` (the
/// separator), `:` (so a relative href is never read as a scheme, as `a:b` would be) and `&` (so
/// the href needs no HTML escaping inside a quoted attribute).
pub const SEGMENT_ENCODE: &AsciiSet = &PATH_ENCODE.add(b'/').add(b':').add(b'&');

/// What to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Natural order of names: `file2` before `file10`, letter case ignored.
    Name,
    /// Size in bytes, then name.
    Size,
    /// Modification time, then name.
    Modified,
}

/// Which way to sort. Folders come first either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

/// What to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
}

/// How a listing was asked for: `?sort=name|size|modified&order=asc|desc&format=html|json` and the
/// `Accept` field. Unknown keys and values are ignored, as a browser's stale bookmark should still
/// list something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub sort: SortKey,
    pub order: Order,
    pub format: Format,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sort: SortKey::Name,
            order: Order::Asc,
            format: Format::Html,
        }
    }
}

impl Options {
    /// Reads the query and `Accept`. `format` in the query wins over `Accept`; `Accept` picks JSON
    /// when it ranks `application/json` above `text/html` (or lists only JSON).
    pub fn from_request(query: Option<&str>, accept: Option<&[u8]>) -> Options {
        let mut options = Options::default();
        let mut format = None;
        for pair in query.unwrap_or("").split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match (key, value) {
                ("sort", "name") => options.sort = SortKey::Name,
                ("sort", "size") => options.sort = SortKey::Size,
                ("sort", "modified" | "mtime" | "time") => options.sort = SortKey::Modified,
                ("order", "asc") => options.order = Order::Asc,
                ("order", "desc") => options.order = Order::Desc,
                ("format", "html") => format = Some(Format::Html),
                ("format", "json") => format = Some(Format::Json),
                _ => {}
            }
        }
        options.format = format.unwrap_or_else(|| match accept {
            Some(accept) if prefers_json(accept) => Format::Json,
            _ => Format::Html,
        });
        options
    }

    /// The `Content-Type` of the listing.
    pub fn content_type(&self) -> ContentType {
        match self.format {
            Format::Html => ContentType::HTML,
            Format::Json => ContentType {
                mime: "application/json",
                charset: true,
            },
        }
    }
}

/// Whether `Accept` (RFC 9110 §12.5.1) gives `application/json` a higher weight than `text/html`.
/// Wildcards are not weighed: a browser's `*/*;q=0.8` and curl's `*/*` both keep HTML.
fn prefers_json(accept: &[u8]) -> bool {
    let Ok(accept) = std::str::from_utf8(accept) else {
        return false;
    };
    let (mut json, mut html) = (0u16, 0u16);
    for range in accept.split(',') {
        let mut params = range.split(';');
        let media = params.next().unwrap_or("").trim();
        let weight = params
            .filter_map(|p| p.trim().split_once('='))
            .find(|(name, _)| name.eq_ignore_ascii_case("q"))
            .map_or(1000, |(_, q)| qvalue(q.trim()));
        if media.eq_ignore_ascii_case("application/json") {
            json = json.max(weight);
        } else if media.eq_ignore_ascii_case("text/html") {
            html = html.max(weight);
        }
    }
    json > html
}

/// A qvalue (`0`, `0.5`, `1.000`) in thousandths; malformed ones count as 0.
fn qvalue(q: &str) -> u16 {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    let int = match int {
        "0" => 0,
        "1" => 1000,
        _ => return 0,
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let frac = frac.bytes().chain(std::iter::repeat(b'0')).take(3);
    let frac = frac.fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
    (int + frac).min(1000)
}

/// What an entry is, after following a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Directory,
    File,
    /// A FIFO, socket or device: listed, but answered 403.
    Other,
}

/// One listed entry, 24 bytes; its name lives in its run's name buffer.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Offset of the name in [`Run::names`].
    name_at: u32,
    name_len: u16,
    kind: Kind,
    /// `size` and `modified` are known (an entry that cannot be stat'ed is still listed).
    known: bool,
    size: u64,
    /// Seconds since the Unix epoch.
    modified: i64,
}

impl Entry {
    fn name<'a>(&self, names: &'a [u8]) -> &'a [u8] {
        let at = self.name_at as usize;
        &names[at..at + self.name_len as usize]
    }
}

/// Up to [`RUN_LEN`] entries, sorted once complete.
#[derive(Debug, Default)]
struct Run {
    entries: Vec<Entry>,
    names: Vec<u8>,
    /// Sorted (and trimmed): no entry may be added any more.
    sorted: bool,
    /// The next entry to render.
    next: usize,
}

/// Where a listing is in its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Top,
    Reading,
    Rows,
    Bottom,
    Done,
}

/// A directory listing being generated; see the module docs.
pub struct Listing {
    options: Options,
    /// List names starting with `.`.
    hidden: bool,
    /// The directory's path below the root, decoded (`a/b`, empty for the root).
    path: Vec<u8>,
    /// The canonical root, to check where symlinks lead.
    root: PathBuf,
    /// The directory being read; dropped (closed) once read.
    dir: Option<Dir>,
    stage: Stage,
    /// Sorted runs; the last one may still be filling while reading.
    runs: Vec<Run>,
    /// Indices of runs with entries left, as a min-heap by the listing's order.
    heap: Vec<u32>,
    dirs: u64,
    files: u64,
    /// Rows rendered so far (a JSON row after the first needs a comma).
    rendered: u64,
}

impl std::fmt::Debug for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listing")
            .field("options", &self.options)
            .field("path", &String::from_utf8_lossy(&self.path))
            .field("stage", &self.stage)
            .field("runs", &self.runs.len())
            .finish_non_exhaustive()
    }
}

impl Listing {
    /// A listing of `dir`, an open directory found at `path` below `root` (canonical). Makes no
    /// system call: all the reading happens in [`BodySource::next_piece`].
    pub fn new(dir: File, path: &[u8], root: &Path, hidden: bool, options: Options) -> Listing {
        Listing {
            options,
            hidden,
            path: path.to_vec(),
            root: root.to_path_buf(),
            dir: Dir::new(dir).ok(),
            stage: Stage::Top,
            runs: Vec::new(),
            heap: Vec::new(),
            dirs: 0,
            files: 0,
            rendered: 0,
        }
    }

    /// One step of reading: sorts the last run if it is full, or reads up to [`READ_BATCH`]
    /// entries into it. At the end of the directory, closes it and prepares the merge.
    fn read_batch(&mut self) -> io::Result<()> {
        if let Some(run) = self
            .runs
            .last_mut()
            .filter(|r| !r.sorted && r.entries.len() == RUN_LEN)
        {
            close_run(run, self.options);
            return Ok(());
        }
        let Some(dir) = self.dir.as_mut() else {
            return Err(io::Error::other("directory not readable"));
        };
        for _ in 0..READ_BATCH {
            let entry = match dir.read() {
                None => {
                    self.finish_reading();
                    return Ok(());
                }
                Some(entry) => entry?,
            };
            let name = entry.file_name();
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." || (bytes.starts_with(b".") && !self.hidden) {
                continue;
            }
            let place = (self.root.as_path(), self.path.as_slice());
            let Some(meta) = inspect(dir.fd()?, place, name, entry.file_type()) else {
                continue;
            };
            let run = filling_run(&mut self.runs);
            run.entries.push(Entry {
                name_at: run.names.len() as u32,
                name_len: bytes.len().min(u16::MAX as usize) as u16,
                ..meta
            });
            run.names.extend_from_slice(bytes);
            if run.entries.len() == RUN_LEN {
                // Sorted by the next call.
                break;
            }
        }
        Ok(())
    }

    fn finish_reading(&mut self) {
        if let Some(run) = self.runs.last_mut().filter(|r| !r.sorted) {
            close_run(run, self.options);
        }
        self.dir = None;
        let runs = &self.runs;
        self.heap = (0..runs.len() as u32)
            .filter(|&i| !runs[i as usize].entries.is_empty())
            .collect();
        let options = self.options;
        for i in (0..self.heap.len() / 2).rev() {
            sift_down(&mut self.heap, i, |a, b| run_less(runs, options, a, b));
        }
        self.stage = Stage::Rows;
    }

    /// Renders rows from the merge until about `max` bytes were added.
    fn render_rows(&mut self, out: &mut Vec<u8>, max: usize) {
        let start = out.len();
        let mut rows = 0;
        while rows == 0 || (rows < ROWS_PER_CALL && out.len() - start + ROW_MAX <= max) {
            let Some(&top) = self.heap.first() else {
                self.stage = Stage::Bottom;
                return;
            };
            let run = &self.runs[top as usize];
            let entry = run.entries[run.next];
            let name = entry.name(&run.names);
            match entry.kind {
                Kind::Directory => self.dirs += 1,
                Kind::File | Kind::Other => self.files += 1,
            }
            match self.options.format {
                Format::Html => html_row(out, &entry, name),
                Format::Json => json_row(out, &entry, name, self.rendered == 0),
            }
            self.rendered += 1;
            rows += 1;
            let run = &mut self.runs[top as usize];
            run.next += 1;
            if run.next == run.entries.len() {
                // Give the run's memory back as soon as it is rendered.
                *run = Run::default();
                self.heap.swap_remove(0);
            }
            let (runs, options) = (&self.runs, self.options);
            sift_down(&mut self.heap, 0, |a, b| run_less(runs, options, a, b));
        }
    }

    fn render_top(&self, out: &mut Vec<u8>) {
        match self.options.format {
            Format::Json => out.push(b'['),
            Format::Html => html_top(out, &self.path, self.options),
        }
    }

    fn render_bottom(&self, out: &mut Vec<u8>) {
        match self.options.format {
            Format::Json => out.extend_from_slice(b"]\n"),
            Format::Html => html_bottom(out, self.dirs, self.files, self.options),
        }
    }
}

impl BodySource for Listing {
    fn next_piece(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<Piece> {
        match self.stage {
            Stage::Top => {
                self.render_top(out);
                self.stage = Stage::Reading;
            }
            // Produces no bytes; the connection counts the call against its turn all the same.
            Stage::Reading => self.read_batch()?,
            Stage::Rows => self.render_rows(out, max),
            Stage::Bottom => {
                self.render_bottom(out);
                self.stage = Stage::Done;
            }
            Stage::Done => return Ok(Piece::End),
        }
        Ok(Piece::Bytes)
    }
}

/// The run entries are added to: the last one if it is not full.
fn filling_run(runs: &mut Vec<Run>) -> &mut Run {
    if runs.last().is_none_or(|run| run.sorted) {
        runs.push(Run {
            entries: Vec::with_capacity(RUN_LEN),
            ..Run::default()
        });
    }
    let last = runs.len() - 1;
    &mut runs[last]
}

/// Sorts a complete run and trims its buffers to size.
fn close_run(run: &mut Run, options: Options) {
    let names = &run.names;
    run.entries
        .sort_unstable_by(|a, b| compare(options, a, a.name(names), b, b.name(names)));
    run.entries.shrink_to_fit();
    run.names.shrink_to_fit();
    run.sorted = true;
}

/// Whether run `a`'s next entry sorts before run `b`'s.
fn run_less(runs: &[Run], options: Options, a: u32, b: u32) -> bool {
    let (a, b) = (&runs[a as usize], &runs[b as usize]);
    let (ea, eb) = (&a.entries[a.next], &b.entries[b.next]);
    compare(options, ea, ea.name(&a.names), eb, eb.name(&b.names)) == Ordering::Less
}

/// Stats the entry `name` of the directory `fd`, which lies at `place.1` below the root
/// `place.0`. `None` leaves it out of the listing: it vanished, or it is a symlink that dangles,
/// loops or leads out of the root.
fn inspect(
    fd: BorrowedFd<'_>,
    place: (&Path, &[u8]),
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
        let (root, path) = place;
        let mut full = root.join(OsStr::from_bytes(path));
        full.push(OsStr::from_bytes(name.to_bytes()));
        // The rule serving applies: a symlink counts only if it lands inside the root.
        if !full.canonicalize().is_ok_and(|c| c.starts_with(root)) {
            return None;
        }
        rustix::fs::statat(fd, name, AtFlags::empty()).ok()?
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

fn entry_of_kind(kind: Kind) -> Entry {
    Entry {
        name_at: 0,
        name_len: 0,
        kind,
        known: false,
        size: 0,
        modified: 0,
    }
}

fn kind_of(file_type: FileType) -> Kind {
    match file_type {
        FileType::Directory => Kind::Directory,
        FileType::RegularFile => Kind::File,
        _ => Kind::Other,
    }
}

/// The listing order: folders first, then by the sort key, each key falling back on the name.
/// A total order (the names in one folder are distinct), as `sort` requires.
fn compare(options: Options, a: &Entry, a_name: &[u8], b: &Entry, b_name: &[u8]) -> Ordering {
    let folders_first = (b.kind == Kind::Directory).cmp(&(a.kind == Kind::Directory));
    folders_first.then_with(|| {
        let by_key = match options.sort {
            SortKey::Name => Ordering::Equal,
            // A folder's size is its inode's, meaningless here: folders sort by name.
            SortKey::Size if a.kind == Kind::Directory => Ordering::Equal,
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Modified => a.modified.cmp(&b.modified),
        };
        let order = by_key.then_with(|| natural_cmp(a_name, b_name));
        match options.order {
            Order::Asc => order,
            Order::Desc => order.reverse(),
        }
    })
}

/// Natural order of names: runs of digits compare by value (`file2` < `file10`), everything else
/// byte by byte with ASCII letter case ignored. Names equal that way (`a1` and `a01`, `A` and `a`)
/// fall back on their bytes, so the order is total.
pub fn natural_cmp(a: &[u8], b: &[u8]) -> Ordering {
    // Plain index loops: this runs ~20 times per row, and iterator adaptors are slow in the
    // unoptimised builds the tests use.
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if x.is_ascii_digit() && y.is_ascii_digit() {
            // Skip leading zeros, then the longer run of digits is the larger number.
            let (mut zi, mut zj) = (i, j);
            while zi < a.len() && a[zi] == b'0' {
                zi += 1;
            }
            while zj < b.len() && b[zj] == b'0' {
                zj += 1;
            }
            let (mut ei, mut ej) = (zi, zj);
            while ei < a.len() && a[ei].is_ascii_digit() {
                ei += 1;
            }
            while ej < b.len() && b[ej].is_ascii_digit() {
                ej += 1;
            }
            let by_value = (ei - zi)
                .cmp(&(ej - zj))
                .then_with(|| a[zi..ei].cmp(&b[zj..ej]));
            if by_value != Ordering::Equal {
                return by_value;
            }
            (i, j) = (ei, ej);
        } else {
            let by_char = x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase());
            if by_char != Ordering::Equal {
                return by_char;
            }
            (i, j) = (i + 1, j + 1);
        }
    }
    (a.len() - i).cmp(&(b.len() - j)).then_with(|| a.cmp(b))
}

/// Turns the run at `i` of a heap ordered by `less` back into a heap, moving it down.
fn sift_down(heap: &mut [u32], mut i: usize, less: impl Fn(u32, u32) -> bool) {
    loop {
        let left = 2 * i + 1;
        if left >= heap.len() {
            return;
        }
        let right = left + 1;
        let child = if right < heap.len() && less(heap[right], heap[left]) {
            right
        } else {
            left
        };
        if !less(heap[child], heap[i]) {
            return;
        }
        heap.swap(i, child);
        i = child;
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering. Writing to a `Vec` cannot fail, so `write!` results are ignored.

/// The page up to the first row: title, breadcrumb, table head with sort links, parent row.
fn html_top(out: &mut Vec<u8>, path: &[u8], options: Options) {
    out.extend_from_slice(
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<meta name=\"color-scheme\" content=\"light dark\">",
            // A folder icon inline, so browsers do not ask for /favicon.ico (a 404 in most
            // folders, logged as an error in the console).
            "<link rel=\"icon\" href=\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' ",
            "viewBox='0 0 16 16'%3E%3Cpath fill='%23e3a008' d='M1 3.5h5l1.5 1.5H15v8.5H1z'/%3E%3C/svg%3E\">",
            "<title>Index of /"
        )
        .as_bytes(),
    );
    for segment in segments(path) {
        push_html_name(out, segment);
        out.push(b'/');
    }
    out.extend_from_slice(
        concat!(
            "</title><style>",
            page_style!(),
            ".box{border:1px solid var(--line);border-radius:8px;overflow:hidden}",
            // Fixed layout: the columns keep their width while rows stream in, and the browser
            // need not measure every cell of a long listing.
            "table{width:100%;border-collapse:collapse;table-layout:fixed}",
            "th.s{width:7.5rem}th.m{width:11.5rem}",
            "th,td{padding:.4rem .8rem;text-align:left;vertical-align:top}",
            "td{border-top:1px solid var(--line)}",
            "thead th{background:var(--head);font-size:.8rem;font-weight:600;",
            "text-transform:uppercase;letter-spacing:.04em}",
            "th a{color:var(--mute)}th a.on{color:var(--fg)}",
            "td.n{overflow-wrap:anywhere}",
            "tr.d td.n a{font-weight:600}",
            ".s,.m{white-space:nowrap;font-variant-numeric:tabular-nums}",
            ".s{text-align:right}td.s,td.m{color:var(--mute)}",
            "tbody tr:hover{background:var(--hover)}",
            ".up a::before{content:\"\\2191\\00a0\"}",
            "@media(max-width:36rem){main{padding:1rem .5rem}th,td{padding:.5rem}th.s{width:6rem}",
            ".m{display:none}}",
            "</style></head><body><main><h1>Index of ",
        )
        .as_bytes(),
    );
    // Breadcrumb: every ancestor is a link; absolute hrefs, so a non-canonical request path
    // (`/a//b/`) cannot throw them off.
    let depth = segments(path).count();
    out.extend_from_slice(b"<a href=\"/\">/</a>");
    let mut href = b"/".to_vec();
    for (i, segment) in segments(path).enumerate() {
        push_encoded(&mut href, segment);
        href.push(b'/');
        if i + 1 == depth {
            out.extend_from_slice(b"<span>");
            push_html_name(out, segment);
            out.extend_from_slice(b"</span><span class=\"sep\">/</span>");
        } else {
            out.extend_from_slice(b"<a href=\"");
            out.extend_from_slice(&href);
            out.extend_from_slice(b"\">");
            push_html_name(out, segment);
            out.extend_from_slice(b"</a><span class=\"sep\">/</span>");
        }
    }
    out.extend_from_slice(b"</h1>\n<div class=\"box\"><table><thead><tr>");
    for (key, label, class) in [
        (SortKey::Name, "Name", "n"),
        (SortKey::Size, "Size", "s"),
        (SortKey::Modified, "Modified", "m"),
    ] {
        let on = options.sort == key;
        // The current column's link flips the order; the others start ascending.
        let order = match (on, options.order) {
            (true, Order::Asc) => "desc",
            _ => "asc",
        };
        let aria = match (on, options.order) {
            (false, _) => "",
            (true, Order::Asc) => " aria-sort=\"ascending\"",
            (true, Order::Desc) => " aria-sort=\"descending\"",
        };
        let arrow = match (on, options.order) {
            (false, _) => "",
            (true, Order::Asc) => " \u{25b2}",
            (true, Order::Desc) => " \u{25bc}",
        };
        let _ = write!(
            out,
            "<th class=\"{class}\"{aria}><a{} href=\"?sort={}&amp;order={order}\">{label}{arrow}</a></th>",
            if on { " class=\"on\"" } else { "" },
            key_name(key),
        );
    }
    out.extend_from_slice(b"</tr></thead><tbody>\n");
    if depth > 0 {
        out.extend_from_slice(
            b"<tr class=\"up\"><td class=\"n\"><a href=\"../\">Parent folder</a></td>\
              <td class=\"s\"></td><td class=\"m\"></td></tr>\n",
        );
    }
}

fn key_name(key: SortKey) -> &'static str {
    match key {
        SortKey::Name => "name",
        SortKey::Size => "size",
        SortKey::Modified => "modified",
    }
}

fn html_row(out: &mut Vec<u8>, entry: &Entry, name: &[u8]) {
    let dir = entry.kind == Kind::Directory;
    out.extend_from_slice(if dir {
        b"<tr class=\"d\"><td class=\"n\"><a href=\"".as_slice()
    } else {
        b"<tr><td class=\"n\"><a href=\"".as_slice()
    });
    // Relative href: the page's URL always ends in `/` (resolve redirects otherwise).
    push_encoded(out, name);
    if dir {
        out.push(b'/');
    }
    out.extend_from_slice(b"\">");
    push_html_name(out, name);
    if dir {
        out.push(b'/');
    }
    // End tags of cells and rows are implied (HTML §13.1.2.4) and left out: a big listing parses
    // noticeably faster with fewer tokens.
    out.extend_from_slice(b"</a>");
    if dir || !entry.known {
        out.extend_from_slice(b"<td class=\"s\">\xe2\x80\x94");
    } else {
        out.extend_from_slice(b"<td class=\"s\" title=\"");
        out.extend_from_slice(itoa::Buffer::new().format(entry.size).as_bytes());
        out.extend_from_slice(if entry.size == 1 {
            b" byte\">"
        } else {
            b" bytes\">"
        });
        push_human_size(out, entry.size);
    }
    if entry.known {
        let t = Civil::from_unix(entry.modified);
        out.extend_from_slice(b"<td class=\"m\" title=\"");
        t.push(out, TimeStyle::Seconds);
        out.extend_from_slice(b" UTC\">");
        t.push(out, TimeStyle::Minutes);
        out.push(b'\n');
    } else {
        out.extend_from_slice(b"<td class=\"m\">\xe2\x80\x94\n");
    }
}

fn html_bottom(out: &mut Vec<u8>, dirs: u64, files: u64, options: Options) {
    out.extend_from_slice(b"</tbody></table></div>\n<footer>");
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    let _ = write!(
        out,
        "{dirs} folder{}, {files} file{} \u{b7} <a href=\"?sort={}&amp;order={}&amp;format=json\">JSON</a> \u{b7} mioserve",
        plural(dirs),
        plural(files),
        key_name(options.sort),
        match options.order {
            Order::Asc => "asc",
            Order::Desc => "desc",
        },
    );
    out.extend_from_slice(b"</footer></main></body></html>\n");
}

/// One object of the JSON array: `name` (non-UTF-8 bytes become U+FFFD), `type` (`directory`,
/// `file` or `other`), `size` (bytes; `null` for a folder or when unknown), `modified` (RFC 3339,
/// UTC; `null` when unknown), and `href`, the percent-encoded relative URL, which reaches the
/// entry even when its name is not UTF-8.
fn json_row(out: &mut Vec<u8>, entry: &Entry, name: &[u8], first: bool) {
    out.extend_from_slice(if first {
        b"\n{\"name\":\""
    } else {
        b",\n{\"name\":\""
    });
    push_json_name(out, name);
    let kind = match entry.kind {
        Kind::Directory => "directory",
        Kind::File => "file",
        Kind::Other => "other",
    };
    out.extend_from_slice(b"\",\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"size\":");
    if entry.known && entry.kind != Kind::Directory {
        out.extend_from_slice(itoa::Buffer::new().format(entry.size).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"modified\":");
    if entry.known {
        out.push(b'"');
        Civil::from_unix(entry.modified).push(out, TimeStyle::Rfc3339);
        out.push(b'"');
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"href\":\"");
    push_encoded(out, name);
    if entry.kind == Kind::Directory {
        out.push(b'/');
    }
    out.extend_from_slice(b"\"}");
}

/// The `/`-separated segments of a relative path (none for the root).
fn segments(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|s| !s.is_empty())
}

/// Appends `name` percent-encoded as one path segment ([`SEGMENT_ENCODE`]; bytes outside ASCII,
/// including those of names that are not UTF-8, are always encoded).
pub fn push_encoded(out: &mut Vec<u8>, name: &[u8]) {
    for part in percent_encoding::percent_encode(name, SEGMENT_ENCODE) {
        out.extend_from_slice(part.as_bytes());
    }
}

/// Appends `name` as HTML text (also safe in a quoted attribute); bytes that are not UTF-8 show
/// as U+FFFD.
pub fn push_html_name(out: &mut Vec<u8>, name: &[u8]) {
    for chunk in name.utf8_chunks() {
        for byte in chunk.valid().bytes() {
            match byte {
                b'&' => out.extend_from_slice(b"&amp;"),
                b'<' => out.extend_from_slice(b"&lt;"),
                b'>' => out.extend_from_slice(b"&gt;"),
                b'"' => out.extend_from_slice(b"&quot;"),
                b'\'' => out.extend_from_slice(b"&#39;"),
                _ => out.push(byte),
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
}

/// Appends `name` as the inside of a JSON string (RFC 8259 §7); bytes that are not UTF-8 become
/// U+FFFD.
pub fn push_json_name(out: &mut Vec<u8>, name: &[u8]) {
    for chunk in name.utf8_chunks() {
        for byte in chunk.valid().bytes() {
            match byte {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0..0x20 | 0x7f => {
                    let _ = write!(out, "\\u{byte:04x}");
                }
                _ => out.push(byte),
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
}

/// `532 B`, `1.5 KiB`, `12 MiB`: one decimal below 10 of a unit.
pub fn push_human_size(out: &mut Vec<u8>, size: u64) {
    if size < 1024 {
        let _ = write!(out, "{size} B");
        return;
    }
    let mut value = size as f64 / 1024.0;
    let mut unit = 0;
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value < 9.95 {
        let _ = write!(out, "{value:.1} {}", UNITS[unit]);
    } else {
        let _ = write!(out, "{value:.0} {}", UNITS[unit]);
    }
}

/// A UTC date and time from Unix seconds, written by [`Civil::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    year: i64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Civil {
    /// Converts with Howard Hinnant's `civil_from_days`, valid for any `i64` day count.
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
        }
    }
}

/// How much of a [`Civil`] time to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeStyle {
    /// `2024-03-09 14:05`
    Minutes,
    /// `2024-03-09 14:05:07`
    Seconds,
    /// `2024-03-09T14:05:07Z` (RFC 3339)
    Rfc3339,
}

impl Civil {
    /// Appends the time in `style`. Digits by hand: `fmt` machinery costs more than the rest of
    /// a row.
    pub fn push(&self, out: &mut Vec<u8>, style: TimeStyle) {
        fn two(out: &mut Vec<u8>, n: u8) {
            out.extend_from_slice(&[b'0' + n / 10, b'0' + n % 10]);
        }
        if (0..10_000).contains(&self.year) {
            let y = self.year as u16;
            two(out, (y / 100) as u8);
            two(out, (y % 100) as u8);
        } else {
            out.extend_from_slice(itoa::Buffer::new().format(self.year).as_bytes());
        }
        out.push(b'-');
        two(out, self.month);
        out.push(b'-');
        two(out, self.day);
        out.push(if style == TimeStyle::Rfc3339 {
            b'T'
        } else {
            b' '
        });
        two(out, self.hour);
        out.push(b':');
        two(out, self.minute);
        if style != TimeStyle::Minutes {
            out.push(b':');
            two(out, self.second);
        }
        if style == TimeStyle::Rfc3339 {
            out.push(b'Z');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_table() {
        use Ordering::*;
        let cases: &[(&str, &str, Ordering)] = &[
            // numbers by value
            ("file2", "file10", Less),
            ("file10", "file9", Greater),
            ("a1b2", "a1b10", Less),
            ("9", "10", Less),
            (
                "x99999999999999999999999",
                "x100000000000000000000000",
                Less,
            ),
            // leading zeros: equal value, then bytes
            ("a01", "a1", Less),
            ("a007b", "a7c", Less),
            // letter case ignored, then bytes (upper before lower)
            ("Apple", "banana", Less),
            ("apple", "Banana", Less),
            ("B", "b", Less),
            // prefixes first
            ("file", "file1", Less),
            ("", "a", Less),
            // punctuation and digits by byte value
            ("a-b", "a1", Less),
            ("a_b", "a1", Greater),
            // non-UTF-8 bytes by value
            ("z", "\u{e9}", Less),
            ("same", "same", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(natural_cmp(a.as_bytes(), b.as_bytes()), *want, "{a} vs {b}");
            assert_eq!(
                natural_cmp(b.as_bytes(), a.as_bytes()),
                want.reverse(),
                "{b} vs {a}"
            );
        }
        assert_eq!(natural_cmp(b"\xe9", b"\xff"), Less);
    }

    proptest::proptest! {
        /// `sort` may panic on an order that is not total; check the laws on short names over an
        /// alphabet that makes ties likely.
        #[test]
        fn natural_order_is_total(
            a in proptest::collection::vec(proptest::sample::select(b"0019aAbB-.\xe9".to_vec()), 0..6),
            b in proptest::collection::vec(proptest::sample::select(b"0019aAbB-.\xe9".to_vec()), 0..6),
            c in proptest::collection::vec(proptest::sample::select(b"0019aAbB-.\xe9".to_vec()), 0..6),
        ) {
            let ab = natural_cmp(&a, &b);
            proptest::prop_assert_eq!(ab, natural_cmp(&b, &a).reverse());
            proptest::prop_assert_eq!(ab == Ordering::Equal, a == b);
            if ab != Ordering::Greater && natural_cmp(&b, &c) != Ordering::Greater {
                proptest::prop_assert_ne!(natural_cmp(&a, &c), Ordering::Greater);
            }
        }
    }

    #[test]
    fn options_from_query_and_accept() {
        let o = |sort, order, format| Options {
            sort,
            order,
            format,
        };
        use Format::*;
        use Order::*;
        use SortKey::*;
        let cases: &[(Option<&str>, Option<&str>, Options)] = &[
            // defaults
            (None, None, o(Name, Asc, Html)),
            (Some(""), None, o(Name, Asc, Html)),
            // query
            (Some("sort=size&order=desc"), None, o(Size, Desc, Html)),
            (
                Some("order=desc&sort=modified"),
                None,
                o(Modified, Desc, Html),
            ),
            (Some("sort=mtime"), None, o(Modified, Asc, Html)),
            (Some("sort=bogus&order=up&x"), None, o(Name, Asc, Html)),
            (Some("format=json"), None, o(Name, Asc, Json)),
            // Accept
            (None, Some("application/json"), o(Name, Asc, Json)),
            (
                None,
                Some("text/html, application/json;q=0.9"),
                o(Name, Asc, Html),
            ),
            (
                None,
                Some("text/html;q=0.5, application/json"),
                o(Name, Asc, Json),
            ),
            (None, Some("application/json;q=0"), o(Name, Asc, Html)),
            (None, Some("*/*"), o(Name, Asc, Html)),
            (
                None,
                Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                o(Name, Asc, Html),
            ),
            // the query wins
            (
                Some("format=html"),
                Some("application/json"),
                o(Name, Asc, Html),
            ),
        ];
        for (query, accept, want) in cases {
            let got = Options::from_request(*query, accept.map(str::as_bytes));
            assert_eq!(got, *want, "{query:?} {accept:?}");
        }
    }

    #[test]
    fn qvalues() {
        for (q, want) in [
            ("1", 1000),
            ("1.0", 1000),
            ("0.5", 500),
            ("0.25", 250),
            ("0.001", 1),
            ("0", 0),
            ("0.1234", 0),
            ("2", 0),
            ("x", 0),
        ] {
            assert_eq!(qvalue(q), want, "{q}");
        }
    }

    #[test]
    fn escaping_table() {
        // (name, HTML text, href segment, JSON string body)
        let cases: &[(&[u8], &str, &str, &str)] = &[
            (b"plain.txt", "plain.txt", "plain.txt", "plain.txt"),
            (b"with space", "with space", "with%20space", "with space"),
            (b"100%.txt", "100%.txt", "100%25.txt", "100%.txt"),
            (b"a#b?c", "a#b?c", "a%23b%3Fc", "a#b?c"),
            (b"a&b", "a&amp;b", "a%26b", "a&b"),
            (
                b"\"q\" 'q'",
                "&quot;q&quot; &#39;q&#39;",
                "%22q%22%20%27q%27",
                "\\\"q\\\" 'q'",
            ),
            (b"<b>", "&lt;b&gt;", "%3Cb%3E", "<b>"),
            (b"[x]", "[x]", "%5Bx%5D", "[x]"),
            (b"a:b", "a:b", "a%3Ab", "a:b"),
            (
                b"back\\slash",
                "back\\slash",
                "back%5Cslash",
                "back\\\\slash",
            ),
            (
                b"line\nbreak",
                "line\nbreak",
                "line%0Abreak",
                "line\\nbreak",
            ),
            (b"bell\x07", "bell\x07", "bell%07", "bell\\u0007"),
            (
                "café ☕".as_bytes(),
                "café ☕",
                "caf%C3%A9%20%E2%98%95",
                "café ☕",
            ),
            (
                b"latin1-\xe9.txt",
                "latin1-\u{fffd}.txt",
                "latin1-%E9.txt",
                "latin1-\\ufffd.txt",
            ),
        ];
        for (name, html, href, json) in cases {
            let shown = String::from_utf8_lossy(name);
            let mut out = Vec::new();
            push_html_name(&mut out, name);
            assert_eq!(String::from_utf8(out).unwrap(), *html, "html of {shown:?}");
            let mut out = Vec::new();
            push_encoded(&mut out, name);
            assert_eq!(String::from_utf8(out).unwrap(), *href, "href of {shown:?}");
            let mut out = Vec::new();
            push_json_name(&mut out, name);
            assert_eq!(String::from_utf8(out).unwrap(), *json, "json of {shown:?}");
            // The href decodes back to the exact bytes.
            let decoded: Vec<u8> = percent_encoding::percent_decode(href.as_bytes()).collect();
            assert_eq!(decoded, *name, "round trip of {shown:?}");
        }
    }

    #[test]
    fn human_sizes() {
        let cases: &[(u64, &str)] = &[
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (10 * 1024, "10 KiB"),
            (1024 * 1024 - 1, "1024 KiB"),
            (5 * 1024 * 1024 * 1024, "5.0 GiB"),
            (u64::MAX, "16 EiB"),
        ];
        for (size, want) in cases {
            let mut out = Vec::new();
            push_human_size(&mut out, *size);
            assert_eq!(String::from_utf8(out).unwrap(), *want, "{size}");
        }
    }

    #[test]
    fn civil_times() {
        let cases: &[(i64, &str)] = &[
            (0, "1970-01-01T00:00:00Z"),
            (784_111_777, "1994-11-06T08:49:37Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_709_942_707, "2024-03-09T00:05:07Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
        ];
        let text = |secs, style| {
            let mut out = Vec::new();
            Civil::from_unix(secs).push(&mut out, style);
            String::from_utf8(out).unwrap()
        };
        for (secs, want) in cases {
            assert_eq!(text(*secs, TimeStyle::Rfc3339), *want, "{secs}");
        }
        assert_eq!(text(784_111_777, TimeStyle::Minutes), "1994-11-06 08:49");
        assert_eq!(text(784_111_777, TimeStyle::Seconds), "1994-11-06 08:49:37");
        assert_eq!(
            text(-62_198_755_200, TimeStyle::Rfc3339),
            "-1-01-01T00:00:00Z"
        );
        assert_eq!(
            text(253_402_300_800, TimeStyle::Rfc3339),
            "10000-01-01T00:00:00Z"
        );
    }

    #[test]
    fn folders_first_then_key_then_name() {
        let e = |kind, size, modified| Entry {
            name_at: 0,
            name_len: 0,
            kind,
            known: true,
            size,
            modified,
        };
        let entries = [
            (e(Kind::File, 30, 1), "b10"),
            (e(Kind::File, 10, 3), "b2"),
            (e(Kind::Directory, 4096, 2), "z"),
            (e(Kind::File, 10, 2), "a"),
            (e(Kind::Directory, 4096, 9), "Y"),
        ];
        let sorted = |sort, order| {
            let mut v = entries.to_vec();
            let options = Options {
                sort,
                order,
                format: Format::Html,
            };
            v.sort_by(|(a, an), (b, bn)| compare(options, a, an.as_bytes(), b, bn.as_bytes()));
            v.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(" ")
        };
        assert_eq!(sorted(SortKey::Name, Order::Asc), "Y z a b2 b10");
        assert_eq!(sorted(SortKey::Name, Order::Desc), "z Y b10 b2 a");
        assert_eq!(sorted(SortKey::Size, Order::Asc), "Y z a b2 b10");
        assert_eq!(sorted(SortKey::Size, Order::Desc), "z Y b10 b2 a");
        assert_eq!(sorted(SortKey::Modified, Order::Asc), "z Y b10 a b2");
        assert_eq!(sorted(SortKey::Modified, Order::Desc), "Y z b2 a b10");
    }

    #[test]
    fn heap_merges_sorted_runs() {
        let runs: Vec<Vec<u32>> = vec![vec![1, 4, 9], vec![2, 3, 10], vec![], vec![0, 5]];
        let mut next = vec![0usize; runs.len()];
        let head = |next: &[usize], r: u32| runs[r as usize][next[r as usize]];
        let mut heap: Vec<u32> = (0..runs.len() as u32)
            .filter(|&r| !runs[r as usize].is_empty())
            .collect();
        for i in (0..heap.len() / 2).rev() {
            sift_down(&mut heap, i, |a, b| head(&next, a) < head(&next, b));
        }
        let mut merged = Vec::new();
        while let Some(&top) = heap.first() {
            merged.push(head(&next, top));
            next[top as usize] += 1;
            if next[top as usize] == runs[top as usize].len() {
                heap.swap_remove(0);
            }
            sift_down(&mut heap, 0, |a, b| head(&next, a) < head(&next, b));
        }
        assert_eq!(merged, [0, 1, 2, 3, 4, 5, 9, 10]);
    }
}
