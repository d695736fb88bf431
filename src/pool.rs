//! Per-loop pools of read and write buffers.
//!
//! A connection takes buffers when it has work and gives them back when it goes idle, so an idle
//! keep-alive connection holds no buffer at all, and a busy loop allocates none per request.

/// A read buffer: fixed-size storage with the unconsumed bytes at `start..end`.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    bytes: Box<[u8]>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    fn new(size: usize) -> ReadBuf {
        ReadBuf {
            bytes: vec![0; size].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// The unconsumed bytes.
    pub(crate) fn data(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    /// The unconsumed bytes, mutable (the parser normalises a version digit in place).
    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.end]
    }

    /// Drops `n` bytes from the front of the unconsumed data.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n.min(self.end - self.start);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Whether no unconsumed byte is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether the unconsumed data fills the whole buffer.
    pub(crate) fn is_full(&self) -> bool {
        self.end - self.start == self.bytes.len()
    }

    /// Free space to read into, after moving the unconsumed data to the front if that makes room.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.end == self.bytes.len() && self.start > 0 {
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.bytes[self.end..]
    }

    /// Marks `n` bytes of [`ReadBuf::spare`] as filled.
    pub(crate) fn filled(&mut self, n: usize) {
        self.end += n;
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
            buf.start = 0;
            buf.end = 0;
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
