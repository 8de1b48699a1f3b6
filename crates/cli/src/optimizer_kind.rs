//! [`OptimizerKind`]: the optimizer of a run, by name.

use scratchnet_train::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig, TrainError};
use std::fmt;
use std::str::FromStr;

/// The optimizer of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    /// [`Adam`] with PyTorch's defaults besides the learning rate.
    Adam,
    /// [`Sgd`] with Nesterov momentum 0.9.
    Sgd,
}

impl OptimizerKind {
    /// The default learning rate of the recipe: Adam 0.005, SGD 0.05.
    pub fn default_learning_rate(self) -> f32 {
        match self {
            OptimizerKind::Adam => 0.005,
            OptimizerKind::Sgd => 0.05,
        }
    }

    /// The optimizer with learning rate `lr`.
    ///
    /// # Errors
    /// [`TrainError::Config`] for a learning rate that is negative or not finite.
    pub fn build(self, lr: f32) -> Result<Box<dyn Optimizer>, TrainError> {
        Ok(match self {
            OptimizerKind::Adam => Box::new(Adam::new(AdamConfig::adam(lr))?),
            OptimizerKind::Sgd => Box::new(Sgd::new(SgdConfig {
                lr,
                momentum: 0.9,
                nesterov: true,
                ..SgdConfig::default()
            })?),
        })
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::Sgd => "sgd",
        })
    }
}

impl FromStr for OptimizerKind {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, TrainError> {
        match s {
            "adam" => Ok(OptimizerKind::Adam),
            "sgd" => Ok(OptimizerKind::Sgd),
            other => Err(TrainError::config(format!(
                "unknown optimizer {other:?}: use adam or sgd"
            ))),
        }
    }
}
