//! The [`Optimizer`] trait.

use crate::checkpoint_error::CheckpointError;
use crate::optimizer_state::OptimizerState;
use scratchnet_layers::{contract, Layer};

/// Updates a model's parameters from their gradients, PyTorch's `torch.optim.Optimizer`.
///
/// An optimizer works on any [`Layer`] through its named parameters
/// ([`Layer::parameters_mut`]) and keeps its per-parameter state (momentum, moment
/// estimates) under the parameter's name (`conv1.weight`), so the state can be saved
/// in a checkpoint and restored into a freshly built model.
///
/// A training step is: `model.zero_grad()`, forward in `Mode::Train`, loss, backward
/// (which adds into every `Parameter::grad`), then [`step`](Optimizer::step): see
/// [`train_step`](crate::train_step).
pub trait Optimizer: Send {
    /// The algorithm, as stored in checkpoints: `"sgd"`, `"adam"` or `"adamw"`.
    fn kind(&self) -> &'static str;

    /// Applies one update to every parameter of `model` from its current gradient.
    ///
    /// State is created on a parameter's first step. If a parameter's shape no
    /// longer matches its state (the model was rebuilt differently), that state is
    /// started afresh.
    ///
    /// # Panics
    /// If a parameter's gradient does not have its value's shape (a broken layer:
    /// [`train_step`](crate::train_step) reports that as an error before stepping),
    /// naming the parameter; no parameter is changed then.
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
    /// algorithm, that each tensor belongs to a parameter of `model`, with its
    /// shape, and that a state of one step or more has every tensor the optimizer
    /// keeps (Adam's two moments of every parameter; SGD's momentum buffers, with
    /// momentum). A state of 0 steps may have none. On error the optimizer is unchanged.
    ///
    /// # Errors
    /// [`CheckpointError::OptimizerKind`] for another algorithm, or
    /// [`CheckpointError::Mismatch`] listing every unknown name, wrong shape and
    /// missing tensor (names as in the checkpoint: `optimizer.conv1.weight.exp_avg`).
    fn load_state(
        &mut self,
        state: OptimizerState,
        model: &dyn Layer,
    ) -> Result<(), CheckpointError>;
}

/// Panics, naming the parameter, if a gradient of `model` does not have its
/// parameter's shape: the updates go element by element and would misapply it.
pub(crate) fn assert_gradient_shapes(model: &dyn Layer) {
    if let Err(error) = contract::check_gradient_shapes(model) {
        panic!("the optimizer cannot step: {error}");
    }
}
