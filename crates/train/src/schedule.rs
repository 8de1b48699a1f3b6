//! Learning-rate schedules.

use serde::{Deserialize, Serialize};

/// How the learning rate changes over a run, as a function of the optimizer step.
///
/// The trainer sets the optimizer's learning rate before every step to
/// [`learning_rate`](LrSchedule::learning_rate)`(base_lr, position)`, where `base_lr` is
/// the optimizer's learning rate when training started. Because the rate is a pure
/// function of the step, a resumed run follows the same curve as an uninterrupted one.
///
/// | variant | PyTorch |
/// |---|---|
/// | [`Constant`](LrSchedule::Constant) | no scheduler |
/// | [`Step`](LrSchedule::Step) | `StepLR(step_size=every_epochs, gamma)`, stepped each epoch |
/// | [`Cosine`](LrSchedule::Cosine) | linear warm-up, then `CosineAnnealingLR(T_max=remaining steps, eta_min=min_lr)` stepped each batch |
///
/// ```
/// use scratchnet_train::{LrSchedule, SchedulePosition};
/// let cosine = LrSchedule::Cosine { min_lr: 0.0, warmup_steps: 0 };
/// let at = |step| SchedulePosition { step, steps_per_epoch: 10, total_steps: 100 };
/// assert_eq!(cosine.learning_rate(0.1, at(0)), 0.1);
/// assert!((cosine.learning_rate(0.1, at(50)) - 0.05).abs() < 1e-7);
/// let step = LrSchedule::Step { every_epochs: 2, gamma: 0.5 };
/// assert_eq!(step.learning_rate(0.1, at(25)), 0.05); // epoch 3 (index 2)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// The base rate times `gamma` to the power of the number of completed blocks of
    /// `every_epochs` epochs.
    Step {
        /// Epochs per decay (≥ 1).
        every_epochs: u64,
        /// Factor applied at each decay.
        gamma: f32,
    },
    /// A linear warm-up from `base/warmup_steps` to `base` over the first
    /// `warmup_steps` steps, then half a cosine from `base` down to `min_lr` at the
    /// last step of the run.
    Cosine {
        /// The rate reached at the end of the run.
        min_lr: f32,
        /// Steps of linear warm-up (0 for none).
        warmup_steps: u64,
    },
}

/// Where in a run the next optimizer step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulePosition {
    /// Index of the step about to be taken, from 0 at the start of the run.
    pub step: u64,
    /// Optimizer steps (batches) per epoch.
    pub steps_per_epoch: u64,
    /// Steps in the whole run (all epochs).
    pub total_steps: u64,
}

impl LrSchedule {
    /// The learning rate of the step at `position`, for a base rate `base_lr`.
    pub fn learning_rate(&self, base_lr: f32, position: SchedulePosition) -> f32 {
        let SchedulePosition {
            step,
            steps_per_epoch,
            total_steps,
        } = position;
        match *self {
            LrSchedule::Constant => base_lr,
            LrSchedule::Step {
                every_epochs,
                gamma,
            } => {
                let epoch = step / steps_per_epoch.max(1);
                let decays = epoch / every_epochs.max(1);
                (f64::from(base_lr) * f64::from(gamma).powf(decays as f64)) as f32
            }
            LrSchedule::Cosine {
                min_lr,
                warmup_steps,
            } => {
                if step < warmup_steps {
                    return (f64::from(base_lr) * (step + 1) as f64 / warmup_steps as f64) as f32;
                }
                let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                let progress = ((step - warmup_steps) as f64 / span).min(1.0);
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                (f64::from(min_lr) + (f64::from(base_lr) - f64::from(min_lr)) * cosine) as f32
            }
        }
    }

    /// The schedule's name, as on the command line: `constant`, `step` or `cosine`.
    pub fn name(&self) -> &'static str {
        match self {
            LrSchedule::Constant => "constant",
            LrSchedule::Step { .. } => "step",
            LrSchedule::Cosine { .. } => "cosine",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(step: u64) -> SchedulePosition {
        SchedulePosition {
            step,
            steps_per_epoch: 100,
            total_steps: 300,
        }
    }

    #[test]
    fn constant_is_constant() {
        assert_eq!(LrSchedule::Constant.learning_rate(0.3, at(299)), 0.3);
    }

    #[test]
    fn each_schedule_is_named_as_on_the_command_line() {
        let step = LrSchedule::Step {
            every_epochs: 1,
            gamma: 0.5,
        };
        let cosine = LrSchedule::Cosine {
            min_lr: 0.0,
            warmup_steps: 0,
        };
        let names = [LrSchedule::Constant, step, cosine].map(|s| s.name());
        assert_eq!(names, ["constant", "step", "cosine"]);
    }

    #[test]
    fn step_decays_at_epoch_boundaries() {
        let s = LrSchedule::Step {
            every_epochs: 1,
            gamma: 0.1,
        };
        assert_eq!(s.learning_rate(1.0, at(99)), 1.0);
        assert!((s.learning_rate(1.0, at(100)) - 0.1).abs() < 1e-7);
        assert!((s.learning_rate(1.0, at(299)) - 0.01).abs() < 1e-8);
    }

    #[test]
    fn cosine_warms_up_then_decays_to_the_minimum() {
        let s = LrSchedule::Cosine {
            min_lr: 0.001,
            warmup_steps: 10,
        };
        assert!((s.learning_rate(0.01, at(0)) - 0.001).abs() < 1e-9);
        assert!((s.learning_rate(0.01, at(9)) - 0.01).abs() < 1e-9);
        assert_eq!(s.learning_rate(0.01, at(10)), 0.01);
        // Halfway through the decay: the mean of base and minimum.
        assert!((s.learning_rate(0.01, at(155)) - 0.0055).abs() < 1e-7);
        assert!((s.learning_rate(0.01, at(300)) - 0.001).abs() < 1e-9);
        // Monotone after the warm-up.
        let rates: Vec<f32> = (10..300).map(|i| s.learning_rate(0.01, at(i))).collect();
        assert!(rates.windows(2).all(|w| w[1] <= w[0]));
    }
}
