//! The HTML page of a listing: the top (title, breadcrumb, filter box, table head with sort
//! links, parent row), one row per entry, the bottom (counts, a link to the JSON form, the filter
//! script). Inline CSS and icons, nothing fetched from elsewhere, readable on a phone, in light and
//! dark. JavaScript only adds the filter box: without it the box stays hidden and the page works
//! the same. Writing to a `Vec` cannot fail, so `write!` results are ignored.
//!
//! Every row's class names its kind (folder, image, video, audio, text, archive, other), which the
//! style turns into an icon: an inline SVG used as a mask over the kind's colour, so one shape
//! serves both colour schemes.
//!
//! Cost per row: the name escaped twice (href and text), its type looked up by extension, the size
//! and time formatted; no allocation once the buffer has room.

use std::io::Write;

use super::entry::{Entry, Kind};
use super::escape::{push_encoded, push_html_name};
use super::options::{Options, Order, SortKey};
use crate::handler::mime;
use crate::http::calendar::{Civil, TimeStyle};
use crate::response::pages::page_style;

/// The page up to the first row: title, breadcrumb, table head with sort links, parent row.
pub(crate) fn top(out: &mut Vec<u8>, path: &[u8], options: Options) {
    document_head(out, path);
    let depth = breadcrumb(out, path);
    out.extend_from_slice(b"</h1>\n");
    if options.archives {
        // The whole folder in one file; `download` keeps a browser from trying to show it.
        out.extend_from_slice(
            b"<p class=\"dl\">Download this folder as <a href=\"?download=zip\" download>zip</a> \
              or <a href=\"?download=tar\" download>tar</a></p>\n",
        );
    }
    // Shown by the script at the bottom, once every row is there to filter.
    out.extend_from_slice(
        b"<input id=\"filter\" type=\"search\" placeholder=\"Filter names\" \
          aria-label=\"Filter names\" autocomplete=\"off\" spellcheck=\"false\" hidden>\
          <p id=\"shown\" aria-live=\"polite\" hidden></p>\n\
          <div class=\"box\"><table><thead><tr>",
    );
    sort_links(out, options);
    out.extend_from_slice(b"</tr></thead><tbody>\n");
    if depth > 0 {
        out.extend_from_slice(
            b"<tr class=\"up\"><td class=\"n\"><a href=\"../\">Parent folder</a></td>\
              <td class=\"s\"></td><td class=\"m\"></td></tr>\n",
        );
    }
}

/// From the doctype to the page's heading: the title names the folder, the style is inline.
fn document_head(out: &mut Vec<u8>, path: &[u8]) {
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
            icon_style!(),
            "#filter{display:block;width:100%;max-width:22rem;margin:0 0 .8rem;padding:.4rem .6rem;",
            "font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--line);",
            "border-radius:6px}#filter[hidden]{display:none}",
            "#shown{color:var(--mute);font-size:.85rem;margin:-.4rem 0 .8rem}",
            ".dl{margin:-.5rem 0 .75rem;font-size:.9rem}",
            "@media(max-width:36rem){main{padding:1rem .5rem}th,td{padding:.5rem}th.s{width:6rem}",
            ".m{display:none}}",
            "</style></head><body><main><h1>Index of ",
        )
        .as_bytes(),
    );
}

/// The heading's path, every ancestor a link; returns the folder's depth below the root.
fn breadcrumb(out: &mut Vec<u8>, path: &[u8]) -> usize {
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
    depth
}

/// The table's column heads, each a link that sorts by it.
fn sort_links(out: &mut Vec<u8>, options: Options) {
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
    out.extend_from_slice(b"<tr class=\"");
    out.push(icon_class(entry.kind, name));
    out.extend_from_slice(b"\"><td class=\"n\"><a href=\"");
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
    out.extend_from_slice(b"</footer></main><script>");
    out.extend_from_slice(FILTER_SCRIPT.as_bytes());
    out.extend_from_slice(b"</script>");
    if options.live_reload {
        out.extend_from_slice(crate::handler::live::TAG);
    }
    out.extend_from_slice(b"</body></html>\n");
}

/// Shows the filter box and hides the rows whose name does not contain what is typed (any case);
/// Escape clears it, `/` elsewhere on the page focuses it. Runs once, at the end of the page, so
/// every row is there.
const FILTER_SCRIPT: &str = concat!(
    "(function(){var f=document.getElementById('filter'),c=document.getElementById('shown'),",
    "r=document.querySelectorAll('tbody tr:not(.up)'),n=[],i;",
    "for(i=0;i<r.length;i++)n.push(r[i].querySelector('td.n a').textContent.toLowerCase());",
    "function run(){var q=f.value.trim().toLowerCase(),k=0;",
    "for(i=0;i<r.length;i++){var m=n[i].indexOf(q)>=0;r[i].hidden=!m;if(m)k++}",
    "c.hidden=!q;c.textContent=k+' of '+r.length+' shown'}",
    "f.addEventListener('input',run);",
    "f.addEventListener('keydown',function(e){if(e.key==='Escape'){f.value='';run()}});",
    "document.addEventListener('keydown',function(e){if(e.key==='/'&&e.target===document.body)",
    "{e.preventDefault();f.focus()}});f.hidden=false;if(f.value)run()})();",
);

/// The class, and so the icon, of an entry named `name`: `d` folder, `i` image, `v` video, `a`
/// audio, `t` text (and JSON, XML, scripts), `z` archive, `o` anything else.
fn icon_class(kind: Kind, name: &[u8]) -> u8 {
    match kind {
        Kind::Directory => return b'd',
        Kind::Other => return b'o',
        Kind::File => {}
    }
    let ext = name
        .iter()
        .rposition(|&b| b == b'.')
        .map_or(&[][..], |dot| &name[dot + 1..]);
    if ARCHIVES
        .iter()
        .any(|a| ext.eq_ignore_ascii_case(a.as_bytes()))
    {
        return b'z';
    }
    let (content_type, _) = mime::content_type(name);
    match content_type.mime.split('/').next() {
        Some("image") => b'i',
        Some("video") => b'v',
        Some("audio") => b'a',
        Some("text") => b't',
        _ if content_type.charset => b't',
        _ => b'o',
    }
}

/// Extensions shown as archives (their MIME types are spread over `application/*`).
const ARCHIVES: [&str; 16] = [
    "zip", "tar", "gz", "tgz", "bz2", "tbz2", "xz", "txz", "zst", "7z", "rar", "lz", "lzma", "jar",
    "deb", "rpm",
];

/// The icons: each kind's colour (light, then dark) and its 16x16 shape, painted through the
/// shape as a mask so the colour follows the scheme.
macro_rules! icon_style {
    () => {
        concat!(
            "tr:not(.up)>td.n>a::before{content:\"\";display:inline-block;width:1.1em;height:1.1em;",
            "margin-right:.5em;vertical-align:-.18em;background:var(--ic);",
            "-webkit-mask:var(--im) center/contain no-repeat;mask:var(--im) center/contain no-repeat}",
            ":root{--ic-d:#c69026;--ic-i:#8250df;--ic-v:#cf222e;--ic-a:#bf3989;--ic-t:#0969da;",
            "--ic-z:#9a6700;--ic-o:#6e7781}",
            "@media(prefers-color-scheme:dark){:root{--ic-d:#e3b341;--ic-i:#a371f7;--ic-v:#ff7b72;",
            "--ic-a:#db61a2;--ic-t:#4493f8;--ic-z:#d29922;--ic-o:#9198a1}}",
            "tr.d{--ic:var(--ic-d);--im:url(\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' ",
            "viewBox='0 0 16 16'%3E%3Cpath d='M1 2.5h5l1.5 1.5H15v9.5H1z'/%3E%3C/svg%3E\")}",
            "tr.i{--ic:var(--ic-i);--im:url(\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' ",
            "viewBox='0 0 16 16'%3E%3Cpath fill-rule='evenodd' d='M1 2.5h14v11H1zm1.5 1.5v8h11V4z",
            "M3.5 11l3-4 2 2.5 1.5-1.5 2.5 3z'/%3E%3Ccircle cx='11' cy='6.2' r='1.2'/%3E%3C/svg%3E\")}",
            "tr.v{--ic:var(--ic-v);--im:url(\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' ",
            "viewBox='0 0 16 16'%3E%3Cpath fill-rule='evenodd' d='M1 2.5h14v11H1zM6 5.5v5l4.5-2.5z'/%3E",
            "%3C/svg%3E\")}",
            "tr.a{--ic:var(--ic-a);--im:url(\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' ",
            "viewBox='0 0 16 16'%3E%3Cpath d='M6 3.2 14 1.5v9.3a2.2 2.2 0 1 1-1.5-2.1V4.3L7.5 5.4v7.4",
            "a2.2 2.2 0 1 1-1.5-2.1z'/%3E%3C/svg%3E\")}",
            "tr.t{--ic:var(--ic-t);--im:url(\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' ",
            "viewBox='0 0 16 16'%3E%3Cpath fill-rule='evenodd' d='M2.5 1h7L14 5.5V15H2.5zM5 7.5h6.5V9H5z",
            "m0 3h6.5V12H5z'/%3E%3C/svg%3E\")}",
            "tr.z{--ic:var(--ic-z);--im:url(\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' ",
            "viewBox='0 0 16 16'%3E%3Cpath fill-rule='evenodd' d='M2 1.5h12v13H2zM7 1.5v1.5h2V1.5z",
            "M7 4.5V6h2V4.5zM6.5 8h3v4h-3zm1 1.5v1.5h1V9.5z'/%3E%3C/svg%3E\")}",
            "tr.o{--ic:var(--ic-o);--im:url(\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' ",
            "viewBox='0 0 16 16'%3E%3Cpath d='M2.5 1h7L14 5.5V15H2.5z'/%3E%3C/svg%3E\")}",
        )
    };
}
use icon_style;

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
    fn icon_classes() {
        let file = |name: &str| icon_class(Kind::File, name.as_bytes()) as char;
        assert_eq!(icon_class(Kind::Directory, b"photos.png") as char, 'd');
        assert_eq!(icon_class(Kind::Other, b"fifo.txt") as char, 'o');
        for (name, class) in [
            ("a.png", 'i'),
            ("chart.SVG", 'i'),
            ("clip.webm", 'v'),
            ("film.mp4", 'v'),
            ("beep.wav", 'a'),
            ("song.mp3", 'a'),
            ("notes.txt", 't'),
            ("data.json", 't'),
            ("table.csv", 't'),
            ("app.js", 't'),
            ("README.md", 't'),
            ("bundle.zip", 'z'),
            ("src.tar.gz", 'z'),
            ("x.7z", 'z'),
            ("blob.bin", 'o'),
            ("Makefile", 'o'),
            ("doc.pdf", 'o'),
        ] {
            assert_eq!(file(name), class, "{name}");
        }
    }

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
