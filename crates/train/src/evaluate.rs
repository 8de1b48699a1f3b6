//! Evaluating a model on a split: loss, accuracy, confusion matrix, predictions.

use crate::predictions::{argmax_rows, logits_matrix};
use crate::{ConfusionMatrix, TrainError};
use ndarray::{Array2, ArrayView4, Axis};
use scratchnet_data::{BatchConfig, Split};
use scratchnet_layers::{Layer, Mode, SoftmaxCrossEntropy};

/// The result of [`evaluate`]: how a model does on every sample of a split.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean softmax cross-entropy per sample.
    pub loss: f64,
    /// Fraction of samples whose largest logit is their label's.
    pub accuracy: f64,
    /// Counts of (label, prediction).
    pub confusion: ConfusionMatrix,
    /// The predicted class of each sample, in the split's order.
    pub predictions: Vec<usize>,
    /// The logits, `[N, K]`, in the split's order.
    pub logits: Array2<f32>,
}

/// Runs `model` in `Mode::Eval` over all of `split`, `batch_size` samples at a time,
/// in the split's order. ([`DataParallel::evaluate`](crate::DataParallel::evaluate)
/// does the same on model replicas.)
///
/// # Errors
/// [`TrainError::Config`] if `split` is empty, `batch_size` is 0 or the model's output
/// is not `[N, K]`;
/// a [`TrainError::Layer`] if the model refuses the input.
///
/// ```
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_data::{Normalization, Split};
/// use scratchnet_train::{evaluate, models::lenet5};
/// let split = Split::new(vec![0; 3 * 784], vec![1, 2, 3], Normalization::MNIST);
/// let mut model = lenet5(&mut StdRng::seed_from_u64(0));
/// let result = evaluate(&mut model, &split, 2).unwrap();
/// assert_eq!(result.logits.dim(), (3, 10));
/// assert_eq!(result.confusion.total(), 3);
/// ```
pub fn evaluate(
    model: &mut dyn Layer,
    split: &Split,
    batch_size: usize,
) -> Result<Evaluation, TrainError> {
    evaluate_with(split, batch_size, |images| {
        logits_matrix(model.forward(images.into_dyn(), Mode::Eval)?)
    })
}

/// The body of [`evaluate`]: `logits_of` computes a batch's `[N, K]` logits.
pub(crate) fn evaluate_with(
    split: &Split,
    batch_size: usize,
    mut logits_of: impl FnMut(ArrayView4<f32>) -> Result<Array2<f32>, TrainError>,
) -> Result<Evaluation, TrainError> {
    if batch_size == 0 {
        return Err(TrainError::config(
            "the evaluation batch size must be at least 1",
        ));
    }
    if split.is_empty() {
        return Err(TrainError::config(
            "the split to evaluate is empty: it needs at least one image",
        ));
    }
    let config = BatchConfig {
        batch_size,
        shuffle: false,
        seed: 0,
        augment: false,
    };
    let mut loss_fn = SoftmaxCrossEntropy::new();
    let mut total_loss = 0.0f64;
    let mut parts = Vec::new();
    let mut labels = Vec::with_capacity(split.len());
    for batch in split.batches(&config, 0) {
        let logits = logits_of(batch.images.view())?;
        total_loss += f64::from(loss_fn.forward(logits.view().into_dyn(), &batch.labels)?)
            * batch.len() as f64;
        labels.extend_from_slice(&batch.labels);
        parts.push(logits);
    }
    let classes = parts.first().map_or(0, |p| p.ncols());
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    let logits = if views.is_empty() {
        Array2::zeros((0, 0))
    } else {
        ndarray::concatenate(Axis(0), &views)
            .map_err(|e| TrainError::config(format!("model outputs of different widths: {e}")))?
    };
    let predictions = argmax_rows(&logits);
    let mut confusion = ConfusionMatrix::new(classes);
    for (&label, &predicted) in labels.iter().zip(&predictions) {
        confusion.record(label, predicted);
    }
    Ok(Evaluation {
        loss: total_loss / split.len().max(1) as f64,
        accuracy: confusion.accuracy(),
        confusion,
        predictions,
        logits,
    })
}

#[cfg(test)]
mod tests {
    use super::evaluate;
    use crate::models::lenet5;
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
    use scratchnet_data::{Normalization, Split};
    use scratchnet_layers::{Layer, Mode, SoftmaxCrossEntropy};

    /// Ten different images of labels 0..9, an untrained LeNet-5 (so that most of
    /// its predictions are wrong: the confusion matrix is not symmetric).
    fn ten_images() -> Split {
        let mut state = 7u32;
        let pixels = (0..10 * 784)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            })
            .collect();
        Split::new(pixels, (0..10).collect(), Normalization::MNIST)
    }

    /// Every number of an evaluation in batches of 3 (the last one partial) against
    /// the model run on each sample alone: the loss weighted each batch by the batch
    /// size (not its length), the batches shuffled (predictions no longer belonging to
    /// their sample), a transposed confusion matrix — none of these failed a test.
    #[test]
    fn batches_of_any_size_give_each_sample_its_own_numbers() {
        let split = ten_images();
        let mut model = lenet5(&mut StdRng::seed_from_u64(3));
        let result = evaluate(&mut model, &split, 3).unwrap();
        let mut loss_fn = SoftmaxCrossEntropy::new();
        let mut loss = 0.0f64;
        let mut expected_counts = vec![vec![0u64; 10]; 10];
        for i in 0..split.len() {
            let batch = split.batch(&[i], split.normalization(), None);
            let logits = model
                .forward(batch.images.into_dyn().view(), Mode::Eval)
                .unwrap();
            let row: Vec<f32> = logits.iter().copied().collect();
            let own: Vec<f32> = result.logits.row(i).to_vec();
            assert_eq!(own, row, "sample {i}'s logits");
            let best = (0..10).fold(0, |b, k| if row[k] > row[b] { k } else { b });
            assert_eq!(result.predictions[i], best, "sample {i}");
            expected_counts[usize::from(split.labels()[i])][best] += 1;
            loss += f64::from(loss_fn.forward(logits.view(), &batch.labels).unwrap());
        }
        let mean = loss / split.len() as f64;
        assert!(
            (result.loss - mean).abs() <= 1e-6 * mean,
            "{} against {mean}",
            result.loss
        );
        assert_eq!(result.confusion.counts(), expected_counts.as_slice());
        assert!(
            (0..10).any(|t| (0..10).any(|p| expected_counts[t][p] != expected_counts[p][t])),
            "a symmetric matrix cannot tell a transposed one"
        );
    }
}
