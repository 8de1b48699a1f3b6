//! The [`Layer`] trait every layer implements, and its [`Parameter`]s.

use crate::LayerError;
use ndarray::{ArrayD, ArrayViewD};

/// Whether a forward pass is for training (cache what backward needs, apply
/// dropout, use batch statistics) or for evaluation (no caching, deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Training: the forward pass keeps what `backward` needs.
    Train,
    /// Evaluation / inference: `backward` may not follow.
    Eval,
}

/// A trainable tensor and the gradient accumulated for it.
///
/// `grad` always has `value`'s shape. Backward passes *add* into `grad`
/// (`+=`); only [`Layer::zero_grad`] clears it, and only an optimizer
/// changes `value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Parameter {
    /// The current value, in PyTorch's layout (e.g. OIHW for a convolution weight).
    pub value: ArrayD<f32>,
    /// ∂loss/∂value, summed over every backward since the last `zero_grad`.
    pub grad: ArrayD<f32>,
}

impl Parameter {
    /// A parameter holding `value`, with a zero gradient.
    pub fn new(value: ArrayD<f32>) -> Self {
        let grad = ArrayD::zeros(value.raw_dim());
        Self { value, grad }
    }

    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// True if the parameter holds no scalars.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

/// A differentiable building block: forward, backward, parameters.
///
/// Tensors are `f32` with the batch as their first axis (NCHW for images,
/// `[N, features]` for vectors). Shapes given to [`output_shape`](Layer::output_shape)
/// are **per sample**, without the batch axis: `[1, 28, 28]` for an MNIST image.
///
/// # The contract
/// 1. `forward(x, Mode::Train)` computes the output and keeps whatever
///    `backward` needs (the input, a mask, the argmax of each window…).
/// 2. `backward(dy)` receives ∂loss/∂output, **adds** ∂loss/∂parameter into each
///    [`Parameter::grad`], and returns ∂loss/∂input. It never changes a
///    parameter's value: that is the optimizer's job.
/// 3. Parameters are reachable by name, as in PyTorch's `state_dict`
///    (`weight`, `bias`; a [`Sequential`](crate::Sequential) prefixes its
///    children's names: `conv1.weight`).
///
/// Every method but `name`, `output_shape`, `forward` and `backward` has a
/// default suited to a layer without parameters.
///
/// To write your own layer, follow the guide `scratchnet::guide` in the facade
/// crate's documentation (the same text is `docs/extending.md`): it writes a PReLU
/// method by method, checks it with [`gradcheck`](crate::gradcheck::gradcheck), trains it
/// and saves it.
///
/// # Example: a layer that doubles its input
/// ```
/// use ndarray::{ArrayD, ArrayViewD};
/// use scratchnet_layers::{Layer, LayerError, Mode};
///
/// struct Double;
/// impl Layer for Double {
///     fn name(&self) -> &str { "Double" }
///     fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, LayerError> { Ok(input.to_vec()) }
///     fn forward(&mut self, x: ArrayViewD<f32>, _mode: Mode) -> Result<ArrayD<f32>, LayerError> { Ok(&x * 2.0) }
///     fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> { Ok(&dy * 2.0) }
/// }
/// let y = Double.forward(ndarray::arr1(&[1.0f32, 2.0]).into_dyn().view(), Mode::Eval).unwrap();
/// assert_eq!(y.as_slice().unwrap(), &[2.0, 4.0]);
/// ```
pub trait Layer: Send {
    /// The layer's type, as in PyTorch (`"Conv2d"`, `"ReLU"`); used in summaries and errors.
    fn name(&self) -> &str;

    /// A one-line description with the hyper-parameters, like PyTorch's `repr`
    /// (`Conv2d(1, 6, kernel_size=[5, 5], padding=[2, 2])`). Defaults to [`name`](Layer::name).
    fn describe(&self) -> String {
        self.name().to_string()
    }

    /// The per-sample output shape for a per-sample input shape, or the
    /// reason this input cannot be accepted (a [`LayerError::Shape`] naming
    /// what the layer needs, or a [`LayerError::Config`] for a bad hyper-parameter).
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError>;

    /// Computes the output for a batch `input` (`[N, …]`).
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError>;

    /// Takes ∂loss/∂output of the last training-mode forward, accumulates
    /// parameter gradients, and returns ∂loss/∂input.
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError>;

    /// [`backward`](Layer::backward) for a caller that does not want ∂loss/∂input
    /// (the input of a model's first layer is the data): accumulates the same
    /// parameter gradients, bit for bit, and returns nothing, as PyTorch skips the
    /// input gradient of a tensor that does not require one. The default calls
    /// `backward` and drops its result; a layer whose input gradient costs real
    /// work (a convolution) overrides it, and a [`Sequential`](crate::Sequential)
    /// passes it on to its first layer.
    fn backward_parameters(&mut self, grad_output: ArrayViewD<f32>) -> Result<(), LayerError> {
        self.backward(grad_output).map(drop)
    }

    /// The trainable parameters with their names (`"weight"`, `"bias"`).
    fn parameters(&self) -> Vec<(String, &Parameter)> {
        Vec::new()
    }

    /// The trainable parameters, mutably, in the same order as [`parameters`](Layer::parameters).
    fn parameters_mut(&mut self) -> Vec<(String, &mut Parameter)> {
        Vec::new()
    }

    /// State that is saved in a checkpoint but not trained by gradient
    /// (e.g. batch norm's `running_mean`), with its names.
    fn buffers(&self) -> Vec<(String, &ArrayD<f32>)> {
        Vec::new()
    }

    /// The buffers, mutably, in the same order as [`buffers`](Layer::buffers).
    fn buffers_mut(&mut self) -> Vec<(String, &mut ArrayD<f32>)> {
        Vec::new()
    }

    /// Counters that are neither trained nor tensors but that a checkpoint must
    /// carry for a resumed run to continue bit for bit, with their names: how many
    /// masks a [`Dropout`](crate::Dropout) has drawn (`"step"`). PyTorch's
    /// `get_extra_state`, restricted to integers.
    fn extra_state(&self) -> Vec<(String, u64)> {
        Vec::new()
    }

    /// The counters, mutably, in the same order as [`extra_state`](Layer::extra_state).
    fn extra_state_mut(&mut self) -> Vec<(String, &mut u64)> {
        Vec::new()
    }

    /// Sets every parameter gradient to zero.
    fn zero_grad(&mut self) {
        for (_, p) in self.parameters_mut() {
            p.grad.fill(0.0);
        }
    }

    /// Total number of trainable scalars.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|(_, p)| p.len()).sum()
    }
}
