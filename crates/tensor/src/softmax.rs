//! Softmax and log-softmax over the rows of a `[N, K]` matrix, stable for any finite logits.
//!
//! Both subtract each row's maximum before exponentiating, so logits of
//! ±1000 give exact probabilities instead of `inf / inf = NaN`.

use ndarray::{Array2, ArrayView2, Axis};

/// Row-wise softmax: `exp(x − max) / Σ exp(x − max)`.
///
/// # Shapes
/// `[N, K]` → `[N, K]`, each row summing to 1.
///
/// ```
/// use ndarray::array;
/// let p = scratchnet_tensor::softmax::softmax(array![[1000.0f32, 0.0]].view());
/// assert_eq!(p, array![[1.0, 0.0]]);
/// ```
pub fn softmax(logits: ArrayView2<f32>) -> Array2<f32> {
    let mut out = log_softmax(logits);
    out.mapv_inplace(f32::exp);
    out
}

/// Row-wise log-softmax: `x − max − ln Σ exp(x − max)`.
///
/// # Shapes
/// `[N, K]` → `[N, K]`.
pub fn log_softmax(logits: ArrayView2<f32>) -> Array2<f32> {
    let mut out = logits.to_owned();
    for mut row in out.axis_iter_mut(Axis(0)) {
        let max = row.fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let log_sum = row.iter().map(|&x| (x - max).exp()).sum::<f32>().ln();
        row.mapv_inplace(|x| x - max - log_sum);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn stable_for_huge_logits() {
        let l = log_softmax(array![[1000.0f32, -1000.0, 999.0]].view());
        assert!(l.iter().all(|x| x.is_finite()));
        assert!((l[[0, 0]] - (-(1.0f32 + (-1.0f32).exp()).ln())).abs() < 1e-6);
        let p = softmax(array![[1.0f32, 2.0, 3.0], [-1000.0, -1000.0, -1000.0]].view());
        for row in p.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-6);
        }
    }
}
