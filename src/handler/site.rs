//! The site being served: the root directory, opened once, and the policies the configuration
//! sets for it. Built at start, shared read-only by every request of a worker.
//!
//! Cost: nothing per request; the fields are read where a responder needs them.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cache_control::CachePolicy;
use super::coded;
use crate::config::Config;
use crate::http::auth::Credentials;
use crate::response::extra_headers::ExtraHeaders;
use crate::stats::Registry;
use crate::sys;

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
    pub(super) root: Arc<sys::Root>,
    /// Serve and list names starting with `.`.
    pub(super) hidden: bool,
    /// The `Cache-Control` value of each file.
    pub(super) cache_control: CachePolicy,
    /// List directories without an index.
    pub(super) listing: bool,
    /// Content coding: on the fly, sidecars.
    pub(super) coding: coded::Policy,
    /// Offer listed folders as archives.
    pub(super) archives: bool,
    /// Answer client routes with the root's `index.html` (revalidated on every use).
    pub(super) spa: bool,
    /// The not-found page when not the root's `404.html` (`--page404`).
    pub(super) page404: Option<PathBuf>,
    /// Answer CORS preflights.
    pub(super) cors: bool,
    /// Basic authentication on every request.
    pub(super) auth: Option<Credentials>,
    /// Every worker's counters, when the metrics page is on.
    pub(super) metrics: Option<Arc<Registry>>,
    /// Answer health probes.
    pub(super) health: bool,
    /// The operator's fields on every response (empty when there are none).
    pub(super) extra: ExtraHeaders,
    /// Say on stderr what an archive leaves out.
    pub(super) explain: bool,
}

impl Site {
    /// Opens the configured root with the configured policies; `extra` are the fields every
    /// response carries, checked and rendered from the configuration.
    pub(crate) fn from_config(config: &Config, extra: ExtraHeaders) -> io::Result<Site> {
        let mut site = Site::open(&config.root, SiteOptions::from(config))?;
        site.cache_control = CachePolicy::new(config.cache_control.as_deref());
        site.auth = config.auth.clone();
        site.page404 = config.page404.clone();
        site.metrics = config.metrics.then(|| Arc::clone(&config.registry));
        site.health = config.health;
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
            spa: options.spa,
            page404: None,
            cors: options.cors,
            auth: None,
            metrics: None,
            health: false,
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
