//! Fuzzes request-target splitting and path normalisation: no input may panic, and a path that
//! normalises never climbs out of the root: it is relative, has no `.`/`..`/empty segment, no NUL,
//! and no hidden segment unless hidden files are allowed; and every `%` in it was a
//! percent-encoding (two hex digits follow).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mioserve::handler::resolve::{normalise, split_target};

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parts) = split_target(target) else {
        return;
    };
    let mut out = Vec::new();
    for hidden in [false, true] {
        if normalise(parts.path, hidden, &mut out).is_ok() {
            let path = parts.path.as_bytes();
            for (i, _) in path.iter().enumerate().filter(|(_, b)| **b == b'%') {
                let hex = |j: usize| path.get(j).is_some_and(u8::is_ascii_hexdigit);
                assert!(
                    hex(i + 1) && hex(i + 2),
                    "a bare % at {i}: {:?}",
                    parts.path
                );
            }
            assert!(!out.starts_with(b"/"), "absolute: {out:?}");
            assert!(!out.contains(&0), "NUL: {out:?}");
            if !out.is_empty() {
                for segment in out.split(|&b| b == b'/') {
                    assert!(!segment.is_empty(), "empty segment: {out:?}");
                    assert!(segment != b"." && segment != b"..", "dot segment: {out:?}");
                    assert!(hidden || segment[0] != b'.', "hidden segment: {out:?}");
                }
            }
        }
    }
});
