//! A whole training run, as the `mnist_lenet` and `mnist_modern` examples perform it:
//! load the data, build (any [`ModelSpec`], LeNet-5 by default) or resume the model,
//! train, report.

use crate::models::lenet5;
use crate::predictions_file::write_predictions;
use crate::progress::group_thousands;
use crate::{
    plot_history, Adam, AdamConfig, Checkpoint, CheckpointError, FitOutcome, History, LrSchedule,
    MetricsReport, ModelFactory, Optimizer, ProgressMode, Sgd, SgdConfig, StopFlag, TrainConfig,
    TrainError, Trainer,
};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_data::{load, load_or_download, BatchConfig, Dataset, DatasetKind};
use scratchnet_layers::{Layer, Sequential, Summary};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

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

/// The model a run trains: a name, stored in its checkpoints' metadata as `model`,
/// and a function building it (already [`build`](Sequential::build)-checked for
/// `[1, 28, 28]` inputs, ending in 10 logits) from a seeded generator.
///
/// The function is called for the model itself (with the run's seed) and, when the
/// model has no buffers, for one replica per thread (see [`ModelFactory`]).
///
/// ```
/// use scratchnet_train::run::{ModelSpec, RunConfig};
/// let config = RunConfig { model: ModelSpec::new("lenet5", scratchnet_train::models::lenet5), ..RunConfig::default() };
/// assert_eq!(config.model, ModelSpec::lenet5());
/// ```
#[derive(Clone, Copy)]
pub struct ModelSpec {
    /// The model's name (`"lenet5"`).
    pub name: &'static str,
    /// Builds the model from a seeded generator.
    pub build: fn(&mut StdRng) -> Sequential,
}

impl ModelSpec {
    /// A model called `name` built by `build`.
    pub fn new(name: &'static str, build: fn(&mut StdRng) -> Sequential) -> Self {
        Self { name, build }
    }

    /// LeNet-5 ([`lenet5`]), the default.
    pub fn lenet5() -> Self {
        Self::new("lenet5", lenet5)
    }
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self::lenet5()
    }
}

impl PartialEq for ModelSpec {
    /// Models are compared by name.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl fmt::Debug for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Everything a run needs. `None` means the default — or, when resuming, the value
/// the checkpoint was trained with.
///
/// The default recipe: Adam, learning rate 0.005 decayed to 0 by a cosine over the
/// whole run (stepped every batch), batch 64, seed 0: three epochs reach about 99.1%
/// on the MNIST test set.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// The model (default LeNet-5).
    pub model: ModelSpec,
    /// Shift training images by up to two pixels ([`BatchConfig::augment`]); default off.
    pub augment: bool,
    /// Where the four IDX files are; `None`: `$MNIST_DIR`, else `<workspace>/data/mnist`,
    /// downloading the files there if they are missing. An explicit directory is only
    /// read, never downloaded into.
    pub data_dir: Option<PathBuf>,
    /// MNIST or Fashion-MNIST.
    pub dataset: DatasetKind,
    /// Total epochs, counting those of the checkpoint resumed from.
    pub epochs: usize,
    /// Training batch size (default 64).
    pub batch_size: Option<usize>,
    /// The optimizer (default Adam).
    pub optimizer: Option<OptimizerKind>,
    /// The base learning rate (default [`OptimizerKind::default_learning_rate`]).
    pub lr: Option<f32>,
    /// The schedule (default cosine).
    pub schedule: Option<ScheduleKind>,
    /// Threads of the rayon pool, reported in the metrics; one model replica each.
    pub threads: usize,
    /// Seed of the weights, the batch order and augmentation (default 0).
    pub seed: Option<u64>,
    /// Train on the first `n` training images only.
    pub limit_train: Option<usize>,
    /// Save a checkpoint here after every epoch.
    pub save: Option<PathBuf>,
    /// Resume from this checkpoint (weights, optimizer state, epoch, seed, history).
    pub resume: Option<PathBuf>,
    /// Write the metrics JSON ([`MetricsReport`]) here.
    pub metrics: Option<PathBuf>,
    /// Draw the loss and accuracy curves to this SVG.
    pub plot: Option<PathBuf>,
    /// Write the final model's test-set logits and predictions here (safetensors, see
    /// [`write_predictions`]).
    pub predictions: Option<PathBuf>,
    /// Progress output; `Quiet` also silences the summary and the final report.
    pub progress: ProgressMode,
    /// Raised (by a Ctrl-C handler) to stop after the current batch: the run saves a
    /// checkpoint to `save` that resumes exactly there and returns
    /// [`TrainError::Interrupted`].
    pub stop: StopFlag,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            model: ModelSpec::lenet5(),
            augment: false,
            data_dir: None,
            dataset: DatasetKind::Mnist,
            epochs: 3,
            batch_size: None,
            optimizer: None,
            lr: None,
            schedule: None,
            threads: 1,
            seed: None,
            limit_train: None,
            save: None,
            resume: None,
            metrics: None,
            plot: None,
            predictions: None,
            progress: ProgressMode::Auto,
            stop: StopFlag::new(),
        }
    }
}

/// What [`run`] did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The model summary printed at the start.
    pub summary: Summary,
    /// The settings used, after defaults and the checkpoint were applied.
    pub settings: RunSettings,
    /// The history, the epochs trained by this run, and the final evaluation.
    pub outcome: FitOutcome,
}

/// The resolved settings of a run (stored in its checkpoints' metadata).
#[derive(Clone, Debug, PartialEq)]
pub struct RunSettings {
    /// Training batch size.
    pub batch_size: usize,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// The base learning rate.
    pub lr: f32,
    /// The schedule.
    pub schedule: ScheduleKind,
    /// The seed.
    pub seed: u64,
    /// The training subset, if limited.
    pub limit_train: Option<usize>,
}

impl RunSettings {
    /// The settings as checkpoint metadata entries.
    fn to_metadata(&self, dataset: DatasetKind, model: &str) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("model".into(), model.into());
        m.insert("dataset".into(), dataset_flag(dataset).into());
        m.insert("batch_size".into(), self.batch_size.to_string());
        m.insert("optimizer".into(), self.optimizer.to_string());
        m.insert("lr".into(), self.lr.to_string());
        m.insert("schedule".into(), self.schedule.to_string());
        m.insert(
            "limit_train".into(),
            self.limit_train
                .map_or_else(|| "none".into(), |n| n.to_string()),
        );
        m
    }
}

/// The `--dataset` value of a kind: `mnist` or `fashion`.
pub fn dataset_flag(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::FashionMnist => "fashion",
        _ => "mnist",
    }
}

/// Runs the `mnist_lenet` example (and `mnist_modern`, with another
/// [`RunConfig::model`]): prints the model summary, loads the data, builds
/// the model (LeNet-5 by default) from the seed (or resumes from a checkpoint), trains up to `epochs` with a
/// checkpoint after each epoch, prints the final test accuracy, per-class accuracy and
/// confusion matrix, and writes the metrics, plot and predictions asked for.
///
/// The caller sets up the rayon pool with `config.threads` threads.
///
/// Its checkpoints carry the run's settings as free-form metadata (`dataset`,
/// `batch_size`, `optimizer`, `lr`, `schedule`, `limit_train`), besides the training
/// state: a resumed run takes every setting that is not given from there, and refuses
/// one that contradicts it.
///
/// # Errors
/// Every failure as a [`TrainError`] with a one-line message: missing data, a
/// checkpoint that does not match or was trained with other settings, a NaN loss, a
/// file that cannot be written; [`TrainError::Interrupted`] when `config.stop` was
/// raised (the checkpoint at `save` then resumes exactly where training stopped, see
/// [`resume_command`]).
pub fn run(config: &RunConfig) -> Result<RunReport, TrainError> {
    let quiet = config.progress == ProgressMode::Quiet;
    let say = |line: &str| {
        if !quiet {
            println!("{line}");
        }
    };
    if config.threads == 0 {
        return Err(TrainError::config("--threads must be at least 1"));
    }
    // Fail before training, not after it, if an output cannot be written.
    for (flag, path) in [
        ("--save", &config.save),
        ("--metrics", &config.metrics),
        ("--plot", &config.plot),
        ("--predictions", &config.predictions),
    ] {
        if let Some(dir) = path.as_deref().and_then(Path::parent) {
            if !dir.as_os_str().is_empty() && !dir.is_dir() {
                return Err(TrainError::config(format!(
                    "{flag} {}: the directory {} does not exist",
                    path.as_deref().unwrap_or(dir).display(),
                    dir.display()
                )));
            }
        }
    }

    let resumed = match &config.resume {
        Some(path) => Some((path.clone(), Checkpoint::load(path)?)),
        None => None,
    };
    let settings = resolve_settings(config, resumed.as_ref())?;
    let build = config.model.build;
    let mut model = build(&mut StdRng::seed_from_u64(settings.seed));
    let summary = model.summary()?;
    say(&summary.to_string());

    // Taken apart, not cloned: a copy of the 47 MB of training images would stay
    // resident for the whole run.
    let Dataset { kind, train, test } = load_data(config)?;
    let train = match settings.limit_train {
        Some(n) => train.take(n),
        None => train,
    };
    let mut optimizer = settings.optimizer.build(settings.lr)?;
    let mut history = History::new();
    let mut partial = None;
    if let Some((path, checkpoint)) = resumed {
        let state = checkpoint
            .training
            .clone()
            .ok_or_else(|| CheckpointError::NoTrainingState { path: path.clone() })?;
        checkpoint.apply_to(&mut model).map_err(|e| e.at(&path))?;
        optimizer
            .load_state(state.optimizer, &model)
            .map_err(|e| e.at(&path))?;
        let begun = state.epoch + usize::from(state.partial.is_some());
        if begun > config.epochs {
            return Err(TrainError::config(format!(
                "{} already has {} epochs, more than --epochs {}",
                path.display(),
                begun,
                config.epochs
            )));
        }
        match &state.partial {
            Some(p) => say(&format!(
                "resuming from {} in epoch {} of {}, after batch {} of {}",
                path.display(),
                state.epoch + 1,
                config.epochs,
                p.batches_done,
                p.batches
            )),
            None => say(&format!(
                "resuming from {} after epoch {} of {}",
                path.display(),
                state.epoch,
                config.epochs
            )),
        }
        history = state.history;
        history.epochs.truncate(state.epoch);
        partial = state.partial;
    }
    say(&format!(
        "{}: {} training and {} test images; {} lr {} with a {} schedule, batch {}, seed {}, {} thread{}",
        kind,
        group_thousands(train.len() as u64),
        group_thousands(test.len() as u64),
        settings.optimizer,
        settings.lr,
        settings.schedule,
        settings.batch_size,
        settings.seed,
        config.threads,
        if config.threads == 1 { "" } else { "s" },
    ));

    let train_config = TrainConfig {
        epochs: config.epochs,
        batch: BatchConfig {
            batch_size: settings.batch_size,
            shuffle: true,
            seed: settings.seed,
            augment: config.augment,
        },
        schedule: settings.schedule.schedule(),
        threads: config.threads,
        save_path: config.save.clone(),
        resumed_from: config.resume.clone(),
        checkpoint_metadata: settings.to_metadata(config.dataset, config.model.name),
        progress: config.progress,
        stop: config.stop.clone(),
        ..TrainConfig::default()
    };
    let factory: ModelFactory = Arc::new(move || Box::new(build(&mut StdRng::seed_from_u64(0))));
    let mut trainer = Trainer::new(train_config)?.with_replicas(factory);
    let outcome = trainer.fit_from(
        &mut model,
        optimizer.as_mut(),
        &train,
        &test,
        history,
        partial,
    )?;

    let evaluation = &outcome.evaluation;
    say(&format!(
        "test accuracy {:.2}% (loss {:.4}) after {} epoch{}",
        100.0 * evaluation.accuracy,
        evaluation.loss,
        outcome.history.completed_epochs(),
        if outcome.history.completed_epochs() == 1 {
            ""
        } else {
            "s"
        },
    ));
    say(&format!(
        "confusion matrix of the test set (rows: true class):\n{}",
        evaluation.confusion
    ));
    if let Some(path) = &config.save {
        if !outcome.trained_epochs.is_empty() {
            say(&format!("checkpoint saved to {}", path.display()));
        }
    }
    if let Some(path) = &config.metrics {
        MetricsReport::new(
            model.num_parameters(),
            dataset_flag(config.dataset),
            config.threads,
            settings.batch_size,
            settings.seed,
            &outcome.history,
            evaluation,
        )
        .write(path)?;
        say(&format!("metrics written to {}", path.display()));
    }
    if let Some(path) = &config.plot {
        plot_history(&outcome.history, path)?;
        say(&format!("plot written to {}", path.display()));
    }
    if let Some(path) = &config.predictions {
        write_predictions(path, evaluation, test.labels())?;
        say(&format!(
            "test-set predictions written to {}",
            path.display()
        ));
    }
    Ok(RunReport {
        summary,
        settings,
        outcome,
    })
}

/// The command line that resumes an interrupted run: `args` (the program and its
/// arguments, as `std::env::args()` gives them) without any `--resume`, then
/// `--resume <checkpoint>`, quoted for a POSIX shell where needed.
///
/// ```
/// use std::path::Path;
/// use scratchnet_train::run::resume_command;
/// let args = ["mnist_lenet", "--epochs", "5", "--resume", "old.st", "--save", "my run.st"].map(String::from);
/// assert_eq!(
///     resume_command(&args, Path::new("my run.st")),
///     "mnist_lenet --epochs 5 --save 'my run.st' --resume 'my run.st'"
/// );
/// ```
pub fn resume_command(args: &[String], checkpoint: &Path) -> String {
    let mut kept: Vec<String> = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
        } else if arg == "--resume" {
            skip_value = true;
        } else if !arg.starts_with("--resume=") {
            kept.push(arg.clone());
        }
    }
    kept.push("--resume".into());
    kept.push(checkpoint.display().to_string());
    kept.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// Loads the dataset: an explicit directory is only read; otherwise the environment
/// or default directory is used and filled by download if needed.
fn load_data(config: &RunConfig) -> Result<Dataset, TrainError> {
    Ok(match &config.data_dir {
        Some(dir) => load(config.dataset, dir)?,
        None => load_or_download(config.dataset, None)?,
    })
}

/// The settings: explicit values, else the checkpoint's, else the defaults. An explicit
/// value that contradicts the checkpoint is an error.
fn resolve_settings(
    config: &RunConfig,
    resumed: Option<&(PathBuf, Checkpoint)>,
) -> Result<RunSettings, TrainError> {
    let Some((path, checkpoint)) = resumed else {
        let optimizer = config.optimizer.unwrap_or(OptimizerKind::Adam);
        return Ok(RunSettings {
            batch_size: config.batch_size.unwrap_or(64),
            optimizer,
            lr: config.lr.unwrap_or(optimizer.default_learning_rate()),
            schedule: config.schedule.unwrap_or(ScheduleKind::Cosine),
            seed: config.seed.unwrap_or(0),
            limit_train: config.limit_train,
        });
    };
    let state = checkpoint
        .training
        .as_ref()
        .ok_or_else(|| CheckpointError::NoTrainingState { path: path.clone() })?;
    let saved = |key: &str| checkpoint.metadata.get(key).map(String::as_str);
    let conflict = |flag: &str, saved: &str, given: String| {
        TrainError::config(format!(
            "{} was trained with {flag} {saved}, not {given}: resume with the same value (or leave {flag} out)",
            path.display()
        ))
    };
    // Settings with a value in the checkpoint: the given one must agree.
    fn pick<T: PartialEq + fmt::Display + Copy>(
        given: Option<T>,
        saved: Option<T>,
        default: T,
        flag: &str,
        conflict: &dyn Fn(&str, &str, String) -> TrainError,
    ) -> Result<T, TrainError> {
        match (given, saved) {
            (Some(g), Some(s)) if g != s => Err(conflict(flag, &s.to_string(), g.to_string())),
            (Some(g), _) => Ok(g),
            (None, Some(s)) => Ok(s),
            (None, None) => Ok(default),
        }
    }
    if let Some(model) = saved("model") {
        if model != config.model.name {
            return Err(TrainError::config(format!(
                "{} holds the model {model}, not {}: resume it with the example that trained it",
                path.display(),
                config.model.name
            )));
        }
    }
    if let Some(dataset) = saved("dataset") {
        if dataset != dataset_flag(config.dataset) {
            return Err(conflict(
                "--dataset",
                dataset,
                dataset_flag(config.dataset).to_string(),
            ));
        }
    }
    let optimizer = pick(
        config.optimizer,
        saved("optimizer").and_then(|s| s.parse().ok()),
        OptimizerKind::Adam,
        "--optimizer",
        &conflict,
    )?;
    let lr = pick(
        config.lr,
        saved("lr").and_then(|s| s.parse().ok()),
        optimizer.default_learning_rate(),
        "--lr",
        &conflict,
    )?;
    let schedule = pick(
        config.schedule,
        saved("schedule").and_then(|s| s.parse().ok()),
        ScheduleKind::Cosine,
        "--schedule",
        &conflict,
    )?;
    let batch_size = pick(
        config.batch_size,
        saved("batch_size").and_then(|s| s.parse().ok()),
        64,
        "--batch-size",
        &conflict,
    )?;
    let seed = pick(config.seed, Some(state.seed), 0, "--seed", &conflict)?;
    let saved_limit = saved("limit_train").map(|s| s.parse::<usize>().ok());
    let limit_train = match (config.limit_train, saved_limit) {
        (Some(given), Some(saved)) if Some(given) != saved => {
            let saved = saved.map_or_else(|| "none".to_string(), |n| n.to_string());
            return Err(conflict("--limit-train", &saved, given.to_string()));
        }
        (Some(given), _) => Some(given),
        (None, Some(saved)) => saved,
        (None, None) => None,
    };
    Ok(RunSettings {
        batch_size,
        optimizer,
        lr,
        schedule,
        seed,
        limit_train,
    })
}
