//! Request → [`ResponsePlan`]: HTTP semantics and files, never a socket.
//!
//! [`handle`] is a pure function of the request head, the site and the file system: it resolves
//! the target, opens what it serves and describes the answer. The connection encodes and sends it.
//! Cost of a plain GET of a file: the path decoded into a reused scratch buffer, one `openat2`, one
//! `fstat`, no heap allocation.

pub mod mime;
pub mod resolve;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::http::parse::RequestHead;
use crate::http::{Method, Status};
use crate::response::{Body, FileBody, ResponsePlan};
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
}

impl Site {
    /// Opens `root` (which must be a directory) for serving.
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
            let (content_type, _) = mime::content_type(name);
            let len = meta.len();
            ResponsePlan {
                content_type: Some(content_type),
                content_length: Some(len),
                last_modified: meta.modified().ok(),
                body: Body::File(FileBody {
                    file,
                    offset: 0,
                    remaining: len,
                }),
                ..ResponsePlan::empty(Status::OK)
            }
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

fn error_plan(e: ResolveError) -> ResponsePlan {
    ResponsePlan::error(match e {
        ResolveError::BadRequest => Status::BAD_REQUEST,
        ResolveError::NotFound => Status::NOT_FOUND,
        ResolveError::Forbidden => Status::FORBIDDEN,
        ResolveError::TooLong => Status::URI_TOO_LONG,
        ResolveError::Unavailable => Status::SERVICE_UNAVAILABLE,
    })
}
