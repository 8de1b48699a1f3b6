//! A whole training run, as the `mnist_lenet` and `mnist_modern` examples perform it:
//! load the data, build (any [`ModelSpec`](crate::ModelSpec), LeNet-5 by default) or
//! resume the model, train, report.

use crate::best_epoch_note::best_epoch_note;
use crate::live_report::LiveReport;
use crate::run_settings::{resolve_settings, unrecorded_val_fraction_note};
use crate::step_memory::{available_memory, check_step_memory, StepMemory};
use crate::{
    describe_kernels, plot_history, write_predictions, DataSource, MetricsReport, ModelInput,
    RunConfig, RunSettings, SideOutput, TrainingReport,
};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_data::{BatchConfig, ImageDataset, Split, CIFAR10_BATCHES_DIR, CIFAR10_FILES};
use scratchnet_layers::{group_thousands, Layer, Sequential, Summary};
use scratchnet_tensor::kernels::{kernels, set_kernels, use_reference, Kernels};
use scratchnet_train::{
    check_writable, write_destination, Checkpoint, CheckpointError, FitOutcome, History,
    ModelFactory, Optimizer, PartialEpoch, ProgressMode, SaveLock, StopFlag, TrainConfig,
    TrainError, Trainer, MAX_EPOCHS,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What [`run`] did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The model summary printed at the start.
    pub summary: Summary,
    /// The settings used, after defaults and the checkpoint were applied.
    pub settings: RunSettings,
    /// The kernels that trained.
    pub kernels: Kernels,
    /// The history, the epochs trained by this run, and the final evaluation.
    pub outcome: FitOutcome,
}

/// Runs the `mnist_lenet` example (and `mnist_modern`, with another
/// [`RunConfig::model`]): prints the model summary, loads the data, builds the model
/// (LeNet-5 by default) from the seed (or resumes from a checkpoint), trains up to
/// `epochs` with a checkpoint after each epoch, prints the final test accuracy,
/// per-class accuracy and confusion matrix, and writes the metrics, plot and
/// predictions asked for.
///
/// The caller sets up the rayon pool with `config.threads` threads. The kernels of
/// `config.kernels`, if given, are chosen for the whole program.
///
/// Its checkpoints carry the run's settings as free-form metadata (`dataset`,
/// `batch_size`, `optimizer`, `lr`, `schedule`, `limit_train`, `augment`, and for an
/// image folder `val_fraction`), besides the training state: a resumed run takes every
/// setting that is not given from there, and refuses one that contradicts it. An image
/// folder without `test/` holds out its test set with the run's seed and fraction, so
/// a resume tests (and trains) on the images the checkpoint's run did.
///
/// A checkpoint that already has all `epochs` trains nothing: the run says so, evaluates
/// it and writes the reports asked for, but no checkpoint (`save` keeps what it held).
///
/// # Errors
/// Every failure as a [`TrainError`] with a one-line message naming the flag at fault
/// where there is one: missing data, a checkpoint that does not match or was trained
/// with other settings, a batch whose training step needs more memory than the machine
/// has available (checked before training), a NaN loss, a file that cannot be written;
/// [`TrainError::Interrupted`] when `config.stop` was raised (the checkpoint at `save`
/// then resumes exactly where training stopped, see [`resume_command`](crate::resume_command)).
pub fn run(config: &RunConfig) -> Result<RunReport, TrainError> {
    let say = |line: &str| {
        if config.progress != ProgressMode::Quiet {
            println!("{line}");
        }
    };
    check_config(config)?;
    check_epochs(config.epochs)?;
    let _output_locks = claim_outputs(config, say)?;
    config.kernels.inspect(|&choice| set_kernels(choice));
    let kernels = kernels();
    let (resumed, settings) = resumed_and_settings(config, say)?;

    // Taken apart, not cloned: a copy of the 47 MB of training images would stay
    // resident for the whole run.
    let ImageDataset {
        name: kind,
        mut train,
        test,
    } = load_data(config, &settings, say)?;
    let input = ModelInput {
        sample_shape: train.sample_shape(),
        num_classes: train.num_classes(),
    };
    let spec = config.model;
    let mut model = spec.build(&mut StdRng::seed_from_u64(settings.seed), &input)?;
    if let Some(path) = &config.init_weights {
        load_initial_weights(path, &mut model, say)?;
    }
    let summary = model.summary()?;
    let available = train.len();
    if let Some(n) = settings.limit_train {
        train.truncate(n);
    }
    let mut optimizer = settings.optimizer.build(settings.lr)?;
    // Before the summary prints: a checkpoint that cannot resume is its error alone.
    let (history, partial, resuming) =
        resume(resumed, &train, &mut model, optimizer.as_mut(), config)?;
    say(&summary.to_string());
    let notes = size_notes(settings.limit_train, available, settings.batch_size);
    notes.iter().for_each(|note| say(note));
    resuming.iter().for_each(|line| say(line));
    say(&data_and_settings(&kind, &train, &test, &settings, config));
    say(&format!("kernels: {}", describe_kernels(kernels)));

    let factory: ModelFactory =
        Arc::new(move || Box::new(spec.build_unchecked(&mut StdRng::seed_from_u64(0), &input)));
    let fitting = (&summary, &model, &train, &test);
    let mut trainer = trainer_that_fits(config, &settings, fitting, factory)?;
    let html = (config.report.as_ref())
        .map(|path| {
            let page = report_page(config, &settings, &summary, &train, &test);
            LiveReport::new(path.clone(), page, &history)
        })
        .transpose()?;
    if let Some(live) = &html {
        trainer = live.attach(trainer);
    }
    let epochs_before = history.epochs.len();
    config.phase.start_training();
    let fitted = trainer.fit_from(
        &mut model,
        optimizer.as_mut(),
        &train,
        &test,
        history,
        partial,
    );
    let saved_progress = |e| with_saved_progress(e, config.save.as_deref(), epochs_before);
    let outcome =
        finish_report(fitted, html.as_deref(), &config.stop, say).map_err(saved_progress)?;
    report(config, &settings, &model, &test, &outcome, say).map_err(saved_progress)?;
    Ok(RunReport {
        summary,
        settings,
        kernels,
        outcome,
    })
}

/// The `--resume` checkpoint with its path, if any, and the run's settings resolved
/// against it, saying so when it does not record the hold-out fraction of an image folder.
fn resumed_and_settings(
    config: &RunConfig,
    say: impl Fn(&str),
) -> Result<(Option<(PathBuf, Checkpoint)>, RunSettings), TrainError> {
    let resumed = (config.resume.as_ref())
        .map(|path| Ok::<_, TrainError>((path.clone(), load_resumed(path)?)))
        .transpose()?;
    let settings = resolve_settings(config, resumed.as_ref().map(|(p, c)| (p.as_path(), c)))?;
    if let Some(note) = (resumed.as_ref())
        .and_then(|(path, checkpoint)| unrecorded_val_fraction_note(path, checkpoint, &settings))
    {
        say(&note);
    }
    Ok((resumed, settings))
}

/// The notes on sizes past the training set: a `limit_train` over the `available`
/// training images (all are used), and a `batch_size` over the images trained on
/// (every batch is all of them). Both are kept as asked, and recorded so.
fn size_notes(limit_train: Option<usize>, available: usize, batch_size: usize) -> Vec<String> {
    let mut notes = Vec::new();
    let images = limit_train.map_or(available, |n| n.min(available));
    if let Some(n) = limit_train.filter(|&n| n > available) {
        notes.push(format!(
            "note: --limit-train {n} is more than the {} training images: all are used",
            group_thousands(available)
        ));
    }
    if batch_size > images {
        notes.push(format!(
            "note: --batch-size {batch_size} is more than the {} training images: every batch is the whole training set",
            group_thousands(images)
        ));
    }
    notes
}

/// The history and the interrupted epoch to go on from: a fresh run's (none), or those of
/// the `resumed` checkpoint, restored into `model` and `optimizer` after checking it was
/// trained on `train`'s data, with the line that says where training resumes.
fn resume(
    resumed: Option<(PathBuf, Checkpoint)>,
    train: &Split,
    model: &mut Sequential,
    optimizer: &mut dyn Optimizer,
    config: &RunConfig,
) -> Result<(History, Option<PartialEpoch>, Option<String>), TrainError> {
    let Some((path, checkpoint)) = resumed else {
        return Ok((History::new(), None, None));
    };
    check_same_data(&path, &checkpoint, train)?;
    let (history, partial, resuming) = restore(&path, checkpoint, model, optimizer, config)?;
    Ok((history, partial, Some(resuming)))
}

/// Refuses, before any data is loaded, more epochs than a checkpoint can record
/// ([`MAX_EPOCHS`]): such a run could never be resumed (and its steps could not be
/// counted).
fn check_epochs(epochs: usize) -> Result<(), TrainError> {
    if epochs <= MAX_EPOCHS {
        return Ok(());
    }
    Err(TrainError::config(format!(
        "--epochs {epochs} is more than a run can have: give at most {MAX_EPOCHS}"
    )))
}

/// The run's data, which must have two classes at least: a classifier learns nothing
/// from one (it trained to "100%" with a loss of 0). An image folder without `test/`
/// holds out its test set with the run's resolved seed and fraction (`settings`: the
/// checkpoint's when resuming), so that a resume trains and tests on the same images.
fn load_data(
    config: &RunConfig,
    settings: &RunSettings,
    say: impl Fn(&str),
) -> Result<ImageDataset, TrainError> {
    let source = (config.dataset).with_hold_out(settings.seed, settings.val_fraction);
    let data = source.load(config.data_dir.as_deref(), &say)?;
    if data.train.num_classes() < 2 {
        return Err(TrainError::config(format!(
            "the data has a single class ({}): a classifier learns nothing from it (every \
             answer is right); give each class its own folder, two at least",
            data.train.class_names().join(", ")
        )));
    }
    Ok(data)
}

/// The checkpoint at `path` must have been trained on data of the same classes (by
/// name and label) and image shape as `train`: a folder whose classes were renamed or
/// reordered, or images of another size, would go on training under other labels (and
/// the checkpoint would then record the new ones) or another shape without a word.
/// Checkpoints that record neither (older ones) pass.
fn check_same_data(path: &Path, checkpoint: &Checkpoint, train: &Split) -> Result<(), TrainError> {
    let now = data_metadata(train);
    for (key, what) in [
        ("classes", "the classes"),
        ("input_shape", "images of shape"),
    ] {
        let (Some(saved), Some(current)) = (checkpoint.metadata.get(key), now.get(key)) else {
            continue;
        };
        if saved != current {
            return Err(TrainError::config(format!(
                "--resume {}: it was trained on {what} {saved}, and this data has {current}: resume on the data it was trained on, or start afresh without --resume",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The run's trainer for `model` (with its `summary`) on `train` and `test`, its
/// evaluation batch lowered to fit in memory if need be ([`check_memory`], which refuses
/// a training step that does not fit).
fn trainer_that_fits(
    config: &RunConfig,
    settings: &RunSettings,
    (summary, model, train, test): (&Summary, &Sequential, &Split, &Split),
    factory: ModelFactory,
) -> Result<Trainer, TrainError> {
    let mut train_config = train_config(config, settings, data_metadata(train));
    let trainer = Trainer::new(train_config.clone())?.with_replicas(factory.clone());
    let eval_batch = check_memory(config, settings, summary, &trainer, model, train, test)?;
    if eval_batch == train_config.eval_batch_size {
        return Ok(trainer);
    }
    train_config.eval_batch_size = eval_batch.max(1);
    Ok(Trainer::new(train_config)?.with_replicas(factory))
}

/// Refuses, before any training, batches whose training step needs more memory than
/// this machine has available ([`check_step_memory`]): estimated from the model's
/// `summary` for the way `trainer` would train it, with at most the images of `train`
/// in a batch. Returns the evaluation batch: at most `trainer`'s and the images of
/// `test`, lowered to what fits beside the step (saying so).
fn check_memory(
    config: &RunConfig,
    settings: &RunSettings,
    summary: &Summary,
    trainer: &Trainer,
    model: &Sequential,
    train: &Split,
    test: &Split,
) -> Result<usize, TrainError> {
    let shard_size = trainer.config().shard_size;
    let replicas = trainer.replicas_for(model).map(|n| (n, shard_size));
    let eval_batch_size = trainer.config().eval_batch_size;
    let memory = StepMemory::of_model(summary, replicas, eval_batch_size);
    let eval_batch = check_step_memory(
        &memory,
        settings.batch_size,
        train.len(),
        test.len(),
        config.model.name,
        config.resume.as_deref(),
        available_memory(),
    )
    .map_err(TrainError::config)?;
    if eval_batch < eval_batch_size.min(test.len()) && config.progress != ProgressMode::Quiet {
        println!(
            "evaluating {} test images at a time (not {}), to fit in the memory there is: the results are the same",
            group_thousands(eval_batch),
            group_thousands(eval_batch_size.min(test.len()))
        );
    }
    Ok(eval_batch)
}

/// The `--resume` checkpoint at `path`; a missing one is named with the fix.
fn load_resumed(path: &Path) -> Result<Checkpoint, TrainError> {
    if !path.exists() {
        return Err(TrainError::config(format!(
            "--resume {}: no such file; give the checkpoint an earlier run saved (its --save path), or leave --resume out to start afresh",
            path.display()
        )));
    }
    let checkpoint = Checkpoint::load(path)?;
    if checkpoint.training.is_some() {
        return Ok(checkpoint);
    }
    // --init-weights is suggested only for a file it can load.
    let message = match scratchnet_train::weights_file_problem(path)? {
        Some(problem) if problem.starts_with("it is a --predictions file") => {
            format!("--resume {}: {problem}", path.display())
        }
        Some(problem) => format!(
            "--resume {0}: the file holds only model weights (no epoch, optimizer state or history), so training cannot resume from it, and {problem}; --init-weights then starts a fresh run from the converted file",
            path.display()
        ),
        None => format!(
            "--resume {0}: the file holds only model weights (no epoch, optimizer state or history), so training cannot resume from it; --init-weights {0} starts a fresh run from those weights",
            path.display()
        ),
    };
    Err(TrainError::config(message))
}

/// Loads the `--init-weights` file at `path` into the freshly built `model`: every
/// parameter and buffer of the model, with its shape, and no other model tensor
/// (`optimizer.*` entries and a training state are ignored: the run starts at epoch 0
/// with a fresh optimizer), saying so. A missing file is named with the fix.
fn load_initial_weights(
    path: &Path,
    model: &mut Sequential,
    say: impl Fn(&str),
) -> Result<(), TrainError> {
    if !path.exists() {
        return Err(TrainError::config(format!(
            "--init-weights {}: no such file; give a safetensors file of this model's weights (a PyTorch state_dict, or a checkpoint --save wrote), or leave --init-weights out to start from random weights",
            path.display()
        )));
    }
    scratchnet_train::load_model(path, model).map_err(|e| {
        let fix = match &e {
            CheckpointError::Mismatch { .. } if !e.names_its_fix() => {
                "; give the weights of this model (the same layers and shapes)"
            }
            _ => "",
        };
        TrainError::config(format!("--init-weights {}: {e}{fix}", path.display()))
    })?;
    say(&format!(
        "initial weights: {} (a fresh run: epoch 0, a new optimizer)",
        path.display()
    ));
    Ok(())
}

/// `error`, a failed write of an output other than the checkpoint (a full disk under
/// `--report` ends the run after the epoch it happened in), with where the run's saved
/// progress is: the message says which epoch's checkpoint is in `save` and how to
/// continue from there. Other errors, and a run that saved no new epoch, are returned
/// as they are.
fn with_saved_progress(error: TrainError, save: Option<&Path>, epochs_before: usize) -> TrainError {
    let TrainError::Write { path, source } = error else {
        return error;
    };
    let saved = save
        .and_then(|save| Checkpoint::load(save).ok().map(|c| (save, c)))
        .and_then(|(save, c)| c.training.map(|t| (save, t.epoch)))
        .filter(|&(_, epoch)| epoch > epochs_before);
    match saved {
        Some((save, epoch)) => {
            let save = save.display();
            TrainError::Write {
                path,
                source: std::io::Error::new(
                    source.kind(),
                    format!(
                        "{source}; training stopped, and the checkpoint of epoch {epoch} is saved in {save}: once this is fixed, --resume {save} continues from there"
                    ),
                ),
            }
        }
        None => TrainError::Write { path, source },
    }
}

/// What the `--report` page shows besides what training records.
fn report_page(
    config: &RunConfig,
    settings: &RunSettings,
    summary: &Summary,
    train: &Split,
    test: &Split,
) -> TrainingReport {
    TrainingReport {
        summary: summary.to_string(),
        settings: report_settings(config, settings, train, test),
        class_names: train.class_names().to_vec(),
        epochs: config.epochs,
    }
}

/// The line that says what the run trains on and how.
fn data_and_settings(
    kind: &str,
    train: &Split,
    test: &Split,
    settings: &RunSettings,
    config: &RunConfig,
) -> String {
    let threads = config.threads;
    format!(
        "{kind}: {} training and {} test images; {} lr {} with a {} schedule, batch {}, seed {}, {threads} thread{}{}",
        group_thousands(train.len()),
        group_thousands(test.len()),
        settings.optimizer,
        settings.lr,
        settings.schedule,
        settings.batch_size,
        settings.seed,
        if threads == 1 { "" } else { "s" },
        if threads > 1 && use_reference() {
            " (the reference kernels train on one)"
        } else {
            ""
        },
    )
}

/// The last write of the `--report` page, if any, once training has ended with `fitted`:
/// the finished page, or on an error a page that stops reloading and says what stopped
/// the run ([`stopped_status`]) — unless a second Ctrl-C chose to exit without writing.
fn finish_report(
    fitted: Result<FitOutcome, TrainError>,
    live: Option<&LiveReport>,
    stop: &StopFlag,
    say: impl Fn(&str),
) -> Result<FitOutcome, TrainError> {
    match (fitted, live) {
        (Ok(outcome), Some(live)) => {
            live.finish(&outcome.history, &outcome.evaluation.confusion)?;
            say(&format!(
                "report written to {} ({})",
                live.path.display(),
                live.cost()
            ));
            Ok(outcome)
        }
        (Ok(outcome), None) => Ok(outcome),
        (Err(e), live) => {
            if let Some(live) = live.filter(|_| !stop.is_abandoned()) {
                live.stop(&stopped_status(&e));
            }
            Err(e)
        }
    }
}

/// The first sentence of the `--report` page's status line when the run ended with
/// `error`: `Interrupted after epoch 2`, `Stopped: the model diverged in epoch 3 (…)`,
/// `Stopped by an error: …`.
fn stopped_status(error: &TrainError) -> String {
    match error {
        TrainError::Interrupted {
            epoch,
            batch,
            batches,
            checkpoint,
        } => {
            let when = match (*batch, *epoch) {
                (0, 0 | 1) => "before the first epoch".to_string(),
                (0, epoch) => format!("after epoch {}", epoch - 1),
                (batch, epoch) => format!("after batch {batch} of {batches} of epoch {epoch}"),
            };
            let saved = match checkpoint {
                Some(path) => format!("the checkpoint {} resumes from there", path.display()),
                None => "no checkpoint was saved".to_string(),
            };
            format!("Interrupted {when} ({saved})")
        }
        TrainError::Diverged { epoch, what, .. } => {
            format!("Stopped: the model diverged in epoch {epoch} ({what}), and was not saved")
        }
        TrainError::NonFiniteLoss {
            epoch,
            batch,
            batches,
            loss,
            ..
        } => format!(
            "Stopped: the training loss became {loss} at epoch {epoch}, batch {batch} of {batches}"
        ),
        other => format!("Stopped by an error: {other}"),
    }
}

/// The settings a report shows.
fn report_settings(
    config: &RunConfig,
    settings: &RunSettings,
    train: &Split,
    test: &Split,
) -> BTreeMap<String, String> {
    let mut shown = settings.to_metadata(config.dataset.flag(), config.model.name);
    for (key, value) in [
        ("seed", settings.seed.to_string()),
        ("epochs", config.epochs.to_string()),
        ("threads", config.threads.to_string()),
        ("training images", group_thousands(train.len())),
        ("test images", group_thousands(test.len())),
        ("kernels", describe_kernels(kernels())),
    ] {
        shown.insert(key.to_owned(), value);
    }
    shown
}

/// The trainer's configuration of the run.
fn train_config(
    config: &RunConfig,
    settings: &RunSettings,
    data: BTreeMap<String, String>,
) -> TrainConfig {
    let mut metadata = settings.to_metadata(config.dataset.flag(), config.model.name);
    metadata.extend(data);
    TrainConfig {
        epochs: config.epochs,
        batch: BatchConfig {
            batch_size: settings.batch_size,
            shuffle: true,
            seed: settings.seed,
            augment: settings.augment,
        },
        schedule: settings.schedule.schedule(),
        threads: config.threads,
        save_path: config.save.clone(),
        best_path: config.save_best.clone(),
        resumed_from: config.resume.clone(),
        checkpoint_metadata: metadata,
        progress: config.progress,
        stop: config.stop.clone(),
        ..TrainConfig::default()
    }
}

/// Refuses, before any training, a run that could not finish or would harm a file:
/// no thread or more than [`max_threads`], outputs that name one file, and an output
/// that names a directory, is in a directory that does not exist, is one of the files
/// of the data the run reads — from `--data-dir`, the dataset's variable or its default
/// folder ([`is_data_file`]) — or would replace a file it must not ([`check_output`]).
fn check_config(config: &RunConfig) -> Result<(), TrainError> {
    if config.threads == 0 {
        return Err(TrainError::config("--threads must be at least 1"));
    }
    if let (Some(_), Some(init)) = (&config.resume, &config.init_weights) {
        return Err(TrainError::config(format!(
            "--resume and --init-weights {} exclude each other: --resume continues a run (its epoch, optimizer and history), --init-weights starts a fresh one from the weights; give one",
            init.display()
        )));
    }
    let most = max_threads();
    if config.threads > most {
        return Err(TrainError::config(format!(
            "--threads {} is more than this machine can use: at most {most} (4 per core, and at least 8)",
            config.threads
        )));
    }
    let outputs = [
        ("--save", &config.save),
        ("--save-best", &config.save_best),
        ("--metrics", &config.metrics),
        ("--plot", &config.plot),
        ("--predictions", &config.predictions),
        ("--report", &config.report),
    ];
    let input = (config.resume.as_deref().map(|p| ("--resume", p))).or(config
        .init_weights
        .as_deref()
        .map(|p| ("--init-weights", p)));
    check_no_aliases(&outputs, input)?;
    let data = config.dataset.data_folder(config.data_dir.as_deref());
    for (flag, path) in outputs {
        if let Some(path) = path.as_deref() {
            check_output(flag, path, data.as_deref(), config)?;
        }
    }
    Ok(())
}

/// Refuses output `flag`'s `path` if it names a directory, is a file of the data in
/// `data` (the folder the run reads, [`DataSource::data_folder`]: [`is_data_file`]), has
/// a name its kind of file must not have ([`SideOutput::check_name`]), is in a
/// directory that does not exist, cannot be written, or would replace a file it must
/// not ([`check_replaceable`]).
fn check_output(
    flag: &str,
    path: &Path,
    data: Option<&Path>,
    config: &RunConfig,
) -> Result<(), TrainError> {
    if names_a_directory(path) {
        return Err(TrainError::config(format!(
            "{flag} {}: names a directory; give the file's name",
            path.display()
        )));
    }
    if let Some(data) = data.filter(|data| is_data_file(path, data, &config.dataset)) {
        return Err(TrainError::config(format!(
            "{flag} {}: is a file of the data in {}, which is never written to; give another path",
            path.display(),
            data.display()
        )));
    }
    if let Some(output) = SideOutput::of_flag(flag) {
        output.check_name(path)?;
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.is_dir() {
            let problem = if dir.exists() {
                format!("{} is not a directory", dir.display())
            } else {
                format!("the directory {} does not exist", dir.display())
            };
            return Err(TrainError::config(format!(
                "{flag} {}: {problem}",
                path.display()
            )));
        }
    }
    check_writable(path).map_err(|e| {
        TrainError::config(format!("{flag} {}: cannot be written: {e}", path.display()))
    })?;
    check_replaceable(flag, path, config)
}

/// Whether `path` names a file of `source`'s data in the directory `data`, which an
/// output must never replace or shadow: one of the IDX files (raw or `.gz`: a raw file
/// is read before its `.gz`), one of CIFAR-10's batch files (in `data` or its
/// `cifar-10-batches-bin`), anything under an image folder's `train/` or `test/`.
/// Symbolic links are followed, dangling ones too: `path`'s, `data`'s, and each data
/// file's (or `train/`'s and `test/`'s), so a data file that is a link is protected at
/// its target too.
pub fn is_data_file(path: &Path, data: &Path, source: &DataSource) -> bool {
    let path = file_identity(path);
    let data = file_identity(data);
    let is = |file: PathBuf| path == file || path == file_identity(&file);
    let under = |dir: PathBuf| path.starts_with(&dir) || path.starts_with(file_identity(&dir));
    match source {
        DataSource::Idx(kind) => kind
            .files()
            .iter()
            .any(|file| is(data.join(file.name)) || is(data.join(format!("{}.gz", file.name)))),
        DataSource::Cifar10 => [data.clone(), data.join(CIFAR10_BATCHES_DIR)]
            .iter()
            .any(|dir| CIFAR10_FILES.iter().any(|name| is(dir.join(name)))),
        DataSource::Folder(_) => under(data.join("train")) || under(data.join("test")),
    }
}

/// Whether `path` can only name a directory: it ends in a separator, `.` or `..`.
fn names_a_directory(path: &Path) -> bool {
    let text = path.as_os_str().to_string_lossy();
    text.ends_with(std::path::is_separator)
        || matches!(
            path.components().next_back(),
            Some(std::path::Component::CurDir | std::path::Component::ParentDir)
        )
}

/// Refuses to replace an existing file at output `flag`'s `path` when it is read-only;
/// at `--save`, when the run does not resume that file and `--overwrite` was not given
/// (a trained model is never lost to a new run); at the other outputs, when it holds a
/// model (a safetensors file that is not a predictions file), which a report or
/// predictions would destroy, even with `--overwrite`, and when it is a file no run
/// wrote as that output, without `--overwrite` ([`SideOutput::check_replaceable`]).
fn check_replaceable(flag: &str, path: &Path, config: &RunConfig) -> Result<(), TrainError> {
    let Ok(existing) = std::fs::metadata(path) else {
        return Ok(()); // nothing to replace
    };
    let shown = path.display();
    if existing.permissions().readonly() {
        return Err(TrainError::config(format!(
            "{flag} {shown}: the file is read-only, and is never replaced; give another path, or make it writable"
        )));
    }
    if flag == "--save" {
        let resumed = config.resume.as_deref().map(file_identity) == Some(file_identity(path));
        if !resumed && !config.overwrite {
            return Err(TrainError::config(format!(
                "--save {shown}: the file exists; --resume {shown} continues its training, --overwrite replaces it, or give --save another path"
            )));
        }
    } else if flag == "--save-best" {
        // The trainer keeps a checkpoint of this model there until an epoch beats the
        // test loss it records, and refuses any other file before the first batch.
    } else if holds_model(path) {
        return Err(TrainError::config(format!(
            "{flag} {shown}: the file holds a model (safetensors), which this output would replace; give another path"
        )));
    } else if let Some(output) = SideOutput::of_flag(flag) {
        output.check_replaceable(path, config.overwrite)?;
    }
    Ok(())
}

/// Whether `path` is a safetensors file other than a predictions file
/// ([`write_predictions`]'s `format` is `np`): a checkpoint or other weights.
fn holds_model(path: &Path) -> bool {
    scratchnet_train::read_metadata(path)
        .is_ok_and(|metadata| metadata.get("format").map(String::as_str) != Some("np"))
}

/// Refuses at once an output another run is writing to (its checkpoint or another
/// output: each run locks all of its outputs, [`SaveLock`]), removes the temporary
/// files that interrupted writes of the outputs left behind, saying so, and returns
/// the locks of the outputs other than the checkpoints, to be held for the whole run
/// (the trainer takes the locks of `--save` and `--save-best` itself, for its fit).
fn claim_outputs(config: &RunConfig, say: impl Fn(&str)) -> Result<Vec<SaveLock>, TrainError> {
    let removed = |path: &PathBuf| {
        say(&format!(
            "removed a leftover temporary file {} from an interrupted save",
            path.display()
        ));
    };
    // The trainer takes the checkpoints' locks itself for the whole fit: another run
    // writing to them is refused here all the same, before the data loads.
    for path in [&config.save, &config.save_best].into_iter().flatten() {
        SaveLock::acquire(path)?
            .removed_leftovers()
            .iter()
            .for_each(removed);
    }
    let mut locks = Vec::new();
    for path in [
        &config.metrics,
        &config.plot,
        &config.predictions,
        &config.report,
    ]
    .into_iter()
    .flatten()
    {
        let lock = SaveLock::acquire(path)?;
        lock.removed_leftovers().iter().for_each(removed);
        locks.push(lock);
    }
    Ok(locks)
}

/// The most threads a run may ask for: 4 per core of this machine, and at least 8.
/// Past that, threads only cost (1,000 took a minute to start and 600 MB).
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (4 * cores).max(8)
}

/// Refuses two outputs that are one file (`--save ck.st --predictions ck.st` would
/// replace the checkpoint with predictions), and an output other than `--save` that is
/// the `input` the run reads (`--resume` or `--init-weights`, and its path). (`--save`
/// may be `--resume`: that is how a run continues; with `--overwrite`, it may be
/// `--init-weights`.)
fn check_no_aliases(
    outputs: &[(&str, &Option<PathBuf>)],
    input: Option<(&str, &Path)>,
) -> Result<(), TrainError> {
    let named: Vec<(&str, PathBuf)> = outputs
        .iter()
        .filter_map(|(flag, path)| path.as_deref().map(|p| (*flag, file_identity(p))))
        .collect();
    for (i, (flag, path)) in named.iter().enumerate() {
        let earlier = named[..i].iter().find(|(_, other)| other == path);
        let resumed = input
            .filter(|(_, input)| *flag != "--save" && file_identity(input) == *path)
            .map(|(input_flag, _)| input_flag);
        if let Some(other) = earlier.map(|(other, _)| *other).or(resumed) {
            return Err(TrainError::config(format!(
                "{flag} and {other} name the same file ({}): give each output its own path",
                path.display()
            )));
        }
    }
    Ok(())
}

/// What `path` names, for comparing two paths: the file behind it if it exists
/// (symbolic links resolved), else the file a write to it would create (the end of a
/// dangling link, [`write_destination`]) as an absolute path in its directory's real
/// location.
fn file_identity(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    let target = write_destination(path).unwrap_or_else(|_| path.to_path_buf());
    let absolute = std::path::absolute(&target).unwrap_or(target);
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map_or(absolute.clone(), |d| d.join(name)),
        _ => absolute,
    }
}

/// Loads the checkpoint's weights and optimizer state into `model` and `optimizer`;
/// returns the history, the unfinished epoch to resume from (if it stopped within
/// one), and the line that says where training resumes.
fn restore(
    path: &Path,
    checkpoint: Checkpoint,
    model: &mut Sequential,
    optimizer: &mut dyn Optimizer,
    config: &RunConfig,
) -> Result<(History, Option<PartialEpoch>, String), TrainError> {
    let state = checkpoint
        .training
        .clone()
        .ok_or_else(|| CheckpointError::NoTrainingState {
            path: path.to_path_buf(),
        })?;
    // Training goes on from the history's length: a state whose count of completed
    // epochs says otherwise (a hand-edited file) would retrain or skip epochs.
    if state.history.epochs.len() != state.epoch {
        return Err(TrainError::config(format!(
            "--resume {}: its training state counts {} completed epochs but records the metrics of {}, so it cannot say where training stands; resume from another checkpoint, or start afresh without --resume",
            path.display(),
            state.epoch,
            state.history.epochs.len()
        )));
    }
    checkpoint.apply_to(model).map_err(|e| e.at(path))?;
    optimizer
        .load_state(state.optimizer, model)
        .map_err(|e| match e {
            // The settings were checked against the flags: the file contradicts itself.
            CheckpointError::OptimizerKind { .. } => TrainError::config(format!(
                "--resume {}: {e}, which its settings name (the file was edited or not \
                 written by this example): resume from another checkpoint, or start afresh \
                 without --resume",
                path.display()
            )),
            e => e.at(path).into(),
        })?;
    let begun = state.epoch + usize::from(state.partial.is_some());
    if begun > config.epochs {
        return Err(TrainError::config(format!(
            "{} already has {} epochs, more than --epochs {} (use --epochs {} or more to train further)",
            path.display(),
            begun,
            config.epochs,
            state.epoch + 1
        )));
    }
    let line = match &state.partial {
        None if state.epoch == config.epochs => nothing_to_train(path, config),
        Some(p) => format!(
            "resuming from {} in epoch {} of {}, after batch {} of {}",
            path.display(),
            state.epoch + 1,
            config.epochs,
            p.batches_done,
            p.batches
        ),
        None => format!(
            "resuming from {} after epoch {} of {}",
            path.display(),
            state.epoch,
            config.epochs
        ),
    };
    Ok((state.history, state.partial, line))
}

/// The line of a run resumed from the checkpoint at `path` that already has all
/// `config.epochs`: nothing is trained, so no checkpoint is written. `--save` is named
/// when it is another file, which a careful user expects to find written.
fn nothing_to_train(path: &Path, config: &RunConfig) -> String {
    let epochs = config.epochs;
    let line = format!(
        "nothing to train: {} is already at epoch {epochs} of {epochs} (raise --epochs to train more)",
        path.display()
    );
    match &config.save {
        Some(save) if file_identity(save) != file_identity(path) => {
            format!("{line}; {} not written", save.display())
        }
        _ => line,
    }
}

/// Prints the final evaluation and writes the metrics, plot and predictions asked for.
fn report(
    config: &RunConfig,
    settings: &RunSettings,
    model: &Sequential,
    test: &Split,
    outcome: &FitOutcome,
    say: impl Fn(&str),
) -> Result<(), TrainError> {
    let evaluation = &outcome.evaluation;
    let epochs = outcome.history.completed_epochs();
    say(&format!(
        "test accuracy {:.2}% (loss {:.4}) after {epochs} epoch{}",
        100.0 * evaluation.accuracy,
        evaluation.loss,
        if epochs == 1 { "" } else { "s" },
    ));
    say(&format!(
        "confusion matrix of the test set (rows: true class):\n{}",
        evaluation.confusion
    ));
    // Classes with names (Fashion-MNIST, CIFAR-10, image folders) get a legend.
    let names = test.class_names();
    if names
        .iter()
        .enumerate()
        .any(|(i, name)| *name != i.to_string())
    {
        let legend: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{i} {name}"))
            .collect();
        say(&format!("classes: {}", legend.join(", ")));
    }
    if let Some(path) = &config.save {
        if !outcome.trained_epochs.is_empty() {
            say(&format!("checkpoint saved to {}", path.display()));
            let best = config.save_best.as_deref();
            if let Some(note) = best_epoch_note(&outcome.history, path, best) {
                say(&note);
            }
        }
    }
    if let Some(path) = &config.metrics {
        MetricsReport::new(
            model.num_parameters(),
            config.dataset.flag(),
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
    Ok(())
}

/// What a checkpoint records of the data, so that `predict` reads images the same way:
/// `input_shape` (`3,32,32`), `classes` (a JSON array of the class names, by label) and
/// `normalization` (a JSON array of `[mean, std]` per channel).
fn data_metadata(train: &Split) -> BTreeMap<String, String> {
    let shape: Vec<String> = train
        .sample_shape()
        .iter()
        .map(ToString::to_string)
        .collect();
    let normalization: Vec<[f32; 2]> = train
        .channel_normalization()
        .iter()
        .map(|n| [n.mean, n.std])
        .collect();
    BTreeMap::from([
        ("input_shape".to_owned(), shape.join(",")),
        (
            "classes".to_owned(),
            serde_json::to_string(train.class_names()).unwrap_or_default(),
        ),
        (
            "normalization".to_owned(),
            serde_json::to_string(&normalization).unwrap_or_default(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::{
        check_config, check_no_aliases, claim_outputs, max_threads, restore, size_notes,
        stopped_status, with_saved_progress, TrainError,
    };
    use crate::RunConfig;
    use std::path::PathBuf;

    /// QA: `--report r.txt` and `--report r` were accepted, though the page is HTML.
    #[test]
    fn a_report_not_named_html_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (name, fix) in [("r.txt", "r.html"), ("r", "r.html")] {
            let err = check_config(&RunConfig {
                report: Some(dir.path().join(name)),
                ..RunConfig::default()
            })
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("must end in .html or .htm")
                    && err.ends_with(&format!("--report {}", dir.path().join(fix).display())),
                "{err}"
            );
        }
        for name in ["r.html", "r.HTM"] {
            check_config(&RunConfig {
                report: Some(dir.path().join(name)),
                ..RunConfig::default()
            })
            .unwrap();
        }
    }

    /// QA: `--limit-train 4294967296` and `--batch-size 4294967296` on 500 images ran
    /// without a word.
    #[test]
    fn sizes_past_the_training_set_get_a_note() {
        assert_eq!(
            size_notes(Some(4_294_967_296), 500, 64),
            ["note: --limit-train 4294967296 is more than the 500 training images: all are used"]
        );
        assert_eq!(
            size_notes(Some(100), 500, 4_294_967_296),
            ["note: --batch-size 4294967296 is more than the 100 training images: every batch is the whole training set"]
        );
        assert!(size_notes(Some(500), 500, 500).is_empty());
        assert!(size_notes(None, 500, 64).is_empty());
    }

    /// QA: the report of a run resumed after epoch 2 that diverged said "Finished: 2
    /// of 5 epochs."; the status names what stopped it.
    #[test]
    fn the_stopped_status_says_what_stopped_the_run() {
        let diverged = TrainError::Diverged {
            epoch: 3,
            what: "fc.weight holds NaN or infinite values".into(),
            last_checkpoint: None,
        };
        assert_eq!(
            stopped_status(&diverged),
            "Stopped: the model diverged in epoch 3 (fc.weight holds NaN or infinite values), and was not saved"
        );
        let between = TrainError::Interrupted {
            epoch: 3,
            batch: 0,
            batches: 10,
            checkpoint: Some(PathBuf::from("r.st")),
        };
        assert_eq!(
            stopped_status(&between),
            "Interrupted after epoch 2 (the checkpoint r.st resumes from there)"
        );
        let other = stopped_status(&TrainError::config("x"));
        assert_eq!(other, "Stopped by an error: invalid configuration: x");
    }

    /// A full disk under `--report` ended a run after its first epoch with only "cannot
    /// write r.html: No space left on device": nothing said that epoch 1's checkpoint
    /// was saved, nor how to go on from it.
    #[test]
    fn a_failed_side_output_says_which_epoch_is_saved_and_how_to_resume() {
        use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
        use scratchnet_layers::Dense;
        use scratchnet_train::{Adam, AdamConfig, Checkpoint, History, TrainError};
        let dir = tempfile::tempdir().unwrap();
        let save = dir.path().join("run.st");
        let model = Dense::new(2, 2, &mut StdRng::seed_from_u64(0));
        let adam = Adam::new(AdamConfig::default()).unwrap();
        Checkpoint::for_training(&model, &adam, 2, 0, &History::new())
            .save(&save)
            .unwrap();
        let full_disk = || TrainError::Write {
            path: dir.path().join("r.html"),
            source: std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left"),
        };
        let said = with_saved_progress(full_disk(), Some(&save), 1).to_string();
        let expected = format!(
            "No space left; training stopped, and the checkpoint of epoch 2 is saved in {0}: once this is fixed, --resume {0} continues from there",
            save.display()
        );
        assert!(said.ends_with(&expected), "{said}");
        // No epoch saved by this run, no checkpoint, or another error: as they were.
        for (save, before) in [(Some(save.as_path()), 2), (None, 0)] {
            let said = with_saved_progress(full_disk(), save, before).to_string();
            assert!(said.ends_with("r.html: No space left"), "{said}");
        }
        let other = with_saved_progress(TrainError::config("x"), Some(&save), 0);
        assert_eq!(other.to_string(), "invalid configuration: x");

        // That checkpoint counts two epochs and records none (hand-edited metadata):
        // resumed, it said "after epoch 2" and trained epoch 1 again.
        let mut adam = Adam::new(AdamConfig::default()).unwrap();
        let err = restore(
            &save,
            Checkpoint::load(&save).unwrap(),
            &mut scratchnet_layers::Sequential::new(),
            &mut adam,
            &RunConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("counts 2 completed epochs but records the metrics of 0"),
            "{err}"
        );
    }

    /// A checkpoint whose settings name one optimizer and whose state is another's
    /// (edited metadata) failed with a message that named no file and no fix.
    #[test]
    fn an_optimizer_state_of_another_kind_names_the_checkpoint() {
        use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
        use scratchnet_layers::{Dense, Sequential};
        use scratchnet_train::{Adam, AdamConfig, Checkpoint, History, Sgd, SgdConfig};
        let dir = tempfile::tempdir().unwrap();
        let save = dir.path().join("run.st");
        let model = || {
            Sequential::new()
                .add("fc", Dense::new(2, 2, &mut StdRng::seed_from_u64(0)))
                .build(&[2])
                .unwrap()
        };
        let adam = Adam::new(AdamConfig::default()).unwrap();
        Checkpoint::for_training(&model(), &adam, 0, 0, &History::new())
            .save(&save)
            .unwrap();
        let mut sgd = Sgd::new(SgdConfig::default()).unwrap();
        let err = restore(
            &save,
            Checkpoint::load(&save).unwrap(),
            &mut model(),
            &mut sgd,
            &RunConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&format!(
                "--resume {}: the checkpoint's optimizer state is for adam",
                save.display()
            )) && err.ends_with("start afresh without --resume"),
            "{err}"
        );
    }

    /// Issue 16's second reproducer, `--save ck.st --predictions ck.st`, and its kin.
    #[test]
    fn outputs_that_name_one_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ck = dir.path().join("ck.st");
        std::fs::write(&ck, b"a checkpoint").unwrap();
        let same_by_another_name = dir.path().join(".").join("ck.st");
        let other = Some(dir.path().join("m.json"));
        let refused = [
            (Some(ck.clone()), Some(ck.clone()), None, None),
            (
                Some(ck.clone()),
                None,
                Some(same_by_another_name.clone()),
                None,
            ),
            (None, other.clone(), Some(ck.clone()), Some(ck.clone())),
        ];
        for (save, metrics, predictions, resume) in refused {
            let outputs = [
                ("--save", &save),
                ("--metrics", &metrics),
                ("--predictions", &predictions),
            ];
            let err = check_no_aliases(&outputs, resume.as_deref().map(|p| ("--resume", p)))
                .expect_err("aliasing outputs must be refused")
                .to_string();
            assert!(err.contains("name the same file"), "{err}");
        }
        // Saving over the checkpoint one resumes from is how a run continues.
        let save = Some(ck.clone());
        let fine: [(&str, &Option<PathBuf>); 2] = [("--save", &save), ("--metrics", &other)];
        check_no_aliases(&fine, Some(("--resume", &ck))).unwrap();
    }

    /// A dangling link names the file a write through it creates: `--save x.st
    /// --metrics link.json` with `link.json -> x.st` wrote the metrics over the new
    /// checkpoint (exit 0), and a link into the data folder shadowed a data file.
    #[cfg(unix)]
    #[test]
    fn a_dangling_link_is_the_file_it_would_create() {
        let dir = tempfile::tempdir().unwrap();
        let save = dir.path().join("x.st");
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("x.st", &link).unwrap();
        let err = check_config(&RunConfig {
            save: Some(save),
            metrics: Some(link),
            ..RunConfig::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("name the same file"), "{err}");

        let data = dir.path().join("mnist");
        std::fs::create_dir(&data).unwrap();
        let into_data = dir.path().join("data.json");
        std::os::unix::fs::symlink("mnist/train-images-idx3-ubyte", &into_data).unwrap();
        let err = check_config(&RunConfig {
            data_dir: Some(data),
            metrics: Some(into_data),
            ..RunConfig::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("is a file of the data"), "{err}");
    }

    /// Issue 18: `--report` is checked like every output, before any training.
    #[test]
    fn a_report_in_a_missing_directory_or_on_another_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_config(&RunConfig {
            report: Some(dir.path().join("missing/r.html")),
            ..RunConfig::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--report") && err.contains("does not exist"),
            "{err}"
        );
        let same = dir.path().join("out");
        let err = check_config(&RunConfig {
            metrics: Some(same.clone()),
            report: Some(same),
            ..RunConfig::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--report") && err.contains("name the same file"),
            "{err}"
        );
    }

    /// Issue 16's `--threads 1000`: refused at once, with the bound in the message.
    #[test]
    fn a_thread_count_past_the_bound_is_refused() {
        let config = |threads| RunConfig {
            threads,
            ..RunConfig::default()
        };
        let err = check_config(&config(1000)).unwrap_err().to_string();
        assert!(
            err.contains("--threads 1000") && err.contains(&max_threads().to_string()),
            "{err}"
        );
        check_config(&config(max_threads())).unwrap();
    }

    /// Issue 16: `--save` onto a directory, or with a name whose temporary sibling is too
    /// long for the file system, is refused before training, not after an epoch.
    #[test]
    fn unwritable_outputs_are_refused_before_training() {
        let dir = tempfile::tempdir().unwrap();
        let long_name = dir.path().join("x".repeat(250));
        for (path, why) in [
            (dir.path().to_path_buf(), "directory"),
            (long_name, "cannot be written"),
        ] {
            let config = RunConfig {
                save: Some(path),
                ..RunConfig::default()
            };
            let err = check_config(&config).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid configuration: --save ") && err.contains(why),
                "{err}"
            );
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "a probe was left behind"
        );
    }

    /// Issue 16: a FIFO given to `--metrics` was replaced by a regular file after
    /// training. Refused before, and left as it was.
    #[cfg(unix)]
    #[test]
    fn a_fifo_output_is_refused_before_training_and_left_in_place() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("metrics.json");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
        let config = RunConfig {
            metrics: Some(fifo.clone()),
            ..RunConfig::default()
        };
        let err = check_config(&config).unwrap_err().to_string();
        assert!(
            err.contains("--metrics") && err.contains("a FIFO (named pipe), not a regular file"),
            "{err}"
        );
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo());
    }

    /// A run never replaces a file it must not: an existing `--save` file unless it
    /// resumes it or `--overwrite` says so; a read-only file; a model at another output;
    /// a file in the data directory; and a path that names a directory is refused
    /// before training, not at the first save.
    #[test]
    fn outputs_never_replace_a_model_a_data_file_or_a_read_only_file() {
        use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("best.st");
        let lenet = scratchnet_train::models::lenet5(&mut StdRng::seed_from_u64(0));
        scratchnet_train::save_model(&model, &lenet).unwrap();
        let refused = |config: RunConfig, needle: &str| {
            let err = check_config(&config).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        };
        let save = |overwrite, resume: Option<PathBuf>| RunConfig {
            save: Some(model.clone()),
            overwrite,
            resume,
            ..RunConfig::default()
        };
        refused(save(false, None), "--overwrite replaces it");
        check_config(&save(true, None)).unwrap();
        check_config(&save(false, Some(model.clone()))).unwrap();
        let other = dir.path().join("other.st");
        refused(save(false, Some(other)), "--resume");
        refused(
            RunConfig {
                metrics: Some(model.clone()),
                ..RunConfig::default()
            },
            "--metrics",
        );
        let json = dir.path().join("m.json");
        std::fs::write(
            &json,
            b"{\n  \"parameters\": 1,\n  \"dataset\": \"mnist\"\n}",
        )
        .unwrap();
        check_config(&RunConfig {
            metrics: Some(json.clone()),
            ..RunConfig::default()
        })
        .unwrap();
        let mut read_only = std::fs::metadata(&json).unwrap().permissions();
        read_only.set_readonly(true);
        std::fs::set_permissions(&json, read_only).unwrap();
        refused(
            RunConfig {
                metrics: Some(json),
                ..RunConfig::default()
            },
            "read-only",
        );
        let data = dir.path().join("mnist");
        std::fs::create_dir(&data).unwrap();
        refused(
            RunConfig {
                data_dir: Some(data.clone()),
                plot: Some(data.join("train-labels-idx1-ubyte.gz")),
                ..RunConfig::default()
            },
            "a file of the data",
        );
        check_config(&RunConfig {
            data_dir: Some(data.clone()),
            plot: Some(data.join("plot.svg")),
            ..RunConfig::default()
        })
        .unwrap();
        for path in [dir.path().join("new/"), dir.path().join("new/..")] {
            refused(
                RunConfig {
                    save: Some(path),
                    ..RunConfig::default()
                },
                "names a directory",
            );
        }
        let mut fresh = scratchnet_train::models::lenet5(&mut StdRng::seed_from_u64(1));
        assert!(scratchnet_train::load_model(&model, &mut fresh).is_ok());
    }

    /// QA 5 F2: a data file that is a symbolic link (a data folder of links into a
    /// shared copy) was protected only at its link's name: `--metrics` or `--save
    /// --overwrite` on its target replaced it (exit 0); so was a file under an image
    /// folder's `train/` that is a link.
    #[cfg(unix)]
    #[test]
    fn a_data_file_that_is_a_link_is_protected_at_its_target() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let (links, real) = (dir.path().join("lk"), dir.path().join("real"));
        std::fs::create_dir(&links).unwrap();
        std::fs::create_dir(&real).unwrap();
        let target = real.join("t10k-labels-idx1-ubyte.gz");
        std::fs::write(&target, b"labels").unwrap();
        symlink(&target, links.join("t10k-labels-idx1-ubyte.gz")).unwrap();
        let refused = |config: RunConfig| {
            let err = check_config(&config).unwrap_err().to_string();
            assert!(err.contains("is a file of the data in"), "{err}");
        };
        refused(RunConfig {
            data_dir: Some(links.clone()),
            metrics: Some(target.clone()),
            ..RunConfig::default()
        });
        refused(RunConfig {
            data_dir: Some(links.clone()),
            save: Some(target.clone()),
            overwrite: true,
            ..RunConfig::default()
        });
        assert_eq!(std::fs::read(&target).unwrap(), b"labels");

        let (pets, real_train) = (dir.path().join("pets"), dir.path().join("realtrain"));
        std::fs::create_dir_all(real_train.join("cat")).unwrap();
        std::fs::write(real_train.join("cat/0.png"), b"png").unwrap();
        std::fs::create_dir(&pets).unwrap();
        symlink(&real_train, pets.join("train")).unwrap();
        for output in ["cat/0.png", "cat/new.json"] {
            refused(RunConfig {
                dataset: crate::DataSource::Folder(scratchnet_data::FolderOptions::default()),
                data_dir: Some(pets.clone()),
                metrics: Some(real_train.join(output)),
                ..RunConfig::default()
            });
        }
    }

    /// QA 5 F3: `--metrics`, `--plot`, `--report` and `--predictions` replaced any
    /// file (a source file, a picture, notes) without a word. A file one of them did
    /// not write is refused, naming the flag, the file and the fix, unless
    /// `--overwrite`; its own earlier output (and an empty file) is replaced as before.
    #[test]
    fn side_outputs_replace_only_their_own_files_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let config = |flag: &str, path: &PathBuf, overwrite| {
            let mut config = RunConfig {
                overwrite,
                ..RunConfig::default()
            };
            let slot = match flag {
                "--metrics" => &mut config.metrics,
                "--plot" => &mut config.plot,
                "--report" => &mut config.report,
                _ => &mut config.predictions,
            };
            *slot = Some(path.clone());
            config
        };
        let foreign = [
            ("--metrics", file("mycode.rs", b"fn main() {}\n")),
            ("--metrics", file("other.json", b"{\"name\": \"mine\"}")),
            ("--plot", file("drawing.svg", b"<svg></svg>")),
            ("--report", file("notes.html", b"<html>my notes</html>")),
            ("--predictions", file("notes.txt", b"notes")),
        ];
        for (flag, path) in &foreign {
            let err = check_config(&config(flag, path, false))
                .unwrap_err()
                .to_string();
            let named = format!("{flag} {}: the file exists and is not", path.display());
            assert!(
                err.contains(&named) && err.contains("--overwrite replaces it"),
                "{err}"
            );
            check_config(&config(flag, path, true)).unwrap();
        }
        let history = scratchnet_train::History {
            epochs: vec![scratchnet_train::EpochMetrics {
                epoch: 1,
                train_loss: 0.5,
                train_accuracy: 0.8,
                test_loss: 0.4,
                test_accuracy: 0.85,
                seconds: 1.0,
                samples_per_second: 100.0,
            }],
        };
        let plot = dir.path().join("p.svg");
        crate::plot_history(&history, &plot).unwrap();
        let metrics = dir.path().join("m.json");
        let evaluation = scratchnet_train::Evaluation {
            loss: 0.4,
            accuracy: 0.5,
            logits: ndarray::Array2::zeros((2, 3)),
            predictions: vec![0, 1],
            confusion: scratchnet_train::ConfusionMatrix::new(3),
        };
        crate::MetricsReport::new(1, "mnist", 1, 8, 0, &history, &evaluation)
            .write(&metrics)
            .unwrap();
        let predictions = dir.path().join("p.st");
        crate::write_predictions(&predictions, &evaluation, &[0, 1]).unwrap();
        let own = [
            ("--metrics", metrics),
            ("--plot", plot),
            ("--predictions", predictions),
            ("--metrics", file("empty.json", b"")),
        ];
        for (flag, path) in &own {
            check_config(&config(flag, path, false)).unwrap();
        }
        // A --plot must be an SVG, as a --report must be HTML.
        let err = check_config(&config("--plot", &dir.path().join("mypic.png"), true))
            .unwrap_err()
            .to_string();
        assert!(err.contains("must end in .svg; give e.g. --plot"), "{err}");
    }

    /// Issue 16: a second run saving to the same `--save` file is refused before it
    /// loads anything, naming the file and the other run's pid, and so is a run whose
    /// other output is that file (it replaced a running run's checkpoint with metrics,
    /// both runs exiting 0); leftover temporary
    /// files of the outputs are removed and each named in one line. (Linux: whether
    /// the process of a report's leftover still runs is read from `/proc`.)
    #[cfg(target_os = "linux")]
    #[test]
    fn claiming_outputs_refuses_a_locked_save_and_removes_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let save = dir.path().join("run.st");
        let metrics = dir.path().join("m.json");
        let config = RunConfig {
            save: Some(save.clone()),
            metrics: Some(metrics),
            ..RunConfig::default()
        };
        let other_run = scratchnet_train::SaveLock::acquire(&save).unwrap();
        let err = claim_outputs(&config, |_| {}).unwrap_err().to_string();
        let pid = std::process::id();
        assert!(
            err.contains(&format!(
                "another run (pid {pid}) is already writing to {}",
                save.display()
            )),
            "{err}"
        );
        // A side output on a file another run writes (its checkpoint, which a
        // metrics file would have replaced once that run saved it) is refused too.
        let elsewhere = RunConfig {
            metrics: Some(save.clone()),
            ..RunConfig::default()
        };
        let err = claim_outputs(&elsewhere, |_| {}).unwrap_err().to_string();
        assert!(err.contains("is already writing to"), "{err}");
        drop(other_run);

        // Every output's lock proves its temporary files stale, even one whose pid
        // runs (pid 1 always does: pids are reused), as the trainer's lock does for
        // the checkpoint's. Other files are kept.
        let leftovers = [
            ".run.st.tmp77-0",
            ".m.json.tmp1-0",
            ".m.json.tmp999999999-3",
        ];
        let kept = ".m.json.tmp1-x";
        for name in leftovers.iter().chain([&kept]) {
            std::fs::write(dir.path().join(name), b"half").unwrap();
        }
        let said = std::cell::RefCell::new(Vec::new());
        let locks =
            claim_outputs(&config, |line| said.borrow_mut().push(line.to_string())).unwrap();
        assert_eq!(locks.len(), 1, "the metrics' lock, held for the run");
        assert!(dir.path().join(".m.json.lock").exists());
        drop(locks);
        let said = said.into_inner();
        assert_eq!(said.len(), 3, "{said:?}");
        for (line, name) in said.iter().zip(leftovers) {
            assert_eq!(
                *line,
                format!(
                    "removed a leftover temporary file {} from an interrupted save",
                    dir.path().join(name).display()
                )
            );
            assert!(!dir.path().join(name).exists());
        }
        assert!(dir.path().join(kept).exists());
        assert!(!dir.path().join(".run.st.lock").exists());
        assert!(!dir.path().join(".m.json.lock").exists());
    }
}
