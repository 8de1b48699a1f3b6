//! The trainer on a small synthetic dataset (no MNIST needed): NaN handling, resume,
//! reproducibility across thread counts, checkpoints after each epoch.

use ndarray_rand::rand::{rngs::StdRng, Rng, SeedableRng};
use scratchnet_data::{BatchConfig, Normalization, Split};
use scratchnet_layers::{
    BatchNorm2d, BatchNorm2dConfig, Conv2d, Conv2dConfig, Dense, Flatten, Layer, ReLU, Sequential,
};
use scratchnet_train::models::lenet5;
use scratchnet_train::{
    Adam, AdamConfig, Checkpoint, CheckpointError, History, LrSchedule, ModelFactory, Optimizer,
    ProgressMode, TrainConfig, TrainError, Trainer,
};
use std::ops::ControlFlow;
use std::sync::Arc;

/// `n` noisy 28×28 images: class `c` has a bright 8×8 block at a place of its own.
fn synthetic(n: usize, seed: u64) -> Split {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut images = Vec::with_capacity(n * 784);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 10) as u8;
        let (top, left) = (2 + 8 * (class as usize / 4), 2 + 6 * (class as usize % 4));
        for y in 0..28 {
            for x in 0..28 {
                let inside = (top..top + 8).contains(&y) && (left..left + 8).contains(&x);
                let base: u8 = if inside { 200 } else { 0 };
                images.push(base.saturating_add(rng.random_range(0..50)));
            }
        }
        labels.push(class);
    }
    Split::new(images, labels, Normalization::MNIST)
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch: BatchConfig {
            batch_size: 32,
            shuffle: true,
            seed: 5,
            augment: false,
        },
        eval_batch_size: 64,
        schedule: LrSchedule::Cosine {
            min_lr: 0.0,
            warmup_steps: 2,
        },
        progress: ProgressMode::Quiet,
        ..TrainConfig::default()
    }
}

fn factory() -> ModelFactory {
    Arc::new(|| Box::new(lenet5(&mut StdRng::seed_from_u64(99))))
}

fn weights(model: &dyn Layer) -> Vec<Vec<u32>> {
    model
        .parameters()
        .iter()
        .map(|(_, p)| p.value.iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn training_learns_and_records_every_epoch() {
    let (train, test) = (synthetic(320, 1), synthetic(100, 2));
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(3e-3)).unwrap();
    let outcome = Trainer::new(config(3))
        .unwrap()
        .with_replicas(factory())
        .fit(&mut model, &mut adam, &train, &test, History::new())
        .unwrap();
    let epochs: Vec<usize> = outcome.history.epochs.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, [1, 2, 3]);
    assert_eq!(outcome.trained_epochs, [1, 2, 3]);
    assert_eq!(adam.steps(), 30);
    let last = outcome.history.last().unwrap();
    assert!(last.test_accuracy > 0.9, "{last:?}");
    assert!(last.train_loss < outcome.history.epochs[0].train_loss);
    assert!(last.seconds > 0.0 && last.samples_per_second > 0.0);
    assert_eq!(outcome.evaluation.accuracy, last.test_accuracy);
    assert_eq!(outcome.evaluation.confusion.total(), 100);
    assert_eq!(outcome.evaluation.predictions.len(), 100);
    // The cosine schedule ends near 0.
    assert!(adam.learning_rate() < 1e-4);
}

#[test]
fn the_thread_count_does_not_change_the_result() {
    let (train, test) = (synthetic(200, 1), synthetic(50, 2));
    let run = |trainer: Trainer| {
        let mut model = lenet5(&mut StdRng::seed_from_u64(0));
        let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
        let mut trainer = trainer;
        let outcome = trainer
            .fit(&mut model, &mut adam, &train, &test, History::new())
            .unwrap();
        (weights(&model), outcome.history.epochs[0].train_loss)
    };
    let sequential = run(Trainer::new(config(1)).unwrap());
    for threads in [1, 2, 3] {
        let trainer = Trainer::new(TrainConfig {
            threads,
            ..config(1)
        })
        .unwrap()
        .with_replicas(factory());
        assert!(
            run(trainer) == sequential,
            "{threads} replicas differ from the sequential run"
        );
    }
}

#[test]
fn a_resumed_run_is_bit_identical_to_an_uninterrupted_one() {
    let (train, test) = (synthetic(160, 1), synthetic(50, 2));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");

    let mut straight = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    let full = Trainer::new(config(3))
        .unwrap()
        .fit(&mut straight, &mut adam, &train, &test, History::new())
        .unwrap();

    // The same run, stopped after epoch 1 (as if killed), with a checkpoint.
    let mut first = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam1 = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    let save = TrainConfig {
        save_path: Some(path.clone()),
        ..config(3)
    };
    let part = Trainer::new(save.clone())
        .unwrap()
        .on_epoch_end(|m| {
            if m.epoch == 1 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .fit(&mut first, &mut adam1, &train, &test, History::new())
        .unwrap();
    assert_eq!(part.trained_epochs, [1]);

    // Resume into a differently initialised model and a fresh optimizer.
    let checkpoint = Checkpoint::load(&path).unwrap();
    let state = checkpoint.training.clone().unwrap();
    assert_eq!((state.epoch, state.seed), (1, 5));
    let mut resumed = lenet5(&mut StdRng::seed_from_u64(123));
    checkpoint.apply_to(&mut resumed).unwrap();
    let mut adam2 = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    adam2.load_state(state.optimizer, &resumed).unwrap();
    let rest = Trainer::new(save)
        .unwrap()
        .fit(&mut resumed, &mut adam2, &train, &test, state.history)
        .unwrap();

    assert_eq!(rest.trained_epochs, [2, 3]);
    assert_eq!(weights(&resumed), weights(&straight));
    assert_eq!(adam2.steps(), adam.steps());
    let losses = |h: &History| {
        h.epochs
            .iter()
            .map(|e| (e.epoch, e.train_loss, e.test_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&rest.history), losses(&full.history));
    // The checkpoint of the last epoch has the whole history.
    let last = Checkpoint::load(&path).unwrap().training.unwrap();
    assert_eq!(last.epoch, 3);
    assert_eq!(last.history.completed_epochs(), 3);
}

#[test]
fn a_complete_run_trains_nothing_and_evaluates() {
    let (train, test) = (synthetic(64, 1), synthetic(20, 2));
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    let mut trainer = Trainer::new(config(1)).unwrap();
    let first = trainer
        .fit(&mut model, &mut adam, &train, &test, History::new())
        .unwrap();
    let before = weights(&model);
    let again = trainer
        .fit(&mut model, &mut adam, &train, &test, first.history.clone())
        .unwrap();
    assert!(again.trained_epochs.is_empty());
    assert_eq!(again.history, first.history);
    assert_eq!(weights(&model), before);
    assert_eq!(again.evaluation.accuracy, first.evaluation.accuracy);
}

#[test]
fn a_nan_loss_stops_training_naming_the_epoch_and_batch() {
    let (train, test) = (synthetic(160, 1), synthetic(20, 2));
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(1e9)).unwrap();
    let err = Trainer::new(TrainConfig {
        schedule: LrSchedule::Constant,
        ..config(2)
    })
    .unwrap()
    .with_replicas(factory())
    .fit(&mut model, &mut adam, &train, &test, History::new())
    .unwrap_err();
    let TrainError::NonFiniteLoss {
        epoch,
        batch,
        batches,
        loss,
        ref last_checkpoint,
    } = err
    else {
        panic!("expected a non-finite loss, got {err}");
    };
    // The first batch still has sane weights; the first huge step breaks the second.
    assert_eq!((epoch, batch, batches), (1, 2, 5));
    assert!(!loss.is_finite());
    assert!(last_checkpoint.is_none());
    let message = err.to_string();
    assert!(message.contains("epoch 1, batch 2 of 5"), "{message}");
    assert!(message.contains("no checkpoint"), "{message}");
    // Training stopped before the bad batch's update: exactly one step was taken.
    assert_eq!(adam.steps(), 1);
}

#[test]
fn a_nan_loss_after_a_checkpoint_names_it() {
    let (train, test) = (synthetic(96, 1), synthetic(20, 2));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.safetensors");
    let save = TrainConfig {
        save_path: Some(path.clone()),
        schedule: LrSchedule::Constant,
        ..config(2)
    };
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    let mut history = Trainer::new(TrainConfig {
        epochs: 1,
        ..save.clone()
    })
    .unwrap()
    .fit(&mut model, &mut adam, &train, &test, History::new())
    .unwrap()
    .history;
    let good = std::fs::read(&path).unwrap();

    // Continue as `--resume` does, from the checkpoint of epoch 1.
    adam.set_learning_rate(1e9);
    history.epochs.truncate(1);
    let resume = TrainConfig {
        resumed_from: Some(path.clone()),
        ..save
    };
    let err = Trainer::new(resume)
        .unwrap()
        .fit(&mut model, &mut adam, &train, &test, history)
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("epoch 2, batch 2 of 3"), "{message}");
    assert!(
        message.contains(&format!(
            "the last good checkpoint is {} (after epoch 1)",
            path.display()
        )),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        good,
        "the good checkpoint was overwritten"
    );
}

#[test]
fn a_checkpoint_that_cannot_be_written_stops_the_run() {
    let (train, test) = (synthetic(32, 1), synthetic(10, 2));
    let dir = tempfile::tempdir().unwrap();
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    let err = Trainer::new(TrainConfig {
        save_path: Some(dir.path().join("missing/dir/run.safetensors")),
        ..config(2)
    })
    .unwrap()
    .fit(&mut model, &mut adam, &train, &test, History::new())
    .unwrap_err();
    assert!(
        matches!(err, TrainError::Checkpoint(CheckpointError::Write { .. })),
        "{err}"
    );
}

#[test]
fn invalid_configurations_are_refused() {
    let zero_batch = TrainConfig {
        batch: BatchConfig {
            batch_size: 0,
            ..BatchConfig::default()
        },
        ..TrainConfig::default()
    };
    assert!(matches!(
        Trainer::new(zero_batch),
        Err(TrainError::Config(_))
    ));
    let zero_eval = TrainConfig {
        eval_batch_size: 0,
        ..TrainConfig::default()
    };
    assert!(matches!(
        Trainer::new(zero_eval),
        Err(TrainError::Config(_))
    ));
    let empty = Split::new(Vec::new(), Vec::new(), Normalization::MNIST);
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    let err = Trainer::new(config(1))
        .unwrap()
        .fit(&mut model, &mut adam, &empty, &empty, History::new())
        .unwrap_err();
    assert!(err.to_string().contains("training split is empty"), "{err}");
}

/// A small network with batch norm (buffers): conv → bn → relu → flatten → dense.
fn bn_net(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(
            "conv1",
            Conv2d::new(1, 4, [3, 3], Conv2dConfig::default(), &mut rng),
        )
        .add("bn1", BatchNorm2d::new(4, BatchNorm2dConfig::default()))
        .add("relu1", ReLU::new())
        .add("flatten", Flatten::new())
        .add("fc", Dense::new(4 * 26 * 26, 10, &mut rng))
        .build(&[1, 28, 28])
        .unwrap()
}

#[test]
fn a_model_with_buffers_trains_in_whole_batches_on_the_model_itself() {
    let (train, test) = (synthetic(128, 1), synthetic(40, 2));
    let run = |with_factory: bool| {
        let mut model = bn_net(0);
        let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
        let mut trainer = Trainer::new(TrainConfig {
            threads: 2,
            ..config(1)
        })
        .unwrap();
        if with_factory {
            trainer = trainer.with_replicas(Arc::new(|| Box::new(bn_net(1))));
        }
        let outcome = trainer
            .fit(&mut model, &mut adam, &train, &test, History::new())
            .unwrap();
        let buffers: Vec<Vec<f32>> = model
            .buffers()
            .iter()
            .map(|(_, b)| b.iter().copied().collect())
            .collect();
        (
            weights(&model),
            buffers,
            outcome.history.epochs[0].train_loss,
        )
    };
    let with = run(true);
    assert_eq!(with, run(false));
    // The running statistics were updated once per batch (4 batches of 32).
    let (_, buffers, _) = with;
    assert_eq!(buffers[2], vec![4.0], "num_batches_tracked");
    assert!(buffers[0].iter().any(|&m| m != 0.0), "running_mean");
}
