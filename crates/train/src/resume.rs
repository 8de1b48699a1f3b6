//! Resuming a run from a checkpoint: [`Trainer::fit_resumed`], and the check that a
//! resumed run's optimizer has taken the steps its history and interrupted epoch say.

use crate::{Checkpoint, FitOutcome, History, Optimizer, PartialEpoch, TrainError, Trainer};
use scratchnet_data::Split;
use scratchnet_layers::Layer;

impl Trainer {
    /// Resumes the run `checkpoint` was saved from, in one call: checks that the
    /// checkpoint has a training state whose seed is `config.batch.seed` (the order of
    /// the batches derives from it), loads its weights into `model`
    /// ([`Checkpoint::apply_to`]) and its optimizer state into `optimizer`
    /// ([`Optimizer::load_state`]), and trains on with
    /// [`fit_from`](Self::fit_from) from its history and interrupted epoch
    /// ([`TrainingState::partial`](crate::TrainingState::partial)). With the same data,
    /// batch size and schedule, the result is bit for bit that of an uninterrupted run.
    ///
    /// ```no_run
    /// # use scratchnet_train::*;
    /// # fn resume(trainer: &mut Trainer, model: &mut dyn scratchnet_layers::Layer, train: &scratchnet_data::Split, test: &scratchnet_data::Split) -> Result<(), TrainError> {
    /// let checkpoint = Checkpoint::load(std::path::Path::new("run.safetensors"))?;
    /// let mut adam = Adam::new(AdamConfig::adam(1e-3))?;
    /// let outcome = trainer.fit_resumed(model, &mut adam, train, test, &checkpoint)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`TrainError::Config`] for a checkpoint without a training state, one whose
    /// count of completed epochs is not its history's length, or one saved with
    /// another seed; the errors of [`Checkpoint::apply_to`] and
    /// [`Optimizer::load_state`] (the model may then hold the checkpoint's weights
    /// already); as [`fit_from`](Self::fit_from) otherwise.
    pub fn fit_resumed(
        &mut self,
        model: &mut dyn Layer,
        optimizer: &mut dyn Optimizer,
        train: &Split,
        test: &Split,
        checkpoint: &Checkpoint,
    ) -> Result<FitOutcome, TrainError> {
        let Some(state) = &checkpoint.training else {
            return Err(TrainError::config(
                "the checkpoint has no training state (it was saved with save_model, not by a Trainer): load its weights with apply_to and start a fresh run with fit",
            ));
        };
        if state.history.completed_epochs() != state.epoch {
            return Err(TrainError::config(format!(
                "the checkpoint's training state counts {} completed epochs but records the metrics of {}, so it cannot say where training stands: resume from another checkpoint",
                state.epoch,
                state.history.completed_epochs()
            )));
        }
        let seed = self.config().batch.seed;
        if state.seed != seed {
            return Err(TrainError::config(format!(
                "the checkpoint's run shuffled its batches with seed {}, but TrainConfig::batch.seed is {seed}: resume with batch.seed = {} (another seed would see some samples twice in the epoch and others not at all)",
                state.seed, state.seed
            )));
        }
        checkpoint.apply_to(model)?;
        optimizer.load_state(state.optimizer.clone(), model)?;
        let (history, partial) = (state.history.clone(), state.partial.clone());
        self.fit_from(model, optimizer, train, test, history, partial)
    }
}

/// For a resumed run (a non-empty `history` or a `partial` epoch): a
/// [`TrainError::Config`] unless `optimizer` has taken exactly the steps the history's
/// epochs of `steps_per_epoch` and the partial epoch's batches imply. Catches a
/// mid-epoch checkpoint resumed with `fit` (its batches would be trained twice) and a
/// forgotten [`Optimizer::load_state`] (a fresh optimizer's moments and step count).
/// A fresh run (empty history, no partial epoch) may reuse an optimizer freely.
pub(crate) fn check_resumed_steps(
    optimizer: &dyn Optimizer,
    history: &History,
    partial: Option<&PartialEpoch>,
    steps_per_epoch: u64,
) -> Result<(), TrainError> {
    let epochs = history.completed_epochs();
    if epochs == 0 && partial.is_none() {
        return Ok(());
    }
    let batches = partial.map_or(0, |p| p.batches_done);
    let expected = (epochs as u64)
        .saturating_mul(steps_per_epoch)
        .saturating_add(batches as u64);
    let taken = optimizer.steps();
    if taken == expected {
        return Ok(());
    }
    let at = match batches {
        0 => format!("after {epochs} epochs"),
        b => format!("after {epochs} epochs and {b} batches"),
    };
    Err(TrainError::config(format!(
        "the run resumes {at} of {steps_per_epoch} steps each, {expected} optimizer steps, but the optimizer has taken {taken}: resume a checkpoint with Trainer::fit_resumed (or restore its optimizer state with Optimizer::load_state and pass its history and partial epoch to fit_from), on the same data with the same batch size"
    )))
}
