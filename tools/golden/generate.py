#!/usr/bin/env python3
"""Golden fixtures for scratchnet's layers, computed by PyTorch in float64.

How to run (from the repository root; needs torch and the standard library only):

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch
    /tmp/torchenv/bin/python tools/golden/generate.py
    cargo test -p scratchnet-layers --test golden

It (re)writes crates/layers/tests/fixtures/<case>.json, one file per case, and
deletes stale *.json files there. crates/layers/tests/golden.rs has one #[test]
per case (add new cases to its `golden_cases!` list; a fixture without a test
fails `every_fixture_has_a_test`). The output is deterministic: each case sets a
fixed torch seed and everything runs on the CPU in float64. (Another torch
version may draw different random values; the fixtures stay valid either way,
since each stores its own inputs.) Written with torch 2.15.0.

Every value the Rust side *reads* (input, parameters, grad_output, targets) is
exactly representable in f32: inputs, weights and gradients are multiples of
1/256 (or 1/1024 for the huge logits) of modest size, checked by `exact_f32`.
The expected values are then PyTorch's float64 results for exactly the f32
inputs the Rust test uses, so the only difference left is scratchnet's own f32
rounding. Cases whose result could flip under that rounding (a ReLU input or a
max-pool runner-up within 1e-3 of the decision) are rejected by `margins` and
regenerated with the next seed.

JSON layout of a case (tensors are {"shape": [...], "data": [row-major floats]}):
    case, description, torch_version, seed
    layer        spec of the layer, or null for a loss-only case:
                 {"type": "Conv2d", in_channels, out_channels, kernel_size,
                  stride, padding, dilation, groups, bias}
                 {"type": "MaxPool2d", kernel_size, stride (null = kernel), padding}
                 {"type": "AvgPool2d", kernel_size, stride, padding, count_include_pad}
                 {"type": "Dense", in_features, out_features}
                 {"type": "ReLU" | "Tanh" | "Sigmoid" | "Flatten"}
                 {"type": "Sequential", "layers": [{"name": ..., "layer": spec}, ...]}
    input        the layer's input (the logits for a loss-only case)
    params       {name: tensor}, PyTorch state_dict names and layouts (OIHW, [out, in])
    output       forward output (absent for a loss-only case)
    grad_output  the gradient fed to backward (absent when the loss provides it)
    targets, loss, grad_logits
                 present when nn.CrossEntropyLoss (mean) follows the output:
                 loss is the scalar, grad_logits its gradient w.r.t. the logits
    grad_input   gradient w.r.t. the input
    param_grads  {name: tensor}
"""

import json
import math
import pathlib
import sys
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "layers" / "tests" / "fixtures"
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
    t = torch.round(torch.randn(shape, dtype=DT) * scale / step) * step
    return exact_f32(t)


def distinct(shape, step=1.0 / 16.0):
    """A shuffled ramp: all values distinct (no accidental ties), spaced `step` apart."""
    n = math.prod(shape)
    perm = torch.randperm(n).to(DT)
    return exact_f32(((perm - n // 2) * step).reshape(shape))


def levels(shape, values):
    """Each element drawn from the few `values`: ties in almost every window."""
    vals = torch.tensor(values, dtype=DT)
    return exact_f32(vals[torch.randint(len(values), shape)])


# --------------------------------------------------------------------------- json


def tensor_json(t):
    t = t.detach().to(DT).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def module_spec(m):
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
    if isinstance(m, nn.MaxPool2d):
        assert m.dilation in (1, (1, 1)) and not m.ceil_mode
        return {
            "type": "MaxPool2d",
            "kernel_size": pair(m.kernel_size),
            "stride": getattr(m, "_spec_stride", pair(m.stride)),
            "padding": pair(m.padding),
        }
    if isinstance(m, nn.AvgPool2d):
        assert not m.ceil_mode and m.divisor_override is None
        return {
            "type": "AvgPool2d",
            "kernel_size": pair(m.kernel_size),
            "stride": getattr(m, "_spec_stride", pair(m.stride)),
            "padding": pair(m.padding),
            "count_include_pad": m.count_include_pad,
        }
    if isinstance(m, nn.Linear):
        return {"type": "Dense", "in_features": m.in_features, "out_features": m.out_features}
    if isinstance(m, nn.Flatten):
        assert m.start_dim == 1 and m.end_dim == -1
        return {"type": "Flatten"}
    for cls, name in [(nn.ReLU, "ReLU"), (nn.Tanh, "Tanh"), (nn.Sigmoid, "Sigmoid")]:
        if isinstance(m, cls):
            return {"type": name}
    if isinstance(m, nn.Sequential):
        return {
            "type": "Sequential",
            "layers": [{"name": n, "layer": module_spec(c)} for n, c in m.named_children()],
        }
    raise TypeError(f"no spec for {m!r}")


def pair(v):
    return list(v) if isinstance(v, (tuple, list)) else [v, v]


def default_stride(pool):
    """Marks a pooling module built with stride=None, so the Rust side exercises its default too."""
    pool._spec_stride = None
    return pool


# --------------------------------------------------------------------------- checks


def margins(module, x):
    """Smallest distance of a decision from flipping in a model's forward:
    min |ReLU input|, and min over max-pool windows of (max − runner-up),
    except windows whose maximum is an exact 0 (ReLU-clamped, exact in f32 too).
    (For models only: their pool inputs are computed, so a float64 tie or
    near-tie might not be one in f32. Single-layer tie cases feed exact ties.)"""
    found = []

    def relu_hook(_m, inp, _out):
        found.append(inp[0].abs().min().item())

    def pool_hook(m, inp, _out):
        k, s, p = pair(m.kernel_size), pair(m.stride), pair(m.padding)
        v = F.pad(inp[0], (p[1], p[1], p[0], p[0]), value=-math.inf)
        cols = F.unfold(v, kernel_size=k, stride=s)  # [N, C*kh*kw, L]
        n, c = inp[0].shape[:2]
        cols = cols.reshape(n, c, k[0] * k[1], -1)
        top2 = cols.topk(2, dim=2).values
        gap = top2[:, :, 0] - top2[:, :, 1]
        # Windows whose maximum is an exact 0 from a ReLU tie exactly in f32 too.
        gap[top2[:, :, 0] == 0.0] = math.inf
        found.append(gap.min().item())

    hooks = []
    for m in module.modules():
        if isinstance(m, nn.ReLU):
            hooks.append(m.register_forward_hook(relu_hook))
        elif isinstance(m, nn.MaxPool2d):
            hooks.append(m.register_forward_hook(pool_hook))
    with torch.no_grad():
        module(x)
    for h in hooks:
        h.remove()
    return min(found, default=math.inf)


def first_max_reference(x, k, s, p):
    """Max-pool input gradient for grad_output = 1 with ties going to the first
    maximum in row-major order: the rule the tie fixtures claim PyTorch follows."""
    n, c, h, w = x.shape
    oh = (h + 2 * p[0] - k[0]) // s[0] + 1
    ow = (w + 2 * p[1] - k[1]) // s[1] + 1
    g = torch.zeros_like(x)
    for b in range(n):
        for ch in range(c):
            for oy in range(oh):
                for ox in range(ow):
                    best, where = -math.inf, None
                    for iy in range(oy * s[0] - p[0], oy * s[0] - p[0] + k[0]):
                        for ix in range(ox * s[1] - p[1], ox * s[1] - p[1] + k[1]):
                            if 0 <= iy < h and 0 <= ix < w:
                                v = x[b, ch, iy, ix].item()
                                if where is None or v > best:
                                    best, where = v, (iy, ix)
                    g[b, ch, where[0], where[1]] += 1.0
    return g


# --------------------------------------------------------------------------- cases

CASES = OrderedDict()


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def draw_params(module, scale=0.5):
    """Replaces every parameter with f32-exact values drawn from the current seed."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(grid(p.shape, scale=scale))


def run(name, description, seed, module, x, grad_output=None, targets=None, params_drawn=False):
    """Gives `module` f32-exact parameters (unless `params_drawn`), runs forward and
    backward in float64, and returns the fixture dict. Without `targets`,
    backward gets `grad_output` (drawn if not given); with them, the gradient
    of nn.CrossEntropyLoss."""
    module = module.to(DT)
    if not params_drawn:
        draw_params(module)
    params = OrderedDict()
    for pname, p in module.named_parameters():
        params[pname] = exact_f32(p.detach().clone())
    x = exact_f32(x.detach().clone()).requires_grad_(True)
    y = module(x)
    fixture = OrderedDict(
        case=name,
        description=description,
        torch_version=torch.__version__,
        seed=seed,
        layer=module_spec(module),
        input=tensor_json(x),
        params=OrderedDict((k, tensor_json(v)) for k, v in params.items()),
        output=tensor_json(y),
    )
    if targets is not None:
        y.retain_grad()
        loss = F.cross_entropy(y, targets)
        loss.backward()
        fixture["targets"] = targets.tolist()
        fixture["loss"] = loss.item()
        fixture["grad_logits"] = tensor_json(y.grad)
    else:
        if grad_output is None:
            grad_output = grid(y.shape)
        exact_f32(grad_output)
        assert grad_output.shape == y.shape
        y.backward(grad_output)
        fixture["grad_output"] = tensor_json(grad_output)
    fixture["grad_input"] = tensor_json(x.grad)
    fixture["param_grads"] = OrderedDict(
        (pname, tensor_json(p.grad)) for pname, p in module.named_parameters()
    )
    return fixture


def seeded(seed):
    torch.manual_seed(seed)
    return seed


def with_margin(name, description, seed, build, targets_fn):
    """Tries seeds seed, seed+1, … until every ReLU input and max-pool decision
    of the float64 forward is at least MARGIN from flipping, so scratchnet's f32
    forward takes the same branches as PyTorch's float64 one."""
    for s in range(seed, seed + 100):
        seeded(s)
        module, x = build()
        module = module.to(DT)
        targets = targets_fn()
        draw_params(module)
        if margins(module, x) >= MARGIN:
            return run(name, description, s, module, x, targets=targets, params_drawn=True)
    raise RuntimeError(f"{name}: no seed in 100 gave a margin of {MARGIN}")


# ---- max pooling -------------------------------------------------------------


@case
def maxpool_k2_default_stride():
    s = seeded(100)
    x = distinct((2, 3, 6, 8))
    return run("maxpool_k2_default_stride",
               "MaxPool2d(2) with stride left to default (= kernel); tiles the 6x8 input",
               s, default_stride(nn.MaxPool2d(2)), x)


@case
def maxpool_k3_s2_overlap_nonsquare():
    s = seeded(101)
    x = distinct((2, 2, 7, 9))
    # A large value where four overlapping windows meet: all four send it their gradient.
    x[:, :, 2, 4] = 100.0
    x[:, :, 4, 2] = 99.0
    return run("maxpool_k3_s2_overlap_nonsquare",
               "MaxPool2d(3, stride 2) on 7x9: overlapping windows, one element the max of 4 windows "
               "(gradients add)", s, nn.MaxPool2d(3, stride=2), x)


@case
def maxpool_k2_s1_overlap():
    s = seeded(102)
    x = distinct((1, 2, 5, 6))
    return run("maxpool_k2_s1_overlap",
               "MaxPool2d(2, stride 1): every interior element in 4 windows",
               s, nn.MaxPool2d(2, stride=1), x)


@case
def maxpool_k2_s3_gaps_untiled():
    s = seeded(103)
    x = distinct((2, 2, 8, 7))
    return run("maxpool_k2_s3_gaps_untiled",
               "MaxPool2d(2, stride 3) on 8x7: stride > kernel leaves rows/columns in no window; "
               "the last ones are dropped (floor mode)", s, nn.MaxPool2d(2, stride=3), x)


@case
def maxpool_k3_untiled():
    s = seeded(104)
    x = distinct((2, 2, 8, 10))
    return run("maxpool_k3_untiled",
               "MaxPool2d(3) on 8x10: windows do not tile the input, last 2 rows / 1 column unused",
               s, nn.MaxPool2d(3), x)


@case
def maxpool_k3_s2_pad1_nonsquare():
    s = seeded(105)
    x = distinct((2, 3, 6, 5)) - 20.0  # all negative: the -inf padding must still never win
    return run("maxpool_k3_s2_pad1_nonsquare",
               "MaxPool2d(3, stride 2, padding 1) on 6x5 all-negative input: padding is -inf",
               s, nn.MaxPool2d(3, stride=2, padding=1), x)


@case
def maxpool_nonsquare_kernel_pad():
    s = seeded(106)
    x = distinct((2, 2, 7, 8))
    return run("maxpool_nonsquare_kernel_pad",
               "MaxPool2d(kernel [3,2], stride [1,2], padding [1,1]) on 7x8",
               s, nn.MaxPool2d((3, 2), stride=(1, 2), padding=(1, 1)), x)


def tie_case(name, description, seed, pool, x):
    k, st, p = pair(pool.kernel_size), pair(pool.stride), pair(pool.padding)
    fixture = run(name, description, seed, pool, x)
    # Check the claim the fixture encodes: PyTorch sends each window's gradient to
    # the first maximum in row-major order.
    xx = x.clone().requires_grad_(True)
    pool(xx).backward(torch.ones_like(pool(xx)))
    assert torch.equal(xx.grad, first_max_reference(x, k, st, p)), f"{name}: PyTorch tie rule changed?"
    return fixture


@case
def maxpool_ties_k2():
    s = seeded(110)
    x = levels((2, 2, 6, 8), [0.0, 0.5, 1.0])
    x[0, 0] = 0.75  # a constant plane: every window is an all-way tie
    x[0, 1, 0:2, 0:2] = torch.tensor([[1.0, 3.0], [3.0, 2.0]])  # tie at (0,1) and (1,0)
    x[0, 1, 0:2, 2:4] = torch.tensor([[3.0, 1.0], [1.0, 3.0]])  # tie on the diagonal
    x[0, 1, 0:2, 4:6] = torch.tensor([[0.0, 0.0], [2.0, 2.0]])  # tie in the second row
    x[0, 1, 0:2, 6:8] = torch.tensor([[-1.0, -1.0], [-1.0, -1.0]])  # negative all-way tie
    return tie_case("maxpool_ties_k2",
                    "MaxPool2d(2) with exact ties: the first maximum in row-major order takes the gradient",
                    s, nn.MaxPool2d(2), x)


@case
def maxpool_ties_k3_s1_overlap():
    s = seeded(111)
    x = levels((2, 2, 6, 7), [0.0, 0.25, 0.5])
    x[1, 0] = -0.5  # constant plane, overlapping windows
    return tie_case("maxpool_ties_k3_s1_overlap",
                    "MaxPool2d(3, stride 1) with exact ties in overlapping windows: windows sharing a "
                    "first maximum add their gradients there", s, nn.MaxPool2d(3, stride=1), x)


@case
def maxpool_ties_k3_s2_pad1():
    s = seeded(112)
    x = levels((2, 2, 7, 6), [-1.0, 0.0, 1.0])
    x[0, 0] = -2.0  # constant negative plane: padding (-inf) must lose, first real element wins
    return tie_case("maxpool_ties_k3_s2_pad1",
                    "MaxPool2d(3, stride 2, padding 1) with exact ties, incl. a constant negative plane",
                    s, nn.MaxPool2d(3, stride=2, padding=1), x)


@case
def maxpool_ties_nonsquare_untiled():
    s = seeded(113)
    x = levels((1, 3, 5, 8), [0.0, 1.0])
    return tie_case("maxpool_ties_nonsquare_untiled",
                    "MaxPool2d(kernel [2,3], stride [2,2]) on 5x8 with 0/1 inputs: ties, overlap in width, "
                    "untiled rows", s, nn.MaxPool2d((2, 3), stride=(2, 2)), x)


# ---- average pooling -----------------------------------------------------------


@case
def avgpool_k2_default_stride_untiled():
    s = seeded(120)
    x = grid((2, 2, 5, 7))
    return run("avgpool_k2_default_stride_untiled",
               "AvgPool2d(2), stride default, on 5x7: last row and column unused",
               s, default_stride(nn.AvgPool2d(2)), x)


@case
def avgpool_k3_s2_overlap_nonsquare():
    s = seeded(121)
    x = grid((2, 3, 7, 9))
    return run("avgpool_k3_s2_overlap_nonsquare",
               "AvgPool2d(3, stride 2) on 7x9: overlapping windows add their gradients",
               s, nn.AvgPool2d(3, stride=2), x)


@case
def avgpool_k3_s2_pad1_count_include_pad():
    s = seeded(122)
    x = grid((2, 2, 6, 5))
    return run("avgpool_k3_s2_pad1_count_include_pad",
               "AvgPool2d(3, stride 2, padding 1, count_include_pad=True): always divide by 9",
               s, nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True), x)


@case
def avgpool_k3_s2_pad1_exclude_pad():
    s = seeded(123)
    x = grid((2, 2, 6, 5))
    return run("avgpool_k3_s2_pad1_exclude_pad",
               "AvgPool2d(3, stride 2, padding 1, count_include_pad=False): divide by real elements",
               s, nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), x)


@case
def avgpool_nonsquare_kernel_pad_exclude():
    s = seeded(124)
    x = grid((1, 2, 7, 6))
    return run("avgpool_nonsquare_kernel_pad_exclude",
               "AvgPool2d(kernel [3,2], stride [2,1], padding [1,1], count_include_pad=False) on 7x6",
               s, nn.AvgPool2d((3, 2), stride=(2, 1), padding=(1, 1), count_include_pad=False), x)


@case
def avgpool_nonsquare_kernel_pad_include():
    s = seeded(125)
    x = grid((1, 2, 7, 6))
    return run("avgpool_nonsquare_kernel_pad_include",
               "AvgPool2d(kernel [2,3], stride [1,2], padding [1,1], count_include_pad=True) on 7x6",
               s, nn.AvgPool2d((2, 3), stride=(1, 2), padding=(1, 1), count_include_pad=True), x)


# ---- convolution ---------------------------------------------------------------


@case
def conv_k3_basic():
    s = seeded(130)
    return run("conv_k3_basic", "Conv2d(2, 3, 3) on 6x6",
               s, nn.Conv2d(2, 3, 3), grid((2, 2, 6, 6)))


@case
def conv_stride_pad_nonsquare_kernel():
    s = seeded(131)
    return run("conv_stride_pad_nonsquare_kernel",
               "Conv2d(2, 3, kernel [3,2], stride [2,1], padding [1,0]) on 7x5",
               s, nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0)), grid((2, 2, 7, 5)))


@case
def conv_stride2_untiled_pad2():
    s = seeded(132)
    return run("conv_stride2_untiled_pad2",
               "Conv2d(3, 2, kernel [2,4], stride 2, padding 2) on 6x9: the windows do not tile "
               "the padded input", s, nn.Conv2d(3, 2, (2, 4), stride=2, padding=2), grid((2, 3, 6, 9)))


@case
def conv_dilation():
    s = seeded(133)
    return run("conv_dilation",
               "Conv2d(2, 3, 3, dilation [2,1], padding [2,1]) on 7x6",
               s, nn.Conv2d(2, 3, 3, dilation=(2, 1), padding=(2, 1)), grid((2, 2, 7, 6)))


@case
def conv_groups():
    s = seeded(134)
    return run("conv_groups", "Conv2d(4, 6, 3, groups 2, padding 1) on 5x6",
               s, nn.Conv2d(4, 6, 3, groups=2, padding=1), grid((2, 4, 5, 6)))


@case
def conv_depthwise():
    s = seeded(135)
    return run("conv_depthwise", "Conv2d(3, 6, [3,3], groups 3, stride 2) on 7x7 (depthwise, multiplier 2)",
               s, nn.Conv2d(3, 6, 3, groups=3, stride=2), grid((2, 3, 7, 7)))


@case
def conv_no_bias():
    s = seeded(136)
    return run("conv_no_bias", "Conv2d(2, 4, [2,3], padding 1, bias=False) on 5x4",
               s, nn.Conv2d(2, 4, (2, 3), padding=1, bias=False), grid((3, 2, 5, 4)))


@case
def conv_everything():
    s = seeded(137)
    return run("conv_everything",
               "Conv2d(4, 4, kernel [3,2], stride [2,3], padding [2,1], dilation [1,2], groups 2) on 8x9",
               s, nn.Conv2d(4, 4, (3, 2), stride=(2, 3), padding=(2, 1), dilation=(1, 2), groups=2),
               grid((2, 4, 8, 9)))


@case
def conv_1x1():
    s = seeded(138)
    return run("conv_1x1", "Conv2d(3, 2, 1) on 3x4", s, nn.Conv2d(3, 2, 1), grid((2, 3, 3, 4)))


# ---- dense, activations, flatten -------------------------------------------------


@case
def dense():
    s = seeded(140)
    return run("dense", "Dense(7 -> 4) on a batch of 3", s, nn.Linear(7, 4), grid((3, 7)))


@case
def relu():
    s = seeded(141)
    x = grid((3, 2, 4, 5))
    x[0, 0, 0, :] = 0.0  # exactly 0: PyTorch's gradient there is 0
    return run("relu", "ReLU on NCHW, with exact zeros (gradient 0 there)", s, nn.ReLU(), x)


@case
def tanh():
    s = seeded(142)
    return run("tanh", "Tanh on [N, F]", s, nn.Tanh(), grid((4, 9), scale=1.5))


@case
def sigmoid():
    s = seeded(143)
    x = grid((3, 10), scale=2.0)
    x[0, :4] = torch.tensor([-30.0, -12.0, 12.0, 30.0])  # saturated ends
    return run("sigmoid", "Sigmoid on [N, F], including saturated inputs (±12, ±30)", s, nn.Sigmoid(), x)


@case
def flatten():
    s = seeded(144)
    return run("flatten", "Flatten [N, C, H, W] -> [N, C*H*W]", s, nn.Flatten(), grid((2, 3, 2, 4)))


# ---- loss -----------------------------------------------------------------------


def loss_case(name, description, seed, logits, targets):
    exact_f32(logits)
    x = logits.clone().requires_grad_(True)
    loss = F.cross_entropy(x, targets)
    loss.backward()
    assert math.isfinite(loss.item())
    return OrderedDict(
        case=name,
        description=description,
        torch_version=torch.__version__,
        seed=seed,
        layer=None,
        input=tensor_json(logits),
        params={},
        targets=targets.tolist(),
        loss=loss.item(),
        grad_logits=tensor_json(x.grad),
        grad_input=tensor_json(x.grad),
        param_grads={},
    )


@case
def loss_basic():
    s = seeded(150)
    return loss_case("loss_basic", "CrossEntropyLoss (mean) on random logits, N=4, K=5",
                     s, grid((4, 5), scale=2.0), torch.randint(5, (4,)))


@case
def loss_huge_logits():
    s = seeded(151)
    q = 1.0 / 1024.0
    logits = torch.tensor([
        [1000.0, -1000.0, 999.0, 0.0],          # target the top logit
        [1000.0, -1000.0, 999.0, 0.0],          # target the -1000 logit: loss ~ 2000
        [-1000.0, -1000.0, -1000.0, -1000.0],   # all equal and hugely negative: uniform
        [1000.0, 1000.0, -1000.0, 998.5],       # tied huge maxima
        [-1000.0, -999.0 - 3 * q, -1000.0 + 517 * q, 1000.0 - 77 * q],  # fractional parts
    ])
    return loss_case("loss_huge_logits",
                     "CrossEntropyLoss with logits of ±1000: must stay finite and exact",
                     s, logits, torch.tensor([0, 1, 2, 3, 2]))


# ---- models ----------------------------------------------------------------------


@case
def lenet_minimal():
    def build():
        model = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, 4, 3, padding=1)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(4 * 4 * 4, 5)),
        ]))
        return model, grid((3, 1, 9, 9))

    return with_margin("lenet_minimal",
                       "conv(1->4, 3x3, pad 1) -> ReLU -> MaxPool(2) on 9x9 (untiled) -> Flatten -> "
                       "Dense(64 -> 5) -> CrossEntropyLoss", 160, build,
                       lambda: torch.randint(5, (3,)))


@case
def lenet():
    def build():
        model = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, 3, 3, padding=1)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(3, 4, 3)),
            ("tanh2", nn.Tanh()),
            ("pool2", nn.AvgPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(16, 8)),
            ("sig3", nn.Sigmoid()),
            ("fc2", nn.Linear(8, 6)),
        ]))
        return model, grid((4, 1, 12, 12))

    return with_margin("lenet",
                       "LeNet-like: conv1 -> ReLU -> MaxPool -> conv2 -> Tanh -> AvgPool -> Flatten -> "
                       "fc1 -> Sigmoid -> fc2 -> CrossEntropyLoss, 12x12 input", 170, build,
                       lambda: torch.randint(6, (4,)))


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
    assert total < 500 * 1024, "fixtures too large"
    return 0


if __name__ == "__main__":
    sys.exit(main())
