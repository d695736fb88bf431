//! Deadlines for the event loop, without a runtime or a thread per timer.
//!
//! Each connection has at most one live deadline ([`Deadline`], kept in its [`TimerSlot`]); what
//! its expiry means depends on the connection's phase. The loop keeps one min-heap of `(when,
//! connection id, kind)` entries and derives the poll timeout from its top. Re-arming a connection
//! whose entry of that kind is already queued does not push: when the old entry comes due,
//! [`Timers::settle`] sees the deadline has moved and pushes it once more (lazy re-queue). So a
//! keep-alive connection serving 100,000 requests a second costs no heap traffic per request, and
//! the heap holds at most a few entries per connection. Expiring costs O(log n) per expired entry; a wake-up never scans every connection.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// What a deadline bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DeadlineKind {
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
pub(crate) struct Deadline {
    pub(crate) kind: DeadlineKind,
    pub(crate) at: Instant,
}

/// A connection's side of the timers: its live deadline, and which kinds have an entry in the heap.
/// The connection sets the deadline; only [`Timers`] touches the queued kinds, so the lazy
/// re-queueing is decided in one place.
#[derive(Debug, Default)]
pub(crate) struct TimerSlot {
    deadline: Option<Deadline>,
    /// Bit per [`DeadlineKind`]: an entry of that kind is in the heap.
    queued: u8,
}

impl TimerSlot {
    /// A slot with `deadline` live, not yet queued.
    pub fn new(deadline: Deadline) -> TimerSlot {
        TimerSlot {
            deadline: Some(deadline),
            queued: 0,
        }
    }

    /// The live deadline, if any; its meaning depends on the connection's phase.
    pub(crate) fn deadline(&self) -> Option<Deadline> {
        self.deadline
    }

    /// Replaces the live deadline (or clears it). Costs no heap work: [`Timers::queue`] pushes an
    /// entry only if none of that kind is queued, and a moved deadline is found when that entry
    /// comes due.
    pub(crate) fn set(&mut self, deadline: Option<Deadline>) {
        self.deadline = deadline;
    }

    fn bit(kind: DeadlineKind) -> u8 {
        1 << kind as u8
    }
}

/// A queued entry: connection `id` (unique for the life of the loop), at `slot` in the slab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: Instant,
    id: u64,
    slot: usize,
    kind: DeadlineKind,
}

/// An entry taken from the heap because its time came: the loop finds its connection (by
/// [`Due::slot`], checking [`Due::id`]) and asks [`Timers::settle`] what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Due {
    entry: Entry,
}

impl Due {
    /// The connection's slot in the slab.
    pub(crate) fn slot(&self) -> usize {
        self.entry.slot
    }

    /// The connection's id: a different id in the slot means the connection is gone.
    pub(crate) fn id(&self) -> u64 {
        self.entry.id
    }
}

/// What a due entry means for its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The deadline of this kind has passed: the connection must act on it.
    Fire(DeadlineKind),
    /// The deadline moved later: the entry is in the heap again.
    Requeue,
    /// The connection now waits for something else: the entry is dropped.
    Drop,
}

/// The loop's deadline heap.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
}

impl Timers {
    /// Queues the live deadline of connection `id` at `slot`, unless an entry of its kind is
    /// already queued (that entry is re-queued when it comes due, if the deadline moved).
    pub(crate) fn queue(&mut self, slot: usize, id: u64, timer: &mut TimerSlot) {
        if let Some(deadline) = timer.deadline {
            let bit = TimerSlot::bit(deadline.kind);
            if timer.queued & bit == 0 {
                timer.queued |= bit;
                self.push(slot, id, deadline);
            }
        }
    }

    fn push(&mut self, slot: usize, id: u64, deadline: Deadline) {
        self.heap.push(Reverse(Entry {
            at: deadline.at,
            id,
            slot,
            kind: deadline.kind,
        }));
    }

    /// How long the loop may sleep before the earliest entry is due.
    pub(crate) fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse(e)| e.at.saturating_duration_since(now))
    }

    /// Takes the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Due> {
        let Reverse(entry) = self.heap.peek()?;
        if entry.at > now {
            return None;
        }
        let Reverse(entry) = self.heap.pop()?;
        Some(Due { entry })
    }

    /// Decides what `due`, popped for the connection whose slot is `timer`, means at `now`: fire
    /// it, queue it again for a deadline that moved later, or drop it.
    pub(crate) fn settle(&mut self, due: Due, timer: &mut TimerSlot, now: Instant) -> Verdict {
        let Entry { slot, id, kind, .. } = due.entry;
        let bit = TimerSlot::bit(kind);
        timer.queued &= !bit;
        match timer.deadline {
            Some(d) if d.kind == kind && d.at <= now => Verdict::Fire(kind),
            Some(d) if d.kind == kind => {
                timer.queued |= bit;
                self.push(slot, id, d);
                Verdict::Requeue
            }
            _ => Verdict::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(kind: DeadlineKind, at: Instant) -> Deadline {
        Deadline { kind, at }
    }

    #[test]
    fn expires_in_order_and_reports_timeout() {
        let now = Instant::now();
        let mut timers = Timers::default();
        let ms = |ms| at(DeadlineKind::Header, now + Duration::from_millis(ms));
        let mut slots = [
            TimerSlot::new(ms(30)),
            TimerSlot::new(ms(10)),
            TimerSlot::new(ms(20)),
        ];
        for (i, slot) in slots.iter_mut().enumerate() {
            timers.queue(i, 10 * i as u64, slot);
        }
        assert_eq!(timers.timeout(now), Some(Duration::from_millis(10)));
        let later = now + Duration::from_millis(25);
        assert_eq!(timers.pop_due(later).map(|d| d.slot()), Some(1));
        assert_eq!(timers.pop_due(later).map(|d| d.slot()), Some(2));
        assert_eq!(timers.pop_due(later), None, "the third is not due yet");
        assert_eq!(timers.timeout(later), Some(Duration::from_millis(5)));
    }

    #[test]
    fn queues_one_entry_per_kind() {
        let now = Instant::now();
        let mut timers = Timers::default();
        let mut slot = TimerSlot::new(at(DeadlineKind::Idle, now));
        timers.queue(0, 1, &mut slot);
        slot.set(Some(at(DeadlineKind::Idle, now + Duration::from_secs(1))));
        timers.queue(0, 1, &mut slot);
        assert_eq!(
            timers.heap.len(),
            1,
            "re-arming the same kind pushes nothing"
        );
        slot.set(Some(at(DeadlineKind::Send, now)));
        timers.queue(0, 1, &mut slot);
        assert_eq!(timers.heap.len(), 2, "another kind gets its own entry");
    }

    #[test]
    fn settling_fires_requeues_or_drops() {
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        // (deadline when the entry comes due, verdict, entries left in the heap)
        let cases: &[(Option<Deadline>, Verdict, usize)] = &[
            // unchanged: fire
            (
                Some(at(DeadlineKind::Send, now)),
                Verdict::Fire(DeadlineKind::Send),
                0,
            ),
            // moved later: queued again, due again then
            (Some(at(DeadlineKind::Send, later)), Verdict::Requeue, 1),
            // another kind now, or none: the entry is stale
            (Some(at(DeadlineKind::Idle, now)), Verdict::Drop, 0),
            (None, Verdict::Drop, 0),
        ];
        for &(deadline, verdict, left) in cases {
            let mut timers = Timers::default();
            let mut slot = TimerSlot::new(at(DeadlineKind::Send, now));
            timers.queue(3, 7, &mut slot);
            slot.set(deadline);
            let due = timers.pop_due(now).unwrap();
            assert_eq!((due.slot(), due.id()), (3, 7));
            assert_eq!(timers.settle(due, &mut slot, now), verdict, "{deadline:?}");
            assert_eq!(timers.heap.len(), left, "{deadline:?}");
            if verdict == Verdict::Requeue {
                assert_eq!(timers.pop_due(now), None);
                assert_eq!(timers.timeout(now), Some(Duration::from_secs(5)));
            }
            // After a verdict the slot may be queued again, exactly once.
            slot.set(Some(at(DeadlineKind::Header, later)));
            timers.queue(3, 7, &mut slot);
            assert_eq!(timers.heap.len(), left + 1);
        }
    }
}
