//! The open-file limit: every connection costs a descriptor, and the usual soft default (256 on
//! macOS, 1024 on Linux) is far below a 10,000-connection cap.
//!
//! Cost: startup only (a few `setrlimit` calls at most).

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The open-file limits before and after [`raise_nofile_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimits {
    /// The soft limit the process started with (`None` = unlimited).
    pub before: Option<u64>,
    /// The soft limit now.
    pub soft: Option<u64>,
    /// The hard limit, the most the soft limit may be raised to.
    pub hard: Option<u64>,
}

/// Raises the soft `RLIMIT_NOFILE` as far as the system allows: to the hard limit where that is
/// accepted (Linux, FreeBSD), else to the highest value accepted below it (macOS refuses more
/// than `kern.maxfilesperproc`, and its hard limit is usually unlimited). A refusal leaves the
/// limit as it was.
pub fn raise_nofile_limit() -> NofileLimits {
    let old = getrlimit(Resource::Nofile);
    let soft = raise(old.current, old.maximum, |current| {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current,
                maximum: old.maximum,
            },
        )
        .is_ok()
    });
    NofileLimits {
        before: old.current,
        soft,
        hard: old.maximum,
    }
}

/// Above this a descriptor no longer fits the `int` system calls take, so no soft limit is
/// sought beyond it when the hard limit is unlimited.
const HIGHEST_USEFUL: u64 = i32::MAX as u64;

/// The highest soft limit from `current` up to `hard` (`None` = unlimited) that `try_set` accepts,
/// leaving it set: `hard` at once when accepted, else found by halving the range between what
/// was accepted and what was refused (at most 31 calls).
fn raise(
    current: Option<u64>,
    hard: Option<u64>,
    mut try_set: impl FnMut(Option<u64>) -> bool,
) -> Option<u64> {
    let mut accepted = current?;
    if current == hard || try_set(hard) {
        return hard;
    }
    let mut refused = hard.map_or(HIGHEST_USEFUL + 1, |h| h.min(HIGHEST_USEFUL + 1));
    while refused - accepted > 1 {
        let mid = accepted + (refused - accepted) / 2;
        if try_set(Some(mid)) {
            accepted = mid;
        } else {
            refused = mid;
        }
    }
    Some(accepted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A system that accepts soft limits up to `most` and records what was asked.
    fn system(
        most: u64,
    ) -> (
        impl FnMut(Option<u64>) -> bool,
        std::rc::Rc<std::cell::Cell<u32>>,
    ) {
        let calls = std::rc::Rc::new(std::cell::Cell::new(0));
        let counted = std::rc::Rc::clone(&calls);
        let try_set = move |n: Option<u64>| {
            counted.set(counted.get() + 1);
            n.is_some_and(|n| n <= most)
        };
        (try_set, calls)
    }

    #[test]
    fn to_the_hard_limit_where_it_is_accepted() {
        let (try_set, calls) = system(1 << 20);
        assert_eq!(raise(Some(1024), Some(524_288), try_set), Some(524_288));
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn nothing_to_do_at_the_hard_limit_or_unlimited() {
        let (try_set, calls) = system(0);
        assert_eq!(raise(Some(4096), Some(4096), try_set), Some(4096));
        let (try_set, _) = system(0);
        assert_eq!(raise(None, None, try_set), None);
        assert_eq!(calls.get(), 0);
    }

    #[test]
    fn as_high_as_macos_allows() {
        // An unlimited hard limit and kern.maxfilesperproc of 24576.
        let (try_set, calls) = system(24_576);
        assert_eq!(raise(Some(256), None, try_set), Some(24_576));
        assert!(calls.get() <= 33, "{} calls", calls.get());
        // A hard limit above what is allowed.
        let (try_set, _) = system(10_240);
        assert_eq!(raise(Some(256), Some(1 << 40), try_set), Some(10_240));
        // Nothing above the current one allowed: unchanged.
        let (try_set, _) = system(256);
        assert_eq!(raise(Some(256), Some(100_000), try_set), Some(256));
    }
}
