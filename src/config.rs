//! Command line → validated configuration. No I/O happens here after startup.
//!
//! Cost: startup only; nothing here is on the request path.

use std::ffi::{OsStr, OsString};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::builder::{BoolishValueParser, StyledStr, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches, Parser, ValueHint};
use clap_complete::Shell;

use crate::access_log::LogFormat;
use crate::http::auth::Credentials;
use crate::http::parse::Limits;
use crate::response::extra_headers;
use crate::stats::Registry;
use crate::sys;
use crate::timer::{Deadline, DeadlineKind};
use crate::tls::TlsContext;
use crate::watch::{Hub, IgnoreRules};

/// The default total cap of a worker's compressed-variant cache (`--compress-cache`): enough for
/// the coded assets of a large site, small next to a server's memory. Arbitrary.
pub const DEFAULT_COMPRESS_CACHE: usize = 64 * 1024 * 1024;

/// The prefix of every setting's environment variable.
pub const ENV_PREFIX: &str = "MIOSERVE_";

/// Arguments that are commands rather than settings, so they have no environment variable: a
/// `MIOSERVE_PRINT_MANPAGE` left in a container's environment would turn every start into a
/// man page.
const NOT_SETTINGS: [&str; 2] = ["print_completions", "print_manpage"];

/// mioserve: a small, fast, correct HTTP/1.1 static-file server.
///
/// Serves ROOT over HTTP/1.1 from one single-threaded event loop: GET and HEAD of files,
/// keep-alive, pipelining, and safe path resolution that never leaves ROOT.
///
/// Every setting can also be given by an environment variable, `MIOSERVE_` and its long flag in
/// upper case with `_` for `-` (`--max-connections` is `MIOSERVE_MAX_CONNECTIONS`, ROOT is
/// `MIOSERVE_ROOT`), as miniserve's `MINISERVE_*` and static-web-server's `SERVER_*` are; a
/// switch takes `true`/`false` (or `1`/`0`, `yes`/`no`, `on`/`off`). One place does it for every
/// argument, `with_env` through `mut_args` below, so a new flag needs nothing of its own for its
/// variable. What a new flag does need:
/// - a row in the README's flag table naming the flag and its variable (a test reads `--help`
///   and fails on any flag missing there);
/// - its name in `NOT_SETTINGS` if it is a command rather than a setting (`--print-manpage`);
/// - `value_parser = Secret(parse)` if its value is a secret (`--auth`), so that a refused value
///   is never repeated in the error. No variable's value is ever shown by `--help`.
///
/// The command line wins over the environment, conflicts included: [`Cli::from_command_line`]
/// ignores the variable of a setting that conflicts with one given as a flag (`MIOSERVE_QUIET=1`
/// with `-v` means `-v`).
#[derive(Debug, Parser)]
#[command(name = "mioserve", version, about, long_about = None, mut_args = with_env)]
#[command(
    after_help = "Examples:\n  mioserve                    serve ./public (or the current folder) on http://127.0.0.1:8080/\n  \
     mioserve ~/site -p 9000     serve ~/site on port 9000\n  \
     mioserve . -b ::1 -p 0      serve the current folder on IPv6 loopback, any free port\n  \
     mioserve dist --spa         a single-page app: /app/settings gets dist/index.html\n  \
     mioserve . --cors -H 'X-Frame-Options: DENY'\n                              \
     any origin may fetch; one more header on every response\n  \
     mioserve . --auth ann:s3cret  ask for a user and password (Basic auth)\n  \
     mioserve . --auth \"ann:sha256:$(printf s3cret | sha256sum | cut -d' ' -f1)\"\n                              \
     the same, without the password in the shell history\n  \
     curl -OJ 'http://127.0.0.1:8080/docs/?download=zip'\n                              \
     a listed folder as one zip (or ?download=tar); --no-archive turns it off\n  \
     MIOSERVE_PORT=9000 MIOSERVE_AUTH=ann:s3cret mioserve\n                              \
     every setting also comes from MIOSERVE_<FLAG> (a flag wins)\n\n\
     Logging: RUST_LOG=debug (or -v / -vv) for more detail on stderr; -q for errors only."
)]
pub struct Cli {
    /// Directory to serve [default: ./public if it exists, else the current directory]
    #[arg(value_hint = ValueHint::DirPath)]
    pub root: Option<PathBuf>,

    /// Port to listen on (0 picks any free port)
    #[arg(short, long, default_value_t = 8080)]
    pub(crate) port: u16,

    /// Address to listen on (IPv4 or IPv6, e.g. 127.0.0.1, 0.0.0.0, ::1)
    #[arg(short, long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub(crate) bind: IpAddr,

    /// Open the served URL in the default browser once the server is listening (with no
    /// display, a message on stderr instead)
    #[arg(long)]
    pub open: bool,

    /// Print a QR code of the URL on stderr for a phone: one per network address when bound to
    /// 0.0.0.0 or ::
    #[arg(long)]
    pub qr: bool,

    /// Serve and list files and folders whose names start with a dot
    #[arg(long)]
    pub(crate) hidden: bool,

    /// Cache-Control value for every file, replacing the default policy (`no-cache`, and
    /// `public, max-age=31536000, immutable` for content-hashed names such as app.3f9c2e1a.js)
    #[arg(long, value_name = "VALUE", value_parser = parse_field_value)]
    pub(crate) cache_control: Option<String>,
    /// Answer 403 for a folder without index.html instead of listing its contents
    #[arg(long)]
    pub(crate) no_listing: bool,

    /// Never compress responses on the fly (precompressed sidecars are still served)
    #[arg(long)]
    pub no_compress: bool,

    /// Ignore precompressed sidecars (app.js.br, app.js.zst, app.js.gz beside app.js)
    #[arg(long)]
    pub no_precompressed: bool,

    /// Memory per worker for compressed variants of files, so each file is compressed once
    /// (0 compresses every time); a single variant is kept up to a sixteenth of it, at most 8 MiB
    #[arg(long, default_value_t = DEFAULT_COMPRESS_CACHE, value_name = "BYTES")]
    pub compress_cache: usize,
    /// Do not offer listed folders as tar and zip downloads (?download=tar|zip is then ignored
    /// and the listing served)
    #[arg(long)]
    pub no_archive: bool,

    /// Single-page app: a GET or HEAD of a missing path whose last segment has no extension
    /// (a client-side route such as /app/settings) gets the root's index.html, with
    /// Cache-Control: no-cache; a missing /assets/x.js stays a 404
    #[arg(long)]
    pub spa: bool,

    /// The page for 404 answers (404.html in ROOT by default): a file anywhere, compressed and
    /// with validators like any file; while it is missing or unreadable, the built-in page
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub page404: Option<PathBuf>,

    /// Add a header field to every response, e.g. -H 'X-Frame-Options: DENY' (repeatable; in
    /// MIOSERVE_HEADER, one field per line)
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE",
          value_parser = parse_header_field, value_delimiter = '\n')]
    pub headers: Vec<String>,

    /// Let any origin read responses (Access-Control-Allow-Origin: *) and answer CORS preflights
    /// (204 with the allowed methods and the requested headers)
    #[arg(long)]
    pub cors: bool,

    /// Reload pages in the browser when files under ROOT change (only stylesheets changed: swap
    /// them without a reload); HTML pages get a script that follows /__mioserve/live
    #[arg(long)]
    pub live_reload: bool,

    /// With --live-reload, do not reload for paths matching GLOB (below ROOT, e.g. 'dist/**' or
    /// '*.log'; repeatable; in MIOSERVE_WATCH_IGNORE, one per line). Names starting with '.',
    /// node_modules and editor temporaries are always ignored
    #[arg(long, value_name = "GLOB", requires = "live_reload", value_parser = parse_glob,
          value_delimiter = '\n')]
    pub watch_ignore: Vec<String>,

    /// Ask for HTTP Basic authentication on every path: USER:PASSWORD, or USER:sha256:HEX with the
    /// SHA-256 of the password in hex (so the password need not sit in the shell history, or
    /// given by MIOSERVE_AUTH so it is in no command line at all)
    // A value starting with `-` is taken as the value (`allow_hyphen_values`): read as a flag, it
    // would be quoted in clap's "unexpected argument" error.
    #[arg(long, value_name = "USER:PASSWORD", value_parser = Secret(Credentials::parse),
          allow_hyphen_values = true)]
    pub auth: Option<Credentials>,

    /// Send file bodies with read/write instead of sendfile (for file systems where sendfile
    /// serves stale data)
    #[arg(long)]
    pub(crate) no_sendfile: bool,

    /// Largest request head in bytes; larger heads get 431 (or 414 for a long request line)
    #[arg(long, default_value_t = 8192, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1024..=1_048_576))]
    pub(crate) max_header_bytes: u32,

    /// Largest request body read and discarded, in bytes; larger bodies get 413
    #[arg(long, default_value_t = 1024 * 1024, value_name = "BYTES")]
    pub(crate) max_body_bytes: u64,

    /// Seconds a client has to send a complete request head (408 after that)
    #[arg(long, default_value_t = 10, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) header_timeout: u64,

    /// Seconds an idle keep-alive connection is kept open (0 disables keep-alive)
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub(crate) keepalive_timeout: u64,

    /// Seconds a response may make no progress before the connection is dropped
    #[arg(long, default_value_t = 30, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) send_timeout: u64,

    /// Event loops, each on its own thread with its own listener on the port (SO_REUSEPORT lets
    /// the kernel spread connections); 0 means one per CPU core
    #[arg(short, long, default_value_t = 1, value_name = "N")]
    pub(crate) workers: usize,

    /// Most open client connections per worker; at the cap new connections wait in the listen
    /// backlog
    #[arg(long, default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections: u32,

    /// Seconds in-flight responses may take to finish after SIGINT/SIGTERM
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub(crate) grace_period: u64,

    /// Access log on stdout: combined, common, extended (combined plus the connection id, and a
    /// line per connection end saying why it ended), or off (-q also turns it off)
    #[arg(long, value_enum, default_value_t = LogFormat::Combined, value_name = "FORMAT")]
    pub(crate) access_log: LogFormat,

    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first, then its
    /// intermediates); needs --tls-key. SIGHUP reloads both files
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve HTTPS with a certificate made at start (ECDSA P-256, for localhost, 127.0.0.1, ::1,
    /// the bind address and the host name); its PEM file and fingerprint are printed on stderr
    #[arg(long)]
    pub tls_self_signed: bool,

    /// Print one line per request on stderr saying which rule produced the answer
    #[arg(long)]
    pub explain: bool,

    /// Serve Prometheus metrics at /__mioserve/metrics (the sum over every worker: requests by
    /// method and status class, bytes, connections and why they ended, compressed responses, the
    /// service-time histogram); --auth applies
    #[arg(long)]
    pub metrics: bool,

    /// Answer GET /__mioserve/health with 200 `ok` for container probes, without --auth's
    /// credentials, and keep those probes out of the access log (see --log-health)
    #[arg(long)]
    pub health: bool,

    /// Put --health's probes in the access log too
    #[arg(long)]
    pub log_health: bool,

    /// Print a stats line every second on stderr even when it is not a terminal (one line per
    /// second, for logs)
    #[arg(long, conflicts_with = "no_stats")]
    pub stats: bool,

    /// Never print the live stats line (by default it is shown, rewritten in place, when stderr is
    /// a terminal)
    #[arg(long)]
    pub no_stats: bool,

    /// More output on stderr (-v debug, -vv trace)
    #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr, and no access log
    #[arg(short, long)]
    pub quiet: bool,

    /// Print the completion script for SHELL on stdout and exit, e.g.
    /// `mioserve --print-completions bash > ~/.local/share/bash-completion/completions/mioserve`
    #[arg(long, value_name = "SHELL")]
    pub print_completions: Option<Shell>,

    /// Print the manual page (roff) on stdout and exit, e.g. `mioserve --print-manpage | man -l -`
    #[arg(long)]
    pub print_manpage: bool,
}

/// A `--watch-ignore` glob, checked as the watcher will read it.
fn parse_glob(value: &str) -> Result<String, String> {
    IgnoreRules::new(&[value.to_string()])?;
    Ok(value.to_string())
}

/// How often a quiet live reload event stream sends a heartbeat: often enough that a proxy or a
/// NAT keeps the connection (most drop idle ones after a minute or more) and a subscriber that
/// went away is found within half a minute, rarely enough to cost nothing.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(20);

/// Live reload's settings (`--live-reload`), and the watcher the workers serving with them share.
#[derive(Debug, Clone)]
pub struct LiveReload {
    /// `--watch-ignore` globs, beside the built-in rules.
    pub ignore: Vec<String>,
    /// Quiet time that ends a burst of changes: one reload for a build that writes 200 files.
    pub coalesce: Duration,
    /// Event streams one worker takes; more get 503 with `Retry-After`. Each is a connection
    /// that stays open; the cap keeps tabs left open from taking every descriptor.
    pub max_subscribers: usize,
    /// The latest change, shared by every worker (cloning the configuration shares it); the
    /// first `Server::bind` starts watching.
    pub(crate) hub: Arc<Hub>,
}

impl Default for LiveReload {
    fn default() -> LiveReload {
        LiveReload {
            ignore: Vec::new(),
            coalesce: Duration::from_millis(100),
            max_subscribers: 1024,
            hub: Arc::default(),
        }
    }
}

/// Where the served directory came from, for the start line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    /// ROOT was given.
    Given,
    /// No ROOT, and `./public` is a directory.
    Public,
    /// No ROOT and no `./public`: the current directory.
    CurrentDir,
}

impl Cli {
    /// The directory to serve: ROOT, else `./public` if it is a directory (a project's site, as
    /// `cargo run` in this repository finds it), else the current directory (as
    /// `python3 -m http.server` does).
    pub fn root(&self) -> (PathBuf, RootSource) {
        match &self.root {
            Some(root) => (root.clone(), RootSource::Given),
            None if std::path::Path::new("public").is_dir() => {
                (PathBuf::from("public"), RootSource::Public)
            }
            None => (PathBuf::from("."), RootSource::CurrentDir),
        }
    }
}

impl Cli {
    /// The process's command line, each setting it does not give taken from its environment
    /// variable; prints the error (or `--help`, `--version`) and exits as clap does.
    pub fn from_command_line() -> Cli {
        Cli::try_from_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// `args` (the program name first), each setting they do not give taken from its
    /// environment variable. A variable is not consulted for a setting that conflicts with one
    /// the arguments give, so a flag wins over the environment rather than making an error; an
    /// error about a value that came from a variable says so.
    pub fn try_from_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let given = given_on_command_line(&args);
        let mut command = Cli::command();
        // A conflict is declared on one side only (`--verbose` conflicts with `--quiet`).
        let conflict = |a: &Arg, b: &Arg| {
            let declared = |x: &Arg, y: &Arg| {
                command
                    .get_arg_conflicts_with(x)
                    .iter()
                    .any(|c| c.get_id() == y.get_id())
            };
            declared(a, b) || declared(b, a)
        };
        let conflicting: Vec<clap::Id> = command
            .get_arguments()
            .filter(|arg| {
                command
                    .get_arguments()
                    .any(|other| given.contains(other.get_id()) && conflict(arg, other))
            })
            .map(|arg| arg.get_id().clone())
            .collect();
        command = command.mut_args(|arg| {
            if conflicting.contains(arg.get_id()) {
                arg.env(None)
            } else {
                arg
            }
        });
        let mut matches = command
            .try_get_matches_from_mut(&args)
            .map_err(|e| name_the_variable(e, &command, &given))?;
        Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command))
    }
}

impl Cli {
    /// Writes the completion script for `shell`, generated from the same definition as the
    /// parser, so it offers every flag and every value an enumerated flag takes.
    pub fn write_completions(shell: Shell, out: &mut dyn std::io::Write) {
        clap_complete::generate(shell, &mut Cli::command(), "mioserve", out);
    }

    /// Writes the manual page, generated from the same definition as `--help` (each setting's
    /// variable included).
    pub fn write_manpage(out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut command = Cli::command();
        // NAME reads `mioserve \- …`: the name is not repeated in what follows it.
        if let Some(about) = command.get_about().map(ToString::to_string) {
            let about = about.trim_start_matches("mioserve: ").to_string();
            command = command.about(about);
        }
        clap_mangen::Man::new(command).render(out)
    }
}

/// The environment variable of the setting `arg`: [`ENV_PREFIX`] and its long flag in upper case
/// with `_` for `-`, or its name for ROOT, which has no flag.
pub fn env_var(arg: &Arg) -> String {
    let name = arg.get_long().unwrap_or_else(|| arg.get_id().as_str());
    format!(
        "{ENV_PREFIX}{}",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// Gives `arg` its environment variable ([`env_var`]), with its value never shown by `--help`
/// (a secret's included). A switch reads the variable as a boolean in any of the usual
/// spellings, and refuses anything else rather than guess.
fn with_env(arg: Arg) -> Arg {
    if NOT_SETTINGS.contains(&arg.get_id().as_str()) {
        return arg;
    }
    let var = env_var(&arg);
    let arg = arg.env(var).hide_env_values(true);
    match arg.get_action() {
        ArgAction::SetTrue => arg.value_parser(BoolishValueParser::new()),
        _ => arg,
    }
}

/// The ids of the arguments `args` give (not their variables), or none if they do not parse
/// (the full parse then reports the error, or prints the help they asked for).
fn given_on_command_line(args: &[OsString]) -> Vec<clap::Id> {
    let without_env = Cli::command().mut_args(|arg| arg.env(None));
    match without_env.try_get_matches_from(args) {
        Ok(matches) => matches
            .ids()
            .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .cloned()
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Adds to a refused value's error the variable it came from, when it was not on the command
/// line: clap's message names only the flag, which the user may never have typed.
fn name_the_variable(mut error: clap::Error, command: &Command, given: &[clap::Id]) -> clap::Error {
    let Some(ContextValue::String(invalid)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    let from_env = command.get_arguments().find(|arg| {
        arg.to_string() == *invalid
            && !given.contains(arg.get_id())
            && arg
                .get_env()
                .is_some_and(|var| std::env::var_os(var).is_some())
    });
    if let Some(arg) = from_env {
        let tip = format!(
            "the value comes from the environment variable {}",
            env_var(arg)
        );
        error.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![StyledStr::from(tip)]),
        );
    }
    error
}

/// The value parser of a secret (`--auth`): `parse` checks it, but unlike clap's own errors, the
/// error never repeats the refused value, whether it came from the command line or from the
/// environment, so a password with a typo does not end up on a terminal or in a CI log.
#[derive(Clone)]
struct Secret<T>(fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Secret<T> {
    type Value = T;

    fn parse_ref(
        &self,
        command: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let why = match value.to_str() {
            Some(text) => match (self.0)(text) {
                Ok(parsed) => return Ok(parsed),
                Err(why) => why,
            },
            None => "not valid UTF-8".to_string(),
        };
        let name = arg.map_or_else(|| "a secret".to_string(), |arg| format!("'{arg}'"));
        let source = arg
            .and_then(Arg::get_env)
            .filter(|var| std::env::var_os(var).as_deref() == Some(value))
            .map_or_else(String::new, |var| {
                format!(" from {}", var.to_string_lossy())
            });
        let message =
            format!("invalid value{source} for {name} (not shown: it is a secret): {why}");
        Err(command.clone().error(ErrorKind::ValueValidation, message))
    }
}

/// What a connection needs to know of the configuration.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    pub limits: Limits,
    /// Send file bodies with `sendfile`.
    pub sendfile: bool,
    /// Connections may be kept open between requests.
    pub keep_alive: bool,
    /// Time from the first byte of a request (or the accept) to the end of its head.
    pub header_timeout: Duration,
    /// Time an idle kept-alive connection may wait for its next request.
    pub keepalive_timeout: Duration,
    /// Time a response may go without a write making progress.
    pub send_timeout: Duration,
    /// Time a request body being discarded may go without completing.
    pub body_timeout: Duration,
    /// Time to drain a connection after its write side was shut, before closing it.
    pub linger_timeout: Duration,
    /// Quiet time after which a live reload event stream sends a heartbeat comment, so a
    /// subscriber that went away is found.
    pub heartbeat: Duration,
    /// Print an `--explain` line per request on stderr.
    pub explain: bool,
    /// Put health probes (`--health`) in the access log.
    pub log_health: bool,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            limits: Limits::default(),
            sendfile: true,
            keep_alive: true,
            header_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            linger_timeout: Duration::from_secs(2),
            heartbeat: DEFAULT_HEARTBEAT,
            explain: false,
            log_health: false,
        }
    }
}

impl ConnConfig {
    /// The deadline of `kind` counted from `now`: every deadline of one kind has the same length.
    pub(crate) fn deadline(&self, kind: DeadlineKind, now: Instant) -> Deadline {
        let timeout = match kind {
            DeadlineKind::Header => self.header_timeout,
            DeadlineKind::Idle => self.keepalive_timeout,
            DeadlineKind::Send => self.send_timeout,
            DeadlineKind::Body => self.body_timeout,
            DeadlineKind::Linger => self.linger_timeout,
            DeadlineKind::Heartbeat => self.heartbeat,
        };
        Deadline {
            kind,
            at: now + timeout,
        }
    }
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory to serve, as the user gave it.
    pub root: PathBuf,
    pub addr: SocketAddr,
    /// Serve dotfiles.
    pub hidden: bool,
    /// `Cache-Control` for every file; `None` for the default policy (see
    /// `crate::handler::cache_control`).
    pub cache_control: Option<String>,
    /// List folders that have no `index.html` (otherwise 403).
    pub listing: bool,
    /// Compress compressible responses on the fly for clients that accept it.
    pub compress: bool,
    /// Serve precompressed sidecars (`x.br`, `x.zst`, `x.gz` beside `x`).
    pub precompressed: bool,
    /// Bytes of compressed variants each worker keeps in memory.
    pub compress_cache: usize,
    /// Offer listed folders as tar and zip downloads.
    pub archives: bool,
    /// Serve the root's `index.html` for missing extension-less paths.
    pub spa: bool,
    /// The page of 404 answers, instead of the root's `404.html`.
    pub page404: Option<PathBuf>,
    /// `Name: value` fields added to every response (checked by the command line; a library
    /// caller's bad field makes `Server::bind` fail with `StartupError::Config`).
    pub headers: Vec<String>,
    /// `Access-Control-Allow-Origin: *` on every response and answers to CORS preflights.
    pub cors: bool,
    /// Basic authentication on every request.
    pub auth: Option<Credentials>,
    /// Serve the metrics page.
    pub metrics: bool,
    /// Answer health probes.
    pub health: bool,
    /// Every worker's counters: each server bound with this configuration (or a clone of it)
    /// registers its own, and the metrics page sums them.
    pub(crate) registry: Arc<Registry>,
    /// Serve HTTPS (every connection speaks TLS; plain HTTP gets a redirect to `https://`).
    pub tls: Option<TlsContext>,
    /// Reload pages when files change (`--live-reload`).
    pub live_reload: Option<LiveReload>,
    pub conn: ConnConfig,
    /// Most open client connections; the listener pauses at the cap.
    pub max_connections: usize,
    /// How long in-flight responses may take to finish once shutdown begins.
    pub(crate) grace_period: Duration,
    pub access_log: LogFormat,
    /// Shut down gracefully on SIGINT/SIGTERM (the binary; tests stop through a handle).
    pub(crate) handle_signals: bool,
    /// Event loops to run (each binds its own listener); the library runs one per `Server`.
    pub workers: usize,
    /// This server's number among the `workers` (from 0), named in its messages when there are
    /// several.
    pub worker: usize,
    /// The platform mechanisms: the platform's own, unless `MIOSERVE_STRATEGY` forces the
    /// portable ones (see [`sys::Strategy`]).
    pub strategy: sys::Strategy,
}

impl Config {
    /// The URL scheme the server answers: `https` with a certificate, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// A configuration serving `root` on `addr` with default limits and timeouts, no access log
    /// and no signal handling (what an embedding or a test wants; the binary turns both on).
    pub fn new(root: impl Into<PathBuf>, addr: SocketAddr) -> Config {
        Config {
            root: root.into(),
            addr,
            hidden: false,
            cache_control: None,
            listing: true,
            compress: true,
            precompressed: true,
            compress_cache: DEFAULT_COMPRESS_CACHE,
            archives: true,
            spa: false,
            page404: None,
            headers: Vec::new(),
            cors: false,
            auth: None,
            metrics: false,
            health: false,
            registry: Arc::default(),
            tls: None,
            live_reload: None,
            conn: ConnConfig::default(),
            max_connections: 10_000,
            grace_period: Duration::from_secs(5),
            access_log: LogFormat::Off,
            handle_signals: false,
            workers: 1,
            worker: 0,
            strategy: sys::Strategy::forced(),
        }
    }

    /// The configuration the command line asks for.
    pub fn from_cli(cli: &Cli) -> Config {
        let mut config = Config::new(cli.root().0, SocketAddr::new(cli.bind, cli.port));
        config.hidden = cli.hidden;
        config.cache_control = cli.cache_control.clone();
        config.listing = !cli.no_listing;
        config.compress = !cli.no_compress;
        config.precompressed = !cli.no_precompressed;
        config.compress_cache = cli.compress_cache;
        config.archives = !cli.no_archive;
        config.spa = cli.spa;
        config.page404 = cli.page404.as_deref().map(absolute);
        config.headers = cli.headers.clone();
        config.cors = cli.cors;
        config.auth = cli.auth.clone();
        config.metrics = cli.metrics;
        config.health = cli.health;
        config.live_reload = cli.live_reload.then(|| LiveReload {
            ignore: cli.watch_ignore.clone(),
            ..LiveReload::default()
        });
        let conn = &mut config.conn;
        conn.sendfile = !cli.no_sendfile;
        conn.limits.max_head_bytes = cli.max_header_bytes as usize;
        conn.limits.max_body_bytes = cli.max_body_bytes;
        conn.header_timeout = Duration::from_secs(cli.header_timeout);
        conn.keep_alive = cli.keepalive_timeout > 0;
        conn.keepalive_timeout = Duration::from_secs(cli.keepalive_timeout);
        conn.send_timeout = Duration::from_secs(cli.send_timeout);
        conn.explain = cli.explain;
        conn.log_health = cli.log_health;
        config.max_connections = cli.max_connections as usize;
        config.grace_period = Duration::from_secs(cli.grace_period);
        config.access_log = if cli.quiet {
            LogFormat::Off
        } else {
            cli.access_log
        };
        config.handle_signals = true;
        config.workers = match cli.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        config
    }
}

/// `path` made absolute against the current directory at start, so what it names does not
/// depend on anything later (a path that cannot be made absolute is kept as given).
fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A `-H 'Name: value'` argument, checked as [`crate::response::extra_headers`] checks it.
fn parse_header_field(field: &str) -> Result<String, String> {
    extra_headers::parse_field(field)?;
    Ok(field.to_string())
}

/// A header field value given on the command line: not empty, and only visible ASCII, spaces and
/// tabs, so it can never break the response head it is copied into (no CR, LF or NUL).
fn parse_field_value(value: &str) -> Result<String, String> {
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = value
        .chars()
        .find(|&c| !(c == ' ' || c == '\t' || c.is_ascii_graphic()))
    {
        return Err(format!(
            "{c:?} is not allowed in a header value (visible ASCII, spaces and tabs only)"
        ));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_end_flags() {
        let cli = Cli::try_parse_from([
            "mioserve",
            "--spa",
            "--cors",
            "--no-archive",
            "-H",
            "X-Frame-Options: DENY",
            "--header",
            "X-A: b",
            "--auth",
            "ann:s3cret",
        ])
        .unwrap();
        let config = Config::from_cli(&cli);
        assert!(config.spa && config.cors && !config.archives);
        assert_eq!(config.headers, ["X-Frame-Options: DENY", "X-A: b"]);
        assert_eq!(config.auth, Some(Credentials::parse("ann:s3cret").unwrap()));
        let plain = Config::from_cli(&Cli::try_parse_from(["mioserve"]).unwrap());
        assert!(!plain.spa && !plain.cors && plain.archives && plain.auth.is_none());
        assert!(plain.headers.is_empty());
        for bad in [
            &["mioserve", "-H", "No colon"][..],
            &["mioserve", "-H", "X: a\rb"],
            &["mioserve", "--auth", "nocolon"],
            &["mioserve", "--auth", "ann:sha256:12"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn an_auth_value_starting_with_a_dash_is_a_value() {
        // Read as a flag, clap would quote it in its "unexpected argument" error.
        for value in ["-S3CRET", "--S3CRET", "-x:sha256:S3CRET"] {
            let error = Cli::try_from_args(["mioserve", "--auth", value]).unwrap_err();
            let shown = error.render().to_string();
            assert!(
                shown.contains("--auth") && !shown.contains("S3CRET"),
                "{shown}"
            );
        }
        // A password may start with a dash.
        let cli = Cli::try_from_args(["mioserve", "--auth", "-ann:-pw"]).unwrap();
        assert_eq!(cli.auth, Some(Credentials::parse("-ann:-pw").unwrap()));
    }

    #[test]
    fn every_setting_has_its_variable() {
        let command = Cli::command();
        let mut seen = 0;
        for arg in command.get_arguments() {
            if NOT_SETTINGS.contains(&arg.get_id().as_str()) {
                assert_eq!(arg.get_env(), None, "{arg}: a command, not a setting");
                continue;
            }
            let name = arg.get_long().unwrap_or("root");
            let want = format!("MIOSERVE_{}", name.to_uppercase().replace('-', "_"));
            assert_eq!(arg.get_env(), Some(OsStr::new(&want)), "{arg}");
            assert!(arg.is_hide_env_values_set(), "{arg}: its value would show");
            seen += 1;
        }
        assert!(seen > 25, "{seen} arguments");
        assert_eq!(
            env_var(
                command
                    .get_arguments()
                    .find(|a| a.get_id() == "max_connections")
                    .unwrap()
            ),
            "MIOSERVE_MAX_CONNECTIONS"
        );
    }

    #[test]
    fn a_refused_secret_is_not_repeated() {
        for bad in ["s3cr3t-no-colon", "ann:sha256:s3cr3t", "ann:"] {
            let error = Cli::try_from_args(["mioserve", "--auth", bad]).unwrap_err();
            let text = error.to_string();
            assert!(text.contains("(not shown: it is a secret)"), "{text}");
            assert!(!text.contains("s3cr3t"), "{text}");
            assert_eq!(error.kind(), ErrorKind::ValueValidation);
        }
        let cli = Cli::try_from_args(["mioserve", "--auth", "ann:s3cr3t"]).unwrap();
        assert_eq!(cli.auth, Some(Credentials::parse("ann:s3cr3t").unwrap()));
    }

    #[test]
    fn cache_control_flag() {
        let cli =
            Cli::try_parse_from(["mioserve", "--cache-control", "max-age=60, public"]).unwrap();
        assert_eq!(
            Config::from_cli(&cli).cache_control.as_deref(),
            Some("max-age=60, public")
        );
        let cli = Cli::try_parse_from(["mioserve"]).unwrap();
        assert_eq!(Config::from_cli(&cli).cache_control, None);
        for bad in [
            "",
            "  ",
            "a\r\nSet-Cookie: x=1",
            "a\nb",
            "caf\u{e9}",
            "a\0b",
        ] {
            assert!(
                Cli::try_parse_from(["mioserve", "--cache-control", bad]).is_err(),
                "{bad:?} accepted"
            );
        }
    }
}
