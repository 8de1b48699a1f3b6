//! Shape checks shared by the built-in layers.

use crate::{LayerError, Parameter};

/// The per-sample part of a batch shape: everything after the batch axis.
pub(crate) fn per_sample(batch_shape: &[usize]) -> &[usize] {
    batch_shape.get(1..).unwrap_or(&[])
}

/// Checks that `grad_output` is the `[n, …out]` gradient of a batch of `n`, naming the layer
/// if not: both batch sizes when they differ, else the per-sample shapes.
pub(crate) fn check_grad_shape(
    layer: &str,
    grad_shape: &[usize],
    n: usize,
    out: &[usize],
) -> Result<(), LayerError> {
    if grad_shape.first().is_some_and(|&got| got != n) {
        let expected: Vec<usize> = std::iter::once(n).chain(out.iter().copied()).collect();
        return Err(LayerError::Input {
            layer: layer.to_string(),
            reason: format!(
                "the gradient of this layer's output is for a batch of {} ({grad_shape:?}), but its forward had a batch of {n}: expected {expected:?}",
                grad_shape[0]
            ),
        });
    }
    if grad_shape.first() != Some(&n) || &grad_shape[1..] != out {
        let expected: Vec<usize> = std::iter::once(n).chain(out.iter().copied()).collect();
        return Err(LayerError::input(
            layer,
            format!(
                "the gradient of this layer's output has the shape {grad_shape:?}, but its forward's output had {expected:?}: the gradient must have the output's shape"
            ),
        ));
    }
    Ok(())
}

/// Checks that a gradient has the shape of the tensor it is the gradient of.
pub(crate) fn check_same_shape(
    layer: &str,
    grad_shape: &[usize],
    cached_shape: &[usize],
) -> Result<(), LayerError> {
    match cached_shape.split_first() {
        Some((&n, out)) => check_grad_shape(layer, grad_shape, n, out),
        None if grad_shape.is_empty() => Ok(()),
        None => Err(LayerError::input(
            layer,
            format!(
                "the gradient of this layer's output has the shape {grad_shape:?}, but its forward's input and output were scalars: the gradient must be a scalar too"
            ),
        )),
    }
}

/// Checks that each parameter `(name, parameter, shape)` of a layer (its value and its
/// gradient) has the shape its hyper-parameters give it — a parameter replaced by
/// hand, or through `parameters_mut`, may not. A parameter the layer was built without
/// (`None`: a convolution without bias, a norm without affine) is skipped. `decided_by`
/// (e.g. `"in_features = 4"`) is only formatted for the error, so the check costs no
/// allocation per call.
pub(crate) fn check_parameter_shapes<'p, const N: usize>(
    layer: &str,
    parameters: [(&'static str, Option<&'p Parameter>, &'p [usize]); N],
    decided_by: impl Fn() -> String,
) -> Result<(), LayerError> {
    for (name, parameter, want) in parameters {
        let Some(parameter) = parameter else { continue };
        for (is_grad, got) in [
            (false, parameter.value.shape()),
            (true, parameter.grad.shape()),
        ] {
            if got != want {
                let tensor = if is_grad {
                    format!("{name}.grad")
                } else {
                    name.to_string()
                };
                return Err(LayerError::config(
                    layer,
                    format!(
                        "{tensor} has the shape {got:?}, but {} needs {want:?}: \
                         a replaced parameter must keep the layer's shape",
                        decided_by()
                    ),
                ));
            }
        }
    }
    Ok(())
}
