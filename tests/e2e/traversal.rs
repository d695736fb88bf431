use std::os::unix::fs::symlink;

use crate::util::*;

/// A root with a file, a subfolder, and symlinks: two that stay inside the root and four that
/// lead out of it to the secret file (or its folder) beside the root.
fn server() -> TestServer {
    TestServer::with(
        |root| {
            write_file(root, "a.txt", "hello\n");
            write_file(root, "sub/b.txt", "bee\n");
            let secret = root.parent().unwrap().join("secret.txt");
            // inside the root
            symlink("a.txt", root.join("link-in.txt")).unwrap();
            symlink(root.join("sub/b.txt"), root.join("link-abs-in.txt")).unwrap();
            // leading out of it
            symlink("../secret.txt", root.join("escape.txt")).unwrap();
            symlink(&secret, root.join("escape-abs.txt")).unwrap();
            symlink("..", root.join("updir")).unwrap();
            symlink("../../secret.txt", root.join("sub/escape.txt")).unwrap();
        },
        |_| {},
    )
}

/// Sends one request for `target` with `Connection: close` and returns everything the server
/// sent until it closed, so not a byte of any body can go unseen.
#[track_caller]
fn fetch_raw(server: &TestServer, method: &str, target: &str) -> String {
    let mut client = server.connect();
    client.send(
        format!("{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    String::from_utf8_lossy(&client.read_to_close()).into_owned()
}

#[test]
fn traversal_attempts_never_reach_the_secret() {
    let cases: &[&str] = &[
        // plain dot-segments
        "/../secret.txt",
        "/./../secret.txt",
        "//../secret.txt",
        "/a/../../secret.txt",
        "/sub/../../secret.txt",
        "/sub/../sub/../../secret.txt",
        "/..",
        "/../",
        // encoded dots and slashes
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/sub%2f..%2f..%2fsecret.txt",
        // double encoding and overlong UTF-8 are names, not dots
        "/%252e%252e/secret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        // NUL
        "/secret.txt%00",
        "/a.txt%00/../../secret.txt",
        "/%00../secret.txt",
        // backslashes are ordinary bytes in a name
        "/..\\secret.txt",
        "/..%5csecret.txt",
        "/%5c..%5csecret.txt",
        "/sub\\..\\..\\secret.txt",
        "/sub%5c..%5c..%5csecret.txt",
        // absolute-form with dot-segments
        "http://t/../secret.txt",
        "http://t/%2e%2e/secret.txt",
        "http://t/sub/../../secret.txt",
        "http://t/..%2fsecret.txt",
        // relative and other non-origin targets
        "../secret.txt",
        "secret.txt",
        "*",
        // symlinks whose target leaves the root
        "/escape.txt",
        "/escape-abs.txt",
        "/updir/secret.txt",
        "/sub/escape.txt",
        "/link-in.txt/../../secret.txt",
        // and the secret's own name, which is not in the root at all
        "/secret.txt",
    ];
    let server = server();
    for target in cases {
        for method in ["GET", "HEAD"] {
            let raw = fetch_raw(&server, method, target);
            assert!(
                !raw.contains(SECRET),
                "{method} {target} leaked the secret:\n{raw}"
            );
            let status = raw.get(9..12).unwrap_or_default();
            assert!(
                status == "400" || status == "404",
                "{method} {target}: want 400 or 404, got:\n{raw}"
            );
        }
    }
}

#[test]
fn symlinks_inside_the_root_are_served() {
    let server = server();
    let cases = [
        // (target, body)
        ("/link-in.txt", "hello\n"),
        ("/link-abs-in.txt", "bee\n"),
        ("/sub/../link-in.txt", "hello\n"),
        // out through a symlink and back in: the file itself lies inside the root
        ("/updir/root/a.txt", "hello\n"),
    ];
    for (target, body) in cases {
        let response = server.get(target);
        assert_eq!(response.status, 200, "{target}: {}", response.head);
        assert_eq!(response.text(), body, "{target}");
    }
}
