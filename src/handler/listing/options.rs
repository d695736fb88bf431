//! What a listing was asked for: the sort key, the order and the format, read from the query
//! (`?sort=…&order=…&format=…`) and the `Accept` field (RFC 9110 §12.5.1).
//!
//! Cost: one pass over the query and over `Accept`; no allocation.

use crate::response::content_type::ContentType;

/// What to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortKey {
    /// Natural order of names: `file2` before `file10`, letter case ignored.
    Name,
    /// Size in bytes, then name.
    Size,
    /// Modification time, then name.
    Modified,
}

/// Which way to sort. Folders come first either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Asc,
    Desc,
}

/// What to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Html,
    Json,
}

/// How a listing was asked for: `?sort=name|size|modified&order=asc|desc&format=html|json` and the
/// `Accept` field. Unknown keys and values are ignored, as a browser's stale bookmark should still
/// list something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) sort: SortKey,
    pub(crate) order: Order,
    pub(crate) format: Format,
    /// Offer the folder as tar and zip downloads (set from the site, not the request).
    pub(crate) archives: bool,
    /// Load live reload's script (set from the site and the request: a page load under
    /// `--live-reload`).
    pub(crate) live_reload: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sort: SortKey::Name,
            order: Order::Asc,
            format: Format::Html,
            archives: false,
            live_reload: false,
        }
    }
}

impl Options {
    /// Reads the query and `Accept`. `format` in the query wins over `Accept`; `Accept` picks JSON
    /// when it ranks `application/json` above `text/html` (or lists only JSON).
    pub(crate) fn from_request(query: Option<&str>, accept: Option<&[u8]>) -> Options {
        let mut options = Options::default();
        let mut format = None;
        for pair in query.unwrap_or("").split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match (key, value) {
                ("sort", "name") => options.sort = SortKey::Name,
                ("sort", "size") => options.sort = SortKey::Size,
                ("sort", "modified" | "mtime" | "time") => options.sort = SortKey::Modified,
                ("order", "asc") => options.order = Order::Asc,
                ("order", "desc") => options.order = Order::Desc,
                ("format", "html") => format = Some(Format::Html),
                ("format", "json") => format = Some(Format::Json),
                _ => {}
            }
        }
        options.format = format.unwrap_or_else(|| match accept {
            Some(accept) if prefers_json(accept) => Format::Json,
            _ => Format::Html,
        });
        options
    }

    /// The `Content-Type` of the listing.
    pub(crate) fn content_type(&self) -> ContentType {
        match self.format {
            Format::Html => ContentType::HTML,
            Format::Json => ContentType {
                mime: "application/json",
                charset: true,
            },
        }
    }
}

/// Whether `Accept` (RFC 9110 §12.5.1) gives `application/json` a higher weight than `text/html`.
/// Wildcards are not weighed: a browser's `*/*;q=0.8` and curl's `*/*` both keep HTML.
fn prefers_json(accept: &[u8]) -> bool {
    let Ok(accept) = std::str::from_utf8(accept) else {
        return false;
    };
    let (mut json, mut html) = (0u16, 0u16);
    for range in accept.split(',') {
        let mut params = range.split(';');
        let media = params.next().unwrap_or("").trim();
        let weight = params
            .filter_map(|p| p.trim().split_once('='))
            .find(|(name, _)| name.eq_ignore_ascii_case("q"))
            .map_or(1000, |(_, q)| qvalue(q.trim()));
        if media.eq_ignore_ascii_case("application/json") {
            json = json.max(weight);
        } else if media.eq_ignore_ascii_case("text/html") {
            html = html.max(weight);
        }
    }
    json > html
}

/// A qvalue (`0`, `0.5`, `1.000`) in thousandths; malformed ones count as 0.
fn qvalue(q: &str) -> u16 {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    let int = match int {
        "0" => 0,
        "1" => 1000,
        _ => return 0,
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let frac = frac.bytes().chain(std::iter::repeat(b'0')).take(3);
    let frac = frac.fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
    (int + frac).min(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_query_and_accept() {
        let o = |sort, order, format| Options {
            sort,
            order,
            format,
            archives: false,
            live_reload: false,
        };
        use Format::*;
        use Order::*;
        use SortKey::*;
        let cases: &[(Option<&str>, Option<&str>, Options)] = &[
            // defaults
            (None, None, o(Name, Asc, Html)),
            (Some(""), None, o(Name, Asc, Html)),
            // query
            (Some("sort=size&order=desc"), None, o(Size, Desc, Html)),
            (
                Some("order=desc&sort=modified"),
                None,
                o(Modified, Desc, Html),
            ),
            (Some("sort=mtime"), None, o(Modified, Asc, Html)),
            (Some("sort=bogus&order=up&x"), None, o(Name, Asc, Html)),
            (Some("format=json"), None, o(Name, Asc, Json)),
            // Accept
            (None, Some("application/json"), o(Name, Asc, Json)),
            (
                None,
                Some("text/html, application/json;q=0.9"),
                o(Name, Asc, Html),
            ),
            (
                None,
                Some("text/html;q=0.5, application/json"),
                o(Name, Asc, Json),
            ),
            (None, Some("application/json;q=0"), o(Name, Asc, Html)),
            (None, Some("*/*"), o(Name, Asc, Html)),
            (
                None,
                Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                o(Name, Asc, Html),
            ),
            // the query wins
            (
                Some("format=html"),
                Some("application/json"),
                o(Name, Asc, Html),
            ),
        ];
        for (query, accept, want) in cases {
            let got = Options::from_request(*query, accept.map(str::as_bytes));
            assert_eq!(got, *want, "{query:?} {accept:?}");
        }
    }

    #[test]
    fn qvalues() {
        for (q, want) in [
            ("1", 1000),
            ("1.0", 1000),
            ("0.5", 500),
            ("0.25", 250),
            ("0.001", 1),
            ("0", 0),
            ("0.1234", 0),
            ("2", 0),
            ("x", 0),
        ] {
            assert_eq!(qvalue(q), want, "{q}");
        }
    }
}
