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
//!
//! It also writes the bytes to a file and loads it as `--resume` and `predict` do:
//! [`Checkpoint::load`] must agree with `from_bytes` (the checks of the header length,
//! the header and the file's size happen on the file before its data is read), and
//! [`load_model`] into each model must not panic, must leave the model unchanged when
//! it fails, and must load whatever `from_bytes` and `apply_to` load (it only takes
//! invalid training metadata as absent).

use std::cell::RefCell;
use std::path::Path;

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::{Dense, Layer, Sequential};
use scratchnet_train::{
    load_model, models::lenet5, Adam, AdamConfig, Checkpoint, CheckpointError, Optimizer, Sgd,
    SgdConfig,
};

/// The tiny model of the seeds: one dense layer named `fc`, 4 inputs, 2 outputs.
pub fn tiny_model() -> Sequential {
    Sequential::new().add("fc", Dense::new(4, 2, &mut StdRng::seed_from_u64(7)))
}

thread_local! {
    /// LeNet-5 and the tiny model, built once (LeNet's initialisation is the slow part).
    static MODELS: RefCell<[Sequential; 2]> =
        RefCell::new([lenet5(&mut StdRng::seed_from_u64(1)), tiny_model()]);
    /// Where the input is written as a file.
    static DIR: tempfile::TempDir = tempfile::tempdir().expect("a temporary directory");
}

/// The bit patterns of `model`'s parameters (NaN weights compare equal to themselves).
fn parameter_bits(model: &Sequential) -> Vec<u32> {
    model
        .parameters()
        .into_iter()
        .flat_map(|(_, p)| p.value.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

/// Loads `data` from a file as `--resume` ([`Checkpoint::load`]) and `predict`
/// ([`load_model`]) do; `parsed` is what `from_bytes` made of it.
fn check_file(data: &[u8], parsed: &Result<Checkpoint, CheckpointError>, dir: &Path) {
    let path = dir.join("input.safetensors");
    std::fs::write(&path, data).expect("cannot write the fuzz input file");
    match (Checkpoint::load(&path), parsed) {
        (Ok(loaded), Ok(parsed)) => {
            assert!(
                loaded.tensors.keys().eq(parsed.tensors.keys())
                    && loaded.metadata == parsed.metadata
                    && loaded.training.is_some() == parsed.training.is_some(),
                "Checkpoint::load and from_bytes read different checkpoints"
            );
        }
        (Err(error), Err(_)) => {
            assert!(
                message(&error).contains("input.safetensors"),
                "{error} does not name the file"
            );
        }
        (loaded, _) => panic!(
            "Checkpoint::load {} but from_bytes {}",
            if loaded.is_ok() { "loads" } else { "fails" },
            if parsed.is_ok() { "loads" } else { "fails" }
        ),
    }
    MODELS.with(|models| {
        for model in models.borrow_mut().iter_mut() {
            let before = parameter_bits(model);
            match load_model(&path, model) {
                Ok(loaded) => {
                    // Valid training metadata is read alike (optimizer tensors may be
                    // NaN, so the scalars and history are compared).
                    let scalars = |c: &Checkpoint| {
                        (c.training.as_ref())
                            .map(|t| (t.epoch, t.optimizer.steps, t.history.clone()))
                    };
                    if let Ok(parsed) = parsed {
                        assert!(
                            scalars(&loaded) == scalars(parsed),
                            "load_model read another training state than from_bytes"
                        );
                    }
                }
                Err(error) => {
                    message(&error);
                    assert!(
                        parameter_bits(model) == before,
                        "a failed load_model changed the model"
                    );
                    if let Ok(parsed) = parsed {
                        assert!(
                            parsed.apply_to(model).is_err(),
                            "load_model refuses what from_bytes and apply_to load: {error}"
                        );
                    }
                }
            }
        }
    });
}

fn message(error: &CheckpointError) -> String {
    let text = error.to_string();
    assert!(!text.is_empty(), "{error:?} has an empty message");
    text
}

/// Runs one input through the checkpoint loader; panics on any broken promise.
pub fn check(data: &[u8]) {
    let parsed = Checkpoint::from_bytes(data);
    DIR.with(|dir| check_file(data, &parsed, dir.path()));
    let checkpoint = match parsed {
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
