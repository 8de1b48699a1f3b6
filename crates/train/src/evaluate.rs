//! Evaluating a model on a split: loss, accuracy, confusion matrix, predictions.

use crate::predictions::{argmax_rows, logits_matrix};
use crate::{ConfusionMatrix, TrainError};
use ndarray::{Array2, ArrayView4, Axis};
use scratchnet_data::{BatchConfig, Split};
use scratchnet_layers::{Layer, Mode, SoftmaxCrossEntropy};

/// The result of [`evaluate`]: how a model does on every sample of a split.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean softmax cross-entropy per sample (each sample's, added in `f64` in the split's
    /// order: the same bits for any batch size).
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
    let mut parts = Vec::new();
    let mut labels = Vec::with_capacity(split.len());
    for batch in split.batches(&config, 0) {
        parts.push(logits_of(batch.images.view())?);
        labels.extend_from_slice(&batch.labels);
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
        loss: mean_loss(&logits, &labels)?,
        accuracy: confusion.accuracy(),
        confusion,
        predictions,
        logits,
    })
}

/// The mean softmax cross-entropy of the rows of `logits` (`[N, K]`) for `labels`: each
/// sample's loss on its own, added in `f64` in the split's order, so that the mean does
/// not depend on the evaluation's batch size (a batch's `f32` mean would).
fn mean_loss(logits: &Array2<f32>, labels: &[usize]) -> Result<f64, TrainError> {
    let mut loss_fn = SoftmaxCrossEntropy::new();
    let mut total = 0.0f64;
    for (row, label) in logits.outer_iter().zip(labels) {
        let one = row.insert_axis(Axis(0)).into_dyn();
        total += f64::from(loss_fn.forward(one, std::slice::from_ref(label))?);
    }
    Ok(total / labels.len().max(1) as f64)
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

    /// The run shrinks its evaluation batch to what fits in memory (down to one image):
    /// that is only right if every number of the evaluation is the same, to the bit,
    /// for any batch size — with a BatchNorm model in eval mode (running statistics,
    /// set here by training-mode forwards) as with LeNet-5. A batch's `f32` mean loss
    /// weighted by its length made the loss depend on the batch size.
    #[test]
    fn the_evaluation_is_the_same_bits_for_any_batch_size() {
        use crate::models::basic_block;
        use scratchnet_layers::{Dense, GlobalAvgPool2d, Sequential};
        let split = ten_images();
        let rng = &mut StdRng::seed_from_u64(5);
        let mut batch_norm = Sequential::new()
            .add("block", basic_block(1, 4, 1, 28, rng).unwrap())
            .add("pool", GlobalAvgPool2d::new())
            .add("fc", Dense::new(4, 10, rng))
            .build(&[1, 28, 28])
            .unwrap();
        let all = split.batch(&(0..10).collect::<Vec<_>>(), split.normalization(), None);
        for _ in 0..3 {
            batch_norm
                .forward(all.images.view().into_dyn(), Mode::Train)
                .unwrap();
        }
        let mut lenet = lenet5(&mut StdRng::seed_from_u64(3));
        for model in [&mut batch_norm as &mut dyn Layer, &mut lenet] {
            let whole = evaluate(model, &split, 250).unwrap();
            for batch_size in [1, 3, 7, 10] {
                assert_eq!(
                    evaluate(model, &split, batch_size).unwrap(),
                    whole,
                    "batch size {batch_size}"
                );
            }
        }
    }
}
