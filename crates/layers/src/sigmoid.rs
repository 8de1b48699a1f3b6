//! The Sigmoid activation layer.

use crate::checks::check_same_shape;
use crate::{Layer, LayerError, Mode};
use ndarray::{ArrayD, ArrayViewD};
use scratchnet_tensor::activation;

/// Element-wise `1 / (1 + e^−x)` (PyTorch's `nn.Sigmoid`). Backward uses the cached output: `dy·y·(1 − y)`.
///
/// The definition, as a plain loop: [reference::sigmoid_backward](scratchnet_tensor::reference::sigmoid_backward).
///
/// # Shapes
/// Any shape `[N, …]` → the same shape.
///
/// ```
/// use scratchnet_layers::{Layer, Mode, Sigmoid};
/// let y = Sigmoid::new().forward(ndarray::arr2(&[[0.5f32, -0.5]]).into_dyn().view(), Mode::Eval).unwrap();
/// assert_eq!(y.shape(), &[1, 2]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Sigmoid {
    /// The forward's output, kept in training mode for backward.
    cache: Option<ArrayD<f32>>,
}

impl Sigmoid {
    /// A Sigmoid layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for Sigmoid {
    fn name(&self) -> &str {
        "Sigmoid"
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        let output = activation::sigmoid(input);
        self.cache = (mode == Mode::Train).then(|| output.clone());
        Ok(output)
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let output = self
            .cache
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_same_shape(self.name(), grad_output.shape(), output.shape())?;
        Ok(activation::sigmoid_backward(grad_output, output.view()))
    }
}
