//! The AVX2 and FMA register block of [`super::gemm`] (and of [`super::gemm_abt`]):
//! 256-bit vectors of 8 lanes, blocks of up to `6 × 16`; the portable loop's sums,
//! bit for bit.

use super::{balanced, ARows, BRows, Init};
use std::arch::x86_64::*;

/// Lane mask with the first `n` (1..=8) lanes on. (Callers without AVX2
/// and FMA enabled need `unsafe` and a CPU that has them.)
#[inline]
#[target_feature(enable = "avx2,fma")]
fn tail_mask(n: usize) -> __m256i {
    const IDX: [i32; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
    // SAFETY: `IDX` is 8 `i32`s, the 32 bytes an unaligned load reads.
    let idx = unsafe { _mm256_loadu_si256(IDX.as_ptr().cast()) };
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx)
}

/// One `MR × 8·NV` block of C at `(i0, j0)`; `w` (≤ 8·NV, > 8·(NV−1)) valid
/// columns. The accumulators start from `init` (zero, C's values or the row's
/// bias), take the `k` rank-one updates in increasing `kk`, and are stored
/// back; the last vector of a partial block is loaded and stored through `mask`.
///
/// # Safety
/// The CPU has AVX2 and FMA; rows `i0..i0 + MR` of `A` (columns `0..k`),
/// columns `j0..j0 + w` of rows `0..k` of `B`, and the `MR × w` block of `C`
/// at `(i0, j0)` with row stride `ldc` are within their operands (as
/// [`super::gemm_unchecked`] requires); a `RowBias` has entries `i0..i0 + MR`.
#[inline]
#[target_feature(enable = "avx2,fma")]
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
    let full = w == 8 * NV;
    let mask = tail_mask(w - 8 * (NV - 1));
    let mut arow = [std::ptr::null::<f32>(); MR];
    for (i, p) in arow.iter_mut().enumerate() {
        *p = a.row(i0 + i);
    }
    let mut acc = [[_mm256_setzero_ps(); NV]; MR];
    match init {
        Init::Overwrite => {}
        Init::Accumulate => {
            for (i, row) in acc.iter_mut().enumerate() {
                // SAFETY: `(i0 + i, j0)` is inside C (the caller's contract).
                let cp = unsafe { c.add((i0 + i) * ldc + j0) };
                for (v, x) in row.iter_mut().enumerate() {
                    // SAFETY: the caller guarantees the `MR × w` block of C at
                    // `(i0, j0)` readable when accumulating; vector `v` covers
                    // columns `8v..8v + 8`, all below `w` except in the last
                    // vector of a partial block, read through `mask` (lanes < w).
                    *x = unsafe {
                        if v + 1 < NV || full {
                            _mm256_loadu_ps(cp.add(8 * v))
                        } else {
                            _mm256_maskload_ps(cp.add(8 * v), mask)
                        }
                    };
                }
            }
        }
        Init::RowBias(bias) => {
            for (i, row) in acc.iter_mut().enumerate() {
                *row = [_mm256_set1_ps(bias[i0 + i]); NV];
            }
        }
    }
    // SAFETY: `arow` holds the starts of rows `i0..i0 + MR` of `a`, and
    // this function's caller guarantees the rest of `rank_one_updates`'s contract.
    unsafe {
        if full {
            rank_one_updates::<MR, NV, true, A, B>(k, a, &arow, b, j0, mask, &mut acc);
        } else {
            rank_one_updates::<MR, NV, false, A, B>(k, a, &arow, b, j0, mask, &mut acc);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: `(i0 + i, j0)` is inside C (the caller's contract).
        let cp = unsafe { c.add((i0 + i) * ldc + j0) };
        for (v, x) in row.iter().enumerate() {
            // SAFETY: as for the loads above, with C writable.
            unsafe {
                if v + 1 < NV || full {
                    _mm256_storeu_ps(cp.add(8 * v), *x);
                } else {
                    _mm256_maskstore_ps(cp.add(8 * v), mask, *x);
                }
            }
        }
    }
}

/// The hot loop of [`block`]: for `kk` in `0..k`, loads row `kk` of B (its
/// last vector through `mask` unless `FULL`), broadcasts `A[i, kk]` of each
/// of the `MR` rows and adds the products into `acc`, one fused multiply-add
/// per vector. `FULL` is a constant so that the choice of load is made once
/// per block, outside the loop. Called once per instance of [`block`], into
/// which it is inlined (`#[inline(always)]` cannot go with `#[target_feature]`
/// on stable Rust; no symbol of this function is left in a release build).
///
/// # Safety
/// As [`block`]: the CPU has AVX2 and FMA, `arow` holds the starts of rows
/// `i0..i0 + MR` of `a`, and the columns `j0..j0 + w` of rows `0..k` of `b`
/// are readable.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn rank_one_updates<
    const MR: usize,
    const NV: usize,
    const FULL: bool,
    A: ARows,
    B: BRows,
>(
    k: usize,
    a: &A,
    arow: &[*const f32; MR],
    b: &B,
    j0: usize,
    mask: __m256i,
    acc: &mut [[__m256; NV]; MR],
) {
    for kk in 0..k {
        // SAFETY: `B[kk, j0]` is inside `b` (`kk < k`, the caller's contract).
        let bp = unsafe { b.row(kk).add(j0) };
        let mut bv = [_mm256_setzero_ps(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: columns `j0..j0 + w` of row `kk < k` of `b` are readable
            // (the caller's contract); vector `v` covers `8v..8v + 8`, past `w`
            // only in the last vector when not `FULL`, read through `mask`.
            *x = unsafe {
                if v + 1 < NV || FULL {
                    _mm256_loadu_ps(bp.add(8 * v))
                } else {
                    _mm256_maskload_ps(bp.add(8 * v), mask)
                }
            };
        }
        let ak = a.col_offset(kk);
        for i in 0..MR {
            // SAFETY: `arow[i] + ak` is `A[i0 + i, kk]` with `kk < k`, readable
            // by the caller's contract.
            let av = _mm256_broadcast_ss(unsafe { &*arow[i].add(ak) });
            for v in 0..NV {
                acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
            }
        }
    }
}

/// Calls `block::<mr, nv>` for run-time `mr ≤ MRMAX`, `nv ≤ NVMAX`.
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

/// Runs one block of `rows` rows and `nv` vectors with the kernel
/// `block::<rows, nv>`: the table of the kernels each block shape can need
/// (`rows ≤ MR`, `nv ≤ NV` of the shape). A macro, so that the block calls
/// sit in the driver's loop exactly as if written there.
macro_rules! run_block {
    ($shape:expr, $rows:expr, $nv:expr, $args:tt) => {
        match $shape {
            (1, 8) => dispatch!(
                $rows,
                $nv,
                $args,
                [
                    (1, 1),
                    (1, 2),
                    (1, 3),
                    (1, 4),
                    (1, 5),
                    (1, 6),
                    (1, 7),
                    (1, 8)
                ]
            ),
            (12, 1) => dispatch!(
                $rows,
                $nv,
                $args,
                [
                    (1, 1),
                    (2, 1),
                    (3, 1),
                    (4, 1),
                    (5, 1),
                    (6, 1),
                    (7, 1),
                    (8, 1),
                    (9, 1),
                    (10, 1),
                    (11, 1),
                    (12, 1)
                ]
            ),
            (6, 2) => dispatch!(
                $rows,
                $nv,
                $args,
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
                    (6, 2)
                ]
            ),
            _ => unreachable!("no such block configuration"),
        }
    };
}

/// The largest register block `(MR, NV)` — `MR` rows of `8·NV` columns — for a
/// product with `m` rows and `n` columns: one row of up to 64 columns, `12 × 8`
/// for at most 8 columns, `6 × 16` otherwise.
///
/// Register budget: MR·NV accumulators + NV loads + 1 broadcast ≤ 16 ymm.
/// (A 4×24 block fits exactly, but the compiler then spills: measured at
/// half the speed of 6×16 at LeNet's shapes, so it is not used.)
#[inline]
fn block_shape(m: usize, n: usize) -> (usize, usize) {
    if m == 1 {
        (1, 8)
    } else if n <= 8 {
        (12, 1)
    } else {
        (6, 2)
    }
}

/// Tiles C into register blocks and runs them, columns outermost so that a
/// `K × 8·NV` panel of B stays in L1 while every row block passes over it.
///
/// # Safety
/// The CPU has AVX2 and FMA, and the operands meet the requirements of
/// [`super::gemm_unchecked`].
#[target_feature(enable = "avx2,fma")]
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
    let (mr_max, nv_max) = block_shape(m, n);
    let mr = balanced(m, mr_max);
    let nb = 8 * nv_max;
    let mut j0 = 0;
    while j0 < n {
        let w = nb.min(n - j0);
        let nv = w.div_ceil(8);
        let mut i0 = 0;
        while i0 < m {
            let rows = mr.min(m - i0);
            // SAFETY: the block `(i0, j0)` of `rows × w` lies inside the
            // `m × n` product whose operands the caller vouches for, and
            // `block_shape` has a kernel for every `(rows, nv)` it is given.
            unsafe {
                run_block!(
                    (mr_max, nv_max),
                    rows,
                    nv,
                    (k, a, i0, b, j0, w, c, ldc, init)
                )
            };
            i0 += rows;
        }
        j0 += nb;
    }
}

/// Sum of the 8 lanes, in a fixed order. (Callers without AVX2 and FMA
/// enabled need `unsafe` and a CPU that has them.)
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

/// One `MR × NR` block of dot products of [`super::gemm_abt`].
///
/// # Safety
/// The CPU has AVX2 and FMA; every segment's rows at `a_off` and `b_off`
/// hold `len` readable floats, and the `MR × NR` block of `C` at `c` (row
/// stride `ldc`) is writable (and readable when `accumulate`).
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn dot_block<const MR: usize, const NR: usize>(
    len: usize,
    segments: &[super::Segment],
    a_off: &[usize],
    b_off: &[usize],
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    col_bias: Option<&[f32]>,
) {
    let full = len / 8 * 8;
    let mask = tail_mask((len - full).max(1));
    let mut acc = [[_mm256_setzero_ps(); NR]; MR];
    for seg in segments {
        let mut ap = [std::ptr::null::<f32>(); MR];
        let mut bp = [std::ptr::null::<f32>(); NR];
        // `wrapping_add`: when `len` is 0 the offsets are not checked and
        // may point past the slice (nothing is read through them then).
        for (i, p) in ap.iter_mut().enumerate() {
            *p = seg.a.as_ptr().wrapping_add(a_off[i]);
        }
        for (j, p) in bp.iter_mut().enumerate() {
            *p = seg.b.as_ptr().wrapping_add(b_off[j]);
        }
        let mut l = 0;
        while l < full {
            let mut bv = [_mm256_setzero_ps(); NR];
            for (j, v) in bv.iter_mut().enumerate() {
                // SAFETY: row `b_off[j]` of the segment holds `len` floats
                // (the caller's contract) and `l + 8 ≤ full ≤ len`.
                *v = unsafe { _mm256_loadu_ps(bp[j].add(l)) };
            }
            for i in 0..MR {
                // SAFETY: as for B, with row `a_off[i]`.
                let av = unsafe { _mm256_loadu_ps(ap[i].add(l)) };
                for j in 0..NR {
                    acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
                }
            }
            l += 8;
        }
        if full < len {
            let mut bv = [_mm256_setzero_ps(); NR];
            for (j, v) in bv.iter_mut().enumerate() {
                // SAFETY: `mask` has the `len − l` lanes that are left in the row on.
                *v = unsafe { _mm256_maskload_ps(bp[j].add(l), mask) };
            }
            for i in 0..MR {
                // SAFETY: as for B.
                let av = unsafe { _mm256_maskload_ps(ap[i].add(l), mask) };
                for j in 0..NR {
                    acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
                }
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let sum = hsum(*v);
            // SAFETY: `(i, j)` is inside the `MR × NR` block of C at `c`,
            // writable and, when accumulating, readable (the caller's contract).
            let out = unsafe { &mut *c.add(i * ldc + j) };
            *out = if accumulate {
                *out + sum
            } else {
                col_bias.map_or(0.0, |b| b[j]) + sum
            };
        }
    }
}

/// Tiles `C` of [`super::gemm_abt`] into `MR × NR` blocks (at most 6 × 2).
///
/// # Safety
/// The CPU has AVX2 and FMA; every segment's rows at `a_off` and `b_off`
/// hold `len` readable floats, `C` holds `a_off.len()` rows of
/// `b_off.len()` columns with row stride `ldc`, and `col_bias` has
/// `b_off.len()` entries, as [`super::gemm_abt`] checks.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn abt_driver(
    len: usize,
    segments: &[super::Segment],
    a_off: &[usize],
    b_off: &[usize],
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    col_bias: Option<&[f32]>,
) {
    let (m, n) = (a_off.len(), b_off.len());
    let mr = balanced(m, 6);
    for (block, segs) in segments
        .chunks(super::segment_block(len, a_off, b_off))
        .enumerate()
    {
        // The first block of segments starts C off; later ones add to it.
        let accumulate = accumulate || block > 0;
        let col_bias = if block == 0 { col_bias } else { None };
        let mut j0 = 0;
        while j0 < n {
            let cols = 2.min(n - j0);
            let bias = col_bias.map(|b| &b[j0..]);
            let mut i0 = 0;
            while i0 < m {
                let rows = mr.min(m - i0);
                let a = &a_off[i0..i0 + rows];
                let b = &b_off[j0..j0 + cols];
                // SAFETY: `(i0, j0)` is inside C (`i0 < m`, `j0 < n`).
                let cp = unsafe { c.add(i0 * ldc + j0) };
                macro_rules! go {
                    ($($r:literal),*) => {
                        match (rows, cols) {
                            $( ($r, 1) => dot_block::<$r, 1>(len, segs, a, b, cp, ldc, accumulate, bias),
                               ($r, 2) => dot_block::<$r, 2>(len, segs, a, b, cp, ldc, accumulate, bias), )*
                            _ => unreachable!("no kernel for this block"),
                        }
                    };
                }
                // SAFETY: the `rows × cols` block at `(i0, j0)` is inside C
                // and its rows inside the segments, as the caller guarantees.
                unsafe { go!(1, 2, 3, 4, 5, 6) };
                i0 += rows;
            }
            j0 += cols;
        }
    }
}
