//! Adaptive average pooling: any input size to a fixed output size.

use crate::checks::{check_grad_shape, per_sample};
use crate::limits::check_tensor_size;
use crate::views::view;
use crate::{Layer, LayerError, Mode};
use ndarray::{s, Array4, ArrayD, ArrayView4, ArrayViewD};
use std::ops::Range;

/// Average pooling to a fixed output size `[OH, OW]` whatever the input's,
/// PyTorch's `nn.AdaptiveAvgPool2d`.
///
/// Output row `i` averages the input rows `⌊i·H/OH⌋ .. ⌈(i+1)·H/OH⌉` (PyTorch's
/// window rule; windows may overlap or differ in size by one), and likewise for
/// the columns. Backward spreads each output gradient equally over its window
/// (`/ window area`); where windows overlap, the shares add up.
///
/// `AdaptiveAvgPool2d::new([1, 1])` is global average pooling that keeps the
/// `1×1` axes (see [`GlobalAvgPool2d`](crate::GlobalAvgPool2d) for the flat version).
///
/// # Shapes
/// - input: `[N, C, H, W]`, with `H, W ≥ 1`
/// - output: `[N, C, OH, OW]`
///
/// ```
/// use scratchnet_layers::{AdaptiveAvgPool2d, Layer, Mode};
/// let mut pool = AdaptiveAvgPool2d::new([2, 1]);
/// assert_eq!(pool.output_shape(&[8, 5, 7]).unwrap(), vec![8, 2, 1]);
/// // Rows 0..2 and 1..3 of a 3-row image: the middle row is in both windows.
/// let x = ndarray::Array::from_shape_vec((1, 1, 3, 1), vec![1.0f32, 2.0, 6.0]).unwrap().into_dyn();
/// assert_eq!(pool.forward(x.view(), Mode::Eval).unwrap().as_slice().unwrap(), &[1.5, 4.0]);
/// ```
#[derive(Clone, Debug)]
pub struct AdaptiveAvgPool2d {
    output_size: [usize; 2],
    /// `[N, C, H, W]` of the last training forward's input.
    input_dim: Option<[usize; 4]>,
}

/// PyTorch's window of output index `i` along an axis of `input` → `output`:
/// `⌊i·input/output⌋ .. ⌈(i+1)·input/output⌉`.
fn window(i: usize, input: usize, output: usize) -> Range<usize> {
    (i * input / output)..((i + 1) * input).div_ceil(output)
}

impl AdaptiveAvgPool2d {
    /// Adaptive average pooling to `output_size` = `[OH, OW]`.
    ///
    /// A zero output size is reported by [`Layer::output_shape`] and `forward`.
    pub fn new(output_size: [usize; 2]) -> Self {
        Self {
            output_size,
            input_dim: None,
        }
    }

    /// The output's `[OH, OW]`.
    pub fn output_size(&self) -> [usize; 2] {
        self.output_size
    }
}

impl Layer for AdaptiveAvgPool2d {
    fn name(&self) -> &str {
        "AdaptiveAvgPool2d"
    }

    fn describe(&self) -> String {
        format!("AdaptiveAvgPool2d(output_size={:?})", self.output_size)
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        if self.output_size.contains(&0) {
            return Err(LayerError::config(
                self.name(),
                format!(
                    "output_size = {:?} must be at least 1 on each axis",
                    self.output_size
                ),
            ));
        }
        let c = match *input_shape {
            [c, h, w] if h > 0 && w > 0 => c,
            _ => {
                return Err(LayerError::shape(
                    self.name(),
                    "[C, H, W] with H ≥ 1 and W ≥ 1",
                    input_shape,
                ))
            }
        };
        let output = vec![c, self.output_size[0], self.output_size[1]];
        check_tensor_size(self.name(), "the output per sample", &output)?;
        Ok(output)
    }

    /// `y[n, c, i, j]` = the mean of `x[n, c]` over the window of `(i, j)`.
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.output_shape(per_sample(input.shape()))?;
        let x: ArrayView4<f32> = view(input);
        let (n, c, h, w) = x.dim();
        let [oh, ow] = self.output_size;
        let output = Array4::from_shape_fn((n, c, oh, ow), |(s, ch, i, j)| {
            let (rows, cols) = (window(i, h, oh), window(j, w, ow));
            let area = (rows.len() * cols.len()) as f64;
            let sum: f64 = x
                .slice(s![s, ch, rows, cols])
                .iter()
                .map(|&v| f64::from(v))
                .sum();
            (sum / area) as f32
        });
        self.input_dim = (mode == Mode::Train).then_some([n, c, h, w]);
        Ok(output.into_dyn())
    }

    /// `dx[window of (i, j)] += dy[i, j] / area`.
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let [n, c, h, w] = self
            .input_dim
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        let [oh, ow] = self.output_size;
        check_grad_shape(self.name(), grad_output.shape(), n, &[c, oh, ow])?;
        let dy: ArrayView4<f32> = view(grad_output);
        let mut grad_input = Array4::<f64>::zeros((n, c, h, w));
        for ((s, ch, i, j), &g) in dy.indexed_iter() {
            let (rows, cols) = (window(i, h, oh), window(j, w, ow));
            let share = f64::from(g) / (rows.len() * cols.len()) as f64;
            grad_input
                .slice_mut(s![s, ch, rows, cols])
                .mapv_inplace(|v| v + share);
        }
        Ok(grad_input.mapv(|v| v as f32).into_dyn())
    }
}
