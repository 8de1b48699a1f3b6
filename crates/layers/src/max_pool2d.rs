//! 2-D max pooling layer.

use crate::checks::{check_grad_shape, per_sample};
use crate::pool_common::pool_output_shape;
use crate::views::view;
use crate::{Layer, LayerError, Mode};
use ndarray::{ArrayD, ArrayViewD};
use scratchnet_tensor::pool::{self, MaxPoolIndices};
use scratchnet_tensor::Window2d;

/// Hyper-parameters of a [`MaxPool2d`] besides its kernel size. Pairs are `[height, width]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaxPool2dConfig {
    /// Step between windows; `None` (the default) means equal to the kernel size.
    pub stride: Option<[usize; 2]>,
    /// Implicit −∞ padding on each side, at most half the kernel. Default `[0, 0]`.
    pub padding: [usize; 2],
}

/// Max pooling over 2-D windows, PyTorch's `nn.MaxPool2d` (floor mode).
///
/// Windows may overlap (`stride < kernel`) or leave the input's last rows
/// and columns uncovered (floor mode). **Ties**: the first maximum of a window
/// in row-major order takes the whole gradient, as in PyTorch; overlapping
/// windows that pick the same element add their gradients there.
///
/// # Shapes
/// - input: `[N, C, H, W]`
/// - output: `[N, C, OH, OW]`, `OH = (H + 2·padding − KH) / stride + 1`
///
/// # Forward and backward
/// `y[n, c, i, j] = max` over the window, remembering where it came from
/// (`argmax`); backward routes each gradient to it, `dx[argmax] += dy`. As plain loops:
/// [reference::max_pool2d](scratchnet_tensor::reference::max_pool2d) and
/// [reference::max_pool2d_backward](scratchnet_tensor::reference::max_pool2d_backward).
///
/// ```
/// use scratchnet_layers::{Layer, MaxPool2d, MaxPool2dConfig};
/// let pool = MaxPool2d::new([2, 2], MaxPool2dConfig::default());
/// assert_eq!(pool.output_shape(&[6, 28, 28]).unwrap(), vec![6, 14, 14]);
/// ```
#[derive(Clone, Debug)]
pub struct MaxPool2d {
    window: Window2d,
    /// Winners of the last training forward (the buffer is reused between
    /// steps); `cached` says whether they are current.
    indices: MaxPoolIndices,
    cached: bool,
}

impl MaxPool2d {
    /// Max pooling with `kernel_size` = `[KH, KW]` windows.
    pub fn new(kernel_size: [usize; 2], config: MaxPool2dConfig) -> Self {
        let window = Window2d {
            kernel_size,
            stride: config.stride.unwrap_or(kernel_size),
            padding: config.padding,
            dilation: [1, 1],
        };
        Self {
            window,
            indices: MaxPoolIndices::default(),
            cached: false,
        }
    }

    /// The window geometry (kernel, stride, padding).
    pub fn window(&self) -> &Window2d {
        &self.window
    }
}

impl Layer for MaxPool2d {
    fn name(&self) -> &str {
        "MaxPool2d"
    }

    fn describe(&self) -> String {
        let w = &self.window;
        format!(
            "MaxPool2d(kernel_size={:?}, stride={:?}, padding={:?})",
            w.kernel_size, w.stride, w.padding
        )
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        pool_output_shape(self.name(), &self.window, input_shape)
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.output_shape(per_sample(input.shape()))?;
        let output = pool::max_pool2d_indexed(view(input), &self.window, &mut self.indices);
        self.cached = mode == Mode::Train;
        Ok(output.into_dyn())
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        if !self.cached {
            return Err(LayerError::no_forward_cache(self.name()));
        }
        let [n, c, oh, ow] = self.indices.output_dim();
        check_grad_shape(self.name(), grad_output.shape(), n, &[c, oh, ow])?;
        let grad_input = pool::max_pool2d_indexed_backward(view(grad_output), &self.indices);
        Ok(grad_input.into_dyn())
    }
}
