"""The convolutions of bench/conv_layers.tsv in PyTorch, layer by layer, in GFLOP/s.

    python bench/pytorch_conv_layers.py [--threads 1,2] [--criterion target/criterion]

For every layer and thread count it times the three products scratchnet's criterion bench
(crates/tensor/benches/conv.rs) times: the forward convolution, the input gradient
(torch.nn.grad.conv2d_input) and the weight gradient (torch.nn.grad.conv2d_weight), median
of several runs after a warm-up, and torch.mm of 2048x2048 matrices as the machine's GEMM peak
(best of 10). FLOPs are 2 per multiply-add. With --criterion it reads scratchnet's medians
from criterion's output folder (run `cargo bench -p scratchnet-tensor --bench conv` first) and
prints the markdown table "layer: scratchnet / PyTorch GFLOP/s" of docs/performance-log.md.
Needs torch (the venv of bench/compare.sh). Timings are noisy: compare runs on a quiet machine.
"""

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

PRODUCTS = ("forward", "grad_input", "grad_weight")


def layers():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv_layers.tsv")
    rows = []
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        name, *nums = line.rstrip("\n").split("\t")
        batch, cin, cout, size, kernel, stride, padding = map(int, nums)
        rows.append(dict(name=name, batch=batch, cin=cin, cout=cout, size=size,
                         kernel=kernel, stride=stride, padding=padding))
    return rows


def out_size(layer):
    return (layer["size"] + 2 * layer["padding"] - layer["kernel"]) // layer["stride"] + 1


def flops(layer):
    o = out_size(layer)
    return 2 * layer["batch"] * layer["cout"] * layer["cin"] * layer["kernel"] ** 2 * o * o


def median_seconds(fn, min_time=1.0, min_runs=5):
    fn()
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_layer(layer):
    g = torch.Generator().manual_seed(0)
    n, c, o, s, k = layer["batch"], layer["cin"], layer["cout"], layer["size"], layer["kernel"]
    x = torch.rand(n, c, s, s, generator=g) * 2 - 1
    w = torch.rand(o, c, k, k, generator=g) * 2 - 1
    os_ = out_size(layer)
    dy = torch.rand(n, o, os_, os_, generator=g) * 2 - 1
    kw = dict(stride=layer["stride"], padding=layer["padding"])
    with torch.no_grad():
        fns = {
            "forward": lambda: F.conv2d(x, w, **kw),
            "grad_input": lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, **kw),
            "grad_weight": lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, **kw),
        }
        return {p: flops(layer) / median_seconds(fn) / 1e9 for p, fn in fns.items()}


def mm_peak():
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(10))
    return 2 * 2048 ** 3 / best / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def criterion_gflops(root, layer, threads, product):
    """scratchnet's median GFLOP/s from criterion's estimates, or None if it was not run."""
    group = f"{layer['name']}/t{threads}".replace("/", "_")
    s = layer["size"]
    bench = f"{layer['batch']}x{layer['cin']}x{s}x{s}->{layer['cout']}".replace("/", "_")
    for name in (bench, bench.replace(">", "_")):
        path = os.path.join(root, group, product, name, "new", "estimates.json")
        if os.path.exists(path):
            ns = json.load(open(path))["median"]["point_estimate"]
            return flops(layer) / ns
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--criterion", help="criterion's output folder, to print the comparison table")
    args = ap.parse_args()
    results = []
    for t in (int(v) for v in args.threads.split(",")):
        torch.set_num_threads(t)
        peak = mm_peak()
        for layer in layers():
            results.append(dict(threads=t, peak=peak, layer=layer, pytorch=time_layer(layer)))
    print(json.dumps([dict(name=r["layer"]["name"], threads=r["threads"], mm_peak_gflops=r["peak"],
                           pytorch_gflops=r["pytorch"]) for r in results], indent=1))
    print()
    print("| layer (batch, C→O, size, kernel/stride) | threads | forward | grad_input | grad_weight |"
          " torch.mm peak |")
    print("|---|---|---|---|---|---|")
    for r in results:
        layer, cells = r["layer"], []
        for p in PRODUCTS:
            ours = criterion_gflops(args.criterion, layer, r["threads"], p) if args.criterion else None
            theirs = r["pytorch"][p]
            cells.append(f"{theirs:.0f}" if ours is None else f"{ours:.0f} / {theirs:.0f}")
        shape = (f"{layer['batch']}, {layer['cin']}→{layer['cout']}, {layer['size']}², "
                 f"{layer['kernel']}×{layer['kernel']}/{layer['stride']}")
        print(f"| {layer['name']} ({shape}) | {r['threads']} | " + " | ".join(cells)
              + f" | {r['peak']:.0f} |")
    if args.criterion:
        print("\ncells: scratchnet / PyTorch GFLOP/s (2 FLOPs per multiply-add)")


if __name__ == "__main__":
    main()
