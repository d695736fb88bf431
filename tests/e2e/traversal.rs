use std::os::unix::fs::symlink;

use mioserve::sys::Strategy;

use crate::util::*;

/// Every way of opening files beneath the root that runs here: the kernel's and the portable
/// walk (with the other portable mechanisms).
fn strategies() -> [Strategy; 2] {
    [Strategy::native(), Strategy::portable()]
}

/// A root with a file, a subfolder, and symlinks: two that stay inside the root and four that
/// lead out of it to the secret file (or its folder) beside the root.
fn server(strategy: Strategy) -> TestServer {
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
        |config| config.strategy = strategy,
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
    for strategy in strategies() {
        let server = server(strategy);
        for target in cases {
            for method in ["GET", "HEAD"] {
                let raw = fetch_raw(&server, method, target);
                assert!(
                    !raw.contains(SECRET),
                    "{method} {target} leaked the secret ({strategy:?}):\n{raw}"
                );
                let status = raw.get(9..12).unwrap_or_default();
                assert!(
                    status == "400" || status == "404",
                    "{method} {target}: want 400 or 404 ({strategy:?}), got:\n{raw}"
                );
            }
        }
    }
}

#[test]
fn symlinks_inside_the_root_are_served() {
    let cases = [
        // (target, body)
        ("/link-in.txt", "hello\n"),
        ("/link-abs-in.txt", "bee\n"),
        ("/sub/../link-in.txt", "hello\n"),
        // out through a symlink and back in by the root's own name: the file lies inside it
        ("/updir/root/a.txt", "hello\n"),
    ];
    for strategy in strategies() {
        let server = server(strategy);
        for (target, body) in cases {
            let response = server.get(target);
            assert_eq!(
                response.status, 200,
                "{target} {strategy:?}: {}",
                response.head
            );
            assert_eq!(response.text(), body, "{target} {strategy:?}");
        }
    }
}

/// Unless `--hidden`, no symlink leads to a hidden name: not one named in the target, not one a
/// link (or a link to a link) passes through, absolute or relative, served or listed or archived.
#[test]
fn symlinks_into_hidden_names_are_served_only_with_hidden() {
    const DOTFILE: &str = "KEY=dotfile-secret";
    let setup = |root: &std::path::Path| {
        write_file(root, ".env", DOTFILE);
        write_file(root, ".private/notes.txt", DOTFILE);
        write_file(root, "share/visible.txt", "visible");
        symlink(".env", root.join("env")).unwrap();
        symlink(".private", root.join("notes")).unwrap();
        symlink(".private/notes.txt", root.join("notes.txt")).unwrap();
        symlink("env", root.join("chain")).unwrap();
        symlink(root.join(".env"), root.join("absolute")).unwrap();
        symlink("../.env", root.join("share/env")).unwrap();
    };
    let targets = [
        "/env",
        "/notes/notes.txt",
        "/notes.txt",
        "/chain",
        "/absolute",
        "/share/env",
    ];
    for strategy in strategies() {
        let server = TestServer::with(setup, |config| config.strategy = strategy);
        for target in targets {
            let raw = fetch_raw(&server, "GET", target);
            assert!(
                raw.starts_with("HTTP/1.1 404"),
                "{target} {strategy:?}: want 404, got:\n{raw}"
            );
            assert!(
                !raw.contains(DOTFILE),
                "{target} {strategy:?} leaked:\n{raw}"
            );
        }
        let listing = server.get("/?format=json").text();
        for name in [
            "\"env\"",
            "\"notes\"",
            "\"notes.txt\"",
            "\"chain\"",
            "\"absolute\"",
        ] {
            assert!(
                !listing.contains(name),
                "{name} listed ({strategy:?}): {listing}"
            );
        }
        assert!(listing.contains("\"share\""), "{listing}");
        let archive = fetch_raw(&server, "GET", "/share/?download=tar");
        assert!(archive.contains("visible"), "{strategy:?}: {archive}");
        assert!(
            !archive.contains(DOTFILE),
            "{strategy:?} archived:\n{archive}"
        );

        let server = TestServer::with(setup, |config| {
            config.strategy = strategy;
            config.hidden = true;
        });
        for target in targets {
            let response = server.get(target);
            assert_eq!(response.status, 200, "{target} {strategy:?} with --hidden");
            assert_eq!(
                response.text(),
                DOTFILE,
                "{target} {strategy:?} with --hidden"
            );
        }
    }
}
