//! The [`OptimizerState`] a checkpoint carries, and the checks of a state against a model.

use crate::checkpoint_error::{CheckpointError, TensorProblem};
use ndarray::ArrayD;
use scratchnet_layers::Layer;
use std::collections::BTreeMap;

/// The prefix of every optimizer-state tensor in a checkpoint.
pub const OPTIMIZER_PREFIX: &str = "optimizer.";

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
    /// As [`Optimizer::load_state`](crate::Optimizer::load_state).
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
            let checkpoint_name = format!("{OPTIMIZER_PREFIX}{name}");
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
                Some(_) => {
                    // Second moments (Adam's `exp_avg_sq`) are averages of squares.
                    let squares = name.ends_with("exp_avg_sq");
                    if let Err(problem) =
                        TensorProblem::check_values(&checkpoint_name, tensor, squares)
                    {
                        problems.push(problem);
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CheckpointError::mismatch(problems))
        }
    }
}
