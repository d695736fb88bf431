//! The file responder: a resolved regular file → its [`ResponsePlan`].
//!
//! Owns, for one file: which representation answers ([`coded::select`]: the file, a sidecar, a
//! cached variant or the file compressed as it is sent), that representation's validators, the
//! preconditions (`conditional::evaluate`: 412, 304, or serve, and whether `Range` counts), the
//! ranges (`range::evaluate`: 200, 206 or 416) and the body (the file or a slice of it, the bytes
//! the open-file cache holds, a multipart body, a coded stream). Never opens the file itself:
//! the router hands it over open, from the open-file cache or freshly resolved.
//!
//! Cost of a plain 200 or a single-range 206: no system call and no heap allocation (the plan
//! shares the cached descriptor and content by reference count); a multi-range 206 allocates its
//! part heads and body source (see `multipart`); a coded stream allocates its encoder (see
//! `response::compress`).

use std::cell::RefCell;
use std::fs::File;
use std::rc::Rc;
use std::time::SystemTime;

use super::coded::{self, Selected};
use super::conditional::{self, Precondition, Validators};
use super::multipart::MultipartBody;
use super::open_files::CachedFile;
use super::range::{self, Decision};
use super::variants::{self, Variants};
use super::{Site, WorkerState, live};
use crate::http::parse::{Fields, RequestHead};
use crate::http::{Method, Status};
use crate::response::body::{Body, FileBody, MemoryBody};
use crate::response::boundary::Boundary;
use crate::response::coding::Coding;
use crate::response::compress::{CompressedBody, Encoder, Input};
use crate::response::content_range::{ByteRange, ContentRange};
use crate::response::content_type::ContentType;
use crate::response::plan::ResponsePlan;
use crate::response::reason::{Injection, Reason};

/// What a page with live reload's script adds inside its ETag's quotes, so it never validates the
/// page without it (or the other way round).
const INJECTED_SUFFIX: &[u8] = b"-lr";

/// The answer for `cached`, the file the router resolved; `index` when it stands in for the
/// directory the target named.
pub(super) fn serve_file(
    req: &RequestHead<'_>,
    site: &Site,
    cached: &CachedFile,
    index: bool,
    state: &mut WorkerState,
) -> ResponsePlan {
    let (selected, injection) = select(req, site, site.coding, cached, state);
    let mut plan = plan_representation(req, cached, selected, &state.coding.variants, state.wall);
    plan.live = injection;
    if index && matches!(plan.reason, Some(Reason::File(_))) {
        plan.reason = Some(Reason::Index);
    }
    plan
}

/// `page`, a page the front answers with instead of a file (the not-found page), as the body of
/// a `status` answer: its representation is chosen as a file's is (a sidecar when `sidecars`, a
/// cached variant, or compressed on the fly) and carries its validators, but no precondition is
/// evaluated and no range served. Those concern the target's own representation, and there is
/// none: a server ignores preconditions when its answer would not be a 2xx or 412 (RFC 9110
/// §13.2.1), so a conditional request still gets the 404, never a 304; ranges are for a 200
/// (§14.2). `Cache-Control` is `page`'s: revalidation on every use (`no-cache`), since a 404
/// with `Last-Modified` is otherwise heuristically fresh (RFC 9111 §4.2.2) and a browser would
/// keep showing it after the missing file appears.
pub(super) fn serve_page(
    req: &RequestHead<'_>,
    site: &Site,
    page: &CachedFile,
    status: Status,
    sidecars: bool,
    state: &mut WorkerState,
) -> ResponsePlan {
    let req = RequestHead {
        fields: Fields {
            range: None,
            if_range: None,
            ..req.fields
        },
        ..*req
    };
    let policy = coded::Policy {
        precompressed: site.coding.precompressed && sidecars,
        ..site.coding
    };
    let (selected, injection) = select(&req, site, policy, page, state);
    let vary =
        (!matches!(selected, Selected::Identity { vary: false, .. })).then_some("Accept-Encoding");
    let described = selected.representation();
    let (content, validators, coding) = representation(page, selected, state.wall);
    let (body, content_length) = whole_body(content, req.method, &state.coding.variants);
    ResponsePlan {
        live: injection,
        content_type: Some(page.content_type.0),
        content_length,
        content_encoding: coding,
        etag: Some(validators.etag),
        last_modified: validators.last_modified,
        cache_control: Some(page.cache_control.clone()),
        vary,
        representation: described,
        body,
        ..ResponsePlan::empty(status)
    }
}

/// The representation of `cached` to send, under `policy`, and what live reload did with it: an
/// HTML file under live reload is the file with the script injected (see `live`), coded after
/// injection; anything else is chosen by [`coded::select`].
fn select(
    req: &RequestHead<'_>,
    site: &Site,
    policy: coded::Policy,
    cached: &CachedFile,
    state: &mut WorkerState,
) -> (Selected, Option<Injection>) {
    let mut injection = match state.page_load {
        Some(verdict) if cached.content_type.0.mime == "text/html" => Some(verdict),
        _ => None,
    };
    if injection == Some(Injection::Injected) {
        match live::inject_file(cached) {
            Ok(page) => return (coded::select_injected(req, site.coding, page), injection),
            Err(why) => injection = Some(why),
        }
    }
    let root = coded::Root {
        dir: &site.root,
        cache: &site.cache_control,
    };
    (coded::select(req, policy, root, cached, state), injection)
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
    /// Bytes in memory compressed as they are sent (a page with live reload's script).
    Coded(Rc<Vec<u8>>, Coding),
}

impl Content {
    /// All of `cached`: its file, its length, and its bytes when the cache holds them.
    fn of(cached: &CachedFile) -> Content {
        Content::File(
            Rc::clone(&cached.file),
            cached.meta.len(),
            cached.content.clone(),
        )
    }

    /// The representation's length, when it has one before it is sent.
    fn len(&self) -> Option<u64> {
        match self {
            Content::File(_, len, _) => Some(*len),
            Content::Memory(bytes) => Some(bytes.len() as u64),
            Content::Stream(..) | Content::Coded(..) => None,
        }
    }
}

/// The selected representation of `cached`: its content, its validators as of `now`, and its
/// content coding.
fn representation(
    cached: &CachedFile,
    selected: Selected,
    now: SystemTime,
) -> (Content, Validators, Option<Coding>) {
    let CachedFile {
        file, meta, etag, ..
    } = cached;
    match selected {
        Selected::Identity { .. } => (
            Content::of(cached),
            Validators::with_etag(*etag, meta, now),
            None,
        ),
        Selected::Sidecar(coding, sidecar) => (
            Content::of(&sidecar),
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
        Selected::Injected { coding, page, .. } => {
            let etag = etag.with_suffix(INJECTED_SUFFIX);
            let (content, coding) = match coding {
                Coding::Identity => (Content::Memory(page), None),
                coding => (Content::Coded(page, coding), Some(coding)),
            };
            let suffix = coding.map_or(&b""[..], Coding::etag_suffix);
            (
                content,
                Validators::with_etag(etag.with_suffix(suffix), meta, now),
                coding,
            )
        }
    }
}

/// GET/HEAD of a file, in the representation `selected`, as of `now`: preconditions, then ranges,
/// both against the selected representation's validators and length.
fn plan_representation(
    req: &RequestHead<'_>,
    cached: &CachedFile,
    selected: Selected,
    variants: &Rc<RefCell<Variants>>,
    now: SystemTime,
) -> ResponsePlan {
    let vary =
        (!matches!(selected, Selected::Identity { vary: false, .. })).then_some("Accept-Encoding");
    let described = selected.representation();
    let (content, validators, coding) = representation(cached, selected, now);
    let len = content.len();
    // The validators, cache policy and Vary go on 200, 206 and 304 alike (RFC 9110 §15.4.5).
    let validated = |status| ResponsePlan {
        etag: Some(validators.etag),
        last_modified: validators.last_modified,
        cache_control: Some(cached.cache_control.clone()),
        vary,
        representation: described,
        ..ResponsePlan::empty(status)
    };
    let (use_range, if_range) =
        match conditional::evaluate(req.method, &req.fields, &validators, now) {
            Precondition::Failed(field) => {
                return ResponsePlan {
                    vary,
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
    let content_type = cached.content_type.0;
    let complete = len.unwrap_or(0);
    let ok = ResponsePlan {
        reason: Some(if if_range == Some(false) {
            Reason::IfRangeFailed
        } else {
            Reason::File(cached.content_type.1)
        }),
        content_type: Some(content_type),
        content_encoding: coding,
        ..validated(Status::OK)
    };
    match decision {
        Decision::Full => whole(ok, content, req.method, variants),
        Decision::Unsatisfiable => ResponsePlan {
            content_range: Some(ContentRange::Unsatisfied { complete }),
            reason: Some(Reason::Unsatisfiable),
            vary,
            ..ResponsePlan::error(Status::RANGE_NOT_SATISFIABLE)
        },
        Decision::Partial(ranges) => {
            let parts = Parts {
                content_type,
                complete,
                if_range: if_range == Some(true),
            };
            partial(ok, content, ranges.as_slice(), parts, req.method, variants)
        }
    }
}

/// What the parts of a 206 say of the whole: its type and length, and whether `If-Range`
/// matched.
struct Parts {
    content_type: ContentType,
    complete: u64,
    if_range: bool,
}

/// The 206 for `ranges` of `content`, from `ok`, the 200 it would otherwise be: one range is the
/// slice itself; several are a multipart body of the file, or the whole representation when it
/// is coded.
fn partial(
    ok: ResponsePlan,
    content: Content,
    ranges: &[ByteRange],
    parts: Parts,
    method: Method,
    variants: &Rc<RefCell<Variants>>,
) -> ResponsePlan {
    let Parts {
        content_type,
        complete,
        if_range,
    } = parts;
    match (ranges, content) {
        (&[range], content) => ResponsePlan {
            status: Status::PARTIAL_CONTENT,
            reason: Some(Reason::Range { if_range }),
            content_length: Some(range.len()),
            accept_ranges: true,
            content_range: Some(ContentRange::Bytes { range, complete }),
            body: slice(content, range.start, range.len()),
            ..ok
        },
        (several, Content::File(file, _, _)) => {
            let boundary = Boundary::random();
            let body = MultipartBody::new(file, several, complete, content_type, boundary);
            ResponsePlan {
                status: Status::PARTIAL_CONTENT,
                reason: Some(Reason::Multipart {
                    parts: several.len(),
                }),
                content_type: Some(ContentType::MULTIPART_BYTERANGES),
                boundary: Some(boundary),
                content_length: Some(body.len()),
                accept_ranges: true,
                body: Body::Stream(Box::new(body)),
                content_encoding: None,
                ..ok
            }
        }
        // Several ranges of a coded representation are answered whole (see `plan_representation`).
        (_, content) => whole(ok, content, method, variants),
    }
}

/// `ok`, a 200 of the representation, with the whole of `content` as its body.
fn whole(
    ok: ResponsePlan,
    content: Content,
    method: Method,
    variants: &Rc<RefCell<Variants>>,
) -> ResponsePlan {
    let accept_ranges = content.len().is_some();
    let (body, content_length) = whole_body(content, method, variants);
    ResponsePlan {
        content_length,
        accept_ranges,
        body,
        ..ok
    }
}

/// `len` bytes of `content` from `start`: a range of a representation that has a length.
fn slice(content: Content, start: u64, len: u64) -> Body {
    match content {
        Content::File(_, _, Some(bytes)) | Content::Memory(bytes) => {
            Body::Memory(MemoryBody::new(bytes, start, start + len))
        }
        Content::File(file, _, None) => Body::File(FileBody {
            file,
            offset: start,
            remaining: len,
        }),
        // Never chosen for a range request (see `coded::select`).
        Content::Stream(..) | Content::Coded(..) => Body::Empty,
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
        Content::Stream(..) | Content::Coded(..) if method == Method::Head => (Body::Empty, None),
        Content::Coded(page, coding) => {
            let len = page.len() as u64;
            let body = Encoder::new(coding).map_or(Body::Empty, |encoder| {
                let input = Input::Memory(MemoryBody::new(page, 0, len));
                Body::Stream(Box::new(CompressedBody::new(input, encoder)))
            });
            (body, None)
        }
        Content::Stream(whole, coding, key) => {
            (variants::coded_stream(variants, whole, coding, key), None)
        }
    }
}
