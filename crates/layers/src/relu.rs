//! The ReLU activation layer.

use crate::checks::check_same_shape;
use crate::{Layer, LayerError, Mode};
use ndarray::{ArrayD, ArrayViewD};
use scratchnet_tensor::activation;

/// Element-wise `max(x, 0)` (PyTorch's `nn.ReLU`). At exactly 0 the gradient is 0, as in PyTorch.
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
    /// The forward's input, kept in training mode for backward.
    cache: Option<ArrayD<f32>>,
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
        self.cache = (mode == Mode::Train).then(|| input.to_owned());
        Ok(activation::relu(input))
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let input = self
            .cache
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_same_shape(self.name(), grad_output.shape(), input.shape())?;
        Ok(activation::relu_backward(grad_output, input.view()))
    }
}
