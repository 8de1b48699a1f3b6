//! Window pooling: max (recording where each maximum came from) and average.
//!
//! Both follow PyTorch's floor mode: windows that would hang over the padded
//! edge are dropped, so the output size is [`Window2d::output_size`].
//!
//! **Ties in max pooling.** When several elements of a window share the
//! maximum, the *first* in row-major order wins and receives the whole
//! gradient, as in PyTorch's CPU kernel. A NaN anywhere in a window wins, so
//! NaN propagates (PyTorch does the same).

use crate::Window2d;
use ndarray::{Array4, ArrayView4, Zip};

/// Max pooling: `F.max_pool2d(input, …, return_indices=True)`.
///
/// Returns the pooled values and, for each, the index of the winning input
/// element within its `H×W` plane (`row·W + col`), which is all the backward
/// pass needs. Padding counts as −∞, so it never wins.
///
/// # Shapes
/// `input`: `[N, C, H, W]` → both outputs `[N, C, OH, OW]`.
///
/// # Panics
/// If the window does not fit the padded input, or a window lies entirely in
/// the padding (impossible when `padding ≤ kernel/2`, which the layer enforces).
///
/// ```
/// use ndarray::array;
/// use scratchnet_tensor::{pool::max_pool2d, Window2d};
/// let x = array![[[[1.0f32, 3.0], [3.0, 2.0]]]];
/// let (y, argmax) = max_pool2d(x.view(), &Window2d::pool([2, 2]));
/// assert_eq!(y[[0, 0, 0, 0]], 3.0);
/// assert_eq!(argmax[[0, 0, 0, 0]], 1); // the first 3.0 in row-major order
/// ```
#[track_caller]
pub fn max_pool2d(input: ArrayView4<f32>, window: &Window2d) -> (Array4<f32>, Array4<u32>) {
    let (n, c, h, w) = input.dim();
    let [oh, ow] = window
        .output_size([h, w])
        .expect("pooling window does not fit the padded input");
    let mut output = Array4::<f32>::zeros((n, c, oh, ow));
    let mut argmax = Array4::<u32>::zeros((n, c, oh, ow));
    let input = input.as_standard_layout();
    let planes = input
        .as_slice()
        .expect("standard layout")
        .chunks_exact(h * w);
    let out_planes = output
        .as_slice_mut()
        .expect("fresh")
        .chunks_exact_mut(oh * ow);
    let idx_planes = argmax
        .as_slice_mut()
        .expect("fresh")
        .chunks_exact_mut(oh * ow);
    for ((plane, out), idx) in planes.zip(out_planes).zip(idx_planes) {
        for oy in 0..oh {
            let rows = window_taps(oy, 0, window, h).step_by(window.dilation[0]);
            for ox in 0..ow {
                let cols = window_taps(ox, 1, window, w).step_by(window.dilation[1]);
                let mut best = f32::NEG_INFINITY;
                let mut best_index = usize::MAX;
                for iy in rows.clone() {
                    for ix in cols.clone() {
                        let v = plane[iy * w + ix];
                        if v > best || v.is_nan() || best_index == usize::MAX {
                            best = v;
                            best_index = iy * w + ix;
                            if v.is_nan() {
                                break;
                            }
                        }
                    }
                }
                assert!(
                    best_index != usize::MAX,
                    "a pooling window lies entirely in the padding"
                );
                out[oy * ow + ox] = best;
                idx[oy * ow + ox] = best_index as u32;
            }
        }
    }
    (output, argmax)
}

/// Gradient of max pooling: each output gradient goes to its window's winner.
/// Overlapping windows that share a winner add their gradients.
///
/// # Shapes
/// `grad_output`, `argmax`: `[N, C, OH, OW]`; `input_size`: `[H, W]` → `[N, C, H, W]`.
///
/// # Panics
/// If `grad_output` and `argmax` differ in shape or an index is outside `H×W`.
#[track_caller]
pub fn max_pool2d_backward(
    grad_output: ArrayView4<f32>,
    argmax: ArrayView4<u32>,
    input_size: [usize; 2],
) -> Array4<f32> {
    let (n, c, _, _) = grad_output.dim();
    assert_eq!(
        grad_output.dim(),
        argmax.dim(),
        "grad_output and argmax differ in shape"
    );
    let [h, w] = input_size;
    let mut grad_input = Array4::<f32>::zeros((n, c, h, w));
    for ((mut dx, dy), idx) in grad_input
        .outer_iter_mut()
        .zip(grad_output.outer_iter())
        .zip(argmax.outer_iter())
    {
        for ((mut dx_plane, dy_plane), idx_plane) in dx
            .outer_iter_mut()
            .zip(dy.outer_iter())
            .zip(idx.outer_iter())
        {
            let dx_plane = dx_plane.as_slice_mut().expect("fresh array is contiguous");
            Zip::from(&dy_plane)
                .and(&idx_plane)
                .for_each(|&g, &i| dx_plane[i as usize] += g);
        }
    }
    grad_input
}

/// Average pooling: `F.avg_pool2d` (without dilation, which PyTorch does not offer either).
///
/// With `count_include_pad`, every window divides by `KH·KW`; without it, by
/// the number of real (non-padding) elements it covers.
///
/// # Shapes
/// `input`: `[N, C, H, W]` → `[N, C, OH, OW]`.
///
/// # Panics
/// If the window does not fit the padded input or has a dilation other than 1.
#[track_caller]
pub fn avg_pool2d(
    input: ArrayView4<f32>,
    window: &Window2d,
    count_include_pad: bool,
) -> Array4<f32> {
    let (n, c, h, w) = input.dim();
    let [oh, ow] = window
        .output_size([h, w])
        .expect("pooling window does not fit the padded input");
    assert_eq!(window.dilation, [1, 1], "average pooling has no dilation");
    let mut output = Array4::<f32>::zeros((n, c, oh, ow));
    let input = input.as_standard_layout();
    let planes = input
        .as_slice()
        .expect("standard layout")
        .chunks_exact(h * w);
    for (plane, out) in planes.zip(
        output
            .as_slice_mut()
            .expect("fresh")
            .chunks_exact_mut(oh * ow),
    ) {
        for oy in 0..oh {
            let rows = window_taps(oy, 0, window, h);
            for ox in 0..ow {
                let cols = window_taps(ox, 1, window, w);
                let sum: f32 = rows
                    .clone()
                    .map(|iy| {
                        plane[iy * w + cols.start..iy * w + cols.end]
                            .iter()
                            .sum::<f32>()
                    })
                    .sum();
                out[oy * ow + ox] =
                    sum / avg_divisor(window, count_include_pad, rows.len(), cols.len());
            }
        }
    }
    output
}

/// Gradient of average pooling: each output gradient is spread equally over
/// the real elements of its window (divided by the same divisor as forward).
///
/// # Shapes
/// `grad_output`: `[N, C, OH, OW]`; `input_size`: `[H, W]` → `[N, C, H, W]`.
///
/// # Panics
/// If `grad_output` is not the pooled size of `input_size`.
#[track_caller]
pub fn avg_pool2d_backward(
    grad_output: ArrayView4<f32>,
    input_size: [usize; 2],
    window: &Window2d,
    count_include_pad: bool,
) -> Array4<f32> {
    let (n, c, oh, ow) = grad_output.dim();
    let [h, w] = input_size;
    assert_eq!(
        window.output_size(input_size),
        Some([oh, ow]),
        "grad_output is not the pooled size of the input"
    );
    let mut grad_input = Array4::<f32>::zeros((n, c, h, w));
    let grad_output = grad_output.as_standard_layout();
    let dy_planes = grad_output
        .as_slice()
        .expect("standard layout")
        .chunks_exact(oh * ow);
    for (dy, dx) in dy_planes.zip(
        grad_input
            .as_slice_mut()
            .expect("fresh")
            .chunks_exact_mut(h * w),
    ) {
        for oy in 0..oh {
            let rows = window_taps(oy, 0, window, h);
            for ox in 0..ow {
                let cols = window_taps(ox, 1, window, w);
                let share = dy[oy * ow + ox]
                    / avg_divisor(window, count_include_pad, rows.len(), cols.len());
                for iy in rows.clone() {
                    dx[iy * w + cols.start..iy * w + cols.end]
                        .iter_mut()
                        .for_each(|g| *g += share);
                }
            }
        }
    }
    grad_input
}

fn avg_divisor(
    window: &Window2d,
    count_include_pad: bool,
    real_rows: usize,
    real_cols: usize,
) -> f32 {
    if count_include_pad {
        (window.kernel_size[0] * window.kernel_size[1]) as f32
    } else {
        (real_rows * real_cols) as f32
    }
}

/// The input rows (`dim = 0`) or columns (`dim = 1`) that output position
/// `out` of a window spans, padding excluded: its taps are this range stepped
/// by the dilation.
fn window_taps(out: usize, dim: usize, window: &Window2d, len: usize) -> std::ops::Range<usize> {
    let start = out * window.stride[dim];
    let pad = window.padding[dim];
    let dilation = window.dilation[dim];
    let end = (start + window.effective_kernel()[dim])
        .saturating_sub(pad)
        .min(len);
    // First tap at or after the padding: start + k·dilation ≥ pad.
    let first_k = pad.saturating_sub(start).div_ceil(dilation);
    let first = start + first_k * dilation - pad;
    first.min(end)..end
}
