#!/usr/bin/env bash
# Load benchmark: mioserve vs nginx (1 worker, sendfile on, access log off) vs lighttpd, with the
# ceiling (../shared/ceiling, when present) as the bound, one command from a fresh clone:
#
#   bash benches/load.sh                 # 3 rounds x 5 s per scenario
#   QUICK=1 bash benches/load.sh         # smoke test: 1 round x 2 s
#   ROUNDS=5 DURATION=10 SCENARIOS=keepalive,pipeline SERVERS=mioserve,nginx bash benches/load.sh
#
# Builds the release binary, installs wrk, nginx, lighttpd and h2load from Debian's packages and
# oha from crates.io if they are missing (set NO_INSTALL=1 to skip installing; scenarios whose tool
# is missing are then skipped or fail visibly), then runs benches/load.py, which starts the
# servers, runs the scenarios and prints one Markdown table per scenario (also written to
# target/bench-results.md). See benches/load.py for every environment variable.
set -euo pipefail
cd "$(dirname "$0")/.."

# Stop every server the driver started, even if the driver itself was killed outright.
PIDFILE=target/bench-work/pids
DRIVER=
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$DRIVER" ]] && kill -0 "$DRIVER" 2>/dev/null; then
        kill -TERM "$DRIVER" 2>/dev/null || true
        wait "$DRIVER" 2>/dev/null || true
    fi
    if [[ -f "$PIDFILE" ]]; then
        while read -r pid; do
            # Only a process that is still one of ours (a PID may have been reused).
            if [[ -n "$pid" ]] && grep -qaE 'mioserve|nginx|lighttpd|ceiling' "/proc/$pid/cmdline" 2>/dev/null; then
                kill -TERM "$pid" 2>/dev/null || true
            fi
        done <"$PIDFILE"
        rm -f "$PIDFILE"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "need root to run: $*" >&2
        return 1
    fi
}

install_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || missing+=(nginx-light)
    command -v lighttpd >/dev/null || missing+=(lighttpd)
    command -v h2load >/dev/null || missing+=(nghttp2-client)
    command -v taskset >/dev/null || missing+=(util-linux)
    command -v openssl >/dev/null || missing+=(openssl)
    if ((${#missing[@]})); then
        echo "installing ${missing[*]}" >&2
        as_root apt-get update -q
        # nginx-light is gone from newer Debian releases; plain nginx serves the same purpose.
        if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; then
            missing=("${missing[@]/nginx-light/nginx}")
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
        fi
        # The packages start system services on install; the benchmark runs its own instances.
        for service in nginx lighttpd; do
            as_root systemctl disable --now "$service" >/dev/null 2>&1 || true
        done
    fi
    if ! command -v oha >/dev/null && [[ -x "$HOME/.cargo/bin/oha" ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v oha >/dev/null; then
        echo "installing oha (cargo install oha --locked; takes a few minutes)" >&2
        cargo install oha --locked || echo "oha did not install: its scenario is skipped" >&2
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
}

[[ "${NO_INSTALL:-0}" == 1 ]] || install_tools
cargo build --release --quiet
# The ceiling (a minimal mio loop with a fixed in-memory body) lives beside the repository, which
# may be read-only: build it into our own target directory. Without its source, load.py skips it.
if [[ -f ../shared/ceiling/Cargo.toml ]]; then
    cargo build --release --quiet --manifest-path ../shared/ceiling/Cargo.toml \
        --target-dir target/ceiling || echo "the ceiling did not build: its row is skipped" >&2
fi

# The idle scenario holds 10,000+ sockets on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

python3 benches/load.py &
DRIVER=$!
wait "$DRIVER"
