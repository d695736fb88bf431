use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::cli::{Mioserve, os};
use crate::util::*;

const BIN: &str = env!("CARGO_BIN_EXE_mioserve");

/// The binary with `env` set on top of this process's environment (less `MIOSERVE_*`, so the
/// caller's own settings cannot change a test), running `args` in `cwd`.
#[track_caller]
fn start_with_env(cwd: &Path, env: &[(&str, &str)], args: &[&OsStr]) -> Mioserve {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MIOSERVE_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    Mioserve::spawn(command, cwd, args, None)
}

/// `--help` as the binary prints it.
fn long_help() -> String {
    let dir = TempDir::new();
    let (status, stdout, stderr) = start_with_env(dir.path(), &[], &os(&["--help"])).finish();
    assert!(status.success() && stderr.is_empty(), "{status}: {stderr}");
    stdout
}

/// One argument of `--help`: its flags (`-p`, `--port`, or `ROOT`) and the lines that describe it.
#[derive(Debug)]
struct HelpEntry {
    short: Option<String>,
    /// The long flag without its dashes; `ROOT` for the positional argument.
    long: String,
    text: String,
}

/// The arguments `--help` lists, each with its text. An entry starts on a line indented by two
/// spaces that names its flags (`  -p, --port <PORT>`, `      --hidden`, `  [ROOT]`).
fn help_entries(help: &str) -> Vec<HelpEntry> {
    let mut entries: Vec<HelpEntry> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let starts_entry =
            (2..=6).contains(&indent) && (trimmed.starts_with('-') || trimmed.starts_with('['));
        if starts_entry {
            let names: Vec<&str> = trimmed
                .split([',', ' '])
                .filter(|w| w.starts_with('-') || w.starts_with('['))
                .collect();
            let short = names
                .iter()
                .find(|n| n.len() == 2 && !n.starts_with("--"))
                .map(|n| n.to_string());
            let long = names
                .iter()
                .find_map(|n| n.strip_prefix("--"))
                .map(|n| n.trim_end_matches("...").to_string())
                .unwrap_or_else(|| names[0].trim_matches(['[', ']']).to_string());
            entries.push(HelpEntry {
                short,
                long,
                text: String::new(),
            });
        } else if let Some(entry) = entries.last_mut() {
            entry.text.push_str(line);
            entry.text.push('\n');
        }
    }
    entries
}

/// The variable of a setting: `MIOSERVE_` and its long flag in upper case, `_` for `-`.
fn variable(long: &str) -> String {
    format!("MIOSERVE_{}", long.to_ascii_uppercase().replace('-', "_"))
}

/// `--help`, `--version` and the `--print-*` commands are the arguments that are not settings.
fn is_setting(entry: &HelpEntry) -> bool {
    !["help", "version", "print-completions", "print-manpage"].contains(&entry.long.as_str())
}

#[test]
fn help_names_the_variable_of_every_setting() {
    let help = long_help();
    let entries = help_entries(&help);
    assert!(entries.len() > 25, "too few entries found in:\n{help}");
    for entry in entries.iter().filter(|e| is_setting(e)) {
        let want = format!("[env: {}]", variable(&entry.long));
        assert!(
            entry.text.contains(&want),
            "--help does not show {want} for {entry:?}"
        );
    }
}

/// The rows of the README's flag table: (flag cell, variable cell).
fn readme_flag_table() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let start = readme
        .find("| flag | variable | default | meaning |")
        .expect("the README has a flag table");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split(" | ").collect();
            (cells[0].to_string(), cells[1].to_string())
        })
        .collect()
}

/// Whether `cell` names the flag `flag` (`--port`, `-p`) as a whole word.
fn names_flag(cell: &str, flag: &str) -> bool {
    cell.match_indices(flag).any(|(at, _)| {
        let before = cell[..at].chars().next_back();
        let after = cell[at + flag.len()..].chars().next();
        !matches!(before, Some(c) if c == '-' || c.is_ascii_alphanumeric())
            && !matches!(after, Some(c) if c == '-' || c.is_ascii_alphanumeric())
    })
}

#[test]
fn every_flag_in_help_is_in_the_readme_table_with_its_variable() {
    let help = long_help();
    let entries = help_entries(&help);
    let table = readme_flag_table();
    for entry in &entries {
        let flag = if entry.long == "ROOT" {
            "ROOT".to_string()
        } else {
            format!("--{}", entry.long)
        };
        let row = table
            .iter()
            .find(|(flags, _)| names_flag(flags, &flag))
            .unwrap_or_else(|| panic!("{flag} is in --help but not in the README's flag table"));
        if let Some(short) = &entry.short {
            assert!(
                names_flag(&row.0, short),
                "README row {row:?} lacks {short}"
            );
        }
        if is_setting(entry) {
            assert!(
                row.1.contains(&format!("`{}`", variable(&entry.long))),
                "README row {row:?} does not name {}",
                variable(&entry.long)
            );
        } else {
            assert!(
                !row.1.contains("MIOSERVE_"),
                "{row:?}: a command has no variable"
            );
        }
    }
    // And the table names no flag that no longer exists.
    for (flags, _) in &table {
        for word in flags.split(['`', ' ', ',', '(', ')']) {
            if let Some(long) = word.strip_prefix("--") {
                assert!(
                    entries.iter().any(|e| e.long == long),
                    "the README's table names --{long}, which --help does not"
                );
            }
        }
    }
}

/// A root with a file, a folder without an index, and a hidden file.
fn settings_site() -> TempDir {
    let dir = TempDir::new();
    let root = dir.path().join("root");
    write_file(&root, "a.txt", "hello\n");
    write_file(&root, "sub/b.txt", "b\n");
    write_file(&root, ".hidden", "h\n");
    dir
}

#[test]
fn variables_set_what_flags_set() {
    let dir = settings_site();
    let root = dir.path().join("root");
    let root_text = root.to_str().unwrap();
    let env = [
        ("MIOSERVE_ROOT", root_text),
        ("MIOSERVE_PORT", "0"),
        ("MIOSERVE_HIDDEN", "yes"),
        ("MIOSERVE_NO_LISTING", "1"),
        ("MIOSERVE_SPA", "false"),
        ("MIOSERVE_HEADER", "X-A: 1\nX-B: two"),
        ("MIOSERVE_CORS", "on"),
        ("MIOSERVE_CACHE_CONTROL", "max-age=5"),
        ("MIOSERVE_ACCESS_LOG", "off"),
    ];
    let mut server = start_with_env(dir.path(), &env, &[]);
    let line = server.first_line();
    let url = format!("Serving {root_text} at http://127.0.0.1:");
    let port: u16 = line
        .strip_prefix(&url)
        .and_then(|rest| rest.strip_suffix("/\n"))
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("{line:?} is not {url}PORT/"));
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let get = |path: &str| Client::connect(addr).response_to_get(path);
    let file = get("/a.txt");
    file.assert_status(200)
        .assert_header("x-a", Some("1"))
        .assert_header("x-b", Some("two"))
        .assert_header("access-control-allow-origin", Some("*"))
        .assert_header("cache-control", Some("max-age=5"));
    get("/.hidden").assert_status(200);
    get("/sub/").assert_status(403);
    get("/app/route").assert_status(404);
    let (_, stdout, _) = {
        let _ = server.child.kill();
        server.finish()
    };
    assert_eq!(stdout, "", "MIOSERVE_ACCESS_LOG=off: no access log");
}

#[test]
fn a_flag_wins_over_its_variable_and_over_a_conflicting_one() {
    let dir = settings_site();
    let root = dir.path().join("root");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port to occupy");
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let env = [
        ("MIOSERVE_PORT", taken_port.as_str()),
        ("MIOSERVE_ROOT", "/nonexistent/mioserve-root"),
        ("MIOSERVE_CACHE_CONTROL", "max-age=5"),
        // Conflicts with -v below: the flag wins, so this is not an error.
        ("MIOSERVE_QUIET", "true"),
    ];
    let args = [
        root.as_os_str(),
        OsStr::new("-p"),
        OsStr::new("0"),
        OsStr::new("--cache-control"),
        OsStr::new("max-age=7"),
        OsStr::new("-v"),
    ];
    let mut server = start_with_env(dir.path(), &env, &args);
    let line = server.first_line();
    assert!(
        line.starts_with(&format!("Serving {} at http://127.0.0.1:", root.display())),
        "{line:?}"
    );
    assert!(!line.contains(&format!(":{taken_port}/")), "{line:?}");
    let port: u16 = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end().trim_end_matches('/').parse().ok())
        .expect("port");
    let response =
        Client::connect(format!("127.0.0.1:{port}").parse().unwrap()).response_to_get("/a.txt");
    response.assert_header("cache-control", Some("max-age=7"));
    let stderr = server.kill();
    assert!(
        stderr.contains("DEBUG"),
        "-v, not MIOSERVE_QUIET:\n{stderr}"
    );
    drop(taken);
}

#[test]
fn a_refused_variable_is_named_in_the_error() {
    let dir = settings_site();
    for (name, value) in [
        ("MIOSERVE_PORT", "eighty"),
        ("MIOSERVE_CORS", "maybe"),
        ("MIOSERVE_ACCESS_LOG", "verbose"),
    ] {
        let (status, stdout, stderr) = start_with_env(dir.path(), &[(name, value)], &[]).finish();
        assert_eq!(status.code(), Some(2), "{name}={value}: {stderr}");
        assert_eq!(stdout, "");
        assert!(
            stderr.contains(&format!("the environment variable {name}")),
            "{name}={value}: {stderr}"
        );
    }
}

#[test]
fn a_secret_from_the_environment_never_shows() {
    let secret = "Zq9-s3cr3t-word-42";
    let credentials = format!("ann:{secret}");
    let hidden_forms = [
        secret.to_string(),
        base64::engine::general_purpose::STANDARD.encode(&credentials),
        Sha256::digest(secret.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    ];
    let assert_hidden = |what: &str, text: &str| {
        for form in &hidden_forms {
            assert!(!text.contains(form), "{what} shows {form:?}:\n{text}");
        }
    };
    let dir = settings_site();

    // --help names the variable, never its value.
    let (status, stdout, stderr) = start_with_env(
        dir.path(),
        &[("MIOSERVE_AUTH", &credentials)],
        &os(&["--help"]),
    )
    .finish();
    assert!(status.success());
    assert!(stdout.contains("[env: MIOSERVE_AUTH]"), "{stdout}");
    assert_hidden("--help", &format!("{stdout}{stderr}"));

    // A malformed secret is refused without being repeated, from the environment or a flag.
    let no_colon = secret.to_string();
    let bad_digest = format!("ann:sha256:{secret}");
    for bad in [&no_colon, &bad_digest] {
        let (status, stdout, stderr) =
            start_with_env(dir.path(), &[("MIOSERVE_AUTH", bad)], &[]).finish();
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("invalid value from MIOSERVE_AUTH for '--auth <USER:PASSWORD>'"),
            "{stderr}"
        );
        assert_hidden("the error", &format!("{stdout}{stderr}"));
        let (status, stdout, stderr) =
            start_with_env(dir.path(), &[], &os(&["--auth", bad])).finish();
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert_hidden("the error", &format!("{stdout}{stderr}"));
    }

    // Served with every log on: the access log, trace logging, --explain.
    let mut server = ChildServer::spawn_with(
        Path::new(BIN),
        |root| write_file(root, "a.txt", "hello\n"),
        &["--access-log", "extended", "--explain"],
        |command| {
            command
                .env("MIOSERVE_AUTH", &credentials)
                .env("RUST_LOG", "trace");
        },
    );
    let addr = server.addr;
    let basic = |pair: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let ask = |authorization: Option<String>| {
        let mut client = Client::connect(addr);
        let mut request = "GET /a.txt HTTP/1.1\r\nHost: t\r\n".to_string();
        if let Some(value) = authorization {
            request.push_str(&format!("Authorization: {value}\r\n"));
        }
        request.push_str("\r\n");
        client.send(request.as_bytes());
        client.response()
    };
    ask(None).assert_status(401);
    ask(Some(basic("ann:wrong"))).assert_status(401);
    ask(Some(basic(&credentials))).assert_status(200);
    server.signal(rustix::process::Signal::TERM);
    let (status, stderr) = server.wait(IO_TIMEOUT);
    let stdout = server.stdout_lines_at_least(6).join("\n");
    assert!(status.success(), "{status}: {stderr}");
    assert!(stdout.contains("\"GET /a.txt HTTP/1.1\" 200"), "{stdout}");
    assert!(stderr.contains("basic auth on"), "{stderr}");
    assert_hidden("the logs", &format!("{stdout}{stderr}"));
}

/// What a shell or tool printed, run with `args` and `stdin` within the I/O timeout; `None` when
/// it is not installed (`.ci/run` installs every one of them).
fn run_tool(program: &str, args: &[&str], stdin: &[u8]) -> Option<(bool, String, String)> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{program} is not installed: its check is skipped (.ci/run installs it)");
            return None;
        }
        Err(e) => panic!("run {program}: {e}"),
    };
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let mut status = None;
    wait_until(IO_TIMEOUT, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        panic!("{program} {args:?} did not finish in time");
    };
    let output = child.wait_with_output().unwrap();
    Some((
        status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// What the binary prints for `args` (which must succeed and print nothing on stderr).
fn printed(args: &[&str]) -> String {
    let dir = TempDir::new();
    let (status, stdout, stderr) = start_with_env(dir.path(), &[], &os(args)).finish();
    assert!(status.success(), "{args:?}: {status}: {stderr}");
    assert_eq!(stderr, "", "{args:?}");
    assert!(!stdout.trim().is_empty(), "{args:?} printed nothing");
    stdout
}

/// Every long flag `--help` lists, without its dashes.
fn long_flags() -> Vec<String> {
    help_entries(&long_help())
        .into_iter()
        .filter(|e| e.long != "ROOT")
        .map(|e| e.long)
        .collect()
}

/// Asserts the candidates a shell offered for `mioserve --` hold every flag.
#[track_caller]
fn offers_every_flag(shell: &str, candidates: &str, flags: &[String]) {
    let offered: Vec<&str> = candidates
        .lines()
        .map(|l| l.split(['\t', ' ']).next().unwrap_or(""))
        .collect();
    for flag in flags {
        assert!(
            offered.contains(&format!("--{flag}").as_str()),
            "{shell} does not complete --{flag}; it offered {offered:?}"
        );
    }
}

#[test]
fn completions_offer_every_flag_in_every_shell() {
    let flags = long_flags();
    assert!(flags.len() > 25, "{flags:?}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = printed(&["--print-completions", shell]);
        for flag in &flags {
            let named = if shell == "fish" {
                format!("-l {flag} ")
            } else {
                format!("--{flag}")
            };
            assert!(script.contains(&named), "{shell} script lacks {named:?}");
        }
        let dir = TempDir::new();
        let path = dir.path().join(format!("mioserve.{shell}"));
        std::fs::write(&path, &script).unwrap();
        let path = path.to_str().unwrap();
        match shell {
            // Completes `mioserve --`, and the values of --access-log.
            "bash" => {
                let complete = |words: &str, cword: usize| {
                    let program = format!(
                        "source {path}; COMP_WORDS=({words}); COMP_CWORD={cword}; \
                         _mioserve mioserve \"${{COMP_WORDS[COMP_CWORD]}}\" \
                         \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\""
                    );
                    run_tool("bash", &["-c", &program], b"")
                };
                if let Some((ok, out, err)) = complete("mioserve --", 1) {
                    assert!(ok && err.is_empty(), "bash: {err}");
                    offers_every_flag(shell, &out, &flags);
                    let (_, out, _) = complete("mioserve --access-log ''", 2).unwrap();
                    assert_eq!(out, "combined\ncommon\nextended\noff\n");
                }
            }
            "zsh" => {
                if let Some((ok, _, err)) = run_tool("zsh", &["-n", path], b"") {
                    assert!(ok && err.is_empty(), "zsh -n: {err}");
                }
            }
            "fish" => {
                let program = format!("source {path}; complete -C'mioserve --'");
                if let Some((ok, out, err)) = run_tool("fish", &["-c", &program], b"") {
                    assert!(ok && err.is_empty(), "fish: {err}");
                    offers_every_flag(shell, &out, &flags);
                }
            }
            // The completer runs outside an interactive shell with `edit:` stood in for.
            "elvish" => {
                let program = format!(
                    "var completers = [&]\nfn complex-candidate {{|text &display=''| echo $text }}\n{}\n$completers[mioserve] mioserve --\n",
                    script
                        .replace("edit:completion:arg-completer", "completers")
                        .replace("edit:complex-candidate", "complex-candidate")
                );
                let file = dir.path().join("drive.elv");
                std::fs::write(&file, program).unwrap();
                if let Some((ok, out, err)) = run_tool("elvish", &[file.to_str().unwrap()], b"") {
                    assert!(ok && err.is_empty(), "elvish: {err}");
                    offers_every_flag(shell, &out, &flags);
                }
            }
            // No PowerShell on Debian: the registration, and brackets that balance.
            _ => {
                assert!(
                    script.contains("Register-ArgumentCompleter -Native -CommandName 'mioserve'"),
                    "{script}"
                );
                for (open, close) in [('{', '}'), ('(', ')'), ('[', ']')] {
                    assert_eq!(
                        script.matches(open).count(),
                        script.matches(close).count(),
                        "unbalanced {open}{close}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_man_page_is_well_formed_and_names_every_flag_and_variable() {
    let page = printed(&["--print-manpage"]);
    assert!(page.contains(".TH mioserve 1"), "{page}");
    assert!(
        page.contains("mioserve \\- a small, fast, correct HTTP/1.1 static\\-file server"),
        "{page}"
    );
    let text = page.replace("\\-", "-");
    for entry in help_entries(&long_help()) {
        if entry.long != "ROOT" {
            let flag = format!("\\fB--{}\\fR", entry.long);
            assert!(text.contains(&flag), "the man page lacks {flag}");
        }
        if is_setting(&entry) {
            let var = format!("\\fB{}\\fR environment variable", variable(&entry.long));
            assert!(text.contains(&var), "the man page lacks {var}");
        }
    }
    // mandoc's linter: no error; groff: no warning at all.
    if let Some((ok, out, err)) =
        run_tool("mandoc", &["-T", "lint", "-W", "error"], page.as_bytes())
    {
        assert!(ok && out.is_empty() && err.is_empty(), "mandoc: {out}{err}");
    }
    if let Some((ok, out, err)) =
        run_tool("groff", &["-man", "-Tutf8", "-ww", "-z"], page.as_bytes())
    {
        assert!(ok && out.is_empty() && err.is_empty(), "groff: {out}{err}");
    }
}
