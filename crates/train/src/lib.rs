//! # scratchnet-train
//!
//! Everything around the layers that turns a model into a trained one: optimizers,
//! learning-rate schedules, the training loop with progress and evaluation, metrics,
//! checkpoints that PyTorch can read, and reports.
//!
//! | item | PyTorch | file |
//! |---|---|---|
//! | [`Optimizer`], [`OptimizerState`] | `torch.optim.Optimizer`, its `state_dict()` | `optimizer.rs` |
//! | [`Sgd`], [`SgdConfig`] | `torch.optim.SGD` | `sgd.rs` |
//! | [`Adam`], [`AdamConfig`] | `torch.optim.Adam`, `torch.optim.AdamW` | `adam.rs` |
//! | [`LrSchedule`], [`SchedulePosition`] | `StepLR`, `CosineAnnealingLR` | `schedule.rs` |
//! | [`Trainer`], [`TrainConfig`], [`FitOutcome`], [`StopFlag`] | the usual training loop | `trainer.rs` |
//! | [`DataParallel`], [`ModelFactory`], [`BatchOutcome`] | `DataParallel` on CPU threads | `parallel.rs` |
//! | [`evaluate`], [`Evaluation`] | the usual `torch.no_grad()` loop | `evaluate.rs` |
//! | [`ProgressMode`] | `tqdm` | `progress.rs` |
//! | [`EpochMetrics`], [`History`] | — | `history.rs` |
//! | [`ConfusionMatrix`] | `torchmetrics.ConfusionMatrix` | `confusion.rs` |
//! | [`Checkpoint`], [`TrainingState`], [`PartialEpoch`], [`load_model`], [`save_model`] | `safetensors.torch.save_file` / `load_file` + `load_state_dict` | `checkpoint.rs` |
//! | [`CheckpointError`], [`TensorProblem`] | — | `checkpoint_error.rs` |
//! | [`write_atomically`] | — | `atomic_write.rs` |
//! | [`models::lenet5`] | the LeNet-5 of the tutorials | `models.rs` |
//! | [`TrainError`] | — | `error.rs` |

#![warn(missing_docs)]

mod adam;
mod atomic_write;
mod checkpoint;
mod checkpoint_error;
mod confusion;
mod error;
mod evaluate;
mod history;
pub mod models;
mod optimizer;
mod parallel;
mod progress;
mod schedule;
mod sgd;
mod trainer;

pub use adam::{Adam, AdamConfig};
pub use atomic_write::write_atomically;
pub use checkpoint::{
    load_model, save_model, Checkpoint, PartialEpoch, TrainingState, LAYOUT_VERSION,
    OPTIMIZER_PREFIX,
};
pub use checkpoint_error::{CheckpointError, TensorProblem};
pub use confusion::ConfusionMatrix;
pub use error::{SavedCheckpoint, TrainError};
pub use evaluate::{evaluate, Evaluation};
pub use history::{EpochMetrics, History};
pub use optimizer::{Optimizer, OptimizerState};
pub use parallel::{BatchOutcome, DataParallel, ModelFactory};
pub use progress::ProgressMode;
pub use schedule::{LrSchedule, SchedulePosition};
pub use sgd::{Sgd, SgdConfig};
pub use trainer::{EpochCallback, FitOutcome, StopFlag, TrainConfig, Trainer};
