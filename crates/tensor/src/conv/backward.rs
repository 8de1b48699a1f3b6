//! The backward products for the whole batch: the weight and bias gradients summed
//! per chunk of samples, and the input gradient by the strategy of the plan.

use super::cache::Conv2dCache;
use super::conv2d_forward;
use super::im2col::{col2im_slice, im2col_slice};
use super::padded::Padded;
use super::plan::Plan;
use crate::direct3x3;
use crate::gemm::{self, Gathered, Init, Strided};
use crate::parallel::{
    par_build, par_map, split_chunk, use_threads, with_scratch, with_scratch_to_overwrite,
    SAMPLE_CHUNK,
};
use crate::transpose::transpose_into;
use crate::winograd;
use crate::Window2d;
use ndarray::{Array4, ArrayView4};

/// The backward products for the whole batch: input gradient (if `want_dx`),
/// weight gradient (weight layout) and bias gradient, each summed over the batch
/// chunk by chunk in chunk order. The weight gradient needs `cache`.
pub(super) fn backward(
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
    // As a convolution, the input gradient reads `dY` zero-padded, and a non-finite
    // weight times that padding would be NaN (`∞·0`) at input pixels the tap never
    // reaches: such a weight's input gradient runs on the virtual grid (or im2col).
    let finite_weight = wt.iter().all(|w| w.is_finite());
    let input_grad = || {
        want_dx.then(|| {
            if let Some(window) = plan.input_grad_window().filter(|_| finite_weight) {
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
                    (wt, finite_weight),
                    dx,
                );
            })
            .0
        })
    };
    // The weight gradient's chunks (16 samples each) are the coarse work, so this
    // thread starts them and the other takes the input gradient, whose pieces of 4
    // samples it can share at the end. The other way round, the thread done first
    // waited for up to a whole weight chunk (about 0.2 ms a call on ResNet's layers).
    let (dx, parts) = if want_dx && use_threads() {
        let (parts, dx) = rayon::join(sums, input_grad);
        (dx, parts)
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
    if plan.direct3x3 {
        return direct3x3::weight_grad(&plan.tiling(), xs, dys);
    }
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
pub(super) fn input_grad_channels_last(plan: &Plan, dy: &[f32], wt: &[f32]) -> Vec<f32> {
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

/// The input gradient of one chunk into `dx` (zeroed, `[samples, C, H, W]`), from the
/// weight `wt` and whether all of it is finite (scanned once for the whole batch).
pub(super) fn input_grad_chunk(
    plan: &Plan,
    dys: &[f32],
    (wt, finite_weight): (&[f32], bool),
    dx: &mut [f32],
) {
    let in_sample = plan.in_sample();
    let out_sample = plan.o * plan.p;
    if let (Some(padded), true) = (&plan.direct, plan.virtual_grid) {
        // dcols on the virtual grid, G[(c,ky,kx), q] = Σ_o W[o, (c,ky,kx)]·dYv[o, q],
        // folded back by contiguous adds: xpad-shaped dX[off(c,ky,kx) + q] += G[(c,ky,kx), q].
        // G's discarded columns (q = oy·Wp + ox, ox ≥ OW) land on input pixels the tap
        // never reaches. Their dYv is 0, so with finite weights they hold ±0 and add
        // nothing; a non-finite weight makes them NaN (∞·0), so then they are zeroed.
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
                        if !finite_weight {
                            for grid_row in grid.chunks_exact_mut(padded.cols) {
                                grid_row[plan.ow..].fill(0.0);
                            }
                        }
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
