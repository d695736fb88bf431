//! The HTML page of a listing: the top (title, breadcrumb, table head with sort links, parent
//! row), one row per entry, the bottom (counts, a link to the JSON form). Inline CSS, no
//! JavaScript, readable on a phone. Writing to a `Vec` cannot fail, so `write!` results are
//! ignored.
//!
//! Cost per row: the name escaped twice (href and text), the size and time formatted; no
//! allocation once the buffer has room.

use std::io::Write;

use super::entry::{Entry, Kind};
use super::escape::{push_encoded, push_html_name};
use super::options::{Options, Order, SortKey};
use crate::http::calendar::{Civil, TimeStyle};
use crate::response::pages::page_style;

/// The page up to the first row: title, breadcrumb, table head with sort links, parent row.
pub(crate) fn top(out: &mut Vec<u8>, path: &[u8], options: Options) {
    out.extend_from_slice(
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<meta name=\"color-scheme\" content=\"light dark\">",
            // A folder icon inline, so browsers do not ask for /favicon.ico (a 404 in most
            // folders, logged as an error in the console).
            "<link rel=\"icon\" href=\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' ",
            "viewBox='0 0 16 16'%3E%3Cpath fill='%23e3a008' d='M1 3.5h5l1.5 1.5H15v8.5H1z'/%3E%3C/svg%3E\">",
            "<title>Index of /"
        )
        .as_bytes(),
    );
    for segment in segments(path) {
        push_html_name(out, segment);
        out.push(b'/');
    }
    out.extend_from_slice(
        concat!(
            "</title><style>",
            page_style!(),
            ".box{border:1px solid var(--line);border-radius:8px;overflow:hidden}",
            // Fixed layout: the columns keep their width while rows stream in, and the browser
            // need not measure every cell of a long listing.
            "table{width:100%;border-collapse:collapse;table-layout:fixed}",
            "th.s{width:7.5rem}th.m{width:11.5rem}",
            "th,td{padding:.4rem .8rem;text-align:left;vertical-align:top}",
            "td{border-top:1px solid var(--line)}",
            "thead th{background:var(--head);font-size:.8rem;font-weight:600;",
            "text-transform:uppercase;letter-spacing:.04em}",
            "th a{color:var(--mute)}th a.on{color:var(--fg)}",
            "td.n{overflow-wrap:anywhere}",
            "tr.d td.n a{font-weight:600}",
            ".s,.m{white-space:nowrap;font-variant-numeric:tabular-nums}",
            ".s{text-align:right}td.s,td.m{color:var(--mute)}",
            "tbody tr:hover{background:var(--hover)}",
            ".up a::before{content:\"\\2191\\00a0\"}",
            "@media(max-width:36rem){main{padding:1rem .5rem}th,td{padding:.5rem}th.s{width:6rem}",
            ".m{display:none}}",
            "</style></head><body><main><h1>Index of ",
        )
        .as_bytes(),
    );
    // Breadcrumb: every ancestor is a link; absolute hrefs, so a non-canonical request path
    // (`/a//b/`) cannot throw them off.
    let depth = segments(path).count();
    out.extend_from_slice(b"<a href=\"/\">/</a>");
    let mut href = b"/".to_vec();
    for (i, segment) in segments(path).enumerate() {
        push_encoded(&mut href, segment);
        href.push(b'/');
        if i + 1 == depth {
            out.extend_from_slice(b"<span>");
            push_html_name(out, segment);
            out.extend_from_slice(b"</span><span class=\"sep\">/</span>");
        } else {
            out.extend_from_slice(b"<a href=\"");
            out.extend_from_slice(&href);
            out.extend_from_slice(b"\">");
            push_html_name(out, segment);
            out.extend_from_slice(b"</a><span class=\"sep\">/</span>");
        }
    }
    out.extend_from_slice(b"</h1>\n<div class=\"box\"><table><thead><tr>");
    for (key, label, class) in [
        (SortKey::Name, "Name", "n"),
        (SortKey::Size, "Size", "s"),
        (SortKey::Modified, "Modified", "m"),
    ] {
        let on = options.sort == key;
        // The current column's link flips the order; the others start ascending.
        let order = match (on, options.order) {
            (true, Order::Asc) => "desc",
            _ => "asc",
        };
        let aria = match (on, options.order) {
            (false, _) => "",
            (true, Order::Asc) => " aria-sort=\"ascending\"",
            (true, Order::Desc) => " aria-sort=\"descending\"",
        };
        let arrow = match (on, options.order) {
            (false, _) => "",
            (true, Order::Asc) => " \u{25b2}",
            (true, Order::Desc) => " \u{25bc}",
        };
        let _ = write!(
            out,
            "<th class=\"{class}\"{aria}><a{} href=\"?sort={}&amp;order={order}\">{label}{arrow}</a></th>",
            if on { " class=\"on\"" } else { "" },
            key_name(key),
        );
    }
    out.extend_from_slice(b"</tr></thead><tbody>\n");
    if depth > 0 {
        out.extend_from_slice(
            b"<tr class=\"up\"><td class=\"n\"><a href=\"../\">Parent folder</a></td>\
              <td class=\"s\"></td><td class=\"m\"></td></tr>\n",
        );
    }
}

fn key_name(key: SortKey) -> &'static str {
    match key {
        SortKey::Name => "name",
        SortKey::Size => "size",
        SortKey::Modified => "modified",
    }
}

pub(crate) fn row(out: &mut Vec<u8>, entry: &Entry, name: &[u8]) {
    let dir = entry.kind == Kind::Directory;
    out.extend_from_slice(if dir {
        b"<tr class=\"d\"><td class=\"n\"><a href=\"".as_slice()
    } else {
        b"<tr><td class=\"n\"><a href=\"".as_slice()
    });
    // Relative href: the page's URL always ends in `/` (resolve redirects otherwise).
    push_encoded(out, name);
    if dir {
        out.push(b'/');
    }
    out.extend_from_slice(b"\">");
    push_html_name(out, name);
    if dir {
        out.push(b'/');
    }
    // End tags of cells and rows are implied (HTML §13.1.2.4) and left out: a big listing parses
    // noticeably faster with fewer tokens.
    out.extend_from_slice(b"</a>");
    if dir || !entry.known {
        out.extend_from_slice(b"<td class=\"s\">\xe2\x80\x94");
    } else {
        out.extend_from_slice(b"<td class=\"s\" title=\"");
        out.extend_from_slice(itoa::Buffer::new().format(entry.size).as_bytes());
        out.extend_from_slice(if entry.size == 1 {
            b" byte\">"
        } else {
            b" bytes\">"
        });
        push_human_size(out, entry.size);
    }
    if entry.known {
        let t = Civil::from_unix(entry.modified);
        out.extend_from_slice(b"<td class=\"m\" title=\"");
        t.push(out, TimeStyle::Seconds);
        out.extend_from_slice(b" UTC\">");
        t.push(out, TimeStyle::Minutes);
        out.push(b'\n');
    } else {
        out.extend_from_slice(b"<td class=\"m\">\xe2\x80\x94\n");
    }
}

pub(crate) fn bottom(out: &mut Vec<u8>, dirs: u64, files: u64, options: Options) {
    out.extend_from_slice(b"</tbody></table></div>\n<footer>");
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    let _ = write!(
        out,
        "{dirs} folder{}, {files} file{} \u{b7} <a href=\"?sort={}&amp;order={}&amp;format=json\">JSON</a> \u{b7} mioserve",
        plural(dirs),
        plural(files),
        key_name(options.sort),
        match options.order {
            Order::Asc => "asc",
            Order::Desc => "desc",
        },
    );
    out.extend_from_slice(b"</footer></main></body></html>\n");
}

/// The `/`-separated segments of a relative path (none for the root).
fn segments(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|s| !s.is_empty())
}

/// `532 B`, `1.5 KiB`, `12 MiB`: one decimal below 10 of a unit.
pub(crate) fn push_human_size(out: &mut Vec<u8>, size: u64) {
    if size < 1024 {
        let _ = write!(out, "{size} B");
        return;
    }
    let mut value = size as f64 / 1024.0;
    let mut unit = 0;
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value < 9.95 {
        let _ = write!(out, "{value:.1} {}", UNITS[unit]);
    } else {
        let _ = write!(out, "{value:.0} {}", UNITS[unit]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        let cases: &[(u64, &str)] = &[
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (10 * 1024, "10 KiB"),
            (1024 * 1024 - 1, "1024 KiB"),
            (5 * 1024 * 1024 * 1024, "5.0 GiB"),
            (u64::MAX, "16 EiB"),
        ];
        for (size, want) in cases {
            let mut out = Vec::new();
            push_human_size(&mut out, *size);
            assert_eq!(String::from_utf8(out).unwrap(), *want, "{size}");
        }
    }
}
