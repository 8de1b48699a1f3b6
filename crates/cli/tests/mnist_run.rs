//! The training examples' whole run ([`run`]) on the real MNIST: resuming, refused
//! settings, a NaN loss, missing data. The tests that train need `MNIST_DIR`: they are
//! skipped (with a message) when it is unset, and fail when it is set but the files are
//! missing or bad.

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_cli::{run, RunConfig, ScheduleKind};
use scratchnet_data::mnist_dir_from_env;
use scratchnet_layers::Layer;
use scratchnet_tensor::kernels::Kernels;
use scratchnet_train::models::lenet5;
use scratchnet_train::{Checkpoint, ProgressMode, TrainError};
use std::path::PathBuf;

/// The MNIST directory, or `None` (after saying so) when `MNIST_DIR` is unset.
fn mnist_dir() -> Option<PathBuf> {
    let dir = mnist_dir_from_env();
    if dir.is_none() {
        // Straight to stderr, past the test harness's capture, so the skip is visible.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "skipped: MNIST_DIR is not set");
    }
    dir
}

fn quiet_run(dir: PathBuf) -> RunConfig {
    RunConfig {
        data_dir: Some(dir),
        threads: 2,
        progress: ProgressMode::Quiet,
        ..RunConfig::default()
    }
}

#[test]
fn a_resumed_run_trains_only_the_remaining_epoch() {
    let Some(dir) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let checkpoint = tmp.path().join("lenet.safetensors");
    let metrics = tmp.path().join("m.json");
    let first = run(&RunConfig {
        epochs: 1,
        kernels: Some(Kernels::Fast),
        limit_train: Some(640),
        seed: Some(3),
        batch_size: Some(32),
        save: Some(checkpoint.clone()),
        ..quiet_run(dir.clone())
    })
    .unwrap();
    assert_eq!(first.outcome.trained_epochs, [1]);
    assert_eq!(first.kernels, Kernels::Fast);
    assert_eq!(first.summary.total_parameters(), 61_706);
    let after_one = Checkpoint::load(&checkpoint).unwrap().training.unwrap();
    assert_eq!((after_one.epoch, after_one.seed), (1, 3));

    // Resume with only --epochs: every other setting comes from the checkpoint.
    let second = run(&RunConfig {
        epochs: 2,
        resume: Some(checkpoint.clone()),
        save: Some(checkpoint.clone()),
        metrics: Some(metrics.clone()),
        ..quiet_run(dir.clone())
    })
    .unwrap();
    assert_eq!(second.outcome.trained_epochs, [2]);
    assert_eq!(second.settings.batch_size, 32);
    assert_eq!(second.settings.seed, 3);
    assert_eq!(second.settings.limit_train, Some(640));
    let epochs: Vec<usize> = second
        .outcome
        .history
        .epochs
        .iter()
        .map(|e| e.epoch)
        .collect();
    assert_eq!(epochs, [1, 2]);
    assert_eq!(
        second.outcome.history.epochs[0],
        first.outcome.history.epochs[0]
    );
    let state = Checkpoint::load(&checkpoint).unwrap().training.unwrap();
    assert_eq!(state.epoch, 2);
    assert_eq!(state.optimizer.steps, 2 * 20);

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metrics).unwrap()).unwrap();
    assert_eq!(json["parameters"], 61_706);
    assert_eq!(json["dataset"], "mnist");
    assert_eq!(json["batch_size"], 32);
    assert_eq!(json["seed"], 3);
    assert_eq!(json["threads"], 2);
    assert_eq!(json["epochs"].as_array().unwrap().len(), 2);
    for key in [
        "epoch",
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
        "seconds",
        "samples_per_second",
    ] {
        assert!(json["epochs"][1][key].is_number(), "{key}");
    }

    // A contradicting setting is refused, and so is going backwards.
    let err = run(&RunConfig {
        epochs: 3,
        batch_size: Some(64),
        resume: Some(checkpoint.clone()),
        ..quiet_run(dir.clone())
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("trained with --batch-size 32, not 64"),
        "{err}"
    );
    let err = run(&RunConfig {
        epochs: 1,
        resume: Some(checkpoint),
        ..quiet_run(dir)
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("already has 2 epochs")
            && err
                .to_string()
                .ends_with("(use --epochs 3 or more to train further)"),
        "{err}"
    );
}

#[test]
fn a_huge_learning_rate_stops_the_run_naming_epoch_and_batch() {
    let Some(dir) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let err = run(&RunConfig {
        epochs: 1,
        limit_train: Some(640),
        lr: Some(1e9),
        schedule: Some(ScheduleKind::Constant),
        save: Some(tmp.path().join("lenet.safetensors")),
        ..quiet_run(dir)
    })
    .unwrap_err();
    assert!(
        matches!(err, TrainError::NonFiniteLoss { epoch: 1, .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("at epoch 1, batch 2 of 10"), "{message}");
}

#[test]
fn a_missing_data_directory_is_a_clear_error() {
    // Needs no data: the directory does not exist.
    let config = quiet_run(PathBuf::from("/nonexistent/mnist"));
    let err = run(&config).unwrap_err();
    // Training never began: a signal handler would have quit at once.
    assert!(!config.phase.is_training());
    let message = err.to_string();
    assert!(matches!(err, TrainError::Data(_)), "{message}");
    assert!(
        message.contains("/nonexistent/mnist") && message.contains("does not exist"),
        "{message}"
    );
}

#[test]
fn resuming_from_a_weights_only_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("weights.safetensors");
    scratchnet_train::save_model(&path, &lenet5(&mut StdRng::seed_from_u64(0))).unwrap();
    let err = run(&RunConfig {
        resume: Some(path),
        ..quiet_run(PathBuf::from("/nonexistent"))
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("holds only model weights"),
        "{err}"
    );
    let _ = lenet5(&mut StdRng::seed_from_u64(0)).num_parameters();
}

#[test]
fn an_output_in_a_missing_directory_is_refused_before_training() {
    let err = run(&RunConfig {
        metrics: Some(PathBuf::from("/nonexistent/dir/m.json")),
        ..quiet_run(PathBuf::from("/nonexistent/mnist"))
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: --metrics /nonexistent/dir/m.json: the directory /nonexistent/dir does not exist"
    );
}
