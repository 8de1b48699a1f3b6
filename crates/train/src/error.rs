//! [`TrainError`], the error of everything in this crate but checkpoint files.

use crate::CheckpointError;
use scratchnet_data::DataError;
use scratchnet_layers::LayerError;
use std::path::PathBuf;

/// What went wrong while configuring, training, evaluating or reporting.
///
/// The `Display` text is one self-contained sentence for the person running the
/// program: `eprintln!("error: {e}")` is enough.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A layer or the loss refused its input (a shape, a label out of range).
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Reading, writing or matching a checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The loss of a training batch was NaN or infinite; training stopped before
    /// that batch changed any weight.
    #[error(
        "the training loss became {loss} at epoch {epoch}, batch {batch} of {batches}, so training \
         stopped (try a smaller learning rate); {}",
        match .last_checkpoint {
            Some(saved) => format!("the last good checkpoint is {saved}"),
            None => "no checkpoint of this run was saved before it".to_string(),
        }
    )]
    NonFiniteLoss {
        /// The epoch, counted from 1.
        epoch: usize,
        /// The batch within the epoch, counted from 1.
        batch: usize,
        /// Number of batches in the epoch.
        batches: usize,
        /// The loss (NaN or ±∞).
        loss: f32,
        /// The last checkpoint of this run written (or resumed from) before the bad
        /// batch, if any.
        last_checkpoint: Option<SavedCheckpoint>,
    },
    /// The model diverged: after a step, a parameter or the optimizer's state held NaN
    /// or infinite values, or the test loss was not finite. Training stopped **without
    /// saving** that model, so the last good checkpoint (if any) is still on disk.
    #[error(
        "the model diverged during epoch {epoch}: {what}, so training stopped without saving it \
         (try a smaller learning rate); {}",
        match .last_checkpoint {
            Some(saved) => format!("the last good checkpoint is {saved}"),
            None => "no checkpoint of this run was saved before it".to_string(),
        }
    )]
    Diverged {
        /// The epoch, counted from 1.
        epoch: usize,
        /// What is not finite: `"conv1.weight holds NaN or infinite values"`, `"the test loss is NaN"`.
        what: String,
        /// The last checkpoint of this run written (or resumed from) before, if any.
        last_checkpoint: Option<SavedCheckpoint>,
    },
    /// Training was stopped by a [`StopFlag`](crate::StopFlag) (Ctrl-C in the examples)
    /// after a whole batch; the checkpoint, if one was saved, resumes exactly there.
    #[error(
        "training was interrupted {}; {}",
        if *.batch == 0 {
            format!("before epoch {epoch}")
        } else {
            format!("after batch {batch} of {batches} of epoch {epoch}")
        },
        match .checkpoint {
            Some(path) => format!("the checkpoint {} resumes from there", path.display()),
            None => "no checkpoint was saved".to_string(),
        }
    )]
    Interrupted {
        /// The epoch being trained, counted from 1.
        epoch: usize,
        /// Batches of that epoch trained before stopping (0: stopped between epochs).
        batch: usize,
        /// Number of batches in the epoch.
        batches: usize,
        /// The checkpoint that resumes from the stop: the one written there, or, for a
        /// stop before the run's first step, the one it resumed from (nothing is written
        /// then). `None` without either, or when a second interruption chose to exit at
        /// once ([`StopFlag::finish`](crate::StopFlag::finish)).
        checkpoint: Option<PathBuf>,
    },
    /// Another run is writing to the same file, its checkpoint or another of its
    /// outputs (it holds the file's [`SaveLock`](crate::SaveLock)): the two would
    /// overwrite each other's files.
    #[error(
        "another run{} is already writing to {}: wait for it to finish, or give another path",
        .holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default(),
        .path.display()
    )]
    SavePathInUse {
        /// The checkpoint file.
        path: PathBuf,
        /// The process id of the run that holds the lock, when it could be read.
        holder: Option<u32>,
    },
    /// A setting is out of range or settings contradict each other.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A report file (metrics, plot, predictions) or a checkpoint's lock file could not
    /// be written.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Plotting failed.
    #[error("cannot draw the plot {}: {reason}", .path.display())]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An image given for prediction could not be read or decoded.
    #[error("cannot read the image {}: {reason}", .path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// Why (I/O or decoding error).
        reason: String,
    },
}

/// A checkpoint a run wrote or resumed from, and where in training it stands.
///
/// `Display` gives the path and the position:
/// ```
/// use scratchnet_train::SavedCheckpoint;
/// let saved = SavedCheckpoint { path: "run.safetensors".into(), epochs_done: 2, batches_done: 37 };
/// assert_eq!(saved.to_string(), "run.safetensors (after batch 37 of epoch 3)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedCheckpoint {
    /// The file.
    pub path: PathBuf,
    /// Epochs completed when it was saved.
    pub epochs_done: usize,
    /// Batches of epoch `epochs_done + 1` already trained (0: saved at an epoch's end).
    pub batches_done: usize,
}

impl std::fmt::Display for SavedCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.batches_done {
            0 => write!(
                f,
                "{} (after epoch {})",
                self.path.display(),
                self.epochs_done
            ),
            b => write!(
                f,
                "{} (after batch {b} of epoch {})",
                self.path.display(),
                self.epochs_done + 1
            ),
        }
    }
}

impl TrainError {
    /// A [`TrainError::Config`].
    pub fn config(reason: impl Into<String>) -> Self {
        Self::Config(reason.into())
    }
}
