//! Stochastic gradient descent with momentum, PyTorch's `torch.optim.SGD`.

use crate::optimizer::assert_gradient_shapes;
use crate::{
    CheckpointError, Optimizer, OptimizerState, TensorProblem, TrainError, OPTIMIZER_PREFIX,
};
use ndarray::{ArrayD, Zip};
use scratchnet_layers::Layer;
use std::collections::BTreeMap;

/// The hyper-parameters of [`Sgd`]; the defaults are PyTorch's (plain SGD, lr 0.01).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate (≥ 0). Default 0.01.
    pub lr: f32,
    /// Momentum factor μ (≥ 0). Default 0.
    pub momentum: f32,
    /// Dampening of the gradient in the momentum buffer (in `[0, 1]`). Default 0.
    pub dampening: f32,
    /// L2 penalty λ added to the gradient (≥ 0). Default 0.
    pub weight_decay: f32,
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`). Default off.
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            lr: 0.01,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

/// SGD with optional momentum, Nesterov momentum and weight decay, with exactly
/// PyTorch's update. For each parameter `w` with gradient `g`:
///
/// ```text
/// d = g + λ·w                              (weight decay)
/// b = d              on the first step     (momentum buffer, if μ ≠ 0)
/// b = μ·b + (1 − dampening)·d   after that
/// d = d + μ·b  (Nesterov)   or   d = b
/// w = w − lr·d
/// ```
///
/// State: `<parameter>.momentum_buffer` (only with momentum).
///
/// ```
/// use scratchnet_train::{Optimizer, Sgd, SgdConfig};
/// # use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// let mut model = scratchnet_layers::Dense::new(1, 1, &mut StdRng::seed_from_u64(0));
/// model.weight.value.fill(1.0);
/// model.weight.grad.fill(0.5); // ∂loss/∂w
/// let mut sgd = Sgd::new(SgdConfig { lr: 0.1, ..SgdConfig::default() }).unwrap();
/// sgd.step(&mut model);
/// assert_eq!(model.weight.value[[0, 0]], 0.95);
/// ```
#[derive(Clone, Debug)]
pub struct Sgd {
    config: SgdConfig,
    steps: u64,
    momentum_buffers: BTreeMap<String, ArrayD<f32>>,
}

/// The state slot of [`Sgd`], PyTorch's name.
const MOMENTUM_BUFFER: &str = "momentum_buffer";

impl Sgd {
    /// An SGD optimizer.
    ///
    /// # Errors
    /// [`TrainError::Config`] if a value is negative or not finite, `dampening` is
    /// above 1, or Nesterov is asked for without momentum or with dampening (as PyTorch).
    pub fn new(config: SgdConfig) -> Result<Self, TrainError> {
        let SgdConfig {
            lr,
            momentum,
            dampening,
            weight_decay,
            nesterov,
        } = config;
        for (name, value) in [
            ("learning rate", lr),
            ("momentum", momentum),
            ("dampening", dampening),
            ("weight decay", weight_decay),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(TrainError::config(format!(
                    "SGD {name} must be a finite number ≥ 0, not {value}"
                )));
            }
        }
        if dampening > 1.0 {
            return Err(TrainError::config(format!(
                "SGD dampening must be in [0, 1], not {dampening}"
            )));
        }
        if nesterov && (momentum == 0.0 || dampening != 0.0) {
            return Err(TrainError::config(
                "Nesterov momentum requires a momentum > 0 and zero dampening",
            ));
        }
        Ok(Self {
            config,
            steps: 0,
            momentum_buffers: BTreeMap::new(),
        })
    }

    /// The hyper-parameters (with the current learning rate).
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }
}

impl Optimizer for Sgd {
    fn kind(&self) -> &'static str {
        "sgd"
    }

    fn step(&mut self, model: &mut dyn Layer) {
        let SgdConfig {
            lr,
            momentum,
            dampening,
            weight_decay,
            nesterov,
        } = self.config;
        assert_gradient_shapes(model);
        for (name, param) in model.parameters_mut() {
            if momentum == 0.0 {
                Zip::from(&mut param.value)
                    .and(&param.grad)
                    .for_each(|w, &g| *w -= lr * (g + weight_decay * *w));
                continue;
            }
            let buffer = self.momentum_buffers.get_mut(&name);
            let (buffer, first) = match buffer {
                Some(b) if b.shape() == param.value.shape() => (b, false),
                _ => {
                    let fresh = ArrayD::zeros(param.value.raw_dim());
                    self.momentum_buffers.insert(name.clone(), fresh);
                    (
                        self.momentum_buffers.get_mut(&name).expect("just inserted"),
                        true,
                    )
                }
            };
            Zip::from(&mut param.value)
                .and(&param.grad)
                .and(buffer)
                .for_each(|w, &g, b| {
                    let d = g + weight_decay * *w;
                    *b = if first {
                        d
                    } else {
                        momentum * *b + (1.0 - dampening) * d
                    };
                    let d = if nesterov { d + momentum * *b } else { *b };
                    *w -= lr * d;
                });
        }
        self.steps += 1;
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
        OptimizerState {
            kind: self.kind().to_string(),
            steps: self.steps,
            tensors: self
                .momentum_buffers
                .iter()
                .map(|(name, b)| (format!("{name}.{MOMENTUM_BUFFER}"), b.clone()))
                .collect(),
        }
    }

    fn load_state(
        &mut self,
        state: OptimizerState,
        model: &dyn Layer,
    ) -> Result<(), CheckpointError> {
        state.check(self.kind(), &[MOMENTUM_BUFFER], model)?;
        // With momentum, every parameter has a buffer after the first step: resuming
        // without one would not continue the run.
        if self.config.momentum != 0.0 && state.steps > 0 {
            let problems: Vec<TensorProblem> = (model.parameters().into_iter())
                .filter(|(param, _)| {
                    !(state.tensors).contains_key(&format!("{param}.{MOMENTUM_BUFFER}"))
                })
                .map(|(param, p)| TensorProblem::Missing {
                    name: format!("{OPTIMIZER_PREFIX}{param}.{MOMENTUM_BUFFER}"),
                    expected: p.value.shape().to_vec(),
                })
                .collect();
            if !problems.is_empty() {
                return Err(CheckpointError::mismatch(problems));
            }
        }
        self.steps = state.steps;
        self.momentum_buffers = state
            .tensors
            .into_iter()
            .filter_map(|(name, b)| {
                let param = name.strip_suffix(MOMENTUM_BUFFER)?.strip_suffix('.')?;
                Some((param.to_string(), b))
            })
            .collect();
        Ok(())
    }
}
