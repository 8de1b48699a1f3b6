//! [`MAX_TENSOR_ELEMENTS`]: what one layer may allocate.

use crate::LayerError;
use std::fmt::Display;

/// The most elements one tensor of a layer may hold: each parameter (a weight, a
/// bias, a running statistic), and each per-sample tensor its forward makes (the
/// output, a convolution's im2col columns). 2²⁸ elements, 1 GiB of `f32`.
///
/// A layer whose hyper-parameters ask for more (a kernel of 2³², `Dense::new(usize::MAX,
/// 2)`, a padding of 20000 at stride 1, whose output is about 40000² a channel) does not
/// allocate anything: [`Layer::output_shape`] (so building a model) and `forward`
/// return a [`LayerError::Config`] that names the tensor and this limit. A batch holds
/// up to `N` times the per-sample tensors. The kernels' own buffers stay within a
/// small multiple of the checked tensors: a convolution's zero-padded input, for one,
/// is never kept where it would outgrow both its input and its im2col columns (a
/// padding of 20000 at a stride of 20000 gives a 2×2 output, and needs no more).
///
/// [`Layer::output_shape`]: crate::Layer::output_shape
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 28;

/// Whether a tensor of `shape` fits [`MAX_TENSOR_ELEMENTS`], its zero axes counted as 1
/// (ndarray refuses a shape whose other axes overflow even when it is empty).
pub(crate) fn within_limit(shape: &[usize]) -> bool {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d.max(1)))
        .is_some_and(|n| n <= MAX_TENSOR_ELEMENTS)
}

/// What [`MAX_TENSOR_ELEMENTS`] is, for the end of an error message.
const THE_LIMIT: &str = "the limit of one tensor of a layer (MAX_TENSOR_ELEMENTS, 1 GiB of f32)";

/// A [`LayerError::Config`] unless a tensor of `shape` (`what` it is) fits
/// [`MAX_TENSOR_ELEMENTS`].
pub(crate) fn check_tensor_size(
    layer: &str,
    what: &str,
    shape: &[usize],
) -> Result<(), LayerError> {
    match within_limit(shape) {
        true => Ok(()),
        false => Err(LayerError::config(
            layer,
            format!(
                "{what} {shape:?} would hold more than {MAX_TENSOR_ELEMENTS} elements, {THE_LIMIT}"
            ),
        )),
    }
}

/// The [`LayerError::Config`] of a tensor (`what` it is) whose size overflows
/// `usize` when computed as `computation`: far more than [`MAX_TENSOR_ELEMENTS`].
pub(crate) fn overflow_error(layer: &str, what: &str, computation: impl Display) -> LayerError {
    LayerError::config(
        layer,
        format!("the size of {what} overflows usize ({computation}): far more than {MAX_TENSOR_ELEMENTS} elements, {THE_LIMIT}"),
    )
}
