//! 2-D convolution layer.

use crate::checks::{check_grad_shape, check_parameter_shapes, per_sample};
use crate::limits::{check_tensor_size, within_limit};
use crate::pool_common::window_too_large;
use crate::views::{view, view_mut};
use crate::{Layer, LayerError, Mode, Parameter, StateVisitor, StateVisitorMut};
use ndarray::{Array4, ArrayD, ArrayView4, ArrayViewD, IxDyn};
use ndarray_rand::rand::Rng;
use scratchnet_tensor::conv::Conv2dCache;
use scratchnet_tensor::{conv, init, Window2d};

/// Hyper-parameters of a [`Conv2d`] besides its channel counts and kernel size.
/// Pairs are `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Step between windows. Default `[1, 1]`.
    pub stride: [usize; 2],
    /// Zero padding on each side. Default `[0, 0]`.
    pub padding: [usize; 2],
    /// Spacing between kernel taps. Default `[1, 1]`.
    pub dilation: [usize; 2],
    /// Number of channel groups (`in_channels` for a depthwise convolution). Default 1.
    pub groups: usize,
    /// Whether to add a learnable bias. Default `true`.
    pub bias: bool,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Self {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            bias: true,
        }
    }
}

/// A 2-D convolution (cross-correlation), PyTorch's `nn.Conv2d`.
///
/// Parameters: `weight` `[out_channels, in_channels / groups, KH, KW]` and
/// `bias` `[out_channels]`, initialised like PyTorch (Kaiming-uniform,
/// `U(±1/√fan_in)`).
///
/// # Shapes
/// - input: `[N, in_channels, H, W]`
/// - output: `[N, out_channels, OH, OW]`, `OH = (H + 2·padding − dilation·(KH − 1) − 1) / stride + 1`
///
/// # Forward and backward
/// Forward is `y[n, o, i, j] = b[o] + Σ_c,ky,kx w[o, c, ky, kx] · x[n, c, i·s + ky·d − p, j·s + kx·d − p]`
/// (within `o`'s group), computed per sample as one matrix product `Y = W · cols`,
/// where `cols` = im2col(x) has one receptive field per column. Backward reads
/// the same algebra backwards, per group, with `dY` the output gradient `[O, OH·OW]`:
///
/// - `dW = Σₙ dY · colsᵀ` (added to `weight.grad`)
/// - `dcols = Wᵀ · dY`, folded back onto the input by col2im (overlapping
///   receptive fields add up): the input gradient `dx`
/// - `db = Σₙ,ᵢ,ⱼ dY` (added to `bias.grad`)
///
/// The same three gradients as plain loops, the definition that the fast kernels
/// ([`conv::conv2d_forward`], [`conv::conv2d_backward`]) are tested against and that
/// runs with `SCRATCHNET_KERNELS=reference`:
/// [reference::conv2d](scratchnet_tensor::reference::conv2d) and
/// [reference::conv2d_backward](scratchnet_tensor::reference::conv2d_backward).
///
/// ```
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_layers::{Conv2d, Conv2dConfig, Layer};
/// let mut rng = StdRng::seed_from_u64(0);
/// let conv = Conv2d::new(1, 6, [5, 5], Conv2dConfig { padding: [2, 2], ..Default::default() }, &mut rng);
/// assert_eq!(conv.output_shape(&[1, 28, 28]).unwrap(), vec![6, 28, 28]);
/// assert_eq!(conv.num_parameters(), 6 * 25 + 6);
/// ```
#[derive(Clone, Debug)]
pub struct Conv2d {
    in_channels: usize,
    out_channels: usize,
    config: Conv2dConfig,
    window: Window2d,
    /// `[out_channels, in_channels / groups, KH, KW]`.
    pub weight: Parameter,
    /// `[out_channels]`, or `None` when built with `bias: false`.
    pub bias: Option<Parameter>,
    /// What the last training forward kept for backward (its buffer is reused
    /// from step to step); `cached` says whether it is current.
    cache: Conv2dCache,
    cached: bool,
}

impl Conv2d {
    /// A convolution from `in_channels` to `out_channels` with a `kernel_size` = `[KH, KW]` kernel,
    /// its weights drawn from `rng`.
    ///
    /// An invalid configuration (zero sizes, `groups` not dividing the channels, a
    /// weight of more than [`MAX_TENSOR_ELEMENTS`](crate::MAX_TENSOR_ELEMENTS), which is
    /// then not allocated) is reported by [`Layer::output_shape`] and `forward`, so
    /// building a model finds it.
    pub fn new<R: Rng + ?Sized>(
        in_channels: usize,
        out_channels: usize,
        kernel_size: [usize; 2],
        config: Conv2dConfig,
        rng: &mut R,
    ) -> Self {
        let groups = config.groups.max(1);
        let weight_shape = [
            out_channels,
            in_channels / groups,
            kernel_size[0],
            kernel_size[1],
        ];
        // Too large to allocate: nothing is drawn, and `validate` reports it.
        let fits = within_limit(&weight_shape);
        let fan_in = (in_channels / groups)
            .saturating_mul(kernel_size[0])
            .saturating_mul(kernel_size[1]);
        let weight = if fits {
            init::kaiming_uniform(&weight_shape, fan_in, rng)
        } else {
            ArrayD::zeros(IxDyn(&[0, 0, 0, 0]))
        };
        let bias = config.bias.then(|| {
            Parameter::new(if fits {
                init::kaiming_uniform(&[out_channels], fan_in, rng)
            } else {
                ArrayD::zeros(IxDyn(&[0]))
            })
        });
        let window = Window2d {
            kernel_size,
            stride: config.stride,
            padding: config.padding,
            dilation: config.dilation,
        };
        Self {
            in_channels,
            out_channels,
            config,
            window,
            weight: Parameter::new(weight),
            bias,
            cache: Conv2dCache::default(),
            cached: false,
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }

    fn validate(&self) -> Result<(), LayerError> {
        let groups = self.config.groups;
        if groups == 0 || self.in_channels % groups != 0 || self.out_channels % groups != 0 {
            return Err(LayerError::config(
                self.name(),
                format!(
                    "groups = {groups} must divide in_channels = {} and out_channels = {}",
                    self.in_channels, self.out_channels
                ),
            ));
        }
        if self.in_channels == 0 || self.out_channels == 0 {
            return Err(LayerError::config(
                self.name(),
                "channel counts must be at least 1",
            ));
        }
        self.window
            .validate()
            .map_err(|reason| LayerError::config(self.name(), reason))?;
        let [kh, kw] = self.window.kernel_size;
        let weight_shape = [self.out_channels, self.in_channels / groups, kh, kw];
        check_tensor_size(self.name(), "the weight", &weight_shape)?;
        let bias_shape = [self.out_channels];
        check_parameter_shapes(
            self.name(),
            [
                ("weight", Some(&self.weight), &weight_shape[..]),
                ("bias", self.bias.as_ref(), &bias_shape[..]),
            ],
            || {
                format!(
                    "in_channels = {}, out_channels = {}, kernel_size = {:?}, groups = {groups}",
                    self.in_channels, self.out_channels, self.window.kernel_size
                )
            },
        )
    }

    /// The output gradient as `[N, O, OH, OW]`, if a training forward came
    /// before and it has the shape of that forward's output.
    fn checked_grad_output<'a>(
        &self,
        grad_output: ArrayViewD<'a, f32>,
    ) -> Result<ArrayView4<'a, f32>, LayerError> {
        if !self.cached {
            return Err(LayerError::no_forward_cache(self.name()));
        }
        let [n, _, h, w] = self.cache.input_dim();
        let out = self.output_shape(&[self.in_channels, h, w])?;
        check_grad_shape(self.name(), grad_output.shape(), n, &out)?;
        Ok(view(grad_output))
    }

    /// Backward (see the type's docs), with the input gradient if `want_grad_input`.
    fn backward_with(
        &mut self,
        grad_output: ArrayViewD<f32>,
        want_grad_input: bool,
    ) -> Result<Option<Array4<f32>>, LayerError> {
        let dy = self.checked_grad_output(grad_output)?;
        let weight = view(self.weight.value.view());
        let grad_weight = view_mut(&mut self.weight.grad);
        let grad_bias = self.bias.as_mut().map(|b| view_mut(&mut b.grad));
        let (window, groups, cache) = (&self.window, self.config.groups, &self.cache);
        if want_grad_input {
            let dx =
                conv::conv2d_backward(dy, weight, window, groups, cache, grad_weight, grad_bias);
            return Ok(Some(dx));
        }
        conv::conv2d_backward_parameters(dy, weight, window, groups, cache, grad_weight, grad_bias);
        Ok(None)
    }
}

impl Layer for Conv2d {
    fn name(&self) -> &str {
        "Conv2d"
    }

    fn describe(&self) -> String {
        let c = &self.config;
        let mut s = format!(
            "Conv2d({}, {}, kernel_size={:?}",
            self.in_channels, self.out_channels, self.window.kernel_size
        );
        for (label, value, default) in [
            ("stride", c.stride, [1, 1]),
            ("padding", c.padding, [0, 0]),
            ("dilation", c.dilation, [1, 1]),
        ] {
            if value != default {
                s += &format!(", {label}={value:?}");
            }
        }
        if c.groups != 1 {
            s += &format!(", groups={}", c.groups);
        }
        if !c.bias {
            s += ", bias=false";
        }
        s + ")"
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.validate()?;
        let expected = || {
            format!(
                "[{}, H, W] (in_channels = {})",
                self.in_channels, self.in_channels
            )
        };
        let &[c, h, w] = input_shape else {
            return Err(LayerError::shape(self.name(), expected(), input_shape));
        };
        if c != self.in_channels {
            return Err(LayerError::shape(self.name(), expected(), input_shape));
        }
        let padding = self.window.padding;
        if (0..2).any(|d| {
            padding[d]
                .checked_mul(2)
                .and_then(|p| p.checked_add([h, w][d]))
                .is_none()
        }) {
            return Err(LayerError::config(
                self.name(),
                format!("padding {padding:?} is too large: the padded input overflows"),
            ));
        }
        // An empty plane has no window either, whatever the padding (the message asks for H, W ≥ 1).
        let output_size = (h > 0 && w > 0).then(|| self.window.output_size([h, w]));
        let [oh, ow] = output_size.flatten().ok_or_else(|| {
            LayerError::shape(
                self.name(),
                window_too_large(&self.window, self.in_channels),
                input_shape,
            )
        })?;
        let output = vec![self.out_channels, oh, ow];
        check_tensor_size(self.name(), "the output per sample", &output)?;
        let [kh, kw] = self.window.kernel_size;
        let cols = [self.in_channels / self.config.groups, kh, kw, oh, ow];
        check_tensor_size(self.name(), "the im2col columns per sample", &cols)?;
        Ok(output)
    }

    /// `y = W ⋆ x + b` on the chosen kernels, keeping `x` for backward in training mode.
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.output_shape(per_sample(input.shape()))?;
        let train = mode == Mode::Train;
        let output = conv::conv2d_forward(
            view(input),
            view(self.weight.value.view()),
            self.bias.as_ref().map(|b| view(b.value.view())),
            &self.window,
            self.config.groups,
            train.then_some(&mut self.cache),
        );
        self.cached = train;
        Ok(output.into_dyn())
    }

    /// Adds `dW = Σₙ dY·colsᵀ` and `db = Σ dY` to the parameters' gradients and
    /// returns `dx` = col2im(`Wᵀ·dY`): by definition,
    /// [reference::conv2d_backward](scratchnet_tensor::reference::conv2d_backward).
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let grad_input = self.backward_with(grad_output, true)?;
        Ok(grad_input.expect("input gradient requested").into_dyn())
    }

    /// [`Conv2d::backward`] without `dx` (a first layer's input needs none).
    fn backward_parameters(&mut self, grad_output: ArrayViewD<f32>) -> Result<(), LayerError> {
        self.backward_with(grad_output, false).map(drop)
    }

    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.parameter("weight", &self.weight);
        if let Some(bias) = &self.bias {
            state.parameter("bias", bias);
        }
    }

    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        state.parameter("weight", &mut self.weight);
        if let Some(bias) = &mut self.bias {
            state.parameter("bias", bias);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::{ArrayD, IxDyn};
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};

    /// LeNet-5, as the examples build it.
    fn lenet() -> Sequential {
        let mut rng = StdRng::seed_from_u64(7);
        let padded = Conv2dConfig {
            padding: [2, 2],
            ..Default::default()
        };
        Sequential::new()
            .add("conv1", Conv2d::new(1, 6, [5, 5], padded, &mut rng))
            .add("relu1", ReLU::new())
            .add("pool1", MaxPool2d::new([2, 2], MaxPool2dConfig::default()))
            .add(
                "conv2",
                Conv2d::new(6, 16, [5, 5], Conv2dConfig::default(), &mut rng),
            )
            .add("relu2", ReLU::new())
            .add("pool2", MaxPool2d::new([2, 2], MaxPool2dConfig::default()))
            .add("flatten", Flatten::new())
            .add("fc1", Dense::new(400, 120, &mut rng))
            .add("relu3", ReLU::new())
            .add("fc2", Dense::new(120, 84, &mut rng))
            .add("relu4", ReLU::new())
            .add("fc3", Dense::new(84, 10, &mut rng))
            .build(&[1, 28, 28])
            .unwrap()
    }

    /// The reproducibility promise: a training step's gradients (and the input
    /// gradient) do not change by a single bit with the number of threads.
    /// A batch of 40 is two full chunks and a partial one.
    #[test]
    fn lenet_step_is_bit_identical_in_1_2_and_4_threads() {
        let x = ArrayD::from_shape_fn(IxDyn(&[40, 1, 28, 28]), |i| {
            ((i[0] * 131 + i[2] * 29 + i[3] * 7) % 17) as f32 / 8.0 - 1.0
        });
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut model = lenet();
                let y = model.forward(x.view(), Mode::Train).unwrap();
                let dx = model.backward(y.mapv(|v| v * 0.01).view()).unwrap();
                let mut bits: Vec<u32> = dx.iter().map(|v| v.to_bits()).collect();
                for (_, p) in model.parameters() {
                    bits.extend(p.grad.iter().map(|v| v.to_bits()));
                }
                bits
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(4));
    }

    /// Parameter gradients of a backward pass, as bits.
    fn grad_bits(model: &dyn Layer) -> Vec<u32> {
        let params = model.parameters();
        params
            .iter()
            .flat_map(|(_, p)| p.grad.iter().map(|v| v.to_bits()))
            .collect()
    }

    /// Skipping the input gradient must not change a parameter gradient's bit:
    /// LeNet (its first convolution takes the direct path) and a strided, grouped
    /// convolution (im2col), on 1 and 2 threads.
    #[test]
    fn backward_parameters_matches_backward_bit_for_bit() {
        fn strided() -> Box<dyn Layer> {
            let config = Conv2dConfig {
                stride: [2, 2],
                padding: [1, 1],
                groups: 2,
                ..Default::default()
            };
            Box::new(Conv2d::new(
                4,
                6,
                [3, 3],
                config,
                &mut StdRng::seed_from_u64(5),
            ))
        }
        type Make = fn() -> Box<dyn Layer>;
        let models: [(Make, [usize; 4]); 2] = [
            (|| Box::new(lenet()), [20, 1, 28, 28]),
            (strided, [20, 4, 9, 9]),
        ];
        let mut rng = StdRng::seed_from_u64(3);
        for (make, shape) in &models {
            let x = ArrayD::from_shape_fn(IxDyn(shape), |_| {
                ndarray_rand::rand::Rng::random_range(&mut rng, -1.0f32..1.0)
            });
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    let (mut full, mut params_only) = (make(), make());
                    let y = full.forward(x.view(), Mode::Train).unwrap();
                    params_only.forward(x.view(), Mode::Train).unwrap();
                    let dy = y.mapv(|v| v * 0.01);
                    full.backward(dy.view()).unwrap();
                    params_only.backward_parameters(dy.view()).unwrap();
                    assert!(grad_bits(full.as_ref()).iter().any(|&b| b != 0));
                    assert_eq!(grad_bits(full.as_ref()), grad_bits(params_only.as_ref()));
                });
            }
        }
        let err = lenet()
            .backward_parameters(ArrayD::zeros(IxDyn(&[2, 10])).view())
            .unwrap_err();
        assert!(err.to_string().contains("fc3"), "{err}");
    }
}
