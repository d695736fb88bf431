//! Deadlines for the event loop, without a runtime or a thread per timer.
//!
//! Each connection has at most one live deadline ([`Deadline`]); what its expiry means depends on
//! the connection's phase. The loop keeps one min-heap of `(when, connection id, kind)` entries and
//! derives the poll timeout from its top. Re-arming a connection whose entry of that kind is already
//! queued does not push: when the old entry comes due, the loop sees the connection's deadline has
//! moved and pushes it once more (lazy re-queue). So a keep-alive connection serving 100,000
//! requests a second costs no heap traffic per request, and the heap holds at most a few entries per
//! connection. Expiring costs O(log n) per expired entry; a wake-up never scans every connection.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// What a deadline bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeadlineKind {
    /// Waiting for the rest of a request head (header timeout, 408).
    Header = 0,
    /// Waiting for the first byte of the next request on a kept-alive connection.
    Idle = 1,
    /// Waiting for the socket to accept more of a response (send timeout).
    Send = 2,
    /// Waiting for the rest of a request body being discarded.
    Body = 3,
    /// Draining a connection after its write side was shut, before closing it.
    Linger = 4,
}

/// A connection's live deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub kind: DeadlineKind,
    pub at: Instant,
}

/// A queued entry: connection `id` (unique for the life of the loop), at `slot` in the slab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: Instant,
    id: u64,
    slot: usize,
    kind: DeadlineKind,
}

/// The loop's deadline heap.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
}

/// What the loop should do with a due entry, as judged by the connection's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// The connection's deadline of this kind has passed: fire it.
    Fire,
    /// The deadline moved later: the entry was queued again.
    Requeued,
    /// Stale (the connection is gone, or now waits for something else): dropped.
    Stale,
}

impl Timers {
    /// Queues an entry for connection `id` at `slot`.
    pub fn push(&mut self, slot: usize, id: u64, deadline: Deadline) {
        self.heap.push(Reverse(Entry {
            at: deadline.at,
            id,
            slot,
            kind: deadline.kind,
        }));
    }

    /// How long the loop may sleep before the earliest entry is due.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse(e)| e.at.saturating_duration_since(now))
    }

    /// Pops every entry due at `now`, calling `judge(slot, id, kind)` for each; entries judged
    /// [`Due::Requeued`] must have been pushed again by the judge.
    pub fn expire(
        &mut self,
        now: Instant,
        mut judge: impl FnMut(&mut Timers, usize, u64, DeadlineKind) -> Due,
    ) {
        while let Some(Reverse(entry)) = self.heap.peek().copied() {
            if entry.at > now {
                break;
            }
            self.heap.pop();
            judge(self, entry.slot, entry.id, entry.kind);
        }
    }

    /// Number of queued entries (for tests and the memory bound).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_order_and_reports_timeout() {
        let now = Instant::now();
        let mut timers = Timers::default();
        let at = |ms| Deadline {
            kind: DeadlineKind::Header,
            at: now + Duration::from_millis(ms),
        };
        timers.push(1, 10, at(30));
        timers.push(2, 20, at(10));
        timers.push(3, 30, at(20));
        assert_eq!(timers.timeout(now), Some(Duration::from_millis(10)));
        let mut fired = Vec::new();
        timers.expire(now + Duration::from_millis(25), |_, slot, _, _| {
            fired.push(slot);
            Due::Fire
        });
        assert_eq!(fired, vec![2, 3]);
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn requeue_from_judge() {
        let now = Instant::now();
        let mut timers = Timers::default();
        timers.push(
            1,
            10,
            Deadline {
                kind: DeadlineKind::Send,
                at: now,
            },
        );
        let later = now + Duration::from_secs(5);
        timers.expire(now, |t, slot, id, kind| {
            t.push(slot, id, Deadline { kind, at: later });
            Due::Requeued
        });
        assert_eq!(timers.timeout(now), Some(Duration::from_secs(5)));
    }
}
