//! The training loop.

use crate::parallel::has_state;
use crate::progress::Progress;
use crate::{
    evaluate, Checkpoint, DataParallel, EpochMetrics, Evaluation, History, LrSchedule,
    ModelFactory, Optimizer, PartialEpoch, ProgressMode, SavedCheckpoint, SchedulePosition,
    TrainError,
};
use scratchnet_data::{BatchConfig, Split};
use scratchnet_layers::Layer;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A request to stop training, shared between the training loop and whoever asks
/// (a Ctrl-C handler, another thread, a test).
///
/// [`Trainer::fit`] looks at it after every batch (and before every epoch): once it is
/// raised, the loop saves a checkpoint of exactly where it stands — the epoch, the
/// batches of it already trained, the running sums of its metrics, the optimizer
/// state, the history — and returns [`TrainError::Interrupted`]. Resuming from that
/// checkpoint continues with the next batch, bit for bit as if never stopped.
///
/// Clones share the same flag; two flags are equal when they are the same flag.
///
/// ```
/// use scratchnet_train::StopFlag;
/// let stop = StopFlag::new();
/// let handle = stop.clone(); // e.g. moved into a Ctrl-C handler
/// assert!(!stop.is_raised());
/// handle.raise();
/// assert!(stop.is_raised());
/// ```
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag that is not raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the training loop to stop after the current batch.
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The shared boolean itself (for handlers that want an `Arc<AtomicBool>`).
    pub fn as_atomic(&self) -> &Arc<AtomicBool> {
        &self.0
    }
}

impl From<Arc<AtomicBool>> for StopFlag {
    fn from(flag: Arc<AtomicBool>) -> Self {
        Self(flag)
    }
}

impl PartialEq for StopFlag {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// How to train.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Total epochs of the run, counting those a resumed run already has. Default 3.
    pub epochs: usize,
    /// Batch size, shuffling, seed and augmentation of the training batches. The
    /// order of epoch `e` depends only on `batch.seed` and `e`.
    pub batch: BatchConfig,
    /// Samples per evaluation batch. Default 1000.
    pub eval_batch_size: usize,
    /// The learning-rate schedule, relative to the optimizer's rate when `fit` starts.
    pub schedule: LrSchedule,
    /// Samples per gradient shard (see [`DataParallel`]). Default 16. Models with
    /// buffers (batch norm) or counters (dropout) ignore it and compute each batch in
    /// one piece.
    pub shard_size: usize,
    /// Replicas to compute on when a [`ModelFactory`] is given; `0` means one per
    /// thread of the rayon pool. Default 0.
    pub threads: usize,
    /// Where to save a checkpoint (weights and training state) after every epoch.
    pub save_path: Option<PathBuf>,
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
            eval_batch_size: 1000,
            schedule: LrSchedule::Constant,
            shard_size: 16,
            threads: 0,
            save_path: None,
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

/// Trains a model with softmax cross-entropy, epoch after epoch, evaluating on a test
/// split after each and saving a checkpoint if asked.
///
/// Each step: `zero_grad`, forward in `Mode::Train`, loss, backward (on gradient
/// shards, see [`DataParallel`]), learning rate from the schedule, optimizer step. A
/// loss that is NaN or infinite stops training at once with
/// [`TrainError::NonFiniteLoss`], before that batch changes anything.
pub struct Trainer {
    config: TrainConfig,
    factory: Option<ModelFactory>,
    on_epoch_end: Option<EpochCallback>,
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
        })
    }

    /// Computes gradients and evaluations on replicas made by `factory`, in parallel
    /// on the rayon pool (results do not depend on the number of threads).
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

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Trains `model` on `train` from the end of `history` (empty for a fresh run; a
    /// resumed run passes its checkpoint's history, having restored the weights and
    /// the optimizer state) up to `config.epochs`, evaluating on `test` after each
    /// epoch.
    ///
    /// The schedule's base rate is the optimizer's learning rate when `fit` starts.
    ///
    /// # Errors
    /// [`TrainError::NonFiniteLoss`] naming the epoch and batch; layer errors; a
    /// checkpoint that cannot be written; [`TrainError::Config`] for an empty
    /// training split.
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
    /// # Errors
    /// As [`fit`](Self::fit); [`TrainError::Interrupted`] when stopped;
    /// [`TrainError::Config`] if `partial` does not match this epoch's batches.
    pub fn fit_from(
        &mut self,
        model: &mut dyn Layer,
        optimizer: &mut dyn Optimizer,
        train: &Split,
        test: &Split,
        history: History,
        partial: Option<PartialEpoch>,
    ) -> Result<FitOutcome, TrainError> {
        if train.is_empty() {
            return Err(TrainError::config("the training split is empty"));
        }
        let config = &self.config;
        let mut engine = match &self.factory {
            // Batch statistics (a model with buffers) need the whole batch at once, and
            // counters (dropout's) must advance on the model itself, once per batch.
            _ if has_state(model) => DataParallel::sequential(config.batch.batch_size)?,
            Some(factory) => {
                let threads = match config.threads {
                    0 => rayon::current_num_threads(),
                    t => t,
                };
                DataParallel::with_replicas(config.shard_size, threads, factory, model)?
            }
            None => DataParallel::sequential(config.shard_size)?,
        };
        let mut progress = Progress::new(config.progress);
        let result = run_epochs(
            config,
            model,
            optimizer,
            train,
            test,
            history,
            partial,
            &mut engine,
            &mut progress,
            &mut self.on_epoch_end,
        );
        if result.is_err() {
            progress.abandon();
        }
        result
    }
}

#[allow(clippy::too_many_arguments)]
fn run_epochs(
    config: &TrainConfig,
    model: &mut dyn Layer,
    optimizer: &mut dyn Optimizer,
    train: &Split,
    test: &Split,
    mut history: History,
    mut partial: Option<PartialEpoch>,
    engine: &mut DataParallel,
    progress: &mut Progress,
    on_epoch_end: &mut Option<EpochCallback>,
) -> Result<FitOutcome, TrainError> {
    let base_lr = optimizer.learning_rate();
    let steps_per_epoch = train.len().div_ceil(config.batch.batch_size) as u64;
    let total_steps = steps_per_epoch * config.epochs as u64;
    let first_epoch = history.completed_epochs() + 1;
    let mut last_checkpoint = config.resumed_from.clone().map(|path| SavedCheckpoint {
        path,
        epochs_done: first_epoch - 1,
        batches_done: partial.as_ref().map_or(0, |p| p.batches_done),
    });
    let mut trained_epochs = Vec::new();
    let mut evaluation = None;
    for epoch in first_epoch..=config.epochs {
        let mut batches = train.batches(&config.batch, (epoch - 1) as u64);
        let num_batches = batches.len();
        // Where an interrupted epoch stopped (only the first epoch of a resumed run).
        let resumed = partial.take().unwrap_or(PartialEpoch {
            batches_done: 0,
            batches: num_batches,
            loss_sum: 0.0,
            correct: 0,
            samples: 0,
            seconds: 0.0,
        });
        if resumed.batches != num_batches || resumed.batches_done > num_batches {
            return Err(TrainError::config(format!(
                "the checkpoint stopped after batch {} of {} of epoch {epoch}, but this epoch has {num_batches} batches: resume with the same data and batch size",
                resumed.batches_done, resumed.batches
            )));
        }
        let first_batch = resumed.batches_done;
        if first_batch > 0 {
            // The order of an epoch is a function of (seed, epoch): skip what was trained.
            batches.nth(first_batch - 1);
        }
        let (mut loss_sum, mut correct, mut samples) =
            (resumed.loss_sum, resumed.correct, resumed.samples);
        // Stops here, saving where the run stands, if asked to.
        let stop_after = |done: usize,
                          loss_sum: f64,
                          correct: usize,
                          samples: usize,
                          seconds: f64,
                          model: &dyn Layer,
                          optimizer: &dyn Optimizer|
         -> Result<(), TrainError> {
            if !config.stop.is_raised() {
                return Ok(());
            }
            let mut checkpoint = None;
            if let Some(path) = &config.save_path {
                let mut c = Checkpoint::for_training(
                    model,
                    optimizer,
                    epoch - 1,
                    config.batch.seed,
                    &history,
                );
                if let Some(state) = c.training.as_mut() {
                    state.partial = (done > 0).then_some(PartialEpoch {
                        batches_done: done,
                        batches: num_batches,
                        loss_sum,
                        correct,
                        samples,
                        seconds,
                    });
                }
                c.metadata = config.checkpoint_metadata.clone();
                c.save(path)?;
                checkpoint = Some(path.clone());
            }
            Err(TrainError::Interrupted {
                epoch,
                batch: done,
                batches: num_batches,
                checkpoint,
            })
        };
        stop_after(
            first_batch,
            loss_sum,
            correct,
            samples,
            resumed.seconds,
            model,
            optimizer,
        )?;
        progress.start_epoch(epoch, config.epochs, num_batches);
        let started = Instant::now();
        // The batch loop runs on a thread of the rayon pool (see `on_pool`).
        on_pool(|| -> Result<(), TrainError> {
            let mut next = batches.next();
            let mut index = first_batch;
            while let Some(batch) = next.take() {
                let step = (epoch as u64 - 1) * steps_per_epoch + index as u64;
                let lr = config.schedule.learning_rate(
                    base_lr,
                    SchedulePosition {
                        step,
                        steps_per_epoch,
                        total_steps,
                    },
                );
                model.zero_grad();
                // The next batch is assembled by the first thread out of shards, off
                // the serial path (on a single thread: afterwards).
                let next_batch = || batches.next();
                let (outcome, following) =
                    engine.gradient_and(model, batch.images.view(), &batch.labels, next_batch);
                let outcome = outcome?;
                next = following;
                if !outcome.loss.is_finite() {
                    return Err(TrainError::NonFiniteLoss {
                        epoch,
                        batch: index + 1,
                        batches: num_batches,
                        loss: outcome.loss as f32,
                        last_checkpoint: last_checkpoint.clone(),
                    });
                }
                optimizer.set_learning_rate(lr);
                optimizer.step(model);
                loss_sum += outcome.loss * batch.len() as f64;
                correct += outcome.correct;
                samples += batch.len();
                progress.batch_done(
                    index + 1,
                    loss_sum / samples as f64,
                    correct as f64 / samples as f64,
                    samples - resumed.samples,
                );
                stop_after(
                    index + 1,
                    loss_sum,
                    correct,
                    samples,
                    resumed.seconds + started.elapsed().as_secs_f64(),
                    model,
                    optimizer,
                )?;
                index += 1;
            }
            Ok(())
        })?;
        let seconds = resumed.seconds + started.elapsed().as_secs_f64();
        let result = evaluate(model, engine, test, config.eval_batch_size)?;
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / samples.max(1) as f64,
            train_accuracy: correct as f64 / samples.max(1) as f64,
            test_loss: result.loss,
            test_accuracy: result.accuracy,
            seconds,
            samples_per_second: samples as f64 / seconds.max(1e-9),
        };
        progress.finish_epoch(&metrics, optimizer.learning_rate());
        history.push(metrics.clone());
        trained_epochs.push(epoch);
        evaluation = Some(result);
        if let Some(path) = &config.save_path {
            let mut checkpoint =
                Checkpoint::for_training(model, optimizer, epoch, config.batch.seed, &history);
            checkpoint.metadata = config.checkpoint_metadata.clone();
            checkpoint.save(path)?;
            last_checkpoint = Some(SavedCheckpoint {
                path: path.clone(),
                epochs_done: epoch,
                batches_done: 0,
            });
        }
        if let Some(callback) = on_epoch_end {
            if callback(&metrics).is_break() {
                break;
            }
        }
    }
    let evaluation = match evaluation {
        Some(e) => e,
        None => evaluate(model, engine, test, config.eval_batch_size)?,
    };
    Ok(FitOutcome {
        history,
        trained_epochs,
        evaluation,
    })
}

/// Runs `work` on a thread of the current rayon pool (at once if this thread is one).
///
/// Called from outside the pool, every parallel region of a training step would hand
/// its work to the pool's threads and wake this one when done, and the serial part
/// of the step (the optimizer, the next batch) would then compete for the cores with
/// pool threads still spinning for work. On a pool thread the step's own thread
/// computes a share of every parallel region and the serial part runs where the data is.
fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        work()
    } else {
        rayon::scope(|_| work())
    }
}
