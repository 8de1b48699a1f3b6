//! The trainer on a small synthetic dataset (no MNIST needed): NaN handling, resume,
//! reproducibility across thread counts, checkpoints after each epoch.

use ndarray::Array4;
use ndarray_rand::rand::{rngs::StdRng, Rng, SeedableRng};
use scratchnet_data::{BatchConfig, Normalization, Split};
use scratchnet_layers::{
    BatchNorm2d, BatchNorm2dConfig, Conv2d, Conv2dConfig, Dense, Dropout, Flatten, GlobalAvgPool2d,
    Layer, ReLU, Residual, ResidualConfig, Sequential,
};
use scratchnet_train::models::lenet5;
use scratchnet_train::{
    evaluate, train_step, Adam, AdamConfig, Checkpoint, CheckpointError, DataParallel,
    EpochMetrics, History, LrSchedule, ModelFactory, Optimizer, OptimizerState, PartialEpoch,
    ProgressMode, SaveLock, Sgd, SgdConfig, StopFlag, TrainConfig, TrainError, Trainer,
};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// `n` noisy 28×28 images: class `c` has a bright 8×8 block at a place of its own.
fn synthetic(n: usize, seed: u64) -> Split {
    synthetic_labelled(n, seed, 0)
}

/// [`synthetic`]'s images of class `c`, labelled `c + shift` (mod 10).
fn synthetic_labelled(n: usize, seed: u64, shift: u8) -> Split {
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
        labels.push((class + shift) % 10);
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

/// Runs `work` on a new rayon pool of `threads` threads.
fn on_threads<R: Send>(threads: usize, work: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(work)
}

/// Checks the text of a non-finite-loss error: where it happened, and the last good
/// checkpoint (`path`, saved `at`).
fn assert_nan_message(err: &TrainError, happened: &str, path: &Path, at: &str) {
    let message = err.to_string();
    assert!(message.contains(happened), "{message}");
    let checkpoint = format!("the last good checkpoint is {} ({at})", path.display());
    assert!(message.contains(&checkpoint), "{message}");
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
    let mut adam = StopAfter {
        inner: Adam::new(AdamConfig::adam(3e-3)).unwrap(),
        at: u64::MAX,
        stop: StopFlag::new(),
        last_step_rate: 0.0,
    };
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
    // The cosine schedule ends near 0, and the optimizer is handed back at its base.
    assert!(adam.last_step_rate < 1e-4, "{}", adam.last_step_rate);
    assert_eq!(adam.learning_rate(), 3e-3);
}

#[test]
fn the_number_of_replicas_does_not_change_the_result() {
    let (train, test) = (synthetic(200, 1), synthetic(50, 2));
    let run = |threads: usize| {
        let mut model = lenet5(&mut StdRng::seed_from_u64(0));
        let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
        let outcome = Trainer::new(TrainConfig {
            threads,
            ..config(1)
        })
        .unwrap()
        .with_replicas(factory())
        .fit(&mut model, &mut adam, &train, &test, History::new())
        .unwrap();
        (weights(&model), outcome.history.epochs[0].train_loss)
    };
    let one = run(1);
    for threads in [2, 3] {
        assert!(run(threads) == one, "{threads} replicas differ from one");
    }
    // Without replicas each batch is one plain step: the same training, other roundings.
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    let plain = Trainer::new(config(1))
        .unwrap()
        .fit(&mut model, &mut adam, &train, &test, History::new())
        .unwrap();
    let plain_loss = plain.history.epochs[0].train_loss;
    assert!(
        (plain_loss - one.1).abs() < 1e-3 * one.1,
        "{plain_loss} vs {}",
        one.1
    );
}

/// A batch of `n` synthetic images and labels.
fn batch(n: usize, seed: u64) -> (Array4<f32>, Vec<usize>) {
    let split = synthetic(n, seed);
    let config = BatchConfig {
        batch_size: n,
        shuffle: false,
        seed: 0,
        augment: false,
    };
    let batch = split.batches(&config, 0).next().unwrap();
    (batch.images, batch.labels)
}

#[test]
fn the_plain_step_gives_the_same_weights_on_any_number_of_threads() {
    let (images, labels) = batch(64, 3);
    let run = |threads: usize| {
        on_threads(threads, || {
            let mut model = lenet5(&mut StdRng::seed_from_u64(0));
            let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
            let mut losses = Vec::new();
            for _ in 0..3 {
                let outcome = train_step(&mut model, &mut adam, images.view(), &labels).unwrap();
                losses.push(outcome.loss.to_bits());
            }
            (weights(&model), losses, adam.state())
        })
    };
    let one = run(1);
    for threads in [2, 4] {
        let other = run(threads);
        assert!(other.0 == one.0, "{threads} threads: other weights");
        assert_eq!(other.1, one.1, "{threads} threads: other losses");
        assert!(other.2 == one.2, "{threads} threads: other optimizer state");
    }
}

#[test]
fn the_replica_step_matches_the_plain_step_up_to_rounding() {
    let (images, labels) = batch(50, 4);
    let mut plain = lenet5(&mut StdRng::seed_from_u64(0));
    let mut sharded = lenet5(&mut StdRng::seed_from_u64(0));
    let sgd = |lr| {
        Sgd::new(SgdConfig {
            lr,
            ..SgdConfig::default()
        })
        .unwrap()
    };
    let (mut sgd_plain, mut sgd_sharded) = (sgd(0.1), sgd(0.1));
    let mut engine = DataParallel::with_replicas(16, 2, &factory(), &sharded).unwrap();
    let a = train_step(&mut plain, &mut sgd_plain, images.view(), &labels).unwrap();
    let b = engine
        .train_step(&mut sharded, &mut sgd_sharded, images.view(), &labels)
        .unwrap();
    assert_eq!(a.correct, b.correct);
    assert!((a.loss - b.loss).abs() < 1e-6, "{a:?} vs {b:?}");
    for ((name, p), (_, q)) in plain.parameters().iter().zip(sharded.parameters()) {
        let gap = (&p.value - &q.value)
            .iter()
            .fold(0.0f32, |m, d| m.max(d.abs()));
        assert!(gap < 1e-5, "{name}: {gap}");
    }
    let fresh = weights(&lenet5(&mut StdRng::seed_from_u64(0)));
    assert!(weights(&sharded) != fresh, "the step moved no weight");
    // The engine's evaluation is the plain one, bit for bit.
    let test = synthetic(30, 5);
    let on_replicas = engine.evaluate(&mut sharded, &test, 7).unwrap();
    assert_eq!(on_replicas, evaluate(&mut sharded, &test, 7).unwrap());
    assert_eq!(on_replicas.confusion.total(), 30);
}

#[test]
fn a_step_with_a_nan_loss_leaves_the_weights_and_the_optimizer_untouched() {
    let (images, labels) = batch(8, 6);
    for engine in [false, true] {
        let mut model = lenet5(&mut StdRng::seed_from_u64(0));
        // An infinite bias makes an infinite logit, and the loss NaN.
        let mut params = model.parameters_mut();
        params.last_mut().unwrap().1.value[[0]] = f32::INFINITY;
        drop(params);
        let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
        let before = weights(&model);
        let outcome = if engine {
            DataParallel::with_replicas(4, 2, &factory(), &model)
                .unwrap()
                .train_step(&mut model, &mut adam, images.view(), &labels)
        } else {
            train_step(&mut model, &mut adam, images.view(), &labels)
        }
        .unwrap();
        assert!(outcome.loss.is_nan(), "{outcome:?}");
        assert!(
            weights(&model) == before,
            "the weights changed (engine: {engine})"
        );
        assert_eq!(adam.steps(), 0);
        assert!(adam.state().tensors.is_empty());
    }
}

#[test]
fn the_engine_refuses_models_with_buffers_or_counters() {
    let model = bn_net(0);
    let factory: ModelFactory = Arc::new(|| Box::new(bn_net(1)));
    let err = DataParallel::with_replicas(16, 2, &factory, &model)
        .err()
        .unwrap();
    assert!(matches!(err, TrainError::Config(_)), "{err}");
    assert!(err.to_string().contains("train_step"), "{err}");
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
    // Every metric but the times, bit for bit.
    assert_eq!(metrics_bits(&rest.history), metrics_bits(&full.history));
    // The checkpoint of the last epoch has the whole history.
    let last = Checkpoint::load(&path).unwrap().training.unwrap();
    assert_eq!(last.epoch, 3);
    assert_eq!(last.history.completed_epochs(), 3);
}

/// A run stopped by its callback and continued in the same process with the same
/// optimizer (no checkpoint) ends where the uninterrupted run does: `fit` hands the
/// optimizer back at the schedule's base rate, not at the last scheduled one (which the
/// second `fit` would take as its base, decaying the cosine twice).
#[test]
fn fit_again_with_the_same_optimizer_continues_the_schedule() {
    let (train, test) = (synthetic(160, 1), synthetic(50, 2));
    let mut straight = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    let full = Trainer::new(config(3))
        .unwrap()
        .fit(&mut straight, &mut adam, &train, &test, History::new())
        .unwrap();
    assert_eq!(adam.learning_rate(), 2e-3, "fit hands back the base rate");

    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut same_adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    let part = Trainer::new(config(3))
        .unwrap()
        .on_epoch_end(|m| match m.epoch {
            1 => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        })
        .fit(&mut model, &mut same_adam, &train, &test, History::new())
        .unwrap();
    assert_eq!(same_adam.learning_rate(), 2e-3, "after a Break as well");
    let rest = Trainer::new(config(3))
        .unwrap()
        .fit(&mut model, &mut same_adam, &train, &test, part.history)
        .unwrap();
    assert_eq!(rest.trained_epochs, [2, 3]);
    assert_eq!(weights(&model), weights(&straight));
    assert_eq!(metrics_bits(&rest.history), metrics_bits(&full.history));
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
fn the_batch_callback_runs_every_so_many_batches_but_the_last_and_never_at_zero() {
    let (train, test) = (synthetic(224, 1), synthetic(20, 2)); // 7 batches of 32
    let calls = |every| {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        let mut model = lenet5(&mut StdRng::seed_from_u64(0));
        let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
        Trainer::new(config(2))
            .unwrap()
            .on_batches(every, move |epoch, done| {
                (seen.lock().unwrap()).push((epoch, done.batches_done, done.samples));
            })
            .fit(&mut model, &mut adam, &train, &test, History::new())
            .unwrap();
        Arc::try_unwrap(calls).unwrap().into_inner().unwrap()
    };
    let every_third = [(1, 3, 96), (1, 6, 192), (2, 3, 96), (2, 6, 192)];
    assert_eq!(calls(3), every_third);
    // The seventh batch is the last: the epoch's end follows it instead.
    assert_eq!(calls(7), []);
    assert_eq!(calls(0), [], "0: never");
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
    assert_nan_message(&err, "epoch 2, batch 2 of 3", &path, "after epoch 1");
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
    // QA: an empty test split trained and reported a loss and an accuracy of 0.
    let err = Trainer::new(config(1))
        .unwrap()
        .fit(
            &mut model,
            &mut adam,
            &synthetic(8, 0),
            &empty,
            History::new(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("test split is empty"), "{err}");
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

/// What a step's memory is estimated from: replicas only with a factory and for a model
/// without buffers or counters; as many as `threads` (0: the pool's). (On the reference
/// kernels, none: see `reference_path.rs`.)
#[test]
fn replicas_for_says_how_a_model_will_train() {
    let trainer = |threads| {
        Trainer::new(TrainConfig {
            threads,
            ..config(1)
        })
        .unwrap()
    };
    let plain_lenet = lenet5(&mut StdRng::seed_from_u64(0));
    assert_eq!(trainer(2).replicas_for(&plain_lenet), None, "no factory");
    let sharded = trainer(3).with_replicas(factory());
    assert_eq!(sharded.replicas_for(&plain_lenet), Some(3));
    assert_eq!(sharded.replicas_for(&bn_net(0)), None, "buffers");
    let pool = on_threads(2, || {
        let lenet = lenet5(&mut StdRng::seed_from_u64(0));
        let trainer = Trainer::new(config(1)).unwrap().with_replicas(factory());
        trainer.replicas_for(&lenet)
    });
    assert_eq!(pool, Some(2), "threads 0: the pool's");
}

/// The metrics of every epoch without the times, as bits.
fn metrics_bits(history: &History) -> Vec<(usize, [u64; 4])> {
    history
        .epochs
        .iter()
        .map(|e: &EpochMetrics| {
            (
                e.epoch,
                [
                    e.train_loss.to_bits(),
                    e.train_accuracy.to_bits(),
                    e.test_loss.to_bits(),
                    e.test_accuracy.to_bits(),
                ],
            )
        })
        .collect()
}

#[test]
fn the_thread_count_of_the_pool_does_not_change_weights_or_metrics() {
    let (train, test) = (synthetic(200, 1), synthetic(50, 2));
    let run = |threads: usize| {
        on_threads(threads, || {
            let mut model = lenet5(&mut StdRng::seed_from_u64(0));
            let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
            // threads 0: one replica per thread of the pool.
            let outcome = Trainer::new(config(2))
                .unwrap()
                .with_replicas(factory())
                .fit(&mut model, &mut adam, &train, &test, History::new())
                .unwrap();
            (
                weights(&model),
                metrics_bits(&outcome.history),
                adam.state(),
            )
        })
    };
    let one = run(1);
    assert_eq!(one.1.len(), 2);
    for threads in [2, 4] {
        let other = run(threads);
        assert!(other.0 == one.0, "{threads} threads: other weights");
        assert_eq!(other.1, one.1, "{threads} threads: other metrics");
        assert!(other.2 == one.2, "{threads} threads: other optimizer state");
    }
}

/// Adam that raises `stop` after its `at`-th step: a deterministic "Ctrl-C after batch k".
/// It also records the learning rate of its last step.
struct StopAfter {
    inner: Adam,
    at: u64,
    stop: StopFlag,
    last_step_rate: f32,
}

impl Optimizer for StopAfter {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn step(&mut self, model: &mut dyn Layer) {
        self.last_step_rate = self.inner.learning_rate();
        self.inner.step(model);
        if self.inner.steps() == self.at {
            self.stop.raise();
        }
    }
    fn learning_rate(&self) -> f32 {
        self.inner.learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.inner.set_learning_rate(lr);
    }
    fn steps(&self) -> u64 {
        self.inner.steps()
    }
    fn state(&self) -> OptimizerState {
        self.inner.state()
    }
    fn load_state(
        &mut self,
        state: OptimizerState,
        model: &dyn Layer,
    ) -> Result<(), CheckpointError> {
        self.inner.load_state(state, model)
    }
}

/// Resumes from the checkpoint at `path` as `--resume` does: a differently
/// initialised model, a fresh optimizer, the saved history and partial epoch.
fn resume_from(
    path: &Path,
    trainer: &mut Trainer,
    optimizer: &mut dyn Optimizer,
    train: &Split,
    test: &Split,
) -> (Sequential, Result<scratchnet_train::FitOutcome, TrainError>) {
    let checkpoint = Checkpoint::load(path).unwrap();
    let state = checkpoint.training.clone().unwrap();
    let mut model = lenet5(&mut StdRng::seed_from_u64(777));
    checkpoint.apply_to(&mut model).unwrap();
    optimizer.load_state(state.optimizer, &model).unwrap();
    let outcome = trainer.fit_from(
        &mut model,
        optimizer,
        train,
        test,
        state.history,
        state.partial,
    );
    (model, outcome)
}

#[test]
fn a_run_stopped_after_any_batch_resumes_bit_identically() {
    // 160 samples in batches of 32: 5 batches per epoch, 15 in all.
    let (train, test) = (synthetic(160, 1), synthetic(50, 2));
    let dir = tempfile::tempdir().unwrap();
    let mut straight = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    let full = Trainer::new(config(3))
        .unwrap()
        .with_replicas(factory())
        .fit(&mut straight, &mut adam, &train, &test, History::new())
        .unwrap();

    // Mid-epoch 1, the last batch of epoch 1, mid-epoch 2, and stopped twice (3 then 12).
    for stops in [&[3u64][..], &[5], &[7], &[3, 12]] {
        let path = dir.path().join(format!("stop-{stops:?}.safetensors"));
        let stop = StopFlag::new();
        let save = TrainConfig {
            save_path: Some(path.clone()),
            stop: stop.clone(),
            ..config(3)
        };
        let mut model = lenet5(&mut StdRng::seed_from_u64(0));
        let mut optimizer = StopAfter {
            inner: Adam::new(AdamConfig::adam(2e-3)).unwrap(),
            at: stops[0],
            stop: stop.clone(),
            last_step_rate: 0.0,
        };
        let err = Trainer::new(save.clone())
            .unwrap()
            .with_replicas(factory())
            .fit(&mut model, &mut optimizer, &train, &test, History::new())
            .unwrap_err();
        let TrainError::Interrupted {
            epoch,
            batch,
            batches,
            ref checkpoint,
        } = err
        else {
            panic!("expected an interruption, got {err}");
        };
        let k = stops[0] as usize;
        assert_eq!(
            (epoch, batch, batches),
            ((k - 1) / 5 + 1, (k - 1) % 5 + 1, 5)
        );
        assert_eq!(checkpoint.as_deref(), Some(path.as_path()));
        assert!(err.to_string().contains("interrupted after batch"), "{err}");
        let state = Checkpoint::load(&path).unwrap().training.unwrap();
        assert_eq!(state.epoch, epoch - 1);
        assert_eq!(state.optimizer.steps, stops[0]);
        assert_eq!(state.partial.as_ref().unwrap().batches_done, batch);

        // Resume (possibly stopping once more) until done, each time from the file.
        let mut rest = None;
        for (i, _) in stops.iter().enumerate() {
            let stop = StopFlag::new();
            let mut optimizer = StopAfter {
                inner: Adam::new(AdamConfig::adam(2e-3)).unwrap(),
                at: stops.get(i + 1).copied().unwrap_or(u64::MAX),
                stop: stop.clone(),
                last_step_rate: 0.0,
            };
            let mut trainer = Trainer::new(TrainConfig {
                stop,
                resumed_from: Some(path.clone()),
                ..save.clone()
            })
            .unwrap()
            .with_replicas(factory());
            let (model, outcome) = resume_from(&path, &mut trainer, &mut optimizer, &train, &test);
            match outcome {
                Ok(outcome) => rest = Some((model, outcome, optimizer.steps())),
                Err(TrainError::Interrupted { .. }) if i + 1 < stops.len() => {}
                Err(e) => panic!("{stops:?}: {e}"),
            }
        }
        let (model, outcome, steps) = rest.unwrap();
        assert!(
            weights(&model) == weights(&straight),
            "{stops:?}: the weights differ"
        );
        assert_eq!(steps, adam.steps());
        assert_eq!(
            metrics_bits(&outcome.history),
            metrics_bits(&full.history),
            "{stops:?}: the metrics differ"
        );
        let last = Checkpoint::load(&path).unwrap().training.unwrap();
        assert_eq!((last.epoch, last.partial), (3, None));
    }
}

/// A stop that comes while an epoch ends (here from its callback) is seen before the
/// next epoch's first batch: the checkpoint holds the finished epoch, and no partial one.
#[test]
fn a_stop_between_epochs_saves_the_finished_epoch_without_a_partial_one() {
    let (train, test) = (synthetic(160, 1), synthetic(20, 2)); // 5 batches of 32
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("between.safetensors");
    let stop = StopFlag::new();
    let raise = stop.clone();
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    let err = Trainer::new(TrainConfig {
        save_path: Some(path.clone()),
        stop,
        ..config(3)
    })
    .unwrap()
    .on_epoch_end(move |_| {
        raise.raise();
        ControlFlow::Continue(())
    })
    .fit(&mut model, &mut adam, &train, &test, History::new())
    .unwrap_err();
    assert!(
        matches!(err, TrainError::Interrupted { epoch: 2, batch: 0, batches: 5, ref checkpoint }
            if checkpoint.as_deref() == Some(path.as_path())),
        "{err:?}"
    );
    let state = Checkpoint::load(&path).unwrap().training.unwrap();
    assert_eq!(
        (state.epoch, state.partial, state.optimizer.steps),
        (1, None, 5)
    );
    // The epoch's rate is its samples over its seconds.
    let [first] = &state.history.epochs[..] else {
        panic!("{:?}", state.history)
    };
    let samples = first.samples_per_second * first.seconds;
    assert!((samples - 160.0).abs() < 1e-6, "{first:?}");
}

#[test]
fn a_partial_epoch_of_other_batches_is_refused() {
    let (train, test) = (synthetic(160, 1), synthetic(20, 2)); // 5 batches of 32
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    // Another batch count, and more batches done than the epoch has.
    for (batches_done, batches) in [(2, 4), (6, 5)] {
        // An optimizer that has taken as many steps (of zero gradients).
        let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
        while adam.steps() < batches_done as u64 {
            adam.step(&mut model);
        }
        let partial = PartialEpoch {
            batches_done,
            batches,
            loss_sum: 1.0,
            correct: 1,
            samples: 32 * batches_done,
            seconds: 1.0,
        };
        let err = (Trainer::new(config(1)).unwrap())
            .fit_from(
                &mut model,
                &mut adam,
                &train,
                &test,
                History::new(),
                Some(partial),
            )
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("this epoch has 5 batches"), "{message}");
        assert_eq!(adam.steps(), batches_done as u64, "no step taken");
    }
}

/// A stop before the first step writes nothing: the file at the save path (here a
/// stand-in for another run's checkpoint, replaced only by a trained model) is left as
/// it was. A resumed run names the checkpoint it resumed from, which still resumes
/// exactly there.
#[test]
fn a_stop_before_the_first_step_saves_nothing() {
    let (train, test) = (synthetic(64, 1), synthetic(20, 2));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    std::fs::write(&path, b"the previous model").unwrap();
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    for resumed_from in [None, Some(path.clone())] {
        let stop = StopFlag::new();
        stop.raise();
        let err = Trainer::new(TrainConfig {
            save_path: Some(path.clone()),
            resumed_from: resumed_from.clone(),
            stop,
            ..config(2)
        })
        .unwrap()
        .fit(&mut model, &mut adam, &train, &test, History::new())
        .unwrap_err();
        let TrainError::Interrupted {
            epoch: 1,
            batch: 0,
            checkpoint,
            ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(checkpoint, &resumed_from, "{err}");
        let said = err.to_string();
        assert!(said.contains("before epoch 1"), "{said}");
        match resumed_from {
            None => assert!(said.contains("no checkpoint was saved"), "{said}"),
            Some(_) => assert!(
                said.contains("run.safetensors resumes from there"),
                "{said}"
            ),
        }
        assert_eq!(adam.steps(), 0);
        assert_eq!(std::fs::read(&path).unwrap(), b"the previous model");
    }
}

/// A small network with dropout (a random stream of its own): conv → relu → flatten →
/// dropout → dense.
fn dropout_net(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(
            "conv1",
            Conv2d::new(1, 4, [3, 3], Conv2dConfig::default(), &mut rng),
        )
        .add("relu1", ReLU::new())
        .add("flatten", Flatten::new())
        .add("dropout", Dropout::new(0.5, 1234))
        .add("fc", Dense::new(4 * 26 * 26, 10, &mut rng))
        .build(&[1, 28, 28])
        .unwrap()
}

/// Trains `dropout_net` for 2 epochs, stopped after batch `stop_at` and resumed from
/// the checkpoint into a fresh model (`forget_counter` resets dropout's mask counter
/// after loading, as a checkpoint without it would); returns the final weights.
fn dropout_run_resumed(stop_at: u64, forget_counter: bool) -> Vec<Vec<u32>> {
    let (train, test) = (synthetic(160, 1), synthetic(50, 2));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dropout.safetensors");
    let stop = StopFlag::new();
    let save = TrainConfig {
        save_path: Some(path.clone()),
        stop: stop.clone(),
        ..config(2)
    };
    let mut model = dropout_net(0);
    let mut optimizer = StopAfter {
        inner: Adam::new(AdamConfig::adam(2e-3)).unwrap(),
        at: stop_at,
        stop,
        last_step_rate: 0.0,
    };
    let err = Trainer::new(save.clone())
        .unwrap()
        .fit(&mut model, &mut optimizer, &train, &test, History::new())
        .unwrap_err();
    assert!(matches!(err, TrainError::Interrupted { .. }), "{err}");
    let checkpoint = Checkpoint::load(&path).unwrap();
    assert_eq!(checkpoint.extra_state["dropout.step"], stop_at);

    let state = checkpoint.training.clone().unwrap();
    let mut resumed = dropout_net(777);
    checkpoint.apply_to(&mut resumed).unwrap();
    assert_eq!(
        resumed.extra_state(),
        vec![("dropout.step".into(), stop_at)]
    );
    if forget_counter {
        for (_, counter) in resumed.extra_state_mut() {
            *counter = 0;
        }
    }
    let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    adam.load_state(state.optimizer, &resumed).unwrap();
    Trainer::new(TrainConfig {
        stop: StopFlag::new(),
        resumed_from: Some(path.clone()),
        ..save
    })
    .unwrap()
    .fit_from(
        &mut resumed,
        &mut adam,
        &train,
        &test,
        state.history,
        state.partial,
    )
    .unwrap();
    weights(&resumed)
}

#[test]
fn a_model_with_dropout_resumes_bit_identically() {
    let (train, test) = (synthetic(160, 1), synthetic(50, 2));
    let mut straight = dropout_net(0);
    let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    Trainer::new(config(2))
        .unwrap()
        .fit(&mut straight, &mut adam, &train, &test, History::new())
        .unwrap();
    // 5 batches per epoch: stopped mid-epoch 1, and at the end of epoch 1.
    for stop_at in [3, 5] {
        assert!(
            dropout_run_resumed(stop_at, false) == weights(&straight),
            "stopped after batch {stop_at}: the weights differ"
        );
    }
    // The counter is what makes it exact: without it the masks repeat and the run drifts.
    assert!(dropout_run_resumed(3, true) != weights(&straight));
}

#[test]
fn a_nan_loss_after_a_mid_epoch_resume_names_where_the_checkpoint_stands() {
    // 96 samples in batches of 32: 3 batches per epoch.
    let (train, test) = (synthetic(96, 1), synthetic(20, 2));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let stop = StopFlag::new();
    let save = TrainConfig {
        save_path: Some(path.clone()),
        stop: stop.clone(),
        ..config(2)
    };
    // Stopped after batch 1 of epoch 2.
    let mut optimizer = StopAfter {
        inner: Adam::new(AdamConfig::adam(1e-3)).unwrap(),
        at: 4,
        stop,
        last_step_rate: 0.0,
    };
    Trainer::new(save.clone())
        .unwrap()
        .fit(
            &mut lenet5(&mut StdRng::seed_from_u64(0)),
            &mut optimizer,
            &train,
            &test,
            History::new(),
        )
        .unwrap_err();
    let good = std::fs::read(&path).unwrap();

    // Resumed with a huge rate: batch 2 still sees sane weights, batch 3 does not.
    let checkpoint = Checkpoint::load(&path).unwrap();
    let state = checkpoint.training.clone().unwrap();
    let mut model = lenet5(&mut StdRng::seed_from_u64(777));
    checkpoint.apply_to(&mut model).unwrap();
    let mut adam = Adam::new(AdamConfig::adam(1e9)).unwrap();
    adam.load_state(state.optimizer, &model).unwrap();
    let err = Trainer::new(TrainConfig {
        stop: StopFlag::new(),
        resumed_from: Some(path.clone()),
        ..save
    })
    .unwrap()
    .fit_from(
        &mut model,
        &mut adam,
        &train,
        &test,
        state.history,
        state.partial,
    )
    .unwrap_err();
    assert_nan_message(
        &err,
        "epoch 2, batch 3 of 3",
        &path,
        "after batch 1 of epoch 2",
    );
    assert_eq!(std::fs::read(&path).unwrap(), good);
}

#[test]
fn a_model_with_dropout_trains_the_same_on_any_number_of_threads() {
    let (train, test) = (synthetic(160, 1), synthetic(50, 2));
    let run = |threads: usize| {
        on_threads(threads, || {
            let mut model = dropout_net(0);
            let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
            // Replicas offered, as `run` does; the dropout counter keeps the model itself.
            Trainer::new(config(2))
                .unwrap()
                .with_replicas(Arc::new(|| Box::new(dropout_net(99))))
                .fit(&mut model, &mut adam, &train, &test, History::new())
                .unwrap();
            (weights(&model), model.extra_state())
        })
    };
    let one = run(1);
    // 5 batches per epoch, one mask per batch.
    assert_eq!(one.1, vec![("dropout.step".to_string(), 10)]);
    for threads in [2, 4] {
        assert!(run(threads) == one, "{threads} threads: other weights");
    }
}

/// A residual network with batch norm and dropout: conv → bn → relu → a residual
/// block (conv-bn-relu-conv-bn, ReLU after the sum) → global pooling → dropout → dense.
/// Its activations are large enough for the kernels' element passes to go parallel.
fn residual_bn_dropout_net(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    let conv = |cin, cout, rng: &mut StdRng| {
        let config = Conv2dConfig {
            padding: [1, 1],
            bias: false,
            ..Conv2dConfig::default()
        };
        Conv2d::new(cin, cout, [3, 3], config, rng)
    };
    let bn = |c| BatchNorm2d::new(c, BatchNorm2dConfig::default());
    let body = Sequential::new()
        .add("conv1", conv(8, 8, &mut rng))
        .add("bn1", bn(8))
        .add("relu", ReLU::new())
        .add("conv2", conv(8, 8, &mut rng))
        .add("bn2", bn(8));
    let block = Residual::new(body, &[8, 28, 28], ResidualConfig { relu: true }, &mut rng).unwrap();
    Sequential::new()
        .add("conv1", conv(1, 8, &mut rng))
        .add("bn1", bn(8))
        .add("relu", ReLU::new())
        .add("layer1", block)
        .add("avgpool", GlobalAvgPool2d::new())
        .add("flatten", Flatten::new())
        .add("dropout", Dropout::new(0.2, 77))
        .add("fc", Dense::new(8, 10, &mut rng))
        .build(&[1, 28, 28])
        .unwrap()
}

/// Issue 15: models with batch norm (whole-batch statistics) and dropout (one mask
/// per batch) train on the model itself, their kernels spread over the pool's threads
/// in fixed chunks: weights, running statistics and counters are the same bits on
/// 1, 2 and 4 threads.
#[test]
fn a_residual_model_with_batch_norm_and_dropout_trains_the_same_on_any_number_of_threads() {
    let (train, test) = (synthetic(96, 1), synthetic(40, 2));
    let run = |threads: usize| {
        on_threads(threads, || {
            let mut model = residual_bn_dropout_net(0);
            let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
            let outcome = Trainer::new(config(2))
                .unwrap()
                .with_replicas(Arc::new(|| Box::new(residual_bn_dropout_net(99))))
                .fit(&mut model, &mut adam, &train, &test, History::new())
                .unwrap();
            let buffers: Vec<Vec<u32>> = model
                .buffers()
                .iter()
                .map(|(_, b)| b.iter().map(|v| v.to_bits()).collect())
                .collect();
            let metrics = metrics_bits(&outcome.history);
            (weights(&model), buffers, model.extra_state(), metrics)
        })
    };
    let one = run(1);
    assert_eq!(one.2, vec![("dropout.step".to_string(), 6)]);
    for threads in [2, 4] {
        assert!(
            run(threads) == one,
            "{threads} threads: other weights, statistics or metrics"
        );
    }
}

/// A step whose loss is finite can still blow the weights up (the issue's
/// `--lr 1e8` reproducer): the epoch's model is then never saved over a good
/// checkpoint, and the run stops with an error that says so.
#[test]
fn a_diverged_model_never_overwrites_a_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    // One batch per epoch: its loss is finite, the step it takes is not survivable.
    let (train, test) = (synthetic(32, 1), synthetic(64, 2));
    let run = |lr: f32, epochs: usize| {
        let mut model = lenet5(&mut StdRng::seed_from_u64(0));
        let mut adam = Adam::new(AdamConfig::adam(lr)).unwrap();
        let config = TrainConfig {
            save_path: Some(path.clone()),
            schedule: LrSchedule::Constant,
            ..config(epochs)
        };
        Trainer::new(config)
            .unwrap()
            .fit(&mut model, &mut adam, &train, &test, History::new())
    };
    run(1e-3, 1).unwrap();
    let good = std::fs::read(&path).unwrap();
    let err = run(1e8, 2).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, TrainError::Diverged { epoch: 1, .. }),
        "{message}"
    );
    assert!(message.contains("without saving"), "{message}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        good,
        "the good checkpoint was replaced"
    );
    let mut model = lenet5(&mut StdRng::seed_from_u64(1));
    Checkpoint::load(&path)
        .unwrap()
        .apply_to(&mut model)
        .unwrap();
}

/// Issue 16: two runs saving to one path — the last to finish silently won. A run
/// whose save path another run holds (here a `SaveLock` of this process: `flock`
/// locks of two opens conflict like two processes' would) is refused before training;
/// once it holds the lock, the temporary file a killed save left behind is removed;
/// the lock is released at the end.
#[test]
fn a_run_saving_where_another_run_saves_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let (train, test) = (synthetic(32, 1), synthetic(10, 2));
    let fit = || {
        let mut model = lenet5(&mut StdRng::seed_from_u64(0));
        let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
        let config = TrainConfig {
            save_path: Some(path.clone()),
            ..config(1)
        };
        Trainer::new(config)
            .unwrap()
            .fit(&mut model, &mut adam, &train, &test, History::new())
    };
    let other_run = SaveLock::acquire(&path).unwrap();
    let err = fit().unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, TrainError::SavePathInUse { .. }), "{message}");
    assert!(
        message.contains(&format!("(pid {})", std::process::id())),
        "{message}"
    );
    assert!(!path.exists(), "it trained and saved anyway");
    drop(other_run);

    let leftover = dir.path().join(".run.safetensors.tmp4242-0");
    std::fs::write(&leftover, b"half a checkpoint").unwrap();
    fit().unwrap();
    Checkpoint::load(&path).unwrap();
    assert!(
        !leftover.exists(),
        "the leftover temporary file is still there"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["run.safetensors"], "the lock file was left behind");
}

/// Issue 16: `--epochs 576460752303423489` used to wrap the step count (to 32 steps)
/// and train nothing; such a run is refused.
#[test]
fn a_run_too_long_to_count_its_steps_is_refused() {
    let (train, test) = (synthetic(320, 1), synthetic(10, 2));
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    // 320 steps an epoch (batch 1): 576,460,752,303,423,489 of them overflow a u64.
    let mut long = config(576_460_752_303_423_489);
    long.batch.batch_size = 1;
    let err = Trainer::new(long)
        .unwrap()
        .fit(&mut model, &mut adam, &train, &test, History::new())
        .unwrap_err();
    assert!(matches!(err, TrainError::Config(_)), "{err}");
    assert!(
        err.to_string().contains("576460752303423489 epochs"),
        "{err}"
    );
}

/// `best_path` keeps the epoch of lowest test loss, and a later, worse epoch does not
/// replace it, while `save_path` holds the last epoch (what a resumed run continues).
#[test]
fn the_best_checkpoint_keeps_the_epoch_of_lowest_test_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (save, best) = (dir.path().join("last.st"), dir.path().join("best.st"));
    // A test set labelled otherwise than the training set: the better the model learns
    // its training set, the higher its test loss.
    let (train, test) = (synthetic(160, 1), synthetic_labelled(60, 2, 1));
    let mut model = Sequential::new()
        .add("flatten", Flatten::new())
        .add("fc", Dense::new(784, 10, &mut StdRng::seed_from_u64(0)))
        .build(&[1, 28, 28])
        .unwrap();
    let mut sgd = Sgd::new(SgdConfig {
        lr: 0.01,
        ..SgdConfig::default()
    })
    .unwrap();
    let config = TrainConfig {
        save_path: Some(save.clone()),
        best_path: Some(best.clone()),
        schedule: LrSchedule::Constant,
        ..config(6)
    };
    let outcome = Trainer::new(config)
        .unwrap()
        .fit(&mut model, &mut sgd, &train, &test, History::new())
        .unwrap();
    let losses: Vec<f64> = outcome.history.epochs.iter().map(|e| e.test_loss).collect();
    let lowest = (1..=losses.len())
        .min_by(|&a, &b| losses[a - 1].total_cmp(&losses[b - 1]))
        .unwrap();
    assert!(
        lowest < losses.len(),
        "the premise: a later epoch is worse {losses:?}"
    );
    let epoch_in = |path: &Path| Checkpoint::load(path).unwrap().training.unwrap().epoch;
    assert_eq!(epoch_in(&best), lowest, "{losses:?}");
    assert_eq!(epoch_in(&save), losses.len());
}
