//! The AVX-512 register block of [`super::gemm`]: the AVX2 kernel's algorithm
//! with 512-bit vectors of 16 lanes and 32 registers, so that a block of `C`
//! twice as wide stays in registers and each broadcast of `A` feeds twice as
//! many multiply-adds. Partial vectors use the mask registers (a masked load
//! reads nothing past the mask), so no lane is ever special-cased.
//!
//! Each element of `C` is still one fused multiply-add chain over the shared
//! dimension in increasing order, started from the same value: the results
//! are bit for bit those of the AVX2 kernel and the portable loop.

// The workspace's minimum Rust is 1.86; this module is compiled only from 1.89 on
// (`cfg(rustc_1_89)`, see build.rs), where these intrinsics are stable.
#![allow(clippy::incompatible_msrv)]

use super::{balanced, ARows, BRows, Init};
use crate::simd::first_lanes;
use std::arch::x86_64::*;

/// One `MR × 16·NV` block of C at `(i0, j0)`; `w` (≤ 16·NV, > 16·(NV−1)) valid
/// columns. The accumulators start from `init` (zero, C's values or the row's
/// bias), take the `k` rank-one updates in increasing `kk`, and are stored back;
/// the last vector of the block is loaded and stored through `mask`.
///
/// # Safety
/// The CPU has AVX-512F; rows `i0..i0 + MR` of `A` (columns `0..k`), columns
/// `j0..j0 + w` of rows `0..k` of `B`, and the `MR × w` block of `C` at
/// `(i0, j0)` with row stride `ldc` are within their operands (as
/// [`super::gemm_unchecked`] requires); a `RowBias` has entries `i0..i0 + MR`.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const MR: usize, const NV: usize, A: ARows, B: BRows>(
    k: usize,
    a: &A,
    i0: usize,
    b: &B,
    j0: usize,
    w: usize,
    c: *mut f32,
    ldc: usize,
    init: Init,
) {
    let mask = first_lanes(w - 16 * (NV - 1));
    let mut arow = [std::ptr::null::<f32>(); MR];
    for (i, p) in arow.iter_mut().enumerate() {
        *p = a.row(i0 + i);
    }
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    match init {
        Init::Overwrite => {}
        Init::Accumulate => {
            for (i, row) in acc.iter_mut().enumerate() {
                // SAFETY: `(i0 + i, j0)` is inside C (the caller's contract).
                let cp = unsafe { c.add((i0 + i) * ldc + j0) };
                for (v, x) in row.iter_mut().enumerate() {
                    // SAFETY: the caller guarantees the `MR × w` block of C at
                    // `(i0, j0)` readable when accumulating; vector `v` covers
                    // columns `16v..16v + 16`, all below `w` except in the last
                    // vector, read through `mask` (lanes < w; masked-off lanes
                    // are not read).
                    *x = unsafe {
                        if v + 1 < NV {
                            _mm512_loadu_ps(cp.add(16 * v))
                        } else {
                            _mm512_maskz_loadu_ps(mask, cp.add(16 * v))
                        }
                    };
                }
            }
        }
        Init::RowBias(bias) => {
            for (i, row) in acc.iter_mut().enumerate() {
                *row = [_mm512_set1_ps(bias[i0 + i]); NV];
            }
        }
    }
    // SAFETY: `arow` holds the starts of rows `i0..i0 + MR` of `a`, and this
    // function's caller guarantees the rest of `rank_one_updates`'s contract.
    unsafe { rank_one_updates::<MR, NV, A, B>(k, a, &arow, b, j0, mask, &mut acc) };
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: `(i0 + i, j0)` is inside C (the caller's contract).
        let cp = unsafe { c.add((i0 + i) * ldc + j0) };
        for (v, x) in row.iter().enumerate() {
            // SAFETY: as for the loads above, with C writable (masked-off lanes
            // are not written).
            unsafe {
                if v + 1 < NV {
                    _mm512_storeu_ps(cp.add(16 * v), *x);
                } else {
                    _mm512_mask_storeu_ps(cp.add(16 * v), mask, *x);
                }
            }
        }
    }
}

/// The hot loop of [`block`]: for `kk` in `0..k`, loads row `kk` of B (its last
/// vector through `mask`), broadcasts `A[i, kk]` of each of the `MR` rows and
/// adds the products into `acc`, one fused multiply-add per vector.
///
/// # Safety
/// As [`block`]: the CPU has AVX-512F, `arow` holds the starts of rows
/// `i0..i0 + MR` of `a`, and the columns `j0..j0 + w` of rows `0..k` of `b`
/// are readable, `w` being the lanes of `mask` plus `16·(NV − 1)`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn rank_one_updates<const MR: usize, const NV: usize, A: ARows, B: BRows>(
    k: usize,
    a: &A,
    arow: &[*const f32; MR],
    b: &B,
    j0: usize,
    mask: __mmask16,
    acc: &mut [[__m512; NV]; MR],
) {
    for kk in 0..k {
        // SAFETY: `B[kk, j0]` is inside `b` (`kk < k`, the caller's contract).
        let bp = unsafe { b.row(kk).add(j0) };
        let mut bv = [_mm512_setzero_ps(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: columns `j0..j0 + w` of row `kk < k` of `b` are readable
            // (the caller's contract); vector `v` covers `16v..16v + 16`, past
            // `w` only in the last vector, read through `mask`.
            *x = unsafe {
                if v + 1 < NV {
                    _mm512_loadu_ps(bp.add(16 * v))
                } else {
                    _mm512_maskz_loadu_ps(mask, bp.add(16 * v))
                }
            };
        }
        let ak = a.col_offset(kk);
        for i in 0..MR {
            // SAFETY: `arow[i] + ak` is `A[i0 + i, kk]` with `kk < k`, readable
            // by the caller's contract.
            let av = _mm512_set1_ps(unsafe { *arow[i].add(ak) });
            for v in 0..NV {
                acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
            }
        }
    }
}

/// Calls `block::<rows, nv>` for the run-time `(rows, nv)` among the listed kernels.
macro_rules! dispatch {
    ($mr:expr, $nv:expr, $args:tt, [$( ($m:literal, $v:literal) ),*]) => {
        match ($mr, $nv) {
            $( ($m, $v) => dispatch!(@call $m, $v, $args), )*
            _ => unreachable!("no kernel for this block"),
        }
    };
    (@call $m:literal, $v:literal, ($k:expr, $a:expr, $i0:expr, $b:expr, $j0:expr, $w:expr, $c:expr, $ldc:expr, $init:expr)) => {
        block::<$m, $v, _, _>($k, $a, $i0, $b, $j0, $w, $c, $ldc, $init)
    };
}

/// Whether the AVX-512 block pays for a product with `m` rows and `n` columns:
/// more than one row and at least one whole vector of columns. Measured on an AMD
/// EPYC (Zen 4, 1 thread): `6 × 64` blocks run a 512² GEMM at about 100 GFLOP/s
/// against the AVX2 block's 60, and a 128-channel 3×3 convolution's three products
/// 1.3–1.6× as fast. At 16 and 32 columns (the Winograd products of 16- and
/// 32-channel layers) an Intel Xeon (Emerald Rapids, 1 thread) runs the `6 × 16`
/// and `6 × 32` blocks 1.1–1.5× as fast as AVX2's `6 × 16` (`cargo bench --bench
/// conv -- 'resnet.layer1/|modern.conv2/'`); taller `12 × 16` and `12 × 32` blocks
/// gained nothing there, and on the EPYC a `12 × 32` block was 20–35% slower than
/// AVX2's, so the block stays at most 6 rows tall.
#[inline]
pub(super) fn pays(m: usize, n: usize) -> bool {
    m > 1 && n >= 16
}

/// The register block: `MR = 6` rows of `16·NV = 64` columns. Register budget:
/// MR·NV accumulators + NV loads + 1 broadcast = 29 of the 32 zmm.
const MR_MAX: usize = 6;
const NV_MAX: usize = 4;

/// Tiles C into register blocks and runs them, columns outermost so that a
/// `K × 16·NV` panel of B stays in cache while every row block passes over it.
///
/// # Safety
/// The CPU has AVX-512F, and the operands meet the requirements of
/// [`super::gemm_unchecked`]. (Any shape works; [`pays`] says which are worth it.)
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn driver<A: ARows, B: BRows>(
    m: usize,
    n: usize,
    k: usize,
    a: &A,
    b: &B,
    c: *mut f32,
    ldc: usize,
    init: Init,
) {
    let mr = balanced(m, MR_MAX);
    let nb = 16 * NV_MAX;
    let mut j0 = 0;
    while j0 < n {
        let w = nb.min(n - j0);
        let nv = w.div_ceil(16);
        let mut i0 = 0;
        while i0 < m {
            let rows = mr.min(m - i0);
            // SAFETY: the block `(i0, j0)` of `rows × w` lies inside the `m × n`
            // product whose operands the caller vouches for, and every
            // `(rows ≤ MR_MAX, nv ≤ NV_MAX)` has a kernel.
            unsafe {
                dispatch!(
                    rows,
                    nv,
                    (k, a, i0, b, j0, w, c, ldc, init),
                    [
                        (1, 1),
                        (2, 1),
                        (3, 1),
                        (4, 1),
                        (5, 1),
                        (6, 1),
                        (1, 2),
                        (2, 2),
                        (3, 2),
                        (4, 2),
                        (5, 2),
                        (6, 2),
                        (1, 3),
                        (2, 3),
                        (3, 3),
                        (4, 3),
                        (5, 3),
                        (6, 3),
                        (1, 4),
                        (2, 4),
                        (3, 4),
                        (4, 4),
                        (5, 4),
                        (6, 4)
                    ]
                )
            };
            i0 += rows;
        }
        j0 += nb;
    }
}
