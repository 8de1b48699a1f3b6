//! Group normalisation layer.

use crate::checks::{check_parameter_shapes, check_same_shape, per_sample};
use crate::norm_common::{self, Normalized};
use crate::{Layer, LayerError, Mode, Parameter, StateVisitor, StateVisitorMut};
use ndarray::{ArrayD, ArrayViewD, IxDyn};

/// Hyper-parameters of a [`GroupNorm`] besides its group and channel counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupNormConfig {
    /// Added to the variance before its square root, for stability. Default `1e-5`.
    pub eps: f32,
    /// Whether to learn a per-channel scale `weight` (γ) and shift `bias` (β). Default `true`.
    pub affine: bool,
}

impl Default for GroupNormConfig {
    fn default() -> Self {
        Self {
            eps: 1e-5,
            affine: true,
        }
    }
}

/// Group normalisation, PyTorch's `nn.GroupNorm`: the channels of each sample are
/// split into `num_groups` groups of consecutive channels, and each group is
/// normalised over its channels and all their positions with its own mean and
/// biased variance; then each channel is scaled and shifted:
/// `y = γ_c · (x − mean_g) / √(var_g + eps) + β_c`.
///
/// Unlike [`BatchNorm2d`](crate::BatchNorm2d), the statistics are per sample, so
/// training and evaluation compute the same thing, there are no running
/// statistics, and the batch size does not matter (one group of one value
/// normalises to 0, so the output is β; PyTorch computes the same for a batch of
/// several samples but refuses one sample whose groups hold one value each, with
/// BatchNorm's "more than 1 value per channel" check, while this layer computes β
/// there too). `num_groups = 1` normalises each sample over all of
/// `C, H, W`; `num_groups = num_channels` is instance normalisation.
///
/// Backward, per group with `m` values and `g = dy · γ_c`:
/// `dx = (g − mean(g) − x̂ · mean(g · x̂)) / √(var + eps)`; `dγ_c += Σ dy · x̂`
/// and `dβ_c += Σ dy` over the batch and the positions. Statistics and sums in `f64`.
///
/// Parameters (when `affine`): `weight` (γ, initially 1) and `bias` (β, initially 0), `[C]`.
///
/// # Shapes
/// - input: `[N, C, …]` (`[N, C, H, W]` for images, `[N, C]` for features)
/// - output: the same shape
///
/// ```
/// use scratchnet_layers::{GroupNorm, GroupNormConfig, Layer, Mode};
/// let mut gn = GroupNorm::new(2, 4, GroupNormConfig::default());
/// assert_eq!(gn.output_shape(&[4, 3, 3]).unwrap(), vec![4, 3, 3]);
/// assert!(gn.output_shape(&[6, 3, 3]).is_err());
/// let x = ndarray::Array::from_shape_fn((1, 4, 1, 2), |(_, c, _, w)| (c * 2 + w) as f32).into_dyn();
/// let y = gn.forward(x.view(), Mode::Eval).unwrap();
/// // Group 0 is channels 0 and 1: values 0, 1, 2, 3, normalised.
/// assert!((y[[0, 0, 0, 0]] + 1.341_635).abs() < 1e-5);
/// ```
#[derive(Clone, Debug)]
pub struct GroupNorm {
    num_groups: usize,
    num_channels: usize,
    config: GroupNormConfig,
    /// γ, `[C]`, or `None` when built with `affine: false`.
    pub weight: Option<Parameter>,
    /// β, `[C]`, or `None` when built with `affine: false`.
    pub bias: Option<Parameter>,
    /// The shape of the last training forward's input, and its normalisation.
    cache: Option<(Vec<usize>, Normalized)>,
}

impl GroupNorm {
    /// Group normalisation of `num_channels` channels in `num_groups` groups.
    ///
    /// An invalid configuration (zero counts, `num_groups` not dividing
    /// `num_channels`, a negative `eps`) is reported by [`Layer::output_shape`] and `forward`.
    pub fn new(num_groups: usize, num_channels: usize, config: GroupNormConfig) -> Self {
        let per_channel = |value: f32| ArrayD::from_elem(IxDyn(&[num_channels]), value);
        Self {
            num_groups,
            num_channels,
            config,
            weight: config.affine.then(|| Parameter::new(per_channel(1.0))),
            bias: config.affine.then(|| Parameter::new(per_channel(0.0))),
            cache: None,
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &GroupNormConfig {
        &self.config
    }

    /// `[N, C, positions]` for an input of `shape` `[N, C, …]`.
    fn channels_and_positions(&self, shape: &[usize]) -> (usize, usize, usize) {
        (shape[0], self.num_channels, shape[2..].iter().product())
    }

    fn validate(&self) -> Result<(), LayerError> {
        let (groups, c) = (self.num_groups, self.num_channels);
        if groups == 0 || c == 0 || c % groups != 0 {
            return Err(LayerError::config(
                self.name(),
                format!("num_groups = {groups} must be at least 1 and divide num_channels = {c}"),
            ));
        }
        let eps = self.config.eps;
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(LayerError::config(
                self.name(),
                format!("eps = {eps:?} must be finite and non-negative"),
            ));
        }
        let shape = [c];
        check_parameter_shapes(
            self.name(),
            [
                ("weight", self.weight.as_ref(), &shape[..]),
                ("bias", self.bias.as_ref(), &shape[..]),
            ],
            || format!("num_channels = {c}"),
        )
    }
}

impl Layer for GroupNorm {
    fn name(&self) -> &str {
        "GroupNorm"
    }

    fn describe(&self) -> String {
        format!(
            "GroupNorm({}, {}, eps={:?}, affine={})",
            self.num_groups, self.num_channels, self.config.eps, self.config.affine
        )
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.validate()?;
        match input_shape.first() {
            Some(&c) if c == self.num_channels => Ok(input_shape.to_vec()),
            _ => Err(LayerError::shape(
                self.name(),
                format!(
                    "[{}, …] (num_channels = {}), e.g. [C, H, W] or [C]",
                    self.num_channels, self.num_channels
                ),
                input_shape,
            )),
        }
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.output_shape(per_sample(input.shape()))?;
        let shape = input.shape().to_vec();
        let x = input
            .to_shape(self.channels_and_positions(&shape))
            .expect("checked shape");
        let (output, normalized) = norm_common::forward(
            x.view(),
            self.num_groups,
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
            .to_shape(self.channels_and_positions(shape))
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
