//! [`ScheduleKind`]: the learning-rate schedule of a run, by name.

use scratchnet_train::{LrSchedule, TrainError};
use std::fmt;
use std::str::FromStr;

/// The learning-rate schedule of a run, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleKind {
    /// [`LrSchedule::Constant`].
    Constant,
    /// [`LrSchedule::Step`] halving the rate after every epoch.
    Step,
    /// [`LrSchedule::Cosine`] from the base rate to 0 over the run, without warm-up.
    Cosine,
}

impl ScheduleKind {
    /// The schedule.
    pub fn schedule(self) -> LrSchedule {
        match self {
            ScheduleKind::Constant => LrSchedule::Constant,
            ScheduleKind::Step => LrSchedule::Step {
                every_epochs: 1,
                gamma: 0.5,
            },
            ScheduleKind::Cosine => LrSchedule::Cosine {
                min_lr: 0.0,
                warmup_steps: 0,
            },
        }
    }
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.schedule().name())
    }
}

impl FromStr for ScheduleKind {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, TrainError> {
        match s {
            "constant" => Ok(ScheduleKind::Constant),
            "step" => Ok(ScheduleKind::Step),
            "cosine" => Ok(ScheduleKind::Cosine),
            other => Err(TrainError::config(format!(
                "unknown schedule {other:?}: use constant, step or cosine"
            ))),
        }
    }
}
