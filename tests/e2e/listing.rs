use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::util::*;

// ---------------------------------------------------------------------------------------------
// Helpers

/// `GET` with extra header lines (each ending in CRLF) on a new connection.
#[track_caller]
fn get_with(server: &TestServer, path: &str, headers: &str) -> Response {
    let mut client = server.connect();
    client.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n").as_bytes());
    client.response()
}

/// The rows of an HTML listing: (href, text with entities decoded), the parent row left out.
#[track_caller]
fn rows(html: &str) -> Vec<(String, String)> {
    let tbody = html
        .split_once("<tbody>")
        .and_then(|(_, rest)| rest.split_once("</tbody>"))
        .unwrap_or_else(|| panic!("no table body in {html}"))
        .0;
    tbody
        .split("<td class=\"n\"><a href=\"")
        .skip(1)
        .filter_map(|cell| {
            let (href, rest) = cell.split_once("\">").expect("href ends");
            let text = rest.split_once("</a>").expect("link ends").0;
            (href != "../").then(|| (href.to_string(), unescape(text)))
        })
        .collect()
}

/// Decodes the five entities the listing writes. `&amp;` goes last, so text escaped twice would
/// come out still escaped and fail the comparison.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The names of a JSON listing, in order.
#[track_caller]
fn json_names(response: &Response) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", response.text()));
    value
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|v| v["name"].as_str().expect("name").to_string())
        .collect()
}

/// Splits a raw response into head and body at the blank line.
#[track_caller]
fn split_raw(raw: &[u8]) -> (String, &[u8]) {
    let end = find(raw, b"\r\n\r\n").expect("a complete head") + 4;
    (
        String::from_utf8_lossy(&raw[..end]).into_owned(),
        &raw[end..],
    )
}

/// Parses a chunked body strictly: every size line is lowercase hex without leading zeros or
/// extensions, every chunk is followed by CRLF, the last chunk is `0\r\n\r\n` and nothing follows.
/// Returns the chunks' data.
#[track_caller]
fn strict_chunks(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut rest = raw;
    loop {
        let line_end = find(rest, b"\r\n").expect("chunk size line ends with CRLF");
        let line = std::str::from_utf8(&rest[..line_end]).expect("ASCII size line");
        let size = usize::from_str_radix(line, 16).expect("hex size");
        rest = &rest[line_end + 2..];
        if size == 0 {
            assert_eq!(
                rest, b"\r\n",
                "the last chunk ends the body with an empty trailer"
            );
            break;
        }
        assert!(rest.len() >= size + 2, "truncated chunk");
        chunks.push(rest[..size].to_vec());
        assert_eq!(&rest[size..size + 2], b"\r\n", "chunk data ends with CRLF");
        rest = &rest[size + 2..];
    }
    // Re-encoding must give the bytes back exactly: lowercase hex, no leading zeros, no extras.
    let mut again = Vec::new();
    for chunk in &chunks {
        again.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        again.extend_from_slice(chunk);
        again.extend_from_slice(b"\r\n");
    }
    again.extend_from_slice(b"0\r\n\r\n");
    assert!(again == raw, "chunk framing is not canonical");
    chunks
}

fn many_files(root: &Path, count: usize) {
    for i in 0..count {
        fs::write(
            root.join(format!("file-{i:05}-with-a-longish-name.txt")),
            "x",
        )
        .unwrap();
    }
}

fn set_mtime(path: &Path, secs: u64) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Framing: chunked for HTTP/1.1, close-delimited for HTTP/1.0, nothing for HEAD

#[test]
fn chunked_framing_is_byte_exact_and_matches_the_http10_body() {
    let server = TestServer::with(|root| many_files(root, 2000), |_| {});

    let mut client = server.connect();
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let raw = client.read_to_close();
    let (head, body) = split_raw(&raw);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    assert!(!head.contains("Content-Length"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: text/html; charset=utf-8\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nVary: Accept, Accept-Encoding\r\n"),
        "{head}"
    );
    let chunks = strict_chunks(body);
    assert!(chunks.len() > 10, "a big listing goes out in many chunks");
    assert!(
        chunks.iter().all(|c| !c.is_empty() && c.len() <= 16 * 1024),
        "chunk sizes: {:?}",
        chunks.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let decoded: Vec<u8> = chunks.concat();

    let mut client = server.connect();
    client.send(b"GET / HTTP/1.0\r\n\r\n");
    let raw10 = client.read_to_close();
    let (head10, body10) = split_raw(&raw10);
    assert!(head10.contains("\r\nConnection: close\r\n"), "{head10}");
    assert!(!head10.contains("Transfer-Encoding"), "{head10}");
    assert!(!head10.contains("Content-Length"), "{head10}");
    assert!(decoded == body10, "the same listing whichever the framing");
    let html = String::from_utf8(decoded).unwrap();
    assert!(html.ends_with("</html>\n"));
    assert_eq!(rows(&html).len(), 2000);
}

#[test]
fn small_listing_is_framed_exactly() {
    let server = TestServer::with(|root| fs::write(root.join("a.txt"), "a").unwrap(), |_| {});
    let mut client = server.connect();
    client.send(b"GET /?format=json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let raw = client.read_to_close();
    let (_, body) = split_raw(&raw);
    let chunks = strict_chunks(body);
    let json = String::from_utf8(chunks.concat()).unwrap();
    assert!(json.starts_with("[\n{\"name\":\"a.txt\",\"type\":\"file\",\"size\":1,"));
    // One chunk per piece: the opening bracket, the rows, the closing bracket.
    assert_eq!(chunks.len(), 3, "{chunks:?}");
    let mut want = b"1\r\n[\r\n".to_vec();
    want.extend_from_slice(format!("{:x}\r\n", chunks[1].len()).as_bytes());
    want.extend_from_slice(&chunks[1]);
    want.extend_from_slice(b"\r\n2\r\n]\n\r\n0\r\n\r\n");
    assert_eq!(
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn listing_keeps_the_connection_for_the_next_request() {
    let server = TestServer::with(
        |root| {
            many_files(root, 300);
            fs::write(root.join("a.txt"), "hello\n").unwrap();
        },
        |_| {},
    );
    let mut client = server.connect();
    // Pipelined: a listing, a HEAD of the listing, then a file, on one connection.
    client.send(
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\nHEAD / HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let listing = client.response();
    listing.assert_status(200);
    assert_eq!(rows(&listing.text()).len(), 301);
    let head = client.head_response();
    head.assert_status(200);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        head.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let file = client.response();
    file.assert_status(200);
    assert_eq!(file.text(), "hello\n", "HEAD must have sent no body");
}

#[test]
fn http10_head_of_a_listing_sends_headers_only() {
    let server = TestServer::with(|root| many_files(root, 10), |_| {});
    let mut client = server.connect();
    client.send(b"HEAD / HTTP/1.0\r\n\r\n");
    let raw = client.read_to_close();
    let (head, body) = split_raw(&raw);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert!(body.is_empty(), "{:?}", String::from_utf8_lossy(body));
}

// ---------------------------------------------------------------------------------------------
// Names: HTML-escaped once, percent-encoded once, every one reachable

/// Names that break naive escaping or encoding, with the content each file gets.
fn hostile_names() -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = [
        "with space.txt",
        "100%.txt",
        "100%25.txt",
        "hash#tag.txt",
        "what?.txt",
        "a&b=c;d.txt",
        "quote\"d.txt",
        "it's.txt",
        "<img src=x onerror=alert(1)>.txt",
        "[brackets].txt",
        "{curly}|pipe^caret`tick`.txt",
        "colon:name.txt",
        "plus+sign.txt",
        "back\\slash.txt",
        "line\nbreak.txt",
        "tab\there.txt",
        "café ☕.txt",
        "日本語.txt",
        "emoji-😀.txt",
        "&amp;.txt",
        "%2e%2e.txt",
        "~tilde-.txt",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    names.push(b"latin1-\xe9t\xe9.txt".to_vec());
    names
}

#[test]
fn hostile_names_round_trip_from_listing_to_file() {
    let server = TestServer::with(
        |root| {
            for (i, name) in hostile_names().iter().enumerate() {
                fs::write(root.join(OsStr::from_bytes(name)), format!("content {i}")).unwrap();
            }
            let dir = root.join("Ünïcødé & <dir> #1");
            fs::create_dir(&dir).unwrap();
            fs::write(dir.join("in?side 50%.txt"), "nested").unwrap();
        },
        |_| {},
    );
    let listing = server.get("/");
    listing.assert_status(200);
    let html = listing.text();
    assert!(!html.contains("<img"), "names must be escaped");
    let rows = rows(&html);
    assert_eq!(rows.len(), hostile_names().len() + 1, "{rows:#?}");

    for (i, name) in hostile_names().iter().enumerate() {
        let shown = String::from_utf8_lossy(name).into_owned();
        let (href, _) = rows
            .iter()
            .find(|(_, text)| *text == shown)
            .unwrap_or_else(|| panic!("{shown:?} not listed as itself: {rows:#?}"));
        assert!(
            href.bytes().all(|b| b.is_ascii_graphic() && b != b'"'),
            "href {href:?} must be plain ASCII"
        );
        let decoded: Vec<u8> = percent_encoding::percent_decode(href.as_bytes()).collect();
        assert_eq!(&decoded, name, "href {href:?} decodes once to the name");
        let file = server.get(&format!("/{href}"));
        file.assert_status(200);
        assert_eq!(file.text(), format!("content {i}"), "{shown:?} via {href}");
    }

    // Into the folder, then to the file inside it.
    let (dir_href, _) = rows
        .iter()
        .find(|(_, text)| text == "Ünïcødé & <dir> #1/")
        .expect("folder listed with a trailing slash");
    assert!(dir_href.ends_with('/'));
    let inner = server.get(&format!("/{dir_href}"));
    inner.assert_status(200);
    let inner_html = inner.text();
    assert!(
        inner_html
            .contains("Index of <a href=\"/\">/</a><span>Ünïcødé &amp; &lt;dir&gt; #1</span>")
    );
    assert!(inner_html.contains("<a href=\"../\">Parent folder</a>"));
    let inner_rows = self::rows(&inner_html);
    assert_eq!(inner_rows.len(), 1);
    let file = server.get(&format!("/{dir_href}{}", inner_rows[0].0));
    file.assert_status(200);
    assert_eq!(file.text(), "nested");
}

#[test]
fn breadcrumb_links_every_ancestor() {
    let server = TestServer::with(
        |root| fs::create_dir_all(root.join("a b/c&d/e")).unwrap(),
        |_| {},
    );
    let html = server.get("/a%20b/c%26d/e/").text();
    assert!(
        html.contains(
            "<h1>Index of <a href=\"/\">/</a><a href=\"/a%20b/\">a b</a><span class=\"sep\">/</span>\
             <a href=\"/a%20b/c%26d/\">c&amp;d</a><span class=\"sep\">/</span>\
             <span>e</span><span class=\"sep\">/</span></h1>"
        ),
        "{html}"
    );
    assert!(html.contains("<title>Index of /a b/c&amp;d/e/</title>"));
    let root = server.get("/").text();
    assert!(
        !root.contains("Parent folder"),
        "no parent link at the root"
    );
    // A folder without its slash is redirected first, so relative hrefs always work.
    let redirect = server.get("/a%20b");
    redirect.assert_status(301);
    assert_eq!(redirect.header("location"), Some("/a%20b/"));
}

// ---------------------------------------------------------------------------------------------
// JSON and sorting

#[test]
fn json_listing_by_query_or_accept() {
    let server = TestServer::with(
        |root| {
            fs::write(root.join("b.txt"), "12345").unwrap();
            set_mtime(&root.join("b.txt"), 1_700_000_000);
            fs::create_dir(root.join("dir")).unwrap();
            fs::write(root.join(OsStr::from_bytes(b"q\"\\\n\xff")), "").unwrap();
        },
        |_| {},
    );
    for response in [
        server.get("/?format=json"),
        get_with(&server, "/", "Accept: application/json\r\n"),
    ] {
        response.assert_status(200);
        assert_eq!(
            response.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(response.header("vary"), Some("Accept, Accept-Encoding"));
        let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        let want = serde_json::json!([
            {"name": "dir", "type": "directory", "size": null,
             "modified": value[0]["modified"], "href": "dir/"},
            {"name": "b.txt", "type": "file", "size": 5,
             "modified": "2023-11-14T22:13:20Z", "href": "b.txt"},
            {"name": "q\"\\\n\u{fffd}", "type": "file", "size": 0,
             "modified": value[2]["modified"], "href": "q%22%5C%0A%FF"},
        ]);
        assert_eq!(value, want, "{}", response.text());
        assert!(value[0]["modified"].as_str().unwrap().ends_with('Z'));
    }
    // A browser's Accept keeps HTML.
    let html = get_with(
        &server,
        "/",
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n",
    );
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn sort_orders() {
    let server = TestServer::with(
        |root| {
            // (name, size, mtime)
            for (name, size, mtime) in [
                ("file10", 5, 300),
                ("file2", 30, 100),
                ("File1", 20, 200),
                ("apple", 10, 400),
            ] {
                fs::write(root.join(name), "x".repeat(size)).unwrap();
                set_mtime(&root.join(name), mtime);
            }
            fs::create_dir(root.join("zdir")).unwrap();
            fs::create_dir(root.join("Adir")).unwrap();
        },
        |_| {},
    );
    let order = |query: &str| json_names(&server.get(&format!("/?format=json&{query}"))).join(" ");
    assert_eq!(order(""), "Adir zdir apple File1 file2 file10");
    assert_eq!(
        order("sort=name&order=asc"),
        "Adir zdir apple File1 file2 file10"
    );
    assert_eq!(
        order("sort=name&order=desc"),
        "zdir Adir file10 file2 File1 apple"
    );
    assert_eq!(order("sort=size"), "Adir zdir file10 apple File1 file2");
    assert_eq!(
        order("sort=size&order=desc"),
        "zdir Adir file2 File1 apple file10"
    );
    assert_eq!(order("sort=modified"), "Adir zdir file2 File1 file10 apple");
    assert_eq!(
        order("sort=modified&order=desc"),
        "zdir Adir apple file10 File1 file2"
    );

    // The HTML page sorts the same and its headers link to the other orders.
    let html = server.get("/?sort=size&order=desc").text();
    let names: Vec<String> = rows(&html).into_iter().map(|(_, text)| text).collect();
    assert_eq!(names.join(" "), "zdir/ Adir/ file2 File1 apple file10");
    assert!(html.contains(
        "<th class=\"s\" aria-sort=\"descending\"><a class=\"on\" href=\"?sort=size&amp;order=asc\">Size \u{25bc}</a></th>"
    ));
    assert!(html.contains("<a href=\"?sort=name&amp;order=asc\">Name</a>"));
    assert!(html.contains("<a href=\"?sort=modified&amp;order=asc\">Modified</a>"));
    assert!(html.contains("<td class=\"s\" title=\"30 bytes\">30 B<td class=\"m\" title=\""));
    assert!(html.contains("2 folders, 4 files"));
}

#[test]
fn natural_order_over_many_runs() {
    // More entries than one sorted run holds, so the merge of runs is what orders them.
    let server = TestServer::with(
        |root| {
            for i in (0..2500).rev() {
                fs::write(root.join(format!("n{i}")), "").unwrap();
            }
        },
        |_| {},
    );
    let names = json_names(&server.get("/?format=json"));
    let want: Vec<String> = (0..2500).map(|i| format!("n{i}")).collect();
    assert!(names == want, "natural order across runs");
    let names = json_names(&server.get("/?format=json&order=desc"));
    let want: Vec<String> = (0..2500).rev().map(|i| format!("n{i}")).collect();
    assert!(names == want, "descending natural order across runs");
}

// ---------------------------------------------------------------------------------------------
// Policy: dotfiles, symlinks, unreadable entries, --no-listing

#[test]
fn dotfiles_are_neither_listed_nor_served_unless_hidden() {
    let setup = |root: &Path| {
        fs::write(root.join(".env"), "SECRET=1").unwrap();
        fs::create_dir(root.join(".git")).unwrap();
        fs::write(root.join(".git/config"), "[core]").unwrap();
        fs::write(root.join("visible.txt"), "v").unwrap();
    };
    let server = TestServer::with(setup, |_| {});
    assert_eq!(json_names(&server.get("/?format=json")), ["visible.txt"]);
    server.get("/.env").assert_status(404);
    server.get("/.git/config").assert_status(404);
    server.get("/.git/").assert_status(404);

    let server = TestServer::with(setup, |config| config.hidden = true);
    assert_eq!(
        json_names(&server.get("/?format=json")),
        [".git", ".env", "visible.txt"]
    );
    assert_eq!(server.get("/.env").text(), "SECRET=1");
    assert_eq!(json_names(&server.get("/.git/?format=json")), ["config"]);
}

#[test]
fn symlinks_inside_are_followed_and_outside_are_hidden() {
    let server = TestServer::with(
        |root| {
            fs::write(root.join("real.txt"), "real").unwrap();
            fs::create_dir(root.join("dir")).unwrap();
            fs::write(root.join("dir/inner.txt"), "inner").unwrap();
            symlink("real.txt", root.join("link-file")).unwrap();
            symlink("dir", root.join("link-dir")).unwrap();
            symlink("../real.txt", root.join("dir/up-link")).unwrap();
            symlink(root.join("real.txt"), root.join("absolute-inside")).unwrap();
            symlink("../secret.txt", root.join("escape-relative")).unwrap();
            symlink(
                root.parent().unwrap().join("secret.txt"),
                root.join("escape-absolute"),
            )
            .unwrap();
            symlink("/etc", root.join("escape-etc")).unwrap();
            symlink("missing", root.join("dangling")).unwrap();
            symlink("loop", root.join("loop")).unwrap();
        },
        |_| {},
    );
    assert_eq!(
        json_names(&server.get("/?format=json")),
        [
            "dir",
            "link-dir",
            "absolute-inside",
            "link-file",
            "real.txt"
        ]
    );
    let listing: serde_json::Value =
        serde_json::from_slice(&server.get("/?format=json").body).unwrap();
    assert_eq!(
        listing[1]["type"], "directory",
        "a link to a folder lists as one"
    );
    assert_eq!(listing[3]["size"], 4, "a link lists its target's size");
    assert_eq!(server.get("/link-file").text(), "real");
    assert_eq!(server.get("/absolute-inside").text(), "real");
    assert_eq!(server.get("/link-dir/inner.txt").text(), "inner");
    assert_eq!(server.get("/dir/up-link").text(), "real");
    assert_eq!(
        json_names(&server.get("/link-dir/?format=json")),
        ["inner.txt", "up-link"]
    );
    for path in [
        "/escape-relative",
        "/escape-absolute",
        "/escape-etc/passwd",
        "/escape-etc/",
        "/dangling",
        "/loop",
    ] {
        let response = server.get(path);
        response.assert_status(404);
        assert!(!response.text().contains(SECRET), "{path}");
    }
}

#[test]
fn no_listing_answers_403() {
    let server = TestServer::with(
        |root| {
            fs::create_dir(root.join("site")).unwrap();
            fs::write(root.join("site/index.html"), "index").unwrap();
        },
        |config| config.listing = false,
    );
    let response = server.get("/");
    response.assert_status(403);
    assert!(response.text().contains("403 Forbidden"));
    assert_eq!(
        server.get("/site/").text(),
        "index",
        "an index is still served"
    );
}

/// The built binary serving `root` with `args`, as an unprivileged user when the tests run as
/// root (so that mode 000 really means unreadable: through `setpriv`, so Linux only). Killed on
/// drop.
#[cfg(target_os = "linux")]
struct Process {
    child: Child,
    port: u16,
}

#[cfg(target_os = "linux")]
impl Process {
    fn start(root: &Path, args: &[&str]) -> Process {
        // MIOSERVE_BIN runs another build (a release one, to measure).
        let bin = std::env::var_os("MIOSERVE_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_mioserve").into());
        let mut command = if rustix::process::geteuid().is_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
            c.arg(bin);
            c
        } else {
            Command::new(bin)
        };
        let mut child = command
            .arg(root)
            .args(["-p", "0", "-q"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mioserve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("first line of stdout");
        let port = line
            .trim_end()
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Process { child, port }
    }

    #[track_caller]
    fn get(&self, path: &str) -> Response {
        let mut client = Client::connect(([127, 0, 0, 1], self.port).into());
        client.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        client.response()
    }

    /// Resident and peak resident memory in KiB, from /proc.
    fn memory_kib(&self) -> (u64, u64) {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {status}"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

#[cfg(target_os = "linux")]
impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(target_os = "linux")]
#[test]
fn unreadable_entries_are_listed_but_forbidden() {
    let dir = TempDir::new();
    let root = dir.path().join("root");
    fs::write(root.join("open.txt"), "open").unwrap();
    fs::write(root.join("locked.txt"), "locked").unwrap();
    fs::set_permissions(root.join("locked.txt"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::create_dir(root.join("locked-dir")).unwrap();
    fs::set_permissions(root.join("locked-dir"), fs::Permissions::from_mode(0o000)).unwrap();
    // Readable but not searchable: whether it has an index.html cannot be known, so 403.
    fs::create_dir(root.join("names-only")).unwrap();
    fs::write(root.join("names-only/a.txt"), "a").unwrap();
    fs::set_permissions(root.join("names-only"), fs::Permissions::from_mode(0o444)).unwrap();
    let server = Process::start(&root, &[]);

    let listing = server.get("/?format=json");
    listing.assert_status(200);
    let value: serde_json::Value = serde_json::from_slice(&listing.body).unwrap();
    let names: Vec<&str> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["locked-dir", "names-only", "locked.txt", "open.txt"]
    );
    assert_eq!(
        value[2]["size"], 6,
        "an unreadable file still shows its size"
    );
    server.get("/locked.txt").assert_status(403);
    server.get("/locked-dir/").assert_status(403);
    assert_eq!(server.get("/open.txt").text(), "open");

    server.get("/names-only/").assert_status(403);
    server.get("/names-only/a.txt").assert_status(403);
}

#[cfg(target_os = "linux")]
#[test]
fn no_listing_flag_on_the_command_line() {
    let dir = TempDir::new();
    let root = dir.path().join("root");
    fs::write(root.join("a.txt"), "a").unwrap();
    let server = Process::start(&root, &["--no-listing"]);
    server.get("/").assert_status(403);
    assert_eq!(server.get("/a.txt").text(), "a");
}

// ---------------------------------------------------------------------------------------------
// MIME types and error pages

#[test]
fn mime_types_on_the_wire() {
    let cases: &[(&str, &str)] = &[
        ("index.htm", "text/html; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("mod.mjs", "text/javascript; charset=utf-8"),
        ("data.json", "application/json; charset=utf-8"),
        ("logo.svg", "image/svg+xml; charset=utf-8"),
        ("README.md", "text/markdown; charset=utf-8"),
        ("lib.wasm", "application/wasm"),
        ("seg.ts", "video/mp2t"),
        ("live.m3u8", "application/vnd.apple.mpegurl"),
        (
            "site.webmanifest",
            "application/manifest+json; charset=utf-8",
        ),
        ("pic.png", "image/png"),
        ("PHOTO.JPG", "image/jpeg"),
        ("blob.unknownext", "application/octet-stream"),
        ("Makefile", "application/octet-stream"),
    ];
    let server = TestServer::with(
        |root| {
            for (name, _) in cases {
                fs::write(root.join(name), "x").unwrap();
            }
        },
        |_| {},
    );
    for (name, want) in cases {
        let response = server.get(&format!("/{name}"));
        response.assert_status(200);
        assert_eq!(response.header("content-type"), Some(*want), "{name}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    }
    for response in [server.get("/"), server.get("/missing")] {
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    }
}

#[test]
fn root_404_html_is_the_body_of_404s() {
    let page = "<!DOCTYPE html><title>Lost</title><p>Custom not found</p>\n";
    let server = TestServer::with(
        |root| {
            fs::write(root.join("404.html"), page).unwrap();
            fs::write(root.join(".hidden"), "h").unwrap();
        },
        |_| {},
    );
    for path in ["/missing", "/a/b/c.txt", "/.hidden"] {
        let response = server.get(path);
        response.assert_status(404);
        assert_eq!(response.text(), page, "{path}");
        assert_eq!(
            response.header("content-type"),
            Some("text/html; charset=utf-8")
        );
    }
    let mut client = server.connect();
    client.send(
        b"HEAD /missing HTTP/1.1\r\nHost: t\r\n\r\nGET /404.html HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let head = client.head_response();
    head.assert_status(404);
    assert_eq!(
        head.header("content-length"),
        Some(page.len().to_string().as_str())
    );
    let direct = client.response();
    direct.assert_status(200);
    assert_eq!(direct.text(), page);
    // Other errors keep the built-in pages.
    server.get("/../x").assert_status(400);
}

#[test]
fn built_in_error_pages_say_what_went_wrong() {
    let server = TestServer::start();
    let response = server.get("/missing");
    response.assert_status(404);
    let html = response.text();
    assert!(html.contains("<title>404 Not Found</title>"), "{html}");
    assert!(html.contains("Nothing is served at this path."));
    assert!(
        html.contains("prefers-color-scheme:dark"),
        "styled like the listing"
    );
}

// ---------------------------------------------------------------------------------------------
// A file that grows while it is sent

#[test]
fn a_growing_file_is_cut_at_its_announced_length() {
    let len = 8 * 1024 * 1024;
    let server = TestServer::with(
        |root| {
            fs::write(root.join("grow.bin"), vec![b'a'; len]).unwrap();
            fs::write(root.join("b.txt"), "next").unwrap();
        },
        |_| {},
    );
    let mut client = server.connect();
    client.send(b"GET /grow.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    // Read a little so the head has arrived, then grow the file while the rest is in flight.
    let mut first = [0u8; 1024];
    client.stream.read_exact(&mut first).unwrap();
    fs::OpenOptions::new()
        .append(true)
        .open(server.root().join("grow.bin"))
        .unwrap()
        .write_all_bytes(&vec![b'Z'; 1024 * 1024]);
    let mut rest = Vec::new();
    let head_end = find(&first, b"\r\n\r\n").unwrap() + 4;
    let want_total = head_end + len;
    rest.extend_from_slice(&first);
    let mut buf = vec![0u8; 256 * 1024];
    while rest.len() < want_total {
        let n = client.stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed early");
        rest.extend_from_slice(&buf[..n]);
    }
    assert_eq!(rest.len(), want_total, "no byte past the Content-Length");
    assert!(rest[head_end..].iter().all(|&b| b == b'a'));
    // The connection is still in step: the next response parses.
    client.send(b"GET /b.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response().text(), "next");
}

trait WriteAllBytes {
    fn write_all_bytes(self, bytes: &[u8]);
}

impl WriteAllBytes for File {
    fn write_all_bytes(mut self, bytes: &[u8]) {
        std::io::Write::write_all(&mut self, bytes).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// 100,000 entries: bounded memory, other clients still served

/// Reads memory from `/proc`.
#[cfg(target_os = "linux")]
#[test]
fn hundred_thousand_entries_stream_in_bounded_memory_without_stalling_others() {
    const ENTRIES: usize = 100_000;
    let _alone = run_alone();
    let dir = TempDir::new();
    let root = dir.path().join("root");
    fs::write(root.join("small.txt"), "small").unwrap();
    let big = root.join("big");
    fs::create_dir(&big).unwrap();
    for i in 0..ENTRIES {
        File::create(big.join(format!("entry-{i:06}.dat"))).unwrap();
    }
    let server = Process::start(&root, &[]);
    // Warm up: the first requests grow the buffer pool and fault in the code.
    assert_eq!(server.get("/small.txt").text(), "small");
    let _ = server.get("/");
    let (idle_kib, _) = server.memory_kib();

    let port = server.port;
    let lister = std::thread::spawn(move || {
        let started = Instant::now();
        let mut client = Client::connect(([127, 0, 0, 1], port).into());
        client.send(b"GET /big/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let raw = client.read_to_close();
        (raw, started.elapsed())
    });
    // Meanwhile, small GETs on a kept-alive connection, timed one by one.
    let mut client = Client::connect(([127, 0, 0, 1], port).into());
    let mut latencies = Vec::new();
    let mut peak_rss = 0;
    while !lister.is_finished() {
        let start = Instant::now();
        client.send(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        let response = client.response();
        latencies.push(start.elapsed());
        assert_eq!(response.text(), "small");
        peak_rss = peak_rss.max(server.memory_kib().0);
        std::thread::sleep(Duration::from_millis(5));
    }
    let (raw, took) = lister.join().unwrap();
    let (_, peak_hwm) = server.memory_kib();
    let (head, body) = split_raw(&raw);
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    let html = String::from_utf8(strict_chunks(body).concat()).unwrap();
    assert!(html.contains("0 folders, 100000 files"));
    assert_eq!(
        html.matches("\"><td class=\"n\"><a href=\"entry-").count(),
        ENTRIES
    );

    latencies.sort();
    let worst = latencies.last().copied().unwrap_or_default();
    eprintln!(
        "100k listing: {} bytes in {took:?}; idle RSS {idle_kib} KiB, peak RSS during listing \
         {peak_rss} KiB (VmHWM {peak_hwm} KiB); {} small GETs meanwhile, median {:?}, slowest \
         {worst:?}",
        html.len(),
        latencies.len(),
        latencies
            .get(latencies.len() / 2)
            .copied()
            .unwrap_or_default(),
    );
    assert!(
        latencies.len() >= 5,
        "the listing ended too soon to measure"
    );
    assert!(
        peak_hwm.saturating_sub(idle_kib) < 8 * 1024,
        "memory grew from {idle_kib} KiB to {peak_hwm} KiB"
    );
    // Over TLS the test's client, in the same debug process, also decrypts the 17 MB page.
    let bound = Duration::from_millis(if OVER_TLS { 100 } else { 50 });
    assert!(worst < bound, "a small GET took {worst:?}");
}

#[test]
fn listings_say_they_must_be_revalidated_and_carry_no_validator() {
    let server = TestServer::with(
        |root| write_file(root, "dir/a.txt", "a"),
        |config| config.cache_control = Some("public, max-age=3600".into()),
    );
    for (path, headers) in [
        ("/dir/", ""),
        ("/dir/?format=json", ""),
        ("/dir/?sort=size&order=desc", ""),
        ("/dir/", "Accept: application/json\r\n"),
    ] {
        let response = get_with(&server, path, headers);
        response.assert_status(200);
        // no-cache whatever --cache-control says of files: no heuristic freshness (RFC 9111
        // §4.2.2), and no ETag or Last-Modified that could not cover every entry shown.
        response.assert_header("cache-control", Some("no-cache"));
        response.assert_header("etag", None);
        response.assert_header("last-modified", None);
    }
    // Files still follow --cache-control.
    server
        .get("/dir/a.txt")
        .assert_header("cache-control", Some("public, max-age=3600"));
}
