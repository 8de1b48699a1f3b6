//! The training loop.

use crate::best_checkpoint::BestCheckpoint;
use crate::data_parallel::needs_whole_batch;
use crate::progress::Progress;
use crate::resume::check_resumed_steps;
use crate::{
    check_writable, evaluate, train_step, Checkpoint, CheckpointError, DataParallel, Diagnostics,
    EpochMetrics, Evaluation, History, LrSchedule, ModelFactory, Optimizer, PartialEpoch,
    ProgressMode, SaveLock, SavedCheckpoint, SchedulePosition, StepOutcome, StopFlag, TrainError,
};
use ndarray::Array4;
use scratchnet_data::{Batch, BatchConfig, Batches, Split};
use scratchnet_layers::{contract, Layer};
use scratchnet_tensor::keep_awake::KeepAwake;
use scratchnet_tensor::kernels::use_reference;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

/// How to train.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Total epochs of the run, counting those a resumed run already has. Default 3.
    pub epochs: usize,
    /// Batch size, shuffling, seed and augmentation of the training batches. The
    /// order of epoch `e` depends only on `batch.seed` and `e`.
    pub batch: BatchConfig,
    /// Samples per evaluation batch. Default 250: a batch's activations (and the
    /// inputs batch norm keeps, in evaluation too) are what a run's memory peaks at;
    /// one epoch of the ResNet example and its evaluation peaked at 949 MiB with 1,000,
    /// at 300 MiB with 250, evaluating as fast. No result of the evaluation (logits,
    /// predictions, loss) depends on it, to the bit.
    pub eval_batch_size: usize,
    /// The learning-rate schedule, relative to the optimizer's rate when `fit` starts.
    pub schedule: LrSchedule,
    /// Samples per gradient shard on replicas (see [`DataParallel`]). Default 16.
    /// Unused without replicas, and for models with buffers or counters or a layer
    /// that mixes samples ([`Layer::mixes_samples`]), where each
    /// batch is one [`train_step`] whose kernels use the pool's threads.
    pub shard_size: usize,
    /// Replicas to compute on when a [`ModelFactory`] is given; `0` means one per
    /// thread of the rayon pool. Default 0.
    pub threads: usize,
    /// Where to save a checkpoint (weights and training state) after every epoch.
    /// `fit` holds its [`SaveLock`] throughout: a second run saving there is refused.
    pub save_path: Option<PathBuf>,
    /// Where to keep the checkpoint of the best epoch, the one of lowest test loss:
    /// written after an epoch whose test loss is lower than every earlier epoch's in
    /// the history (a resumed run's included) and than the one a checkpoint already at
    /// this path records, so a worse epoch never replaces it. `save_path` holds the
    /// latest epoch, better or worse (it is what a resumed run continues). A file
    /// already here must be a checkpoint of this model with a test loss, or `fit`
    /// refuses it. Locked for the whole `fit`, as `save_path` is.
    pub best_path: Option<PathBuf>,
    /// The checkpoint this run resumed from, named if training fails before the first save.
    pub resumed_from: Option<PathBuf>,
    /// Extra `__metadata__` entries for the saved checkpoints (e.g. `dataset`).
    pub checkpoint_metadata: BTreeMap<String, String>,
    /// Progress output.
    pub progress: ProgressMode,
    /// Raised to stop after the current batch with a checkpoint (see [`StopFlag`]).
    pub stop: StopFlag,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            batch: BatchConfig::default(),
            eval_batch_size: 250,
            schedule: LrSchedule::Constant,
            shard_size: 16,
            threads: 0,
            save_path: None,
            best_path: None,
            resumed_from: None,
            checkpoint_metadata: BTreeMap::new(),
            progress: ProgressMode::Auto,
            stop: StopFlag::new(),
        }
    }
}

impl TrainConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// [`TrainError::Config`] for a zero batch, evaluation batch or shard size.
    pub fn validate(&self) -> Result<(), TrainError> {
        for (name, value) in [
            ("batch size", self.batch.batch_size),
            ("evaluation batch size", self.eval_batch_size),
            ("shard size", self.shard_size),
        ] {
            if value == 0 {
                return Err(TrainError::config(format!("the {name} must be at least 1")));
            }
        }
        if let LrSchedule::Step {
            every_epochs: 0, ..
        } = self.schedule
        {
            return Err(TrainError::config("a step schedule needs every_epochs ≥ 1"));
        }
        Ok(())
    }
}

/// What [`Trainer::fit`] returns.
#[derive(Clone, Debug)]
pub struct FitOutcome {
    /// Every epoch of the run, including those before a resume.
    pub history: History,
    /// The epochs trained by this call (empty if the run was already complete).
    pub trained_epochs: Vec<usize>,
    /// The test-set evaluation of the final model (with the confusion matrix).
    pub evaluation: Evaluation,
}

/// Called after each epoch with its metrics; `Break` stops the run there (the
/// epoch's checkpoint is already saved).
pub type EpochCallback = Box<dyn FnMut(&EpochMetrics) -> ControlFlow<()>>;

/// Called every few batches during an epoch with the epoch (from 1) and where it
/// stands (see [`Trainer::on_batches`]). It runs on a thread of the rayon pool, hence
/// `Send`.
pub type BatchCallback = Box<dyn FnMut(usize, &PartialEpoch) + Send>;

/// Trains a model with softmax cross-entropy, epoch after epoch, evaluating on a test
/// split after each and saving a checkpoint if asked.
///
/// Each batch is one [`train_step`] — zero the gradients, forward in `Mode::Train`,
/// loss, backward, optimizer step — with the learning rate of the schedule; with
/// [`with_replicas`](Trainer::with_replicas) and a model without buffers or counters, it
/// is [`DataParallel::train_step`], the same step with the gradient computed in
/// shards on model replicas. A model with buffers or counters (batch norm, dropout),
/// or with a layer whose Train forward mixes the samples of a batch
/// ([`Layer::mixes_samples`]), trains with the plain step on the model itself — batch norm needs the whole batch's
/// statistics, dropout one mask per batch — and its kernels spread each layer's work
/// over the pool's threads in fixed chunks (batch norm by channel and by sample), so
/// both cores work and the weights are the same bits on any number of threads. On the
/// reference kernels ([`scratchnet_tensor::kernels`]) every model trains with the plain
/// step, so that a debugger steps from the loss to the first layer's weight through
/// plain loops only, on one thread.
/// A loss that is NaN or infinite stops training at once
/// with [`TrainError::NonFiniteLoss`], before that batch changes anything.
pub struct Trainer {
    config: TrainConfig,
    factory: Option<ModelFactory>,
    on_epoch_end: Option<EpochCallback>,
    on_batches: Option<(usize, BatchCallback)>,
    diagnostics: Option<Diagnostics>,
}

impl Trainer {
    /// A trainer with `config`.
    ///
    /// # Errors
    /// As [`TrainConfig::validate`].
    pub fn new(config: TrainConfig) -> Result<Self, TrainError> {
        config.validate()?;
        Ok(Self {
            config,
            factory: None,
            on_epoch_end: None,
            on_batches: None,
            diagnostics: None,
        })
    }

    /// Computes gradients and evaluations on replicas made by `factory`, in parallel
    /// on the rayon pool, with [`DataParallel`] (results do not depend on the number
    /// of threads or replicas). Models with buffers or counters (batch norm, dropout)
    /// or a layer that mixes samples ([`Layer::mixes_samples`]) still train with the
    /// plain [`train_step`] on the whole batch, and so does every model on the
    /// reference kernels. `factory` must build the model's network (the same layers
    /// and hyper-parameters): on the first batch, the model and a replica holding its
    /// weights must give the same outputs in `Mode::Eval`, or `fit` fails.
    pub fn with_replicas(mut self, factory: ModelFactory) -> Self {
        self.factory = Some(factory);
        self
    }

    /// Calls `callback` after every epoch (after its checkpoint is saved).
    pub fn on_epoch_end(
        mut self,
        callback: impl FnMut(&EpochMetrics) -> ControlFlow<()> + 'static,
    ) -> Self {
        self.on_epoch_end = Some(Box::new(callback));
        self
    }

    /// Calls `callback` after every `every`-th batch of an epoch but its last (which
    /// the epoch's end follows), with the epoch and where it stands: batches done,
    /// running sums, seconds. `every` 0 calls it never. The callback cannot stop the
    /// run; it is meant for cheap work such as rewriting a report.
    pub fn on_batches(
        mut self,
        every: usize,
        callback: impl FnMut(usize, &PartialEpoch) + Send + 'static,
    ) -> Self {
        self.on_batches = Some((every, Box::new(callback)));
        self
    }

    /// Records into `diagnostics` the training loss and accuracy every
    /// [`metrics_every_batches`](crate::DiagnosticsConfig::metrics_every_batches), the gradient flow every
    /// [`every_batches`](crate::DiagnosticsConfig::every_batches) steps and, after every
    /// epoch (before the epoch callback), the activations of the first test images,
    /// the confusion matrix, the most confident mistakes and the first convolution's
    /// filters. The weights trained
    /// are the same, bit for bit, with or without it.
    pub fn with_diagnostics(mut self, diagnostics: Diagnostics) -> Self {
        self.diagnostics = Some(diagnostics);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// How many replicas [`fit`](Self::fit) would compute `model`'s steps on, in shards
    /// of [`TrainConfig::shard_size`]; `None` when each batch is one plain
    /// [`train_step`] on the whole batch at once (no [`with_replicas`](Self::with_replicas),
    /// a model with buffers or counters or a layer that mixes samples, or the
    /// reference kernels). A step's memory
    /// depends on it: a plain step holds the whole batch's activations.
    pub fn replicas_for(&self, model: &dyn Layer) -> Option<usize> {
        // Batch statistics (a model with buffers, or a layer that mixes samples) need
        // the whole batch at once, and counters (dropout's) must advance on the model
        // itself, once per batch.
        // The reference kernels promise plain loops on one thread: no replicas.
        if self.factory.is_none() || needs_whole_batch(model) || use_reference() {
            return None;
        }
        Some(match self.config.threads {
            0 => rayon::current_num_threads(),
            t => t,
        })
    }

    /// Trains `model` on `train` from the end of `history` (empty for a fresh run) up
    /// to `config.epochs`, evaluating on `test` after each epoch.
    ///
    /// The schedule's base rate is the optimizer's learning rate when `fit` starts;
    /// `fit` sets it back when it returns (however it returns), so that calling `fit`
    /// again with the same optimizer and the returned history continues the schedule.
    ///
    /// **Resuming** from a checkpoint is one call,
    /// [`fit_resumed`](Self::fit_resumed). By hand, the recipe has four steps, all
    /// needed: load the weights ([`Checkpoint::apply_to`]), restore the optimizer
    /// state ([`Optimizer::load_state`] with the checkpoint's
    /// [`TrainingState::optimizer`](crate::TrainingState::optimizer)), set
    /// `config.batch.seed` to the checkpoint's
    /// [`TrainingState::seed`](crate::TrainingState::seed), and call
    /// [`fit_from`](Self::fit_from) with its history and its
    /// [`partial`](crate::TrainingState::partial) epoch (`fit` is `fit_from` without
    /// one: it suits only a checkpoint saved at the end of an epoch). A run given a
    /// non-empty history or a partial epoch is a resumed run, and is refused unless the
    /// optimizer has taken exactly the steps they imply (completed epochs × batches
    /// per epoch + the partial epoch's batches): that catches a mid-epoch checkpoint
    /// given to `fit` and a forgotten `load_state`. A fresh run (empty history) may
    /// reuse an optimizer that has stepped before.
    ///
    /// # Errors
    /// [`TrainError::NonFiniteLoss`] naming the epoch and batch; layer errors; a
    /// checkpoint that cannot be written; [`TrainError::SavePathInUse`] when another
    /// run is saving to `config.save_path`; [`TrainError::Config`] for an empty
    /// training or test split; [`TrainError::Layer`] for a model whose state names two
    /// pieces alike ([`contract::check_state_names`]); [`TrainError::Config`] for a
    /// resumed run whose optimizer has not taken the steps its history implies.
    pub fn fit(
        &mut self,
        model: &mut dyn Layer,
        optimizer: &mut dyn Optimizer,
        train: &Split,
        test: &Split,
        history: History,
    ) -> Result<FitOutcome, TrainError> {
        self.fit_from(model, optimizer, train, test, history, None)
    }

    /// [`fit`](Self::fit), continuing an interrupted epoch: `partial` (from the
    /// checkpoint's [`TrainingState::partial`](crate::TrainingState::partial)) tells how
    /// many batches of epoch `history.completed_epochs() + 1` were already trained and
    /// the running sums of its metrics. `None` starts at the beginning of that epoch.
    ///
    /// If `config.stop` is raised, the loop stops after the current batch, saves a
    /// checkpoint of exactly where it stands (if `config.save_path` is set) and returns
    /// [`TrainError::Interrupted`].
    ///
    /// As with [`fit`](Self::fit), a resumed run's optimizer must have taken the steps
    /// of `history` and `partial` (see `fit` for the recipe, or use
    /// [`fit_resumed`](Self::fit_resumed), which also checks the batch seed).
    ///
    /// # Errors
    /// As [`fit`](Self::fit); [`TrainError::Interrupted`] when stopped;
    /// [`TrainError::Config`] if `partial` does not match this epoch's batches, or if
    /// the optimizer's step count is not that of `history` and `partial`.
    pub fn fit_from(
        &mut self,
        model: &mut dyn Layer,
        optimizer: &mut dyn Optimizer,
        train: &Split,
        test: &Split,
        history: History,
        partial: Option<PartialEpoch>,
    ) -> Result<FitOutcome, TrainError> {
        check_splits(train, test)?;
        // Two pieces of state of one name would share the optimizer's state and could
        // not both be saved: refused before the first step, as `save_model` refuses them.
        contract::check_state_names(model)?;
        let config = &self.config;
        // The schedule counts steps in a u64: a run too long to count would wrap.
        let steps_per_epoch = train.len().div_ceil(config.batch.batch_size) as u64;
        if steps_per_epoch.checked_mul(config.epochs as u64).is_none() {
            return Err(TrainError::config(format!(
                "{} epochs of {steps_per_epoch} steps is more steps than can be counted",
                config.epochs
            )));
        }
        check_resumed_steps(optimizer, &history, partial.as_ref(), steps_per_epoch)?;
        // A checkpoint that cannot be written fails now, not after the first epoch.
        if let Some(path) = &config.save_path {
            check_writable(path).map_err(|source| CheckpointError::Write {
                path: path.clone(),
                source,
            })?;
        }
        // One run at a time saves to a file: held until `fit` returns.
        let save_lock = match &config.save_path {
            Some(path) => Some(SaveLock::acquire(path)?),
            None => None,
        };
        let engine = match (&self.factory, self.replicas_for(model)) {
            (Some(factory), Some(threads)) => Engine::Replicas(DataParallel::with_replicas(
                config.shard_size,
                threads,
                factory,
                model,
            )?),
            _ => Engine::Plain,
        };
        let best = (config.best_path.as_deref())
            .map(|path| BestCheckpoint::open(path, model, &history))
            .transpose()?;
        let mut run = Run::new(config, engine, history, optimizer, train.len());
        run.best = best;
        run.diagnostics = self
            .diagnostics
            .clone()
            .map(|d| (probe_batch(test, d.config().probe_size), d));
        run.on_batches = self.on_batches.as_mut().map(|(every, c)| (*every, c));
        for leftover in save_lock.iter().flat_map(|lock| lock.removed_leftovers()) {
            run.progress.println(&format!(
                "removed a leftover temporary file {} from an interrupted save",
                leftover.display()
            ));
        }
        let result = run.epochs(
            model,
            optimizer,
            train,
            test,
            partial,
            &mut self.on_epoch_end,
        );
        if result.is_err() {
            run.progress.abandon();
        }
        // The optimizer goes back at the schedule's base, so that a later `fit` with
        // it (after a `Break` or an interruption) continues the schedule instead of
        // taking the last scheduled rate as its new base.
        optimizer.set_learning_rate(run.base_lr);
        drop(save_lock);
        result
    }
}

/// Who computes a step: [`train_step`] on the model itself, or the data-parallel
/// engine on replicas.
enum Engine {
    Plain,
    Replicas(DataParallel),
}

impl Engine {
    /// One training step on `batch`, and `meanwhile` (the next batch's assembly): by
    /// a replica that has run out of shards, or after the step.
    fn train_step_and<T: Send>(
        &mut self,
        model: &mut dyn Layer,
        optimizer: &mut dyn Optimizer,
        batch: &Batch,
        meanwhile: impl FnOnce() -> T + Send,
    ) -> (Result<StepOutcome, TrainError>, T) {
        let (images, labels) = (batch.images.view(), &batch.labels[..]);
        match self {
            Engine::Plain => (train_step(model, optimizer, images, labels), meanwhile()),
            Engine::Replicas(engine) => {
                engine.train_step_and(model, optimizer, images, labels, meanwhile)
            }
        }
    }

    fn evaluate(
        &mut self,
        model: &mut dyn Layer,
        split: &Split,
        batch_size: usize,
    ) -> Result<Evaluation, TrainError> {
        match self {
            Engine::Plain => evaluate(model, split, batch_size),
            Engine::Replicas(engine) => engine.evaluate(model, split, batch_size),
        }
    }
}

/// The state of one [`Trainer::fit_from`] call.
struct Run<'a> {
    config: &'a TrainConfig,
    engine: Engine,
    progress: Progress,
    /// Every completed epoch, including those before a resume.
    history: History,
    /// The last checkpoint saved (or resumed from), named by a NaN error.
    last_checkpoint: Option<SavedCheckpoint>,
    /// Whether this call has taken an optimizer step: a stop before the first saves
    /// nothing, for there is nothing new to save.
    stepped: bool,
    /// The optimizer's learning rate when `fit` started: the schedule's base.
    base_lr: f32,
    steps_per_epoch: u64,
    /// The recorder and its probe batch (none if it would be empty).
    diagnostics: Option<(Option<Array4<f32>>, Diagnostics)>,
    /// Called every so many batches.
    on_batches: Option<(usize, &'a mut BatchCallback)>,
    /// The best epoch's checkpoint, if kept (`config.best_path`).
    best: Option<BestCheckpoint>,
}

/// An epoch being trained: where it stands, and when this call started on it.
struct EpochState {
    epoch: usize,
    /// Batches done, running sums, and the seconds spent before this call.
    done: PartialEpoch,
    started: Instant,
}

impl EpochState {
    /// Where the epoch stands now, with the seconds spent on it so far.
    fn now(&self) -> PartialEpoch {
        PartialEpoch {
            seconds: self.done.seconds + self.started.elapsed().as_secs_f64(),
            ..self.done.clone()
        }
    }
}

impl<'a> Run<'a> {
    fn new(
        config: &'a TrainConfig,
        engine: Engine,
        history: History,
        optimizer: &dyn Optimizer,
        train_len: usize,
    ) -> Self {
        Self {
            config,
            engine,
            progress: Progress::new(config.progress),
            history,
            last_checkpoint: None,
            stepped: false,
            base_lr: optimizer.learning_rate(),
            steps_per_epoch: train_len.div_ceil(config.batch.batch_size) as u64,
            diagnostics: None,
            on_batches: None,
            best: None,
        }
    }

    /// Trains the epochs left, evaluating and saving after each.
    fn epochs(
        &mut self,
        model: &mut dyn Layer,
        optimizer: &mut dyn Optimizer,
        train: &Split,
        test: &Split,
        mut partial: Option<PartialEpoch>,
        on_epoch_end: &mut Option<EpochCallback>,
    ) -> Result<FitOutcome, TrainError> {
        let first_epoch = self.history.completed_epochs() + 1;
        self.last_checkpoint = self
            .config
            .resumed_from
            .clone()
            .map(|path| SavedCheckpoint {
                path,
                epochs_done: first_epoch - 1,
                batches_done: partial.as_ref().map_or(0, |p| p.batches_done),
            });
        let mut trained_epochs = Vec::new();
        let mut evaluation = None;
        for epoch in first_epoch..=self.config.epochs {
            let done = self.train_epoch(epoch, model, optimizer, train, partial.take())?;
            let (metrics, result) = self.end_epoch(epoch, &done, model, optimizer, test)?;
            if let Some((Some(probe), diagnostics)) = &self.diagnostics {
                let lr = optimizer.learning_rate();
                diagnostics.end_epoch(epoch, lr, model, probe, &result, test)?;
            }
            trained_epochs.push(epoch);
            evaluation = Some(result);
            if let Some(callback) = on_epoch_end {
                if callback(&metrics).is_break() {
                    break;
                }
            }
        }
        let evaluation = match evaluation {
            Some(e) => e,
            None => self
                .engine
                .evaluate(model, test, self.config.eval_batch_size)?,
        };
        Ok(FitOutcome {
            history: std::mem::take(&mut self.history),
            trained_epochs,
            evaluation,
        })
    }

    /// Trains the batches of `epoch` (those after `partial`'s, for a resumed one) and
    /// returns where the epoch ended.
    fn train_epoch(
        &mut self,
        epoch: usize,
        model: &mut dyn Layer,
        optimizer: &mut dyn Optimizer,
        train: &Split,
        partial: Option<PartialEpoch>,
    ) -> Result<PartialEpoch, TrainError> {
        let mut batches = train.batches(&self.config.batch, (epoch - 1) as u64);
        let resumed = resume_point(partial, epoch, batches.len())?;
        if resumed.batches_done > 0 {
            // The order of an epoch is a function of (seed, epoch): skip what was trained.
            batches.nth(resumed.batches_done - 1);
        }
        self.stop_if_asked(epoch, &resumed, model, optimizer)?;
        self.progress
            .start_epoch(epoch, self.config.epochs, &resumed);
        let mut epoch_state = EpochState {
            epoch,
            done: resumed,
            started: Instant::now(),
        };
        // The batch loop runs on a thread of the rayon pool (see `on_pool`).
        on_pool(|| self.train_batches(&mut epoch_state, batches, model, optimizer))?;
        Ok(epoch_state.now())
    }

    /// The batch loop of an epoch: a step per batch, then the sums, the progress bar
    /// and a stop if asked.
    fn train_batches(
        &mut self,
        epoch_state: &mut EpochState,
        mut batches: Batches<'_>,
        model: &mut dyn Layer,
        optimizer: &mut dyn Optimizer,
    ) -> Result<(), TrainError> {
        // The pool's other threads wait for each step's parallel work awake, not asleep
        // (the reference kernels have none).
        let _awake = (!use_reference()).then(KeepAwake::start);
        let mut next = batches.next();
        while let Some(batch) = next.take() {
            let lr = self.learning_rate(epoch_state.epoch, epoch_state.done.batches_done);
            let before = self.diagnostics.as_ref().and_then(|(_, d)| {
                let step = self.step_index(epoch_state.epoch, epoch_state.done.batches_done);
                d.before_step(step, model)
            });
            // The next batch is assembled by the first replica out of shards, off the
            // serial path (without replicas: after the step).
            let (outcome, following) =
                self.step_at(lr, model, optimizer, &batch, || batches.next());
            next = following;
            let outcome = self.finite(outcome?, epoch_state)?;
            self.stepped = true;
            let done = &mut epoch_state.done;
            done.batches_done += 1;
            done.loss_sum += outcome.loss * batch.len() as f64;
            done.correct += outcome.correct;
            done.samples += batch.len();
            if let Some((_, diagnostics)) = &self.diagnostics {
                if let Some(before) = before {
                    diagnostics.after_step(before, epoch_state.epoch, done.batches_done, lr, model);
                }
                let (epoch, batches) = (epoch_state.epoch, done.batches);
                let (samples, loss) = (batch.len(), outcome.loss);
                diagnostics.after_batch(
                    epoch,
                    done.batches_done,
                    batches,
                    samples,
                    loss,
                    outcome.correct,
                );
            }
            self.progress.batch_done(done);
            if let Some((every, callback)) = &mut self.on_batches {
                let done = &epoch_state.done;
                if *every > 0 && done.batches_done % *every == 0 && done.batches_done < done.batches
                {
                    callback(epoch_state.epoch, &epoch_state.now());
                }
            }
            self.stop_if_asked(epoch_state.epoch, &epoch_state.now(), model, optimizer)?;
        }
        Ok(())
    }

    /// The step over the whole run (from 0) of batch `batch_index` (from 0) of `epoch`.
    fn step_index(&self, epoch: usize, batch_index: usize) -> u64 {
        (epoch as u64 - 1) * self.steps_per_epoch + batch_index as u64
    }

    /// The schedule's learning rate for batch `batch_index` (from 0) of `epoch`.
    fn learning_rate(&self, epoch: usize, batch_index: usize) -> f32 {
        let steps_per_epoch = self.steps_per_epoch;
        self.config.schedule.learning_rate(
            self.base_lr,
            SchedulePosition {
                step: self.step_index(epoch, batch_index),
                steps_per_epoch,
                total_steps: steps_per_epoch * self.config.epochs as u64,
            },
        )
    }

    /// One step with learning rate `lr`; a step that fails or meets a non-finite loss
    /// leaves the optimizer's learning rate as it was (and the step changes nothing).
    fn step_at<T: Send>(
        &mut self,
        lr: f32,
        model: &mut dyn Layer,
        optimizer: &mut dyn Optimizer,
        batch: &Batch,
        meanwhile: impl FnOnce() -> T + Send,
    ) -> (Result<StepOutcome, TrainError>, T) {
        let previous_lr = optimizer.learning_rate();
        optimizer.set_learning_rate(lr);
        let (outcome, result) = self
            .engine
            .train_step_and(model, optimizer, batch, meanwhile);
        if !matches!(&outcome, Ok(o) if o.loss.is_finite()) {
            optimizer.set_learning_rate(previous_lr);
        }
        (outcome, result)
    }

    /// `outcome`, or the error naming the batch if its loss is NaN or infinite.
    fn finite(
        &self,
        outcome: StepOutcome,
        epoch_state: &EpochState,
    ) -> Result<StepOutcome, TrainError> {
        if outcome.loss.is_finite() {
            return Ok(outcome);
        }
        Err(TrainError::NonFiniteLoss {
            epoch: epoch_state.epoch,
            batch: epoch_state.done.batches_done + 1,
            batches: epoch_state.done.batches,
            loss: outcome.loss as f32,
            last_checkpoint: self.last_checkpoint.clone(),
        })
    }

    /// If a stop was asked for, saves a checkpoint of where the run stands (`done`
    /// into `epoch`) when there is a save path, and returns
    /// [`TrainError::Interrupted`]. Saves nothing when a second interruption already
    /// chose to exit at once (see [`StopFlag::finish`]), nor before this call's first
    /// step: the file at the save path (the checkpoint resumed from, or another run's)
    /// is then left as it was, and a resumed run names the checkpoint it resumed from.
    fn stop_if_asked(
        &self,
        epoch: usize,
        done: &PartialEpoch,
        model: &dyn Layer,
        optimizer: &dyn Optimizer,
    ) -> Result<(), TrainError> {
        if !self.config.stop.is_raised() {
            return Ok(());
        }
        let mut checkpoint = None;
        // A second interruption may have decided to exit at once: then the process is
        // exiting without a checkpoint, and none may appear after it said so.
        let may_save = self.config.stop.finish();
        if !self.stepped {
            checkpoint = (self.last_checkpoint.as_ref()).map(|saved| saved.path.clone());
        } else if let (Some(path), true) = (&self.config.save_path, may_save) {
            self.refuse_diverged(epoch, model, optimizer, None)?;
            let mut c = self.checkpoint(model, optimizer, epoch - 1);
            if let Some(state) = c.training.as_mut() {
                state.partial = (done.batches_done > 0).then(|| done.clone());
            }
            c.save(path)?;
            checkpoint = Some(path.clone());
        }
        Err(TrainError::Interrupted {
            epoch,
            batch: done.batches_done,
            batches: done.batches,
            checkpoint,
        })
    }

    /// [`TrainError::Diverged`] if a parameter of `model`, a tensor of `optimizer`'s
    /// state or the `test_loss` is NaN or infinite: such a model is never saved (a
    /// batch's loss can be finite while its step overflows the weights).
    fn refuse_diverged(
        &self,
        epoch: usize,
        model: &dyn Layer,
        optimizer: &dyn Optimizer,
        test_loss: Option<f64>,
    ) -> Result<(), TrainError> {
        let finite = |values: &ndarray::ArrayD<f32>| values.iter().all(|v| v.is_finite());
        let parameter = model
            .parameters()
            .into_iter()
            .find(|(_, p)| !finite(&p.value))
            .map(|(name, _)| name);
        let state = || {
            let state = optimizer.state();
            let name = state
                .tensors
                .iter()
                .find(|(_, t)| !finite(t))
                .map(|(n, _)| n);
            name.map(|name| format!("the optimizer's {name}"))
        };
        let what = match (parameter.or_else(state), test_loss) {
            (Some(name), _) => format!("{name} holds NaN or infinite values"),
            (None, Some(loss)) if !loss.is_finite() => format!("the test loss is {loss}"),
            (None, _) => return Ok(()),
        };
        Err(TrainError::Diverged {
            epoch,
            what,
            last_checkpoint: self.last_checkpoint.clone(),
        })
    }

    /// A checkpoint of `model` and `optimizer` after `epochs_done` epochs, with the
    /// run's seed, history and metadata.
    fn checkpoint(
        &self,
        model: &dyn Layer,
        optimizer: &dyn Optimizer,
        epochs_done: usize,
    ) -> Checkpoint {
        let config = self.config;
        let mut checkpoint = Checkpoint::for_training(
            model,
            optimizer,
            epochs_done,
            config.batch.seed,
            &self.history,
        );
        checkpoint.metadata = config.checkpoint_metadata.clone();
        checkpoint
    }

    /// After the batches of `epoch`: evaluation, metrics, progress, history and the
    /// epoch's checkpoint.
    fn end_epoch(
        &mut self,
        epoch: usize,
        done: &PartialEpoch,
        model: &mut dyn Layer,
        optimizer: &dyn Optimizer,
        test: &Split,
    ) -> Result<(EpochMetrics, Evaluation), TrainError> {
        let result = self
            .engine
            .evaluate(model, test, self.config.eval_batch_size)?;
        let metrics = EpochMetrics {
            epoch,
            train_loss: done.mean_loss(),
            train_accuracy: done.accuracy(),
            test_loss: result.loss,
            test_accuracy: result.accuracy,
            seconds: done.seconds,
            samples_per_second: done.samples as f64 / done.seconds.max(1e-9),
        };
        self.refuse_diverged(epoch, model, optimizer, Some(result.loss))?;
        self.progress
            .finish_epoch(&metrics, optimizer.learning_rate());
        self.history.push(metrics.clone());
        if let Some(path) = &self.config.save_path {
            self.checkpoint(model, optimizer, epoch).save(path)?;
            self.last_checkpoint = Some(SavedCheckpoint {
                path: path.clone(),
                epochs_done: epoch,
                batches_done: 0,
            });
        }
        if self
            .best
            .as_ref()
            .is_some_and(|b| b.is_beaten_by(metrics.test_loss))
        {
            let checkpoint = self.checkpoint(model, optimizer, epoch);
            if let Some(best) = &mut self.best {
                best.replace(&checkpoint, metrics.test_loss)?;
            }
        }
        Ok((metrics, result))
    }
}

/// A [`TrainError::Config`] for an empty training or test split.
fn check_splits(train: &Split, test: &Split) -> Result<(), TrainError> {
    if train.is_empty() {
        return Err(TrainError::config("the training split is empty"));
    }
    if test.is_empty() {
        return Err(TrainError::config(
            "the test split is empty: each epoch is evaluated on it, so it needs at least one image",
        ));
    }
    Ok(())
}

/// Where epoch `epoch` of `batches` batches starts: after `partial`'s batches (the
/// first epoch of a resumed run), else at its beginning.
fn resume_point(
    partial: Option<PartialEpoch>,
    epoch: usize,
    batches: usize,
) -> Result<PartialEpoch, TrainError> {
    let resumed = partial.unwrap_or(PartialEpoch {
        batches,
        ..PartialEpoch::default()
    });
    if resumed.batches != batches || resumed.batches_done > batches {
        return Err(TrainError::config(format!(
            "the checkpoint stopped after batch {} of {} of epoch {epoch}, but this epoch has {batches} batches: resume with the same data and batch size",
            resumed.batches_done, resumed.batches
        )));
    }
    Ok(resumed)
}

/// The first `size` images of `test` (all if fewer), as evaluation sees them; `None`
/// for an empty split.
fn probe_batch(test: &Split, size: usize) -> Option<Array4<f32>> {
    let size = size.min(test.len());
    let config = BatchConfig {
        batch_size: size.max(1),
        shuffle: false,
        seed: 0,
        augment: false,
    };
    let probe = test.take(size);
    let mut batches = probe.batches(&config, 0);
    (size > 0)
        .then(|| batches.next())
        .flatten()
        .map(|b| b.images)
}

/// Runs `work` on a thread of the current rayon pool (at once if this thread is one).
///
/// Called from outside the pool, every parallel region of a training step would hand
/// its work to the pool's threads and wake this one when done, and the serial part
/// of the step (the optimizer, the next batch) would then compete for the cores with
/// pool threads still spinning for work. On a pool thread the step's own thread
/// computes a share of every parallel region and the serial part runs where the data is.
///
/// On the reference kernels nothing in the step is parallel: it runs on the caller's thread,
/// so that a reader (or a debugger) following a gradient meets no thread pool.
fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() || use_reference() {
        work()
    } else {
        rayon::scope(|_| work())
    }
}
