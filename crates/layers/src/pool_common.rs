//! What the two pooling layers (and the convolution's error messages) share.

use crate::LayerError;
use scratchnet_tensor::Window2d;

/// The smallest `[C, H, W]` a window accepts, said as the `expected` part of a shape error.
pub(crate) fn window_too_large(window: &Window2d, channels: impl std::fmt::Display) -> String {
    let min = window.effective_kernel();
    let min = [0, 1].map(|d| {
        min[d]
            .saturating_sub(window.padding[d].saturating_mul(2))
            .max(1)
    });
    format!(
        "[{channels}, H, W] with H ≥ {} and W ≥ {} (kernel_size {:?}, padding {:?}, dilation {:?})",
        min[0], min[1], window.kernel_size, window.padding, window.dilation
    )
}

/// The output shape of a pooling window over `[C, H, W]`, checking the window first.
/// Padding is limited to half the kernel, as in PyTorch, so no window lies in the padding only.
pub(crate) fn pool_output_shape(
    layer: &str,
    window: &Window2d,
    input_shape: &[usize],
) -> Result<Vec<usize>, LayerError> {
    window
        .validate()
        .map_err(|reason| LayerError::config(layer, reason))?;
    if (0..2).any(|d| window.padding[d] > window.kernel_size[d] / 2) {
        return Err(LayerError::config(
            layer,
            format!(
                "padding {:?} must be at most half of kernel_size {:?}",
                window.padding, window.kernel_size
            ),
        ));
    }
    let &[c, h, w] = input_shape else {
        return Err(LayerError::shape(layer, "[C, H, W]", input_shape));
    };
    // An empty plane has no window either, whatever the padding (the message asks for H, W ≥ 1).
    let [oh, ow] = (h > 0 && w > 0)
        .then(|| window.output_size([h, w]))
        .flatten()
        .ok_or_else(|| LayerError::shape(layer, window_too_large(window, "C"), input_shape))?;
    Ok(vec![c, oh, ow])
}
