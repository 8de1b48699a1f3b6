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
#      SCALING=1 also measures batch sizes 16, 64, 256 at 1 and 2 threads (scratchnet and PyTorch, 1 round),
#      FULL=1 also measures peak RSS of the full three-epoch mnist_lenet example with /usr/bin/time -v.
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
cargo build -q --release --example bench_lenet
sn=target/release/examples/bench_lenet

run_pair() { # threads batch tag
  local t=$1 b=$2 tag=$3
  "$py" bench/pytorch_lenet.py --data-dir "$data" --threads "$t" --epochs "$epochs" --batch-size "$b" --json "$out/pytorch-$tag.json" >/dev/null
  "$sn" --data-dir "$data" --threads "$t" --epochs "$epochs" --batch-size "$b" --json "$out/scratchnet-$tag.json" >/dev/null
  echo "   round $tag done"
}

rm -f "$out"/*.json
for r in $(seq 1 "$rounds"); do
  for t in 1 2; do
    run_pair "$t" 64 "t$t-b64-r$r"
  done
done
if [ "${SCALING:-0}" = 1 ]; then
  for b in 16 256; do for t in 1 2; do run_pair "$t" "$b" "t$t-b$b-r1"; done; done
fi

"$py" - "$out" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
rows = {}
for path in glob.glob(os.path.join(out, "*.json")):
    fw, tag = os.path.basename(path)[:-5].split("-", 1)
    t, b, _ = tag.split("-")
    rows.setdefault((int(t[1:]), int(b[1:])), {}).setdefault(fw, []).append(json.load(open(path)))
keys = [("epoch_seconds_mean", "epoch s", "{:.2f}"), ("train_images_per_second", "train img/s", "{:,.0f}"),
        ("inference_images_per_second", "infer img/s", "{:,.0f}"), ("peak_rss_mib", "peak RSS MiB", "{:.0f}"),
        ("test_accuracy", "test acc", "{:.4f}")]
print()
print(f"{'threads':>7} {'batch':>5} {'runs':>4}  " + "  ".join(f"{label:>26}" for _, label, _ in keys))
print(f"{'':>7} {'':>5} {'':>4}  " + "  ".join(f"{'scratchnet / pytorch = ratio':>26}" for _ in keys))
for (t, b) in sorted(rows):
    r = rows[(t, b)]
    if "pytorch" not in r or "scratchnet" not in r:
        continue
    cells = []
    for key, _, fmt in keys:
        s = statistics.median(x[key] for x in r["scratchnet"])
        p = statistics.median(x[key] for x in r["pytorch"])
        cells.append(f"{fmt.format(s)} / {fmt.format(p)} = {s / p:.2f}")
    print(f"{t:>7} {b:>5} {len(r['scratchnet']):>4}  " + "  ".join(f"{c:>26}" for c in cells))
sn = {t: statistics.median(x["train_images_per_second"] for x in rows[(t, 64)]["scratchnet"]) for t in (1, 2) if (t, 64) in rows}
if len(sn) == 2:
    print(f"\nscratchnet 2-thread / 1-thread training images/s (batch 64): {sn[2] / sn[1]:.2f}x")
PY

if [ "${FULL:-0}" = 1 ]; then
  echo "== peak RSS of the full three-epoch example"
  cargo build -q --release --example mnist_lenet
  /usr/bin/time -v target/release/examples/mnist_lenet --data-dir "$data" --save "$out/lenet.safetensors" \
    --metrics "$out/full.json" 2>"$out/full.time" | tail -n 3
  grep -E "Maximum resident|Elapsed" "$out/full.time"
fi
