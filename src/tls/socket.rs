//! A connection's socket as the loop holds it: plain TCP, or TLS over TCP (boxed, so a plain
//! connection pays one pointer's room for the option). One `match` per call picks the transport.

use std::fs::File;
use std::io;

use mio::event::Source;
use mio::{Interest, Registry, Token};

use super::Outcome;
use super::stream::TlsStream;
use crate::transport::{Security, Tcp, Transport};

/// Plain TCP or TLS over TCP.
#[derive(Debug)]
pub(crate) enum Socket {
    Plain(Tcp),
    Tls(Box<TlsStream>),
}

impl Socket {
    fn tcp(&mut self) -> &mut Tcp {
        match self {
            Socket::Plain(tcp) => tcp,
            Socket::Tls(tls) => tls.tcp(),
        }
    }

    /// How the connection's TLS went, for a TLS connection that is ending. `timed_out`: it ends at
    /// the header deadline.
    pub(crate) fn tls_outcome(&self, timed_out: bool) -> Option<Outcome> {
        match self {
            Socket::Plain(_) => None,
            Socket::Tls(tls) => Some(tls.outcome(timed_out)),
        }
    }
}

impl Transport for Socket {
    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Plain(tcp) => tcp.recv(buf),
            Socket::Tls(tls) => tls.recv(buf),
        }
    }

    #[inline]
    fn send(&mut self, buf: &[u8], more: bool) -> io::Result<usize> {
        match self {
            Socket::Plain(tcp) => tcp.send(buf, more),
            Socket::Tls(tls) => tls.send(buf, more),
        }
    }

    fn send_file(&mut self, file: &File, offset: &mut u64, count: usize) -> io::Result<usize> {
        match self {
            Socket::Plain(tcp) => tcp.send_file(file, offset, count),
            Socket::Tls(tls) => tls.send_file(file, offset, count),
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Socket::Plain(tcp) => tcp.shutdown_write(),
            Socket::Tls(tls) => tls.shutdown_write(),
        }
    }

    #[inline]
    fn can_send_file(&self) -> bool {
        match self {
            Socket::Plain(_) => true,
            Socket::Tls(tls) => tls.can_send_file(),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Socket::Plain(_) => Ok(()),
            Socket::Tls(tls) => tls.flush(),
        }
    }

    #[inline]
    fn holds_output(&self) -> bool {
        match self {
            Socket::Plain(_) => false,
            Socket::Tls(tls) => tls.holds_output(),
        }
    }

    #[inline]
    fn security(&self) -> Security {
        match self {
            Socket::Plain(_) => Security::Plain,
            Socket::Tls(tls) => tls.security(),
        }
    }
}

impl Source for Socket {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.tcp().register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.tcp().reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.tcp().deregister(registry)
    }
}
