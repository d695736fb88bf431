//! The entity tag of a file (RFC 9110 §8.8.3), made from its metadata only, never its contents.
//!
//! Cost: formatted once per file into a 52-byte stack buffer (the open-file cache keeps it);
//! no heap allocation.

use std::fmt;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// Longest ETag this server makes: two quotes, three 16-digit hex numbers and two dashes.
const ETAG_MAX: usize = 2 + 3 * 16 + 2 + SUFFIX_MAX;
/// Longest suffix representations of a file add ([`ETag::with_suffix`]): live reload's `-lr`
/// and a coding's `-gz`, `-br` or `-zst`.
const SUFFIX_MAX: usize = 7;

/// A strong entity tag made from metadata: `"<hex inode>-<hex mtime ns>-<hex size>"`, quotes
/// included, in a stack buffer.
///
/// Strong in the sense of RFC 9110 §8.8.1 as far as the file system lets it be: any change of
/// size, of modification time (kept in nanoseconds, though kernels stamp with a coarser clock, a
/// few milliseconds), or of the inode (a file replaced by rename, even with its mtime preserved by
/// `cp -p` or `rsync -t`) changes the tag. Two same-size writes within one timestamp tick do not;
/// that is the price of never reading the contents (nginx's tag, with whole seconds, shares it).
/// Including the inode makes tags differ between two machines serving copies of one tree; this
/// server is one machine.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ETag {
    bytes: [u8; ETAG_MAX],
    len: u8,
}

impl ETag {
    /// The tag for a file's metadata.
    pub(crate) fn of(meta: &Metadata) -> ETag {
        // Seconds and nanoseconds folded into one number; wrapping keeps pre-1970 times distinct
        // and deterministic (the tag is opaque: only equality matters).
        let mtime_ns = (meta.mtime() as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(meta.mtime_nsec() as u64);
        ETag::from_parts(meta.ino(), mtime_ns, meta.size())
    }

    /// The tag for an inode, a modification time in nanoseconds and a size.
    pub fn from_parts(ino: u64, mtime_ns: u64, size: u64) -> ETag {
        let mut tag = ETag {
            bytes: [0; ETAG_MAX],
            len: 0,
        };
        tag.push(b'"');
        tag.push_hex(ino);
        tag.push(b'-');
        tag.push_hex(mtime_ns);
        tag.push(b'-');
        tag.push_hex(size);
        tag.push(b'"');
        tag
    }

    /// The tag of another representation of the same content: `suffix` (such as `-gz`; what does
    /// not fit in [`SUFFIX_MAX`] in all is cut) goes inside the closing quote, so each
    /// representation has its own strong validator. Suffixes add up: `-lr` then `-gz`.
    pub fn with_suffix(mut self, suffix: &[u8]) -> ETag {
        let room = ETAG_MAX - self.len as usize;
        let suffix = &suffix[..suffix.len().min(room)];
        self.len -= 1;
        for &byte in suffix {
            self.push(byte);
        }
        self.push(b'"');
        self
    }

    /// The tag as sent, quotes included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len as usize] = byte;
        self.len += 1;
    }

    /// Lowercase hex without leading zeros (`0` for zero).
    fn push_hex(&mut self, n: u64) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
        for i in (0..digits).rev() {
            self.push(HEX[((n >> (4 * i)) & 0xf) as usize]);
        }
    }
}

impl fmt::Debug for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// `Sun, 06 Nov 1994 08:49:37 GMT`.
    const T: u64 = 784_111_777;

    #[test]
    fn etag_format() {
        let cases: &[((u64, u64, u64), &str)] = &[
            ((0x1f, 0xabc, 0x10), r#""1f-abc-10""#),
            ((0, 0, 0), r#""0-0-0""#),
            (
                (1, 1_700_000_000_123_456_789, 5 << 30),
                r#""1-17979cfe3d85cd15-140000000""#,
            ),
            (
                (u64::MAX, u64::MAX, u64::MAX),
                r#""ffffffffffffffff-ffffffffffffffff-ffffffffffffffff""#,
            ),
        ];
        for ((ino, mtime, size), want) in cases {
            let tag = ETag::from_parts(*ino, *mtime, *size);
            assert_eq!(tag.as_bytes(), want.as_bytes(), "{want}");
        }
        assert_eq!(
            ETag::from_parts(u64::MAX, u64::MAX, u64::MAX)
                .with_suffix(b"-lr")
                .with_suffix(b"-zst")
                .len as usize,
            ETAG_MAX
        );
        // What does not fit is cut, never written past the end.
        let full = ETag::from_parts(u64::MAX, u64::MAX, u64::MAX)
            .with_suffix(b"-lr-zst")
            .with_suffix(b"-more");
        assert!(full.as_bytes().ends_with(br#"-lr-zst""#));
        assert_eq!(
            ETag::from_parts(0x1f, 0xabc, 0x10)
                .with_suffix(b"-gz")
                .as_bytes(),
            br#""1f-abc-10-gz""#
        );
    }

    #[test]
    fn etag_of_file_metadata_changes_with_size_and_mtime() {
        let path = std::env::temp_dir().join(format!("mioserve-etag-{}", std::process::id()));
        std::fs::write(&path, b"one").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let first = ETag::of(&meta);
        let text = String::from_utf8(first.as_bytes().to_vec()).unwrap();
        let want_prefix = format!("\"{:x}-", meta.ino());
        assert!(
            text.starts_with(&want_prefix) && text.ends_with("-3\""),
            "{text}"
        );
        assert_eq!(
            ETag::of(&std::fs::metadata(&path).unwrap()),
            first,
            "stable"
        );
        std::fs::write(&path, b"four").unwrap();
        assert_ne!(ETag::of(&std::fs::metadata(&path).unwrap()), first);
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_secs(T))
            .unwrap();
        let before = ETag::of(&file.metadata().unwrap());
        file.set_modified(UNIX_EPOCH + Duration::new(T, 1)).unwrap();
        assert_ne!(
            ETag::of(&file.metadata().unwrap()),
            before,
            "nanoseconds count"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
