#!/usr/bin/env bash
# PyTorch vs scratchnet on the three CNN examples, on this machine, in the same run: the
# ResNet of examples/fashion_resnet.rs (Fashion-MNIST), the modern CNN of
# examples/mnist_modern.rs (MNIST) and LeNet-5 of examples/mnist_lenet.rs (MNIST).
#
#   bash bench/compare_cnns.sh [ROUNDS=3] [IMAGES=12800]
#
# Each round trains each network once per framework at 1 and at 2 threads, ALTERNATING
# (scratchnet, PyTorch, scratchnet, …), on the first IMAGES training images (LeNet-5: all
# 60,000, LENET_IMAGES, for its epoch takes seconds) for one epoch
# without augmentation, batch 64, Adam 0.005 (the examples' defaults), and records the
# training time (without evaluation) and the process's peak RSS. It also measures this
# machine's single-precision GEMM peak (torch.mm 2048², best of 10) at 1 and 2 threads, so
# that images/s become a fraction of the peak (FLOPs: 2 per multiply-add of every
# convolution and linear layer, ×3 for the forward and both backward products).
# Prints a markdown table of medians (scratchnet / PyTorch = ratio) for docs/benchmarks.md,
# and which of the speed issue's targets this run meets.
# Env: SUMMARY_ONLY=1 (no runs: print the tables of the last run's results again),
#      MODELS (default "resnet modern lenet": which networks to run), MNIST_DIR (default ../shared/data/mnist), FASHION_MNIST_DIR (default Debian's
#      /usr/share/datasets/fashion-mnist), VENV (default /tmp/scratchnet-bench-venv),
#      LENET_RSS_MIB (LeNet-5's memory target: default 131, the figure of the day the speed
#      issue was filed).
# Not part of CI: it installs torch. Timings are noisy; only same-run ratios mean anything.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
images=${2:-12800}
mnist=${MNIST_DIR:-../shared/data/mnist}
fashion=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
venv=${VENV:-/tmp/scratchnet-bench-venv}
models=${MODELS:-resnet modern lenet}
lenet_images=${LENET_IMAGES:-60000}
out=bench/results/cnns
mkdir -p "$out"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
  echo "== installing torch and numpy into $venv (once)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch numpy
fi
py="$venv/bin/python"

if [ -z "${SUMMARY_ONLY:-}" ]; then
rm -f "$out"/*.json
echo "== building scratchnet's examples (release)"
cargo build -q --release --example fashion_resnet --example mnist_modern --example mnist_lenet

scratchnet() { # model threads tag
  local model=$1 t=$2 tag=$3 example data n=$images augment=--no-augment
  case $model in
    resnet) example=fashion_resnet data=$fashion ;;
    modern) example=mnist_modern data=$mnist ;;
    lenet) example=mnist_lenet data=$mnist n=$lenet_images augment= ;; # it never augments
  esac
  /usr/bin/time -f '%M' -o "$out/rss.txt" "${CARGO_TARGET_DIR:-target}"/release/examples/$example --data-dir "$data" \
    --threads "$t" --epochs 1 --limit-train "$n" $augment \
    --metrics "$out/metrics.json" --save "$out/checkpoint.safetensors" --overwrite >/dev/null 2>&1
  rm -f "$out/checkpoint.safetensors"
  "$py" - "$out/metrics.json" "$out/rss.txt" "$model" "$t" > "$out/scratchnet-$model-$tag.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["epochs"][0]
rss = int(open(sys.argv[2]).read().split()[-1]) / 1024
print(json.dumps({"framework": "scratchnet", "model": sys.argv[3], "threads": int(sys.argv[4]),
                  "seconds": m["seconds"], "images_per_second": m["samples_per_second"],
                  "peak_rss_mib": round(rss, 1)}))
PY
}

pytorch() { # model threads tag
  local model=$1 t=$2 tag=$3 data n=$images
  case $model in
    resnet) data=$fashion ;;
    modern) data=$mnist ;;
    lenet) data=$mnist n=$lenet_images ;;
  esac
  "$py" bench/pytorch_cnns.py --model "$model" --data-dir "$data" --threads "$t" --images "$n" \
    > "$out/pytorch-$model-$tag.json"
}

for t in 1 2; do
  "$py" bench/pytorch_cnns.py --peak --threads "$t" > "$out/peak-t$t.json"
done
for r in $(seq 1 "$rounds"); do
  for model in $models; do
    for t in 1 2; do
      scratchnet "$model" "$t" "t$t-r$r"
      pytorch "$model" "$t" "t$t-r$r"
    done
  done
  echo "   round $r of $rounds done"
done
fi

"$py" - "$out" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
peak = {json.load(open(p))["threads"]: json.load(open(p))["gemm_gflops"] for p in glob.glob(os.path.join(out, "peak-*.json"))}
runs = {}
gflop = {}
for path in glob.glob(os.path.join(out, "*-t*-r*.json")):
    run = json.load(open(path))
    run["round"] = int(path.rsplit("-r", 1)[1].split(".")[0])
    runs.setdefault((run["model"], run["threads"], run["framework"]), []).append(run)
    if "train_gflop_per_image" in run:
        gflop[run["model"]] = run["train_gflop_per_image"]
med = lambda model, t, fw, key: statistics.median(x[key] for x in runs[(model, t, fw)])
print()
print(f"GEMM peak (torch.mm 2048²): {peak.get(1, 0):.0f} GFLOP/s at 1 thread, {peak.get(2, 0):.0f} at 2")
print()
print("| network | threads | rounds | epoch s (60,000 images): scratchnet / PyTorch = ratio | images/s | % of GEMM peak | peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
for model in ("resnet", "modern", "lenet"):
    for t in (1, 2):
        if (model, t, "scratchnet") not in runs or (model, t, "pytorch") not in runs:
            continue
        s, p = (med(model, t, fw, "images_per_second") for fw in ("scratchnet", "pytorch"))
        frac = lambda v: 100 * v * gflop[model] / peak[t]
        rs, rp = (med(model, t, fw, "peak_rss_mib") for fw in ("scratchnet", "pytorch"))
        print(f"| {model} | {t} | {len(runs[(model, t, 'scratchnet')])} | "
              f"{60000 / s:.1f} / {60000 / p:.1f} = **{p / s:.2f}** | {s:,.0f} / {p:,.0f} | "
              f"{frac(s):.1f}% / {frac(p):.1f}% | {rs:.0f} / {rp:.0f} |")
# Per round: both frameworks ran minutes apart at most, so a round's own ratio is less
# disturbed by the host's drift than the ratio of two medians taken over the whole run.
per_round = lambda model, t, fw: {x["round"]: x["images_per_second"] for x in runs[(model, t, fw)]}
print()
print("| network | threads | images/s per round: scratchnet / PyTorch | the rounds' ratios | their median |")
print("|---|---|---|---|---|")
for model in ("resnet", "modern", "lenet"):
    for t in (1, 2):
        if (model, t, "scratchnet") not in runs or (model, t, "pytorch") not in runs:
            continue
        s, p = per_round(model, t, "scratchnet"), per_round(model, t, "pytorch")
        rounds = sorted(set(s) & set(p))
        ratios = [p[r] / s[r] for r in rounds]
        print(f"| {model} | {t} | {', '.join(f'{s[r]:.0f} / {p[r]:.0f}' for r in rounds)} | "
              f"{', '.join(f'{x:.2f}' for x in ratios)} | **{statistics.median(ratios):.2f}** |")
print()
for model in ("resnet", "modern", "lenet"):
    if all((model, t, fw) in runs for t in (1, 2) for fw in ("scratchnet", "pytorch")):
        ratio = {fw: med(model, 2, fw, "images_per_second") / med(model, 1, fw, "images_per_second")
                 for fw in ("scratchnet", "pytorch")}
        in_round = {}
        for fw in ("scratchnet", "pytorch"):
            one, two = per_round(model, 1, fw), per_round(model, 2, fw)
            in_round[fw] = statistics.median(two[r] / one[r] for r in sorted(set(one) & set(two)))
        print(f"{model}: 2 threads train {ratio['scratchnet']:.2f}x the images/s of 1 thread "
              f"(PyTorch: {ratio['pytorch']:.2f}x); median of the rounds' own speed-ups "
              f"{in_round['scratchnet']:.2f}x (PyTorch: {in_round['pytorch']:.2f}x)")

# The targets of the speed issue, each against this run's medians: epoch time ÷ PyTorch's
# (both thread counts) and the 1 → 2 thread speed-up; for LeNet-5, its speed-up and its
# memory no higher than when the issue was filed (LENET_RSS_MIB, default 131: that day's
# highest). LeNet-5's ratio is judged by bench/compare.sh, whose PyTorch loop is the
# reference one (this script's, indexing a tensor per batch as for the other networks,
# trains slower, most of all at 2 threads, which flatters the ratio).
lenet_rss = float(os.environ.get("LENET_RSS_MIB", "131"))
targets = []
for model in ("resnet", "modern", "lenet"):
    for t in (1, 2):
        if model != "lenet" and (model, t, "scratchnet") in runs and (model, t, "pytorch") in runs:
            ratio = med(model, t, "pytorch", "images_per_second") / med(model, t, "scratchnet", "images_per_second")
            targets.append((f"{model}, {t} thread{'s' if t > 1 else ''}: epoch ÷ PyTorch's ≤ 0.60", f"{ratio:.2f}", ratio <= 0.6))
    if all((model, t, "scratchnet") in runs for t in (1, 2)):
        speedup = med(model, 2, "scratchnet", "images_per_second") / med(model, 1, "scratchnet", "images_per_second")
        targets.append((f"{model}: 2-thread speed-up ≥ 1.70×", f"{speedup:.2f}×", speedup >= 1.7))
if all(("lenet", t, "scratchnet") in runs for t in (1, 2)):
    rss = max(med("lenet", t, "scratchnet", "peak_rss_mib") for t in (1, 2))
    targets.append((f"lenet: peak RSS ≤ {lenet_rss:.0f} MiB", f"{rss:.0f} MiB", rss <= lenet_rss))
if targets:
    print()
    print("| target | this run | |")
    print("|---|---|---|")
    for name, value, holds in targets:
        print(f"| {name} | {value} | {'holds' if holds else '**misses**'} |")
PY
