//! Classifies images with a checkpoint of `mnist_lenet` (or PyTorch's LeNet-5) or of
//! `cifar10_cnn` (trained on CIFAR-10 or an image folder).
//!
//! ```text
//! cargo run --release --example predict -- --model lenet.safetensors digit.png photo.jpg
//! cargo run --release --example predict -- --model cifar10_cnn.safetensors cat.jpg
//! ```
//!
//! For a digits model (MNIST, Fashion-MNIST, or a checkpoint without metadata), each image
//! (PNG or JPEG, any size) is converted to grey, resized to 28×28, inverted if its
//! background is light, and normalised like the training data. For any other, the
//! checkpoint's metadata says how its run read images — `input_shape` (channels, size),
//! `normalization` (per channel) — and each image is converted, resized (Triangle filter)
//! and normalised the same way. For each, the predicted class and the three most probable
//! classes are printed, by the names in the checkpoint's `classes` (the folder names of an
//! image folder). `--kernels reference` runs
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
use scratchnet::train::{load_model, models::lenet5, read_metadata, TrainError};
use scratchnet_cli::{
    class_names, kernels_flag, load_digit, load_image, normalized_batch, normalized_chw_batch,
    parse_args, small_cnn, top_k, use_kernels, ModelInput, SavedData,
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
    let metadata = read_metadata(&args.model)?;
    let saved = SavedData::from_metadata(&metadata);
    let dataset = metadata.get("dataset").map(String::as_str);
    let model_name = metadata.get("model").map_or("lenet5", String::as_str);
    let rng = &mut StdRng::seed_from_u64(0);
    let mut model = match (model_name, &saved) {
        ("cifar10_cnn", Some(saved)) => small_cnn(
            rng,
            &ModelInput {
                sample_shape: saved.sample_shape,
                num_classes: saved.class_names.len(),
            },
        ),
        ("cifar10_cnn", None) => {
            return Err(TrainError::config(format!(
                "{} holds a cifar10_cnn model but not the input shape, classes and \
                 normalisation its run records: use a checkpoint saved by cifar10_cnn",
                args.model.display()
            )))
        }
        _ => lenet5(rng),
    };
    load_model(&args.model, &mut model)?;
    // MNIST-like digits (mnist_lenet's checkpoints, PyTorch-made ones) go through the digit
    // pipeline; anything else is read as its run read its images.
    let input = match (&saved, dataset) {
        (Some(saved), Some(d)) if d != "mnist" && d != "fashion" => Input::Saved(saved.clone()),
        _ => Input::Digit(match dataset {
            Some("fashion") => DatasetKind::FashionMnist,
            _ => DatasetKind::Mnist,
        }),
    };
    let names: Vec<String> = match (&saved, &input) {
        (Some(saved), _) => saved.class_names.clone(),
        (None, Input::Digit(kind)) => class_names(*kind).map(str::to_owned).to_vec(),
        (None, Input::Saved(saved)) => saved.class_names.clone(),
    };
    for paths in args.images.chunks(args.batch_size) {
        predict_batch(&mut model, paths, &input, &names)?;
    }
    Ok(())
}

/// How images become the model's input.
enum Input {
    /// Grey 28×28 digits, inverted if on a light background, with the dataset's
    /// normalisation.
    Digit(DatasetKind),
    /// Converted and resized to the checkpoint's input shape, normalised per channel as
    /// its run was.
    Saved(SavedData),
}

/// Decodes the images at `paths`, classifies them as one batch and prints a line for each.
fn predict_batch(
    model: &mut Sequential,
    paths: &[PathBuf],
    input: &Input,
    names: &[String],
) -> Result<(), TrainError> {
    let batch = match input {
        Input::Digit(kind) => {
            let mut pixels = Vec::with_capacity(paths.len() * 28 * 28);
            for path in paths {
                pixels.extend(load_digit(path)?);
            }
            normalized_batch(&pixels, kind.normalization())
        }
        Input::Saved(saved) => {
            let mut pixels = Vec::new();
            for path in paths {
                pixels.extend(load_image(path, saved.sample_shape)?);
            }
            normalized_chw_batch(&pixels, saved.sample_shape, &saved.normalization)
        }
    };
    let logits = model
        .forward(batch.into_dyn().view(), Mode::Eval)?
        .into_dimensionality::<Ix2>()
        .map_err(|e| TrainError::config(format!("the model does not output [N, K] logits: {e}")))?;
    let name = |class: usize| names.get(class).map_or("?", String::as_str);
    let k = 3.min(logits.ncols());
    for (path, top) in paths.iter().zip(top_k(&logits, k)) {
        let ranked: Vec<String> = top
            .iter()
            .map(|&(class, p)| format!("{} {:.2}%", name(class), 100.0 * p))
            .collect();
        println!(
            "{}: {}  (top {k}: {})",
            path.display(),
            name(top[0].0),
            ranked.join(", ")
        );
    }
    Ok(())
}
