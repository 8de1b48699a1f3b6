//! Trains a small CNN on CIFAR-10 — or on any folder of images — with scratchnet: three
//! blocks of 3×3 convolution, batch normalisation and ReLU (32, 64, 128 channels), each
//! followed by 2×2 max pooling, then global average pooling, dropout and a linear layer.
//! Same flags, progress, `--metrics` JSON and Ctrl-C handling as `mnist_lenet`.
//!
//! ```text
//! cargo run --release --example cifar10_cnn -- --data-dir data/cifar-10 --epochs 10
//! cargo run --release --example cifar10_cnn -- --dataset mnist --epochs 1
//! ```
//!
//! Without `--data-dir` or `$CIFAR10_DIR`, CIFAR-10's binary archive (170 MB) is
//! downloaded into `data/cifar-10`, checked by SHA-256, and its batch files extracted.
//!
//! | name | layer | output (per sample, 3×32×32 input) |
//! |---|---|---|
//! | `conv1`, `bn1`, `relu1` | `Conv2d(C, 32, 3, padding=1)`, `BatchNorm2d(32)`, `ReLU` | `[32, 32, 32]` |
//! | `pool1` | `MaxPool2d(2)` | `[32, 16, 16]` |
//! | `conv2`, `bn2`, `relu2` | `Conv2d(32, 64, 3, padding=1)`, … | `[64, 16, 16]` |
//! | `pool2` | `MaxPool2d(2)` | `[64, 8, 8]` |
//! | `conv3`, `bn3`, `relu3` | `Conv2d(64, 128, 3, padding=1)`, … | `[128, 8, 8]` |
//! | `pool3` | `MaxPool2d(2)` | `[128, 4, 4]` |
//! | `gap`, `dropout`, `fc` | `AdaptiveAvgPool2d(1)` + flatten, `Dropout(0.3)`, `Linear(128, K)` | `[K]` |
//!
//! The model is built for the data: `C` input channels, `K` classes, any image size (a
//! pooling layer is left out where the image is already down to one pixel). 94,762
//! parameters for CIFAR-10. The convolutions have no bias (batch norm's shift replaces
//! it). The model is [`scratchnet_cli::small_cnn`] (so that `predict` can rebuild it
//! from a checkpoint); all the training logic is [`scratchnet_cli::run`].

use clap::Parser;
use scratchnet_cli::{at_least_one, parse_args, train, Dataset, Job, ModelSpec, TrainFlags};
use std::path::PathBuf;
use std::process::ExitCode;

/// Train a small CNN (batch norm, dropout) on CIFAR-10 or an image folder with scratchnet.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    flags: TrainFlags,
    /// Total epochs (a resumed run counts the checkpoint's epochs)
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = at_least_one, allow_negative_numbers = true)]
    epochs: usize,
    /// Save a checkpoint (safetensors) here after every epoch
    #[arg(long, value_name = "PATH", default_value = "cifar10_cnn.safetensors")]
    save: PathBuf,
    /// Shift training images at random by up to two pixels
    #[arg(long)]
    augment: bool,
}

fn main() -> ExitCode {
    let args: Args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    let job = Job {
        model: ModelSpec::small_cnn(),
        epochs: args.epochs,
        save: args.save,
        augment: args.augment,
        default_dataset: Dataset::Cifar10,
    };
    train(args.flags, job)
}
