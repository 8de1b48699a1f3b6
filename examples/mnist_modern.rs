//! Trains a small modern CNN on MNIST: 3×3 convolutions with batch normalisation and
//! ReLU, max pooling, dropout, shifted-image augmentation and a cosine learning-rate
//! schedule. Same flags, progress and `--metrics` JSON as `mnist_lenet`.
//!
//! ```text
//! cargo run --release --example mnist_modern -- --data-dir ../shared/data/mnist --metrics modern.json
//! ```
//!
//! | name | layer | output (per sample) |
//! |---|---|---|
//! | `conv1`, `bn1`, `relu1` | `Conv2d(1, 32, 3, padding=1)`, `BatchNorm2d(32)`, `ReLU` | `[32, 28, 28]` |
//! | `pool1` | `MaxPool2d(2)` | `[32, 14, 14]` |
//! | `conv2`, `bn2`, `relu2` | `Conv2d(32, 32, 3, padding=1)`, … | `[32, 14, 14]` |
//! | `pool2` | `MaxPool2d(2)` | `[32, 7, 7]` |
//! | `conv3`, `bn3`, `relu3` | `Conv2d(32, 64, 3, padding=1)`, … | `[64, 7, 7]` |
//! | `pool3` | `MaxPool2d(2)` | `[64, 3, 3]` |
//! | `flatten`, `dropout`, `fc` | `Flatten`, `Dropout(0.3)`, `Linear(576, 10)` | `[10]` |
//!
//! 33,962 parameters. The defaults (6 epochs, Adam 0.005 with a cosine decay to 0,
//! batch 64, seed 0, shifts of up to two pixels) reached 99.41% test accuracy (98.59,
//! 99.04, 99.18, 99.30, 99.39, 99.41% after epochs 1-6) in about ten minutes on two
//! busy cores.
//!
//! The convolutions have no bias (batch norm's shift replaces it). All the training
//! logic is [`scratchnet::train::run`], given this model through
//! [`ModelSpec`](scratchnet::train::run::ModelSpec).

use clap::{Parser, ValueEnum};
use scratchnet::prelude::*;
use scratchnet::train::run::{run, ModelSpec, OptimizerKind, RunConfig, ScheduleKind};
use std::path::PathBuf;
use std::process::ExitCode;

/// Train a small modern CNN (batch norm, dropout, augmentation) on MNIST with scratchnet.
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
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = at_least_one)]
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
    #[arg(long, value_name = "PATH", default_value = "modern.safetensors")]
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
    /// Train on the images as they are, without random shifts of up to two pixels
    #[arg(long)]
    no_augment: bool,
}

/// The model (see the table at the top), initialised from `rng`.
fn modern_cnn(rng: &mut StdRng) -> Sequential {
    let conv = |cin, cout, rng: &mut StdRng| {
        let config = Conv2dConfig {
            padding: [1, 1],
            bias: false,
            ..Conv2dConfig::default()
        };
        Conv2d::new(cin, cout, [3, 3], config, rng)
    };
    let bn = |c| BatchNorm2d::new(c, BatchNorm2dConfig::default());
    let pool = || MaxPool2d::new([2, 2], MaxPool2dConfig::default());
    Sequential::new()
        .add("conv1", conv(1, 32, rng))
        .add("bn1", bn(32))
        .add("relu1", ReLU::new())
        .add("pool1", pool())
        .add("conv2", conv(32, 32, rng))
        .add("bn2", bn(32))
        .add("relu2", ReLU::new())
        .add("pool2", pool())
        .add("conv3", conv(32, 64, rng))
        .add("bn3", bn(64))
        .add("relu3", ReLU::new())
        .add("pool3", pool())
        .add("flatten", Flatten::new())
        .add("dropout", Dropout::new(0.3, rng.random()))
        .add("fc", Dense::new(64 * 3 * 3, 10, rng))
        .build(&[1, 28, 28])
        .expect("the model fits 1×28×28 images")
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
    let config = RunConfig {
        model: ModelSpec::new("mnist_modern", modern_cnn),
        augment: !args.no_augment,
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
        // No Ctrl-C handler here: the Dropout layer's mask counter is not in the
        // checkpoint, so a mid-epoch resume would not be exact (see docs/reproducibility.md).
        stop: Default::default(),
    };
    match run(&config) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
