//! The one owner of the process's terminal output: the access log (stdout), diagnostics and
//! `--explain` lines (stderr) and the live stats line (stderr, rewritten in place) all go through
//! [`Terminal::global`].
//!
//! The live line is redrawn with `\r` and "erase line", which only works while nothing else has
//! written after it. So while it is on screen, every other write first erases it, writes its
//! lines, and draws it again, under one lock: the live line and a log line never share a row. The
//! access log is on stdout, which is usually the same terminal as stderr (`mioserve DIR` in a
//! shell), and then it takes part too; the terminal is "the same" when both descriptors are
//! terminals with the same device and inode. When stdout is elsewhere (a file, a pipe, another
//! terminal) the access log writes straight through, without the lock, since it cannot disturb
//! the live line.
//!
//! Cost: the access log calls [`Terminal::write_stdout`] once per flush (buffered per worker, at
//! least once a second), so a shared terminal costs one uncontended lock per flush, never one per
//! line. The live line is cut to the terminal's width, so it never wraps onto a second row that
//! "erase line" would leave behind.

use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::sync::{LazyLock, Mutex, MutexGuard};

/// Returns to column 0 and erases the row.
const ERASE_ROW: &[u8] = b"\r\x1b[2K";

/// The process's stdout and stderr, seen as one screen.
#[derive(Debug)]
pub struct Terminal {
    /// stdout and stderr are one terminal: stdout writes must step around the live line.
    shared: bool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The live line on screen now (already cut to width), if any.
    live: Option<String>,
    /// [`Terminal::end_live`] ran: later live lines are not drawn.
    ended: bool,
}

static GLOBAL: LazyLock<Terminal> = LazyLock::new(|| Terminal {
    shared: same_terminal(io::stdout(), io::stderr()),
    state: Mutex::new(State::default()),
});

impl Terminal {
    /// The process's terminal.
    pub fn global() -> &'static Terminal {
        &GLOBAL
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while writing leaves nothing half-updated that matters: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `bytes` (whole lines) to stdout and flushes, stepping around the live line when
    /// stdout is the live line's terminal.
    pub fn write_stdout(&self, bytes: &[u8]) -> io::Result<()> {
        if !self.shared {
            return write_flush(&mut io::stdout().lock(), bytes);
        }
        let state = self.lock();
        let mut stderr = io::stderr().lock();
        erase(&state, &mut stderr);
        let written = write_flush(&mut io::stdout().lock(), bytes);
        redraw(&state, &mut stderr);
        written
    }

    /// Writes `bytes` (whole lines) to stderr, stepping around the live line.
    pub fn write_stderr(&self, bytes: &[u8]) -> io::Result<()> {
        let state = self.lock();
        let mut stderr = io::stderr().lock();
        erase(&state, &mut stderr);
        let written = write_flush(&mut stderr, bytes);
        redraw(&state, &mut stderr);
        written
    }

    /// Draws `line` as the live line on stderr, replacing the previous one, cut to the
    /// terminal's width. Call only when stderr is a terminal.
    pub fn show_live(&self, line: &str) {
        let mut state = self.lock();
        if state.ended {
            return;
        }
        let width = rustix::termios::tcgetwinsize(io::stderr()).map_or(0, |w| w.ws_col);
        let line = fit(line, usize::from(width));
        state.live = Some(line.to_string());
        let mut stderr = io::stderr().lock();
        let _ = stderr.write_all(ERASE_ROW);
        redraw(&state, &mut stderr);
    }

    /// Leaves the last live line on screen, moves below it, and draws no more: what follows (the
    /// exit report) starts on a row of its own.
    pub fn end_live(&self) {
        let mut state = self.lock();
        state.ended = true;
        if state.live.take().is_some() {
            let _ = write_flush(&mut io::stderr().lock(), b"\n");
        }
    }
}

/// An [`io::Write`] for stderr through [`Terminal::global`], for `env_logger` (which writes each
/// record, newline included, in one `write_all`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Terminal::global().write_stderr(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An [`io::Write`] for stdout through [`Terminal::global`], for the access log (which writes
/// whole lines, a flush at a time).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Terminal::global().write_stdout(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        Terminal::global().write_stdout(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn write_flush(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

fn erase(state: &State, stderr: &mut impl Write) {
    if state.live.is_some() {
        let _ = write_flush(stderr, ERASE_ROW);
    }
}

fn redraw(state: &State, stderr: &mut impl Write) {
    if let Some(line) = &state.live {
        let _ = write_flush(stderr, line.as_bytes());
    }
}

/// Whether `a` and `b` are terminals and the same one (same device and inode).
fn same_terminal(a: impl AsFd, b: impl AsFd) -> bool {
    let (a, b) = (a.as_fd(), b.as_fd());
    if !a.is_terminal() || !b.is_terminal() {
        return false;
    }
    match (rustix::fs::fstat(a), rustix::fs::fstat(b)) {
        (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
        _ => false,
    }
}

/// `line` cut to fewer than `width` characters (the last column is left free, so the cursor never
/// waits to wrap); all of it when the width is unknown (0). The live line is one character per
/// column (ASCII and `µ`).
fn fit(line: &str, width: usize) -> &str {
    if width == 0 {
        return line;
    }
    match line.char_indices().nth(width - 1) {
        Some((end, _)) => &line[..end],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_to_the_width() {
        assert_eq!(fit("abcdef", 0), "abcdef");
        assert_eq!(fit("abcdef", 4), "abc");
        assert_eq!(fit("abcdef", 7), "abcdef");
        assert_eq!(fit("abcdef", 6), "abcde");
        assert_eq!(fit("p50 3µs p99", 7), "p50 3µ");
    }

    #[test]
    fn pipes_are_not_a_shared_terminal() {
        let (read, write) = rustix::pipe::pipe().unwrap();
        let read = std::fs::File::from(read);
        let write = std::fs::File::from(write);
        assert!(!same_terminal(&read, &write));
        assert!(!same_terminal(&write, &write));
    }
}
