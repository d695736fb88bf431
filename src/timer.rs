//! Deadlines for the event loop, without a runtime or a thread per timer.
//!
//! Each connection has at most one live deadline ([`Deadline`], kept in its [`TimerSlot`]); what
//! its expiry means depends on the connection's phase. The loop keeps one min-heap of `(when,
//! connection id, slot)` entries and derives the poll timeout from its top. Re-arming a connection
//! whose queued entry comes due no later than the new deadline does not push: when that entry
//! comes due, [`Timers::settle`] sees the deadline has moved and pushes it once more (lazy
//! re-queue). Only a deadline moved earlier (an idle connection starting a request under the
//! shorter header timeout) pushes a new entry, and the superseded one is dropped when it comes due.
//! So a keep-alive connection serving 100,000 requests a second costs no heap traffic per request,
//! and an idle one holds one entry (24 bytes). Expiring costs O(log n) per expired entry; a wake-up
//! never scans every connection.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroU64;
use std::sync::OnceLock;
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
    /// A live reload subscriber has been quiet: its stream sends a heartbeat (it is exempt from
    /// the idle timeout, and stays open as long as the client does).
    Heartbeat = 5,
}

/// A connection's live deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline {
    pub(crate) kind: DeadlineKind,
    pub(crate) at: Instant,
}

/// An `Instant` in 8 bytes, where `Instant` takes 16: nanoseconds since the timers' epoch (the
/// first instant they saw), plus one so that `Option<Moment>` is 8 bytes too. Every connection
/// holds two and the heap one per connection, which with ten thousand idle connections is most of
/// what they cost. 2^64 ns is 584 years; an instant before the epoch counts as the epoch itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Moment(NonZeroU64);

impl Moment {
    fn of(t: Instant) -> Moment {
        let nanos = t.saturating_duration_since(epoch()).as_nanos();
        Moment(
            NonZeroU64::new(u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1)
                .unwrap_or(NonZeroU64::MIN),
        )
    }

    fn instant(self) -> Instant {
        epoch() + Duration::from_nanos(self.0.get() - 1)
    }
}

/// The instant [`Moment`]s count from: fixed the first time the timers are made or used, which
/// is before the loop reads its clock for the first time.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// A [`Deadline`] as the slot keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Live {
    at: Moment,
    kind: DeadlineKind,
}

impl Live {
    fn of(deadline: Deadline) -> Live {
        Live {
            at: Moment::of(deadline.at),
            kind: deadline.kind,
        }
    }
}

/// A connection's side of the timers: its live deadline, and when its entry in the heap is due.
/// The connection sets the deadline; only [`Timers`] touches the queued time, so the lazy
/// re-queueing is decided in one place.
#[derive(Debug, Default)]
pub(crate) struct TimerSlot {
    deadline: Option<Live>,
    /// When the connection's entry in the heap comes due, if one is queued. A deadline at or after
    /// it needs no entry of its own: that entry is queued again for it when it comes due.
    queued: Option<Moment>,
}

impl TimerSlot {
    /// A slot with `deadline` live, not yet queued.
    pub fn new(deadline: Deadline) -> TimerSlot {
        TimerSlot {
            deadline: Some(Live::of(deadline)),
            queued: None,
        }
    }

    /// The kind of the live deadline, if any; its meaning depends on the connection's phase.
    pub(crate) fn kind(&self) -> Option<DeadlineKind> {
        self.deadline.map(|live| live.kind)
    }

    /// Replaces the live deadline (or clears it). Costs no heap work: [`Timers::queue`] pushes an
    /// entry only if none is queued that comes due first, and a moved deadline is found when that
    /// entry comes due.
    pub(crate) fn set(&mut self, deadline: Option<Deadline>) {
        self.deadline = deadline.map(Live::of);
    }
}

/// A queued entry: connection `id` (unique for the life of the loop), at `slot` in the slab. It
/// carries no kind: when it comes due, the connection's live deadline says what is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: Moment,
    id: u64,
    slot: usize,
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
    /// The connection has no deadline now, or this entry was superseded by an earlier one: the
    /// entry is dropped.
    Drop,
}

/// The loop's deadline heap.
#[derive(Debug)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
}

impl Default for Timers {
    fn default() -> Timers {
        // Fix the epoch before the loop's first clock reading (see `Moment`).
        epoch();
        Timers {
            heap: BinaryHeap::new(),
        }
    }
}

impl Timers {
    /// Queues the live deadline of connection `id` at `slot`, unless its queued entry comes due no
    /// later (that entry is re-queued when it comes due, if the deadline moved later).
    pub(crate) fn queue(&mut self, slot: usize, id: u64, timer: &mut TimerSlot) {
        if let Some(deadline) = timer.deadline
            && timer.queued.is_none_or(|queued| deadline.at < queued)
        {
            timer.queued = Some(deadline.at);
            self.push(slot, id, deadline.at);
        }
    }

    fn push(&mut self, slot: usize, id: u64, at: Moment) {
        self.heap.push(Reverse(Entry { at, id, slot }));
    }

    /// How long the loop may sleep before the earliest entry is due.
    pub(crate) fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse(e)| e.at.instant().saturating_duration_since(now))
    }

    /// Takes the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Due> {
        let Reverse(entry) = self.heap.peek()?;
        if entry.at > Moment::of(now) {
            return None;
        }
        let Reverse(entry) = self.heap.pop()?;
        Some(Due { entry })
    }

    /// Decides what `due`, popped for the connection whose slot is `timer`, means at `now`: fire
    /// the live deadline, queue the entry again for a deadline that moved later, or drop it.
    pub(crate) fn settle(&mut self, due: Due, timer: &mut TimerSlot, now: Instant) -> Verdict {
        let Entry { slot, id, at } = due.entry;
        if timer.queued != Some(at) {
            // An earlier deadline was queued after this entry: that one is the connection's.
            return Verdict::Drop;
        }
        timer.queued = None;
        match timer.deadline {
            Some(d) if d.at <= Moment::of(now) => Verdict::Fire(d.kind),
            Some(d) => {
                timer.queued = Some(d.at);
                self.push(slot, id, d.at);
                Verdict::Requeue
            }
            None => Verdict::Drop,
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
    fn queues_an_entry_only_for_an_earlier_deadline() {
        let now = Instant::now();
        let secs = |n| now + Duration::from_secs(n);
        let mut timers = Timers::default();
        let mut slot = TimerSlot::new(at(DeadlineKind::Header, secs(10)));
        timers.queue(0, 1, &mut slot);
        slot.set(Some(at(DeadlineKind::Idle, secs(60))));
        timers.queue(0, 1, &mut slot);
        assert_eq!(timers.heap.len(), 1, "a later deadline pushes nothing");
        slot.set(Some(at(DeadlineKind::Header, secs(5))));
        timers.queue(0, 1, &mut slot);
        assert_eq!(timers.heap.len(), 2, "an earlier one gets its own entry");
        // The entry at 5 s is the connection's; the one at 10 s was superseded.
        let first = timers.pop_due(secs(5)).unwrap();
        assert_eq!(
            timers.settle(first, &mut slot, secs(5)),
            Verdict::Fire(DeadlineKind::Header)
        );
        slot.set(Some(at(DeadlineKind::Idle, secs(70))));
        timers.queue(0, 1, &mut slot);
        let stale = timers.pop_due(secs(10)).unwrap();
        assert_eq!(timers.settle(stale, &mut slot, secs(10)), Verdict::Drop);
        assert_eq!(timers.timeout(secs(10)), Some(Duration::from_secs(60)));
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
            // another kind, due: the live deadline fires
            (
                Some(at(DeadlineKind::Idle, now)),
                Verdict::Fire(DeadlineKind::Idle),
                0,
            ),
            // moved later: queued again, due again then
            (Some(at(DeadlineKind::Send, later)), Verdict::Requeue, 1),
            (Some(at(DeadlineKind::Idle, later)), Verdict::Requeue, 1),
            // none: the entry is stale
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
            // After a verdict, a deadline earlier than anything queued is queued exactly once.
            slot.set(Some(at(DeadlineKind::Header, now + Duration::from_secs(1))));
            timers.queue(3, 7, &mut slot);
            timers.queue(3, 7, &mut slot);
            assert_eq!(timers.heap.len(), left + 1);
        }
    }
}
