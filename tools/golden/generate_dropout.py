#!/usr/bin/env python3
"""Golden fixture for `Dropout`: PyTorch's `nn.Dropout(p)` in float32, training mode,
one forward and one backward for several `p`.

How to run (from the repository root; needs only torch):

    /tmp/scratchnet-bench-venv/bin/python tools/golden/generate_dropout.py

It (re)writes crates/layers/tests/fixtures_dropout/dropout.json, checked by
crates/layers/tests/golden_dropout.rs. PyTorch's random masks are not scratchnet's, so
the test compares what does not depend on the draw: every element both keep has
PyTorch's value and gradient bit for bit (the scale `1/(1 − p)` rounded as PyTorch
rounds it), every element scratchnet drops is 0 with gradient 0, and scratchnet drops
about `p` of them. The inputs are float32 values, none of them 0.

JSON: torch_version, cases: [{p, seed, shape, input, output, grad_output, grad_input}]
(flat lists of the float32 values, written as JSON numbers).
"""

import json
import pathlib

import torch
import torch.nn as nn

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "layers" / "tests" / "fixtures_dropout"
SHAPE = (2, 3, 8, 8)


def main():
    cases = []
    for i, p in enumerate([0.1, 0.25, 0.3, 0.5, 0.7]):
        gen = torch.Generator().manual_seed(100 + i)
        x = torch.randn(SHAPE, generator=gen, dtype=torch.float32)
        x = torch.where(x == 0, torch.ones_like(x), x).requires_grad_(True)
        dy = torch.randn(SHAPE, generator=gen, dtype=torch.float32)
        torch.manual_seed(i)
        layer = nn.Dropout(p).train()
        y = layer(x)
        y.backward(dy)
        cases.append(
            {
                "p": p,
                "seed": i,
                "shape": list(SHAPE),
                "input": x.detach().reshape(-1).tolist(),
                "output": y.detach().reshape(-1).tolist(),
                "grad_output": dy.reshape(-1).tolist(),
                "grad_input": x.grad.reshape(-1).tolist(),
            }
        )
    OUT.mkdir(parents=True, exist_ok=True)
    fixture = {"torch_version": torch.__version__, "cases": cases}
    (OUT / "dropout.json").write_text(json.dumps(fixture) + "\n")
    print(f"dropout: {len(cases)} cases")


if __name__ == "__main__":
    main()
