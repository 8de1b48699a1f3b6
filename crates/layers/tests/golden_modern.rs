//! The layers modern CNNs use (ConvTranspose2d, Upsample, AdaptiveAvgPool2d,
//! SiLU, GELU, GroupNorm, LayerNorm, Dense without bias) against PyTorch.
//!
//! The fixtures in `tests/fixtures_modern/` are written by
//! `tools/golden/generate_modern.py` (PyTorch, float64, inputs exact in f32; see
//! its docstring for the JSON layout). Each case builds the layer from its spec
//! and runs one training forward and one backward, compared with PyTorch by the
//! harness of `golden_one_step/` (its docs: what is compared and the tolerance).

mod golden_fixtures;
mod golden_one_step;

use golden_fixtures::{golden_cases, FixtureSet};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::*;
use serde::Deserialize;

const FIXTURES: FixtureSet = FixtureSet {
    dir: "tests/fixtures_modern",
    generator: "tools/golden/generate_modern.py",
};

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Spec {
    ConvTranspose2d {
        in_channels: usize,
        out_channels: usize,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        output_padding: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
        bias: bool,
    },
    Upsample {
        size: Option<[usize; 2]>,
        scale_factor: Option<[f64; 2]>,
        mode: String,
        align_corners: bool,
    },
    AdaptiveAvgPool2d {
        output_size: [usize; 2],
    },
    SiLU,
    #[serde(rename = "GELU")]
    Gelu {
        approximate: String,
    },
    GroupNorm {
        num_groups: usize,
        num_channels: usize,
        eps: f64,
        affine: bool,
    },
    LayerNorm {
        normalized_shape: Vec<usize>,
        eps: f64,
        elementwise_affine: bool,
        bias: bool,
    },
    Dense {
        in_features: usize,
        out_features: usize,
        bias: bool,
    },
}

/// Builds the layer a spec describes; parameter values are loaded afterwards.
fn build(spec: &Spec) -> Box<dyn Layer> {
    let mut rng = StdRng::seed_from_u64(0);
    match spec {
        &Spec::ConvTranspose2d {
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            output_padding,
            dilation,
            groups,
            bias,
        } => Box::new(ConvTranspose2d::new(
            in_channels,
            out_channels,
            kernel_size,
            ConvTranspose2dConfig {
                stride,
                padding,
                output_padding,
                dilation,
                groups,
                bias,
            },
            &mut rng,
        )),
        Spec::Upsample {
            size,
            scale_factor,
            mode,
            align_corners,
        } => {
            let size = match (size, scale_factor) {
                (Some(size), None) => UpsampleSize::Size(*size),
                (None, Some(factor)) => UpsampleSize::ScaleFactor(*factor),
                _ => panic!("Upsample: exactly one of size and scale_factor"),
            };
            let mode = match mode.as_str() {
                "nearest" => UpsampleMode::Nearest,
                "bilinear" => UpsampleMode::Bilinear,
                other => panic!("unknown Upsample mode {other:?}"),
            };
            Box::new(Upsample::new(UpsampleConfig {
                size,
                mode,
                align_corners: *align_corners,
            }))
        }
        &Spec::AdaptiveAvgPool2d { output_size } => Box::new(AdaptiveAvgPool2d::new(output_size)),
        Spec::SiLU => Box::new(SiLU::new()),
        Spec::Gelu { approximate } => {
            let approximate = match approximate.as_str() {
                "none" => GeluApproximate::None,
                "tanh" => GeluApproximate::Tanh,
                other => panic!("unknown GELU approximation {other:?}"),
            };
            Box::new(GELU::new(GeluConfig { approximate }))
        }
        &Spec::GroupNorm {
            num_groups,
            num_channels,
            eps,
            affine,
        } => Box::new(GroupNorm::new(
            num_groups,
            num_channels,
            GroupNormConfig {
                eps: eps as f32,
                affine,
            },
        )),
        Spec::LayerNorm {
            normalized_shape,
            eps,
            elementwise_affine,
            bias,
        } => Box::new(LayerNorm::new(
            normalized_shape,
            LayerNormConfig {
                eps: *eps as f32,
                elementwise_affine: *elementwise_affine,
                bias: *bias,
            },
        )),
        &Spec::Dense {
            in_features,
            out_features,
            bias,
        } => Box::new(if bias {
            Dense::new(in_features, out_features, &mut rng)
        } else {
            Dense::without_bias(in_features, out_features, &mut rng)
        }),
    }
}

fn run_case(name: &str) {
    golden_one_step::run_case(&FIXTURES, name, build);
}

golden_cases!(
    run_case;
    conv_transpose2d_basic,
    conv_transpose2d_stride2_padding_output_padding,
    conv_transpose2d_groups_dilation,
    conv_transpose2d_stride_larger_than_kernel,
    conv_transpose2d_depthwise,
    conv_transpose2d_output_padding_from_dilation,
    upsample_nearest_scale2,
    upsample_nearest_size_odd,
    upsample_nearest_scale_fractional,
    upsample_nearest_down,
    upsample_nearest_special_sizes,
    upsample_bilinear_unchanged_axis,
    upsample_bilinear_scale2,
    upsample_bilinear_size_odd,
    upsample_bilinear_scale_fractional,
    upsample_bilinear_align_corners_size,
    upsample_bilinear_align_corners_scale2,
    upsample_bilinear_align_corners_one_row,
    adaptive_avg_pool2d_overlapping,
    adaptive_avg_pool2d_global,
    adaptive_avg_pool2d_larger_output,
    adaptive_avg_pool2d_divisible,
    silu,
    silu_features,
    gelu_exact,
    gelu_tanh,
    group_norm_two_groups,
    group_norm_instance,
    group_norm_one_group_no_affine,
    group_norm_features,
    group_norm_shifted,
    layer_norm_chw,
    layer_norm_features,
    layer_norm_last_axis,
    layer_norm_no_affine,
    layer_norm_no_bias,
    dense_without_bias,
);

#[test]
fn every_fixture_has_a_test() {
    FIXTURES.assert_every_fixture_has_a_case(CASES);
}
