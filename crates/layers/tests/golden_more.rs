//! scratchnet's BatchNorm2d, LeakyReLU and GlobalAvgPool2d against PyTorch.
//!
//! The fixtures in `tests/fixtures_more/` are written by
//! `tools/golden/generate_more.py` (PyTorch, float64, inputs exact in f32; see
//! its docstring for the JSON layout). Each case builds the layer from its
//! spec, loads the parameters and buffers by their PyTorch names, runs one
//! forward in the fixture's mode and one backward, and compares the output, the
//! input gradient, every parameter gradient and every buffer afterwards (batch
//! norm's running statistics after a training step).
//!
//! # Tolerance
//! Element-wise relative `1e-4`: `|got − want| ≤ 1e-4·max(|want|, 1e-3·‖want‖∞)`.
//! The floor, a thousandth of the tensor's largest magnitude, only matters for
//! elements that are nearly 0 by cancellation (a batch-norm input gradient is
//! `dy − mean(dy) − x̂·mean(dy·x̂)`), whose relative error says nothing about the
//! layer. Every current fixture passes even without the floor (the worst
//! element is at 0.12 × tolerance; most are below 1e-3 ×). `num_batches_tracked`
//! must match exactly.

use ndarray::{ArrayD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const REL_TOLERANCE: f64 = 1e-4;
const FLOOR: f64 = 1e-3;

#[derive(Deserialize)]
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Tensor {
    fn to_f32(&self) -> ArrayD<f32> {
        let data = self.data.iter().map(|&v| v as f32).collect();
        ArrayD::from_shape_vec(IxDyn(&self.shape), data).expect("shape matches data")
    }
}

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

#[derive(Deserialize)]
struct Fixture {
    case: String,
    description: String,
    mode: String,
    layer: Spec,
    input: Tensor,
    params: BTreeMap<String, Tensor>,
    buffers: BTreeMap<String, Tensor>,
    output: Tensor,
    grad_output: Tensor,
    grad_input: Tensor,
    param_grads: BTreeMap<String, Tensor>,
    buffers_after: BTreeMap<String, Tensor>,
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

/// The worst element of `got` against `want`: (ratio to the tolerance, index, got, want).
fn worst(got: &ArrayD<f32>, want: &Tensor) -> (f64, usize, f64, f64) {
    let scale = want.data.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut worst = (0.0, 0, 0.0, 0.0);
    for (i, (&g, &w)) in got.iter().zip(&want.data).enumerate() {
        let g = f64::from(g);
        let ratio =
            (g - w).abs() / (REL_TOLERANCE * w.abs().max(FLOOR * scale).max(f64::MIN_POSITIVE));
        let ratio = if ratio.is_nan() { f64::INFINITY } else { ratio };
        if ratio > worst.0 {
            worst = (ratio, i, g, w);
        }
    }
    worst
}

fn compare(case: &str, what: &str, got: &ArrayD<f32>, want: &Tensor, failures: &mut Vec<String>) {
    if got.shape() != want.shape.as_slice() {
        failures.push(format!(
            "{what}: shape {:?}, PyTorch {:?}",
            got.shape(),
            want.shape
        ));
        return;
    }
    let (ratio, i, g, w) = worst(got, want);
    println!("{case}: {what:<28} worst {ratio:.1e} × tolerance (element {i}: {g:.9e} vs {w:.9e})");
    if ratio > 1.0 {
        failures.push(format!(
            "{what}: element {i} (row-major) is {g:.9e}, PyTorch {w:.9e} ({ratio:.1} × tolerance)"
        ));
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures_more")
}

fn run_case(name: &str) {
    let path = fixtures_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run tools/golden/generate_more.py", path.display()));
    let fx: Fixture = serde_json::from_str(&text).expect("fixture JSON");
    assert_eq!(fx.case, name);
    println!("{name}: {}", fx.description);
    let mode = match fx.mode.as_str() {
        "train" => Mode::Train,
        "eval" => Mode::Eval,
        other => panic!("unknown mode {other:?}"),
    };
    let mut layer = build(&fx.layer);

    // The same names as PyTorch's state_dict (the fixture's maps are sorted by name).
    let sorted = |mut names: Vec<String>| {
        names.sort();
        names
    };
    let names = sorted(layer.parameters().into_iter().map(|(n, _)| n).collect());
    assert_eq!(
        names,
        fx.params.keys().cloned().collect::<Vec<_>>(),
        "parameter names"
    );
    for (pname, p) in layer.parameters_mut() {
        p.value = fx.params[&pname].to_f32();
    }
    let names = sorted(layer.buffers().into_iter().map(|(n, _)| n).collect());
    assert_eq!(
        names,
        fx.buffers.keys().cloned().collect::<Vec<_>>(),
        "buffer names"
    );
    for (bname, b) in layer.buffers_mut() {
        *b = fx.buffers[&bname].to_f32();
    }

    let mut failures = Vec::new();
    let output = layer
        .forward(fx.input.to_f32().view(), mode)
        .expect("forward");
    compare(name, "output", &output, &fx.output, &mut failures);
    let grad_input = layer
        .backward(fx.grad_output.to_f32().view())
        .expect("backward");
    compare(
        name,
        "grad_input",
        &grad_input,
        &fx.grad_input,
        &mut failures,
    );
    for (pname, p) in layer.parameters() {
        compare(
            name,
            &format!("{pname}.grad"),
            &p.grad,
            &fx.param_grads[&pname],
            &mut failures,
        );
    }
    for (bname, b) in layer.buffers() {
        let want = &fx.buffers_after[&bname];
        if bname.ends_with("num_batches_tracked") {
            let (got, want) = (b.iter().copied().collect::<Vec<f32>>(), &want.data);
            println!("{name}: {bname:<28} {got:?} vs {want:?}");
            if got.len() != 1 || f64::from(got[0]) != want[0] {
                failures.push(format!("{bname}: {got:?}, PyTorch {want:?}"));
            }
        } else {
            compare(name, &format!("{bname} (after)"), b, want, &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: differs from PyTorch:\n  {}",
        failures.join("\n  ")
    );
}

macro_rules! golden {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                run_case(stringify!($case));
            }
        )*
        const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}

golden!(
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
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures_more exists; run tools/golden/generate_more.py")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "json").then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    on_disk.sort();
    let mut tested: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    tested.sort();
    assert_eq!(on_disk, tested, "fixtures on disk vs golden! cases");
}
