//! Trains a small modern CNN on MNIST: 3×3 convolutions with batch normalisation and
//! ReLU, max pooling, dropout, shifted-image augmentation and a cosine learning-rate
//! schedule. Same flags, progress, `--metrics` JSON and Ctrl-C handling as `mnist_lenet`
//! (a first Ctrl-C checkpoints and stops; the dropout mask counter is in the checkpoint,
//! so the resumed run is bit-identical to an uninterrupted one).
//!
//! ```text
//! cargo run --release --example mnist_modern -- --metrics modern.json
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
//! batch 64, seed 0, shifts of up to two pixels) reached 99.45% test accuracy (98.78,
//! 99.04, 99.22, 99.35, 99.40, 99.45% after epochs 1-6) in about a minute (the whole
//! process, 8–12 s per training epoch) on a 2-core AMD EPYC (measured 2026-12-05).
//!
//! The convolutions have no bias (batch norm's shift replaces it). All the training
//! logic is [`scratchnet_cli::run`], given this model through
//! [`ModelSpec`](scratchnet_cli::ModelSpec).

use clap::Parser;
use scratchnet::prelude::*;
use scratchnet_cli::{at_least_one, parse_args, train, Dataset, Job, ModelSpec, TrainFlags};
use std::path::PathBuf;
use std::process::ExitCode;

/// Train a small modern CNN (batch norm, dropout, augmentation) on MNIST with scratchnet.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    flags: TrainFlags,
    /// Total epochs (a resumed run counts the checkpoint's epochs)
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = at_least_one, allow_negative_numbers = true)]
    epochs: usize,
    /// Save a checkpoint (safetensors) here after every epoch
    #[arg(long, value_name = "PATH", default_value = "modern.safetensors")]
    save: PathBuf,
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

fn main() -> ExitCode {
    let args: Args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    let job = Job {
        model: ModelSpec::new("mnist_modern", modern_cnn),
        epochs: args.epochs,
        save: args.save,
        augment: !args.no_augment,
        default_dataset: Dataset::Mnist,
    };
    train(args.flags, job)
}
