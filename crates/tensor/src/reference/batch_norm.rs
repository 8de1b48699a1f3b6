//! Batch normalisation's per-channel arithmetic, as the formula reads. All sums are
//! in `f64`, over one channel's `N·H·W` values in storage order (sample by sample).

use ndarray::{Array4, ArrayView4, Axis, Zip};

/// Per channel `c`, the mean and the *biased* variance (divided by `m = N·H·W`) of
/// `x[:, c, :, :]`, in two passes: `mean = Σx / m`, `var = Σ(x − mean)² / m`.
pub fn channel_mean_and_biased_var(x: ArrayView4<f32>) -> Vec<(f64, f64)> {
    x.axis_iter(Axis(1))
        .map(|channel| {
            let m = channel.len() as f64;
            let mean = channel.iter().map(|&v| f64::from(v)).sum::<f64>() / m;
            let var = channel
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / m;
            (mean, var)
        })
        .collect()
}

/// Normalises every channel with the given statistics and applies the affine map:
/// `x̂ = (x − mean_c) · inv_std_c` and `y = γ_c · x̂ + β_c`. Returns `(x̂, y)`.
pub fn batch_norm(
    x: ArrayView4<f32>,
    mean: &[f64],
    inv_std: &[f64],
    gamma: &[f64],
    beta: &[f64],
) -> (Array4<f32>, Array4<f32>) {
    let mut x_hat = Array4::<f32>::zeros(x.raw_dim());
    let mut output = Array4::<f32>::zeros(x.raw_dim());
    for ((n, c, h, w), &v) in x.indexed_iter() {
        let normalised = (f64::from(v) - mean[c]) * inv_std[c];
        x_hat[[n, c, h, w]] = normalised as f32;
        output[[n, c, h, w]] = (gamma[c] * normalised + beta[c]) as f32;
    }
    (x_hat, output)
}

/// The sums batch norm's backward needs, per channel: `(Σ dy, Σ dy·x̂)` (the gradients
/// of β and γ).
pub fn channel_grad_sums(grad_output: ArrayView4<f32>, x_hat: ArrayView4<f32>) -> Vec<(f64, f64)> {
    grad_output
        .axis_iter(Axis(1))
        .zip(x_hat.axis_iter(Axis(1)))
        .map(|(dy, xh)| {
            let (mut sum_dy, mut sum_dy_xhat) = (0.0f64, 0.0f64);
            Zip::from(dy).and(xh).for_each(|&g, &x| {
                sum_dy += f64::from(g);
                sum_dy_xhat += f64::from(g) * f64::from(x);
            });
            (sum_dy, sum_dy_xhat)
        })
        .collect()
}

/// The input gradient of batch norm, per channel:
/// `dx = scale_c · (dy − mean_dy_c − x̂ · mean_dy_xhat_c)`, where `scale_c = γ_c · inv_std_c`
/// and the two means are `Σ dy / m` and `Σ dy·x̂ / m` after a forward with the batch's
/// statistics (the gradient through the mean and the variance), or 0 after one with
/// running statistics (a fixed affine map).
pub fn batch_norm_backward(
    grad_output: ArrayView4<f32>,
    x_hat: ArrayView4<f32>,
    scale: &[f64],
    mean_dy: &[f64],
    mean_dy_xhat: &[f64],
) -> Array4<f32> {
    let mut grad_input = Array4::<f32>::zeros(x_hat.raw_dim());
    for ((n, c, h, w), &g) in grad_output.indexed_iter() {
        let xh = f64::from(x_hat[[n, c, h, w]]);
        grad_input[[n, c, h, w]] =
            (scale[c] * (f64::from(g) - mean_dy[c] - xh * mean_dy_xhat[c])) as f32;
    }
    grad_input
}
