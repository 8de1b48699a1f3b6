//! Trains a small ResNet on Fashion-MNIST: a stem convolution, three stages of two
//! residual BasicBlocks at 16/32/64 channels (stride 2 between stages), global average
//! pooling and a linear classifier. Same flags, progress, `--metrics` JSON and Ctrl-C
//! handling as `mnist_lenet`; the dataset defaults to Fashion-MNIST (`--dataset
//! fashion`), read from `--data-dir`, `$FASHION_MNIST_DIR`, `data/fashion-mnist/` or
//! Debian's `/usr/share/datasets/fashion-mnist` (`apt-get install dataset-fashion-mnist`),
//! else downloaded.
//!
//! ```text
//! cargo run --release --example fashion_resnet
//! ```
//!
//! | name | layer | output (per sample) |
//! |---|---|---|
//! | `conv1`, `bn1`, `relu` | `Conv2d(1, 16, 3, padding=1)`, `BatchNorm2d(16)`, `ReLU` | `[16, 28, 28]` |
//! | `layer1.0`, `layer1.1` | `BasicBlock(16, 16)` ×2 | `[16, 28, 28]` |
//! | `layer2.0`, `layer2.1` | `BasicBlock(16, 32, stride=2)` with a 1×1 projection, `BasicBlock(32, 32)` | `[32, 14, 14]` |
//! | `layer3.0`, `layer3.1` | `BasicBlock(32, 64, stride=2)` with a 1×1 projection, `BasicBlock(64, 64)` | `[64, 7, 7]` |
//! | `avgpool`, `flatten`, `fc` | `AdaptiveAvgPool2d(1)`, `Flatten`, `Linear(64, 10)` | `[10]` |
//!
//! A BasicBlock is torchvision's: `conv1` (3×3, the block's stride) → `bn1` → `relu`
//! → `conv2` (3×3) → `bn2`, plus the shortcut (the identity, or `downsample`: a 1×1
//! convolution with the stride, then batch norm), then a ReLU — the built-in
//! [`Residual`]. Convolutions have no bias. 174,970 parameters; the checkpoint's names
//! are torchvision's (`layer2.0.downsample.0.weight`), so the same network written in
//! PyTorch (`tools/fashion_resnet_torch.py`) loads it as it is:
//! `tools/check_fashion_resnet.py` checks that it then predicts the test set as
//! scratchnet does.
//!
//! All the training logic is [`scratchnet_cli::run`], given this model through
//! [`ModelSpec`](scratchnet_cli::ModelSpec).

use clap::Parser;
use scratchnet::prelude::*;
use scratchnet::train::models::{basic_block, conv3x3};
use scratchnet_cli::{at_least_one, parse_args, train, Dataset, Job, ModelSpec, TrainFlags};
use std::path::PathBuf;
use std::process::ExitCode;

/// Train a small ResNet (three stages of two BasicBlocks) on Fashion-MNIST with scratchnet.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    flags: TrainFlags,
    /// Total epochs (a resumed run counts the checkpoint's epochs)
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = at_least_one, allow_negative_numbers = true)]
    epochs: usize,
    /// Save a checkpoint (safetensors) here after every epoch
    #[arg(
        long,
        value_name = "PATH",
        default_value = "fashion_resnet.safetensors"
    )]
    save: PathBuf,
    /// Train on the images as they are, without random shifts of up to two pixels
    #[arg(long)]
    no_augment: bool,
}

fn batch_norm(channels: usize) -> BatchNorm2d {
    BatchNorm2d::new(channels, BatchNorm2dConfig::default())
}

/// torchvision's BasicBlock (see [`basic_block`]); the sizes here always fit.
fn block(
    in_channels: usize,
    out_channels: usize,
    stride: usize,
    size: usize,
    rng: &mut StdRng,
) -> Residual {
    basic_block(in_channels, out_channels, stride, size, rng).expect("a BasicBlock fits its input")
}

/// A stage: two BasicBlocks, the first with `stride`, named `0` and `1`.
fn stage(
    in_channels: usize,
    out_channels: usize,
    stride: usize,
    size: usize,
    rng: &mut StdRng,
) -> Sequential {
    Sequential::new()
        .add("0", block(in_channels, out_channels, stride, size, rng))
        .add(
            "1",
            block(out_channels, out_channels, 1, size / stride, rng),
        )
}

/// The model (see the table at the top), initialised from `rng`.
fn fashion_resnet(rng: &mut StdRng) -> Sequential {
    Sequential::new()
        .add("conv1", conv3x3(1, 16, 1, rng))
        .add("bn1", batch_norm(16))
        .add("relu", ReLU::new())
        .add("layer1", stage(16, 16, 1, 28, rng))
        .add("layer2", stage(16, 32, 2, 28, rng))
        .add("layer3", stage(32, 64, 2, 14, rng))
        .add("avgpool", AdaptiveAvgPool2d::new([1, 1]))
        .add("flatten", Flatten::new())
        .add("fc", Dense::new(64, 10, rng))
        .build(&[1, 28, 28])
        .expect("the model fits 1×28×28 images")
}

fn main() -> ExitCode {
    let args: Args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    let job = Job {
        model: ModelSpec::new("fashion_resnet", fashion_resnet),
        epochs: args.epochs,
        save: args.save,
        augment: !args.no_augment,
        default_dataset: Dataset::Fashion,
    };
    train(args.flags, job)
}
