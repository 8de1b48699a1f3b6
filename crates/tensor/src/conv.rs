//! 2-D convolution (cross-correlation, as in PyTorch) by im2col + GEMM.
//!
//! For one sample, [`im2col`] unrolls every receptive field of the input into
//! a column of a matrix `cols` of shape `[C/g·KH·KW, OH·OW]`. The convolution
//! of group `g` is then one matrix product `W_g · cols_g`, where `W_g` is the
//! weight reshaped to `[O/g, C/g·KH·KW]`. The two backward products are the
//! same algebra read backwards:
//!
//! - weight gradient: `dW_g += dY_g · cols_gᵀ`, summed over the batch;
//! - input gradient:  `dcols_g = W_gᵀ · dY_g`, folded back onto the input by
//!   [`col2im`] (overlapping receptive fields add up).

use crate::Window2d;
use ndarray::{
    s, Array2, Array4, ArrayView1, ArrayView2, ArrayView3, ArrayView4, ArrayViewMut2,
    ArrayViewMut3, Axis,
};

/// Convolves `input` with `weight` and adds `bias`: PyTorch's `F.conv2d`.
///
/// # Shapes
/// - `input`: `[N, C, H, W]`
/// - `weight`: `[O, C / groups, KH, KW]` (`KH, KW` must equal `window.kernel_size`)
/// - `bias`: `[O]`
/// - returns `[N, O, OH, OW]` with `[OH, OW] = window.output_size([H, W])`.
///
/// # Panics
/// If the shapes disagree as above, `groups` does not divide `C` and `O`, or
/// the window does not fit the padded input. Layers check all of this first.
///
/// ```
/// use ndarray::Array4;
/// use scratchnet_tensor::{conv::conv2d, Window2d};
/// let x = Array4::<f32>::ones((1, 1, 3, 3));
/// let w = Array4::<f32>::ones((1, 1, 2, 2));
/// let y = conv2d(x.view(), w.view(), None, &Window2d { kernel_size: [2, 2], ..Default::default() }, 1);
/// assert_eq!(y, Array4::from_elem((1, 1, 2, 2), 4.0));
/// ```
#[track_caller]
pub fn conv2d(
    input: ArrayView4<f32>,
    weight: ArrayView4<f32>,
    bias: Option<ArrayView1<f32>>,
    window: &Window2d,
    groups: usize,
) -> Array4<f32> {
    let (n, c, h, w) = input.dim();
    let out_channels = weight.dim().0;
    let geometry = Geometry::new(c, out_channels, [h, w], weight, window, groups);
    let [oh, ow] = geometry.output;
    let weight_rows = weight_matrix(weight);
    let mut output = Array4::<f32>::zeros((n, out_channels, oh, ow));
    let mut cols = Array2::<f32>::zeros((c * geometry.kernel_area, oh * ow));
    for (sample, mut out) in input.outer_iter().zip(output.outer_iter_mut()) {
        im2col(sample, window, geometry.output, cols.view_mut());
        let mut out = out
            .view_mut()
            .into_shape_with_order((out_channels, oh * ow))
            .expect("output is contiguous");
        for g in 0..groups {
            let w_g = weight_rows.slice(s![geometry.out_range(g), ..]);
            let cols_g = cols.slice(s![geometry.col_range(g), ..]);
            ndarray::linalg::general_mat_mul(
                1.0,
                &w_g,
                &cols_g,
                0.0,
                &mut out.slice_mut(s![geometry.out_range(g), ..]),
            );
        }
        if let Some(bias) = bias {
            for (mut row, &b) in out.outer_iter_mut().zip(bias.iter()) {
                row += b;
            }
        }
    }
    output
}

/// Gradient of the loss with respect to the convolution's input.
///
/// # Shapes
/// - `grad_output`: `[N, O, OH, OW]`
/// - `weight`: `[O, C / groups, KH, KW]`
/// - `input_size`: the input's `[H, W]`
/// - returns `[N, C, H, W]`
///
/// # Panics
/// If the shapes disagree (see [`conv2d`]).
#[track_caller]
pub fn conv2d_grad_input(
    grad_output: ArrayView4<f32>,
    weight: ArrayView4<f32>,
    input_size: [usize; 2],
    window: &Window2d,
    groups: usize,
) -> Array4<f32> {
    let (n, out_channels, oh, ow) = grad_output.dim();
    let c = weight.dim().1 * groups;
    let geometry = Geometry::new(c, out_channels, input_size, weight, window, groups);
    assert_eq!(
        geometry.output,
        [oh, ow],
        "grad_output does not match the convolution's output size"
    );
    let weight_rows = weight_matrix(weight);
    let mut grad_input = Array4::<f32>::zeros((n, c, input_size[0], input_size[1]));
    let mut grad_cols = Array2::<f32>::zeros((c * geometry.kernel_area, oh * ow));
    // Each sample's gradient is reshaped to a matrix below, which needs row-major memory.
    let grad_output = grad_output.as_standard_layout();
    for (dy, dx) in grad_output.outer_iter().zip(grad_input.outer_iter_mut()) {
        let dy = dy
            .into_shape_with_order((out_channels, oh * ow))
            .expect("grad_output is contiguous");
        for g in 0..groups {
            let w_g = weight_rows.slice(s![geometry.out_range(g), ..]);
            let dy_g = dy.slice(s![geometry.out_range(g), ..]);
            let mut dcols_g = grad_cols.slice_mut(s![geometry.col_range(g), ..]);
            ndarray::linalg::general_mat_mul(1.0, &w_g.t(), &dy_g, 0.0, &mut dcols_g);
        }
        col2im(grad_cols.view(), window, geometry.output, dx);
    }
    grad_input
}

/// Gradient of the loss with respect to the convolution's weight, summed over the batch.
///
/// # Shapes
/// - `input`: `[N, C, H, W]`
/// - `grad_output`: `[N, O, OH, OW]`
/// - returns `[O, C / groups, KH, KW]`
///
/// # Panics
/// If the shapes disagree (see [`conv2d`]).
#[track_caller]
pub fn conv2d_grad_weight(
    input: ArrayView4<f32>,
    grad_output: ArrayView4<f32>,
    window: &Window2d,
    groups: usize,
) -> Array4<f32> {
    let (_, c, h, w) = input.dim();
    let (_, out_channels, oh, ow) = grad_output.dim();
    let [kh, kw] = window.kernel_size;
    let mut grad_weight = Array4::<f32>::zeros((out_channels, c / groups, kh, kw));
    let geometry = Geometry::new(c, out_channels, [h, w], grad_weight.view(), window, groups);
    assert_eq!(
        geometry.output,
        [oh, ow],
        "grad_output does not match the convolution's output size"
    );
    let mut cols = Array2::<f32>::zeros((c * geometry.kernel_area, oh * ow));
    {
        let mut dw_rows = grad_weight
            .view_mut()
            .into_shape_with_order((out_channels, (c / groups) * geometry.kernel_area))
            .expect("fresh array is contiguous");
        // Each sample's gradient is reshaped to a matrix below, which needs row-major memory.
        let grad_output = grad_output.as_standard_layout();
        for (x, dy) in input.outer_iter().zip(grad_output.outer_iter()) {
            im2col(x, window, geometry.output, cols.view_mut());
            let dy = dy
                .into_shape_with_order((out_channels, oh * ow))
                .expect("grad_output is contiguous");
            for g in 0..groups {
                let dy_g = dy.slice(s![geometry.out_range(g), ..]);
                let cols_g = cols.slice(s![geometry.col_range(g), ..]);
                let mut dw_g = dw_rows.slice_mut(s![geometry.out_range(g), ..]);
                ndarray::linalg::general_mat_mul(1.0, &dy_g, &cols_g.t(), 1.0, &mut dw_g);
            }
        }
    }
    grad_weight
}

/// Unrolls the receptive fields of one sample into the columns of `cols`.
///
/// Row `(c·KH + kh)·KW + kw`, column `oh·OW + ow` holds
/// `input[c, oh·sh + kh·dh − ph, ow·sw + kw·dw − pw]`, or 0 where that falls
/// in the padding.
///
/// # Shapes
/// `input`: `[C, H, W]`; `output_size`: `[OH, OW]`; `cols`: `[C·KH·KW, OH·OW]`.
///
/// # Panics
/// If `cols` has the wrong shape or is not contiguous.
#[track_caller]
pub fn im2col(
    input: ArrayView3<f32>,
    window: &Window2d,
    output_size: [usize; 2],
    mut cols: ArrayViewMut2<f32>,
) {
    let (c, h, w) = input.dim();
    let [kh, kw] = window.kernel_size;
    let [oh, ow] = output_size;
    assert_eq!(
        cols.dim(),
        (c * kh * kw, oh * ow),
        "cols has the wrong shape"
    );
    let input = input.as_standard_layout();
    let input = input.as_slice().expect("standard layout");
    let cols = cols.as_slice_mut().expect("cols must be contiguous");
    for (row, col_row) in cols.chunks_exact_mut(oh * ow).enumerate() {
        let (ci, k) = (row / (kh * kw), row % (kh * kw));
        let plane = &input[ci * h * w..(ci + 1) * h * w];
        let (dy, dx) = (k / kw * window.dilation[0], k % kw * window.dilation[1]);
        for (oy, out_line) in col_row.chunks_exact_mut(ow).enumerate() {
            let Some(iy) = (oy * window.stride[0] + dy)
                .checked_sub(window.padding[0])
                .filter(|&iy| iy < h)
            else {
                out_line.fill(0.0);
                continue;
            };
            let line = &plane[iy * w..(iy + 1) * w];
            for (ox, out) in out_line.iter_mut().enumerate() {
                let ix = (ox * window.stride[1] + dx).wrapping_sub(window.padding[1]);
                *out = if ix < w { line[ix] } else { 0.0 };
            }
        }
    }
}

/// Folds columns back onto an input-shaped gradient, adding where receptive fields overlap.
/// The adjoint of [`im2col`]: it *adds into* `grad_input`.
///
/// # Shapes
/// `cols`: `[C·KH·KW, OH·OW]`; `output_size`: `[OH, OW]`; `grad_input`: `[C, H, W]`.
///
/// # Panics
/// If `cols` has the wrong shape or `grad_input` is not contiguous.
#[track_caller]
pub fn col2im(
    cols: ArrayView2<f32>,
    window: &Window2d,
    output_size: [usize; 2],
    mut grad_input: ArrayViewMut3<f32>,
) {
    let (c, h, w) = grad_input.dim();
    let [kh, kw] = window.kernel_size;
    let [oh, ow] = output_size;
    assert_eq!(
        cols.dim(),
        (c * kh * kw, oh * ow),
        "cols has the wrong shape"
    );
    let cols = cols.as_standard_layout();
    let cols = cols.as_slice().expect("standard layout");
    let grad_input = grad_input
        .as_slice_mut()
        .expect("grad_input must be contiguous");
    for (row, col_row) in cols.chunks_exact(oh * ow).enumerate() {
        let (ci, k) = (row / (kh * kw), row % (kh * kw));
        let plane = &mut grad_input[ci * h * w..(ci + 1) * h * w];
        let (dy, dx) = (k / kw * window.dilation[0], k % kw * window.dilation[1]);
        for (oy, in_line) in col_row.chunks_exact(ow).enumerate() {
            let Some(iy) = (oy * window.stride[0] + dy)
                .checked_sub(window.padding[0])
                .filter(|&iy| iy < h)
            else {
                continue;
            };
            let line = &mut plane[iy * w..(iy + 1) * w];
            for (ox, &v) in in_line.iter().enumerate() {
                let ix = (ox * window.stride[1] + dx).wrapping_sub(window.padding[1]);
                if ix < w {
                    line[ix] += v;
                }
            }
        }
    }
}

/// The weight as a `[O, C/g·KH·KW]` matrix (a view when the weight is contiguous).
fn weight_matrix(weight: ArrayView4<f32>) -> Array2<f32> {
    let (o, cg, kh, kw) = weight.dim();
    weight
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((o, cg * kh * kw))
        .expect("standard layout")
}

/// Sizes shared by the three kernels, checked once.
struct Geometry {
    output: [usize; 2],
    kernel_area: usize,
    in_per_group: usize,
    out_per_group: usize,
}

impl Geometry {
    #[track_caller]
    fn new(
        in_channels: usize,
        out_channels: usize,
        input_size: [usize; 2],
        weight: ArrayView4<f32>,
        window: &Window2d,
        groups: usize,
    ) -> Self {
        let (o, cg, kh, kw) = weight.dim();
        assert!(
            groups >= 1 && in_channels % groups == 0 && out_channels % groups == 0,
            "groups must divide both channel counts"
        );
        assert_eq!(
            o, out_channels,
            "weight has {o} output channels, expected {out_channels}"
        );
        assert_eq!(
            cg * groups,
            in_channels,
            "weight has {cg} input channels per group, input has {in_channels} in {groups} groups"
        );
        assert_eq!(
            [kh, kw],
            window.kernel_size,
            "weight kernel does not match the window"
        );
        let output = window
            .output_size(input_size)
            .expect("window does not fit the padded input");
        Self {
            output,
            kernel_area: kh * kw,
            in_per_group: cg,
            out_per_group: o / groups,
        }
    }

    fn out_range(&self, group: usize) -> std::ops::Range<usize> {
        group * self.out_per_group..(group + 1) * self.out_per_group
    }

    fn col_range(&self, group: usize) -> std::ops::Range<usize> {
        let rows = self.in_per_group * self.kernel_area;
        group * rows..(group + 1) * rows
    }
}

/// Sums `grad_output` over batch and space: the bias gradient, `[O]`.
pub fn conv2d_grad_bias(grad_output: ArrayView4<f32>) -> ndarray::Array1<f32> {
    grad_output
        .sum_axis(Axis(3))
        .sum_axis(Axis(2))
        .sum_axis(Axis(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    /// Direct six-loop convolution, the definition the fast path must agree with.
    fn naive(
        x: ArrayView4<f32>,
        wt: ArrayView4<f32>,
        win: &Window2d,
        groups: usize,
    ) -> Array4<f32> {
        let (n, c, h, w) = x.dim();
        let (o, cg, kh, kw) = wt.dim();
        let [oh, ow] = win.output_size([h, w]).unwrap();
        let og = o / groups;
        Array4::from_shape_fn((n, o, oh, ow), |(b, oc, y, xx)| {
            let g = oc / og;
            let mut acc = 0.0;
            for ci in 0..cg {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let iy = (y * win.stride[0] + ky * win.dilation[0]) as isize
                            - win.padding[0] as isize;
                        let ix = (xx * win.stride[1] + kx * win.dilation[1]) as isize
                            - win.padding[1] as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            acc += x[[b, g * cg + ci, iy as usize, ix as usize]]
                                * wt[[oc, ci, ky, kx]];
                        }
                    }
                }
            }
            let _ = c;
            acc
        })
    }

    fn ramp(shape: (usize, usize, usize, usize), scale: f32) -> Array4<f32> {
        let len = shape.0 * shape.1 * shape.2 * shape.3;
        Array::from_shape_fn(len, |i| ((i * 7919) % 23) as f32 * scale - 1.0)
            .into_shape_with_order(shape)
            .unwrap()
    }

    #[test]
    fn matches_direct_convolution_with_stride_padding_dilation_and_groups() {
        let win = Window2d {
            kernel_size: [3, 2],
            stride: [2, 1],
            padding: [1, 2],
            dilation: [1, 2],
        };
        let x = ramp((2, 4, 7, 6), 0.1);
        let wt = ramp((6, 2, 3, 2), 0.07);
        let y = conv2d(x.view(), wt.view(), None, &win, 2);
        let expected = naive(x.view(), wt.view(), &win, 2);
        assert_eq!(y.dim(), expected.dim());
        for (a, b) in y.iter().zip(expected.iter()) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn backward_products_are_adjoint_to_forward() {
        // <conv(x, w), dy> = <x, grad_input(dy, w)> = <w, grad_weight(x, dy)>: the
        // defining property of the two backward products, checked exactly in f64 sums.
        let win = Window2d {
            kernel_size: [2, 3],
            stride: [1, 2],
            padding: [1, 1],
            dilation: [2, 1],
        };
        let x = ramp((2, 2, 6, 7), 0.1);
        let wt = ramp((4, 1, 2, 3), 0.05);
        let y = conv2d(x.view(), wt.view(), None, &win, 2);
        let dy = ramp(y.dim(), 0.03);
        let dot = |a: &Array4<f32>, b: &Array4<f32>| {
            a.iter()
                .zip(b)
                .map(|(p, q)| *p as f64 * *q as f64)
                .sum::<f64>()
        };
        let lhs = dot(&y, &dy);
        let gx = conv2d_grad_input(dy.view(), wt.view(), [6, 7], &win, 2);
        let gw = conv2d_grad_weight(x.view(), dy.view(), &win, 2);
        assert!((lhs - dot(&x, &gx)).abs() < 1e-4 * lhs.abs().max(1.0));
        assert!((lhs - dot(&wt, &gw)).abs() < 1e-4 * lhs.abs().max(1.0));
    }
}
