//! Flatten layer.

use crate::checks::{check_grad_shape, per_sample};
use crate::{Layer, LayerError, Mode};
use ndarray::{ArrayD, ArrayViewD, IxDyn};

/// Flattens every axis after the batch into one, PyTorch's `nn.Flatten()`.
///
/// # Shapes
/// - input: `[N, d1, d2, …]`, at least one axis after the batch axis (an input
///   `[N]` is an error, as in PyTorch)
/// - output: `[N, d1·d2·…]`
///
/// ```
/// use scratchnet_layers::{Flatten, Layer};
/// assert_eq!(Flatten::new().output_shape(&[16, 5, 5]).unwrap(), vec![400]);
/// assert!(Flatten::new().output_shape(&[]).is_err());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Flatten {
    input_shape: Option<Vec<usize>>,
}

impl Flatten {
    /// A flatten layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for Flatten {
    fn name(&self) -> &str {
        "Flatten"
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        if input_shape.is_empty() {
            // PyTorch's nn.Flatten() (start_dim = 1) refuses a 1-D input too.
            return Err(LayerError::shape(
                self.name(),
                "[d1, …] (at least one axis after the batch axis)",
                input_shape,
            ));
        }
        input_shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .map(|features| vec![features])
            .ok_or_else(|| {
                LayerError::shape(self.name(), "a shape whose size fits in usize", input_shape)
            })
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        if input.ndim() == 0 {
            return Err(LayerError::input(
                self.name(),
                "the input is a scalar: it needs the shape [N, d1, …], a batch axis and at least one more",
            ));
        }
        let n = input.shape()[0];
        let features = self.output_shape(per_sample(input.shape()))?[0];
        self.input_shape = (mode == Mode::Train).then(|| input.shape().to_vec());
        Ok(input
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&[n, features]))
            .expect("standard layout"))
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let shape = self
            .input_shape
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_grad_shape(
            self.name(),
            grad_output.shape(),
            shape[0],
            &[shape[1..].iter().product()],
        )?;
        Ok(grad_output
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(shape))
            .expect("checked size"))
    }
}
