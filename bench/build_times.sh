#!/usr/bin/env bash
# Build times of the README's two commands on a fresh clone, as a newcomer sees them:
#   1. the first command's build:  cargo build --release --example mnist_lenet
#   2. the test command, build and run:  cargo test --release --workspace
#   3. the test command again (nothing to build: the tests alone)
# Each with its wall time and the CPU time of cargo and its children (user + sys, which
# depends less on what else the machine runs), and the machine's load before it.
#
#   bench/build_times.sh [CLONE_DIR]     (default /tmp/scratchnet-build-times)
#
# Clones this checkout's HEAD into CLONE_DIR (removed first) with its own empty target
# directory; the cargo registry (~/.cargo) is reused, so downloads are not timed.
# MNIST_DIR: the real MNIST for the tests that need it (default: ../shared/data/mnist
# of this checkout, made absolute). For quieter numbers, run it at a high priority,
# on Linux with autogroups: `echo -10 > /proc/self/autogroup; bench/build_times.sh`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
clone=${1:-/tmp/scratchnet-build-times}
mnist=${MNIST_DIR:-$here/../shared/data/mnist}
if [ ! -d "$mnist" ]; then
  echo "error: MNIST is not in $mnist; set MNIST_DIR to the folder of the four MNIST files" >&2
  exit 1
fi
mnist=$(cd "$mnist" && pwd)
case "$clone" in
  /tmp/*) ;;
  *) echo "error: CLONE_DIR must be under /tmp (it is removed first): $clone" >&2; exit 1 ;;
esac

rm -rf "$clone"
git clone -q "$here" "$clone"
cd "$clone"
export CARGO_TARGET_DIR="$clone/target"
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS
echo "commit $(git rev-parse --short HEAD), $(nproc) cores, $(cargo --version)"

# timed LABEL COMMAND...: runs COMMAND, prints wall and CPU seconds and the load before it.
timed() {
  local label=$1 load start end
  shift
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  start=$(date +%s.%N)
  TIMEFORMAT="%U %S"
  local cpu
  cpu=$( { time "$@" >"$clone/$label.log" 2>&1; } 2>&1 ) || {
    echo "error: $label failed; its output is in $clone/$label.log" >&2
    exit 1
  }
  end=$(date +%s.%N)
  awk -v l="$label" -v s="$start" -v e="$end" -v c="$cpu" -v ld="$load" 'BEGIN {
    split(c, t, " ");
    printf "%-34s wall %6.0f s (%4.1f min)   cpu %6.0f s   load before %s\n",
      l, e - s, (e - s) / 60, t[1] + t[2], ld }'
}

timed first-build cargo build --release --example mnist_lenet
timed test-build-and-run env MNIST_DIR="$mnist" cargo test --release --workspace
timed test-run-again env MNIST_DIR="$mnist" cargo test --release --workspace
echo "logs in $clone/*.log"
