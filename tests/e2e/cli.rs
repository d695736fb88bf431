use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;

use crate::util::*;

const BIN: &str = env!("CARGO_BIN_EXE_mioserve");

/// The `mioserve` binary running as a child process; killed and reaped on drop whatever the test
/// did, so no server outlives its test.
pub(crate) struct Mioserve {
    pub(crate) child: Child,
}

impl Mioserve {
    /// Starts the binary with `args` in `cwd`, stdout and stderr piped. `RUST_LOG` is cleared so
    /// the caller's environment cannot change the output; `RUST_BACKTRACE` is set so a panic
    /// would show its backtrace and fail the "no backtrace" checks.
    #[track_caller]
    pub(crate) fn start(cwd: &Path, args: &[&OsStr]) -> Mioserve {
        Mioserve::start_logging(cwd, args, None)
    }

    /// As [`Mioserve::start`], with `RUST_LOG` set to `rust_log` if given.
    #[track_caller]
    pub(crate) fn start_logging(cwd: &Path, args: &[&OsStr], rust_log: Option<&str>) -> Mioserve {
        Mioserve::spawn(Command::new(BIN), cwd, args, rust_log)
    }

    /// Runs `command` (the binary, or a wrapper that executes it) with `args` appended, as
    /// [`Mioserve::start_logging`] describes.
    #[track_caller]
    pub(crate) fn spawn(
        mut command: Command,
        cwd: &Path,
        args: &[&OsStr],
        rust_log: Option<&str>,
    ) -> Mioserve {
        command.env_remove("RUST_LOG");
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let child = command
            .args(args)
            .current_dir(cwd)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mioserve");
        Mioserve { child }
    }

    /// The first line the server prints on stdout, read within the I/O timeout.
    #[track_caller]
    pub(crate) fn first_line(&mut self) -> String {
        let stdout: ChildStdout = self.child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        rx.recv_timeout(IO_TIMEOUT)
            .expect("no line on stdout in time")
    }

    /// Kills the server and returns what it wrote to stderr.
    #[track_caller]
    pub(crate) fn kill(mut self) -> String {
        let _ = self.child.kill();
        self.finish().2
    }

    /// Waits (bounded) for the process to exit; returns its status, stdout (what was not read
    /// before) and stderr.
    #[track_caller]
    pub(crate) fn finish(mut self) -> (ExitStatus, String, String) {
        let stdout = read_all_in_background(self.child.stdout.take());
        let stderr = read_all_in_background(self.child.stderr.take());
        // Both pipes reach EOF when the process exits.
        let stdout = stdout
            .recv_timeout(IO_TIMEOUT)
            .expect("process did not exit in time");
        let stderr = stderr
            .recv_timeout(IO_TIMEOUT)
            .expect("process did not exit in time");
        let status = self.child.wait().expect("wait for mioserve");
        (status, stdout, stderr)
    }
}

impl Drop for Mioserve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_all_in_background(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

pub(crate) fn os<'a>(args: &[&'a str]) -> Vec<&'a OsStr> {
    args.iter().map(|a| OsStr::new(*a)).collect()
}

/// Checks the startup line names `root` and a URL on `host`, and returns the port in it.
#[track_caller]
fn port_from(line: &str, root: &str, host: &str) -> u16 {
    let prefix = format!("Serving {root} at http://{host}:");
    let port = line
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix("/\n"))
        .unwrap_or_else(|| panic!("startup line {line:?} is not {prefix:?}PORT/"));
    let port: u16 = port.parse().unwrap_or_else(|_| panic!("port in {line:?}"));
    assert_ne!(port, 0, "the line must show the real bound port");
    port
}

/// A temp dir whose `root` holds `a.txt`.
fn site() -> TempDir {
    let dir = TempDir::new();
    write_file(&dir.path().join("root"), "a.txt", "hello\n");
    dir
}

#[test]
fn prints_the_url_of_the_bound_port_and_serves() {
    let dir = site();
    let root = dir.path().join("root");
    let mut server = Mioserve::start(
        dir.path(),
        &[root.as_os_str(), OsStr::new("-p"), OsStr::new("0")],
    );
    let line = server.first_line();
    let port = port_from(&line, &root.display().to_string(), "127.0.0.1");
    let response =
        Client::connect(SocketAddr::from(([127, 0, 0, 1], port))).response_to_get("/a.txt");
    response.assert_status(200);
    assert_eq!(response.text(), "hello\n");
}

#[test]
fn root_defaults_to_public_and_flags_are_accepted() {
    let dir = TempDir::new();
    write_file(&dir.path().join("public"), "index.html", "<h1>demo</h1>\n");
    for flags in [
        &["-p", "0"][..],
        &["--port", "0", "-q"],
        &["-p", "0", "-vv"],
        &["-p", "0", "-b", "127.0.0.1"],
    ] {
        let mut server = Mioserve::start(dir.path(), &os(flags));
        let port = port_from(
            &server.first_line(),
            "./public (the default, as ./public exists)",
            "127.0.0.1",
        );
        let response =
            Client::connect(SocketAddr::from(([127, 0, 0, 1], port))).response_to_get("/");
        assert_eq!(response.status, 200, "{flags:?}: {}", response.head);
        assert_eq!(response.text(), "<h1>demo</h1>\n", "{flags:?}");
    }
}

#[test]
fn without_public_the_current_directory_is_served() {
    let dir = site();
    let here = dir.path().join("root");
    let mut server = Mioserve::start(&here, &os(&["-p", "0"]));
    let cwd = fs::canonicalize(&here).unwrap();
    let root = format!(
        "{} (the current directory, as there is no ./public)",
        cwd.display()
    );
    let port = port_from(&server.first_line(), &root, "127.0.0.1");
    let response =
        Client::connect(SocketAddr::from(([127, 0, 0, 1], port))).response_to_get("/a.txt");
    response.assert_status(200);
    assert_eq!(response.text(), "hello\n");
}

#[test]
fn ipv6_address_is_printed_in_brackets() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("note: no IPv6 loopback here; skipping the ::1 test");
        return;
    }
    let dir = site();
    let root = dir.path().join("root");
    let mut server = Mioserve::start(
        dir.path(),
        &[
            root.as_os_str(),
            OsStr::new("-p"),
            OsStr::new("0"),
            OsStr::new("--bind"),
            OsStr::new("::1"),
        ],
    );
    let port = port_from(&server.first_line(), &root.display().to_string(), "[::1]");
    let addr: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    let response = Client::connect(addr).response_to_get("/a.txt");
    assert_eq!(response.text(), "hello\n");
}

#[test]
fn help_and_version() {
    let dir = TempDir::new();
    for flag in ["--help", "-h"] {
        let (status, stdout, stderr) = Mioserve::start(dir.path(), &os(&[flag])).finish();
        assert!(status.success(), "{flag}: {status}");
        assert_eq!(stderr, "", "{flag}");
        for needle in [
            "Usage: mioserve [OPTIONS] [ROOT]",
            "[default: ./public if it exists, else the current directory]",
            "-p, --port <PORT>",
            "-b, --bind <BIND>",
            "-q, --quiet",
            "-v, --verbose",
            "-V, --version",
            "combined, common, extended",
            "RUST_LOG",
        ] {
            assert!(
                stdout.contains(needle),
                "{flag} lacks {needle:?}:\n{stdout}"
            );
        }
    }
    for flag in ["--version", "-V"] {
        let (status, stdout, stderr) = Mioserve::start(dir.path(), &os(&[flag])).finish();
        assert!(status.success(), "{flag}: {status}");
        assert_eq!(stderr, "", "{flag}");
        assert_eq!(
            stdout,
            concat!("mioserve ", env!("CARGO_PKG_VERSION"), "\n")
        );
    }
}

#[test]
fn startup_errors_are_one_line_on_stderr() {
    let dir = site();
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port to occupy");
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let missing = dir.path().join("missing");
    let file = dir.path().join("secret.txt");
    let root = dir.path().join("root");
    let cases: [(Vec<&OsStr>, String); 3] = [
        // (arguments, what stderr must say)
        (
            vec![missing.as_os_str(), OsStr::new("-p"), OsStr::new("0")],
            format!(
                "mioserve: cannot serve {}: no such directory (check the path; with no ROOT, \
                 mioserve serves ./public if it exists, else the current directory)\n",
                missing.display()
            ),
        ),
        (
            vec![file.as_os_str(), OsStr::new("-p"), OsStr::new("0")],
            format!(
                "mioserve: cannot serve {}: not a directory (ROOT is a folder: to serve a file, \
                 serve its folder)\n",
                file.display()
            ),
        ),
        (
            vec![root.as_os_str(), OsStr::new("-p"), OsStr::new(&taken_port)],
            format!("mioserve: cannot listen on 127.0.0.1:{taken_port}: address already in use\n"),
        ),
    ];
    for (args, want) in &cases {
        let (status, stdout, stderr) = Mioserve::start(dir.path(), args).finish();
        assert!(!status.success(), "{args:?} exited with {status}");
        assert_eq!(
            status.code(),
            Some(1),
            "{args:?}: exit by code, not by signal"
        );
        assert_eq!(stdout, "", "{args:?}: nothing on stdout");
        assert_eq!(&stderr, want, "{args:?}");
    }
    drop(taken);
}

#[test]
fn logging_follows_rust_log_and_the_flags() {
    let dir = site();
    let root = dir.path().join("root");
    let cases = [
        // (flags, RUST_LOG, a rejected request is logged at debug level)
        (&["-v"][..], None, true),
        (&["-vv"], None, true),
        (&[], None, false),
        (&["-q"], None, false),
        (&["-q"], Some("debug"), true),
        (&["-v"], Some("error"), false),
    ];
    for (flags, rust_log, logged) in cases {
        let mut args = vec![root.as_os_str(), OsStr::new("-p"), OsStr::new("0")];
        args.extend(os(flags));
        let mut server = Mioserve::start_logging(dir.path(), &args, rust_log);
        let port = port_from(
            &server.first_line(),
            &root.display().to_string(),
            "127.0.0.1",
        );
        let mut client = Client::connect(SocketAddr::from(([127, 0, 0, 1], port)));
        client.send(b"GET /a.txt HTTP/1.1\r\n\r\n");
        client.response().assert_status(400);
        let stderr = server.kill();
        assert_eq!(
            stderr.contains("rejecting request"),
            logged,
            "{flags:?} RUST_LOG={rust_log:?}: {stderr:?}"
        );
    }
}

/// Runs the binary through `setpriv`.
#[cfg(target_os = "linux")]
#[test]
fn unreadable_file_is_403_even_when_the_tests_run_as_root() {
    // Root reads mode-000 files, so the in-process check (errors::unreadable_file_is_403) cannot
    // see a 403 there; the binary run as `nobody` through setpriv can.
    let dir = site();
    let root = dir.path().join("root");
    write_file(&root, "locked.txt", "locked\n");
    let locked = root.join("locked.txt");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let args = [root.as_os_str(), OsStr::new("-p"), OsStr::new("0")];
    let mut server = if fs::read(&locked).is_ok() {
        let mut setpriv = Command::new("setpriv");
        setpriv.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        Mioserve::spawn(setpriv, dir.path(), &args, None)
    } else {
        Mioserve::start(dir.path(), &args)
    };
    let line = server.first_line();
    assert!(
        !line.is_empty(),
        "could not run mioserve as nobody through setpriv (util-linux), so 403 is unchecked"
    );
    let port = port_from(&line, &root.display().to_string(), "127.0.0.1");
    let mut client = Client::connect(SocketAddr::from(([127, 0, 0, 1], port)));
    client
        .response_to_get("/locked.txt")
        .assert_status(403)
        .assert_error_page();
    assert_eq!(client.response_to_get("/a.txt").text(), "hello\n");
}
