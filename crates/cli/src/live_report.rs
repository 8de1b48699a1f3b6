//! The `--report` page of a run being trained, kept up to date as it trains.

use crate::{RunStage, TrainingReport};
use scratchnet_train::{
    ConfusionMatrix, Diagnostics, DiagnosticsConfig, History, TrainError, Trainer,
};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Batches between two rewrites of the page within an epoch: about every 200 × 4 ms
/// = 0.8 s for LeNet-5 on MNIST, where a rewrite takes a few milliseconds (measured:
/// docs/benchmarks.md, "The training report's cost").
pub(crate) const REWRITE_EVERY_BATCHES: usize = 200;

/// The page of a run: rewritten (reloading itself) every [`REWRITE_EVERY_BATCHES`]
/// batches and after every epoch by the trainer's callbacks, and a last time when the
/// run ends.
pub(crate) struct LiveReport {
    pub(crate) path: PathBuf,
    page: TrainingReport,
    diagnostics: Diagnostics,
    state: Mutex<LiveState>,
}

/// What changes as the run goes.
struct LiveState {
    /// The run's history so far (a resumed run's epochs first).
    history: History,
    /// Why the page could not be written during the run (which then stops at the end
    /// of the epoch).
    error: Option<TrainError>,
    /// The page's writes so far, and the time they took (rendering and writing).
    writes: u32,
    writing: Duration,
}

impl LiveReport {
    /// A report of `page` at `path`, for a run that starts from `history`.
    pub(crate) fn new(
        path: PathBuf,
        page: TrainingReport,
        history: &History,
    ) -> Result<Arc<Self>, TrainError> {
        Ok(Arc::new(Self {
            path,
            page,
            diagnostics: Diagnostics::new(DiagnosticsConfig::default())?,
            state: Mutex::new(LiveState {
                history: history.clone(),
                error: None,
                writes: 0,
                writing: Duration::ZERO,
            }),
        }))
    }

    /// `trainer`, recording diagnostics and rewriting the page every few hundred
    /// batches and after every epoch; an epoch after which the page could not be
    /// written is the run's last.
    pub(crate) fn attach(self: &Arc<Self>, trainer: Trainer) -> Trainer {
        let (during, after) = (Arc::clone(self), Arc::clone(self));
        trainer
            .with_diagnostics(self.diagnostics.clone())
            .on_batches(REWRITE_EVERY_BATCHES, move |epoch, done| {
                let stage = RunStage::InEpoch {
                    epoch,
                    batch: done.batches_done,
                    batches: done.batches,
                };
                during.rewrite(&mut during.lock(), stage, None);
            })
            .on_epoch_end(move |metrics| {
                let mut state = after.lock();
                state.history.push(metrics.clone());
                after.rewrite(&mut state, RunStage::BetweenEpochs, None);
                match state.error {
                    None => ControlFlow::Continue(()),
                    Some(_) => ControlFlow::Break(()),
                }
            })
    }

    /// The last write of a run that trained all its epochs, which no longer reloads,
    /// of `history` and `confusion`; the error of an earlier write if there was one.
    pub(crate) fn finish(
        &self,
        history: &History,
        confusion: &ConfusionMatrix,
    ) -> Result<(), TrainError> {
        let mut state = self.lock();
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        state.history = history.clone();
        self.rewrite(&mut state, RunStage::Finished, Some(confusion));
        state.error.take().map_or(Ok(()), Err)
    }

    /// The last write of a run that ended early, which no longer reloads: the history
    /// so far, under a status line that starts with `why` (what stopped the run).
    /// Nothing is written if an earlier write failed.
    pub(crate) fn stop(&self, why: &str) {
        let mut state = self.lock();
        if state.error.is_none() {
            self.rewrite(&mut state, RunStage::Stopped { why }, None);
        }
    }

    /// How many times the page was written and how long a write took on average.
    pub(crate) fn cost(&self) -> String {
        let state = self.lock();
        let each = state.writing / state.writes.max(1);
        format!(
            "{} writes, {:.1} ms each",
            state.writes,
            each.as_secs_f64() * 1e3
        )
    }

    fn lock(&self) -> MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the page at `stage` (`confusion`, else the last epoch's), unless a
    /// write already failed; keeps the error of a failed write.
    fn rewrite(&self, state: &mut LiveState, stage: RunStage, confusion: Option<&ConfusionMatrix>) {
        if state.error.is_some() {
            return;
        }
        let started = Instant::now();
        let log = self.diagnostics.log();
        let confusion = confusion.or(log.epochs.last().map(|e| &e.confusion));
        let written = self
            .page
            .write(&self.path, &state.history, &log, confusion, stage);
        state.writes += 1;
        state.writing += started.elapsed();
        state.error = written.err();
    }
}
