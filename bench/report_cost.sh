#!/usr/bin/env bash
# What the --report page costs: mnist_lenet with and without it, alternately, on this
# machine, in the same run.
#
#   bash bench/report_cost.sh [ROUNDS=5] [EPOCHS=1]
#
# Builds the mnist_lenet example (release), then runs it ROUNDS times with
# `--report` and ROUNDS times without, alternating (ABBA order, so a drift of the
# machine's speed hurts neither side), EPOCHS epochs each, all other flags at their
# defaults (2 threads on this machine). Prints the median epoch time of each side and
# the ratio, two ways: the training seconds the metrics JSON gives per epoch (the
# per-batch recording, the gradient-flow samples and the rewrites within an epoch
# fall there), and the whole process's wall time per epoch (also the evaluation, the
# activations, the mistakes and the page written after each epoch, and start-up).
# Also prints how long a write of the page took. Files go to bench/results/report-cost/
# (git-ignored). Env: MNIST_DIR (default ../shared/data/mnist), CARGO_TARGET_DIR,
# BIN (a mnist_lenet binary to measure instead of building one).
# Timings are noisy on a shared machine: only same-run ratios mean anything.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
epochs=${2:-1}
data=${MNIST_DIR:-../shared/data/mnist}
out=bench/results/report-cost
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.txt

bin=${BIN:-}
if [ -z "$bin" ]; then
    echo "== building the mnist_lenet example (release)"
    cargo build -q --release --example mnist_lenet
    bin=${CARGO_TARGET_DIR:-target}/release/examples/mnist_lenet
fi

run_one() { # side round [flags...]
    local side=$1 round=$2
    shift 2
    local start end
    start=$(date +%s.%N)
    "$bin" --data-dir "$data" --epochs "$epochs" --save "$out/$side.safetensors" --overwrite \
        --metrics "$out/$side-$round.json" "$@" >"$out/$side-$round.txt"
    end=$(date +%s.%N)
    echo "$start $end" >"$out/$side-$round.wall"
}

for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) -eq 1 ]; then
        run_one report "$round" --report "$out/report.html"
        run_one plain "$round"
    else
        run_one plain "$round"
        run_one report "$round" --report "$out/report.html"
    fi
    echo "   round $round of $rounds done"
done

python3 - "$out" "$rounds" "$epochs" <<'PY'
import json, re, statistics, sys

out, rounds, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def side(name):
    train, wall, writes = [], [], []
    for r in range(1, rounds + 1):
        with open(f"{out}/{name}-{r}.json") as f:
            metrics = json.load(f)
        train.append(sum(e["seconds"] for e in metrics["epochs"]) / epochs)
        start, end = map(float, open(f"{out}/{name}-{r}.wall").read().split())
        wall.append((end - start) / epochs)
        said = re.search(r"\((\d+) writes, ([\d.]+) ms each\)", open(f"{out}/{name}-{r}.txt").read())
        if said:
            writes.append((int(said[1]), float(said[2])))
    return statistics.median(train), statistics.median(wall), writes


report, plain = side("report"), side("plain")
print(f"\n{rounds} rounds of {epochs} epoch(s) each, medians per epoch:\n")
print("| per epoch | without --report | with --report | ratio |")
print("|---|---|---|---|")
print(f"| training (metrics JSON) | {plain[0]:.2f} s | {report[0]:.2f} s | {report[0] / plain[0]:.3f} |")
print(f"| whole process (wall) | {plain[1]:.2f} s | {report[1]:.2f} s | {report[1] / plain[1]:.3f} |")
if report[2]:
    count = statistics.median(w[0] for w in report[2])
    each = statistics.median(w[1] for w in report[2])
    print(f"\nThe page was written {count:g} times a run, {each:.1f} ms each (median).")
PY
