//! Sorting a listing without holding more than its records: entries are gathered in runs of
//! [`RUN_LEN`], each run sorted in a call of its own once full, and rows come out of a k-way
//! merge of the runs (a binary heap of run indices, `log k` comparisons per row). The order is
//! folders first, then the sort key, then the natural order of names (`file2` before `file10`).
//!
//! Cost: one `sort_unstable` per run of 256 entries; per row, about `log k` comparisons of
//! names; a run's memory goes back to the allocator as soon as its last row is rendered.

use std::cmp::Ordering;

use super::entry::{Entry, Kind};
use super::options::{Options, Order, SortKey};

/// Entries per sorted run; a full run is sorted in a call of its own. Arbitrary: sorting one run
/// costs about 0.1 ms; smaller runs mean a deeper merge heap (100,000 entries make 391 runs,
/// about 18 comparisons per row).
const RUN_LEN: usize = 256;

/// A listing's entries: runs being filled while the directory is read, then merged in order.
#[derive(Debug)]
pub(crate) struct Runs {
    options: Options,
    /// Sorted runs; the last one may still be filling while reading.
    runs: Vec<Run>,
    /// Indices of runs with entries left, as a min-heap by the listing's order.
    heap: Vec<u32>,
}

impl Runs {
    pub fn new(options: Options) -> Runs {
        Runs {
            options,
            runs: Vec::new(),
            heap: Vec::new(),
        }
    }

    /// Sorts the last run if it is full and not sorted yet; returns whether it did (that is the
    /// call's work).
    pub(crate) fn sort_full_run(&mut self) -> bool {
        match self
            .runs
            .last_mut()
            .filter(|r| !r.sorted && r.entries.len() == RUN_LEN)
        {
            Some(run) => {
                close_run(run, self.options);
                true
            }
            None => false,
        }
    }

    /// Adds an entry named `name` (`meta` carries all but the name); returns whether its run is
    /// now full, to be sorted by the next call.
    pub fn push(&mut self, meta: Entry, name: &[u8]) -> bool {
        let run = filling_run(&mut self.runs);
        run.entries.push(Entry {
            name_at: run.names.len() as u32,
            name_len: name.len().min(u16::MAX as usize) as u16,
            ..meta
        });
        run.names.extend_from_slice(name);
        run.entries.len() == RUN_LEN
    }

    /// Every entry is in: sorts the last run and builds the merge heap.
    pub(crate) fn finish(&mut self) {
        if let Some(run) = self.runs.last_mut().filter(|r| !r.sorted) {
            close_run(run, self.options);
        }
        let runs = &self.runs;
        self.heap = (0..runs.len() as u32)
            .filter(|&i| !runs[i as usize].entries.is_empty())
            .collect();
        let options = self.options;
        for i in (0..self.heap.len() / 2).rev() {
            sift_down(&mut self.heap, i, |a, b| run_less(runs, options, a, b));
        }
    }

    /// The next entry in order and its name, if any is left (after [`Runs::finish`]).
    pub(crate) fn peek(&self) -> Option<(Entry, &[u8])> {
        let &top = self.heap.first()?;
        let run = &self.runs[top as usize];
        let entry = run.entries[run.next];
        Some((entry, entry.name(&run.names)))
    }

    /// Moves past the entry [`Runs::peek`] showed.
    pub(crate) fn advance(&mut self) {
        let Some(&top) = self.heap.first() else {
            return;
        };
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
pub(crate) fn natural_cmp(a: &[u8], b: &[u8]) -> Ordering {
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

#[cfg(test)]
mod tests {
    use super::super::options::Format;
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
                archives: false,
                live_reload: false,
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
