#!/usr/bin/env python3
"""PyTorch reference for scratchnet's speed goal: LeNet-5 on MNIST on the CPU.

The same network, optimiser and data pipeline as scratchnet's LeNet-5 example:

    conv1 1->6 5x5 pad 2, ReLU, max-pool 2
    conv2 6->16 5x5,      ReLU, max-pool 2
    flatten, fc 400->120, ReLU, fc 120->84, ReLU, fc 84->10
    softmax cross-entropy, Adam (lr 1e-3), batch 64,
    pixels / 255 normalised with mean 0.1307 and std 0.3081, reshuffled every epoch.

It reads the four gzip IDX files from --data-dir with numpy only (no
torchvision, no download) and measures:

    * the wall-clock time of each training epoch (training only, no evaluation),
      and the images/s that makes;
    * test accuracy after the last epoch;
    * inference images/s at batch 1000 (eval mode, no_grad, after a few
      warm-up batches), over the 10,000 test images;
    * peak RSS of the process (resource.getrusage ru_maxrss).

It prints the result as JSON and, with --json PATH, also writes it there.

Requirements: python3 with numpy and torch (CPU build is enough). When run
through bench/compare.sh, that script installs torch and numpy into a
virtualenv under /tmp first and runs this file with that venv's python;
run by hand, use any python that has them, e.g.

    /tmp/torchenv/bin/python bench/pytorch_lenet.py --threads 1 --epochs 1
"""

import argparse
import gzip
import json
import os
import platform
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.1307, 0.3081
BATCH = 64
EVAL_BATCH = 1000


def read_idx(path):
    """Returns the array stored in a (gzip-compressed) IDX file."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {dims}, found {array.size} bytes")
    return array.reshape(dims)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{stem}(.gz) not found in {data_dir}")


def load_split(data_dir, prefix):
    images = read_idx(find(data_dir, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(data_dir, f"{prefix}-labels-idx1-ubyte"))
    x = (images.astype(np.float32) / 255.0 - MEAN) / STD
    x = torch.from_numpy(x.reshape(-1, 1, 28, 28).copy())
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def train_epoch(model, opt, x, y, generator):
    model.train()
    order = torch.randperm(x.shape[0], generator=generator)
    total_loss = 0.0
    start = time.perf_counter()
    for i in range(0, x.shape[0], BATCH):
        idx = order[i : i + BATCH]
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        total_loss += loss.item() * len(idx)
    seconds = time.perf_counter() - start
    return seconds, total_loss / x.shape[0]


@torch.no_grad()
def evaluate(model, x, y):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], EVAL_BATCH):
        correct += (model(x[i : i + EVAL_BATCH]).argmax(1) == y[i : i + EVAL_BATCH]).sum().item()
    return correct / x.shape[0]


@torch.no_grad()
def inference_speed(model, x, warmup=3, repeats=3):
    model.eval()
    batches = [x[i : i + EVAL_BATCH] for i in range(0, x.shape[0], EVAL_BATCH)]
    for b in batches[:warmup]:
        model(b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for b in batches:
            model(b)
        best = min(best, time.perf_counter() - start)
    return x.shape[0] / best


def peak_rss_mib():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def main():
    global BATCH
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data-dir",
        default=os.path.join(here, "..", "..", "shared", "data", "mnist"),
        help="folder with the four MNIST IDX files, gzip or not (default ../shared/data/mnist from the project root)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and shuffling")
    parser.add_argument("--batch-size", type=int, default=BATCH, help=f"training batch size (default {BATCH})")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON result here")
    args = parser.parse_args()
    BATCH = args.batch_size

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError:
        pass  # can only be set before any parallel work; harmless if it was
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    x_train, y_train = load_split(args.data_dir, "train")
    x_test, y_test = load_split(args.data_dir, "t10k")

    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    epochs = []
    for epoch in range(1, args.epochs + 1):
        seconds, loss = train_epoch(model, opt, x_train, y_train, generator)
        epochs.append(
            {
                "epoch": epoch,
                "seconds": round(seconds, 3),
                "images_per_second": round(x_train.shape[0] / seconds, 1),
                "train_loss": round(loss, 5),
            }
        )
        print(
            f"epoch {epoch}: {seconds:.2f} s, {x_train.shape[0] / seconds:,.0f} images/s, loss {loss:.4f}",
            file=sys.stderr,
        )

    accuracy = evaluate(model, x_test, y_test)
    infer = inference_speed(model, x_test)
    result = {
        "framework": "pytorch",
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "threads": args.threads,
        "batch_size": BATCH,
        "optimizer": "adam",
        "lr": 1e-3,
        "epochs": epochs,
        "epoch_seconds_mean": round(sum(e["seconds"] for e in epochs) / len(epochs), 3),
        "train_images_per_second": round(
            len(epochs) * x_train.shape[0] / sum(e["seconds"] for e in epochs), 1
        ),
        "test_accuracy": round(accuracy, 4),
        "inference_batch_size": EVAL_BATCH,
        "inference_images_per_second": round(infer, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
