#!/usr/bin/env python3
"""Load benchmark: mioserve against nginx and lighttpd, on one fixture, server and load generator
pinned to different cores. Called by `benches/load.sh`, which builds the release binary and
installs the tools first; run that, not this.

Every scenario of issue 7's target table runs in interleaved rounds (each round runs every server
once, in a rotated order, so drift from other load on the machine spreads over all of them). Each
server's CPU time (utime + stime of the whole process, from /proc/PID/stat) is read before and
after each run, so "server CPU per request" is the server's own cost, not the generator's. A table
per scenario prints the median over rounds.

Environment (all optional):
  ROUNDS=3          rounds per scenario
  DURATION=5        seconds per run
  QUICK=1           smoke test: ROUNDS=1, DURATION=2 unless set explicitly
  SCENARIOS=a,b     only these scenarios (names: see SCENARIO_NAMES below); `https` runs every
                    HTTPS one (https-keepalive, https-close, https-full, https-big, https-idle):
                    mioserve --tls-cert against nginx (one worker, TLS 1.3, the same ECDSA P-256
                    certificate made by openssl, its session cache and tickets), whatever
                    SERVERS says
  SERVERS=a,b       only these servers (ceiling, mioserve, nginx, lighttpd); nginx is the ratio's
                    base, and the ceiling's row adds a ratio to it
  MIOSERVE_BASELINE=/path/to/mioserve
                    also run that binary (an older build, say) as its own row, `mioserve-base`,
                    in the same interleaved rounds, so two builds are compared in one run
                    (over TLS too, as `mioserve-base-tls`, in the HTTPS scenarios)
  IDLE_CONNS=10000  connections opened by the idle scenario
  SERVER_CPUS=0     taskset CPU list for the servers
  CLIENT_CPUS=1     taskset CPU list for the load generators
  H2LOAD_LATENCY=1  have h2load log every request to compute p50/p99 (costs the generator CPU,
                    so off by default; h2load itself reports only a mean)

Everything listens on 127.0.0.1 on ports the kernel picked as free; every run is bounded by a
timeout; every server started is stopped on exit, including on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "target"
FIXTURE = TARGET / "bench-fixture"
WORK = TARGET / "bench-work"
MIOSERVE = TARGET / "release" / "mioserve"
BASELINE = os.environ.get("MIOSERVE_BASELINE", "")
# The ceiling: a minimal mio + httparse loop answering every request with the same in-memory body
# (source beside the repository, built by load.sh into target/ceiling). It cannot serve files, so
# it runs only in the scenarios on the small file that it answers byte for byte in size.
CEILING_SRC = REPO.parent / "shared" / "ceiling"
CEILING = TARGET / "ceiling" / "release" / "ceiling"
PIDFILE = WORK / "pids"

CLK_TCK = os.sysconf("SC_CLK_TCK")  # what `getconf CLK_TCK` prints
SMALL = "1k.bin"
BIG = "10m.bin"
SCRIPT = "app.js"  # 100 KiB of script-like text, for the gzip scenario
SCRIPT_BYTES = 100 * 1024
BIG_BYTES = 10 * 1024 * 1024
MIB = 1024 * 1024
# Client-side fd limit and the servers' connection caps: room for the idle scenario's
# connections plus the generator's. Arbitrary, far above anything the scenarios open.
NOFILE = 65536
MAX_CONNS = 30000
# lighttpd silently falls back to 4096 fds for values above 65535 (and caps connections at half).
LIGHTTPD_FDS = min(NOFILE, 65535)


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


QUICK = os.environ.get("QUICK", "") not in ("", "0")
ROUNDS = env_int("ROUNDS", 1 if QUICK else 3)
DURATION = env_int("DURATION", 2 if QUICK else 5)
IDLE_CONNS = env_int("IDLE_CONNS", 10000)
SERVER_CPUS = os.environ.get("SERVER_CPUS", "0")
CLIENT_CPUS = os.environ.get("CLIENT_CPUS", "1")
H2LOAD_LATENCY = os.environ.get("H2LOAD_LATENCY", "") not in ("", "0")
# Slack on top of a run's duration before it is killed and recorded as failed.
RUN_SLACK = 30


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    """A port the kernel considers free on 127.0.0.1 (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"not listening on {port} after {timeout} s")


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, int]:
    """One GET on a fresh connection: (status, body length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET /{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(1 << 20):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), len(body)


@dataclass
class Server:
    """One server process under test, started by this script and stopped by it."""

    name: str
    argv: list[str]
    port: int
    cpus: str = SERVER_CPUS
    proc: subprocess.Popen | None = None
    crashes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        logf = open(WORK / f"{self.name}.log", "ab")
        # taskset execs the server, so the child's PID is the server's own (nginx runs without a
        # master and lighttpd without workers: one process each, the one measured).
        self.proc = subprocess.Popen(
            ["taskset", "-c", self.cpus, *self.argv],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            cwd=WORK,
        )
        STARTED.append(self)
        write_pidfile()
        wait_listening(self.port, self.proc)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self, when: str) -> bool:
        """Records and restarts a server that died; returns whether it was alive."""
        if self.alive():
            return True
        code = self.proc.returncode if self.proc else None
        msg = f"{self.name} exited (status {code}) {when}; see {WORK / (self.name + '.log')}"
        log("!! " + msg)
        self.crashes.append(msg)
        self.start()
        return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


STARTED: list[Server] = []


def write_pidfile() -> None:
    """PIDs for load.sh's trap, in case this driver itself is killed with SIGKILL."""
    PIDFILE.write_text("".join(f"{s.proc.pid}\n" for s in STARTED if s.alive()))


def stop_all() -> None:
    for server in STARTED:
        try:
            server.stop()
        except Exception as e:  # keep stopping the others
            log(f"stopping {server.name}: {e}")
    if PIDFILE.exists():
        PIDFILE.unlink()


def on_signal(signum, _frame):
    log(f"signal {signum}: stopping servers")
    stop_all()
    sys.exit(128 + signum)


# --- servers -------------------------------------------------------------------------------------


def mioserve(
    name: str = "mioserve",
    extra: list[str] | None = None,
    cpus: str = SERVER_CPUS,
    binary: Path = MIOSERVE,
):
    port = free_port()
    argv = [str(binary), str(FIXTURE), "-p", str(port), "-q"]
    argv += ["--max-connections", str(MAX_CONNS), *(extra or [])]
    return Server(name, argv, port, cpus)


def mioserve_base():
    """The binary named by MIOSERVE_BASELINE, run exactly as mioserve is."""
    return mioserve("mioserve-base", binary=Path(BASELINE))


def nginx(name: str = "nginx", gzip: bool = False):
    port = free_port()
    d = WORK / name
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "nginx.conf"
    # One process that is the worker (no master), so /proc/PID/stat is the worker's CPU.
    conf.write_text(
        f"""\
worker_processes 1;
master_process off;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile {NOFILE};
events {{
    worker_connections {MAX_CONNS};
}}
http {{
    types {{ application/octet-stream bin; text/javascript js; }}
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    {GZIP_CONF if gzip else ""}
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {FIXTURE};
    }}
}}
"""
    )
    argv = ["nginx", "-p", str(d), "-e", str(d / "error.log"), "-c", str(conf)]
    return Server(name, argv, port)


# nginx compressing every response at its fastest level, as its gzip module always does (it keeps
# no compressed copies).
GZIP_CONF = (
    "gzip on; gzip_comp_level 1; gzip_min_length 512; gzip_vary on; gzip_proxied any; "
    "gzip_types text/javascript application/javascript text/css application/json;"
)


def lighttpd():
    port = free_port()
    d = WORK / "lighttpd"
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "lighttpd.conf"
    # No mod_accesslog, so no access log; one process (server.max-worker defaults to 0).
    conf.write_text(
        f"""\
server.document-root = "{FIXTURE}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{d}/error.log"
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 60
server.max-connections = {MAX_CONNS}
server.max-fds = {LIGHTTPD_FDS}
server.listen-backlog = 4096
mimetype.assign = (".bin" => "application/octet-stream")
"""
    )
    return Server("lighttpd", ["lighttpd", "-D", "-f", str(conf)], port)


def ceiling():
    port = free_port()
    argv = [str(CEILING), "--port", str(port), "--bind", "127.0.0.1", "--body", str(FIXTURE / SMALL)]
    return Server("ceiling", argv, port)


SERVER_FACTORIES = {
    "ceiling": ceiling,
    "mioserve": mioserve,
    # The same binary under --live-reload (not in the default set): with SCENARIOS=keepalive it
    # shows what watching costs a request of a file that is no page.
    "mioserve-live": lambda: mioserve("mioserve-live", extra=["--live-reload"]),
    "nginx": nginx,
    "lighttpd": lighttpd,
}
if BASELINE:
    SERVER_FACTORIES["mioserve-base"] = mioserve_base


# --- load generators -----------------------------------------------------------------------------

UNITS_TIME = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
UNITS_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


@dataclass
class Result:
    requests: int = 0
    seconds: float = 0.0
    rate: float = 0.0  # req/s
    bytes: float = 0.0  # bytes received
    p50: float | None = None  # seconds
    p99: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    failed: str | None = None  # why the run produced no figures


def run_tool(argv: list[str], duration: float) -> tuple[str, str | None]:
    """Runs a generator pinned to the client cores; returns (stdout+stderr, failure or None)."""
    try:
        out = subprocess.run(
            ["taskset", "-c", CLIENT_CPUS, *argv],
            capture_output=True,
            text=True,
            timeout=duration + RUN_SLACK,
        )
    except subprocess.TimeoutExpired:
        return "", f"killed after {duration + RUN_SLACK:.0f} s"
    text = out.stdout + out.stderr
    if out.returncode != 0:
        return text, f"exit status {out.returncode}: {text.strip()[-300:]}"
    return text, None


def wrk(
    port: int, path: str, conns: int, duration: int, extra=(), threads: int = 1, scheme="http"
) -> Result:
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--timeout", "2s", "--latency"]
    argv += [*extra, f"{scheme}://127.0.0.1:{port}/{path}"]
    text, failure = run_tool(argv, duration)
    r = Result(failed=failure)
    if failure:
        return r
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", text)
    if not m:
        r.failed = "unparsed wrk output: " + text[-300:]
        return r
    r.requests = int(m[1])
    r.seconds = float(m[2]) * UNITS_TIME[m[3]]
    r.bytes = float(m[4]) * UNITS_BYTES[m[5]]
    r.rate = r.requests / r.seconds if r.seconds else 0.0
    for pct, attr in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(\w+)", text, re.M)
        if m:
            setattr(r, attr, float(m[1]) * UNITS_TIME[m[2]])
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        for name, value in zip(("connect", "read", "write", "timeout"), m.groups()):
            if int(value):
                r.errors[name] = int(value)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        r.errors["non-2xx"] = int(m[1])
    return r


def h2load(
    port: int, path: str, conns: int, depth: int, duration: int, scheme="http"
) -> Result:
    logfile = WORK / "h2load-requests.log"
    argv = ["h2load", "--h1", f"-c{conns}", f"-m{depth}", "-t1", "-D", str(duration)]
    if H2LOAD_LATENCY:
        argv += ["--log-file", str(logfile)]
    argv.append(f"{scheme}://127.0.0.1:{port}/{path}")
    text, failure = run_tool(argv, duration)
    r = Result(failed=failure)
    if failure:
        return r
    m = re.search(r"finished in ([\d.]+)(\w+), ([\d.]+) req/s", text)
    m2 = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        text,
    )
    m3 = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    m4 = re.search(r"traffic: ([\d.]+)(\w+) \((\d+)\) total", text)
    if not (m and m2 and m3):
        r.failed = "unparsed h2load output: " + text[-300:]
        return r
    r.seconds = float(m[1]) * UNITS_TIME[m[2]]
    r.requests = int(m2[4])
    r.rate = r.requests / r.seconds if r.seconds else 0.0
    r.bytes = float(m4[3]) if m4 else 0.0
    for name, value in (("failed", m2[5]), ("timeout", m2[7])):
        if int(value):
            r.errors[name] = int(value)
    non2xx = int(m3[2]) + int(m3[3]) + int(m3[4])
    if non2xx:
        r.errors["non-2xx"] = non2xx
    if H2LOAD_LATENCY and logfile.exists():
        # Each line: start time (µs since epoch), status, latency (µs).
        lat = sorted(int(line.split()[2]) for line in logfile.open() if line.strip())
        if lat:
            r.p50 = lat[len(lat) // 2] * 1e-6
            r.p99 = lat[min(len(lat) - 1, len(lat) * 99 // 100)] * 1e-6
        logfile.unlink()
    return r


# Processes of `openssl s_time` run at once by the https-full scenario (each connects one at a
# time), so the server always has handshakes waiting. Arbitrary, enough to keep it busy.
S_TIME_PROCS = 4
# The small file's response over HTTP/1.0, head included, is at least this long.
SMALL_RESPONSE_MIN = 1024 + 100


def s_time(port: int, path: str, procs: int, duration: int) -> Result:
    """`procs` processes of `openssl s_time -new` at once: new connections, one after another in
    each, every one a full TLS handshake and one HTTP/1.0 GET of `path`, for `duration` s."""
    argv = ["taskset", "-c", CLIENT_CPUS, "openssl", "s_time", "-connect", f"127.0.0.1:{port}",
            "-new", "-www", f"/{path}", "-time", str(duration)]
    start = time.monotonic()
    children = [
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for _ in range(procs)
    ]
    outputs, failure = [], None
    for child in children:
        try:
            left = start + duration + RUN_SLACK - time.monotonic()
            text, _ = child.communicate(timeout=max(0.0, left))
        except subprocess.TimeoutExpired:
            child.kill()
            text, _ = child.communicate()
            failure = failure or f"killed after {duration + RUN_SLACK:.0f} s"
        if child.returncode != 0 and not failure:
            failure = f"exit status {child.returncode}: {text.strip()[-300:]}"
        outputs.append(text)
    r = Result(seconds=time.monotonic() - start, failed=failure)
    if failure:
        return r
    for text in outputs:
        m = re.search(r"(\d+) connections in [\d.]+s; [\d.]+ connections/user sec, bytes read (\d+)",
                      text)
        if not m:
            r.failed = "unparsed s_time output: " + text[-300:]
            return r
        r.requests += int(m[1])
        r.bytes += int(m[2])
    r.rate = r.requests / r.seconds
    # s_time counts a connection whatever came back: a short answer is an error.
    if r.requests and r.bytes / r.requests < SMALL_RESPONSE_MIN:
        r.errors["short responses"] = r.requests
    return r


OHA_HELP: str | None = None


def oha(port: int, path: str, conns: int, duration: int) -> Result:
    global OHA_HELP
    if OHA_HELP is None:
        OHA_HELP = subprocess.run(["oha", "--help"], capture_output=True, text=True).stdout
    argv = ["oha", f"-c{conns}", f"-z{duration}s", "--no-tui"]
    argv += ["--output-format", "json"] if "--output-format" in OHA_HELP else ["--json"]
    # Count requests cut off by the deadline as unfinished, not as errors (as wrk does).
    if "--wait-ongoing-requests-after-deadline" in OHA_HELP:
        argv.append("--wait-ongoing-requests-after-deadline")
    argv.append(f"http://127.0.0.1:{port}/{path}")
    text, failure = run_tool(argv, duration)
    r = Result(failed=failure)
    if failure:
        return r
    try:
        data = json.loads(text[text.index("{") :])
    except ValueError:
        r.failed = "unparsed oha output: " + text[-300:]
        return r
    codes = {int(k): v for k, v in data.get("statusCodeDistribution", {}).items()}
    r.requests = sum(v for k, v in codes.items() if 200 <= k < 300)
    non2xx = sum(v for k, v in codes.items() if not 200 <= k < 300)
    if non2xx:
        r.errors["non-2xx"] = non2xx
    for name, value in data.get("errorDistribution", {}).items():
        if "deadline" not in name:
            r.errors[name[:40]] = value
    summary = data.get("summary", {})
    r.seconds = float(summary.get("total", 0.0))
    r.rate = r.requests / r.seconds if r.seconds else 0.0
    r.bytes = float(summary.get("totalData", 0.0))
    pct = data.get("latencyPercentiles", {})
    r.p50, r.p99 = pct.get("p50"), pct.get("p99")
    return r


# --- scenarios -----------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    title: str
    command: str
    run: object  # (port, duration) -> Result
    per_mib: bool = False  # report MiB/s and µs/MiB instead of req/s and µs/request
    ceiling: bool = False  # the ceiling runs too (it answers the small file only)
    note: str = ""  # printed under the table


def scenarios() -> list[Scenario]:
    d = DURATION
    out = [
        Scenario(
            "keepalive",
            "1 KiB file, keep-alive",
            f"wrk -t1 -c64 -d{d}s --latency /{SMALL}",
            lambda port: wrk(port, SMALL, 64, d),
            ceiling=True,
        ),
        Scenario(
            "pipeline",
            "1 KiB file, 16-deep pipelining",
            f"h2load --h1 -c64 -m16 -D {d} /{SMALL}",
            lambda port: h2load(port, SMALL, 64, 16, d),
            ceiling=True,
            note=""
            if H2LOAD_LATENCY
            else "h2load reports no percentiles; H2LOAD_LATENCY=1 logs every request to get them "
            "(which slows the generator).",
        ),
        Scenario(
            "big",
            "10 MiB file, keep-alive",
            f"wrk -t1 -c8 -d{d}s --latency /{BIG}",
            lambda port: wrk(port, BIG, 8, d),
            per_mib=True,
        ),
        Scenario(
            "close",
            "a TCP connection per request",
            f"wrk -t1 -c64 -d{d}s --latency -H 'Connection: close' /{SMALL}",
            lambda port: wrk(port, SMALL, 64, d, extra=("-H", "Connection: close")),
            ceiling=True,
        ),
        Scenario(
            "c1000",
            "1,000 connections",
            f"wrk -t1 -c1000 -d{d}s --latency /{SMALL}",
            lambda port: wrk(port, SMALL, 1000, d),
        ),
    ]
    if shutil.which("oha"):
        out.append(
            Scenario(
                "oha",
                "oha, 1 KiB file",
                f"oha -c64 -z{d}s /{SMALL}",
                lambda port: oha(port, SMALL, 64, d),
            )
        )
    else:
        log("skipped: oha scenario (oha not installed)")
    return out


# --- HTTPS -----------------------------------------------------------------------------------------


def tls_files() -> tuple[Path, Path]:
    """One ECDSA P-256 certificate for 127.0.0.1 and its key, made once, for every server."""
    d = WORK / "tls"
    d.mkdir(parents=True, exist_ok=True)
    cert, key = d / "cert.pem", d / "key.pem"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True,
        )
    return cert, key


def mioserve_tls(name: str = "mioserve-tls", binary: Path = MIOSERVE):
    cert, key = tls_files()
    return mioserve(name, ["--tls-cert", str(cert), "--tls-key", str(key)], binary=binary)


def mioserve_base_tls():
    """The binary named by MIOSERVE_BASELINE, over TLS exactly as mioserve-tls."""
    return mioserve_tls("mioserve-base-tls", Path(BASELINE))


def nginx_tls():
    """nginx as in nginx(), over TLS 1.3 only, with the same certificate, its session cache and
    tickets."""
    cert, key = tls_files()
    server = nginx("nginx-tls")
    conf = WORK / "nginx-tls" / "nginx.conf"
    text = conf.read_text().replace(
        f"listen 127.0.0.1:{server.port} backlog=4096;",
        f"listen 127.0.0.1:{server.port} ssl backlog=4096;\n"
        f"        ssl_certificate {cert};\n        ssl_certificate_key {key};\n"
        "        ssl_protocols TLSv1.3;\n        ssl_session_cache shared:SSL:1m;\n"
        "        ssl_session_tickets on;",
    )
    conf.write_text(text)
    return server


def https_scenarios() -> list[Scenario]:
    d = DURATION
    return [
        Scenario(
            "https-keepalive",
            "HTTPS, 1 KiB file, keep-alive",
            f"h2load --h1 -c64 -D {d} https:///{SMALL}",
            lambda port: h2load(port, SMALL, 64, 1, d, scheme="https"),
        ),
        Scenario(
            "https-close",
            "HTTPS, a new TLS connection per request, resumed (wrk keeps its session)",
            f"wrk -t1 -c64 -d{d}s --latency -H 'Connection: close' https:///{SMALL}",
            lambda port: wrk(port, SMALL, 64, d, extra=("-H", "Connection: close"), scheme="https"),
            note="wrk reuses its TLS session on every reconnection: these are resumed handshakes "
            "(PSK and ECDHE, no certificate or signature), as a browser's are. https-full has "
            "full ones.",
        ),
        Scenario(
            "https-full",
            "HTTPS, a new TLS connection per request, full handshakes",
            f"{S_TIME_PROCS} x openssl s_time -new -www /{SMALL} -time {d}",
            lambda port: s_time(port, SMALL, S_TIME_PROCS, d),
            note="openssl s_time -new never offers a session: every connection is a full "
            "handshake (ECDHE, the certificate and its ECDSA signature) and one HTTP/1.0 GET. "
            "Each process connects one at a time, so the rate is the generator's; the server "
            "CPU per connection is the figure to compare. No latency percentiles.",
        ),
        Scenario(
            "https-big",
            "HTTPS, 10 MiB file, keep-alive",
            f"wrk -t1 -c8 -d{d}s --latency https:///{BIG}",
            lambda port: wrk(port, BIG, 8, d, scheme="https"),
            per_mib=True,
        ),
    ]


SERVER_FACTORIES["mioserve-tls"] = mioserve_tls
SERVER_FACTORIES["nginx-tls"] = nginx_tls
SERVER_FACTORIES["mioserve-base-tls"] = mioserve_base_tls


def https_get(port: int, path: str, context, session=None, timeout: float = 10.0) -> dict:
    """One GET over TLS on a fresh connection, offering `session` for resumption (`context` must
    be the one that made it): the status, the body's length, the protocol and cipher suite, whether
    the session was resumed, and the session to offer next time."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with context.wrap_socket(raw, session=session) as s:
            s.sendall(f"GET /{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                      .encode())
            data = bytearray()
            while chunk := s.recv(1 << 20):
                data += chunk
            head, _, body = bytes(data).partition(b"\r\n\r\n")
            return {"status": int(head.split(b" ", 2)[1]), "length": len(body),
                    "version": s.version(), "cipher": s.cipher()[0], "resumed": s.session_reused,
                    "session": s.session}


def check_https(server: Server) -> str | None:
    """Whether `server` serves the fixture over TLS 1.3 and resumes a session, as every HTTPS
    scenario assumes: None if so, else what is wrong."""
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        for path, size in ((SMALL, 1024), (BIG, BIG_BYTES)):
            got = https_get(server.port, path, context)
            if (got["status"], got["length"], got["version"]) != (200, size, "TLSv1.3"):
                return (f"/{path}: {got['status']} with {got['length']} bytes over "
                        f"{got['version']} (expected 200 with {size} over TLSv1.3)")
        again = https_get(server.port, SMALL, context, session=got["session"])
        if not again["resumed"]:
            return "a second connection offering the first's session was not resumed"
    except (OSError, ValueError, IndexError) as e:
        return f"GET over TLS failed: {e}"
    log(f"{server.name}: pid {server.pid}, port {server.port}, {got['version']} "
        f"{got['cipher']}, resumes")
    return None


def run_https(wanted: set[str]) -> list[str] | None:
    """The HTTPS scenarios: mioserve and nginx (one worker, TLS 1.3, the same ECDSA P-256
    certificate, session cache and tickets) in the same interleaved rounds; then the memory of an
    idle TLS connection (MIOSERVE_BASELINE's binary as a third server). None if a server does not
    serve the fixture over TLS 1.3 as expected."""
    servers = [mioserve_tls(), *([mioserve_base_tls()] if BASELINE else []), nginx_tls()]
    texts = []
    try:
        for server in servers:
            server.start()
            wrong = check_https(server)
            if wrong:
                log(f"{server.name}: {wrong}; see {WORK / (server.name + '.log')}")
                return None
        for server in servers:  # warm-up, not measured
            wrk(server.port, SMALL, 16, 1, scheme="https")
        for scenario in https_scenarios():
            if scenario.name in wanted or "https" in wanted:
                log(f"scenario {scenario.name}: {scenario.command}")
                text = table_with_base(scenario, servers, "nginx-tls")
                print(text, flush=True)
                texts.append(text)
    finally:
        for server in servers:
            CRASHES.extend(server.crashes)
            server.stop()
    if "https-idle" in wanted or "https" in wanted:
        log("scenario https-idle")
        names = [s.name for s in servers]
        text = run_idle(names, min(IDLE_CONNS, 2000), tls=True)
        print(text, flush=True)
        texts.append(text)
    return texts


def table_with_base(scenario: Scenario, servers: list[Server], base: str) -> str:
    by_server: dict[str, list[Sample]] = {s.name: [] for s in servers}
    for rnd in range(ROUNDS):
        order = servers[rnd % len(servers) :] + servers[: rnd % len(servers)]
        for server in order:
            log(f"  {scenario.name} round {rnd + 1}/{ROUNDS}: {server.name}")
            sample = measure(server, scenario)
            if sample.result.failed:
                log(f"    run failed: {sample.result.failed}")
            by_server[server.name].append(sample)
            time.sleep(0.5)
    return table(scenario, by_server, base=base)


SCENARIO_NAMES = [
    "keepalive",
    "pipeline",
    "big",
    "close",
    "c1000",
    "oha",
    "idle",
    "workers",
    "refusal",
    "gzip",
    "https",
    "https-keepalive",
    "https-close",
    "https-full",
    "https-big",
    "https-idle",
    "live",
]


@dataclass
class Sample:
    result: Result
    cpu: float  # server CPU seconds during the run
    client_cpu: float = 0.0  # the generator's CPU seconds (user + system) during the run


def children_cpu() -> float:
    """CPU seconds of every child process that has ended and been waited for (the generators)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(server: Server, scenario: Scenario) -> Sample:
    server.check_alive(f"before {scenario.name}")
    before = cpu_seconds(server.pid)
    client_before = children_cpu()
    result = scenario.run(server.port)
    client = children_cpu() - client_before
    # Let the server finish closing the generator's connections: part of the run's cost.
    time.sleep(0.3)
    if not server.check_alive(f"during {scenario.name}"):
        result.failed = (result.failed or "") + " server died"
        return Sample(result, 0.0, client)
    return Sample(result, cpu_seconds(server.pid) - before, client)


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_errors(samples: list[Sample]) -> str:
    total: dict[str, int] = {}
    for s in samples:
        for k, v in s.result.errors.items():
            total[k] = total.get(k, 0) + v
    failed = [s.result.failed for s in samples if s.result.failed]
    text = ", ".join(f"{k} {v}" for k, v in total.items()) or "0"
    if failed:
        text += f"; {len(failed)} run(s) failed: {failed[0][:80]}"
    return text


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def table(scenario: Scenario, by_server: dict[str, list[Sample]], base: str = "nginx") -> str:
    unit = "MiB/s" if scenario.per_mib else "req/s"
    cpu_unit = "µs/MiB" if scenario.per_mib else "µs/req"
    rows = []
    stats = {}
    client_cpu: dict[str, float | None] = {}
    for name, samples in by_server.items():
        ok = [s for s in samples if not s.result.failed and s.result.requests]
        if scenario.per_mib:
            rate = median([s.result.bytes / s.result.seconds / MIB for s in ok])
            cpu = median([s.cpu * 1e6 / (s.result.bytes / MIB) for s in ok if s.result.bytes])
            client_cpu[name] = median(
                [s.client_cpu * 1e6 / (s.result.bytes / MIB) for s in ok if s.result.bytes]
            )
        else:
            rate = median([s.result.rate for s in ok])
            cpu = median([s.cpu * 1e6 / s.result.requests for s in ok])
        p50 = median([s.result.p50 for s in ok])
        p99 = median([s.result.p99 for s in ok])
        stats[name] = (rate, cpu)
        rows.append((name, rate, p50, p99, fmt_errors(samples), cpu))
    base_rate, base_cpu = stats.get(base, (None, None))
    # How far each server is from the ceiling, per request: its CPU time over the ceiling's.
    with_ceiling = "ceiling" in stats
    ceiling_cpu = stats.get("ceiling", (None, None))[1]
    lines = [
        f"### {scenario.title} — `{scenario.command}`",
        "",
        f"| server | {unit} | p50 | p99 | errors | server CPU {cpu_unit} | {unit} ÷ {base} "
        f"| CPU ÷ {base} |" + (" CPU ÷ ceiling |" if with_ceiling else ""),
        "|---|---:|---:|---:|---|---:|---:|---:|" + ("---:|" if with_ceiling else ""),
    ]
    for name, rate, p50, p99, errors, cpu in rows:
        ratio = f"{rate / base_rate:.2f}×" if rate and base_rate else "n/a"
        cpu_ratio = f"{cpu / base_cpu:.2f}×" if cpu and base_cpu else "n/a"
        rate_s = f"{rate:,.0f}" if rate is not None else "n/a"
        cpu_s = f"{cpu:.2f}" if cpu is not None else "n/a"
        line = (
            f"| {name} | {rate_s} | {fmt_time(p50)} | {fmt_time(p99)} | {errors} | {cpu_s} "
            f"| {ratio} | {cpu_ratio} |"
        )
        if with_ceiling:
            line += f" {cpu / ceiling_cpu:.2f}× |" if cpu and ceiling_cpu else " n/a |"
        lines.append(line)
    if client_cpu:
        # Where the generator is the limit, the shape of the server's stream shows in what it
        # costs the client to receive it.
        lines += [
            "",
            "Generator (client) CPU per MiB received: "
            + ", ".join(
                f"{name} {value:.0f} µs" if value is not None else f"{name} n/a"
                for name, value in client_cpu.items()
            )
            + ".",
        ]
    if scenario.note:
        lines += ["", scenario.note]
    return "\n".join(lines) + "\n"


def run_scenario(scenario: Scenario, servers: list[Server]) -> str:
    servers = [s for s in servers if scenario.ceiling or s.name != "ceiling"]
    by_server: dict[str, list[Sample]] = {s.name: [] for s in servers}
    for rnd in range(ROUNDS):
        # Rotate the order each round so no server always runs right after the same one.
        order = servers[rnd % len(servers) :] + servers[: rnd % len(servers)]
        for server in order:
            log(f"  {scenario.name} round {rnd + 1}/{ROUNDS}: {server.name}")
            sample = measure(server, scenario)
            if sample.result.failed:
                log(f"    run failed: {sample.result.failed}")
            elif sample.result.errors:
                log(f"    errors: {sample.result.errors}")
            by_server[server.name].append(sample)
            time.sleep(0.5)
    return table(scenario, by_server)


# --- idle keep-alive connections -----------------------------------------------------------------


async def open_idle(port: int, n: int, concurrency: int = 256, tls: bool = False) -> tuple[list, int]:
    """Opens n connections (TLS ones with `tls`, trusting any certificate), each served one GET
    of the small file; returns ((reader, writer) pairs, errors)."""
    context = None
    if tls:
        import ssl

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    request = f"GET /{SMALL} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    gate = asyncio.Semaphore(concurrency)
    conns = []
    errors = 0

    async def one():
        nonlocal errors
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port, limit=4096, ssl=context), 10
                )
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                status = int(head.split(b" ", 2)[1])
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                await asyncio.wait_for(reader.readexactly(int(m[1]) if m else 0), 10)
                if status != 200:
                    errors += 1
                conns.append((reader, writer))
            except (OSError, ValueError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                errors += 1

    await asyncio.gather(*(one() for _ in range(n)))
    return conns, errors


def idle_client(port: int, n: int, tls: bool = False) -> None:
    """Child process (pinned to the client cores): opens the connections, reports, waits for a
    line on stdin, then closes them all and reports how many the server had closed meanwhile."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, NOFILE)), hard))

    async def main():
        t0 = time.monotonic()
        conns, errors = await open_idle(port, n, tls=tls)
        print(json.dumps({"open": len(conns), "errors": errors,
                          "seconds": time.monotonic() - t0}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        # The loop ran while waiting, so a close by the server has been seen as EOF.
        closed = sum(1 for reader, _ in conns if reader.at_eof())
        for _, writer in conns:
            writer.close()
        print(json.dumps({"closed_by_server": closed}), flush=True)

    asyncio.run(main())


def idle_round(server: Server, n: int, tls: bool = False) -> dict:
    server.start()
    try:
        # Warm up (pools, caches, lazily mapped code), then take the idle baseline.
        wrk(server.port, SMALL, 64, 1, scheme="https" if tls else "http")
        time.sleep(0.5)
        base = rss_kib(server.pid)
        child = subprocess.Popen(
            ["taskset", "-c", CLIENT_CPUS, sys.executable, __file__, "--idle-client",
             str(server.port), str(n), *(["tls"] if tls else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        try:
            line = child.stdout.readline()
            if not line:
                raise RuntimeError("idle client failed")
            opened = json.loads(line)
            log(f"    opened {opened['open']} ({opened['errors']} errors) in "
                f"{opened['seconds']:.1f} s")
            time.sleep(1.0)
            after = rss_kib(server.pid) if server.alive() else None
            child.stdin.write("\n")
            child.stdin.flush()
            closed = json.loads(child.stdout.readline() or "{}").get("closed_by_server")
            child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        alive = server.alive()
        if not alive:
            server.crashes.append(f"{server.name} died during the idle scenario")
        return {"base": base, "after": after, "closed": closed, "alive": alive, **opened}
    finally:
        server.stop()


def run_idle(names: list[str], n: int, tls: bool = False) -> str:
    per: dict[str, list[dict]] = {name: [] for name in names}
    for rnd in range(ROUNDS):
        order = names[rnd % len(names) :] + names[: rnd % len(names)]
        for name in order:
            log(f"  idle round {rnd + 1}/{ROUNDS}: {name} ({n} connections)")
            # A fresh process per round: memory freed by one round would hide the next's cost.
            server = SERVER_FACTORIES[name]()
            try:
                per[name].append(idle_round(server, n, tls))
            except Exception as e:
                log(f"    idle round failed: {e}")
                per[name].append({"failed": str(e)})
            finally:
                CRASHES.extend(server.crashes)
    lines = [
        f"### {n:,} idle keep-alive {'TLS ' if tls else ''}connections (one GET each, then idle) "
        "— fresh server per round",
        "",
        "| server | RSS idle baseline KiB | RSS with connections KiB | KiB per connection "
        "| opened | errors | closed by server while idle |"
        + (" KiB per connection ÷ ceiling |" if "ceiling" in per else ""),
        "|---|---:|---:|---:|---:|---|---:|" + ("---:|" if "ceiling" in per else ""),
    ]

    def kib_per_conn(runs: list[dict]) -> float | None:
        ok = [r for r in runs if "failed" not in r and r.get("after") is not None]
        return median([(r["after"] - r["base"]) / r["open"] for r in ok if r["open"]])

    ceiling_kib = kib_per_conn(per["ceiling"]) if "ceiling" in per else None
    for name, runs in per.items():
        ok = [r for r in runs if "failed" not in r and r.get("after") is not None]
        failed = [r["failed"] for r in runs if "failed" in r]
        per_conn = kib_per_conn(runs)
        errors = sum(r["errors"] for r in ok)
        err = str(errors) + (f"; {len(failed)} round(s) failed: {failed[0][:80]}" if failed else "")
        if any(not r["alive"] for r in ok):
            err += "; SERVER DIED"
        lines.append(
            f"| {name} | {median([r['base'] for r in ok]) or 0:,.0f} "
            f"| {median([r['after'] for r in ok]) or 0:,.0f} "
            f"| {f'{per_conn:.2f}' if per_conn is not None else 'n/a'} "
            f"| {median([r['open'] for r in ok]) or 0:,.0f} | {err} "
            f"| {median([r['closed'] or 0 for r in ok]) or 0:,.0f} |"
            + (
                ""
                if "ceiling" not in per
                else f" {per_conn / ceiling_kib:.2f}× |"
                if per_conn and ceiling_kib
                else " n/a |"
            )
        )
    return "\n".join(lines) + "\n"


# --- live reload ---------------------------------------------------------------------------------

LIVE_SUBSCRIBERS = env_int("LIVE_SUBSCRIBERS", 1000)
LIVE_CHANGES = 3
# The watcher's quiet time before it publishes a burst (the server's default).
LIVE_COALESCE = 0.100


def live_client(port: int, n: int) -> None:
    """Child process (pinned to the client cores): opens n event streams and reports; then for each
    change time it reads from stdin (CLOCK_MONOTONIC, shared by every process) reports when each
    stream's event arrived after it, and at the end the bytes read per stream."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, NOFILE)), hard))
    request = b"GET /__mioserve/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    async def main():
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(256)
        readers = []
        errors = 0

        async def subscribe():
            nonlocal errors
            async with gate:
                try:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", port, limit=4096), 10
                    )
                    writer.write(request)
                    await asyncio.wait_for(reader.readuntil(b"retry: 1000\n\n"), 10)
                    readers.append((reader, writer))
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                        asyncio.LimitOverrunError):
                    errors += 1

        await asyncio.gather(*(subscribe() for _ in range(n)))
        print(json.dumps({"open": len(readers), "errors": errors}), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line.strip():
                break
            wrote = float(line)

            async def arrival(reader):
                try:
                    await asyncio.wait_for(reader.readuntil(b"event: reload\n"), 5)
                    return time.monotonic() - wrote
                except (asyncio.TimeoutError, asyncio.IncompleteReadError,
                        asyncio.LimitOverrunError):
                    return None

            times = await asyncio.gather(*(arrival(r) for r, _ in readers))
            print(json.dumps({"after_write": times}), flush=True)
        for _, writer in readers:
            writer.close()

    asyncio.run(main())


def rss_with(server: Server, client_args: list[str]) -> tuple[float | None, subprocess.Popen]:
    """Starts a client child (pinned to the client cores) that opens connections; returns its
    first report and the child, still holding them."""
    child = subprocess.Popen(
        ["taskset", "-c", CLIENT_CPUS, sys.executable, __file__, *client_args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    line = child.stdout.readline()
    if not line:
        child.kill()
        raise RuntimeError(f"client {client_args[0]} failed")
    return json.loads(line), child


def run_live() -> str:
    """Live reload: how soon LIVE_SUBSCRIBERS streams on one worker each get a change once the
    watcher's quiet time has passed, and what an idle subscriber costs next to an idle keep-alive
    connection (fresh server per measure, RSS per connection)."""
    n = LIVE_SUBSCRIBERS
    touched = FIXTURE / "live-touch.txt"
    rows = []
    memory = {"keep-alive": [], "subscriber": []}
    for rnd in range(ROUNDS):
        log(f"  live round {rnd + 1}/{ROUNDS}: {n} subscribers")
        # Memory: the same server, idle, then holding n idle keep-alive connections or n streams.
        for kind, args in (("keep-alive", ["--idle-client"]), ("subscriber", ["--live-client"])):
            server = mioserve("mioserve-live", extra=["--live-reload"])
            server.start()
            try:
                wrk(server.port, SMALL, 64, 1)
                time.sleep(0.5)
                base = rss_kib(server.pid)
                opened, child = rss_with(server, [*args, str(server.port), str(n)])
                time.sleep(1.0)
                after = rss_kib(server.pid)
                if kind == "subscriber":
                    latencies = []
                    for _ in range(LIVE_CHANGES):
                        wrote = time.monotonic()
                        touched.write_text(str(wrote))
                        child.stdin.write(f"{wrote}\n")
                        child.stdin.flush()
                        got = json.loads(child.stdout.readline())["after_write"]
                        latencies.append(got)
                        time.sleep(0.5)
                    rows.append({"open": opened["open"], "errors": opened["errors"],
                                 "latencies": latencies})
                child.stdin.write("\n")
                child.stdin.flush()
                child.wait(timeout=60)
                memory[kind].append((after - base) / max(opened["open"], 1))
            finally:
                server.stop()
    lines = [
        f"### Live reload: {n:,} subscribers on one worker, {LIVE_CHANGES} changes per round "
        f"— fresh server per round",
        "",
        "Time from the file's write to each stream's `event: reload`, less the watcher's 100 ms "
        "quiet time (the moment the coalescing window closes), over every change of every round.",
        "",
        "| subscribers open | errors | events received | after window close: p50 | p99 | max |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    every = [t for r in rows for change in r["latencies"] for t in change]
    received = [t - LIVE_COALESCE for t in every if t is not None]
    received.sort()
    pick = lambda q: received[min(len(received) - 1, int(q * len(received)))] if received else None
    lines.append(
        f"| {median([r['open'] for r in rows]) or 0:,.0f} | {sum(r['errors'] for r in rows)} "
        f"| {len(received):,} of {len(every):,} | {fmt_time(pick(0.5))} | {fmt_time(pick(0.99))} "
        f"| {fmt_time(received[-1] if received else None)} |"
    )
    lines += [
        "",
        "| idle connection (same server, --live-reload) | KiB per connection |",
        "|---|---:|",
    ]
    for kind, per in memory.items():
        value = median(per)
        lines.append(f"| {kind} | {f'{value:.2f}' if value is not None else 'n/a'} |")
    touched.unlink(missing_ok=True)
    return "\n".join(lines) + "\n"


# --- workers -------------------------------------------------------------------------------------


def run_workers() -> str:
    help_text = subprocess.run([str(MIOSERVE), "--help"], capture_output=True, text=True).stdout
    if "--workers" not in help_text:
        return "### `--workers 2` vs `--workers 1`\n\nskipped: --workers not available\n"
    # One worker on the server core; two workers on both cores (the generator shares one).
    all_cpus = f"{SERVER_CPUS},{CLIENT_CPUS}"
    servers = [
        mioserve("mioserve-w1", ["--workers", "1"], SERVER_CPUS),
        mioserve("mioserve-w2", ["--workers", "2"], all_cpus),
    ]
    d = DURATION
    scenario = Scenario(
        "workers",
        f"`--workers 1` (cpu {SERVER_CPUS}) vs `--workers 2` (cpus {all_cpus}), 1 KiB keep-alive",
        f"wrk -t2 -c64 -d{d}s --latency /{SMALL}",
        lambda port: wrk(port, SMALL, 64, d, threads=2),
    )
    try:
        for s in servers:
            s.start()
        by_server: dict[str, list[Sample]] = {s.name: [] for s in servers}
        for rnd in range(ROUNDS):
            for s in servers if rnd % 2 == 0 else servers[::-1]:
                log(f"  workers round {rnd + 1}/{ROUNDS}: {s.name}")
                by_server[s.name].append(measure(s, scenario))
                time.sleep(0.5)
        return table(scenario, by_server, base="mioserve-w1")
    finally:
        for s in servers:
            CRASHES.extend(s.crashes)
            s.stop()


# --- refusal -------------------------------------------------------------------------------------


def client_hello() -> bytes:
    """A TLS ClientHello record, as a browser pointed at https:// on a plain port sends it."""
    name = b"localhost"
    sni = b"\x00\x00" + (len(name) + 5).to_bytes(2, "big") + (len(name) + 3).to_bytes(2, "big")
    sni += b"\x00" + len(name).to_bytes(2, "big") + name
    hello = b"\x03\x03" + bytes(range(32)) + b"\x00" + b"\x00\x04\x13\x01\xc0\x2f" + b"\x01\x00"
    hello += len(sni).to_bytes(2, "big") + sni
    handshake = b"\x01" + len(hello).to_bytes(3, "big") + hello
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


REFUSAL_PAYLOADS = {
    "TLS ClientHello": client_hello(),
    "binary noise (300 B)": b"\xff" + bytes((i * 151 + 89) % 256 for i in range(299)),
    "control byte in the method": b"G\x01T / HTTP/1.1\r\n",
}
REFUSAL_TRIALS = 50
REFUSAL_TIMEOUT = 15.0  # beyond every server's header deadline, so a late answer still shows
STORM_CONNS = 64


def time_to_answer(port: int, payload: bytes) -> tuple[float, str]:
    """Sends `payload` on a new connection; returns the seconds until the server's answer ended
    with its close, and the answer's first line."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=REFUSAL_TIMEOUT) as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        took = time.perf_counter() - start
    line = data.split(b"\r\n", 1)[0].decode("latin-1") if data else "(nothing)"
    return took, line


async def refusal_storm(port: int, payload: bytes, duration: float) -> tuple[int, int]:
    """STORM_CONNS clients each connect, send `payload` and read to the close, over and over for
    `duration`; returns the connections answered and the errors."""
    answered = errors = 0
    end = time.monotonic() + duration

    async def client() -> None:
        nonlocal answered, errors
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), REFUSAL_TIMEOUT
                )
                writer.write(payload)
                await asyncio.wait_for(reader.read(), max(0.1, end - time.monotonic() + 1))
                writer.close()
                answered += 1
            except (OSError, asyncio.TimeoutError):
                errors += 1

    await asyncio.gather(*(client() for _ in range(STORM_CONNS)))
    return answered, errors


def run_refusal(names: list[str]) -> str:
    """Time from sending bytes that can never be HTTP to the end of the server's answer, and how
    many such connections per second a server turns away. The driver itself is the client,
    pinned to the client cores."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(c) for c in CLIENT_CPUS.split(",")})
    servers = [SERVER_FACTORIES[name]() for name in names]
    lines = [
        "### Bytes that can never be HTTP: time to the answer and the close",
        "",
        f"{REFUSAL_TRIALS} connections per payload, one at a time (median and slowest); then "
        f"{STORM_CONNS} clients sending noise over and over for {DURATION} s.",
        "",
        "| server | payload | answer | median | slowest |",
        "|---|---|---|---:|---:|",
    ]
    storm = ["", "| server | noise connections turned away per second | errors |", "|---|---:|---:|"]
    try:
        for server in servers:
            server.start()
            for what, payload in REFUSAL_PAYLOADS.items():
                times, answers = [], set()
                for _ in range(REFUSAL_TRIALS):
                    took, line = time_to_answer(server.port, payload)
                    times.append(took)
                    answers.add(line)
                    if took > 1.0 and len(times) >= 3:
                        break  # a server that waits for its header deadline: three tries show it
                lines.append(
                    f"| {server.name} | {what} | {' / '.join(sorted(answers))} "
                    f"| {fmt_time(median(times))} | {fmt_time(max(times))} |"
                )
            log(f"  refusal storm: {server.name}")
            answered, errors = asyncio.run(
                refusal_storm(server.port, REFUSAL_PAYLOADS["binary noise (300 B)"], DURATION)
            )
            storm.append(f"| {server.name} | {answered / DURATION:,.0f} | {errors} |")
            CRASHES.extend(server.crashes)
            server.stop()
    finally:
        for server in servers:
            server.stop()
        os.sched_setaffinity(0, before)
    return "\n".join(lines + storm) + "\n"
# --- gzip ----------------------------------------------------------------------------------------


def run_gzip() -> str:
    """A 100 KiB script fetched with `Accept-Encoding: gzip`: mioserve (its variant cache on, as by
    default) against nginx compressing every response at level 1, with mioserve's identity figure
    for the same file; then mioserve with --compress-cache 0, compressing every response, to give
    the first-request streaming rate in MiB of input per second of server CPU, for gzip and br."""
    d = DURATION
    gzip = ("-H", "Accept-Encoding: gzip")
    brotli = ("-H", "Accept-Encoding: br")
    rows = [
        # (row name, server, wrk headers)
        ("mioserve gzip", mioserve("mioserve-gzip"), gzip),
        ("nginx gzip", nginx("nginx-gzip", gzip=True), gzip),
        ("mioserve identity", mioserve("mioserve-identity"), ()),
        ("mioserve gzip, --compress-cache 0", mioserve("mioserve-gz0", ["--compress-cache", "0"]), gzip),
        ("mioserve br, --compress-cache 0", mioserve("mioserve-br0", ["--compress-cache", "0"]), brotli),
    ]
    scenario = Scenario(
        "gzip",
        "100 KiB JavaScript, `Accept-Encoding: gzip`",
        f"wrk -t1 -c64 -d{d}s --latency -H 'Accept-Encoding: gzip' /{SCRIPT}",
        None,
    )
    try:
        for _, server, _ in rows:
            server.start()
            wrk(server.port, SCRIPT, 64, 1, extra=gzip)  # warm-up (fills mioserve's cache)
        by_row: dict[str, list[Sample]] = {name: [] for name, _, _ in rows}
        for rnd in range(ROUNDS):
            order = rows if rnd % 2 == 0 else rows[::-1]
            for name, server, headers in order:
                log(f"  gzip round {rnd + 1}/{ROUNDS}: {name}")
                run = Scenario(scenario.name, scenario.title, scenario.command,
                               lambda port, h=headers: wrk(port, SCRIPT, 64, d, extra=h))
                by_row[name].append(measure(server, run))
                time.sleep(0.5)
        text = table(scenario, {k: by_row[k] for k in list(by_row)[:3]}, base="nginx gzip")

        def rate(name: str) -> float | None:
            return median([s.result.rate for s in by_row[name] if not s.result.failed])

        lines = []
        ours, identity = rate("mioserve gzip"), rate("mioserve identity")
        if ours and identity:
            lines.append(f"mioserve gzip ÷ mioserve identity: {ours / identity:.2f}×")
        for name in ("mioserve gzip, --compress-cache 0", "mioserve br, --compress-cache 0"):
            samples = [s for s in by_row[name] if not s.result.failed and s.cpu > 0]
            per_cpu = median([s.result.requests * SCRIPT_BYTES / MIB / s.cpu for s in samples])
            req = rate(name)
            if per_cpu and req:
                lines.append(
                    f"{name}: {req:,.0f} req/s, every response compressed: "
                    f"{per_cpu:,.1f} MiB of input per second of server CPU"
                )
        return text + "\n" + "\n\n".join(lines) + "\n"
    finally:
        for _, server, _ in rows:
            CRASHES.extend(server.crashes)
            server.stop()


# --- main ----------------------------------------------------------------------------------------

CRASHES: list[str] = []


def make_fixture() -> None:
    FIXTURE.mkdir(parents=True, exist_ok=True)
    for name, size in ((SMALL, 1024), (BIG, BIG_BYTES)):
        path = FIXTURE / name
        if not path.exists() or path.stat().st_size != size:
            # Deterministic, incompressible-looking bytes; not sparse, so reads hit the page cache.
            block = bytes((i * 131 + 7) % 251 for i in range(4096))
            with path.open("wb") as f:
                for off in range(0, size, len(block)):
                    f.write(block[: min(len(block), size - off)])
    (FIXTURE / "index.html").write_text("<!doctype html><title>bench</title>\n")
    script = FIXTURE / SCRIPT
    if not script.exists() or script.stat().st_size != SCRIPT_BYTES:
        script.write_bytes(script_text(SCRIPT_BYTES))


def script_text(size: int) -> bytes:
    """Deterministic text with the make-up of minified script: keywords, punctuation and short
    pseudo-random identifiers (compresses to about 38 % at gzip level 1, as real bundles do)."""
    words = [b"function", b"return", b"const", b"let", b"if", b"else", b"for", b"this", b"value",
             b"index", b"length", b"=>", b"{", b"}", b"(", b")", b";", b"=", b"+", b"document",
             b"element", b"null", b"undefined", b"true", b"false", b"await", b"async", b"export"]
    state = 0x2545F4914F6CDD1D
    out = bytearray()
    mask = (1 << 64) - 1
    while len(out) < size:
        state ^= (state << 13) & mask
        state ^= state >> 7
        state ^= (state << 17) & mask
        if state % 5 == 0:
            out += b"v%x" % (state % 4096)
        else:
            out += words[(state >> 8) % len(words)]
        out += b"\n" if state % 11 == 0 else b" "
    return bytes(out[:size])


def main() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, max(hard, NOFILE)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    WORK.mkdir(parents=True, exist_ok=True)
    for old in WORK.glob("*.log"):
        old.unlink()
    make_fixture()

    default_servers = "ceiling,mioserve,nginx,lighttpd"
    wanted_servers = [s for s in os.environ.get("SERVERS", default_servers).split(",") if s]
    if "ceiling" in wanted_servers and not os.access(CEILING, os.X_OK):
        why = "no source at " + str(CEILING_SRC) if not CEILING_SRC.is_dir() else "not built"
        log(f"skipped: the ceiling's row ({why}; load.sh builds it into {CEILING.parent})")
        wanted_servers.remove("ceiling")
    if BASELINE and "mioserve-base" not in wanted_servers:
        if not os.access(BASELINE, os.X_OK):
            log(f"MIOSERVE_BASELINE={BASELINE} is not an executable")
            return 2
        at = wanted_servers.index("mioserve") + 1 if "mioserve" in wanted_servers else 0
        wanted_servers.insert(at, "mioserve-base")
    wanted = set(filter(None, os.environ.get("SCENARIOS", ",".join(SCENARIO_NAMES)).split(",")))
    unknown = wanted - set(SCENARIO_NAMES)
    if unknown or not set(wanted_servers) <= set(SERVER_FACTORIES):
        log(f"unknown scenario or server: {unknown or wanted_servers}")
        return 2

    # The congestion control decides how large bodies leave on loopback (ARCHITECTURE.md, "What a
    # large file costs"), so the header names it.
    try:
        congestion = Path("/proc/sys/net/ipv4/tcp_congestion_control").read_text().strip()
    except OSError:
        congestion = "unknown"
    header = (
        f"Load benchmark, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.uname().release}, "
        f"TCP congestion control {congestion}, "
        f"{os.cpu_count()} CPUs; servers on cpu {SERVER_CPUS}, generators on cpu {CLIENT_CPUS}; "
        f"{ROUNDS} round(s) × {DURATION} s, median shown; "
        f"mioserve {subprocess.run([str(MIOSERVE), '--version'], capture_output=True, text=True).stdout.strip()}, "
        + (f"mioserve-base = {BASELINE}, " if BASELINE else "")
        + ("ceiling = the minimal mio + httparse loop (fixed in-memory body), " if "ceiling" in wanted_servers else "")
        + f"{subprocess.run(['nginx', '-v'], capture_output=True, text=True).stderr.strip()}, "
        f"{subprocess.run(['lighttpd', '-v'], capture_output=True, text=True).stdout.split(' - ')[0].strip()}"
    )
    print(header + "\n", flush=True)
    out = [header, ""]

    # The plain-HTTP scenarios share one instance of each server; the others start their own.
    plain = [scenario for scenario in scenarios() if scenario.name in wanted]
    servers = [SERVER_FACTORIES[name]() for name in wanted_servers] if plain else []
    for server in servers:
        server.start()
        # The ceiling answers every path with the small file's bytes.
        checks = ((SMALL, 1024),) if server.name == "ceiling" else ((SMALL, 1024), (BIG, BIG_BYTES))
        for path, size in checks:
            status, got = http_get(server.port, path)
            if status != 200 or got != size:
                log(f"{server.name} answered {status} with {got} bytes for /{path}")
                return 1
        log(f"{server.name}: pid {server.pid}, port {server.port}")
    for server in servers:  # warm-up, not measured
        wrk(server.port, SMALL, 64, 1)

    for scenario in plain:
        log(f"scenario {scenario.name}: {scenario.command}")
        text = run_scenario(scenario, servers)
        print(text, flush=True)
        out.append(text)
    for server in servers:
        CRASHES.extend(server.crashes)
        server.stop()

    if "idle" in wanted:
        log("scenario idle")
        text = run_idle(wanted_servers, IDLE_CONNS)
        print(text, flush=True)
        out.append(text)
    if "workers" in wanted:
        log("scenario workers")
        text = run_workers()
        print(text, flush=True)
        out.append(text)
    if "refusal" in wanted:
        log("scenario refusal")
        text = run_refusal([name for name in wanted_servers if name != "ceiling"])
        print(text, flush=True)
        out.append(text)
    if any(name.startswith("https") for name in wanted):
        log("scenarios https")
        texts = run_https(wanted)
        if texts is None:
            return 1
        out.extend(texts)
    if "live" in wanted:
        log("scenario live")
        text = run_live()
        print(text, flush=True)
        out.append(text)
    if "gzip" in wanted and "nginx" in wanted_servers:
        log("scenario gzip")
        text = run_gzip()
        print(text, flush=True)
        out.append(text)

    if CRASHES:
        text = "### Server exits during the run\n\n" + "\n".join(f"- {c}" for c in CRASHES) + "\n"
        print(text, flush=True)
        out.append(text)
    (TARGET / "bench-results.md").write_text("\n".join(out))
    log(f"tables written to {TARGET / 'bench-results.md'}; server logs in {WORK}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--idle-client":
        idle_client(int(sys.argv[2]), int(sys.argv[3]), tls=sys.argv[4:] == ["tls"])
        sys.exit(0)
    if len(sys.argv) == 4 and sys.argv[1] == "--live-client":
        live_client(int(sys.argv[2]), int(sys.argv[3]))
        sys.exit(0)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        stop_all()
        sys.exit(130)
