//! The ReLU activation layer.

use crate::checks::check_same_shape;
use crate::{Layer, LayerError, Mode};
use ndarray::{ArrayD, ArrayViewD};
use scratchnet_tensor::activation;

/// Element-wise `max(x, 0)` (PyTorch's `nn.ReLU`). Backward: `dx = dy · [x > 0]`,
/// so at exactly 0 the gradient is 0, as in PyTorch. Also as in PyTorch, a NaN
/// input gives NaN (and passes the gradient), so a diverged model's NaN reaches
/// the loss, where training stops on it, instead of turning into zeros.
///
/// The definition, as a plain loop: [reference::relu_backward](scratchnet_tensor::reference::relu_backward).
/// The layer keeps a mask of `x > 0 or NaN` rather than its input; on the reference tier
/// its backward is that loop over the mask (`activation::relu_backward_masked`).
///
/// # Shapes
/// Any shape `[N, …]` → the same shape.
///
/// ```
/// use scratchnet_layers::{Layer, Mode, ReLU};
/// let y = ReLU::new().forward(ndarray::arr2(&[[0.5f32, -0.5]]).into_dyn().view(), Mode::Eval).unwrap();
/// assert_eq!(y.shape(), &[1, 2]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ReLU {
    /// Where the last training forward passes the gradient (inputs positive or NaN), and that
    /// forward's shape (`None` until one ran, and after an eval forward).
    mask: Vec<u8>,
    shape: Option<Vec<usize>>,
}

impl ReLU {
    /// A ReLU layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for ReLU {
    fn name(&self) -> &str {
        "ReLU"
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        if mode == Mode::Train {
            self.shape = Some(input.shape().to_vec());
            Ok(activation::relu_masked(input, &mut self.mask))
        } else {
            self.shape = None;
            Ok(activation::relu(input))
        }
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let shape = self
            .shape
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_same_shape(self.name(), grad_output.shape(), shape)?;
        Ok(activation::relu_backward_masked(grad_output, &self.mask))
    }
}
