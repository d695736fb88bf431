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

    /// Takes the earliest entry if it is due at `now`, as `(slot, id, kind)`. The loop decides
    /// what it means: the connection may be gone (a different `id` in the slot), wait for
    /// something else now, or have moved its deadline later (then it is pushed again).
    pub fn pop_due(&mut self, now: Instant) -> Option<(usize, u64, DeadlineKind)> {
        let Reverse(entry) = self.heap.peek()?;
        if entry.at > now {
            return None;
        }
        let Reverse(entry) = self.heap.pop()?;
        Some((entry.slot, entry.id, entry.kind))
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
        let later = now + Duration::from_millis(25);
        assert_eq!(timers.pop_due(later).map(|e| e.0), Some(2));
        assert_eq!(timers.pop_due(later).map(|e| e.0), Some(3));
        assert_eq!(timers.pop_due(later), None, "the third is not due yet");
        assert_eq!(timers.timeout(later), Some(Duration::from_millis(5)));
    }

    #[test]
    fn an_entry_pushed_again_is_due_again_later() {
        let now = Instant::now();
        let mut timers = Timers::default();
        let at = |at| Deadline {
            kind: DeadlineKind::Send,
            at,
        };
        timers.push(1, 10, at(now));
        let (slot, id, _) = timers.pop_due(now).unwrap();
        let later = now + Duration::from_secs(5);
        timers.push(slot, id, at(later));
        assert_eq!(timers.pop_due(now), None);
        assert_eq!(timers.timeout(now), Some(Duration::from_secs(5)));
    }
}
