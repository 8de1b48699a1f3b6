//! 2-D average pooling layer.

use crate::checks::{check_grad_shape, per_sample};
use crate::pool_common::pool_output_shape;
use crate::views::view;
use crate::{Layer, LayerError, Mode};
use ndarray::{ArrayD, ArrayView4, ArrayViewD};
use scratchnet_tensor::{pool, Window2d};

/// Hyper-parameters of an [`AvgPool2d`] besides its kernel size. Pairs are `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2dConfig {
    /// Step between windows; `None` (the default) means equal to the kernel size.
    pub stride: Option<[usize; 2]>,
    /// Implicit zero padding on each side, at most half the kernel. Default `[0, 0]`.
    pub padding: [usize; 2],
    /// Whether padding counts in the divisor (`KH·KW` always) or not (real
    /// elements only). Default `true`, as in PyTorch.
    pub count_include_pad: bool,
}

impl Default for AvgPool2dConfig {
    fn default() -> Self {
        Self {
            stride: None,
            padding: [0, 0],
            count_include_pad: true,
        }
    }
}

/// Average pooling over 2-D windows, PyTorch's `nn.AvgPool2d` (floor mode).
///
/// Backward spreads each output's gradient equally over the input elements
/// of its window (divided as in forward); overlapping windows add up. As plain loops:
/// [reference::avg_pool2d](scratchnet_tensor::reference::avg_pool2d) and
/// [reference::avg_pool2d_backward](scratchnet_tensor::reference::avg_pool2d_backward).
///
/// # Shapes
/// - input: `[N, C, H, W]`
/// - output: `[N, C, OH, OW]`, `OH = (H + 2·padding − KH) / stride + 1`
///
/// ```
/// use scratchnet_layers::{AvgPool2d, AvgPool2dConfig, Layer};
/// let pool = AvgPool2d::new([3, 3], AvgPool2dConfig { stride: Some([2, 2]), ..Default::default() });
/// assert_eq!(pool.output_shape(&[3, 7, 8]).unwrap(), vec![3, 3, 3]);
/// ```
#[derive(Clone, Debug)]
pub struct AvgPool2d {
    window: Window2d,
    count_include_pad: bool,
    /// `[N, C, H, W]` of the last training forward's input.
    input_shape: Option<[usize; 4]>,
}

impl AvgPool2d {
    /// Average pooling with `kernel_size` = `[KH, KW]` windows.
    pub fn new(kernel_size: [usize; 2], config: AvgPool2dConfig) -> Self {
        let window = Window2d {
            kernel_size,
            stride: config.stride.unwrap_or(kernel_size),
            padding: config.padding,
            dilation: [1, 1],
        };
        Self {
            window,
            count_include_pad: config.count_include_pad,
            input_shape: None,
        }
    }
}

impl Layer for AvgPool2d {
    fn name(&self) -> &str {
        "AvgPool2d"
    }

    fn describe(&self) -> String {
        let w = &self.window;
        format!(
            "AvgPool2d(kernel_size={:?}, stride={:?}, padding={:?}, count_include_pad={})",
            w.kernel_size, w.stride, w.padding, self.count_include_pad
        )
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        pool_output_shape(self.name(), &self.window, input_shape)
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.output_shape(per_sample(input.shape()))?;
        let x: ArrayView4<f32> = view(input);
        self.input_shape = (mode == Mode::Train).then(|| x.dim().into());
        Ok(pool::avg_pool2d(x, &self.window, self.count_include_pad).into_dyn())
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let [n, c, h, w] = self
            .input_shape
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        let out = self.output_shape(&[c, h, w])?;
        check_grad_shape(self.name(), grad_output.shape(), n, &out)?;
        let (window, count_include_pad) = (&self.window, self.count_include_pad);
        let grad_input =
            pool::avg_pool2d_backward(view(grad_output), [h, w], window, count_include_pad);
        Ok(grad_input.into_dyn())
    }
}
