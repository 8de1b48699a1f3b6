//! # scratchnet
//!
//! A small convolutional-network training framework written from scratch in Rust.
//! This facade re-exports the member crates:
//!
//! - [`tensor`]: numeric kernels on `ndarray` (convolution, pooling, activations, softmax, initialisers);
//! - [`layers`]: the [`Layer`](layers::Layer) trait, the built-in layers, the loss and `gradcheck`;
//! - [`data`]: MNIST, Fashion-MNIST and CIFAR-10 loading and download, folders of images, and mini-batches;
//! - [`train`]: optimizers, the trainer, metrics and checkpoints.
//!
//! `use scratchnet::prelude::*;` brings in everything a training script needs.
//!
//! Features, both on by default, are [`data`]'s: `download` (fetch missing datasets: `ureq`
//! with `rustls`, `tar`, `fs4`) and `images` (image folders: `image`, `rayon`). With
//! `default-features = false` nothing compiles a TLS stack or an image decoder; the
//! loaders then read only what is on disk. Plotting lives only in `scratchnet-cli`.
//!
//! **Writing a layer of your own?** The [`guide`] (also `docs/extending.md`) writes
//! one from scratch — a PReLU — then checks it with `gradcheck` and against
//! PyTorch, trains it and saves it. Every block of it runs as a doc test.

// The guide's layer is written as a user would write it, against
// `scratchnet::prelude`: this name makes that path work inside the crate too.
extern crate self as scratchnet;

pub use ndarray;
pub use ndarray_rand;
pub use scratchnet_data as data;
pub use scratchnet_layers as layers;
pub use scratchnet_tensor as tensor;
pub use scratchnet_train as train;

/// Everything a training script usually needs, in one import.
///
/// ```no_run
/// use scratchnet::prelude::*;
///
/// let mnist = load_or_download(DatasetKind::Mnist, None)?;
/// let mut model = lenet5(&mut StdRng::seed_from_u64(0));
/// println!("{}", model.summary()?);
/// let mut optimizer = Adam::new(AdamConfig::adam(5e-3))?;
/// let config = TrainConfig {
///     epochs: 3,
///     schedule: LrSchedule::Cosine { min_lr: 0.0, warmup_steps: 0 },
///     save_path: Some("lenet.safetensors".into()),
///     ..TrainConfig::default()
/// };
/// let outcome = Trainer::new(config)?.fit(&mut model, &mut optimizer, &mnist.train, &mnist.test, History::new())?;
/// println!("test accuracy {:.4}", outcome.evaluation.accuracy);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod prelude {
    pub use ndarray::{Array2, Array4, ArrayD, ArrayViewD, Axis, IxDyn};
    pub use ndarray_rand::rand::{rngs::StdRng, Rng, SeedableRng};
    pub use scratchnet_data::{
        load, load_or_download, mnist_dir_from_env, Batch, BatchConfig, Dataset, DatasetKind,
        Normalization, Split,
    };
    pub use scratchnet_layers::{
        gradcheck::{gradcheck, GradcheckConfig, GradcheckError},
        AdaptiveAvgPool2d, AvgPool2d, AvgPool2dConfig, BatchNorm2d, BatchNorm2dConfig, Branches,
        Combine, Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, Dense, Dropout,
        Flatten, GeluApproximate, GeluConfig, GlobalAvgPool2d, GroupNorm, GroupNormConfig, Layer,
        LayerError, LayerNorm, LayerNormConfig, LeakyReLU, MaxPool2d, MaxPool2dConfig, Mode,
        Parameter, ReLU, Residual, ResidualConfig, Sequential, SiLU, Sigmoid, SoftmaxCrossEntropy,
        StateMut, StateRef, StateVisitor, StateVisitorMut, SummaryRow, Tanh, Upsample,
        UpsampleConfig, UpsampleMode, UpsampleSize, GELU,
    };
    pub use scratchnet_train::models::lenet5;
    pub use scratchnet_train::{
        evaluate, load_model, save_model, train_step, Adam, AdamConfig, Checkpoint,
        ConfusionMatrix, DataParallel, EpochMetrics, Evaluation, History, LrSchedule, ModelFactory,
        Optimizer, ProgressMode, Sgd, SgdConfig, TrainConfig, TrainError, Trainer,
    };
}

pub mod guide;
