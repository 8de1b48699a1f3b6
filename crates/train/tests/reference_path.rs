//! The reference kernels' promise for whole training runs: plain loops on one thread.
//! This binary switches the kernels to the reference tier for all of its tests, so it
//! holds no others.

use ndarray_rand::rand::{rngs::StdRng, Rng, SeedableRng};
use scratchnet_data::{BatchConfig, Normalization, Split};
use scratchnet_layers::Layer;
use scratchnet_tensor::kernels::{set_kernels, Kernels};
use scratchnet_train::models::lenet5;
use scratchnet_train::{
    Adam, AdamConfig, History, LrSchedule, ModelFactory, Optimizer, ProgressMode, TrainConfig,
    Trainer,
};
use std::sync::Arc;

/// `n` random 28×28 images of ten classes.
fn random_split(n: usize, seed: u64) -> Split {
    let mut rng = StdRng::seed_from_u64(seed);
    let images = (0..n * 784).map(|_| rng.random_range(0..=255)).collect();
    let labels = (0..n).map(|i| (i % 10) as u8).collect();
    Split::new(images, labels, Normalization::MNIST)
}

/// Trains LeNet-5 for one epoch of 96 images on a pool of `threads`, with or without
/// replicas to train on, and returns its weights' bits and the optimizer's state.
fn train(threads: usize, replicas: bool) -> (Vec<Vec<u32>>, scratchnet_train::OptimizerState) {
    let (train, test) = (random_split(96, 1), random_split(20, 2));
    let config = TrainConfig {
        epochs: 1,
        batch: BatchConfig {
            batch_size: 32,
            shuffle: true,
            seed: 5,
            augment: false,
        },
        schedule: LrSchedule::Constant,
        progress: ProgressMode::Quiet,
        ..TrainConfig::default()
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| {
            let mut model = lenet5(&mut StdRng::seed_from_u64(0));
            let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
            let mut trainer = Trainer::new(config).unwrap();
            if replicas {
                let factory: ModelFactory =
                    Arc::new(|| Box::new(lenet5(&mut StdRng::seed_from_u64(99))));
                trainer = trainer.with_replicas(factory);
            }
            trainer
                .fit(&mut model, &mut adam, &train, &test, History::new())
                .unwrap();
            let weights = model
                .parameters()
                .into_iter()
                .map(|(_, p)| p.value.iter().map(|v| v.to_bits()).collect())
                .collect();
            (weights, adam.state())
        })
}

/// On the reference kernels a trainer given replicas (what the examples do) still
/// trains with the plain step on the model itself: the same bits as without replicas,
/// on one thread or two. (On the fast kernels the replicas' sums, grouped by shard,
/// round differently from the plain step's.)
#[test]
fn on_the_reference_kernels_the_trainer_takes_the_plain_step() {
    set_kernels(Kernels::Reference);
    let factory: ModelFactory = Arc::new(|| Box::new(lenet5(&mut StdRng::seed_from_u64(99))));
    let with_replicas = Trainer::new(TrainConfig::default())
        .unwrap()
        .with_replicas(factory);
    let lenet = lenet5(&mut StdRng::seed_from_u64(0));
    assert_eq!(
        with_replicas.replicas_for(&lenet),
        None,
        "what the memory check reads"
    );
    let plain = train(1, false);
    for (threads, replicas) in [(1, true), (2, true), (2, false)] {
        let other = train(threads, replicas);
        assert!(
            other.0 == plain.0,
            "{threads} threads, replicas {replicas}: other weights"
        );
        assert!(
            other.1 == plain.1,
            "{threads} threads, replicas {replicas}: other optimizer state"
        );
    }
}

/// An identity layer that records whether any of its forwards ran on a thread of a
/// rayon pool.
struct ThreadProbe(Arc<std::sync::atomic::AtomicBool>);

impl Layer for ThreadProbe {
    fn name(&self) -> &str {
        "ThreadProbe"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, scratchnet_layers::LayerError> {
        Ok(input.to_vec())
    }
    fn forward(
        &mut self,
        input: ndarray::ArrayViewD<f32>,
        _mode: scratchnet_layers::Mode,
    ) -> Result<ndarray::ArrayD<f32>, scratchnet_layers::LayerError> {
        if rayon::current_thread_index().is_some() {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(input.to_owned())
    }
    fn backward(
        &mut self,
        grad_output: ndarray::ArrayViewD<f32>,
    ) -> Result<ndarray::ArrayD<f32>, scratchnet_layers::LayerError> {
        Ok(grad_output.to_owned())
    }
}

/// On the reference kernels the training step runs on the caller's thread, as the
/// reading path promises (no thread pool between the loss and `conv1.weight`); before,
/// the batch loop was handed to a thread of rayon's pool while the caller waited.
#[test]
fn on_the_reference_kernels_the_step_runs_on_the_caller_s_thread() {
    set_kernels(Kernels::Reference);
    let on_pool = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut model = scratchnet_layers::Sequential::new()
        .add("probe", ThreadProbe(on_pool.clone()))
        .add("lenet", lenet5(&mut StdRng::seed_from_u64(0)))
        .build(&[1, 28, 28])
        .unwrap();
    let config = TrainConfig {
        epochs: 1,
        progress: ProgressMode::Quiet,
        ..TrainConfig::default()
    };
    let mut adam = Adam::new(AdamConfig::adam(2e-3)).unwrap();
    Trainer::new(config)
        .unwrap()
        .fit(
            &mut model,
            &mut adam,
            &random_split(64, 3),
            &random_split(10, 4),
            History::new(),
        )
        .unwrap();
    assert!(
        !on_pool.load(std::sync::atomic::Ordering::Relaxed),
        "a forward ran on a rayon thread"
    );
}
