//! [`CheckpointError`]: why a checkpoint could not be written, read or applied.

use crate::mismatch_summary::{names_its_fix, summarize_mismatch};
use std::fmt;
use std::path::PathBuf;

/// One tensor that does not fit the model (or optimizer) it is loaded into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TensorProblem {
    /// The model has this tensor, the checkpoint does not.
    Missing {
        /// Its name (`conv1.weight`).
        name: String,
        /// The model's shape for it.
        expected: Vec<usize>,
    },
    /// The checkpoint has a tensor the model does not.
    Unexpected {
        /// Its name.
        name: String,
        /// Its shape in the checkpoint.
        shape: Vec<usize>,
    },
    /// Both have it, with different shapes.
    WrongShape {
        /// Its name.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The checkpoint's shape.
        found: Vec<usize>,
    },
    /// The checkpoint stores it in an element type that cannot be loaded.
    WrongDtype {
        /// Its name.
        name: String,
        /// The checkpoint's type (`F64`, `BF16`, …).
        found: String,
        /// The types it may have: `"F32"` (parameters, optimizer state), `"F32 or
        /// I64"` (buffers, such as PyTorch's I64 `num_batches_tracked`).
        allowed: &'static str,
    },
    /// It holds NaN or infinite values (or, for an optimizer's running average of
    /// squared gradients, a norm layer's `running_var` or `num_batches_tracked`,
    /// negative ones): a model or optimizer that cannot be used.
    Invalid {
        /// Its name.
        name: String,
        /// How many of its values are invalid.
        count: usize,
        /// What is wrong with them: `"not finite"`, `"negative or not finite"`.
        rule: &'static str,
    },
}

impl TensorProblem {
    /// [`TensorProblem::Invalid`] for `tensor` if any value breaks `rule` (NaN and ±∞
    /// always do; with `non_negative`, so do values below 0).
    pub(crate) fn check_values(
        name: &str,
        tensor: &ndarray::ArrayD<f32>,
        non_negative: bool,
    ) -> Result<(), TensorProblem> {
        let bad = |v: &&f32| !v.is_finite() || (non_negative && **v < 0.0);
        let count = tensor.iter().filter(bad).count();
        if count == 0 {
            return Ok(());
        }
        Err(TensorProblem::Invalid {
            name: name.to_string(),
            count,
            rule: if non_negative {
                "negative or not finite"
            } else {
                "not finite"
            },
        })
    }
}

impl fmt::Display for TensorProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { name, expected } => {
                write!(
                    f,
                    "missing tensor {name} (the model has it with shape {expected:?})"
                )
            }
            Self::Unexpected { name, shape } => {
                write!(
                    f,
                    "unexpected tensor {name} of shape {shape:?} (the model has no such tensor)"
                )
            }
            Self::WrongShape {
                name,
                expected,
                found,
            } => write!(
                f,
                "tensor {name} has shape {found:?}, but the model expects {expected:?}"
            ),
            Self::WrongDtype {
                name,
                found,
                allowed,
            } => {
                write!(
                    f,
                    "tensor {name} is stored as {found}, but only {allowed} can be loaded"
                )
            }
            Self::Invalid { name, count, rule } => write!(
                f,
                "tensor {name} has {count} value(s) that are {rule} (a diverged or damaged model)"
            ),
        }
    }
}

/// Why a checkpoint could not be written, read, or applied to a model or optimizer.
/// Every message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file could not be read.
    #[error("cannot read checkpoint {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The path names a FIFO, a device, a directory…: a checkpoint is a regular file
    /// (refused before opening it, as reading a FIFO or `/dev/zero` would never end).
    #[error("checkpoint {} is {what}, not a regular file: give the path of a .safetensors file", .path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is: `"a directory"`, `"a FIFO (named pipe)"`, `"a device"`…
        what: &'static str,
    },
    /// The file is larger than any checkpoint of the model could be (see
    /// [`load_model`](crate::load_model)); refused before reading it.
    #[error(
        "checkpoint {} has {size} bytes, more than the {limit} a checkpoint of this model can have (its tensors, optimizer state and header): it is not a checkpoint of this model",
        .path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The largest size a checkpoint of the model can have.
        limit: u64,
    },
    /// The checkpoint has a newer layout (`scratchnet.version`) than this build reads.
    #[error(
        "checkpoint {} was written by a newer scratchnet (layout version {found}); this is scratchnet {}, which reads layout version {supported}: upgrade scratchnet to load it",
        .path.display(),
        env!("CARGO_PKG_VERSION")
    )]
    NewerVersion {
        /// The file.
        path: PathBuf,
        /// The file's layout version.
        found: u64,
        /// The newest layout version this build reads ([`LAYOUT_VERSION`](crate::LAYOUT_VERSION)).
        supported: &'static str,
    },
    /// The file could not be written (the previous file, if any, is intact).
    #[error("cannot write checkpoint {}: {source} (any previous file there is unchanged)", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file (truncated, corrupt, not safetensors).
    #[error("{} is not a valid safetensors checkpoint: {reason}", .path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A scratchnet entry of the `__metadata__` is missing or unreadable.
    #[error("checkpoint {}: metadata {key:?} is invalid: {reason}", .path.display())]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The metadata key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The tensors do not match the model (or optimizer): `problems` lists every
    /// difference; the message names the first few, and says so when the file is not
    /// a checkpoint of this model at all.
    #[error(
        "checkpoint {} does not match the model: {}",
        .path.as_ref().map_or_else(|| "(in memory)".to_string(), |p| p.display().to_string()),
        summarize_mismatch(.problems, *.model_tensors)
    )]
    Mismatch {
        /// The file (`None` before it is known).
        path: Option<PathBuf>,
        /// Each tensor that differs, in name order.
        problems: Vec<TensorProblem>,
        /// How many tensors the model has, when the problems are the model's (not an
        /// optimizer's): the message then says how few of them the file has.
        model_tensors: Option<usize>,
    },
    /// The optimizer state was made by another algorithm.
    #[error("the checkpoint's optimizer state is for {found}, but the optimizer is {expected}")]
    OptimizerKind {
        /// The checkpoint's algorithm.
        found: String,
        /// The optimizer's algorithm.
        expected: String,
    },
    /// The checkpoint has no training state, so a run cannot resume from it.
    #[error(
        "checkpoint {} holds only model weights (no epoch, optimizer state or history), so training cannot resume from it",
        .path.display()
    )]
    NoTrainingState {
        /// The file.
        path: PathBuf,
    },
    /// The checkpoint could not be encoded (a header over safetensors' 100 MB limit).
    #[error("cannot encode the checkpoint: {reason}")]
    Encode {
        /// Why.
        reason: String,
    },
    /// A model tensor's name collides with the reserved `optimizer.` prefix.
    #[error("cannot save the tensor {name}: names starting with \"optimizer.\" are reserved for the optimizer state")]
    ReservedName {
        /// The model tensor.
        name: String,
    },
}

impl CheckpointError {
    /// The same error, naming `path` as the file (errors made from bytes in memory
    /// do not know it).
    pub fn at(self, path: &std::path::Path) -> Self {
        let path = path.to_path_buf();
        match self {
            Self::Mismatch {
                problems,
                model_tensors,
                ..
            } => Self::Mismatch {
                path: Some(path),
                problems,
                model_tensors,
            },
            Self::Format { reason, .. } => Self::Format { path, reason },
            Self::Metadata { key, reason, .. } => Self::Metadata { path, key, reason },
            Self::NewerVersion {
                found, supported, ..
            } => Self::NewerVersion {
                path,
                found,
                supported,
            },
            other => other,
        }
    }
}

impl CheckpointError {
    /// Whether the message already ends with the fix, so that a caller should not add
    /// one of its own (two different fixes would contradict each other): a
    /// [`Mismatch`](Self::Mismatch) with a `--predictions` file, or with tensors that
    /// only need converting to F32.
    pub fn names_its_fix(&self) -> bool {
        matches!(self, Self::Mismatch { problems, .. } if names_its_fix(problems))
    }

    /// [`CheckpointError::Mismatch`] of an optimizer state (or of tensors not counted
    /// against a model), the file not known yet.
    pub(crate) fn mismatch(problems: Vec<TensorProblem>) -> Self {
        Self::Mismatch {
            path: None,
            problems,
            model_tensors: None,
        }
    }

    /// [`CheckpointError::Mismatch`] of a model of `model_tensors` parameters and
    /// buffers, the file not known yet.
    pub(crate) fn model_mismatch(problems: Vec<TensorProblem>, model_tensors: usize) -> Self {
        Self::Mismatch {
            path: None,
            problems,
            model_tensors: Some(model_tensors),
        }
    }
}
