//! 2-D batch normalisation layer.

use crate::checks::{check_same_shape, per_sample};
use crate::limits::{check_tensor_size, within_limit};
use crate::{Layer, LayerError, Mode, Parameter, StateVisitor, StateVisitorMut};
use ndarray::{Array4, ArrayD, ArrayView4, ArrayViewD, Ix4, IxDyn};
use scratchnet_tensor::batch_norm;

/// Hyper-parameters of a [`BatchNorm2d`] besides its channel count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm2dConfig {
    /// Added to the variance before its square root, for stability. Default `1e-5`.
    pub eps: f32,
    /// Weight of the newest batch in the running statistics:
    /// `running = (1 − momentum)·running + momentum·batch`. Default `0.1`.
    /// (PyTorch's `momentum=None`, a cumulative average, is not offered.)
    pub momentum: f32,
    /// Whether to learn a per-channel scale `weight` (γ) and shift `bias` (β). Default `true`.
    pub affine: bool,
    /// Whether to keep running statistics for evaluation. Default `true`.
    /// Without them the layer normalises with the batch's statistics in both modes.
    pub track_running_stats: bool,
}

impl Default for BatchNorm2dConfig {
    fn default() -> Self {
        Self {
            eps: 1e-5,
            momentum: 0.1,
            affine: true,
            track_running_stats: true,
        }
    }
}

/// The running statistics of a [`BatchNorm2d`], present when it tracks them.
#[derive(Clone, Debug)]
struct RunningStats {
    /// `[C]`, initially 0.
    mean: ArrayD<f32>,
    /// `[C]`, initially 1.
    var: ArrayD<f32>,
    /// 0-dimensional, counts training forwards.
    num_batches_tracked: ArrayD<f32>,
}

/// What backward needs from the forward before it.
#[derive(Clone, Debug)]
struct Cache {
    /// The normalised input `x̂ = (x − mean) / √(var + eps)`, `[N, C, H, W]`.
    x_hat: Array4<f32>,
    /// `1 / √(var + eps)` per channel, for the statistics that were used.
    inv_std: Vec<f64>,
    /// True if the forward normalised with the batch's own statistics, so the
    /// gradient flows through them too; false if it used the running statistics.
    batch_stats: bool,
}

/// Batch normalisation over the channels of images, PyTorch's `nn.BatchNorm2d`.
///
/// For each channel `c`, `y = γ_c · (x − mean_c) / √(var_c + eps) + β_c`, where:
/// - in [`Mode::Train`] `mean_c` and `var_c` are the mean and the *biased*
///   variance (divided by `m = N·H·W`) of the batch's channel `c`; the running
///   statistics are then updated as `running = (1 − momentum)·running + momentum·batch_stat`,
///   with the *unbiased* variance (`var · m / (m − 1)`) for `running_var`, and
///   `num_batches_tracked` is incremented;
/// - in [`Mode::Eval`] they are `running_mean_c` and `running_var_c`, and nothing is updated.
///
/// Without running statistics (`track_running_stats: false`) both modes use the
/// batch's statistics. A batch-statistics forward needs more than one value per
/// channel (`N·H·W > 1`), like PyTorch, and returns a [`LayerError::Input`]
/// otherwise, changing nothing (PyTorch would already have counted the batch in
/// `num_batches_tracked`). An empty batch gives an empty output and leaves the
/// running statistics alone (the counter still counts it, as in PyTorch).
///
/// **Backward** follows both modes: after a batch-statistics forward it is the full
/// batch-norm gradient, through the mean and the variance; after an eval forward
/// with running statistics it is the gradient of the per-channel affine map
/// `x ↦ γ·(x − running_mean)/√(running_var + eps) + β` (frozen statistics, as
/// when fine-tuning a model in `eval()` mode). Unlike most layers, this one keeps
/// its cache in [`Mode::Eval`] too, for that.
///
/// Parameters (when `affine`): `weight` (γ, initially 1) and `bias` (β, initially 0), `[C]`.
/// Buffers (when `track_running_stats`), named as in PyTorch's `state_dict`:
/// `running_mean` `[C]` (initially 0), `running_var` `[C]` (initially 1) and
/// `num_batches_tracked`. PyTorch stores the last as a 0-dimensional `int64`;
/// here it is a 0-dimensional `f32` (exact up to 2²⁴ batches) that checkpoints
/// convert to and from `int64` by its name.
///
/// Statistics and gradients are accumulated in `f64`, stored in `f32`.
///
/// # Shapes
/// - input: `[N, C, H, W]`
/// - output: `[N, C, H, W]`
///
/// ```
/// use scratchnet_layers::{BatchNorm2d, BatchNorm2dConfig, Layer, Mode};
/// let mut bn = BatchNorm2d::new(2, BatchNorm2dConfig::default());
/// assert_eq!(bn.output_shape(&[2, 5, 5]).unwrap(), vec![2, 5, 5]);
/// let x = ndarray::Array::from_shape_fn((4, 2, 3, 3), |(n, c, h, w)| (n + 2 * c + h * w) as f32).into_dyn();
/// let y = bn.forward(x.view(), Mode::Train).unwrap();
/// // Each channel of the output has mean 0 and (biased) variance ≈ 1.
/// let channel0 = y.index_axis(ndarray::Axis(1), 0);
/// assert!(channel0.mean().unwrap().abs() < 1e-5);
/// assert!((channel0.mapv(|v| v * v).mean().unwrap() - 1.0).abs() < 1e-3);
/// assert_eq!(bn.num_batches_tracked(), Some(1));
/// let names: Vec<String> = bn.buffers().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["running_mean", "running_var", "num_batches_tracked"]);
/// ```
#[derive(Clone, Debug)]
pub struct BatchNorm2d {
    num_features: usize,
    config: BatchNorm2dConfig,
    /// γ, `[C]`, or `None` when built with `affine: false`.
    pub weight: Option<Parameter>,
    /// β, `[C]`, or `None` when built with `affine: false`.
    pub bias: Option<Parameter>,
    running: Option<RunningStats>,
    cache: Option<Cache>,
}

impl BatchNorm2d {
    /// Batch normalisation of `num_features` channels (the `C` of its `[N, C, H, W]` input).
    ///
    /// An invalid configuration (zero channels, a negative `eps`, a `momentum`
    /// outside `[0, 1]`) is reported by [`Layer::output_shape`] and `forward`.
    pub fn new(num_features: usize, config: BatchNorm2dConfig) -> Self {
        // Too many channels to allocate: nothing is, and `validate` reports it.
        let channels = if within_limit(&[num_features]) {
            num_features
        } else {
            0
        };
        let per_channel = |value: f32| ArrayD::from_elem(IxDyn(&[channels]), value);
        Self {
            num_features,
            config,
            weight: config.affine.then(|| Parameter::new(per_channel(1.0))),
            bias: config.affine.then(|| Parameter::new(per_channel(0.0))),
            running: config.track_running_stats.then(|| RunningStats {
                mean: per_channel(0.0),
                var: per_channel(1.0),
                num_batches_tracked: ArrayD::zeros(IxDyn(&[])),
            }),
            cache: None,
        }
    }

    /// The number of channels, `C`.
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &BatchNorm2dConfig {
        &self.config
    }

    /// The running mean `[C]`, if the layer tracks running statistics.
    pub fn running_mean(&self) -> Option<&ArrayD<f32>> {
        self.running.as_ref().map(|r| &r.mean)
    }

    /// The running (unbiased) variance `[C]`, if the layer tracks running statistics.
    pub fn running_var(&self) -> Option<&ArrayD<f32>> {
        self.running.as_ref().map(|r| &r.var)
    }

    /// How many training forwards updated the running statistics, if the layer tracks them.
    pub fn num_batches_tracked(&self) -> Option<u64> {
        self.running
            .as_ref()
            .and_then(|r| r.num_batches_tracked.first().copied())
            .map(|count| count as u64)
    }

    /// Resets the running statistics to mean 0, variance 1, count 0 (PyTorch's `reset_running_stats`).
    pub fn reset_running_stats(&mut self) {
        if let Some(running) = &mut self.running {
            running.mean.fill(0.0);
            running.var.fill(1.0);
            running.num_batches_tracked = ArrayD::zeros(IxDyn(&[]));
        }
    }

    /// Checks the hyper-parameters, and the shapes of the parameters and buffers
    /// (which a checkpoint may have replaced).
    fn validate(&self) -> Result<(), LayerError> {
        let c = self.num_features;
        let BatchNorm2dConfig { eps, momentum, .. } = self.config;
        if c == 0 {
            return Err(LayerError::config(
                self.name(),
                "num_features must be at least 1",
            ));
        }
        check_tensor_size(self.name(), "each per-channel tensor", &[c])?;
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(LayerError::config(
                self.name(),
                format!("eps = {eps:?} must be finite and non-negative"),
            ));
        }
        if !(0.0..=1.0).contains(&momentum) {
            return Err(LayerError::config(
                self.name(),
                format!("momentum = {momentum:?} must be in [0, 1]"),
            ));
        }
        let per_channel = [c];
        let mut tensors: Vec<(&str, &[usize], &[usize])> = Vec::new();
        for (name, grad_name, p) in [
            ("weight", "weight.grad", &self.weight),
            ("bias", "bias.grad", &self.bias),
        ] {
            if let Some(p) = p {
                tensors.push((name, p.value.shape(), &per_channel));
                tensors.push((grad_name, p.grad.shape(), &per_channel));
            }
        }
        if let Some(r) = &self.running {
            tensors.push(("running_mean", r.mean.shape(), &per_channel));
            tensors.push(("running_var", r.var.shape(), &per_channel));
            tensors.push(("num_batches_tracked", r.num_batches_tracked.shape(), &[]));
        }
        for (name, got, want) in tensors {
            if got != want {
                return Err(LayerError::config(
                    self.name(),
                    format!("{name} has shape {got:?} but must be {want:?} (num_features = {c})"),
                ));
            }
        }
        Ok(())
    }

    /// γ of channel `c` (1 without affine parameters).
    fn gamma(&self, c: usize) -> f64 {
        self.weight
            .as_ref()
            .map_or(1.0, |w| f64::from(w.value[[c]]))
    }

    /// β of channel `c` (0 without affine parameters).
    fn beta(&self, c: usize) -> f64 {
        self.bias.as_ref().map_or(0.0, |b| f64::from(b.value[[c]]))
    }
}

impl Layer for BatchNorm2d {
    fn name(&self) -> &str {
        "BatchNorm2d"
    }

    fn describe(&self) -> String {
        let c = &self.config;
        format!(
            "BatchNorm2d({}, eps={:?}, momentum={:?}, affine={}, track_running_stats={})",
            self.num_features, c.eps, c.momentum, c.affine, c.track_running_stats
        )
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.validate()?;
        match input_shape {
            &[c, _, _] if c == self.num_features => Ok(input_shape.to_vec()),
            _ => Err(LayerError::shape(
                self.name(),
                format!(
                    "[{}, H, W] (num_features = {})",
                    self.num_features, self.num_features
                ),
                input_shape,
            )),
        }
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.output_shape(per_sample(input.shape()))?;
        let x: ArrayView4<f32> = input.into_dimensionality::<Ix4>().expect("checked rank");
        let (n, channels, h, w) = x.dim();
        let m = n * h * w;
        let batch_stats = mode == Mode::Train || self.running.is_none();
        if batch_stats && m == 1 {
            return Err(LayerError::Input {
                layer: self.name().to_string(),
                reason: format!(
                    "expected more than 1 value per channel when training, got input of shape {:?} \
                     (the batch variance needs N·H·W ≥ 2)",
                    x.shape()
                ),
            });
        }
        if mode == Mode::Train {
            if let Some(running) = &mut self.running {
                running
                    .num_batches_tracked
                    .mapv_inplace(|count| count + 1.0);
            }
        }
        let eps = f64::from(self.config.eps);
        let momentum = f64::from(self.config.momentum);
        let statistics: Vec<(f64, f64)> = match &mut self.running {
            Some(running) if !batch_stats => (0..channels)
                .map(|c| (f64::from(running.mean[[c]]), f64::from(running.var[[c]])))
                .collect(),
            // An empty batch: nothing to normalise, nothing to learn from.
            _ if m == 0 => vec![(0.0, 1.0); channels],
            running => {
                let batch = batch_norm::channel_mean_and_biased_var(x);
                // A training forward with running statistics kept updates them, with
                // the unbiased variance.
                if let Some(running) = running {
                    let update = |r: &mut f32, batch: f64| {
                        *r = ((1.0 - momentum) * f64::from(*r) + momentum * batch) as f32;
                    };
                    for (c, &(mean, var)) in batch.iter().enumerate() {
                        update(&mut running.mean[[c]], mean);
                        update(&mut running.var[[c]], var * m as f64 / (m - 1) as f64);
                    }
                }
                batch
            }
        };
        let mean: Vec<f64> = statistics.iter().map(|&(mean, _)| mean).collect();
        let inv_stds: Vec<f64> = statistics
            .iter()
            .map(|&(_, var)| 1.0 / (var + eps).sqrt())
            .collect();
        let gamma: Vec<f64> = (0..channels).map(|c| self.gamma(c)).collect();
        let beta: Vec<f64> = (0..channels).map(|c| self.beta(c)).collect();
        let (x_hat, output) = batch_norm::batch_norm(x, &mean, &inv_stds, &gamma, &beta);
        self.cache = Some(Cache {
            x_hat,
            inv_std: inv_stds,
            batch_stats,
        });
        Ok(output.into_dyn())
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let cache = self
            .cache
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_same_shape(self.name(), grad_output.shape(), cache.x_hat.shape())?;
        // A checkpoint may have replaced a parameter since the forward.
        self.validate()?;
        let channels = cache.x_hat.dim().1;
        let dy = grad_output
            .into_dimensionality::<Ix4>()
            .expect("checked shape");
        let m = (cache.x_hat.len() / channels.max(1)) as f64;
        let sums = batch_norm::channel_grad_sums(dy, cache.x_hat.view());
        let grad_weight: Vec<f32> = sums.iter().map(|&(_, dy_xhat)| dy_xhat as f32).collect();
        let grad_bias: Vec<f32> = sums.iter().map(|&(dy, _)| dy as f32).collect();
        let scale: Vec<f64> = (0..channels)
            .map(|c| self.gamma(c) * cache.inv_std[c])
            .collect();
        // After a forward with the batch's statistics the gradient also flows through
        // the mean and the variance; after one with running statistics it does not.
        let (mean_dy, mean_dy_xhat): (Vec<f64>, Vec<f64>) = sums
            .iter()
            .map(|&(dy, dy_xhat)| {
                if cache.batch_stats {
                    (dy / m, dy_xhat / m)
                } else {
                    (0.0, 0.0)
                }
            })
            .unzip();
        let grad_input = batch_norm::batch_norm_backward(
            dy,
            cache.x_hat.view(),
            &scale,
            &mean_dy,
            &mean_dy_xhat,
        );
        if let Some(weight) = &mut self.weight {
            weight.grad += &ArrayD::from_shape_vec(IxDyn(&[channels]), grad_weight).expect("[C]");
        }
        if let Some(bias) = &mut self.bias {
            bias.grad += &ArrayD::from_shape_vec(IxDyn(&[channels]), grad_bias).expect("[C]");
        }
        Ok(grad_input.into_dyn())
    }

    /// Training normalises with the statistics of the whole batch (and, without
    /// running statistics, evaluation too).
    fn mixes_samples(&self) -> bool {
        true
    }

    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        if let Some(weight) = &self.weight {
            state.parameter("weight", weight);
        }
        if let Some(bias) = &self.bias {
            state.parameter("bias", bias);
        }
        if let Some(running) = &self.running {
            state.buffer("running_mean", &running.mean);
            state.buffer("running_var", &running.var);
            state.buffer("num_batches_tracked", &running.num_batches_tracked);
        }
    }

    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        if let Some(weight) = &mut self.weight {
            state.parameter("weight", weight);
        }
        if let Some(bias) = &mut self.bias {
            state.parameter("bias", bias);
        }
        if let Some(running) = &mut self.running {
            state.buffer("running_mean", &mut running.mean);
            state.buffer("running_var", &mut running.var);
            state.buffer("num_batches_tracked", &mut running.num_batches_tracked);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, Array};

    /// `[N = 2, C = 2, H = 1, W = 2]` from values listed in (n, c, w) order.
    fn batch(values: [f32; 8]) -> ArrayD<f32> {
        Array::from_shape_vec((2, 2, 1, 2), values.to_vec())
            .unwrap()
            .into_dyn()
    }

    /// Channel 0 is [1, 2, 3, 4] (mean 2.5, biased var 1.25, unbiased 5/3),
    /// channel 1 is [-2, 0, 2, 4] (mean 1, biased var 5, unbiased 20/3).
    fn first_batch() -> ArrayD<f32> {
        batch([1.0, 2.0, -2.0, 0.0, 3.0, 4.0, 2.0, 4.0])
    }

    /// Channel 0 is [0, 0, 0, 8] (mean 2, unbiased var 16), channel 1 is [1, 1, 1, 1] (mean 1, var 0).
    fn second_batch() -> ArrayD<f32> {
        batch([0.0, 0.0, 1.0, 1.0, 0.0, 8.0, 1.0, 1.0])
    }

    fn assert_close(got: &ArrayD<f32>, want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= 1e-6 * (1.0 + w.abs()),
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn running_statistics_after_two_training_batches() {
        let mut bn = BatchNorm2d::new(2, BatchNorm2dConfig::default());
        assert_eq!(bn.num_batches_tracked(), Some(0));
        bn.forward(first_batch().view(), Mode::Train).unwrap();
        // 0.9·0 + 0.1·mean, and 0.9·1 + 0.1·unbiased var (values also given by PyTorch).
        assert_close(bn.running_mean().unwrap(), &[0.25, 0.1]);
        assert_close(
            bn.running_var().unwrap(),
            &[0.9 + 0.5 / 3.0, 0.9 + 2.0 / 3.0],
        );
        assert_eq!(bn.num_batches_tracked(), Some(1));
        bn.forward(second_batch().view(), Mode::Train).unwrap();
        assert_close(bn.running_mean().unwrap(), &[0.425, 0.19]);
        assert_close(bn.running_var().unwrap(), &[2.56, 1.41]);
        assert_eq!(bn.num_batches_tracked(), Some(2));
        let count = &bn.buffers()[2];
        assert_eq!(count.0, "num_batches_tracked");
        assert_eq!(count.1.shape(), &[] as &[usize]);
        assert_eq!(count.1.first(), Some(&2.0));
    }

    #[test]
    fn momentum_is_the_weight_of_the_new_batch() {
        let config = BatchNorm2dConfig {
            momentum: 0.5,
            ..Default::default()
        };
        let mut bn = BatchNorm2d::new(2, config);
        bn.forward(first_batch().view(), Mode::Train).unwrap();
        assert_close(bn.running_mean().unwrap(), &[1.25, 0.5]);
        assert_close(
            bn.running_var().unwrap(),
            &[0.5 + 2.5 / 3.0, 0.5 + 10.0 / 3.0],
        );
    }

    #[test]
    fn training_normalises_with_the_batch_statistics() {
        let mut bn = BatchNorm2d::new(2, BatchNorm2dConfig::default());
        bn.weight.as_mut().unwrap().value = arr1(&[2.0f32, 1.0]).into_dyn();
        bn.bias.as_mut().unwrap().value = arr1(&[0.5f32, -1.0]).into_dyn();
        let y = bn.forward(first_batch().view(), Mode::Train).unwrap();
        let (s0, s1) = ((1.25f32 + 1e-5).sqrt(), (5.0f32 + 1e-5).sqrt());
        let want = [
            2.0 * -1.5 / s0 + 0.5,
            2.0 * -0.5 / s0 + 0.5,
            -3.0 / s1 - 1.0,
            -1.0 / s1 - 1.0,
            2.0 * 0.5 / s0 + 0.5,
            2.0 * 1.5 / s0 + 0.5,
            1.0 / s1 - 1.0,
            3.0 / s1 - 1.0,
        ];
        assert_close(&y, &want);
    }

    #[test]
    fn eval_uses_the_running_statistics_and_changes_nothing() {
        let mut bn = BatchNorm2d::new(2, BatchNorm2dConfig::default());
        bn.forward(first_batch().view(), Mode::Train).unwrap();
        bn.weight.as_mut().unwrap().value = arr1(&[2.0f32, 1.0]).into_dyn();
        bn.bias.as_mut().unwrap().value = arr1(&[0.5f32, -1.0]).into_dyn();
        let (mean, var) = (
            bn.running_mean().unwrap().clone(),
            bn.running_var().unwrap().clone(),
        );
        let x = second_batch();
        let y = bn.forward(x.view(), Mode::Eval).unwrap();
        let want: Vec<f32> = x
            .indexed_iter()
            .map(|(i, &v)| {
                let c = i[1];
                let (gamma, beta) = ([2.0, 1.0][c], [0.5, -1.0][c]);
                gamma * (v - mean[[c]]) / (var[[c]] + 1e-5).sqrt() + beta
            })
            .collect();
        assert_close(&y, &want);
        assert_eq!(bn.running_mean().unwrap(), &mean);
        assert_eq!(bn.running_var().unwrap(), &var);
        assert_eq!(bn.num_batches_tracked(), Some(1));
        // Eval backward is the per-channel affine map's: dx = γ / √(running_var + eps) · dy.
        let dy = ArrayD::ones(x.raw_dim());
        let dx = bn.backward(dy.view()).unwrap();
        assert!((dx[[1, 0, 0, 1]] - 2.0 / (var[[0]] + 1e-5).sqrt()).abs() < 1e-6);
        assert!((dx[[0, 1, 0, 0]] - 1.0 / (var[[1]] + 1e-5).sqrt()).abs() < 1e-6);
    }

    #[test]
    fn a_single_value_per_channel_is_an_error_when_batch_statistics_are_needed() {
        let single = ArrayD::<f32>::ones(IxDyn(&[1, 3, 1, 1]));
        let mut bn = BatchNorm2d::new(3, BatchNorm2dConfig::default());
        let err = bn.forward(single.view(), Mode::Train).unwrap_err();
        assert!(matches!(err, LayerError::Input { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("expected more than 1 value per channel when training"),
            "{err}"
        );
        assert!(err.to_string().contains("[1, 3, 1, 1]"), "{err}");
        assert_eq!(
            bn.num_batches_tracked(),
            Some(0),
            "a rejected batch is not counted"
        );
        // Eval with running statistics is fine; one sample of 1×2 pixels trains fine.
        assert!(bn.forward(single.view(), Mode::Eval).is_ok());
        let two_pixels = ArrayD::from_shape_fn(IxDyn(&[1, 3, 1, 2]), |i| i[3] as f32);
        assert!(bn.forward(two_pixels.view(), Mode::Train).is_ok());
        // Without running statistics even eval needs the batch's.
        let config = BatchNorm2dConfig {
            track_running_stats: false,
            ..Default::default()
        };
        let mut untracked = BatchNorm2d::new(3, config);
        assert!(untracked.forward(single.view(), Mode::Eval).is_err());
    }

    #[test]
    fn without_running_statistics_eval_uses_the_batch_and_there_are_no_buffers() {
        let config = BatchNorm2dConfig {
            track_running_stats: false,
            ..Default::default()
        };
        let mut bn = BatchNorm2d::new(2, config);
        assert!(bn.buffers().is_empty() && bn.buffers_mut().is_empty());
        assert_eq!(bn.running_mean(), None);
        assert_eq!(bn.num_batches_tracked(), None);
        let train = bn.forward(first_batch().view(), Mode::Train).unwrap();
        let eval = bn.forward(first_batch().view(), Mode::Eval).unwrap();
        assert_eq!(train, eval);
    }

    #[test]
    fn without_affine_there_are_no_parameters() {
        let config = BatchNorm2dConfig {
            affine: false,
            ..Default::default()
        };
        let mut bn = BatchNorm2d::new(4, config);
        assert!(bn.parameters().is_empty());
        assert_eq!(bn.num_parameters(), 0);
        assert_eq!(bn.buffers().len(), 3);
        let x = ArrayD::from_shape_fn(IxDyn(&[2, 4, 2, 2]), |i| {
            (i[0] * 7 + i[2] + i[3] * i[1]) as f32
        });
        let y = bn.forward(x.view(), Mode::Train).unwrap();
        assert_eq!(y.shape(), x.shape());
        assert!(bn.backward(y.view()).is_ok());
    }

    #[test]
    fn names_parameters_and_buffers_like_pytorch() {
        let bn = BatchNorm2d::new(3, BatchNorm2dConfig::default());
        let params: Vec<String> = bn.parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(params, ["weight", "bias"]);
        assert_eq!(bn.weight.as_ref().unwrap().value, ArrayD::ones(IxDyn(&[3])));
        assert_eq!(bn.bias.as_ref().unwrap().value, ArrayD::zeros(IxDyn(&[3])));
        assert_eq!(bn.running_var().unwrap(), &ArrayD::ones(IxDyn(&[3])));
        assert_eq!(bn.num_parameters(), 6);
        assert_eq!(
            bn.describe(),
            "BatchNorm2d(3, eps=1e-5, momentum=0.1, affine=true, track_running_stats=true)"
        );
    }

    #[test]
    fn reset_running_stats() {
        let mut bn = BatchNorm2d::new(2, BatchNorm2dConfig::default());
        bn.forward(first_batch().view(), Mode::Train).unwrap();
        bn.reset_running_stats();
        assert_eq!(bn.running_mean().unwrap(), &ArrayD::zeros(IxDyn(&[2])));
        assert_eq!(bn.running_var().unwrap(), &ArrayD::ones(IxDyn(&[2])));
        assert_eq!(bn.num_batches_tracked(), Some(0));
    }

    #[test]
    fn an_empty_batch_gives_an_empty_output_and_keeps_the_statistics() {
        let mut bn = BatchNorm2d::new(2, BatchNorm2dConfig::default());
        let y = bn
            .forward(ArrayD::zeros(IxDyn(&[0, 2, 3, 3])).view(), Mode::Train)
            .unwrap();
        assert_eq!(y.shape(), &[0, 2, 3, 3]);
        assert_eq!(bn.running_mean().unwrap(), &ArrayD::zeros(IxDyn(&[2])));
        assert_eq!(bn.running_var().unwrap(), &ArrayD::ones(IxDyn(&[2])));
        assert_eq!(bn.num_batches_tracked(), Some(1), "PyTorch counts it");
        let dx = bn.backward(y.view()).unwrap();
        assert_eq!(dx.shape(), &[0, 2, 3, 3]);
        assert_eq!(bn.weight.as_ref().unwrap().grad, ArrayD::zeros(IxDyn(&[2])));
    }

    #[test]
    fn bad_shapes_and_configurations_are_errors_not_panics() {
        let mut bn = BatchNorm2d::new(3, BatchNorm2dConfig::default());
        let err = bn.output_shape(&[4, 5, 5]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "BatchNorm2d: expects input of shape [3, H, W] (num_features = 3) per sample, but got [4, 5, 5]"
        );
        assert!(bn.output_shape(&[3, 5]).is_err());
        assert!(bn
            .forward(ArrayD::zeros(IxDyn(&[2, 3])).view(), Mode::Train)
            .is_err());
        assert!(matches!(
            bn.backward(ArrayD::zeros(IxDyn(&[2, 3, 1, 1])).view()),
            Err(LayerError::NoForwardCache { .. })
        ));
        let x = ArrayD::from_shape_fn(IxDyn(&[2, 3, 2, 2]), |i| (i[0] + i[3]) as f32);
        bn.forward(x.view(), Mode::Train).unwrap();
        assert!(bn
            .backward(ArrayD::zeros(IxDyn(&[2, 3, 2, 1])).view())
            .is_err());

        for (config, needle) in [
            (
                BatchNorm2dConfig {
                    momentum: 1.5,
                    ..Default::default()
                },
                "momentum",
            ),
            (
                BatchNorm2dConfig {
                    eps: -1.0,
                    ..Default::default()
                },
                "eps",
            ),
            (
                BatchNorm2dConfig {
                    eps: f32::NAN,
                    ..Default::default()
                },
                "eps",
            ),
        ] {
            let err = BatchNorm2d::new(3, config)
                .output_shape(&[3, 4, 4])
                .unwrap_err();
            assert!(
                matches!(&err, LayerError::Config { reason, .. } if reason.contains(needle)),
                "{err}"
            );
        }
        let err = BatchNorm2d::new(0, BatchNorm2dConfig::default())
            .output_shape(&[0, 4, 4])
            .unwrap_err();
        assert!(err.to_string().contains("num_features"), "{err}");

        // A checkpoint that loads a running_mean of the wrong size.
        for (name, buffer) in bn.buffers_mut() {
            if name == "running_mean" {
                *buffer = ArrayD::zeros(IxDyn(&[4]));
            }
        }
        let err = bn.forward(x.view(), Mode::Eval).unwrap_err();
        assert!(
            err.to_string()
                .contains("running_mean has shape [4] but must be [3]"),
            "{err}"
        );
    }
}
