#!/usr/bin/env python3
"""Where PyTorch's training step goes, by operator: the PyTorch side of
`bench/layer_times.py`. Trains the network of `bench/pytorch_cnns.py` (`--model resnet`
or `modern`) on random images, batch 64, Adam 0.005, at `--threads`, and prints each
operator's self CPU time in milliseconds per step (torch.profiler, `--steps` steps after
five of warm-up), grouped as convolution, batch norm, ReLU, pooling, the rest. With
`--shapes`, also each convolution operator by its input shapes (the forward's
`mkldnn_convolution` by input and weight, the backward's `convolution_backward` by output
gradient, input and weight), for comparing layer by layer with `bench/layer_times.py
--layers`.

    /tmp/scratchnet-bench-venv/bin/python bench/pytorch_profile.py --model resnet --threads 1
"""

import argparse
import collections
import pathlib
import sys

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from pytorch_cnns import MODELS  # noqa: E402

GROUPS = [
    ("convolution", ("convolution", "conv2d", "mkldnn_conv")),
    ("batch norm", ("batch_norm",)),
    ("ReLU", ("relu", "threshold", "clamp_min")),
    ("pooling", ("pool",)),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--shapes", action="store_true", help="convolutions by input shapes too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = MODELS[args.model][0]()
    optimizer = torch.optim.Adam(model.parameters(), 0.005)
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    for _ in range(5):
        step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=args.shapes) as prof:
        for _ in range(args.steps):
            step()
    by_group = collections.Counter()
    total = 0.0
    for event in prof.key_averages():
        ms = event.self_cpu_time_total / 1000 / args.steps
        total += ms
        name = event.key.lower()
        group = next((g for g, keys in GROUPS if any(k in name for k in keys)), "the rest")
        by_group[group] += ms
    print(f"{args.model}, {args.threads} thread(s): {total:.1f} ms of CPU per step")
    for group, ms in by_group.most_common():
        print(f"  {group:12} {ms:7.2f} ms  {100 * ms / total:5.1f}%")
    if args.shapes:
        print("convolutions by input shapes (ms per step, all calls of the shape together; calls per step):")
        rows = []
        for event in prof.key_averages(group_by_input_shape=True):
            name = event.key.lower()
            if any(k in name for k in GROUPS[0][1]) and event.self_cpu_time_total > 0:
                shapes = [s for s in event.input_shapes if s]
                ms = event.self_cpu_time_total / 1000 / args.steps
                rows.append((ms, event.count // args.steps, event.key, shapes))
        for ms, calls, key, shapes in sorted(rows, reverse=True):
            if ms >= 0.05:
                print(f"  {ms:7.2f} ms  ×{calls}  {key} {shapes}")


if __name__ == "__main__":
    main()
