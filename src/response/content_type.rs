//! The `Content-Type` a response carries, and where the server got it from.
//!
//! Cost: static strings; writing a value appends it to a buffer, no allocation once it has room.

/// A `Content-Type` value: a static MIME type and whether `; charset=utf-8` follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentType {
    pub mime: &'static str,
    pub charset: bool,
}

impl ContentType {
    /// `text/html; charset=utf-8`, used for built-in pages.
    pub(crate) const HTML: ContentType = ContentType {
        mime: "text/html",
        charset: true,
    };

    /// `text/plain; charset=utf-8`, for answers meant to be read as they are.
    pub(crate) const TEXT: ContentType = ContentType {
        mime: "text/plain",
        charset: true,
    };

    /// `multipart/byteranges`, the type of a multi-range 206; its boundary is
    /// [`ResponsePlan::boundary`].
    pub(crate) const MULTIPART_BYTERANGES: ContentType = ContentType {
        mime: "multipart/byteranges",
        charset: false,
    };

    /// Appends the value (without the field name) to `out`.
    pub(crate) fn write_value(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.mime.as_bytes());
        if self.charset {
            out.extend_from_slice(b"; charset=utf-8");
        }
    }
}

/// Whether the override table decided the type (for `--explain`-style reporting and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Override,
    Guess,
    Unknown,
}
