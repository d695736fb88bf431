//! Fuzzes request-target splitting and path normalisation: no input may panic, and a path that
//! normalises never climbs out of the root: it is relative, has no `.`/`..`/empty segment, no NUL,
//! and no hidden segment unless hidden files are allowed.
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
