//! Fully connected layer.

use crate::checks::{check_grad_shape, check_parameter_shapes, per_sample};
use crate::limits::{check_tensor_size, within_limit};
use crate::views::{view, view_mut};
use crate::{Layer, LayerError, Mode, Parameter, StateVisitor, StateVisitorMut};
use ndarray::{Array1, Array2, ArrayD, ArrayViewD, Ix2, IxDyn};
use ndarray_rand::rand::Rng;
use scratchnet_tensor::{dense, init};

/// A fully connected layer `y = x·Wᵀ + b`, PyTorch's `nn.Linear`.
///
/// Parameters: `weight` `[out_features, in_features]` and `bias`
/// `[out_features]`, initialised like PyTorch (`U(±1/√in_features)`).
/// [`Dense::without_bias`] is PyTorch's `nn.Linear(…, bias=False)`: no `bias`
/// parameter (none in a checkpoint either), `y = x·Wᵀ`.
///
/// # Shapes
/// - input: `[N, in_features]`
/// - output: `[N, out_features]`
///
/// # Forward and backward
/// Forward is `y = x·Wᵀ + b`. With `dY` the output gradient `[N, out_features]`:
///
/// - `dW = dYᵀ·x` (added to `weight.grad`)
/// - `db = Σₙ dY` (added to `bias.grad`)
/// - `dx = dY·W`
///
/// As plain loops, the definition the fast kernels ([`dense::dense_forward`],
/// [`dense::dense_backward`]) are tested against:
/// [reference::dense](scratchnet_tensor::reference::dense) and
/// [reference::dense_backward](scratchnet_tensor::reference::dense_backward).
///
/// ```
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_layers::{Dense, Layer};
/// let fc = Dense::new(400, 120, &mut StdRng::seed_from_u64(0));
/// assert_eq!(fc.output_shape(&[400]).unwrap(), vec![120]);
/// assert_eq!(fc.num_parameters(), 400 * 120 + 120);
/// assert!(fc.output_shape(&[256]).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Dense {
    in_features: usize,
    out_features: usize,
    /// `[out_features, in_features]`.
    pub weight: Parameter,
    /// `[out_features]`, or `None` when built by [`Dense::without_bias`].
    pub bias: Option<Parameter>,
    input: Option<Array2<f32>>,
}

impl Dense {
    /// A dense layer from `in_features` to `out_features`, its weights drawn from `rng`.
    ///
    /// An invalid configuration (`in_features` or `out_features` of 0, a weight of
    /// more than [`MAX_TENSOR_ELEMENTS`](crate::MAX_TENSOR_ELEMENTS), such as
    /// `Dense::new(usize::MAX, 2)`'s, which is then not allocated) is reported by
    /// [`Layer::output_shape`] and `forward`, so building a model finds it.
    pub fn new<R: Rng + ?Sized>(in_features: usize, out_features: usize, rng: &mut R) -> Self {
        let mut dense = Self::without_bias(in_features, out_features, rng);
        let bias = if !within_limit(&[out_features, in_features]) {
            ArrayD::zeros(IxDyn(&[0]))
        } else {
            init::kaiming_uniform(&[out_features], in_features, rng)
        };
        dense.bias = Some(Parameter::new(bias));
        dense
    }

    /// A dense layer without a bias, `y = x·Wᵀ` (PyTorch's `nn.Linear(in, out, bias=False)`),
    /// its weights drawn from `rng` like [`Dense::new`]'s (and, like them, not allocated
    /// past [`MAX_TENSOR_ELEMENTS`](crate::MAX_TENSOR_ELEMENTS)).
    ///
    /// ```
    /// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
    /// use scratchnet_layers::{Dense, Layer};
    /// let fc = Dense::without_bias(64, 10, &mut StdRng::seed_from_u64(0));
    /// assert_eq!(fc.num_parameters(), 64 * 10);
    /// assert_eq!(fc.parameters().iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["weight"]);
    /// ```
    pub fn without_bias<R: Rng + ?Sized>(
        in_features: usize,
        out_features: usize,
        rng: &mut R,
    ) -> Self {
        let weight = if within_limit(&[out_features, in_features]) {
            init::kaiming_uniform(&[out_features, in_features], in_features, rng)
        } else {
            ArrayD::zeros(IxDyn(&[0, 0]))
        };
        Self {
            in_features,
            out_features,
            weight: Parameter::new(weight),
            bias: None,
            input: None,
        }
    }
}

impl Dense {
    /// Checks the hyper-parameters, and the shapes of the parameters (which may
    /// have been replaced since `new`).
    fn validate(&self) -> Result<(), LayerError> {
        let (i, o) = (self.in_features, self.out_features);
        if i == 0 || o == 0 {
            return Err(LayerError::config(
                self.name(),
                format!("in_features = {i} and out_features = {o} must be at least 1"),
            ));
        }
        check_tensor_size(self.name(), "the weight", &[o, i])?;
        let (weight_shape, bias_shape) = ([o, i], [o]);
        check_parameter_shapes(
            self.name(),
            [
                ("weight", Some(&self.weight), &weight_shape[..]),
                ("bias", self.bias.as_ref(), &bias_shape[..]),
            ],
            || format!("in_features = {i}, out_features = {o}"),
        )
    }
}

impl Layer for Dense {
    fn name(&self) -> &str {
        "Dense"
    }

    fn describe(&self) -> String {
        format!(
            "Dense(in_features={}, out_features={}{})",
            self.in_features,
            self.out_features,
            if self.bias.is_none() {
                ", bias=false"
            } else {
                ""
            }
        )
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.validate()?;
        if input_shape != [self.in_features] {
            let hint = if input_shape.len() > 1 {
                "; put a Flatten before it"
            } else {
                ""
            };
            let expected = format!(
                "[{}] (in_features = {}{hint})",
                self.in_features, self.in_features
            );
            return Err(LayerError::shape(self.name(), expected, input_shape));
        }
        Ok(vec![self.out_features])
    }

    /// `y = x·Wᵀ + b`, keeping `x` for backward in training mode.
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.output_shape(per_sample(input.shape()))?;
        let x = view::<Ix2>(input);
        // Without a bias the kernel adds zeros: `v + 0.0 == v` (a −0.0 becomes +0.0).
        let no_bias = Array1::zeros(self.out_features);
        let bias = self
            .bias
            .as_ref()
            .map_or(no_bias.view(), |b| view(b.value.view()));
        let output = dense::dense_forward(x, view(self.weight.value.view()), bias);
        self.input = (mode == Mode::Train).then(|| x.as_standard_layout().into_owned());
        Ok(output.into_dyn())
    }

    /// Adds `dW = dYᵀ·x` and `db = Σₙ dY` to the parameters' gradients and returns
    /// `dx = dY·W`: by definition, [reference::dense_backward](scratchnet_tensor::reference::dense_backward).
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let x = self
            .input
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        self.validate()?;
        check_grad_shape(
            self.name(),
            grad_output.shape(),
            x.nrows(),
            &[self.out_features],
        )?;
        // Without a bias its gradient goes to a scratch vector that is dropped.
        let mut no_bias = Array1::zeros(self.out_features);
        let grad_bias = match &mut self.bias {
            Some(b) => view_mut(&mut b.grad),
            None => no_bias.view_mut(),
        };
        let grad_input = dense::dense_backward(
            view(grad_output),
            x.view(),
            view(self.weight.value.view()),
            view_mut(&mut self.weight.grad),
            grad_bias,
        );
        Ok(grad_input.into_dyn())
    }

    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.parameter("weight", &self.weight);
        if let Some(bias) = &self.bias {
            state.parameter("bias", bias);
        }
    }

    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        state.parameter("weight", &mut self.weight);
        if let Some(bias) = &mut self.bias {
            state.parameter("bias", bias);
        }
    }
}
