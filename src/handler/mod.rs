//! Request → [`ResponsePlan`]: HTTP semantics and files, never a socket.
//!
//! [`handle`] is a pure function of the request head, the site and the file system: it resolves
//! the target, opens what it serves and describes the answer. The connection encodes and sends it.
//! Cost of a plain GET of a file: the path decoded into a reused scratch buffer, one `openat2`, one
//! `fstat`, no heap allocation.

pub mod listing;
pub mod mime;
pub mod resolve;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::http::parse::RequestHead;
use crate::http::{Method, Status};
use crate::response::{Body, ContentType, FileBody, ResponsePlan};
use listing::Listing;
use resolve::{ResolveError, Resolved};

/// The policies a [`Site`] applies, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteOptions {
    /// Serve and list names starting with `.`.
    pub hidden: bool,
    /// List a directory that has no `index.html` (otherwise 403).
    pub listing: bool,
}

impl From<&Config> for SiteOptions {
    fn from(config: &Config) -> SiteOptions {
        SiteOptions {
            hidden: config.hidden,
            listing: config.listing,
        }
    }
}

/// The directory being served and the policies that apply to it.
#[derive(Debug)]
pub struct Site {
    /// Canonical path of the root, for the containment check of symlinks.
    root: PathBuf,
    /// The root, opened once: every file is opened relative to it.
    root_dir: File,
    /// Serve and list names starting with `.`.
    hidden: bool,
    /// List directories without an index.
    listing: bool,
}

/// The file in the root whose content, when it exists, is the body of every 404 response.
const NOT_FOUND_PAGE: &[u8] = b"404.html";

impl Site {
    /// Opens `root` (which must be a directory) for serving.
    pub fn open(root: &Path, options: SiteOptions) -> io::Result<Site> {
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
            hidden: options.hidden,
            listing: options.listing,
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
        Err(e) => return error_plan(site, e),
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
        Ok(Resolved::Directory(_)) if !site.listing => ResponsePlan::error(Status::FORBIDDEN),
        Ok(Resolved::Directory(dir)) => {
            let options = listing::Options::from_request(target.query, req.fields.accept);
            let listing = Listing::new(dir, scratch, &site.root, site.hidden, options);
            // No Content-Length: the connection sends it chunked (or close-delimited to
            // HTTP/1.0), generated as it goes.
            ResponsePlan {
                content_type: Some(options.content_type()),
                content_length: None,
                vary: Some("Accept"),
                body: Body::Stream(Box::new(listing)),
                ..ResponsePlan::empty(Status::OK)
            }
        }
        Ok(Resolved::AddSlash(location)) => ResponsePlan {
            location: Some(location),
            ..ResponsePlan::error(Status::MOVED_PERMANENTLY)
        },
        Err(e) => error_plan(site, e),
    }
}

fn error_plan(site: &Site, e: ResolveError) -> ResponsePlan {
    if e == ResolveError::NotFound {
        return not_found(site);
    }
    ResponsePlan::error(match e {
        ResolveError::BadRequest => Status::BAD_REQUEST,
        ResolveError::NotFound => Status::NOT_FOUND,
        ResolveError::Forbidden => Status::FORBIDDEN,
        ResolveError::TooLong => Status::URI_TOO_LONG,
        ResolveError::Unavailable => Status::SERVICE_UNAVAILABLE,
    })
}

/// 404 with the root's `404.html` as its body if there is one (opened afresh each time, so an
/// edit shows at once; one more `openat2` and `fstat` per 404), else the built-in page.
fn not_found(site: &Site) -> ResponsePlan {
    match resolve::open_beneath(&site.root_dir, &site.root, NOT_FOUND_PAGE) {
        Ok(file) => match file.metadata() {
            Ok(meta) if meta.is_file() => ResponsePlan {
                content_type: Some(ContentType::HTML),
                content_length: Some(meta.len()),
                body: Body::File(FileBody {
                    file,
                    offset: 0,
                    remaining: meta.len(),
                }),
                ..ResponsePlan::empty(Status::NOT_FOUND)
            },
            _ => ResponsePlan::error(Status::NOT_FOUND),
        },
        Err(_) => ResponsePlan::error(Status::NOT_FOUND),
    }
}
