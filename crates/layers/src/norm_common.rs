//! What GroupNorm and LayerNorm share: normalising rows of values to mean 0 and variance 1.

use ndarray::{Array2, ArrayView2, Axis, Zip};

/// Each row of `x` normalised, `x̂ = (x − mean) / √(var + eps)` with the row's mean
/// and biased variance (two passes, in `f64`), and each row's `1 / √(var + eps)`.
pub(crate) fn normalize_rows(x: ArrayView2<f32>, eps: f64) -> (Array2<f64>, Vec<f64>) {
    let mut x_hat = x.mapv(f64::from);
    let mut inv_stds = Vec::with_capacity(x.nrows());
    for mut row in x_hat.axis_iter_mut(Axis(0)) {
        let m = row.len() as f64;
        let mean = row.sum() / m;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m;
        let inv_std = 1.0 / (var + eps).sqrt();
        row.mapv_inplace(|v| (v - mean) * inv_std);
        inv_stds.push(inv_std);
    }
    (x_hat, inv_stds)
}

/// The gradient through [`normalize_rows`]: for each row, with `m` values and
/// `g = ∂loss/∂x̂`, `dx = inv_std · (g − mean(g) − x̂ · mean(g · x̂))`.
pub(crate) fn normalize_rows_backward(
    grad_x_hat: ArrayView2<f64>,
    x_hat: ArrayView2<f64>,
    inv_stds: &[f64],
) -> Array2<f64> {
    let mut grad_input = Array2::zeros(x_hat.raw_dim());
    for (((mut dx, g), xh), &inv_std) in grad_input
        .axis_iter_mut(Axis(0))
        .zip(grad_x_hat.axis_iter(Axis(0)))
        .zip(x_hat.axis_iter(Axis(0)))
        .zip(inv_stds)
    {
        let m = g.len() as f64;
        let mean_g = g.sum() / m;
        let mean_g_xh = g.dot(&xh) / m;
        Zip::from(&mut dx)
            .and(&g)
            .and(&xh)
            .for_each(|d, &g, &xh| *d = inv_std * (g - mean_g - xh * mean_g_xh));
    }
    grad_input
}
