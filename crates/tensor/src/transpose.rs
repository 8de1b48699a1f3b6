//! A cache-friendly matrix transpose, for the kernels that change a tensor's layout
//! between their products (output gradients into pixel-major order, Winograd's
//! channels-last tiles).

/// Writes the transpose of the `rows × cols` matrix `src` into `dst` with row
/// stride `ld`: `dst[j·ld + i] = src[i·cols + j]`, in 16 × 16 tiles so that
/// both sides stay in L1 (column by column over the whole matrix, every write
/// was a cache miss).
///
/// With AVX it moves whole 8 × 8 blocks through vector registers (eight loads, 24
/// shuffles, eight stores; [`avx::transpose`]); the values are moved, never
/// computed, so both ways give the same result.
///
/// # Panics
/// If `src` holds fewer than `rows·cols` values, `ld < rows`, or `dst` is too short
/// for `cols` rows of `rows` values at stride `ld`.
pub(crate) fn transpose_into(src: &[f32], [rows, cols]: [usize; 2], dst: &mut [f32], ld: usize) {
    transpose_strided_into(src, cols, [rows, cols], dst, ld)
}

/// [`transpose_into`] of a matrix whose rows lie `src_ld` apart in `src`:
/// `dst[j·ld + i] = src[i·src_ld + j]` (the same rows of a tensor's planes, for
/// example).
///
/// # Panics
/// If `src_ld < cols`, `src` is too short for `rows` rows of `cols` values at stride
/// `src_ld`, `ld < rows`, or `dst` is too short for `cols` rows of `rows` values at
/// stride `ld`.
pub(crate) fn transpose_strided_into(
    src: &[f32],
    src_ld: usize,
    [rows, cols]: [usize; 2],
    dst: &mut [f32],
    ld: usize,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(
        src_ld >= cols && src.len() >= (rows - 1) * src_ld + cols,
        "transpose: source too short"
    );
    assert!(
        ld >= rows && dst.len() >= (cols - 1) * ld + rows,
        "transpose: destination too short"
    );
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX (checked just now), and both extents were checked
        // above, all that `avx::transpose` requires.
        unsafe { avx::transpose(src, src_ld, [rows, cols], dst, ld) };
        return;
    }
    transpose_plain(src, src_ld, [rows, cols], dst, ld)
}

/// [`transpose_strided_into`] in plain Rust.
fn transpose_plain(
    src: &[f32],
    src_ld: usize,
    [rows, cols]: [usize; 2],
    dst: &mut [f32],
    ld: usize,
) {
    const TILE: usize = 16;
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            let [tile_rows, tile_cols] = [TILE.min(rows - i0), TILE.min(cols - j0)];
            if tile_rows == TILE && tile_cols == TILE {
                let mut tile = [[0.0f32; TILE]; TILE];
                for (i, line) in tile.iter_mut().enumerate() {
                    line.copy_from_slice(&src[(i0 + i) * src_ld + j0..][..TILE]);
                }
                for j in 0..TILE {
                    let out: &mut [f32; TILE] = (&mut dst[(j0 + j) * ld + i0..][..TILE])
                        .try_into()
                        .expect("a tile's row");
                    for (v, line) in out.iter_mut().zip(&tile) {
                        *v = line[j];
                    }
                }
            } else {
                for i in i0..i0 + tile_rows {
                    for j in j0..j0 + tile_cols {
                        dst[j * ld + i] = src[i * src_ld + j];
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// [`super::transpose_strided_into`] by 8 × 8 blocks in AVX registers, the edges
    /// that do not fill a block value by value.
    ///
    /// # Safety
    /// The CPU has AVX; `src_ld ≥ cols`, `src.len() ≥ (rows − 1)·src_ld + cols`,
    /// `ld ≥ rows` and `dst.len() ≥ (cols − 1)·ld + rows`.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn transpose(
        src: &[f32],
        src_ld: usize,
        [rows, cols]: [usize; 2],
        dst: &mut [f32],
        ld: usize,
    ) {
        let [full_rows, full_cols] = [rows - rows % 8, cols - cols % 8];
        for i0 in (0..full_rows).step_by(8) {
            for j0 in (0..full_cols).step_by(8) {
                // SAFETY: the block's source rows i0 … i0 + 7, columns j0 … j0 + 7 lie
                // inside `(rows − 1)·src_ld + cols ≤ src.len()` (as `j0 + 7 < cols ≤
                // src_ld`); its destination rows j0 … j0 + 7, columns i0 … i0 + 7,
                // inside `(cols − 1)·ld + rows ≤ dst.len()`; and the caller vouches
                // for AVX.
                unsafe {
                    block(
                        src.as_ptr().add(i0 * src_ld + j0),
                        src_ld,
                        dst.as_mut_ptr().add(j0 * ld + i0),
                        ld,
                    )
                };
            }
        }
        for i in 0..rows {
            let j_start = if i < full_rows { full_cols } else { 0 };
            for j in j_start..cols {
                dst[j * ld + i] = src[i * src_ld + j];
            }
        }
    }

    /// Transposes the 8 × 8 block at `src` (row stride `src_ld`) into `dst` (row
    /// stride `dst_ld`): pairs of rows interleaved, then pairs of pairs, then halves
    /// swapped across the 128-bit lanes.
    ///
    /// # Safety
    /// The CPU has AVX; `src + r·src_ld + 0 … 7` is readable and `dst + r·dst_ld +
    /// 0 … 7` writable for every `r < 8`.
    #[target_feature(enable = "avx")]
    unsafe fn block(src: *const f32, src_ld: usize, dst: *mut f32, dst_ld: usize) {
        // SAFETY: the eight rows of eight are readable, as the caller guarantees.
        let r: [__m256; 8] =
            std::array::from_fn(|k| unsafe { _mm256_loadu_ps(src.add(k * src_ld)) });
        let t = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        let s = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        for k in 0..4 {
            let low = _mm256_permute2f128_ps::<0x20>(s[k], s[k + 4]);
            let high = _mm256_permute2f128_ps::<0x31>(s[k], s[k + 4]);
            // SAFETY: rows k and k + 4 of the destination are writable, as the caller
            // guarantees.
            unsafe {
                _mm256_storeu_ps(dst.add(k * dst_ld), low);
                _mm256_storeu_ps(dst.add((k + 4) * dst_ld), high);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape around the 8 × 8 blocks, with source and destination strides
    /// wider than the matrix (the source exactly as long as its last row needs), by
    /// the dispatched and the plain kernel, against the definition.
    #[test]
    fn matches_the_definition_on_every_edge() {
        for rows in [1, 7, 8, 9, 16, 17, 30] {
            for cols in [1, 5, 8, 15, 16, 33] {
                for (src_ld, plain) in [(cols, false), (cols + 2, false), (cols + 2, true)] {
                    let src: Vec<f32> = (0..(rows - 1) * src_ld + cols).map(|v| v as f32).collect();
                    let ld = rows + 3;
                    let mut dst = vec![-1.0f32; cols * ld];
                    if plain {
                        transpose_plain(&src, src_ld, [rows, cols], &mut dst, ld);
                    } else {
                        transpose_strided_into(&src, src_ld, [rows, cols], &mut dst, ld);
                    }
                    check(&src, src_ld, [rows, cols], &dst, ld);
                }
            }
        }
    }

    fn check(src: &[f32], src_ld: usize, [rows, cols]: [usize; 2], dst: &[f32], ld: usize) {
        for i in 0..rows {
            for j in 0..cols {
                assert_eq!(
                    dst[j * ld + i],
                    src[i * src_ld + j],
                    "{rows}×{cols}, source stride {src_ld} [{i}, {j}]"
                );
            }
            for j in 0..cols {
                for gap in rows..ld {
                    assert_eq!(dst[j * ld + gap], -1.0, "{rows}×{cols}: wrote past a row");
                }
            }
        }
    }
}
