//! [`RunConfig`]: everything a run needs, as the training examples' flags give it.

use crate::{DataSource, ModelSpec, OptimizerKind, RunPhase, ScheduleKind};
use scratchnet_tensor::kernels::Kernels;
use scratchnet_train::{ProgressMode, StopFlag};
use std::path::PathBuf;

/// Everything a run needs. `None` means the default — or, when resuming, the value
/// the checkpoint was trained with.
///
/// The default recipe: Adam, learning rate 0.005 decayed to 0 by a cosine over the
/// whole run (stepped every batch), batch 64, seed 0: three epochs reach about 99.1%
/// on the MNIST test set.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// The model (default LeNet-5).
    pub model: ModelSpec,
    /// Shift training images by up to two pixels
    /// ([`BatchConfig::augment`](scratchnet_data::BatchConfig::augment)); default off.
    pub augment: bool,
    /// Where the data is; `None`: the dataset's variable (`$MNIST_DIR`, `$CIFAR10_DIR`),
    /// else its folder under `<workspace>/data/`, downloading the files there if they are
    /// missing. An explicit directory is only read, never downloaded into.
    pub data_dir: Option<PathBuf>,
    /// MNIST, Fashion-MNIST or CIFAR-10.
    pub dataset: DataSource,
    /// Total epochs, counting those of the checkpoint resumed from.
    pub epochs: usize,
    /// Training batch size (default 64).
    pub batch_size: Option<usize>,
    /// The optimizer (default Adam).
    pub optimizer: Option<OptimizerKind>,
    /// The base learning rate (default [`OptimizerKind::default_learning_rate`]).
    pub lr: Option<f32>,
    /// The schedule (default cosine).
    pub schedule: Option<ScheduleKind>,
    /// Threads of the rayon pool, reported in the metrics; one model replica each.
    pub threads: usize,
    /// The numeric kernels to train with ([`set_kernels`] before training); `None`
    /// keeps the program's choice ([`kernels()`]: `SCRATCHNET_KERNELS`, else fast).
    ///
    /// [`set_kernels`]: scratchnet_tensor::kernels::set_kernels
    /// [`kernels()`]: scratchnet_tensor::kernels::kernels
    pub kernels: Option<Kernels>,
    /// Seed of the weights, the batch order and augmentation (default 0), and of the
    /// test set an image folder without `test/` holds out of `train/`.
    pub seed: Option<u64>,
    /// The fraction of an image folder's `train/` held out as the test set when it has
    /// no `test/` (`--val-fraction`); `None`: the checkpoint's when resuming, else the
    /// [`DataSource::Folder`] options' `val_fraction` (0.1 by default). Other datasets
    /// ignore it.
    pub val_fraction: Option<f64>,
    /// Train on the first `n` training images only.
    pub limit_train: Option<usize>,
    /// Save a checkpoint here after every epoch.
    pub save: Option<PathBuf>,
    /// Resume from this checkpoint (weights, optimizer state, epoch, seed, history).
    pub resume: Option<PathBuf>,
    /// Start from the weights in this safetensors file (a PyTorch `state_dict`, or any
    /// checkpoint of the model) instead of random ones: a fresh run, at epoch 0 with a
    /// fresh optimizer (`--init-weights`). Excludes `resume`.
    pub init_weights: Option<PathBuf>,
    /// Whether a file at `save` may be replaced by a run that does not resume it, and a
    /// file at `metrics`, `plot`, `report` or `predictions` that no run wrote there
    /// ([`SideOutput`](crate::SideOutput)) (`--overwrite`); without it such a run is
    /// refused before it starts.
    pub overwrite: bool,
    /// Keep the checkpoint of the epoch of lowest test loss here (`--save-best`, see
    /// [`TrainConfig::best_path`](scratchnet_train::TrainConfig::best_path)).
    pub save_best: Option<PathBuf>,
    /// Write the metrics JSON ([`MetricsReport`](crate::MetricsReport)) here.
    pub metrics: Option<PathBuf>,
    /// Draw the loss and accuracy curves to this SVG.
    pub plot: Option<PathBuf>,
    /// Write the HTML training report ([`TrainingReport`](crate::TrainingReport)) here,
    /// after every epoch and at the end.
    pub report: Option<PathBuf>,
    /// Write the final model's test-set logits and predictions here (safetensors, see
    /// [`write_predictions`](crate::write_predictions)).
    pub predictions: Option<PathBuf>,
    /// Progress output; `Quiet` also silences the summary and the final report.
    pub progress: ProgressMode,
    /// Raised (by a Ctrl-C handler) to stop after the current batch: the run saves a
    /// checkpoint to `save` that resumes exactly there and returns
    /// [`TrainError::Interrupted`](scratchnet_train::TrainError::Interrupted).
    pub stop: StopFlag,
    /// Marked training by [`run`](crate::run) just before the first batch: until then
    /// a signal handler may quit at once, as there is nothing to save.
    pub phase: RunPhase,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            model: ModelSpec::lenet5(),
            augment: false,
            data_dir: None,
            dataset: DataSource::default(),
            epochs: 3,
            batch_size: None,
            optimizer: None,
            lr: None,
            schedule: None,
            threads: 1,
            kernels: None,
            seed: None,
            val_fraction: None,
            limit_train: None,
            save: None,
            resume: None,
            init_weights: None,
            overwrite: false,
            save_best: None,
            metrics: None,
            plot: None,
            report: None,
            predictions: None,
            progress: ProgressMode::Auto,
            stop: StopFlag::new(),
            phase: RunPhase::new(),
        }
    }
}
