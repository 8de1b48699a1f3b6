//! Run-time CPU feature checks shared by the hand-vectorised kernels.

/// True if the 256-bit kernels may run: the CPU has AVX2 and FMA and they are not
/// switched off ([`crate::kernels::set_simd`], `SCRATCHNET_SIMD=off`).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    crate::kernels::avx2_fma_available()
}

/// True if the 512-bit kernels may run: the CPU has AVX-512F (besides AVX2 and
/// FMA) and they are not limited away ([`crate::kernels::set_simd_limit`],
/// `SCRATCHNET_SIMD=avx2` or `off`).
#[cfg(all(target_arch = "x86_64", rustc_1_89))]
#[inline]
pub(crate) fn has_avx512() -> bool {
    crate::kernels::avx512_available()
}

/// True if the CPU is one whose 512-bit fused multiply-adds run at full width on two
/// units per core: taken to be Intel's (most of its Xeons with AVX-512 have two; AMD's
/// Zen 4 splits each into two 256-bit halves on one). A proxy, read from the CPU's vendor
/// string, for the choice of a kernel that only pays with both units
/// (`direct3x3.rs`); it is the same on every run on one machine.
#[cfg(all(target_arch = "x86_64", rustc_1_89))]
pub(crate) fn two_full_width_fma_units() -> bool {
    #[allow(unused_unsafe)]
    // SAFETY: `cpuid` exists on every x86_64 CPU; leaf 0 only reads the vendor string.
    let leaf = unsafe { std::arch::x86_64::__cpuid(0) };
    let vendor = [leaf.ebx, leaf.edx, leaf.ecx].map(u32::to_le_bytes);
    vendor.concat() == b"GenuineIntel"
}

/// The AVX-512 lane mask (`__mmask16`) with the first `n` (0..=16) of 16 lanes on.
#[cfg(all(target_arch = "x86_64", rustc_1_89))]
#[inline(always)]
pub(crate) fn first_lanes(n: usize) -> u16 {
    ((1u32 << n) - 1) as u16
}

/// Runs `work` compiled for the widest vectors the CPU has (AVX-512, AVX2 or
/// none): `work` is inlined into a function built with those features, so the
/// compiler vectorises its loops that wide. The same operations on more lanes give
/// the same bits (the loops must not depend on the lane count, and Rust never fuses
/// a multiply and an add by itself), so this only changes the speed. Mark the
/// closure `#[inline(always)]`: a closure left to the inliner's judgement may stay a
/// call, and then runs without the features.
#[inline(always)]
pub(crate) fn widest<R>(work: impl FnOnce() -> R) -> R {
    #[cfg(all(target_arch = "x86_64", rustc_1_89))]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512F, AVX2 and FMA (checked just now), all that
        // `with_avx512` needs.
        return unsafe { with_avx512(work) };
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just now), all that `with_avx2`
        // needs.
        return unsafe { with_avx2(work) };
    }
    work()
}

#[cfg(all(target_arch = "x86_64", rustc_1_89))]
#[target_feature(enable = "avx512f,avx2,fma")]
fn with_avx512<R>(work: impl FnOnce() -> R) -> R {
    work()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn with_avx2<R>(work: impl FnOnce() -> R) -> R {
    work()
}

/// `dst[i] += src[i]` over the common length, 8 lanes at a time when AVX2 is there.
pub(crate) fn add_assign(dst: &mut [f32], src: &[f32]) {
    let n = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked just now), all that
            // `add_assign_avx2` needs.
            unsafe { add_assign_avx2(dst, src) };
            return;
        }
    }
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn add_assign_avx2(dst: &mut [f32], src: &[f32]) {
    // The plain loop, compiled for AVX2: LLVM vectorises it 8 lanes wide.
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// The sum of `values` in a fixed order: eight running sums (element `i`
/// goes to sum `i % 8`), then those eight added pairwise, then the tail.
/// Unlike a single running sum, the eight chains are independent, so the
/// loop runs at the speed of the adds rather than their latency.
pub(crate) fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = values.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (l, v) in lanes.iter_mut().zip(chunk) {
            *l += v;
        }
    }
    let [a, b, c, d, e, f, g, h] = lanes;
    ((a + e) + (b + f)) + ((c + g) + (d + h)) + tail.iter().sum::<f32>()
}
