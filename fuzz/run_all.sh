#!/usr/bin/env bash
# Runs every cargo-fuzz target of scratchnet for SECONDS each (default 600), one after the
# other, and prints libFuzzer's final stats for each. See fuzz/README.md.
#
# Usage: fuzz/run_all.sh [SECONDS] [TARGET...]
#
#   SECONDS   fuzzing time per target, build time not included (default 600)
#   TARGET    targets to run (default: every target `cargo fuzz list` shows)
#
# Environment:
#   CMIN=1        minimise each target's corpus (`cargo fuzz cmin`) after its run
#   FUZZ_ARGS     extra libFuzzer arguments for every target, e.g. "-seed=1"
#   ASAN_OPTIONS  passed on; quarantine_size_mb=16 is added unless it is set (see README)
#
# Logs go to fuzz/target/logs/<target>.log; crashes to fuzz/artifacts/<target>/. The exit
# status is 1 if any target crashed (the others still run), 2 on a usage or build error.
# shellcheck disable=SC2046,SC2086 # the libFuzzer argument lists are split on purpose
set -uo pipefail

cd "$(dirname "$0")" || exit 2
seconds=${1:-600}
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds == 0)); then
    echo "usage: $0 [SECONDS] [TARGET...]   (SECONDS a positive integer, default 600)" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 2
fi
# cargo fuzz passes -Z flags (sanitizers, coverage); stable rustc accepts them with this.
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi
# The loaders write temporary files for every input: keep them in memory when possible.
if [[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]]; then
    export TMPDIR=/dev/shm
fi
# Large buffers (the data crate reserves up to 47 MB per .gz file) cycling through ASan's
# 256 MB quarantine make every execution several times slower; freed blocks larger than
# 16 MB skip the quarantine, smaller ones are still checked for use after free.
if [[ ${ASAN_OPTIONS:-} != *quarantine_size_mb* ]]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
fi

if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# Per-target libFuzzer arguments.
target_args() {
    case $1 in
    idx_loader) echo "-dict=idx_loader.dict -max_len=4096" ;;
    checkpoint_loader) echo "-dict=checkpoint_loader.dict -max_len=4096" ;;
    image_loader) echo "-dict=image_loader.dict -max_len=4096" ;;
    *) [[ -f $1.dict ]] && echo "-dict=$1.dict" ;;
    esac
}

mkdir -p target/logs
status=0
summary=()
for target in "${targets[@]}"; do
    echo "=== $target: building"
    if ! cargo fuzz build "$target" >"target/logs/$target.build.log" 2>&1; then
        echo "build failed, see fuzz/target/logs/$target.build.log" >&2
        tail -n 20 "target/logs/$target.build.log" >&2
        exit 2
    fi
    mkdir -p "corpus/$target"
    log="target/logs/$target.log"
    echo "=== $target: fuzzing for ${seconds}s (log: fuzz/$log)"
    cargo fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 \
        $(target_args "$target") ${FUZZ_ARGS:-} >"$log" 2>&1
    rc=$?
    done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    per_sec=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
    files=$(find "corpus/$target" -type f | wc -l)
    bytes=$(du -sb "corpus/$target" | cut -f1)
    echo "$target: ${done_line:-no final stats line}"
    grep -E '^stat::' "$log" | sed "s/^/$target: /"
    if ((rc != 0)) || grep -qE '^==[0-9]+==|Test unit written to|deadly signal' "$log"; then
        status=1
        echo "$target: CRASHED (exit $rc):"
        grep -E 'panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer|SUMMARY|Test unit written to' "$log" | head -n 10
        summary+=("$target: CRASHED, see fuzz/$log and fuzz/artifacts/$target/")
        continue
    fi
    if [[ ${CMIN:-0} == 1 ]]; then
        echo "=== $target: minimising the corpus"
        cargo fuzz cmin "$target" "corpus/$target" -- $(target_args "$target") \
            >"target/logs/$target.cmin.log" 2>&1 || status=1
        files=$(find "corpus/$target" -type f | wc -l)
        bytes=$(du -sb "corpus/$target" | cut -f1)
    fi
    summary+=("$target: ${done_line:-?} (${execs:-?} executions, ${per_sec:-?}/s, peak RSS ${rss:-?} MB); corpus $files files, $bytes bytes")
done

echo
echo "=== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit $status
