//! Trains LeNet-5 on MNIST (or Fashion-MNIST) and saves it in PyTorch's safetensors layout.
//!
//! ```text
//! cargo run --release --example mnist_lenet -- --data-dir ../shared/data/mnist --metrics m.json
//! ```
//!
//! The default recipe (Adam, learning rate 0.005 with a cosine decay to 0 over the run,
//! batch 64) reaches about 99.1% test accuracy in three epochs. A checkpoint is saved after
//! every epoch; `--resume lenet.safetensors --epochs 5` continues a run up to five epochs
//! in all. All the logic is in [`scratchnet::train::run`]; this file only reads the flags.
//!
//! **Ctrl-C** once: training stops after the current batch, saves a checkpoint that
//! resumes exactly there, prints the command that resumes it and exits with code 130.
//! Ctrl-C twice: exits at once (130), without writing (the last checkpoint stays intact).

use clap::{Parser, ValueEnum};
use scratchnet::data::DatasetKind;
use scratchnet::train::run::{
    resume_command, run, ModelSpec, OptimizerKind, RunConfig, ScheduleKind,
};
use scratchnet::train::{ProgressMode, StopFlag, TrainError};
use std::path::PathBuf;
use std::process::ExitCode;

/// Train LeNet-5 on MNIST with scratchnet.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Directory of the four MNIST IDX files (raw or .gz); default: $MNIST_DIR, else
    /// data/mnist (downloaded there if missing)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Dataset
    #[arg(long, value_enum, default_value_t = Dataset::Mnist)]
    dataset: Dataset,
    /// Total epochs (a resumed run counts the checkpoint's epochs)
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = at_least_one)]
    epochs: usize,
    /// Batch size [default: 64, or the checkpoint's]
    #[arg(long, value_name = "B", value_parser = at_least_one)]
    batch_size: Option<usize>,
    /// Optimizer [default: adam, or the checkpoint's]
    #[arg(long, value_enum)]
    optimizer: Option<Optim>,
    /// Base learning rate [default: adam 0.005, sgd 0.05, or the checkpoint's]
    #[arg(long, value_name = "X", value_parser = positive_f32, allow_negative_numbers = true)]
    lr: Option<f32>,
    /// Learning-rate schedule [default: cosine, or the checkpoint's]
    #[arg(long, value_enum)]
    schedule: Option<Schedule>,
    /// Threads [default: all cores]
    #[arg(long, value_name = "T", value_parser = at_least_one)]
    threads: Option<usize>,
    /// Seed of the initial weights and the batch order [default: 0, or the checkpoint's]
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Train on the first N training images only
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    limit_train: Option<usize>,
    /// Save a checkpoint (safetensors) here after every epoch
    #[arg(long, value_name = "PATH", default_value = "lenet.safetensors")]
    save: PathBuf,
    /// Resume from a checkpoint saved by --save
    #[arg(long, value_name = "PATH")]
    resume: Option<PathBuf>,
    /// Write the per-epoch metrics as JSON here
    #[arg(long, value_name = "PATH")]
    metrics: Option<PathBuf>,
    /// Draw the loss and accuracy curves to this SVG
    #[arg(long, value_name = "PATH")]
    plot: Option<PathBuf>,
    /// Write the final test-set logits and predictions here (safetensors)
    #[arg(long, value_name = "PATH")]
    predictions: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Dataset {
    Mnist,
    Fashion,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Optim {
    Adam,
    Sgd,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Schedule {
    Constant,
    Step,
    Cosine,
}

fn at_least_one(s: &str) -> Result<usize, String> {
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

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if e.use_stderr() => {
            // One line, not clap's usage block.
            let text = e.to_string();
            eprintln!(
                "{} (see --help)",
                text.lines().next().unwrap_or("invalid arguments")
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print(); // --help, --version
            return ExitCode::SUCCESS;
        }
    };
    let threads = args
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
        model: ModelSpec::lenet5(),
        augment: false,
        data_dir: args.data_dir,
        dataset: match args.dataset {
            Dataset::Mnist => DatasetKind::Mnist,
            Dataset::Fashion => DatasetKind::FashionMnist,
        },
        epochs: args.epochs,
        batch_size: args.batch_size,
        optimizer: args.optimizer.map(|o| match o {
            Optim::Adam => OptimizerKind::Adam,
            Optim::Sgd => OptimizerKind::Sgd,
        }),
        lr: args.lr,
        schedule: args.schedule.map(|s| match s {
            Schedule::Constant => ScheduleKind::Constant,
            Schedule::Step => ScheduleKind::Step,
            Schedule::Cosine => ScheduleKind::Cosine,
        }),
        threads,
        seed: args.seed,
        limit_train: args.limit_train,
        save: Some(args.save),
        resume: args.resume,
        metrics: args.metrics,
        plot: args.plot,
        predictions: args.predictions,
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
