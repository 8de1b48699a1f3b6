//! [`im2col`] and its adjoint [`col2im`]: a sample's receptive fields as the columns
//! of a matrix, and that matrix folded back onto the input.

use crate::Window2d;
use ndarray::{ArrayView2, ArrayView3, ArrayViewMut2, ArrayViewMut3};

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
    im2col_slice(input, [c, h, w], window, output_size, cols);
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
    col2im_slice(cols, [c, h, w], window, output_size, grad_input);
}

/// The columns `lo..hi` of an output row whose input column
/// `ox·stride + offset − pad` lies inside `0..len`.
#[inline]
fn valid_span(
    out_len: usize,
    len: usize,
    stride: usize,
    offset: usize,
    pad: usize,
) -> (usize, usize) {
    let lo = if pad > offset {
        (pad - offset).div_ceil(stride)
    } else {
        0
    };
    // The last input column, `len − 1`, is reached from `ox = (len − 1 + pad − offset) / stride`
    // if it lies right of the window's first reach; an empty row (`len = 0`) has none.
    let hi = if len > 0 && len + pad > offset {
        ((len - 1 + pad - offset) / stride + 1).min(out_len)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// [`im2col`] on plain slices (`input` is `[C, H, W]`, `cols` `[C·KH·KW, OH·OW]`).
pub(super) fn im2col_slice(
    input: &[f32],
    [c, h, w]: [usize; 3],
    window: &Window2d,
    [oh, ow]: [usize; 2],
    cols: &mut [f32],
) {
    let [kh, kw] = window.kernel_size;
    let [sh, sw] = window.stride;
    let [ph, pw] = window.padding;
    let [dh, dw] = window.dilation;
    if oh * ow == 0 {
        return;
    }
    for (row, col_row) in cols.chunks_exact_mut(oh * ow).enumerate().take(c * kh * kw) {
        let (ci, k) = (row / (kh * kw), row % (kh * kw));
        let plane = &input[ci * h * w..(ci + 1) * h * w];
        let (oy_off, ox_off) = (k / kw * dh, k % kw * dw);
        let (lo, hi) = valid_span(ow, w, sw, ox_off, pw);
        for (oy, out_line) in col_row.chunks_exact_mut(ow).enumerate() {
            let Some(iy) = (oy * sh + oy_off).checked_sub(ph).filter(|&iy| iy < h) else {
                out_line.fill(0.0);
                continue;
            };
            let line = &plane[iy * w..(iy + 1) * w];
            out_line[..lo].fill(0.0);
            out_line[hi..].fill(0.0);
            if lo < hi {
                let first = lo * sw + ox_off - pw;
                if sw == 1 {
                    out_line[lo..hi].copy_from_slice(&line[first..first + (hi - lo)]);
                } else if sw == 2 {
                    // The first of each pair, which the compiler vectorises (the
                    // strided loop below it does not); the last value may be unpaired.
                    let (out, src) = (&mut out_line[lo..hi], &line[first..]);
                    let paired = (src.len() / 2).min(out.len());
                    for (o, pair) in out[..paired].iter_mut().zip(src.chunks_exact(2)) {
                        *o = pair[0];
                    }
                    for (k, o) in out.iter_mut().enumerate().skip(paired) {
                        *o = src[2 * k];
                    }
                } else {
                    for (out, &v) in out_line[lo..hi]
                        .iter_mut()
                        .zip(line[first..].iter().step_by(sw))
                    {
                        *out = v;
                    }
                }
            }
        }
    }
}

/// [`col2im`] on plain slices: adds `cols` into `grad_input` (`[C, H, W]`).
pub(super) fn col2im_slice(
    cols: &[f32],
    [c, h, w]: [usize; 3],
    window: &Window2d,
    [oh, ow]: [usize; 2],
    grad_input: &mut [f32],
) {
    let [kh, kw] = window.kernel_size;
    let [sh, sw] = window.stride;
    let [ph, pw] = window.padding;
    let [dh, dw] = window.dilation;
    if oh * ow == 0 {
        return;
    }
    for (row, col_row) in cols.chunks_exact(oh * ow).enumerate().take(c * kh * kw) {
        let (ci, k) = (row / (kh * kw), row % (kh * kw));
        let plane = &mut grad_input[ci * h * w..(ci + 1) * h * w];
        let (oy_off, ox_off) = (k / kw * dh, k % kw * dw);
        let (lo, hi) = valid_span(ow, w, sw, ox_off, pw);
        if lo >= hi {
            continue;
        }
        let first = lo * sw + ox_off - pw;
        for (oy, in_line) in col_row.chunks_exact(ow).enumerate() {
            let Some(iy) = (oy * sh + oy_off).checked_sub(ph).filter(|&iy| iy < h) else {
                continue;
            };
            let line = &mut plane[iy * w..(iy + 1) * w];
            if sw == 1 {
                for (g, &v) in line[first..first + (hi - lo)]
                    .iter_mut()
                    .zip(&in_line[lo..hi])
                {
                    *g += v;
                }
            } else if sw == 2 {
                // Into the first of each pair, as im2col reads them (see there).
                let (dst, src) = (&mut line[first..], &in_line[lo..hi]);
                let paired = (dst.len() / 2).min(src.len());
                for (pair, &v) in dst.chunks_exact_mut(2).zip(&src[..paired]) {
                    pair[0] += v;
                }
                for (k, &v) in src.iter().enumerate().skip(paired) {
                    dst[2 * k] += v;
                }
            } else {
                for (g, &v) in line[first..].iter_mut().step_by(sw).zip(&in_line[lo..hi]) {
                    *g += v;
                }
            }
        }
    }
}
