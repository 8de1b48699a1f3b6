//! 2-D convolution (cross-correlation, as in PyTorch), by its definition.

use crate::Window2d;
use ndarray::{s, Array1, Array4, ArrayView1, ArrayView4};

/// Convolution: PyTorch's `F.conv2d(x, w, b, stride, padding, dilation, groups)`.
///
/// ```text
/// y[n, o, i, j] = b[o] + Σ_c,ky,kx w[o, c, ky, kx] · x[n, g·C/G + c, i·s + ky·d − p, j·s + kx·d − p]
/// ```
///
/// where `g = o / (O/G)` is the group of output channel `o` (`G` = `groups`),
/// `c` runs over the `C/G` input channels of that group, `s`, `d`, `p` are the
/// window's stride, dilation and padding on each axis, and taps that fall in
/// the padding read 0, which multiplies the weight as PyTorch's padded input does
/// (so a ±∞ or NaN weight tap there gives NaN, as in PyTorch and the fast tier).
///
/// # Shapes
/// - `input` (`x`): `[N, C, H, W]`
/// - `weight` (`w`): `[O, C/G, KH, KW]`; `bias` (`b`): `[O]`
/// - returns `[N, O, OH, OW]`, `[OH, OW] = window.output_size([H, W])`
///
/// # Panics
/// If `groups` does not divide the channel counts, the weight does not match
/// the input and window, or the window does not fit the padded input.
#[track_caller]
pub fn conv2d(
    input: ArrayView4<f32>,
    weight: ArrayView4<f32>,
    bias: Option<ArrayView1<f32>>,
    window: &Window2d,
    groups: usize,
) -> Array4<f32> {
    let [n, out_channels, oh, ow] = output_dim(input, weight, window, groups);
    let (_, _, h, w) = input.dim();
    let (_, group_channels, kh, kw) = weight.dim();
    Array4::from_shape_fn((n, out_channels, oh, ow), |(s, o, i, j)| {
        let first_channel = o / (out_channels / groups) * group_channels;
        let mut sum = bias.map_or(0.0, |b| b[o]);
        for c in 0..group_channels {
            for ky in 0..kh {
                for kx in 0..kw {
                    let x = window
                        .input_position([i, j], [ky, kx], [h, w])
                        .map_or(0.0, |[y, x]| input[[s, first_channel + c, y, x]]);
                    sum += weight[[o, c, ky, kx]] * x;
                }
            }
        }
        sum
    })
}

/// The three gradients of [`conv2d`], `(grad_input, grad_weight, grad_bias)`,
/// from the gradient `dy` of its output. With `x[n, g·C/G + c, i·s + ky·d − p, j·s + kx·d − p]`
/// written `x[·]` (the input element that tap `(c, ky, kx)` of output `(n, o, i, j)` reads):
///
/// ```text
/// dx[n, g·C/G + c, i·s + ky·d − p, j·s + kx·d − p] += w[o, c, ky, kx] · dy[n, o, i, j]   (summed over o, i, j, ky, kx)
/// dw[o, c, ky, kx] = Σ_n,i,j dy[n, o, i, j] · x[·]
/// db[o]            = Σ_n,i,j dy[n, o, i, j]
/// ```
///
/// Taps in the padding read 0: nothing to `dx`, and `dy · 0` to `dw` (NaN where `dy`
/// is ±∞ or NaN, as in PyTorch, whose weight gradient reads the padded input).
///
/// # Shapes
/// - `input`: `[N, C, H, W]`; `weight`: `[O, C/G, KH, KW]`
/// - `grad_output`: `[N, O, OH, OW]`
/// - returns `[N, C, H, W]`, `[O, C/G, KH, KW]`, `[O]`
///
/// # Panics
/// As [`conv2d`], or if `grad_output` is not the shape of its output.
#[track_caller]
pub fn conv2d_backward(
    input: ArrayView4<f32>,
    weight: ArrayView4<f32>,
    grad_output: ArrayView4<f32>,
    window: &Window2d,
    groups: usize,
) -> (Array4<f32>, Array4<f32>, Array1<f32>) {
    let output_dim = output_dim(input, weight, window, groups);
    assert_eq!(
        grad_output.shape(),
        output_dim,
        "grad_output is not the shape of the convolution's output"
    );
    let out_channels = output_dim[1];
    let (_, _, h, w) = input.dim();
    let group_channels = weight.dim().1;
    let mut grad_input = Array4::zeros(input.dim());
    let mut grad_weight = Array4::zeros(weight.dim());
    let mut grad_bias = Array1::zeros(out_channels);
    for ((s, o, i, j), &dy) in grad_output.indexed_iter() {
        let first_channel = o / (out_channels / groups) * group_channels;
        grad_bias[o] += dy;
        for ((c, ky, kx), &w_tap) in weight.slice(s![o, .., .., ..]).indexed_iter() {
            match window.input_position([i, j], [ky, kx], [h, w]) {
                Some([y, x]) => {
                    grad_weight[[o, c, ky, kx]] += dy * input[[s, first_channel + c, y, x]];
                    grad_input[[s, first_channel + c, y, x]] += w_tap * dy;
                }
                None => grad_weight[[o, c, ky, kx]] += dy * 0.0,
            }
        }
    }
    (grad_input, grad_weight, grad_bias)
}

/// `[N, O, OH, OW]` of the convolution, after checking that the shapes agree.
#[track_caller]
fn output_dim(
    input: ArrayView4<f32>,
    weight: ArrayView4<f32>,
    window: &Window2d,
    groups: usize,
) -> [usize; 4] {
    let (n, channels, h, w) = input.dim();
    let (out_channels, group_channels, kh, kw) = weight.dim();
    assert!(
        groups >= 1 && channels % groups == 0 && out_channels % groups == 0,
        "groups must divide both channel counts"
    );
    assert_eq!(
        group_channels * groups,
        channels,
        "weight has the wrong input channels"
    );
    assert_eq!(
        [kh, kw],
        window.kernel_size,
        "weight kernel does not match the window"
    );
    let [oh, ow] = window
        .output_size([h, w])
        .expect("window does not fit the padded input");
    [n, out_channels, oh, ow]
}
