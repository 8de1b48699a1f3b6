#!/usr/bin/env python3
"""PyTorch side of bench/compare_cnns.sh: trains the network of one of scratchnet's
CNN examples on the first IMAGES training images, as that example does with
`--limit-train IMAGES --epochs 1 --no-augment` (same layers, Adam at the example's
default learning rate 0.005, batch 64, reshuffled), and prints a JSON line:

    {"framework": "pytorch", "model": ..., "threads": T, "images": N,
     "seconds": training time, "images_per_second": ..., "peak_rss_mib": ...,
     "train_gflop_per_image": ...}

Models: `resnet` (examples/fashion_resnet.rs, on Fashion-MNIST; the network of
tools/fashion_resnet_torch.py), `modern` (examples/mnist_modern.rs, on MNIST) and
`lenet` (examples/mnist_lenet.rs, on MNIST; the network of bench/pytorch_lenet.py).
`train_gflop_per_image` counts the multiply-adds of every convolution and linear layer
(forward) as 2 FLOPs each, times 3 for forward + both backward products.

    --peak  instead measures this machine's single-precision matrix-product peak at
            --threads (best of several 2048×2048 torch.mm), as {"gemm_gflops": ...}.
"""

import argparse
import json
import pathlib
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tools"))
import fashion_resnet_torch as fr  # noqa: E402
from pytorch_lenet import LeNet5  # noqa: E402


class ModernCnn(nn.Module):
    """examples/mnist_modern.rs."""

    def __init__(self):
        super().__init__()
        conv = lambda i, o: nn.Conv2d(i, o, 3, padding=1, bias=False)  # noqa: E731
        self.conv1, self.bn1 = conv(1, 32), nn.BatchNorm2d(32)
        self.conv2, self.bn2 = conv(32, 32), nn.BatchNorm2d(32)
        self.conv3, self.bn3 = conv(32, 64), nn.BatchNorm2d(64)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(576, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.max_pool2d(F.relu(self.bn3(self.conv3(x))), 2)
        return self.fc(self.dropout(torch.flatten(x, 1)))


MODELS = {
    # name: (constructor, dataset folder default, normalisation)
    "resnet": (fr.FashionResNet, "/usr/share/datasets/fashion-mnist", (0.2860, 0.3530)),
    "modern": (ModernCnn, "../shared/data/mnist", (0.1307, 0.3081)),
    "lenet": (LeNet5, "../shared/data/mnist", (0.1307, 0.3081)),
}


def train_gflop_per_image(model):
    flops = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            flops.append(2 * output[0].numel() * per_output)
        elif isinstance(module, nn.Linear):
            flops.append(2 * module.in_features * module.out_features)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    for h in handles:
        h.remove()
    return 3 * sum(flops) / 1e9


def gemm_peak():
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(3):
        torch.mm(a, b)
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet")
    parser.add_argument("--data-dir")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=12800)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--peak", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.peak:
        print(json.dumps({"threads": args.threads, "gemm_gflops": round(gemm_peak(), 1)}))
        return
    build, data_dir, (mean, std) = MODELS[args.model]
    fr.MEAN, fr.STD = mean, std
    x, y = fr.load_split(args.data_dir or data_dir, "train")
    x, y = x[: args.images], y[: args.images]
    torch.manual_seed(0)
    model = build()
    gflop = train_gflop_per_image(model)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    for i in range(0, x.shape[0], args.batch_size):
        idx = order[i : i + args.batch_size]
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "framework": "pytorch",
                "torch_version": torch.__version__,
                "model": args.model,
                "threads": args.threads,
                "images": int(x.shape[0]),
                "seconds": round(seconds, 3),
                "images_per_second": round(x.shape[0] / seconds, 1),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "train_gflop_per_image": round(gflop, 6),
            }
        )
    )


if __name__ == "__main__":
    main()
