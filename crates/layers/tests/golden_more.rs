//! scratchnet's BatchNorm2d, LeakyReLU and GlobalAvgPool2d against PyTorch.
//!
//! The fixtures in `tests/fixtures_more/` are written by
//! `tools/golden/generate_more.py` (PyTorch, float64, inputs exact in f32; see
//! its docstring for the JSON layout). Each case builds the layer from its
//! spec and runs one forward in the fixture's mode and one backward, compared
//! with PyTorch by the harness of `golden_one_step/` (its docs: what is compared
//! and the tolerance). Every current fixture passes even without the tolerance's
//! floor (the worst element is at 0.12 × tolerance; most are below 1e-3 ×).

mod golden_fixtures;
mod golden_one_step;

use golden_fixtures::{golden_cases, FixtureSet};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::*;
use serde::Deserialize;

const FIXTURES: FixtureSet = FixtureSet {
    dir: "tests/fixtures_more",
    generator: "tools/golden/generate_more.py",
};

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Spec {
    BatchNorm2d {
        num_features: usize,
        eps: f64,
        momentum: f64,
        affine: bool,
        track_running_stats: bool,
    },
    LeakyReLU {
        negative_slope: f64,
    },
    GlobalAvgPool2d,
    Conv2d {
        in_channels: usize,
        out_channels: usize,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
        bias: bool,
    },
    Dense {
        in_features: usize,
        out_features: usize,
    },
    Sequential {
        layers: Vec<NamedSpec>,
    },
}

#[derive(Deserialize)]
struct NamedSpec {
    name: String,
    layer: Spec,
}

/// Builds the layer a spec describes; parameter values are loaded afterwards.
fn build(spec: &Spec) -> Box<dyn Layer> {
    let mut rng = StdRng::seed_from_u64(0);
    match spec {
        &Spec::BatchNorm2d {
            num_features,
            eps,
            momentum,
            affine,
            track_running_stats,
        } => Box::new(BatchNorm2d::new(
            num_features,
            BatchNorm2dConfig {
                eps: eps as f32,
                momentum: momentum as f32,
                affine,
                track_running_stats,
            },
        )),
        &Spec::LeakyReLU { negative_slope } => Box::new(LeakyReLU::new(negative_slope as f32)),
        Spec::GlobalAvgPool2d => Box::new(GlobalAvgPool2d::new()),
        &Spec::Conv2d {
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
        } => Box::new(Conv2d::new(
            in_channels,
            out_channels,
            kernel_size,
            Conv2dConfig {
                stride,
                padding,
                dilation,
                groups,
                bias,
            },
            &mut rng,
        )),
        &Spec::Dense {
            in_features,
            out_features,
        } => Box::new(Dense::new(in_features, out_features, &mut rng)),
        Spec::Sequential { layers } => {
            let mut model = Sequential::new();
            for child in layers {
                model.push(child.name.clone(), build(&child.layer));
            }
            Box::new(model)
        }
    }
}

fn run_case(name: &str) {
    golden_one_step::run_case(&FIXTURES, name, build);
}

golden_cases!(
    run_case;
    batch_norm2d_train_default,
    batch_norm2d_train_loaded_stats_custom,
    batch_norm2d_train_shifted_input,
    batch_norm2d_train_two_pixels,
    batch_norm2d_train_no_affine,
    batch_norm2d_eval_loaded_stats,
    batch_norm2d_eval_single_value,
    batch_norm2d_eval_untracked,
    leaky_relu_default,
    leaky_relu_slope_quarter,
    leaky_relu_negative_slope,
    global_avg_pool2d,
    global_avg_pool2d_thin,
    global_avg_pool2d_1x1,
    small_cnn_train,
);

#[test]
fn every_fixture_has_a_test() {
    FIXTURES.assert_every_fixture_has_a_case(CASES);
}
