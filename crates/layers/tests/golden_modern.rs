//! The layers modern CNNs use (ConvTranspose2d, Upsample, AdaptiveAvgPool2d,
//! SiLU, GELU, GroupNorm, LayerNorm, Dense without bias) against PyTorch.
//!
//! The fixtures in `tests/fixtures_modern/` are written by
//! `tools/golden/generate_modern.py` (PyTorch, float64, inputs exact in f32; see
//! its docstring for the JSON layout). Each case builds the layer from its spec,
//! loads the parameters by their PyTorch names (the names must be the same set),
//! runs one training forward and one backward, and compares the output, the input
//! gradient and every parameter gradient.
//!
//! # Tolerance
//! As `golden_more.rs`: element-wise relative `1e-4`,
//! `|got − want| ≤ 1e-4·max(|want|, 1e-3·‖want‖∞)`; the floor only matters for
//! elements that are nearly 0 by cancellation (a normalisation's input gradient).

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

#[derive(Deserialize)]
struct Fixture {
    case: String,
    description: String,
    layer: Spec,
    input: Tensor,
    params: BTreeMap<String, Tensor>,
    output: Tensor,
    grad_output: Tensor,
    grad_input: Tensor,
    param_grads: BTreeMap<String, Tensor>,
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
    println!("{case}: {what:<14} worst {ratio:.1e} × tolerance (element {i}: {g:.9e} vs {w:.9e})");
    if ratio > 1.0 {
        failures.push(format!(
            "{what}: element {i} (row-major) is {g:.9e}, PyTorch {w:.9e} ({ratio:.1} × tolerance)"
        ));
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures_modern")
}

fn run_case(name: &str) {
    let path = fixtures_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run tools/golden/generate_modern.py",
            path.display()
        )
    });
    let fx: Fixture = serde_json::from_str(&text).expect("fixture JSON");
    assert_eq!(fx.case, name);
    println!("{name}: {}", fx.description);
    let mut layer = build(&fx.layer);

    // The same names as PyTorch's state_dict (the fixture's map is sorted by name).
    let mut names: Vec<String> = layer.parameters().into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(
        names,
        fx.params.keys().cloned().collect::<Vec<_>>(),
        "parameter names"
    );
    for (pname, p) in layer.parameters_mut() {
        p.value = fx.params[&pname].to_f32();
    }

    let mut failures = Vec::new();
    let output = layer
        .forward(fx.input.to_f32().view(), Mode::Train)
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
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures_modern exists; run tools/golden/generate_modern.py")
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
