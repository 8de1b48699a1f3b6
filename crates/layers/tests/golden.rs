//! Golden tests: every layer, the loss and two small models against PyTorch.
//!
//! The fixtures in `tests/fixtures/*.json` are written by
//! `tools/golden/generate.py` (see its header for how to run it), which builds
//! the same layer in PyTorch, runs forward and backward in float64 and stores
//! input, parameters, `grad_output` and every result. Inputs, parameters and
//! `grad_output` are exactly representable in `f32` (checked on load), so the
//! float64 results are the exact answers for the very `f32` values used here.
//!
//! Each case builds the layer from the fixture's spec, overwrites *all* its
//! parameters (the names must match PyTorch's `state_dict` exactly), runs
//! `forward(Mode::Train)` and `backward(grad_output)`, and compares the
//! output, the input gradient and every parameter gradient with [`close`].
//! It then runs forward and backward once more, without `zero_grad` and with
//! the input and `grad_output` stored in column-major order, and checks the
//! same results, with parameter gradients doubled (backward *adds*). Cases with
//! `targets` put [`SoftmaxCrossEntropy`] after the output: the loss and its
//! gradient are compared too, and that gradient (ours, not the fixture's) is
//! what flows back through the model.
//!
//! A failure names the case, the tensor, the worst element (index, ours,
//! PyTorch's, the tolerance) and how many elements are off; all mismatching
//! tensors of a case are reported together.

mod golden_fixtures;

use golden_fixtures::{golden_cases, FixtureSet, Tensor};
use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::{
    AvgPool2d, AvgPool2dConfig, Conv2d, Conv2dConfig, Dense, Flatten, Layer, MaxPool2d,
    MaxPool2dConfig, Mode, ReLU, Sequential, Sigmoid, SoftmaxCrossEntropy, Tanh,
};
use serde::Deserialize;
use std::collections::BTreeMap;

const FIXTURES: FixtureSet = FixtureSet {
    dir: "tests/fixtures",
    generator: "tools/golden/generate.py",
};

/// Relative tolerance.
const RTOL: f64 = 1e-4;
/// Below this fraction of the tensor's largest magnitude, an element is held to
/// an absolute rather than a relative error.
const FLOOR: f64 = 1e-2;

/// Whether `actual` matches the PyTorch value `expected`, an element of a tensor
/// whose largest magnitude is `scale` (= max |expected| over the tensor):
///
/// `|actual − expected| ≤ RTOL · max(|expected|, FLOOR · scale)`, i.e.
/// `≤ 1e-4 · max(|expected|, 1e-2 · scale)`.
///
/// So every element at least 1% of the tensor's largest is within relative
/// 1e-4, and smaller elements within the absolute `1e-6 · scale`. Why a floor,
/// and why this one: an element that is small because its terms cancel (a sum
/// of products in a convolution, `1 − y²` for a saturated tanh) still carries
/// the f32 rounding error of those terms, which are of the tensor's scale and
/// rounded at 2⁻²⁴ ≈ 6e-8 relative each; such an element is only accurate to a
/// few ulps *of the scale*, which no bound relative to itself can promise.
/// `1e-6 · scale` is about 17 ulps of the largest element: room for that
/// rounding, yet 100× tighter than the relative bound on the large elements.
/// An all-zero expected tensor (scale 0) must be exactly zero; NaN never matches.
///
/// Regenerate the fixtures with `/tmp/torchenv/bin/python tools/golden/generate.py`
/// from the repository root (header of that script: how to make the venv).
fn close(actual: f64, expected: f64, scale: f64) -> bool {
    (actual - expected).abs() <= tolerance(expected, scale)
}

fn tolerance(expected: f64, scale: f64) -> f64 {
    RTOL * expected.abs().max(FLOOR * scale)
}

// ---------------------------------------------------------------------------- fixtures

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Spec {
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
    MaxPool2d {
        kernel_size: [usize; 2],
        stride: Option<[usize; 2]>,
        padding: [usize; 2],
    },
    AvgPool2d {
        kernel_size: [usize; 2],
        stride: Option<[usize; 2]>,
        padding: [usize; 2],
        count_include_pad: bool,
    },
    Dense {
        in_features: usize,
        out_features: usize,
    },
    ReLU,
    Tanh,
    Sigmoid,
    Flatten,
    Sequential {
        layers: Vec<Named>,
    },
}

#[derive(Deserialize)]
struct Named {
    name: String,
    layer: Spec,
}

#[derive(Deserialize)]
struct Fixture {
    description: String,
    /// `None` for a loss-only case (then `input` holds the logits).
    layer: Option<Spec>,
    input: Tensor,
    params: BTreeMap<String, Tensor>,
    output: Option<Tensor>,
    grad_output: Option<Tensor>,
    targets: Option<Vec<usize>>,
    loss: Option<f64>,
    grad_logits: Option<Tensor>,
    grad_input: Tensor,
    param_grads: BTreeMap<String, Tensor>,
}

fn build(spec: &Spec, rng: &mut StdRng) -> Box<dyn Layer> {
    match spec {
        &Spec::Conv2d {
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
        } => {
            let config = Conv2dConfig {
                stride,
                padding,
                dilation,
                groups,
                bias,
            };
            Box::new(Conv2d::new(
                in_channels,
                out_channels,
                kernel_size,
                config,
                rng,
            ))
        }
        &Spec::MaxPool2d {
            kernel_size,
            stride,
            padding,
        } => Box::new(MaxPool2d::new(
            kernel_size,
            MaxPool2dConfig { stride, padding },
        )),
        &Spec::AvgPool2d {
            kernel_size,
            stride,
            padding,
            count_include_pad,
        } => Box::new(AvgPool2d::new(
            kernel_size,
            AvgPool2dConfig {
                stride,
                padding,
                count_include_pad,
            },
        )),
        &Spec::Dense {
            in_features,
            out_features,
        } => Box::new(Dense::new(in_features, out_features, rng)),
        Spec::ReLU => Box::new(ReLU::new()),
        Spec::Tanh => Box::new(Tanh::new()),
        Spec::Sigmoid => Box::new(Sigmoid::new()),
        Spec::Flatten => Box::new(Flatten::new()),
        Spec::Sequential { layers } => {
            let mut model = Sequential::new();
            for Named { name, layer } in layers {
                model.push(name.clone(), build(layer, rng));
            }
            Box::new(model)
        }
    }
}

// ---------------------------------------------------------------------------- comparison

/// Compares `actual` with `expected` element-wise by [`close`]; on mismatch,
/// returns a message naming the tensor and its worst element.
fn compare(what: &str, actual: ArrayViewD<f32>, expected: &Tensor) -> Result<(), String> {
    if actual.shape() != expected.shape.as_slice() {
        return Err(format!(
            "{what}: shape {:?}, PyTorch {:?}",
            actual.shape(),
            expected.shape
        ));
    }
    let scale = expected.data.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut bad = 0;
    // (excess error / tolerance, flat index, ours, PyTorch's, tolerance)
    let mut worst: Option<(f64, usize, f32, f64, f64)> = None;
    for (i, (&a, &e)) in actual.iter().zip(&expected.data).enumerate() {
        if close(f64::from(a), e, scale) {
            continue;
        }
        bad += 1;
        let tol = tolerance(e, scale);
        let ratio = if a.is_nan() {
            f64::INFINITY
        } else {
            (f64::from(a) - e).abs() / tol
        };
        if worst.is_none_or(|w| ratio > w.0) {
            worst = Some((ratio, i, a, e, tol));
        }
    }
    match worst {
        None => {
            // The margin, for `cargo test -- --nocapture`: 1.0 would be at the tolerance.
            let margin = actual
                .iter()
                .zip(&expected.data)
                .map(|(&a, &e)| (f64::from(a) - e).abs() / tolerance(e, scale))
                .filter(|r| r.is_finite())
                .fold(0.0f64, f64::max);
            println!("{what}: ok, worst |diff| / tolerance = {margin:.3}");
            Ok(())
        }
        Some((_, i, a, e, tol)) => Err(format!(
            "{what}: {bad} of {} elements off; worst at {:?}: ours {a:e}, PyTorch {e:e}, \
             |diff| {:e} > tolerance {tol:e} (tensor scale {scale:e})",
            expected.data.len(),
            unravel(i, &expected.shape),
            (f64::from(a) - e).abs(),
        )),
    }
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &dim) in index.iter_mut().zip(shape).rev() {
        *slot = flat % dim;
        flat /= dim;
    }
    index
}

/// The same values in column-major (Fortran) memory order.
fn column_major(a: &ArrayD<f32>) -> ArrayD<f32> {
    let mut f = ArrayD::zeros(a.raw_dim().f());
    f.assign(a);
    f
}

fn scalar(value: f32) -> ArrayD<f32> {
    ArrayD::from_elem(IxDyn(&[]), value)
}

/// `tensor` with every value multiplied by `factor`.
fn scaled(tensor: &Tensor, factor: f64) -> Tensor {
    Tensor {
        shape: tensor.shape.clone(),
        data: tensor.data.iter().map(|v| v * factor).collect(),
    }
}

fn scalar_tensor(value: f64) -> Tensor {
    Tensor {
        shape: vec![],
        data: vec![value],
    }
}

// ---------------------------------------------------------------------------- running a case

/// Loads fixture `case`, runs it, and panics listing every mismatch.
fn run_case(case: &str) {
    let fx: Fixture = FIXTURES.load(case);
    let mut failures = Vec::new();
    let mut check = |what: &str, actual: ArrayViewD<f32>, expected: &Tensor| {
        if let Err(e) = compare(what, actual, expected) {
            failures.push(e);
        }
    };
    let input = fx.input.to_f32_exact("input");

    match &fx.layer {
        None => {
            // Loss only: `input` is the logits (given row-major, then column-major).
            let targets = fx.targets.as_deref().expect("a loss case has targets");
            for (layout, logits) in [
                ("", input.clone()),
                (" (column-major)", column_major(&input)),
            ] {
                let mut loss = SoftmaxCrossEntropy::new();
                let value = loss.forward(logits.view(), targets).expect("loss forward");
                check(
                    &format!("loss{layout}"),
                    scalar(value).view(),
                    &scalar_tensor(fx.loss.expect("loss")),
                );
                let grad = loss.backward().expect("loss backward");
                check(&format!("grad_logits{layout}"), grad.view(), &fx.grad_input);
            }
        }
        Some(spec) => {
            let mut layer = build(spec, &mut StdRng::seed_from_u64(0));
            set_parameters(layer.as_mut(), &fx.params);
            let expected_output = fx.output.as_ref().expect("a layer case has an output");

            for pass in 1..=2 {
                let label = |what: &str| {
                    if pass == 1 {
                        what.to_string()
                    } else {
                        format!("{what} (2nd pass: column-major tensors, no zero_grad)")
                    }
                };
                // The 2nd pass feeds the same values in column-major memory order:
                // a layer must not care how its input and gradient views are laid out.
                let input = if pass == 1 {
                    input.clone()
                } else {
                    column_major(&input)
                };
                let output = layer.forward(input.view(), Mode::Train).expect("forward");
                check(&label("output"), output.view(), expected_output);

                let grad_output = match &fx.targets {
                    Some(targets) => {
                        let mut loss = SoftmaxCrossEntropy::new();
                        let value = loss.forward(output.view(), targets).expect("loss forward");
                        check(
                            &label("loss"),
                            scalar(value).view(),
                            &scalar_tensor(fx.loss.expect("loss")),
                        );
                        let grad = loss.backward().expect("loss backward");
                        check(
                            &label("grad_logits"),
                            grad.view(),
                            fx.grad_logits.as_ref().expect("grad_logits"),
                        );
                        grad
                    }
                    None => fx
                        .grad_output
                        .as_ref()
                        .expect("grad_output or targets")
                        .to_f32_exact("grad_output"),
                };
                let grad_output = if pass == 1 {
                    grad_output
                } else {
                    column_major(&grad_output)
                };
                let grad_input = layer.backward(grad_output.view()).expect("backward");
                check(&label("grad_input"), grad_input.view(), &fx.grad_input);

                // Backward adds into Parameter::grad: after pass k it holds k × the gradient.
                for (name, p) in layer.parameters() {
                    let expected = fx.param_grads.get(&name).unwrap_or_else(|| {
                        panic!("{case}: fixture has no gradient for parameter {name:?}")
                    });
                    check(
                        &label(&format!("{name}.grad")),
                        p.grad.view(),
                        &scaled(expected, pass as f64),
                    );
                }
            }
            let mut names: Vec<String> = layer.parameters().into_iter().map(|(n, _)| n).collect();
            names.sort();
            let expected: Vec<String> = fx.param_grads.keys().cloned().collect();
            assert_eq!(
                names, expected,
                "{case}: parameters vs fixture's param_grads"
            );
        }
    }

    assert!(
        failures.is_empty(),
        "golden case {case} ({}) differs from PyTorch:\n  {}",
        fx.description,
        failures.join("\n  ")
    );
}

/// Overwrites every parameter with the fixture's; the two name sets must be equal.
fn set_parameters(layer: &mut dyn Layer, params: &BTreeMap<String, Tensor>) {
    let mut seen = Vec::new();
    for (name, p) in layer.parameters_mut() {
        let value = params
            .get(&name)
            .unwrap_or_else(|| panic!("layer has parameter {name:?}, the fixture does not"))
            .to_f32_exact(&name);
        assert_eq!(
            p.value.shape(),
            value.shape(),
            "parameter {name:?}: layer shape vs fixture shape"
        );
        p.value = value;
        assert!(p.grad.iter().all(|&g| g == 0.0), "{name}: fresh grad not 0");
        seen.push(name);
    }
    for name in params.keys() {
        assert!(
            seen.contains(name),
            "fixture has parameter {name:?}, the layer does not (it has {seen:?})"
        );
    }
}

// ---------------------------------------------------------------------------- the cases

golden_cases!(
    run_case;
    // max pooling
    maxpool_k2_default_stride,
    maxpool_k3_s2_overlap_nonsquare,
    maxpool_k2_s1_overlap,
    maxpool_k2_s3_gaps_untiled,
    maxpool_k3_untiled,
    maxpool_k3_s2_pad1_nonsquare,
    maxpool_nonsquare_kernel_pad,
    maxpool_ties_k2,
    maxpool_ties_k3_s1_overlap,
    maxpool_ties_k3_s2_pad1,
    maxpool_ties_nonsquare_untiled,
    // average pooling
    avgpool_k2_default_stride_untiled,
    avgpool_k3_s2_overlap_nonsquare,
    avgpool_k3_s2_pad1_count_include_pad,
    avgpool_k3_s2_pad1_exclude_pad,
    avgpool_nonsquare_kernel_pad_exclude,
    avgpool_nonsquare_kernel_pad_include,
    // convolution
    conv_k3_basic,
    conv_stride_pad_nonsquare_kernel,
    conv_stride2_untiled_pad2,
    conv_dilation,
    conv_groups,
    conv_depthwise,
    conv_no_bias,
    conv_everything,
    conv_1x1,
    // dense, activations, flatten
    dense,
    relu,
    tanh,
    sigmoid,
    flatten,
    // loss
    loss_basic,
    loss_huge_logits,
    // models, end to end with the loss
    lenet_minimal,
    lenet,
);

#[test]
fn every_fixture_has_a_test() {
    FIXTURES.assert_every_fixture_has_a_case(CASES);
}

/// The comparison itself must be able to fail: a 2e-4 relative error, a wrong
/// small element, a NaN or a wrong shape is caught; f32 rounding is not.
#[test]
fn comparison_rejects_wrong_values() {
    let expected = Tensor {
        shape: vec![2, 2],
        data: vec![1.0, -2.5, 1e-3, 0.0],
    };
    let ok = |data: [f32; 4]| {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 2]), data.to_vec()).unwrap();
        compare("t", a.view(), &expected)
    };
    assert!(ok([1.0, -2.5, 1e-3, 0.0]).is_ok());
    assert!(ok([1.0 + 5e-5, -2.5 * (1.0 - 5e-5), 1e-3 + 2e-7, 2e-7]).is_ok());
    let err = ok([1.0 + 2e-4, -2.5, 1e-3, 0.0]).unwrap_err();
    assert!(err.contains("1 of 4") && err.contains("[0, 0]"), "{err}");
    assert!(ok([1.0, -2.5, 1e-3 + 5e-6, 0.0]).is_err()); // floor: 1e-6 · 2.5
    assert!(ok([1.0, -2.5, 1e-3, 3e-6]).is_err());
    assert!(ok([1.0, -2.5, f32::NAN, 0.0]).is_err());
    assert!(ok([1.0, 2.5, 1e-3, 0.0]).is_err());
    let wrong_shape = ArrayD::<f32>::zeros(IxDyn(&[4]));
    assert!(compare("t", wrong_shape.view(), &expected).is_err());
    let zeros = Tensor {
        shape: vec![2],
        data: vec![0.0, 0.0],
    };
    let tiny = ArrayD::from_shape_vec(IxDyn(&[2]), vec![0.0f32, 1e-30]).unwrap();
    assert!(compare("t", tiny.view(), &zeros).is_err());
}
