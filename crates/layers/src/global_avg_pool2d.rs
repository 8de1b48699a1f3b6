//! Global average pooling layer.

use crate::checks::{check_grad_shape, per_sample};
use crate::views::view;
use crate::{Layer, LayerError, Mode};
use ndarray::{ArrayD, ArrayView2, ArrayView4, ArrayViewD, Axis};

/// The mean of each channel over its whole image: `[N, C, H, W]` → `[N, C]`.
///
/// PyTorch's `nn.AdaptiveAvgPool2d(1)` followed by `nn.Flatten()` (this layer
/// does both: its output is already flat, ready for a [`Dense`](crate::Dense)).
/// Backward spreads each gradient equally, `/ (H·W)`, over its channel's image.
///
/// # Shapes
/// - input: `[N, C, H, W]`, with `H, W ≥ 1`
/// - output: `[N, C]`
///
/// ```
/// use scratchnet_layers::{GlobalAvgPool2d, Layer, Mode};
/// let mut gap = GlobalAvgPool2d::new();
/// assert_eq!(gap.output_shape(&[64, 7, 7]).unwrap(), vec![64]);
/// let x = ndarray::Array::from_shape_fn((1, 2, 2, 2), |(_, c, h, w)| (c * 10 + h * 2 + w) as f32);
/// let y = gap.forward(x.into_dyn().view(), Mode::Eval).unwrap();
/// assert_eq!(y.as_slice().unwrap(), &[1.5, 11.5]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct GlobalAvgPool2d {
    /// `[N, C, H, W]` of the last training forward's input.
    input_shape: Option<[usize; 4]>,
}

impl GlobalAvgPool2d {
    /// A global average pooling layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for GlobalAvgPool2d {
    fn name(&self) -> &str {
        "GlobalAvgPool2d"
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        match *input_shape {
            [c, h, w] if h > 0 && w > 0 => Ok(vec![c]),
            _ => Err(LayerError::shape(
                self.name(),
                "[C, H, W] with H ≥ 1 and W ≥ 1",
                input_shape,
            )),
        }
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.output_shape(per_sample(input.shape()))?;
        let x: ArrayView4<f32> = view(input);
        let (_, _, h, w) = x.dim();
        self.input_shape = (mode == Mode::Train).then(|| x.dim().into());
        let area = (h * w) as f64;
        Ok(x.map_axis(Axis(3), |row| {
            row.iter().map(|&v| f64::from(v)).sum::<f64>()
        })
        .sum_axis(Axis(2))
        .mapv(|sum| (sum / area) as f32)
        .into_dyn())
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let [n, c, h, w] = self
            .input_shape
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_grad_shape(self.name(), grad_output.shape(), n, &[c])?;
        let dy: ArrayView2<f32> = view(grad_output);
        let share = (&dy / (h * w) as f32)
            .insert_axis(Axis(2))
            .insert_axis(Axis(3));
        Ok(share
            .broadcast((n, c, h, w))
            .expect("broadcast over H, W")
            .to_owned()
            .into_dyn())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, IxDyn};

    #[test]
    fn forward_and_backward() {
        let mut gap = GlobalAvgPool2d::new();
        let x = Array::from_shape_fn((2, 3, 2, 3), |(n, c, h, w)| {
            (n * 100 + c * 10 + h * 3 + w) as f32
        });
        let y = gap.forward(x.view().into_dyn(), Mode::Train).unwrap();
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(y[[1, 2]], 120.0 + 2.5);
        let dy = Array::from_shape_fn((2, 3), |(n, c)| (n * 3 + c) as f32 * 6.0).into_dyn();
        let dx = gap.backward(dy.view()).unwrap();
        assert_eq!(dx.shape(), &[2, 3, 2, 3]);
        assert!(dx
            .indexed_iter()
            .all(|(i, &g)| g == (i[0] * 3 + i[1]) as f32));
    }

    #[test]
    fn errors() {
        let mut gap = GlobalAvgPool2d::new();
        let err = gap.output_shape(&[3, 0, 4]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "GlobalAvgPool2d: expects input of shape [C, H, W] with H ≥ 1 and W ≥ 1 per sample, but got [3, 0, 4]"
        );
        assert!(gap.output_shape(&[3, 4]).is_err());
        assert!(gap
            .forward(ArrayD::zeros(IxDyn(&[2, 3, 4])).view(), Mode::Train)
            .is_err());
        assert!(matches!(
            gap.backward(ArrayD::zeros(IxDyn(&[2, 3])).view()),
            Err(LayerError::NoForwardCache { .. })
        ));
        gap.forward(ArrayD::zeros(IxDyn(&[2, 3, 4, 4])).view(), Mode::Train)
            .unwrap();
        assert!(gap.backward(ArrayD::zeros(IxDyn(&[2, 4])).view()).is_err());
        assert!(gap
            .backward(ArrayD::zeros(IxDyn(&[2, 3, 1, 1])).view())
            .is_err());
    }
}
