//! Max pooling, by its definition.

use crate::Window2d;
use ndarray::{s, Array4, ArrayView2, ArrayView4};

/// Max pooling: PyTorch's `F.max_pool2d(x, …, return_indices=True)`.
///
/// ```text
/// y[n, c, i, j]      = max_ky,kx x[n, c, i·s + ky·d − p, j·s + kx·d − p]
/// argmax[n, c, i, j] = row·W + col of that maximum in its H×W plane
/// ```
///
/// Padding counts as −∞ (it never wins). **Ties**: the first maximum in
/// row-major order over the window wins. **NaN** wins over any number (so it
/// propagates), and so does each later NaN: the last NaN of the window wins, as in
/// PyTorch's CPU kernel (`val > maxval || isnan(val)`).
///
/// # Shapes
/// `input`: `[N, C, H, W]` → both outputs `[N, C, OH, OW]`.
///
/// # Panics
/// If the window does not fit the padded input or lies entirely in the padding.
#[track_caller]
pub fn max_pool2d(input: ArrayView4<f32>, window: &Window2d) -> (Array4<f32>, Array4<u32>) {
    let (n, c, h, w) = input.dim();
    let [oh, ow] = window
        .output_size([h, w])
        .expect("pooling window does not fit the padded input");
    let mut output = Array4::zeros((n, c, oh, ow));
    let mut argmax = Array4::zeros((n, c, oh, ow));
    for ((s, ch, i, j), y) in output.indexed_iter_mut() {
        let (value, index) = window_max(input.slice(s![s, ch, .., ..]), window, [i, j]);
        *y = value;
        argmax[[s, ch, i, j]] = index;
    }
    (output, argmax)
}

/// The gradient of [`max_pool2d`]: each output's gradient goes to its window's
/// winner, `dx[n, c, argmax / W, argmax % W] += dy[n, c, i, j]` (overlapping
/// windows that share a winner add up; every other input gets 0).
///
/// # Shapes
/// `grad_output`, `argmax`: `[N, C, OH, OW]`; `input_size`: `[H, W]` → `[N, C, H, W]`.
///
/// # Panics
/// If `argmax` is smaller than `grad_output` or holds an index outside `H×W`.
#[track_caller]
pub fn max_pool2d_backward(
    grad_output: ArrayView4<f32>,
    argmax: ArrayView4<u32>,
    input_size: [usize; 2],
) -> Array4<f32> {
    let (n, c, _, _) = grad_output.dim();
    let [h, w] = input_size;
    let mut grad_input = Array4::zeros((n, c, h, w));
    for ((s, ch, i, j), &dy) in grad_output.indexed_iter() {
        let index = argmax[[s, ch, i, j]] as usize;
        grad_input[[s, ch, index / w, index % w]] += dy;
    }
    grad_input
}

/// The maximum of the window at output position `output_index` over `plane`,
/// and its index `row·W + col`: first maximum wins, a NaN beats anything before it.
#[track_caller]
fn window_max(plane: ArrayView2<f32>, window: &Window2d, output_index: [usize; 2]) -> (f32, u32) {
    let (h, w) = plane.dim();
    let [kh, kw] = window.kernel_size;
    let mut best: Option<(f32, usize)> = None;
    for ky in 0..kh {
        for kx in 0..kw {
            let Some([y, x]) = window.input_position(output_index, [ky, kx], [h, w]) else {
                continue; // padding: −∞ never wins
            };
            let v = plane[[y, x]];
            let wins = match best {
                None => true,
                Some((max, _)) => v > max || v.is_nan(),
            };
            if wins {
                best = Some((v, y * w + x));
            }
        }
    }
    let (max, index) = best.expect("a pooling window lies entirely in the padding");
    (max, index as u32)
}
