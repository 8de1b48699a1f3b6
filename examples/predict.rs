//! Classifies images of digits with a LeNet-5 checkpoint.
//!
//! ```text
//! cargo run --release --example predict -- --model lenet.safetensors digit.png photo.jpg
//! ```
//!
//! Each image (PNG or JPEG, any size) is converted to grey, resized to 28×28, inverted if
//! its background is light, and normalised like the training data. For each, the predicted
//! class and the three most probable classes are printed. `--kernels reference` runs
//! the plain reference loops instead of the fast kernels.
//!
//! Images are decoded and classified `--batch-size` at a time (256 by default), each
//! batch printed and dropped before the next is read: the memory used does not grow
//! with the number of images, and the output is the same whatever the batch size.

use clap::Parser;
use scratchnet::data::DatasetKind;
use scratchnet::layers::{Layer, Mode, Sequential};
use scratchnet::ndarray::Ix2;
use scratchnet::ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet::tensor::kernels::Kernels;
use scratchnet::train::{load_model, models::lenet5, TrainError};
use scratchnet_cli::{
    class_names, kernels_flag, load_digit, normalized_batch, parse_args, top_k, use_kernels,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// Predict the class of images with a LeNet-5 checkpoint.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The checkpoint (safetensors, from mnist_lenet or PyTorch)
    #[arg(long, value_name = "PATH")]
    model: PathBuf,
    /// Numeric kernels: the plain reference loops or the fast ones [default:
    /// $SCRATCHNET_KERNELS, else fast]
    #[arg(long, value_name = "reference|fast", value_parser = kernels_flag)]
    kernels: Option<Kernels>,
    /// Images decoded and classified at a time (1 to 65536)
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65536))]
    batch_size: usize,
    /// PNG or JPEG images
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args: Args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    if let Err(code) = use_kernels(args.kernels) {
        return code;
    }
    match predict(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn predict(args: &Args) -> Result<(), TrainError> {
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let checkpoint = load_model(&args.model, &mut model)?;
    // A checkpoint from mnist_lenet records its dataset; PyTorch-made ones are taken as MNIST.
    let kind = match checkpoint.metadata.get("dataset").map(String::as_str) {
        Some("fashion") => DatasetKind::FashionMnist,
        _ => DatasetKind::Mnist,
    };
    let names = class_names(kind);
    for paths in args.images.chunks(args.batch_size) {
        predict_batch(&mut model, paths, kind, &names)?;
    }
    Ok(())
}

/// Decodes the images at `paths`, classifies them as one batch and prints a line for each.
fn predict_batch(
    model: &mut Sequential,
    paths: &[PathBuf],
    kind: DatasetKind,
    names: &[&str; 10],
) -> Result<(), TrainError> {
    let mut pixels = Vec::with_capacity(paths.len() * 28 * 28);
    for path in paths {
        pixels.extend(load_digit(path)?);
    }
    let batch = normalized_batch(&pixels, kind.normalization());
    let logits = model
        .forward(batch.into_dyn().view(), Mode::Eval)?
        .into_dimensionality::<Ix2>()
        .map_err(|e| {
            TrainError::config(format!("the model does not output [N, 10] logits: {e}"))
        })?;
    for (path, top) in paths.iter().zip(top_k(&logits, 3)) {
        let ranked: Vec<String> = top
            .iter()
            .map(|&(class, p)| format!("{} {:.2}%", names[class], 100.0 * p))
            .collect();
        println!(
            "{}: {}  (top 3: {})",
            path.display(),
            names[top[0].0],
            ranked.join(", ")
        );
    }
    Ok(())
}
