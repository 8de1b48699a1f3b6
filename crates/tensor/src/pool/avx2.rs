//! The 256-bit `2×2` max-pooling row of [`super::max_2x2_row`].

use std::arch::x86_64::*;

/// The even- and odd-indexed floats of `p[0..16]`, each in order.
///
/// # Safety
/// The CPU has AVX2 and FMA, and the 16 floats `p[0..16]` are readable.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn deinterleave(p: *const f32) -> (__m256, __m256) {
    // SAFETY: `p[0..16]` is readable, as the caller guarantees.
    let (lo, hi) = unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) };
    let even = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
    let odd = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
    let fix =
        |v: __m256| _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)));
    (fix(even), fix(odd))
}

/// `2×2` max pooling of 8 windows at a time; returns how many outputs it wrote
/// (a multiple of 8). Same winners as the scalar loop: first maximum, last NaN.
/// Safe in itself (every access stays inside the slices); callers without
/// AVX2 and FMA enabled need `unsafe` and a CPU that has them.
#[target_feature(enable = "avx2,fma")]
pub(super) fn max_2x2_row(r0: &[f32], r1: &[f32], out: &mut [f32], codes: &mut [u8]) -> usize {
    let n = super::whole_windows(r0, r1, out, codes) / 8 * 8;
    let mut ox = 0;
    while ox < n {
        // SAFETY: `ox + 8 ≤ n ≤ r0.len() / 2`, so `r0[2·ox..2·ox + 16]` exists; as
        // for `r1`.
        let ((a, b), (c, d)) = unsafe {
            (
                deinterleave(r0.as_ptr().add(2 * ox)),
                deinterleave(r1.as_ptr().add(2 * ox)),
            )
        };
        let mut best = a;
        let mut code = _mm256_setzero_ps();
        for (v, k) in [(b, 1.0f32), (c, 2.0), (d, 3.0)] {
            let greater = _mm256_cmp_ps::<_CMP_GT_OQ>(v, best);
            let v_nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v);
            let take = _mm256_or_ps(greater, v_nan);
            best = _mm256_blendv_ps(best, v, take);
            code = _mm256_blendv_ps(code, _mm256_set1_ps(k), take);
        }
        // SAFETY: `ox + 8 ≤ n ≤ out.len()`.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(ox), best) };
        let code = _mm256_cvttps_epi32(code);
        let words = _mm256_packs_epi32(code, code);
        let bytes = _mm256_packus_epi16(words, words);
        let lo = _mm256_extract_epi32::<0>(bytes) as u32;
        let hi = _mm256_extract_epi32::<4>(bytes) as u32;
        let packed = (lo as u64) | ((hi as u64) << 32);
        codes[ox..ox + 8].copy_from_slice(&packed.to_le_bytes());
        ox += 8;
    }
    n
}
