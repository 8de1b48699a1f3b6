//! A layer of one's own that breaks the shape contract inside a container is named
//! by the container: a backward returning an input gradient of another shape than
//! its input (in `Sequential`, first or not, in a `Residual`'s body, in a branch of
//! `Branches`), and a forward that changes the batch size.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::gradcheck::{gradcheck, GradcheckConfig, GradcheckError};
use scratchnet_layers::*;

/// The identity, whose backward sums `dy` over the last axis: `[N, C, H, 1]`.
struct BadGrad;

impl Layer for BadGrad {
    fn name(&self) -> &str {
        "BadGrad"
    }
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: ArrayViewD<f32>, _mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        Ok(x.to_owned())
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let last = Axis(dy.ndim() - 1);
        Ok(dy.sum_axis(last).insert_axis(last))
    }
}

/// Keeps the per-sample shape but drops the last sample of the batch.
struct DropsSample;

impl Layer for DropsSample {
    fn name(&self) -> &str {
        "DropsSample"
    }
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: ArrayViewD<f32>, _mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        let n = x.shape()[0];
        Ok(x.slice_axis(Axis(0), (..n - 1).into()).to_owned())
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        Ok(dy.to_owned())
    }
}

const BLAME: &str =
    "bad (BadGrad) breaks the Layer contract: backward returned [2, 3, 4, 1] for an input of [2, 3, 4, 4]";

fn conv(rng: &mut StdRng) -> Conv2d {
    let same = Conv2dConfig {
        padding: [1, 1],
        ..Conv2dConfig::default()
    };
    Conv2d::new(3, 3, [3, 3], same, rng)
}

/// Forward in training mode, then the backward of ones; the backward's error.
fn backward_error(layer: &mut dyn Layer) -> LayerError {
    let x = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4, 4]), |i| 0.1 + i[3] as f32);
    let y = layer.forward(x.view(), Mode::Train).unwrap();
    let err = layer
        .backward(ArrayD::ones(y.raw_dim()).view())
        .unwrap_err();
    assert!(matches!(err, LayerError::Contract { .. }), "{err}");
    err
}

#[test]
fn sequential_names_the_child_whose_backward_returns_another_shape() {
    let mut rng = StdRng::seed_from_u64(0);
    let mut middle = Sequential::new()
        .add("conv0", conv(&mut rng))
        .add("bad", BadGrad)
        .add("conv1", conv(&mut rng));
    assert!(backward_error(&mut middle).to_string().starts_with(BLAME));
    // As the first layer, where nothing below it would trip over the shape.
    let mut first = Sequential::new()
        .add("bad", BadGrad)
        .add("conv1", conv(&mut rng));
    assert!(backward_error(&mut first).to_string().starts_with(BLAME));
    // The parameters-only backward checks every layer above the first.
    let mut model = Sequential::new()
        .add("conv0", conv(&mut rng))
        .add("bad", BadGrad);
    let x = ArrayD::ones(IxDyn(&[2, 3, 4, 4]));
    let y = model.forward(x.view(), Mode::Train).unwrap();
    let err = model.backward_parameters(y.view()).unwrap_err();
    assert!(err.to_string().starts_with(BLAME), "{err}");
}

#[test]
fn residual_names_the_body_child_whose_backward_returns_another_shape() {
    let mut rng = StdRng::seed_from_u64(0);
    let body = Sequential::new()
        .add("bad", BadGrad)
        .add("conv1", conv(&mut rng));
    let block = Residual::new(body, &[3, 4, 4], ResidualConfig::default(), &mut rng).unwrap();
    let mut model = Sequential::new().add("block", block);
    let err = backward_error(&mut model).to_string();
    assert!(err.starts_with(&format!("block.{BLAME}")), "{err}");
}

#[test]
fn branches_name_the_branch_whose_backward_returns_another_shape() {
    let mut rng = StdRng::seed_from_u64(0);
    for combine in [Combine::Add, Combine::Concat] {
        let mut model = Branches::new(combine)
            .add("good", conv(&mut rng))
            .add("bad", BadGrad);
        let err = backward_error(&mut model).to_string();
        assert!(err.starts_with(BLAME), "{combine:?}: {err}");
    }
}

#[test]
fn a_forward_that_drops_a_sample_is_named_at_once() {
    let mut rng = StdRng::seed_from_u64(0);
    let mut model = Sequential::new()
        .add("conv0", conv(&mut rng))
        .add("bad", DropsSample)
        .add("conv1", conv(&mut rng))
        .build(&[3, 4, 4])
        .unwrap();
    let x = ArrayD::ones(IxDyn(&[4, 3, 4, 4]));
    let err = model
        .forward(x.view(), Mode::Train)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "bad (DropsSample) breaks the Layer contract: forward gave [3, 3, 4, 4] for an input \
             of [4, 3, 4, 4]: 3 samples for 4"
        ),
        "{err}"
    );
    let err = gradcheck(&mut DropsSample, x.view(), &GradcheckConfig::default()).unwrap_err();
    assert!(matches!(err, GradcheckError::Contract { .. }), "{err}");
    assert!(err.to_string().contains("3 samples for 4"), "{err}");
    // The same model without the culprit runs: the check refuses no correct layer.
    let mut fine = Sequential::new()
        .add("conv0", conv(&mut rng))
        .add("pool", MaxPool2d::new([2, 2], MaxPool2dConfig::default()))
        .add("flatten", Flatten::new())
        .add("fc", Dense::new(12, 2, &mut rng));
    let y = fine.forward(x.view(), Mode::Train).unwrap();
    assert_eq!(y.shape(), [4, 2]);
    fine.backward(ArrayD::ones(y.raw_dim()).view()).unwrap();
}
