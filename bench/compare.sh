#!/usr/bin/env bash
# PyTorch vs scratchnet, LeNet-5 on MNIST, on this machine, in the same run.
#
#   bash bench/compare.sh [ROUNDS=3] [EPOCHS=1]
#
# Installs torch + numpy into a virtualenv under /tmp (once), builds scratchnet's
# bench (bench/bench_lenet.rs) in release mode, then runs the two ALTERNATELY,
# ROUNDS times each at 1 and at 2 threads, and prints the medians and the
# ratios (scratchnet ÷ PyTorch). Results go to bench/results/ (git-ignored).
# Env: MNIST_DIR (default ../shared/data/mnist), VENV (default /tmp/scratchnet-bench-venv),
#      SCALING=1 also measures batch sizes 16 and 256 (every round, both frameworks, 1 and 2 threads),
#      FULL=1 also measures peak RSS of the full three-epoch mnist_lenet example with /usr/bin/time -v,
#      BASELINE=PATH also runs another build of bench_lenet (say, main before a change, built
#      with `cargo build --release --example bench_lenet` in a checkout of that commit) in every
#      round, so that a change is judged by its ratio to PyTorch in the same run as the old one.
# Every round also runs two 1-thread scratchnet trainings side by side (batch 64), the
# host's ceiling for any 2-thread speed-up at that moment: two jobs that share nothing.
# Ends with bench/thread_scaling.rs: the 2-thread/1-thread ratio measured interleaved in one
# process (short slices alternating between a 1- and a 2-thread pool), which this host's
# drift disturbs far less than whole epochs run one after another.
# Not part of CI: it downloads torch. Timings are noisy; only same-run ratios mean anything.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
epochs=${2:-1}
data=${MNIST_DIR:-../shared/data/mnist}
venv=${VENV:-/tmp/scratchnet-bench-venv}
out=bench/results
mkdir -p "$out"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
  echo "== installing torch and numpy into $venv (once)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch numpy
fi
py="$venv/bin/python"

echo "== building scratchnet's bench (release)"
cargo build -q --release --example bench_lenet --example thread_scaling
sn="${CARGO_TARGET_DIR:-target}"/release/examples/bench_lenet

run_pair() { # threads batch tag
  local t=$1 b=$2 tag=$3
  "$py" bench/pytorch_lenet.py --data-dir "$data" --threads "$t" --epochs "$epochs" --batch-size "$b" --json "$out/pytorch-$tag.json" >/dev/null
  "$sn" --data-dir "$data" --threads "$t" --epochs "$epochs" --batch-size "$b" --json "$out/scratchnet-$tag.json" >/dev/null
  if [ -n "${BASELINE:-}" ]; then
    "$BASELINE" --data-dir "$data" --threads "$t" --epochs "$epochs" --batch-size "$b" --json "$out/baseline-$tag.json" >/dev/null
  fi
  echo "   round $tag done"
}

run_side_by_side() { # round: two independent 1-thread trainings at once, batch 64
  local r=$1
  "$sn" --data-dir "$data" --threads 1 --epochs "$epochs" --batch-size 64 --json "$out/side-by-side-r$r-a.json" >/dev/null &
  local first=$!
  "$sn" --data-dir "$data" --threads 1 --epochs "$epochs" --batch-size 64 --json "$out/side-by-side-r$r-b.json" >/dev/null
  wait "$first"
  echo "   round $r: two 1-thread runs side by side done"
}

batch_sizes=64
if [ "${SCALING:-0}" = 1 ]; then batch_sizes="16 64 256"; fi
rm -f "$out"/*.json
for r in $(seq 1 "$rounds"); do
  for b in $batch_sizes; do
    for t in 1 2; do
      run_pair "$t" "$b" "t$t-b$b-r$r"
    done
  done
  run_side_by_side "$r"
done

"$py" - "$out" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
rows = {}
side = {}
for path in glob.glob(os.path.join(out, "*.json")):
    name = os.path.basename(path)[:-5]
    if name.startswith("side-by-side-"):
        side.setdefault(name.split("-")[3], []).append(json.load(open(path))["train_images_per_second"])
        continue
    fw, tag = name.split("-", 1)
    t, b, r = tag.split("-")
    run = json.load(open(path))
    run["_round"] = r
    rows.setdefault((int(t[1:]), int(b[1:])), {}).setdefault(fw, []).append(run)
keys = [("epoch_seconds_mean", "epoch s", "{:.2f}"), ("train_images_per_second", "train img/s", "{:,.0f}"),
        ("inference_images_per_second", "infer img/s", "{:,.0f}"), ("peak_rss_mib", "peak RSS MiB", "{:.0f}"),
        ("test_accuracy", "test acc", "{:.4f}")]
def median(t, b, fw, key):
    return statistics.median(x[key] for x in rows[(t, b)][fw])

# Markdown, to paste into docs/benchmarks.md: medians, "scratchnet / pytorch = ratio".
print()
print("| batch | threads | runs | " + " | ".join(label for _, label, _ in keys) + " |")
print("|---|---|---|" + "---|" * len(keys))
for (t, b) in sorted(rows, key=lambda k: (k[1], k[0])):
    r = rows[(t, b)]
    if "pytorch" not in r or "scratchnet" not in r:
        continue
    cells = []
    for key, _, fmt in keys:
        s, p = median(t, b, "scratchnet", key), median(t, b, "pytorch", key)
        cells.append(f"{fmt.format(s)} / {fmt.format(p)} = **{s / p:.2f}**")
    print(f"| {b} | {t} | {len(r['scratchnet'])} | " + " | ".join(cells) + " |")
if any("baseline" in r for r in rows.values()):
    print()
    print("| batch | threads | epoch s: scratchnet / PyTorch | baseline / PyTorch | scratchnet / baseline |")
    print("|---|---|---|---|---|")
    for (t, b) in sorted(rows, key=lambda k: (k[1], k[0])):
        if not all(fw in rows[(t, b)] for fw in ("scratchnet", "pytorch", "baseline")):
            continue
        s, p, o = (median(t, b, fw, "epoch_seconds_mean") for fw in ("scratchnet", "pytorch", "baseline"))
        print(f"| {b} | {t} | **{s / p:.2f}** | {o / p:.2f} | {s / o:.2f} |")
print()
for b in sorted({b for _, b in rows}):
    if all((t, b) in rows for t in (1, 2)):
        ratio = {fw: median(2, b, fw, "train_images_per_second") / median(1, b, fw, "train_images_per_second")
                 for fw in ("scratchnet", "pytorch")}
        print(f"batch {b}: 2 threads train {ratio['scratchnet']:.2f}x the images/s of 1 thread "
              f"(PyTorch: {ratio['pytorch']:.2f}x)")

# The host's ceiling: per round, two 1-thread runs side by side over the 1-thread run alone.
one = {x["_round"]: x["train_images_per_second"] for x in rows.get((1, 64), {}).get("scratchnet", [])}
two = {x["_round"]: x["train_images_per_second"] for x in rows.get((2, 64), {}).get("scratchnet", [])}
pairs = {r: sum(v) for r, v in side.items() if len(v) == 2}
rounds = sorted(set(one) & set(two) & set(pairs))
if rounds:
    def spread(values):
        return f"{statistics.median(values):.2f}x (rounds {min(values):.2f}-{max(values):.2f})"
    print(f"batch 64, per round: 2 threads / 1 thread {spread([two[r] / one[r] for r in rounds])}; "
          f"two 1-thread runs side by side / 1 thread alone {spread([pairs[r] / one[r] for r in rounds])}; "
          f"2 threads / the side-by-side pair {spread([two[r] / pairs[r] for r in rounds])}")
PY

if [ "${FULL:-0}" = 1 ]; then
  echo "== peak RSS of the full three-epoch example"
  cargo build -q --release --example mnist_lenet
  /usr/bin/time -v "${CARGO_TARGET_DIR:-target}"/release/examples/mnist_lenet --data-dir "$data" --save "$out/lenet.safetensors" --overwrite \
    --metrics "$out/full.json" 2>"$out/full.time" | tail -n 3
  grep -E "Maximum resident|Elapsed" "$out/full.time"
fi

echo "== 2 threads / 1 thread, interleaved (bench/thread_scaling.rs, batch 64)"
"${CARGO_TARGET_DIR:-target}"/release/examples/thread_scaling --data-dir "$data" >"$out/thread_scaling.txt"
tail -n 3 "$out/thread_scaling.txt"
