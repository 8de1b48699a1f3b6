#!/usr/bin/env python3
"""Golden fixture for `Branches` (both ways of combining) and for `Residual` without its
ReLU: one training forward and backward in float64 PyTorch.

How to run (from the repository root; needs only torch):

    /tmp/scratchnet-bench-venv/bin/python tools/golden/generate_branches.py

It (re)writes crates/layers/tests/fixtures_resnet/branches.json, checked by
crates/layers/tests/containers.rs, which builds the same network:

    mix    Branches(Concat): a = Conv2d(2, 1, 1), b = Conv2d(2, 3, 3, padding 1), c = Tanh
           -> torch.cat([a(x), b(x), c(x)], dim=1): 1 + 3 + 2 = 6 channels, in that order
    block  Residual(identity, relu: false) around
           paths  Branches(Add): a = Conv2d(6, 6, 1), b = Tanh -> a(x) + b(x)
           -> x + paths(x)

The branches' channel counts differ, so concatenating them in any other order gives
other numbers. Conventions are generate_resnet.py's (and its JSON layout, with no
buffers): every value the Rust side reads is exact in f32; there is no ReLU, so no kink
to keep away from.
"""

import json
import pathlib

import torch
import torch.nn as nn

from generate_resnet import grid, tensor  # the same conventions: values exact in f32

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "layers" / "tests" / "fixtures_resnet"
DT = torch.float64
SEED = 0

torch.set_default_dtype(DT)


class Concat(nn.Module):
    """scratchnet's `Branches::new(Combine::Concat)`: the branches' outputs along channels."""

    def __init__(self, **branches):
        super().__init__()
        for name, module in branches.items():
            self.add_module(name, module)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.children()], dim=1)


class Add(Concat):
    """scratchnet's `Branches::new(Combine::Add)`: the branches' outputs summed."""

    def forward(self, x):
        return sum(branch(x) for branch in self.children())


class Block(nn.Module):
    """scratchnet's `Residual::identity(paths, ResidualConfig { relu: false })`."""

    def __init__(self):
        super().__init__()
        self.paths = Add(a=nn.Conv2d(6, 6, 1), b=nn.Tanh())

    def forward(self, x):
        return x + self.paths(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.mix = Concat(a=nn.Conv2d(2, 1, 1), b=nn.Conv2d(2, 3, 3, padding=1), c=nn.Tanh())
        self.block = Block()

    def forward(self, x):
        return self.block(self.mix(x))


def main():
    gen = torch.Generator().manual_seed(SEED)
    model = Net()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(grid(p.shape, 0.5, gen))
    x = grid((2, 2, 5, 5), 1.0, gen).requires_grad_(True)
    model.train()
    y = model(x)
    dy = grid(y.shape, 1.0, gen)
    y.backward(dy)
    case = {
        "case": "branches",
        "description": "Branches(Concat) of a 1x1 conv, a 3x3 conv and tanh (1 + 3 + 2 channels), then an identity Residual without ReLU around Branches(Add) of a 1x1 conv and tanh, on [2, 2, 5, 5]",
        "torch_version": torch.__version__,
        "seed": SEED,
        "input": tensor(x),
        "params": {n: tensor(p) for n, p in model.named_parameters()},
        "buffers": {},
        "output": tensor(y),
        "grad_output": tensor(dy),
        "grad_input": tensor(x.grad),
        "param_grads": {n: tensor(p.grad) for n, p in model.named_parameters()},
        "buffers_after": {},
        "state_dict_names": list(model.state_dict().keys()),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "branches.json").write_text(json.dumps(case) + "\n")
    print("branches:", case["state_dict_names"])


if __name__ == "__main__":
    main()
