//! What GroupNorm and LayerNorm share: normalising groups of values to mean 0 and
//! variance 1, then scaling and shifting them per channel.
//!
//! Both layers see their input as `[N, C, P]`: `N` samples (or blocks), `C`
//! channels, each with its own `γ_c` and `β_c`, and `P` positions per channel.
//! Each sample's channels are split into `groups` groups of consecutive channels,
//! and each group (its channels at all their positions) is normalised on its own:
//!
//! - forward: `x̂ = (x − mean) / √(var + eps)` per group, `y = γ_c · x̂ + β_c`;
//! - backward, with `g = dy · γ_c` and `m` values per group:
//!   `dx = (g − mean(g) − x̂ · mean(g · x̂)) / √(var + eps)`,
//!   `dγ_c += Σ dy · x̂` and `dβ_c += Σ dy` over the samples and positions.
//!
//! GroupNorm is `[N, C, H·W]` in `num_groups` groups; LayerNorm is
//! `[blocks, m, 1]` in one group, each normalised element being its own channel.
//! Statistics and sums in `f64`.

use crate::Parameter;
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis, Zip};

/// What a forward keeps for backward.
#[derive(Clone, Debug)]
pub(crate) struct Normalized {
    /// x̂ as `[N·groups, values per group]`.
    x_hat: Array2<f64>,
    /// Each group's `1 / √(var + eps)`.
    inv_stds: Vec<f64>,
}

/// `y = γ_c · x̂ + β_c` for `x` of shape `[N, C, P]` normalised in `groups` groups
/// of channels per sample; `γ = 1` without a `weight`, `β = 0` without a `bias`.
pub(crate) fn forward(
    x: ArrayView3<f32>,
    groups: usize,
    eps: f32,
    weight: Option<&Parameter>,
    bias: Option<&Parameter>,
) -> (Array3<f32>, Normalized) {
    let (n, c, p) = x.dim();
    let x = x.as_standard_layout();
    let rows = x
        .to_shape((n * groups, c / groups * p))
        .expect("contiguous");
    let (x_hat, inv_stds) = normalize_rows(rows.view(), f64::from(eps));
    let (gamma, beta) = (per_channel(weight, c, 1.0), per_channel(bias, c, 0.0));
    let x_hat_by_channel = x_hat.to_shape((n, c, p)).expect("same length");
    let y = Array3::from_shape_fn((n, c, p), |(s, ch, i)| {
        (gamma[ch] * x_hat_by_channel[[s, ch, i]] + beta[ch]) as f32
    });
    (y, Normalized { x_hat, inv_stds })
}

/// The input gradient `dx` for the output gradient `dy` of shape `[N, C, P]`,
/// adding `dγ` and `dβ` to the gradients of `weight` and `bias`.
pub(crate) fn backward(
    dy: ArrayView3<f32>,
    normalized: &Normalized,
    weight: Option<&mut Parameter>,
    bias: Option<&mut Parameter>,
) -> Array3<f32> {
    let (n, c, p) = dy.dim();
    let Normalized { x_hat, inv_stds } = normalized;
    let gamma = per_channel(weight.as_deref(), c, 1.0);
    let x_hat_by_channel = x_hat.to_shape((n, c, p)).expect("same length");
    let g = Array3::from_shape_fn((n, c, p), |(s, ch, i)| {
        f64::from(dy[[s, ch, i]]) * gamma[ch]
    });
    let g = g.to_shape(x_hat.raw_dim()).expect("same length");
    let dx = normalize_rows_backward(g.view(), x_hat.view(), inv_stds);
    let (mut grad_gamma, mut grad_beta) = (vec![0.0f64; c], vec![0.0f64; c]);
    for ((s, ch, i), &d) in dy.indexed_iter() {
        grad_gamma[ch] += f64::from(d) * x_hat_by_channel[[s, ch, i]];
        grad_beta[ch] += f64::from(d);
    }
    for (parameter, sums) in [(weight, grad_gamma), (bias, grad_beta)] {
        if let Some(parameter) = parameter {
            parameter
                .grad
                .iter_mut()
                .zip(sums)
                .for_each(|(grad, sum)| *grad += sum as f32);
        }
    }
    dx.into_shape_with_order((n, c, p))
        .expect("same length")
        .mapv(|v| v as f32)
}

/// The `c` values of `parameter` in `f64`, or `c` times `default` without one.
fn per_channel(parameter: Option<&Parameter>, c: usize, default: f64) -> Vec<f64> {
    parameter.map_or(vec![default; c], |p| {
        p.value.iter().map(|&v| f64::from(v)).collect()
    })
}

/// Each row of `x` normalised, `x̂ = (x − mean) / √(var + eps)` with the row's mean
/// and biased variance (two passes, in `f64`), and each row's `1 / √(var + eps)`.
fn normalize_rows(x: ArrayView2<f32>, eps: f64) -> (Array2<f64>, Vec<f64>) {
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
fn normalize_rows_backward(
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
