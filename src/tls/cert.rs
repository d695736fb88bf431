//! The server's certificate: read from PEM files (a full chain; a PKCS#8, PKCS#1 or SEC1 key) or
//! made at start (`--tls-self-signed`), checked before it is used, and described for a person
//! (its SHA-256 fingerprint, the SHA-256 of its public key for Chromium's
//! `--ignore-certificate-errors-spki-list`, its validity).
//!
//! Owns: PEM and DER reading, the checks (a key that matches, a leaf within its validity), the
//! self-signed certificate. Knows nothing of connections. Cost: startup and reloads only.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use graviola::hashing::Sha256 as Sha256Hash;
use graviola::signing::ecdsa::{P256, SigningKey as EcdsaKey};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

use crate::http::calendar::{Civil, TimeStyle, days_from_civil};

/// Days a self-signed certificate is valid from the day it is made: under the 398 days browsers
/// accept for a leaf, long enough for any development session.
const SELF_SIGNED_DAYS: u64 = 397;

/// The keys the crypto signs with, for a person whose key it cannot use.
const SIGNING_KEYS: &str = "keys that can be: RSA of 2048 to 8192 bits, ECDSA on P-256 or P-384, \
                            Ed25519";

/// Why a certificate cannot be used; the message names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertError {
    /// The file the problem is in (`None` for a certificate made in memory).
    pub file: Option<PathBuf>,
    /// What is wrong, for a person.
    pub why: String,
}

impl CertError {
    fn new(file: &Path, why: impl Into<String>) -> CertError {
        CertError {
            file: Some(file.to_path_buf()),
            why: why.into(),
        }
    }
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}: {}", file.display(), self.why),
            None => f.write_str(&self.why),
        }
    }
}

impl std::error::Error for CertError {}

/// A certificate chain and its key, checked and ready for rustls, with what a person needs to
/// trust it.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    pub(crate) key: Arc<CertifiedKey>,
    /// SHA-256 of the leaf certificate's DER, as colon-separated hex (what `openssl x509
    /// -fingerprint -sha256` and browsers show).
    pub fingerprint: String,
    /// Base64 of the SHA-256 of the leaf's SubjectPublicKeyInfo: Chromium trusts a certificate by
    /// it with `--ignore-certificate-errors-spki-list`.
    pub spki_sha256: String,
    /// The leaf's validity, in seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
}

impl LoadedCert {
    /// Reads `cert` (PEM, leaf first, then its chain) and `key` (PEM: PKCS#8, PKCS#1 or SEC1),
    /// and checks them: readable, a certificate present, a key the provider can sign with that
    /// matches the leaf, the leaf valid now.
    pub fn from_files(
        cert: &Path,
        key: &Path,
        provider: &CryptoProvider,
    ) -> Result<LoadedCert, CertError> {
        let cert_pem = std::fs::read(cert).map_err(|e| CertError::new(cert, read_error(&e)))?;
        let key_pem = std::fs::read(key).map_err(|e| CertError::new(key, read_error(&e)))?;
        let chain = parse_chain(&cert_pem).map_err(|why| CertError::new(cert, why))?;
        let key_der = parse_key(&key_pem).map_err(|why| CertError::new(key, why))?;
        LoadedCert::check(chain, key_der, provider, SystemTime::now())
            .map_err(|(in_key, why)| CertError::new(if in_key { key } else { cert }, why))
    }

    /// The same checks on a chain and key given as PEM text (a certificate made in memory).
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        provider: &CryptoProvider,
    ) -> Result<LoadedCert, CertError> {
        let error = |why| CertError { file: None, why };
        let chain = parse_chain(cert_pem).map_err(error)?;
        let key_der = parse_key(key_pem).map_err(error)?;
        LoadedCert::check(chain, key_der, provider, SystemTime::now())
            .map_err(|(_, why)| error(why))
    }

    /// Checks a parsed chain and key at `now`. An error says whether it is the key's fault.
    fn check(
        chain: Vec<CertificateDer<'static>>,
        key_der: PrivateKeyDer<'static>,
        provider: &CryptoProvider,
        now: SystemTime,
    ) -> Result<LoadedCert, (bool, String)> {
        let leaf = chain[0].clone();
        let facts = LeafFacts::read(&leaf).ok_or((
            false,
            "the first certificate is not a well-formed X.509 certificate".to_string(),
        ))?;
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        if now > facts.not_after {
            return Err((
                false,
                format!("the certificate expired on {}", date(facts.not_after)),
            ));
        }
        if now < facts.not_before {
            return Err((
                false,
                format!(
                    "the certificate is not valid until {}",
                    date(facts.not_before)
                ),
            ));
        }
        let signing = provider
            .key_provider
            .load_private_key(key_der)
            .map_err(|e| {
                let why = format!("the private key cannot be used ({e}); {SIGNING_KEYS}");
                (true, why)
            })?;
        let key = CertifiedKey::new(chain, signing);
        match key.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                return Err((
                    true,
                    "the private key does not match the certificate".to_string(),
                ));
            }
            Err(e) => return Err((false, format!("the certificate cannot be used ({e})"))),
        }
        Ok(LoadedCert {
            key: Arc::new(key),
            fingerprint: colon_hex(&Sha256::digest(leaf.as_ref())),
            spki_sha256: base64::engine::general_purpose::STANDARD
                .encode(Sha256::digest(facts.spki)),
            not_before: facts.not_before,
            not_after: facts.not_after,
        })
    }

    /// When the certificate stops being valid, as a date.
    pub fn expires(&self) -> String {
        date(self.not_after)
    }
}

/// A certificate made at start for local development, with its PEM texts.
#[derive(Debug)]
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
    /// The names and addresses it is valid for.
    pub names: Vec<String>,
}

impl SelfSigned {
    /// A fresh ECDSA P-256 certificate for `localhost`, `127.0.0.1`, `::1`, `bind` (unless it is
    /// the unspecified address or already listed) and the machine's host name, valid from today
    /// for [`SELF_SIGNED_DAYS`].
    pub fn generate(bind: IpAddr, host_name: Option<&str>) -> Result<SelfSigned, CertError> {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let bind = (!bind.is_unspecified()).then(|| bind.to_string());
        for name in bind.into_iter().chain(host_name.map(str::to_string)) {
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
        let error = |e: rcgen::Error| CertError {
            file: None,
            why: format!("cannot make a self-signed certificate: {e}"),
        };
        let mut params = rcgen::CertificateParams::new(names.clone()).map_err(error)?;
        let today = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let midnight = |secs: u64| {
            let civil = Civil::from_unix(secs as i64);
            rcgen::date_time_ymd(civil.year() as i32, civil.month(), civil.day())
        };
        // From yesterday, so a client whose clock is a little behind still accepts it.
        params.not_before = midnight(today.saturating_sub(86_400));
        params.not_after = midnight(today) + Duration::from_secs(SELF_SIGNED_DAYS * 86_400);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "mioserve development certificate",
        );
        let key = P256Key::generate()?;
        let cert = key.self_sign(params).map_err(error)?;
        Ok(SelfSigned {
            cert_pem: cert.pem(),
            key_pem: key.pkcs8_pem(),
            names,
        })
    }
}

/// An ECDSA P-256 key made here, by graviola (the crypto under the server's TLS), that rcgen signs
/// certificates with: rcgen's own keys need a crypto library with C in it (see the README's
/// platforms section).
pub struct P256Key {
    key: EcdsaKey<P256>,
    /// The public point, uncompressed (what a certificate's key field holds).
    public: [u8; 65],
}

impl P256Key {
    /// A fresh random key.
    pub fn generate() -> Result<P256Key, CertError> {
        cpu_supported()?;
        let error = |why| CertError { file: None, why };
        let key =
            EcdsaKey::<P256>::generate().map_err(|e| error(format!("cannot make a key: {e:?}")))?;
        let public = key.private_key.public_key_uncompressed();
        Ok(P256Key { key, public })
    }

    /// A certificate for `params` signed by this key, with a random serial number unless
    /// `params` names one (browsers refuse two certificates with the same issuer and serial).
    pub fn self_sign(
        &self,
        mut params: rcgen::CertificateParams,
    ) -> Result<rcgen::Certificate, rcgen::Error> {
        if params.serial_number.is_none() {
            let mut serial = [0u8; 16];
            graviola::random::fill(&mut serial).map_err(|_| rcgen::Error::RemoteKeyError)?;
            // Positive and without a leading zero byte, as RFC 5280 wants it.
            serial[0] = serial[0] & 0x7f | 0x40;
            params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        }
        params.self_signed(self)
    }

    /// The key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn pkcs8_pem(&self) -> String {
        // A P-256 PKCS#8 document is 138 bytes with its public key.
        let mut der = [0u8; 256];
        let der = self
            .key
            .to_pkcs8_der(&mut der)
            .expect("a P-256 PKCS#8 document fits 256 bytes");
        let pem = pem::Pem::new("PRIVATE KEY", der);
        pem::encode_config(
            &pem,
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }
}

impl fmt::Debug for P256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("P256Key").finish_non_exhaustive()
    }
}

impl rcgen::PublicKeyData for P256Key {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for P256Key {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        // A DER ECDSA-Sig-Value on P-256 is at most 72 bytes.
        let mut signature = [0u8; 72];
        let signature = self
            .key
            .sign_asn1::<Sha256Hash>(&[msg], &mut signature)
            .map_err(|_| rcgen::Error::RemoteKeyError)?;
        Ok(signature.to_vec())
    }
}

/// Whether this CPU has the instructions graviola's cryptography is written with (it would panic at
/// the first handshake otherwise): asked where TLS starts (a context made, a key made), so a
/// start on such a CPU stops with one line instead; a reload does not ask again.
pub(crate) fn cpu_supported() -> Result<(), CertError> {
    cpu_verdict(graviola::util::is_cpu_supported())
}

fn cpu_verdict(supported: bool) -> Result<(), CertError> {
    if supported {
        return Ok(());
    }
    Err(CertError {
        file: None,
        why: "this CPU lacks instructions HTTPS needs here (x86_64: AES-NI, PCLMULQDQ, AVX, AVX2, \
              BMI1 and ADX, in x86_64 CPUs from about 2014 on; aarch64: AES, SHA-2, PMULL and NEON)"
            .to_string(),
    })
}

/// The chain in `pem`, leaf first.
fn parse_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate file ({e})"))?;
    if chain.is_empty() {
        return Err("no certificate in it (expected -----BEGIN CERTIFICATE-----)".to_string());
    }
    Ok(chain)
}

/// The first private key in `pem`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no private key in it (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
                .to_string()
        }
        e => format!("not a PEM private key file ({e})"),
    })
}

fn read_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => format!("cannot read it ({e})"),
    }
}

/// `bytes` as upper-case hex pairs separated by colons.
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `secs` since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn date(secs: i64) -> String {
    let mut text = Vec::with_capacity(23);
    Civil::from_unix(secs).push(&mut text, TimeStyle::Seconds);
    text.extend_from_slice(b" UTC");
    String::from_utf8_lossy(&text).into_owned()
}

/// What the checks need from a leaf certificate: its validity and its public key.
struct LeafFacts<'a> {
    not_before: i64,
    not_after: i64,
    /// The SubjectPublicKeyInfo, tag and length included.
    spki: &'a [u8],
}

impl<'a> LeafFacts<'a> {
    /// Reads an X.509 certificate's DER (RFC 5280 §4.1) as far as the public key:
    /// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    /// signature, issuer, validity SEQUENCE { notBefore, notAfter }, subject,
    /// subjectPublicKeyInfo, … }, … }`. `None` if it is not shaped so.
    fn read(der: &'a [u8]) -> Option<LeafFacts<'a>> {
        let (cert, _) = Der::read(der, 0x30)?;
        let (tbs, _) = Der::read(cert.body, 0x30)?;
        let mut rest = tbs.body;
        if rest.first() == Some(&0xa0) {
            rest = Der::read(rest, 0xa0)?.1;
        }
        rest = Der::read(rest, 0x02)?.1; // serialNumber
        rest = Der::read(rest, 0x30)?.1; // signature
        rest = Der::read(rest, 0x30)?.1; // issuer
        let (validity, after) = Der::read(rest, 0x30)?;
        let after_subject = Der::read(after, 0x30)?.1;
        let (spki, _) = Der::read(after_subject, 0x30)?;
        let (not_before, times) = Der::time(validity.body)?;
        let (not_after, _) = Der::time(times)?;
        Some(LeafFacts {
            not_before,
            not_after,
            spki: spki.whole,
        })
    }
}

/// One DER element.
struct Der<'a> {
    /// Tag, length and contents.
    whole: &'a [u8],
    /// The contents.
    body: &'a [u8],
}

impl<'a> Der<'a> {
    /// The element at the start of `input` if its tag is `tag`, and what follows it.
    fn read(input: &'a [u8], tag: u8) -> Option<(Der<'a>, &'a [u8])> {
        if *input.first()? != tag {
            return None;
        }
        let first = *input.get(1)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let bytes = input.get(2..2 + count)?;
            let len = bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
            (len, 2 + count)
        };
        let end = header.checked_add(len)?;
        let whole = input.get(..end)?;
        Some((
            Der {
                whole,
                body: &whole[header..],
            },
            &input[end..],
        ))
    }

    /// A UTCTime (`YYMMDDHHMMSSZ`, years 1950-2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) at the
    /// start of `input`, in seconds since the epoch, and what follows it.
    fn time(input: &'a [u8]) -> Option<(i64, &'a [u8])> {
        let (element, rest, digits) = match input.first()? {
            0x17 => {
                let (e, rest) = Der::read(input, 0x17)?;
                (e, rest, 2)
            }
            0x18 => {
                let (e, rest) = Der::read(input, 0x18)?;
                (e, rest, 4)
            }
            _ => return None,
        };
        let text = element.body;
        if text.len() != digits + 11 || text[digits + 10] != b'Z' {
            return None;
        }
        let number = |from: usize, len: usize| -> Option<i64> {
            let field = text.get(from..from + len)?;
            field.iter().try_fold(0i64, |n, &b| {
                b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
            })
        };
        let mut year = number(0, digits)?;
        if digits == 2 {
            year += if year < 50 { 2000 } else { 1900 };
        }
        let at = digits;
        let (month, day) = (number(at, 2)?, number(at + 2, 2)?);
        let (hour, minute, second) = (number(at + 4, 2)?, number(at + 6, 2)?, number(at + 8, 2)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some((days * 86_400 + hour * 3600 + minute * 60 + second, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> CryptoProvider {
        crate::tls::provider()
    }

    /// A certificate for `localhost` valid between the two dates, and its key.
    fn made(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = P256Key::generate().unwrap();
        let cert = key.self_sign(params).unwrap();
        (cert.pem(), key.pkcs8_pem())
    }

    #[test]
    fn a_cpu_without_the_instructions_is_told_at_start() {
        assert_eq!(cpu_verdict(true), Ok(()));
        let refused = cpu_verdict(false).unwrap_err();
        assert_eq!(refused.file, None);
        assert!(refused.to_string().contains("AES-NI"), "{refused}");
        // The machines this runs on have them: HTTPS is tested here, not refused.
        assert_eq!(cpu_supported(), Ok(()));
    }

    #[test]
    fn reads_the_validity_and_the_public_key() {
        let (cert, key) = made((2020, 1, 2), (2049, 12, 31));
        let loaded = LoadedCert::from_pem(cert.as_bytes(), key.as_bytes(), &provider()).unwrap();
        assert_eq!(loaded.not_before, 1_577_923_200); // 2020-01-02 00:00:00 UTC
        assert_eq!(date(loaded.not_after), "2049-12-31 00:00:00 UTC");
        assert_eq!(loaded.fingerprint.len(), 32 * 3 - 1);
        // The SPKI hash is that of the key's public half, as Chromium computes it.
        let der = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let key_pair = EcdsaKey::<P256>::from_pkcs8_der(der.secret_der()).unwrap();
        let mut spki = [0u8; 128];
        let spki = key_pair.to_spki_der(&mut spki).unwrap();
        let want = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki));
        assert_eq!(loaded.spki_sha256, want);
    }

    #[test]
    fn refuses_what_cannot_be_served() {
        let (expired, expired_key) = made((2001, 1, 1), (2002, 1, 1));
        let (future, future_key) = made((2090, 1, 1), (2091, 1, 1));
        let (good, _) = made((2020, 1, 1), (2049, 1, 1));
        let (_, other_key) = made((2020, 1, 1), (2049, 1, 1));
        let cases: &[(&str, &str, &str)] = &[
            (
                &expired,
                &expired_key,
                "the certificate expired on 2002-01-01 00:00:00 UTC",
            ),
            (
                &future,
                &future_key,
                "the certificate is not valid until 2090-01-01 00:00:00 UTC",
            ),
            (
                &good,
                &other_key,
                "the private key does not match the certificate",
            ),
            ("", &other_key, "no certificate in it"),
            (&good, &good, "no private key in it"),
        ];
        for (cert, key, want) in cases {
            let got = LoadedCert::from_pem(cert.as_bytes(), key.as_bytes(), &provider())
                .unwrap_err()
                .why;
            assert!(got.starts_with(want), "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn self_signed_covers_the_local_names() {
        let made = SelfSigned::generate("192.0.2.7".parse().unwrap(), Some("devbox")).unwrap();
        assert_eq!(
            made.names,
            ["localhost", "127.0.0.1", "::1", "192.0.2.7", "devbox"]
        );
        let loaded = LoadedCert::from_pem(
            made.cert_pem.as_bytes(),
            made.key_pem.as_bytes(),
            &provider(),
        )
        .unwrap();
        let days = (loaded.not_after - loaded.not_before) / 86_400;
        assert_eq!(days, SELF_SIGNED_DAYS as i64 + 1);
        assert!(made.key_pem.contains("BEGIN PRIVATE KEY"));
        let unspecified = SelfSigned::generate("0.0.0.0".parse().unwrap(), None).unwrap();
        assert_eq!(unspecified.names, ["localhost", "127.0.0.1", "::1"]);
    }

    /// The serial number's contents in a certificate's PEM.
    fn serial(cert_pem: &str) -> Vec<u8> {
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
        let (cert, _) = Der::read(&der, 0x30).unwrap();
        let (tbs, _) = Der::read(cert.body, 0x30).unwrap();
        let rest = Der::read(tbs.body, 0xa0).unwrap().1;
        Der::read(rest, 0x02).unwrap().0.body.to_vec()
    }

    #[test]
    fn each_certificate_made_has_its_own_positive_serial() {
        let bind = "127.0.0.1".parse().unwrap();
        let first = serial(&SelfSigned::generate(bind, None).unwrap().cert_pem);
        let second = serial(&SelfSigned::generate(bind, None).unwrap().cert_pem);
        assert_eq!(first.len(), 16, "{first:02x?}");
        assert!(first[0] & 0x80 == 0 && first[0] != 0, "{first:02x?}");
        assert_ne!(first, second);
    }

    #[test]
    fn times_in_both_forms() {
        let cases: &[(&[u8], Option<i64>)] = &[
            (b"\x17\x0d700101000000Z", Some(0)),
            (b"\x17\x0d491231235959Z", Some(2_524_607_999)),
            (b"\x18\x0f20500101000000Z", Some(2_524_608_000)),
            (b"\x17\x0d70010100000Z0", None),
            (b"\x17\x0d701301000000Z", None),
            (b"\x04\x0d700101000000Z", None),
        ];
        for (der, want) in cases {
            assert_eq!(Der::time(der).map(|(t, _)| t), *want, "{der:?}");
        }
    }
}
