//! Request → [`ResponsePlan`]: HTTP semantics and files, never a socket.
//!
//! [`handle`] is a pure function of the request head, the site and the file system: it resolves
//! the target, opens what it serves and describes the answer. The connection encodes and sends it.
//! Cost of a plain GET of a file: the path decoded into a reused scratch buffer, one `openat2`, one
//! `fstat`, one clock read (for `Last-Modified` and `If-Modified-Since`), no heap allocation.
//!
//! For a file, [`conditional::evaluate`] decides first: 412, 304, or serve.

pub mod cache;
pub mod conditional;
pub mod mime;
pub mod resolve;

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::Config;
use crate::http::parse::RequestHead;
use crate::http::{Method, Status};
use crate::response::{Body, FileBody, ResponsePlan};
use cache::CachePolicy;
use conditional::{Precondition, Validators};
use resolve::{ResolveError, Resolved};

/// The directory being served and the policies that apply to it.
#[derive(Debug)]
pub struct Site {
    /// Canonical path of the root, for the containment check of symlinks.
    root: PathBuf,
    /// The root, opened once: every file is opened relative to it.
    root_dir: File,
    /// Serve names starting with `.`.
    hidden: bool,
    /// The `Cache-Control` value of each file.
    cache: CachePolicy,
}

impl Site {
    /// Opens the configured root with the configured policies.
    pub fn from_config(config: &Config) -> io::Result<Site> {
        let mut site = Site::open(&config.root, config.hidden)?;
        site.cache = CachePolicy::new(config.cache_control.as_deref());
        Ok(site)
    }

    /// Opens `root` (which must be a directory) for serving, with the default cache policy.
    pub fn open(root: &Path, hidden: bool) -> io::Result<Site> {
        let root = root.canonicalize()?;
        let root_dir = File::open(&root)?;
        if !root_dir.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        Ok(Site {
            root,
            root_dir,
            hidden,
            cache: CachePolicy::default(),
        })
    }

    /// The canonical root path.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Decides the response to `req`. `scratch` is a reused buffer for the decoded path.
pub fn handle(req: &RequestHead<'_>, site: &Site, scratch: &mut Vec<u8>) -> ResponsePlan {
    let plan = match req.method {
        Method::Get | Method::Head => serve(req, site, scratch),
        Method::Options => ResponsePlan {
            allow: true,
            ..ResponsePlan::empty(Status::NO_CONTENT)
        },
        Method::Post
        | Method::Put
        | Method::Delete
        | Method::Patch
        | Method::Connect
        | Method::Trace => ResponsePlan {
            allow: true,
            ..ResponsePlan::error(Status::METHOD_NOT_ALLOWED)
        },
        Method::Unknown => ResponsePlan::error(Status::NOT_IMPLEMENTED),
    };
    if req.method == Method::Head {
        plan.without_body()
    } else {
        plan
    }
}

/// GET/HEAD of a path.
fn serve(req: &RequestHead<'_>, site: &Site, scratch: &mut Vec<u8>) -> ResponsePlan {
    let target = match resolve::split_target(req.target) {
        Ok(target) => target,
        Err(e) => return error_plan(e),
    };
    match resolve::resolve(&site.root_dir, &site.root, &target, site.hidden, scratch) {
        Ok(Resolved::File(file, meta)) => {
            let name = scratch.rsplit(|&b| b == b'/').next().unwrap_or(scratch);
            serve_file(req, site, file, &meta, name, SystemTime::now())
        }
        // Listings are not served yet: a directory without an index is forbidden.
        Ok(Resolved::Directory(_)) => ResponsePlan::error(Status::FORBIDDEN),
        Ok(Resolved::AddSlash(location)) => ResponsePlan {
            location: Some(location),
            ..ResponsePlan::error(Status::MOVED_PERMANENTLY)
        },
        Err(e) => error_plan(e),
    }
}

/// GET/HEAD of a file named `name`, as of `now`: preconditions, then the file.
fn serve_file(
    req: &RequestHead<'_>,
    site: &Site,
    file: File,
    meta: &Metadata,
    name: &[u8],
    now: SystemTime,
) -> ResponsePlan {
    let len = meta.len();
    let validators = Validators::of(meta, now);
    // The validators and cache policy go on 200 and 304 alike (RFC 9110 §15.4.5).
    let validated = |status| ResponsePlan {
        etag: Some(validators.etag),
        last_modified: validators.last_modified_time(),
        cache_control: Some(site.cache.for_name(name)),
        ..ResponsePlan::empty(status)
    };
    match conditional::evaluate(req.method, &req.fields, &validators, now) {
        Precondition::Failed => return ResponsePlan::error(Status::PRECONDITION_FAILED),
        Precondition::NotModified => return validated(Status::NOT_MODIFIED),
        Precondition::Serve { .. } => {}
    }
    let (content_type, _) = mime::content_type(name);
    ResponsePlan {
        content_type: Some(content_type),
        content_length: Some(len),
        body: Body::File(FileBody {
            file,
            offset: 0,
            remaining: len,
        }),
        ..validated(Status::OK)
    }
}

fn error_plan(e: ResolveError) -> ResponsePlan {
    ResponsePlan::error(match e {
        ResolveError::BadRequest => Status::BAD_REQUEST,
        ResolveError::NotFound => Status::NOT_FOUND,
        ResolveError::Forbidden => Status::FORBIDDEN,
        ResolveError::TooLong => Status::URI_TOO_LONG,
        ResolveError::Unavailable => Status::SERVICE_UNAVAILABLE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Version;
    use crate::http::parse::{BodyFraming, Fields};
    use std::os::unix::fs::FileExt;
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
            let site = Site::open(&path, false).unwrap();
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
            handle(&req, &self.site, &mut Vec::new())
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
            Body::Stream(_) => unreachable!("files are not streamed"),
        }
    }

    #[test]
    fn full_file_has_validators() {
        let root = Root::new(&[("a.txt", b"hello"), ("app.3f9c2e1a.js", b"x")]);
        let mut plan = root.get(Method::Get, "/a.txt", Fields::default());
        assert_eq!(plan.status, Status::OK);
        assert!(plan.etag.is_some() && plan.last_modified.is_some());
        assert_eq!(plan.cache_control.as_deref(), Some(cache::NO_CACHE));
        assert_eq!(plan.content_length, Some(5));
        assert_eq!(body(&mut plan), b"hello");
        let plan = root.get(Method::Get, "/app.3f9c2e1a.js", Fields::default());
        assert_eq!(plan.cache_control.as_deref(), Some(cache::IMMUTABLE));
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
            assert!(plan.content_type.is_none());
            assert!(body(&mut plan).is_empty());
        }
        let fields = Fields {
            if_match: Some(b"\"nope\""),
            ..Fields::default()
        };
        let plan = root.get(Method::Get, "/a.txt", fields);
        assert_eq!(plan.status, Status::PRECONDITION_FAILED);
    }
}
