//! The fused softmax + cross-entropy loss.

use crate::LayerError;
use ndarray::{Array2, ArrayD, ArrayViewD, Ix2};
use scratchnet_tensor::kernels::use_reference;
use scratchnet_tensor::{reference, softmax};

/// Softmax followed by cross-entropy, averaged over the batch: PyTorch's
/// `nn.CrossEntropyLoss()` on raw logits.
///
/// `loss = −(1/N) Σₙ log softmax(xₙ)[yₙ]`. Fusing the two makes it stable
/// (logits of ±1000 give a finite loss) and the gradient simple:
/// `∂loss/∂x = (softmax(x) − onehot(y)) / N`. As plain loops:
/// [reference::softmax_cross_entropy](scratchnet_tensor::reference::softmax_cross_entropy)
/// and [reference::softmax_cross_entropy_backward](scratchnet_tensor::reference::softmax_cross_entropy_backward).
///
/// # Shapes
/// - logits: `[N, K]`; targets: `N` class indices in `0..K`
/// - loss: a scalar; [`backward`](SoftmaxCrossEntropy::backward): `[N, K]`
///
/// ```
/// use ndarray::array;
/// use scratchnet_layers::SoftmaxCrossEntropy;
/// let mut loss = SoftmaxCrossEntropy::new();
/// let l = loss.forward(array![[1000.0f32, -1000.0]].into_dyn().view(), &[0]).unwrap();
/// assert_eq!(l, 0.0);
/// let grad = loss.backward().unwrap();
/// assert_eq!(grad.shape(), &[1, 2]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct SoftmaxCrossEntropy {
    /// What the last forward keeps for backward.
    cache: Option<LossCache>,
}

/// The last forward's softmax probabilities and targets, and its logits if it
/// ran on the reference kernels (whose backward starts from them).
#[derive(Clone, Debug)]
struct LossCache {
    probabilities: Array2<f32>,
    targets: Vec<usize>,
    reference_logits: Option<Array2<f32>>,
}

impl SoftmaxCrossEntropy {
    /// The loss.
    pub fn new() -> Self {
        Self::default()
    }

    /// The mean loss of `logits` (`[N, K]`) against `targets` (`N` labels in `0..K`).
    ///
    /// # Errors
    /// If `logits` is not 2-D, `targets` has a length other than `N`, or a
    /// label is not below `K`.
    pub fn forward(
        &mut self,
        logits: ArrayViewD<f32>,
        targets: &[usize],
    ) -> Result<f32, LayerError> {
        let name = "SoftmaxCrossEntropy";
        let shape = logits.shape().to_vec();
        let logits = logits.into_dimensionality::<Ix2>().map_err(|_| {
            LayerError::shape(
                name,
                "[K] class scores (logits of shape [N, K])",
                shape.get(1..).unwrap_or(&[]),
            )
        })?;
        let (n, k) = logits.dim();
        if targets.len() != n {
            return Err(LayerError::Input {
                layer: name.into(),
                reason: format!("{} targets for a batch of {n}", targets.len()),
            });
        }
        if let Some(&bad) = targets.iter().find(|&&t| t >= k) {
            return Err(LayerError::Input {
                layer: name.into(),
                reason: format!("label {bad} is out of range for {k} classes"),
            });
        }
        let reference_logits = use_reference().then(|| logits.to_owned());
        let (loss, probabilities) = softmax::softmax_cross_entropy(logits, targets);
        self.cache = Some(LossCache {
            probabilities,
            targets: targets.to_vec(),
            reference_logits,
        });
        Ok(loss)
    }

    /// ∂loss/∂logits of the last forward: `(softmax − onehot) / N`, shape `[N, K]`.
    ///
    /// # Errors
    /// If no forward came before.
    pub fn backward(&self) -> Result<ArrayD<f32>, LayerError> {
        let cache = self
            .cache
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache("SoftmaxCrossEntropy"))?;
        let grad = match &cache.reference_logits {
            Some(logits) => {
                reference::softmax_cross_entropy_backward(logits.view(), &cache.targets)
            }
            None => {
                softmax::softmax_cross_entropy_backward(cache.probabilities.view(), &cache.targets)
            }
        };
        Ok(grad.into_dyn())
    }

    /// The softmax probabilities of the last forward, `[N, K]`.
    pub fn probabilities(&self) -> Option<&Array2<f32>> {
        self.cache.as_ref().map(|c| &c.probabilities)
    }
}
