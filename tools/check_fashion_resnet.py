#!/usr/bin/env python3
"""Loads a checkpoint of examples/fashion_resnet.rs into the same network written in
PyTorch (tools/fashion_resnet_torch.py, torchvision's BasicBlock names), by name and
strictly, runs the Fashion-MNIST test set through it, and compares its predictions with
the ones scratchnet wrote with --predictions:

    cargo run --release --example fashion_resnet -- --predictions predictions.safetensors
    python tools/check_fashion_resnet.py fashion_resnet.safetensors predictions.safetensors \\
        [--data-dir /usr/share/datasets/fashion-mnist]

Needs torch and numpy (bench/compare.sh's virtualenv has both). The safetensors files
are read by hand (8-byte little-endian header length, JSON header, raw data). Exits 1
if a tensor is missing or unexpected, or if any test image is classified differently.
"""

import argparse
import json
import pathlib
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fashion_resnet_torch import FashionResNet, load_split  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def read_safetensors(path):
    raw = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, header.get("__metadata__", {})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("predictions")
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()

    tensors, metadata = read_safetensors(args.checkpoint)
    # The checkpoint also holds the optimizer's state, under `optimizer.`.
    state = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    model = FashionResNet()
    model.load_state_dict(state, strict=True)
    model.eval()

    x, y = load_split(args.data_dir, "t10k")
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + 1000]) for i in range(0, x.shape[0], 1000)])
    ours, _ = read_safetensors(args.predictions)
    want_logits, want = ours["logits"], ours["predictions"]
    if not torch.equal(ours["labels"], y):
        sys.exit("the predictions file's labels are not the Fashion-MNIST test labels")
    got = logits.argmax(1)
    differ = int((got != want).sum())
    worst = (logits - want_logits).abs().max().item()
    print(
        f"{len(state)} tensors loaded by name into the PyTorch network (epoch {metadata.get('scratchnet.epoch', '?')})\n"
        f"test accuracy: PyTorch {(got == y).float().mean().item():.2%}, "
        f"scratchnet {(want == y).float().mean().item():.2%}\n"
        f"predictions that differ: {differ} of {len(y)}; max |logit difference| = {worst:.3g}"
    )
    if differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
