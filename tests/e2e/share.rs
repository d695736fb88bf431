use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::*;

const BIN: &str = env!("CARGO_BIN_EXE_mioserve");

/// A folder holding a fake `xdg-open` (the launcher `--open` uses on Linux and the BSDs) that
/// runs `body` with the URL as `$1`, to put before the real ones on `PATH`.
fn fake_launcher(dir: &Path, body: &str) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("xdg-open");
    std::fs::write(&script, format!("#!/bin/bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// `PATH` with `first` in front.
fn path_with(first: &Path) -> String {
    format!(
        "{}:{}",
        first.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The binary serving a root with `a.txt`, with `args`, `DISPLAY` as given (or unset, with
/// `WAYLAND_DISPLAY`), and `bin` first on `PATH`.
fn serve(args: &[&str], display: Option<&str>, bin: &Path) -> ChildServer {
    let path = path_with(bin);
    ChildServer::spawn_with(
        Path::new(BIN),
        |root| write_file(root, "a.txt", "hello\n"),
        args,
        |command: &mut Command| {
            command.env("PATH", &path).env_remove("WAYLAND_DISPLAY");
            match display {
                Some(display) => command.env("DISPLAY", display),
                None => command.env_remove("DISPLAY"),
            };
        },
    )
}

/// Stops the server gracefully; its stderr.
fn stop(mut server: ChildServer) -> String {
    server.signal(rustix::process::Signal::TERM);
    let (status, stderr) = server.wait(IO_TIMEOUT);
    assert!(status.success(), "{status}: {stderr}");
    stderr
}

#[test]
fn open_runs_the_launcher_with_the_url_once_the_server_listens() {
    let dir = TempDir::new();
    let record = dir.path().join("opened");
    // The launcher asks the server for the page it was given, as a browser would, then records
    // the URL and the status line it got.
    let bin = fake_launcher(
        dir.path(),
        &format!(
            "hostport=${{1#http://}}; hostport=${{hostport%/}}\n\
             exec 3<>/dev/tcp/${{hostport%:*}}/${{hostport##*:}} || exit 1\n\
             printf 'GET /a.txt HTTP/1.0\\r\\n\\r\\n' >&3\n\
             read -r status <&3\n\
             printf '%s\\n%s\\n' \"$1\" \"$status\" > {0}.tmp && mv {0}.tmp {0}",
            record.display()
        ),
    );
    let server = serve(&["--open"], Some(":99"), &bin);
    assert!(
        wait_until(IO_TIMEOUT, || record.exists()),
        "the launcher never ran"
    );
    let opened = std::fs::read_to_string(&record).unwrap();
    assert_eq!(
        opened,
        format!("http://{}/\nHTTP/1.1 200 OK\r\n", server.addr)
    );
    let stderr = stop(server);
    assert!(!stderr.contains("--open"), "no complaint: {stderr}");
}

#[test]
fn open_without_a_display_says_so_and_serves() {
    let dir = TempDir::new();
    let marker = dir.path().join("ran");
    let bin = fake_launcher(dir.path(), &format!("touch {}", marker.display()));
    let server = serve(&["--open"], None, &bin);
    server
        .connect()
        .response_to_get("/a.txt")
        .assert_status(200);
    let stderr = stop(server);
    assert!(
        stderr.contains("--open: no display to open a browser on"),
        "{stderr}"
    );
    assert!(stderr.contains("yourself"), "{stderr}");
    assert!(!marker.exists(), "no launcher is run without a display");
}

#[test]
fn open_with_a_failing_launcher_says_so_and_serves() {
    let dir = TempDir::new();
    let bin = fake_launcher(dir.path(), "exit 3");
    let mut server = serve(&["--open"], Some(":99"), &bin);
    let url = format!("http://{}/", server.addr);
    // The failure is reported from the opener's thread, a moment after the start.
    let stderr = read_in_background(&mut server);
    let said = wait_until(IO_TIMEOUT, || {
        stderr
            .lock()
            .unwrap()
            .contains("--open: could not open a browser")
    });
    server
        .connect()
        .response_to_get("/a.txt")
        .assert_status(200);
    stop(server);
    let stderr = stderr.lock().unwrap().clone();
    assert!(said && stderr.contains(&url), "{stderr}");
}

/// The child's stderr as it comes, read by a thread of its own.
fn read_in_background(server: &mut ChildServer) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let pipe = server.child.stderr.take().expect("stderr piped");
    let into = Arc::clone(&text);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut text = into.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

#[test]
fn open_never_holds_up_the_server() {
    let dir = TempDir::new();
    let started = dir.path().join("started");
    // A launcher that never returns (within the test): requests are served meanwhile.
    let bin = fake_launcher(
        dir.path(),
        &format!("touch {}; exec sleep 5", started.display()),
    );
    let server = serve(&["--open"], Some(":99"), &bin);
    assert!(
        wait_until(IO_TIMEOUT, || started.exists()),
        "launcher not run"
    );
    let begun = Instant::now();
    for _ in 0..5 {
        server
            .connect()
            .response_to_get("/a.txt")
            .assert_status(200);
    }
    assert!(
        begun.elapsed() < Duration::from_secs(2),
        "{:?}",
        begun.elapsed()
    );
    let begun = Instant::now();
    stop(server);
    assert!(
        begun.elapsed() < Duration::from_secs(3),
        "the exit waited for the launcher"
    );
}

/// The modules of a QR code as `--qr` prints it without a terminal: light where a half block is
/// drawn, two rows per line.
fn modules(lines: &[&str]) -> Vec<Vec<bool>> {
    let mut rows = Vec::new();
    for line in lines {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for c in line.chars() {
            let (t, b) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("not a QR character: {other:?}"),
            };
            top.push(t);
            bottom.push(b);
        }
        rows.push(top);
        rows.push(bottom);
    }
    rows
}

/// What a QR code drawn in `lines` says, read by an independent decoder.
fn decode(lines: &[&str]) -> String {
    let light = modules(lines);
    let scale = 4;
    let (w, h) = (light[0].len() * scale, light.len() * scale);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        if light[y / scale][x / scale] { 255 } else { 0 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code");
    grids[0].decode().expect("a readable QR code").1
}

#[test]
fn qr_prints_a_readable_code_of_the_url_on_stderr_only() {
    let bin = TempDir::new();
    let mut server = serve(&["--qr"], None, bin.path());
    let url = format!("http://{}/", server.addr);
    server
        .connect()
        .response_to_get("/a.txt")
        .assert_status(200);
    server.signal(rustix::process::Signal::TERM);
    let (status, stderr) = server.wait(IO_TIMEOUT);
    assert!(status.success(), "{stderr}");
    // stdout: the serving line (read by the harness), then the access log alone.
    let stdout = server.stdout_lines_at_least(1);
    assert_eq!(stdout.len(), 1, "{stdout:?}");
    assert!(
        stdout[0].contains("\"GET /a.txt HTTP/1.1\" 200"),
        "{stdout:?}"
    );
    assert!(
        stderr.contains("--qr: loopback is reachable from this machine only"),
        "{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == url)
        .unwrap_or_else(|| panic!("no line {url} in\n{stderr}"));
    let code: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| !l.is_empty() && l.chars().all(|c| " █▀▄".contains(c)))
        .copied()
        .collect();
    assert!(code.len() > 10, "{stderr}");
    assert_eq!(decode(&code), url);
}
