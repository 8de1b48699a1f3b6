//! The SiLU (swish) activation layer.

use crate::checks::check_same_shape;
use crate::{Layer, LayerError, Mode};
use ndarray::{ArrayD, ArrayViewD, Zip};

/// Element-wise `x · σ(x)`, with `σ(x) = 1 / (1 + e^(−x))`: PyTorch's `nn.SiLU`
/// (the "swish" of EfficientNet and many modern CNNs).
///
/// Backward: `dx = dy · σ(x) · (1 + x · (1 − σ(x)))`. Both are computed in `f64`
/// and rounded to `f32` once.
///
/// # Shapes
/// Any shape `[N, …]` → the same shape.
///
/// ```
/// use scratchnet_layers::{Layer, Mode, SiLU};
/// let y = SiLU::new().forward(ndarray::arr2(&[[0.0f32, 1.0]]).into_dyn().view(), Mode::Eval).unwrap();
/// assert_eq!(y[[0, 0]], 0.0);
/// assert!((y[[0, 1]] - 0.731_058_6).abs() < 1e-6);
/// ```
#[derive(Clone, Debug, Default)]
pub struct SiLU {
    /// The input of the last training forward (`None` until one ran, and after an eval forward).
    input: Option<ArrayD<f32>>,
}

impl SiLU {
    /// A SiLU layer.
    pub fn new() -> Self {
        Self::default()
    }
}

/// `σ(x)` in `f64`.
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Layer for SiLU {
    fn name(&self) -> &str {
        "SiLU"
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(input_shape.to_vec())
    }

    /// `y = x · σ(x)`, keeping `x` for backward in training mode.
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        let output = input.mapv(|x| {
            let x = f64::from(x);
            (x * sigmoid(x)) as f32
        });
        self.input = (mode == Mode::Train).then(|| input.to_owned());
        Ok(output)
    }

    /// `dx = dy · σ(x) · (1 + x · (1 − σ(x)))`.
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let input = self
            .input
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_same_shape(self.name(), grad_output.shape(), input.shape())?;
        Ok(Zip::from(&grad_output).and(input).map_collect(|&dy, &x| {
            let (dy, x) = (f64::from(dy), f64::from(x));
            let s = sigmoid(x);
            (dy * s * (1.0 + x * (1.0 - s))) as f32
        }))
    }
}
