//! Checks of the [`Layer`] contract that a layer's own code keeps or breaks: the
//! state its two visitors name, the shapes of its parameter gradients and of its
//! output. The built-in layers keep it by construction; these checks are for
//! layers written outside this crate, so that a broken one fails with an error
//! naming it instead of training wrong values or panicking later.

use crate::{Layer, LayerError, StateMut, StateRef};
use ndarray::ArrayD;
use std::collections::HashSet;

/// What one named piece of state is, as both visitors must agree on it.
#[derive(Debug, PartialEq)]
enum Entry {
    Parameter(Vec<usize>),
    Buffer(Vec<usize>),
    Counter,
}

/// Checks that [`Layer::visit_state`] and [`Layer::visit_state_mut`] name the same
/// state in the same order (same names, kinds and shapes), that no name is given
/// twice or has an empty part ([`check_state_names`]), and that every parameter's
/// gradient has its value's shape.
///
/// [`Sequential::build`](crate::Sequential::build) and
/// [`gradcheck`](crate::gradcheck::gradcheck) run it.
///
/// # Errors
/// [`LayerError::Contract`] naming the layer and the first piece of state at fault.
pub fn check_state(layer: &mut dyn Layer) -> Result<(), LayerError> {
    let seen: Vec<(String, Entry)> = layer
        .state()
        .into_iter()
        .map(|(name, entry)| {
            let entry = match entry {
                StateRef::Parameter(p) => Entry::Parameter(p.value.shape().to_vec()),
                StateRef::Buffer(b) => Entry::Buffer(b.shape().to_vec()),
                StateRef::Counter(_) => Entry::Counter,
            };
            (name, entry)
        })
        .collect();
    let seen_mut: Vec<(String, Entry)> = layer
        .state_mut()
        .into_iter()
        .map(|(name, entry)| {
            let entry = match entry {
                StateMut::Parameter(p) => Entry::Parameter(p.value.shape().to_vec()),
                StateMut::Buffer(b) => Entry::Buffer(b.shape().to_vec()),
                StateMut::Counter(_) => Entry::Counter,
            };
            (name, entry)
        })
        .collect();
    let breach = |reason: String| Err(LayerError::contract(layer.name(), reason));
    if seen != seen_mut {
        let names = |entries: &[(String, Entry)]| {
            entries
                .iter()
                .map(|(name, entry)| format!("{name} {entry:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return breach(format!(
            "visit_state and visit_state_mut must name the same state in the same order, \
             but visit_state gives [{}] and visit_state_mut [{}]",
            names(&seen),
            names(&seen_mut)
        ));
    }
    if let Err(reason) = check_names(seen.iter().map(|(name, _)| name.as_str())) {
        return breach(reason);
    }
    check_gradient_shapes(layer)
}

/// Checks the names [`Layer::visit_state`] gives: none given twice, none with an
/// empty part (`""`, `"fc."`, `"a..b"`: a `parameter("")` or a child named `""`).
/// The part of [`check_state`] that needs no mutable access; a checkpoint writer
/// runs it, as a file cannot hold two tensors of one name.
///
/// # Errors
/// [`LayerError::Contract`] naming the layer and the first name at fault.
pub fn check_state_names(layer: &dyn Layer) -> Result<(), LayerError> {
    let names: Vec<String> = layer.state().into_iter().map(|(name, _)| name).collect();
    check_names(names.iter().map(String::as_str))
        .map_err(|reason| LayerError::contract(layer.name(), reason))
}

/// What is wrong with the first bad name of `names`, if one is.
fn check_names<'n>(names: impl Iterator<Item = &'n str>) -> Result<(), String> {
    let mut seen = HashSet::new();
    for name in names {
        if name.split('.').any(str::is_empty) {
            return Err(format!(
                "a piece of state is named {name:?}: each part of a name (between the \
                 dots) must be non-empty, so name every parameter, buffer, counter and child"
            ));
        }
        if !seen.insert(name) {
            return Err(format!(
                "two pieces of state are named {name:?}: each needs its own name, or \
                 optimizers and checkpoints see only one of them"
            ));
        }
    }
    Ok(())
}

/// Checks that every parameter's gradient has the shape of its value (a backward
/// that adds a gradient of another shape, by broadcasting or by replacing the
/// array, leaves one that the optimizers cannot apply).
///
/// `scratchnet_train::train_step` runs it after every backward.
///
/// # Errors
/// [`LayerError::Contract`] naming the layer and the parameter.
pub fn check_gradient_shapes(layer: &dyn Layer) -> Result<(), LayerError> {
    for (name, p) in layer.parameters() {
        if p.grad.shape() != p.value.shape() {
            return Err(LayerError::contract(
                layer.name(),
                format!(
                    "{name}.grad has the shape {:?}, but {name} has {:?}: backward must add \
                     (+=) a gradient of the parameter's own shape",
                    p.grad.shape(),
                    p.value.shape()
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that `output`, what `layer.forward` returned for an input of shape
/// `input_shape` (`[N, …]`, the batch axis included), has the input's batch size `N`
/// and the per-sample shape `output_shape` promises.
///
/// # Errors
/// [`LayerError::Contract`] naming the layer and both shapes; the error of
/// `output_shape` itself if it refuses the input.
pub fn check_output_shape(
    layer: &dyn Layer,
    input_shape: &[usize],
    output: &ArrayD<f32>,
) -> Result<(), LayerError> {
    let (input_batch, input_sample) = input_shape.split_first().unwrap_or((&0, &[]));
    let promised = layer.output_shape(input_sample)?;
    let (output_batch, got) = output.shape().split_first().unwrap_or((&0, &[]));
    let breach = |reason: String| Err(LayerError::contract(layer.name(), reason));
    if output_batch != input_batch {
        return breach(format!(
            "forward gave {:?} for an input of {input_shape:?}: {output_batch} samples for \
             {input_batch} (the batch axis, axis 0, must keep its size)",
            output.shape()
        ));
    }
    if got != promised.as_slice() {
        return breach(format!(
            "forward gave {got:?} per sample for an input of {input_sample:?}, but \
             output_shape says {promised:?}"
        ));
    }
    Ok(())
}

/// Checks that `grad_input`, what `layer.backward` returned, has the shape of the
/// input of the forward it follows, `input_shape` (`[N, …]`).
///
/// # Errors
/// [`LayerError::Contract`] naming the layer and both shapes.
pub fn check_input_gradient_shape(
    layer: &dyn Layer,
    input_shape: &[usize],
    grad_input: &ArrayD<f32>,
) -> Result<(), LayerError> {
    if grad_input.shape() == input_shape {
        return Ok(());
    }
    Err(LayerError::contract(
        layer.name(),
        format!(
            "backward returned {:?} for an input of {input_shape:?}: the input gradient \
             must have the input's shape",
            grad_input.shape()
        ),
    ))
}
