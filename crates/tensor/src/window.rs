//! Geometry of a sliding 2-D window, shared by convolution and pooling.

/// Where a 2-D window (a convolution kernel or a pooling window) visits its input.
///
/// All pairs are `[height, width]`. The output size follows PyTorch's floor
/// mode: `out = (in + 2·padding − dilation·(kernel − 1) − 1) / stride + 1`,
/// so windows that would hang over the padded edge are dropped.
///
/// ```
/// use scratchnet_tensor::Window2d;
/// let w = Window2d { kernel_size: [5, 5], padding: [2, 2], ..Window2d::default() };
/// assert_eq!(w.output_size([28, 28]), Some([28, 28]));
/// let pool = Window2d::pool([2, 2]);
/// assert_eq!(pool.output_size([7, 7]), Some([3, 3]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window2d {
    /// Kernel height and width.
    pub kernel_size: [usize; 2],
    /// Step between neighbouring windows.
    pub stride: [usize; 2],
    /// Implicit zero (or −∞ for max pooling) rows/columns added on each side.
    pub padding: [usize; 2],
    /// Spacing between kernel taps (1 = dense kernel).
    pub dilation: [usize; 2],
}

impl Default for Window2d {
    /// A 1×1 window, stride 1, no padding, no dilation.
    fn default() -> Self {
        Self {
            kernel_size: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
        }
    }
}

impl Window2d {
    /// A pooling window: `stride = kernel_size`, no padding.
    pub fn pool(kernel_size: [usize; 2]) -> Self {
        Self {
            kernel_size,
            stride: kernel_size,
            ..Self::default()
        }
    }

    /// Kernel extent once dilated: `dilation·(kernel − 1) + 1` (`usize::MAX` if that
    /// overflows: no input is that large).
    pub fn effective_kernel(&self) -> [usize; 2] {
        [0, 1].map(|d| {
            self.dilation[d]
                .saturating_mul(self.kernel_size[d].max(1) - 1)
                .saturating_add(1)
        })
    }

    /// Why this window cannot be used at all (a zero kernel, stride or dilation), if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        for (name, pair) in [
            ("kernel_size", self.kernel_size),
            ("stride", self.stride),
            ("dilation", self.dilation),
        ] {
            if pair.contains(&0) {
                return Err(format!("{name} must be at least 1, got {pair:?}"));
            }
        }
        Ok(())
    }

    /// The input position `[row, col]` that tap `kernel_index = [ky, kx]` of the
    /// window at output position `output_index = [i, j]` reads, or `None` where
    /// it falls in the padding: `[i·s + ky·d − p, j·s + kx·d − p]` per axis.
    ///
    /// ```
    /// use scratchnet_tensor::Window2d;
    /// let w = Window2d { kernel_size: [3, 3], padding: [1, 1], ..Window2d::default() };
    /// assert_eq!(w.input_position([0, 0], [0, 0], [4, 4]), None); // in the padding
    /// assert_eq!(w.input_position([2, 1], [2, 0], [4, 4]), Some([3, 0]));
    /// ```
    pub fn input_position(
        &self,
        output_index: [usize; 2],
        kernel_index: [usize; 2],
        input_size: [usize; 2],
    ) -> Option<[usize; 2]> {
        let mut position = [0; 2];
        for d in 0..2 {
            let padded = output_index[d] * self.stride[d] + kernel_index[d] * self.dilation[d];
            position[d] = padded
                .checked_sub(self.padding[d])
                .filter(|&p| p < input_size[d])?;
        }
        Some(position)
    }

    /// Output `[height, width]` for an input of `input` = `[height, width]`,
    /// or `None` if the window is invalid, larger than the padded input, or the padded
    /// input overflows `usize`.
    pub fn output_size(&self, input: [usize; 2]) -> Option<[usize; 2]> {
        self.validate().ok()?;
        let kernel = self.effective_kernel();
        let mut out = [0; 2];
        for d in 0..2 {
            let padded = self.padding[d]
                .checked_mul(2)
                .and_then(|p| p.checked_add(input[d]))?;
            if padded < kernel[d] {
                return None;
            }
            out[d] = (padded - kernel[d]) / self.stride[d] + 1;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_matches_pytorch_floor_mode() {
        // torch.nn.Conv2d(1, 1, (3, 2), stride=(2, 1), padding=(1, 0)) on 7×5 gives 4×4.
        let w = Window2d {
            kernel_size: [3, 2],
            stride: [2, 1],
            padding: [1, 0],
            dilation: [1, 1],
        };
        assert_eq!(w.output_size([7, 5]), Some([4, 4]));
        // Dilation 2 turns a 3×3 kernel into a 5×5 footprint.
        let d = Window2d {
            kernel_size: [3, 3],
            dilation: [2, 2],
            ..Window2d::default()
        };
        assert_eq!(d.output_size([9, 9]), Some([5, 5]));
    }

    #[test]
    fn rejects_zero_sizes_and_oversized_windows() {
        assert!(Window2d {
            stride: [0, 1],
            ..Window2d::pool([2, 2])
        }
        .output_size([4, 4])
        .is_none());
        assert!(Window2d::pool([0, 2]).validate().is_err());
        assert_eq!(Window2d::pool([5, 5]).output_size([4, 4]), None);
        assert_eq!(Window2d::pool([5, 5]).output_size([5, 5]), Some([1, 1]));
    }

    /// Issue 16: a padding of `usize::MAX / 2` overflowed `in + 2·padding` (a panic in
    /// debug builds, a wrong size in release ones).
    #[test]
    fn overflowing_sizes_are_none_not_a_panic_or_a_wrong_size() {
        let huge_padding = Window2d {
            kernel_size: [3, 3],
            padding: [usize::MAX / 2, 0],
            ..Window2d::default()
        };
        assert_eq!(huge_padding.output_size([28, 28]), None);
        let huge_dilation = Window2d {
            kernel_size: [3, 3],
            dilation: [usize::MAX, 1],
            ..Window2d::default()
        };
        assert_eq!(huge_dilation.effective_kernel(), [usize::MAX, 3]);
        assert_eq!(huge_dilation.output_size([28, 28]), None);
    }
}
