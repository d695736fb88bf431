//! Request → [`ResponsePlan`]: HTTP semantics and files, never a socket.
//!
//! This module is the router. [`handle`] takes a parsed request through the same steps every
//! time: admission (`admit`: a CORS preflight, Basic authentication), the method, the target
//! (split, percent-decoded and normalised into the worker's path buffer), the reserved prefix
//! (`reserved`: `/__mioserve/…`, routed before the file system is consulted), the file system
//! (the open-file cache, else `resolve`), and then which responder answers:
//!
//! | responder | answers |
//! |---|---|
//! | `file` | a regular file: representation, validators, preconditions, ranges, body |
//! | `folder` | a directory without an index: its listing, or an archive of it |
//! | `front` | what resolved to nothing or was refused: favicon, SPA fallback, error pages |
//! | `reserved` | the server's own paths under `/__mioserve/` |
//!
//! Each responder has one entry that returns the plan; the router never builds a plan of its own
//! beyond the method's answers (204 for OPTIONS, 405, 501) and the redirect that adds a slash.
//! It never sees a socket; the connection encodes and sends the plan.
//!
//! Cost of a plain GET of a file: the path decoded into the worker's reused path buffer, then on
//! an open-file cache hit one `newfstatat` and no heap allocation; on a miss `openat2` + `statx` +
//! `newfstatat` and one allocation for the cache entry (its key and its `Rc`); no clock read (the
//! dates go by the loop's wake-up, `WorkerState::wall`). What each responder adds is in its own
//! documentation.

mod admit;
pub(crate) mod archive;
pub(crate) mod cache_control;
pub(crate) mod coded;
pub mod conditional;
pub(crate) mod encoding;
mod favicon;
mod file;
mod folder;
mod front;
pub(crate) mod listing;
pub mod live;
pub(crate) mod mime;
pub(crate) mod multipart;
pub(crate) mod open_files;
pub mod range;
mod reserved;
pub mod resolve;
mod site;
pub(crate) mod variants;

use std::fs::File;
use std::rc::Rc;
use std::time::{Instant, SystemTime};

use crate::http::parse::RequestHead;
use crate::http::{Method, Status};
use crate::response::content_type::ContentType;
use crate::response::plan::{RareField, ResponsePlan};
use crate::response::reason::{Injection, Reason};
use coded::CodingState;
use front::Miss;
use live::Feed;
use open_files::{CachedFile, OpenFiles};
use resolve::{Decoded, ResolveError, Resolved};
pub use site::{Site, SiteOptions};

/// Decides the response to `req`, using and updating the worker's open-file cache and path
/// buffer in `state`.
pub(crate) fn handle(req: &RequestHead<'_>, site: &Site, state: &mut WorkerState) -> ResponsePlan {
    state.page_load = live::wants_injection(req, state.live.as_ref());
    let mut plan = match admit::admit(req, site.cors, site.auth.as_ref()) {
        None => route(req, site, state),
        // A container's health probe carries no credentials (see `reserved::is_health`).
        Some(admit::Stop::Unauthorized(_)) if site.health && reserved::is_health(req.target) => {
            route(req, site, state)
        }
        Some(stop) => stop.plan(),
    };
    // Error pages are pages too: under live reload, a 404 follows the files like any page. The
    // not-found page has decided its own (`file::serve_page`, which injects before coding).
    let page_decided = plan.status == Status::NOT_FOUND && plan.live.is_some();
    if state.live.is_some()
        && !page_decided
        && plan.status.code() >= 400
        && plan
            .content_type
            .is_some_and(|t| t.mime == ContentType::HTML.mime)
    {
        plan = match state.page_load {
            Some(Injection::Injected) => live::inject_error_page(plan),
            Some(why) => plan.injected(why),
            None => plan,
        };
    }
    if req.method == Method::Head {
        plan.without_body()
    } else {
        plan
    }
}

/// The answer to a request let in by [`admit::admit`], by its method.
fn route(req: &RequestHead<'_>, site: &Site, state: &mut WorkerState) -> ResponsePlan {
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

/// GET/HEAD of a target: what [`find`] found goes to the responder for it; what it did not find,
/// or refused, to the front.
fn serve(req: &RequestHead<'_>, site: &Site, state: &mut WorkerState) -> ResponsePlan {
    let answered = match find(req.target, site, state) {
        Ok(Found::File { cached, index }) => Ok(file::serve_file(req, site, &cached, index, state)),
        Ok(Found::Folder { dir, query }) => {
            let page_load = state.page_load;
            Ok(folder::serve_folder(
                req,
                site,
                dir,
                &state.path,
                query,
                page_load,
            ))
        }
        Ok(Found::Reserved(decoded)) => {
            let path = decoded.named(&state.path);
            reserved::serve_reserved(req, path, site, state.live.as_ref(), state.wall)
                .ok_or(Miss::Reserved)
        }
        Ok(Found::AddSlash(location)) => Ok(ResponsePlan {
            rare: Some(RareField::Location(location.into_boxed_str())),
            reason: Some(Reason::AddSlash),
            ..ResponsePlan::error(Status::MOVED_PERMANENTLY)
        }),
        Err(miss) => Err(miss),
    };
    answered.unwrap_or_else(|miss| front::serve_front(req, site, miss, state))
}

/// Whether `path` can be the not-found page (`--page404`): a regular file, opened as a 404 will
/// open it. For the warning at start; a page that cannot be read leaves the built-in one.
pub fn check_page404(path: &std::path::Path) -> std::io::Result<()> {
    front::open_file(path).map(|_| ())
}

/// What a target names.
enum Found<'t> {
    /// A regular file (from the open-file cache, or just resolved and now in it); `index` when
    /// it is the index of the directory the target named.
    File { cached: Rc<CachedFile>, index: bool },
    /// A directory named with its trailing slash that has no index; the path buffer holds its
    /// path.
    Folder { dir: File, query: Option<&'t str> },
    /// A path under the reserved prefix.
    Reserved(Decoded<'t>),
    /// A directory named without its trailing slash: redirect to this location.
    AddSlash(String),
}

/// Decodes `target` into the worker's path buffer and finds what it names: under the reserved
/// prefix before the file system is consulted, then in the open-file cache, then by resolving it
/// beneath the root (a file found is kept in the cache).
fn find<'t>(target: &'t str, site: &Site, state: &mut WorkerState) -> Result<Found<'t>, Miss<'t>> {
    let path = &mut state.path;
    let decoded = resolve::decode_target(target, site.hidden, path).map_err(Miss::Refused)?;
    if reserved::below_prefix(decoded.named(path)).is_some() {
        return Ok(Found::Reserved(decoded));
    }
    let index = decoded.dir_len.is_some();
    let now = state.now;
    if let Some(cached) = state.open_files.lookup(site.root.dir(), path, now) {
        return Ok(Found::File { cached, index });
    }
    match resolve::resolve(&site.root, decoded.dir_len, decoded.query, path) {
        Ok(Resolved::File(file, meta)) => {
            let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
            let cached = CachedFile::new(file, meta, name, site.cache_control.for_name(name));
            let cached = state.open_files.insert(site.root.dir(), path, cached, now);
            Ok(Found::File { cached, index })
        }
        Ok(Resolved::Directory(dir)) => Ok(Found::Folder {
            dir,
            query: decoded.query,
        }),
        Ok(Resolved::AddSlash(location)) => Ok(Found::AddSlash(location)),
        Err(ResolveError::NotFound) => Err(Miss::NotFound(decoded)),
        Err(e) => Err(Miss::Refused(e)),
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
    /// Live reload's view of the latest change, when it is on.
    pub(crate) live: Option<Rc<Feed>>,
    /// Whether an HTML answer to the request being handled gets live reload's script (`None`:
    /// live reload is off), decided once by [`handle`] for every responder.
    pub(crate) page_load: Option<Injection>,
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
            live: None,
            page_load: None,
        }
    }

    /// The same, following live reload's changes through `feed`.
    pub fn with_live_reload(mut self, feed: Feed) -> WorkerState {
        self.live = Some(Rc::new(feed));
        self
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Version;
    use crate::http::parse::{BodyFraming, FieldLines, Fields};
    use crate::response::body::Body;
    use crate::response::content_range::ContentRange;
    use crate::response::content_type::ContentType;
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
            if_none_match: Some(FieldLines::one(etag.as_bytes())),
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
            if_match: Some(FieldLines::one(b"\"nope\"")),
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
