//! Fuzzes the chunked request-body decoder (RFC 9112 §7.1). Arbitrary input must give the same
//! verdict however it is split into reads, never consume past the end of the body, and fail only
//! with a framing or size error; a body encoded correctly from the input must decode to exactly
//! its own length, leaving the next request's bytes untouched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mioserve::http::body::BodyDecoder;
use mioserve::http::error::ParseError;
use mioserve::http::parse::BodyFraming;

/// What feeding `input` in the pieces cut at `cuts` amounts to: bytes consumed, and whether the
/// body completed or failed.
fn decode(input: &[u8], cuts: &[usize], limit: u64) -> (usize, Result<bool, ParseError>) {
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, limit)
        .expect("chunked framing has no up-front limit")
        .expect("chunked framing has a body");
    let mut consumed = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    bounds.push(input.len());
    bounds.sort_unstable();
    // Like the connection, a piece the decoder did not take is offered again with the next one.
    for end in bounds {
        if end <= consumed {
            continue;
        }
        match decoder.feed(&input[consumed..end]) {
            Ok(progress) => {
                assert!(progress.consumed <= end - consumed);
                consumed += progress.consumed;
                if progress.done {
                    return (consumed, Ok(true));
                }
                assert_eq!(consumed, end, "an unfinished body takes all it is given");
            }
            Err(e) => {
                assert!(
                    matches!(e, ParseError::BadChunkedBody | ParseError::BodyTooLarge),
                    "{e:?}"
                );
                return (consumed, Err(e));
            }
        }
    }
    (consumed, Ok(false))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let limit = [0u64, 16, 1 << 10, 1 << 20][usize::from(data[0] % 4)];
    let cuts: Vec<usize> = data[1..4].iter().map(|&b| usize::from(b) * 7).collect();
    let input = &data[4..];

    // Arbitrary bytes: the verdict does not depend on how they arrive.
    let whole = decode(input, &[], limit);
    let split = decode(input, &cuts, limit);
    assert_eq!(whole.1, split.1, "split {cuts:?}");
    if whole.1 == Ok(true) {
        assert_eq!(whole.0, split.0, "the body ends at one place");
    }
    let byte_by_byte: Vec<usize> = (0..input.len()).collect();
    assert_eq!(decode(input, &byte_by_byte, limit).1, whole.1);

    // A body encoded from the input: chunks of sizes taken from the bytes, with extensions and
    // trailers now and then, then the start of the next request.
    let mut body = Vec::new();
    let mut data_len = 0u64;
    let mut rest = input;
    while let Some((&n, tail)) = rest.split_first() {
        let size = usize::from(n % 64).min(tail.len());
        if size == 0 {
            break;
        }
        let (chunk, tail) = tail.split_at(size);
        body.extend_from_slice(format!("{size:X}").as_bytes());
        if n & 0x40 != 0 {
            body.extend_from_slice(b";name=\"v a\"");
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
        data_len += size as u64;
        rest = tail;
    }
    body.extend_from_slice(b"0\r\n");
    if input.len().is_multiple_of(3) {
        body.extend_from_slice(b"Trailer-Field: value\r\n");
    }
    body.extend_from_slice(b"\r\n");
    let body_len = body.len();
    body.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let every_byte: Vec<usize> = (0..body.len()).collect();
    for cuts in [&[][..], &cuts[..], &every_byte[..]] {
        let (consumed, verdict) = decode(&body, cuts, limit);
        if data_len > limit {
            assert_eq!(verdict, Err(ParseError::BodyTooLarge));
        } else {
            assert_eq!(verdict, Ok(true), "cuts {cuts:?}");
            assert_eq!(consumed, body_len, "cuts {cuts:?}");
        }
    }
});
