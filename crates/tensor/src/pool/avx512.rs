//! The 512-bit `2×2` max-pooling row of [`super::max_2x2_row`]: 16 windows at a time,
//! and the row's last, shorter run through lane masks, so that no window of a row
//! (7 or 14 of them in a small CNN) falls back to the scalar loop.

// The workspace's minimum Rust is 1.86; this module is compiled only from 1.89 on
// (`cfg(rustc_1_89)`, see build.rs), where these intrinsics are stable.
#![allow(clippy::incompatible_msrv)]

use crate::simd::first_lanes;
use std::arch::x86_64::*;

/// `2×2` max pooling of the whole row: `out[ox]` is the maximum of `r0[2·ox]`,
/// `r0[2·ox + 1]`, `r1[2·ox]`, `r1[2·ox + 1]` and `codes[ox]` its position among them
/// (0–3), for every `ox` below the returned count (the shortest of the slices' sizes).
/// Same winners as the scalar loop: the first maximum, or the last NaN.
/// Safe in itself (every access stays inside the slices, masked-off lanes are neither
/// read nor written); callers without AVX-512F enabled need `unsafe` and a CPU that
/// has it.
#[target_feature(enable = "avx512f")]
pub(super) fn max_2x2_row(r0: &[f32], r1: &[f32], out: &mut [f32], codes: &mut [u8]) -> usize {
    let n = super::whole_windows(r0, r1, out, codes);
    // Lane i of `even` takes float 2i of the 32 loaded, lane i of `odd` float 2i + 1.
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let mut ox = 0;
    while ox < n {
        let windows = (n - ox).min(16);
        // The `2·windows` floats of each row: the first 16 and the rest.
        let (first, second) = (
            first_lanes((2 * windows).min(16)),
            first_lanes(2 * windows - (2 * windows).min(16)),
        );
        let pair = |row: &[f32]| {
            // `p + 16` lies past the row's end when 8 windows or fewer are left (then
            // `second` is empty), so it is formed with `wrapping_add`, which is defined
            // for any offset; only `p + 2·ox` must stay inside the row.
            let p = row.as_ptr().wrapping_add(2 * ox);
            // SAFETY: `ox + windows ≤ n ≤ row.len() / 2`, so `row[2·ox..2·(ox + windows)]`
            // exists: the first `(2·windows).min(16)` floats from `p` and the rest from
            // `p + 16`. The masks enable exactly those floats, and masked-off lanes are
            // not read.
            let (lo, hi) = unsafe {
                (
                    _mm512_maskz_loadu_ps(first, p),
                    _mm512_maskz_loadu_ps(second, p.wrapping_add(16)),
                )
            };
            (
                _mm512_permutex2var_ps(lo, even, hi),
                _mm512_permutex2var_ps(lo, odd, hi),
            )
        };
        let ((a, b), (c, d)) = (pair(r0), pair(r1));
        let mut best = a;
        let mut code = _mm512_setzero_si512();
        for (v, k) in [(b, 1), (c, 2), (d, 3)] {
            let greater = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best);
            let v_nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
            let take = greater | v_nan;
            best = _mm512_mask_blend_ps(take, best, v);
            code = _mm512_mask_blend_epi32(take, code, _mm512_set1_epi32(k));
        }
        let written = first_lanes(windows);
        // SAFETY: `ox + windows ≤ n ≤ out.len(), codes.len()`, and only the first
        // `windows` lanes are written.
        unsafe {
            _mm512_mask_storeu_ps(out.as_mut_ptr().add(ox), written, best);
            _mm512_mask_cvtepi32_storeu_epi8(codes.as_mut_ptr().add(ox).cast(), written, code);
        }
        ox += windows;
    }
    n
}
