//! The GELU activation layer, exact or with the tanh approximation.

use crate::checks::check_same_shape;
use crate::{Layer, LayerError, Mode};
use ndarray::{ArrayD, ArrayViewD, Zip};
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI, PI};

/// Which formula a [`GELU`] computes: PyTorch's `approximate` argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GeluApproximate {
    /// The exact `x · Φ(x)`, with the normal CDF `Φ(x) = (1 + erf(x / √2)) / 2`
    /// (PyTorch's `approximate='none'`, its default).
    #[default]
    None,
    /// `x/2 · (1 + tanh(√(2/π) · (x + 0.044715·x³)))` (PyTorch's `approximate='tanh'`).
    Tanh,
}

/// Hyper-parameters of a [`GELU`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GeluConfig {
    /// The exact formula or the tanh approximation. Default [`GeluApproximate::None`] (exact).
    pub approximate: GeluApproximate,
}

/// The Gaussian error linear unit, PyTorch's `nn.GELU`: element-wise `x · Φ(x)`
/// (or its tanh approximation, see [`GeluApproximate`]).
///
/// Backward, exact: `dx = dy · (Φ(x) + x · φ(x))` with the normal density
/// `φ(x) = e^(−x²/2) / √(2π)`. Tanh approximation, with
/// `u = √(2/π) · (x + 0.044715·x³)` and `t = tanh(u)`:
/// `dx = dy · (½(1 + t) + ½x · (1 − t²) · √(2/π) · (1 + 3·0.044715·x²))`.
/// `erf` is [`libm::erf`]; everything is computed in `f64` and rounded to `f32` once.
///
/// # Shapes
/// Any shape `[N, …]` → the same shape.
///
/// ```
/// use scratchnet_layers::{GeluApproximate, GeluConfig, Layer, Mode, GELU};
/// let x = ndarray::arr2(&[[1.0f32]]).into_dyn();
/// let exact = GELU::new(GeluConfig::default()).forward(x.view(), Mode::Eval).unwrap();
/// assert!((exact[[0, 0]] - 0.841_344_7).abs() < 1e-6);
/// let tanh = GELU::new(GeluConfig { approximate: GeluApproximate::Tanh }).forward(x.view(), Mode::Eval).unwrap();
/// assert!((tanh[[0, 0]] - 0.841_192).abs() < 1e-6);
/// ```
#[derive(Clone, Debug, Default)]
pub struct GELU {
    config: GeluConfig,
    /// The input of the last training forward (`None` until one ran, and after an eval forward).
    input: Option<ArrayD<f32>>,
}

/// `√(2/π)`.
const SQRT_2_OVER_PI: f64 = FRAC_2_SQRT_PI * FRAC_1_SQRT_2;
/// The cubic coefficient of the tanh approximation.
const CUBIC: f64 = 0.044715;

impl GELU {
    /// A GELU layer.
    pub fn new(config: GeluConfig) -> Self {
        Self {
            config,
            input: None,
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &GeluConfig {
        &self.config
    }

    /// `gelu(x)` in `f64`.
    fn value(&self, x: f64) -> f64 {
        match self.config.approximate {
            GeluApproximate::None => x * 0.5 * (1.0 + libm::erf(x * FRAC_1_SQRT_2)),
            GeluApproximate::Tanh => {
                0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + CUBIC * x * x * x)).tanh())
            }
        }
    }

    /// `gelu′(x)` in `f64`.
    fn derivative(&self, x: f64) -> f64 {
        match self.config.approximate {
            GeluApproximate::None => {
                let cdf = 0.5 * (1.0 + libm::erf(x * FRAC_1_SQRT_2));
                let pdf = (-0.5 * x * x).exp() / (2.0 * PI).sqrt();
                cdf + x * pdf
            }
            GeluApproximate::Tanh => {
                let t = (SQRT_2_OVER_PI * (x + CUBIC * x * x * x)).tanh();
                let du_dx = SQRT_2_OVER_PI * (1.0 + 3.0 * CUBIC * x * x);
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du_dx
            }
        }
    }
}

impl Layer for GELU {
    fn name(&self) -> &str {
        "GELU"
    }

    fn describe(&self) -> String {
        match self.config.approximate {
            GeluApproximate::None => "GELU(approximate='none')".to_string(),
            GeluApproximate::Tanh => "GELU(approximate='tanh')".to_string(),
        }
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(input_shape.to_vec())
    }

    /// `y = gelu(x)`, keeping `x` for backward in training mode.
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        let output = input.mapv(|x| self.value(f64::from(x)) as f32);
        self.input = (mode == Mode::Train).then(|| input.to_owned());
        Ok(output)
    }

    /// `dx = dy · gelu′(x)`.
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let input = self
            .input
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_same_shape(self.name(), grad_output.shape(), input.shape())?;
        Ok(Zip::from(&grad_output)
            .and(input)
            .map_collect(|&dy, &x| (f64::from(dy) * self.derivative(f64::from(x))) as f32))
    }
}
