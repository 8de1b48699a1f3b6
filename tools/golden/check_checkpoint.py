#!/usr/bin/env python3
"""Golden check of scratchnet's LeNet-5 checkpoints against PyTorch.

Run with a Python that has torch, numpy and safetensors (e.g. /tmp/torchenv/bin/python).

1. ``--write-fixture DIR``: saves a PyTorch-initialised LeNet-5 (torch.manual_seed(0))
   with ``safetensors.torch.save_file`` as ``DIR/pytorch_lenet.st``, and the logits
   PyTorch computes for the deterministic probe batch below as
   ``DIR/pytorch_lenet_logits.json``. The Rust test ``pytorch_checkpoint_loads`` loads
   both and checks that scratchnet computes the same logits.

2. ``--checkpoint CK --predictions P --mnist-dir DIR``: loads a checkpoint written by
   ``mnist_lenet`` into the PyTorch LeNet-5 (dropping the ``optimizer.*`` entries, as
   any PyTorch user would), runs it on the MNIST test set, and compares its predictions
   and logits with those scratchnet wrote with ``--predictions P``. Exits 1 if the
   predictions agree on fewer than 99.9% of the images.

Example (from the workspace root):

    cargo run --release --example mnist_lenet -- --data-dir ../shared/data/mnist \\
        --save /tmp/lenet.safetensors --predictions /tmp/preds.safetensors
    /tmp/torchenv/bin/python tools/golden/check_checkpoint.py \\
        --checkpoint /tmp/lenet.safetensors --predictions /tmp/preds.safetensors \\
        --mnist-dir ../shared/data/mnist
"""

import argparse
import gzip
import json
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file, save_file

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def lenet5() -> torch.nn.Sequential:
    """LeNet-5 with the layer names scratchnet uses (scratchnet_train::models::lenet5)."""
    nn = torch.nn
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 6, 5, padding=2)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(6, 16, 5)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(400, 120)),
        ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(120, 84)),
        ("relu4", nn.ReLU()),
        ("fc3", nn.Linear(84, 10)),
    ]))


def probe_batch() -> torch.Tensor:
    """Four 1x28x28 images, x[i] = ((i * 7919) % 256) / 255 - 0.5 over the flat index i
    (exact in float32); the Rust test builds the same batch."""
    i = np.arange(4 * 28 * 28, dtype=np.int64)
    x = ((i * 7919) % 256).astype(np.float32) / np.float32(255.0) - np.float32(0.5)
    return torch.from_numpy(x.reshape(4, 1, 28, 28))


def write_fixture(directory: str) -> None:
    torch.manual_seed(0)
    model = lenet5().eval()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "pytorch_lenet.st")
    save_file(model.state_dict(), path, metadata={"format": "pt"})
    os.chmod(path, 0o644)  # save_file makes it private (0600), like a temporary file
    with torch.no_grad():
        logits = model(probe_batch())
    with open(os.path.join(directory, "pytorch_lenet_logits.json"), "w") as f:
        json.dump({"probe": "x[i] = ((i * 7919) % 256) / 255 - 0.5, shape [4, 1, 28, 28]",
                   "torch": torch.__version__,
                   "logits": logits.tolist()}, f, indent=1)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and the probe logits")


def read_idx(path: str) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(directory: str, name: str) -> str:
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    sys.exit(f"error: {name} (raw or .gz) is not in {directory}")


def check(checkpoint: str, predictions: str, mnist_dir: str) -> bool:
    state = load_file(checkpoint)
    model_state = {k: v for k, v in state.items() if not k.startswith("optimizer.")}
    model = lenet5().eval()
    model.load_state_dict(model_state)  # strict: every name and shape must match
    print(f"loaded {checkpoint} into PyTorch: {len(model_state)} model tensors, "
          f"{len(state) - len(model_state)} optimizer tensors ignored")

    images = read_idx(find(mnist_dir, "t10k-images-idx3-ubyte"))
    labels = read_idx(find(mnist_dir, "t10k-labels-idx1-ubyte")).astype(np.int64)
    x = (images.astype(np.float32) / np.float32(255.0) - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)
    with torch.no_grad():
        torch_logits = torch.cat([model(torch.from_numpy(x[i:i + 1000, None])) for i in range(0, len(x), 1000)])
    torch_pred = torch_logits.argmax(dim=1).numpy()

    ours = load_numpy(predictions)
    our_logits, our_pred = ours["logits"], ours["predictions"]
    assert np.array_equal(ours["labels"], labels), "the predictions file is not for the MNIST test set"
    agree = float(np.mean(torch_pred == our_pred))
    diff = np.abs(torch_logits.numpy() - our_logits)
    print(f"test accuracy: PyTorch {np.mean(torch_pred == labels):.4f}, scratchnet {np.mean(our_pred == labels):.4f}")
    print(f"predictions agree on {agree * 100:.2f}% of {len(labels)} images "
          f"({int(np.sum(torch_pred != our_pred))} differ)")
    print(f"logits: max |difference| {diff.max():.3g}, mean {diff.mean():.3g}")
    return agree >= 0.999


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-fixture", metavar="DIR")
    parser.add_argument("--checkpoint")
    parser.add_argument("--predictions")
    parser.add_argument("--mnist-dir", default=os.environ.get("MNIST_DIR", "../shared/data/mnist"))
    args = parser.parse_args()
    if not args.write_fixture and not args.checkpoint:
        parser.error("give --write-fixture DIR and/or --checkpoint CK --predictions P")
    if args.write_fixture:
        write_fixture(args.write_fixture)
    if args.checkpoint:
        if not args.predictions:
            parser.error("--checkpoint needs --predictions")
        if not check(args.checkpoint, args.predictions, args.mnist_dir):
            sys.exit(1)


if __name__ == "__main__":
    main()
