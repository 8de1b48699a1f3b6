//! Single-precision matrix products `C = A·B` (or `C += A·B`) for the small,
//! oddly shaped matrices of a convolutional network, written from scratch.
//!
//! The kernel keeps an `MR × 8·NV` block of `C` in registers and walks the
//! shared dimension once, broadcasting one element of `A` per row and
//! loading `NV` vectors of a row of `B`: on x86-64 with AVX-512 (checked at run
//! time, `gemm/avx512.rs`, for products of 16 columns or more) these are 512-bit
//! fused multiply-adds on blocks of up to `6 × 64`; with AVX2 and FMA 256-bit ones on blocks of up to `6 × 16`;
//! elsewhere a portable loop computes the same sums. All three give the same
//! bits (`SCRATCHNET_SIMD=avx2` or `off` choose the narrower paths). `B` is never packed: each of its rows is
//! found through a [`BRows`] lookup, which lets a convolution read the rows of
//! its im2col matrix straight out of a padded input (an *implicit* im2col).
//! `A` is read with arbitrary strides, so transposed operands cost nothing.
//!
//! **Determinism.** Every element of `C` is one sum over the shared dimension
//! in increasing order, computed the same way whichever block it falls in, so
//! splitting `C`'s rows between threads ([`gemm_par_rows`]) never changes a bit.
//!
//! Measured against ndarray's default (`matrixmultiply`) at LeNet-5's shapes,
//! see the crate's benchmark notes; the gain comes from no packing, no
//! allocation per call, and blocks sized for these matrices.

use rayon::prelude::*;
use std::marker::PhantomData;

#[cfg(target_arch = "x86_64")]
mod avx2;
// Rust 1.89 stabilised the AVX-512 intrinsics; older compilers get AVX2 at most (build.rs).
#[cfg(all(target_arch = "x86_64", rustc_1_89))]
mod avx512;

mod sealed {
    /// Only this module's operand types may be handed to the kernels, which trust their bounds.
    pub trait Sealed {}
}

/// The rows of a `B` operand: where row `k` starts. Column `j` of row `k` is
/// `row(k)[j]`, so columns are contiguous. Implemented by [`Strided`] (with
/// column stride 1) and [`OffsetRows`].
pub trait BRows: sealed::Sealed + Sync {
    /// Pointer to the first element of row `k`.
    fn row(&self, k: usize) -> *const f32;
    /// `[rows, cols]` that may be read (checked when the operand was built).
    fn dims(&self) -> [usize; 2];
    /// Whether the columns of a row are adjacent in memory.
    fn unit_col_stride(&self) -> bool;
}

/// The rows of an `A` operand: where row `i` starts and where its columns are
/// from there. Implemented by [`Strided`], [`OffsetRows`] and [`Gathered`].
pub trait ARows: sealed::Sealed + Sync {
    /// Pointer to element `(i, 0)`.
    fn row(&self, i: usize) -> *const f32;
    /// Distance from element `(i, 0)` to element `(i, k)`, the same for every row.
    fn col_offset(&self, k: usize) -> usize;
    /// `[rows, cols]` that may be read (checked when the operand was built).
    fn dims(&self) -> [usize; 2];
}

/// A strided matrix: element `(i, j)` at `data[i·row_stride + j·col_stride]`,
/// borrowing `data` for `'a`, so it cannot outlive the slice it reads.
///
/// A `Strided` built from a vector that is dropped before the product runs
/// does not compile:
///
/// ```compile_fail,E0597
/// use scratchnet_tensor::gemm::{gemm, Init, Strided};
/// let b = [5.0f32, 6.0, 7.0, 8.0];
/// let a_op = {
///     let a = vec![1.0f32, 2.0, 3.0, 4.0];
///     Strided::new(&a, 2, 2, 2, 1)
/// }; // `a` is freed here, while `a_op` still points into it
/// let mut c = [0.0f32; 4];
/// gemm(2, 2, 2, &a_op, &Strided::new(&b, 2, 2, 2, 1), &mut c, 2, Init::Overwrite);
/// ```
///
/// while the same program with the vector kept alive does, and multiplies:
///
/// ```
/// use scratchnet_tensor::gemm::{gemm, Init, Strided};
/// let b = [5.0f32, 6.0, 7.0, 8.0];
/// let a = vec![1.0f32, 2.0, 3.0, 4.0];
/// let a_op = {
///     Strided::new(&a, 2, 2, 2, 1)
/// };
/// let mut c = [0.0f32; 4];
/// gemm(2, 2, 2, &a_op, &Strided::new(&b, 2, 2, 2, 1), &mut c, 2, Init::Overwrite);
/// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a> {
    ptr: *const f32,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
    data: PhantomData<&'a [f32]>,
}

// SAFETY: a `Strided<'a>` only reads through `ptr`, which points into a
// `&'a [f32]` it borrows for its whole life (`data`); sharing or sending it is
// sharing or sending that `&[f32]`, which is `Send` and `Sync`.
unsafe impl Sync for Strided<'_> {}
// SAFETY: as for `Sync` above.
unsafe impl Send for Strided<'_> {}
impl sealed::Sealed for Strided<'_> {}

impl<'a> Strided<'a> {
    /// Views `data` as an `rows × cols` matrix with the given strides.
    ///
    /// # Panics
    /// If the last element lies outside `data` (or its index overflows `usize`).
    #[track_caller]
    pub fn new(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        if rows > 0 && cols > 0 {
            let last = (rows - 1)
                .checked_mul(row_stride)
                .zip((cols - 1).checked_mul(col_stride))
                .and_then(|(r, c)| r.checked_add(c));
            assert!(
                last.is_some_and(|last| last < data.len()),
                "matrix does not fit its slice"
            );
        }
        Self {
            ptr: data.as_ptr(),
            rows,
            cols,
            row_stride,
            col_stride,
            data: PhantomData,
        }
    }
}

impl BRows for Strided<'_> {
    #[inline(always)]
    fn row(&self, k: usize) -> *const f32 {
        self.ptr.wrapping_add(k * self.row_stride)
    }
    fn dims(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }
    fn unit_col_stride(&self) -> bool {
        self.col_stride == 1 || self.cols <= 1
    }
}

impl ARows for Strided<'_> {
    #[inline(always)]
    fn row(&self, i: usize) -> *const f32 {
        self.ptr.wrapping_add(i * self.row_stride)
    }
    #[inline(always)]
    fn col_offset(&self, k: usize) -> usize {
        k * self.col_stride
    }
    fn dims(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }
}

/// A matrix whose row `r` is the contiguous run starting at `data[offsets[r]]`
/// (column stride 1): the implicit im2col matrix of a padded input.
#[derive(Clone, Copy, Debug)]
pub struct OffsetRows<'a> {
    ptr: *const f32,
    offsets: &'a [usize],
    cols: usize,
}

// SAFETY: `ptr` points into the `&'a [f32]` the value was built from (its
// lifetime is `offsets`'), and is only read: sharing or sending an `OffsetRows`
// is sharing or sending that `&[f32]`, which is `Send` and `Sync`.
unsafe impl Sync for OffsetRows<'_> {}
// SAFETY: as for `Sync` above.
unsafe impl Send for OffsetRows<'_> {}
impl sealed::Sealed for OffsetRows<'_> {}

impl<'a> OffsetRows<'a> {
    /// Rows `data[offsets[r]..offsets[r] + cols]`.
    ///
    /// # Panics
    /// If a row runs past the end of `data`.
    #[track_caller]
    pub fn new(data: &'a [f32], offsets: &'a [usize], cols: usize) -> Self {
        if cols > 0 {
            let max = offsets.iter().copied().max().unwrap_or(0);
            assert!(
                offsets.is_empty() || max.checked_add(cols).is_some_and(|end| end <= data.len()),
                "a row runs past the end of its slice"
            );
        }
        Self {
            ptr: data.as_ptr(),
            offsets,
            cols,
        }
    }
}

impl BRows for OffsetRows<'_> {
    #[inline(always)]
    fn row(&self, k: usize) -> *const f32 {
        self.ptr.wrapping_add(self.offsets[k])
    }
    fn dims(&self) -> [usize; 2] {
        [self.offsets.len(), self.cols]
    }
    fn unit_col_stride(&self) -> bool {
        true
    }
}

impl ARows for OffsetRows<'_> {
    #[inline(always)]
    fn row(&self, i: usize) -> *const f32 {
        self.ptr.wrapping_add(self.offsets[i])
    }
    #[inline(always)]
    fn col_offset(&self, k: usize) -> usize {
        k
    }
    fn dims(&self) -> [usize; 2] {
        [self.offsets.len(), self.cols]
    }
}

/// A matrix gathered from a slice: element `(i, k)` is
/// `data[row_offsets[i] + col_offsets[k]]`. As an `A` operand it reads the
/// im2col matrix of a padded input exactly (rows = output pixels and columns
/// = kernel taps, or the other way round), with no copy and no wasted columns.
#[derive(Clone, Copy, Debug)]
pub struct Gathered<'a> {
    ptr: *const f32,
    row_offsets: &'a [usize],
    col_offsets: &'a [usize],
}

// SAFETY: `ptr` points into the `&'a [f32]` the value was built from (its
// lifetime is the offsets'), and is only read: sharing or sending a `Gathered`
// is sharing or sending that `&[f32]`, which is `Send` and `Sync`.
unsafe impl Sync for Gathered<'_> {}
// SAFETY: as for `Sync` above.
unsafe impl Send for Gathered<'_> {}
impl sealed::Sealed for Gathered<'_> {}

impl<'a> Gathered<'a> {
    /// The matrix `(i, k) ↦ data[row_offsets[i] + col_offsets[k]]`.
    ///
    /// # Panics
    /// If an element lies outside `data`.
    #[track_caller]
    pub fn new(data: &'a [f32], row_offsets: &'a [usize], col_offsets: &'a [usize]) -> Self {
        if let (Some(r), Some(c)) = (row_offsets.iter().max(), col_offsets.iter().max()) {
            assert!(
                r.checked_add(*c).is_some_and(|last| last < data.len()),
                "an element lies outside the slice"
            );
        }
        Self {
            ptr: data.as_ptr(),
            row_offsets,
            col_offsets,
        }
    }
}

impl ARows for Gathered<'_> {
    #[inline(always)]
    fn row(&self, i: usize) -> *const f32 {
        self.ptr.wrapping_add(self.row_offsets[i])
    }
    #[inline(always)]
    fn col_offset(&self, k: usize) -> usize {
        self.col_offsets[k]
    }
    fn dims(&self) -> [usize; 2] {
        [self.row_offsets.len(), self.col_offsets.len()]
    }
}

/// How the product meets the previous contents of `C`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init<'a> {
    /// `C = A·B`: `C` is only written.
    Overwrite,
    /// `C += A·B`.
    Accumulate,
    /// `C = bias·1ᵀ + A·B`: row `i` starts from `bias[i]` (the bias has `M` entries).
    RowBias(&'a [f32]),
}

/// `C = A·B`, `C += A·B` or `C = bias + A·B` (see [`Init`]) for an `M×K` `A`,
/// a `K×N` `B` and an `M×N` `C` stored row-major with row stride `ldc`.
///
/// The operands are described by [`ARows`] and [`BRows`]; [`Strided`] covers
/// ordinary and transposed matrices. Their bounds are checked when they are
/// built (for the `M×K` and `K×N` extents the caller intends); `C` is checked here.
///
/// # Panics
/// If `C` is too short for `M` rows of `N` columns with stride `ldc`, or
/// a `RowBias` has fewer than `M` entries.
///
/// ```
/// use scratchnet_tensor::gemm::{gemm, Init, Strided};
/// let a = [1.0f32, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let b = [5.0f32, 6.0, 7.0, 8.0]; // [[5, 6], [7, 8]]
/// let mut c = [0.0f32; 4];
/// gemm(2, 2, 2, &Strided::new(&a, 2, 2, 2, 1), &Strided::new(&b, 2, 2, 2, 1), &mut c, 2, Init::Overwrite);
/// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
/// ```
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn gemm<A: ARows, B: BRows>(
    m: usize,
    n: usize,
    k: usize,
    a: &A,
    b: &B,
    c: &mut [f32],
    ldc: usize,
    init: Init,
) {
    if m == 0 || n == 0 {
        return;
    }
    check(m, n, k, a, b, c, ldc, init);
    // SAFETY: C's extent was checked above; A's and B's when they were built.
    unsafe { gemm_unchecked(m, n, k, a, b, c.as_mut_ptr(), ldc, init) }
}

/// [`gemm`] with `C`'s rows split into fixed blocks of `block_rows` that run
/// on rayon's pool. The result is bit-identical to [`gemm`] for any number of threads.
///
/// # Panics
/// As [`gemm`], or if `block_rows` is 0.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn gemm_par_rows<A: ARows, B: BRows>(
    m: usize,
    n: usize,
    k: usize,
    a: &A,
    b: &B,
    c: &mut [f32],
    ldc: usize,
    init: Init,
    block_rows: usize,
) {
    assert!(block_rows > 0, "block_rows must be at least 1");
    if m == 0 || n == 0 {
        return;
    }
    check(m, n, k, a, b, c, ldc, init);
    if m <= block_rows || !crate::parallel::use_threads() {
        // SAFETY: as in `gemm`.
        return unsafe { gemm_unchecked(m, n, k, a, b, c.as_mut_ptr(), ldc, init) };
    }
    let c = &mut c[..(m - 1) * ldc + n];
    c.par_chunks_mut(block_rows * ldc)
        .enumerate()
        .for_each(|(blk, c_blk)| {
            let i0 = blk * block_rows;
            let rows = block_rows.min(m - i0);
            let sub_a = ShiftA { inner: a, by: i0 };
            let init = match init {
                Init::RowBias(bias) => Init::RowBias(&bias[i0..]),
                other => other,
            };
            // SAFETY: c_blk holds rows i0..i0+rows of C (the last one may be short
            // but still holds its n columns, as C's length was checked).
            unsafe { gemm_unchecked(rows, n, k, &sub_a, b, c_blk.as_mut_ptr(), ldc, init) }
        });
}

/// The bounds every entry point checks before the unchecked kernels run.
#[track_caller]
#[allow(clippy::too_many_arguments)]
fn check<A: ARows, B: BRows>(
    m: usize,
    n: usize,
    k: usize,
    a: &A,
    b: &B,
    c: &[f32],
    ldc: usize,
    init: Init,
) {
    assert!(n <= ldc || m == 1, "ldc is smaller than N");
    assert!(c_fits(m, n, ldc, c.len()), "C is too short for its shape");
    if k > 0 {
        let [ar, ac] = a.dims();
        assert!(ar >= m && ac >= k, "A is smaller than M×K");
        let [br, bc] = b.dims();
        assert!(br >= k && bc >= n, "B is smaller than K×N");
        assert!(
            b.unit_col_stride(),
            "B's columns must be adjacent (column stride 1)"
        );
    }
    if let Init::RowBias(bias) = init {
        assert!(
            bias.len() >= m,
            "the bias has fewer entries than C has rows"
        );
    }
}

/// Whether `M` rows of `N` columns with row stride `ldc` fit in `len` floats
/// (false when the extent `(M − 1)·ldc + N` overflows `usize`); `m, n > 0`.
fn c_fits(m: usize, n: usize, ldc: usize, len: usize) -> bool {
    (m - 1)
        .checked_mul(ldc)
        .and_then(|start| start.checked_add(n))
        .is_some_and(|end| end <= len)
}

/// `A` with its first `by` rows skipped.
struct ShiftA<'a, A> {
    inner: &'a A,
    by: usize,
}

impl<A> sealed::Sealed for ShiftA<'_, A> {}

impl<A: ARows> ARows for ShiftA<'_, A> {
    #[inline(always)]
    fn row(&self, i: usize) -> *const f32 {
        self.inner.row(i + self.by)
    }
    #[inline(always)]
    fn col_offset(&self, k: usize) -> usize {
        self.inner.col_offset(k)
    }
    fn dims(&self) -> [usize; 2] {
        let [r, c] = self.inner.dims();
        [r - self.by, c]
    }
}

/// The product without any check.
///
/// # Safety
/// `a.row(i)[kk·cs]` for `i < m, kk < k`, `b.row(kk)[j]` for `kk < k, j < n`
/// must be readable, and `c[i·ldc + j]` for `i < m, j < n` writable (and
/// readable for `Init::Accumulate`); a `RowBias` must have `m` entries.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_unchecked<A: ARows, B: BRows>(
    m: usize,
    n: usize,
    k: usize,
    a: &A,
    b: &B,
    c: *mut f32,
    ldc: usize,
    init: Init,
) {
    #[cfg(all(target_arch = "x86_64", rustc_1_89))]
    {
        if wide_block_pays(m, n) {
            // SAFETY: the CPU has AVX-512F (checked just now); the operands
            // are as this function's caller guarantees.
            return unsafe { avx512::driver(m, n, k, a, b, c, ldc, init) };
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked just now); the operands
            // are as this function's caller guarantees.
            return unsafe { avx2::driver(m, n, k, a, b, c, ldc, init) };
        }
    }
    // SAFETY: the operands are as this function's caller guarantees.
    unsafe { portable_driver(m, n, k, a, b, c, ldc, init) }
}

/// Whether a product of `m` rows and `n` columns runs on the 512-bit register
/// block (the CPU has it, it is not limited away, and the shape pays for it).
pub(crate) fn wide_block_pays(m: usize, n: usize) -> bool {
    #[cfg(all(target_arch = "x86_64", rustc_1_89))]
    {
        crate::simd::has_avx512() && avx512::pays(m, n)
    }
    #[cfg(not(all(target_arch = "x86_64", rustc_1_89)))]
    {
        let _ = (m, n);
        false
    }
}

/// Splits `len` into `ceil(len / max)` nearly equal blocks; returns (block count, block size).
#[inline]
pub(crate) fn balanced(len: usize, max: usize) -> usize {
    let blocks = len.div_ceil(max);
    len.div_ceil(blocks)
}

/// The same blocks and summation order as the AVX2 path, in plain Rust.
///
/// # Safety
/// As [`gemm_unchecked`].
#[allow(clippy::too_many_arguments)]
unsafe fn portable_driver<A: ARows, B: BRows>(
    m: usize,
    n: usize,
    k: usize,
    a: &A,
    b: &B,
    c: *mut f32,
    ldc: usize,
    init: Init,
) {
    const NB: usize = 16;
    for i in 0..m {
        let arow = a.row(i);
        // SAFETY: row `i < m` of C starts inside C (the caller's contract).
        let crow = unsafe { c.add(i * ldc) };
        let mut j0 = 0;
        while j0 < n {
            let w = NB.min(n - j0);
            let mut acc = [0.0f32; NB];
            match init {
                Init::Overwrite => {}
                Init::Accumulate => {
                    for (j, v) in acc.iter_mut().enumerate().take(w) {
                        // SAFETY: `(i, j0 + j)` is inside C (`i < m`, `j0 + j < n`),
                        // which the caller guarantees readable when accumulating.
                        *v = unsafe { *crow.add(j0 + j) };
                    }
                }
                Init::RowBias(bias) => acc = [bias[i]; NB],
            }
            for kk in 0..k {
                // SAFETY: `A[i, kk]` and `B[kk, j0..j0 + w]` are inside their
                // operands (`i < m`, `kk < k`, `j0 + w ≤ n`), as the caller guarantees.
                let (av, brow) = unsafe { (*arow.add(a.col_offset(kk)), b.row(kk).add(j0)) };
                for (j, v) in acc.iter_mut().enumerate().take(w) {
                    // SAFETY: as just above; `j < w`.
                    *v = av.mul_add(unsafe { *brow.add(j) }, *v);
                }
            }
            for (j, v) in acc.iter().enumerate().take(w) {
                // SAFETY: `(i, j0 + j)` is inside C, which the caller guarantees writable.
                unsafe { *crow.add(j0 + j) = *v };
            }
            j0 += NB;
        }
    }
}

/// How many segments [`gemm_abt`] sums in registers before adding into `C`:
/// as many as fit in about 16 KiB (half of L1), at least one. Every tile of
/// `C` passes over a block's rows, so a block that stays in L1 is read from
/// L1 by all tiles; the extra cost is one horizontal sum per tile and block.
/// Depends only on the shapes, so the summation order is fixed.
fn segment_block(len: usize, a_off: &[usize], b_off: &[usize]) -> usize {
    let a_span = a_off.iter().max().map_or(0, |&m| m + len);
    let b_span = b_off.iter().max().map_or(0, |&m| m + len);
    (4096 / (a_span + b_span).max(1)).max(1)
}

/// One term of a [`gemm_abt`] sum: the rows of `A` and `B` for one segment
/// of the shared dimension (for a convolution's weight gradient, one sample).
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Row `i` of `A` is `a[a_offsets[i]..][..len]`.
    pub a: &'a [f32],
    /// Row `j` of `B` is `b[b_offsets[j]..][..len]`.
    pub b: &'a [f32],
}

/// `C (+)= Σ_segments A_s·B_sᵀ` where every row of `A_s` and `B_s` is a
/// contiguous run of `len` floats: row `i` of `A_s` starts at
/// `segment.a[a_offsets[i]]`, row `j` of `B_s` at `segment.b[b_offsets[j]]`.
/// `C` is `M×N` (`M = a_offsets.len()`, `N = b_offsets.len()`), row stride `ldc`.
///
/// Each element is one dot product, accumulated lane-wise over a fixed block
/// of segments (as many as fit in L1), summed across lanes and added to `C`
/// block after block, so the result does not depend on how callers split `C`
/// between threads. `col_bias` (length `N`) is added to
/// every row when not accumulating (a dense layer's bias).
///
/// # Panics
/// If a row runs past the end of its slice, `ldc < N` (with more than one row), `C` is
/// too short, or `col_bias` is too short.
///
/// ```
/// use scratchnet_tensor::gemm::{gemm_abt, Segment};
/// let x = [1.0f32, 2.0, 3.0, 4.0]; // two rows of 2
/// let mut c = [0.0f32; 4];
/// let seg = Segment { a: &x, b: &x };
/// gemm_abt(2, &[seg], &[0, 2], &[0, 2], &mut c, 2, false, None);
/// assert_eq!(c, [5.0, 11.0, 11.0, 25.0]); // x·xᵀ
/// ```
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn gemm_abt(
    len: usize,
    segments: &[Segment],
    a_offsets: &[usize],
    b_offsets: &[usize],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    col_bias: Option<&[f32]>,
) {
    let (m, n) = (a_offsets.len(), b_offsets.len());
    if m == 0 || n == 0 {
        return;
    }
    assert!(n <= ldc || m == 1, "ldc is smaller than N");
    assert!(c_fits(m, n, ldc, c.len()), "C is too short for its shape");
    if let Some(bias) = col_bias {
        assert!(
            bias.len() >= n,
            "the bias has fewer entries than C has columns"
        );
    }
    let a_max = a_offsets.iter().copied().max().unwrap_or(0);
    let b_max = b_offsets.iter().copied().max().unwrap_or(0);
    for seg in segments {
        let fits = |max: usize, data: &[f32]| max.checked_add(len).is_some_and(|e| e <= data.len());
        assert!(fits(a_max, seg.a), "a row of A runs past its slice");
        assert!(fits(b_max, seg.b), "a row of B runs past its slice");
    }
    if segments.is_empty() {
        // An empty sum: C is left as it is, or becomes the bias (or zero).
        if !accumulate {
            for row in 0..m {
                for (j, out) in c[row * ldc..][..n].iter_mut().enumerate() {
                    *out = col_bias.map_or(0.0, |b| b[j]);
                }
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked just now), and every row,
            // C and the bias were bounds-checked above.
            return unsafe {
                avx2::abt_driver(
                    len,
                    segments,
                    a_offsets,
                    b_offsets,
                    c.as_mut_ptr(),
                    ldc,
                    accumulate,
                    col_bias,
                )
            };
        }
    }
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0.0f32;
            for seg in segments {
                let ar = &seg.a[a_offsets[i]..a_offsets[i] + len];
                let br = &seg.b[b_offsets[j]..b_offsets[j] + len];
                sum = ar.iter().zip(br).fold(sum, |s, (x, y)| x.mul_add(*y, s));
            }
            let out = &mut c[i * ldc + j];
            *out = if accumulate {
                *out + sum
            } else {
                col_bias.map_or(0.0, |b| b[j]) + sum
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7919 + seed * 104729) % 97) as f32 - 48.0) / 16.0)
            .collect()
    }

    /// The definition, summing in the same order (so results agree exactly with FMA off).
    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for kk in 0..k {
                    s += a[i * k + kk] as f64 * b[kk * n + j] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn matches_naive_product_for_every_block_shape() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (1, 896, 150),
            (6, 896, 25),
            (16, 100, 150),
            (150, 100, 16),
            (25, 8, 896),
            (64, 120, 400),
            (120, 400, 64),
            (7, 13, 5),
            (13, 37, 3),
            (5, 24, 9),
            (12, 48, 11),
            (3, 9, 0),
        ] {
            let a = data(m * k, 1);
            let b = data(k * n, 2);
            let expected = naive(m, n, k, &a, &b);
            let mut c = vec![f32::NAN; m * n];
            gemm(
                m,
                n,
                k,
                &Strided::new(&a, m, k, k, 1),
                &Strided::new(&b, k, n, n, 1),
                &mut c,
                n,
                Init::Overwrite,
            );
            for (x, y) in c.iter().zip(&expected) {
                assert!(
                    (x - y).abs() <= 1e-4 * y.abs().max(1.0),
                    "{m}x{n}x{k}: {x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn transposed_a_offset_b_accumulate_and_bias() {
        let (m, n, k) = (10, 21, 7);
        let at = data(k * m, 3); // A stored transposed: [K, M]
        let b_store = data(k * 30 + 5, 4);
        let offsets: Vec<usize> = (0..k).map(|kk| kk * 30 + (kk % 3)).collect();
        let a: Vec<f32> = (0..m * k).map(|x| at[(x % k) * m + x / k]).collect();
        let b: Vec<f32> = (0..k * n)
            .map(|x| b_store[offsets[x / n] + x % n])
            .collect();
        let prod = naive(m, n, k, &a, &b);
        let bias: Vec<f32> = (0..m).map(|i| i as f32).collect();
        let a_op = Strided::new(&at, m, k, 1, m);
        let b_op = OffsetRows::new(&b_store, &offsets, n);
        let mut c = vec![0.0f32; m * 24];
        gemm(m, n, k, &a_op, &b_op, &mut c, 24, Init::RowBias(&bias));
        gemm(m, n, k, &a_op, &b_op, &mut c, 24, Init::Accumulate);
        for i in 0..m {
            for j in 0..n {
                let want = bias[i] + 2.0 * prod[i * n + j];
                let got = c[i * 24 + j];
                assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0));
            }
            assert!(c[i * 24 + n..i * 24 + 24].iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn segmented_abt_with_no_segments_is_the_bias() {
        // Every path (the portable loop, AVX2, AVX-512) must write C for an empty sum.
        let bias = [1.0f32, 2.0];
        let mut c = [f32::NAN; 4];
        gemm_abt(3, &[], &[0, 3], &[0, 3], &mut c, 2, false, Some(&bias));
        assert_eq!(c, [1.0, 2.0, 1.0, 2.0]);
        let mut c = [f32::NAN; 4];
        gemm_abt(3, &[], &[0, 3], &[0, 3], &mut c, 2, false, None);
        assert_eq!(c, [0.0; 4]);
        let mut c = [5.0f32; 4];
        gemm_abt(3, &[], &[0, 3], &[0, 3], &mut c, 2, true, Some(&bias));
        assert_eq!(c, [5.0; 4]);
    }

    #[test]
    #[should_panic(expected = "ldc is smaller than N")]
    fn segmented_abt_refuses_overlapping_rows_of_c() {
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let mut c = [0.0f32; 4];
        gemm_abt(
            2,
            &[Segment { a: &x, b: &x }],
            &[0, 2],
            &[0, 2],
            &mut c,
            1,
            false,
            None,
        );
    }

    /// `gemm` reads a row of `B` as adjacent floats. A `B` of one column may have any
    /// column stride (it never applies)…
    #[test]
    fn a_b_operand_of_one_column_may_have_any_column_stride() {
        let (a, b) = ([1.0f32, 2.0], [3.0f32, 0.0, 4.0]);
        let mut c = [0.0f32; 1];
        // B = [[3], [4]]: rows two floats apart, a column stride of 5 never used.
        let b_op = Strided::new(&b, 2, 1, 2, 5);
        gemm(
            1,
            1,
            2,
            &Strided::new(&a, 1, 2, 2, 1),
            &b_op,
            &mut c,
            1,
            Init::Overwrite,
        );
        assert_eq!(c[0], 11.0);
    }

    /// … but a `B` whose columns are spread is refused: it would be read as if they
    /// were adjacent, and the product would use the wrong elements.
    #[test]
    #[should_panic(expected = "B's columns must be adjacent (column stride 1)")]
    fn a_b_operand_with_spread_columns_is_refused() {
        let (a, b) = ([1.0f32], [3.0f32, 0.0, 4.0]);
        let mut c = [0.0f32; 2];
        // B = [[3, 4]]: one row whose two columns are two floats apart.
        let b_op = Strided::new(&b, 1, 2, 3, 2);
        gemm(
            1,
            2,
            1,
            &Strided::new(&a, 1, 1, 1, 1),
            &b_op,
            &mut c,
            2,
            Init::Overwrite,
        );
    }

    #[test]
    #[should_panic(expected = "a row of A runs past its slice")]
    fn segmented_abt_checks_offsets_even_for_empty_rows() {
        let x = [1.0f32, 2.0];
        let mut c = [0.0f32; 1];
        gemm_abt(
            0,
            &[Segment { a: &x, b: &x }],
            &[7],
            &[0],
            &mut c,
            1,
            false,
            None,
        );
    }

    #[test]
    fn gathered_a_and_segmented_abt_match_naive() {
        // Gathered: (i, k) -> data[rows[i] + cols[k]], the implicit im2col of a 2-D plane.
        let data = data(12 * 12, 7);
        let rows: Vec<usize> = (0..8)
            .flat_map(|y| (0..8).map(move |x| y * 12 + x))
            .collect();
        let cols: Vec<usize> = (0..5)
            .flat_map(|y| (0..5).map(move |x| y * 12 + x))
            .collect();
        let (m, k, n) = (rows.len(), cols.len(), 11);
        let a: Vec<f32> = (0..m * k)
            .map(|x| data[rows[x / k] + cols[x % k]])
            .collect();
        let b = self::data(k * n, 8);
        let want = naive(m, n, k, &a, &b);
        let mut c = vec![0.0f32; m * n];
        gemm(
            m,
            n,
            k,
            &Gathered::new(&data, &rows, &cols),
            &Strided::new(&b, k, n, n, 1),
            &mut c,
            n,
            Init::Overwrite,
        );
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0));
        }
        // gemm_abt over 3 segments of different data = the sum of three A·Bᵀ.
        let len = 37;
        let segs: Vec<(Vec<f32>, Vec<f32>)> = (0..3)
            .map(|s| (self::data(5 * len, 10 + s), self::data(4 * len, 20 + s)))
            .collect();
        let segments: Vec<Segment> = segs.iter().map(|(a, b)| Segment { a, b }).collect();
        let a_off: Vec<usize> = (0..5).map(|i| i * len).collect();
        let b_off: Vec<usize> = (0..4).map(|j| j * len).collect();
        let bias = [1.0f32, 2.0, 3.0, 4.0];
        let mut c = vec![0.0f32; 5 * 4];
        gemm_abt(
            len,
            &segments,
            &a_off,
            &b_off,
            &mut c,
            4,
            false,
            Some(&bias),
        );
        for i in 0..5 {
            for j in 0..4 {
                let mut want = bias[j] as f64;
                for (sa, sb) in &segs {
                    for l in 0..len {
                        want += sa[i * len + l] as f64 * sb[j * len + l] as f64;
                    }
                }
                assert!((c[i * 4 + j] as f64 - want).abs() < 1e-3, "{i},{j}");
            }
        }
    }

    #[test]
    fn row_split_is_bit_identical_in_1_and_4_threads() {
        let (m, n, k) = (120, 400, 64);
        let a = data(m * k, 5);
        let b = data(k * n, 6);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut c = vec![0.0f32; m * n];
                gemm_par_rows(
                    m,
                    n,
                    k,
                    &Strided::new(&a, m, k, k, 1),
                    &Strided::new(&b, k, n, n, 1),
                    &mut c,
                    n,
                    Init::Overwrite,
                    16,
                );
                c
            })
        };
        let one = run(1);
        let four = run(4);
        assert!(one
            .iter()
            .zip(&four)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
        let mut serial = vec![0.0f32; m * n];
        gemm(
            m,
            n,
            k,
            &Strided::new(&a, m, k, k, 1),
            &Strided::new(&b, k, n, n, 1),
            &mut serial,
            n,
            Init::Overwrite,
        );
        assert!(one
            .iter()
            .zip(&serial)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}
