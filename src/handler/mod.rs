//! Request → [`ResponsePlan`]: HTTP semantics and files, never a socket.
//!
//! `handle` decides from the request head, the site and the file system: it resolves the target,
//! opens what it serves (through the worker's open-file cache, which it updates) and describes the
//! answer as a plan. It never sees a socket; the connection encodes and sends the plan.
//!
//! Cost of a plain GET of a file: the path decoded into the worker's reused path buffer, then on
//! an open-file cache hit one `newfstatat` and no heap allocation; on a miss `openat2` + `statx` +
//! `newfstatat` and one allocation for the cache entry (its key and its `Rc`); no clock read (the
//! dates go by the loop's wake-up, `WorkerState::wall`). A single-range 206 costs the same; a
//! multi-range 206 allocates its part heads and body source (see `multipart`); a listing
//! allocates its state and a record per entry (see `listing`).
//!
//! For a file, `conditional::evaluate` decides first (412, 304, or serve, and whether `Range`
//! counts), then `range::evaluate` (200, 206, 416).

pub(crate) mod archive;
pub(crate) mod cache_control;
pub(crate) mod coded;
pub mod conditional;
pub(crate) mod encoding;
pub(crate) mod favicon;
pub(crate) mod front;
pub(crate) mod listing;
pub(crate) mod mime;
pub(crate) mod multipart;
pub(crate) mod open_files;
pub mod range;
pub mod resolve;
pub(crate) mod variants;

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::config::Config;
use crate::http::auth::Credentials;
use crate::http::parse::RequestHead;
use crate::http::{Method, Status};
use crate::response::body::{Body, BodySource, FileBody, MemoryBody};
use crate::response::boundary::Boundary;
use crate::response::coding::Coding;
use crate::response::compress::{CompressedBody, Encoder, Input};
use crate::response::content_range::ContentRange;
use crate::response::content_type::ContentType;
use crate::response::etag::ETag;
use crate::response::extra_headers::ExtraHeaders;
use crate::response::plan::{RareField, ResponsePlan};
use crate::response::reason::{CodingWhy, Reason, Representation};
use crate::sys;
use cache_control::CachePolicy;
use coded::{CodingState, Selected};
use conditional::{Precondition, Validators};
use listing::Listing;
use multipart::MultipartBody;
use open_files::{CachedFile, OpenFiles};
use range::Decision;
use resolve::{ResolveError, Resolved};
use variants::{Variants, store_when_complete};

/// The policies a [`Site`] applies, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteOptions {
    /// Serve and list names starting with `.`.
    pub(crate) hidden: bool,
    /// List a directory that has no `index.html` (otherwise 403).
    pub(crate) listing: bool,
    /// Compress on the fly for clients that accept it.
    pub(crate) compress: bool,
    /// Serve precompressed sidecars.
    pub(crate) precompressed: bool,
    /// Offer listed folders as tar and zip downloads (`?download=tar|zip`).
    pub(crate) archives: bool,
    /// Answer a missing extension-less path with the root's `index.html`.
    pub(crate) spa: bool,
    /// Answer CORS preflights.
    pub(crate) cors: bool,
    /// Say on stderr what an archive leaves out (`--explain`).
    pub(crate) explain: bool,
    /// How files are opened beneath the root.
    pub(crate) opening: sys::Opening,
}

impl Default for SiteOptions {
    /// What the command line defaults to: no hidden files, listings, archives, compression and
    /// sidecars on, no SPA fallback, no CORS.
    fn default() -> Self {
        SiteOptions {
            hidden: false,
            listing: true,
            compress: true,
            precompressed: true,
            archives: true,
            spa: false,
            cors: false,
            explain: false,
            opening: sys::Strategy::forced().opening,
        }
    }
}

impl From<&Config> for SiteOptions {
    fn from(config: &Config) -> SiteOptions {
        SiteOptions {
            hidden: config.hidden,
            listing: config.listing,
            compress: config.compress,
            precompressed: config.precompressed,
            archives: config.archives,
            spa: config.spa,
            cors: config.cors,
            explain: config.conn.explain,
            opening: config.strategy.opening,
        }
    }
}

/// The directory being served and the policies that apply to it.
#[derive(Debug)]
pub struct Site {
    /// The root, opened once: every file is opened beneath it. Shared with the listings and
    /// archives that outlive a request.
    root: Arc<sys::Root>,
    /// Serve and list names starting with `.`.
    hidden: bool,
    /// The `Cache-Control` value of each file.
    cache_control: CachePolicy,
    /// List directories without an index.
    listing: bool,
    /// Content coding: on the fly, sidecars.
    coding: coded::Policy,
    /// Offer listed folders as archives.
    archives: bool,
    /// The SPA fallback, with the `Cache-Control` of the index it serves.
    spa: Option<Arc<str>>,
    /// Answer CORS preflights.
    cors: bool,
    /// Basic authentication on every request.
    auth: Option<Credentials>,
    /// The operator's fields on every response (empty when there are none).
    extra: ExtraHeaders,
    /// Say on stderr what an archive leaves out.
    explain: bool,
}

/// The file in the root whose content, when it exists, is the body of every 404 response.
const NOT_FOUND_PAGE: &[u8] = b"404.html";

impl Site {
    /// Opens the configured root with the configured policies; `extra` are the fields every
    /// response carries, checked and rendered from the configuration.
    pub(crate) fn from_config(config: &Config, extra: ExtraHeaders) -> io::Result<Site> {
        let mut site = Site::open(&config.root, SiteOptions::from(config))?;
        site.cache_control = CachePolicy::new(config.cache_control.as_deref());
        site.auth = config.auth.clone();
        site.extra = extra;
        Ok(site)
    }

    /// Opens `root` (which must be a directory) for serving, with the default cache policy.
    pub fn open(root: &Path, options: SiteOptions) -> io::Result<Site> {
        Ok(Site {
            root: Arc::new(sys::Root::open(root, options.hidden, options.opening)?),
            hidden: options.hidden,
            listing: options.listing,
            cache_control: CachePolicy::default(),
            coding: coded::Policy {
                compress: options.compress,
                precompressed: options.precompressed,
            },
            archives: options.archives,
            spa: options.spa.then(|| Arc::from(cache_control::NO_CACHE)),
            cors: options.cors,
            auth: None,
            extra: ExtraHeaders::default(),
            explain: options.explain,
        })
    }

    /// The canonical root path.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The operator's fields, rendered, which every response carries: the exchange has the head
    /// encoder copy them into each answer, the handler's and its own refusals alike.
    pub(crate) fn extra_headers(&self) -> &[u8] {
        self.extra.as_bytes()
    }
}

/// Decides the response to `req`, using and updating the worker's open-file cache and path
/// buffer in `state`.
pub(crate) fn handle(req: &RequestHead<'_>, site: &Site, state: &mut WorkerState) -> ResponsePlan {
    let plan = match front::admit(req, site.cors, site.auth.as_ref()) {
        None => decide(req, site, state),
        Some(stop) => stop.plan(),
    };
    if req.method == Method::Head {
        plan.without_body()
    } else {
        plan
    }
}

/// The answer to a request let in by [`front::admit`].
fn decide(req: &RequestHead<'_>, site: &Site, state: &mut WorkerState) -> ResponsePlan {
    match req.method {
        Method::Get | Method::Head => serve(req, site, state),
        Method::Options => ResponsePlan {
            allow: true,
            reason: Some(Reason::Options),
            ..ResponsePlan::empty(Status::NO_CONTENT)
        },
        Method::Post
        | Method::Put
        | Method::Delete
        | Method::Patch
        | Method::Connect
        | Method::Trace => ResponsePlan {
            allow: true,
            reason: Some(Reason::MethodNotAllowed),
            ..ResponsePlan::error(Status::METHOD_NOT_ALLOWED)
        },
        Method::Unknown => {
            ResponsePlan::error(Status::NOT_IMPLEMENTED).because(Reason::UnknownMethod)
        }
    }
}

/// GET/HEAD of a path.
fn serve(req: &RequestHead<'_>, site: &Site, state: &mut WorkerState) -> ResponsePlan {
    let target = match resolve::split_target(req.target) {
        Ok(target) => target,
        Err(e) => return error_plan(site, e),
    };
    let path = &mut state.path;
    let trailing_slash = match resolve::normalise(target.path, site.hidden, path) {
        Ok(trailing_slash) => trailing_slash,
        Err(e) => return error_plan(site, e),
    };
    // A directory is served by its index: the path names the index from here on, so the
    // open-file cache finds it by the file's own path.
    let dir_len = (trailing_slash || path.is_empty()).then(|| resolve::push_index(path));
    let now = state.now;
    if let Some(cached) = state.open_files.lookup(site.root.dir(), path, now) {
        return file_plan(req, site, &cached, dir_len.is_some(), state);
    }
    match resolve::resolve(&site.root, dir_len, target.query, path) {
        Ok(Resolved::File(file, meta)) => {
            let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
            let cached = CachedFile {
                file: Rc::new(file),
                etag: ETag::of(&meta),
                content_type: mime::content_type(name),
                cache_control: site.cache_control.for_name(name),
                meta,
                content: None,
            };
            state.open_files.insert(site.root.dir(), path, &cached, now);
            file_plan(req, site, &cached, dir_len.is_some(), state)
        }
        Ok(Resolved::Directory(_)) if !site.listing => {
            ResponsePlan::error(Status::FORBIDDEN).because(Reason::NoListing)
        }
        Ok(Resolved::Directory(dir)) => {
            let archive = site
                .archives
                .then(|| archive::Format::from_query(target.query))
                .flatten();
            if let Some(format) = archive {
                return archive_plan(req, site, dir, path, format);
            }
            let mut options = listing::Options::from_request(target.query, req.fields.accept);
            options.archives = site.archives;
            let listing = Listing::new(dir, path, Arc::clone(&site.root), options);
            // A listing is text: coded on the fly when the client accepts it.
            let coding = if site.coding.compress {
                encoding::Accepted::parse(req.fields.accept_encoding).choose(Coding::on_the_fly)
            } else {
                Coding::Identity
            };
            let body: Box<dyn BodySource> = match Encoder::new(coding) {
                Some(encoder) if req.method != Method::Head => Box::new(CompressedBody::new(
                    Input::Stream(Box::new(listing)),
                    encoder,
                )),
                _ => Box::new(listing),
            };
            // No Content-Length: the connection sends it chunked (or close-delimited to
            // HTTP/1.0), generated as it goes.
            ResponsePlan {
                content_type: Some(options.content_type()),
                content_length: None,
                content_encoding: (coding != Coding::Identity).then_some(coding),
                representation: site.coding.compress.then_some(Representation {
                    coding,
                    why: if coding == Coding::Identity {
                        CodingWhy::NotAccepted
                    } else {
                        CodingWhy::OnTheFly
                    },
                }),
                vary: Some(if site.coding.compress {
                    "Accept, Accept-Encoding"
                } else {
                    "Accept"
                }),
                // No validator: see cache_control.rs for why.
                cache_control: Some(site.cache_control.for_listing()),
                body: Body::Stream(body),
                reason: Some(Reason::Listing),
                ..ResponsePlan::empty(Status::OK)
            }
        }
        Ok(Resolved::AddSlash(location)) => ResponsePlan {
            rare: Some(RareField::Location(location.into_boxed_str())),
            reason: Some(Reason::AddSlash),
            ..ResponsePlan::error(Status::MOVED_PERMANENTLY)
        },
        Err(ResolveError::NotFound) if path.as_slice() == favicon::PATH => favicon::plan(),
        Err(ResolveError::NotFound)
            if site.spa.is_some()
                && front::is_client_route(&path[..dir_len.unwrap_or(path.len())]) =>
        {
            spa_index(req, site, state)
        }
        Err(e) => error_plan(site, e),
    }
}

/// `--spa`: the root's `index.html` for a client-side route, revalidated on every load
/// (`no-cache`, whatever `--cache-control` says: a new build must show at once). A root without
/// one keeps the 404. Costs one `openat2` and one `fstat`: the index is not taken from the
/// open-file cache, where it would carry the site's Cache-Control.
fn spa_index(req: &RequestHead<'_>, site: &Site, state: &mut WorkerState) -> ResponsePlan {
    const INDEX: &[u8] = b"index.html";
    let opened = resolve::open_beneath(&site.root, INDEX)
        .and_then(|file| Ok((file.metadata().map_err(|_| ResolveError::Forbidden)?, file)));
    let (meta, file) = match opened {
        Ok((meta, file)) if meta.is_file() => (meta, file),
        _ => return error_plan(site, ResolveError::NotFound),
    };
    let cached = CachedFile {
        file: Rc::new(file),
        etag: ETag::of(&meta),
        content_type: mime::content_type(INDEX),
        cache_control: site
            .spa
            .clone()
            .unwrap_or_else(|| Arc::from(cache_control::NO_CACHE)),
        meta,
        content: None,
    };
    let plan = file_plan(req, site, &cached, false, state);
    match plan.reason {
        Some(Reason::File(_)) => plan.because(Reason::SpaFallback),
        _ => plan,
    }
}

/// A folder streamed as an archive, named after it.
fn archive_plan(
    req: &RequestHead<'_>,
    site: &Site,
    dir: File,
    path: &[u8],
    format: archive::Format,
) -> ResponsePlan {
    let explain = site
        .explain
        .then(|| format!("{} {}", req.method_token, req.target));
    match archive::body(format, Arc::clone(&site.root), dir, path, explain) {
        // No Content-Length: sent chunked (or close-delimited to HTTP/1.0) as it is generated.
        Ok(body) => ResponsePlan {
            content_type: Some(format.content_type()),
            content_length: None,
            rare: Some(RareField::Disposition(
                archive::content_disposition(archive::folder_name(path, site.root()), format)
                    .into_boxed_str(),
            )),
            body: Body::Stream(body),
            reason: Some(Reason::Archive {
                zip: format == archive::Format::Zip,
            }),
            ..ResponsePlan::empty(Status::OK)
        },
        Err(_) => error_plan(site, ResolveError::Unavailable),
    }
}

/// The plan for a resolved file at the state's path; `index` when it stands in for the directory
/// the target named.
fn file_plan(
    req: &RequestHead<'_>,
    site: &Site,
    cached: &CachedFile,
    index: bool,
    state: &mut WorkerState,
) -> ResponsePlan {
    let root = coded::Root {
        dir: &site.root,
        cache: &site.cache_control,
    };
    let selected = coded::select(req, site.coding, root, cached, state);
    let plan = serve_file(req, cached, selected, &state.coding.variants, state.wall);
    match plan.reason {
        Some(Reason::File(_)) if index => plan.because(Reason::Index),
        _ => plan,
    }
}

/// What the handler keeps from one request to the next, one per worker (event loop): the loop's
/// clock, the path buffer, and the open-file cache the loop sweeps.
#[derive(Debug)]
pub struct WorkerState {
    /// The loop's current wake-up: the open-file cache revalidates a path once per wake-up.
    pub(crate) now: Instant,
    /// The same wake-up by the wall clock, for dates.
    pub(crate) wall: SystemTime,
    /// The decoded path of the request being handled; reused, so decoding allocates nothing.
    path: Vec<u8>,
    /// Recently served files, kept open.
    pub(crate) open_files: OpenFiles,
    /// Compressed variants and sidecar probes.
    pub(crate) coding: CodingState,
}

impl Default for WorkerState {
    fn default() -> WorkerState {
        WorkerState::with_compress_cache(crate::config::DEFAULT_COMPRESS_CACHE)
    }
}

impl WorkerState {
    /// Worker state whose variant cache holds up to `cap` bytes.
    pub fn with_compress_cache(cap: usize) -> WorkerState {
        WorkerState {
            now: Instant::now(),
            wall: SystemTime::now(),
            path: Vec::new(),
            open_files: OpenFiles::default(),
            coding: CodingState::new(cap),
        }
    }
}

/// What a representation's content is.
enum Content {
    /// A file (the file itself or a sidecar), whole, with its content if the open-file cache
    /// holds it.
    File(Rc<File>, u64, Option<Rc<Vec<u8>>>),
    /// A cached variant.
    Memory(Rc<Vec<u8>>),
    /// The file, compressed as it is sent into the variant stored under the key.
    Stream(FileBody, Coding, variants::VariantKey),
}

/// GET/HEAD of a file, in the representation `selected`, as of `now`: preconditions, then ranges,
/// both against the selected representation's validators and length.
fn serve_file(
    req: &RequestHead<'_>,
    cached: &CachedFile,
    selected: Selected,
    variants: &Rc<RefCell<Variants>>,
    now: SystemTime,
) -> ResponsePlan {
    let vary = !matches!(selected, Selected::Identity { vary: false, .. });
    let representation = selected.representation();
    let CachedFile {
        file,
        meta,
        etag,
        content_type: (content_type, source),
        cache_control,
        content: held,
    } = cached;
    let (content_type, source) = (*content_type, *source);
    // The representation's content, validators and coding.
    let (content, validators, coding) = match selected {
        Selected::Identity { .. } => (
            Content::File(Rc::clone(file), meta.len(), held.clone()),
            Validators::with_etag(*etag, meta, now),
            None,
        ),
        Selected::Sidecar(coding, sidecar) => (
            Content::File(sidecar.file, sidecar.meta.len(), sidecar.content),
            Validators::with_etag(
                sidecar.etag.with_suffix(coding.etag_suffix()),
                &sidecar.meta,
                now,
            ),
            Some(coding),
        ),
        Selected::Cached(coding, bytes) => (
            Content::Memory(bytes),
            Validators::with_etag(etag.with_suffix(coding.etag_suffix()), meta, now),
            Some(coding),
        ),
        Selected::OnTheFly(coding, key) => {
            let whole = FileBody {
                file: Rc::clone(file),
                offset: 0,
                remaining: meta.len(),
            };
            (
                Content::Stream(whole, coding, key),
                Validators::with_etag(etag.with_suffix(coding.etag_suffix()), meta, now),
                Some(coding),
            )
        }
    };
    let len = match &content {
        Content::File(_, len, _) => Some(*len),
        Content::Memory(bytes) => Some(bytes.len() as u64),
        Content::Stream(..) => None,
    };
    // The validators, cache policy and Vary go on 200, 206 and 304 alike (RFC 9110 §15.4.5).
    let validated = |status| ResponsePlan {
        etag: Some(validators.etag),
        last_modified: validators.last_modified,
        cache_control: Some(cache_control.clone()),
        vary: vary.then_some("Accept-Encoding"),
        representation,
        ..ResponsePlan::empty(status)
    };
    let (use_range, if_range) =
        match conditional::evaluate(req.method, &req.fields, &validators, now) {
            Precondition::Failed(field) => {
                return ResponsePlan {
                    vary: vary.then_some("Accept-Encoding"),
                    ..ResponsePlan::error(Status::PRECONDITION_FAILED)
                }
                .because(Reason::PreconditionFailed(field));
            }
            Precondition::NotModified(field) => {
                return validated(Status::NOT_MODIFIED).because(Reason::NotModified(field));
            }
            Precondition::Serve {
                use_range,
                if_range,
            } => (use_range, if_range),
        };
    let decision = match (req.fields.range, len) {
        (Some(value), Some(len)) if use_range => range::evaluate(value, len),
        _ => Decision::Full,
    };
    // Several ranges of a coded representation would put `Content-Encoding` over the multipart
    // body as a whole, which is not what it is: the whole representation answers instead (a
    // server may ignore Range, RFC 9110 §14.2).
    let decision = match decision {
        Decision::Partial(ranges) if ranges.as_slice().len() > 1 && coding.is_some() => {
            Decision::Full
        }
        other => other,
    };
    let full_reason = if if_range == Some(false) {
        Reason::IfRangeFailed
    } else {
        Reason::File(source)
    };
    let complete = len.unwrap_or(0);
    let whole = |content| {
        let (body, content_length) = whole_body(content, req.method, variants);
        ResponsePlan {
            reason: Some(full_reason),
            content_type: Some(content_type),
            content_length,
            content_encoding: coding,
            accept_ranges: len.is_some(),
            body,
            ..validated(Status::OK)
        }
    };
    match decision {
        Decision::Full => whole(content),
        Decision::Unsatisfiable => ResponsePlan {
            content_range: Some(ContentRange::Unsatisfied { complete }),
            reason: Some(Reason::Unsatisfiable),
            vary: vary.then_some("Accept-Encoding"),
            ..ResponsePlan::error(Status::RANGE_NOT_SATISFIABLE)
        },
        Decision::Partial(ranges) => match (ranges.as_slice(), content) {
            (&[range], content) => ResponsePlan {
                reason: Some(Reason::Range {
                    if_range: if_range == Some(true),
                }),
                content_type: Some(content_type),
                content_length: Some(range.len()),
                content_encoding: coding,
                accept_ranges: true,
                content_range: Some(ContentRange::Bytes { range, complete }),
                body: match content {
                    Content::File(_, _, Some(bytes)) => Body::Memory(MemoryBody::new(
                        bytes,
                        range.start,
                        range.start + range.len(),
                    )),
                    Content::File(file, _, None) => Body::File(FileBody {
                        file,
                        offset: range.start,
                        remaining: range.len(),
                    }),
                    Content::Memory(bytes) => Body::Memory(MemoryBody::new(
                        bytes,
                        range.start,
                        range.start + range.len(),
                    )),
                    // Never chosen for a range request (see `coded::select`).
                    Content::Stream(..) => Body::Empty,
                },
                ..validated(Status::PARTIAL_CONTENT)
            },
            (several, Content::File(file, _, _)) => {
                let boundary = Boundary::random();
                let body = MultipartBody::new(file, several, complete, content_type, boundary);
                ResponsePlan {
                    reason: Some(Reason::Multipart {
                        parts: several.len(),
                    }),
                    content_type: Some(ContentType::MULTIPART_BYTERANGES),
                    boundary: Some(boundary),
                    content_length: Some(body.len()),
                    accept_ranges: true,
                    body: Body::Stream(Box::new(body)),
                    ..validated(Status::PARTIAL_CONTENT)
                }
            }
            // Several ranges of a coded representation are answered whole (above).
            (_, content) => whole(content),
        },
    }
}

/// The whole of `content` as a body, with its length if it has one.
fn whole_body(
    content: Content,
    method: Method,
    variants: &Rc<RefCell<Variants>>,
) -> (Body, Option<u64>) {
    match content {
        // A small file held by the open-file cache: copied behind its head, no `pread`.
        Content::File(_, len, Some(bytes)) => {
            (Body::Memory(MemoryBody::new(bytes, 0, len)), Some(len))
        }
        Content::File(file, len, None) => (
            Body::File(FileBody {
                file,
                offset: 0,
                remaining: len,
            }),
            Some(len),
        ),
        Content::Memory(bytes) => {
            let len = bytes.len() as u64;
            (Body::Memory(MemoryBody::new(bytes, 0, len)), Some(len))
        }
        // HEAD gets the headers GET would (chunked framing, no length) without the cost of
        // setting up an encoder.
        Content::Stream(..) if method == Method::Head => (Body::Empty, None),
        Content::Stream(whole, coding, key) => (coded_stream(whole, coding, key, variants), None),
    }
}

/// The body of `whole` compressed with `coding` as it is sent, its output stored as a variant
/// under `key` when complete (if the cache takes variants at all).
fn coded_stream(
    whole: FileBody,
    coding: Coding,
    key: variants::VariantKey,
    variants: &Rc<RefCell<Variants>>,
) -> Body {
    let Some(encoder) = Encoder::new(coding) else {
        return Body::Empty;
    };
    let Ok(cache) = variants.try_borrow() else {
        return Body::Stream(Box::new(CompressedBody::new(Input::File(whole), encoder)));
    };
    let (limit, allowance) = (cache.per_file_limit(), cache.capture_allowance());
    drop(cache);
    let file = whole.file.clone();
    let mut body = CompressedBody::new(Input::File(whole), encoder);
    if limit > 0 {
        body = body.capture(limit, allowance, store_when_complete(variants, key, file));
    }
    Body::Stream(Box::new(body))
}

fn error_plan(site: &Site, e: ResolveError) -> ResponsePlan {
    let (status, reason) = match e {
        // A hidden name answers exactly as a missing one, so its existence does not show.
        ResolveError::NotFound | ResolveError::Hidden => {
            let plan = not_found(site);
            return match e {
                ResolveError::Hidden => plan.because(Reason::Hidden),
                _ => plan,
            };
        }
        ResolveError::BadRequest => (Status::BAD_REQUEST, Reason::BadTarget),
        ResolveError::LeavesRoot => (Status::BAD_REQUEST, Reason::LeavesRoot),
        ResolveError::Forbidden => (Status::FORBIDDEN, Reason::Forbidden),
        ResolveError::TooLong => (Status::URI_TOO_LONG, Reason::TooLong),
        ResolveError::Unavailable => (Status::SERVICE_UNAVAILABLE, Reason::Unavailable),
    };
    ResponsePlan::error(status).because(reason)
}

/// 404 with the root's `404.html` as its body if there is one (opened afresh each time, so an
/// edit shows at once; one more `openat2` and `fstat` per 404), else the built-in page.
fn not_found(site: &Site) -> ResponsePlan {
    match resolve::open_beneath(&site.root, NOT_FOUND_PAGE) {
        Ok(file) => match file.metadata() {
            Ok(meta) if meta.is_file() => ResponsePlan {
                content_type: Some(ContentType::HTML),
                content_length: Some(meta.len()),
                body: Body::File(FileBody {
                    file: Rc::new(file),
                    offset: 0,
                    remaining: meta.len(),
                }),
                reason: Some(Reason::NotFound { custom_page: true }),
                ..ResponsePlan::empty(Status::NOT_FOUND)
            },
            _ => ResponsePlan::error(Status::NOT_FOUND)
                .because(Reason::NotFound { custom_page: false }),
        },
        Err(_) => {
            ResponsePlan::error(Status::NOT_FOUND).because(Reason::NotFound { custom_page: false })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Version;
    use crate::http::parse::{BodyFraming, Fields};
    use multipart::tests::{drain, parse};
    use range::tests::{TestSpec, any_spec};
    use std::os::unix::fs::FileExt;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A served directory, removed on drop.
    struct Root {
        path: PathBuf,
        site: Site,
    }

    impl Root {
        fn new(files: &[(&str, &[u8])]) -> Root {
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "mioserve-handler-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).unwrap();
            for (name, contents) in files {
                std::fs::write(path.join(name), contents).unwrap();
            }
            let site = Site::open(&path, SiteOptions::default()).unwrap();
            Root { path, site }
        }

        fn get(&self, method: Method, target: &str, fields: Fields<'_>) -> ResponsePlan {
            let req = RequestHead {
                method,
                method_token: "GET",
                target,
                version: Version::Http11,
                keep_alive: true,
                framing: BodyFraming::None,
                expect_continue: false,
                fields,
                len: 0,
            };
            handle(&req, &self.site, &mut WorkerState::default())
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    /// The body a plan would send.
    fn body(plan: &mut ResponsePlan) -> Vec<u8> {
        match std::mem::replace(&mut plan.body, Body::Empty) {
            Body::Empty => Vec::new(),
            Body::Static(bytes) => bytes.to_vec(),
            Body::File(file) => {
                let mut out = vec![0; file.remaining as usize];
                file.file.read_exact_at(&mut out, file.offset).unwrap();
                out
            }
            Body::Memory(memory) => memory.rest().to_vec(),
            Body::Stream(mut source) => drain(&mut *source, 16 * 1024).expect("piece"),
        }
    }

    fn range(value: &str) -> Fields<'_> {
        Fields {
            range: Some(value.as_bytes()),
            ..Fields::default()
        }
    }

    #[test]
    fn full_file_has_validators() {
        let root = Root::new(&[("a.txt", b"hello"), ("app.3f9c2e1a.js", b"x")]);
        let mut plan = root.get(Method::Get, "/a.txt", Fields::default());
        assert_eq!(plan.status, Status::OK);
        assert!(plan.etag.is_some() && plan.last_modified.is_some() && plan.accept_ranges);
        assert_eq!(plan.cache_control.as_deref(), Some(cache_control::NO_CACHE));
        assert_eq!(plan.content_length, Some(5));
        assert_eq!(body(&mut plan), b"hello");
        let plan = root.get(Method::Get, "/app.3f9c2e1a.js", Fields::default());
        assert_eq!(
            plan.cache_control.as_deref(),
            Some(cache_control::IMMUTABLE)
        );
    }

    #[test]
    fn not_modified_and_precondition_failed() {
        let root = Root::new(&[("a.txt", b"hello")]);
        let etag = root
            .get(Method::Get, "/a.txt", Fields::default())
            .etag
            .unwrap();
        let fields = Fields {
            if_none_match: Some(etag.as_bytes()),
            ..Fields::default()
        };
        for method in [Method::Get, Method::Head] {
            let mut plan = root.get(method, "/a.txt", fields);
            assert_eq!(plan.status, Status::NOT_MODIFIED);
            assert_eq!(plan.content_length, None);
            assert_eq!(plan.etag, Some(etag));
            assert!(plan.last_modified.is_some() && plan.cache_control.is_some());
            assert!(plan.content_type.is_none() && !plan.accept_ranges);
            assert!(body(&mut plan).is_empty());
        }
        let fields = Fields {
            if_match: Some(b"\"nope\""),
            ..Fields::default()
        };
        let plan = root.get(Method::Get, "/a.txt", fields);
        assert_eq!(plan.status, Status::PRECONDITION_FAILED);
    }

    #[test]
    fn ranges_through_the_handler() {
        let root = Root::new(&[("a.txt", b"0123456789")]);
        // (method, Range, status, Content-Range, body)
        type Case = (
            Method,
            &'static str,
            u16,
            Option<&'static str>,
            &'static [u8],
        );
        let cases: &[Case] = &[
            (Method::Get, "bytes=0-1", 206, Some("bytes 0-1/10"), b"01"),
            (Method::Get, "bytes=8-", 206, Some("bytes 8-9/10"), b"89"),
            (Method::Get, "bytes=-3", 206, Some("bytes 7-9/10"), b"789"),
            (Method::Get, "bytes=10-", 416, Some("bytes */10"), b""),
            (Method::Get, "bytes=x", 200, None, b"0123456789"),
            (Method::Get, "bytes=0-4,2-6", 200, None, b"0123456789"),
            (Method::Head, "bytes=0-1", 200, None, b""),
        ];
        for (method, value, status, content_range, want) in cases {
            let mut plan = root.get(*method, "/a.txt", range(value));
            assert_eq!(plan.status.code(), *status, "{value}");
            let got = plan.content_range.map(|cr| {
                let mut out = Vec::new();
                cr.write_value(&mut out);
                String::from_utf8(out).unwrap()
            });
            assert_eq!(got.as_deref(), *content_range, "{value}");
            let bytes = body(&mut plan);
            if *status != 416 {
                assert_eq!(bytes, *want, "{value}");
            }
        }
    }

    #[test]
    fn multipart_through_the_handler() {
        let root = Root::new(&[("a.txt", b"0123456789")]);
        let mut plan = root.get(Method::Get, "/a.txt", range("bytes=0-1, 5-6, -1"));
        assert_eq!(plan.status, Status::PARTIAL_CONTENT);
        assert_eq!(plan.content_type, Some(ContentType::MULTIPART_BYTERANGES));
        assert!(plan.content_range.is_none());
        let boundary = plan.boundary.unwrap();
        let len = plan.content_length.unwrap();
        let bytes = body(&mut plan);
        assert_eq!(bytes.len() as u64, len);
        let parts = parse(&bytes, std::str::from_utf8(boundary.as_bytes()).unwrap());
        let got: Vec<(&str, &[u8])> = parts
            .iter()
            .map(|p| (p.content_range.as_str(), &p.data[..]))
            .collect();
        assert_eq!(
            got,
            [
                ("bytes 0-1/10", &b"01"[..]),
                ("bytes 5-6/10", b"56"),
                ("bytes 9-9/10", b"9")
            ]
        );
        assert!(
            parts
                .iter()
                .all(|p| p.content_type == "text/plain; charset=utf-8")
        );
    }

    /// The model of what a set of range-specs should produce: `None` for the whole file, `Some`
    /// with no ranges for 416, otherwise the half-open intervals in request order.
    fn model(specs: &[TestSpec], len: u64) -> Option<Vec<(u64, u64)>> {
        if specs.len() > range::MAX_RANGES {
            return None;
        }
        let ranges: Vec<(u64, u64)> = specs.iter().filter_map(|s| s.model(len)).collect();
        if ranges.len() > 1 {
            for (i, a) in ranges.iter().enumerate() {
                for b in &ranges[i + 1..] {
                    if a.0 < b.1 && b.0 < a.1 {
                        return None;
                    }
                }
            }
        }
        Some(ranges)
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// For any file and any set of range-specs, the handler's answer is what the model
            /// says, and a 206 body is exactly the requested bytes of the file.
            #[test]
            fn partial_bodies_are_the_requested_slices(
                data in proptest::collection::vec(any::<u8>(), 0..600),
                specs in proptest::collection::vec(any_spec(), 1..20),
            ) {
                let root = Root::new(&[("f.bin", &data)]);
                let len = data.len() as u64;
                let value = format!(
                    "bytes={}",
                    specs.iter().map(TestSpec::text).collect::<Vec<_>>().join(",")
                );
                let mut plan = root.get(Method::Get, "/f.bin", range(&value));
                let declared = plan.content_length;
                let boundary = plan.boundary;
                let bytes = body(&mut plan);
                match model(&specs, len) {
                    None => {
                        prop_assert_eq!(plan.status, Status::OK);
                        prop_assert_eq!(&bytes, &data);
                    }
                    Some(ranges) if ranges.is_empty() => {
                        prop_assert_eq!(plan.status, Status::RANGE_NOT_SATISFIABLE);
                        prop_assert_eq!(
                            plan.content_range,
                            Some(ContentRange::Unsatisfied { complete: len })
                        );
                    }
                    Some(ranges) if ranges.len() == 1 => {
                        let (start, end) = ranges[0];
                        prop_assert_eq!(plan.status, Status::PARTIAL_CONTENT);
                        prop_assert_eq!(&bytes[..], &data[start as usize..end as usize]);
                        prop_assert_eq!(declared, Some(end - start));
                    }
                    Some(ranges) => {
                        prop_assert_eq!(plan.status, Status::PARTIAL_CONTENT);
                        prop_assert_eq!(declared, Some(bytes.len() as u64));
                        let boundary = boundary.expect("multipart boundary");
                        let parts = parse(&bytes, std::str::from_utf8(boundary.as_bytes()).unwrap());
                        prop_assert_eq!(parts.len(), ranges.len());
                        for (part, (start, end)) in parts.iter().zip(&ranges) {
                            prop_assert_eq!(&part.data[..], &data[*start as usize..*end as usize]);
                        }
                    }
                }
            }
        }
    }
}
