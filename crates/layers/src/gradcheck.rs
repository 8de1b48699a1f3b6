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
//! # Kinks
//! An element whose step `±h` crosses a kink — of the layer, or, in a whole model,
//! of any ReLU or max pooling after it — has a central difference that is no
//! derivative at all. Where an element is outside tolerance, [`gradcheck`] looks
//! for the two signs of a kink: the one-sided differences `(f(x + h) − f(x)) / h`
//! and `(f(x) − f(x − h)) / h` disagree beyond the tolerance and by at least the
//! mismatch (one kink within `±h`), or the central difference of step `h / 2`
//! differs from that of step `h` beyond the tolerance (several kinks, as a
//! convolution's weight in a whole model crosses). Such an element is **not
//! counted** as a failure; the report gives their number and the worst of them
//! ([`TensorCheck::kinks`], [`TensorCheck::worst_kink`]: "a non-differentiable
//! point lies within ±h"). A wrong backward still fails: on a smooth function
//! the central differences of `h` and `h / 2` agree to `h²·f‴/8`, far inside the
//! tolerance, so no mismatch there is taken for a kink, and on a piecewise-linear
//! layer the elements away from its kinks still count. A tensor whose every
//! element sits at a kink fails all the same: nothing of it was checked. So check
//! layers one at a time, with inputs away from their kinks; check a whole model
//! when it is smooth (SiLU, GELU, tanh, average pooling), and with ReLU or max
//! pooling expect kinks to be reported.
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
//! does). The other cause of that error is a forward that, in [`Mode::Train`],
//! updates state it then reads (a running statistic used in the training
//! forward itself): name that state with `state.buffer` in `visit_state`, so that
//! checkpoints and replicas keep it, and check the layer in [`Mode::Eval`]
//! ([`GradcheckConfig::mode`]).
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
    /// Of the worst element not at a kink.
    pub error_ratio: f64,
    /// Number of elements outside tolerance whose step crosses a kink (see the
    /// module's docs, "Kinks"): not counted, unless every element is one.
    pub kinks: usize,
    /// The kink element with the largest `error_ratio`, if any.
    pub worst_kink: Option<Kink>,
}

/// An element whose finite difference crossed a non-differentiable point: its
/// one-sided differences disagree (see the module's docs, "Kinks").
#[derive(Clone, Debug, PartialEq)]
pub struct Kink {
    /// Its index.
    pub index: Vec<usize>,
    /// Backward's value there.
    pub analytic: f64,
    /// `(f(x + h) − f(x)) / h`.
    pub forward_difference: f64,
    /// `(f(x) − f(x − h)) / h`.
    pub backward_difference: f64,
    /// The central difference of step `h / 2`.
    pub half_step_difference: f64,
    /// Its `error_ratio` against the central difference.
    pub error_ratio: f64,
}

impl TensorCheck {
    /// True if every element not at a kink is within tolerance, and not every
    /// element is at a kink.
    pub fn passed(&self) -> bool {
        self.error_ratio <= 1.0 && (self.kinks == 0 || self.kinks < self.elements)
    }
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
    /// True if every tensor passed ([`TensorCheck::passed`]).
    pub fn passed(&self) -> bool {
        self.tensors.iter().all(TensorCheck::passed)
    }
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "gradcheck of {}:", self.layer)?;
        for t in &self.tensors {
            let verdict = if t.passed() { "ok" } else { "MISMATCH" };
            writeln!(
                f,
                "  {verdict:8} {:<12} {} elements; worst at {:?}: backward {:.6e}, finite difference {:.6e} ({:.1e} × tolerance)",
                t.tensor, t.elements, t.worst_index, t.analytic, t.numeric, t.error_ratio
            )?;
            if let Some(k) = &t.worst_kink {
                let counted = if t.kinks < t.elements {
                    "not counted"
                } else {
                    "every element, so nothing was checked: counted"
                };
                writeln!(
                    f,
                    "           {} of its elements at kinks ({counted}): a non-differentiable point lies within ±h: at {:?} (f(x+h)−f(x))/h = {:.6e}, (f(x)−f(x−h))/h = {:.6e}, the central difference of step h/2 {:.6e}, backward {:.6e} (a ReLU or max pooling: move the input away from it, or check the layers one at a time)",
                    t.kinks, k.index, k.forward_difference, k.backward_difference, k.half_step_difference, k.analytic
                )?;
            }
        }
        if let [only] = self.tensors.as_slice() {
            if only.tensor == "input" {
                writeln!(
                    f,
                    "  no parameters: if the layer has any, its visit_state does not name them (so they are never trained, saved or checked)"
                )?;
            }
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
    /// [`Dropout`](crate::Dropout) in training mode, or a forward that updates state it
    /// reads): finite differences need a fixed function (see the module's docs,
    /// "Random layers").
    #[error(
        "gradcheck: two forwards of {layer} on the same input gave different outputs ({detail}): \
         if it draws random numbers, pin them so that every forward draws the same (Dropout: \
         set_step(0) before each forward); if its forward updates state it then reads in \
         Mode::Train (a running statistic kept outside visit_state's buffers), name that state \
         with state.buffer and check the layer in Mode::Eval"
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
    let numeric_input = numeric_gradient(&mut x, grad_input.view(), config, |x| {
        objective(layer, x.view())
    })?;
    tensors.push(compare("input", grad_input, &numeric_input, config));
    let names: Vec<String> = layer.parameters().into_iter().map(|(n, _)| n).collect();
    for (k, (pname, analytic)) in names.into_iter().zip(param_grads).enumerate() {
        let mut value = layer.parameters()[k].1.value.clone();
        let numeric = numeric_gradient(&mut value, analytic.view(), config, |v| {
            layer.parameters_mut()[k].1.value.assign(v);
            objective(layer, input.view())
        })?;
        layer.parameters_mut()[k].1.value.assign(&value);
        tensors.push(compare(&pname, analytic.view(), &numeric, config));
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
    let numeric = numeric_gradient(&mut x, analytic.view(), config, |x| {
        Ok(f64::from(loss.forward(x.view(), targets)?))
    })?;
    let report = GradcheckReport {
        layer: "SoftmaxCrossEntropy".into(),
        tensors: vec![compare("logits", analytic.view(), &numeric, config)],
    };
    if report.passed() {
        Ok(report)
    } else {
        Err(GradcheckError::Mismatch(report))
    }
}

/// The finite differences of `f` with respect to every element of a tensor.
struct FiniteDifferences {
    /// `(f(x + h) − f(x − h)) / 2h`.
    central: ArrayD<f32>,
    /// `(f(x + h) − f(x)) / h`.
    forward: ArrayD<f32>,
    /// `(f(x) − f(x − h)) / h`.
    backward: ArrayD<f32>,
    /// The central difference of step `h / 2`, where the one of step `h` is outside
    /// tolerance (NaN elsewhere).
    half_step: ArrayD<f32>,
}

impl GradcheckConfig {
    /// `|analytic − numeric|` over the tolerance at that scale (∞ for NaN).
    fn error_ratio(&self, analytic: f64, numeric: f64) -> f64 {
        let tolerance = self.abs_tolerance + self.rel_tolerance * analytic.abs().max(numeric.abs());
        let ratio = (analytic - numeric).abs() / tolerance;
        if ratio.is_nan() {
            f64::INFINITY
        } else {
            ratio
        }
    }
}

/// Central and one-sided differences of `f` with respect to every element of `x`,
/// and a central difference of half the step where the central one disagrees with
/// `analytic` (of `x`'s shape); leaves `x` as it found it (in standard layout).
///
/// # Errors
/// The error of `f`; [`GradcheckError::Config`] if the step is too small to change
/// an element of `x` in `f32`.
fn numeric_gradient(
    x: &mut ArrayD<f32>,
    analytic: ArrayViewD<f32>,
    config: &GradcheckConfig,
    mut f: impl FnMut(&ArrayD<f32>) -> Result<f64, LayerError>,
) -> Result<FiniteDifferences, GradcheckError> {
    if !x.is_standard_layout() {
        *x = x.as_standard_layout().into_owned();
    }
    let analytic = analytic.as_standard_layout();
    let analytic = analytic.as_slice().unwrap_or(&[]);
    let f_here = f(x)?;
    let mut d = FiniteDifferences {
        central: ArrayD::zeros(x.raw_dim()),
        forward: ArrayD::zeros(x.raw_dim()),
        backward: ArrayD::zeros(x.raw_dim()),
        half_step: ArrayD::from_elem(x.raw_dim(), f32::NAN),
    };
    let set = |a: &mut ArrayD<f32>, i: usize, value: f64| {
        a.as_slice_mut().expect("standard layout")[i] = value as f32;
    };
    for i in 0..x.len() {
        let (f_plus, f_minus, up, down) = step_both_ways(x, i, config.step, &mut f)?;
        let central = (f_plus - f_minus) / (up + down);
        set(&mut d.central, i, central);
        set(&mut d.forward, i, (f_plus - f_here) / up);
        set(&mut d.backward, i, (f_here - f_minus) / down);
        let wrong = analytic
            .get(i)
            .is_some_and(|&a| config.error_ratio(f64::from(a), central) > 1.0);
        if wrong {
            // (A half step too small to change the element is no error: no value.)
            match step_both_ways(x, i, config.step / 2.0, &mut f) {
                Ok((f_plus, f_minus, up, down)) => {
                    set(&mut d.half_step, i, (f_plus - f_minus) / (up + down));
                }
                Err(GradcheckError::Config(_)) => {}
                Err(other) => return Err(other),
            }
        }
    }
    Ok(d)
}

/// `(f(x + s·eᵢ), f(x − s·eᵢ), s⁺, s⁻)`, with the steps `s⁺`, `s⁻` actually taken
/// in `f32`, for element `i` of `x` (in memory order); leaves `x` as it found it.
///
/// # Errors
/// The error of `f`; [`GradcheckError::Config`] if `step` does not change the element.
fn step_both_ways(
    x: &mut ArrayD<f32>,
    i: usize,
    step: f32,
    f: &mut impl FnMut(&ArrayD<f32>) -> Result<f64, LayerError>,
) -> Result<(f64, f64, f64, f64), GradcheckError> {
    let original = x.as_slice_memory_order().expect("owned array")[i];
    let (plus, minus) = (original + step, original - step);
    if plus == minus || plus == original || minus == original {
        return Err(GradcheckError::Config(format!(
            "step = {step:?} is too small to change the value {original} in f32: use a larger step"
        )));
    }
    x.as_slice_memory_order_mut().expect("owned array")[i] = plus;
    let f_plus = f(x)?;
    x.as_slice_memory_order_mut().expect("owned array")[i] = minus;
    let f_minus = f(x)?;
    x.as_slice_memory_order_mut().expect("owned array")[i] = original;
    let (plus, minus, original) = (f64::from(plus), f64::from(minus), f64::from(original));
    Ok((f_plus, f_minus, plus - original, original - minus))
}

/// The worst element of `analytic` against the central differences of `numeric`,
/// leaving out (and counting) the elements whose step crosses a kink: their
/// one-sided differences disagree by more than the tolerance and by at least the
/// mismatch (see the module's docs, "Kinks").
fn compare(
    tensor: &str,
    analytic: ArrayViewD<f32>,
    numeric: &FiniteDifferences,
    config: &GradcheckConfig,
) -> TensorCheck {
    let mut worst = TensorCheck {
        tensor: tensor.to_string(),
        elements: analytic.len(),
        worst_index: Vec::new(),
        analytic: 0.0,
        numeric: 0.0,
        error_ratio: 0.0,
        kinks: 0,
        worst_kink: None,
    };
    if analytic.shape() != numeric.central.shape() {
        // Callers check the shapes first; should one slip through, it fails.
        return TensorCheck {
            error_ratio: f64::INFINITY,
            ..worst
        };
    }
    let elements = (numeric.central.iter().zip(&numeric.half_step))
        .zip(numeric.forward.iter().zip(&numeric.backward));
    for ((index, &a), ((&n, &half), (&plus, &minus))) in analytic.indexed_iter().zip(elements) {
        let [a, n, half, plus, minus] = [a, n, half, plus, minus].map(f64::from);
        let ratio = config.error_ratio(a, n);
        // One kink within ±h: the one-sided differences disagree, by at least the
        // mismatch. Several (a whole model): the difference changes with the step,
        // or moves towards backward's value (a smooth function's error, h²·f‴/6,
        // is far inside the tolerance: neither changes a real bug's mismatch).
        let one_sided = (plus - minus).abs();
        let at_kink = (config.error_ratio(plus, minus) > 1.0 && one_sided >= (a - n).abs())
            || (half.is_finite()
                && (config.error_ratio(half, n) > 1.0 || (a - half).abs() <= 0.75 * (a - n).abs()));
        if ratio > 1.0 && at_kink {
            worst.kinks += 1;
            if worst
                .worst_kink
                .as_ref()
                .is_none_or(|k| ratio > k.error_ratio)
            {
                worst.worst_kink = Some(Kink {
                    index: index.as_array_view().to_vec(),
                    analytic: a,
                    forward_difference: plus,
                    backward_difference: minus,
                    half_step_difference: half,
                    error_ratio: ratio,
                });
            }
        } else if ratio > worst.error_ratio || worst.worst_index.is_empty() {
            worst.worst_index = index.as_array_view().to_vec();
            (worst.analytic, worst.numeric, worst.error_ratio) = (a, n, ratio);
        }
    }
    worst
}
