//! Finite-difference gradient checking for any [`Layer`] and for the loss.
//!
//! [`gradcheck`] compares a layer's backward with central differences
//! `(f(x + h) − f(x − h)) / 2h` of the scalar `f = Σ forward(x) ⊙ R`, for a
//! fixed random `R`, with respect to every element of the input and of every
//! parameter. It also checks the trait's contract: backward leaves parameter
//! values alone, and a second backward *adds* to the parameter gradients.
//!
//! # Why `f32`, and how the step and tolerance were chosen
//! The kernels are `f32`, as in training. Central differences in `f32` are
//! coarse: rounding in `f` is about `1e-7·|f|`, divided by `2h`. With the
//! default step `h = 1e-2` that error stays near `1e-4` for the layer sizes
//! of the tests, while the truncation error `h²·f‴/6` of the smooth layers
//! (tanh, sigmoid, softmax) stays below `1e-4` too. The default tolerance,
//! `|analytic − numeric| ≤ 1e-3 + 1e-2·max(|analytic|, |numeric|)`, is ten
//! times those errors and far below what real bugs produce (a gradient sent
//! to the wrong element, or a dropped bias gradient, is off by `O(1)`; the
//! tests show both are caught). `f` is summed in `f64`, and the step actually
//! taken (`(x + h) − (x − h)` as stored in `f32`) is used in the quotient.
//!
//! Piecewise-linear layers (ReLU, max pooling) are only differentiable away
//! from their kinks: give them inputs whose elements are more than `h` from 0
//! and from each other (see the tests). Exact agreement with PyTorch is
//! checked separately by the golden tests, to `1e-4`.
//!
//! # Random layers
//! The finite differences need `forward` to be a fixed function: a layer that
//! draws new random numbers in every forward ([`Dropout`](crate::Dropout) in
//! [`Mode::Train`], which draws a new mask each time) cannot be checked as it is.
//! [`gradcheck`] runs the first forward twice and returns
//! [`GradcheckError::Nondeterministic`] if the two outputs differ. Pin the
//! randomness instead: wrap the layer so that each forward draws the same numbers
//! (for `Dropout`, call [`Dropout::set_step`](crate::Dropout::set_step)`(0)` before
//! each forward, as `PinnedDropout` in `crates/layers/tests/gradcheck_layers.rs`
//! does).
//!
//! ```
//! use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
//! use ndarray_rand::{rand_distr::Uniform, RandomExt};
//! use scratchnet_layers::{gradcheck::{gradcheck, GradcheckConfig}, Dense};
//! let mut rng = StdRng::seed_from_u64(0);
//! let mut fc = Dense::new(4, 3, &mut rng);
//! let x = ndarray::ArrayD::random_using(ndarray::IxDyn(&[2, 4]), Uniform::new(-1.0, 1.0).unwrap(), &mut rng);
//! let report = gradcheck(&mut fc, x.view(), &GradcheckConfig::default()).unwrap();
//! assert_eq!(report.tensors.len(), 3); // input, weight, bias
//! ```

use crate::{contract, Layer, LayerError, Mode, SoftmaxCrossEntropy};
use ndarray::{ArrayD, ArrayViewD, Dimension, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use ndarray_rand::{rand_distr::Uniform, RandomExt};
use std::fmt;

/// Step and tolerances of a gradient check.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradcheckConfig {
    /// Finite-difference step `h`. Default `1e-2`.
    pub step: f32,
    /// Relative tolerance. Default `1e-2`.
    pub rel_tolerance: f64,
    /// Absolute tolerance. Default `1e-3`.
    pub abs_tolerance: f64,
    /// The mode every forward runs in. Default [`Mode::Train`].
    pub mode: Mode,
    /// Seed of the random projection `R`. Default 0.
    pub seed: u64,
}

impl Default for GradcheckConfig {
    fn default() -> Self {
        Self {
            step: 1e-2,
            rel_tolerance: 1e-2,
            abs_tolerance: 1e-3,
            mode: Mode::Train,
            seed: 0,
        }
    }
}

/// The worst disagreement found in one tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorCheck {
    /// `"input"`, or the parameter's name (`"weight"`).
    pub tensor: String,
    /// Number of elements checked.
    pub elements: usize,
    /// Index of the worst element.
    pub worst_index: Vec<usize>,
    /// Backward's value there.
    pub analytic: f64,
    /// The finite difference there.
    pub numeric: f64,
    /// `|analytic − numeric| / (abs_tolerance + rel_tolerance·scale)`: ≤ 1 passes.
    pub error_ratio: f64,
}

/// Everything a gradient check measured; `Display` prints one line per tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckReport {
    /// The layer's name.
    pub layer: String,
    /// One entry per checked tensor: the input first, then each parameter.
    pub tensors: Vec<TensorCheck>,
}

impl GradcheckReport {
    /// True if every tensor is within tolerance.
    pub fn passed(&self) -> bool {
        self.tensors.iter().all(|t| t.error_ratio <= 1.0)
    }
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "gradcheck of {}:", self.layer)?;
        for t in &self.tensors {
            let verdict = if t.error_ratio <= 1.0 {
                "ok"
            } else {
                "MISMATCH"
            };
            writeln!(
                f,
                "  {verdict:8} {:<12} {} elements; worst at {:?}: backward {:.6e}, finite difference {:.6e} ({:.1e} × tolerance)",
                t.tensor, t.elements, t.worst_index, t.analytic, t.numeric, t.error_ratio
            )?;
        }
        Ok(())
    }
}

/// Why a gradient check failed.
#[derive(Debug, thiserror::Error)]
pub enum GradcheckError {
    /// The layer itself returned an error.
    #[error("gradcheck: the layer failed: {0}")]
    Layer(#[from] LayerError),
    /// Backward disagrees with the finite differences.
    #[error("gradcheck failed: backward disagrees with finite differences\n{0}")]
    Mismatch(GradcheckReport),
    /// The layer broke the trait's contract.
    #[error("gradcheck: {layer} breaks the Layer contract: {reason}")]
    Contract {
        /// The layer.
        layer: String,
        /// What it did.
        reason: String,
    },
    /// Two forwards on the same input gave different outputs (a random layer such as
    /// [`Dropout`](crate::Dropout) in training mode): finite differences need a fixed
    /// function (see the module's docs, "Random layers").
    #[error(
        "gradcheck: two forwards of {layer} on the same input gave different outputs ({detail}): \
         pin its randomness so that every forward draws the same numbers (Dropout: set_step(0) \
         before each forward)"
    )]
    Nondeterministic {
        /// The layer.
        layer: String,
        /// Where the outputs differ.
        detail: String,
    },
    /// The [`GradcheckConfig`] is invalid (a step of 0, a NaN tolerance, …).
    #[error("gradcheck: invalid configuration: {0}")]
    Config(String),
}

impl GradcheckConfig {
    /// Checks that the step is finite and positive and the tolerances finite,
    /// non-negative and not both 0.
    ///
    /// # Errors
    /// [`GradcheckError::Config`] naming the field.
    pub fn validate(&self) -> Result<(), GradcheckError> {
        let fail = |reason: String| Err(GradcheckError::Config(reason));
        if !(self.step.is_finite() && self.step > 0.0) {
            return fail(format!(
                "step = {:?} must be finite and positive (default 1e-2)",
                self.step
            ));
        }
        for (name, value) in [
            ("rel_tolerance", self.rel_tolerance),
            ("abs_tolerance", self.abs_tolerance),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return fail(format!(
                    "{name} = {value:?} must be finite and non-negative"
                ));
            }
        }
        if self.rel_tolerance == 0.0 && self.abs_tolerance == 0.0 {
            return fail(
                "rel_tolerance and abs_tolerance are both 0: at least one must be positive".into(),
            );
        }
        Ok(())
    }
}

/// Checks `layer`'s backward against central finite differences at `input` (`[N, …]`).
///
/// # Errors
/// [`GradcheckError::Config`] for an invalid `config`
/// ([`GradcheckConfig::validate`]); [`GradcheckError::Mismatch`] with the report if any
/// gradient is outside tolerance; [`GradcheckError::Nondeterministic`] if two forwards
/// on `input` differ (a random layer: see "Random layers" above);
/// [`GradcheckError::Contract`] if backward changes a parameter,
/// overwrites instead of accumulating or returns a gradient of the wrong shape, if
/// the output is not the shape `output_shape` promises, or if the state breaks
/// [`contract::check_state`]; [`GradcheckError::Layer`] if the layer returns an error.
pub fn gradcheck(
    layer: &mut dyn Layer,
    input: ArrayViewD<f32>,
    config: &GradcheckConfig,
) -> Result<GradcheckReport, GradcheckError> {
    config.validate()?;
    contract::check_state(layer).map_err(contract_error)?;
    let output = layer.forward(input.view(), config.mode)?;
    contract::check_output_shape(layer, input.shape(), &output).map_err(contract_error)?;
    check_deterministic(layer, input.view(), &output, config.mode)?;
    let projection = random_projection(output.raw_dim(), config.seed);
    let (grad_input, param_grads) =
        analytic_gradients(layer, input.view(), projection.view(), config)?;
    let tensors = compare_with_finite_differences(
        layer,
        input,
        projection.view(),
        grad_input.view(),
        param_grads,
        config,
    )?;
    let report = GradcheckReport {
        layer: layer.name().to_string(),
        tensors,
    };
    if report.passed() {
        Ok(report)
    } else {
        Err(GradcheckError::Mismatch(report))
    }
}

/// Runs `layer` forward on `input` again and checks that it gives `output` again (up
/// to rounding): the finite differences need a fixed function.
fn check_deterministic(
    layer: &mut dyn Layer,
    input: ArrayViewD<f32>,
    output: &ArrayD<f32>,
    mode: Mode,
) -> Result<(), GradcheckError> {
    let again = layer.forward(input, mode)?;
    // Equal up to rounding, or both NaN (a NaN difference, one NaN, differs).
    let same = |a: &f32, b: &f32| {
        (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-5 * (1.0 + a.abs().max(b.abs()))
    };
    let differs = |(a, b): (&f32, &f32)| !same(a, b);
    let first = (again.shape() == output.shape())
        .then(|| {
            output
                .indexed_iter()
                .zip(again.iter())
                .find(|((_, a), b)| differs((a, b)))
        })
        .flatten();
    let detail = match first {
        Some(((index, a), b)) => format!("at {:?}: {a} and then {b}", index.slice()),
        None if again.shape() != output.shape() => {
            format!(
                "of shapes {:?} and then {:?}",
                output.shape(),
                again.shape()
            )
        }
        None => return Ok(()),
    };
    Err(GradcheckError::Nondeterministic {
        layer: layer.name().to_string(),
        detail,
    })
}

/// The fixed random `R` of the objective `f = Σ forward(x) ⊙ R`: uniform in `[-1, 1)`.
fn random_projection(shape: IxDyn, seed: u64) -> ArrayD<f32> {
    ArrayD::random_using(
        shape,
        Uniform::new(-1.0f32, 1.0).expect("valid"),
        &mut StdRng::seed_from_u64(seed),
    )
}

/// Backward of `R` after the forward the caller ran at `input`: returns the input's
/// gradient and each parameter's, after checking the contract — backward leaves the
/// parameter values alone, and a second forward + backward doubles the parameter
/// gradients. Leaves the parameter gradients zeroed.
fn analytic_gradients(
    layer: &mut dyn Layer,
    input: ArrayViewD<f32>,
    projection: ArrayViewD<f32>,
    config: &GradcheckConfig,
) -> Result<(ArrayD<f32>, Vec<ArrayD<f32>>), GradcheckError> {
    layer.zero_grad();
    let values_before: Vec<ArrayD<f32>> = layer
        .parameters()
        .into_iter()
        .map(|(_, p)| p.value.clone())
        .collect();
    let grad_input = layer.backward(projection.view())?;
    contract::check_input_gradient_shape(layer, input.shape(), &grad_input)
        .map_err(contract_error)?;
    contract::check_gradient_shapes(layer).map_err(contract_error)?;
    let once: Vec<ArrayD<f32>> = layer
        .parameters()
        .into_iter()
        .map(|(_, p)| p.grad.clone())
        .collect();
    if layer
        .parameters()
        .iter()
        .zip(&values_before)
        .any(|((_, p), before)| p.value != before)
    {
        return Err(contract_breach(
            layer,
            "backward changed a parameter's value (only an optimizer may)".to_string(),
        ));
    }
    layer.forward(input, config.mode)?;
    layer.backward(projection)?;
    contract::check_gradient_shapes(layer).map_err(contract_error)?;
    check_gradients_doubled(layer, &once)?;
    layer.zero_grad();
    Ok((grad_input, once))
}

/// Checks that every parameter gradient is now twice `once`: a second backward added to
/// the gradients instead of overwriting them.
fn check_gradients_doubled(layer: &dyn Layer, once: &[ArrayD<f32>]) -> Result<(), GradcheckError> {
    for ((pname, p), g) in layer.parameters().into_iter().zip(once) {
        let doubled = g * 2.0;
        if p.grad
            .iter()
            .zip(doubled.iter())
            .any(|(a, b)| (a - b).abs() > 1e-5 * (1.0 + b.abs()))
        {
            return Err(contract_breach(
                layer,
                format!(
                    "a second backward did not add to {pname}.grad (gradients must accumulate \
                     with +=)"
                ),
            ));
        }
    }
    Ok(())
}

/// A [`LayerError::Contract`] from the [`contract`] checks, as a [`GradcheckError::Contract`].
fn contract_error(error: LayerError) -> GradcheckError {
    match error {
        LayerError::Contract { layer, reason } => GradcheckError::Contract { layer, reason },
        other => GradcheckError::Layer(other),
    }
}

/// The error for a layer that breaks the [`Layer`] contract in the way `reason` says.
fn contract_breach(layer: &dyn Layer, reason: String) -> GradcheckError {
    GradcheckError::Contract {
        layer: layer.name().to_string(),
        reason,
    }
}

/// Compares the analytic gradients of the input and of each parameter with central
/// differences of `f = Σ forward(x) ⊙ R`; restores every parameter value it perturbs.
fn compare_with_finite_differences(
    layer: &mut dyn Layer,
    input: ArrayViewD<f32>,
    projection: ArrayViewD<f32>,
    grad_input: ArrayViewD<f32>,
    param_grads: Vec<ArrayD<f32>>,
    config: &GradcheckConfig,
) -> Result<Vec<TensorCheck>, GradcheckError> {
    let objective = |layer: &mut dyn Layer, x: ArrayViewD<f32>| -> Result<f64, LayerError> {
        let y = layer.forward(x, config.mode)?;
        Ok(y.iter()
            .zip(projection.iter())
            .map(|(&a, &r)| f64::from(a) * f64::from(r))
            .sum())
    };
    let mut tensors = Vec::new();
    let mut x = input.to_owned();
    let numeric_input = numeric_gradient(&mut x, config.step, |x| objective(layer, x.view()))?;
    tensors.push(compare("input", grad_input, numeric_input.view(), config));
    let names: Vec<String> = layer.parameters().into_iter().map(|(n, _)| n).collect();
    for (k, (pname, analytic)) in names.into_iter().zip(param_grads).enumerate() {
        let mut value = layer.parameters()[k].1.value.clone();
        let numeric = numeric_gradient(&mut value, config.step, |v| {
            layer.parameters_mut()[k].1.value.assign(v);
            objective(layer, input.view())
        })?;
        layer.parameters_mut()[k].1.value.assign(&value);
        tensors.push(compare(&pname, analytic.view(), numeric.view(), config));
    }
    Ok(tensors)
}

/// Checks [`SoftmaxCrossEntropy::backward`] against finite differences of the loss at `logits` (`[N, K]`).
///
/// # Errors
/// As [`gradcheck`] ([`GradcheckError::Config`], [`GradcheckError::Mismatch`],
/// [`GradcheckError::Layer`]).
pub fn gradcheck_loss(
    logits: ArrayViewD<f32>,
    targets: &[usize],
    config: &GradcheckConfig,
) -> Result<GradcheckReport, GradcheckError> {
    config.validate()?;
    let mut loss = SoftmaxCrossEntropy::new();
    loss.forward(logits.view(), targets)?;
    let analytic = loss.backward()?;
    let mut x = logits.to_owned();
    let numeric = numeric_gradient(&mut x, config.step, |x| {
        Ok(f64::from(loss.forward(x.view(), targets)?))
    })?;
    let report = GradcheckReport {
        layer: "SoftmaxCrossEntropy".into(),
        tensors: vec![compare("logits", analytic.view(), numeric.view(), config)],
    };
    if report.passed() {
        Ok(report)
    } else {
        Err(GradcheckError::Mismatch(report))
    }
}

/// Central differences of `f` with respect to every element of `x`; leaves `x` as it found it.
///
/// # Errors
/// The error of `f`; [`GradcheckError::Config`] if `step` is too small to change an
/// element of `x` in `f32`.
fn numeric_gradient(
    x: &mut ArrayD<f32>,
    step: f32,
    mut f: impl FnMut(&ArrayD<f32>) -> Result<f64, LayerError>,
) -> Result<ArrayD<f32>, GradcheckError> {
    let mut grad = ArrayD::zeros(x.raw_dim());
    for i in 0..x.len() {
        let original = x.as_slice_memory_order().expect("owned array")[i];
        let (plus, minus) = (original + step, original - step);
        if plus == minus {
            return Err(GradcheckError::Config(format!(
                "step = {step:?} is too small to change the value {original} in f32: use a larger step"
            )));
        }
        x.as_slice_memory_order_mut().expect("owned array")[i] = plus;
        let f_plus = f(x)?;
        x.as_slice_memory_order_mut().expect("owned array")[i] = minus;
        let f_minus = f(x)?;
        x.as_slice_memory_order_mut().expect("owned array")[i] = original;
        grad.as_slice_memory_order_mut().expect("owned array")[i] =
            ((f_plus - f_minus) / f64::from(plus - minus)) as f32;
    }
    Ok(grad)
}

fn compare(
    tensor: &str,
    analytic: ArrayViewD<f32>,
    numeric: ArrayViewD<f32>,
    config: &GradcheckConfig,
) -> TensorCheck {
    let mut worst = TensorCheck {
        tensor: tensor.to_string(),
        elements: analytic.len(),
        worst_index: Vec::new(),
        analytic: 0.0,
        numeric: 0.0,
        error_ratio: 0.0,
    };
    if analytic.shape() != numeric.shape() {
        // Callers check the shapes first; should one slip through, it fails.
        return TensorCheck {
            error_ratio: f64::INFINITY,
            ..worst
        };
    }
    for ((index, &a), &n) in analytic.indexed_iter().zip(numeric.iter()) {
        let (a, n) = (f64::from(a), f64::from(n));
        let ratio =
            (a - n).abs() / (config.abs_tolerance + config.rel_tolerance * a.abs().max(n.abs()));
        if ratio > worst.error_ratio || worst.worst_index.is_empty() || ratio.is_nan() {
            worst = TensorCheck {
                worst_index: index.as_array_view().to_vec(),
                analytic: a,
                numeric: n,
                error_ratio: if ratio.is_nan() { f64::INFINITY } else { ratio },
                ..worst
            };
        }
    }
    worst
}
