//! Adam and AdamW, PyTorch's `torch.optim.Adam` and `torch.optim.AdamW`.

use crate::optimizer::assert_gradient_shapes;
use crate::{
    CheckpointError, Optimizer, OptimizerState, TensorProblem, TrainError, OPTIMIZER_PREFIX,
};
use ndarray::ArrayD;
use scratchnet_layers::{Layer, Parameter};
use scratchnet_tensor::adam::{adam_update, AdamStep, AdamTensors};
use std::collections::BTreeMap;

/// The hyper-parameters of [`Adam`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (≥ 0). Default 0.001.
    pub lr: f32,
    /// Decay rates `(β₁, β₂)` of the moment estimates, each in `[0, 1)`. Default `(0.9, 0.999)`.
    pub betas: (f32, f32),
    /// Added to the denominator for stability (> 0). Default 1e-8.
    pub eps: f32,
    /// Weight decay λ (≥ 0): an L2 penalty added to the gradient (Adam), or a
    /// decoupled shrinking of the weights (AdamW). Default 0 for Adam, 0.01 for AdamW.
    pub weight_decay: f32,
    /// `true` for AdamW: decay the weights directly, `w ← w·(1 − lr·λ)`, instead of
    /// adding `λ·w` to the gradient.
    pub decoupled_weight_decay: bool,
}

impl AdamConfig {
    /// PyTorch's `Adam(params, lr)` defaults: betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn adam(lr: f32) -> Self {
        Self {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
        }
    }

    /// PyTorch's `AdamW(params, lr)` defaults: as Adam with decoupled weight decay 0.01.
    pub fn adamw(lr: f32) -> Self {
        Self {
            weight_decay: 0.01,
            decoupled_weight_decay: true,
            ..Self::adam(lr)
        }
    }
}

impl Default for AdamConfig {
    /// [`AdamConfig::adam`]`(0.001)`.
    fn default() -> Self {
        Self::adam(1e-3)
    }
}

/// Adam with bias correction (and AdamW), with exactly PyTorch's update. At step
/// `t` (from 1), for each parameter `w` with gradient `g`:
///
/// ```text
/// g = g + λ·w                         (Adam with weight decay)
/// w = w·(1 − lr·λ)                    (AdamW)
/// m = β₁·m + (1 − β₁)·g
/// v = β₂·v + (1 − β₂)·g²
/// w = w − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// State: `<parameter>.exp_avg` (m) and `<parameter>.exp_avg_sq` (v), plus the step count.
///
/// ```
/// use scratchnet_train::{Adam, AdamConfig, Optimizer};
/// # use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// let mut model = scratchnet_layers::Dense::new(1, 1, &mut StdRng::seed_from_u64(0));
/// model.weight.value.fill(1.0);
/// model.weight.grad.fill(0.5); // ∂loss/∂w
/// let mut adam = Adam::new(AdamConfig::adam(0.1)).unwrap();
/// adam.step(&mut model);
/// // The first Adam step moves each weight by about lr, against its gradient's sign.
/// assert!((model.weight.value[[0, 0]] - 0.9).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct Adam {
    config: AdamConfig,
    steps: u64,
    moments: BTreeMap<String, Moments>,
}

/// m and v of one parameter.
#[derive(Clone, Debug)]
struct Moments {
    exp_avg: ArrayD<f32>,
    exp_avg_sq: ArrayD<f32>,
}

/// The state slots of [`Adam`], PyTorch's names.
const EXP_AVG: &str = "exp_avg";
const EXP_AVG_SQ: &str = "exp_avg_sq";

impl Adam {
    /// An Adam (or AdamW, see [`AdamConfig::adamw`]) optimizer.
    ///
    /// # Errors
    /// [`TrainError::Config`] if the learning rate or weight decay is negative or not
    /// finite, a beta is outside `[0, 1)`, or `eps` is not positive.
    pub fn new(config: AdamConfig) -> Result<Self, TrainError> {
        let AdamConfig {
            lr,
            betas: (beta1, beta2),
            eps,
            weight_decay,
            ..
        } = config;
        for (name, value) in [("learning rate", lr), ("weight decay", weight_decay)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(TrainError::config(format!(
                    "Adam {name} must be a finite number ≥ 0, not {value}"
                )));
            }
        }
        for (name, beta) in [("beta1", beta1), ("beta2", beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(TrainError::config(format!(
                    "Adam {name} must be in [0, 1), not {beta}"
                )));
            }
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(TrainError::config(format!(
                "Adam eps must be a finite number > 0, not {eps}"
            )));
        }
        Ok(Self {
            config,
            steps: 0,
            moments: BTreeMap::new(),
        })
    }

    /// The hyper-parameters (with the current learning rate).
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Zero moments for every parameter that has none yet, or whose shape changed.
    fn start_missing_moments(&mut self, params: &BTreeMap<String, &mut Parameter>) {
        for (name, param) in params {
            if !matches!(self.moments.get(name), Some(m) if m.exp_avg.shape() == param.value.shape())
            {
                let zeros = ArrayD::zeros(param.value.raw_dim());
                let fresh = Moments {
                    exp_avg: zeros.clone(),
                    exp_avg_sq: zeros,
                };
                self.moments.insert(name.clone(), fresh);
            }
        }
    }
}

impl Optimizer for Adam {
    fn kind(&self) -> &'static str {
        if self.config.decoupled_weight_decay {
            "adamw"
        } else {
            "adam"
        }
    }

    fn step(&mut self, model: &mut dyn Layer) {
        assert_gradient_shapes(model);
        self.steps += 1;
        let step = step_scalars(&self.config, self.steps);
        let mut params: BTreeMap<String, &mut Parameter> =
            model.parameters_mut().into_iter().collect();
        self.start_missing_moments(&params);
        let mut tensors = Vec::new();
        for (name, moments) in &mut self.moments {
            if let Some(param) = params.remove(name) {
                tensors.push(AdamTensors {
                    weight: param.value.view_mut(),
                    grad: param.grad.view(),
                    exp_avg: moments.exp_avg.view_mut(),
                    exp_avg_sq: moments.exp_avg_sq.view_mut(),
                });
            }
        }
        // The formula, element by element: `scratchnet_tensor::reference::adam_update`.
        adam_update(tensors, &step);
    }

    fn learning_rate(&self) -> f32 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.config.lr = lr;
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn state(&self) -> OptimizerState {
        let mut tensors = BTreeMap::new();
        for (name, m) in &self.moments {
            tensors.insert(format!("{name}.{EXP_AVG}"), m.exp_avg.clone());
            tensors.insert(format!("{name}.{EXP_AVG_SQ}"), m.exp_avg_sq.clone());
        }
        OptimizerState {
            kind: self.kind().to_string(),
            steps: self.steps,
            tensors,
        }
    }

    fn load_state(
        &mut self,
        mut state: OptimizerState,
        model: &dyn Layer,
    ) -> Result<(), CheckpointError> {
        state.check(self.kind(), &[EXP_AVG_SQ, EXP_AVG], model)?;
        let mut moments = BTreeMap::new();
        let mut problems = Vec::new();
        for (param, p) in model.parameters() {
            let exp_avg = state.tensors.remove(&format!("{param}.{EXP_AVG}"));
            let exp_avg_sq = state.tensors.remove(&format!("{param}.{EXP_AVG_SQ}"));
            match (exp_avg, exp_avg_sq) {
                (Some(exp_avg), Some(exp_avg_sq)) => {
                    moments.insert(
                        param,
                        Moments {
                            exp_avg,
                            exp_avg_sq,
                        },
                    );
                }
                // Before the first step no parameter has moments yet.
                (None, None) if state.steps == 0 => {}
                // After it every parameter has both: resuming with zero moments
                // would not continue the run.
                (avg, _) => {
                    let slot = if avg.is_some() { EXP_AVG_SQ } else { EXP_AVG };
                    problems.push(TensorProblem::Missing {
                        name: format!("{OPTIMIZER_PREFIX}{param}.{slot}"),
                        expected: p.value.shape().to_vec(),
                    });
                }
            }
        }
        if !problems.is_empty() {
            return Err(CheckpointError::mismatch(problems));
        }
        self.steps = state.steps;
        self.moments = moments;
        Ok(())
    }
}

/// The scalars of step `steps` (counted from 1) with `config`, as PyTorch's
/// `_single_tensor_adam` computes them before its element-wise update.
fn step_scalars(config: &AdamConfig, steps: u64) -> AdamStep {
    let AdamConfig {
        lr,
        betas: (beta1, beta2),
        eps,
        weight_decay,
        decoupled_weight_decay,
    } = *config;
    // Scalars in f64, as PyTorch computes them in Python floats.
    let t = steps as f64;
    let bias_correction1 = 1.0 - f64::from(beta1).powf(t);
    let bias_correction2_sqrt = (1.0 - f64::from(beta2).powf(t)).sqrt() as f32;
    let step_size = (f64::from(lr) / bias_correction1) as f32;
    let (l2, decay) = if decoupled_weight_decay {
        (0.0, 1.0 - lr * weight_decay)
    } else {
        (weight_decay, 1.0)
    };
    AdamStep {
        beta1,
        beta2,
        eps,
        l2,
        decay,
        step_size,
        bias_correction2_sqrt,
    }
}
