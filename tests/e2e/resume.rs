use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use crate::util::*;

/// 3 MiB of bytes from a small LCG: no period a misplaced slice could hide in.
fn contents() -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..3 << 20)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// Whether `tool` can be run; prints a note and returns false if not.
fn available(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        eprintln!("note: {tool} is not installed; skipping its resume test");
    }
    found
}

/// A server with `video.bin` ([`contents`]) and a download directory holding its first half,
/// as an interrupted download leaves it.
fn interrupted_download(sendfile: bool) -> (TestServer, TempDir, Vec<u8>) {
    let data = contents();
    let server = TestServer::with(
        |root| fs::write(root.join("video.bin"), &data).unwrap(),
        |config| config.conn.sendfile = sendfile,
    );
    let downloads = TempDir::new();
    fs::write(downloads.path().join("video.bin"), &data[..data.len() / 2]).unwrap();
    (server, downloads, data)
}

#[track_caller]
fn assert_ran(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[track_caller]
fn assert_same_file(path: &Path, data: &[u8]) {
    let got = fs::read(path).unwrap();
    assert_eq!(got.len(), data.len(), "resumed file has the wrong length");
    assert!(got == data, "resumed file differs from the original");
}

/// `curl -C - -o file url`, printing the status code; ~/.curlrc and proxies ignored.
fn curl_continue(file: &std::path::Path, url: &str) -> std::process::Output {
    Command::new("curl")
        .args(["-q", "--noproxy", "*", "-sS", "--max-time", "30"])
        .args(["-w", "%{http_code}", "-C", "-", "-o"])
        .arg(file)
        .arg(url)
        .output()
        .expect("run curl")
}

fn curl_resumes(sendfile: bool) {
    if !available("curl") {
        return;
    }
    let (server, downloads, data) = interrupted_download(sendfile);
    let file = downloads.path().join("video.bin");
    let url = format!("http://{}/video.bin", server.addr);
    let output = curl_continue(&file, &url);
    assert_ran(&output, "curl -C -");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "206",
        "curl got no 206"
    );
    assert_same_file(&file, &data);
    // Resuming a complete download asks for `bytes=<len>-`: a 416 with `bytes */<len>`, which
    // curl takes as "already complete", leaving the file as it is.
    let output = curl_continue(&file, &url);
    assert_ran(&output, "curl -C - of a complete file");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "416");
    assert_same_file(&file, &data);
}

#[test]
fn curl_resumes_byte_exact() {
    curl_resumes(true);
}

#[test]
fn curl_resumes_byte_exact_by_pread() {
    curl_resumes(false);
}

#[test]
fn wget_resumes_byte_exact() {
    if !available("wget") {
        return;
    }
    let (server, downloads, data) = interrupted_download(true);
    let url = format!("http://{}/video.bin", server.addr);
    // --no-config: ignore wgetrc files; -S prints the response heads on stderr.
    let output = Command::new("wget")
        .args([
            "--no-config",
            "--no-proxy",
            "-S",
            "-nv",
            "--tries=1",
            "--timeout=30",
        ])
        .args(["-c", &url])
        .current_dir(downloads.path())
        .output()
        .expect("run wget");
    assert_ran(&output, "wget -c");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("206 Partial Content"),
        "wget got no 206:\n{stderr}"
    );
    assert_same_file(&downloads.path().join("video.bin"), &data);
}
