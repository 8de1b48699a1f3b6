//! Upsampling of images: nearest neighbour and bilinear.

use crate::checks::{check_grad_shape, per_sample};
use crate::limits::{check_tensor_size, overflow_error};
use crate::views::view;
use crate::{Layer, LayerError, Mode};
use ndarray::{Array4, ArrayD, ArrayView4, ArrayViewD};

/// How an [`Upsample`] computes each output pixel (PyTorch's `mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UpsampleMode {
    /// The input pixel the output pixel falls on (PyTorch's `'nearest'`). Default.
    #[default]
    Nearest,
    /// Linear interpolation between the four nearest input pixels (PyTorch's `'bilinear'`).
    Bilinear,
}

/// The output size of an [`Upsample`]: given, or a multiple of the input's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpsampleSize {
    /// The output's `[OH, OW]` (PyTorch's `size`).
    Size([usize; 2]),
    /// `[OH, OW] = ⌊[H·sh, W·sw]⌋` (PyTorch's `scale_factor`); the factor, not `H/OH`,
    /// then also places the output pixels on the input, as in PyTorch.
    ScaleFactor([f64; 2]),
}

/// Hyper-parameters of an [`Upsample`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpsampleConfig {
    /// The output size. Default `ScaleFactor([2.0, 2.0])`.
    pub size: UpsampleSize,
    /// Nearest or bilinear. Default [`UpsampleMode::Nearest`].
    pub mode: UpsampleMode,
    /// Bilinear only: whether the corner pixels of input and output are aligned
    /// (their centres coincide), or their outer edges are (`false`, the default).
    /// Must be `false` with [`UpsampleMode::Nearest`], as in PyTorch.
    pub align_corners: bool,
}

impl Default for UpsampleConfig {
    fn default() -> Self {
        Self {
            size: UpsampleSize::ScaleFactor([2.0, 2.0]),
            mode: UpsampleMode::Nearest,
            align_corners: false,
        }
    }
}

/// Resizes images, PyTorch's `nn.Upsample` (`F.interpolate`) in the modes
/// `'nearest'` and `'bilinear'`.
///
/// Along each axis of input size `I` and output size `O`, output index `o`
/// reads the input at a source coordinate `s(o)`, with `scale = 1/factor` when
/// a scale factor is given and `I/O` otherwise (an axis with `O = I` is copied,
/// as in PyTorch):
/// - **nearest**: `x[min(⌊o·scale⌋, I − 1)]` (`scale` in `f32`, as PyTorch computes
///   it; `x[⌊o/2⌋]` when `O = 2·I`);
/// - **bilinear**, `align_corners: false`: `s = max((o + ½)·scale − ½, 0)`;
///   `align_corners: true`: `s = o·(I − 1)/(O − 1)` (0 if `O = 1`). Then
///   `i₀ = ⌊s⌋`, `i₁ = min(i₀ + 1, I − 1)`, `λ = s − i₀`, and the output is
///   `(1 − λ)·x[i₀] + λ·x[i₁]` along each axis (the product of the two weights for a pixel).
///
/// Backward sends each output gradient back to the input pixels it was read
/// from, with the same weights (overlapping contributions add up).
///
/// # Shapes
/// - input: `[N, C, H, W]`
/// - output: `[N, C, OH, OW]`, the configured size, or `⌊H·sh⌋ × ⌊W·sw⌋`; at least 1×1
///
/// ```
/// use scratchnet_layers::{Layer, Mode, Upsample, UpsampleConfig, UpsampleMode, UpsampleSize};
/// let mut up = Upsample::new(UpsampleConfig::default());
/// assert_eq!(up.output_shape(&[3, 7, 5]).unwrap(), vec![3, 14, 10]);
/// let x = ndarray::Array::from_shape_vec((1, 1, 1, 2), vec![1.0f32, 3.0]).unwrap().into_dyn();
/// let y = up.forward(x.view(), Mode::Eval).unwrap();
/// assert_eq!(y.as_slice().unwrap(), &[1.0, 1.0, 3.0, 3.0, 1.0, 1.0, 3.0, 3.0]);
/// let mut bilinear = Upsample::new(UpsampleConfig {
///     size: UpsampleSize::Size([1, 3]),
///     mode: UpsampleMode::Bilinear,
///     align_corners: true,
/// });
/// assert_eq!(bilinear.forward(x.view(), Mode::Eval).unwrap().as_slice().unwrap(), &[1.0, 2.0, 3.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Upsample {
    config: UpsampleConfig,
    /// `[N, C, H, W]` of the last training forward's input.
    input_dim: Option<[usize; 4]>,
}

/// Where one output index reads the input along one axis: `weight0·x[index0] + weight1·x[index1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Source {
    index0: usize,
    index1: usize,
    weight0: f64,
    weight1: f64,
}

impl Upsample {
    /// An upsampling layer.
    ///
    /// An invalid configuration (a zero size, a scale factor that is not finite
    /// and positive, `align_corners` with nearest) is reported by
    /// [`Layer::output_shape`] and `forward`.
    pub fn new(config: UpsampleConfig) -> Self {
        Self {
            config,
            input_dim: None,
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &UpsampleConfig {
        &self.config
    }

    fn validate(&self) -> Result<(), LayerError> {
        if self.config.align_corners && self.config.mode == UpsampleMode::Nearest {
            return Err(LayerError::config(
                self.name(),
                "align_corners = true only applies to mode Bilinear; leave it false for Nearest",
            ));
        }
        match self.config.size {
            UpsampleSize::Size(size) if size.contains(&0) => Err(LayerError::config(
                self.name(),
                format!("size = {size:?} must be at least 1 on each axis"),
            )),
            UpsampleSize::ScaleFactor(factor)
                if !factor.iter().all(|f| f.is_finite() && *f > 0.0) =>
            {
                Err(LayerError::config(
                    self.name(),
                    format!("scale_factor = {factor:?} must be finite and positive on each axis"),
                ))
            }
            _ => Ok(()),
        }
    }

    /// `[OH, OW]` for an `[H, W]` input (0 if a scale factor makes an axis empty),
    /// or `None` if a scale factor makes one larger than `usize` holds.
    fn output_size(&self, input: [usize; 2]) -> Option<[usize; 2]> {
        match self.config.size {
            UpsampleSize::Size(size) => Some(size),
            UpsampleSize::ScaleFactor(factor) => {
                let [oh, ow] = [0, 1].map(|axis| (input[axis] as f64 * factor[axis]).floor());
                // `usize::MAX as f64` is 2⁶⁴, the first size that does not fit.
                let fits = |size: f64| size < usize::MAX as f64;
                (fits(oh) && fits(ow)).then_some([oh as usize, ow as usize])
            }
        }
    }

    /// The scale factor of `axis`, if one was given.
    fn factor(&self, axis: usize) -> Option<f64> {
        match self.config.size {
            UpsampleSize::Size(_) => None,
            UpsampleSize::ScaleFactor(factor) => Some(factor[axis]),
        }
    }

    /// Whether each output value is one input value copied rather than weighted
    /// (nearest): PyTorch copies, so that an infinity stays one instead of meeting a
    /// weight of 0 (`0 · ∞` is NaN). Bilinear weighs even a plane whose size does not
    /// change, as PyTorch's kernel does (an infinity there gives NaN in both).
    fn gathers(&self) -> bool {
        self.config.mode == UpsampleMode::Nearest
    }

    /// Where each of the `output` indices of `axis` reads an input of size `input`.
    fn sources(&self, axis: usize, input: usize, output: usize) -> Vec<Source> {
        let single = |index: usize| Source {
            index0: index,
            index1: index,
            weight0: 1.0,
            weight1: 0.0,
        };
        if output == input {
            // PyTorch copies an axis whose size does not change, whatever the factor.
            return (0..output).map(single).collect();
        }
        match self.config.mode {
            UpsampleMode::Nearest if output == 2 * input => {
                (0..output).map(|o| single(o / 2)).collect()
            }
            UpsampleMode::Nearest => {
                let scale = match self.factor(axis) {
                    Some(factor) => (1.0 / factor) as f32,
                    None => input as f32 / output as f32,
                };
                (0..output)
                    .map(|o| single(((o as f32 * scale).floor() as usize).min(input - 1)))
                    .collect()
            }
            UpsampleMode::Bilinear => {
                let scale = if self.config.align_corners {
                    if output > 1 {
                        (input - 1) as f64 / (output - 1) as f64
                    } else {
                        0.0
                    }
                } else {
                    match self.factor(axis) {
                        Some(factor) => 1.0 / factor,
                        None => input as f64 / output as f64,
                    }
                };
                (0..output)
                    .map(|o| {
                        let source = if self.config.align_corners {
                            o as f64 * scale
                        } else {
                            ((o as f64 + 0.5) * scale - 0.5).max(0.0)
                        };
                        let index0 = (source.floor() as usize).min(input - 1);
                        let index1 = (index0 + 1).min(input - 1);
                        let weight1 = (source - index0 as f64).clamp(0.0, 1.0);
                        Source {
                            index0,
                            index1,
                            weight0: 1.0 - weight1,
                            weight1,
                        }
                    })
                    .collect()
            }
        }
    }
}

impl Layer for Upsample {
    fn name(&self) -> &str {
        "Upsample"
    }

    fn describe(&self) -> String {
        let size = match self.config.size {
            UpsampleSize::Size(size) => format!("size={size:?}"),
            UpsampleSize::ScaleFactor(factor) => format!("scale_factor={factor:?}"),
        };
        match self.config.mode {
            UpsampleMode::Nearest => format!("Upsample({size}, mode='nearest')"),
            UpsampleMode::Bilinear => format!(
                "Upsample({size}, mode='bilinear', align_corners={})",
                self.config.align_corners
            ),
        }
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.validate()?;
        let &[c, h, w] = input_shape else {
            return Err(LayerError::shape(self.name(), "[C, H, W]", input_shape));
        };
        if h == 0 || w == 0 {
            return Err(LayerError::shape(
                self.name(),
                "[C, H, W] with H ≥ 1 and W ≥ 1",
                input_shape,
            ));
        }
        let Some([oh, ow]) = self.output_size([h, w]) else {
            return Err(overflow_error(
                self.name(),
                "the output per sample",
                format!("[H, W] = [{h}, {w}] times {:?}", self.config.size),
            ));
        };
        if oh == 0 || ow == 0 {
            return Err(LayerError::shape(
                self.name(),
                format!(
                    "[C, H, W] large enough for an output of at least 1×1 (scale_factor {:?} gives {oh}×{ow})",
                    self.factor(0).zip(self.factor(1)).map(|(a, b)| [a, b]).unwrap_or_default()
                ),
                input_shape,
            ));
        }
        let output = vec![c, oh, ow];
        check_tensor_size(self.name(), "the output per sample", &output)?;
        Ok(output)
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        let out = self.output_shape(per_sample(input.shape()))?;
        let x: ArrayView4<f32> = view(input);
        let (n, c, h, w) = x.dim();
        let (oh, ow) = (out[1], out[2]);
        let (rows, cols) = (self.sources(0, h, oh), self.sources(1, w, ow));
        let gathers = self.gathers();
        let output = Array4::from_shape_fn((n, c, oh, ow), |(s, ch, i, j)| {
            let (r, q) = (rows[i], cols[j]);
            if gathers {
                return x[[s, ch, r.index0, q.index0]];
            }
            let at = |y: usize, x_: usize| f64::from(x[[s, ch, y, x_]]);
            (r.weight0 * (q.weight0 * at(r.index0, q.index0) + q.weight1 * at(r.index0, q.index1))
                + r.weight1
                    * (q.weight0 * at(r.index1, q.index0) + q.weight1 * at(r.index1, q.index1)))
                as f32
        });
        self.input_dim = (mode == Mode::Train).then_some([n, c, h, w]);
        Ok(output.into_dyn())
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let [n, c, h, w] = self
            .input_dim
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        let out = self.output_shape(&[c, h, w])?;
        check_grad_shape(self.name(), grad_output.shape(), n, &out)?;
        let dy: ArrayView4<f32> = view(grad_output);
        let (oh, ow) = (out[1], out[2]);
        let (rows, cols) = (self.sources(0, h, oh), self.sources(1, w, ow));
        let gathers = self.gathers();
        let mut grad_input = Array4::<f64>::zeros((n, c, h, w));
        for ((s, ch, i, j), &g) in dy.indexed_iter() {
            let (r, q, g) = (rows[i], cols[j], f64::from(g));
            if gathers {
                grad_input[[s, ch, r.index0, q.index0]] += g;
                continue;
            }
            for (y, wy) in [(r.index0, r.weight0), (r.index1, r.weight1)] {
                for (x, wx) in [(q.index0, q.weight0), (q.index1, q.weight1)] {
                    grad_input[[s, ch, y, x]] += wy * wx * g;
                }
            }
        }
        Ok(grad_input.mapv(|v| v as f32).into_dyn())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    /// `x` (one row) upsampled by `config`, and the gradient `dy` sends back to it.
    fn forward_backward(config: UpsampleConfig, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut layer = Upsample::new(config);
        let x = Array::from_shape_vec((1, 1, 1, x.len()), x.to_vec()).unwrap();
        let y = layer.forward(x.into_dyn().view(), Mode::Train).unwrap();
        let dy = Array::from_shape_vec(y.raw_dim(), dy.to_vec()).unwrap();
        let dx = layer.backward(dy.view()).unwrap();
        (y.iter().copied().collect(), dx.iter().copied().collect())
    }

    /// PyTorch 2.15's values: `nn.Upsample(scale_factor=(1., 2.))` and `size=(1, 3)` on
    /// `[inf, 1]` copy the infinity (and their backward sums it), while bilinear on an
    /// unchanged plane weighs it, giving NaN, in both directions.
    #[test]
    fn nearest_copies_infinities_and_bilinear_weighs_them_as_pytorch_does() {
        let inf = f32::INFINITY;
        let scale = UpsampleConfig {
            size: UpsampleSize::ScaleFactor([1.0, 2.0]),
            ..Default::default()
        };
        let (y, dx) = forward_backward(scale, &[inf, 1.0], &[inf, 1.0, 1.0, -inf]);
        assert_eq!((y, dx), (vec![inf, inf, 1.0, 1.0], vec![inf, -inf]));
        let three = UpsampleConfig {
            size: UpsampleSize::Size([1, 3]),
            ..Default::default()
        };
        let (y, _) = forward_backward(three, &[inf, 1.0], &[1.0; 3]);
        assert_eq!(y, vec![inf, inf, 1.0]);
        let bilinear = UpsampleConfig {
            size: UpsampleSize::Size([1, 2]),
            mode: UpsampleMode::Bilinear,
            ..Default::default()
        };
        let (y, dx) = forward_backward(bilinear, &[inf, 1.0], &[1.0, inf]);
        assert!(y[0].is_nan() && y[1] == 1.0, "{y:?}");
        assert!(dx[0] == 1.0 && dx[1].is_nan(), "{dx:?}");
    }
}
