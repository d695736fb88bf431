//! Per-loop pools of read and write buffers.
//!
//! A connection takes buffers when it has work and gives them back when it goes idle, so an idle
//! keep-alive connection holds no buffer at all, and a busy loop allocates none per request.

/// A read buffer: fixed-size storage with the unconsumed bytes at `start..end`. Boxed whole, so a
/// connection's `Option<ReadBuf>` is one pointer: idle connections hold `None`, and each byte of
/// `Conn` counts ten thousand times over with ten thousand of them.
#[derive(Debug)]
pub(crate) struct ReadBuf(Box<Storage>);

#[derive(Debug)]
struct Storage {
    bytes: Box<[u8]>,
    start: usize,
    end: usize,
    /// How much of the unconsumed data has been searched for the end of a request head.
    scanned: usize,
}

impl ReadBuf {
    fn new(size: usize) -> ReadBuf {
        ReadBuf(Box::new(Storage {
            bytes: vec![0; size].into_boxed_slice(),
            start: 0,
            end: 0,
            scanned: 0,
        }))
    }

    /// The unconsumed bytes.
    pub(crate) fn data(&self) -> &[u8] {
        &self.0.bytes[self.0.start..self.0.end]
    }

    /// The unconsumed bytes, mutable (the parser normalises a version digit in place).
    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        let s = &mut *self.0;
        &mut s.bytes[s.start..s.end]
    }

    /// Drops `n` bytes from the front of the unconsumed data; the search for a head's end starts
    /// over.
    pub(crate) fn consume(&mut self, n: usize) {
        let s = &mut *self.0;
        s.start += n.min(s.end - s.start);
        s.scanned = 0;
        if s.start == s.end {
            s.start = 0;
            s.end = 0;
        }
    }

    /// How much of the unconsumed data is known to hold no head's end.
    pub(crate) fn scanned(&self) -> usize {
        self.0.scanned
    }

    /// Records that all the unconsumed data was searched for a head's end, in vain.
    pub(crate) fn mark_scanned(&mut self) {
        self.0.scanned = self.0.end - self.0.start;
    }

    /// Whether no unconsumed byte is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.start == self.0.end
    }

    /// Whether the unconsumed data fills the whole buffer.
    pub(crate) fn is_full(&self) -> bool {
        self.0.end - self.0.start == self.0.bytes.len()
    }

    /// Free space to read into, after moving the unconsumed data to the front if that makes room.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        let s = &mut *self.0;
        if s.end == s.bytes.len() && s.start > 0 {
            s.bytes.copy_within(s.start..s.end, 0);
            s.end -= s.start;
            s.start = 0;
        }
        &mut s.bytes[s.end..]
    }

    /// Marks `n` bytes of [`ReadBuf::spare`] as filled.
    pub(crate) fn filled(&mut self, n: usize) {
        self.0.end += n;
    }
}

/// Most buffers of each kind kept for reuse. Arbitrary: enough for a busy loop's working set; after
/// a burst of more connections than this the surplus goes back to the allocator.
const MAX_POOLED: usize = 1024;

/// Initial capacity of a write buffer: a head plus an inlined small body.
pub(crate) const WRITE_BUF_CAPACITY: usize = 32 * 1024;

/// The loop's free buffers.
#[derive(Debug)]
pub struct BufferPool {
    read_size: usize,
    reads: Vec<ReadBuf>,
    writes: Vec<Vec<u8>>,
}

impl BufferPool {
    /// A pool whose read buffers hold `read_size` bytes (the request-head limit).
    pub fn new(read_size: usize) -> BufferPool {
        BufferPool {
            read_size,
            reads: Vec::new(),
            writes: Vec::new(),
        }
    }

    /// An empty read buffer.
    pub(crate) fn take_read(&mut self) -> ReadBuf {
        self.reads
            .pop()
            .unwrap_or_else(|| ReadBuf::new(self.read_size))
    }

    /// Returns a read buffer; its contents are discarded.
    pub(crate) fn give_read(&mut self, mut buf: ReadBuf) {
        if self.reads.len() < MAX_POOLED {
            buf.0.start = 0;
            buf.0.end = 0;
            buf.0.scanned = 0;
            self.reads.push(buf);
        }
    }

    /// An empty write buffer.
    pub(crate) fn take_write(&mut self) -> Vec<u8> {
        self.writes
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(WRITE_BUF_CAPACITY))
    }

    /// Returns a write buffer; its contents are discarded. One that grew far beyond the usual size
    /// (a deep pipeline) is dropped rather than kept.
    pub(crate) fn give_write(&mut self, mut buf: Vec<u8>) {
        if self.writes.len() < MAX_POOLED && buf.capacity() <= 4 * WRITE_BUF_CAPACITY {
            buf.clear();
            self.writes.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buf_compacts_when_full_at_the_end() {
        let mut pool = BufferPool::new(8);
        let mut buf = pool.take_read();
        buf.spare()[..8].copy_from_slice(b"abcdefgh");
        buf.filled(8);
        assert!(buf.is_full());
        buf.consume(6);
        assert_eq!(buf.spare().len(), 6, "compaction frees the consumed prefix");
        assert_eq!(buf.data(), b"gh");
    }

    #[test]
    fn buffers_are_reused() {
        let mut pool = BufferPool::new(8);
        let buf = pool.take_write();
        let ptr = buf.as_ptr();
        pool.give_write(buf);
        let again = pool.take_write();
        assert_eq!(again.as_ptr(), ptr);
    }
}
