//! Average pooling, by its definition.

use crate::Window2d;
use ndarray::{Array4, ArrayView4};

/// Average pooling: PyTorch's `F.avg_pool2d(x, …, count_include_pad)` (no dilation).
///
/// ```text
/// y[n, c, i, j] = (1/D) Σ_ky,kx x[n, c, i·s + ky − p, j·s + kx − p]   (taps in the padding add 0)
/// ```
///
/// The divisor `D` is `KH·KW` with `count_include_pad`, else the number of
/// taps that land inside the input.
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
    let [oh, ow] = pooled_size(window, [h, w]);
    Array4::from_shape_fn((n, c, oh, ow), |(s, ch, i, j)| {
        let taps = real_taps(window, [i, j], [h, w]);
        let sum: f32 = taps.iter().map(|&[y, x]| input[[s, ch, y, x]]).sum();
        sum / divisor(window, count_include_pad, taps.len())
    })
}

/// The gradient of [`avg_pool2d`]: each output's gradient is shared equally,
/// `/ D`, by the input elements of its window (overlapping windows add up):
///
/// ```text
/// dx[n, c, i·s + ky − p, j·s + kx − p] += dy[n, c, i, j] / D
/// ```
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
        pooled_size(window, input_size),
        [oh, ow],
        "grad_output is not the pooled size of the input"
    );
    let mut grad_input = Array4::zeros((n, c, h, w));
    for ((s, ch, i, j), &dy) in grad_output.indexed_iter() {
        let taps = real_taps(window, [i, j], [h, w]);
        let share = dy / divisor(window, count_include_pad, taps.len());
        for [y, x] in taps {
            grad_input[[s, ch, y, x]] += share;
        }
    }
    grad_input
}

#[track_caller]
fn pooled_size(window: &Window2d, input_size: [usize; 2]) -> [usize; 2] {
    assert_eq!(window.dilation, [1, 1], "average pooling has no dilation");
    window
        .output_size(input_size)
        .expect("pooling window does not fit the padded input")
}

/// The input positions of the window at `output_index`, in row-major order, padding left out.
fn real_taps(
    window: &Window2d,
    output_index: [usize; 2],
    input_size: [usize; 2],
) -> Vec<[usize; 2]> {
    let [kh, kw] = window.kernel_size;
    (0..kh)
        .flat_map(|ky| (0..kw).map(move |kx| [ky, kx]))
        .filter_map(|tap| window.input_position(output_index, tap, input_size))
        .collect()
}

/// `D`: the whole window with `count_include_pad`, else its `real_taps` taps.
fn divisor(window: &Window2d, count_include_pad: bool, real_taps: usize) -> f32 {
    if count_include_pad {
        (window.kernel_size[0] * window.kernel_size[1]) as f32
    } else {
        real_taps as f32
    }
}
