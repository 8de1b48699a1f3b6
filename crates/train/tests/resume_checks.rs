//! Resuming a run through the library: `fit_resumed` in one call, and the mistakes
//! `fit`/`fit_from` refuse (a mid-epoch checkpoint given to `fit`, a forgotten
//! `Optimizer::load_state`, another batch seed).

use ndarray_rand::rand::{rngs::StdRng, Rng, SeedableRng};
use scratchnet_data::{BatchConfig, Normalization, Split};
use scratchnet_layers::{Dense, Flatten, Layer, ReLU, Sequential};
use scratchnet_train::{
    Adam, AdamConfig, Checkpoint, History, LrSchedule, Optimizer, ProgressMode, StopFlag,
    TrainConfig, TrainError, Trainer,
};
use std::path::Path;

/// `n` noisy 28×28 images of 10 classes, each class a bright block of its own.
fn synthetic(n: usize, seed: u64) -> Split {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut images = Vec::with_capacity(n * 784);
    for i in 0..n {
        let class = i % 10;
        let (top, left) = (2 + 8 * (class / 4), 2 + 6 * (class % 4));
        for y in 0..28 {
            for x in 0..28 {
                let inside = (top..top + 8).contains(&y) && (left..left + 8).contains(&x);
                images.push(if inside { 200u8 } else { 0 } + rng.random_range(0..50u8));
            }
        }
    }
    let labels = (0..n).map(|i| (i % 10) as u8).collect();
    Split::new(images, labels, Normalization::MNIST)
}

fn net(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add("flatten", Flatten::new())
        .add("fc1", Dense::new(784, 16, &mut rng))
        .add("relu", ReLU::new())
        .add("fc2", Dense::new(16, 10, &mut rng))
        .build(&[1, 28, 28])
        .unwrap()
}

/// Two epochs of 5 batches of 32, shuffled with `seed`.
fn config(seed: u64) -> TrainConfig {
    TrainConfig {
        epochs: 2,
        batch: BatchConfig {
            batch_size: 32,
            shuffle: true,
            seed,
            augment: false,
        },
        schedule: LrSchedule::Cosine {
            min_lr: 0.0,
            warmup_steps: 2,
        },
        progress: ProgressMode::Quiet,
        ..TrainConfig::default()
    }
}

fn adam() -> Adam {
    Adam::new(AdamConfig::adam(2e-3)).unwrap()
}

fn weight_bits(model: &dyn Layer) -> Vec<Vec<u32>> {
    (model.parameters().into_iter())
        .map(|(_, p)| p.value.iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// Trains `net(0)` with seed 1 and stops it after batch 2 of epoch 2 (7 steps),
/// saving a checkpoint at `path`.
fn interrupted_run(path: &Path, train: &Split, test: &Split) -> Checkpoint {
    let stop = StopFlag::new();
    let raise = stop.clone();
    let err = Trainer::new(TrainConfig {
        save_path: Some(path.to_path_buf()),
        stop,
        ..config(1)
    })
    .unwrap()
    .on_batches(1, move |epoch, done| {
        if (epoch, done.batches_done) == (2, 2) {
            raise.raise();
        }
    })
    .fit(&mut net(0), &mut adam(), train, test, History::new())
    .unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::Interrupted {
                epoch: 2,
                batch: 2,
                ..
            }
        ),
        "{err}"
    );
    let checkpoint = Checkpoint::load(path).unwrap();
    let state = checkpoint.training.as_ref().unwrap();
    assert_eq!((state.epoch, state.optimizer.steps), (1, 7));
    checkpoint
}

#[test]
fn a_mid_epoch_checkpoint_resumes_in_one_call_and_the_mistakes_are_refused() {
    let (train, test) = (synthetic(160, 1), synthetic(30, 2));
    let mut straight = net(0);
    let full = (Trainer::new(config(1)).unwrap())
        .fit(&mut straight, &mut adam(), &train, &test, History::new())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = interrupted_run(&dir.path().join("run.safetensors"), &train, &test);
    let state = checkpoint.training.clone().unwrap();

    // `fit` with the history and the optimizer state: the 2 batches would train twice.
    let mut model = net(9);
    checkpoint.apply_to(&mut model).unwrap();
    let mut restored = adam();
    restored
        .load_state(state.optimizer.clone(), &model)
        .unwrap();
    let mut trainer = Trainer::new(config(1)).unwrap();
    let err = (trainer.fit(
        &mut model,
        &mut restored,
        &train,
        &test,
        state.history.clone(),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "after 1 epochs of 5 steps each, 5 optimizer steps, but the optimizer has taken 7"
        ),
        "{err}"
    );
    assert!(err.contains("fit_resumed") && !err.contains('\n'), "{err}");

    // `fit_from` with the partial epoch but a fresh optimizer (no load_state).
    let partial = state.partial.clone();
    let err = (trainer.fit_from(
        &mut model,
        &mut adam(),
        &train,
        &test,
        state.history.clone(),
        partial,
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("after 1 epochs and 2 batches"), "{err}");
    assert!(
        err.contains("7 optimizer steps, but the optimizer has taken 0"),
        "{err}"
    );

    // Another batch seed would shuffle epoch 2 otherwise.
    let mut other_seed = Trainer::new(config(2)).unwrap();
    let err = (other_seed.fit_resumed(&mut net(9), &mut adam(), &train, &test, &checkpoint))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("seed 1, but TrainConfig::batch.seed is 2"),
        "{err}"
    );

    // One call: the weights, the optimizer state, the history and the partial epoch.
    let mut resumed = net(9);
    let outcome =
        (trainer.fit_resumed(&mut resumed, &mut adam(), &train, &test, &checkpoint)).unwrap();
    assert_eq!(outcome.trained_epochs, [2]);
    assert!(
        weight_bits(&resumed) == weight_bits(&straight),
        "bit for bit the straight run"
    );
    assert_eq!(
        outcome.history.completed_epochs(),
        full.history.completed_epochs()
    );
}

#[test]
fn a_fresh_run_may_reuse_a_trained_optimizer() {
    let (train, test) = (synthetic(64, 1), synthetic(20, 2));
    let mut optimizer = adam();
    let mut trainer = Trainer::new(TrainConfig {
        epochs: 1,
        ..config(1)
    })
    .unwrap();
    trainer
        .fit(&mut net(0), &mut optimizer, &train, &test, History::new())
        .unwrap();
    assert_eq!(optimizer.steps(), 2);
    // An empty history claims no resume: the steps are not checked.
    trainer
        .fit(&mut net(1), &mut optimizer, &train, &test, History::new())
        .unwrap();
    assert_eq!(optimizer.steps(), 4);
}
