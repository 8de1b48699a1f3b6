//! One training step on one batch: the heart of training, in a few lines.

use crate::predictions::{count_correct, logits_matrix};
use crate::{Optimizer, TrainError};
use ndarray::ArrayView4;
use scratchnet_layers::{contract, Layer, Mode, SoftmaxCrossEntropy};

/// What one training step gave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepOutcome {
    /// Mean softmax cross-entropy over the batch's samples.
    pub loss: f64,
    /// Samples whose largest logit is their label's.
    pub correct: usize,
}

/// One training step of `model` on a batch (`images` `[N, C, H, W]`, `labels` `[N]`)
/// with softmax cross-entropy, exactly PyTorch's
///
/// ```python
/// optimizer.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); optimizer.step()
/// ```
///
/// and returns the batch's mean loss and correct count.
///
/// If the loss is NaN or infinite the optimizer does **not** step: the weights and
/// the optimizer's state are left as they were (only the gradients hold the bad
/// batch's), and the outcome's non-finite `loss` tells the caller to stop.
///
/// # Errors
/// [`TrainError::Config`] if the batch is empty (nothing changes then: not the
/// weights, the optimizer's step count nor batch norm's statistics), if there are not
/// as many labels as images or if the model's output is not `[N, K]`; a [`TrainError::Layer`] from a layer or the loss (wrong
/// shape, a label out of range), or for a parameter gradient whose shape is not its
/// parameter's ([`contract::check_gradient_shapes`]); the optimizer does not step then.
///
/// ```
/// use ndarray::Array4;
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_train::{models::lenet5, train_step, Sgd, SgdConfig};
/// let mut model = lenet5(&mut StdRng::seed_from_u64(0));
/// let mut sgd = Sgd::new(SgdConfig { lr: 0.1, ..SgdConfig::default() }).unwrap();
/// let images = Array4::<f32>::zeros((2, 1, 28, 28));
/// let outcome = train_step(&mut model, &mut sgd, images.view(), &[3, 7]).unwrap();
/// assert!(outcome.loss > 0.0 && outcome.correct <= 2);
/// ```
pub fn train_step(
    model: &mut dyn Layer,
    optimizer: &mut dyn Optimizer,
    images: ArrayView4<f32>,
    labels: &[usize],
) -> Result<StepOutcome, TrainError> {
    check_batch(images, labels)?;
    model.zero_grad();
    let logits = model.forward(images.into_dyn(), Mode::Train)?;
    let mut loss_fn = SoftmaxCrossEntropy::new();
    let loss = loss_fn.forward(logits.view(), labels)?;
    // The backward without the images' own gradient, which nothing needs (for a
    // convolutional network the first layer's input gradient is the costliest one).
    model.backward_parameters(loss_fn.backward()?.view())?;
    // The optimizers apply each gradient element by element to its parameter: one of
    // another shape (a layer of one's own that broadcast it) is an error naming both.
    contract::check_gradient_shapes(model)?;
    let outcome = StepOutcome {
        loss: f64::from(loss),
        correct: count_correct(&logits_matrix(logits)?, labels),
    };
    if outcome.loss.is_finite() {
        optimizer.step(model);
    }
    Ok(outcome)
}

/// Checks that a batch has at least one image and one label per image.
pub(crate) fn check_batch(images: ArrayView4<f32>, labels: &[usize]) -> Result<(), TrainError> {
    let n = images.dim().0;
    if n != labels.len() {
        return Err(TrainError::config(format!(
            "{n} images for {} labels",
            labels.len()
        )));
    }
    if n == 0 {
        // Its mean loss is 0/0, and a step would still count in the optimizer's
        // state and in batch norm's num_batches_tracked.
        return Err(TrainError::config(
            "the batch is empty: a training step needs at least one image",
        ));
    }
    Ok(())
}
