//! The leaky ReLU activation layer.

use crate::checks::check_same_shape;
use crate::{Layer, LayerError, Mode};
use ndarray::{ArrayD, ArrayViewD};
use scratchnet_tensor::activation;

/// Element-wise `x` for `x > 0` and `negative_slope · x` otherwise, PyTorch's
/// `nn.LeakyReLU(negative_slope)`. At exactly 0 the gradient is
/// `negative_slope`, as in PyTorch: `dx = dy` where `x > 0`, `negative_slope · dy`
/// elsewhere ([reference::leaky_relu_backward](scratchnet_tensor::reference::leaky_relu_backward)).
///
/// # Shapes
/// Any shape `[N, …]` → the same shape.
///
/// ```
/// use scratchnet_layers::{LeakyReLU, Layer, Mode};
/// let mut act = LeakyReLU::new(0.1);
/// let y = act.forward(ndarray::arr2(&[[2.0f32, -2.0]]).into_dyn().view(), Mode::Eval).unwrap();
/// assert_eq!(y.as_slice().unwrap(), &[2.0, -0.2]);
/// assert_eq!(LeakyReLU::default().negative_slope(), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct LeakyReLU {
    negative_slope: f32,
    /// The forward's input, kept in training mode for backward.
    cache: Option<ArrayD<f32>>,
}

impl LeakyReLU {
    /// A leaky ReLU multiplying non-positive inputs by `negative_slope` (PyTorch's default is 0.01,
    /// which [`LeakyReLU::default`] gives). A non-finite slope is reported by
    /// [`Layer::output_shape`] and `forward`.
    pub fn new(negative_slope: f32) -> Self {
        Self {
            negative_slope,
            cache: None,
        }
    }

    /// The slope for non-positive inputs.
    pub fn negative_slope(&self) -> f32 {
        self.negative_slope
    }
}

impl Default for LeakyReLU {
    /// PyTorch's default, `negative_slope = 0.01`.
    fn default() -> Self {
        Self::new(0.01)
    }
}

impl Layer for LeakyReLU {
    fn name(&self) -> &str {
        "LeakyReLU"
    }

    fn describe(&self) -> String {
        format!("LeakyReLU(negative_slope={:?})", self.negative_slope)
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        if !self.negative_slope.is_finite() {
            return Err(LayerError::config(
                self.name(),
                format!("negative_slope = {} must be finite", self.negative_slope),
            ));
        }
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.output_shape(&[])?;
        let output = activation::leaky_relu(input.view(), self.negative_slope);
        self.cache = (mode == Mode::Train).then(|| input.to_owned());
        Ok(output)
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let input = self
            .cache
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_same_shape(self.name(), grad_output.shape(), input.shape())?;
        let slope = self.negative_slope;
        Ok(activation::leaky_relu_backward(
            grad_output,
            input.view(),
            slope,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    #[test]
    fn forward_and_backward_including_exact_zero() {
        let mut act = LeakyReLU::new(0.2);
        let x = arr1(&[-2.0f32, 0.0, 3.0]).into_dyn();
        let y = act.forward(x.view(), Mode::Train).unwrap();
        assert_eq!(y.as_slice().unwrap(), &[-0.4, 0.0, 3.0]);
        let dx = act
            .backward(arr1(&[1.0f32, 1.0, 1.0]).into_dyn().view())
            .unwrap();
        // At exactly 0 the gradient is the slope, as in PyTorch.
        assert_eq!(dx.as_slice().unwrap(), &[0.2, 0.2, 1.0]);
    }

    #[test]
    fn default_and_description() {
        assert_eq!(LeakyReLU::default().negative_slope(), 0.01);
        assert_eq!(
            LeakyReLU::default().describe(),
            "LeakyReLU(negative_slope=0.01)"
        );
    }

    #[test]
    fn errors() {
        let act = LeakyReLU::new(f32::INFINITY);
        assert!(matches!(
            act.output_shape(&[3]),
            Err(LayerError::Config { .. })
        ));
        let mut act = LeakyReLU::default();
        let x = arr1(&[1.0f32]).into_dyn();
        assert!(matches!(
            act.backward(x.view()),
            Err(LayerError::NoForwardCache { .. })
        ));
        act.forward(x.view(), Mode::Eval).unwrap();
        assert!(act.backward(x.view()).is_err(), "eval keeps no cache");
        act.forward(x.view(), Mode::Train).unwrap();
        assert!(act
            .backward(arr1(&[1.0f32, 2.0]).into_dyn().view())
            .is_err());
    }
}
