//! The [`Optimizer`] trait and the [`OptimizerState`] a checkpoint carries.

use crate::checkpoint_error::{CheckpointError, TensorProblem};
use ndarray::ArrayD;
use scratchnet_layers::Layer;
use std::collections::BTreeMap;

/// Updates a model's parameters from their gradients, PyTorch's `torch.optim.Optimizer`.
///
/// An optimizer works on any [`Layer`] through its named parameters
/// ([`Layer::parameters_mut`]) and keeps its per-parameter state (momentum, moment
/// estimates) under the parameter's name (`conv1.weight`), so the state can be saved
/// in a checkpoint and restored into a freshly built model.
///
/// A training step is: `model.zero_grad()`, forward in `Mode::Train`, loss, backward
/// (which adds into every `Parameter::grad`), then [`step`](Optimizer::step).
pub trait Optimizer: Send {
    /// The algorithm, as stored in checkpoints: `"sgd"`, `"adam"` or `"adamw"`.
    fn kind(&self) -> &'static str;

    /// Applies one update to every parameter of `model` from its current gradient.
    ///
    /// State is created on a parameter's first step. If a parameter's shape no
    /// longer matches its state (the model was rebuilt differently), that state is
    /// started afresh.
    fn step(&mut self, model: &mut dyn Layer);

    /// The learning rate the next [`step`](Optimizer::step) uses.
    fn learning_rate(&self) -> f32;

    /// Sets the learning rate of the following steps (a schedule calls this).
    fn set_learning_rate(&mut self, lr: f32);

    /// Number of steps taken so far (restored with the state).
    fn steps(&self) -> u64;

    /// A copy of the state: the step count and every per-parameter tensor.
    fn state(&self) -> OptimizerState;

    /// Replaces the state by `state`, after checking that it was made by the same
    /// algorithm and that each tensor belongs to a parameter of `model`, with its
    /// shape. On error the optimizer is unchanged.
    ///
    /// # Errors
    /// [`CheckpointError::OptimizerKind`] for another algorithm, or
    /// [`CheckpointError::Mismatch`] listing every unknown name and wrong shape (names
    /// as in the checkpoint: `optimizer.conv1.weight.exp_avg`).
    fn load_state(
        &mut self,
        state: OptimizerState,
        model: &dyn Layer,
    ) -> Result<(), CheckpointError>;
}

/// The state of an optimizer, as saved in a checkpoint.
///
/// Tensors are named `<parameter>.<slot>` with PyTorch's slot names:
/// `conv1.weight.momentum_buffer` (SGD), `conv1.weight.exp_avg` and
/// `conv1.weight.exp_avg_sq` (Adam, AdamW). A parameter that has not been stepped yet
/// has no tensors.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OptimizerState {
    /// The algorithm: `"sgd"`, `"adam"` or `"adamw"`.
    pub kind: String,
    /// Steps taken (Adam's bias correction uses it).
    pub steps: u64,
    /// Per-parameter tensors, by `<parameter>.<slot>`.
    pub tensors: BTreeMap<String, ArrayD<f32>>,
}

impl OptimizerState {
    /// Checks `self` against an optimizer of kind `kind`, whose per-parameter slots
    /// are `slots`, for `model`: every tensor must be `<parameter>.<slot>` with the
    /// parameter's shape.
    ///
    /// # Errors
    /// As [`Optimizer::load_state`].
    pub fn check(
        &self,
        kind: &str,
        slots: &[&str],
        model: &dyn Layer,
    ) -> Result<(), CheckpointError> {
        if self.kind != kind {
            return Err(CheckpointError::OptimizerKind {
                found: self.kind.clone(),
                expected: kind.to_string(),
            });
        }
        let params: BTreeMap<String, Vec<usize>> = model
            .parameters()
            .into_iter()
            .map(|(name, p)| (name, p.value.shape().to_vec()))
            .collect();
        let mut problems = Vec::new();
        for (name, tensor) in &self.tensors {
            let param = slots.iter().find_map(|slot| {
                name.strip_suffix(slot)
                    .and_then(|rest| rest.strip_suffix('.'))
                    .and_then(|param| params.get(param))
            });
            let checkpoint_name = format!("{}{name}", crate::checkpoint::OPTIMIZER_PREFIX);
            match param {
                None => problems.push(TensorProblem::Unexpected {
                    name: checkpoint_name,
                    shape: tensor.shape().to_vec(),
                }),
                Some(shape) if shape.as_slice() != tensor.shape() => {
                    problems.push(TensorProblem::WrongShape {
                        name: checkpoint_name,
                        expected: shape.clone(),
                        found: tensor.shape().to_vec(),
                    })
                }
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CheckpointError::Mismatch {
                path: None,
                problems,
            })
        }
    }
}
