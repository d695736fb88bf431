//! The binary on a real pseudo-terminal (a tmux pane, stdout and stderr both on it): the live
//! stats line and the lines written around it (access log, `-v` logging, `--explain`) never share
//! a row, whatever the flags; the screen tmux renders is what a user sees.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::util::*;

/// Pieces only the stats line contains.
const STATS_FRAGMENTS: [&str; 6] = ["req/s", "MB/s", "conns", "p99", "5xx", "errors"];
/// Pieces only the other lines contain: access log, env_logger records, `--explain`.
const LOG_FRAGMENTS: [&str; 6] = [
    "127.0.0.1 - -",
    "HTTP/1.1\"",
    "GET /",
    " INFO ",
    " DEBUG ",
    "→",
];

/// A tmux server of its own (its socket in a temp dir) running one pane; killed on drop.
struct Pane {
    socket: PathBuf,
    _dir: TempDir,
}

impl Pane {
    /// Runs `mioserve <root> -p 0 <args>` in a `width`-column pane, or `None` when tmux is not
    /// installed (which CI does not allow: `.ci/run` installs it).
    fn start(width: u16, args: &[&str]) -> Option<Pane> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "tmux is needed for the terminal tests"
            );
            eprintln!("note: tmux is not installed; skipping the terminal test");
            return None;
        }
        let dir = TempDir::new();
        let root = dir.path().join("root");
        for i in 1..=3 {
            write_file(&root, &format!("file{i}.txt"), format!("file {i}\n"));
        }
        let conf = dir.path().join("tmux.conf");
        // remain-on-exit keeps a crashed server's last words on screen for the failure message.
        fs::write(
            &conf,
            "set -g status off\nset -g remain-on-exit on\nset -g history-limit 10000\n",
        )
        .unwrap();
        let mut command = format!(
            "exec env -u RUST_LOG -u RUST_LOG_STYLE NO_COLOR=1 {} {} -p 0",
            env!("CARGO_BIN_EXE_mioserve"),
            root.display()
        );
        for arg in args {
            command.push(' ');
            command.push_str(arg);
        }
        let pane = Pane {
            socket: dir.path().join("tmux.sock"),
            _dir: dir,
        };
        let width = width.to_string();
        let status = Command::new("tmux")
            .arg("-S")
            .arg(&pane.socket)
            .arg("-f")
            .arg(&conf)
            .args(["new-session", "-d", "-x", &width, "-y", "50", &command])
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        Some(pane)
    }

    /// The pane's rows as displayed (scrollback included), `joined` undoing wrapping.
    fn rows(&self, joined: bool) -> Vec<String> {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(&self.socket);
        command.args(["capture-pane", "-p", "-S", "-"]);
        if joined {
            command.arg("-J");
        }
        let output = command.output().expect("tmux capture-pane");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The server's address, from its start line.
    #[track_caller]
    fn addr(&self) -> std::net::SocketAddr {
        let mut addr = None;
        wait_until(IO_TIMEOUT, || {
            addr = self.rows(true).iter().find_map(|row| {
                let url = row.strip_prefix("Serving ")?.split(" at http://").nth(1)?;
                url.trim_end().trim_end_matches('/').parse().ok()
            });
            addr.is_some()
        });
        addr.unwrap_or_else(|| panic!("no start line:\n{}", self.rows(false).join("\n")))
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
    }
}

/// Whether `row` is (the start of) a stats line: a rate, then `req/s`.
fn is_stats_line(row: &str) -> bool {
    let row = row.trim_start();
    let digits = row.len() - row.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    digits > 0 && row[digits..].starts_with(" req/s")
}

/// Runs the server with `args` in a `width`-column pane, sends three requests (plus a malformed
/// one when `bad`) in each of five bursts a little over a second apart, so that access-log flushes
/// and `-v` records land while the live line is on screen, then checks every row.
fn no_shared_rows(width: u16, args: &[&str], bad: bool, expect_live: bool) {
    let Some(pane) = Pane::start(width, args) else {
        return;
    };
    let addr = pane.addr();
    let bursts = 5;
    for _ in 0..bursts {
        for i in 1..=3 {
            Client::connect(addr)
                .response_to_get(&format!("/file{i}.txt"))
                .assert_status(200);
        }
        if bad {
            let mut client = Client::connect(addr);
            client.send(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
            client.response().assert_status(400);
        }
        // The stats line and the access log both move once a second: spread the bursts over
        // several of their ticks (this is the timing under test, not a synchronisation).
        std::thread::sleep(Duration::from_millis(1100));
    }
    let logged = |rows: &[String]| rows.iter().filter(|r| r.contains("\"GET /file")).count();
    let mut rows = Vec::new();
    let complete = wait_until(Duration::from_secs(5), || {
        rows = pane.rows(false);
        logged(&rows) >= 3 * bursts && (!expect_live || rows.iter().any(|r| is_stats_line(r)))
    });
    let screen = rows.join("\n");
    assert!(complete, "not every line showed up:\n{screen}");
    for row in &rows {
        let stats = STATS_FRAGMENTS.iter().any(|f| row.contains(f));
        let log = LOG_FRAGMENTS.iter().any(|f| row.contains(f));
        assert!(
            !(stats && log),
            "a row holds the stats line and another line: {row:?}\n{screen}"
        );
        assert!(
            !stats || is_stats_line(row),
            "a row holds a piece of a stats line: {row:?}\n{screen}"
        );
        assert!(
            row.chars().count() < usize::from(width) || !stats,
            "the stats line fills the row (it would wrap): {row:?}"
        );
    }
    if bad {
        assert!(
            rows.iter().any(|r| r.contains("rejecting request")),
            "no -v record while running:\n{screen}"
        );
    }
}

#[test]
fn default_flags() {
    no_shared_rows(120, &[], false, true);
}

#[test]
fn workers_extended_log_and_debug_logging() {
    no_shared_rows(
        160,
        &["-w", "2", "--access-log", "extended", "-v"],
        true,
        true,
    );
}

#[test]
fn narrow_terminal_cuts_the_live_line() {
    // Common Log lines wrap at 60 columns; the live line is cut to fit instead.
    no_shared_rows(60, &["-w", "0", "--access-log", "common"], false, true);
}

#[test]
fn explain_with_stats_lines() {
    // --explain turns the in-place line into a line per second (--stats), between explanations.
    no_shared_rows(120, &["--explain", "--stats"], false, true);
}

#[test]
fn no_stats_leaves_the_log_alone() {
    no_shared_rows(120, &["--no-stats", "-w", "2"], false, false);
}

/// The exit report starts on a row of its own, below the last live line.
#[test]
fn exit_report_below_the_live_line() {
    let Some(pane) = Pane::start(120, &[]) else {
        return;
    };
    let addr = pane.addr();
    Client::connect(addr)
        .response_to_get("/file1.txt")
        .assert_status(200);
    assert!(
        wait_until(Duration::from_secs(5), || pane
            .rows(false)
            .iter()
            .any(|r| is_stats_line(r))),
        "no live line"
    );
    let status = Command::new("tmux")
        .arg("-S")
        .arg(&pane.socket)
        .args(["send-keys", "C-c"])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rows = Vec::new();
    let reported = wait_until(Duration::from_secs(10), || {
        rows = pane.rows(false);
        rows.iter().any(|r| r.starts_with("connections ended:"))
    });
    let screen = rows.join("\n");
    assert!(reported, "no exit report:\n{screen}");
    let report = rows
        .iter()
        .position(|r| r.starts_with("mioserve: 1 requests in"))
        .unwrap_or_else(|| panic!("no totals line at a row start:\n{screen}"));
    assert!(
        is_stats_line(&rows[report - 1]),
        "the last live line is kept just above the report:\n{screen}"
    );
}
