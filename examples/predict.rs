//! Classifies images with a checkpoint of `mnist_lenet` (or PyTorch's LeNet-5) or of
//! `cifar10_cnn` (trained on CIFAR-10 or an image folder).
//!
//! ```text
//! cargo run --release --example predict -- --model lenet.safetensors digit.png photo.jpg
//! cargo run --release --example predict -- --model cifar10_cnn.safetensors cat.jpg
//! ```
//!
//! For a digits model (MNIST, Fashion-MNIST, or a checkpoint without metadata), each image
//! (PNG or JPEG, of any size up to 16384 pixels a side and 1 GiB decoded, as in an image
//! folder) is converted to grey, resized to 28×28, inverted if its
//! background is light, and normalised like the training data. For any other, the
//! checkpoint's metadata says how its run read images — `input_shape` (channels, size),
//! `normalization` (per channel) — and each image is converted, resized (Triangle filter)
//! and normalised the same way. For each, the predicted class and the three most probable
//! classes are printed, by the names in the checkpoint's `classes` (the folder names of an
//! image folder). `--kernels reference` runs
//! the plain reference loops instead of the fast kernels.
//!
//! As in torchvision's loader (PIL's `convert`), a picture's **transparency is
//! dropped**, not composited: a digit drawn on a transparent canvas reads as its hidden
//! colour, usually a blank image (flatten it onto a background first); and its **EXIF
//! orientation is ignored** (PIL without `exif_transpose`): a phone photo stored on its
//! side is classified on its side. The training run's image folders are read the same
//! way.
//!
//! Images are decoded and classified `--batch-size` at a time (256 by default), each
//! batch printed and dropped before the next is read: the memory used does not grow
//! with the number of images, and the output is the same whatever the batch size. A
//! batch whose forward would need more memory than there is (large images: a 3×320×320
//! model needs about 90 MiB an image) is lowered to the largest that fits, saying so in
//! one line on stderr; if not even one image fits, nothing runs and the error says so.
//!
//! `--explain` also draws, for each image, why the model chose its class: one PNG with
//! the image as the model saw it, its **saliency map** — how much the predicted class's
//! score (its logit) changes with each input pixel, `max_c |∂score/∂x|`, from the model's
//! own backward pass (Simonyan et al. 2013; `scratchnet_cli::saliency`) — in the colours
//! of a flame, the two overlaid, and under them the **feature maps** of every convolution
//! and pooling layer, one grey tile per channel, one block per layer in the model's order
//! (`conv1`, `pool1`, `conv2`, `pool2` for LeNet-5; the names are printed). For a digit
//! the strokes light up. The picture of `digit.png` is `digit.explain.png` beside it (or
//! in `--explain-dir DIR`); an existing file of that name is replaced only if an earlier
//! `--explain` wrote it, otherwise nothing runs and the error names it. Two images whose
//! pictures would be one file, however their paths are spelt (`a/x.png ./a/x.jpg`), are
//! refused, naming both; the same image given twice is classified (and drawn) twice.
//!
//! ```text
//! cargo run --release --example predict -- --model lenet.safetensors --explain digit.png
//! ```

use clap::Parser;
use scratchnet::data::DatasetKind;
use scratchnet::layers::{Layer, Mode, Sequential};
use scratchnet::ndarray::{s, Array4, ArrayView4, Axis, Ix2};
use scratchnet::ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet::tensor::kernels::Kernels;
use scratchnet::train::{load_model, models::lenet5, read_metadata, CheckpointError, TrainError};
use scratchnet_cli::{
    at_least_one, explain_picture, feature_maps, kernels_flag, load_digit, load_image,
    normalized_batch, normalized_chw_batch, parse_args, predict_batch_size, saliency, small_cnn,
    top_k, use_kernels, write_explain_png, ExplainOutputs, ModelInput, SavedData,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// Predict the class of images with a LeNet-5 (mnist_lenet) or cifar10_cnn checkpoint.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The checkpoint (safetensors): from mnist_lenet (or a PyTorch LeNet-5) or cifar10_cnn
    #[arg(long, value_name = "PATH")]
    model: PathBuf,
    /// Numeric kernels: the plain reference loops or the fast ones [default:
    /// $SCRATCHNET_KERNELS, else fast]
    #[arg(long, value_name = "reference|fast", value_parser = kernels_flag)]
    kernels: Option<Kernels>,
    /// Images decoded and classified at a time (1 to 65536; lowered, saying so, to what
    /// fits in the memory there is)
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = images_at_a_time,
          allow_negative_numbers = true)]
    batch_size: usize,
    /// For each image, write NAME.explain.png beside it: the input, its saliency map and
    /// every convolution's and pooling's feature maps
    #[arg(long)]
    explain: bool,
    /// Write the --explain pictures into DIR instead (implies --explain)
    #[arg(long, value_name = "DIR")]
    explain_dir: Option<PathBuf>,
    /// PNG or JPEG images (transparency is dropped and EXIF orientation ignored, as PIL
    /// reads them)
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
}

/// `--batch-size`: 1 to 65536 (a negative number gets this message too).
fn images_at_a_time(s: &str) -> Result<usize, String> {
    match at_least_one(s) {
        Ok(n) if n <= 65_536 => Ok(n),
        Ok(_) => Err("must be 1 to 65536".into()),
        Err(e) if e == "must be at least 1" => Err("must be 1 to 65536".into()),
        Err(e) => Err(e),
    }
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
    // The pictures' paths are checked before anything is read or classified.
    let explain = match (args.explain, &args.explain_dir) {
        (false, None) => None,
        (_, dir) => Some(ExplainOutputs::check(&args.images, dir.as_deref())?),
    };
    let metadata = read_metadata(&args.model)?;
    let saved = SavedData::from_metadata(&metadata).map_err(|e| e.at(&args.model))?;
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
        )?,
        ("cifar10_cnn", None) => {
            return Err(TrainError::config(format!(
                "{} holds a cifar10_cnn model but not the input shape, classes and \
                 normalisation its run records: use a checkpoint saved by cifar10_cnn",
                args.model.display()
            )))
        }
        ("lenet5", _) => lenet5(rng),
        (other, _) => {
            return Err(TrainError::config(format!(
                "{} holds a {other} model; predict classifies with lenet5 (mnist_lenet) and \
                 cifar10_cnn checkpoints",
                args.model.display()
            )))
        }
    };
    load_model(&args.model, &mut model).map_err(|e| match (&e, metadata.get("model")) {
        // A file without a model name is taken for LeNet-5: say so, or a checkpoint of
        // a model of the user's own reads as merely "not of this model".
        (CheckpointError::Mismatch { .. }, None) => TrainError::config(format!(
            "{e} (the file records no model name, so it was read as LeNet-5, as mnist_lenet \
             and PyTorch's LeNet-5 save it; a model of your own is classified by your own \
             code: build it, `load_model`, then `forward` in Mode::Eval)"
        )),
        _ => TrainError::from(e),
    })?;
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
        (None, Input::Digit(kind)) => kind.class_names().map(str::to_owned).to_vec(),
        (None, Input::Saved(saved)) => saved.class_names.clone(),
    };
    // cifar10_cnn's model is built for its recorded classes; LeNet-5 has 10 outputs.
    if model_name == "lenet5" && names.len() != 10 {
        return Err(TrainError::config(format!(
            "{} records {} class names for a LeNet-5 of 10 outputs (the file was edited or \
             not written by mnist_lenet): use a checkpoint mnist_lenet saved",
            args.model.display(),
            names.len()
        )));
    }
    let summary = model.summary()?;
    let batch_size = predict_batch_size(
        &summary,
        args.batch_size,
        args.images.len(),
        explain.is_some(),
    )
    .map_err(TrainError::config)?;
    if let Some(note) = &batch_size.note {
        eprintln!("{note}");
    }
    for (b, paths) in args.images.chunks(batch_size.size).enumerate() {
        let batch = predict_batch(&mut model, paths, &input, &names)?;
        if let Some(outputs) = &explain {
            let outputs = &outputs.paths[b * batch_size.size..][..paths.len()];
            explain_batch(&mut model, batch.view(), paths, outputs, &names)?;
        }
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

/// Decodes the images at `paths`, classifies them as one batch, prints a line for each
/// and returns the batch.
fn predict_batch(
    model: &mut Sequential,
    paths: &[PathBuf],
    input: &Input,
    names: &[String],
) -> Result<Array4<f32>, TrainError> {
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
        .forward(batch.view().into_dyn(), Mode::Eval)?
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
    Ok(batch)
}

/// Writes the picture of each image of `batch` (read from `paths`) to `outputs`, and
/// says where, with the class it explains and the layers it shows.
fn explain_batch(
    model: &mut Sequential,
    batch: ArrayView4<f32>,
    paths: &[PathBuf],
    outputs: &[PathBuf],
    names: &[String],
) -> Result<(), TrainError> {
    for (i, (path, output)) in paths.iter().zip(outputs).enumerate() {
        let image = batch.slice(s![i..=i, .., .., ..]);
        let layers = feature_maps(model, image)?;
        let saliency = saliency(model, image)?;
        let picture = explain_picture(image.index_axis(Axis(0), 0), saliency.map.view(), &layers);
        write_explain_png(output, &picture)?;
        let shown: Vec<&str> = layers.iter().map(|l| l.layer.as_str()).collect();
        println!(
            "{}: saliency of {} and feature maps of {} in {}",
            path.display(),
            names.get(saliency.class).map_or("?", String::as_str),
            shown.join(", "),
            output.display()
        );
    }
    Ok(())
}
