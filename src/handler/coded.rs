//! Which representation of a file to send: the file itself, a precompressed sidecar, a cached
//! compressed variant, or the file compressed as it is sent.
//!
//! Owns: finding sidecars (`x.br`, `x.zst`, `x.gz` beside `x`, opened like any file: beneath the
//! root, no escaping symlink, a regular file; stale and ignored when older than `x`), remembering
//! for a second that a file has none ([`Probes`]), and the choice itself ([`select`]) from the
//! client's `Accept-Encoding` ([`super::encoding`]), what exists, and what the request allows: a
//! `Range` request is answered only from a representation with a length (identity, a sidecar, a
//! cached variant), never from a stream; an HTTP/1.0 client, which has no chunked encoding, gets
//! no stream either.
//!
//! Cost for a compressible file: one hash lookup in [`Probes`] (a missing sidecar costs one failed
//! `openat2` a second per file and coding), a sidecar found costs what a file costs (the open-file
//! cache), a variant lookup is a hash lookup. Nothing for other types.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use super::WorkerState;
use super::cache_control::CachePolicy;
use super::encoding::{Accepted, MIN_COMPRESS_SIZE, compressible};
use super::open_files::{CachedFile, OpenFiles, RECHECK};
use super::resolve::{self, Resolved};
use super::variants::{VariantKey, Variants};
use crate::http::Version;
use crate::http::parse::RequestHead;
use crate::response::coding::Coding;
use crate::response::reason::{CodingWhy, Representation};
use crate::sys;

/// Paths remembered at most in [`Probes`]; beyond it the map starts over. Arbitrary, as the
/// open-file cache's bound.
const MAX_PROBES: usize = 1024;

/// What a worker keeps for content coding: the variant cache and the sidecar probes.
#[derive(Debug)]
pub struct CodingState {
    /// Shared with the coded streams in flight, which store their output when they complete.
    pub variants: Rc<RefCell<Variants>>,
    pub probes: Probes,
}

impl CodingState {
    /// State with a variant cache of `cap` bytes.
    pub fn new(cap: usize) -> CodingState {
        CodingState {
            variants: Rc::new(RefCell::new(Variants::new(cap))),
            probes: Probes::default(),
        }
    }
}

/// Sidecars found missing, per file path, for [`RECHECK`]: a file without sidecars (the usual
/// case) costs no `openat2` per request.
#[derive(Debug, Default)]
pub struct Probes {
    missing: HashMap<Box<[u8]>, Missing>,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    /// When the probe was made.
    at: Instant,
    /// Bit per [`Coding::index`]: that sidecar was not there.
    codings: u8,
}

impl Probes {
    fn known_missing(&self, path: &[u8], coding: Coding, now: Instant) -> bool {
        self.missing.get(path).is_some_and(|m| {
            now.duration_since(m.at) < RECHECK && m.codings & (1 << coding.index()) != 0
        })
    }

    fn record_missing(&mut self, path: &[u8], coding: Coding, now: Instant) {
        if let Some(m) = self.missing.get_mut(path) {
            if now.duration_since(m.at) >= RECHECK {
                *m = Missing {
                    at: now,
                    codings: 0,
                };
            }
            m.codings |= 1 << coding.index();
            return;
        }
        if self.missing.len() >= MAX_PROBES {
            self.missing.clear();
        }
        self.missing.insert(
            path.into(),
            Missing {
                at: now,
                codings: 1 << coding.index(),
            },
        );
    }

    /// Forgets probes older than [`RECHECK`] (called with the open-file cache's sweep).
    pub fn sweep(&mut self, now: Instant) {
        self.missing
            .retain(|_, m| now.duration_since(m.at) < RECHECK);
    }
}

/// What the site allows.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Compress on the fly.
    pub compress: bool,
    /// Serve sidecars.
    pub precompressed: bool,
}

/// The representation to send.
#[derive(Debug)]
pub enum Selected {
    /// The file as it is. `vary` when the choice depended on `Accept-Encoding`.
    Identity { vary: bool, why: Option<CodingWhy> },
    /// A sidecar file, shared with the open-file cache: its own validators, length and content;
    /// the response keeps the file's content type and cache policy.
    Sidecar(Coding, Rc<CachedFile>),
    /// A variant from the cache.
    Cached(Coding, Rc<Vec<u8>>),
    /// Compress while sending; the key is where the output is stored once complete.
    OnTheFly(Coding, VariantKey),
    /// An HTML page with live reload's script injected, sent in `coding` (compressed as it is
    /// sent, or identity, then `why` says why when that is worth saying).
    Injected {
        coding: Coding,
        why: Option<CodingWhy>,
        page: Rc<Vec<u8>>,
    },
}

impl Selected {
    /// What `--explain` says of it.
    pub fn representation(&self) -> Option<Representation> {
        let (coding, why) = match self {
            Selected::Identity { why, .. } => (Coding::Identity, (*why)?),
            Selected::Sidecar(coding, _) => (*coding, CodingWhy::Sidecar),
            Selected::Cached(coding, _) => (*coding, CodingWhy::CachedVariant),
            Selected::OnTheFly(coding, _) => (*coding, CodingWhy::OnTheFly),
            Selected::Injected { coding, why, .. } => (*coding, (*why)?),
        };
        Some(Representation { coding, why })
    }
}

/// Chooses the coding of `page`, an HTML page with live reload's script injected: compressed as it
/// is sent when the client accepts a coding this server compresses with, under the rules of
/// [`select`] (no stream for a range or for HTTP/1.0); never a sidecar or a cached variant, which
/// hold the page without the script.
pub fn select_injected(req: &RequestHead<'_>, policy: Policy, page: Rc<Vec<u8>>) -> Selected {
    let accepted = Accepted::parse(req.fields.accept_encoding);
    let small = (page.len() as u64) < MIN_COMPRESS_SIZE;
    let range = req.fields.range.is_some();
    let http11 = req.version == Version::Http11;
    let coding = if policy.compress && !small && !range && http11 {
        accepted.choose(Coding::on_the_fly)
    } else {
        Coding::Identity
    };
    let why = match coding {
        Coding::Identity if !accepted.wants_coding() || !policy.compress => None,
        Coding::Identity => Some(identity_why(small, range, http11)),
        _ => Some(CodingWhy::OnTheFly),
    };
    Selected::Injected { coding, why, page }
}

/// Why the identity goes to a client that accepts a coding, with compression on, for `--explain`:
/// the content is too small, a range was asked for, or the client speaks HTTP/1.0 (no stream
/// for either); otherwise the client accepts no coding this server has for it.
fn identity_why(small: bool, range: bool, http11: bool) -> CodingWhy {
    if small {
        CodingWhy::TooSmall
    } else if range {
        CodingWhy::Range
    } else if !http11 {
        CodingWhy::Http10
    } else {
        CodingWhy::NotAccepted
    }
}

/// Where sidecars are opened, and the cache policy of their own names (for the open-file cache,
/// which may serve a sidecar by its own URL too).
pub struct Root<'a> {
    pub dir: &'a sys::Root,
    pub cache: &'a CachePolicy,
}

/// Chooses the representation of `file`, found at the worker state's path (relative to the root;
/// used as scratch space and restored), for `req`.
pub fn select(
    req: &RequestHead<'_>,
    policy: Policy,
    root: Root<'_>,
    file: &CachedFile,
    worker: &mut WorkerState,
) -> Selected {
    let WorkerState {
        now,
        path,
        open_files: files,
        coding: state,
        ..
    } = worker;
    let now = *now;
    let (content_type, _) = file.content_type;
    let accepted = Accepted::parse(req.fields.accept_encoding);
    // `--explain` names the reason for identity only when the client asked for a coding.
    let asked = |why| accepted.wants_coding().then_some(why);
    if !(policy.compress || policy.precompressed) {
        return Selected::Identity {
            vary: false,
            why: None,
        };
    }
    if !compressible(content_type.mime) {
        return Selected::Identity {
            vary: false,
            why: asked(CodingWhy::NotCompressible),
        };
    }
    if !accepted.wants_coding() {
        return Selected::Identity {
            vary: true,
            why: None,
        };
    }
    let mut sidecars: [Option<Rc<CachedFile>>; 4] = [None, None, None, None];
    if policy.precompressed {
        for coding in Coding::PREFERENCE {
            if accepted.q(coding) > 0 {
                sidecars[coding.index()] = sidecar(&root, file, path, coding, files, state, now);
            }
        }
    }
    let len = file.meta.len();
    let compress = policy.compress && len >= MIN_COMPRESS_SIZE;
    let range = req.fields.range.is_some();
    let http11 = req.version == Version::Http11;
    let mut cached: [Option<Rc<Vec<u8>>>; 4] = [None, None, None, None];
    if let (true, Ok(mut variants)) = (compress, state.variants.try_borrow_mut()) {
        for coding in Coding::PREFERENCE.into_iter().filter(|c| c.on_the_fly()) {
            if accepted.q(coding) > 0 {
                cached[coding.index()] = variants.get(&VariantKey::of(&file.meta, coding));
            }
        }
    }
    let stream = |c: Coding| compress && c.on_the_fly() && !range && http11;
    let coding = accepted
        .choose(|c| sidecars[c.index()].is_some() || cached[c.index()].is_some() || stream(c));
    if coding == Coding::Identity {
        let why = if policy.compress {
            identity_why(len < MIN_COMPRESS_SIZE, range, http11)
        } else {
            CodingWhy::NotAccepted
        };
        return Selected::Identity {
            vary: true,
            why: Some(why),
        };
    }
    if let Some(sidecar) = sidecars[coding.index()].take() {
        return Selected::Sidecar(coding, sidecar);
    }
    if let Some(bytes) = cached[coding.index()].take() {
        return Selected::Cached(coding, bytes);
    }
    Selected::OnTheFly(coding, VariantKey::of(&file.meta, coding))
}

/// The fresh sidecar of `file` for `coding`, if there is one: `path` + the coding's suffix, by
/// the open-file cache or a full resolution.
fn sidecar(
    root: &Root<'_>,
    file: &CachedFile,
    path: &mut Vec<u8>,
    coding: Coding,
    files: &mut OpenFiles,
    state: &mut CodingState,
    now: Instant,
) -> Option<Rc<CachedFile>> {
    if state.probes.known_missing(path, coding, now) {
        return None;
    }
    let suffix = coding.sidecar_suffix()?;
    let len = path.len();
    path.extend_from_slice(suffix);
    let found = match files.lookup(root.dir.dir(), path, now) {
        Some(hit) => Some(hit),
        None => match resolve::resolve(root.dir, None, None, path) {
            Ok(Resolved::File(sidecar, meta)) => {
                // Cached under its own name as what it is, for a request naming it directly.
                let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
                let found = CachedFile::new(sidecar, meta, name, root.cache.for_name(name));
                Some(files.insert(root.dir.dir(), path, found, now))
            }
            _ => None,
        },
    };
    path.truncate(len);
    // Stale: older than the file it stands for (an edit since the sidecar was made).
    let fresh = found.filter(|s| match (s.meta.modified(), file.meta.modified()) {
        (Ok(sidecar), Ok(original)) => sidecar >= original,
        _ => false,
    });
    if fresh.is_none() {
        state.probes.record_missing(path, coding, now);
    }
    fresh
}
