//! What a training-mode forward keeps for the backward ([`Conv2dCache`]), and how
//! each strategy lays the input out in it.

use super::im2col::im2col_slice;
use super::plan::Plan;
use crate::kernels::Kernels;
use crate::parallel::{split_chunk, use_threads, SAMPLE_CHUNK};
use crate::winograd;
use ndarray::ArrayView4;
use rayon::prelude::*;

/// What a training-mode [`conv2d_forward`](super::conv2d_forward) keeps for [`conv2d_backward`](super::conv2d_backward):
/// the input, either as it came or already zero-padded for the direct
/// strategy, and which [`Kernels`] tier filled it (the backward uses the same).
/// Its buffer is reused from one step to the next.
#[derive(Clone, Default)]
pub struct Conv2dCache {
    /// The tier of the forward that filled it; `Reference` keeps the plain input.
    pub(super) tier: Kernels,
    /// `[N, C, H, W]` of the input it holds.
    pub(super) input_dim: [usize; 4],
    /// Floats per sample in `data` (the padded plane plus its slack, or `C·H·W`).
    pub(super) sample_len: usize,
    /// Whether `data` holds the input padded channels-last ([`Plan::caches_channels_last`]):
    /// which strategy filled it depends on the SIMD limit of the forward, which may
    /// change before the backward ([`Plan::reading_cache`]).
    pub(super) channels_last: bool,
    pub(super) data: Vec<f32>,
}

impl std::fmt::Debug for Conv2dCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conv2dCache")
            .field("tier", &self.tier)
            .field("input_dim", &self.input_dim)
            .field("sample_len", &self.sample_len)
            .field("channels_last", &self.channels_last)
            .finish_non_exhaustive()
    }
}

impl Conv2dCache {
    /// The `[N, C, H, W]` of the input the cache holds (zeros if it holds none).
    pub fn input_dim(&self) -> [usize; 4] {
        self.input_dim
    }

    /// The tier of the forward that filled it (`Fast` if none did yet).
    pub fn tier(&self) -> Kernels {
        self.tier
    }

    /// Keeps `input` as it is, for [`reference::conv2d_backward`](crate::reference::conv2d_backward).
    pub(super) fn keep_plain(&mut self, input: ArrayView4<f32>) {
        let (n, c, h, w) = input.dim();
        self.tier = Kernels::Reference;
        self.input_dim = [n, c, h, w];
        self.sample_len = c * h * w;
        self.channels_last = false;
        self.data.clear();
        self.data.extend(input.iter());
    }

    /// The input kept by [`Conv2dCache::keep_plain`].
    pub(super) fn plain_input(&self) -> ArrayView4<'_, f32> {
        ArrayView4::from_shape(self.input_dim, &self.data).expect("kept with its shape")
    }

    /// Sizes the buffer for `plan` (reusing it when the size is unchanged).
    pub(super) fn prepare(&mut self, plan: &Plan) {
        self.tier = Kernels::Fast;
        self.input_dim = [plan.n, plan.c, plan.h, plan.w];
        self.sample_len = plan.cache_sample_len();
        self.channels_last = plan.caches_channels_last();
        let len = plan.n * self.sample_len;
        if self.data.len() != len {
            self.data = vec![0.0; len];
        }
    }
}

/// Writes the samples `src` into `dst` as `plan`'s cache holds them
/// ([`Plan::cache_sample_len`] floats each): padded channels-last for Winograd's or the
/// direct 3×3 kernel's weight gradient, zero-padded for the other direct strategies, as
/// im2col columns, or as they are.
pub(super) fn fill_cached_samples(plan: &Plan, src: &[f32], dst: &mut [f32]) {
    match &plan.direct {
        _ if plan.caches_channels_last() => winograd::pad_channels_last(&plan.tiling(), src, dst),
        Some(padded) => {
            for (d, s) in dst
                .chunks_exact_mut(padded.sample_len)
                .zip(src.chunks_exact(plan.in_sample()))
            {
                padded.fill(s, [plan.h, plan.w], d);
            }
        }
        None if plan.cache_columns => {
            for (d, s) in dst
                .chunks_exact_mut(plan.columns_len())
                .zip(src.chunks_exact(plan.in_sample()))
            {
                im2col_slice(
                    s,
                    [plan.c, plan.h, plan.w],
                    &plan.window,
                    [plan.oh, plan.ow],
                    d,
                );
            }
        }
        None => dst[..src.len()].copy_from_slice(src),
    }
}

/// Fills `cache` with the input `x` (all samples) as `plan` wants it.
pub(super) fn fill_cache(plan: &Plan, x: &[f32], cache: &mut Conv2dCache) {
    cache.prepare(plan);
    let sample_len = cache.sample_len;
    let in_sample = plan.in_sample();
    let fill = |(dst, src): (&mut [f32], &[f32])| fill_cached_samples(plan, src, dst);
    if use_threads() {
        let split = split_chunk();
        cache
            .data
            .par_chunks_mut(split * sample_len)
            .zip(x.par_chunks(split * in_sample))
            .for_each(fill);
    } else {
        cache
            .data
            .chunks_mut(SAMPLE_CHUNK * sample_len)
            .zip(x.chunks(SAMPLE_CHUNK * in_sample))
            .for_each(fill);
    }
}
