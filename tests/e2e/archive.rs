use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use super::util::*;

/// Files of the fixture folder `share/`, by path below it.
fn share_files() -> Vec<(String, Vec<u8>)> {
    vec![
        ("a.txt".into(), b"alpha\n".to_vec()),
        ("empty.bin".into(), Vec::new()),
        ("sub/b.bin".into(), pseudo_random_bytes(300_000, 1)),
        ("sub/deeper/c.txt".into(), b"see".to_vec()),
        (
            format!("{}/{}.txt", "long".repeat(30), "name".repeat(40)),
            b"a long path".to_vec(),
        ),
        ("caf\u{e9} & \"quotes\".txt".into(), b"utf-8 name".to_vec()),
    ]
}

fn share(root: &Path) {
    for (name, data) in share_files() {
        write_file(root, &format!("share/{name}"), data);
    }
    fs::create_dir_all(root.join("share/void")).unwrap();
    write_file(root, "share/.hidden", "dot");
    write_file(root, "share/.git/config", "dot folder");
    write_file(root, "elsewhere.txt", "inside the root, outside the folder");
    std::os::unix::fs::symlink("../elsewhere.txt", root.join("share/link.txt")).unwrap();
    std::os::unix::fs::symlink("../../secret.txt", root.join("share/escape.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("share/etc")).unwrap();
    std::os::unix::fs::symlink("..", root.join("share/sub/loop")).unwrap();
}

/// What the archive of `share/` must hold, named `share/...`.
fn expected(hidden: bool) -> BTreeMap<String, Vec<u8>> {
    let mut want: BTreeMap<String, Vec<u8>> = share_files()
        .into_iter()
        .map(|(name, data)| (format!("share/{name}"), data))
        .collect();
    want.insert(
        "share/link.txt".into(),
        b"inside the root, outside the folder".to_vec(),
    );
    if hidden {
        want.insert("share/.hidden".into(), b"dot".to_vec());
        want.insert("share/.git/config".into(), b"dot folder".to_vec());
    }
    want
}

/// Regular files of a tar archive by path, and its folders.
fn read_tar(bytes: &[u8]) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let mut files = BTreeMap::new();
    let mut dirs = Vec::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                assert!(files.insert(path.clone(), data).is_none(), "{path} twice");
            }
            tar::EntryType::Directory => dirs.push(path.trim_end_matches('/').to_string()),
            other => panic!("unexpected {other:?} entry {path}"),
        }
    }
    dirs.sort();
    (files, dirs)
}

fn read_zip(bytes: Vec<u8>) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip archive");
    let mut files = BTreeMap::new();
    let mut dirs = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        assert!(
            entry.enclosed_name().is_some(),
            "{name} is not a safe relative path"
        );
        if entry.is_dir() {
            dirs.push(name.trim_end_matches('/').to_string());
        } else {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            assert!(files.insert(name.clone(), data).is_none(), "{name} twice");
        }
    }
    dirs.sort();
    (files, dirs)
}

#[track_caller]
fn assert_same_files(got: &BTreeMap<String, Vec<u8>>, want: &BTreeMap<String, Vec<u8>>) {
    let got_names: Vec<&String> = got.keys().collect();
    let want_names: Vec<&String> = want.keys().collect();
    assert_eq!(got_names, want_names);
    for (name, data) in want {
        assert_same_bytes(&got[name], data, name);
    }
}

fn expected_dirs(hidden: bool) -> Vec<String> {
    let mut dirs: Vec<String> = [
        "share".to_string(),
        "share/sub".into(),
        "share/sub/deeper".into(),
        "share/void".into(),
        format!("share/{}", "long".repeat(30)),
    ]
    .into();
    if hidden {
        dirs.push("share/.git".into());
    }
    dirs.sort();
    dirs
}

#[test]
fn tar_download_holds_the_folder_byte_for_byte() {
    let server = TestServer::with(share, |_| {});
    let response = server.get("/share/?download=tar");
    response
        .assert_status(200)
        .assert_header("content-type", Some("application/x-tar"))
        .assert_header(
            "content-disposition",
            Some("attachment; filename=\"share.tar\""),
        )
        .assert_header("transfer-encoding", Some("chunked"))
        .assert_header("content-length", None);
    assert_eq!(response.body.len() % 512, 0);
    let (files, dirs) = read_tar(&response.body);
    assert_same_files(&files, &expected(false));
    assert_eq!(dirs, expected_dirs(false));
    assert!(!String::from_utf8_lossy(&response.body).contains(SECRET));
}

#[test]
fn zip_download_holds_the_folder_byte_for_byte() {
    let server = TestServer::with(share, |_| {});
    let response = server.get("/share/?download=zip");
    response
        .assert_status(200)
        .assert_header("content-type", Some("application/zip"))
        .assert_header(
            "content-disposition",
            Some("attachment; filename=\"share.zip\""),
        )
        .assert_header("transfer-encoding", Some("chunked"));
    let (files, dirs) = read_zip(response.body.clone());
    assert_same_files(&files, &expected(false));
    assert_eq!(dirs, expected_dirs(false));
    assert!(!String::from_utf8_lossy(&response.body).contains(SECRET));
}

#[test]
fn hidden_names_follow_the_hidden_flag() {
    let server = TestServer::with(share, |c| c.hidden = true);
    let (files, dirs) = read_tar(&server.get("/share/?download=tar").body);
    assert_same_files(&files, &expected(true));
    assert_eq!(dirs, expected_dirs(true));
    let (files, _) = read_zip(server.get("/share/?download=zip").body);
    assert_same_files(&files, &expected(true));
}

#[test]
fn http10_gets_a_close_delimited_archive() {
    let server = TestServer::with(share, |_| {});
    let mut client = server.connect();
    client.send(b"GET /share/?download=zip HTTP/1.0\r\n\r\n");
    let raw = client.read_to_close();
    let end = find(&raw, b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(head.contains("connection: close\r\n"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    let (files, _) = read_zip(raw[end..].to_vec());
    assert_same_files(&files, &expected(false));
}

#[test]
fn the_root_and_non_ascii_folders_are_named_after_themselves() {
    let server = TestServer::with(
        |root| {
            write_file(root, "top.txt", "top");
            write_file(root, "r\u{e9}sum\u{e9}s/cv.txt", "cv");
        },
        |_| {},
    );
    let root = server.get("/?download=tar");
    root.assert_header(
        "content-disposition",
        Some("attachment; filename=\"root.tar\""),
    );
    let (files, _) = read_tar(&root.body);
    assert_eq!(files["root/top.txt"], b"top");
    assert_eq!(files["root/r\u{e9}sum\u{e9}s/cv.txt"], b"cv");
    let folder = server.get("/r%C3%A9sum%C3%A9s/?download=zip");
    folder.assert_header(
        "content-disposition",
        Some("attachment; filename=\"r__sum__s.zip\"; filename*=UTF-8''r%C3%A9sum%C3%A9s.zip"),
    );
    let (files, _) = read_zip(folder.body);
    assert_eq!(files["r\u{e9}sum\u{e9}s/cv.txt"], b"cv");
}

#[test]
fn head_and_other_queries() {
    let server = TestServer::with(share, |_| {});
    let head = server.request("HEAD", "/share/?download=tar", &[]);
    head.assert_status(200)
        .assert_header("content-type", Some("application/x-tar"));
    assert!(head.body.is_empty());
    // The connection is still good after a HEAD of an archive.
    let mut client = server.connect();
    client.send(b"HEAD /share/?download=zip HTTP/1.1\r\nHost: t\r\n\r\n");
    client.head_response().assert_status(200);
    assert_eq!(client.response_to_get("/share/a.txt").text(), "alpha\n");
    // An unknown format lists the folder; so does a folder named without its slash, once
    // redirected with the query kept.
    let listing = server.get("/share/?download=rar");
    listing.assert_header("content-type", Some("text/html; charset=utf-8"));
    server
        .get("/share?download=tar")
        .assert_status(301)
        .assert_header("location", Some("/share/?download=tar"));
    // A file is a file, whatever the query.
    assert_eq!(server.get("/share/a.txt?download=tar").text(), "alpha\n");
}

#[test]
fn a_folder_with_an_index_is_a_page_not_an_archive() {
    let server = TestServer::with(
        |root| write_file(root, "site/index.html", "<p>home</p>"),
        |_| {},
    );
    assert_eq!(server.get("/site/?download=zip").text(), "<p>home</p>");
}

#[test]
fn listing_offers_both_downloads_and_no_archive_turns_them_off() {
    let server = TestServer::with(share, |_| {});
    let page = server.get("/share/").text();
    assert!(page.contains("href=\"?download=tar\""), "{page}");
    assert!(page.contains("href=\"?download=zip\""), "{page}");

    let off = TestServer::with(share, |c| c.archives = false);
    let page = off.get("/share/").text();
    assert!(!page.contains("download="), "{page}");
    for format in ["tar", "zip"] {
        let response = off.get(&format!("/share/?download={format}"));
        response
            .assert_status(200)
            .assert_header("content-type", Some("text/html; charset=utf-8"))
            .assert_header("content-disposition", None);
    }
    // With listings off, there is nothing to archive either.
    let no_listing = TestServer::with(share, |c| c.listing = false);
    no_listing.get("/share/?download=tar").assert_status(403);
}

#[test]
fn explain_says_what_was_left_out() {
    let mut server = ChildServer::spawn(
        |root| {
            write_file(root, "box/a.txt", "a");
            rustix::fs::mkfifoat(rustix::fs::CWD, root.join("box/pipe"), 0o644.into()).unwrap();
        },
        &["--explain", "--no-stats", "--access-log", "off"],
    );
    let mut client = server.connect();
    client.send(b"GET /box/?download=tar HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let (files, _) = read_tar(&client.response().body);
    assert_eq!(files.keys().collect::<Vec<_>>(), ["box/a.txt"]);
    server.signal(Signal::TERM);
    let (status, stderr) = server.wait(Duration::from_secs(5));
    assert!(status.success());
    assert!(
        stderr.contains("GET /box/?download=tar → 200 (folder as tar archive, chunked)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("left /box/pipe out of the archive (not a regular file)"),
        "{stderr}"
    );
}

/// An archive of a folder holding a 200 MiB file (sparse: the disk holds none of it, but tar and
/// zip read all of it) goes out while small requests on another connection are answered
/// promptly, and the server's memory does not grow with the file.
#[test]
fn a_huge_archive_does_not_stall_other_clients() {
    const SIZE: u64 = 200 << 20;
    let _alone = run_alone();
    for format in ["zip", "tar"] {
        let server = TestServer::with(
            |root| {
                write_file(root, "small.txt", "small");
                fs::create_dir_all(root.join("big")).unwrap();
                File::create(root.join("big/huge.bin"))
                    .unwrap()
                    .set_len(SIZE)
                    .unwrap();
            },
            |_| {},
        );
        let addr = server.addr;
        let downloader = std::thread::spawn(move || {
            let started = Instant::now();
            let mut client = Client::connect(addr);
            client.send(
                format!(
                    "GET /big/?download={format} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
            let response = client.response();
            (response, started.elapsed())
        });
        let mut client = server.connect();
        let mut latencies = Vec::new();
        while !downloader.is_finished() {
            let start = Instant::now();
            assert_eq!(client.response_to_get("/small.txt").text(), "small");
            latencies.push(start.elapsed());
            std::thread::sleep(Duration::from_millis(5));
        }
        let (response, took) = downloader.join().unwrap();
        response.assert_status(200);
        let body = response.body;
        // Read the entry back in pieces: all zeros, and exactly the file's length.
        let zeros = |reader: &mut dyn Read| {
            let (mut total, mut buf, zero) = (0u64, vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    return total;
                }
                assert!(buf[..n] == zero[..n], "not zeros at {total}");
                total += n as u64;
            }
        };
        let length = if format == "zip" {
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body)).unwrap();
            let mut entry = archive.by_name("big/huge.bin").unwrap();
            zeros(&mut entry)
        } else {
            let mut archive = tar::Archive::new(&body[..]);
            let mut entries = archive.entries().unwrap();
            let mut entry = entries
                .find(|e| e.as_ref().unwrap().path().unwrap() == Path::new("big/huge.bin"))
                .unwrap()
                .unwrap();
            zeros(&mut entry)
        };
        assert_eq!(length, SIZE);
        latencies.sort();
        let worst = latencies.last().copied().unwrap_or_default();
        eprintln!(
            "200 MiB {format}: {took:?}; {} small GETs meanwhile, median {:?}, slowest {worst:?}",
            latencies.len(),
            latencies
                .get(latencies.len() / 2)
                .copied()
                .unwrap_or_default()
        );
        // Generous: a debug build on a busy two-core machine; over TLS the test's own client,
        // in the same debug process, also decrypts every byte of the 200 MiB.
        let bound = Duration::from_millis(if OVER_TLS { 500 } else { 250 });
        assert!(worst < bound, "{format}: a small GET took {worst:?}");
    }
}

/// A file that grows while it is being archived ends the response with a close, before the last
/// chunk: the client never holds an archive that looks complete but is not what its headers say.
#[test]
fn a_file_that_changes_while_archived_ends_with_a_close() {
    const SIZE: u64 = 64 << 20;
    for format in ["tar", "zip"] {
        let server = TestServer::with(
            |root| {
                fs::create_dir_all(root.join("box")).unwrap();
                File::create(root.join("box/growing.bin"))
                    .unwrap()
                    .set_len(SIZE)
                    .unwrap();
            },
            |_| {},
        );
        let mut client = server.connect();
        client.send(
            format!("GET /box/?download={format} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        // Read a little: the head and the first pieces, up to the file's entry (its name in its
        // header), so the archive has begun the file. The rest cannot have been sent yet, since
        // this client has not read it and the socket buffers hold far less than 64 MiB.
        let mut first = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        while find(&first, b"growing.bin").is_none() {
            let n = client.stream.read(&mut buf).unwrap();
            assert!(n > 0, "{format}: the archive ended before the file");
            first.extend_from_slice(&buf[..n]);
        }
        assert!(find(&first, b"Transfer-Encoding: chunked").is_some());
        File::options()
            .write(true)
            .open(server.root().join("box/growing.bin"))
            .unwrap()
            .set_len(SIZE + 1)
            .unwrap();
        let rest = client.read_to_close();
        assert!(
            !rest.ends_with(b"\r\n0\r\n\r\n"),
            "{format}: the archive was ended as if complete"
        );
        assert!(
            (rest.len() as u64) < SIZE + (1 << 20),
            "{format}: {} bytes after the change",
            rest.len()
        );
    }
}

/// Entries the server cannot read are left out of the archive and said under --explain. Root
/// reads everything, so as root the server runs as `nobody` over files only root may read: from
/// a copy of the binary in the temp folder, since the build folder may be closed to `nobody`.
#[test]
fn unreadable_entries_are_left_out_and_explained() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let root_user = rustix::process::geteuid().is_root();
    let bin = TempDir::new();
    let program = bin.path().join("mioserve");
    fs::copy(env!("CARGO_BIN_EXE_mioserve"), &program).unwrap();
    fs::set_permissions(bin.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mut server = ChildServer::spawn_with(
        &program,
        |root| {
            write_file(root, "box/a.txt", "a");
            write_file(root, "box/secret.txt", "secret");
            write_file(root, "box/locked/inside.txt", "inside");
            let mode = if root_user { 0o600 } else { 0o000 };
            fs::set_permissions(
                root.join("box/secret.txt"),
                fs::Permissions::from_mode(mode),
            )
            .unwrap();
            let mode = if root_user { 0o700 } else { 0o000 };
            fs::set_permissions(root.join("box/locked"), fs::Permissions::from_mode(mode)).unwrap();
        },
        &["--explain", "--no-stats", "--access-log", "off"],
        |command| {
            if root_user {
                command.uid(65534).gid(65534);
            }
        },
    );
    let mut client = server.connect();
    client.send(b"GET /box/?download=tar HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let response = client.response();
    response.assert_status(200);
    let (files, _) = read_tar(&response.body);
    assert_eq!(files.keys().collect::<Vec<_>>(), ["box/a.txt"]);
    server.signal(Signal::TERM);
    let (status, stderr) = server.wait(Duration::from_secs(5));
    assert!(status.success());
    for left in ["/box/secret.txt", "/box/locked"] {
        assert!(
            stderr.contains(&format!("left {left} out of the archive (unreadable)")),
            "{left}: {stderr}"
        );
    }
}
