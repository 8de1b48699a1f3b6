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
            Some(path) => format!("the last good checkpoint is {} (after epoch {})", path.display(), epoch - 1),
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
        /// The checkpoint holding the weights after epoch `epoch − 1`, if one was written
        /// (or resumed from).
        last_checkpoint: Option<PathBuf>,
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
            None => "no checkpoint was saved (no save path)".to_string(),
        }
    )]
    Interrupted {
        /// The epoch being trained, counted from 1.
        epoch: usize,
        /// Batches of that epoch trained before stopping (0: stopped between epochs).
        batch: usize,
        /// Number of batches in the epoch.
        batches: usize,
        /// The checkpoint written at the stop, if a save path was set.
        checkpoint: Option<PathBuf>,
    },
    /// A setting is out of range or settings contradict each other.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A report file (metrics, plot, predictions) could not be written.
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

impl TrainError {
    /// A [`TrainError::Config`].
    pub fn config(reason: impl Into<String>) -> Self {
        Self::Config(reason.into())
    }
}
