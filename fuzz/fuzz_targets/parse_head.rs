//! Fuzzes the request-head parser and the body decoders: no input may panic, and a head that
//! parses must report a length inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mioserve::http::body::BodyDecoder;
use mioserve::http::parse::{self, BodyFraming, Limits};

fuzz_target!(|data: &[u8]| {
    let mut buf = data.to_vec();
    let skip = parse::skip_leading_empty_lines(&buf);
    let rest = &mut buf[skip..];
    let limits = Limits::default();
    if let Some(end) = parse::find_head_end(rest, 0) {
        assert!(end <= rest.len());
        let (head, body) = rest.split_at_mut(end);
        if let Ok(request) = parse::parse_head(head, &limits) {
            assert!(request.len <= end);
            if let Ok(Some(mut decoder)) = BodyDecoder::new(request.framing, limits.max_body_bytes)
                && let Ok(progress) = decoder.feed(body)
            {
                assert!(progress.consumed <= body.len());
            }
        }
    } else {
        let _ = parse::oversized_head_error(rest);
    }
    // The chunked decoder on its own, fed the raw input in two pieces.
    if let Ok(Some(mut decoder)) = BodyDecoder::new(BodyFraming::Chunked, 1 << 20) {
        let mid = data.len() / 2;
        if let Ok(first) = decoder.feed(&data[..mid])
            && !first.done
        {
            let _ = decoder.feed(&data[mid..]);
        }
    }
});
