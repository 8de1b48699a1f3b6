//! Layer normalisation.

use crate::checks::{check_parameter_shapes, check_same_shape, per_sample};
use crate::norm_common::{self, Normalized};
use crate::{Layer, LayerError, Mode, Parameter, StateVisitor, StateVisitorMut};
use ndarray::{ArrayD, ArrayViewD, IxDyn};

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
    /// The shape of the last training forward's input, and its normalisation.
    cache: Option<(Vec<usize>, Normalized)>,
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

    /// An input of `shape` as `[blocks, m, 1]` for [`norm_common`]: each block of
    /// `m` values normalised together is one sample, each of its values a channel
    /// with its own γ and β.
    fn blocks(&self, shape: &[usize]) -> (usize, usize, usize) {
        let m: usize = self.normalized_shape.iter().product();
        (shape.iter().product::<usize>() / m, m, 1)
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
        let shape = self.normalized_shape.as_slice();
        check_parameter_shapes(
            self.name(),
            [
                ("weight", self.weight.as_ref(), shape),
                ("bias", self.bias.as_ref(), shape),
            ],
            || format!("normalized_shape = {shape:?}"),
        )
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
        let x = input.to_shape(self.blocks(&shape)).expect("checked shape");
        let (output, normalized) = norm_common::forward(
            x.view(),
            1,
            self.config.eps,
            self.weight.as_ref(),
            self.bias.as_ref(),
        );
        self.cache = (mode == Mode::Train).then(|| (shape.clone(), normalized));
        Ok(output
            .into_shape_with_order(IxDyn(&shape))
            .expect("same length"))
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let (shape, normalized) = self
            .cache
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_same_shape(self.name(), grad_output.shape(), shape)?;
        // A checkpoint may have replaced a parameter since the forward.
        self.validate()?;
        let dy = grad_output
            .to_shape(self.blocks(shape))
            .expect("checked shape");
        let grad_input = norm_common::backward(
            dy.view(),
            normalized,
            self.weight.as_mut(),
            self.bias.as_mut(),
        );
        Ok(grad_input
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
