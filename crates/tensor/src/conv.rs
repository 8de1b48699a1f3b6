//! 2-D convolution (cross-correlation, as in PyTorch) as matrix products.
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
//!
//! # How the batch kernels run
//! [`conv2d_forward`] and [`conv2d_backward`] (which the `Conv2d` layer uses,
//! and which [`conv2d`], [`conv2d_grad_input`] and [`conv2d_grad_weight`]
//! wrap) split the batch into chunks that run on rayon's pool, each with its
//! own scratch buffers (nothing is allocated per sample). Weight and bias
//! gradients are summed per chunk of [`SAMPLE_CHUNK`] samples and the chunk
//! sums added in chunk order, so the results are bit-identical for any thread
//! count; outputs and input gradients, computed sample by sample, run in
//! [`split_chunk`] pieces, and alongside the weight gradient.
//! The products use [`crate::gemm`]. Four strategies:
//!
//! - **Winograd** (3×3, stride 1, dilation 1, one group, 16 channels or more
//!   on both sides — the modern CNN's and the ResNet's 3×3 stride-1 layers):
//!   the forward by `winograd.rs`'s `F(2×2, 3×3)`, 2.25 times fewer
//!   multiply-adds, and so the input gradient too, which is the convolution
//!   below; where the output's sides are even, the weight gradient as well.
//! - **Direct on a virtual grid** (stride 1, dilation 1, one group, and little
//!   padding waste — LeNet's and the modern CNN's convolutions): the input is
//!   copied once into a zero-padded plane of width `Wp = W + 2·pw`. Computing the
//!   output on a "virtual" grid `OH × Wp` (its last `Wp − OW` columns are
//!   discarded), row `(c, ky, kx)` of the im2col matrix is simply the padded
//!   input read from offset `off(c, ky, kx) = c·Hp·Wp + ky·Wp + kx`, so no im2col
//!   matrix is ever written. The forward is `W · that matrix` on the grid, or
//!   the same product pixel-major (`Yᵀ[p, o]`, output pixels as rows, read from
//!   the padded input at `pixel(p) + off(k)`) where that fills the vectors
//!   better. The weight gradient is `dWᵀ[k, o] += Σ_p xpad[off(k) + pixel(p)] ·
//!   dYᵀ[p, o]`, its left operand read in place the same way. The input
//!   gradient is `Wᵀ·dY` on the virtual grid, whose row `(c, ky, kx)` is added
//!   back onto the padded input shape at that same offset: a contiguous run, so
//!   the fold needs no index arithmetic. (Only the discarded columns ever see
//!   the values in the row wrap-around, so they cannot leak into a result
//!   unless the input holds ±∞ or NaN.)
//! - **Direct, strided** (one group, stride or dilation above 1 — ResNet's
//!   downsampling layers): the same padded input and offset tables, with
//!   `pixel(p) = oy·sh·Wp + ox·sw` and `off(c, ky, kx) = c·Hp·Wp + ky·dh·Wp +
//!   kx·dw`; the forward pixel-major and the weight gradient as above, the input
//!   gradient as im2col's, its product transposed and its fold channels-last where
//!   the windows overlap (`input_grad_channels_last`: runs of `C` values instead of
//!   single values `s` apart, the same bits).
//! - **im2col** (everything else): an explicit `cols` matrix per sample, and
//!   for the input gradient `dcols` folded back by [`col2im`]. Where the columns
//!   are fewer than the input's values (ResNet's 1×1 stride-2 projections: a
//!   quarter), the cache keeps the columns the forward wrote, and the weight
//!   gradient reads them from there.
//!
//! # The reference tier
//! With [`Kernels::Reference`] chosen, [`conv2d_forward`] runs
//! [`reference::conv2d`] and keeps the plain input in its [`Conv2dCache`],
//! which records the tier, so [`conv2d_backward`] then runs
//! [`reference::conv2d_backward`] whatever the choice has become in between.

use crate::gemm::{self, Gathered, Init, OffsetRows, Strided};
use crate::kernels::{use_reference, Kernels};
use crate::parallel::{
    par_build, par_map, split_chunk, use_threads, with_scratch, with_scratch_to_overwrite,
    SAMPLE_CHUNK,
};
use crate::reference;
use crate::transpose::transpose_into;
use crate::winograd;
use crate::Window2d;
use ndarray::{
    Array1, Array4, ArrayView1, ArrayView2, ArrayView3, ArrayView4, ArrayViewMut1, ArrayViewMut2,
    ArrayViewMut3, ArrayViewMut4, Axis,
};
use rayon::prelude::*;
use std::sync::Mutex;

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
    conv2d_forward(input, weight, bias, window, groups, None)
}

/// Gradient of the loss with respect to the convolution's input
/// (the `grad_input` of [`reference::conv2d_backward`], which runs on the reference tier).
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
    if use_reference() {
        let input = Array4::zeros((n, c, input_size[0], input_size[1])); // dx does not depend on x
        return reference::conv2d_backward(input.view(), weight, grad_output, window, groups).0;
    }
    let plan = Plan::new(
        [n, c, input_size[0], input_size[1]],
        out_channels,
        weight,
        window,
        groups,
    );
    plan.check_grad_output([n, out_channels, oh, ow]);
    let dy = grad_output.as_standard_layout();
    let w = weight.as_standard_layout();
    let (dx, _, _) = backward(
        &plan,
        dy.as_slice().expect("standard layout"),
        w.as_slice().expect("standard layout"),
        None,
        true,
    );
    into_array(dx.expect("input gradient requested"), plan.input_dim())
}

/// Gradient of the loss with respect to the convolution's weight, summed over the batch
/// (the `grad_weight` of [`reference::conv2d_backward`], which runs on the reference tier).
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
    let (n, c, h, w) = input.dim();
    let (_, out_channels, oh, ow) = grad_output.dim();
    let [kh, kw] = window.kernel_size;
    let shape = Array4::<f32>::zeros((out_channels, c / groups.max(1), kh, kw));
    if use_reference() {
        // dW does not depend on W: any weight of the right shape will do.
        return reference::conv2d_backward(input, shape.view(), grad_output, window, groups).1;
    }
    let plan = Plan::new([n, c, h, w], out_channels, shape.view(), window, groups);
    plan.check_grad_output([grad_output.dim().0, out_channels, oh, ow]);
    let x = input.as_standard_layout();
    let mut cache = Conv2dCache::default();
    fill_cache(&plan, x.as_slice().expect("standard layout"), &mut cache);
    let dy = grad_output.as_standard_layout();
    let (_, dw, _) = backward(
        &plan,
        dy.as_slice().expect("standard layout"),
        shape.as_slice().expect("fresh"),
        Some(&cache),
        false,
    );
    into_array(dw, shape.dim())
}

/// What a training-mode [`conv2d_forward`] keeps for [`conv2d_backward`]:
/// the input, either as it came or already zero-padded for the direct
/// strategy, and which [`Kernels`] tier filled it (the backward uses the same).
/// Its buffer is reused from one step to the next.
#[derive(Clone, Default)]
pub struct Conv2dCache {
    /// The tier of the forward that filled it; `Reference` keeps the plain input.
    tier: Kernels,
    /// `[N, C, H, W]` of the input it holds.
    input_dim: [usize; 4],
    /// Floats per sample in `data` (the padded plane plus its slack, or `C·H·W`).
    sample_len: usize,
    data: Vec<f32>,
}

impl std::fmt::Debug for Conv2dCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conv2dCache")
            .field("tier", &self.tier)
            .field("input_dim", &self.input_dim)
            .field("sample_len", &self.sample_len)
            .finish_non_exhaustive()
    }
}

impl Conv2dCache {
    /// The `[N, C, H, W]` of the input the cache holds (zeros if it holds none).
    pub fn input_dim(&self) -> [usize; 4] {
        self.input_dim
    }

    /// The tier of the forward that filled it (`Fast` if none did yet).
    pub fn tier(&self) -> Kernels {
        self.tier
    }

    /// Keeps `input` as it is, for [`reference::conv2d_backward`].
    fn keep_plain(&mut self, input: ArrayView4<f32>) {
        let (n, c, h, w) = input.dim();
        self.tier = Kernels::Reference;
        self.input_dim = [n, c, h, w];
        self.sample_len = c * h * w;
        self.data.clear();
        self.data.extend(input.iter());
    }

    /// The input kept by [`Conv2dCache::keep_plain`].
    fn plain_input(&self) -> ArrayView4<'_, f32> {
        ArrayView4::from_shape(self.input_dim, &self.data).expect("kept with its shape")
    }
}

/// [`conv2d`] that can also fill a [`Conv2dCache`] for the backward pass.
///
/// Runs the batch in parallel chunks (see the module docs); the output is
/// identical whatever the number of threads. On the reference tier, runs
/// [`reference::conv2d`] and keeps the plain input.
///
/// # Shapes and panics
/// As [`conv2d`].
#[track_caller]
pub fn conv2d_forward(
    input: ArrayView4<f32>,
    weight: ArrayView4<f32>,
    bias: Option<ArrayView1<f32>>,
    window: &Window2d,
    groups: usize,
    cache: Option<&mut Conv2dCache>,
) -> Array4<f32> {
    let (n, c, h, w) = input.dim();
    let out_channels = weight.dim().0;
    let plan = Plan::new([n, c, h, w], out_channels, weight, window, groups);
    if let Some(bias) = &bias {
        assert_eq!(bias.len(), out_channels, "bias has the wrong length");
    }
    if use_reference() {
        if let Some(cache) = cache {
            cache.keep_plain(input);
        }
        return reference::conv2d(input, weight, bias, window, groups);
    }
    let x = input.as_standard_layout();
    let x = x.as_slice().expect("standard layout");
    let wt = weight.as_standard_layout();
    let wt = wt.as_slice().expect("standard layout");
    let bias: Option<Vec<f32>> = bias.map(|b| b.to_vec());
    // Wᵀ, `[C·KH·KW, O]`, for the pixel-major forward.
    let wt_t: Vec<f32> = if plan.pixel_major {
        let mut t = vec![0.0f32; wt.len()];
        for (o, row) in wt.chunks_exact(plan.ckk).enumerate() {
            for (k, &v) in row.iter().enumerate() {
                t[k * plan.o + o] = v;
            }
        }
        t
    } else {
        Vec::new()
    };
    let weights = if plan.winograd {
        ForwardWeight::Winograd(winograd::transform_weight(wt, plan.o, plan.c))
    } else {
        ForwardWeight::Plain { wt, wt_t: &wt_t }
    };
    let split = split_chunk();
    let cache_chunks: Option<Vec<Mutex<&mut [f32]>>> = cache.map(|cache| {
        cache.prepare(&plan);
        cache
            .data
            .chunks_mut(split * cache.sample_len)
            .map(Mutex::new)
            .collect()
    });
    let out_sample = plan.o * plan.p;
    let (out, _) = par_build(n * out_sample, split * out_sample, |chunk, out| {
        let s0 = chunk * split;
        let samples = out.len() / out_sample;
        let xs = &x[s0 * plan.in_sample()..(s0 + samples) * plan.in_sample()];
        let mut guard = cache_chunks
            .as_ref()
            .map(|chunks| chunks[chunk].lock().expect("no panics while held"));
        let cached = guard.as_deref_mut().map(|s| &mut **s);
        forward_chunk(&plan, xs, &weights, bias.as_deref(), out, cached);
    });
    into_array(out, plan.output_dim())
}

/// Backward of [`conv2d_forward`]: adds the weight gradient (summed over the
/// batch) into `grad_weight` and the bias gradient into `grad_bias`, and
/// returns the input gradient. [`reference::conv2d_backward`] if the cache was
/// filled on the reference tier.
///
/// The batch runs in parallel chunks whose partial gradients are added in
/// chunk order (see the module docs): identical results for any thread count.
///
/// # Shapes
/// - `grad_output`: `[N, O, OH, OW]` for the input in `cache`
/// - `grad_weight`: the weight's shape; `grad_bias`: `[O]`
/// - returns `[N, C, H, W]`
///
/// # Panics
/// If the cache does not hold an input for this convolution, or the shapes disagree.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward(
    grad_output: ArrayView4<f32>,
    weight: ArrayView4<f32>,
    window: &Window2d,
    groups: usize,
    cache: &Conv2dCache,
    grad_weight: ArrayViewMut4<f32>,
    grad_bias: Option<ArrayViewMut1<f32>>,
) -> Array4<f32> {
    backward_into(
        grad_output,
        weight,
        window,
        groups,
        cache,
        grad_weight,
        grad_bias,
        true,
    )
    .expect("input gradient requested")
}

/// [`conv2d_backward`] without the input gradient, for a convolution whose
/// input needs none (a model's first layer): the same parameter gradients, bit
/// for bit, without the input-gradient products and their fold.
///
/// # Shapes and panics
/// As [`conv2d_backward`].
#[track_caller]
pub fn conv2d_backward_parameters(
    grad_output: ArrayView4<f32>,
    weight: ArrayView4<f32>,
    window: &Window2d,
    groups: usize,
    cache: &Conv2dCache,
    grad_weight: ArrayViewMut4<f32>,
    grad_bias: Option<ArrayViewMut1<f32>>,
) {
    backward_into(
        grad_output,
        weight,
        window,
        groups,
        cache,
        grad_weight,
        grad_bias,
        false,
    );
}

/// The body of [`conv2d_backward`] and [`conv2d_backward_parameters`]: the
/// gradients on the tier that filled `cache`, the parameter ones added in.
#[track_caller]
#[allow(clippy::too_many_arguments)]
fn backward_into(
    grad_output: ArrayView4<f32>,
    weight: ArrayView4<f32>,
    window: &Window2d,
    groups: usize,
    cache: &Conv2dCache,
    mut grad_weight: ArrayViewMut4<f32>,
    grad_bias: Option<ArrayViewMut1<f32>>,
    want_dx: bool,
) -> Option<Array4<f32>> {
    assert_eq!(
        grad_weight.dim(),
        weight.dim(),
        "grad_weight has the wrong shape"
    );
    let (dx, dw, db) = match cache.tier {
        Kernels::Reference => {
            let input = cache.plain_input();
            let (dx, dw, db) =
                reference::conv2d_backward(input, weight, grad_output, window, groups);
            (want_dx.then_some(dx), dw, db)
        }
        Kernels::Fast => fast_backward(grad_output, weight, window, groups, cache, want_dx),
    };
    grad_weight += &dw;
    if let Some(mut grad_bias) = grad_bias {
        assert_eq!(
            grad_bias.len(),
            weight.dim().0,
            "grad_bias has the wrong length"
        );
        grad_bias += &db;
    }
    dx
}

/// The fast tier's three gradients from a cache its forward filled.
#[track_caller]
fn fast_backward(
    grad_output: ArrayView4<f32>,
    weight: ArrayView4<f32>,
    window: &Window2d,
    groups: usize,
    cache: &Conv2dCache,
    want_dx: bool,
) -> (Option<Array4<f32>>, Array4<f32>, Array1<f32>) {
    let out_channels = weight.dim().0;
    let plan = Plan::new(cache.input_dim, out_channels, weight, window, groups);
    assert_eq!(
        cache.sample_len,
        plan.cache_sample_len(),
        "the cache does not hold an input for this convolution"
    );
    plan.check_grad_output(grad_output.dim().into());
    let dy = grad_output.as_standard_layout();
    let dy = dy.as_slice().expect("standard layout");
    let wt = weight.as_standard_layout();
    let (dx, dw, db) = backward(
        &plan,
        dy,
        wt.as_slice().expect("standard layout"),
        Some(cache),
        want_dx,
    );
    (
        dx.map(|dx| into_array(dx, plan.input_dim())),
        into_array(dw, weight.dim()),
        Array1::from(db),
    )
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

/// Sums `grad_output` over batch and space: the bias gradient, `[O]`.
pub fn conv2d_grad_bias(grad_output: ArrayView4<f32>) -> Array1<f32> {
    grad_output
        .sum_axis(Axis(3))
        .sum_axis(Axis(2))
        .sum_axis(Axis(0))
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
    let hi = if len + pad > offset {
        ((len - 1 + pad - offset) / stride + 1).min(out_len)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// [`im2col`] on plain slices (`input` is `[C, H, W]`, `cols` `[C·KH·KW, OH·OW]`).
fn im2col_slice(
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
fn col2im_slice(
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

/// Turns a filled buffer into an array of the given shape.
fn into_array(data: Vec<f32>, dim: (usize, usize, usize, usize)) -> Array4<f32> {
    Array4::from_shape_vec(dim, data).expect("buffer has the array's size")
}

/// `dst.copy_from_slice(src)` for the short lines of an image (a few to a few dozen
/// floats): fixed-size 8-float moves, the last one overlapping the one before, instead
/// of a call to `memcpy` for each line (which cost about a third of a 32-channel 14×14
/// layer's forward).
fn copy_line(dst: &mut [f32], src: &[f32]) {
    const MOVE: usize = 8;
    let len = dst.len();
    assert_eq!(len, src.len(), "a line and its copy differ in length");
    if len < MOVE {
        dst.copy_from_slice(src);
        return;
    }
    let mut at = 0;
    loop {
        let start = at.min(len - MOVE);
        let to: &mut [f32; MOVE] = (&mut dst[start..start + MOVE])
            .try_into()
            .expect("8 floats");
        *to = src[start..start + MOVE].try_into().expect("8 floats");
        if start + MOVE == len {
            break;
        }
        at += MOVE;
    }
}

/// The implicit-im2col layout of a zero-padded stack of planes.
#[derive(Clone, Debug)]
struct Padded {
    /// Padding above/left of the data (below/right it is `rows − H − top`…).
    pad: [usize; 2],
    /// Padded plane height and width.
    rows: usize,
    cols: usize,
    /// Floats per sample: `planes·rows·cols` plus slack for the last row's overrun.
    sample_len: usize,
    /// Output rows computed on the virtual grid.
    out_rows: usize,
    /// Start of im2col row `(plane, ky, kx)`: `plane·rows·cols + ky·dh·cols + kx·dw`.
    offsets: Vec<usize>,
    /// Offset of each output pixel `(y, x)`'s window in a padded plane:
    /// `y·sh·cols + x·sw` (on the virtual grid, stride 1: `y·cols + x`).
    pixels: Vec<usize>,
}

impl Padded {
    /// The padded layout of `planes` input planes of `size` for `window`, whose output
    /// is `[oh, ow]`.
    fn new(planes: usize, size: [usize; 2], window: &Window2d, [oh, ow]: [usize; 2]) -> Self {
        let ([ph, pw], [sh, sw]) = (window.padding, window.stride);
        let ([kh, kw], [dh, dw]) = (window.kernel_size, window.dilation);
        let rows = size[0] + 2 * ph;
        let cols = size[1] + 2 * pw;
        let pixels = (0..oh)
            .flat_map(|y| (0..ow).map(move |x| y * sh * cols + x * sw))
            .collect();
        let mut offsets = Vec::with_capacity(planes * kh * kw);
        for p in 0..planes {
            for ky in 0..kh {
                for kx in 0..kw {
                    offsets.push(p * rows * cols + ky * dh * cols + kx * dw);
                }
            }
        }
        Self {
            pad: [ph, pw],
            rows,
            cols,
            sample_len: planes * rows * cols + (kw - 1) * dw,
            out_rows: oh,
            offsets,
            pixels,
        }
    }

    /// Columns of the virtual output grid (`out_rows · cols`).
    fn virtual_len(&self) -> usize {
        self.out_rows * self.cols
    }

    /// Writes `planes` (each `[H, W]`, contiguous) zero-padded into `dst`: every
    /// float of the padded layout once, walking it in order, each line of data
    /// after the zeros of the gap before it (the padding between two lines, between
    /// two planes, or at either end).
    fn fill(&self, src: &[f32], [h, w]: [usize; 2], dst: &mut [f32]) {
        /// Gaps inside a plane are a few floats: a fixed-size store of this many
        /// zeros is cheaper than a call to `memset` for each.
        const SHORT: usize = 8;
        let dst = &mut dst[..self.sample_len];
        let [top, left] = self.pad;
        let plane_len = self.rows * self.cols;
        // `dst[..written]` holds its final values; anything written past it is
        // written again before it counts.
        let mut written = 0;
        for (p, plane) in src.chunks_exact(h * w).enumerate() {
            for (y, line) in plane.chunks_exact(w).enumerate() {
                let start = p * plane_len + (top + y) * self.cols + left;
                if written + SHORT <= dst.len() {
                    dst[written..written + SHORT].fill(0.0);
                    if start > written + SHORT {
                        dst[written + SHORT..start].fill(0.0);
                    }
                } else {
                    dst[written..start].fill(0.0);
                }
                copy_line(&mut dst[start..start + w], line);
                written = start + w;
            }
        }
        dst[written..].fill(0.0);
    }

    /// Lays `planes` `[oh, ow]` planes of `src` out on the virtual grid
    /// (`planes × out_rows·cols`, row stride `cols`) in `dst`, whose other
    /// columns must already be zero (they are never written).
    fn spread(&self, src: &[f32], planes: usize, [oh, ow]: [usize; 2], dst: &mut [f32]) {
        let vlen = self.virtual_len();
        for (plane, vplane) in src
            .chunks_exact(oh * ow)
            .zip(dst.chunks_exact_mut(vlen))
            .take(planes)
        {
            for (line, vline) in plane
                .chunks_exact(ow)
                .zip(vplane.chunks_exact_mut(self.cols))
            {
                vline[..ow].copy_from_slice(line);
            }
        }
    }

    /// The inverse of [`Padded::fill`]: copies the `[h, w]` interior of each padded plane of `src` to `dst`.
    fn crop(&self, src: &[f32], [h, w]: [usize; 2], dst: &mut [f32]) {
        let plane_len = self.rows * self.cols;
        for (p, plane) in dst.chunks_exact_mut(h * w).enumerate() {
            for (y, line) in plane.chunks_exact_mut(w).enumerate() {
                let start = p * plane_len + (y + self.pad[0]) * self.cols + self.pad[1];
                line.copy_from_slice(&src[start..start + w]);
            }
        }
    }

    /// Copies the valid `[rows_out, w]` part of each virtual-grid row block of `src`
    /// (`planes × out_rows·cols`) into `dst` (`planes × rows_out·w`).
    fn compact(&self, src: &[f32], [rows_out, w]: [usize; 2], dst: &mut [f32]) {
        let vlen = self.virtual_len();
        for (plane, out) in src
            .chunks_exact(vlen)
            .zip(dst.chunks_exact_mut(rows_out * w))
        {
            for (line, out_line) in plane.chunks_exact(self.cols).zip(out.chunks_exact_mut(w)) {
                out_line.copy_from_slice(&line[..w]);
            }
        }
    }
}

/// The fewest input and output channels for which a 3×3 stride-1 convolution's
/// forward runs by [`winograd`]. With fewer, its transforms (whose cost grows with
/// the channels) outweigh the products it saves (whose savings grow with their
/// product); at 16 the ResNet's first stage still gains a little, and its epoch about
/// 2.5% against a threshold of 32 (`fashion_resnet`, 1 thread, 4 alternating rounds).
const WINOGRAD_MIN_CHANNELS: usize = 16;

/// Sizes and strategy of one convolution call, checked once.
#[derive(Clone, Debug)]
struct Plan {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    oh: usize,
    ow: usize,
    groups: usize,
    /// Output channels per group.
    og: usize,
    /// `cg·KH·KW`: the im2col rows of one group.
    ckk: usize,
    /// `OH·OW`.
    p: usize,
    window: Window2d,
    /// Forward and weight gradient by implicit im2col over the padded input.
    direct: Option<Padded>,
    /// Stride 1, dilation 1, one group and little waste: `direct` has a virtual
    /// grid, which the input gradient (and perhaps the forward) runs on.
    virtual_grid: bool,
    /// Direct forward with output pixels as rows and output channels in the
    /// vector lanes (exact, no virtual columns) rather than on the virtual grid:
    /// always without a virtual grid; with one, when `O` fills its vectors better
    /// than `OW` fills `Wp`, unless only the virtual grid's long rows take the
    /// 512-bit block and it wastes at most a quarter of its columns: then it beats
    /// the pixel-major product and its transpose (criterion, 1 thread: the modern
    /// CNN's conv1 43 against 14 GFLOP/s, conv2 78 against 55; but LeNet's conv2,
    /// 40% waste, 53 against 61). Both give the same bits.
    pixel_major: bool,
    /// A 3×3 stride-1 convolution with enough channels: the forward by [`winograd`].
    winograd: bool,
    /// ... and the weight gradient too, from the channels-last input the cache then
    /// holds: where the output's sides are even. Where they are odd the last tiles
    /// overhang it, and the weight gradient's longer products lose more to that
    /// than they gain (criterion, 1 thread, ResNet's 64-channel 7×7 layer: 81
    /// against 98 GFLOP/s direct; its 16-channel 28×28 layer 101 against 98, the
    /// modern CNN's 32-channel 14×14 layer 122 against 100).
    winograd_weight_grad: bool,
    /// On im2col, the cache holds each sample's columns rather than its input: where
    /// they are fewer (ResNet's 1×1 stride-2 projections: a quarter), so that the
    /// forward writes them once and the weight gradient reads them as they are.
    cache_columns: bool,
}

impl Plan {
    #[track_caller]
    fn new(
        [n, c, h, w]: [usize; 4],
        out_channels: usize,
        weight: ArrayView4<f32>,
        window: &Window2d,
        groups: usize,
    ) -> Self {
        let (o, cg, kh, kw) = weight.dim();
        assert!(
            groups >= 1 && c % groups == 0 && out_channels % groups == 0,
            "groups must divide both channel counts"
        );
        assert_eq!(
            o, out_channels,
            "weight has {o} output channels, expected {out_channels}"
        );
        assert_eq!(
            cg * groups,
            c,
            "weight has {cg} input channels per group, input has {c} in {groups} groups"
        );
        assert_eq!(
            [kh, kw],
            window.kernel_size,
            "weight kernel does not match the window"
        );
        let [oh, ow] = window
            .output_size([h, w])
            .expect("window does not fit the padded input");
        let simple = window.stride == [1, 1] && window.dilation == [1, 1] && groups == 1;
        let wp = w + 2 * window.padding[1];
        // Direct forward and weight gradient: the virtual grid wastes Wp/OW − 1
        // of the multiply-adds, but saves writing (and reading) the im2col
        // matrix, which costs more than the products at LeNet's sizes: worth it up to 50 %.
        let virtual_grid = simple && oh * ow > 0 && 2 * wp <= 3 * ow;
        // A strided or dilated convolution has no virtual grid, but its forward and
        // weight gradient can still read the padded input in place, pixel-major
        // (ResNet's 3×3 stride-2 layers: 1.8–2× the im2col speed; their input
        // gradient stays on im2col). Not for 1×1 windows, whose im2col only picks
        // the pixels it needs, where the padded copy would hold them all.
        let strided_direct = groups == 1 && !simple && oh * ow > 0 && kh * kw > 1;
        let winograd = simple
            && [kh, kw] == [3, 3]
            && oh * ow > 0
            && c >= WINOGRAD_MIN_CHANNELS
            && o >= WINOGRAD_MIN_CHANNELS;
        let direct = (virtual_grid || strided_direct || winograd)
            .then(|| Padded::new(c, [h, w], window, [oh, ow]));
        Self {
            n,
            c,
            h,
            w,
            o,
            oh,
            ow,
            groups,
            og: o / groups,
            ckk: cg * kh * kw,
            p: oh * ow,
            window: *window,
            pixel_major: !winograd
                && direct.as_ref().is_some_and(|d| {
                    let grid_takes_wider_block = gemm::wide_block_pays(o, d.virtual_len())
                        && !gemm::wide_block_pays(oh * ow, o);
                    let grid_wins = grid_takes_wider_block && 4 * wp <= 5 * ow;
                    !virtual_grid || o * wp > o.next_multiple_of(8) * ow && !grid_wins
                }),
            virtual_grid,
            winograd,
            winograd_weight_grad: winograd && oh % 2 == 0 && ow % 2 == 0,
            cache_columns: direct.is_none() && cg * kh * kw * oh * ow * groups < c * h * w,
            direct,
        }
    }

    fn in_sample(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Floats of one sample's im2col columns, all groups (`[g·C/g·KH·KW, OH·OW]`).
    fn columns_len(&self) -> usize {
        self.groups * self.ckk * self.p
    }

    /// The window of the convolution that computes this one's input gradient
    /// ([`input_grad_as_convolution`]), where that pays: a virtual-grid plan (stride
    /// 1, one group) whose padding is at most `K − 1`, with at least 8 input channels
    /// (the output channels of that convolution).
    fn input_grad_window(&self) -> Option<Window2d> {
        let [kh, kw] = self.window.kernel_size;
        let [ph, pw] = self.window.padding;
        (self.virtual_grid && ph < kh && pw < kw && self.c >= 8).then(|| Window2d {
            kernel_size: [kh, kw],
            padding: [kh - 1 - ph, kw - 1 - pw],
            ..Default::default()
        })
    }

    /// Whether this convolution's input gradient folds channels-last
    /// ([`input_grad_channels_last`]): one group, at least 8 input channels (the runs
    /// the fold adds), a stride above 1, and windows that overlap along some axis.
    /// (Where they do not, as in ResNet's 1×1 stride-2 projections, im2col's fold adds
    /// one value per input value at most, and is as fast.)
    fn input_grad_channels_last(&self) -> bool {
        let (effective, stride) = (self.window.effective_kernel(), self.window.stride);
        self.groups == 1
            && self.c >= 8
            && stride != [1, 1]
            && (effective[0] > stride[0] || effective[1] > stride[1])
    }

    fn input_dim(&self) -> (usize, usize, usize, usize) {
        (self.n, self.c, self.h, self.w)
    }

    fn output_dim(&self) -> (usize, usize, usize, usize) {
        (self.n, self.o, self.oh, self.ow)
    }

    fn cache_sample_len(&self) -> usize {
        if self.winograd_weight_grad {
            return self.tiling().padded_sample_len();
        }
        if self.cache_columns {
            return self.columns_len();
        }
        self.direct
            .as_ref()
            .map_or(self.in_sample(), |d| d.sample_len)
    }

    /// The shape [`winograd`] works on.
    fn tiling(&self) -> winograd::Tiling {
        winograd::Tiling {
            channels: self.c,
            out_channels: self.o,
            input_size: [self.h, self.w],
            padding: self.window.padding,
            output_size: [self.oh, self.ow],
        }
    }

    #[track_caller]
    fn check_grad_output(&self, dim: [usize; 4]) {
        assert_eq!(
            dim,
            [self.n, self.o, self.oh, self.ow],
            "grad_output does not match the convolution's output size"
        );
    }
}

impl Conv2dCache {
    /// Sizes the buffer for `plan` (reusing it when the size is unchanged).
    fn prepare(&mut self, plan: &Plan) {
        self.tier = Kernels::Fast;
        self.input_dim = [plan.n, plan.c, plan.h, plan.w];
        self.sample_len = plan.cache_sample_len();
        let len = plan.n * self.sample_len;
        if self.data.len() != len {
            self.data = vec![0.0; len];
        }
    }
}

/// Writes the samples `src` into `dst` as `plan`'s cache holds them
/// ([`Plan::cache_sample_len`] floats each): laid out for Winograd's weight gradient,
/// zero-padded for the direct strategies, as im2col columns, or as they are.
fn fill_cached_samples(plan: &Plan, src: &[f32], dst: &mut [f32]) {
    match &plan.direct {
        _ if plan.winograd_weight_grad => winograd::pad_channels_last(&plan.tiling(), src, dst),
        Some(padded) => {
            for (d, s) in dst
                .chunks_exact_mut(padded.sample_len)
                .zip(src.chunks_exact(plan.in_sample()))
            {
                padded.fill(s, [plan.h, plan.w], d);
            }
        }
        None if plan.cache_columns => {
            for (d, s) in dst
                .chunks_exact_mut(plan.columns_len())
                .zip(src.chunks_exact(plan.in_sample()))
            {
                im2col_slice(
                    s,
                    [plan.c, plan.h, plan.w],
                    &plan.window,
                    [plan.oh, plan.ow],
                    d,
                );
            }
        }
        None => dst[..src.len()].copy_from_slice(src),
    }
}

/// Fills `cache` with the input `x` (all samples) as `plan` wants it.
fn fill_cache(plan: &Plan, x: &[f32], cache: &mut Conv2dCache) {
    cache.prepare(plan);
    let sample_len = cache.sample_len;
    let in_sample = plan.in_sample();
    let fill = |(dst, src): (&mut [f32], &[f32])| fill_cached_samples(plan, src, dst);
    if use_threads() {
        let split = split_chunk();
        cache
            .data
            .par_chunks_mut(split * sample_len)
            .zip(x.par_chunks(split * in_sample))
            .for_each(fill);
    } else {
        cache
            .data
            .chunks_mut(SAMPLE_CHUNK * sample_len)
            .zip(x.chunks(SAMPLE_CHUNK * in_sample))
            .for_each(fill);
    }
}

/// The weight as a forward strategy wants it.
enum ForwardWeight<'a> {
    /// `W` (`[O, C/g·KH·KW]`) and, for the pixel-major forward, `Wᵀ`.
    Plain { wt: &'a [f32], wt_t: &'a [f32] },
    /// Winograd's transformed weight `U` ([`winograd::transform_weight`]).
    Winograd(Vec<f32>),
}

/// Forward of one chunk: `xs` holds its samples, `out` their outputs, by the
/// strategy of `plan` (see the module docs).
fn forward_chunk(
    plan: &Plan,
    xs: &[f32],
    weights: &ForwardWeight,
    bias: Option<&[f32]>,
    out: &mut [f32],
    cached: Option<&mut [f32]>,
) {
    let (wt, wt_t) = match weights {
        ForwardWeight::Winograd(u) => return forward_winograd(plan, xs, u, bias, out, cached),
        ForwardWeight::Plain { wt, wt_t } => (*wt, *wt_t),
    };
    match &plan.direct {
        Some(padded) if plan.pixel_major => {
            forward_pixel_major(plan, padded, xs, wt_t, bias, out, cached)
        }
        Some(padded) => forward_virtual_grid(plan, padded, xs, wt, bias, out, cached),
        None => match cached {
            Some(cached) => {
                fill_cached_samples(plan, xs, cached);
                if plan.cache_columns {
                    forward_from_columns(plan, cached, wt, bias, out);
                } else {
                    forward_im2col(plan, xs, wt, bias, out);
                }
            }
            None => forward_im2col(plan, xs, wt, bias, out),
        },
    }
}

/// Winograd forward ([`winograd::forward`]) of one chunk, which keeps its input in
/// `cached` as the weight gradient wants it: laid out for [`winograd::weight_grad`],
/// or zero-padded for [`weight_grad_direct`].
fn forward_winograd(
    plan: &Plan,
    xs: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    cached: Option<&mut [f32]>,
) {
    let tiling = plan.tiling();
    match cached {
        Some(cached) if !plan.winograd_weight_grad => {
            fill_cached_samples(plan, xs, cached);
            winograd::forward(&tiling, xs, u, bias, out, None)
        }
        cached => winograd::forward(&tiling, xs, u, bias, out, cached),
    }
}

/// Direct forward, pixel-major: `Yᵀ[p, o] = b[o] + Σ_k xpad[pixel(p) + off(k)] · Wᵀ[k, o]`,
/// then transposed into NCHW. Each output starts from its bias, as on the virtual
/// grid, so the two strategies give the same bits. Pads each sample into `cached`
/// (or a scratch buffer).
fn forward_pixel_major(
    plan: &Plan,
    padded: &Padded,
    xs: &[f32],
    wt_t: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    mut cached: Option<&mut [f32]>,
) {
    let in_sample = plan.in_sample();
    let out_sample = plan.o * plan.p;
    let scratch_len = if cached.is_none() {
        padded.sample_len
    } else {
        0
    };
    with_scratch_to_overwrite(plan.p * plan.o, |yt| {
        with_scratch_to_overwrite(scratch_len, |scratch| {
            let b = Strided::new(wt_t, plan.ckk, plan.o, plan.o, 1);
            for (s, (x, y)) in xs
                .chunks_exact(in_sample)
                .zip(out.chunks_exact_mut(out_sample))
                .enumerate()
            {
                let xp: &mut [f32] = match cached.as_deref_mut() {
                    Some(c) => &mut c[s * padded.sample_len..(s + 1) * padded.sample_len],
                    None => scratch,
                };
                padded.fill(x, [plan.h, plan.w], xp);
                let a = Gathered::new(xp, &padded.pixels, &padded.offsets);
                let init = match bias {
                    Some(bias) => {
                        for row in yt.chunks_exact_mut(plan.o) {
                            row.copy_from_slice(&bias[..plan.o]);
                        }
                        Init::Accumulate
                    }
                    None => Init::Overwrite,
                };
                gemm::gemm(plan.p, plan.o, plan.ckk, &a, &b, yt, plan.o, init);
                transpose_into(yt, [plan.p, plan.o], y, plan.p);
            }
        })
    });
}

/// Direct forward on the virtual grid: `Y = W · xpad[off(k) + q]` (bias as the
/// product's initial value), then the valid columns compacted into NCHW.
/// Pads each sample into `cached` (or a scratch buffer).
fn forward_virtual_grid(
    plan: &Plan,
    padded: &Padded,
    xs: &[f32],
    wt: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    mut cached: Option<&mut [f32]>,
) {
    let in_sample = plan.in_sample();
    let out_sample = plan.o * plan.p;
    let vlen = padded.virtual_len();
    let scratch_len = if cached.is_none() {
        padded.sample_len
    } else {
        0
    };
    with_scratch_to_overwrite(plan.o * vlen, |grid| {
        with_scratch_to_overwrite(scratch_len, |scratch| {
            let a = Strided::new(wt, plan.o, plan.ckk, plan.ckk, 1);
            for (s, (x, y)) in xs
                .chunks_exact(in_sample)
                .zip(out.chunks_exact_mut(out_sample))
                .enumerate()
            {
                let xp: &mut [f32] = match cached.as_deref_mut() {
                    Some(c) => &mut c[s * padded.sample_len..(s + 1) * padded.sample_len],
                    None => scratch,
                };
                padded.fill(x, [plan.h, plan.w], xp);
                let b = OffsetRows::new(xp, &padded.offsets, vlen);
                let init = bias.map_or(Init::Overwrite, Init::RowBias);
                gemm::gemm(plan.o, vlen, plan.ckk, &a, &b, grid, vlen, init);
                padded.compact(grid, [plan.oh, plan.ow], y);
            }
        })
    });
}

/// im2col forward: per sample and group, `Y_g = W_g · cols_g` (bias as the
/// product's initial value).
fn forward_im2col(plan: &Plan, xs: &[f32], wt: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    let in_sample = plan.in_sample();
    let out_sample = plan.o * plan.p;
    with_scratch_to_overwrite(plan.columns_len(), |cols| {
        for (x, y) in xs
            .chunks_exact(in_sample)
            .zip(out.chunks_exact_mut(out_sample))
        {
            im2col_slice(
                x,
                [plan.c, plan.h, plan.w],
                &plan.window,
                [plan.oh, plan.ow],
                cols,
            );
            columns_product(plan, cols, wt, bias, y);
        }
    });
}

/// The forward from columns im2col already wrote, `columns_len` floats per sample.
fn forward_from_columns(
    plan: &Plan,
    columns: &[f32],
    wt: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let out_sample = plan.o * plan.p;
    for (cols, y) in columns
        .chunks_exact(plan.columns_len())
        .zip(out.chunks_exact_mut(out_sample))
    {
        columns_product(plan, cols, wt, bias, y);
    }
}

/// `Y_g = W_g · cols_g (+ bias)` for every group `g` of one sample.
fn columns_product(plan: &Plan, cols: &[f32], wt: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    for g in 0..plan.groups {
        let a = Strided::new(
            &wt[g * plan.og * plan.ckk..],
            plan.og,
            plan.ckk,
            plan.ckk,
            1,
        );
        let b = Strided::new(&cols[g * plan.ckk * plan.p..], plan.ckk, plan.p, plan.p, 1);
        let init = bias.map_or(Init::Overwrite, |b| Init::RowBias(&b[g * plan.og..]));
        let c = &mut y[g * plan.og * plan.p..(g + 1) * plan.og * plan.p];
        gemm::gemm(plan.og, plan.p, plan.ckk, &a, &b, c, plan.p, init);
    }
}

/// The backward products for the whole batch: input gradient (if `want_dx`),
/// weight gradient (weight layout) and bias gradient, each summed over the batch
/// chunk by chunk in chunk order. The weight gradient needs `cache`.
fn backward(
    plan: &Plan,
    dy: &[f32],
    wt: &[f32],
    cache: Option<&Conv2dCache>,
    want_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let in_sample = plan.in_sample();
    let out_sample = plan.o * plan.p;
    let split = split_chunk();
    // Weight and bias gradients: partial sums per chunk of SAMPLE_CHUNK samples.
    let sums = || {
        par_map(plan.n.div_ceil(SAMPLE_CHUNK), |i| {
            let s0 = i * SAMPLE_CHUNK;
            let s1 = plan.n.min(s0 + SAMPLE_CHUNK);
            let dys = &dy[s0 * out_sample..s1 * out_sample];
            let mut db = vec![0.0f32; plan.o];
            for dy_s in dys.chunks_exact(out_sample) {
                for (b, row) in db.iter_mut().zip(dy_s.chunks_exact(plan.p.max(1))) {
                    *b += crate::simd::sum(row);
                }
            }
            let dw = cache.map(|cache| {
                let xs = &cache.data[s0 * cache.sample_len..s1 * cache.sample_len];
                weight_grad_chunk(plan, xs, dys)
            });
            (dw, db)
        })
    };
    // The input gradient, sample by sample: any chunking gives the same bits.
    let input_grad = || {
        want_dx.then(|| {
            if let Some(window) = plan.input_grad_window() {
                return input_grad_as_convolution(plan, dy, wt, &window);
            }
            if plan.input_grad_channels_last() {
                return input_grad_channels_last(plan, dy, wt);
            }
            par_build(plan.n * in_sample, split * in_sample, |i, dx| {
                let s0 = i * split;
                let samples = dx.len() / in_sample;
                input_grad_chunk(
                    plan,
                    &dy[s0 * out_sample..(s0 + samples) * out_sample],
                    wt,
                    dx,
                );
            })
            .0
        })
    };
    let (dx, parts) = if want_dx && use_threads() {
        rayon::join(input_grad, sums)
    } else {
        (input_grad(), sums())
    };
    let mut dw = vec![0.0f32; plan.o * plan.ckk];
    let mut db = vec![0.0f32; plan.o];
    for (part_w, part_b) in &parts {
        if let Some(part_w) = part_w {
            dw.iter_mut().zip(part_w).for_each(|(t, p)| *t += p);
        }
        db.iter_mut().zip(part_b).for_each(|(t, p)| *t += p);
    }
    (dx, dw, db)
}

/// The weight gradient of one chunk, in the weight's layout `[O, C/g·KH·KW]`.
/// `xs` holds the chunk's cached inputs, `dys` its output gradients.
fn weight_grad_chunk(plan: &Plan, xs: &[f32], dys: &[f32]) -> Vec<f32> {
    if plan.winograd_weight_grad {
        return winograd::weight_grad(&plan.tiling(), xs, dys);
    }
    match &plan.direct {
        Some(padded) => weight_grad_direct(plan, padded, xs, dys),
        None => weight_grad_im2col(plan, xs, dys),
    }
}

/// Direct weight gradient of one chunk, from its padded inputs `xs`.
fn weight_grad_direct(plan: &Plan, padded: &Padded, xs: &[f32], dys: &[f32]) -> Vec<f32> {
    let out_sample = plan.o * plan.p;
    let mut dw = vec![0.0f32; plan.o * plan.ckk];
    // dWᵀ[(c,ky,kx), o] += Σ_p xpad[off(c,ky,kx) + pixel(p)] · dYᵀ[p, o], sample by
    // sample: A is the exact implicit im2col matrix, B the transposed output
    // gradient, its width O rounded up to a whole vector (zero columns) so
    // that no load is masked.
    let nb = plan.o.next_multiple_of(8);
    with_scratch_to_overwrite(plan.p * nb, |dyt| {
        for row in dyt.chunks_exact_mut(nb) {
            row[plan.o..].fill(0.0);
        }
        with_scratch(plan.ckk * nb, |dwt| {
            for (dy_s, xp) in dys
                .chunks_exact(out_sample)
                .zip(xs.chunks_exact(padded.sample_len))
            {
                transpose_into(dy_s, [plan.o, plan.p], dyt, nb);
                let a = Gathered::new(xp, &padded.offsets, &padded.pixels);
                let b = Strided::new(dyt, plan.p, nb, nb, 1);
                gemm::gemm(plan.ckk, nb, plan.p, &a, &b, dwt, nb, Init::Accumulate);
            }
            for (k, row) in dwt.chunks_exact(nb).enumerate() {
                for (o, &v) in row[..plan.o].iter().enumerate() {
                    dw[o * plan.ckk + k] = v;
                }
            }
        })
    });
    dw
}

/// im2col weight gradient of one chunk, from its plain inputs `xs`.
fn weight_grad_im2col(plan: &Plan, xs: &[f32], dys: &[f32]) -> Vec<f32> {
    let out_sample = plan.o * plan.p;
    let mut dw = vec![0.0f32; plan.o * plan.ckk];
    // dWᵀ_g[ckk, og] += cols_g[ckk, P] · dYᵀ_g[P, og], sample by sample.
    // The cache holds the inputs, or (`cache_columns`) their columns already.
    let (sample_len, scratch_len) = match plan.cache_columns {
        true => (plan.columns_len(), 0),
        false => (plan.in_sample(), plan.columns_len()),
    };
    with_scratch_to_overwrite(scratch_len, |scratch| {
        with_scratch_to_overwrite(plan.p * plan.o, |dyt| {
            with_scratch(plan.groups * plan.ckk * plan.og, |dwt| {
                for (x, dy_s) in xs
                    .chunks_exact(sample_len)
                    .zip(dys.chunks_exact(out_sample))
                {
                    let cols: &[f32] = if plan.cache_columns {
                        x
                    } else {
                        let shape = [plan.c, plan.h, plan.w];
                        im2col_slice(x, shape, &plan.window, [plan.oh, plan.ow], scratch);
                        scratch
                    };
                    transpose_into(dy_s, [plan.o, plan.p], dyt, plan.o);
                    for g in 0..plan.groups {
                        let a = Strided::new(
                            &cols[g * plan.ckk * plan.p..],
                            plan.ckk,
                            plan.p,
                            plan.p,
                            1,
                        );
                        let b = Strided::new(&dyt[g * plan.og..], plan.p, plan.og, plan.o, 1);
                        let c = &mut dwt[g * plan.ckk * plan.og..(g + 1) * plan.ckk * plan.og];
                        gemm::gemm(
                            plan.ckk,
                            plan.og,
                            plan.p,
                            &a,
                            &b,
                            c,
                            plan.og,
                            Init::Accumulate,
                        );
                    }
                }
                for g in 0..plan.groups {
                    for oo in 0..plan.og {
                        for k in 0..plan.ckk {
                            dw[(g * plan.og + oo) * plan.ckk + k] =
                                dwt[(g * plan.ckk + k) * plan.og + oo];
                        }
                    }
                }
            })
        })
    });
    dw
}

/// The input gradient of a stride-1 convolution computed as a convolution itself,
/// so that it runs on the forward's fast paths:
/// `dX[c, y, x] = Σ_o Σ_ky Σ_kx W'[c, o, ky, kx] · dY[o, y + ky − p'h, x + kx − p'w]`,
/// the "full" correlation of `dY` with the flipped, transposed weight
/// `W'[c, o, ky, kx] = W[o, c, KH−1−ky, KW−1−kx]` and padding `p' = K − 1 − p`
/// (see [`Plan::input_grad_window`]).
fn input_grad_as_convolution(plan: &Plan, dy: &[f32], wt: &[f32], window: &Window2d) -> Vec<f32> {
    let [kh, kw] = plan.window.kernel_size;
    let flipped = Array4::from_shape_fn((plan.c, plan.o, kh, kw), |(c, o, ky, kx)| {
        wt[((o * plan.c + c) * kh + kh - 1 - ky) * kw + kw - 1 - kx]
    });
    let dy = ArrayView4::from_shape((plan.n, plan.o, plan.oh, plan.ow), dy)
        .expect("dY is sized by the plan");
    let dx = conv2d_forward(dy, flipped.view(), None, window, 1, None);
    debug_assert_eq!(dx.dim(), plan.input_dim());
    dx.into_raw_vec_and_offset().0
}

/// The input gradient of a one-group convolution folded channels-last: im2col's
/// `dcols = Wᵀ·dY` computed transposed, output pixels as rows,
///
/// ```text
/// G[q, (ky, kx, c)] = Σ_o dY[o, q] · W[o, c, ky, kx]
/// ```
///
/// and folded onto a channels-last `dX` (`[H, W, C]`), where each tap of each output
/// pixel adds a run of `C` consecutive values instead of `C` values a plane apart;
/// one transpose per sample then gives `[C, H, W]`. The same products and the same
/// additions in the same order as [`input_grad_chunk`]'s im2col path, so the same
/// bits; for strided convolutions, whose fold there adds one value at a time `s`
/// apart (ResNet's stride-2 layers: more time than the product).
fn input_grad_channels_last(plan: &Plan, dy: &[f32], wt: &[f32]) -> Vec<f32> {
    let [kh, kw] = plan.window.kernel_size;
    let [sh, sw] = plan.window.stride;
    let [ph, pw] = plan.window.padding;
    let [dh, dw] = plan.window.dilation;
    let (c, taps) = (plan.c, kh * kw);
    let row = taps * c;
    // W as `[O, (ky, kx, c)]`.
    let mut w_taps = vec![0.0f32; plan.o * row];
    for (o, taps_of_o) in w_taps.chunks_exact_mut(row).enumerate() {
        for (t, tap) in taps_of_o.chunks_exact_mut(c).enumerate() {
            for (ci, v) in tap.iter_mut().enumerate() {
                *v = wt[(o * c + ci) * taps + t];
            }
        }
    }
    let (in_sample, out_sample) = (plan.in_sample(), plan.o * plan.p);
    let split = split_chunk();
    let (dx, _) = par_build(plan.n * in_sample, split * in_sample, |i, dx| {
        let dys = &dy[i * split * out_sample..];
        with_scratch_to_overwrite(plan.p * row, |g| {
            with_scratch_to_overwrite(in_sample, |dx_last| {
                for (dy_s, dx_s) in dys
                    .chunks_exact(out_sample)
                    .zip(dx.chunks_exact_mut(in_sample))
                {
                    // dYᵀ: row q = column q of dY, stride 1 between rows, P between columns.
                    let a = Strided::new(dy_s, plan.p, plan.o, 1, plan.p);
                    let b = Strided::new(&w_taps, plan.o, row, row, 1);
                    gemm::gemm(plan.p, row, plan.o, &a, &b, g, row, Init::Overwrite);
                    dx_last.fill(0.0);
                    crate::simd::widest(
                        #[inline(always)]
                        || {
                            // Tap by tap, then output row and column: im2col's order.
                            for t in 0..taps {
                                let (ky, kx) = (t / kw, t % kw);
                                for (oy, g_row) in
                                    g.chunks_exact((plan.ow * row).max(1)).enumerate()
                                {
                                    let iy = (oy * sh + ky * dh).checked_sub(ph);
                                    let Some(iy) = iy.filter(|&iy| iy < plan.h) else {
                                        continue;
                                    };
                                    for (ox, g_q) in g_row.chunks_exact(row).enumerate() {
                                        let ix = (ox * sw + kx * dw).checked_sub(pw);
                                        let Some(ix) = ix.filter(|&ix| ix < plan.w) else {
                                            continue;
                                        };
                                        let run = &mut dx_last[(iy * plan.w + ix) * c..][..c];
                                        for (d, &v) in run.iter_mut().zip(&g_q[t * c..][..c]) {
                                            *d += v;
                                        }
                                    }
                                }
                            }
                        },
                    );
                    transpose_into(dx_last, [plan.h * plan.w, c], dx_s, plan.h * plan.w);
                }
            })
        })
    });
    dx
}

/// The input gradient of one chunk into `dx` (zeroed, `[samples, C, H, W]`).
fn input_grad_chunk(plan: &Plan, dys: &[f32], wt: &[f32], dx: &mut [f32]) {
    let in_sample = plan.in_sample();
    let out_sample = plan.o * plan.p;
    if let (Some(padded), true) = (&plan.direct, plan.virtual_grid) {
        // dcols on the virtual grid, G[(c,ky,kx), q] = Σ_o W[o, (c,ky,kx)]·dYv[o, q],
        // folded back by contiguous adds: xpad-shaped dX[off(c,ky,kx) + q] += G[(c,ky,kx), q].
        let vlen = padded.virtual_len();
        with_scratch(plan.o * vlen, |dyv| {
            with_scratch_to_overwrite(plan.ckk * vlen, |grid| {
                with_scratch_to_overwrite(padded.sample_len, |dxp| {
                    let a = Strided::new(wt, plan.ckk, plan.o, 1, plan.ckk);
                    for (dy_s, dx_s) in dys
                        .chunks_exact(out_sample)
                        .zip(dx.chunks_exact_mut(in_sample))
                    {
                        padded.spread(dy_s, plan.o, [plan.oh, plan.ow], dyv);
                        let b = Strided::new(dyv, plan.o, vlen, vlen, 1);
                        gemm::gemm(plan.ckk, vlen, plan.o, &a, &b, grid, vlen, Init::Overwrite);
                        dxp.fill(0.0);
                        for (&off, g) in padded.offsets.iter().zip(grid.chunks_exact(vlen)) {
                            crate::simd::add_assign(&mut dxp[off..off + vlen], g);
                        }
                        padded.crop(dxp, [plan.h, plan.w], dx_s);
                    }
                })
            })
        });
        return;
    }
    with_scratch_to_overwrite(plan.groups * plan.ckk * plan.p, |dcols| {
        for (dy_s, dx_s) in dys
            .chunks_exact(out_sample)
            .zip(dx.chunks_exact_mut(in_sample))
        {
            for g in 0..plan.groups {
                // Wᵀ_g: row k = column k of W_g, i.e. stride 1 between rows, ckk between columns.
                let a = Strided::new(
                    &wt[g * plan.og * plan.ckk..],
                    plan.ckk,
                    plan.og,
                    1,
                    plan.ckk,
                );
                let b = Strided::new(&dy_s[g * plan.og * plan.p..], plan.og, plan.p, plan.p, 1);
                let c = &mut dcols[g * plan.ckk * plan.p..(g + 1) * plan.ckk * plan.p];
                gemm::gemm(
                    plan.ckk,
                    plan.p,
                    plan.og,
                    &a,
                    &b,
                    c,
                    plan.p,
                    Init::Overwrite,
                );
            }
            col2im_slice(
                dcols,
                [plan.c, plan.h, plan.w],
                &plan.window,
                [plan.oh, plan.ow],
                dx_s,
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    /// The definition the fast path must agree with: [`reference::conv2d`] without bias.
    fn naive(
        x: ArrayView4<f32>,
        wt: ArrayView4<f32>,
        win: &Window2d,
        groups: usize,
    ) -> Array4<f32> {
        reference::conv2d(x, wt, None, win, groups)
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
    fn channels_last_fold_gives_im2col_bits() {
        // Strided windows with padding, dilation and kernels wider and narrower than
        // the stride, on sizes the stride divides and does not.
        let cases = [
            ([3, 3], [2, 2], [1, 1], [1, 1], [2, 8, 9, 10], 5),
            ([3, 3], [2, 2], [1, 1], [1, 1], [3, 16, 28, 28], 32),
            ([4, 2], [3, 1], [2, 0], [1, 2], [2, 9, 11, 7], 3),
            ([2, 5], [2, 4], [1, 2], [1, 2], [1, 8, 8, 17], 4),
        ];
        for (kernel_size, stride, padding, dilation, [n, c, h, w], o) in cases {
            let window = Window2d {
                kernel_size,
                stride,
                padding,
                dilation,
            };
            let weight = ramp((o, c, kernel_size[0], kernel_size[1]), 0.03);
            let plan = Plan::new([n, c, h, w], o, weight.view(), &window, 1);
            assert!(plan.input_grad_channels_last(), "{window:?}");
            let dy = ramp((n, o, plan.oh, plan.ow), 0.37);
            let (dy, wt) = (dy.as_slice().unwrap(), weight.as_slice().unwrap());
            let mut im2col = vec![0.0f32; n * plan.in_sample()];
            input_grad_chunk(&plan, dy, wt, &mut im2col);
            let folded = input_grad_channels_last(&plan, dy, wt);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&folded),
                bits(&im2col),
                "{window:?} on {n}×{c}×{h}×{w}"
            );
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

    /// The three gradients by their definitions, [`reference::conv2d_backward`]: (dx, dw, db).
    fn naive_backward(
        x: ArrayView4<f32>,
        wt: ArrayView4<f32>,
        dy: ArrayView4<f32>,
        win: &Window2d,
        groups: usize,
    ) -> (Array4<f32>, Array4<f32>, Vec<f32>) {
        let (dx, dw, db) = reference::conv2d_backward(x, wt, dy, win, groups);
        (dx, dw, db.to_vec())
    }

    fn assert_close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: lengths differ");
        let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!((a - b).abs() <= 1e-4 * scale, "{what}[{i}]: {a} vs {b}");
        }
    }

    /// Forward, backward and caching against the definitions, for the direct
    /// strategy (LeNet's conv1, a "same" 3×3) and the im2col one (conv2, groups).
    #[test]
    fn batch_kernels_match_definitions_on_both_strategies() {
        let cases: [(usize, usize, usize, [usize; 2], Window2d, usize); 6] = [
            (
                6,
                16,
                8,
                [5, 5],
                Window2d {
                    kernel_size: [5, 5],
                    ..Default::default()
                },
                1,
            ),
            (
                1,
                6,
                28,
                [5, 5],
                Window2d {
                    kernel_size: [5, 5],
                    padding: [2, 2],
                    ..Default::default()
                },
                1,
            ),
            (
                6,
                16,
                14,
                [5, 5],
                Window2d {
                    kernel_size: [5, 5],
                    ..Default::default()
                },
                1,
            ),
            (
                3,
                4,
                10,
                [3, 3],
                Window2d {
                    kernel_size: [3, 3],
                    padding: [1, 1],
                    ..Default::default()
                },
                1,
            ),
            (
                4,
                6,
                9,
                [3, 3],
                Window2d {
                    kernel_size: [3, 3],
                    padding: [1, 1],
                    ..Default::default()
                },
                2,
            ),
            (
                2,
                3,
                11,
                [3, 2],
                Window2d {
                    kernel_size: [3, 2],
                    stride: [2, 1],
                    padding: [1, 1],
                    dilation: [1, 2],
                },
                1,
            ),
        ];
        for (c, o, size, [kh, kw], win, groups) in cases {
            let x = ramp((3, c, size, size), 0.1);
            let wt = ramp((o, c / groups, kh, kw), 0.05);
            let bias = Array::from_shape_fn(o, |i| i as f32 * 0.1 - 0.2);
            let mut cache = Conv2dCache::default();
            let y = conv2d_forward(
                x.view(),
                wt.view(),
                Some(bias.view()),
                &win,
                groups,
                Some(&mut cache),
            );
            let mut want = naive(x.view(), wt.view(), &win, groups);
            for (i, mut plane) in want.axis_iter_mut(Axis(1)).enumerate() {
                plane += bias[i];
            }
            assert_close(y.as_slice().unwrap(), want.as_slice().unwrap(), "forward");
            let dy = ramp(y.dim(), 0.03);
            let (dx_want, dw_want, db_want) =
                naive_backward(x.view(), wt.view(), dy.view(), &win, groups);
            let mut dw = Array4::<f32>::from_elem(wt.dim(), 1.0);
            let mut db = Array1::<f32>::from_elem(o, 2.0);
            let dx = conv2d_backward(
                dy.view(),
                wt.view(),
                &win,
                groups,
                &cache,
                dw.view_mut(),
                Some(db.view_mut()),
            );
            assert_close(
                dx.as_slice().unwrap(),
                dx_want.as_slice().unwrap(),
                "grad_input",
            );
            let dw_plus: Vec<f32> = dw_want.iter().map(|v| v + 1.0).collect();
            assert_close(dw.as_slice().unwrap(), &dw_plus, "grad_weight (+=)");
            let db_plus: Vec<f32> = db_want.iter().map(|v| v + 2.0).collect();
            assert_close(db.as_slice().unwrap(), &db_plus, "grad_bias (+=)");
            let gw = conv2d_grad_weight(x.view(), dy.view(), &win, groups);
            assert_close(
                gw.as_slice().unwrap(),
                dw_want.as_slice().unwrap(),
                "conv2d_grad_weight",
            );
            let gx = conv2d_grad_input(dy.view(), wt.view(), [size, size], &win, groups);
            assert_close(
                gx.as_slice().unwrap(),
                dx_want.as_slice().unwrap(),
                "conv2d_grad_input",
            );
        }
    }

    #[test]
    fn strategies_are_chosen_as_documented() {
        let w = |o, c, k| Array4::<f32>::zeros((o, c, k, k));
        let conv1 = Window2d {
            kernel_size: [5, 5],
            padding: [2, 2],
            ..Default::default()
        };
        let plan = Plan::new([2, 1, 28, 28], 6, w(6, 1, 5).view(), &conv1, 1);
        assert!(plan.direct.is_some() && !plan.pixel_major);
        let conv2 = Window2d {
            kernel_size: [5, 5],
            ..Default::default()
        };
        let plan = Plan::new([2, 6, 14, 14], 16, w(16, 6, 5).view(), &conv2, 1);
        // Its virtual grid would take the 512-bit block, but wastes 40% of its columns.
        assert!(plan.direct.is_some() && plan.pixel_major);
        let wide = Window2d {
            kernel_size: [5, 5],
            ..Default::default()
        };
        let plan = Plan::new([2, 6, 8, 8], 16, w(16, 6, 5).view(), &wide, 1);
        assert!(plan.direct.is_none());
        let same3 = Window2d {
            kernel_size: [3, 3],
            padding: [1, 1],
            ..Default::default()
        };
        let plan = Plan::new([2, 3, 10, 10], 4, w(4, 3, 3).view(), &same3, 1);
        assert!(plan.direct.is_some() && plan.virtual_grid);
        assert!(!plan.winograd);
        // The modern CNN's conv2: Winograd, its weight gradient too (even sides).
        let plan = Plan::new([2, 32, 14, 14], 32, w(32, 32, 3).view(), &same3, 1);
        assert!(plan.winograd && plan.winograd_weight_grad && !plan.pixel_major);
        // The ResNet's last stage: odd sides, so the direct weight gradient.
        let plan = Plan::new([2, 64, 7, 7], 64, w(64, 64, 3).view(), &same3, 1);
        assert!(plan.winograd && !plan.winograd_weight_grad && plan.direct.is_some());
        // Below 16 channels on either side: no Winograd.
        let plan = Plan::new([2, 8, 14, 14], 32, w(32, 8, 3).view(), &same3, 1);
        assert!(!plan.winograd && plan.direct.is_some());
        let down = Window2d {
            kernel_size: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
            ..Default::default()
        };
        let plan = Plan::new([2, 16, 28, 28], 32, w(32, 16, 3).view(), &down, 1);
        assert!(plan.direct.is_some() && !plan.virtual_grid && plan.pixel_major);
        assert!(!plan.winograd);
        let plan = Plan::new([2, 16, 28, 28], 32, w(32, 8, 3).view(), &down, 2);
        assert!(plan.direct.is_none());
    }

    /// Chunked parallel kernels: bit-identical results in 1- and 4-thread pools.
    #[test]
    fn batch_kernels_are_bit_identical_for_any_thread_count() {
        let conv1 = Window2d {
            kernel_size: [5, 5],
            padding: [2, 2],
            ..Default::default()
        };
        let conv2 = Window2d {
            kernel_size: [5, 5],
            ..Default::default()
        };
        for (c, o, size, win) in [(1, 6, 28, conv1), (6, 16, 14, conv2)] {
            let x = ramp((40, c, size, size), 0.1); // 3 chunks: 16, 16, 8
            let wt = ramp((o, c, 5, 5), 0.05);
            let bias = Array::from_shape_fn(o, |i| i as f32 * 0.1);
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    let mut cache = Conv2dCache::default();
                    let y = conv2d_forward(
                        x.view(),
                        wt.view(),
                        Some(bias.view()),
                        &win,
                        1,
                        Some(&mut cache),
                    );
                    let dy = ramp(y.dim(), 0.03);
                    let mut dw = Array4::<f32>::zeros(wt.dim());
                    let mut db = Array1::<f32>::zeros(o);
                    let dx = conv2d_backward(
                        dy.view(),
                        wt.view(),
                        &win,
                        1,
                        &cache,
                        dw.view_mut(),
                        Some(db.view_mut()),
                    );
                    let bits = |a: &[f32]| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    [
                        bits(y.as_slice().unwrap()),
                        bits(dx.as_slice().unwrap()),
                        bits(dw.as_slice().unwrap()),
                        bits(db.as_slice().unwrap()),
                    ]
                })
            };
            assert_eq!(run(1), run(4));
        }
    }
}
