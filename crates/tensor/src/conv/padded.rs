//! The zero-padded input of the direct strategies, and the offset tables that read it
//! as an implicit im2col matrix (see the module docs of [`super`]).

use crate::Window2d;

/// `dst.copy_from_slice(src)` for the short lines of an image (a few to a few dozen
/// floats): fixed-size 8-float moves, the last one overlapping the one before, instead
/// of a call to `memcpy` for each line (which cost about a third of a 32-channel 14×14
/// layer's forward).
fn copy_line(dst: &mut [f32], src: &[f32]) {
    const MOVE: usize = 8;
    let len = dst.len();
    assert_eq!(len, src.len(), "a line and its copy differ in length");
    if len < MOVE {
        dst.copy_from_slice(src);
        return;
    }
    let mut at = 0;
    loop {
        let start = at.min(len - MOVE);
        let to: &mut [f32; MOVE] = (&mut dst[start..start + MOVE])
            .try_into()
            .expect("8 floats");
        *to = src[start..start + MOVE].try_into().expect("8 floats");
        if start + MOVE == len {
            break;
        }
        at += MOVE;
    }
}

/// The implicit-im2col layout of a zero-padded stack of planes.
#[derive(Clone, Debug)]
pub(super) struct Padded {
    /// Padding above/left of the data (below/right it is `rows − H − top`…).
    pub(super) pad: [usize; 2],
    /// Padded plane height and width.
    pub(super) rows: usize,
    pub(super) cols: usize,
    /// Floats per sample: `planes·rows·cols` plus slack for the last row's overrun.
    pub(super) sample_len: usize,
    /// Output rows computed on the virtual grid.
    pub(super) out_rows: usize,
    /// Start of im2col row `(plane, ky, kx)`: `plane·rows·cols + ky·dh·cols + kx·dw`.
    pub(super) offsets: Vec<usize>,
    /// Offset of each output pixel `(y, x)`'s window in a padded plane:
    /// `y·sh·cols + x·sw` (on the virtual grid, stride 1: `y·cols + x`).
    pub(super) pixels: Vec<usize>,
}

impl Padded {
    /// The padded layout of `planes` input planes of `size` for `window`, whose output
    /// is `[oh, ow]`.
    pub(super) fn new(
        planes: usize,
        size: [usize; 2],
        window: &Window2d,
        [oh, ow]: [usize; 2],
    ) -> Self {
        let ([ph, pw], [sh, sw]) = (window.padding, window.stride);
        let ([kh, kw], [dh, dw]) = (window.kernel_size, window.dilation);
        let rows = size[0] + 2 * ph;
        let cols = size[1] + 2 * pw;
        let pixels = (0..oh)
            .flat_map(|y| (0..ow).map(move |x| y * sh * cols + x * sw))
            .collect();
        let mut offsets = Vec::with_capacity(planes * kh * kw);
        for p in 0..planes {
            for ky in 0..kh {
                for kx in 0..kw {
                    offsets.push(p * rows * cols + ky * dh * cols + kx * dw);
                }
            }
        }
        Self {
            pad: [ph, pw],
            rows,
            cols,
            sample_len: planes * rows * cols + (kw - 1) * dw,
            out_rows: oh,
            offsets,
            pixels,
        }
    }

    /// Columns of the virtual output grid (`out_rows · cols`).
    pub(super) fn virtual_len(&self) -> usize {
        self.out_rows * self.cols
    }

    /// Writes `planes` (each `[H, W]`, contiguous) zero-padded into `dst`: every
    /// float of the padded layout once, walking it in order, each line of data
    /// after the zeros of the gap before it (the padding between two lines, between
    /// two planes, or at either end).
    pub(super) fn fill(&self, src: &[f32], [h, w]: [usize; 2], dst: &mut [f32]) {
        /// Gaps inside a plane are a few floats: a fixed-size store of this many
        /// zeros is cheaper than a call to `memset` for each.
        const SHORT: usize = 8;
        let dst = &mut dst[..self.sample_len];
        let [top, left] = self.pad;
        let plane_len = self.rows * self.cols;
        // `dst[..written]` holds its final values; anything written past it is
        // written again before it counts.
        let mut written = 0;
        for (p, plane) in src.chunks_exact(h * w).enumerate() {
            for (y, line) in plane.chunks_exact(w).enumerate() {
                let start = p * plane_len + (top + y) * self.cols + left;
                if written + SHORT <= dst.len() {
                    dst[written..written + SHORT].fill(0.0);
                    if start > written + SHORT {
                        dst[written + SHORT..start].fill(0.0);
                    }
                } else {
                    dst[written..start].fill(0.0);
                }
                copy_line(&mut dst[start..start + w], line);
                written = start + w;
            }
        }
        dst[written..].fill(0.0);
    }

    /// Lays `planes` `[oh, ow]` planes of `src` out on the virtual grid
    /// (`planes × out_rows·cols`, row stride `cols`) in `dst`, whose other
    /// columns must already be zero (they are never written).
    pub(super) fn spread(&self, src: &[f32], planes: usize, [oh, ow]: [usize; 2], dst: &mut [f32]) {
        let vlen = self.virtual_len();
        for (plane, vplane) in src
            .chunks_exact(oh * ow)
            .zip(dst.chunks_exact_mut(vlen))
            .take(planes)
        {
            for (line, vline) in plane
                .chunks_exact(ow)
                .zip(vplane.chunks_exact_mut(self.cols))
            {
                vline[..ow].copy_from_slice(line);
            }
        }
    }

    /// The inverse of [`Padded::fill`]: copies the `[h, w]` interior of each padded plane of `src` to `dst`.
    pub(super) fn crop(&self, src: &[f32], [h, w]: [usize; 2], dst: &mut [f32]) {
        let plane_len = self.rows * self.cols;
        for (p, plane) in dst.chunks_exact_mut(h * w).enumerate() {
            for (y, line) in plane.chunks_exact_mut(w).enumerate() {
                let start = p * plane_len + (y + self.pad[0]) * self.cols + self.pad[1];
                line.copy_from_slice(&src[start..start + w]);
            }
        }
    }

    /// Copies the valid `[rows_out, w]` part of each virtual-grid row block of `src`
    /// (`planes × out_rows·cols`) into `dst` (`planes × rows_out·w`).
    pub(super) fn compact(&self, src: &[f32], [rows_out, w]: [usize; 2], dst: &mut [f32]) {
        let vlen = self.virtual_len();
        for (plane, out) in src
            .chunks_exact(vlen)
            .zip(dst.chunks_exact_mut(rows_out * w))
        {
            for (line, out_line) in plane.chunks_exact(self.cols).zip(out.chunks_exact_mut(w)) {
                out_line.copy_from_slice(&line[..w]);
            }
        }
    }
}
