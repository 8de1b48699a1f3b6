//! The trainer's diagnostics (per-batch metrics, gradient flow, activation
//! statistics, mistakes) record what they should and never change what is trained.

use ndarray_rand::rand::{rngs::StdRng, Rng, SeedableRng};
use scratchnet_data::{BatchConfig, Normalization, Split};
use scratchnet_layers::{
    BatchNorm2d, BatchNorm2dConfig, Conv2d, Conv2dConfig, Dense, Dropout, Flatten, Layer, ReLU,
    Sequential,
};
use scratchnet_train::models::lenet5;
use scratchnet_train::{
    evaluate, Adam, AdamConfig, Diagnostics, DiagnosticsConfig, DiagnosticsLog, History,
    LrSchedule, ModelFactory, ProgressMode, TrainConfig, Trainer,
};
use std::sync::{Arc, Mutex};

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

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 2,
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

/// Batch norm (buffers) and dropout (a counter): a probe forward in the wrong mode
/// would change them, and with them the weights.
fn stateful_net() -> Sequential {
    let mut rng = StdRng::seed_from_u64(3);
    Sequential::new()
        .add(
            "conv1",
            Conv2d::new(1, 4, [3, 3], Conv2dConfig::default(), &mut rng),
        )
        .add("bn1", BatchNorm2d::new(4, BatchNorm2dConfig::default()))
        .add("relu1", ReLU::new())
        .add("flatten", Flatten::new())
        .add("dropout", Dropout::new(0.5, 1234))
        .add("fc", Dense::new(4 * 26 * 26, 10, &mut rng))
        .build(&[1, 28, 28])
        .unwrap()
}

/// Every parameter, buffer and counter of `model`, as bits.
fn fingerprint(model: &dyn Layer) -> Vec<(String, Vec<u32>)> {
    let mut all: Vec<(String, Vec<u32>)> = model
        .parameters()
        .into_iter()
        .map(|(n, p)| (n, p.value.iter().map(|v| v.to_bits()).collect()))
        .collect();
    all.extend(
        model
            .buffers()
            .into_iter()
            .map(|(n, b)| (n, b.iter().map(|v| v.to_bits()).collect())),
    );
    all.extend(
        model
            .extra_state()
            .into_iter()
            .map(|(n, c)| (n, vec![c as u32, (c >> 32) as u32])),
    );
    all
}

/// Trains `model` 2 epochs (on replicas made by `factory` if given), with diagnostics
/// every batch if `diagnose`; returns the model's fingerprint and the log.
fn train(
    model: &mut dyn Layer,
    factory: Option<ModelFactory>,
    diagnose: bool,
) -> (Vec<(String, Vec<u32>)>, DiagnosticsLog) {
    let (train, test) = (synthetic(200, 1), synthetic(40, 2));
    let diagnostics = Diagnostics::new(DiagnosticsConfig {
        every_batches: 1,
        probe_size: 16,
        ..DiagnosticsConfig::default()
    })
    .unwrap();
    let mut trainer = Trainer::new(config()).unwrap();
    if let Some(factory) = factory {
        trainer = trainer.with_replicas(factory);
    }
    if diagnose {
        trainer = trainer.with_diagnostics(diagnostics.clone());
    }
    let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    trainer
        .fit(model, &mut adam, &train, &test, History::new())
        .unwrap();
    (fingerprint(model), diagnostics.log())
}

#[test]
fn diagnostics_leave_every_weight_buffer_and_counter_bit_identical() {
    let (plain, empty) = train(&mut stateful_net(), None, false);
    assert!(empty.gradients.is_empty() && empty.epochs.is_empty());
    let (diagnosed, log) = train(&mut stateful_net(), None, true);
    assert!(plain == diagnosed, "diagnostics changed the training");
    // 200 images in batches of 32: 7 steps an epoch, every one recorded.
    assert_eq!(log.gradients.len(), 14);
    assert_eq!(log.epochs.len(), 2);

    let factory: ModelFactory = Arc::new(|| Box::new(lenet5(&mut StdRng::seed_from_u64(9))));
    let lenet = || lenet5(&mut StdRng::seed_from_u64(0));
    let (plain, _) = train(&mut lenet(), Some(factory.clone()), false);
    let (diagnosed, _) = train(&mut lenet(), Some(factory), true);
    assert!(
        plain == diagnosed,
        "diagnostics changed data-parallel training"
    );
}

#[test]
fn diagnostics_record_gradient_flow_and_activations_of_every_layer() {
    let (_, log) = train(&mut stateful_net(), None, true);
    let first = &log.gradients[0];
    assert_eq!((first.epoch, first.batch, first.step), (1, 1, 0));
    let last = &log.gradients[13];
    assert_eq!((last.epoch, last.batch, last.step), (2, 7, 13));
    let names: Vec<&str> = first.parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "conv1.weight",
            "conv1.bias",
            "bn1.weight",
            "bn1.bias",
            "fc.weight",
            "fc.bias"
        ]
    );
    for sample in &log.gradients {
        for p in &sample.parameters {
            assert!(p.grad_norm.is_finite() && p.update_ratio >= 0.0, "{p:?}");
        }
        // Adam moves each weight by about lr a step: a small, non-zero ratio.
        for p in sample
            .parameters
            .iter()
            .filter(|p| p.name.ends_with("weight"))
        {
            assert!(p.grad_norm > 0.0, "{p:?}");
            assert!(p.update_ratio > 0.0 && p.update_ratio < 1.0, "{p:?}");
        }
    }
    let epoch = &log.epochs[1];
    assert_eq!(epoch.epoch, 2);
    let layers: Vec<&str> = epoch.activations.iter().map(|a| a.layer.as_str()).collect();
    assert_eq!(
        layers,
        ["conv1", "bn1", "relu1", "flatten", "dropout", "fc"]
    );
    let relu = &epoch.activations[2];
    assert!(
        relu.zero_fraction > 0.0 && relu.zero_fraction < 1.0,
        "{relu:?}"
    );
    assert!(relu.mean > 0.0 && relu.std > 0.0, "{relu:?}");
    // In Mode::Eval dropout is the identity: its output is the flattened ReLU's.
    assert_eq!(epoch.activations[4], {
        let mut a = epoch.activations[3].clone();
        a.layer = "dropout".into();
        a
    });
    assert_eq!(epoch.confusion.total(), 40);
    let filters = epoch.filters.as_ref().unwrap();
    assert_eq!(filters.name, "conv1.weight");
    assert_eq!(filters.weight.shape(), [4, 1, 3, 3]);
}

#[test]
fn diagnostics_sample_every_k_steps_and_refuse_zero() {
    let diagnostics = Diagnostics::new(DiagnosticsConfig {
        every_batches: 5,
        probe_size: 8,
        ..DiagnosticsConfig::default()
    })
    .unwrap();
    let (train, test) = (synthetic(200, 1), synthetic(40, 2));
    let mut model = stateful_net();
    let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    Trainer::new(config())
        .unwrap()
        .with_diagnostics(diagnostics.clone())
        .fit(&mut model, &mut adam, &train, &test, History::new())
        .unwrap();
    let steps: Vec<(usize, usize, u64)> = diagnostics
        .log()
        .gradients
        .iter()
        .map(|g| (g.epoch, g.batch, g.step))
        .collect();
    assert_eq!(steps, [(1, 1, 0), (1, 6, 5), (2, 4, 10)]);
    for zero in [
        DiagnosticsConfig {
            every_batches: 0,
            ..DiagnosticsConfig::default()
        },
        DiagnosticsConfig {
            probe_size: 0,
            ..DiagnosticsConfig::default()
        },
        DiagnosticsConfig {
            metrics_every_batches: 0,
            ..DiagnosticsConfig::default()
        },
    ] {
        let err = Diagnostics::new(zero).unwrap_err().to_string();
        assert!(err.contains("at least 1"), "{err}");
    }
}

/// Issue 18: the per-batch curves' windows add up to each epoch's training metrics,
/// the batch callback comes every K batches but an epoch's last, and the mistakes are
/// the final evaluation's most confident wrong answers.
#[test]
fn batch_windows_add_up_to_the_epochs_and_mistakes_are_the_most_confident() {
    let diagnostics = Diagnostics::new(DiagnosticsConfig {
        metrics_every_batches: 3,
        mistakes: 5,
        ..DiagnosticsConfig::default()
    })
    .unwrap();
    // Every third test image mislabelled: mistakes a trained model is sure of.
    let (train, test) = (synthetic(200, 1), synthetic(40, 2));
    let labels = test.labels().iter().enumerate();
    let labels = labels.map(|(i, &l)| if i % 3 == 0 { (l + 1) % 10 } else { l });
    let test = Split::new(
        test.images().to_vec(),
        labels.collect(),
        Normalization::MNIST,
    );
    let mut model = stateful_net();
    let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    let called = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::clone(&called);
    let outcome = Trainer::new(config())
        .unwrap()
        .with_diagnostics(diagnostics.clone())
        .on_batches(1, move |epoch, done| {
            calls.lock().unwrap().push((epoch, done.batches_done));
        })
        .fit(&mut model, &mut adam, &train, &test, History::new())
        .unwrap();
    // 7 batches an epoch: called after batches 1 to 6 (the 7th ends the epoch).
    let expected: Vec<(usize, usize)> = (1..=2)
        .flat_map(|epoch| (1..=6).map(move |batch| (epoch, batch)))
        .collect();
    assert_eq!(*called.lock().unwrap(), expected);
    let log = diagnostics.log();
    let windows: Vec<(usize, usize, usize)> = log
        .batches
        .iter()
        .map(|w| (w.epoch, w.first_batch, w.last_batch))
        .collect();
    assert_eq!(
        windows,
        [
            (1, 1, 3),
            (1, 4, 6),
            (1, 7, 7),
            (2, 1, 3),
            (2, 4, 6),
            (2, 7, 7)
        ]
    );
    for metrics in &outcome.history.epochs {
        let epoch: Vec<_> = log
            .batches
            .iter()
            .filter(|w| w.epoch == metrics.epoch)
            .collect();
        let samples: usize = epoch.iter().map(|w| w.samples).sum();
        let correct: usize = epoch.iter().map(|w| w.correct).sum();
        let loss: f64 = epoch.iter().map(|w| w.loss_sum).sum::<f64>() / samples as f64;
        assert_eq!(samples, 200);
        assert_eq!(correct as f64 / samples as f64, metrics.train_accuracy);
        assert!(
            (loss - metrics.train_loss).abs() < 1e-12,
            "{loss} {metrics:?}"
        );
    }

    // The mistakes after the last epoch are those of evaluating the final model.
    let evaluation = evaluate(&mut model, &test, 64).unwrap();
    let mut wrong: Vec<(f32, usize)> = Vec::new();
    for (i, row) in evaluation.logits.rows().into_iter().enumerate() {
        let predicted = evaluation.predictions[i];
        if predicted != usize::from(test.labels()[i]) {
            let total: f32 = row.iter().map(|&l| (l - row[predicted]).exp()).sum();
            wrong.push((1.0 / total, i));
        }
    }
    assert!(
        wrong.len() >= 5,
        "too few mistakes to test: {}",
        wrong.len()
    );
    wrong.sort_by(|a, b| b.0.total_cmp(&a.0));
    let shown = &log.epochs[1].mistakes;
    let indices: Vec<usize> = shown.iter().map(|m| m.index).collect();
    let expected: Vec<usize> = wrong[..5].iter().map(|w| w.1).collect();
    assert_eq!(indices, expected);
    for m in shown {
        assert_eq!(m.label, usize::from(test.labels()[m.index]));
        assert_ne!(m.top(1)[0].0, m.label);
        assert_eq!(m.pixels, test.image(m.index));
    }
}
