//! Window pooling: max (recording where each maximum came from) and average.
//!
//! Both follow PyTorch's floor mode: windows that would hang over the padded
//! edge are dropped, so the output size is [`Window2d::output_size`].
//!
//! **Ties in max pooling.** When several elements of a window share the
//! maximum, the *first* in row-major order wins and receives the whole
//! gradient, as in PyTorch's CPU kernel. A NaN anywhere in a window wins, so
//! NaN propagates, and of several NaNs the last wins (PyTorch does the same).
//!
//! **Speed.** The batch runs in chunks of [`split_chunk`] samples on rayon's
//! pool (the results do not depend on the thread count: nothing is summed
//! across chunks). *Tiled* windows — stride equal to the kernel, no padding,
//! no dilation, the usual `2×2` pooling — have their own loops: a window's
//! winner is kept as its position inside the window (one byte, see
//! [`MaxPoolIndices`]), and the backward pass writes each window's gradient
//! straight to its winner. `2×2` max pooling is vectorised with AVX2 when the CPU has it.
//!
//! **Reference tier.** With [`Kernels::Reference`](crate::kernels::Kernels)
//! chosen, every function here runs its [`reference`](mod@reference) counterpart instead;
//! [`MaxPoolIndices`] records which tier filled it, so its backward follows.

use crate::kernels::use_reference;
use crate::parallel::{par_build, split_chunk};
use crate::reference;
use crate::Window2d;
use ndarray::{Array4, ArrayView4};
use std::sync::Mutex;

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
    let mut indices = MaxPoolIndices::default();
    let output = max_pool2d_indexed(input, window, &mut indices);
    let [_, _, _, w] = indices.input_dim;
    let plane: Vec<u32> = match &indices.winners {
        Winners::Local(local) => {
            let [_, _, oh, ow] = indices.output_dim;
            let offsets = indices.local_offsets();
            local
                .iter()
                .enumerate()
                .map(|(i, &code)| {
                    let (oy, ox) = (i / ow % oh, i % ow);
                    let [sh, sw] = window.stride;
                    (oy * sh * w + ox * sw + offsets[code as usize]) as u32
                })
                .collect()
        }
        Winners::Plane(plane) => plane.clone(),
        Winners::Reference(argmax) => return (output, argmax.clone()),
    };
    let argmax = Array4::from_shape_vec(output.dim(), plane).expect("one index per output");
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
    let (n, c, oh, ow) = grad_output.dim();
    assert_eq!(
        grad_output.dim(),
        argmax.dim(),
        "grad_output and argmax differ in shape"
    );
    if use_reference() {
        return reference::max_pool2d_backward(grad_output, argmax, input_size);
    }
    let [h, w] = input_size;
    let dy = grad_output.as_standard_layout();
    let idx = argmax.as_standard_layout();
    let (dy, idx) = (
        dy.as_slice().expect("standard layout"),
        idx.as_slice().expect("standard layout"),
    );
    let planes = n * c;
    let split = split_chunk();
    let (dx, _) = par_build(planes * h * w, split * c * h * w, |chunk, dx| {
        let p0 = chunk * split * c;
        let count = dx.len() / (h * w);
        let range = p0 * oh * ow..(p0 + count) * oh * ow;
        scatter_add(&dy[range.clone()], &idx[range], oh * ow, h * w, dx);
    });
    Array4::from_shape_vec((n, c, h, w), dx).expect("sized above")
}

/// Where each window's maximum came from, as [`max_pool2d_indexed`] records
/// it for [`max_pool2d_indexed_backward`]. Reusable from one batch to the next.
///
/// For tiled windows (stride = kernel, no padding, no dilation) a winner is
/// its position inside its window, `ky·KW + kx`, in one byte; otherwise its
/// index `row·W + col` in the input plane. On the reference tier it holds the
/// argmax of [`reference::max_pool2d`], and its backward is
/// [`reference::max_pool2d_backward`].
#[derive(Clone, Debug, Default)]
pub struct MaxPoolIndices {
    input_dim: [usize; 4],
    output_dim: [usize; 4],
    window: Window2d,
    winners: Winners,
}

#[derive(Clone, Debug)]
enum Winners {
    /// Fast tier, tiled windows: position inside the window.
    Local(Vec<u8>),
    /// Fast tier, other windows: index in the input plane.
    Plane(Vec<u32>),
    /// Reference tier: the argmax of [`reference::max_pool2d`] (plane indices).
    Reference(Array4<u32>),
}

impl Default for Winners {
    fn default() -> Self {
        Self::Local(Vec::new())
    }
}

impl MaxPoolIndices {
    /// `[N, C, H, W]` of the pooled input (zeros before the first forward).
    pub fn input_dim(&self) -> [usize; 4] {
        self.input_dim
    }

    /// `[N, C, OH, OW]` of the output.
    pub fn output_dim(&self) -> [usize; 4] {
        self.output_dim
    }

    /// Offset in the input plane of each position inside a tiled window.
    fn local_offsets(&self) -> Vec<usize> {
        let [kh, kw] = self.window.kernel_size;
        let w = self.input_dim[3];
        (0..kh * kw).map(|k| k / kw * w + k % kw).collect()
    }
}

/// Whether `window` tiles its input: stride = kernel, no padding, no dilation,
/// and a window small enough for a one-byte position.
fn is_tiled(window: &Window2d) -> bool {
    window.stride == window.kernel_size
        && window.padding == [0, 0]
        && window.dilation == [1, 1]
        && window.kernel_size[0] * window.kernel_size[1] <= 256
}

/// Max pooling that records the winners in `indices` (reusing its buffer)
/// for [`max_pool2d_indexed_backward`]. Same values, ties and NaN rule as [`max_pool2d`].
///
/// # Shapes
/// `input`: `[N, C, H, W]` → `[N, C, OH, OW]`.
///
/// # Panics
/// As [`max_pool2d`].
#[track_caller]
pub fn max_pool2d_indexed(
    input: ArrayView4<f32>,
    window: &Window2d,
    indices: &mut MaxPoolIndices,
) -> Array4<f32> {
    let (n, c, h, w) = input.dim();
    let [oh, ow] = window
        .output_size([h, w])
        .expect("pooling window does not fit the padded input");
    let input = input.as_standard_layout();
    let x = input.as_slice().expect("standard layout");
    indices.input_dim = [n, c, h, w];
    indices.output_dim = [n, c, oh, ow];
    indices.window = *window;
    if use_reference() {
        let (output, argmax) = reference::max_pool2d(input.view(), window);
        indices.winners = Winners::Reference(argmax);
        return output;
    }
    let len = n * c * oh * ow;
    let split = split_chunk();
    let chunk_out = split * c * oh * ow;
    let chunk_in = split * c * h * w;
    let tiled = is_tiled(window);
    let output = if tiled {
        let mut local = match std::mem::take(&mut indices.winners) {
            Winners::Local(v) => v,
            _ => Vec::new(),
        };
        local.resize(len, 0);
        let parts: Vec<Mutex<&mut [u8]>> =
            local.chunks_mut(chunk_out.max(1)).map(Mutex::new).collect();
        let (out, _) = par_build(len, chunk_out, |i, out| {
            let mut codes = parts[i].lock().expect("no panics while held");
            let xs = &x[i * chunk_in..(i * chunk_in + chunk_in).min(x.len())];
            for ((plane, out), codes) in xs
                .chunks_exact(h * w)
                .zip(out.chunks_exact_mut(oh * ow))
                .zip(codes.chunks_exact_mut(oh * ow))
            {
                max_tiled_plane(plane, [h, w], window.kernel_size, [oh, ow], out, codes);
            }
        });
        drop(parts);
        indices.winners = Winners::Local(local);
        out
    } else {
        let mut plane_idx = match std::mem::take(&mut indices.winners) {
            Winners::Plane(v) => v,
            _ => Vec::new(),
        };
        plane_idx.resize(len, 0);
        let parts: Vec<Mutex<&mut [u32]>> = plane_idx
            .chunks_mut(chunk_out.max(1))
            .map(Mutex::new)
            .collect();
        let (out, _) = par_build(len, chunk_out, |i, out| {
            let mut idx = parts[i].lock().expect("no panics while held");
            let xs = &x[i * chunk_in..(i * chunk_in + chunk_in).min(x.len())];
            for ((plane, out), idx) in xs
                .chunks_exact(h * w)
                .zip(out.chunks_exact_mut(oh * ow))
                .zip(idx.chunks_exact_mut(oh * ow))
            {
                max_general_plane(plane, [h, w], window, [oh, ow], out, idx);
            }
        });
        drop(parts);
        indices.winners = Winners::Plane(plane_idx);
        out
    };
    Array4::from_shape_vec((n, c, oh, ow), output).expect("sized above")
}

/// Gradient of [`max_pool2d_indexed`]: each output gradient goes to its
/// window's winner (overlapping windows sharing a winner add up).
///
/// # Shapes
/// `grad_output`: `indices.output_dim()` → `indices.input_dim()`.
///
/// # Panics
/// If `grad_output` does not have the recorded output shape.
#[track_caller]
pub fn max_pool2d_indexed_backward(
    grad_output: ArrayView4<f32>,
    indices: &MaxPoolIndices,
) -> Array4<f32> {
    let [n, c, h, w] = indices.input_dim;
    let [_, _, oh, ow] = indices.output_dim;
    assert_eq!(
        <[usize; 4]>::from(grad_output.dim()),
        indices.output_dim,
        "grad_output does not have the pooled shape"
    );
    let dy = grad_output.as_standard_layout();
    let dy = dy.as_slice().expect("standard layout");
    let split = split_chunk();
    let chunk_in = split * c * h * w;
    let chunk_out = split * c * oh * ow;
    let (dx, _) = match &indices.winners {
        Winners::Local(local) => {
            let offsets = indices.local_offsets();
            let [sh, sw] = indices.window.stride;
            par_build(n * c * h * w, chunk_in, |i, dx| {
                let range = i * chunk_out..(i * chunk_out + chunk_out).min(dy.len());
                let (dys, codes) = (&dy[range.clone()], &local[range]);
                for ((dx, dy), codes) in dx
                    .chunks_exact_mut(h * w)
                    .zip(dys.chunks_exact(oh * ow))
                    .zip(codes.chunks_exact(oh * ow))
                {
                    for (oy, (dy, codes)) in
                        dy.chunks_exact(ow).zip(codes.chunks_exact(ow)).enumerate()
                    {
                        let row = &mut dx[oy * sh * w..];
                        for (ox, (&g, &code)) in dy.iter().zip(codes).enumerate() {
                            row[ox * sw + offsets[code as usize]] = g;
                        }
                    }
                }
            })
        }
        Winners::Plane(plane) => par_build(n * c * h * w, chunk_in, |i, dx| {
            let range = i * chunk_out..(i * chunk_out + chunk_out).min(dy.len());
            scatter_add(&dy[range.clone()], &plane[range], oh * ow, h * w, dx);
        }),
        Winners::Reference(argmax) => {
            return reference::max_pool2d_backward(grad_output, argmax.view(), [h, w]);
        }
    };
    Array4::from_shape_vec((n, c, h, w), dx).expect("sized above")
}

/// `dx[plane][idx] += dy` for every output of a run of planes.
fn scatter_add(dy: &[f32], idx: &[u32], out_plane: usize, in_plane: usize, dx: &mut [f32]) {
    for ((dy, idx), dx) in dy
        .chunks_exact(out_plane)
        .zip(idx.chunks_exact(out_plane))
        .zip(dx.chunks_exact_mut(in_plane))
    {
        for (&g, &i) in dy.iter().zip(idx) {
            dx[i as usize] += g;
        }
    }
}

/// Whether `v` replaces `best` as a window's maximum: strictly greater, or a NaN
/// (so the last NaN of a window wins, as in PyTorch).
#[inline(always)]
fn beats(v: f32, best: f32) -> bool {
    v > best || v.is_nan()
}

/// Max pooling of one plane with tiled windows, recording positions inside the window.
fn max_tiled_plane(
    plane: &[f32],
    [_, w]: [usize; 2],
    [kh, kw]: [usize; 2],
    [oh, ow]: [usize; 2],
    out: &mut [f32],
    codes: &mut [u8],
) {
    for oy in 0..oh {
        let rows = &plane[oy * kh * w..];
        let out = &mut out[oy * ow..(oy + 1) * ow];
        let codes = &mut codes[oy * ow..(oy + 1) * ow];
        if [kh, kw] == [2, 2] {
            let (r0, r1) = (&rows[..2 * ow], &rows[w..w + 2 * ow]);
            max_2x2_row(r0, r1, out, codes);
            continue;
        }
        for ox in 0..ow {
            let mut best = rows[ox * kw];
            let mut code = 0usize;
            for k in 1..kh * kw {
                let v = rows[k / kw * w + ox * kw + k % kw];
                if beats(v, best) {
                    best = v;
                    code = k;
                }
            }
            out[ox] = best;
            codes[ox] = code as u8;
        }
    }
}

/// The `2×2` windows a row kernel may fill: as many as every slice has room for
/// (two floats of each input row and one output and one code per window).
#[cfg(target_arch = "x86_64")]
fn whole_windows(r0: &[f32], r1: &[f32], out: &[f32], codes: &[u8]) -> usize {
    out.len()
        .min(codes.len())
        .min(r0.len() / 2)
        .min(r1.len() / 2)
}

/// One row of `2×2` windows over input rows `r0`, `r1` (each `2·OW` long).
fn max_2x2_row(r0: &[f32], r1: &[f32], out: &mut [f32], codes: &mut [u8]) {
    let mut done = 0;
    #[cfg(all(target_arch = "x86_64", rustc_1_89))]
    if crate::simd::has_avx512() {
        // SAFETY: the CPU has AVX-512F (checked just now), all that `max_2x2_row`
        // needs: it bounds its own reads and writes by the slices.
        done = unsafe { avx512::max_2x2_row(r0, r1, out, codes) };
    }
    #[cfg(target_arch = "x86_64")]
    {
        if done == 0 && crate::simd::has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked just now), all that
            // `max_2x2_row` needs: it bounds its own reads and writes by the slices.
            done = unsafe { avx2::max_2x2_row(r0, r1, out, codes) };
        }
    }
    for ox in done..out.len() {
        let cand = [r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]];
        let (mut best, mut code) = (cand[0], 0u8);
        for (k, &v) in cand.iter().enumerate().skip(1) {
            if beats(v, best) {
                best = v;
                code = k as u8;
            }
        }
        out[ox] = best;
        codes[ox] = code;
    }
}

/// Max pooling of one plane with any window, recording plane indices.
fn max_general_plane(
    plane: &[f32],
    [h, w]: [usize; 2],
    window: &Window2d,
    [oh, ow]: [usize; 2],
    out: &mut [f32],
    idx: &mut [u32],
) {
    let [dh, dw] = window.dilation;
    for oy in 0..oh {
        let rows = window_taps(oy, 0, window, h);
        for ox in 0..ow {
            let cols = window_taps(ox, 1, window, w);
            let mut best = f32::NEG_INFINITY;
            let mut best_index = usize::MAX;
            let mut iy = rows.start;
            while iy < rows.end {
                let mut ix = cols.start;
                while ix < cols.end {
                    let v = plane[iy * w + ix];
                    if best_index == usize::MAX || beats(v, best) {
                        best = v;
                        best_index = iy * w + ix;
                    }
                    ix += dw;
                }
                iy += dh;
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

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(all(target_arch = "x86_64", rustc_1_89))]
mod avx512;

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
    if use_reference() {
        return reference::avg_pool2d(input, window, count_include_pad);
    }
    let input = input.as_standard_layout();
    let x = input.as_slice().expect("standard layout");
    let split = split_chunk();
    let chunk_in = split * c * h * w;
    let (out, _) = par_build(n * c * oh * ow, split * c * oh * ow, |i, out| {
        let xs = &x[i * chunk_in..(i * chunk_in + chunk_in).min(x.len())];
        for (plane, out) in xs.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
            for oy in 0..oh {
                let rows = window_taps(oy, 0, window, h);
                for ox in 0..ow {
                    let cols = window_taps(ox, 1, window, w);
                    let mut sum = 0.0f32;
                    for iy in rows.clone() {
                        sum += plane[iy * w + cols.start..iy * w + cols.end]
                            .iter()
                            .sum::<f32>();
                    }
                    out[oy * ow + ox] =
                        sum / avg_divisor(window, count_include_pad, rows.len(), cols.len());
                }
            }
        }
    });
    Array4::from_shape_vec((n, c, oh, ow), out).expect("sized above")
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
    if use_reference() {
        return reference::avg_pool2d_backward(grad_output, input_size, window, count_include_pad);
    }
    let grad_output = grad_output.as_standard_layout();
    let dy = grad_output.as_slice().expect("standard layout");
    let split = split_chunk();
    let chunk_out = split * c * oh * ow;
    let (dx, _) = par_build(n * c * h * w, split * c * h * w, |i, dx| {
        let dys = &dy[i * chunk_out..(i * chunk_out + chunk_out).min(dy.len())];
        for (dy, dx) in dys.chunks_exact(oh * ow).zip(dx.chunks_exact_mut(h * w)) {
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
    });
    Array4::from_shape_vec((n, c, h, w), dx).expect("sized above")
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    /// The definition the fast paths must reproduce exactly.
    fn reference(x: ArrayView4<f32>, window: &Window2d) -> (Array4<f32>, Array4<u32>) {
        crate::reference::max_pool2d(x, window)
    }

    /// Inputs full of ties (few distinct values), some NaNs, odd sizes.
    fn tricky(shape: (usize, usize, usize, usize), nan_every: usize) -> Array4<f32> {
        let len = shape.0 * shape.1 * shape.2 * shape.3;
        Array::from_shape_fn(len, |i| {
            if nan_every > 0 && i % nan_every == 3 {
                f32::NAN
            } else {
                ((i * 7919) % 5) as f32 - 2.0
            }
        })
        .into_shape_with_order(shape)
        .unwrap()
    }

    fn same_bits(a: &Array4<f32>, b: &Array4<f32>) -> bool {
        a.shape() == b.shape() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn fast_paths_match_the_reference_with_ties_and_nans() {
        let windows = [
            Window2d::pool([2, 2]),
            Window2d::pool([3, 3]),
            Window2d {
                kernel_size: [3, 3],
                stride: [2, 2],
                padding: [1, 1],
                dilation: [1, 1],
            },
            Window2d {
                kernel_size: [2, 3],
                stride: [1, 2],
                padding: [0, 1],
                dilation: [2, 1],
            },
        ];
        // 28 and 10 are LeNet's sizes (vector and scalar 2×2 rows); 37×35 leaves floor-mode leftovers.
        for (shape, nan_every) in [
            ((3, 2, 28, 28), 0),
            ((2, 3, 10, 10), 11),
            ((2, 2, 37, 35), 29),
            ((1, 1, 4, 40), 7),
        ] {
            let x = tricky(shape, nan_every);
            for window in &windows {
                let (want_y, want_idx) = reference(x.view(), window);
                let (y, idx) = max_pool2d(x.view(), window);
                assert!(same_bits(&y, &want_y), "{window:?} {shape:?}");
                assert_eq!(idx, want_idx, "{window:?} {shape:?}");
                let mut indices = MaxPoolIndices::default();
                let y2 = max_pool2d_indexed(x.view(), window, &mut indices);
                assert!(same_bits(&y2, &want_y));
                let dy = tricky(y.dim(), 0).mapv(|v| v + 0.5);
                let dx = max_pool2d_indexed_backward(dy.view(), &indices);
                let dx_ref = max_pool2d_backward(dy.view(), idx.view(), [shape.2, shape.3]);
                let mut dx_naive = Array4::<f32>::zeros(x.dim());
                for ((b, ch, oy, ox), &g) in dy.indexed_iter() {
                    let i = want_idx[[b, ch, oy, ox]] as usize;
                    dx_naive[[b, ch, i / shape.3, i % shape.3]] += g;
                }
                assert!(same_bits(&dx, &dx_naive), "{window:?} {shape:?}");
                assert!(same_bits(&dx_ref, &dx_naive));
            }
        }
    }

    /// PyTorch 2.15's values: of several NaNs in a window, the last (row-major) wins,
    /// its bits and its index (`F.max_pool2d(x, 2, return_indices=True)` on this
    /// `2 × 32` plane gives the payloads `…02`, `…04` and the indices 33, 34; on `[NaN,
    /// 1, NaN]` with a `1 × 3` window, index 2). Both tiers, the tiled 2×2 rows included.
    #[test]
    fn of_several_nans_in_a_window_the_last_wins_as_in_pytorch() {
        let nan = |payload: u32| f32::from_bits(0x7fc0_0000 | payload);
        let mut plane = Array4::<f32>::ones((1, 1, 2, 32));
        for ((y, x), payload) in [((0, 0), 1), ((1, 1), 2), ((0, 3), 3), ((1, 2), 4)] {
            plane[[0, 0, y, x]] = nan(payload);
        }
        let row = Array::from_shape_vec((1, 1, 1, 3), vec![nan(1), 1.0, nan(2)]).unwrap();
        for (x, window, bits, argmax) in [
            (
                &plane,
                Window2d::pool([2, 2]),
                vec![nan(2), nan(4), 1.0],
                vec![33, 34, 4],
            ),
            (&row, Window2d::pool([1, 3]), vec![nan(2)], vec![2]),
        ] {
            let (y_ref, argmax_ref) = reference(x.view(), &window);
            let mut indices = MaxPoolIndices::default();
            let y_indexed = max_pool2d_indexed(x.view(), &window, &mut indices);
            let (y, fast_argmax) = max_pool2d(x.view(), &window);
            for (tier, y, got) in [
                ("reference", &y_ref, &argmax_ref),
                ("fast", &y, &fast_argmax),
            ] {
                let got_bits: Vec<u32> = y.iter().take(bits.len()).map(|v| v.to_bits()).collect();
                let want_bits: Vec<u32> = bits.iter().map(|v| v.to_bits()).collect();
                assert_eq!(got_bits, want_bits, "{tier} {window:?}");
                let got: Vec<u32> = got.iter().take(argmax.len()).copied().collect();
                assert_eq!(got, argmax, "{tier} {window:?}");
            }
            assert!(same_bits(&y_indexed, &y_ref), "{window:?}");
        }
    }

    #[test]
    fn pooling_is_bit_identical_for_any_thread_count() {
        let x = tricky((40, 6, 28, 28), 101);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut indices = MaxPoolIndices::default();
                let y = max_pool2d_indexed(x.view(), &Window2d::pool([2, 2]), &mut indices);
                let dx = max_pool2d_indexed_backward(y.view(), &indices);
                let a = avg_pool2d(x.view(), &Window2d::pool([2, 2]), true);
                let da = avg_pool2d_backward(a.view(), [28, 28], &Window2d::pool([2, 2]), true);
                [y, dx, a, da].map(|t| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            })
        };
        assert_eq!(run(1), run(4));
    }

    #[test]
    fn average_pooling_with_and_without_padding_in_the_divisor() {
        let x = Array::from_shape_fn((1, 1, 3, 3), |(_, _, y, x)| (y * 3 + x) as f32);
        let win = Window2d {
            kernel_size: [2, 2],
            stride: [2, 2],
            padding: [1, 1],
            dilation: [1, 1],
        };
        let with_pad = avg_pool2d(x.view(), &win, true);
        let without = avg_pool2d(x.view(), &win, false);
        assert_eq!(with_pad[[0, 0, 0, 0]], 0.0 / 4.0);
        assert_eq!(without[[0, 0, 0, 0]], 0.0);
        assert_eq!(without[[0, 0, 1, 1]], (4.0 + 5.0 + 7.0 + 8.0) / 4.0);
        assert_eq!(with_pad[[0, 0, 0, 1]], (1.0 + 2.0) / 4.0);
        assert_eq!(without[[0, 0, 0, 1]], (1.0 + 2.0) / 2.0);
        let dy = Array4::<f32>::ones((1, 1, 2, 2));
        let dx = avg_pool2d_backward(dy.view(), [3, 3], &win, false);
        assert_eq!(dx[[0, 0, 0, 0]], 1.0);
        assert_eq!(dx[[0, 0, 1, 1]], 0.25);
    }
}
