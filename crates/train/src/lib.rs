//! # scratchnet-train
//!
//! Everything around the layers that turns a model into a trained one: optimizers,
//! learning-rate schedules, the training loop with progress and evaluation, metrics,
//! and checkpoints that PyTorch can read.
//!
//! Start with [`train_step`]: one step of training, in a few lines. Everything else
//! repeats it ([`Trainer`]), spreads it over threads ([`DataParallel`]) or saves what
//! it produced ([`Checkpoint`]).
//!
//! ```
//! use ndarray::Array4;
//! use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
//! use scratchnet_layers::{Dense, Flatten, Sequential};
//! use scratchnet_train::{train_step, Sgd, SgdConfig};
//! // A tiny model: 2×2 one-channel images → 3 classes.
//! let mut model = Sequential::new()
//!     .add("flatten", Flatten::new())
//!     .add("fc", Dense::new(4, 3, &mut StdRng::seed_from_u64(0)))
//!     .build(&[1, 2, 2])
//!     .unwrap();
//! let mut sgd = Sgd::new(SgdConfig { lr: 0.5, ..SgdConfig::default() }).unwrap();
//! let images = Array4::from_shape_fn((3, 1, 2, 2), |(n, _, y, x)| (n == y * 2 + x) as u8 as f32);
//! let labels = [0, 1, 2];
//!
//! let first = train_step(&mut model, &mut sgd, images.view(), &labels).unwrap();
//! let second = train_step(&mut model, &mut sgd, images.view(), &labels).unwrap();
//! assert!(second.loss < first.loss);
//! ```
//!
//! | item | PyTorch | file |
//! |---|---|---|
//! | [`train_step`], [`StepOutcome`] | `zero_grad(); loss(model(x), y).backward(); step()` | `step.rs` |
//! | [`Optimizer`] | `torch.optim.Optimizer` | `optimizer.rs` |
//! | [`OptimizerState`], [`OPTIMIZER_PREFIX`] | an optimizer's `state_dict()` | `optimizer_state.rs` |
//! | [`Sgd`], [`SgdConfig`] | `torch.optim.SGD` | `sgd.rs` |
//! | [`Adam`], [`AdamConfig`] | `torch.optim.Adam`, `torch.optim.AdamW` | `adam.rs` |
//! | [`LrSchedule`], [`SchedulePosition`] | `StepLR`, `CosineAnnealingLR` | `schedule.rs` |
//! | [`Trainer`], [`TrainConfig`], [`FitOutcome`], [`EpochCallback`], [`BatchCallback`] | the usual training loop | `trainer.rs` |
//! | [`StopFlag`], [`Interruption`] | Ctrl-C: stop after this batch; a second one exits or waits for the checkpoint | `stop_flag.rs` |
//! | [`DataParallel`], [`ModelFactory`] | `DataParallel` on CPU threads | `data_parallel.rs` |
//! | [`Diagnostics`], [`DiagnosticsConfig`], [`DiagnosticsLog`], [`GradientSample`], [`ParameterFlow`], [`EpochDiagnostics`], [`LayerActivation`], [`Filters`] | forward/backward hooks logging grad norms, update/weight ratios, activation statistics | `diagnostics.rs` |
//! | [`ProbeImageMaps`], [`LayerMaps`], [`is_convolution_or_pooling`] | forward hooks keeping a few test images' feature maps | `probe_maps.rs` |
//! | [`BatchWindow`] | the training loss averaged over a few batches (TensorBoard's per-step scalars) | `batch_window.rs` |
//! | [`evaluate`], [`Evaluation`] | the usual `torch.no_grad()` loop | `evaluate.rs` |
//! | [`confident_mistakes`], [`Mistake`] | the samples with the highest `softmax(x).max()` among the wrong ones | `mistakes.rs` |
//! | (crate-private) logits, arg-max, correct count | `logits.argmax(1) == y` | `predictions.rs` |
//! | [`ProgressMode`] | `tqdm` | `progress.rs` |
//! | [`EpochMetrics`], [`History`] | — | `history.rs` |
//! | [`ConfusionMatrix`] | `torchmetrics.ConfusionMatrix` | `confusion.rs` |
//! | [`Checkpoint`], [`TrainingState`], [`PartialEpoch`], [`load_model`], [`read_metadata`], [`save_model`] | `safetensors.torch.save_file` / `load_file` + `load_state_dict` | `checkpoint.rs` |
//! | [`CheckpointError`], [`TensorProblem`] | — | `checkpoint_error.rs` |
//! | [`MAX_HEADER_BYTES`]; (crate-private) reading a checkpoint file within bounds | — | `checkpoint_file.rs` |
//! | [`weights_file_problem`]: a `--predictions` file, or tensors to convert to F32 | — | `weights_file.rs` |
//! | [`MAX_EPOCHS`], [`MAX_STEPS_PER_EPOCH`]; (crate-private) the checks of the `scratchnet.*` metadata | — | `metadata_rules.rs` |
//! | [`write_atomically`], [`check_writable`], [`remove_leftover_temporaries`], [`write_destination`] | — | `atomic_write.rs` |
//! | [`SaveLock`] | — | `save_lock.rs` |
//! | (crate-private) the best epoch's checkpoint, [`TrainConfig::best_path`] | Keras' `ModelCheckpoint(save_best_only=True)` | `best_checkpoint.rs` |
//! | [`models::lenet5`] | the LeNet-5 of the tutorials | `models.rs` |
//! | [`models::basic_block`] | torchvision's ResNet `BasicBlock` | `models.rs` |
//! | [`TrainError`] | — | `error.rs` |

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod adam;
mod atomic_write;
mod batch_window;
mod best_checkpoint;
mod buffer_kind;
mod checkpoint;
mod checkpoint_error;
mod checkpoint_file;
mod confusion;
mod data_parallel;
mod diagnostics;
mod error;
mod evaluate;
mod file_protection;
mod history;
mod metadata_rules;
mod mismatch_summary;
mod mistakes;
pub mod models;
mod optimizer;
mod optimizer_state;
mod predictions;
mod probe_maps;
mod progress;
mod replica_checks;
mod resume;
mod save_lock;
mod schedule;
mod sgd;
mod step;
mod stop_flag;
mod trainer;
mod weights_file;

pub use adam::{Adam, AdamConfig};
pub use atomic_write::{
    check_writable, remove_leftover_temporaries, write_atomically, write_destination,
};
pub use batch_window::BatchWindow;
pub use checkpoint::{
    load_model, read_metadata, save_model, Checkpoint, PartialEpoch, TrainingState, LAYOUT_VERSION,
};
pub use checkpoint_error::{CheckpointError, TensorProblem};
pub use checkpoint_file::MAX_HEADER_BYTES;
pub use confusion::ConfusionMatrix;
pub use data_parallel::{DataParallel, ModelFactory};
pub use diagnostics::{
    Diagnostics, DiagnosticsConfig, DiagnosticsLog, EpochDiagnostics, Filters, GradientSample,
    LayerActivation, ParameterFlow,
};
pub use error::{SavedCheckpoint, TrainError};
pub use evaluate::{evaluate, Evaluation};
pub use history::{EpochMetrics, History};
pub use metadata_rules::{MAX_EPOCHS, MAX_STEPS_PER_EPOCH};
pub use mistakes::{confident_mistakes, Mistake};
pub use optimizer::Optimizer;
pub use optimizer_state::{OptimizerState, OPTIMIZER_PREFIX};
pub use probe_maps::{is_convolution_or_pooling, LayerMaps, ProbeImageMaps};
pub use progress::ProgressMode;
pub use save_lock::SaveLock;
pub use schedule::{LrSchedule, SchedulePosition};
pub use sgd::{Sgd, SgdConfig};
pub use step::{train_step, StepOutcome};
pub use stop_flag::{Interruption, StopFlag};
pub use trainer::{BatchCallback, EpochCallback, FitOutcome, TrainConfig, Trainer};
pub use weights_file::weights_file_problem;
