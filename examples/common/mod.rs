//! What the training examples (`mnist_lenet`, `mnist_modern`) share: their common
//! flags, the thread pool, Ctrl-C handling and the exit codes. Each example adds its
//! own model, defaults and extra flags; all the training logic is
//! [`scratchnet::train::run`].

use clap::{Parser, ValueEnum};
use scratchnet::data::DatasetKind;
use scratchnet::train::run::{
    resume_command, run, ModelSpec, OptimizerKind, RunConfig, ScheduleKind,
};
use scratchnet::train::{ProgressMode, StopFlag, TrainError};
use std::path::PathBuf;
use std::process::ExitCode;

/// The flags every training example takes (flattened into its own `Args`).
#[derive(clap::Args, Debug)]
pub struct TrainFlags {
    /// Directory of the four MNIST IDX files (raw or .gz); default: $MNIST_DIR, else
    /// data/mnist (downloaded there if missing)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Dataset
    #[arg(long, value_enum, default_value_t = Dataset::Mnist)]
    pub dataset: Dataset,
    /// Batch size [default: 64, or the checkpoint's]
    #[arg(long, value_name = "B", value_parser = at_least_one)]
    pub batch_size: Option<usize>,
    /// Optimizer [default: adam, or the checkpoint's]
    #[arg(long, value_enum)]
    pub optimizer: Option<Optim>,
    /// Base learning rate [default: adam 0.005, sgd 0.05, or the checkpoint's]
    #[arg(long, value_name = "X", value_parser = positive_f32, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// Learning-rate schedule [default: cosine, or the checkpoint's]
    #[arg(long, value_enum)]
    pub schedule: Option<Schedule>,
    /// Threads [default: all cores]
    #[arg(long, value_name = "T", value_parser = at_least_one)]
    pub threads: Option<usize>,
    /// Seed of the initial weights and the batch order [default: 0, or the checkpoint's]
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Train on the first N training images only
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit_train: Option<usize>,
    /// Resume from a checkpoint saved by --save
    #[arg(long, value_name = "PATH")]
    pub resume: Option<PathBuf>,
    /// Write the per-epoch metrics as JSON here
    #[arg(long, value_name = "PATH")]
    pub metrics: Option<PathBuf>,
    /// Draw the loss and accuracy curves to this SVG
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,
    /// Write the final test-set logits and predictions here (safetensors)
    #[arg(long, value_name = "PATH")]
    pub predictions: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Dataset {
    Mnist,
    Fashion,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Optim {
    Adam,
    Sgd,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Schedule {
    Constant,
    Step,
    Cosine,
}

/// A clap value parser: an integer ≥ 1.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn positive_f32(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(x) => Err(format!("must be a finite number > 0, not {x}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses the command line; on a flag error prints one line (not clap's usage block)
/// and gives exit code 2; `--help` and `--version` print and give success.
pub fn parse_args<A: Parser>() -> Result<A, ExitCode> {
    match A::try_parse() {
        Ok(args) => Ok(args),
        Err(e) if e.use_stderr() => {
            let text = e.to_string();
            eprintln!(
                "{} (see --help)",
                text.lines().next().unwrap_or("invalid arguments")
            );
            Err(ExitCode::from(2))
        }
        Err(e) => {
            let _ = e.print();
            Err(ExitCode::SUCCESS)
        }
    }
}

/// What an example trains, beyond the common flags.
pub struct Job {
    pub model: ModelSpec,
    pub epochs: usize,
    pub save: PathBuf,
    pub augment: bool,
}

/// Sets up the thread pool and Ctrl-C, trains, and maps the outcome to an exit code:
/// 0 when done, 130 when interrupted (after printing how to resume), 1 on an error.
///
/// The first Ctrl-C stops after the current batch with a checkpoint that resumes
/// exactly there; a second exits at once without writing (the last checkpoint stays
/// intact).
pub fn train(flags: TrainFlags, job: Job) -> ExitCode {
    let threads = flags
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
    {
        eprintln!("error: cannot start {threads} threads: {e}");
        return ExitCode::FAILURE;
    }
    let stop = StopFlag::new();
    let handler_flag = stop.clone();
    if let Err(e) = ctrlc::set_handler(move || {
        if handler_flag.is_raised() {
            eprintln!("interrupted again: exiting without saving");
            std::process::exit(130);
        }
        eprintln!(
            "interrupted: stopping after the current batch and saving a checkpoint (Ctrl-C again to quit at once)"
        );
        handler_flag.raise();
    }) {
        eprintln!("warning: cannot handle Ctrl-C: {e}");
    }
    let config = RunConfig {
        model: job.model,
        augment: job.augment,
        data_dir: flags.data_dir,
        dataset: match flags.dataset {
            Dataset::Mnist => DatasetKind::Mnist,
            Dataset::Fashion => DatasetKind::FashionMnist,
        },
        epochs: job.epochs,
        batch_size: flags.batch_size,
        optimizer: flags.optimizer.map(|o| match o {
            Optim::Adam => OptimizerKind::Adam,
            Optim::Sgd => OptimizerKind::Sgd,
        }),
        lr: flags.lr,
        schedule: flags.schedule.map(|s| match s {
            Schedule::Constant => ScheduleKind::Constant,
            Schedule::Step => ScheduleKind::Step,
            Schedule::Cosine => ScheduleKind::Cosine,
        }),
        threads,
        seed: flags.seed,
        limit_train: flags.limit_train,
        save: Some(job.save),
        resume: flags.resume,
        metrics: flags.metrics,
        plot: flags.plot,
        predictions: flags.predictions,
        progress: ProgressMode::Auto,
        stop,
    };
    match run(&config) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e @ TrainError::Interrupted { .. }) => {
            eprintln!("{e}");
            if let TrainError::Interrupted {
                checkpoint: Some(path),
                ..
            } = &e
            {
                let args: Vec<String> = std::env::args().collect();
                eprintln!("resume with: {}", resume_command(&args, path));
            }
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
