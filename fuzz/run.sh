#!/usr/bin/env bash
# Builds every fuzz target and runs each for FUZZ_SECONDS (default 45), FUZZ_JOBS at a time
# (default: the number of cores). Fails, printing the target's log and its crash input, if any
# target finds a crash. Installs cargo-fuzz if missing. The corpus grows in fuzz/corpus/<target>;
# the committed seeds in fuzz/seeds/<target> (inputs that once found something, or that reach a
# rule the fuzzer would take long to find) are read too, never written.
#
#   bash fuzz/run.sh                          # every target, 45 s each
#   FUZZ_SECONDS=600 bash fuzz/run.sh conn_stream
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-45}
jobs=${FUZZ_JOBS:-$(nproc)}

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz passes nightly-only flags (-Zsanitizer and friends) to rustc; RUSTC_BOOTSTRAP lets
# the stable toolchain accept them. No sanitizer: the crate forbids unsafe code, so AddressSanitizer
# would only slow the search (debug assertions and overflow checks stay on).
export RUSTC_BOOTSTRAP=1
cargo fuzz build --sanitizer none

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
mkdir -p target/fuzz-logs
run_one() {
    local target=$1 seconds=$2
    mkdir -p "corpus/$target"
    local seeds=()
    [ -d "seeds/$target" ] && seeds=("seeds/$target")
    if cargo fuzz run --sanitizer none "$target" "corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"target/fuzz-logs/$target.log" 2>&1; then
        local runs
        runs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "target/fuzz-logs/$target.log" | grep -o '[0-9]*$')
        echo "fuzz $target: ${runs:-?} inputs in ${seconds}s, no crash"
    else
        echo "fuzz $target FAILED:"
        grep -a -v '^#' "target/fuzz-logs/$target.log" | tail -40
        return 1
    fi
}
export -f run_one
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$1" "$2"' _ {} "$seconds"
