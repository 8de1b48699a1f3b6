//! Batch normalisation's per-channel arithmetic on NCHW tensors: the statistics, the
//! normalisation with its affine map, and the backward sums and input gradient.
//!
//! The definitions are the plain loops of [`reference`](mod@crate::reference)'s
//! `batch_norm.rs`. Here the statistics and sums run one channel per task, each
//! summing its `N·H·W` values in sixteen `f64` lanes (so the compiler vectorises them;
//! the two sums of the statistics, and the backward's two sums, each share one pass),
//! and the element-wise passes run over fixed chunks of samples (the normalisation
//! writes `x̂` and `y` in one pass); every value is computed the same way whatever
//! thread computes it, so the results do not depend on the thread count. Element-wise results are bit for bit the reference's; the sums
//! differ from its single running sum only by `f64` rounding.

use crate::kernels::use_reference;
use crate::parallel::{build_from_pieces, build_two_from_pieces, par_map, ELEMENT_CHUNK};
use crate::reference;
use ndarray::{Array4, ArrayView4};

/// Per channel `c`, the mean and the biased variance (divided by `m = N·H·W`) of
/// `x[:, c, :, :]`: `mean = Σx / m`, `var = Σ(x − mean)² / m`, in `f64`. (In one
/// pass over `x`, with a shift, and a second only for a channel whose first value is
/// far from its mean; the reference's two passes read it twice.)
pub fn channel_mean_and_biased_var(x: ArrayView4<f32>) -> Vec<(f64, f64)> {
    if use_reference() {
        return reference::channel_mean_and_biased_var(x);
    }
    let x = x.as_standard_layout();
    let planes = Planes::new(x.view());
    let m = planes.values_per_channel() as f64;
    par_map(planes.channels, |c| {
        if m == 0.0 {
            return (f64::NAN, f64::NAN);
        }
        // One pass instead of two: the sums of `d = x − shift` and of `d²`, shifted by
        // a value of the channel so that they stay of the variance's size (0 if that
        // value is not finite: `∞ − ∞` would make the mean NaN, not ∞).
        let first = f64::from(planes.data[c * planes.plane]);
        let shift = if first.is_finite() { first } else { 0.0 };
        let (mean_shifted, var) = shifted_mean_and_var(&planes, c, shift);
        // A first value far from the mean (an outlier) leaves `Σd²/m − (Σd/m)²` a
        // difference of two large numbers: then a second pass, shifted by the mean.
        let (shift, (mean_shifted, var)) = if mean_shifted * mean_shifted > 16.0 * var {
            let mean = shift + mean_shifted;
            (mean, shifted_mean_and_var(&planes, c, mean))
        } else {
            (shift, (mean_shifted, var))
        };
        // Rounding may leave a constant channel's variance a hair below zero; a NaN
        // (from a NaN input) stays NaN, as in the reference.
        (shift + mean_shifted, if var < 0.0 { 0.0 } else { var })
    })
}

/// `(Σd / m, Σd² / m − (Σd / m)²)` of channel `c`'s values `d = x − shift`: its mean
/// less `shift`, and its biased variance, in one pass.
fn shifted_mean_and_var(planes: &Planes, c: usize, shift: f64) -> (f64, f64) {
    let m = planes.values_per_channel() as f64;
    let (sum, sum_of_squares) = planes.sum_pair(planes, c, |u, _| {
        let d = f64::from(u) - shift;
        (d, d * d)
    });
    let mean_shifted = sum / m;
    (
        mean_shifted,
        sum_of_squares / m - mean_shifted * mean_shifted,
    )
}

/// Normalises every channel with the given statistics and applies the affine map:
/// `x̂ = (x − mean_c) · inv_std_c` and `y = γ_c · x̂ + β_c`. Returns `(x̂, y)`.
///
/// # Panics
/// If a per-channel slice is shorter than the channel count.
pub fn batch_norm(
    x: ArrayView4<f32>,
    mean: &[f64],
    inv_std: &[f64],
    gamma: &[f64],
    beta: &[f64],
) -> (Array4<f32>, Array4<f32>) {
    if use_reference() {
        return reference::batch_norm(x, mean, inv_std, gamma, beta);
    }
    let x = x.as_standard_layout();
    let planes = Planes::new(x.view());
    planes.map_planes_to_two(|c, x| {
        let (mean, inv_std, gamma, beta) = (mean[c], inv_std[c], gamma[c], beta[c]);
        x.iter().map(move |&v| {
            let normalised = (f64::from(v) - mean) * inv_std;
            (normalised as f32, (gamma * normalised + beta) as f32)
        })
    })
}

/// The sums batch norm's backward needs, per channel: `(Σ dy, Σ dy·x̂)` (the gradients
/// of β and γ).
///
/// # Panics
/// If the two tensors differ in shape.
pub fn channel_grad_sums(grad_output: ArrayView4<f32>, x_hat: ArrayView4<f32>) -> Vec<(f64, f64)> {
    assert_eq!(
        grad_output.shape(),
        x_hat.shape(),
        "dy and x̂ differ in shape"
    );
    if use_reference() {
        return reference::channel_grad_sums(grad_output, x_hat);
    }
    let (dy, xh) = (grad_output.as_standard_layout(), x_hat.as_standard_layout());
    let (dy, xh) = (Planes::new(dy.view()), Planes::new(xh.view()));
    par_map(dy.channels, |c| dy.sum_and_sum_product(&xh, c))
}

/// The input gradient of batch norm, per channel:
/// `dx = scale_c · (dy − mean_dy_c − x̂ · mean_dy_xhat_c)` (see the reference).
///
/// # Panics
/// If the two tensors differ in shape, or a per-channel slice is shorter than the
/// channel count.
pub fn batch_norm_backward(
    grad_output: ArrayView4<f32>,
    x_hat: ArrayView4<f32>,
    scale: &[f64],
    mean_dy: &[f64],
    mean_dy_xhat: &[f64],
) -> Array4<f32> {
    assert_eq!(
        grad_output.shape(),
        x_hat.shape(),
        "dy and x̂ differ in shape"
    );
    if use_reference() {
        return reference::batch_norm_backward(grad_output, x_hat, scale, mean_dy, mean_dy_xhat);
    }
    let (dy, xh) = (grad_output.as_standard_layout(), x_hat.as_standard_layout());
    let (dy, xh) = (Planes::new(dy.view()), Planes::new(xh.view()));
    dy.zip_planes(&xh, |c, dy, x_hat| {
        let (scale, mean_dy, mean_dy_xhat) = (scale[c], mean_dy[c], mean_dy_xhat[c]);
        dy.iter().zip(x_hat).map(move |(&g, &x)| {
            (scale * (f64::from(g) - mean_dy - f64::from(x) * mean_dy_xhat)) as f32
        })
    })
}

/// A standard-layout NCHW tensor seen as `N·C` contiguous planes of `H·W` values.
struct Planes<'a> {
    data: &'a [f32],
    shape: [usize; 4],
    channels: usize,
    plane: usize,
}

/// `f64` lanes of the per-channel sums: independent accumulators the compiler keeps in
/// vector registers (two AVX-512 registers per sum, so that two chains of additions
/// overlap: about 10% faster than eight lanes on ResNet's activations; the planes'
/// separate tails in `sum_pair_plain` gained the rest, half the time on 7×7 planes).
const LANES: usize = 16;

impl<'a> Planes<'a> {
    fn new(x: ArrayView4<'a, f32>) -> Self {
        let (n, c, h, w) = x.dim();
        let data = x.to_slice().expect("standard layout");
        Self {
            data,
            shape: [n, c, h, w],
            channels: c,
            plane: h * w,
        }
    }

    fn values_per_channel(&self) -> usize {
        self.shape[0] * self.plane
    }

    /// Channel `c`'s planes, sample by sample.
    fn channel(&self, c: usize) -> impl Iterator<Item = &'a [f32]> + '_ {
        (0..self.shape[0]).map(move |n| {
            let start = (n * self.channels + c) * self.plane;
            &self.data[start..start + self.plane]
        })
    }

    /// `(Σ self, Σ self·other)` over channel `c` (same shapes).
    fn sum_and_sum_product(&self, other: &Planes, c: usize) -> (f64, f64) {
        self.sum_pair(other, c, |u, v| (f64::from(u), f64::from(u) * f64::from(v)))
    }

    /// The two sums of `terms(u, v)` over channel `c`, `u` of `self` and `v` of
    /// `other` (same shapes), each in its own [`LANES`] lanes, in one pass over both
    /// tensors: a third less to read than a pass for each sum, and 1.3–1.5× as fast on
    /// ResNet's activations (`cargo bench -p scratchnet-tensor --bench batch_norm`).
    fn sum_pair(
        &self,
        other: &Planes,
        c: usize,
        terms: impl Fn(f32, f32) -> (f64, f64),
    ) -> (f64, f64) {
        crate::simd::widest(
            #[inline(always)]
            || self.sum_pair_plain(other, c, terms),
        )
    }

    #[inline(always)]
    fn sum_pair_plain(
        &self,
        other: &Planes,
        c: usize,
        terms: impl Fn(f32, f32) -> (f64, f64),
    ) -> (f64, f64) {
        let mut firsts = [0.0f64; LANES];
        let mut seconds = [0.0f64; LANES];
        // The planes' tails (`H·W mod LANES` values each) have sums of their own: added
        // into the lanes, they made the compiler keep the lanes in memory, and each
        // plane's masked store and the next plane's load cost more than the plane.
        let (mut tail_first, mut tail_second) = (0.0f64, 0.0f64);
        let add = |first: &mut f64, second: &mut f64, u: f32, v: f32| {
            let (a, b) = terms(u, v);
            *first += a;
            *second += b;
        };
        for (a, b) in self.channel(c).zip(other.channel(c)) {
            let (mut a_chunks, mut b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
            for (ca, cb) in (&mut a_chunks).zip(&mut b_chunks) {
                for (((first, second), &u), &v) in
                    firsts.iter_mut().zip(seconds.iter_mut()).zip(ca).zip(cb)
                {
                    add(first, second, u, v);
                }
            }
            for (&u, &v) in a_chunks.remainder().iter().zip(b_chunks.remainder()) {
                add(&mut tail_first, &mut tail_second, u, v);
            }
        }
        (
            firsts.iter().sum::<f64>() + tail_first,
            seconds.iter().sum::<f64>() + tail_second,
        )
    }

    /// Two new tensors of the same shape, plane by plane: `values(channel, x)` yields
    /// the pairs of one `H·W` plane of the two results from the same plane `x` of
    /// `self`, in one pass over it (the chunks of [`Planes::zip_planes`]).
    fn map_planes_to_two<I: IntoIterator<Item = (f32, f32)>>(
        &self,
        values: impl Fn(usize, &'a [f32]) -> I + Sync,
    ) -> (Array4<f32>, Array4<f32>) {
        let plane = self.plane.max(1);
        let len = self.data.len();
        let data = self.data;
        let (first, second) = build_two_from_pieces(
            len,
            plane,
            (ELEMENT_CHUNK / plane).max(1),
            len >= 2 * ELEMENT_CHUNK,
            |p, range| values(p % self.channels, &data[range]),
        );
        let array = |v| Array4::from_shape_vec(self.shape, v).expect("same length");
        (array(first), array(second))
    }

    /// A new tensor of the same shape, plane by plane from the same planes of `self`
    /// and `other`: `values(channel, a, b)`. Each call sees one channel, so it reads
    /// that channel's coefficients once and its loop over the plane vectorises.
    /// Runs over fixed chunks of whole planes (where they fit).
    fn zip_planes<I: IntoIterator<Item = f32>>(
        &self,
        other: &Planes<'a>,
        values: impl Fn(usize, &'a [f32], &'a [f32]) -> I + Sync,
    ) -> Array4<f32> {
        let plane = self.plane.max(1);
        let len = self.data.len();
        let (a, b) = (self.data, other.data);
        let per_chunk = (ELEMENT_CHUNK / plane).max(1);
        let data = build_from_pieces(
            len,
            plane,
            per_chunk,
            len >= 2 * ELEMENT_CHUNK,
            |p, range| values(p % self.channels, &a[range.clone()], &b[range]),
        );
        Array4::from_shape_vec(self.shape, data).expect("same length")
    }
}
