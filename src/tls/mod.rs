//! HTTPS: TLS 1.3 and 1.2 by rustls (the graviola provider), as a transport under the connection.
//!
//! Owns: the rustls server configuration every worker shares ([`TlsContext`]: the certificate,
//! swapped in place on reload; the session cache and the ticketer for resumption; ALPN
//! `http/1.1`), the certificate's loading and checks ([`cert`]), and the byte pipe that encrypts
//! ([`stream::TlsStream`]) behind [`Socket`], the connection's transport. The connection, the
//! parser and everything above them never know whether bytes were encrypted: they speak
//! [`crate::transport::Transport`].
//!
//! Cost: a handshake allocates rustls's connection state (one box per connection, a few KiB) and
//! costs an ECDHE and an ECDSA signature (a resumed one skips the signature); a kept-alive request
//! costs rustls's per-record work, two heap allocations among it (see [`stream`]).

pub mod cert;
pub(crate) mod socket;
pub(crate) mod stream;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;

pub use cert::{CertError, LoadedCert, SelfSigned};
pub(crate) use socket::Socket;
pub use stream::TlsStream;

/// TLS 1.2 sessions remembered for resumption by session id, shared by every worker. Each entry
/// is about 100-200 bytes; nginx's 1 MB `ssl_session_cache` holds about 4,000. Arbitrary.
const SESSION_CACHE_ENTRIES: usize = 4096;
/// TLS 1.3 tickets sent after each full handshake: one resumption per connection is what a
/// browser uses; each ticket costs an encryption. rustls sends two by default.
const TICKETS_PER_HANDSHAKE: usize = 1;

/// Where the certificate comes from, so a reload knows what to read.
#[derive(Debug, Clone)]
enum Source {
    /// `--tls-cert` and `--tls-key`.
    Files { cert: PathBuf, key: PathBuf },
    /// Made in memory (`--tls-self-signed`, or a test): nothing to reload from.
    Memory,
}

/// Hands every ClientHello the current certificate, whatever name it asks for (SNI): a
/// development server answers to any name it is reached by, and a client checks the name
/// itself. A reload swaps it for new handshakes; connections keep the one they started with.
#[derive(Debug)]
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A poisoned lock means a panic mid-swap, which a clone of an Arc cannot cause.
        self.0.read().ok().map(|key| Arc::clone(&key))
    }
}

/// What the workers share to speak TLS: the rustls configuration and what it was built from.
#[derive(Clone)]
pub struct TlsContext {
    config: Arc<ServerConfig>,
    current: Arc<CurrentCert>,
    source: Source,
    /// What a person needs to trust the certificate in use when the server started.
    first: LoadedCert,
}

impl fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsContext")
            .field("source", &self.source)
            .field("fingerprint", &self.first.fingerprint)
            .finish()
    }
}

/// The crypto provider: graviola (through rustls-graviola), Rust and assembly without C, so the
/// project builds and type-checks for every platform with rustc alone; measured against aws-lc-rs
/// in the README's HTTPS section. Its key exchanges put X25519MLKEM768 (post-quantum) first.
pub fn provider() -> CryptoProvider {
    rustls_graviola::default_provider()
}

impl TlsContext {
    /// A context serving the certificate chain in `cert` with the key in `key` (PEM files),
    /// which SIGHUP reloads.
    pub fn from_files(cert: &Path, key: &Path) -> Result<TlsContext, CertError> {
        cert::cpu_supported()?;
        let loaded = LoadedCert::from_files(cert, key, &provider())?;
        TlsContext::new(
            loaded,
            Source::Files {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            },
        )
    }

    /// A context serving a chain and key given as PEM text (a certificate made at start).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsContext, CertError> {
        cert::cpu_supported()?;
        let loaded = LoadedCert::from_pem(cert_pem, key_pem, &provider())?;
        TlsContext::new(loaded, Source::Memory)
    }

    fn new(loaded: LoadedCert, source: Source) -> Result<TlsContext, CertError> {
        let error = |e: rustls::Error| CertError {
            file: None,
            why: format!("cannot set up TLS: {e}"),
        };
        let current = Arc::new(CurrentCert(RwLock::new(Arc::clone(&loaded.key))));
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(error)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
        config.ticketer = rustls_graviola::Ticketer::new().map_err(error)?;
        config.send_tls13_tickets = TICKETS_PER_HANDSHAKE;
        Ok(TlsContext {
            config: Arc::new(config),
            current,
            source,
            first: loaded,
        })
    }

    /// The certificate the server started with.
    pub fn certificate(&self) -> &LoadedCert {
        &self.first
    }

    /// The files the certificate is read from, if it was read from files (what SIGHUP reloads).
    pub fn files(&self) -> Option<(&Path, &Path)> {
        match &self.source {
            Source::Files { cert, key } => Some((cert, key)),
            Source::Memory => None,
        }
    }

    /// Reads the certificate files again and, if they pass the start's checks, serves the new
    /// certificate to every handshake from now on. On failure the certificate in use stays.
    pub fn reload(&self) -> Result<LoadedCert, CertError> {
        let Source::Files { cert, key } = &self.source else {
            return Err(CertError {
                file: None,
                why: "the certificate was not read from files: nothing to reload".to_string(),
            });
        };
        let loaded = LoadedCert::from_files(cert, key, &provider())?;
        if let Ok(mut current) = self.current.0.write() {
            *current = Arc::clone(&loaded.key);
        }
        Ok(loaded)
    }

    /// The rustls configuration for new connections.
    pub(crate) fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

/// How a connection's TLS ended, for the exit report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The handshake completed; `resumed` when by a ticket or a session id.
    Completed { resumed: bool },
    /// The first bytes were plain HTTP: answered with a 308 to `https://`.
    PlainHttp,
    /// The handshake failed.
    Failed(Failure),
    /// The client closed before sending anything.
    Nothing,
}

/// Why a handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The client offers no protocol version we speak (TLS 1.1 or older).
    ProtocolVersion,
    /// No cipher suite, key-exchange group or signature scheme in common.
    NoSharedCipher,
    /// The client refused our certificate (an alert saying so: unknown CA, bad certificate).
    BadCertificate,
    /// It did not complete within the header timeout.
    Timeout,
    /// Bytes that are not TLS records, or a handshake out of order.
    Malformed,
    /// The client closed the connection mid-handshake, or sent another alert.
    ClientClosed,
    /// Anything else (an ALPN list without http/1.1, …).
    Other,
}

impl Failure {
    /// Every reason, in the exit report's order.
    pub(crate) const ALL: [Failure; 7] = [
        Failure::ProtocolVersion,
        Failure::NoSharedCipher,
        Failure::BadCertificate,
        Failure::Timeout,
        Failure::Malformed,
        Failure::ClientClosed,
        Failure::Other,
    ];

    /// The reason as the exit report names it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Failure::ProtocolVersion => "protocol version",
            Failure::NoSharedCipher => "no shared cipher",
            Failure::BadCertificate => "bad certificate from client",
            Failure::Timeout => "timeout",
            Failure::Malformed => "malformed",
            Failure::ClientClosed => "client closed",
            Failure::Other => "other",
        }
    }

    /// The failure a rustls error means.
    pub(crate) fn of(error: &rustls::Error) -> Failure {
        use rustls::{AlertDescription as A, Error as E, PeerIncompatible as P};
        match error {
            E::PeerIncompatible(
                P::SupportedVersionsExtensionRequired
                | P::Tls12NotOffered
                | P::Tls12NotOfferedOrEnabled
                | P::ServerDoesNotSupportTls12Or13,
            ) => Failure::ProtocolVersion,
            E::PeerIncompatible(
                P::NoCipherSuitesInCommon
                | P::NoKxGroupsInCommon
                | P::NoSignatureSchemesInCommon
                | P::NoEcPointFormatsInCommon,
            ) => Failure::NoSharedCipher,
            E::AlertReceived(
                A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA,
            ) => Failure::BadCertificate,
            E::AlertReceived(A::ProtocolVersion) => Failure::ProtocolVersion,
            E::AlertReceived(A::HandshakeFailure | A::InsufficientSecurity) => {
                Failure::NoSharedCipher
            }
            E::AlertReceived(_) => Failure::ClientClosed,
            E::InvalidMessage(_)
            | E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. }
            | E::PeerMisbehaved(_)
            | E::DecryptError => Failure::Malformed,
            _ => Failure::Other,
        }
    }
}
