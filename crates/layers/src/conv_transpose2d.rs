//! 2-D transposed convolution ("deconvolution") layer.

use crate::checks::{check_grad_shape, check_parameter_shapes, per_sample};
use crate::limits::{check_tensor_size, overflow_error, within_limit};
use crate::views::view;
use crate::{Layer, LayerError, Mode, Parameter, StateVisitor, StateVisitorMut};
use ndarray::{Array1, Array4, ArrayD, ArrayView4, ArrayViewD, Axis, IxDyn};
use ndarray_rand::rand::Rng;
use scratchnet_tensor::{conv, init, Window2d};

/// Hyper-parameters of a [`ConvTranspose2d`] besides its channels and kernel size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvTranspose2dConfig {
    /// Step between the places where neighbouring input pixels land in the output. Default `[1, 1]`.
    pub stride: [usize; 2],
    /// Rows/columns cropped from each side of the full output (the padding of the
    /// convolution this one is the transpose of). Default `[0, 0]`.
    pub padding: [usize; 2],
    /// Rows/columns added to one side (bottom, right) of the output, to reach the
    /// input size of a strided convolution whose output size was rounded down.
    /// Must be smaller than the stride or the dilation. Default `[0, 0]`.
    pub output_padding: [usize; 2],
    /// Spacing between kernel taps. Default `[1, 1]`.
    pub dilation: [usize; 2],
    /// Number of channel groups. Default 1.
    pub groups: usize,
    /// Whether to add a learnable bias. Default `true`.
    pub bias: bool,
}

impl Default for ConvTranspose2dConfig {
    fn default() -> Self {
        Self {
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            bias: true,
        }
    }
}

/// A 2-D transposed convolution, PyTorch's `nn.ConvTranspose2d`: the adjoint
/// (the input gradient) of a [`Conv2d`](crate::Conv2d) with the same
/// hyper-parameters, used to upsample in decoders and segmentation networks.
///
/// Parameters: `weight` `[in_channels, out_channels / groups, KH, KW]` (PyTorch's
/// layout: input channels first) and `bias` `[out_channels]`, initialised like
/// PyTorch (`U(±1/√fan_in)` with `fan_in = out_channels / groups · KH · KW`).
///
/// # Shapes
/// - input: `[N, in_channels, H, W]`
/// - output: `[N, out_channels, OH, OW]`, with
///   `OH = (H − 1)·stride − 2·padding + dilation·(KH − 1) + output_padding + 1` (at least 1)
///
/// # Forward and backward
/// Each input pixel scatters a kernel-sized patch, scaled by its value, into the output:
/// `y[n, o, i·s + ky·d − p, j·s + kx·d − p] += x[n, c, i, j] · w[c, o', ky, kx]`
/// for every input channel `c` of `o`'s group (`o'` is `o`'s index within its
/// group), taps landing outside the output being dropped, then `y[n, o] += b[o]`.
/// With `dy` the output gradient, read through the same index map:
/// - `dx[n, c, i, j] = Σ_o',ky,kx dy[n, o, i·s + ky·d − p, j·s + kx·d − p] · w[c, o', ky, kx]`
///   (a convolution of `dy`)
/// - `dw[c, o', ky, kx] += Σ_n,i,j x[n, c, i, j] · dy[n, o, i·s + ky·d − p, j·s + kx·d − p]`
/// - `db[o] += Σ_n,i,j dy[n, o, i, j]`
///
/// These plain loops, summed in `f64`, are the definition
/// ([`ConvTranspose2d::forward_loops`], [`ConvTranspose2d::backward_loops`]). When
/// `output_padding` is smaller than the stride (always, unless a dilation larger
/// than the stride allows more), the layer runs the [`Conv2d`](crate::Conv2d)
/// kernels instead, as the three are a convolution's gradients with the roles
/// swapped: `y` = [`conv::conv2d_grad_input`] of `x` (as the output gradient of a
/// convolution with weight `w` from `out_channels` to `in_channels`), `dx` =
/// [`conv::conv2d`] of `dy`, and `dw` = [`conv::conv2d_grad_weight`] with `dy` as
/// the input and `x` as the output gradient. A test checks that both paths agree.
///
/// ```
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_layers::{ConvTranspose2d, ConvTranspose2dConfig, Layer};
/// let config = ConvTranspose2dConfig { stride: [2, 2], padding: [1, 1], output_padding: [1, 1], ..Default::default() };
/// let up = ConvTranspose2d::new(16, 8, [3, 3], config, &mut StdRng::seed_from_u64(0));
/// // Undoes the 14 → 7 of a stride-2, padding-1, 3×3 convolution.
/// assert_eq!(up.output_shape(&[16, 7, 7]).unwrap(), vec![8, 14, 14]);
/// assert_eq!(up.num_parameters(), 16 * 8 * 9 + 8);
/// ```
#[derive(Clone, Debug)]
pub struct ConvTranspose2d {
    in_channels: usize,
    out_channels: usize,
    kernel_size: [usize; 2],
    config: ConvTranspose2dConfig,
    /// `[in_channels, out_channels / groups, KH, KW]`.
    pub weight: Parameter,
    /// `[out_channels]`, or `None` when built with `bias: false`.
    pub bias: Option<Parameter>,
    /// The input of the last training forward.
    input: Option<Array4<f32>>,
}

impl ConvTranspose2d {
    /// A transposed convolution from `in_channels` to `out_channels` with a
    /// `kernel_size` = `[KH, KW]` kernel, its weights drawn from `rng`.
    ///
    /// An invalid configuration (zero sizes, `groups` not dividing the channels,
    /// an `output_padding` not smaller than the stride or the dilation, a weight of
    /// more than [`MAX_TENSOR_ELEMENTS`](crate::MAX_TENSOR_ELEMENTS), which is then
    /// not allocated) is reported by [`Layer::output_shape`] and `forward`, so
    /// building a model finds it.
    pub fn new<R: Rng + ?Sized>(
        in_channels: usize,
        out_channels: usize,
        kernel_size: [usize; 2],
        config: ConvTranspose2dConfig,
        rng: &mut R,
    ) -> Self {
        let out_per_group = out_channels / config.groups.max(1);
        let weight_shape = [in_channels, out_per_group, kernel_size[0], kernel_size[1]];
        // Too large to allocate: nothing is drawn, and `validate` reports it.
        let fits = within_limit(&weight_shape);
        let fan_in = out_per_group
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
        Self {
            in_channels,
            out_channels,
            kernel_size,
            config,
            weight: Parameter::new(weight),
            bias,
            input: None,
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &ConvTranspose2dConfig {
        &self.config
    }

    fn validate(&self) -> Result<(), LayerError> {
        let c = &self.config;
        let fail = |reason: String| Err(LayerError::config(self.name(), reason));
        if self.in_channels == 0 || self.out_channels == 0 {
            return fail("channel counts must be at least 1".into());
        }
        if c.groups == 0 || self.in_channels % c.groups != 0 || self.out_channels % c.groups != 0 {
            return fail(format!(
                "groups = {} must divide in_channels = {} and out_channels = {}",
                c.groups, self.in_channels, self.out_channels
            ));
        }
        for (label, value) in [
            ("kernel_size", self.kernel_size),
            ("stride", c.stride),
            ("dilation", c.dilation),
        ] {
            if value.contains(&0) {
                return fail(format!("{label} = {value:?} must be at least 1"));
            }
        }
        for axis in 0..2 {
            if c.output_padding[axis] >= c.stride[axis].max(c.dilation[axis]) {
                return fail(format!(
                    "output_padding = {:?} must be smaller than either stride = {:?} or dilation = {:?}",
                    c.output_padding, c.stride, c.dilation
                ));
            }
        }
        let weight_shape = [
            self.in_channels,
            self.out_channels / c.groups,
            self.kernel_size[0],
            self.kernel_size[1],
        ];
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
                    "in_channels = {}, out_channels = {}, groups = {}, kernel_size = {:?}",
                    self.in_channels, self.out_channels, c.groups, self.kernel_size
                )
            },
        )
    }

    /// The output size along `axis` for an input of size `input ≥ 1`, as
    /// `Some(full − 2·padding)` (≤ 0 if padding crops it all) with the uncropped
    /// `full = (input − 1)·stride + dilation·(kernel − 1) + output_padding + 1`,
    /// or `None` if that arithmetic overflows.
    fn output_len(&self, axis: usize, input: usize) -> Option<i128> {
        let c = &self.config;
        let full = (input - 1)
            .checked_mul(c.stride[axis])
            .and_then(|n| n.checked_add(c.dilation[axis].checked_mul(self.kernel_size[axis] - 1)?))
            .and_then(|n| n.checked_add(c.output_padding[axis]))
            .and_then(|n| n.checked_add(1))?;
        Some(full as i128 - 2 * c.padding[axis] as i128)
    }

    /// The convolution whose adjoint this layer is.
    fn window(&self) -> Window2d {
        Window2d {
            kernel_size: self.kernel_size,
            stride: self.config.stride,
            padding: self.config.padding,
            dilation: self.config.dilation,
        }
    }

    /// True if the [`Conv2d`](crate::Conv2d) kernels compute this layer: the
    /// convolution of an `[OH, OW]` input has an `[H, W]` output exactly when
    /// `output_padding < stride` on both axes.
    fn uses_conv_kernels(&self) -> bool {
        (0..2).all(|axis| self.config.output_padding[axis] < self.config.stride[axis])
    }

    /// The forward of an `[N, in_channels, H, W]` input without the bias, as the
    /// plain loops of the type's docs; `output_size` is `[OH, OW]`.
    ///
    /// # Panics
    /// If the input or the output size does not fit the layer (see [`Layer::output_shape`]).
    pub fn forward_loops(&self, x: ArrayView4<f32>, output_size: [usize; 2]) -> Array4<f32> {
        let (n, _, h, w) = x.dim();
        let [oh, ow] = output_size;
        let weight: ArrayView4<f32> = view(self.weight.value.view());
        let mut output = Array4::<f64>::zeros((n, self.out_channels, oh, ow));
        self.for_each_tap(
            [n, h, w],
            [oh, ow],
            |[s, c, i, j], [o, og], [ky, kx], [oy, ox]| {
                output[[s, o, oy, ox]] +=
                    f64::from(x[[s, c, i, j]]) * f64::from(weight[[c, og, ky, kx]]);
            },
        );
        output.mapv(|v| v as f32)
    }

    /// `(dx, dw)` for the input `x` and the output gradient `dy`, as the plain
    /// loops of the type's docs (`dw` is this batch's, not added anywhere).
    ///
    /// # Panics
    /// As [`ConvTranspose2d::forward_loops`].
    pub fn backward_loops(
        &self,
        x: ArrayView4<f32>,
        dy: ArrayView4<f32>,
    ) -> (Array4<f32>, Array4<f32>) {
        let (n, c, h, w) = x.dim();
        let (_, _, oh, ow) = dy.dim();
        let weight: ArrayView4<f32> = view(self.weight.value.view());
        let mut grad_input = Array4::<f64>::zeros((n, c, h, w));
        let mut grad_weight = Array4::<f64>::zeros(weight.raw_dim());
        self.for_each_tap(
            [n, h, w],
            [oh, ow],
            |[s, c, i, j], [o, og], [ky, kx], [oy, ox]| {
                let g = f64::from(dy[[s, o, oy, ox]]);
                grad_input[[s, c, i, j]] += g * f64::from(weight[[c, og, ky, kx]]);
                grad_weight[[c, og, ky, kx]] += g * f64::from(x[[s, c, i, j]]);
            },
        );
        (
            grad_input.mapv(|v| v as f32),
            grad_weight.mapv(|v| v as f32),
        )
    }

    /// Calls `visit([n, c, i, j], [o, o_in_group], [ky, kx], [oy, ox])` for every input
    /// pixel, output channel of its group and kernel tap that lands inside an
    /// `[oh, ow]` output: the index map shared by forward and backward.
    fn for_each_tap(
        &self,
        [n, h, w]: [usize; 3],
        [oh, ow]: [usize; 2],
        mut visit: impl FnMut([usize; 4], [usize; 2], [usize; 2], [usize; 2]),
    ) {
        let c = &self.config;
        let in_per_group = self.in_channels / c.groups;
        let out_per_group = self.out_channels / c.groups;
        let [kh, kw] = self.kernel_size;
        let place = |axis: usize, i: usize, k: usize, len: usize| {
            let at =
                (i * c.stride[axis] + k * c.dilation[axis]) as isize - c.padding[axis] as isize;
            (0..len as isize).contains(&at).then_some(at as usize)
        };
        for s in 0..n {
            for ch in 0..self.in_channels {
                let group = ch / in_per_group;
                for i in 0..h {
                    for j in 0..w {
                        for o_in_group in 0..out_per_group {
                            let o = group * out_per_group + o_in_group;
                            for ky in 0..kh {
                                let Some(oy) = place(0, i, ky, oh) else {
                                    continue;
                                };
                                for kx in 0..kw {
                                    if let Some(ox) = place(1, j, kx, ow) {
                                        visit([s, ch, i, j], [o, o_in_group], [ky, kx], [oy, ox]);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Layer for ConvTranspose2d {
    fn name(&self) -> &str {
        "ConvTranspose2d"
    }

    fn describe(&self) -> String {
        let c = &self.config;
        let mut s = format!(
            "ConvTranspose2d({}, {}, kernel_size={:?}",
            self.in_channels, self.out_channels, self.kernel_size
        );
        for (label, value, default) in [
            ("stride", c.stride, [1, 1]),
            ("padding", c.padding, [0, 0]),
            ("output_padding", c.output_padding, [0, 0]),
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
        let expected = format!(
            "[{}, H, W] (in_channels = {})",
            self.in_channels, self.in_channels
        );
        let &[c, h, w] = input_shape else {
            return Err(LayerError::shape(self.name(), expected, input_shape));
        };
        if c != self.in_channels || h == 0 || w == 0 {
            return Err(LayerError::shape(self.name(), expected, input_shape));
        }
        let (Some(oh), Some(ow)) = (self.output_len(0, h), self.output_len(1, w)) else {
            return Err(overflow_error(
                self.name(),
                "the output per sample",
                format!(
                    "[H, W] = [{h}, {w}] with stride = {:?}, dilation = {:?}, kernel_size = {:?}",
                    self.config.stride, self.config.dilation, self.kernel_size
                ),
            ));
        };
        if oh < 1 || ow < 1 {
            return Err(LayerError::shape(
                self.name(),
                format!(
                    "[{}, H, W] with (H − 1)·stride − 2·padding + dilation·(kernel − 1) + output_padding + 1 ≥ 1 \
                     (this input gives {oh}×{ow}; padding = {:?} is too large for it)",
                    self.in_channels, self.config.padding
                ),
                input_shape,
            ));
        }
        let (oh, ow) = (oh as usize, ow as usize);
        let output = vec![self.out_channels, oh, ow];
        check_tensor_size(self.name(), "the output per sample", &output)?;
        if self.uses_conv_kernels() {
            // The convolution kernels unfold each input pixel into its taps for
            // every output channel of its group (in `forward` and both gradients).
            let [kh, kw] = self.kernel_size;
            let cols = [self.out_channels / self.config.groups, kh, kw, h, w];
            check_tensor_size(self.name(), "the columns per sample", &cols)?;
        }
        Ok(output)
    }

    /// Scatters each input pixel's kernel patch into the output, then adds the bias.
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        let out = self.output_shape(per_sample(input.shape()))?;
        let x: ArrayView4<f32> = view(input);
        let output_size = [out[1], out[2]];
        let mut output = if self.uses_conv_kernels() {
            let weight = view(self.weight.value.view());
            conv::conv2d_grad_input(x, weight, output_size, &self.window(), self.config.groups)
        } else {
            self.forward_loops(x, output_size)
        };
        if let Some(bias) = &self.bias {
            for (o, mut plane) in output.axis_iter_mut(Axis(1)).enumerate() {
                plane += bias.value[[o]];
            }
        }
        self.input = (mode == Mode::Train).then(|| x.to_owned());
        Ok(output.into_dyn())
    }

    /// Adds `dw` and `db` to the parameters' gradients and returns `dx` (see the type's docs).
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let x = self
            .input
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        let (n, c, h, w) = x.dim();
        let out = self.output_shape(&[c, h, w])?;
        check_grad_shape(self.name(), grad_output.shape(), n, &out)?;
        let dy: ArrayView4<f32> = view(grad_output);
        let (grad_input, grad_weight) = if self.uses_conv_kernels() {
            let (window, groups) = (self.window(), self.config.groups);
            let weight = view(self.weight.value.view());
            (
                conv::conv2d(dy, weight, None, &window, groups),
                conv::conv2d_grad_weight(dy, x.view(), &window, groups),
            )
        } else {
            self.backward_loops(x.view(), dy)
        };
        debug_assert_eq!(grad_input.dim(), (n, c, h, w));
        self.weight.grad += &grad_weight.into_dyn();
        if let Some(bias) = &mut self.bias {
            let grad_bias: Array1<f64> = dy
                .axis_iter(Axis(1))
                .map(|plane| plane.iter().map(|&v| f64::from(v)).sum())
                .collect();
            bias.grad
                .zip_mut_with(&grad_bias.into_dyn(), |g, &d| *g += d as f32);
        }
        Ok(grad_input.into_dyn())
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
