//! What the `checkpoint_loader` fuzz target checks for one input; shared with
//! `crates/train/tests/fuzz_regressions.rs`, which replays the corpus with `cargo test`.
//!
//! The input is the bytes of a checkpoint file. [`check`] parses them with
//! [`Checkpoint::from_bytes`]; when they parse, it applies the checkpoint to a LeNet-5 and
//! to a tiny model (`fc`: `Dense(4, 2)`, whose checkpoint is small enough for the fuzzer
//! to reach the success path), loads the training state, if any, into an Adam and an SGD
//! optimizer, reads the history, and encodes the checkpoint again. It panics if any of
//! that panics, if an error has an empty message, if a failed `apply_to` changed the
//! model, or if a re-encoded checkpoint does not parse.

use std::cell::RefCell;

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::{Dense, Layer, Sequential};
use scratchnet_train::{
    models::lenet5, Adam, AdamConfig, Checkpoint, CheckpointError, Optimizer, Sgd, SgdConfig,
};

/// The tiny model of the seeds: one dense layer named `fc`, 4 inputs, 2 outputs.
pub fn tiny_model() -> Sequential {
    Sequential::new().add("fc", Dense::new(4, 2, &mut StdRng::seed_from_u64(7)))
}

thread_local! {
    /// LeNet-5 and the tiny model, built once (LeNet's initialisation is the slow part).
    static MODELS: RefCell<[Sequential; 2]> =
        RefCell::new([lenet5(&mut StdRng::seed_from_u64(1)), tiny_model()]);
}

fn message(error: &CheckpointError) -> String {
    let text = error.to_string();
    assert!(!text.is_empty(), "{error:?} has an empty message");
    text
}

/// Runs one input through the checkpoint loader; panics on any broken promise.
pub fn check(data: &[u8]) {
    let checkpoint = match Checkpoint::from_bytes(data) {
        Ok(checkpoint) => checkpoint,
        Err(error) => {
            message(&error);
            return;
        }
    };
    MODELS.with(|models| {
        for model in models.borrow_mut().iter_mut() {
            let before: Vec<_> = model
                .parameters()
                .into_iter()
                .map(|(_, p)| p.value.clone())
                .collect();
            if let Err(error) = checkpoint.apply_to(model) {
                message(&error);
                let after: Vec<_> = model
                    .parameters()
                    .into_iter()
                    .map(|(_, p)| p.value.clone())
                    .collect();
                // Compare bit patterns: NaN weights are fine, changed ones are not.
                let bits = |ts: &[ndarray::ArrayD<f32>]| -> Vec<u32> {
                    ts.iter()
                        .flat_map(|t| t.iter().map(|v| v.to_bits()))
                        .collect()
                };
                assert!(
                    bits(&before) == bits(&after),
                    "a failed apply_to changed the model"
                );
            }
            if let Some(training) = &checkpoint.training {
                let _ = training.history.completed_epochs();
                let _ = training.history.last();
                let _ = training.partial.as_ref().map(|p| p.batches_done);
                let mut adam = Adam::new(AdamConfig::default()).expect("default Adam");
                if let Err(error) = adam.load_state(training.optimizer.clone(), &*model) {
                    message(&error);
                } else {
                    assert_eq!(adam.steps(), training.optimizer.steps);
                }
                let mut sgd = Sgd::new(SgdConfig::default()).expect("default SGD");
                if let Err(error) = sgd.load_state(training.optimizer.clone(), &*model) {
                    message(&error);
                }
            }
        }
    });
    match checkpoint.to_bytes() {
        Ok(bytes) => {
            if let Err(error) = Checkpoint::from_bytes(&bytes) {
                panic!("a re-encoded checkpoint does not parse: {error}");
            }
        }
        Err(error) => {
            message(&error);
        }
    }
}
