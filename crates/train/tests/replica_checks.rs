//! The data-parallel trainer against models its replicas would compute wrong: a layer
//! that creates its parameter in its first forward, a factory that builds another
//! network, a layer that mixes the samples of a batch.

use ndarray::{Array4, ArrayD, ArrayViewD, Axis, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, Rng, SeedableRng};
use scratchnet_data::{BatchConfig, Normalization, Split};
use scratchnet_layers::{
    BatchNorm2d, BatchNorm2dConfig, Branches, Combine, Dense, Flatten, LayerError, LeakyReLU, Mode,
    Parameter, ReLU, Residual, ResidualConfig, Sequential, StateVisitor, StateVisitorMut, Tanh,
};
use scratchnet_layers::{Conv2d, Conv2dConfig, Layer};
use scratchnet_train::{
    Adam, AdamConfig, DataParallel, FitOutcome, History, LrSchedule, ModelFactory, ProgressMode,
    TrainConfig, TrainError, Trainer,
};
use std::sync::{Arc, Mutex};

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

/// `flatten → fc1 → mid → fc2`, built from `seed`.
fn small_net(mid: impl Layer + 'static, seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add("flatten", Flatten::new())
        .add("fc1", Dense::new(784, 32, &mut rng))
        .add("mid", mid)
        .add("fc2", Dense::new(32, 10, &mut rng))
        .build(&[1, 28, 28])
        .unwrap()
}

/// Fits `model` for one epoch of 64 images, on 2 replicas made by `factory` if any.
fn fit(model: &mut dyn Layer, factory: Option<ModelFactory>) -> Result<FitOutcome, TrainError> {
    let config = TrainConfig {
        epochs: 1,
        batch: BatchConfig {
            batch_size: 32,
            shuffle: true,
            seed: 1,
            augment: false,
        },
        schedule: LrSchedule::Constant,
        threads: 2,
        progress: ProgressMode::Quiet,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config).unwrap();
    if let Some(factory) = factory {
        trainer = trainer.with_replicas(factory);
    }
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    let (train, test) = (synthetic(64, 1), synthetic(20, 2));
    trainer.fit(model, &mut adam, &train, &test, History::new())
}

fn weight_bits(model: &dyn Layer) -> Vec<Vec<u32>> {
    (model.parameters().into_iter())
        .map(|(_, p)| p.value.iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// Multiplies by a weight of the input's per-sample shape, created in the first
/// forward (as PyTorch's `LazyLinear` does): against the guide's rule.
struct LazyScale {
    weight: Option<Parameter>,
    input: Option<ArrayD<f32>>,
}

impl Layer for LazyScale {
    fn name(&self) -> &str {
        "LazyScale"
    }
    fn output_shape(&self, s: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(s.to_vec())
    }
    fn forward(&mut self, x: ArrayViewD<f32>, m: Mode) -> Result<ArrayD<f32>, LayerError> {
        let w = (self.weight)
            .get_or_insert_with(|| Parameter::new(ArrayD::ones(IxDyn(&x.shape()[1..]))));
        let y = &x * &w.value;
        self.input = (m == Mode::Train).then(|| x.to_owned());
        Ok(y)
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let x = self
            .input
            .as_ref()
            .ok_or(LayerError::no_forward_cache("LazyScale"))?;
        let w = self.weight.as_mut().expect("created by the forward");
        w.grad += &(&dy * x).sum_axis(Axis(0));
        Ok(&dy * &w.value)
    }
    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        if let Some(w) = &self.weight {
            state.parameter("weight", w);
        }
    }
    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        if let Some(w) = &mut self.weight {
            state.parameter("weight", w);
        }
    }
}

fn lazy() -> LazyScale {
    LazyScale {
        weight: None,
        input: None,
    }
}

#[test]
fn a_parameter_created_in_the_first_forward_is_refused_on_replicas_naming_the_layer() {
    // The plain step trains it (the optimizer finds the weight once it exists).
    assert!(fit(&mut small_net(lazy(), 0), None).is_ok());
    let factory: ModelFactory = Arc::new(|| Box::new(small_net(lazy(), 0)));
    let err = fit(&mut small_net(lazy(), 0), Some(factory)).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, TrainError::Layer(LayerError::Contract { .. })),
        "{message}"
    );
    assert!(
        message.starts_with("mid breaks the Layer contract"),
        "{message}"
    );
    assert!(message.contains("mid.weight [32]"), "{message}");
    assert!(message.contains("in `new`"), "{message}");
}

#[test]
fn a_factory_that_builds_another_network_is_refused_naming_the_first_step_that_differs() {
    let mut model = small_net(LeakyReLU::new(0.1), 0);
    let slope: ModelFactory = Arc::new(|| Box::new(small_net(LeakyReLU::new(0.9), 5)));
    let message = fit(&mut model, Some(slope)).unwrap_err().to_string();
    assert!(
        message.contains("the model factory builds another network"),
        "{message}"
    );
    assert!(message.contains("mid's"), "{message}");
    assert!(!message.contains('\n'), "{message}");

    let other_activation: ModelFactory = Arc::new(|| Box::new(small_net(Tanh::new(), 5)));
    let message =
        (fit(&mut small_net(ReLU::new(), 0), Some(other_activation)).unwrap_err()).to_string();
    assert!(message.contains("mid's"), "{message}");

    // Parameters of other names or shapes are refused before any step.
    let wider: ModelFactory = Arc::new(|| {
        let mid = Dense::new(32, 32, &mut StdRng::seed_from_u64(0));
        Box::new(small_net(mid, 5))
    });
    let message = (DataParallel::with_replicas(16, 2, &wider, &model)
        .err()
        .unwrap())
    .to_string();
    assert!(message.contains("parameters differ"), "{message}");

    // The same network with other weights is what a factory is for.
    let same: ModelFactory = Arc::new(|| Box::new(small_net(LeakyReLU::new(0.1), 5)));
    fit(&mut model, Some(same)).unwrap();
}

/// Subtracts the batch mean in `Mode::Train` (the identity in `Mode::Eval`): a layer
/// that mixes the samples of a batch without any buffer.
struct BatchCenter {
    trained: bool,
    says_so: bool,
}

impl Layer for BatchCenter {
    fn name(&self) -> &str {
        "BatchCenter"
    }
    fn output_shape(&self, s: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(s.to_vec())
    }
    fn forward(&mut self, x: ArrayViewD<f32>, m: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.trained = m == Mode::Train;
        Ok(match m {
            Mode::Train => &x - &x.mean_axis(Axis(0)).expect("a batch"),
            Mode::Eval => x.to_owned(),
        })
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        if !self.trained {
            return Err(LayerError::no_forward_cache("BatchCenter"));
        }
        Ok(&dy - &dy.mean_axis(Axis(0)).expect("a batch"))
    }
    fn mixes_samples(&self) -> bool {
        self.says_so
    }
}

fn center(says_so: bool) -> BatchCenter {
    BatchCenter {
        trained: false,
        says_so,
    }
}

#[test]
fn a_layer_that_mixes_samples_trains_on_whole_batches_even_with_replicas() {
    let mut plain = small_net(center(true), 0);
    fit(&mut plain, None).unwrap();
    let factory: ModelFactory = Arc::new(|| Box::new(small_net(center(true), 0)));
    let mut model = small_net(center(true), 0);
    let trainer = Trainer::new(TrainConfig::default())
        .unwrap()
        .with_replicas(factory.clone());
    assert_eq!(trainer.replicas_for(&model), None);
    let err = DataParallel::with_replicas(16, 2, &factory, &model)
        .err()
        .unwrap();
    assert!(err.to_string().contains("mixes the samples"), "{err}");
    fit(&mut model, Some(factory)).unwrap();
    assert!(
        weight_bits(&model) == weight_bits(&plain),
        "the gradient of the whole batch"
    );

    // Without saying so, shards of 16 change the function: what the method is for.
    let silent: ModelFactory = Arc::new(|| Box::new(small_net(center(false), 0)));
    let mut sharded = small_net(center(false), 0);
    fit(&mut sharded, Some(silent)).unwrap();
    assert!(weight_bits(&sharded) != weight_bits(&plain));
}

#[test]
fn containers_say_a_child_mixes_samples() {
    let mut rng = StdRng::seed_from_u64(0);
    let in_body = Sequential::new().add("c", center(true));
    let residual = Residual::new(in_body, &[32], ResidualConfig::default(), &mut rng).unwrap();
    assert!(small_net(residual, 0).mixes_samples());
    let branches = Branches::new(Combine::Add)
        .add("a", ReLU::new())
        .add("b", Sequential::new().add("c", center(true)));
    assert!(small_net(branches, 0).mixes_samples());
    assert!(!small_net(Branches::new(Combine::Add).add("a", ReLU::new()), 0).mixes_samples());
    // Batch norm without running statistics has no buffer, but batch statistics.
    let no_running = BatchNorm2dConfig {
        track_running_stats: false,
        ..BatchNorm2dConfig::default()
    };
    let conv = Conv2d::new(1, 2, [3, 3], Conv2dConfig::default(), &mut rng);
    let model = Sequential::new()
        .add("conv", conv)
        .add("bn", BatchNorm2d::new(2, no_running))
        .add("flatten", Flatten::new())
        .build(&[1, 4, 4])
        .unwrap();
    assert!(model.buffers().is_empty() && model.mixes_samples());
}

/// Passes its input through, writing down the batch size of every evaluation forward.
struct BatchSizes(Arc<Mutex<Vec<usize>>>);

impl Layer for BatchSizes {
    fn name(&self) -> &str {
        "BatchSizes"
    }
    fn output_shape(&self, s: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(s.to_vec())
    }
    fn forward(&mut self, x: ArrayViewD<f32>, m: Mode) -> Result<ArrayD<f32>, LayerError> {
        if m == Mode::Eval {
            self.0.lock().unwrap().push(x.shape()[0]);
        }
        Ok(x.to_owned())
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        Ok(dy.to_owned())
    }
}

/// The sizes written down since the last call, in increasing order (the replicas run
/// in any order).
fn taken(sizes: &Mutex<Vec<usize>>) -> Vec<usize> {
    let mut taken = std::mem::take(&mut *sizes.lock().unwrap());
    taken.sort_unstable();
    taken
}

#[test]
fn each_evaluation_batch_is_split_among_the_replicas_unless_too_small() {
    let on_model = Arc::<Mutex<Vec<usize>>>::default();
    let on_replicas = Arc::<Mutex<Vec<usize>>>::default();
    let mut model = small_net(BatchSizes(Arc::clone(&on_model)), 0);
    let sizes = Arc::clone(&on_replicas);
    let factory: ModelFactory =
        Arc::new(move || Box::new(small_net(BatchSizes(Arc::clone(&sizes)), 1)));
    let mut engine = DataParallel::with_replicas(16, 2, &factory, &model).unwrap();
    assert_eq!(engine.replicas(), 2);
    let mut rng = StdRng::seed_from_u64(3);
    // The logits of `n` samples, which must be the model's own; the batch sizes the
    // model and the replicas saw.
    let mut logits = |n: usize| {
        let images = Array4::from_shape_fn((n, 1, 28, 28), |_| rng.random_range(-1.0..1.0));
        let got = engine.logits(&mut model, images.view()).unwrap();
        let seen = (taken(&on_model), taken(&on_replicas));
        let plain = model.forward(images.into_dyn().view(), Mode::Eval).unwrap();
        assert_eq!(got.into_dyn(), plain, "{n} samples");
        taken(&on_model);
        seen
    };
    // Fewer than two samples per replica: on the model itself.
    assert_eq!(logits(1), (vec![1], vec![]));
    assert_eq!(logits(3), (vec![3], vec![]));
    // The first batch on the replicas checks the first one against the model on two
    // samples; then each replica takes a contiguous part (the first the larger).
    assert_eq!(logits(11), (vec![2], vec![2, 5, 6]));
    assert_eq!(logits(4), (vec![], vec![2, 2]));
}
