//! Fuzzes the request-head parser and the body decoders: no input may panic, a head that parses
//! must report a length inside the input and a well-formed host, a bare CR ahead of the request
//! line is refused, and the early refusal of an unfinished head must agree with the complete
//! parse: a prefix of a head that parses is never refused, and a refused prefix gets the same
//! status however the head is completed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mioserve::http::body::BodyDecoder;
use mioserve::http::host::is_valid_host;
use mioserve::http::parse::{self, BodyFraming, Limits};

/// Where to cut a head of `len` bytes: everywhere for short ones, 32 places for longer ones.
fn cuts(len: usize) -> Vec<usize> {
    if len <= 256 {
        (1..len).collect()
    } else {
        (1..32).map(|i| len * i / 32).collect()
    }
}

fuzz_target!(|data: &[u8]| {
    let mut buf = data.to_vec();
    let skip = parse::skip_leading_empty_lines(&buf);
    let rest = &mut buf[skip..];
    // A bare CR where a request line should start is no empty line: refused (RFC 9112 §2.2).
    if let [b'\r', next, ..] = *rest
        && next != b'\n'
    {
        assert!(
            parse::refuse_partial(&mut rest.to_vec()).is_some(),
            "a bare CR"
        );
    }
    let limits = Limits::default();
    if let Some(end) = parse::find_head_end(rest, 0) {
        assert!(end <= rest.len());
        let (head, body) = rest.split_at_mut(end);
        let complete = head.to_vec();
        if let Ok(request) = parse::parse_head(head, &limits) {
            assert!(request.len <= end);
            assert!(request.fields.host.is_none_or(is_valid_host));
            for cut in cuts(end) {
                let mut prefix = complete[..cut].to_vec();
                if parse::find_head_end(&prefix, 0).is_none() {
                    let refusal = parse::refuse_partial(&mut prefix);
                    assert_eq!(refusal, None, "refused a prefix of a valid head at {cut}");
                }
            }
            if let Ok(Some(mut decoder)) = BodyDecoder::new(request.framing, limits.max_body_bytes)
                && let Ok(progress) = decoder.feed(body)
            {
                assert!(progress.consumed <= body.len());
            }
        }
    } else {
        let _ = parse::oversized_head_error(rest);
        // An unfinished head: whatever it is refused with, its completion gets the same status.
        let mut partial = rest.to_vec();
        if let Some(refusal) = parse::refuse_partial(&mut partial) {
            for ending in [&b"\r\n\r\n"[..], b"\r\nHost: a\r\n\r\n", b"\n\n"] {
                let mut full = [rest, ending].concat();
                let end = parse::find_head_end(&full, 0).unwrap();
                let got = parse::parse_head(&mut full[..end], &limits).map(|_| ());
                assert_eq!(
                    got.map_err(|e| e.status()),
                    Err(refusal.status()),
                    "refused early with {refusal:?}"
                );
            }
        }
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
