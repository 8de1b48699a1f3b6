//! Softmax and the softmax cross-entropy loss (mean over the batch), by their definitions.

use ndarray::{Array2, ArrayView1, ArrayView2};

/// Row-wise softmax, stable: `p[n, k] = exp(x[n, k] − m) / Σ_j exp(x[n, j] − m)`,
/// `m = max_j x[n, j]` (which cancels, but keeps `exp` from overflowing).
///
/// # Shapes
/// `[N, K]` → `[N, K]`, each row summing to 1.
pub fn softmax(logits: ArrayView2<f32>) -> Array2<f32> {
    let mut probabilities = Array2::zeros(logits.dim());
    for (row, mut p) in logits.rows().into_iter().zip(probabilities.rows_mut()) {
        let max = row_max(row);
        let total: f32 = row.iter().map(|&x| (x - max).exp()).sum();
        for (p, &x) in p.iter_mut().zip(row) {
            *p = (x - max).exp() / total;
        }
    }
    probabilities
}

/// Softmax cross-entropy, averaged over the batch (PyTorch's `F.cross_entropy`):
///
/// ```text
/// loss = −(1/N) Σ_n log softmax(x[n])[t_n],   log softmax(x)[k] = x[k] − m − ln Σ_j exp(x[j] − m)
/// ```
///
/// # Shapes
/// `logits`: `[N, K]`; `targets`: `N` labels in `0..K` → a scalar.
///
/// # Panics
/// If there are not `N` labels or a label is not below `K`.
#[track_caller]
pub fn softmax_cross_entropy(logits: ArrayView2<f32>, targets: &[usize]) -> f32 {
    let n = logits.nrows();
    assert_eq!(
        targets.len(),
        n,
        "{} labels for {n} rows of logits: one label per row",
        targets.len()
    );
    let mut total = 0.0f64;
    for (row, &target) in logits.rows().into_iter().zip(targets) {
        let max = row_max(row);
        let log_sum: f32 = row.iter().map(|&x| (x - max).exp()).sum::<f32>().ln();
        total -= f64::from(row[target] - max - log_sum);
    }
    (total / n.max(1) as f64) as f32
}

/// ∂loss/∂logits of [`softmax_cross_entropy`]:
///
/// ```text
/// dx[n, k] = (softmax(x[n])[k] − [k = t_n]) / N
/// ```
///
/// # Shapes
/// `logits`: `[N, K]`; `targets`: `N` labels → `[N, K]`.
///
/// # Panics
/// As [`softmax_cross_entropy`].
#[track_caller]
pub fn softmax_cross_entropy_backward(logits: ArrayView2<f32>, targets: &[usize]) -> Array2<f32> {
    let n = logits.nrows();
    assert_eq!(
        targets.len(),
        n,
        "{} labels for {n} rows of logits: one label per row",
        targets.len()
    );
    let mut grad = softmax(logits);
    for (mut row, &target) in grad.rows_mut().into_iter().zip(targets) {
        row[target] -= 1.0;
    }
    grad / n.max(1) as f32
}

/// The row's maximum; `f32::max` skips NaN, like the fast kernel.
fn row_max(row: ArrayView1<f32>) -> f32 {
    row.fold(f32::NEG_INFINITY, |m, &x| m.max(x))
}
