//! What the `scratchnet.*` metadata of a checkpoint may hold: a layout version this
//! build reads, and a training state a run could have written. A checkpoint that
//! breaks a rule is refused at load with [`CheckpointError::Metadata`] naming the key
//! (or [`CheckpointError::NewerVersion`]), before any of it is used or printed.

use crate::checkpoint::{
    PartialEpoch, TrainingState, KEY_EPOCH, KEY_HISTORY, KEY_OPTIMIZER, KEY_PARTIAL, KEY_VERSION,
    LAYOUT_VERSION,
};
use crate::checkpoint_error::CheckpointError;
use crate::History;
use std::path::Path;

/// The most epochs a checkpoint may have completed: 2³².
pub const MAX_EPOCHS: usize = 1 << 32;

/// The most optimizer steps (batches) a checkpoint may count per epoch begun: 2³²
/// (an epoch of 4 billion batches). A larger count, such as `u64::MAX`, was not
/// written by a run, and counting on from it could overflow.
pub const MAX_STEPS_PER_EPOCH: u64 = 1 << 32;

fn invalid(key: &str, reason: String) -> CheckpointError {
    CheckpointError::Metadata {
        path: Path::new("(in memory)").to_path_buf(),
        key: key.to_string(),
        reason,
    }
}

/// Checks the layout version `value` (absent in files from PyTorch, which is fine).
///
/// # Errors
/// [`CheckpointError::Metadata`] for a value that is not a version number (1, 2, …);
/// [`CheckpointError::NewerVersion`] for a version newer than [`LAYOUT_VERSION`].
pub(crate) fn check_version(value: Option<&str>) -> Result<(), CheckpointError> {
    let Some(value) = value else {
        return Ok(());
    };
    let supported: u64 = LAYOUT_VERSION.parse().expect("LAYOUT_VERSION is a number");
    match value.parse::<u64>() {
        Ok(found) if found > supported => Err(CheckpointError::NewerVersion {
            path: Path::new("(in memory)").to_path_buf(),
            found,
            supported: LAYOUT_VERSION,
        }),
        Ok(found) if found >= 1 => Ok(()),
        _ => Err(invalid(
            KEY_VERSION,
            format!("{value:?} is not a layout version (1 to {supported})"),
        )),
    }
}

/// Checks that `state` is one a run could have written: at most [`MAX_EPOCHS`]
/// epochs; a history of at most `epoch` entries numbered 1, 2, … with accuracies in
/// [0, 1] and finite, non-negative losses, seconds and speeds; an interrupted epoch
/// with `batches_done ≤ batches`, `correct ≤ samples` and finite, non-negative sums;
/// and at most [`MAX_STEPS_PER_EPOCH`] optimizer steps per epoch begun.
///
/// # Errors
/// [`CheckpointError::Metadata`] naming the key and the first rule broken.
pub(crate) fn check_training(state: &TrainingState) -> Result<(), CheckpointError> {
    if state.epoch > MAX_EPOCHS {
        return Err(invalid(
            KEY_EPOCH,
            format!(
                "{} epochs is more than the {MAX_EPOCHS} a run can have",
                state.epoch
            ),
        ));
    }
    check_history(&state.history, state.epoch).map_err(|reason| invalid(KEY_HISTORY, reason))?;
    if let Some(partial) = &state.partial {
        check_partial(partial).map_err(|reason| invalid(KEY_PARTIAL, reason))?;
    }
    let begun = state.epoch as u64 + 1;
    let max_steps = begun.saturating_mul(MAX_STEPS_PER_EPOCH);
    if state.optimizer.steps > max_steps {
        return Err(invalid(
            KEY_OPTIMIZER,
            format!(
                "{} steps in {begun} epoch(s) begun is more than {MAX_STEPS_PER_EPOCH} per epoch",
                state.optimizer.steps
            ),
        ));
    }
    Ok(())
}

fn check_history(history: &History, epoch: usize) -> Result<(), String> {
    if history.epochs.len() > epoch {
        return Err(format!(
            "{} epochs of metrics, but only {epoch} completed",
            history.epochs.len()
        ));
    }
    for (index, metrics) in history.epochs.iter().enumerate() {
        let at = |what: String| format!("epoch {}: {what}", index + 1);
        if metrics.epoch != index + 1 {
            return Err(at(format!("numbered {}", metrics.epoch)));
        }
        for (name, value) in [
            ("train_accuracy", metrics.train_accuracy),
            ("test_accuracy", metrics.test_accuracy),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(at(format!("{name} {value} is not a fraction in [0, 1]")));
            }
        }
        for (name, value) in [
            ("train_loss", metrics.train_loss),
            ("test_loss", metrics.test_loss),
            ("seconds", metrics.seconds),
            ("samples_per_second", metrics.samples_per_second),
        ] {
            non_negative(name, value).map_err(at)?;
        }
    }
    Ok(())
}

fn check_partial(partial: &PartialEpoch) -> Result<(), String> {
    if partial.batches == 0 || partial.batches_done > partial.batches {
        return Err(format!(
            "batch {} of {} is not a batch of an epoch",
            partial.batches_done, partial.batches
        ));
    }
    if partial.correct > partial.samples {
        return Err(format!(
            "{} of {} samples correct",
            partial.correct, partial.samples
        ));
    }
    non_negative("loss_sum", partial.loss_sum)?;
    non_negative("seconds", partial.seconds)
}

fn non_negative(name: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(format!("{name} {value} is not a finite number ≥ 0"))
    }
}
