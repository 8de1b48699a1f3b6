//! A direct 3×3 stride-1 convolution of 16 input channels with AVX-512 registers:
//! output channels in the lanes, output pixels in the registers.
//!
//! ```text
//! Y[p, o] = b[o] + Σ_ky Σ_kx Σ_c X[p + (ky, kx), c] · W[o, c, ky, kx]
//! ```
//!
//! read from the zero-padded channels-last input that [`winograd`] lays out (so
//! `p + (ky, kx)` is always inside it), with the weight arranged `[3, 3, C, O]`
//! ([`arrange_weight`]). A block of up to 14 output pixels of one row and 16 or 32
//! output channels keeps its sums in 14 or 28 registers for all `9·C` multiply-adds:
//! each weight vector loaded is used by every pixel of the block, each input value is
//! broadcast to one or two vectors. The outputs come out channels-last, a few rows at
//! a time, and a transpose puts them into `[O, OH, OW]`. The weight gradient
//! ([`weight_grad`]) is the same sum read the other way: for each sample and tap, the
//! 16 × 16 sums `Σ_p X[p + tap, c] · dY[p, o]` stay in registers over its pixels.
//!
//! It is the convolution's definition, one fused multiply-add chain per value in a
//! fixed order (the forward's from the bias over `ky, kx, c`; the weight gradient's from
//! 0 over the samples and pixels), so it differs from [`crate::reference::conv2d`] by
//! rounding only (`tests/fast_vs_reference.rs`), and not with the thread count.
//!
//! Why it exists beside Winograd: with 16 channels a Winograd product has depth 16,
//! and its transforms and layout changes cost as much as its products. On a CPU with
//! two 512-bit FMA units per core (most of Intel's Xeons) this kernel keeps both busy and does
//! 2.25 times Winograd's multiply-adds in less time; where a 512-bit FMA is two
//! 256-bit halves (AMD's Zen 4) Winograd wins, and the kernel is not used there
//! ([`runs`]). Measured in `docs/performance-log.md`, "A direct 3×3 kernel for the
//! 16-channel layers".

use crate::parallel::with_scratch_to_overwrite;
use crate::transpose::transpose_into;
use crate::winograd::{self, Tiling};

/// Output pixels of a row that one block keeps in registers.
const MAX_PIXELS: usize = 14;

/// Floats of channels-last outputs that go through the buffer at a time: 16 KiB, so
/// that they are still in L1 when they are transposed.
const PASS_FLOATS: usize = 4096;

/// Output channels of one vector.
const LANES: usize = 16;

/// The input channels the kernel takes: a constant, so that every input value it
/// broadcasts is at a fixed offset from the tap's first pixel (with a run-time channel
/// count the compiler stepped from pixel to pixel with one serial addition per
/// multiply-add, half the FMA units' rate). With more channels Winograd's products are
/// deep enough to win anyway.
const CHANNELS: usize = 16;

/// Whether this kernel computes a 3×3 stride-1 convolution of `channels` inputs and
/// `out_channels` outputs on this CPU: it [`can`] there, and the CPU is one whose
/// 512-bit multiply-adds run at full width on two units (an Intel CPU: see the module
/// docs), unless `SCRATCHNET_DIRECT3X3` says otherwise (`1` or `0`, read once: for
/// measuring the two strategies against each other on one machine).
pub(crate) fn runs(channels: usize, out_channels: usize) -> bool {
    can(channels, out_channels) && chosen()
}

/// Whether the kernel can compute a convolution of `channels` inputs and
/// `out_channels` outputs here: AVX-512 is there (and not switched off), the inputs
/// are [`CHANNELS`] and the outputs fill whole vectors.
pub(crate) fn can(channels: usize, out_channels: usize) -> bool {
    channels == CHANNELS && out_channels % LANES == 0 && out_channels > 0 && has_avx512()
}

#[cfg(all(target_arch = "x86_64", rustc_1_89))]
fn has_avx512() -> bool {
    crate::simd::has_avx512()
}

#[cfg(not(all(target_arch = "x86_64", rustc_1_89)))]
fn has_avx512() -> bool {
    false
}

#[cfg(all(target_arch = "x86_64", rustc_1_89))]
fn chosen() -> bool {
    use std::sync::OnceLock;
    static CHOICE: OnceLock<bool> = OnceLock::new();
    *CHOICE.get_or_init(|| match std::env::var("SCRATCHNET_DIRECT3X3").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => crate::simd::two_full_width_fma_units(),
    })
}

#[cfg(not(all(target_arch = "x86_64", rustc_1_89)))]
fn chosen() -> bool {
    false
}

/// The weight `[O, C, 3, 3]` arranged `[3, 3, C, O]`: `wk[((ky·3 + kx)·C + c)·O + o]`.
///
/// # Panics
/// If `weight` is not `O·C` 3×3 kernels.
pub(crate) fn arrange_weight(weight: &[f32], out_channels: usize, channels: usize) -> Vec<f32> {
    assert_eq!(weight.len(), out_channels * channels * 9, "3×3 kernels");
    let mut wk = vec![0.0f32; weight.len()];
    for (o, kernels) in weight.chunks_exact(channels * 9).enumerate() {
        for (c, kernel) in kernels.chunks_exact(9).enumerate() {
            for (k, &v) in kernel.iter().enumerate() {
                wk[(k * channels + c) * out_channels + o] = v;
            }
        }
    }
    wk
}

/// `Y = conv(x, w) + bias` for the samples `xs` (`[samples, C, H, W]`) into `out`
/// (`[samples, O, OH, OW]`), from `wk` = [`arrange_weight`]`(w)`. The input laid out
/// channels-last ([`winograd::pad_channels_last`]) goes to `cached` if given (what
/// [`weight_grad`] reads), else to a scratch buffer.
///
/// # Panics
/// If the kernel [`can`] not compute the tiling's channels here, or a slice's length
/// does not match the tiling.
pub(crate) fn forward(
    tiling: &Tiling,
    xs: &[f32],
    wk: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    cached: Option<&mut [f32]>,
) {
    let (c, o) = (tiling.channels, tiling.out_channels);
    let [oh, ow] = tiling.output_size;
    let samples = xs.len() / tiling.input_len().max(1);
    assert!(can(c, o), "the direct 3×3 kernel cannot run here");
    assert_eq!(out.len(), samples * o * oh * ow, "an output per sample");
    assert_eq!(wk.len(), 9 * c * o, "an arranged weight");
    if let Some(bias) = bias {
        assert_eq!(bias.len(), o, "a bias per output channel");
    }
    let padded_len = tiling.padded_sample_len();
    winograd::with_channels_last(tiling, xs, cached, |padded| {
        // A few output rows at a time into a buffer that stays in L1, then transposed
        // into the sample's planes.
        let rows_per_pass = (PASS_FLOATS / (ow * o).max(1)).clamp(1, oh.max(1));
        with_scratch_to_overwrite(rows_per_pass * ow * o, |buffer| {
            for (xp, y) in padded
                .chunks_exact(padded_len)
                .zip(out.chunks_exact_mut(o * oh * ow))
            {
                for first in (0..oh).step_by(rows_per_pass) {
                    let rows = rows_per_pass.min(oh - first);
                    let buffer = &mut buffer[..rows * ow * o];
                    output_rows(tiling, xp, wk, bias, first..first + rows, buffer);
                    transpose_into(buffer, [rows * ow, o], &mut y[first * ow..], oh * ow);
                }
            }
        });
    });
}

/// The weight gradient `[O, C, 3, 3]` of the samples whose padded channels-last inputs
/// [`forward`] left in `padded` and whose output gradients are `dys` (`[samples, O, OH,
/// OW]`):
///
/// ```text
/// dW[o, c, ky, kx] = Σ_s Σ_p dY[s, o, p] · X[s, p + (ky, kx), c]
/// ```
///
/// For each sample, tap `(ky, kx)` and 16 output channels, the 16 sums over `c` stay
/// in registers over every pixel: one vector of `dY` (its 16 channels at the pixel; `dY`
/// is first transposed channels-last) times each of the pixel's 16 inputs broadcast.
/// One chain of multiply-adds per weight, over the samples and pixels in order.
///
/// # Panics
/// If the kernel [`can`] not compute the tiling's channels here, or a slice's length
/// does not match the tiling.
pub(crate) fn weight_grad(tiling: &Tiling, padded: &[f32], dys: &[f32]) -> Vec<f32> {
    let (c, o) = (tiling.channels, tiling.out_channels);
    let [oh, ow] = tiling.output_size;
    let [plane_rows, cols] = tiling.plane();
    let (plane, padded_len) = (oh * ow, tiling.padded_sample_len());
    assert!(can(c, o), "the direct 3×3 kernel cannot run here");
    let samples = dys.len() / (o * plane).max(1);
    assert_eq!(dys.len(), samples * o * plane, "whole output gradients");
    assert!(
        padded.len() >= samples * padded_len,
        "a padded input per sample"
    );
    assert!(
        plane_rows >= oh + 2 && cols >= ow + 2,
        "a padded plane around the outputs"
    );
    let mut dw = vec![0.0f32; o * c * 9];
    // `[9, C, O]`: tap, input channel, output channel.
    let mut sums = vec![0.0f32; 9 * c * o];
    with_scratch_to_overwrite(samples * plane * o, |dyt| {
        for (dy, t) in dys
            .chunks_exact(o * plane)
            .zip(dyt.chunks_exact_mut(plane * o))
        {
            transpose_into(dy, [o, plane], t, o);
        }
        // Sample by sample, so that its inputs and output gradients stay in the core's
        // cache over the nine taps (the sums go through memory in between, which does
        // not change the order of their additions).
        #[cfg(all(target_arch = "x86_64", rustc_1_89))]
        for s in 0..samples {
            for tap in 0..9 {
                for ob in (0..o).step_by(LANES) {
                    let at = Taps {
                        x: s * padded_len + (tap / 3 * cols + tap % 3) * c,
                        row: cols * c,
                        dy: s * plane * o + ob,
                        out_channels: o,
                        size: [oh, ow],
                    };
                    let sums = &mut sums[tap * c * o + ob..];
                    // SAFETY: AVX-512F is there (`can`). For `oy < OH`, `ox < OW` the
                    // kernel reads input `s·padded_len + ((oy + ky)·cols + ox + kx)·C + c`,
                    // with `oy + ky < OH + 2 ≤ rows` and `ox + kx < OW + 2 ≤ cols`, so
                    // below `samples·padded_len ≤ padded.len()`; output gradient `(s·P +
                    // oy·OW + ox)·O + ob + l`, `l < 16`, below `samples·P·O`, the
                    // scratch's length; and reads and writes `c·O + l` from `sums`' start,
                    // `c < 16`, below `9·C·O − tap·C·O − ob`.
                    unsafe {
                        avx512::weight_grad_taps(
                            &at,
                            padded.as_ptr(),
                            dyt.as_ptr(),
                            sums.as_mut_ptr(),
                        )
                    };
                }
            }
        }
    });
    #[cfg(not(all(target_arch = "x86_64", rustc_1_89)))]
    unreachable!("can() is false without AVX-512");
    for (tap, by_channel) in sums.chunks_exact(c * o).enumerate() {
        for (ch, by_output) in by_channel.chunks_exact(o).enumerate() {
            for (oc, &v) in by_output.iter().enumerate() {
                dw[(oc * c + ch) * 9 + tap] = v;
            }
        }
    }
    dw
}

/// Where one tap's weight-gradient sums read, in floats (see [`weight_grad`]).
#[cfg_attr(not(all(target_arch = "x86_64", rustc_1_89)), allow(dead_code))]
struct Taps {
    /// The sample's input pixel at output pixel `(0, 0)` plus the tap.
    x: usize,
    /// Floats of one padded row, `cols·C`.
    row: usize,
    /// The sample's output gradient at pixel `(0, 0)`, its first of 16 channels.
    dy: usize,
    out_channels: usize,
    size: [usize; 2],
}

/// The channels-last outputs `yt` (`[rows, OW, O]`) of output rows `rows` of one padded
/// channels-last sample `xp`.
fn output_rows(
    tiling: &Tiling,
    xp: &[f32],
    wk: &[f32],
    bias: Option<&[f32]>,
    rows: std::ops::Range<usize>,
    yt: &mut [f32],
) {
    let (c, o) = (tiling.channels, tiling.out_channels);
    let [oh, ow] = tiling.output_size;
    let [plane_rows, cols] = tiling.plane();
    // What makes every access of `block` below in bounds.
    assert!(
        plane_rows >= oh + 2 && cols >= ow + 2 && rows.end <= oh,
        "a padded plane around the outputs"
    );
    assert!(xp.len() >= plane_rows * cols * c, "a whole padded sample");
    assert!(yt.len() >= rows.len() * ow * o && wk.len() >= 9 * c * o && o % LANES == 0);
    assert_eq!(c, CHANNELS, "the kernel's input channels");
    assert!(bias.is_none_or(|b| b.len() >= o));
    #[cfg(all(target_arch = "x86_64", rustc_1_89))]
    {
        assert!(has_avx512(), "AVX-512");
        for (row, oy) in rows.enumerate() {
            let mut ox = 0;
            while ox < ow {
                let pixels = MAX_PIXELS.min(ow - ox);
                let mut ob = 0;
                while ob < o {
                    let vectors = if o - ob >= 2 * LANES { 2 } else { 1 };
                    let at = Block {
                        x: (oy * cols + ox) * c,
                        row: cols * c,
                        w: ob,
                        out_channels: o,
                        y: (row * ow + ox) * o + ob,
                    };
                    // SAFETY: AVX-512F is there (asserted above). The block reads input
                    // pixels `(oy + ky, ox + kx + r)` for `ky, kx < 3`, `r < pixels`,
                    // all inside the padded plane (`oy + 2 < OH + 2 ≤ plane_rows`,
                    // `ox + pixels + 1 < OW + 2 ≤ cols`), channels `< C`; weights
                    // `(k·C + c)·O + ob + 16·vectors ≤ 9·C·O`; bias `ob + 16·vectors ≤
                    // O`; and writes outputs `(row·OW + ox + r)·O + ob …` below
                    // `rows·OW·O`: all within the slices, whose lengths were asserted.
                    unsafe {
                        avx512::block(
                            pixels,
                            vectors,
                            &at,
                            xp.as_ptr(),
                            wk.as_ptr(),
                            bias.map(|b| b.as_ptr()),
                            yt.as_mut_ptr(),
                        )
                    };
                    ob += vectors * LANES;
                }
                ox += pixels;
            }
        }
    }
    #[cfg(not(all(target_arch = "x86_64", rustc_1_89)))]
    unreachable!("can() is false without AVX-512");
}

/// Where one block's operands start, in floats from the start of the padded sample,
/// the arranged weight and the channels-last outputs.
#[cfg_attr(not(all(target_arch = "x86_64", rustc_1_89)), allow(dead_code))]
struct Block {
    /// The input pixel at the block's first output pixel, `(oy, ox)` of the padded plane.
    x: usize,
    /// Floats of one padded row, `cols·C`.
    row: usize,
    /// The block's first output channel.
    w: usize,
    out_channels: usize,
    /// The block's first output, `(row·OW + ox)·O + ob` (`row` counted from the first
    /// row of the call's buffer).
    y: usize,
}

#[cfg(all(target_arch = "x86_64", rustc_1_89))]
mod avx512 {
    // The workspace's minimum Rust is 1.86; this module is compiled only from 1.89 on
    // (`cfg(rustc_1_89)`, see build.rs), where these intrinsics are stable.
    #![allow(clippy::incompatible_msrv)]

    use super::{Block, Taps, CHANNELS};
    use std::arch::x86_64::*;

    /// One block of `pixels` (1..=14) output pixels and `vectors` (1 or 2) vectors of
    /// output channels: dispatches to the kernel compiled for those counts.
    ///
    /// # Safety
    /// AVX-512F is there, and every pixel, weight, bias and output the block touches
    /// (see [`kernel`]) is inside the allocations `x`, `w`, `bias` and `y` point into.
    pub(super) unsafe fn block(
        pixels: usize,
        vectors: usize,
        at: &Block,
        x: *const f32,
        w: *const f32,
        bias: Option<*const f32>,
        y: *mut f32,
    ) {
        macro_rules! dispatch {
            ($($p:literal)*) => {
                match (pixels, vectors) {
                    $(
                        // SAFETY: the caller's contract, for these counts.
                        ($p, 1) => unsafe { kernel::<$p, 1>(at, x, w, bias, y) },
                        // SAFETY: the same.
                        ($p, 2) => unsafe { kernel::<$p, 2>(at, x, w, bias, y) },
                    )*
                    _ => unreachable!("1..=14 pixels of 1 or 2 vectors"),
                }
            };
        }
        dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14);
    }

    /// `Y[r, o] = b[o] + Σ_(ky, kx, c) X[r + (ky, kx), c] · W[(ky, kx), c, o]` for the
    /// block's `P` pixels and `16·NV` output channels, sums in registers.
    ///
    /// # Safety
    /// AVX-512F is there; `x + at.x + (ky·cols + kx + r)·C + c` for `ky, kx < 3`,
    /// `r < P`, `c < C` lies inside the input allocation; `w + (k·C + c)·O + at.w + l`
    /// for `k < 9`, `c < C`, `l < 16·NV` inside the weight's; `bias + at.w + l` inside
    /// the bias's if given; and `y + at.y + r·O + l` inside the outputs'.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel<const P: usize, const NV: usize>(
        at: &Block,
        x: *const f32,
        w: *const f32,
        bias: Option<*const f32>,
        y: *mut f32,
    ) {
        let (c, o) = (CHANNELS, at.out_channels);
        let mut acc = [[_mm512_setzero_ps(); NV]; P];
        if let Some(bias) = bias {
            for v in 0..NV {
                // SAFETY: the bias's lanes `at.w + 16v …` are inside it (the contract).
                let b = unsafe { _mm512_loadu_ps(bias.add(at.w + 16 * v)) };
                for sums in acc.iter_mut() {
                    sums[v] = b;
                }
            }
        }
        for ky in 0..3 {
            for kx in 0..3 {
                // SAFETY: the tap's first input pixel and weight row are inside their
                // allocations (the contract), so are these offsets.
                let (xs, ws) = unsafe {
                    (
                        x.add(at.x + ky * at.row + kx * c),
                        w.add((ky * 3 + kx) * c * o + at.w),
                    )
                };
                for ch in 0..c {
                    let mut wv = [_mm512_setzero_ps(); NV];
                    for (v, lanes) in wv.iter_mut().enumerate() {
                        // SAFETY: weight `(k·C + ch)·O + at.w + 16v …16v+15`, inside.
                        *lanes = unsafe { _mm512_loadu_ps(ws.add(ch * o + 16 * v)) };
                    }
                    for (r, sums) in acc.iter_mut().enumerate() {
                        // SAFETY: input pixel `r` of the tap, channel `ch < C`, inside.
                        let xv = _mm512_set1_ps(unsafe { *xs.add(r * c + ch) });
                        for v in 0..NV {
                            sums[v] = _mm512_fmadd_ps(xv, wv[v], sums[v]);
                        }
                    }
                }
            }
        }
        for (r, sums) in acc.iter().enumerate() {
            for (v, lanes) in sums.iter().enumerate() {
                // SAFETY: output `r`, lanes `at.w + 16v …`, inside (the contract).
                unsafe { _mm512_storeu_ps(y.add(at.y + r * o + 16 * v), *lanes) };
            }
        }
    }

    /// `sums[c·O + l] += Σ_(oy, ox) dY[(oy, ox), l] · X[(oy, ox) + tap, c]` of one sample,
    /// for the 16 input channels `c` and 16 lanes `l`: one chain of fused multiply-adds
    /// per sum, over the rows and columns in order.
    ///
    /// # Safety
    /// AVX-512F is there; `x + at.x + oy·at.row + ox·16 + c` for `(oy, ox) < at.size`,
    /// `c < 16` lies inside the inputs' allocation; `dy + at.dy + (oy·OW + ox)·O + l`,
    /// `l < 16`, inside the output gradients'; and `sums + c·O + l` inside the sums'.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn weight_grad_taps(
        at: &Taps,
        x: *const f32,
        dy: *const f32,
        sums: *mut f32,
    ) {
        let o = at.out_channels;
        let [oh, ow] = at.size;
        let mut acc = [_mm512_setzero_ps(); CHANNELS];
        for (ch, sum) in acc.iter_mut().enumerate() {
            // SAFETY: `sums + ch·O …+16`, inside (the contract).
            *sum = unsafe { _mm512_loadu_ps(sums.add(ch * o)) };
        }
        for oy in 0..oh {
            // SAFETY: the row's first input pixel and output gradient are inside
            // their allocations (the contract).
            let (xs, ds) = unsafe { (x.add(at.x + oy * at.row), dy.add(at.dy + oy * ow * o)) };
            for ox in 0..ow {
                // SAFETY: output gradient `(oy, ox)`'s 16 lanes, inside.
                let d = unsafe { _mm512_loadu_ps(ds.add(ox * o)) };
                for (ch, sum) in acc.iter_mut().enumerate() {
                    // SAFETY: input `(oy, ox) + tap`, channel `ch < 16`, inside.
                    let xv = _mm512_set1_ps(unsafe { *xs.add(ox * CHANNELS + ch) });
                    *sum = _mm512_fmadd_ps(xv, d, *sum);
                }
            }
        }
        for (ch, sum) in acc.iter().enumerate() {
            // SAFETY: `sums + ch·O …+16`, inside (the contract).
            unsafe { _mm512_storeu_ps(sums.add(ch * o), *sum) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::Window2d;
    use ndarray::Array4;

    /// The convolutions the kernel takes where AVX-512 is on: 16 input channels, and
    /// outputs that fill whole vectors of 16.
    #[test]
    fn takes_sixteen_input_channels_and_whole_vectors_of_outputs() {
        let here = has_avx512();
        assert_eq!([can(16, 16), can(16, 48)], [here, here]);
        for (channels, out_channels) in [(16, 0), (16, 24), (16, 8), (32, 32), (8, 16)] {
            assert!(!can(channels, out_channels), "{channels} → {out_channels}");
        }
    }

    /// The forward and the weight gradient against the definition wherever the kernel
    /// can run (any CPU with AVX-512, whichever strategy the plan would choose there): rows of 28 outputs (two blocks
    /// of 14), 7 and 5 (one short block), padding 0–2, one and two vectors of outputs
    /// and both together (48), with and without a bias and a cache.
    #[test]
    fn matches_the_convolution() {
        if !has_avx512() {
            eprintln!("skipped: no AVX-512 here, so the direct 3×3 kernel never runs");
            return;
        }
        for (n, size, padding, o, with_bias) in [
            (2, [28, 28], 1, 16, true),
            (3, [7, 5], 1, 32, false),
            (2, [6, 8], 2, 16, true),
            (1, [1, 2], 1, 48, true),
            (2, [14, 14], 0, 16, false),
        ] {
            let c = CHANNELS;
            let x = Array4::from_shape_fn((n, c, size[0], size[1]), |(s, ch, y, x)| {
                ((s * 31 + ch * 17 + y * 7 + x * 3) % 11) as f32 * 0.25 - 1.0
            });
            let g = Array4::from_shape_fn((o, c, 3, 3), |(oc, ch, y, x)| {
                ((oc * 13 + ch * 5 + y * 3 + x) % 7) as f32 * 0.125 - 0.4
            });
            let bias: Vec<f32> = (0..o).map(|i| i as f32 * 0.5 - 1.0).collect();
            let bias = with_bias.then_some(&bias[..]);
            let window = Window2d {
                kernel_size: [3, 3],
                padding: [padding, padding],
                ..Default::default()
            };
            let want = reference::conv2d(x.view(), g.view(), bias.map(Into::into), &window, 1);
            let tiling = Tiling {
                channels: c,
                out_channels: o,
                input_size: size,
                padding: [padding, padding],
                output_size: window.output_size(size).unwrap(),
            };
            let wk = arrange_weight(g.as_slice().unwrap(), o, c);
            let xs = x.as_slice().unwrap();
            let mut cached = vec![f32::NAN; n * tiling.padded_sample_len()];
            for cache in [None, Some(&mut cached[..])] {
                let mut out = vec![f32::NAN; want.len()];
                forward(&tiling, xs, &wk, bias, &mut out, cache);
                for (i, (got, want)) in out.iter().zip(want.iter()).enumerate() {
                    assert!(
                        (got - want).abs() < 1e-4 * want.abs().max(1.0),
                        "{size:?} p{padding} o{o} [{i}]: {got} vs {want}"
                    );
                }
            }
            // What the cache holds is Winograd's layout, which both weight gradients read.
            let mut padded = vec![0.0; cached.len()];
            winograd::pad_channels_last(&tiling, xs, &mut padded);
            assert_eq!(cached, padded, "the cache holds the channels-last input");
            let dy = Array4::from_shape_fn(want.dim(), |(s, oc, y, x)| {
                ((s * 7 + oc * 3 + y * 5 + x) % 9) as f32 * 0.25 - 1.0
            });
            let (_, dw_want, _) =
                reference::conv2d_backward(x.view(), g.view(), dy.view(), &window, 1);
            let dw = weight_grad(&tiling, &cached, dy.as_slice().unwrap());
            for (i, (got, want)) in dw.iter().zip(dw_want.iter()).enumerate() {
                assert!(
                    (got - want).abs() < 1e-4 * want.abs().max(1.0),
                    "weight gradient {size:?} p{padding} o{o} [{i}]: {got} vs {want}"
                );
            }
        }
    }
}
