//! The forward strategies, one chunk of samples at a time (see the module docs of
//! [`super`] for when each runs).

use super::cache::fill_cached_samples;
use super::im2col::im2col_slice;
use super::padded::Padded;
use super::plan::Plan;
use crate::direct3x3;
use crate::gemm::{self, Gathered, Init, OffsetRows, Strided};
use crate::parallel::with_scratch_to_overwrite;
use crate::transpose::transpose_into;
use crate::winograd;

/// The weight as a forward strategy wants it.
pub(super) enum ForwardWeight<'a> {
    /// `W` (`[O, C/g·KH·KW]`) and, for the pixel-major forward, `Wᵀ`.
    Plain { wt: &'a [f32], wt_t: &'a [f32] },
    /// Winograd's transformed weight `U` ([`winograd::transform_weight`]).
    Winograd(Vec<f32>),
    /// The direct 3×3 kernel's arranged weight ([`direct3x3::arrange_weight`]).
    Direct3x3(Vec<f32>),
}

/// Forward of one chunk: `xs` holds its samples, `out` their outputs, by the
/// strategy of `plan` (see the module docs).
pub(super) fn forward_chunk(
    plan: &Plan,
    xs: &[f32],
    weights: &ForwardWeight,
    bias: Option<&[f32]>,
    out: &mut [f32],
    cached: Option<&mut [f32]>,
) {
    let (wt, wt_t) = match weights {
        ForwardWeight::Winograd(u) => {
            return forward_channels_last(plan, xs, cached, |padded| {
                winograd::forward(&plan.tiling(), xs, u, bias, out, padded)
            })
        }
        ForwardWeight::Direct3x3(wk) => {
            return forward_channels_last(plan, xs, cached, |padded| {
                direct3x3::forward(&plan.tiling(), xs, wk, bias, out, padded)
            })
        }
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

/// A forward that lays its input out channels-last ([`winograd::forward`],
/// [`direct3x3::forward`]) for one chunk: `run(padded)` with the chunk's cache if the
/// weight gradient wants the input so laid out ([`winograd::weight_grad`],
/// [`direct3x3::weight_grad`]), else after the cache took the zero-padded input for
/// `weight_grad_direct`.
fn forward_channels_last(
    plan: &Plan,
    xs: &[f32],
    cached: Option<&mut [f32]>,
    run: impl FnOnce(Option<&mut [f32]>),
) {
    match cached {
        Some(cached) if !plan.caches_channels_last() => {
            fill_cached_samples(plan, xs, cached);
            run(None)
        }
        cached => run(cached),
    }
}

/// Direct forward, pixel-major: `Yᵀ[p, o] = b[o] + Σ_k xpad[pixel(p) + off(k)] · Wᵀ[k, o]`,
/// then transposed into NCHW. Each output starts from its bias, as on the virtual
/// grid, so the two strategies give the same bits.
fn forward_pixel_major(
    plan: &Plan,
    padded: &Padded,
    xs: &[f32],
    wt_t: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    cached: Option<&mut [f32]>,
) {
    with_scratch_to_overwrite(plan.p * plan.o, |yt| {
        let b = Strided::new(wt_t, plan.ckk, plan.o, plan.o, 1);
        for_each_padded_sample(plan, padded, xs, out, cached, |xp, y| {
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
        });
    });
}

/// Direct forward on the virtual grid: `Y = W · xpad[off(k) + q]` (bias as the
/// product's initial value), then the valid columns compacted into NCHW.
fn forward_virtual_grid(
    plan: &Plan,
    padded: &Padded,
    xs: &[f32],
    wt: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    cached: Option<&mut [f32]>,
) {
    let vlen = padded.virtual_len();
    with_scratch_to_overwrite(plan.o * vlen, |grid| {
        let a = Strided::new(wt, plan.o, plan.ckk, plan.ckk, 1);
        for_each_padded_sample(plan, padded, xs, out, cached, |xp, y| {
            let b = OffsetRows::new(xp, &padded.offsets, vlen);
            let init = bias.map_or(Init::Overwrite, Init::RowBias);
            gemm::gemm(plan.o, vlen, plan.ckk, &a, &b, grid, vlen, init);
            padded.compact(grid, [plan.oh, plan.ow], y);
        });
    });
}

/// For each sample of `xs` and its output in `out`: pads the sample into its slot of
/// `cached` (where the weight gradient will read it) or, without a cache, into one
/// scratch buffer, and hands the padded sample and the output to `product`.
fn for_each_padded_sample(
    plan: &Plan,
    padded: &Padded,
    xs: &[f32],
    out: &mut [f32],
    mut cached: Option<&mut [f32]>,
    mut product: impl FnMut(&[f32], &mut [f32]),
) {
    let scratch_len = if cached.is_none() {
        padded.sample_len
    } else {
        0
    };
    with_scratch_to_overwrite(scratch_len, |scratch| {
        for (s, (x, y)) in xs
            .chunks_exact(plan.in_sample())
            .zip(out.chunks_exact_mut(plan.o * plan.p))
            .enumerate()
        {
            let xp: &mut [f32] = match cached.as_deref_mut() {
                Some(c) => &mut c[s * padded.sample_len..(s + 1) * padded.sample_len],
                None => scratch,
            };
            padded.fill(x, [plan.h, plan.w], xp);
            product(xp, y);
        }
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
