//! The boundary of a `multipart/byteranges` body (RFC 9110 §14.6, RFC 2046 §5.1.1), carried by
//! the plan because both the head (`Content-Type`) and the body need it.
//!
//! Cost: one `RandomState` and one SipHash per boundary; no allocation.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Length of a boundary: 16 hex digits.
const BOUNDARY_LEN: usize = 16;

/// A multipart boundary: 16 lowercase hex digits of a 64-bit value no client can predict.
///
/// Source of randomness: std's `RandomState`, whose SipHash keys are drawn from the OS once per
/// thread (and then varied per instance), hashing a process-wide counter. No new dependency, no
/// file to read, and the output is unpredictable to a client that cannot see the keys, so a file
/// cannot be crafted to contain the boundary of the response it will be served in. It is not a
/// cryptographic RNG, and need not be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Boundary([u8; BOUNDARY_LEN]);

impl Boundary {
    /// A fresh boundary.
    pub(crate) fn random() -> Boundary {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        Boundary::from_u64(hasher.finish())
    }

    /// The boundary for `n` (tests use fixed ones).
    pub(crate) fn from_u64(n: u64) -> Boundary {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [0; BOUNDARY_LEN];
        for (i, digit) in digits.iter_mut().enumerate() {
            *digit = HEX[((n >> (4 * (BOUNDARY_LEN - 1 - i))) & 0xf) as usize];
        }
        Boundary(digits)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_differ() {
        let a = Boundary::random();
        let b = Boundary::random();
        assert_ne!(a, b);
        assert!(a.as_bytes().iter().all(u8::is_ascii_hexdigit));
        assert_eq!(Boundary::from_u64(u64::MAX).as_bytes(), b"ffffffffffffffff");
    }
}
