//! 2-D convolution (cross-correlation, as in PyTorch) as matrix products.
//!
//! For one sample, [`im2col`](fn@im2col) unrolls every receptive field of the input into
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
//! gradients are summed per chunk of [`SAMPLE_CHUNK`](crate::parallel::SAMPLE_CHUNK) samples and the chunk
//! sums added in chunk order, so the results are bit-identical for any thread
//! count; outputs and input gradients, computed sample by sample, run in
//! [`split_chunk`] pieces, and alongside the weight gradient.
//! The products use [`crate::gemm`]. Four strategies:
//!
//! - **Winograd** (3×3, stride 1, dilation 1, one group, 16 channels or more
//!   on both sides — the modern CNN's and the ResNet's 3×3 stride-1 layers):
//!   the forward by `winograd.rs`'s `F(2×2, 3×3)`, 2.25 times fewer
//!   multiply-adds, and so the input gradient too, which is the convolution
//!   below, and the weight gradient as well.
//!   Except, on Intel CPUs with AVX-512, with exactly 16 input channels and
//!   outputs in multiples of 16 (the ResNet's first stage): there
//!   `direct3x3.rs`'s kernel computes the forward and the weight gradient (and
//!   so the input gradient of such a convolution with 16 outputs) with its sums in
//!   AVX-512 registers, faster on those CPUs' two 512-bit FMA units than
//!   Winograd's shallow products and transforms.
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
//!   the values in the row wrap-around: the forward drops them, so a non-finite
//!   input stays where the definition puts it. In the input gradient they hold
//!   `W·0`, which adds nothing while the weight is finite; a non-finite weight makes
//!   them NaN, so for such a weight they are zeroed before the fold, and its input
//!   gradient does not run as a convolution of the zero-padded `dY` either.)
//! - **Direct, strided** (one group, stride or dilation above 1 — ResNet's
//!   downsampling layers — unless the padded input would hold more than both the
//!   input and the im2col columns: a large padding around a small plane goes to
//!   im2col, so no buffer grows with the padding alone): the same padded input and
//!   offset tables, with
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
//!
//! # Where things are
//! This file holds the public functions and the batch's chunks around them. In
//! `conv/`, `plan.rs` checks a call's sizes and chooses its strategy;
//! `forward.rs` and `backward.rs` run the products; `padded.rs` and `im2col.rs`
//! lay the input out for them; `cache.rs` keeps it from the forward to the
//! backward ([`Conv2dCache`]); `tests.rs` checks all of it against the definitions.

mod backward;
mod cache;
mod forward;
mod im2col;
mod padded;
mod plan;

pub use cache::Conv2dCache;
pub use im2col::{col2im, im2col};

use backward::backward;
use cache::fill_cache;
use forward::{forward_chunk, ForwardWeight};
use plan::Plan;

use crate::direct3x3;
use crate::kernels::{use_reference, Kernels};
use crate::parallel::{par_build, split_chunk};
use crate::reference;
use crate::winograd;
use crate::Window2d;
use ndarray::{Array1, Array4, ArrayView1, ArrayView4, ArrayViewMut1, ArrayViewMut4, Axis};
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
    let weights = if plan.direct3x3 {
        ForwardWeight::Direct3x3(direct3x3::arrange_weight(wt, plan.o, plan.c))
    } else if plan.winograd {
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
    let plan = Plan::new(cache.input_dim, out_channels, weight, window, groups)
        .reading_cache(cache.channels_last);
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

/// Sums `grad_output` over batch and space: the bias gradient, `[O]`.
pub fn conv2d_grad_bias(grad_output: ArrayView4<f32>) -> Array1<f32> {
    grad_output
        .sum_axis(Axis(3))
        .sum_axis(Axis(2))
        .sum_axis(Axis(0))
}

/// Turns a filled buffer into an array of the given shape.
fn into_array(data: Vec<f32>, dim: (usize, usize, usize, usize)) -> Array4<f32> {
    Array4::from_shape_vec(dim, data).expect("buffer has the array's size")
}

#[cfg(test)]
mod tests;
