//! Errors that stop the server from starting. Nothing per-request lives here: request problems are
//! answered on the wire (see [`crate::http::error::ParseError`]). Cost: startup only.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server could not start.
#[derive(Debug)]
pub enum StartupError {
    /// The root is missing, unreadable, or not a directory.
    Root(PathBuf, io::Error),
    /// The listening socket could not be bound (address in use, permission, bad address).
    Bind(SocketAddr, io::Error),
    /// The event loop could not be created.
    Poll(io::Error),
    /// A setting is invalid (for a library caller: the command line checks its own arguments).
    Config(String),
    /// The TLS certificate or key cannot be used (the message names the file).
    Tls(crate::tls::CertError),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Root(path, e) if e.kind() == io::ErrorKind::NotADirectory => {
                write!(
                    f,
                    "cannot serve {}: not a directory (ROOT is a folder: to serve a file, serve its folder)",
                    path.display()
                )
            }
            StartupError::Root(path, e) if e.kind() == io::ErrorKind::NotFound => {
                write!(
                    f,
                    "cannot serve {}: no such directory (check the path; with no ROOT, mioserve \
                     serves ./public if it exists, else the current directory)",
                    path.display()
                )
            }
            StartupError::Root(path, e) => write!(f, "cannot serve {}: {e}", path.display()),
            StartupError::Bind(addr, e) if e.kind() == io::ErrorKind::AddrInUse => {
                write!(f, "cannot listen on {addr}: address already in use")
            }
            StartupError::Bind(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            StartupError::Poll(e) => write!(f, "cannot start the event loop: {e}"),
            StartupError::Config(why) => write!(f, "invalid setting: {why}"),
            StartupError::Tls(e) => write!(f, "cannot serve HTTPS: {e}"),
        }
    }
}

impl std::error::Error for StartupError {}
