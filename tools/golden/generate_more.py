#!/usr/bin/env python3
"""Golden fixtures for the layers after LeNet (BatchNorm2d, LeakyReLU,
GlobalAvgPool2d), computed by PyTorch in float64.

How to run (from the repository root; needs only torch):

    /tmp/torchenv/bin/python tools/golden/generate_more.py

It (re)writes crates/layers/tests/fixtures_more/<case>.json, one file per case,
and deletes stale *.json files there. crates/layers/tests/golden_more.rs has
one #[test] per case and fails if a fixture has no test. The output is
deterministic (fixed torch seed per case).

Why a directory of its own: tools/golden/generate.py deletes every *.json in
crates/layers/tests/fixtures/ that it did not write itself, and golden.rs checks
that every fixture there has a test, so fixtures of this script placed there
would be deleted (or break golden.rs) the next time either runs.

Conventions are those of generate.py: float64 torch; every value the Rust side
*reads* (input, parameters, buffers, grad_output) is exactly representable in
f32 (multiples of 1/256 of modest size, checked by `exact_f32`), so the expected
values are PyTorch's float64 results for exactly the f32 inputs the Rust test
uses. Hyper-parameters are PyTorch's defaults where a case says "default"
(eps = 1e-5, momentum = 0.1, negative_slope = 0.01, which f32 rounds by ~1e-8
relative, far below the 1e-4 the tests allow) and f32-exact values otherwise.
A LeakyReLU inside a model whose input is computed is kept at least MARGIN from
its kink, so f32 rounding cannot flip which side an element is on.

JSON layout of a case (tensors are {"shape": [...], "data": [row-major floats]};
the layout of generate.py, plus `mode`, `buffers` and `buffers_after`):
    case, description, torch_version, seed
    mode         "train" or "eval": the mode of the forward (and of the backward after it)
    layer        {"type": "BatchNorm2d", num_features, eps, momentum, affine, track_running_stats}
                 {"type": "LeakyReLU", negative_slope}
                 {"type": "GlobalAvgPool2d"}  (nn.AdaptiveAvgPool2d(1) + nn.Flatten())
                 {"type": "Conv2d", in_channels, out_channels, kernel_size, stride,
                  padding, dilation, groups, bias}
                 {"type": "Dense", in_features, out_features}
                 {"type": "Sequential", "layers": [{"name": ..., "layer": spec}, ...]}
    input        the layer's input
    params       {name: tensor}, PyTorch state_dict names (bn1.weight, ...)
    buffers      {name: tensor} loaded before the forward: running_mean, running_var
                 and num_batches_tracked (PyTorch's int64 0-dim tensor, written here
                 as a float tensor of shape []), prefixed like params in a Sequential
    output       forward output
    grad_output  the gradient fed to backward
    grad_input   gradient w.r.t. the input
    param_grads  {name: tensor}
    buffers_after  {name: tensor}, the buffers after the forward (updated in "train")
"""

import json
import pathlib
import sys
from collections import OrderedDict

import torch
import torch.nn as nn

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "layers" / "tests" / "fixtures_more"
DT = torch.float64
STEP = 1.0 / 256.0
MARGIN = 1e-3

torch.set_default_dtype(DT)
torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------- values


def exact_f32(t):
    """Asserts every value of `t` survives a round trip through float32."""
    assert torch.equal(t, t.float().double()), "value not exactly representable in f32"
    return t


def grid(shape, scale=1.0, step=STEP):
    """Normal(0, scale) values rounded to multiples of `step` (exact in f32)."""
    return exact_f32(torch.round(torch.randn(shape, dtype=DT) * scale / step) * step)


def seeded(seed):
    torch.manual_seed(seed)
    return seed


# --------------------------------------------------------------------------- modules


class GlobalAvgPool2d(nn.Sequential):
    """scratchnet's GlobalAvgPool2d: nn.AdaptiveAvgPool2d(1) followed by nn.Flatten()."""

    def __init__(self):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten())


def tensor_json(t):
    t = t.detach().to(DT).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def module_spec(m):
    if isinstance(m, nn.BatchNorm2d):
        assert m.momentum is not None, "scratchnet has no cumulative-average momentum"
        return {
            "type": "BatchNorm2d",
            "num_features": m.num_features,
            "eps": m.eps,
            "momentum": m.momentum,
            "affine": m.affine,
            "track_running_stats": m.track_running_stats,
        }
    if isinstance(m, nn.LeakyReLU):
        return {"type": "LeakyReLU", "negative_slope": m.negative_slope}
    if isinstance(m, GlobalAvgPool2d):
        return {"type": "GlobalAvgPool2d"}
    if isinstance(m, nn.Conv2d):
        return {
            "type": "Conv2d",
            "in_channels": m.in_channels,
            "out_channels": m.out_channels,
            "kernel_size": list(m.kernel_size),
            "stride": list(m.stride),
            "padding": list(m.padding),
            "dilation": list(m.dilation),
            "groups": m.groups,
            "bias": m.bias is not None,
        }
    if isinstance(m, nn.Linear):
        return {"type": "Dense", "in_features": m.in_features, "out_features": m.out_features}
    if isinstance(m, nn.Sequential):
        return {
            "type": "Sequential",
            "layers": [{"name": n, "layer": module_spec(c)} for n, c in m.named_children()],
        }
    raise TypeError(f"no spec for {m!r}")


def buffers_json(module):
    return OrderedDict((k, tensor_json(v)) for k, v in module.named_buffers())


# --------------------------------------------------------------------------- cases

CASES = OrderedDict()


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def run(name, description, seed, module, x, mode="train", buffers=None, weight_scale=0.5):
    """Sets `module`'s parameters to f32-exact values (and its buffers to `buffers`,
    {name: tensor}, if given), runs forward in `mode` and backward, in float64,
    and returns the fixture dict."""
    module = module.to(DT)
    with torch.no_grad():
        for _, p in module.named_parameters():
            p.copy_(grid(p.shape, scale=weight_scale))
        for bname, value in (buffers or {}).items():
            dict(module.named_buffers())[bname].copy_(value)
    params = OrderedDict((k, p.detach().clone()) for k, p in module.named_parameters())
    for p in params.values():
        exact_f32(p)
    for k, b in module.named_buffers():
        exact_f32(b.to(DT))
    before = buffers_json(module)
    module.train(mode == "train")
    x = exact_f32(x.detach().clone()).requires_grad_(True)
    y = module(x)
    grad_output = grid(y.shape)
    y.backward(grad_output)
    after = buffers_json(module)
    if mode == "eval":
        assert after == before, f"{name}: eval changed a buffer"
    return OrderedDict(
        case=name,
        description=description,
        torch_version=torch.__version__,
        seed=seed,
        mode=mode,
        layer=module_spec(module),
        input=tensor_json(x),
        params=OrderedDict((k, tensor_json(v)) for k, v in params.items()),
        buffers=before,
        output=tensor_json(y),
        grad_output=tensor_json(grad_output),
        grad_input=tensor_json(x.grad),
        param_grads=OrderedDict((k, tensor_json(p.grad)) for k, p in module.named_parameters()),
        buffers_after=after,
    )


def loaded_stats(channels, count):
    """Running statistics as if loaded from a checkpoint: f32-exact, variance > 0."""
    return {
        "running_mean": grid((channels,), scale=0.5),
        "running_var": exact_f32(0.25 + grid((channels,), scale=0.5).abs()),
        "num_batches_tracked": torch.tensor(count, dtype=torch.int64),
    }


# ---- batch norm ------------------------------------------------------------------


@case
def batch_norm2d_train_default():
    s = seeded(200)
    return run("batch_norm2d_train_default",
               "BatchNorm2d(3) with PyTorch's defaults, one training step from fresh running "
               "statistics (mean 0, var 1, count 0); N·H·W = 4·5·5",
               s, nn.BatchNorm2d(3), grid((4, 3, 5, 5)))


@case
def batch_norm2d_train_loaded_stats_custom():
    s = seeded(201)
    bn = nn.BatchNorm2d(4, eps=1.0 / 1024.0, momentum=0.25)
    stats = loaded_stats(4, 7)
    x = grid((2, 4, 3, 3), scale=2.0)
    return run("batch_norm2d_train_loaded_stats_custom",
               "BatchNorm2d(4, eps=1/1024, momentum=0.25): a training step from loaded running "
               "statistics (count 7 -> 8); unbiased variance in running_var, N·H·W = 2·3·3",
               s, bn, x, buffers=stats)


@case
def batch_norm2d_train_shifted_input():
    s = seeded(202)
    x = grid((3, 2, 4, 4), scale=0.25)
    x[:, 0] += 100.0  # a mean far larger than the spread: a one-pass variance would lose digits
    x[:, 1] -= 37.5
    return run("batch_norm2d_train_shifted_input",
               "BatchNorm2d(2) training step on channels with means 100 and -37.5 and spread 0.25",
               s, nn.BatchNorm2d(2), exact_f32(x))


@case
def batch_norm2d_train_two_pixels():
    s = seeded(203)
    # With two values per channel x̂ = ±d/√(d² + eps): for a tiny eps the output hardly
    # depends on x and grad_input is ~1e-7, pure cancellation. A large eps keeps it O(1),
    # so the relative comparison means something.
    return run("batch_norm2d_train_two_pixels",
               "BatchNorm2d(3, eps=0.25) training step on a single 1x2 image: N·H·W = 2, the "
               "smallest batch allowed (unbiased variance factor 2)",
               s, nn.BatchNorm2d(3, eps=0.25), grid((1, 3, 1, 2)))


@case
def batch_norm2d_train_no_affine():
    s = seeded(204)
    return run("batch_norm2d_train_no_affine",
               "BatchNorm2d(3, affine=False): no weight or bias, training step",
               s, nn.BatchNorm2d(3, affine=False), grid((2, 3, 4, 3)))


@case
def batch_norm2d_eval_loaded_stats():
    s = seeded(205)
    stats = loaded_stats(3, 12)
    return run("batch_norm2d_eval_loaded_stats",
               "BatchNorm2d(3) in eval mode with loaded running statistics: normalises with them, "
               "backward is the per-channel affine map's, buffers unchanged",
               s, nn.BatchNorm2d(3), grid((2, 3, 4, 4)), mode="eval", buffers=stats)


@case
def batch_norm2d_eval_single_value():
    s = seeded(206)
    stats = loaded_stats(2, 3)
    return run("batch_norm2d_eval_single_value",
               "BatchNorm2d(2) in eval mode on a single 1x1 image (allowed in eval: running "
               "statistics)", s, nn.BatchNorm2d(2), grid((1, 2, 1, 1)), mode="eval", buffers=stats)


@case
def batch_norm2d_eval_untracked():
    s = seeded(207)
    return run("batch_norm2d_eval_untracked",
               "BatchNorm2d(3, track_running_stats=False) in eval mode: batch statistics, full "
               "gradient, no buffers", s, nn.BatchNorm2d(3, track_running_stats=False),
               grid((2, 3, 3, 4)), mode="eval")


# ---- leaky relu ------------------------------------------------------------------


@case
def leaky_relu_default():
    s = seeded(210)
    x = grid((3, 2, 4, 5))
    x[0, 0, 0, :] = 0.0  # exactly 0: PyTorch's gradient there is negative_slope
    return run("leaky_relu_default",
               "LeakyReLU() (negative_slope 0.01) on NCHW, with exact zeros (gradient = slope)",
               s, nn.LeakyReLU(), x)


@case
def leaky_relu_slope_quarter():
    s = seeded(211)
    x = grid((4, 9), scale=2.0)
    x[1, :3] = 0.0
    return run("leaky_relu_slope_quarter", "LeakyReLU(0.25) on [N, F], with exact zeros",
               s, nn.LeakyReLU(0.25), x)


@case
def leaky_relu_negative_slope():
    s = seeded(212)
    return run("leaky_relu_negative_slope", "LeakyReLU(-0.5): a negative slope folds the negatives",
               s, nn.LeakyReLU(-0.5), grid((2, 3, 3, 3)))


# ---- global average pooling --------------------------------------------------------


@case
def global_avg_pool2d():
    s = seeded(220)
    return run("global_avg_pool2d", "GlobalAvgPool2d on [2, 3, 4, 5] -> [2, 3]",
               s, GlobalAvgPool2d(), grid((2, 3, 4, 5)))


@case
def global_avg_pool2d_thin():
    s = seeded(221)
    return run("global_avg_pool2d_thin", "GlobalAvgPool2d on 1x7 images (non-square, one row)",
               s, GlobalAvgPool2d(), grid((3, 2, 1, 7)))


@case
def global_avg_pool2d_1x1():
    s = seeded(222)
    return run("global_avg_pool2d_1x1", "GlobalAvgPool2d on 1x1 images: just a flatten",
               s, GlobalAvgPool2d(), grid((2, 5, 1, 1)))


# ---- a model ----------------------------------------------------------------------


def leaky_margin(module, x):
    """Smallest |input| of a LeakyReLU in the float64 forward."""
    found = []
    hooks = [m.register_forward_hook(lambda _m, inp, _o: found.append(inp[0].abs().min().item()))
             for m in module.modules() if isinstance(m, nn.LeakyReLU)]
    with torch.no_grad():
        module(x)
    for h in hooks:
        h.remove()
    return min(found)


@case
def small_cnn_train():
    def build():
        model = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(2, 4, 3, padding=1, bias=False)),
            ("bn1", nn.BatchNorm2d(4)),
            ("act1", nn.LeakyReLU(0.125)),
            ("pool", GlobalAvgPool2d()),
            ("fc", nn.Linear(4, 3)),
        ])).to(DT)
        return model, grid((3, 2, 5, 5))

    for s in range(230, 330):
        seeded(s)
        model, x = build()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(grid(p.shape, scale=0.5))
        model.train()
        if leaky_margin(model, x) >= MARGIN:
            seeded(s)
            model, x = build()
            return run("small_cnn_train",
                       "conv(2->4, 3x3, pad 1, no bias) -> BatchNorm2d(4) -> LeakyReLU(0.125) -> "
                       "GlobalAvgPool2d -> Dense(4 -> 3), one training step", s, model, x)
    raise RuntimeError(f"small_cnn_train: no seed in 100 gave a margin of {MARGIN}")


# --------------------------------------------------------------------------- main


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    written = set()
    total = 0
    for name, fn in CASES.items():
        fixture = fn()
        assert fixture["case"] == name, (fixture["case"], name)
        text = json.dumps(fixture, indent=None, separators=(",", ":")) + "\n"
        path = OUT / f"{name}.json"
        path.write_text(text)
        written.add(path.name)
        total += len(text)
    for stale in OUT.glob("*.json"):
        if stale.name not in written:
            stale.unlink()
            print(f"removed stale {stale.relative_to(ROOT)}")
    print(f"wrote {len(written)} fixtures, {total / 1024:.1f} KiB, to {OUT.relative_to(ROOT)}")
    assert total < 300 * 1024, "fixtures too large"
    return 0


if __name__ == "__main__":
    sys.exit(main())
