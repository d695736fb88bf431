//! The built-in pages: the style sheet they share with directory listings, and an error page per
//! status. Compiled into the binary whole by `concat!`: no allocation, no file read.

use crate::http::Status;

/// The style sheet shared by the built-in pages: error pages and directory listings. A macro
/// rather than a `const` so `concat!` can build whole pages at compile time. Light and dark
/// schemes, system fonts, no external assets.
macro_rules! page_style {
    () => {
        concat!(
            ":root{color-scheme:light dark;--fg:#1f2328;--mute:#59636e;--bg:#fff;--line:#d1d9e0;",
            "--head:#f6f8fa;--link:#0969da;--hover:#f6f8fa}",
            "@media(prefers-color-scheme:dark){:root{--fg:#e6edf3;--mute:#9198a1;--bg:#0d1117;",
            "--line:#3d444d;--head:#151b23;--link:#4493f8;--hover:#151b23}}",
            "*{box-sizing:border-box}",
            "body{margin:0;background:var(--bg);color:var(--fg);",
            "font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\",\"DejaVu Sans\",sans-serif}",
            "main{max-width:62rem;margin:0 auto;padding:1.5rem 1rem 2.5rem}",
            "a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}",
            "h1{font-size:1.3rem;font-weight:600;margin:0 0 1rem;overflow-wrap:anywhere}",
            "h1 .sep{color:var(--mute);padding:0 .1em}",
            "p{color:var(--mute)}",
            "footer{margin-top:1rem;color:var(--mute);font-size:.85rem}",
            "footer a{color:inherit;text-decoration:underline}",
            ".msg{max-width:40rem;padding-top:4rem}.msg h1{font-size:1.75rem;margin-bottom:.5rem}",
        )
    };
}
pub(crate) use page_style;

macro_rules! page {
    ($code:literal, $reason:literal, $message:literal) => {
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>",
            $code,
            " ",
            $reason,
            "</title><style>",
            page_style!(),
            "</style></head><body><main class=\"msg\"><h1>",
            $code,
            " ",
            $reason,
            "</h1><p>",
            $message,
            "</p><p><a href=\"/\">Go to the top folder</a></p>",
            "<footer>mioserve</footer></main></body></html>\n"
        )
        .as_bytes()
    };
}

/// The 400 page for a TLS handshake on the plain port: a browser pointed at `https://` shows
/// only its own TLS error, but `curl -v` or `openssl s_client` prints this.
pub const TLS_ON_PLAIN_PORT: &[u8] = page!(
    "400",
    "Bad Request",
    "This is a plain-HTTP server and the client tried to speak TLS (https://) to it. Use http:// in the address instead."
);

/// The built-in page for an error status: small, self-contained, and saying what went wrong.
pub fn error_page(status: Status) -> &'static [u8] {
    match status.code() {
        301 => page!(
            "301",
            "Moved Permanently",
            "This resource has moved; follow the Location header."
        ),
        400 => page!(
            "400",
            "Bad Request",
            "The server could not understand this request."
        ),
        401 => page!(
            "401",
            "Unauthorized",
            "This server asks for a user name and password."
        ),
        403 => page!(
            "403",
            "Forbidden",
            "You do not have permission to read this path."
        ),
        404 => page!("404", "Not Found", "Nothing is served at this path."),
        405 => page!(
            "405",
            "Method Not Allowed",
            "This server only reads files: use GET, HEAD or OPTIONS."
        ),
        408 => page!(
            "408",
            "Request Timeout",
            "The request did not arrive in time."
        ),
        412 => page!(
            "412",
            "Precondition Failed",
            "A condition in the request did not hold."
        ),
        413 => page!(
            "413",
            "Content Too Large",
            "The request body is larger than this server accepts."
        ),
        414 => page!(
            "414",
            "URI Too Long",
            "The request line is longer than this server accepts."
        ),
        416 => page!(
            "416",
            "Range Not Satisfiable",
            "The requested range lies outside the file."
        ),
        431 => page!(
            "431",
            "Request Header Fields Too Large",
            "The request head is larger than this server accepts."
        ),
        501 => page!(
            "501",
            "Not Implemented",
            "This server does not know the request method."
        ),
        503 => page!(
            "503",
            "Service Unavailable",
            "The server is out of resources; try again shortly."
        ),
        505 => page!(
            "505",
            "HTTP Version Not Supported",
            "This server speaks HTTP/1.0 and HTTP/1.1."
        ),
        _ => page!(
            "500",
            "Internal Server Error",
            "The server failed to answer this request."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_pages_name_their_status() {
        for code in [
            301, 400, 401, 403, 404, 405, 408, 412, 413, 414, 416, 431, 500, 501, 503, 505,
        ] {
            let status = Status(code);
            let page = std::str::from_utf8(error_page(status)).unwrap();
            let title = format!("<title>{} {}</title>", code, status.reason());
            assert!(page.contains(&title), "{code}: {page}");
        }
    }
}
