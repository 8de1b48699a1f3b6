//! An empty batch or split is an error, before anything changes.
//!
//! QA: `train_step` on 0 images returned Ok with a loss of -0.0, advanced Adam's step
//! count and batch norm's `num_batches_tracked`; `evaluate` of an empty split gave a
//! loss and an accuracy of 0.

use ndarray::Array4;
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_data::{Normalization, Split};
use scratchnet_layers::{
    BatchNorm2d, BatchNorm2dConfig, Conv2d, Conv2dConfig, Dense, Flatten, Layer, Sequential,
};
use scratchnet_train::{evaluate, train_step, Adam, AdamConfig, Optimizer, TrainError};

fn bn_net() -> Sequential {
    let mut rng = StdRng::seed_from_u64(0);
    Sequential::new()
        .add(
            "conv",
            Conv2d::new(1, 2, [3, 3], Conv2dConfig::default(), &mut rng),
        )
        .add("bn", BatchNorm2d::new(2, BatchNorm2dConfig::default()))
        .add("flatten", Flatten::new())
        .add("fc", Dense::new(2 * 26 * 26, 10, &mut rng))
        .build(&[1, 28, 28])
        .unwrap()
}

#[test]
fn a_training_step_on_an_empty_batch_is_an_error_that_changes_nothing() {
    let mut model = bn_net();
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    // One real step first, so that the optimizer has state to keep.
    let images = Array4::<f32>::from_elem((2, 1, 28, 28), 0.5);
    train_step(&mut model, &mut adam, images.view(), &[1, 2]).unwrap();
    let (state, parameters) = (adam.state(), model.state().len());
    let weights: Vec<_> = model
        .parameters()
        .into_iter()
        .map(|(_, p)| p.value.clone())
        .collect();
    let buffers: Vec<_> = model
        .buffers()
        .into_iter()
        .map(|(_, b)| b.clone())
        .collect();

    let empty = Array4::<f32>::zeros((0, 1, 28, 28));
    let err = train_step(&mut model, &mut adam, empty.view(), &[]).unwrap_err();
    assert!(matches!(err, TrainError::Config(_)), "{err}");
    assert!(err.to_string().contains("the batch is empty"), "{err}");

    assert_eq!(adam.state(), state);
    assert_eq!(adam.state().steps, 1);
    assert_eq!(model.state().len(), parameters);
    let weights_after: Vec<_> = model
        .parameters()
        .into_iter()
        .map(|(_, p)| p.value.clone())
        .collect();
    let buffers_after: Vec<_> = model
        .buffers()
        .into_iter()
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(weights_after, weights);
    assert_eq!(
        buffers_after, buffers,
        "num_batches_tracked and the running statistics"
    );
}

#[test]
fn evaluating_an_empty_split_is_an_error() {
    let mut model = bn_net();
    let empty = Split::new(Vec::new(), Vec::new(), Normalization::MNIST);
    let err = evaluate(&mut model, &empty, 8).unwrap_err();
    assert!(matches!(err, TrainError::Config(_)), "{err}");
    assert!(err.to_string().contains("empty"), "{err}");
}
