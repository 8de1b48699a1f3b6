//! Layer normalisation.

use crate::checks::{check_same_shape, per_sample};
use crate::norm_common::{normalize_rows, normalize_rows_backward};
use crate::{Layer, LayerError, Mode, Parameter, StateVisitor, StateVisitorMut};
use ndarray::{Array2, ArrayD, ArrayViewD, IxDyn, Zip};

/// Hyper-parameters of a [`LayerNorm`] besides its normalised shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNormConfig {
    /// Added to the variance before its square root, for stability. Default `1e-5`.
    pub eps: f32,
    /// Whether to learn a scale `weight` (γ) per normalised element. Default `true`.
    pub elementwise_affine: bool,
    /// Whether to learn a shift `bias` (β) per normalised element too (only with
    /// `elementwise_affine`, as in PyTorch). Default `true`.
    pub bias: bool,
}

impl Default for LayerNormConfig {
    fn default() -> Self {
        Self {
            eps: 1e-5,
            elementwise_affine: true,
            bias: true,
        }
    }
}

/// Layer normalisation, PyTorch's `nn.LayerNorm`: each sample's trailing axes
/// `normalized_shape` (all of `C, H, W` of an image, or the features of a vector)
/// are normalised together with their own mean and biased variance, then scaled
/// and shifted element by element:
/// `y = γ ⊙ (x − mean) / √(var + eps) + β`, with `γ` and `β` of shape `normalized_shape`.
///
/// The statistics are per sample: training and evaluation compute the same
/// thing and there are no running statistics.
///
/// Backward, per normalised block of `m` values with `g = dy ⊙ γ`:
/// `dx = (g − mean(g) − x̂ · mean(g · x̂)) / √(var + eps)`; `dγ += Σ dy ⊙ x̂` and
/// `dβ += Σ dy` over the batch (and any leading axes). Statistics and sums in `f64`.
///
/// Parameters (when `elementwise_affine`): `weight` (γ, initially 1) and, when
/// `bias`, `bias` (β, initially 0), both of shape `normalized_shape`.
///
/// # Shapes
/// - input: `[N, …, *normalized_shape]`: `[N, C, H, W]` with `normalized_shape = [C, H, W]`,
///   `[N, F]` with `[F]`
/// - output: the same shape
///
/// ```
/// use scratchnet_layers::{Layer, LayerNorm, LayerNormConfig, Mode};
/// let mut ln = LayerNorm::new(&[3, 4, 4], LayerNormConfig::default());
/// assert_eq!(ln.output_shape(&[3, 4, 4]).unwrap(), vec![3, 4, 4]);
/// assert!(ln.output_shape(&[3, 5, 5]).is_err());
/// assert_eq!(ln.num_parameters(), 2 * 3 * 4 * 4);
/// let mut features = LayerNorm::new(&[2], LayerNormConfig::default());
/// let y = features.forward(ndarray::arr2(&[[1.0f32, 3.0]]).into_dyn().view(), Mode::Eval).unwrap();
/// assert!((y[[0, 0]] + 1.0).abs() < 1e-4 && (y[[0, 1]] - 1.0).abs() < 1e-4);
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm {
    normalized_shape: Vec<usize>,
    config: LayerNormConfig,
    /// γ, of shape `normalized_shape`, or `None` without `elementwise_affine`.
    pub weight: Option<Parameter>,
    /// β, of shape `normalized_shape`, or `None` without `elementwise_affine` or `bias`.
    pub bias: Option<Parameter>,
    /// The shape of the last training forward's input, its x̂ as `[blocks, m]`, and each block's `1/√(var + eps)`.
    cache: Option<(Vec<usize>, Array2<f64>, Vec<f64>)>,
}

impl LayerNorm {
    /// Layer normalisation over the trailing axes `normalized_shape` of each sample.
    ///
    /// An invalid configuration (an empty or zero-sized `normalized_shape`, a
    /// negative `eps`) is reported by [`Layer::output_shape`] and `forward`.
    pub fn new(normalized_shape: &[usize], config: LayerNormConfig) -> Self {
        let filled = |value: f32| ArrayD::from_elem(IxDyn(normalized_shape), value);
        Self {
            normalized_shape: normalized_shape.to_vec(),
            config,
            weight: config
                .elementwise_affine
                .then(|| Parameter::new(filled(1.0))),
            bias: (config.elementwise_affine && config.bias).then(|| Parameter::new(filled(0.0))),
            cache: None,
        }
    }

    /// The trailing axes that are normalised together.
    pub fn normalized_shape(&self) -> &[usize] {
        &self.normalized_shape
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &LayerNormConfig {
        &self.config
    }

    /// The number of values normalised together, `m`.
    fn block(&self) -> usize {
        self.normalized_shape.iter().product()
    }

    fn validate(&self) -> Result<(), LayerError> {
        if self.normalized_shape.is_empty() || self.normalized_shape.contains(&0) {
            return Err(LayerError::config(
                self.name(),
                format!(
                    "normalized_shape = {:?} must have at least one axis, each of size ≥ 1",
                    self.normalized_shape
                ),
            ));
        }
        let eps = self.config.eps;
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(LayerError::config(
                self.name(),
                format!("eps = {eps:?} must be finite and non-negative"),
            ));
        }
        for (name, p) in [("weight", &self.weight), ("bias", &self.bias)] {
            if let Some(p) = p {
                if p.value.shape() != self.normalized_shape.as_slice()
                    || p.grad.shape() != self.normalized_shape.as_slice()
                {
                    return Err(LayerError::config(
                        self.name(),
                        format!(
                            "{name} has shape {:?} but must be normalized_shape = {:?}",
                            p.value.shape(),
                            self.normalized_shape
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// γ as a flat vector of length `m` (ones without affine parameters).
    fn gamma(&self) -> Vec<f64> {
        self.weight.as_ref().map_or(vec![1.0; self.block()], |w| {
            w.value.iter().map(|&v| f64::from(v)).collect()
        })
    }

    /// β as a flat vector of length `m` (zeros without a bias).
    fn beta(&self) -> Vec<f64> {
        self.bias.as_ref().map_or(vec![0.0; self.block()], |b| {
            b.value.iter().map(|&v| f64::from(v)).collect()
        })
    }
}

impl Layer for LayerNorm {
    fn name(&self) -> &str {
        "LayerNorm"
    }

    fn describe(&self) -> String {
        format!(
            "LayerNorm({:?}, eps={:?}, elementwise_affine={}{})",
            self.normalized_shape,
            self.config.eps,
            self.config.elementwise_affine,
            if self.config.elementwise_affine && !self.config.bias {
                ", bias=false"
            } else {
                ""
            }
        )
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.validate()?;
        if !input_shape.ends_with(&self.normalized_shape) {
            return Err(LayerError::shape(
                self.name(),
                format!(
                    "[…, {}] (ending with normalized_shape = {:?})",
                    self.normalized_shape
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.normalized_shape
                ),
                input_shape,
            ));
        }
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.output_shape(per_sample(input.shape()))?;
        let shape = input.shape().to_vec();
        let m = self.block();
        let rows = input.as_standard_layout();
        let rows = rows.to_shape((rows.len() / m, m)).expect("contiguous");
        let (x_hat, inv_stds) = normalize_rows(rows.view(), f64::from(self.config.eps));
        let (gamma, beta) = (self.gamma(), self.beta());
        let output = Array2::from_shape_fn(x_hat.raw_dim(), |(r, k)| {
            (gamma[k] * x_hat[[r, k]] + beta[k]) as f32
        });
        self.cache = (mode == Mode::Train).then(|| (shape.clone(), x_hat, inv_stds));
        Ok(output
            .into_shape_with_order(IxDyn(&shape))
            .expect("same length"))
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let (shape, x_hat, inv_stds) = self
            .cache
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_same_shape(self.name(), grad_output.shape(), shape)?;
        // A checkpoint may have replaced a parameter since the forward.
        self.validate()?;
        let gamma = self.gamma();
        let dy = grad_output.as_standard_layout();
        let dy = dy.to_shape(x_hat.raw_dim()).expect("checked shape");
        let grad_x_hat =
            Array2::from_shape_fn(x_hat.raw_dim(), |(r, k)| f64::from(dy[[r, k]]) * gamma[k]);
        let grad_input = normalize_rows_backward(grad_x_hat.view(), x_hat.view(), inv_stds);
        let m = x_hat.ncols();
        let mut grad_weight = vec![0.0f64; m];
        let mut grad_bias = vec![0.0f64; m];
        Zip::indexed(&dy).and(x_hat).for_each(|(_, k), &g, &xh| {
            grad_weight[k] += f64::from(g) * xh;
            grad_bias[k] += f64::from(g);
        });
        for (p, sums) in [(&mut self.weight, grad_weight), (&mut self.bias, grad_bias)] {
            if let Some(p) = p {
                p.grad
                    .iter_mut()
                    .zip(sums)
                    .for_each(|(g, d)| *g += d as f32);
            }
        }
        Ok(grad_input
            .mapv(|v| v as f32)
            .into_shape_with_order(IxDyn(shape))
            .expect("same length"))
    }

    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        if let Some(weight) = &self.weight {
            state.parameter("weight", weight);
        }
        if let Some(bias) = &self.bias {
            state.parameter("bias", bias);
        }
    }

    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        if let Some(weight) = &mut self.weight {
            state.parameter("weight", weight);
        }
        if let Some(bias) = &mut self.bias {
            state.parameter("bias", bias);
        }
    }
}
