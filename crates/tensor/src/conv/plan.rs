//! [`Plan`]: a convolution call's sizes, checked once, and the strategy chosen for
//! each of its three products.

use super::padded::Padded;
use crate::direct3x3;
use crate::gemm;
use crate::winograd;
use crate::Window2d;
use ndarray::ArrayView4;

/// The fewest input and output channels for which a 3×3 stride-1 convolution's
/// forward runs by [`winograd`]. With fewer, its transforms (whose cost grows with
/// the channels) outweigh the products it saves (whose savings grow with their
/// product); at 16 the ResNet's first stage still gains a little, and its epoch about
/// 2.5% against a threshold of 32 (`fashion_resnet`, 1 thread, 4 alternating rounds).
const WINOGRAD_MIN_CHANNELS: usize = 16;

/// Sizes and strategy of one convolution call, checked once.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) o: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    pub(super) groups: usize,
    /// Output channels per group.
    pub(super) og: usize,
    /// `cg·KH·KW`: the im2col rows of one group.
    pub(super) ckk: usize,
    /// `OH·OW`.
    pub(super) p: usize,
    pub(super) window: Window2d,
    /// Forward and weight gradient by implicit im2col over the padded input.
    pub(super) direct: Option<Padded>,
    /// Stride 1, dilation 1, one group and little waste: `direct` has a virtual
    /// grid, which the input gradient (and perhaps the forward) runs on.
    pub(super) virtual_grid: bool,
    /// Direct forward with output pixels as rows and output channels in the
    /// vector lanes (exact, no virtual columns) rather than on the virtual grid:
    /// always without a virtual grid; with one, when `O` fills its vectors better
    /// than the grid's `OH·Wp` columns do (counting the `Wp − OW` discarded columns
    /// of each row and the last vector's idle lanes: a 1×1 convolution on a 7×7
    /// plane computes 49 columns in four 16-lane vectors, 64 lanes, where 256 output
    /// channels fill theirs; `wide.1x1.256`'s forward 75 → 91 GFLOP/s), unless only
    /// the virtual grid's long rows take the
    /// 512-bit block and it wastes at most a quarter of its columns: then it beats
    /// the pixel-major product and its transpose (criterion, 1 thread: the modern
    /// CNN's conv1 43 against 14 GFLOP/s, conv2 78 against 55; but LeNet's conv2,
    /// 40% waste, 53 against 61). Both give the same bits.
    pub(super) pixel_major: bool,
    /// A 3×3 stride-1 convolution with enough channels: the forward by [`winograd`].
    pub(super) winograd: bool,
    /// ... and the weight gradient too, from the channels-last input the cache then
    /// holds. On odd sides too, where the last tiles overhang the output: timed call
    /// by call over whole layers (`bench/odd_sides_timing.patch`, batch 64), the
    /// ResNet's 64-channel and the modern CNN's 32 → 64 7×7 layers take 6–8% less
    /// time (1 thread) and 12–14% less (2 threads) than with the direct weight
    /// gradient on an AVX-512 AMD EPYC, 0–3% less on an AVX2 one.
    pub(super) winograd_weight_grad: bool,
    /// A `winograd` convolution whose forward and weight gradient run by [`direct3x3`]
    /// instead (and then not `winograd_weight_grad`): where that kernel runs on this
    /// CPU (AVX-512 with two full-width FMA units) and takes these channels (16
    /// inputs, outputs in whole vectors).
    pub(super) direct3x3: bool,
    /// On im2col, the cache holds each sample's columns rather than its input: where
    /// they are fewer (ResNet's 1×1 stride-2 projections: a quarter), so that the
    /// forward writes them once and the weight gradient reads them as they are.
    pub(super) cache_columns: bool,
}

impl Plan {
    #[track_caller]
    pub(super) fn new(
        [n, c, h, w]: [usize; 4],
        out_channels: usize,
        weight: ArrayView4<f32>,
        window: &Window2d,
        groups: usize,
    ) -> Self {
        let (o, cg, kh, kw) = weight.dim();
        assert!(
            groups >= 1 && c % groups == 0 && out_channels % groups == 0,
            "groups must divide both channel counts"
        );
        assert_eq!(
            o, out_channels,
            "weight has {o} output channels, expected {out_channels}"
        );
        assert_eq!(
            cg * groups,
            c,
            "weight has {cg} input channels per group, input has {c} in {groups} groups"
        );
        assert_eq!(
            [kh, kw],
            window.kernel_size,
            "weight kernel does not match the window"
        );
        let [oh, ow] = window
            .output_size([h, w])
            .expect("window does not fit the padded input");
        let simple = window.stride == [1, 1] && window.dilation == [1, 1] && groups == 1;
        let wp = w + 2 * window.padding[1];
        // Direct forward and weight gradient: the virtual grid wastes Wp/OW − 1
        // of the multiply-adds, but saves writing (and reading) the im2col
        // matrix, which costs more than the products at LeNet's sizes: worth it up to 50 %.
        let virtual_grid = simple && oh * ow > 0 && 2 * wp <= 3 * ow;
        let strided_direct = groups == 1 && !simple && strided_direct_pays([c, h, w], window);
        let winograd = simple
            && [kh, kw] == [3, 3]
            && oh * ow > 0
            && c >= WINOGRAD_MIN_CHANNELS
            && o >= WINOGRAD_MIN_CHANNELS;
        let direct3x3 = winograd && direct3x3::runs(c, o);
        let direct = (virtual_grid || strided_direct || winograd)
            .then(|| Padded::new(c, [h, w], window, [oh, ow]));
        Self {
            n,
            c,
            h,
            w,
            o,
            oh,
            ow,
            groups,
            og: o / groups,
            ckk: cg * kh * kw,
            p: oh * ow,
            window: *window,
            pixel_major: !winograd
                && direct
                    .as_ref()
                    .is_some_and(|d| pixel_major_pays(d, o, [oh, ow], virtual_grid)),
            virtual_grid,
            winograd,
            direct3x3,
            winograd_weight_grad: winograd && !direct3x3,
            cache_columns: direct.is_none() && cg * kh * kw * oh * ow * groups < c * h * w,
            direct,
        }
    }

    pub(super) fn in_sample(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Floats of one sample's im2col columns, all groups (`[g·C/g·KH·KW, OH·OW]`).
    pub(super) fn columns_len(&self) -> usize {
        self.groups * self.ckk * self.p
    }

    /// The window of the convolution that computes this one's input gradient
    /// (`input_grad_as_convolution`), where that pays: a virtual-grid or Winograd plan
    /// (stride 1, one group) whose padding is at most `K − 1`, with at least 8 input
    /// channels (the output channels of that convolution). A Winograd plan's input
    /// gradient is then Winograd's too, also on planes narrower than 4, where the
    /// virtual grid is refused and im2col took 3–7 times as long (64 channels at 3²:
    /// 1.55 against 0.47 ms at batch 64; 256 at 2²: 12.1 against 3.2). Not for a
    /// non-finite weight, whose products with the padding around `dY` would be NaN
    /// (see `backward`).
    pub(super) fn input_grad_window(&self) -> Option<Window2d> {
        let [kh, kw] = self.window.kernel_size;
        let [ph, pw] = self.window.padding;
        let fast = self.virtual_grid || self.winograd;
        (fast && ph < kh && pw < kw && self.c >= 8).then(|| Window2d {
            kernel_size: [kh, kw],
            padding: [kh - 1 - ph, kw - 1 - pw],
            ..Default::default()
        })
    }

    /// Whether this convolution's input gradient folds channels-last
    /// ([`input_grad_channels_last`](super::backward::input_grad_channels_last)): one group, at least 8 input channels (the runs
    /// the fold adds), a stride above 1, and windows that overlap along some axis.
    /// (Where they do not, as in ResNet's 1×1 stride-2 projections, im2col's fold adds
    /// one value per input value at most, and is as fast.)
    pub(super) fn input_grad_channels_last(&self) -> bool {
        let (effective, stride) = (self.window.effective_kernel(), self.window.stride);
        self.groups == 1
            && self.c >= 8
            && stride != [1, 1]
            && (effective[0] > stride[0] || effective[1] > stride[1])
    }

    pub(super) fn input_dim(&self) -> (usize, usize, usize, usize) {
        (self.n, self.c, self.h, self.w)
    }

    pub(super) fn output_dim(&self) -> (usize, usize, usize, usize) {
        (self.n, self.o, self.oh, self.ow)
    }

    /// Whether the cache holds the input padded channels-last, as
    /// [`winograd::pad_channels_last`] lays it out: for Winograd's weight gradient or the
    /// direct 3×3 kernel's.
    pub(super) fn caches_channels_last(&self) -> bool {
        self.winograd_weight_grad || self.direct3x3
    }

    /// This plan with the weight gradient of a cache laid out `channels_last` or not
    /// ([`Plan::caches_channels_last`]): the SIMD limit decides whether the direct 3×3
    /// kernel runs, and so the layout, and it may have changed since the forward that
    /// filled the cache. A channels-last cache the direct 3×3 kernel no longer reads
    /// here goes to Winograd's weight gradient (the same layout); a plain padded one
    /// to the direct weight gradient.
    pub(super) fn reading_cache(mut self, channels_last: bool) -> Self {
        if self.winograd && channels_last != self.caches_channels_last() {
            self.direct3x3 = false;
            self.winograd_weight_grad = channels_last;
        }
        self
    }

    pub(super) fn cache_sample_len(&self) -> usize {
        if self.caches_channels_last() {
            return self.tiling().padded_sample_len();
        }
        if self.cache_columns {
            return self.columns_len();
        }
        self.direct
            .as_ref()
            .map_or(self.in_sample(), |d| d.sample_len)
    }

    /// The shape [`winograd`] works on.
    pub(super) fn tiling(&self) -> winograd::Tiling {
        winograd::Tiling {
            channels: self.c,
            out_channels: self.o,
            input_size: [self.h, self.w],
            padding: self.window.padding,
            output_size: [self.oh, self.ow],
        }
    }

    #[track_caller]
    pub(super) fn check_grad_output(&self, dim: [usize; 4]) {
        assert_eq!(
            dim,
            [self.n, self.o, self.oh, self.ow],
            "grad_output does not match the convolution's output size"
        );
    }
}

/// Whether a one-group strided or dilated convolution of a `[C, H, W]` input runs
/// direct. It has no virtual grid, but its forward and weight gradient can still read
/// the padded input in place, pixel-major (ResNet's 3×3 stride-2 layers: 1.8–2× the
/// im2col speed; their input gradient stays on im2col). Not for 1×1 windows, whose
/// im2col only picks the pixels it needs, where the padded copy would hold them all.
/// Nor where the padding makes that copy larger than both the input and the im2col
/// columns (a stride and a padding of 3000 on a 1×1 plane: 6001² floats for 2×2
/// outputs), so that no buffer of this strategy outgrows those of im2col, which a
/// layer bounds.
fn strided_direct_pays([c, h, w]: [usize; 3], window: &Window2d) -> bool {
    let ([kh, kw], [ph, pw]) = (window.kernel_size, window.padding);
    let Some([oh, ow]) = window.output_size([h, w]) else {
        return false;
    };
    let padded_len = (h + 2 * ph).saturating_mul(w + 2 * pw).saturating_mul(c);
    let columns_len = [c, kh, kw, oh, ow]
        .iter()
        .fold(1, |n: usize, &d| n.saturating_mul(d));
    let im2col_len = (c * h * w).max(columns_len);
    oh * ow > 0 && kh * kw > 1 && padded_len <= im2col_len
}

/// Whether a direct forward on `padded` runs pixel-major ([`Plan::pixel_major`]): always
/// without a virtual grid; with one, when the grid's product computes more lanes than
/// the pixel-major one and does not win by its wider block.
fn pixel_major_pays(padded: &Padded, o: usize, [oh, ow]: [usize; 2], virtual_grid: bool) -> bool {
    if !virtual_grid {
        return true;
    }
    let (vlen, wp) = (padded.virtual_len(), padded.cols);
    let grid_takes_wider_block =
        gemm::wide_block_pays(o, vlen) && !gemm::wide_block_pays(oh * ow, o);
    let grid_wins = grid_takes_wider_block && 4 * wp <= 5 * ow;
    // The multiply-adds each product computes, its vectors' idle lanes included: the
    // grid's all `OH·Wp` columns, rounded up to the vectors they run in, against `O`
    // so rounded.
    let lanes = |m, n| if gemm::wide_block_pays(m, n) { 16 } else { 8 };
    let grid_work = o * vlen.next_multiple_of(lanes(o, vlen));
    let pixel_work = o.next_multiple_of(lanes(oh * ow, o)) * oh * ow;
    grid_work > pixel_work && !grid_wins
}
