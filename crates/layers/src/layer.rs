//! The [`Layer`] trait every layer implements, and its [`Parameter`]s.

use crate::{LayerError, StateMut, StateRef, StateVisitor, StateVisitorMut, SummaryRow};
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

    /// True if the parameter holds no scalars (a `Dense` with no outputs, as
    /// PyTorch's `Linear(3, 0)`).
    ///
    /// ```
    /// use ndarray::ArrayD;
    /// use scratchnet_layers::Parameter;
    /// assert!(Parameter::new(ArrayD::zeros(vec![0, 3])).is_empty());
    /// assert!(!Parameter::new(ArrayD::zeros(vec![2, 3])).is_empty());
    /// ```
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
/// default suited to a layer without parameters. A layer with state implements
/// [`visit_state`](Layer::visit_state) and [`visit_state_mut`](Layer::visit_state_mut),
/// naming each parameter, buffer and counter once (see [`StateVisitor`]); the
/// accessors (`parameters`, `buffers`, `extra_state`, …) derive from them.
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

    /// [`forward`](Layer::forward), calling `visit` with the name and the output of
    /// each step inside, in order, to look into a model (activation statistics, like a
    /// PyTorch forward hook on every child). The default, for a layer that is not a
    /// container, visits its own output under its [`name`](Layer::name); a
    /// [`Sequential`](crate::Sequential) visits each child's output under the child's
    /// name (`conv1`). The output is the same as `forward`'s.
    ///
    /// # Errors
    /// As [`forward`](Layer::forward).
    fn forward_visiting(
        &mut self,
        input: ArrayViewD<f32>,
        mode: Mode,
        visit: &mut dyn FnMut(&str, ArrayViewD<f32>),
    ) -> Result<ArrayD<f32>, LayerError> {
        let output = self.forward(input, mode)?;
        visit(self.name(), output.view());
        Ok(output)
    }

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

    /// Whether the output of one sample in a `Mode::Train` forward depends on the
    /// other samples of the batch (batch statistics, as in
    /// [`BatchNorm2d`](crate::BatchNorm2d)). The data-parallel trainer computes a
    /// batch's gradient in shards of a few samples on replicas, which would change
    /// such a layer's function: a model for which this is `true` trains with the plain
    /// step on the whole batch. The default is `false`; a layer that mixes samples
    /// returns `true`, and a container returns `true` if any child does (as
    /// [`Sequential`](crate::Sequential), `Residual` and `Branches` do).
    fn mixes_samples(&self) -> bool {
        false
    }

    /// A container's rows in a model [`Summary`](crate::Summary) below its own: each
    /// child's row for per-sample `input_shape` (built with [`SummaryRow::child`],
    /// which adds the child's own children one level deeper). The default, for a
    /// layer that is not a container, has none.
    ///
    /// # Errors
    /// A child's shape error, naming it.
    fn summary_children(&self, input_shape: &[usize]) -> Result<Vec<SummaryRow>, LayerError> {
        let _ = input_shape;
        Ok(Vec::new())
    }

    /// Names each piece of the layer's state once — its parameters, buffers and
    /// counters — and forwards each child layer with [`StateVisitor::child`]. The
    /// default is a layer without state. Every accessor below is derived from this
    /// traversal, so a layer implements only this and [`visit_state_mut`](Layer::visit_state_mut),
    /// which must name the same state in the same order.
    ///
    /// ```ignore
    /// fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
    ///     state.parameter("weight", &self.weight);
    ///     state.buffer("running_mean", &self.running_mean);
    ///     state.child("body", &self.body); // body.weight, body.running_mean, …
    /// }
    /// ```
    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        let _ = state;
    }

    /// [`visit_state`](Layer::visit_state) with mutable access: the same state, the
    /// same names, the same order.
    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        let _ = state;
    }

    /// Every piece of state with its full name, in traversal order. Derived from
    /// [`visit_state`](Layer::visit_state): do not override.
    fn state(&self) -> Vec<(String, StateRef<'_>)> {
        let mut entries = Vec::new();
        self.visit_state(&mut StateVisitor::new(&mut |name, entry| {
            entries.push((name, entry))
        }));
        entries
    }

    /// Every piece of state, mutably, in the order of [`state`](Layer::state).
    /// Derived from [`visit_state_mut`](Layer::visit_state_mut): do not override.
    fn state_mut(&mut self) -> Vec<(String, StateMut<'_>)> {
        let mut entries = Vec::new();
        self.visit_state_mut(&mut StateVisitorMut::new(&mut |name, entry| {
            entries.push((name, entry))
        }));
        entries
    }

    /// The trainable parameters with their names (`"weight"`, `"conv1.bias"`).
    /// Derived from [`visit_state`](Layer::visit_state): do not override.
    fn parameters(&self) -> Vec<(String, &Parameter)> {
        let mut parameters = Vec::new();
        self.visit_state(&mut StateVisitor::new(&mut |name, entry| {
            if let StateRef::Parameter(p) = entry {
                parameters.push((name, p));
            }
        }));
        parameters
    }

    /// The trainable parameters, mutably, in the same order as [`parameters`](Layer::parameters).
    /// Derived from [`visit_state_mut`](Layer::visit_state_mut): do not override.
    fn parameters_mut(&mut self) -> Vec<(String, &mut Parameter)> {
        let mut parameters = Vec::new();
        self.visit_state_mut(&mut StateVisitorMut::new(&mut |name, entry| {
            if let StateMut::Parameter(p) = entry {
                parameters.push((name, p));
            }
        }));
        parameters
    }

    /// State that is saved in a checkpoint but not trained by gradient
    /// (e.g. batch norm's `running_mean`), with its names.
    /// Derived from [`visit_state`](Layer::visit_state): do not override.
    fn buffers(&self) -> Vec<(String, &ArrayD<f32>)> {
        let mut buffers = Vec::new();
        self.visit_state(&mut StateVisitor::new(&mut |name, entry| {
            if let StateRef::Buffer(b) = entry {
                buffers.push((name, b));
            }
        }));
        buffers
    }

    /// The buffers, mutably, in the same order as [`buffers`](Layer::buffers).
    /// Derived from [`visit_state_mut`](Layer::visit_state_mut): do not override.
    fn buffers_mut(&mut self) -> Vec<(String, &mut ArrayD<f32>)> {
        let mut buffers = Vec::new();
        self.visit_state_mut(&mut StateVisitorMut::new(&mut |name, entry| {
            if let StateMut::Buffer(b) = entry {
                buffers.push((name, b));
            }
        }));
        buffers
    }

    /// Counters that are neither trained nor tensors but that a checkpoint must
    /// carry for a resumed run to continue bit for bit, with their names: how many
    /// masks a [`Dropout`](crate::Dropout) has drawn (`"step"`). PyTorch's
    /// `get_extra_state`, restricted to integers.
    /// Derived from [`visit_state`](Layer::visit_state): do not override.
    fn extra_state(&self) -> Vec<(String, u64)> {
        let mut counters = Vec::new();
        self.visit_state(&mut StateVisitor::new(&mut |name, entry| {
            if let StateRef::Counter(c) = entry {
                counters.push((name, c));
            }
        }));
        counters
    }

    /// The counters, mutably, in the same order as [`extra_state`](Layer::extra_state).
    /// Derived from [`visit_state_mut`](Layer::visit_state_mut): do not override.
    fn extra_state_mut(&mut self) -> Vec<(String, &mut u64)> {
        let mut counters = Vec::new();
        self.visit_state_mut(&mut StateVisitorMut::new(&mut |name, entry| {
            if let StateMut::Counter(c) = entry {
                counters.push((name, c));
            }
        }));
        counters
    }

    /// Sets every parameter gradient to zero. Derived from
    /// [`visit_state_mut`](Layer::visit_state_mut): do not override.
    fn zero_grad(&mut self) {
        self.visit_state_mut(&mut StateVisitorMut::new(&mut |_, entry| {
            if let StateMut::Parameter(p) = entry {
                p.grad.fill(0.0);
            }
        }));
    }

    /// Total number of trainable scalars. Derived from
    /// [`visit_state`](Layer::visit_state): do not override.
    fn num_parameters(&self) -> usize {
        let mut count = 0;
        self.visit_state(&mut StateVisitor::new(&mut |_, entry| {
            if let StateRef::Parameter(p) = entry {
                count += p.len();
            }
        }));
        count
    }
}
