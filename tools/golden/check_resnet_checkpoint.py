#!/usr/bin/env python3
"""Loads scratchnet's checkpoint of the tiny ResNet into the same network written in
PyTorch, by name, and checks that PyTorch reproduces scratchnet's predictions.

    mkdir -p /tmp/resnet-export
    SCRATCHNET_RESNET_EXPORT=/tmp/resnet-export \\
        cargo test -p scratchnet-train --test resnet_checkpoint
    /tmp/scratchnet-bench-venv/bin/python tools/golden/check_resnet_checkpoint.py /tmp/resnet-export

Needs only torch: the safetensors file is read by hand (8-byte little-endian header
length, JSON header, raw little-endian data). The network is TinyResNet of
generate_resnet.py (torchvision's BasicBlock names). load_state_dict(strict=True)
fails on any missing or unexpected key.
"""

import json
import pathlib
import struct
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from generate_resnet import TinyResNet  # noqa: E402

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}


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
        t = torch.frombuffer(bytearray(data[start:end]), dtype=DTYPES[info["dtype"]])
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors


def main():
    export = pathlib.Path(sys.argv[1])
    state = read_safetensors(export / "tiny_resnet.safetensors")
    model = TinyResNet().float()
    model.load_state_dict(state, strict=True)
    model.eval()
    rust = json.loads((export / "tiny_resnet_eval.json").read_text())
    x = torch.tensor(rust["input"]["data"], dtype=torch.float32).reshape(rust["input"]["shape"])
    want = torch.tensor(rust["output"]["data"], dtype=torch.float32).reshape(rust["output"]["shape"])
    with torch.no_grad():
        got = model(x)
    worst = (got - want).abs().max().item()
    same_class = torch.equal(got.argmax(1), want.argmax(1))
    print(f"{len(state)} tensors loaded by name; max |PyTorch - scratchnet| = {worst:.3g}; same predictions: {same_class}")
    if worst > 1e-4 or not same_class:
        sys.exit(1)


if __name__ == "__main__":
    main()
