//! scratchnet's Dropout against PyTorch's `nn.Dropout(p)` (`tests/fixtures_dropout/`,
//! written by `tools/golden/generate_dropout.py`, float32, training mode).
//!
//! The two draw different masks, so the test compares what does not depend on the
//! draw: where both keep an element, its output and its gradient are PyTorch's bit for
//! bit (the same scale `1/(1 − p)`, rounded the same way); where scratchnet drops one,
//! both are 0; and scratchnet drops about `p` of the elements.

use ndarray::{ArrayD, IxDyn};
use scratchnet_layers::{Dropout, Layer, Mode};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    p: f32,
    shape: Vec<usize>,
    input: Vec<f32>,
    output: Vec<f32>,
    grad_output: Vec<f32>,
    grad_input: Vec<f32>,
}

fn array(shape: &[usize], values: &[f32]) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap()
}

#[test]
fn dropout_keeps_scales_and_drops_as_pytorch_does() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures_dropout/dropout.json");
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(fixture.cases.len(), 5);
    for (seed, case) in fixture.cases.iter().enumerate() {
        let p = case.p;
        let x = array(&case.shape, &case.input);
        let mut dropout = Dropout::new(p, seed as u64);
        let y = dropout.forward(x.view(), Mode::Train).unwrap();
        let dx = dropout
            .backward(array(&case.shape, &case.grad_output).view())
            .unwrap();
        let mut both_kept = 0;
        for i in 0..x.len() {
            let (ours, theirs) = (y.as_slice().unwrap()[i], case.output[i]);
            let grad = dx.as_slice().unwrap()[i];
            assert_ne!(case.input[i], 0.0, "the fixture's inputs are never 0");
            if ours == 0.0 {
                assert_eq!(grad, 0.0, "p = {p}, element {i}: dropped, yet a gradient");
            } else if theirs != 0.0 {
                both_kept += 1;
                assert_eq!(ours.to_bits(), theirs.to_bits(), "p = {p}, output {i}");
                let want = case.grad_input[i];
                assert_eq!(grad.to_bits(), want.to_bits(), "p = {p}, gradient {i}");
            }
        }
        let n = x.len() as f32;
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f32;
        // Binomial: within 5 standard deviations of the expected count kept.
        let spread = 5.0 * (n * p * (1.0 - p)).sqrt();
        assert!(
            (kept - n * (1.0 - p)).abs() <= spread,
            "p = {p}: kept {kept} of {n}"
        );
        assert!(both_kept > 0, "p = {p}: no element both kept");
        let same = dropout.forward(x.view(), Mode::Eval).unwrap();
        assert_eq!(same, x, "p = {p}: evaluation is the identity");
    }
}
