//! File name → `Content-Type`: `mime_guess` plus an override table for its known gaps, and the
//! charset policy (`; charset=utf-8` on textual types only). Returns `&'static str`; no allocation.

use crate::response::content_type::{ContentType, Source};

/// Extensions whose `mime_guess` answer is wrong or missing for the web (checked first).
const OVERRIDES: &[(&str, &str)] = &[
    // RFC 9239: JavaScript is text/javascript; mime_guess says application/javascript.
    ("js", "text/javascript"),
    ("mjs", "text/javascript"),
    ("cjs", "text/javascript"),
    ("wasm", "application/wasm"),
    // HLS segments and playlists; mime_guess maps .ts to TypeScript.
    ("ts", "video/mp2t"),
    ("m3u8", "application/vnd.apple.mpegurl"),
    ("webmanifest", "application/manifest+json"),
    ("md", "text/markdown"),
    ("markdown", "text/markdown"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
];

/// Fallback for files with no known type.
const OCTET_STREAM: &str = "application/octet-stream";

/// The content type for a file name (the last path segment; only its extension matters).
pub(crate) fn content_type(file_name: &[u8]) -> (ContentType, Source) {
    let ext = file_name
        .iter()
        .rposition(|&b| b == b'.')
        .filter(|&dot| dot > 0)
        .map(|dot| &file_name[dot + 1..])
        .and_then(|ext| std::str::from_utf8(ext).ok())
        .filter(|ext| !ext.is_empty());
    let Some(ext) = ext else {
        return (binary(OCTET_STREAM), Source::Unknown);
    };
    if let Some(&(_, mime)) = OVERRIDES.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)) {
        return (with_charset_policy(mime), Source::Override);
    }
    match mime_guess::from_ext(ext).first_raw() {
        Some(mime) => (with_charset_policy(mime), Source::Guess),
        None => (binary(OCTET_STREAM), Source::Unknown),
    }
}

/// Textual types get `; charset=utf-8`: text/*, JavaScript, JSON, XML and the `+json`/`+xml`
/// families (SVG, web manifests, Atom, …). Images, wasm and binaries never do.
fn with_charset_policy(mime: &'static str) -> ContentType {
    let charset = mime.starts_with("text/")
        || mime.ends_with("+xml")
        || mime.ends_with("+json")
        || matches!(
            mime,
            "application/javascript" | "application/json" | "application/xml"
        );
    ContentType { mime, charset }
}

fn binary(mime: &'static str) -> ContentType {
    ContentType {
        mime,
        charset: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_table() {
        let cases: &[(&str, &str, bool)] = &[
            // text gets a charset
            ("index.html", "text/html", true),
            ("style.css", "text/css", true),
            ("notes.txt", "text/plain", true),
            ("README.md", "text/markdown", true),
            // overrides
            ("app.js", "text/javascript", true),
            ("mod.mjs", "text/javascript", true),
            ("seg.ts", "video/mp2t", false),
            ("live.m3u8", "application/vnd.apple.mpegurl", false),
            ("site.webmanifest", "application/manifest+json", true),
            ("lib.wasm", "application/wasm", false),
            // structured text
            ("data.json", "application/json", true),
            ("logo.svg", "image/svg+xml", true),
            ("feed.xml", "text/xml", true),
            // binaries never get a charset
            ("photo.JPG", "image/jpeg", false),
            ("pic.png", "image/png", false),
            ("clip.mp4", "video/mp4", false),
            ("a.pdf", "application/pdf", false),
            // unknown
            ("blob.zzzunknown", "application/octet-stream", false),
            ("Makefile", "application/octet-stream", false),
            (".bashrc", "application/octet-stream", false),
        ];
        for (name, mime, charset) in cases {
            let (ct, _) = content_type(name.as_bytes());
            assert_eq!((ct.mime, ct.charset), (*mime, *charset), "{name}");
        }
    }

    #[test]
    fn reports_override_source() {
        assert_eq!(content_type(b"a.mjs").1, Source::Override);
        assert_eq!(content_type(b"a.html").1, Source::Guess);
        assert_eq!(content_type(b"a").1, Source::Unknown);
    }
}
