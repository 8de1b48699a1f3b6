//! The layers after LeNet (BatchNorm2d, LeakyReLU, GlobalAvgPool2d) pass `gradcheck`.
//!
//! Batch norm passes with the default step and tolerance (`h = 1e-2`,
//! `|Δ| ≤ 1e-3 + 1e-2·scale`, see the `gradcheck` module docs), with a wide
//! margin: the worst element uses about 1/80 of the tolerance. Its forward works
//! in `f64` and rounds only the output to `f32`, so the rounding error of the
//! finite differences is as small as for the other layers; and with 12–75
//! values per channel whose standard deviation σ is 0.3–1.2, the truncation
//! error `h²·f‴/6` is small too. That error grows like `(h/σ)²`, so inputs whose
//! channels have a spread near `h` would need a smaller step; keep σ ≫ 0.01.
//! The reports (`cargo test -- --nocapture`) show the margin actually left.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use ndarray_rand::{rand_distr::Uniform, RandomExt};
use scratchnet_layers::gradcheck::{gradcheck, GradcheckConfig, GradcheckError, GradcheckReport};
use scratchnet_layers::*;

fn uniform(shape: &[usize], low: f32, high: f32, seed: u64) -> ArrayD<f32> {
    ArrayD::random_using(
        IxDyn(shape),
        Uniform::new(low, high).unwrap(),
        &mut StdRng::seed_from_u64(seed),
    )
}

/// Distinct values at least 0.05 apart and away from 0, shuffled: the kink of
/// LeakyReLU at 0 is never within the step `h = 0.01` of an element.
fn well_separated(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let mut values: Vec<f32> = (0..n)
        .map(|i| (i as f32 - n as f32 / 2.0 + 0.5) * 0.05)
        .collect();
    values.shuffle(&mut StdRng::seed_from_u64(seed));
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
}

fn check(layer: &mut dyn Layer, input: &ArrayD<f32>, mode: Mode) -> GradcheckReport {
    let config = GradcheckConfig {
        mode,
        ..Default::default()
    };
    match gradcheck(layer, input.view(), &config) {
        Ok(report) => {
            println!("{mode:?}: {report}");
            report
        }
        Err(e) => panic!("{mode:?}: {e}"),
    }
}

/// A batch norm with γ and β away from their initial 1 and 0, so that a
/// forgotten factor γ or a γ/β mix-up would show.
fn batch_norm(channels: usize, config: BatchNorm2dConfig, seed: u64) -> BatchNorm2d {
    let mut bn = BatchNorm2d::new(channels, config);
    if let Some(weight) = &mut bn.weight {
        weight.value = uniform(&[channels], 0.5, 2.0, seed);
        weight.value[[0]] = -weight.value[[0]];
    }
    if let Some(bias) = &mut bn.bias {
        bias.value = uniform(&[channels], -1.0, 1.0, seed + 1);
    }
    bn
}

#[test]
fn batch_norm2d_in_training_mode_through_the_batch_statistics() {
    let mut bn = batch_norm(3, BatchNorm2dConfig::default(), 1);
    // N·H·W = 2·3·3 = 18 values per channel.
    let report = check(&mut bn, &uniform(&[2, 3, 3, 3], -1.0, 1.0, 2), Mode::Train);
    let names: Vec<&str> = report.tensors.iter().map(|t| t.tensor.as_str()).collect();
    assert_eq!(names, ["input", "weight", "bias"]);
}

#[test]
fn batch_norm2d_in_training_mode_with_shifted_scaled_input_and_without_affine() {
    // Channel means far from 0 and unequal spreads; no γ, β.
    let mut x = uniform(&[4, 2, 2, 3], -1.0, 1.0, 3);
    x.index_axis_mut(ndarray::Axis(1), 0)
        .mapv_inplace(|v| 3.0 + 2.0 * v);
    x.index_axis_mut(ndarray::Axis(1), 1)
        .mapv_inplace(|v| -1.0 + 0.5 * v);
    let config = BatchNorm2dConfig {
        affine: false,
        ..Default::default()
    };
    let report = check(&mut BatchNorm2d::new(2, config), &x, Mode::Train);
    assert_eq!(report.tensors.len(), 1);
}

#[test]
fn batch_norm2d_in_eval_mode_with_running_statistics() {
    let mut bn = batch_norm(3, BatchNorm2dConfig::default(), 4);
    // Give the running statistics values other than 0 and 1 first.
    for seed in 0..3 {
        bn.forward(
            uniform(&[4, 3, 2, 2], -2.0, 3.0, 10 + seed).view(),
            Mode::Train,
        )
        .unwrap();
    }
    let (mean, var) = (
        bn.running_mean().unwrap().clone(),
        bn.running_var().unwrap().clone(),
    );
    check(&mut bn, &uniform(&[2, 3, 3, 2], -1.0, 1.0, 5), Mode::Eval);
    assert_eq!(bn.running_mean().unwrap(), &mean, "eval must not update");
    assert_eq!(bn.running_var().unwrap(), &var);
    assert_eq!(bn.num_batches_tracked(), Some(3));
}

#[test]
fn batch_norm2d_in_eval_mode_without_running_statistics_uses_the_batch() {
    let config = BatchNorm2dConfig {
        track_running_stats: false,
        ..Default::default()
    };
    let mut bn = batch_norm(2, config, 6);
    check(&mut bn, &uniform(&[3, 2, 2, 2], -1.0, 1.0, 7), Mode::Eval);
}

/// The classic batch-norm bug: a training backward that treats the batch mean
/// and variance as constants (`dx = γ·dy / √(var + eps)`), forgetting that they
/// depend on `x`. Parameter gradients are the real ones.
struct ConstantStatisticsBatchNorm {
    inner: BatchNorm2d,
    input: Option<ArrayD<f32>>,
}

impl Layer for ConstantStatisticsBatchNorm {
    fn name(&self) -> &str {
        "ConstantStatisticsBatchNorm"
    }
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.inner.output_shape(input_shape)
    }
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.input = Some(input.to_owned());
        self.inner.forward(input, mode)
    }
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        self.inner.backward(grad_output.view())?;
        let x = self.input.as_ref().unwrap();
        let mut dx = grad_output.to_owned();
        for c in 0..x.shape()[1] {
            let xc = x.index_axis(Axis(1), c);
            let var = xc.var(0.0);
            let gamma = self.inner.weight.as_ref().unwrap().value[[c]];
            dx.index_axis_mut(Axis(1), c)
                .mapv_inplace(|g| gamma * g / (var + 1e-5).sqrt());
        }
        Ok(dx)
    }
    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.inline(&self.inner);
    }
    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        state.inline(&mut self.inner);
    }
}

#[test]
fn catches_a_batch_norm_that_ignores_the_gradient_through_its_statistics() {
    let mut broken = ConstantStatisticsBatchNorm {
        inner: batch_norm(2, BatchNorm2dConfig::default(), 8),
        input: None,
    };
    let x = uniform(&[2, 2, 3, 3], -1.0, 1.0, 9);
    match gradcheck(&mut broken, x.view(), &GradcheckConfig::default()) {
        Err(GradcheckError::Mismatch(report)) => {
            let bad: Vec<&str> = report
                .tensors
                .iter()
                .filter(|t| t.error_ratio > 1.0)
                .map(|t| t.tensor.as_str())
                .collect();
            assert_eq!(bad, ["input"], "{report}");
            assert!(report.tensors[0].error_ratio > 10.0, "{report}");
        }
        other => panic!("the missing statistics gradient was not caught: {other:?}"),
    }
}

#[test]
fn leaky_relu_default_and_custom_slopes() {
    for mut act in [
        LeakyReLU::default(),
        LeakyReLU::new(0.2),
        LeakyReLU::new(-0.5),
    ] {
        check(&mut act, &well_separated(&[3, 2, 2, 4], 11), Mode::Train);
    }
}

#[test]
fn global_avg_pool2d_square_and_non_square() {
    check(
        &mut GlobalAvgPool2d::new(),
        &uniform(&[2, 3, 4, 4], -1.0, 1.0, 12),
        Mode::Train,
    );
    check(
        &mut GlobalAvgPool2d::new(),
        &uniform(&[3, 2, 1, 5], -1.0, 1.0, 13),
        Mode::Train,
    );
}

#[test]
fn a_small_resnet_style_stack() {
    let mut rng = StdRng::seed_from_u64(14);
    let conv = |i, o, rng: &mut StdRng| {
        Conv2d::new(
            i,
            o,
            [3, 3],
            Conv2dConfig {
                padding: [1, 1],
                bias: false,
                ..Default::default()
            },
            rng,
        )
    };
    let mut model = Sequential::new()
        .add("conv1", conv(1, 3, &mut rng))
        .add("bn1", batch_norm(3, BatchNorm2dConfig::default(), 15))
        .add("act1", Tanh::new())
        .add("conv2", conv(3, 4, &mut rng))
        .add("bn2", batch_norm(4, BatchNorm2dConfig::default(), 16))
        .add("pool", GlobalAvgPool2d::new())
        .add("fc", Dense::new(4, 3, &mut rng))
        .build(&[1, 5, 5])
        .unwrap();
    let report = check(
        &mut model,
        &uniform(&[3, 1, 5, 5], -1.0, 1.0, 17),
        Mode::Train,
    );
    let names: Vec<&str> = report.tensors.iter().map(|t| t.tensor.as_str()).collect();
    assert_eq!(
        names,
        [
            "input",
            "conv1.weight",
            "bn1.weight",
            "bn1.bias",
            "conv2.weight",
            "bn2.weight",
            "bn2.bias",
            "fc.weight",
            "fc.bias"
        ]
    );
    let buffers: Vec<String> = model.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        buffers,
        [
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.num_batches_tracked",
            "bn2.running_mean",
            "bn2.running_var",
            "bn2.num_batches_tracked"
        ]
    );
}
