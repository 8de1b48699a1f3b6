//! One training step on one batch: the heart of training, in a few lines.

use crate::predictions::{count_correct, logits_matrix};
use crate::{Optimizer, TrainError};
use ndarray::ArrayView4;
use scratchnet_layers::{Layer, Mode, SoftmaxCrossEntropy};

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
/// [`TrainError::Config`] if there are not as many labels as images or the model's
/// output is not `[N, K]`; a [`TrainError::Layer`] from a layer or the loss (wrong
/// shape, a label out of range).
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
    let mut loss_fn = SoftmaxCrossEntropy::new();
    // Scale 1: the gradient of the batch's mean loss as it is.
    let (loss, correct) = forward_loss_backward(model, &mut loss_fn, images, labels, 1.0)?;
    let outcome = StepOutcome {
        loss: f64::from(loss),
        correct,
    };
    if outcome.loss.is_finite() {
        optimizer.step(model);
    }
    Ok(outcome)
}

/// Forward in `Mode::Train`, softmax cross-entropy, and backward of `grad_scale` ×
/// the gradient of the mean loss, added into the parameters' gradients. Returns the
/// mean loss and the correct count.
///
/// The backward is [`Layer::backward_parameters`]: it skips the gradient with respect
/// to the images, which nothing needs (the first layer's input gradient is the most
/// expensive one of a convolutional network).
///
/// `grad_scale` is `n / N` for a shard of `n` samples of a batch of `N` (see
/// [`DataParallel`](crate::DataParallel)); 1 for a whole batch (× 1 changes no bit).
pub(crate) fn forward_loss_backward(
    model: &mut dyn Layer,
    loss_fn: &mut SoftmaxCrossEntropy,
    images: ArrayView4<f32>,
    labels: &[usize],
    grad_scale: f32,
) -> Result<(f32, usize), TrainError> {
    let logits = model.forward(images.into_dyn(), Mode::Train)?;
    let loss = loss_fn.forward(logits.view(), labels)?;
    let correct = count_correct(&logits_matrix(logits)?, labels);
    let mut grad_logits = loss_fn.backward()?;
    grad_logits *= grad_scale;
    model.backward_parameters(grad_logits.view())?;
    Ok((loss, correct))
}

/// Checks that a batch has one label per image.
pub(crate) fn check_batch(images: ArrayView4<f32>, labels: &[usize]) -> Result<(), TrainError> {
    if images.dim().0 == labels.len() {
        Ok(())
    } else {
        Err(TrainError::config(format!(
            "{} images for {} labels",
            images.dim().0,
            labels.len()
        )))
    }
}
