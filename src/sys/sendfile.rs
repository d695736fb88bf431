//! The partial-count rule of the BSD `sendfile`s (FreeBSD, macOS), which, unlike Linux's, can
//! fail and yet have sent bytes: they report the count beside the error. Pure, so it is tested
//! on every platform.
//!
//! A wrapper that turns "failed" into an error and drops the count (as `socket2`'s does on
//! `EAGAIN`) makes the caller send those bytes again: a corrupt body.

#![cfg_attr(target_os = "linux", allow(dead_code))]

use std::io;

use rustix::io::Errno;

/// What one BSD `sendfile` call amounts to, given its result and the count of bytes it reports
/// as sent: the bytes sent, or the error to act on.
///
/// - Success: the count (0 means the file ended before the offset: the caller's short file).
/// - The call stopped early but may go on: `EAGAIN` (the socket is full), `EINTR` (a signal),
///   `EBUSY` (FreeBSD, pages busy under `SF_NODISKIO`). Bytes sent count as progress, and the
///   next call continues after them; with none sent, the error (`WouldBlock`, `Interrupted`)
///   tells the caller to wait for the socket or to call again.
/// - Any other error: the connection or the file is broken; bytes sent before it do not matter
///   to a response that cannot be finished, and the error ends it.
pub(crate) fn outcome(result: Result<(), Errno>, sent: i64) -> io::Result<usize> {
    // The kernel never reports a negative or oversized count; treat one as nothing sent.
    let sent = usize::try_from(sent).unwrap_or(0);
    match result {
        Ok(()) => Ok(sent),
        Err(Errno::AGAIN | Errno::INTR | Errno::BUSY) if sent > 0 => Ok(sent),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_errno_case() {
        use Errno as E;
        type Call = Result<(), Errno>;
        // (result, count reported, bytes taken as sent or the error returned)
        let cases: &[(Call, i64, Result<usize, Errno>)] = &[
            (Ok(()), 4096, Ok(4096)),
            // the file ended: nothing sent, the caller sees a short file
            (Ok(()), 0, Ok(0)),
            // the socket filled up part way: the part counts, the next call continues after it
            (Err(E::AGAIN), 1000, Ok(1000)),
            (Err(E::AGAIN), 0, Err(E::AGAIN)),
            (Err(E::INTR), 512, Ok(512)),
            (Err(E::INTR), 0, Err(E::INTR)),
            (Err(E::BUSY), 8192, Ok(8192)),
            (Err(E::BUSY), 0, Err(E::BUSY)),
            // broken: the error, whatever was sent before it
            (Err(E::PIPE), 0, Err(E::PIPE)),
            (Err(E::PIPE), 100, Err(E::PIPE)),
            (Err(E::CONNRESET), 100, Err(E::CONNRESET)),
            (Err(E::NOTCONN), 0, Err(E::NOTCONN)),
            (Err(E::IO), 4096, Err(E::IO)),
            (Err(E::NOBUFS), 0, Err(E::NOBUFS)),
            (Err(E::INVAL), 0, Err(E::INVAL)),
            (Err(E::BADF), 0, Err(E::BADF)),
            (Err(E::NOTSOCK), 0, Err(E::NOTSOCK)),
            (Err(E::OPNOTSUPP), 0, Err(E::OPNOTSUPP)),
            (Err(E::FAULT), 0, Err(E::FAULT)),
            // a count the kernel never reports
            (Ok(()), -1, Ok(0)),
            (Err(E::AGAIN), -1, Err(E::AGAIN)),
        ];
        for (result, sent, want) in cases {
            let got = outcome(*result, *sent)
                .map_err(|e| Errno::from_raw_os_error(e.raw_os_error().unwrap()));
            assert_eq!(got, *want, "{result:?} with {sent} sent");
        }
        // What the body writer acts on: wait for the socket, or call again.
        let kind = |e| outcome(Err(e), 0).unwrap_err().kind();
        assert_eq!(kind(E::AGAIN), io::ErrorKind::WouldBlock);
        assert_eq!(kind(E::INTR), io::ErrorKind::Interrupted);
    }
}
