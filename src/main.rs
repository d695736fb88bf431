//! The `mioserve` binary: parse the command line, set up logging, bind, print the URL, run.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use mioserve::server::Exit;
use mioserve::{Cli, Config, Server, sys};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let config = Config::from_cli(&cli);
    let limits = sys::raise_nofile_limit();
    log::debug!(
        "open-file limit: soft {} (was {}), hard {}",
        show_limit(limits.soft),
        show_limit(limits.before),
        show_limit(limits.hard)
    );
    let server = match Server::bind(&config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("mioserve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.local_addr();
    // The one line on stdout: a person clicks it, a script reads the port from it.
    let mut stdout = std::io::stdout().lock();
    let printed = writeln!(stdout, "Serving {} at http://{addr}/", cli.root.display())
        .and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(e) = printed {
        eprintln!("mioserve: cannot write to stdout: {e}");
        return ExitCode::FAILURE;
    }
    match server.run() {
        Ok(Exit::Graceful) => ExitCode::SUCCESS,
        Ok(Exit::Forced) => ExitCode::from(130),
        Err(e) => {
            eprintln!("mioserve: event loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `RUST_LOG` decides when set; otherwise info, raised by `-v`/`-vv` or lowered to errors by `-q`.
fn init_logging(cli: &Cli) {
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format_timestamp_millis()
        .init();
}

fn show_limit(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_string(), |n| n.to_string())
}
