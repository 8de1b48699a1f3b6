#!/usr/bin/env python3
"""Sums the per-layer times that `bench/layer_times.patch` records, by direction and
layer kind, in milliseconds per training step, and sets them against the epoch's time:

    git apply bench/layer_times.patch
    LAYER_TIMES=/tmp/times.tsv cargo run --release --example fashion_resnet -- \
        --data-dir /usr/share/datasets/fashion-mnist --threads 1 --epochs 1 \
        --limit-train 3200 --no-augment --metrics /tmp/m.json
    git apply -R bench/layer_times.patch
    python3 bench/layer_times.py /tmp/times.tsv /tmp/m.json 64 [--layers]

`--layers` also lists every leaf layer's key (`F conv1[16,28,28]->[32,14,14] Conv2d`: the
direction, the name with one sample's shapes in and out (in the backward: the output
gradient's, then the input gradient's, `[]` where the model's first layer computes none),
the kind) with its time per step, the calls per step and the time per call, the slowest
first; layers of one name and shapes (the two `conv2` of a stage) share a key, so the
time per call is their average, as in `bench/pytorch_profile.py --shapes`.

Containers (`Sequential`, `Residual`) include their children and are left out; what is
neither a leaf layer's forward nor its backward (a residual block's sum and ReLU, the
loss, Adam, batch assembly) is the "rest". Standard library only.
"""
import collections
import json
import sys

CONTAINERS = {"Sequential", "Residual"}


def main():
    times, metrics, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    by_layer = sys.argv[4:] == ["--layers"]
    epoch = json.load(open(metrics))["epochs"][0]
    steps = epoch["seconds"] * epoch["samples_per_second"] / batch
    by_kind = collections.Counter()
    leaves = {}
    for line in open(times):
        key, seconds, calls = line.rstrip("\n").split("\t")
        direction, _name, kind = key.split(" ")
        if kind not in CONTAINERS:
            by_kind[(kind, direction)] += float(seconds)
            leaves[key] = (float(seconds), int(calls))
    step_ms = 1000 * epoch["seconds"] / steps
    print(f"{steps:.0f} steps, {step_ms:.1f} ms per step ({epoch['samples_per_second']:.0f} images/s)")
    for (kind, direction), seconds in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        ms = 1000 * seconds / steps
        print(f"{kind:20} {'forward' if direction == 'F' else 'backward':8} {ms:7.2f} ms  {100 * ms / step_ms:5.1f}%")
    rest = step_ms - 1000 * sum(by_kind.values()) / steps
    print(f"{'rest':29} {rest:7.2f} ms  {100 * rest / step_ms:5.1f}%")
    if by_layer:
        print()
        for key, (seconds, calls) in sorted(leaves.items(), key=lambda kv: -kv[1][0]):
            ms = 1000 * seconds / steps
            per_step = calls / steps
            print(
                f"{key:52} {ms:7.2f} ms  {100 * ms / step_ms:5.1f}%  ×{per_step:.0f}"
                f"  {ms / per_step:6.2f} ms each"
            )


if __name__ == "__main__":
    main()
