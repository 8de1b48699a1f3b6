#!/usr/bin/env python3
"""Golden fixtures for the layers modern CNNs use (ConvTranspose2d, Upsample,
AdaptiveAvgPool2d, SiLU, GELU, GroupNorm, LayerNorm, Linear without bias),
computed by PyTorch in float64.

How to run (from the repository root; needs only torch):

    /tmp/scratchnet-bench-venv/bin/python tools/golden/generate_modern.py

It (re)writes crates/layers/tests/fixtures_modern/<case>.json, one file per case,
and deletes stale *.json files there. crates/layers/tests/golden_modern.rs has one
#[test] per case and fails if a fixture has no test. The output is deterministic
(fixed torch seed per case).

Conventions are those of generate_more.py: float64 torch; every value the Rust
side reads (input, parameters, grad_output) is exactly representable in f32
(multiples of 1/256 of modest size, checked by `exact_f32`), so the expected values
are PyTorch's float64 results for exactly the f32 inputs the Rust test uses.
Hyper-parameters are f32-exact, except PyTorch's default eps = 1e-5 (rounded by
f32 by ~1e-8 relative, far below the 1e-4 the tests allow).

JSON layout of a case (tensors are {"shape": [...], "data": [row-major floats]}):
    case, description, torch_version, seed
    layer        {"type": "ConvTranspose2d", in_channels, out_channels, kernel_size, stride,
                  padding, output_padding, dilation, groups, bias}
                 {"type": "Upsample", size (or null), scale_factor (or null),
                  mode ("nearest" | "bilinear"), align_corners (bool)}
                 {"type": "AdaptiveAvgPool2d", output_size}
                 {"type": "SiLU"}
                 {"type": "GELU", approximate ("none" | "tanh")}
                 {"type": "GroupNorm", num_groups, num_channels, eps, affine}
                 {"type": "LayerNorm", normalized_shape, eps, elementwise_affine, bias}
                 {"type": "Dense", in_features, out_features, bias}
    input        the layer's input
    params       {name: tensor}, PyTorch state_dict names (weight, bias)
    output       forward output (training mode)
    grad_output  the gradient fed to backward
    grad_input   gradient w.r.t. the input
    param_grads  {name: tensor}
"""

import json
import pathlib
from collections import OrderedDict

import torch
import torch.nn as nn

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "layers" / "tests" / "fixtures_modern"
DT = torch.float64
STEP = 1.0 / 256.0

torch.set_default_dtype(DT)
torch.use_deterministic_algorithms(True)


def exact_f32(t):
    """Asserts every value of `t` survives a round trip through float32."""
    assert torch.equal(t, t.float().double()), "value not exactly representable in f32"
    return t


def grid(shape, scale=1.0, step=STEP):
    """Normal(0, scale) values rounded to multiples of `step` (exact in f32)."""
    return exact_f32(torch.round(torch.randn(shape, dtype=DT) * scale / step) * step)


def tensor_json(t):
    t = t.detach().to(DT).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def pair(v):
    return list(v) if isinstance(v, (tuple, list)) else [v, v]


def module_spec(m):
    if isinstance(m, nn.ConvTranspose2d):
        return {
            "type": "ConvTranspose2d",
            "in_channels": m.in_channels,
            "out_channels": m.out_channels,
            "kernel_size": list(m.kernel_size),
            "stride": list(m.stride),
            "padding": list(m.padding),
            "output_padding": list(m.output_padding),
            "dilation": list(m.dilation),
            "groups": m.groups,
            "bias": m.bias is not None,
        }
    if isinstance(m, nn.Upsample):
        return {
            "type": "Upsample",
            "size": pair(m.size) if m.size is not None else None,
            "scale_factor": [float(f) for f in pair(m.scale_factor)]
            if m.scale_factor is not None else None,
            "mode": m.mode,
            "align_corners": bool(m.align_corners),
        }
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return {"type": "AdaptiveAvgPool2d", "output_size": pair(m.output_size)}
    if isinstance(m, nn.SiLU):
        return {"type": "SiLU"}
    if isinstance(m, nn.GELU):
        return {"type": "GELU", "approximate": m.approximate}
    if isinstance(m, nn.GroupNorm):
        return {"type": "GroupNorm", "num_groups": m.num_groups, "num_channels": m.num_channels,
                "eps": m.eps, "affine": m.affine}
    if isinstance(m, nn.LayerNorm):
        return {"type": "LayerNorm", "normalized_shape": list(m.normalized_shape), "eps": m.eps,
                "elementwise_affine": m.elementwise_affine, "bias": m.bias is not None}
    if isinstance(m, nn.Linear):
        return {"type": "Dense", "in_features": m.in_features, "out_features": m.out_features,
                "bias": m.bias is not None}
    raise TypeError(f"no spec for {m!r}")


CASES = OrderedDict()


def case(description, seed):
    def register(fn):
        def make():
            torch.manual_seed(seed)
            module, x = fn()
            return run(fn.__name__, description, seed, module, x)
        CASES[fn.__name__] = make
        return fn
    return register


def run(name, description, seed, module, x, weight_scale=0.5):
    """Sets `module`'s parameters to f32-exact values, runs forward (training mode)
    and backward in float64, and returns the fixture dict."""
    module = module.to(DT)
    with torch.no_grad():
        for _, p in module.named_parameters():
            p.copy_(grid(p.shape, scale=weight_scale))
    params = OrderedDict((k, p.detach().clone()) for k, p in module.named_parameters())
    module.train()
    x = exact_f32(x.detach().clone()).requires_grad_(True)
    y = module(x)
    grad_output = grid(y.shape)
    y.backward(grad_output)
    return OrderedDict(
        case=name,
        description=description,
        torch_version=torch.__version__,
        seed=seed,
        layer=module_spec(module),
        input=tensor_json(x),
        params=OrderedDict((k, tensor_json(v)) for k, v in params.items()),
        output=tensor_json(y),
        grad_output=tensor_json(grad_output),
        grad_input=tensor_json(x.grad),
        param_grads=OrderedDict((k, tensor_json(p.grad)) for k, p in module.named_parameters()),
    )


# ---- transposed convolution --------------------------------------------------------


@case("ConvTranspose2d(3, 2, 3): stride 1, no padding, on 3x4 images", 300)
def conv_transpose2d_basic():
    return nn.ConvTranspose2d(3, 2, 3), grid((2, 3, 3, 4))


@case("ConvTranspose2d(4, 3, [3, 2], stride 2, padding 1, output_padding 1) on odd 3x5 "
      "images: the upsampling of a decoder", 301)
def conv_transpose2d_stride2_padding_output_padding():
    return (nn.ConvTranspose2d(4, 3, (3, 2), stride=2, padding=1, output_padding=1),
            grid((1, 4, 3, 5)))


@case("ConvTranspose2d(4, 6, 3, groups 2, dilation 2, stride [2, 1], padding [2, 1], "
      "output_padding [1, 0], no bias)", 302)
def conv_transpose2d_groups_dilation():
    return (nn.ConvTranspose2d(4, 6, 3, stride=(2, 1), padding=(2, 1), output_padding=(1, 0),
                               groups=2, dilation=2, bias=False),
            grid((1, 4, 3, 3)))


@case("ConvTranspose2d(2, 3, 2, stride 3): kernel smaller than the stride, so output pixels "
      "between the patches get only the bias", 303)
def conv_transpose2d_stride_larger_than_kernel():
    return nn.ConvTranspose2d(2, 3, 2, stride=3), grid((1, 2, 3, 2))


@case("ConvTranspose2d(2, 3, 3, dilation 2, padding 1, output_padding 1): an output padding "
      "not smaller than the stride (1), allowed by the dilation", 305)
def conv_transpose2d_output_padding_from_dilation():
    return (nn.ConvTranspose2d(2, 3, 3, padding=1, output_padding=1, dilation=2),
            grid((1, 2, 3, 4)))


@case("ConvTranspose2d(3, 3, 3, groups 3, padding 1): depthwise, same size", 304)
def conv_transpose2d_depthwise():
    return nn.ConvTranspose2d(3, 3, 3, padding=1, groups=3), grid((2, 3, 4, 4))


# ---- upsampling --------------------------------------------------------------------


@case("Upsample(scale_factor=2, nearest) on odd 3x5 images", 310)
def upsample_nearest_scale2():
    return nn.Upsample(scale_factor=2, mode="nearest"), grid((2, 2, 3, 5))


@case("Upsample(size=[5, 7], nearest) from 3x4: non-integer ratios", 311)
def upsample_nearest_size_odd():
    return nn.Upsample(size=(5, 7), mode="nearest"), grid((1, 2, 3, 4))


@case("Upsample(scale_factor=[1.7, 2.5], nearest) on 5x3: the factor, not the size ratio, "
      "places the pixels (1/1.7 and 5/8 pick different rows)", 312)
def upsample_nearest_scale_fractional():
    return nn.Upsample(scale_factor=(1.7, 2.5), mode="nearest"), grid((2, 1, 5, 3))


@case("Upsample(scale_factor=[2.1, 1.2], nearest) on 5x3: sizes 10 = 2·5 and 3 = 3, which "
      "PyTorch maps as o // 2 and as a copy, not through the factor", 325)
def upsample_nearest_special_sizes():
    return nn.Upsample(scale_factor=(2.1, 1.2), mode="nearest"), grid((1, 2, 5, 3))


@case("Upsample(scale_factor=[1.2, 2], bilinear) on 3x3: the unchanged axis is copied", 326)
def upsample_bilinear_unchanged_axis():
    return nn.Upsample(scale_factor=(1.2, 2.0), mode="bilinear"), grid((1, 2, 3, 3))


@case("Upsample(size=[2, 3], nearest) from 5x7: downsampling", 313)
def upsample_nearest_down():
    return nn.Upsample(size=(2, 3), mode="nearest"), grid((1, 2, 5, 7))


@case("Upsample(scale_factor=2, bilinear, align_corners=False) on 3x4", 314)
def upsample_bilinear_scale2():
    return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), grid((2, 2, 3, 4))


@case("Upsample(size=[7, 3], bilinear, align_corners=False) from 3x5: up in H, down in W", 315)
def upsample_bilinear_size_odd():
    return nn.Upsample(size=(7, 3), mode="bilinear", align_corners=False), grid((1, 2, 3, 5))


@case("Upsample(scale_factor=[1.5, 3], bilinear, align_corners=False) on 3x2", 316)
def upsample_bilinear_scale_fractional():
    return (nn.Upsample(scale_factor=(1.5, 3.0), mode="bilinear", align_corners=False),
            grid((1, 2, 3, 2)))


@case("Upsample(size=[7, 5], bilinear, align_corners=True) from 3x4", 317)
def upsample_bilinear_align_corners_size():
    return nn.Upsample(size=(7, 5), mode="bilinear", align_corners=True), grid((2, 1, 3, 4))


@case("Upsample(scale_factor=2, bilinear, align_corners=True) on 4x1 (one column: "
      "output width 2 reads it twice)", 318)
def upsample_bilinear_align_corners_scale2():
    return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), grid((1, 2, 4, 1))


@case("Upsample(size=[1, 4], bilinear, align_corners=True) from 3x3: an output of one row "
      "reads row 0", 319)
def upsample_bilinear_align_corners_one_row():
    return nn.Upsample(size=(1, 4), mode="bilinear", align_corners=True), grid((1, 1, 3, 3))


# ---- adaptive average pooling -------------------------------------------------------


@case("AdaptiveAvgPool2d([3, 4]) on 5x7: overlapping windows of unequal sizes", 320)
def adaptive_avg_pool2d_overlapping():
    return nn.AdaptiveAvgPool2d((3, 4)), grid((2, 2, 5, 7))


@case("AdaptiveAvgPool2d(1) on 3x5", 321)
def adaptive_avg_pool2d_global():
    return nn.AdaptiveAvgPool2d(1), grid((2, 3, 3, 5))


@case("AdaptiveAvgPool2d([4, 5]) on 2x3: an output larger than the input", 322)
def adaptive_avg_pool2d_larger_output():
    return nn.AdaptiveAvgPool2d((4, 5)), grid((1, 2, 2, 3))


@case("AdaptiveAvgPool2d([2, 2]) on 6x4: disjoint equal windows (plain 3x2 average pooling)", 323)
def adaptive_avg_pool2d_divisible():
    return nn.AdaptiveAvgPool2d((2, 2)), grid((2, 1, 6, 4))


# ---- activations ------------------------------------------------------------------


@case("SiLU on NCHW values spread over [-8, 8]", 330)
def silu():
    return nn.SiLU(), grid((2, 2, 3, 4), scale=3.0)


@case("SiLU on [N, F]", 331)
def silu_features():
    return nn.SiLU(), grid((3, 7))


@case("GELU() exact (erf) on NCHW values spread over [-8, 8]", 332)
def gelu_exact():
    return nn.GELU(), grid((2, 2, 3, 4), scale=3.0)


@case("GELU(approximate='tanh') on NCHW values spread over [-8, 8]", 333)
def gelu_tanh():
    return nn.GELU(approximate="tanh"), grid((2, 2, 3, 4), scale=3.0)


# ---- normalisation ----------------------------------------------------------------


@case("GroupNorm(2, 6) on 2x3 images, affine", 340)
def group_norm_two_groups():
    return nn.GroupNorm(2, 6), grid((2, 6, 2, 3))


@case("GroupNorm(4, 4, eps=1/64): one channel per group (instance normalisation)", 341)
def group_norm_instance():
    return nn.GroupNorm(4, 4, eps=1.0 / 64.0), grid((2, 4, 2, 3), scale=2.0)


@case("GroupNorm(1, 3, affine=False) on a single sample: layer norm over C, H, W", 342)
def group_norm_one_group_no_affine():
    return nn.GroupNorm(1, 3, affine=False), grid((1, 3, 4, 3))


@case("GroupNorm(3, 6) on [N, C] features (two values per group)", 343)
def group_norm_features():
    return nn.GroupNorm(3, 6, eps=1.0 / 16.0), grid((4, 6))


@case("GroupNorm(2, 4) on a shifted input (means 50 and -20, spread 0.5)", 344)
def group_norm_shifted():
    x = grid((2, 4, 3, 3), scale=0.5)
    x[:, :2] += 50.0
    x[:, 2:] -= 20.0
    return nn.GroupNorm(2, 4), exact_f32(x)


@case("LayerNorm([3, 3, 4]) over C, H, W of images", 350)
def layer_norm_chw():
    return nn.LayerNorm((3, 3, 4)), grid((2, 3, 3, 4))


@case("LayerNorm([7]) over features", 351)
def layer_norm_features():
    return nn.LayerNorm(7), grid((3, 7), scale=2.0)


@case("LayerNorm([5], eps=1/64) over the last axis of [N, C, H, W] (rows normalised separately)",
      352)
def layer_norm_last_axis():
    return nn.LayerNorm(5, eps=1.0 / 64.0), grid((2, 2, 3, 5))


@case("LayerNorm([2, 3], elementwise_affine=False) over H, W", 353)
def layer_norm_no_affine():
    return nn.LayerNorm((2, 3), elementwise_affine=False), grid((2, 3, 2, 3))


@case("LayerNorm([6], bias=False): a weight and no bias", 354)
def layer_norm_no_bias():
    return nn.LayerNorm(6, bias=False), grid((4, 6))


# ---- dense ------------------------------------------------------------------------


@case("Linear(5, 3, bias=False)", 360)
def dense_without_bias():
    return nn.Linear(5, 3, bias=False), grid((4, 5))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    written = set()
    total = 0
    for name, make in CASES.items():
        fixture = make()
        assert fixture["case"] == name, (fixture["case"], name)
        text = json.dumps(fixture, indent=None, separators=(",", ":")) + "\n"
        path = OUT / f"{name}.json"
        path.write_text(text)
        written.add(path.name)
        total += len(text)
    for stale in OUT.glob("*.json"):
        if stale.name not in written:
            stale.unlink()
    print(f"wrote {len(written)} fixtures ({total} bytes) to {OUT}")


if __name__ == "__main__":
    main()
