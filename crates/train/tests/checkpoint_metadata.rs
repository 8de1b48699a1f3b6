//! The `scratchnet.*` metadata of a checkpoint (issue 16): `Checkpoint::load` (what
//! `--resume` uses) refuses metadata no run could have written — an accuracy of
//! 588235370%, negative seconds, `u64::MAX` steps, a newer layout version — naming the
//! key; `load_model` (what `predict` uses) needs only the weights, so missing or
//! invalid training metadata is taken as absent, while a newer layout is refused by
//! both with a message that says to upgrade.

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use safetensors::SafeTensors;
use scratchnet_layers::{Dense, Layer, Sequential};
use scratchnet_train::{
    load_model, models::lenet5, Checkpoint, CheckpointError, EpochMetrics, History, OptimizerState,
    PartialEpoch, TrainingState,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn tiny_model(seed: u64) -> Sequential {
    Sequential::new().add("fc", Dense::new(4, 2, &mut StdRng::seed_from_u64(seed)))
}

fn good_metrics(epoch: usize) -> EpochMetrics {
    EpochMetrics {
        epoch,
        train_loss: 0.5,
        train_accuracy: 0.8,
        test_loss: 0.4,
        test_accuracy: 0.85,
        seconds: 1.5,
        samples_per_second: 40000.0,
    }
}

/// A checkpoint of the tiny model after 2 epochs of SGD (steps 30), interrupted in
/// epoch 3 after 5 of 15 batches, changed by `change`.
fn checkpoint_with(change: impl FnOnce(&mut TrainingState)) -> Checkpoint {
    let model = tiny_model(1);
    let mut state = TrainingState {
        epoch: 2,
        partial: Some(PartialEpoch {
            batches_done: 5,
            batches: 15,
            loss_sum: 12.5,
            correct: 40,
            samples: 80,
            seconds: 0.25,
        }),
        seed: 7,
        history: History {
            epochs: vec![good_metrics(1), good_metrics(2)],
        },
        optimizer: OptimizerState {
            kind: "sgd".into(),
            steps: 35,
            tensors: Default::default(),
        },
    };
    change(&mut state);
    let mut checkpoint = Checkpoint::from_model(&model);
    checkpoint.training = Some(state);
    checkpoint
}

/// `bytes` with the metadata entry `key` set to `value` (or removed, for `None`).
fn with_entry(bytes: &[u8], key: &str, value: Option<&str>) -> Vec<u8> {
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let mut metadata: HashMap<String, String> = header.metadata().clone().unwrap();
    match value {
        Some(value) => metadata.insert(key.into(), value.into()),
        None => metadata.remove(key),
    };
    let file = SafeTensors::deserialize(bytes).unwrap();
    safetensors::serialize(file.tensors(), Some(metadata)).unwrap()
}

fn write(dir: &Path, bytes: &[u8]) -> PathBuf {
    let path = dir.join("crafted.safetensors");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `Checkpoint::load` refuses the file naming `key` and saying `reason`; `load_model`
/// loads its weights (and returns the checkpoint).
fn refused_for_resume_but_predicts(path: &Path, key: &str, reason: &str) -> Checkpoint {
    let error = Checkpoint::load(path).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(&error, CheckpointError::Metadata { key: k, .. } if k == key),
        "{error:?}"
    );
    assert!(
        message.contains(&path.display().to_string()) && message.contains(reason),
        "{message}"
    );
    let mut model = tiny_model(2);
    let loaded = load_model(path, &mut model).unwrap();
    assert_eq!(model.parameters(), tiny_model(1).parameters());
    loaded
}

#[test]
fn a_sane_training_state_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.safetensors");
    let checkpoint = checkpoint_with(|_| {});
    checkpoint.save(&path).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap(), checkpoint);
    let loaded = load_model(&path, &mut tiny_model(2)).unwrap();
    assert_eq!(loaded.training, checkpoint.training);
}

#[test]
fn an_accuracy_over_100_percent_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint_with(|s| s.history.epochs[1].test_accuracy = 5882353.7);
    let path = write(dir.path(), &checkpoint.to_bytes().unwrap());
    let loaded = refused_for_resume_but_predicts(
        &path,
        "scratchnet.history",
        "epoch 2: test_accuracy 5882353.7 is not a fraction in [0, 1]",
    );
    assert!(loaded.training.is_none());
}

#[test]
fn negative_or_infinite_seconds_and_losses_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (change, key, reason) in [
        (
            (|s: &mut TrainingState| s.history.epochs[0].seconds = -3.0) as fn(&mut TrainingState),
            "scratchnet.history",
            "epoch 1: seconds -3 is not a finite number ≥ 0",
        ),
        (
            |s| s.history.epochs[0].train_loss = -0.5,
            "scratchnet.history",
            "train_loss -0.5",
        ),
        (
            |s| s.partial.as_mut().unwrap().seconds = -1.0,
            "scratchnet.partial_epoch",
            "seconds -1 is not a finite number ≥ 0",
        ),
        (
            |s| s.partial.as_mut().unwrap().batches_done = 16,
            "scratchnet.partial_epoch",
            "batch 16 of 15",
        ),
        (
            |s| s.partial.as_mut().unwrap().correct = 81,
            "scratchnet.partial_epoch",
            "81 of 80 samples correct",
        ),
        (
            |s| s.history.epochs[1].epoch = 7,
            "scratchnet.history",
            "epoch 2: numbered 7",
        ),
        (
            |s| s.epoch = 1,
            "scratchnet.history",
            "2 epochs of metrics, but only 1 completed",
        ),
    ] {
        let path = write(dir.path(), &checkpoint_with(change).to_bytes().unwrap());
        let loaded = refused_for_resume_but_predicts(&path, key, reason);
        assert!(loaded.training.is_none(), "{reason}");
    }
}

#[test]
fn u64_max_steps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint_with(|s| s.optimizer.steps = u64::MAX);
    let path = write(dir.path(), &checkpoint.to_bytes().unwrap());
    let loaded = refused_for_resume_but_predicts(
        &path,
        "scratchnet.optimizer",
        "18446744073709551615 steps in 3 epoch(s) begun is more than 4294967296 per epoch",
    );
    assert!(loaded.training.is_none());
}

#[test]
fn missing_or_unreadable_training_metadata_does_not_stop_predict() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = checkpoint_with(|_| {}).to_bytes().unwrap();
    for (key, value, reason, training_kept) in [
        (
            "scratchnet.history",
            Some("null"),
            "invalid type: null",
            false,
        ),
        ("scratchnet.history", None, "missing", false),
        ("scratchnet.optimizer", Some("{}"), "missing field", false),
        // The counters are not training metadata: the training state stays.
        ("scratchnet.extra_state", Some("[1]"), "invalid type", true),
    ] {
        let path = write(dir.path(), &with_entry(&bytes, key, value));
        let loaded = refused_for_resume_but_predicts(&path, key, reason);
        assert_eq!(loaded.training.is_some(), training_kept, "{key}");
        assert!(loaded.extra_state.is_empty());
    }
}

#[test]
fn a_newer_layout_version_says_to_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = checkpoint_with(|_| {}).to_bytes().unwrap();
    let path = write(
        dir.path(),
        &with_entry(&bytes, "scratchnet.version", Some("99")),
    );
    let expected = format!(
        "checkpoint {} was written by a newer scratchnet (layout version 99); this is scratchnet {}, which reads layout version 1: upgrade scratchnet to load it",
        path.display(),
        env!("CARGO_PKG_VERSION")
    );
    let error = Checkpoint::load(&path).unwrap_err();
    assert!(
        matches!(error, CheckpointError::NewerVersion { found: 99, .. }),
        "{error:?}"
    );
    assert_eq!(error.to_string(), expected);
    let error = load_model(&path, &mut tiny_model(2)).unwrap_err();
    assert_eq!(error.to_string(), expected);
    // Said before the tensors are compared: a newer layout may name them differently.
    let error = load_model(&path, &mut lenet5(&mut StdRng::seed_from_u64(0))).unwrap_err();
    assert_eq!(error.to_string(), expected);
}

#[test]
fn a_version_that_is_not_a_number_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = checkpoint_with(|_| {}).to_bytes().unwrap();
    for version in ["x", "0", "-1", ""] {
        let path = write(
            dir.path(),
            &with_entry(&bytes, "scratchnet.version", Some(version)),
        );
        let error = load_model(&path, &mut tiny_model(2)).unwrap_err();
        assert!(
            matches!(&error, CheckpointError::Metadata { key, .. } if key == "scratchnet.version"),
            "{version}: {error:?}"
        );
        assert!(
            error.to_string().contains("is not a layout version"),
            "{error}"
        );
    }
}

/// The file format, pinned: the metadata keys and the JSON fields a checkpoint is
/// written with, which older files, PyTorch-side tools (`tools/`) and `--resume` read.
/// A renamed key or field fails here, not only in a save-and-load round trip (which
/// would pass with any name).
#[test]
fn the_metadata_keys_and_fields_on_disk_are_pinned() {
    let bytes = checkpoint_with(|_| {}).to_bytes().unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().clone().unwrap();
    let mut keys: Vec<&str> = metadata.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "format",
            "scratchnet.epoch",
            "scratchnet.history",
            "scratchnet.optimizer",
            "scratchnet.partial_epoch",
            "scratchnet.seed",
            "scratchnet.version",
        ]
    );
    for (key, value) in [
        ("format", "pt"),
        ("scratchnet.version", "1"),
        ("scratchnet.epoch", "2"),
        ("scratchnet.seed", "7"),
    ] {
        assert_eq!(metadata[key], value, "{key}");
    }
    let json = |key: &str| -> serde_json::Value { serde_json::from_str(&metadata[key]).unwrap() };
    let optimizer = json("scratchnet.optimizer");
    assert_eq!(
        (optimizer["kind"].as_str(), optimizer["steps"].as_u64()),
        (Some("sgd"), Some(35))
    );
    let partial = json("scratchnet.partial_epoch");
    for (field, value) in [
        ("batches_done", 5.0),
        ("batches", 15.0),
        ("correct", 40.0),
        ("samples", 80.0),
        ("seconds", 0.25),
    ] {
        assert_eq!(
            partial[field].as_f64(),
            Some(value),
            "partial_epoch.{field}"
        );
    }
    // The loss sum exactly, as the bits of its f64.
    assert_eq!(
        partial["loss_sum_bits"].as_u64(),
        Some(12.5f64.to_bits()),
        "partial_epoch.loss_sum_bits"
    );
    let epoch = &json("scratchnet.history")[1]; // the list of epochs
    for (field, value) in [
        ("epoch", 2.0),
        ("train_loss", 0.5),
        ("train_accuracy", 0.8),
        ("test_loss", 0.4),
        ("test_accuracy", 0.85),
        ("seconds", 1.5),
        ("samples_per_second", 40000.0),
    ] {
        assert_eq!(
            epoch[field].as_f64(),
            Some(value),
            "history.epochs[1].{field}"
        );
    }
}
