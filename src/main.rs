//! The `mioserve` binary: parse the command line, set up logging, bind, report what it is about
//! to do, print the URL, run, and report what happened.
//!
//! Owns the process: arguments, logging, worker threads, exit codes. Cost: startup and exit only;
//! every request is the library's.

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use mioserve::config::RootSource;
use mioserve::server::Exit;
use mioserve::stats::{Snapshot, Stats};
use mioserve::sys::NofileLimits;
use mioserve::terminal::{self, Terminal};
use mioserve::tls::{CertError, SelfSigned, TlsContext};
use mioserve::{Cli, Config, Server, StartupError, share, sys};

fn main() -> ExitCode {
    let cli = Cli::from_command_line();
    if let Some(shell) = cli.print_completions {
        Cli::write_completions(shell, &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    if cli.print_manpage {
        return match Cli::write_manpage(&mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mioserve: cannot write the manual page: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let live = live_line_mode(&cli);
    init_logging(&cli);
    // Checked here so that a bad value is one line, not the panic `Config` would raise.
    if let Err(why) = sys::Strategy::from_env() {
        eprintln!("mioserve: {why}");
        return ExitCode::FAILURE;
    }
    let mut config = Config::from_cli(&cli);
    let self_signed = match tls_from_cli(&cli, config.addr.ip()) {
        Ok(Some((tls, self_signed))) => {
            config.tls = Some(tls);
            self_signed
        }
        Ok(None) => None,
        Err(e) => {
            eprintln!("mioserve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let limits = sys::raise_nofile_limit();
    let servers = match bind_workers(config.clone()) {
        Ok(servers) => servers,
        Err(e) => {
            eprintln!("mioserve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = servers[0].local_addr();
    preflight(&config, &servers[0], addr, limits);
    if let Some(tls) = &config.tls {
        describe_certificate(tls, self_signed.as_ref(), addr);
    }
    let scheme = config.scheme();
    // The one line on stdout before the access log: a person clicks it, a script reads the port.
    let line = format!("Serving {} at {scheme}://{addr}/\n", describe_root(&cli));
    if let Err(e) = Terminal::global().write_stdout(line.as_bytes()) {
        eprintln!("mioserve: cannot write to stdout: {e}");
        return ExitCode::FAILURE;
    }
    if cli.qr {
        let colors = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let report = share::qr_report(scheme, addr, &share::interface_addresses(), colors);
        let _ = Terminal::global().write_stderr(report.as_bytes());
    }
    if cli.open {
        share::open_in_browser(share::local_url(scheme, addr));
    }
    let stats: Vec<Arc<Stats>> = servers.iter().map(Server::stats).collect();
    if let Some(rewrite) = live {
        spawn_live_line(stats.clone(), rewrite);
    }
    let started = Instant::now();
    let result = run_workers(servers);
    if let Some((path, _)) = &self_signed {
        // The certificate was made for this run only.
        let _ = std::fs::remove_file(path);
    }
    if !cli.quiet {
        let total = Snapshot::sum(&stats.iter().map(|s| s.snapshot()).collect::<Vec<_>>());
        let terminal = Terminal::global();
        terminal.end_live();
        let _ = terminal.write_stderr(total.report(started.elapsed()).as_bytes());
    }
    match result {
        Ok(Exit::Graceful) => ExitCode::SUCCESS,
        Ok(Exit::Forced) => ExitCode::from(130),
        Err(e) => {
            eprintln!("mioserve: event loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where a certificate made at start was written, and the names it covers.
type MadeCert = (PathBuf, Vec<String>);

/// The TLS context the command line asks for: the certificate files, or a certificate made now
/// (then also where its PEM was written, and the names it covers).
fn tls_from_cli(
    cli: &Cli,
    bind: IpAddr,
) -> Result<Option<(TlsContext, Option<MadeCert>)>, StartupError> {
    if let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
        let tls = TlsContext::from_files(cert, key).map_err(StartupError::Tls)?;
        return Ok(Some((tls, None)));
    }
    if !cli.tls_self_signed {
        return Ok(None);
    }
    let uname = rustix::system::uname();
    let host = uname.nodename().to_str().ok();
    let made = SelfSigned::generate(bind, host).map_err(StartupError::Tls)?;
    let tls = TlsContext::from_pem(made.cert_pem.as_bytes(), made.key_pem.as_bytes())
        .map_err(StartupError::Tls)?;
    // Only the certificate is written (for curl --cacert or a browser's import); the key stays in
    // memory.
    let path = std::env::temp_dir().join(format!("mioserve-{}-cert.pem", std::process::id()));
    std::fs::write(&path, &made.cert_pem).map_err(|e| {
        StartupError::Tls(CertError {
            file: Some(path.clone()),
            why: format!("cannot write the certificate there ({e})"),
        })
    })?;
    Ok(Some((tls, Some((path, made.names)))))
}

/// Says on stderr what a client needs to trust the certificate: its fingerprint and validity,
/// and for a self-signed one where its PEM is, the names it covers, and how to trust it.
fn describe_certificate(tls: &TlsContext, self_signed: Option<&MadeCert>, addr: SocketAddr) {
    let cert = tls.certificate();
    log::info!(
        "TLS 1.3 and 1.2, ALPN http/1.1; certificate SHA-256 fingerprint {}, valid until {}",
        cert.fingerprint,
        cert.expires()
    );
    match self_signed {
        Some((path, names)) => {
            log::info!(
                "self-signed certificate for {} written to {}",
                names.join(", "),
                path.display()
            );
            log::info!("try: curl --cacert {} https://{addr}/", path.display());
            log::info!(
                "Chromium trusts it with --ignore-certificate-errors-spki-list={}",
                cert.spki_sha256
            );
        }
        None => {
            if let Some((cert_file, key_file)) = tls.files() {
                log::info!(
                    "certificate {} and key {}: SIGHUP reloads them",
                    cert_file.display(),
                    key_file.display()
                );
            }
        }
    }
}

/// The root as the start line names it: as given, or the default and why it was chosen.
fn describe_root(cli: &Cli) -> String {
    match cli.root() {
        (root, RootSource::Given) => root.display().to_string(),
        (_, RootSource::Public) => "./public (the default, as ./public exists)".to_string(),
        (_, RootSource::CurrentDir) => {
            let here =
                std::env::current_dir().map_or_else(|_| ".".into(), |d| d.display().to_string());
            format!("{here} (the current directory, as there is no ./public)")
        }
    }
}

/// Binds one server per worker: the first picks the port (0 = any), the rest bind beside it
/// (a listener each that the kernel spreads connections among, or the first one's, shared).
fn bind_workers(mut config: Config) -> Result<Vec<Server>, mioserve::StartupError> {
    let first = Server::bind(&config)?;
    config.addr = first.local_addr();
    let mut servers = vec![first];
    for worker in 1..config.workers {
        config.worker = worker;
        servers.push(Server::bind_beside(&config, &servers[0])?);
    }
    Ok(servers)
}

/// Runs every worker on its own thread and waits for them. A worker forced out by a second signal
/// ends the process at once; otherwise the result is the first failure, or a graceful exit. A
/// panic ends only the worker it happens in (the others keep serving: panics unwind, see
/// Cargo.toml), and once no worker is left the process fails.
fn run_workers(servers: Vec<Server>) -> std::io::Result<Exit> {
    let (done, finished) = std::sync::mpsc::channel();
    let count = servers.len();
    for (i, server) in servers.into_iter().enumerate() {
        let done = done.clone();
        std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || {
                let _ = done.send(server.run());
            })?;
    }
    // Only the workers hold senders now: if every one still running panics (a bug; no client
    // input may cause one), `recv` fails instead of waiting forever on a process that no longer
    // listens, and the process exits with an error.
    drop(done);
    let mut outcome = Ok(Exit::Graceful);
    for _ in 0..count {
        match finished.recv() {
            Ok(Ok(Exit::Forced)) => return Ok(Exit::Forced),
            Ok(Ok(Exit::Graceful)) => {}
            Ok(Err(e)) => outcome = outcome.and(Err(e)),
            Err(_) => return Err(std::io::Error::other("a worker panicked")),
        }
    }
    outcome
}

/// `RUST_LOG` decides when set; otherwise info, raised by `-v`/`-vv` or lowered to errors by `-q`.
/// Records go through the [`Terminal`], so they never land in the live line.
///
/// rustls logs what single clients do (a warning for each ClientHello that names an IP address
/// as its server name, as wrk and some load generators send); left at the server's level, any
/// client could write a line to the terminal per connection. The TLS counters and `-v`'s own
/// line per failed handshake say what matters, so rustls speaks only at `-vv` (or by `RUST_LOG`).
fn init_logging(cli: &Cli) {
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error,rustls=off",
        (false, 0) => "info,rustls=off",
        (false, 1) => "debug,rustls=off",
        (false, _) => "trace",
    };
    let env = env_logger::Env::default().default_filter_or(default);
    let mut builder = env_logger::Builder::from_env(env);
    builder.format_timestamp_millis();
    builder.target(env_logger::Target::Pipe(Box::new(terminal::Stderr)));
    // A pipe target is never coloured by default; keep the colours a terminal would get unless
    // RUST_LOG_STYLE or NO_COLOR says otherwise.
    if std::env::var_os("RUST_LOG_STYLE").is_none()
        && std::env::var_os("NO_COLOR").is_none()
        && std::io::stderr().is_terminal()
    {
        builder.write_style(env_logger::WriteStyle::Always);
    }
    builder.init();
}

/// Reports, on stderr, the effective settings and anything a user should know before the first
/// request: exposure beyond loopback, descriptor limits, secrets in the root.
fn preflight(config: &Config, server: &Server, addr: SocketAddr, limits: NofileLimits) {
    let conn = &config.conn;
    let log_format = config.access_log.to_possible_value();
    log::info!(
        "settings: root {}, workers {}, max connections {} per worker, header timeout {}s, keep-alive {}, \
         send timeout {}s, max head {} B, max body {} B, hidden files {}, listing {}, sendfile {}, \
         compression {}, precompressed sidecars {}, compress cache {} B per worker, access log {}",
        server.root().display(),
        config.workers,
        config.max_connections,
        conn.header_timeout.as_secs(),
        if conn.keep_alive {
            format!("{}s", conn.keepalive_timeout.as_secs())
        } else {
            "off".to_string()
        },
        conn.send_timeout.as_secs(),
        conn.limits.max_head_bytes,
        conn.limits.max_body_bytes,
        on_off(config.hidden),
        on_off(config.listing),
        on_off(conn.sendfile),
        on_off(config.compress),
        on_off(config.precompressed),
        config.compress_cache,
        log_format.as_ref().map_or("off", |v| v.get_name()),
    );
    log::info!("platform: {}", config.strategy.describe());
    if !addr.ip().is_loopback() {
        log::warn!("listening on {addr}: this directory is visible to your network");
    }
    // Never the credentials themselves, nor their digests.
    log::info!(
        "front end: archives {}, spa {}, cors {}, extra headers {}, basic auth {}",
        on_off(config.archives),
        on_off(config.spa),
        on_off(config.cors),
        config.headers.len(),
        on_off(config.auth.is_some()),
    );
    if config.auth.is_some() && !addr.ip().is_loopback() && config.tls.is_none() {
        log::warn!(
            "Basic auth on {addr}: without TLS, user and password cross the network in clear \
             (put a TLS proxy in front)"
        );
    }
    let show =
        |limit: Option<u64>| limit.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    if limits.soft != limits.before {
        log::info!(
            "open files: soft limit raised from {} to {} (hard limit {})",
            show(limits.before),
            show(limits.soft),
            show(limits.hard)
        );
    } else {
        log::info!(
            "open files: soft limit {}, hard limit {}",
            show(limits.soft),
            show(limits.hard)
        );
    }
    if limits
        .soft
        .is_some_and(|soft| soft < config.max_connections as u64 + 64)
    {
        log::warn!(
            "the open-file limit ({}) is below --max-connections ({}): accepting will pause early",
            show(limits.soft),
            config.max_connections
        );
    }
    if let Some(page) = &config.page404
        && let Err(e) = mioserve::handler::check_page404(page)
    {
        log::warn!(
            "--page404 {}: {e}; 404 answers get the built-in page until it can be read",
            page.display()
        );
    }
    for secret in [".git", ".env"] {
        if server.root().join(secret).exists() {
            if config.hidden {
                log::warn!(
                    "the root holds {secret} and --hidden serves it: anyone who can connect can read it"
                );
            } else {
                log::warn!(
                    "the root holds {secret}; it is not served (hidden files need --hidden)"
                );
            }
        }
    }
    // A wildcard bind is tried on loopback: what the commands can reach.
    let url = share::local_url(config.scheme(), addr);
    log::debug!("try: curl -I {url}");
    log::debug!("try: wrk -t1 -c64 -d10s {url}");
    log::debug!("try: oha -c64 -z10s {url}");
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// Whether to show the live line, and whether to rewrite it in place: on a terminal by default,
/// one line per second with `--stats`, never with `--no-stats` or `-q`. `--explain` already
/// writes a line per request, so it turns the in-place line off (`--stats` still prints lines).
fn live_line_mode(cli: &Cli) -> Option<bool> {
    if cli.quiet || cli.no_stats {
        return None;
    }
    if std::io::stderr().is_terminal() && !cli.explain {
        Some(true)
    } else if cli.stats {
        Some(false)
    } else {
        None
    }
}

/// Prints the stats line once a second from its own thread, summing every worker's counters; the
/// loops only bump counters.
fn spawn_live_line(stats: Vec<Arc<Stats>>, rewrite: bool) {
    let sum = move || Snapshot::sum(&stats.iter().map(|s| s.snapshot()).collect::<Vec<_>>());
    let spawned = std::thread::Builder::new()
        .name("stats".into())
        .spawn(move || {
            let mut before = sum();
            let mut then = Instant::now();
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let now = sum();
                let line = now.live_line(&before, then.elapsed().as_secs_f64());
                then = Instant::now();
                before = now;
                if rewrite {
                    Terminal::global().show_live(&line);
                } else {
                    let _ = Terminal::global().write_stderr(format!("{line}\n").as_bytes());
                }
            }
        });
    if let Err(e) = spawned {
        log::warn!("no stats line: {e}");
    }
}
