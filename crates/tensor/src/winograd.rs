//! Winograd's minimal filtering `F(2×2, 3×3)`: a 3×3 stride-1 convolution with 16
//! multiplications for every 2×2 block of outputs instead of 36 (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2015; what cuDNN and oneDNN
//! call Winograd).
//!
//! The output is cut into 2×2 tiles; tile `t` reads the 4×4 patch `d` of the padded
//! input at twice its position. Per tile, with `⊙` the element-wise product,
//!
//! ```text
//! Y_t[o] = Aᵀ · ( Σ_c U[o, c] ⊙ V_t[c] ) · A,   U[o, c] = G · g[o, c] · Gᵀ,   V_t[c] = Bᵀ · d_t[c] · B
//!
//!      ⎡1  0 -1  0⎤        ⎡ 1    0    0 ⎤
//! Bᵀ = ⎢0  1  1  0⎥    G = ⎢1/2  1/2  1/2⎥    Aᵀ = ⎡1  1  1  0⎤
//!      ⎢0 -1  1  0⎥        ⎢1/2 -1/2  1/2⎥         ⎣0  1 -1 -1⎦
//!      ⎣0  1  0 -1⎦        ⎣ 0    0    1 ⎦
//! ```
//!
//! The sum over `c` is, for each of the 16 positions `ξ` of a 4×4 transform, one
//! matrix product `M_ξ = V_ξ · U_ξ` (`[tiles, C]` by `[C, O]`), which runs on
//! [`crate::gemm`]. So a convolution costs 16 products of depth `C` in place of one
//! of depth `9·C` over four times as many pixels: 2.25 times fewer multiply-adds,
//! plus the transforms, which are additions only.
//!
//! The transforms work channels-last: the input is first laid out (padded) as
//! `[H, W, C]`, so that the 16 inputs of a tile are 16 runs of channels and each
//! add of a transform is one vector op over 16 channels; the products come out as
//! `[tiles, O]`, and the output is transposed back to `[O, OH, OW]`. Each of these
//! layout changes goes a few image rows at a time through a buffer that stays in L1
//! (a strided transpose and a copy), so that no tensor passes through memory once
//! more for it: at 2 threads that made the ResNet's epoch about 4% faster.
//!
//! The result is the convolution's up to rounding (the transforms add and subtract
//! before the products do), not bit for bit: `tests/fast_vs_reference.rs` holds it to
//! the same tolerance as the other strategies. Every value is computed the same way
//! whatever SIMD width or thread computes it (the transforms are plain `f32` adds in
//! a fixed order, the products the GEMM's fixed chains), so results still do not
//! depend on the machine's vectors or the thread count.

use crate::gemm::{self, Init, Strided};
use crate::parallel::with_scratch_to_overwrite;
use crate::simd::widest;
use crate::transpose::{transpose_into, transpose_strided_into};

/// Positions of a 4×4 transformed tile.
const POSITIONS: usize = 16;

/// Channels a transform handles in one go: one 512-bit vector.
const LANES: usize = 16;

/// Floats of transformed inputs and products (`16·(C + O)` per tile) a block of
/// tiles may hold: about 512 KiB, so that a block's products read their operands
/// from the core's own cache.
const BLOCK_FLOATS: usize = 1 << 17;

/// Tiles a block holds at least where one position's transformed weights (`O·C`
/// floats) outgrow [`BLOCK_FLOATS`]: each block's 16 products stream all of them
/// from beyond the core's cache, so the block must give them enough columns
/// (CIFAR ResNet-18's 512-channel 4×4 layers, 8 tiles a block by `BLOCK_FLOATS`:
/// the whole layer took 35–37% less time with 64, at 1 and 2 threads; 256
/// channels, under the bound, gained nothing from it).
const WIDE_BLOCK_TILES: usize = 64;

/// The transformed weight `U`, `[16, C, O]`: `U_ξ[c, o] = (G · g[o, c] · Gᵀ)_ξ`.
///
/// # Panics
/// If `weight` is not `O·C` 3×3 kernels.
pub(crate) fn transform_weight(weight: &[f32], out_channels: usize, channels: usize) -> Vec<f32> {
    assert_eq!(weight.len(), out_channels * channels * 9, "3×3 kernels");
    let mut u = vec![0.0f32; POSITIONS * channels * out_channels];
    // `LANES` output channels at a time, gathered per position and then written as 16
    // runs: the positions lie `C·O` floats apart, often a multiple of 4 KiB, and 16
    // single floats written that far apart evict each other from the cache (kernel by
    // kernel, a 32×32 or 64×64 layer's transform took 2.5–5 times as long).
    let mut block = [[0.0f32; LANES]; POSITIONS];
    for c in 0..channels {
        for o0 in (0..out_channels).step_by(LANES) {
            let run = LANES.min(out_channels - o0);
            for (lane, o) in (o0..o0 + run).enumerate() {
                for (xi, v) in transformed_kernel(&weight[(o * channels + c) * 9..][..9])
                    .into_iter()
                    .enumerate()
                {
                    block[xi][lane] = v;
                }
            }
            for (xi, values) in block.iter().enumerate() {
                let start = (xi * channels + c) * out_channels + o0;
                u[start..start + run].copy_from_slice(&values[..run]);
            }
        }
    }
    u
}

/// `G · g · Gᵀ` of one 3×3 kernel `g` (row-major), its 16 positions row by row.
fn transformed_kernel(g: &[f32]) -> [f32; POSITIONS] {
    // G·g: the rows of g combined; then (G·g)·Gᵀ: the columns of each row.
    let row = |r: usize| [g[3 * r], g[3 * r + 1], g[3 * r + 2]];
    let (g0, g1, g2) = (row(0), row(1), row(2));
    let gg: [[f32; 3]; 4] = [
        g0,
        [0, 1, 2].map(|j| (g0[j] + g1[j] + g2[j]) * 0.5),
        [0, 1, 2].map(|j| (g0[j] - g1[j] + g2[j]) * 0.5),
        g2,
    ];
    let mut u = [0.0f32; POSITIONS];
    for (i, [left, middle, right]) in gg.into_iter().enumerate() {
        u[4 * i..4 * i + 4].copy_from_slice(&[
            left,
            (left + middle + right) * 0.5,
            (left - middle + right) * 0.5,
            right,
        ]);
    }
    u
}

/// The shape of a convolution `F(2×2, 3×3)` runs: `[C, H, W]` padded by
/// `padding` into `[O, OH, OW]`.
pub(crate) struct Tiling {
    pub channels: usize,
    pub out_channels: usize,
    pub input_size: [usize; 2],
    pub padding: [usize; 2],
    pub output_size: [usize; 2],
}

impl Tiling {
    /// Tiles down and across one output plane.
    fn tiles(&self) -> [usize; 2] {
        self.output_size.map(|s| s.div_ceil(2))
    }

    /// The padded channels-last input plane, `[rows, cols]`: room for every tile's
    /// 4×4 patch.
    pub(crate) fn plane(&self) -> [usize; 2] {
        self.tiles().map(|t| 2 * t + 2)
    }

    /// Floats of one padded channels-last sample.
    pub(crate) fn padded_sample_len(&self) -> usize {
        let [rows, cols] = self.plane();
        rows * cols * self.channels
    }

    /// Floats of the channels-last outputs of one row of tiles, `[2, OW, O]`.
    fn tile_row_len(&self) -> usize {
        2 * self.output_size[1] * self.out_channels
    }

    /// Floats of one input sample, `C·H·W`.
    pub(crate) fn input_len(&self) -> usize {
        self.channels * self.input_size[0] * self.input_size[1]
    }

    /// Floats of one output plane, `OH·OW`.
    fn output_plane(&self) -> usize {
        self.output_size[0] * self.output_size[1]
    }

    /// Floats of one output sample, `O·OH·OW`.
    fn output_len(&self) -> usize {
        self.out_channels * self.output_plane()
    }
}

/// `Y = conv(x, g) + bias` for the samples `xs` (`[samples, C, H, W]`) into `out`
/// (`[samples, O, OH, OW]`), from `u` = [`transform_weight`]`(g)`. The input laid
/// out for the transforms ([`pad_channels_last`]) goes to `cached` if given (what
/// [`weight_grad`] reads), else to a scratch buffer.
///
/// # Panics
/// If a slice's length does not match the tiling.
pub(crate) fn forward(
    tiling: &Tiling,
    xs: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    cached: Option<&mut [f32]>,
) {
    let (c, o) = (tiling.channels, tiling.out_channels);
    let samples = xs.len() / tiling.input_len().max(1);
    assert_eq!(
        out.len(),
        samples * tiling.output_len(),
        "an output for each sample"
    );
    assert_eq!(u.len(), POSITIONS * c * o, "a transformed weight");
    with_channels_last(tiling, xs, cached, |padded| {
        for_each_block(tiling, samples, |block, v, m| {
            let tiles = block.tiles(tiling);
            transform_inputs(tiling, block, padded, v);
            let (v_stride, m_stride) = (apart(tiles, c), apart(tiles, o));
            for xi in 0..POSITIONS {
                let a = Strided::new(&v[xi * v_stride..], tiles, c, c, 1);
                let b = Strided::new(&u[xi * c * o..], c, o, o, 1);
                let at = xi * m_stride;
                let product = &mut m[at..at + tiles * o];
                gemm::gemm(tiles, o, c, &a, &b, product, o, Init::Overwrite);
            }
            transform_outputs(tiling, block, m, bias, out);
        });
    });
}

/// The weight gradient `[O, C, 3, 3]` of the samples whose inputs [`forward`] left
/// in `padded` and whose output gradients are `dys` (`[samples, O, OH, OW]`): the
/// forward's algebra read backwards,
///
/// ```text
/// dg[o, c] = Gᵀ · ( Σ_t dM_t[o] ⊙ V_t[c] ) · G,   dM_t[o] = A · dY_t[o] · Aᵀ
/// ```
///
/// where the sum over the tiles is, for each position `ξ`, one product
/// `dU_ξ = dM_ξᵀ · V_ξ` (`[O, tiles]` by `[tiles, C]`) accumulated block by block,
/// in the tiles' order.
///
/// # Panics
/// If a slice's length does not match the tiling.
pub(crate) fn weight_grad(tiling: &Tiling, padded: &[f32], dys: &[f32]) -> Vec<f32> {
    let (c, o) = (tiling.channels, tiling.out_channels);
    let samples = dys.len() / tiling.output_len().max(1);
    assert_eq!(
        dys.len(),
        samples * tiling.output_len(),
        "whole output gradients"
    );
    assert!(
        padded.len() >= samples * tiling.padded_sample_len(),
        "a padded input for each sample"
    );
    let mut du = vec![0.0f32; POSITIONS * o * c];
    for_each_block(tiling, samples, |block, v, dm| {
        let tiles = block.tiles(tiling);
        transform_inputs(tiling, block, padded, v);
        transform_output_grads(tiling, block, dys, dm);
        let (v_stride, m_stride) = (apart(tiles, c), apart(tiles, o));
        for xi in 0..POSITIONS {
            let a = Strided::new(&dm[xi * m_stride..], o, tiles, 1, o);
            let b = Strided::new(&v[xi * v_stride..], tiles, c, c, 1);
            let sum = &mut du[xi * o * c..(xi + 1) * o * c];
            gemm::gemm(o, c, tiles, &a, &b, sum, c, Init::Accumulate);
        }
    });
    // dg = Gᵀ·dU·G for every (o, c).
    let mut dg = vec![0.0f32; o * c * 9];
    for (k, g) in dg.chunks_exact_mut(9).enumerate() {
        let d = |i: usize, j: usize| du[(4 * i + j) * o * c + k];
        // Gᵀ·dU: rows combined, column by column.
        let p: [[f32; 4]; 3] = [
            [0, 1, 2, 3].map(|j| d(0, j) + (d(1, j) + d(2, j)) * 0.5),
            [0, 1, 2, 3].map(|j| (d(1, j) - d(2, j)) * 0.5),
            [0, 1, 2, 3].map(|j| (d(1, j) + d(2, j)) * 0.5 + d(3, j)),
        ];
        for (i, [p0, p1, p2, p3]) in p.into_iter().enumerate() {
            g[3 * i] = p0 + (p1 + p2) * 0.5;
            g[3 * i + 1] = (p1 - p2) * 0.5;
            g[3 * i + 2] = (p1 + p2) * 0.5 + p3;
        }
    }
    dg
}

/// How far apart a block's 16 positions lie in `v` and `m`: the `tiles·channels` floats
/// of one, and a cache line more where those are a multiple of 4 KiB, so that the 16
/// streams a transform reads or writes do not all fall into the same cache sets (the
/// ResNet's 64-channel `7×7` stage has 64 tiles to a block, 16 KiB a position; its
/// three products ran 7–10% faster apart, `cargo bench --bench conv -- resnet.layer3/`).
fn apart(tiles: usize, channels: usize) -> usize {
    let floats = tiles * channels;
    if floats % 1024 == 0 {
        floats + LANES
    } else {
        floats
    }
}

/// Runs `work(block, v, m)` for each block of tiles of `samples` samples, in order,
/// with scratch for the block's 16 positions of `C` (`v`) and of `O` (`m`) per tile.
/// A block is a run of whole tile rows, across samples, that fits [`BLOCK_FLOATS`],
/// or holds [`WIDE_BLOCK_TILES`] where the weights are wider than that.
fn for_each_block(
    tiling: &Tiling,
    samples: usize,
    mut work: impl FnMut(&Block, &mut [f32], &mut [f32]),
) {
    let (c, o) = (tiling.channels, tiling.out_channels);
    let [tiles_down, tiles_across] = tiling.tiles();
    let tile_rows = samples * tiles_down;
    let least_rows = if o * c > BLOCK_FLOATS {
        WIDE_BLOCK_TILES.div_ceil(tiles_across.max(1))
    } else {
        1
    };
    let rows_per_block =
        (BLOCK_FLOATS / (POSITIONS * (c + o) * tiles_across).max(1)).max(least_rows);
    let block_tiles = rows_per_block.min(tile_rows) * tiles_across;
    with_scratch_to_overwrite(POSITIONS * apart(block_tiles, c), |v| {
        with_scratch_to_overwrite(POSITIONS * apart(block_tiles, o), |m| {
            for first in (0..tile_rows).step_by(rows_per_block) {
                let block = Block {
                    first,
                    rows: rows_per_block.min(tile_rows - first),
                };
                work(&block, v, m);
            }
        })
    });
}

/// Runs `work(padded)` on the samples `xs` (`[samples, C, H, W]`) laid out by
/// [`pad_channels_last`] into `cached` if given (where a weight gradient will read
/// them), else into a scratch buffer.
///
/// # Panics
/// If `xs` is not whole samples, or `cached` is too short for them.
pub(crate) fn with_channels_last<R>(
    tiling: &Tiling,
    xs: &[f32],
    cached: Option<&mut [f32]>,
    work: impl FnOnce(&[f32]) -> R,
) -> R {
    let len = xs.len() / tiling.input_len().max(1) * tiling.padded_sample_len();
    let scratch_len = if cached.is_some() { 0 } else { len };
    with_scratch_to_overwrite(scratch_len, |scratch| {
        let padded = match cached {
            Some(cached) => &mut cached[..len],
            None => scratch,
        };
        pad_channels_last(tiling, xs, padded);
        work(padded)
    })
}

/// Lays the samples `xs` (`[samples, C, H, W]`) out channels-last and zero-padded
/// in `padded`, `Tiling::padded_sample_len` floats each.
pub(crate) fn pad_channels_last(tiling: &Tiling, xs: &[f32], padded: &mut [f32]) {
    let input_len = tiling.input_len();
    let padded_len = tiling.padded_sample_len();
    assert_eq!(xs.len() % input_len.max(1), 0, "whole input samples");
    let [_, w] = tiling.input_size;
    let row_len = w * tiling.channels;
    with_scratch_to_overwrite(row_len * rows_per_pass(row_len), |scratch| {
        for (x, p) in xs
            .chunks_exact(input_len)
            .zip(padded.chunks_exact_mut(padded_len))
        {
            channels_last_padded(tiling, x, p, scratch);
        }
    });
}

/// Floats of channels-last rows that a layout pass handles at a time: 16 KiB, which
/// stays in L1 between its transpose and its copy.
const PASS_FLOATS: usize = 4096;

/// Image rows of `row_len` floats that make one pass of [`PASS_FLOATS`] (at least one).
fn rows_per_pass(row_len: usize) -> usize {
    (PASS_FLOATS / row_len.max(1)).max(1)
}

/// Lays one sample `x` (`[C, H, W]`) out channels-last and zero-padded in `padded`
/// (`[rows, cols, C]`, the input at the padding's offset), through `scratch` (room for
/// [`rows_per_pass`] rows of `W·C`).
fn channels_last_padded(tiling: &Tiling, x: &[f32], padded: &mut [f32], scratch: &mut [f32]) {
    let c = tiling.channels;
    let [h, w] = tiling.input_size;
    let [top, left] = tiling.padding;
    let [_, cols] = tiling.plane();
    let per_pass = rows_per_pass(w * c);
    let mut written = 0;
    // A few image rows at a time: their channels (`H·W` floats apart) transposed
    // into `scratch`, then each row copied to its place between the padding.
    for y0 in (0..h).step_by(per_pass) {
        let rows = per_pass.min(h - y0);
        transpose_strided_into(&x[y0 * w..], h * w, [c, rows * w], scratch, c);
        for (y, src) in (y0..).zip(scratch[..rows * w * c].chunks_exact(w * c)) {
            let start = ((top + y) * cols + left) * c;
            padded[written..start].fill(0.0);
            padded[start..start + w * c].copy_from_slice(src);
            written = start + w * c;
        }
    }
    padded[written..].fill(0.0);
}

/// A run of tile rows, numbered across the samples (`sample · tiles_down + row`).
struct Block {
    first: usize,
    rows: usize,
}

impl Block {
    fn tiles(&self, tiling: &Tiling) -> usize {
        self.rows * tiling.tiles()[1]
    }

    /// The sample and the tile row in it of the block's row `r`.
    fn sample_and_row(&self, r: usize, tiling: &Tiling) -> (usize, usize) {
        let tiles_down = tiling.tiles()[0];
        ((self.first + r) / tiles_down, (self.first + r) % tiles_down)
    }
}

/// `V_ξ[t, c]` of every tile `t` of `block`, into `v` (`[16, tiles, C]`), from the
/// channels-last samples `padded`.
fn transform_inputs(tiling: &Tiling, block: &Block, padded: &[f32], v: &mut [f32]) {
    widest(
        #[inline(always)]
        || transform_inputs_plain(tiling, block, padded, v),
    )
}

#[inline(always)]
fn transform_inputs_plain(tiling: &Tiling, block: &Block, padded: &[f32], v: &mut [f32]) {
    let c = tiling.channels;
    let tiles_across = tiling.tiles()[1];
    let [_, cols] = tiling.plane();
    let padded_len = tiling.padded_sample_len();
    let stride = apart(block.tiles(tiling), c);
    for r in 0..block.rows {
        let (s, ty) = block.sample_and_row(r, tiling);
        let sample = &padded[s * padded_len..(s + 1) * padded_len];
        let rows = TileRow {
            data: sample,
            at: 2 * ty * cols * c,
            row: cols * c,
            column: c,
            tiles: tiles_across,
        };
        let at = r * tiles_across * c;
        let mut c0 = 0;
        while c0 + LANES <= c {
            input_row::<LANES>(&rows, c0, v, at + c0, stride);
            c0 += LANES;
        }
        for c0 in c0..c {
            input_row::<1>(&rows, c0, v, at + c0, stride);
        }
    }
}

/// Where the four input rows of a row of tiles lie: row `i`, column `x`, channel `c`
/// at `data[at + i·row + x·column + c]`; tile `k` reads columns `2k … 2k + 3`.
struct TileRow<'a> {
    data: &'a [f32],
    at: usize,
    row: usize,
    column: usize,
    tiles: usize,
}

impl TileRow<'_> {
    /// `Bᵀ·d` of column `x` (its four rows combined) for channels `c0 … c0 + L`.
    #[inline(always)]
    fn column<const L: usize>(&self, x: usize, c0: usize) -> [[f32; L]; 4] {
        let mut d = [[0.0f32; L]; 4];
        for (i, lanes) in d.iter_mut().enumerate() {
            let start = self.at + i * self.row + x * self.column + c0;
            lanes.copy_from_slice(&self.data[start..start + L]);
        }
        let mut t = [[0.0f32; L]; 4];
        for l in 0..L {
            let (a0, a1, a2, a3) = (d[0][l], d[1][l], d[2][l], d[3][l]);
            t[0][l] = a0 - a2;
            t[1][l] = a1 + a2;
            t[2][l] = a2 - a1;
            t[3][l] = a1 - a3;
        }
        t
    }
}

/// `V = Bᵀ·d·B` for channels `c0 … c0 + L` of a row of tiles; position `ξ` of tile `k`
/// to `v[ξ·stride + at + k·C …]` (`C` = `rows.column`, a pixel's channels).
/// Neighbouring tiles share two columns, so each column's `Bᵀ·d` is computed once.
/// (Written as loops over fixed-size arrays of lanes, which the compiler turns into
/// vector code.)
#[inline(always)]
fn input_row<const L: usize>(rows: &TileRow, c0: usize, v: &mut [f32], at: usize, stride: usize) {
    let mut left = [rows.column::<L>(0, c0), rows.column::<L>(1, c0)];
    for k in 0..rows.tiles {
        let right = [
            rows.column::<L>(2 * k + 2, c0),
            rows.column::<L>(2 * k + 3, c0),
        ];
        // (Bᵀ·d)·B: the four columns of each row combined the same way.
        for i in 0..4 {
            let (b0, b1, b2, b3) = (&left[0][i], &left[1][i], &right[0][i], &right[1][i]);
            let mut row = [[0.0f32; L]; 4];
            for l in 0..L {
                row[0][l] = b0[l] - b2[l];
                row[1][l] = b1[l] + b2[l];
                row[2][l] = b2[l] - b1[l];
                row[3][l] = b1[l] - b3[l];
            }
            for (j, lanes) in row.iter().enumerate() {
                let start = (4 * i + j) * stride + at + k * rows.column;
                v[start..start + L].copy_from_slice(lanes);
            }
        }
        left = right;
    }
}

/// `Y = Aᵀ·M·A + bias` of every tile of `block`, from `m` (`[16, tiles, O]`) into
/// the outputs `out` (`[samples, O, OH, OW]`): a few rows of tiles at a time into a
/// channels-last buffer ([`for_each_pass`]), which one transpose then moves into place.
fn transform_outputs(
    tiling: &Tiling,
    block: &Block,
    m: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let (o, plane, len) = (
        tiling.out_channels,
        tiling.output_plane(),
        tiling.output_len(),
    );
    for_each_pass(tiling, block, |pass, buffer| {
        for (r, row_buffer) in (pass.first..).zip(buffer.chunks_exact_mut(tiling.tile_row_len())) {
            widest(
                #[inline(always)]
                || output_row(tiling, block, r, m, bias, row_buffer),
            );
        }
        let sample = &mut out[pass.sample * len..][..len];
        transpose_into(buffer, [pass.values, o], &mut sample[pass.at..], plane);
    })
}

/// A few rows of a block's tiles, all of one sample (see [`for_each_pass`]).
struct Pass {
    /// The block's row of tiles the pass starts at.
    first: usize,
    /// The sample the rows are in.
    sample: usize,
    /// Where the rows' outputs start in each of the sample's output planes, and how
    /// many they are there (`OW` for each output row inside the plane).
    at: usize,
    values: usize,
}

/// Runs `work(pass, buffer)` for the block's rows of tiles, a few at a time, all of
/// one sample, with a buffer for their outputs (or output gradients) channels-last
/// (`[rows, 2, OW, O]`, at most [`PASS_FLOATS`] unless one row is more), which one
/// transpose moves to or from the sample's planes.
fn for_each_pass(tiling: &Tiling, block: &Block, mut work: impl FnMut(&Pass, &mut [f32])) {
    let row_len = tiling.tile_row_len();
    let [tiles_down, _] = tiling.tiles();
    let [oh, ow] = tiling.output_size;
    let most = rows_per_pass(row_len);
    with_scratch_to_overwrite(most * row_len, |buffer| {
        let mut first = 0;
        while first < block.rows {
            let (sample, ty) = block.sample_and_row(first, tiling);
            let rows = most.min(block.rows - first).min(tiles_down - ty);
            let pass = Pass {
                first,
                sample,
                at: 2 * ty * ow,
                values: (2 * rows).min(oh - 2 * ty) * ow,
            };
            work(&pass, &mut buffer[..rows * row_len]);
            first += rows;
        }
    })
}

/// `Y = Aᵀ·M·A + bias` of the block's row `r` of tiles into `row_buffer`, the
/// channels-last outputs of that row (`[2, OW, O]`; one row where the tiles overhang
/// the plane).
#[inline(always)]
fn output_row(
    tiling: &Tiling,
    block: &Block,
    r: usize,
    m: &[f32],
    bias: Option<&[f32]>,
    row_buffer: &mut [f32],
) {
    let o = tiling.out_channels;
    let stride = apart(block.tiles(tiling), o);
    for_each_tile_in_row(
        tiling,
        block,
        r,
        #[inline(always)]
        |t, place| {
            let mut o0 = 0;
            while o0 + LANES <= o {
                let mut b = [0.0; LANES];
                if let Some(bias) = bias {
                    b.copy_from_slice(&bias[o0..o0 + LANES]);
                }
                output_tile::<LANES>(m, t * o + o0, stride, &b, row_buffer, place, o0);
                o0 += LANES;
            }
            for o0 in o0..o {
                let b = [bias.map_or(0.0, |b| b[o0])];
                output_tile::<1>(m, t * o + o0, stride, &b, row_buffer, place, o0);
            }
        },
    );
}

/// Runs `work(t, place)` for each tile of the block's row `r` of tiles: its index in
/// the block and its place in the row's channels-last buffer.
#[inline(always)]
fn for_each_tile_in_row(
    tiling: &Tiling,
    block: &Block,
    r: usize,
    mut work: impl FnMut(usize, &Place),
) {
    let tiles_across = tiling.tiles()[1];
    let (_, ty) = block.sample_and_row(r, tiling);
    for tx in 0..tiles_across {
        work(r * tiles_across + tx, &Place::in_row(tiling, ty, tx));
    }
}

/// Where a tile's 2×2 outputs are in the channels-last buffer of its row of tiles:
/// output `(a, b)`, channel `o`, at `at + a·row + b·column + o`, where `inside` says
/// the second row and the second column fall inside the output plane.
struct Place {
    at: usize,
    row: usize,
    column: usize,
    inside: [bool; 2],
}

impl Place {
    /// Tile `(ty, tx)`'s place in the channels-last buffer of its row of tiles
    /// (`[2, OW, O]`).
    fn in_row(tiling: &Tiling, ty: usize, tx: usize) -> Self {
        let o = tiling.out_channels;
        let [oh, ow] = tiling.output_size;
        Place {
            at: 2 * tx * o,
            row: ow * o,
            column: o,
            inside: [2 * ty + 1 < oh, 2 * tx + 1 < ow],
        }
    }
}

/// `Y = Aᵀ·M·A + bias` for output channels `o0 … o0 + L` of one tile, whose position
/// `ξ` is `m[ξ·stride + at …]`.
#[inline(always)]
fn output_tile<const L: usize>(
    m: &[f32],
    at: usize,
    stride: usize,
    bias: &[f32; L],
    y: &mut [f32],
    place: &Place,
    o0: usize,
) {
    let mut p = [[0.0f32; L]; 16];
    for (xi, lanes) in p.iter_mut().enumerate() {
        let start = xi * stride + at;
        lanes.copy_from_slice(&m[start..start + L]);
    }
    // Aᵀ·M: rows 0–2 added (output row 0) and 1–3 (row 1), column by column.
    let mut sums = [[[0.0f32; L]; 4]; 2];
    for j in 0..4 {
        for l in 0..L {
            let (m0, m1, m2, m3) = (p[j][l], p[4 + j][l], p[8 + j][l], p[12 + j][l]);
            sums[0][j][l] = m0 + m1 + m2;
            sums[1][j][l] = m1 - m2 - m3;
        }
    }
    // (Aᵀ·M)·A: the columns of each row combined the same way, then the bias.
    let rows = if place.inside[0] { 2 } else { 1 };
    let columns = if place.inside[1] { 2 } else { 1 };
    for (a, s) in sums.iter().enumerate().take(rows) {
        let mut pair = [[0.0f32; L]; 2];
        for l in 0..L {
            pair[0][l] = s[0][l] + s[1][l] + s[2][l] + bias[l];
            pair[1][l] = s[1][l] - s[2][l] - s[3][l] + bias[l];
        }
        for (b, lanes) in pair.iter().enumerate().take(columns) {
            let start = place.at + a * place.row + b * place.column + o0;
            y[start..start + L].copy_from_slice(lanes);
        }
    }
}

/// `dM = A·dY·Aᵀ` of every tile of `block` (the adjoint of [`transform_outputs`]), from
/// the output gradients `dys` (`[samples, O, OH, OW]`) into `dm` (`[16, tiles, O]`);
/// the outputs of a tile that overhang the plane count as 0. A few rows of tiles at a
/// time: their output gradients transposed into a channels-last buffer
/// ([`for_each_pass`]), then transformed from there.
fn transform_output_grads(tiling: &Tiling, block: &Block, dys: &[f32], dm: &mut [f32]) {
    let (o, plane, len) = (
        tiling.out_channels,
        tiling.output_plane(),
        tiling.output_len(),
    );
    for_each_pass(tiling, block, |pass, buffer| {
        let sample = &dys[pass.sample * len..][..len];
        transpose_strided_into(&sample[pass.at..], plane, [o, pass.values], buffer, o);
        for (r, row_buffer) in (pass.first..).zip(buffer.chunks_exact(tiling.tile_row_len())) {
            widest(
                #[inline(always)]
                || output_grad_row(tiling, block, r, row_buffer, dm),
            );
        }
    })
}

/// `dM = A·dY·Aᵀ` of the block's row `r` of tiles, from `row_buffer`, the channels-last
/// output gradients of that row (`[2, OW, O]`; only the first row where the tiles
/// overhang the plane).
#[inline(always)]
fn output_grad_row(tiling: &Tiling, block: &Block, r: usize, row_buffer: &[f32], dm: &mut [f32]) {
    let o = tiling.out_channels;
    let stride = apart(block.tiles(tiling), o);
    for_each_tile_in_row(
        tiling,
        block,
        r,
        #[inline(always)]
        |t, place| {
            let mut o0 = 0;
            while o0 + LANES <= o {
                output_grad_tile::<LANES>(row_buffer, place, o0, dm, t * o + o0, stride);
                o0 += LANES;
            }
            for o0 in o0..o {
                output_grad_tile::<1>(row_buffer, place, o0, dm, t * o + o0, stride);
            }
        },
    );
}

/// `dM = A·dY·Aᵀ` for output channels `o0 … o0 + L` of one tile; position `ξ` to
/// `dm[ξ·stride + at …]`.
#[inline(always)]
fn output_grad_tile<const L: usize>(
    dy: &[f32],
    place: &Place,
    o0: usize,
    dm: &mut [f32],
    at: usize,
    stride: usize,
) {
    let mut g = [[[0.0f32; L]; 2]; 2];
    for (a, row) in g.iter_mut().enumerate() {
        for (b, lanes) in row.iter_mut().enumerate() {
            if (a == 0 || place.inside[0]) && (b == 0 || place.inside[1]) {
                let start = place.at + a * place.row + b * place.column + o0;
                lanes.copy_from_slice(&dy[start..start + L]);
            }
        }
    }
    // A·dY: the two rows spread over four, column by column.
    let mut r = [[[0.0f32; L]; 2]; 4];
    for b in 0..2 {
        for l in 0..L {
            let (g0, g1) = (g[0][b][l], g[1][b][l]);
            r[0][b][l] = g0;
            r[1][b][l] = g0 + g1;
            r[2][b][l] = g0 - g1;
            r[3][b][l] = -g1;
        }
    }
    // (A·dY)·Aᵀ: the two columns of each row spread over four the same way.
    for (i, [r0, r1]) in r.iter().enumerate() {
        let mut row = [[0.0f32; L]; 4];
        for l in 0..L {
            row[0][l] = r0[l];
            row[1][l] = r0[l] + r1[l];
            row[2][l] = r0[l] - r1[l];
            row[3][l] = -r1[l];
        }
        for (j, lanes) in row.iter().enumerate() {
            let start = (4 * i + j) * stride + at;
            dm[start..start + L].copy_from_slice(lanes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::Window2d;
    use ndarray::Array4;

    /// Blocks fit `BLOCK_FLOATS`, but hold `WIDE_BLOCK_TILES` where one position's
    /// weights are wider than that.
    #[test]
    fn blocks_hold_enough_tiles_for_wide_weights() {
        let block_tiles = |channels, out_channels, samples| {
            let tiling = Tiling {
                channels,
                out_channels,
                input_size: [4, 4],
                padding: [1, 1],
                output_size: [4, 4],
            };
            let mut tiles = Vec::new();
            for_each_block(&tiling, samples, |block, _, _| {
                tiles.push(block.tiles(&tiling))
            });
            tiles
        };
        // 16 positions × 512 floats a tile: 16 tiles fit.
        assert_eq!(block_tiles(256, 256, 9), [16, 16, 4]);
        // 512 × 512 weights: 8 tiles would fit, 64 stream the weights once for 16 samples.
        assert_eq!(block_tiles(512, 512, 20), [64, 16]);
        assert_eq!(block_tiles(512, 512, 3), [12]);
    }

    /// Winograd against the definition on even and odd sizes, with and without
    /// padding, with channel counts that leave a tail after the 16-lane runs, and
    /// (the 64-channel `7×7` case) two blocks whose positions lie a cache line more
    /// than a multiple of 4 KiB apart; the 16-channel `28×28` case goes through its
    /// layout buffers in passes of 9 input rows and 4 rows of tiles, and its first
    /// block ends inside the second sample; the 272 → 512 case's weights are wider
    /// than a block, so its blocks hold 64 tiles (16 samples), the second partial;
    /// the 128-channel `3×40` case's rows (`W·C` floats) are longer than a layout
    /// pass's [`PASS_FLOATS`], so each pass takes one row.
    #[test]
    fn matches_the_convolution_on_even_and_odd_sizes() {
        for (n, size, padding, c, o) in [
            (3, [6, 8], 1, 5, 4),
            (3, [7, 5], 1, 17, 18),
            (3, [3, 3], 0, 16, 16),
            (3, [1, 2], 1, 3, 33),
            (3, [5, 6], 2, 2, 1),
            (5, [7, 7], 1, 64, 64),
            (2, [28, 28], 1, 16, 16),
            (17, [3, 4], 1, 272, 512),
            (2, [3, 40], 1, 128, 16),
        ] {
            let x = Array4::from_shape_fn((n, c, size[0], size[1]), |(s, ch, y, x)| {
                ((s * 31 + ch * 17 + y * 7 + x * 3) % 11) as f32 * 0.25 - 1.0
            });
            let g = Array4::from_shape_fn((o, c, 3, 3), |(oc, ch, y, x)| {
                ((oc * 13 + ch * 5 + y * 3 + x) % 7) as f32 * 0.125 - 0.4
            });
            let bias: Vec<f32> = (0..o).map(|i| i as f32 * 0.5 - 1.0).collect();
            let window = Window2d {
                kernel_size: [3, 3],
                padding: [padding, padding],
                ..Default::default()
            };
            let want = reference::conv2d(x.view(), g.view(), Some(bias[..].into()), &window, 1);
            let output_size = window.output_size(size).unwrap();
            let tiling = Tiling {
                channels: c,
                out_channels: o,
                input_size: size,
                padding: [padding, padding],
                output_size,
            };
            let u = transform_weight(g.as_slice().unwrap(), o, c);
            let mut out = vec![f32::NAN; want.len()];
            let mut padded = vec![f32::NAN; n * tiling.padded_sample_len()];
            let xs = x.as_slice().unwrap();
            forward(&tiling, xs, &u, Some(&bias), &mut out, Some(&mut padded));
            let close = |got: &[f32], want: &[f32], what: &str| {
                for (i, (got, want)) in got.iter().zip(want).enumerate() {
                    assert!(
                        (got - want).abs() < 1e-4 * want.abs().max(1.0),
                        "{what} {size:?} p{padding} c{c} o{o} [{i}]: {got} vs {want}"
                    );
                }
            };
            close(&out, want.as_slice().unwrap(), "forward");
            let dy = Array4::from_shape_fn(want.dim(), |(s, oc, y, x)| {
                ((s * 7 + oc * 3 + y * 5 + x) % 9) as f32 * 0.25 - 1.0
            });
            let (_, dg_want, _) =
                reference::conv2d_backward(x.view(), g.view(), dy.view(), &window, 1);
            let dg = weight_grad(&tiling, &padded, dy.as_slice().unwrap());
            close(&dg, dg_want.as_slice().unwrap(), "weight gradient");
        }
    }
}
