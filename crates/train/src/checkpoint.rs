//! Checkpoints in the safetensors format, interchangeable with PyTorch.
//!
//! See [`Checkpoint`] for the file layout.

use crate::atomic_write::write_atomically;
use crate::buffer_kind::BufferKind;
use crate::checkpoint_error::{CheckpointError, TensorProblem};
use crate::checkpoint_file::{CheckpointFile, MAX_HEADER_BYTES};
use crate::metadata_rules::{check_training, check_version};
use crate::optimizer::Optimizer;
use crate::optimizer_state::{OptimizerState, OPTIMIZER_PREFIX};
use crate::History;
use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, Metadata, SafeTensors, TensorView};
use scratchnet_layers::{Layer, StateRef};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The version of the checkpoint layout this crate writes (`scratchnet.version`).
pub const LAYOUT_VERSION: &str = "1";

const KEY_FORMAT: &str = "format";
pub(crate) const KEY_VERSION: &str = "scratchnet.version";
pub(crate) const KEY_EPOCH: &str = "scratchnet.epoch";
const KEY_SEED: &str = "scratchnet.seed";
pub(crate) const KEY_OPTIMIZER: &str = "scratchnet.optimizer";
pub(crate) const KEY_HISTORY: &str = "scratchnet.history";
pub(crate) const KEY_PARTIAL: &str = "scratchnet.partial_epoch";
const KEY_EXTRA_STATE: &str = "scratchnet.extra_state";

/// Where a run stands after an epoch, or within one: what `--resume` needs besides
/// the weights.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingState {
    /// Completed epochs (the next epoch to train is `epoch + 1`).
    pub epoch: usize,
    /// How far the run got into epoch `epoch + 1` when it was interrupted (see
    /// [`StopFlag`](crate::StopFlag)); `None` for a checkpoint saved at the end of an epoch.
    pub partial: Option<PartialEpoch>,
    /// The seed of the run (batch order and augmentation derive from it and the epoch).
    pub seed: u64,
    /// The metrics of every completed epoch.
    pub history: History,
    /// The optimizer's state after the last step.
    pub optimizer: OptimizerState,
}

/// The progress of an interrupted epoch: the batches already trained and the running
/// sums of its training metrics, so that a resumed run continues with the next batch
/// and ends the epoch with the same metrics as an uninterrupted run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PartialEpoch {
    /// Batches of the epoch already trained (the next one is batch `batches_done`,
    /// counted from 0).
    pub batches_done: usize,
    /// Batches in the whole epoch (a check that the data and batch size are the same).
    pub batches: usize,
    /// Sum over the trained batches of `mean loss × batch size` (stored bit for bit).
    pub loss_sum: f64,
    /// Training samples classified right so far.
    pub correct: usize,
    /// Training samples seen so far.
    pub samples: usize,
    /// Wall-clock seconds of training spent on the epoch so far.
    pub seconds: f64,
}

impl PartialEpoch {
    /// The mean training loss per sample so far (0 before the first batch).
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.samples.max(1) as f64
    }

    /// The fraction of training samples classified right so far (0 before the first
    /// batch).
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.samples.max(1) as f64
    }
}

/// [`PartialEpoch`] as JSON in the metadata, the sum as its bits (JSON numbers need
/// not round-trip exactly).
#[derive(Serialize, Deserialize)]
struct PartialHeader {
    batches_done: usize,
    batches: usize,
    loss_sum_bits: u64,
    correct: usize,
    samples: usize,
    seconds: f64,
}

/// A tensor stored in another type than F32.
#[derive(Clone, Debug, PartialEq)]
struct OtherDtype {
    dtype: String,
    shape: Vec<usize>,
    /// The values as f32, for I64 tensors.
    as_f32: Option<ArrayD<f32>>,
}

/// The scalars of an optimizer state, as JSON in the metadata.
#[derive(Serialize, Deserialize)]
struct OptimizerHeader {
    kind: String,
    steps: u64,
}

/// The contents of a checkpoint file, in memory.
///
/// # File layout
///
/// A checkpoint is one [safetensors](https://huggingface.co/docs/safetensors) file:
///
/// | entry | content |
/// |---|---|
/// | `conv1.weight`, `conv1.bias`, …, `fc3.bias` | the model's parameters (and buffers), named, shaped and laid out exactly as PyTorch's `state_dict`: `F32`, little-endian, row-major (OIHW convolution weights, `[out, in]` dense weights) |
/// | `bn1.num_batches_tracked` | a norm layer's count of batches: `I64`, shape `[]`, as PyTorch's `state_dict` (read as `F32` too, from older files) |
/// | `optimizer.<parameter>.<slot>` | the optimizer state, PyTorch's slot names: `optimizer.conv1.weight.exp_avg`, `….exp_avg_sq` (Adam), `….momentum_buffer` (SGD); `F32` |
/// | `__metadata__` `format` | `"pt"`, as `safetensors.torch.save_file` writes |
/// | `__metadata__` `scratchnet.version` | `"1"`, the version of this layout |
/// | `__metadata__` `scratchnet.epoch` | completed epochs (present only with a training state) |
/// | `__metadata__` `scratchnet.seed` | the run's seed (decimal) |
/// | `__metadata__` `scratchnet.optimizer` | JSON `{"kind": "adam", "steps": 1876}` |
/// | `__metadata__` `scratchnet.history` | JSON array of [`EpochMetrics`](crate::EpochMetrics) |
/// | `__metadata__` `scratchnet.partial_epoch` | only in a checkpoint of an interrupted epoch: JSON [`PartialEpoch`] (`{"batches_done": 37, "batches": 94, "loss_sum_bits": …, "correct": …, "samples": …, "seconds": …}`) |
/// | `__metadata__` `scratchnet.extra_state` | only for models with counters ([`Layer::extra_state`]): JSON `{"dropout.step": 2814}` |
/// | other `__metadata__` keys | free-form [`Checkpoint::metadata`], e.g. `dataset` |
///
/// A file with only model tensors (for example a PyTorch `state_dict` saved with
/// `safetensors.torch.save_file`) is a valid checkpoint without training state.
///
/// **Into PyTorch**, drop the optimizer entries before `load_state_dict`:
///
/// ```python
/// from safetensors.torch import load_file
/// state = {k: v for k, v in load_file("lenet.safetensors").items() if not k.startswith("optimizer.")}
/// model.load_state_dict(state)
/// ```
///
/// Writes are atomic ([`write_atomically`](crate::write_atomically)); reads check the whole
/// file and never panic, whatever the bytes.
///
/// # Example
/// ```
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_layers::{Layer, StateRef};
/// use scratchnet_train::{models::lenet5, Checkpoint};
/// let dir = std::env::temp_dir().join(format!("ckpt-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("lenet.safetensors");
///
/// let trained = lenet5(&mut StdRng::seed_from_u64(1));
/// Checkpoint::from_model(&trained).save(&path).unwrap();
///
/// let mut fresh = lenet5(&mut StdRng::seed_from_u64(2));
/// Checkpoint::load(&path).unwrap().apply_to(&mut fresh).unwrap();
/// assert_eq!(fresh.parameters(), trained.parameters());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// Model parameters and buffers, by their `state_dict` names.
    pub tensors: BTreeMap<String, ArrayD<f32>>,
    /// The model's counters ([`Layer::extra_state`], e.g. `dropout.step`), by name.
    pub extra_state: BTreeMap<String, u64>,
    /// Free-form metadata (string to string) saved in `__metadata__`, without the
    /// reserved `format` and `scratchnet.*` keys.
    pub metadata: BTreeMap<String, String>,
    /// The training state, if the checkpoint carries one.
    pub training: Option<TrainingState>,
    /// Model-looking tensors stored in another type than F32: their dtype, shape, and
    /// for I64 their values as f32 (usable for buffers such as batch norm's
    /// `num_batches_tracked`, which PyTorch stores as I64).
    other_dtypes: BTreeMap<String, OtherDtype>,
}

impl Checkpoint {
    /// A checkpoint of `model`'s parameters, buffers and counters, without training state.
    pub fn from_model(model: &dyn Layer) -> Self {
        let mut tensors = BTreeMap::new();
        let mut extra_state = BTreeMap::new();
        for (name, entry) in model.state() {
            match entry {
                StateRef::Parameter(p) => {
                    tensors.insert(name, p.value.clone());
                }
                StateRef::Buffer(b) => {
                    tensors.insert(name, b.clone());
                }
                StateRef::Counter(c) => {
                    extra_state.insert(name, c);
                }
            }
        }
        Self {
            tensors,
            extra_state,
            ..Self::default()
        }
    }

    /// A checkpoint of `tensors` alone, by name: no counters, metadata or training
    /// state. [`save`](Self::save) writes them as a safetensors file that
    /// `safetensors.torch.load_file` reads: a way to export any tensors, such as a
    /// layer's input, output and gradients for a comparison with PyTorch.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use scratchnet_train::Checkpoint;
    /// let x = ndarray::ArrayD::<f32>::ones(ndarray::IxDyn(&[2, 3]));
    /// let checkpoint = Checkpoint::from_tensors(BTreeMap::from([("x".to_string(), x.clone())]));
    /// let back = Checkpoint::from_bytes(&checkpoint.to_bytes().unwrap()).unwrap();
    /// assert_eq!(back.tensors["x"], x);
    /// ```
    pub fn from_tensors(tensors: BTreeMap<String, ArrayD<f32>>) -> Self {
        Self {
            tensors,
            ..Self::default()
        }
    }

    /// A checkpoint of `model` with `training` state (epoch, seed, history) and the
    /// state of `optimizer`.
    pub fn for_training(
        model: &dyn Layer,
        optimizer: &dyn Optimizer,
        epoch: usize,
        seed: u64,
        history: &History,
    ) -> Self {
        Self {
            training: Some(TrainingState {
                epoch,
                partial: None,
                seed,
                history: history.clone(),
                optimizer: optimizer.state(),
            }),
            ..Self::from_model(model)
        }
    }

    /// Adds a free-form metadata entry (builder style).
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Writes the checkpoint to `path` atomically (see [`Checkpoint`] for the layout).
    ///
    /// # Errors
    /// [`CheckpointError::ReservedName`] if a model tensor starts with `optimizer.`;
    /// [`CheckpointError::Write`] if the file cannot be written — a previous file at
    /// `path` is then left intact.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let bytes = self.to_bytes()?;
        write_atomically(path, &bytes).map_err(|source| CheckpointError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The checkpoint as the bytes of a safetensors file.
    ///
    /// # Errors
    /// [`CheckpointError::ReservedName`] as for [`save`](Self::save).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        if let Some(name) = self
            .tensors
            .keys()
            .find(|n| n.starts_with(OPTIMIZER_PREFIX))
        {
            return Err(CheckpointError::ReservedName { name: name.clone() });
        }
        let mut metadata: HashMap<String, String> = self
            .metadata
            .iter()
            .filter(|(k, _)| !is_reserved_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        metadata.insert(KEY_FORMAT.into(), "pt".into());
        metadata.insert(KEY_VERSION.into(), LAYOUT_VERSION.into());
        if !self.extra_state.is_empty() {
            metadata.insert(KEY_EXTRA_STATE.into(), to_json(&self.extra_state));
        }

        let mut entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(name, t)| {
                let (dtype, bytes) = stored_bytes(name, t);
                (name.clone(), dtype, t.shape().to_vec(), bytes)
            })
            .collect();
        if let Some(training) = &self.training {
            metadata.insert(KEY_EPOCH.into(), training.epoch.to_string());
            metadata.insert(KEY_SEED.into(), training.seed.to_string());
            let header = OptimizerHeader {
                kind: training.optimizer.kind.clone(),
                steps: training.optimizer.steps,
            };
            metadata.insert(KEY_OPTIMIZER.into(), to_json(&header));
            metadata.insert(KEY_HISTORY.into(), to_json(&training.history));
            if let Some(p) = &training.partial {
                let header = PartialHeader {
                    batches_done: p.batches_done,
                    batches: p.batches,
                    loss_sum_bits: p.loss_sum.to_bits(),
                    correct: p.correct,
                    samples: p.samples,
                    seconds: p.seconds,
                };
                metadata.insert(KEY_PARTIAL.into(), to_json(&header));
            }
            entries.extend(training.optimizer.tensors.iter().map(|(name, t)| {
                (
                    format!("{OPTIMIZER_PREFIX}{name}"),
                    Dtype::F32,
                    t.shape().to_vec(),
                    le_bytes(t),
                )
            }));
        }
        let encode_error = |e: safetensors::SafeTensorError| CheckpointError::Encode {
            reason: e.to_string(),
        };
        let views = entries
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(*dtype, shape.clone(), bytes).map(|view| (name.as_str(), view))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(encode_error)?;
        safetensors::serialize(views, Some(metadata)).map_err(encode_error)
    }

    /// Reads the checkpoint at `path`, checking the whole file.
    ///
    /// The file is read within bounds, checked before any tensor data is read: `path`
    /// must name a regular file (a FIFO, a device such as `/dev/zero` or a directory is
    /// refused without reading it); its header (after the 8-byte header length) may
    /// have at most [`MAX_HEADER_BYTES`] (100 MB, safetensors' limit); and the file's
    /// size must be exactly the header's plus the tensor data it describes. So the
    /// memory used is the file's real size. To also bound that size by a model, use
    /// [`load_model`].
    ///
    /// The `scratchnet.*` metadata is checked: a layout version this build reads (see
    /// [`LAYOUT_VERSION`]), and a training state a run could have written (accuracies
    /// in [0, 1], finite non-negative losses and seconds, at most 2³² optimizer steps
    /// per epoch begun, …).
    ///
    /// Model tensors of a type other than F32 are remembered and reported by
    /// [`apply_to`](Self::apply_to) as [`TensorProblem::WrongDtype`].
    ///
    /// # Errors
    /// [`CheckpointError::Read`] if the file cannot be read; [`CheckpointError::NotAFile`]
    /// for a FIFO, device or directory; [`CheckpointError::Format`] for anything that is
    /// not a complete safetensors file (truncated, garbage, bad header, header too
    /// long); [`CheckpointError::Metadata`] for unreadable or impossible `scratchnet.*`
    /// metadata; [`CheckpointError::NewerVersion`] for a newer layout;
    /// [`CheckpointError::Mismatch`] for an optimizer tensor that is not F32. Never
    /// panics.
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = CheckpointFile::open(path, None)?.read_all()?;
        Self::from_bytes(&bytes).map_err(|e| e.at(path))
    }

    /// Parses the bytes of a safetensors file (see [`load`](Self::load)). Errors name
    /// the file as `(in memory)`; [`load`](Self::load) puts in the path.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        Self::parse(bytes, TrainingMetadata::Checked)
    }

    /// Parses the bytes of a safetensors file, the training metadata as `training` says.
    fn parse(bytes: &[u8], training: TrainingMetadata) -> Result<Self, CheckpointError> {
        let lenient = training == TrainingMetadata::OptionalIfInvalid;
        let format_error = |reason: String| CheckpointError::Format {
            path: Path::new("(in memory)").to_path_buf(),
            reason,
        };
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| format_error(e.to_string()))?;
        let file = SafeTensors::deserialize(bytes).map_err(|e| format_error(e.to_string()))?;
        let mut metadata: BTreeMap<String, String> = header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        check_version(metadata.get(KEY_VERSION).map(String::as_str))?;
        let StoredTensors {
            mut tensors,
            optimizer_tensors,
            other_dtypes,
        } = StoredTensors::read(&file, lenient)?;
        let extra_state = if metadata.contains_key(KEY_EXTRA_STATE) {
            match parse_key(&mut metadata, KEY_EXTRA_STATE, from_json) {
                Err(_) if lenient => BTreeMap::new(),
                extra_state => extra_state?,
            }
        } else {
            BTreeMap::new()
        };
        let training = if metadata.contains_key(KEY_EPOCH) {
            match read_training_state(&mut metadata, optimizer_tensors) {
                Err(_) if lenient => None,
                state => Some(state?),
            }
        } else {
            if !lenient {
                // A model-only file: stray optimizer entries would be unexpected tensors.
                for (name, tensor) in optimizer_tensors {
                    tensors.insert(format!("{OPTIMIZER_PREFIX}{name}"), tensor);
                }
            }
            None
        };
        metadata.retain(|k, _| !is_reserved_key(k));
        Ok(Self {
            tensors,
            extra_state,
            metadata,
            training,
            other_dtypes,
        })
    }

    /// Checks every tensor against `model`'s parameters and buffers, then copies them
    /// in, with the counters ([`Layer::extra_state`]) the checkpoint has. Nothing is
    /// changed unless every tensor matches. The training state is ignored.
    ///
    /// Counters are lenient, as they change no number a model computes in evaluation:
    /// one the checkpoint lacks (a file from PyTorch, or of a model saved without
    /// dropout) keeps its current value, and one the model lacks is ignored (a model
    /// rebuilt without its dropout layer still loads its weights).
    ///
    /// Parameters must be F32; buffers may also be I64 (PyTorch's
    /// `num_batches_tracked`), converted to f32. Values must be finite, and a norm
    /// layer's `running_var` and `num_batches_tracked` also ≥ 0 (a negative variance
    /// would make every prediction garbage).
    ///
    /// # Errors
    /// [`CheckpointError::Mismatch`] listing every missing, unexpected, wrongly shaped,
    /// wrongly typed and invalid tensor.
    pub fn apply_to(&self, model: &mut dyn Layer) -> Result<(), CheckpointError> {
        let values = self.values_for(model)?;
        // `values_for` read the names through `visit_state`; a layer whose
        // `visit_state_mut` names other tensors (a broken layer of one's own) must
        // fail here, before anything is assigned.
        let mut problems = Vec::new();
        let mut mutable: Vec<(String, Vec<usize>)> = (model.parameters_mut().into_iter())
            .map(|(name, p)| (name, p.value.shape().to_vec()))
            .collect();
        mutable
            .extend((model.buffers_mut().into_iter()).map(|(name, b)| (name, b.shape().to_vec())));
        for (name, expected) in mutable {
            match values.get(name.as_str()) {
                Some(value) if value.shape() == expected.as_slice() => {}
                Some(value) => problems.push(TensorProblem::WrongShape {
                    name,
                    expected,
                    found: value.shape().to_vec(),
                }),
                None => problems.push(TensorProblem::Missing { name, expected }),
            }
        }
        if !problems.is_empty() {
            return Err(CheckpointError::mismatch(problems));
        }
        for (name, param) in model.parameters_mut() {
            param.value.assign(values[name.as_str()]);
        }
        for (name, buffer) in model.buffers_mut() {
            buffer.assign(values[name.as_str()]);
        }
        for (name, counter) in model.extra_state_mut() {
            if let Some(&value) = self.extra_state.get(&name) {
                *counter = value;
            }
        }
        Ok(())
    }

    /// The checkpoint's tensor for each of `model`'s parameters and buffers, by name,
    /// after checking that every one is there with its shape and type and that the
    /// checkpoint has no other.
    pub(crate) fn values_for(
        &self,
        model: &dyn Layer,
    ) -> Result<BTreeMap<String, &ArrayD<f32>>, CheckpointError> {
        let shapes = |named: Vec<(String, Vec<usize>)>| -> BTreeMap<String, Vec<usize>> {
            named.into_iter().collect()
        };
        let parameters = shapes(
            (model.parameters().into_iter())
                .map(|(name, p)| (name, p.value.shape().to_vec()))
                .collect(),
        );
        let buffers = shapes(
            (model.buffers().into_iter())
                .map(|(name, b)| (name, b.shape().to_vec()))
                .collect(),
        );
        let mut problems = Vec::new();
        let mut values = BTreeMap::new();
        let expected = parameters
            .iter()
            .map(|e| (e, false))
            .chain(buffers.iter().map(|e| (e, true)));
        for ((name, shape), is_buffer) in expected {
            match self.tensor_for(name, shape, is_buffer) {
                Ok(t) => {
                    values.insert(name.clone(), t);
                }
                Err(problem) => problems.push(problem),
            }
        }
        let stored = self
            .tensors
            .iter()
            .map(|(n, t)| (n, t.shape().to_vec()))
            .chain(self.other_dtypes.iter().map(|(n, o)| (n, o.shape.clone())));
        for (name, shape) in stored {
            if !parameters.contains_key(name) && !buffers.contains_key(name) {
                problems.push(TensorProblem::Unexpected {
                    name: name.clone(),
                    shape,
                });
            }
        }
        if !problems.is_empty() {
            problems.sort_by(|a, b| problem_name(a).cmp(problem_name(b)));
            let model_tensors = parameters.len() + buffers.len();
            return Err(CheckpointError::model_mismatch(problems, model_tensors));
        }
        Ok(values)
    }

    /// The stored tensor `name` of the model's `shape`, or what is wrong with it.
    fn tensor_for(
        &self,
        name: &str,
        shape: &[usize],
        is_buffer: bool,
    ) -> Result<&ArrayD<f32>, TensorProblem> {
        let found = match (self.tensors.get(name), self.other_dtypes.get(name)) {
            (Some(t), _) => t,
            // PyTorch keeps counters such as num_batches_tracked as I64.
            (
                None,
                Some(OtherDtype {
                    as_f32: Some(t), ..
                }),
            ) if is_buffer => t,
            (None, Some(other)) => {
                return Err(TensorProblem::WrongDtype {
                    name: name.to_string(),
                    found: other.dtype.clone(),
                    allowed: allowed_dtypes(is_buffer),
                })
            }
            (None, None) => {
                return Err(TensorProblem::Missing {
                    name: name.to_string(),
                    expected: shape.to_vec(),
                })
            }
        };
        if found.shape() != shape {
            return Err(TensorProblem::WrongShape {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: found.shape().to_vec(),
            });
        }
        let non_negative = is_buffer && BufferKind::of(name).non_negative();
        TensorProblem::check_values(name, found, non_negative)?;
        Ok(found)
    }
}

/// The tensors of a checkpoint file, sorted by kind.
struct StoredTensors {
    /// Model tensors stored as F32.
    tensors: BTreeMap<String, ArrayD<f32>>,
    /// Optimizer tensors, without the `optimizer.` prefix.
    optimizer_tensors: BTreeMap<String, ArrayD<f32>>,
    /// Model tensors stored in another type.
    other_dtypes: BTreeMap<String, OtherDtype>,
}

impl StoredTensors {
    /// Reads every tensor of `file`.
    ///
    /// # Errors
    /// [`CheckpointError::Format`] for a tensor whose data does not fill its shape;
    /// [`CheckpointError::Mismatch`] for optimizer tensors that are not F32.
    /// With `lenient`, optimizer tensors that are not F32 are left out instead.
    fn read(file: &SafeTensors, lenient: bool) -> Result<Self, CheckpointError> {
        let mut stored = Self {
            tensors: BTreeMap::new(),
            optimizer_tensors: BTreeMap::new(),
            other_dtypes: BTreeMap::new(),
        };
        let mut optimizer_problems = Vec::new();
        for (name, view) in file.tensors() {
            let optimizer_name = name.strip_prefix(OPTIMIZER_PREFIX).map(str::to_string);
            match (view.dtype() == Dtype::F32, optimizer_name) {
                (true, Some(param_slot)) => {
                    let array = f32_array(&name, &view)?;
                    stored.optimizer_tensors.insert(param_slot, array);
                }
                (true, None) => {
                    let array = f32_array(&name, &view)?;
                    stored.tensors.insert(name, array);
                }
                (false, Some(_)) => optimizer_problems.push(TensorProblem::WrongDtype {
                    name,
                    found: format!("{:?}", view.dtype()),
                    allowed: allowed_dtypes(false),
                }),
                (false, None) => match OtherDtype::of(&view) {
                    // A count as scratchnet and PyTorch save it: read like an F32 one.
                    OtherDtype {
                        as_f32: Some(values),
                        ..
                    } if BufferKind::of(&name) == BufferKind::BatchCount => {
                        stored.tensors.insert(name, values);
                    }
                    other => {
                        stored.other_dtypes.insert(name, other);
                    }
                },
            }
        }
        if !optimizer_problems.is_empty() && !lenient {
            return Err(CheckpointError::mismatch(optimizer_problems));
        }
        Ok(stored)
    }
}

impl OtherDtype {
    /// The dtype and shape of `view`, with its values as f32 if it is I64.
    fn of(view: &TensorView) -> Self {
        let shape = view.shape().to_vec();
        let as_f32 = (view.dtype() == Dtype::I64)
            .then(|| {
                let values = view
                    .data()
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                    .collect();
                ArrayD::from_shape_vec(IxDyn(&shape), values).ok()
            })
            .flatten();
        Self {
            dtype: format!("{:?}", view.dtype()),
            shape,
            as_f32,
        }
    }
}

/// The values of an F32 tensor.
fn f32_array(name: &str, view: &TensorView) -> Result<ArrayD<f32>, CheckpointError> {
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    ArrayD::from_shape_vec(IxDyn(view.shape()), values).map_err(|e| CheckpointError::Format {
        path: Path::new("(in memory)").to_path_buf(),
        reason: format!("tensor {name}: {e}"),
    })
}

/// The training state in `metadata` (its keys removed), with `optimizer_tensors`.
fn read_training_state(
    metadata: &mut BTreeMap<String, String>,
    optimizer_tensors: BTreeMap<String, ArrayD<f32>>,
) -> Result<TrainingState, CheckpointError> {
    let epoch = parse_key(metadata, KEY_EPOCH, |s| {
        s.parse::<usize>().map_err(|e| e.to_string())
    })?;
    let seed = parse_key(metadata, KEY_SEED, |s| {
        s.parse::<u64>().map_err(|e| e.to_string())
    })?;
    let header: OptimizerHeader = parse_key(metadata, KEY_OPTIMIZER, from_json)?;
    let history: History = parse_key(metadata, KEY_HISTORY, from_json)?;
    let partial = if metadata.contains_key(KEY_PARTIAL) {
        let p: PartialHeader = parse_key(metadata, KEY_PARTIAL, from_json)?;
        Some(PartialEpoch {
            batches_done: p.batches_done,
            batches: p.batches,
            loss_sum: f64::from_bits(p.loss_sum_bits),
            correct: p.correct,
            samples: p.samples,
            seconds: p.seconds,
        })
    } else {
        None
    };
    let state = TrainingState {
        epoch,
        partial,
        seed,
        history,
        optimizer: OptimizerState {
            kind: header.kind,
            steps: header.steps,
            tensors: optimizer_tensors,
        },
    };
    check_training(&state)?;
    Ok(state)
}

/// Reads the model weights of the checkpoint at `path` into `model`, and returns the
/// checkpoint: its weights, counters, free-form metadata, and its training state if
/// that is present and valid.
///
/// Only the weights are needed: training metadata that is missing or invalid (history,
/// epoch, optimizer, interrupted epoch, counters) and optimizer tensors are taken as
/// absent (`training` is `None`), so a checkpoint with good weights always loads. The
/// layout version is checked as by [`Checkpoint::load`].
///
/// The file is checked before its tensor data is read, in this order: it must be a
/// regular file; its size must be at most what a checkpoint of `model` can be — 8
/// bytes of header length, a header of at most [`MAX_HEADER_BYTES`] (100 MB), and
/// three copies of every parameter as F32 (the weights and an optimizer's two slots,
/// Adam's `exp_avg` and `exp_avg_sq`) plus every buffer at 8 bytes per value (I64) —
/// so a larger file is refused without reading it ([`CheckpointError::TooLarge`]);
/// its header must be whole and the file exactly as long as it says; and the header
/// must have a layout version this build reads and list every tensor of `model` with
/// its shape and type, and no other besides optimizer entries
/// ([`CheckpointError::Mismatch`]). Only then is the data read.
///
/// # Errors
/// As [`Checkpoint::load`] and [`Checkpoint::apply_to`], and
/// [`CheckpointError::TooLarge`], naming `path`.
pub fn load_model(path: &Path, model: &mut dyn Layer) -> Result<Checkpoint, CheckpointError> {
    let file = CheckpointFile::open(path, Some(max_checkpoint_size(&*model)))?;
    // A newer layout may name its tensors differently: say so before comparing them.
    let metadata = file.header().metadata().as_ref();
    check_version(
        metadata
            .and_then(|m| m.get(KEY_VERSION))
            .map(String::as_str),
    )
    .map_err(|e| e.at(path))?;
    check_header(file.header(), &*model).map_err(|e| e.at(path))?;
    let bytes = file.read_all()?;
    let checkpoint =
        Checkpoint::parse(&bytes, TrainingMetadata::OptionalIfInvalid).map_err(|e| e.at(path))?;
    checkpoint.apply_to(model).map_err(|e| e.at(path))?;
    Ok(checkpoint)
}

/// The free-form metadata of the checkpoint at `path` — what a run records there:
/// `model`, `dataset`, `classes`, `input_shape`, `normalization`, … — read from its header
/// alone (at most [`MAX_HEADER_BYTES`], whatever the file's size), so that a program can
/// choose the model to build before [`load_model`]. Empty for a file without metadata.
///
/// # Errors
/// As [`load_model`] for a file that cannot be read or has no valid safetensors header.
pub fn read_metadata(path: &Path) -> Result<BTreeMap<String, String>, CheckpointError> {
    let file = CheckpointFile::open(path, None)?;
    let metadata = file.header().metadata().clone().unwrap_or_default();
    Ok(metadata.into_iter().collect())
}

/// How a parse treats the training metadata (and the counters).
#[derive(Clone, Copy, Debug, PartialEq)]
enum TrainingMetadata {
    /// Missing or invalid training metadata is an error.
    Checked,
    /// Missing or invalid training metadata, and the optimizer tensors with it, are
    /// taken as absent: for loading the weights alone.
    OptionalIfInvalid,
}

/// The largest file a checkpoint of `model` can be (see [`load_model`]).
fn max_checkpoint_size(model: &dyn Layer) -> u64 {
    let values = |shape: &[usize]| shape.iter().map(|&d| d as u64).product::<u64>();
    let parameters: u64 = (model.parameters().into_iter())
        .map(|(_, p)| values(p.value.shape()).saturating_mul(3 * 4))
        .fold(0, u64::saturating_add);
    let buffers: u64 = (model.buffers().into_iter())
        .map(|(_, b)| values(b.shape()).saturating_mul(8))
        .fold(0, u64::saturating_add);
    (8 + MAX_HEADER_BYTES)
        .saturating_add(parameters)
        .saturating_add(buffers)
}

/// Checks a file's header against `model` before its data is read: every parameter
/// and buffer listed with the model's shape, as F32 (buffers also I64), and no other
/// tensor but optimizer entries.
///
/// # Errors
/// [`CheckpointError::Mismatch`] listing every difference, as
/// [`Checkpoint::apply_to`] would.
fn check_header(header: &Metadata, model: &dyn Layer) -> Result<(), CheckpointError> {
    let expected: BTreeMap<String, (Vec<usize>, bool)> = (model.parameters().into_iter())
        .map(|(name, p)| (name, (p.value.shape().to_vec(), false)))
        .chain((model.buffers().into_iter()).map(|(name, b)| (name, (b.shape().to_vec(), true))))
        .collect();
    let stored = header.tensors();
    let mut problems = Vec::new();
    for (name, (shape, is_buffer)) in &expected {
        let Some(info) = stored.get(name) else {
            problems.push(TensorProblem::Missing {
                name: name.clone(),
                expected: shape.clone(),
            });
            continue;
        };
        let dtype_ok = info.dtype == Dtype::F32 || (*is_buffer && info.dtype == Dtype::I64);
        if !dtype_ok {
            problems.push(TensorProblem::WrongDtype {
                name: name.clone(),
                found: format!("{:?}", info.dtype),
                allowed: allowed_dtypes(*is_buffer),
            });
        } else if &info.shape != shape {
            problems.push(TensorProblem::WrongShape {
                name: name.clone(),
                expected: shape.clone(),
                found: info.shape.clone(),
            });
        }
    }
    for (name, info) in &stored {
        if !expected.contains_key(name) && !name.starts_with(OPTIMIZER_PREFIX) {
            problems.push(TensorProblem::Unexpected {
                name: name.clone(),
                shape: info.shape.clone(),
            });
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    problems.sort_by(|a, b| problem_name(a).cmp(problem_name(b)));
    Err(CheckpointError::model_mismatch(problems, expected.len()))
}

/// Saves `model`'s weights alone (no training state) to `path`, atomically.
///
/// # Errors
/// As [`Checkpoint::save`]; [`CheckpointError::Encode`] (nothing written) if two
/// pieces of the model's state have one name, or a name has an empty part
/// ([`contract::check_state_names`](scratchnet_layers::contract::check_state_names)):
/// the file could hold only one of them.
pub fn save_model(path: &Path, model: &dyn Layer) -> Result<(), CheckpointError> {
    scratchnet_layers::contract::check_state_names(model).map_err(|e| CheckpointError::Encode {
        reason: e.to_string(),
    })?;
    Checkpoint::from_model(model).save(path)
}

/// The element types a parameter (`F32`) or a buffer (also `I64`) may be stored in.
fn allowed_dtypes(is_buffer: bool) -> &'static str {
    if is_buffer {
        "F32 or I64"
    } else {
        "F32"
    }
}

fn problem_name(problem: &TensorProblem) -> &str {
    match problem {
        TensorProblem::Missing { name, .. }
        | TensorProblem::Unexpected { name, .. }
        | TensorProblem::WrongShape { name, .. }
        | TensorProblem::WrongDtype { name, .. }
        | TensorProblem::Invalid { name, .. } => name,
    }
}

fn is_reserved_key(key: &str) -> bool {
    key == KEY_FORMAT || key.starts_with("scratchnet.")
}

/// Removes `key` from `metadata` and parses it.
fn parse_key<T>(
    metadata: &mut BTreeMap<String, String>,
    key: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, CheckpointError> {
    let error = |reason: String| CheckpointError::Metadata {
        path: Path::new("(in memory)").to_path_buf(),
        key: key.to_string(),
        reason,
    };
    let value = metadata
        .remove(key)
        .ok_or_else(|| error("missing".into()))?;
    parse(&value).map_err(error)
}

/// How the model tensor `name` is stored: a batch count (`num_batches_tracked`) as
/// I64, PyTorch's type, when its values are whole numbers ≥ 0 (as every count is);
/// anything else as F32.
fn stored_bytes(name: &str, tensor: &ArrayD<f32>) -> (Dtype, Vec<u8>) {
    let whole = |v: &f32| v.is_finite() && *v >= 0.0 && v.fract() == 0.0;
    if BufferKind::of(name) == BufferKind::BatchCount && tensor.iter().all(whole) {
        let bytes = tensor.iter().flat_map(|&v| (v as i64).to_le_bytes());
        return (Dtype::I64, bytes.collect());
    }
    (Dtype::F32, le_bytes(tensor))
}

fn le_bytes(tensor: &ArrayD<f32>) -> Vec<u8> {
    tensor.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serialises to JSON")
}
