//! Softmax and log-softmax over the rows of a `[N, K]` matrix, stable for any finite logits.
//!
//! Both subtract each row's maximum before exponentiating, so logits of
//! ±1000 give exact probabilities instead of `inf / inf = NaN`.
//!
//! [`softmax_cross_entropy`] and its backward are the loss's two kernels; on
//! the reference tier ([`crate::kernels`]) they run
//! [`reference::softmax_cross_entropy`] and its backward.

use crate::kernels::use_reference;
use crate::reference;
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

/// Softmax cross-entropy averaged over the batch, `−(1/N) Σₙ log softmax(xₙ)[tₙ]`
/// (the sum in `f64`), and the softmax probabilities its backward needs.
/// [`reference::softmax_cross_entropy`] and [`reference::softmax`] on the reference tier.
///
/// # Shapes
/// `logits`: `[N, K]`; `targets`: `N` labels in `0..K` → a scalar and `[N, K]`.
///
/// # Panics
/// If a label is not below `K` or there are not `N` labels.
#[track_caller]
pub fn softmax_cross_entropy(logits: ArrayView2<f32>, targets: &[usize]) -> (f32, Array2<f32>) {
    assert_one_label_per_row(logits.nrows(), targets);
    if use_reference() {
        let loss = reference::softmax_cross_entropy(logits, targets);
        return (loss, reference::softmax(logits));
    }
    let n = logits.nrows();
    let log_probs = log_softmax(logits);
    // From +0, as the reference: `Sum` starts at −0, so one class (every log
    // probability 0) gave a loss of −0.
    let total = (targets.iter().enumerate()).fold(0.0f64, |total, (i, &t)| {
        total - f64::from(log_probs[[i, t]])
    });
    ((total / n.max(1) as f64) as f32, log_probs.mapv(f32::exp))
}

/// ∂loss/∂logits of [`softmax_cross_entropy`] from its probabilities:
/// `(softmax − onehot(targets)) / N`.
///
/// # Shapes
/// `probabilities`: `[N, K]`; `targets`: `N` labels → `[N, K]`.
///
/// # Panics
/// If a label is not below `K` or there are not `N` labels.
#[track_caller]
pub fn softmax_cross_entropy_backward(
    probabilities: ArrayView2<f32>,
    targets: &[usize],
) -> Array2<f32> {
    assert_one_label_per_row(probabilities.nrows(), targets);
    let mut grad = probabilities.to_owned();
    for (mut row, &t) in grad.rows_mut().into_iter().zip(targets) {
        row[t] -= 1.0;
    }
    grad /= probabilities.nrows().max(1) as f32;
    grad
}

/// Panics unless there is one label per row of logits (a shorter list would leave
/// rows out of the mean silently).
#[track_caller]
pub(crate) fn assert_one_label_per_row(rows: usize, targets: &[usize]) {
    assert_eq!(
        targets.len(),
        rows,
        "{} labels for {rows} rows of logits: one label per row",
        targets.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// One class: every log probability is 0, and the loss +0 on both tiers, as in
    /// PyTorch (the fast tier's sum gave −0).
    #[test]
    fn one_class_gives_a_loss_of_positive_zero() {
        for (logits, targets) in [
            (array![[3.0f32]], &[0][..]),
            (array![[1.5], [-3.0]], &[0, 0]),
        ] {
            let fast = softmax_cross_entropy(logits.view(), targets).0;
            let plain = reference::softmax_cross_entropy(logits.view(), targets);
            assert_eq!((fast.to_bits(), plain.to_bits()), (0, 0), "{fast} {plain}");
        }
    }

    /// Too few labels used to leave rows out of the mean silently (a loss 2/4 of the
    /// right one for 2 labels over 4 rows); too many, to ignore the rest. Both tiers.
    #[test]
    fn labels_must_match_the_rows() {
        let logits = Array2::<f32>::zeros((4, 3));
        for targets in [&[0, 1][..], &[0, 1, 2, 0, 1]] {
            let calls: [&dyn Fn(); 4] = [
                &|| {
                    let _ = softmax_cross_entropy(logits.view(), targets);
                },
                &|| {
                    let _ = softmax_cross_entropy_backward(logits.view(), targets);
                },
                &|| {
                    let _ = reference::softmax_cross_entropy(logits.view(), targets);
                },
                &|| {
                    let _ = reference::softmax_cross_entropy_backward(logits.view(), targets);
                },
            ];
            for (i, call) in calls.iter().enumerate() {
                let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
                assert!(
                    panic.is_err(),
                    "call {i} accepted {} labels for 4 rows",
                    targets.len()
                );
            }
        }
    }

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
