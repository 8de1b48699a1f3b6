//! The harness of `golden_more.rs` and `golden_modern.rs`: a layer built from the
//! fixture's spec, with the parameters and buffers loaded by their PyTorch names
//! (the names must be the same sets), runs one forward in the fixture's mode
//! (training if it names none) and one backward; the output, the input gradient,
//! every parameter gradient and every buffer afterwards (batch norm's running
//! statistics after a training step) are compared with PyTorch's.
//!
//! # Tolerance
//! Element-wise relative `1e-4`: `|got − want| ≤ 1e-4·max(|want|, 1e-3·‖want‖∞)`.
//! The floor, a thousandth of the tensor's largest magnitude, only matters for
//! elements that are nearly 0 by cancellation (a normalisation's input gradient
//! is `dy − mean(dy) − x̂·mean(dy·x̂)`), whose relative error says nothing about
//! the layer. `num_batches_tracked` must match exactly.

use crate::golden_fixtures::{FixtureSet, Tensor};
use ndarray::ArrayD;
use scratchnet_layers::{Layer, Mode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;

const REL_TOLERANCE: f64 = 1e-4;
const FLOOR: f64 = 1e-3;

/// One case: a layer of spec `S`, what goes in and what PyTorch got.
#[derive(Deserialize)]
struct Fixture<S> {
    description: String,
    /// `"train"` or `"eval"`; training if absent.
    mode: Option<String>,
    layer: S,
    input: Tensor,
    params: BTreeMap<String, Tensor>,
    #[serde(default)]
    buffers: BTreeMap<String, Tensor>,
    output: Tensor,
    grad_output: Tensor,
    grad_input: Tensor,
    param_grads: BTreeMap<String, Tensor>,
    #[serde(default)]
    buffers_after: BTreeMap<String, Tensor>,
}

/// Runs fixture `name` of `fixtures` on the layer `build` makes of its spec, and
/// panics listing every tensor that differs from PyTorch's.
pub fn run_case<S: DeserializeOwned>(
    fixtures: &FixtureSet,
    name: &str,
    build: fn(&S) -> Box<dyn Layer>,
) {
    let fx: Fixture<S> = fixtures.load(name);
    println!("{name}: {}", fx.description);
    let mode = match fx.mode.as_deref() {
        None | Some("train") => Mode::Train,
        Some("eval") => Mode::Eval,
        Some(other) => panic!("unknown mode {other:?}"),
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
        p.value = fx.params[&pname].to_f32_exact(&pname);
    }
    let names = sorted(layer.buffers().into_iter().map(|(n, _)| n).collect());
    assert_eq!(
        names,
        fx.buffers.keys().cloned().collect::<Vec<_>>(),
        "buffer names"
    );
    for (bname, b) in layer.buffers_mut() {
        *b = fx.buffers[&bname].to_f32_exact(&bname);
    }

    let mut failures = Vec::new();
    let output = layer
        .forward(fx.input.to_f32_exact("input").view(), mode)
        .expect("forward");
    compare(name, "output", &output, &fx.output, &mut failures);
    let grad_input = layer
        .backward(fx.grad_output.to_f32_exact("grad_output").view())
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

/// Adds to `failures` unless `got` has `want`'s shape and every element is within
/// the tolerance.
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
