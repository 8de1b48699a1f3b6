//! From a model's output to its predictions: the output as `[N, K]` logits, the
//! predicted class of each sample, and how many of them are right.

use crate::TrainError;
use ndarray::{Array2, ArrayD, Ix2};

/// A model output as `[N, K]` logits.
///
/// # Errors
/// [`TrainError::Config`] if the output has another number of axes.
pub(crate) fn logits_matrix(output: ArrayD<f32>) -> Result<Array2<f32>, TrainError> {
    let shape = output.shape().to_vec();
    output.into_dimensionality::<Ix2>().map_err(|_| {
        TrainError::config(format!(
            "the model must output logits of shape [N, classes], not {shape:?}"
        ))
    })
}

/// The index of each row's largest value (the first one on ties; NaN never wins).
pub(crate) fn argmax_rows(logits: &Array2<f32>) -> Vec<usize> {
    logits
        .rows()
        .into_iter()
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] || row[best].is_nan() {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// How many samples' largest logit is their label's.
pub(crate) fn count_correct(logits: &Array2<f32>, labels: &[usize]) -> usize {
    argmax_rows(logits)
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count()
}

#[cfg(test)]
mod tests {
    use super::argmax_rows;
    use ndarray::array;

    /// Ties go to the first class, as `torch.argmax` does (all-zero logits, say).
    #[test]
    fn a_tie_goes_to_the_first_class() {
        let logits = array![[1.0f32, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 2.0]];
        assert_eq!(argmax_rows(&logits), [0, 0, 1]);
    }
}
