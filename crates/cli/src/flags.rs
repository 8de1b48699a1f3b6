//! The flags the training examples (`mnist_lenet`, `mnist_modern`) share, their value
//! parsers, and [`parse_args`], which turns a flag error into one line and exit code 2.
//! Each example adds its own model, defaults and extra flags.

use crate::{choose_kernels, kernels_flag};
use clap::{Parser, ValueEnum};
use scratchnet_tensor::kernels::{set_kernels, Kernels};
use std::path::PathBuf;
use std::process::ExitCode;

/// The flags every training example takes (flattened into its own `Args`).
#[derive(clap::Args, Debug)]
pub struct TrainFlags {
    /// Directory of the data: the four IDX files (raw or .gz) of MNIST or Fashion-MNIST,
    /// CIFAR-10's six batch files (or the cifar-10-batches-bin folder holding them), or
    /// the root of an image folder; default: $MNIST_DIR / $FASHION_MNIST_DIR / $CIFAR10_DIR,
    /// else the workspace's data/mnist, data/fashion-mnist or data/cifar-10 (downloaded
    /// there if missing; Fashion-MNIST is read from /usr/share/datasets/fashion-mnist
    /// when that has its files and data/fashion-mnist does not)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Dataset [default: mnist; fashion for fashion_resnet, cifar10 for cifar10_cnn]
    #[arg(long, value_enum)]
    pub dataset: Option<Dataset>,
    /// Batch size [default: 64, or the checkpoint's]
    #[arg(long, value_name = "B", value_parser = at_least_one, allow_negative_numbers = true)]
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
    #[arg(long, value_name = "T", value_parser = at_least_one, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// Numeric kernels: the plain reference loops or the fast ones [default:
    /// $SCRATCHNET_KERNELS, else fast]
    #[arg(long, value_name = "reference|fast", value_parser = kernels_flag)]
    pub kernels: Option<Kernels>,
    /// Seed of the initial weights, the batch order and an image folder's held-out test
    /// set [default: 0, or the checkpoint's]
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Train on the first N training images only
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    pub limit_train: Option<usize>,
    /// Resume from a checkpoint saved by --save
    #[arg(long, value_name = "PATH")]
    pub resume: Option<PathBuf>,
    /// Start a fresh run (epoch 0, a new optimizer) from the model weights in this
    /// safetensors file — a PyTorch state_dict or a checkpoint — instead of random ones:
    /// every tensor of the model with its shape, no other (optimizer entries are ignored)
    #[arg(long, value_name = "PATH", conflicts_with = "resume")]
    pub init_weights: Option<PathBuf>,
    /// Replace the file at --save if there is one, and a file at --metrics, --plot,
    /// --report or --predictions that no run wrote there (without it, such a run
    /// refuses to start, so that a trained model or a file of yours is never lost)
    #[arg(long)]
    pub overwrite: bool,
    /// Also keep the checkpoint of the epoch of lowest test loss here, replaced only by
    /// a better epoch (the --save file holds the latest epoch, what --resume continues);
    /// a file already there must be such a checkpoint of this model
    #[arg(long, value_name = "PATH")]
    pub save_best: Option<PathBuf>,
    /// Write the per-epoch metrics as JSON here
    #[arg(long, value_name = "PATH")]
    pub metrics: Option<PathBuf>,
    /// Draw the loss and accuracy curves to this SVG
    #[arg(long, value_name = "PATH.svg")]
    pub plot: Option<PathBuf>,
    /// Write a self-contained HTML training report here (curves, gradient flow,
    /// activations, filters, confusion matrix, most confident mistakes), rewritten
    /// every 200 batches and after every epoch
    #[arg(long, value_name = "PATH.html")]
    pub report: Option<PathBuf>,
    /// Write the final test-set logits and predictions here (safetensors)
    #[arg(long, value_name = "PATH")]
    pub predictions: Option<PathBuf>,
    /// --dataset folder: fraction of train/ held out for testing when there is no test/
    /// [default: 0.1, or the checkpoint's]
    #[arg(long, value_name = "F", value_parser = fraction, allow_negative_numbers = true)]
    pub val_fraction: Option<f64>,
    /// --dataset folder: 1 (grey) or 3 (RGB) [default: 3 if any image is in colour, else 1]
    #[arg(long, value_name = "1|3", value_parser = channels, allow_negative_numbers = true)]
    pub channels: Option<usize>,
    /// --dataset folder: resize every image to H×W (Triangle filter) [default: the size of
    /// the first training image]
    #[arg(long, value_name = "HxW", value_parser = image_size, allow_negative_numbers = true)]
    pub image_size: Option<[usize; 2]>,
    /// --dataset folder: most memory the decoded images may take, e.g. 512M, 8G
    /// [default: 4G]
    #[arg(long, value_name = "BYTES", value_parser = byte_size, allow_negative_numbers = true)]
    pub max_memory: Option<u64>,
    /// --dataset folder: skip (and count) files that cannot be decoded instead of failing
    #[arg(long)]
    pub skip_bad_images: bool,
}

impl TrainFlags {
    /// The first flag given that only `--dataset folder` reads, if any.
    pub fn folder_only_flag(&self) -> Option<&'static str> {
        [
            ("--val-fraction", self.val_fraction.is_some()),
            ("--channels", self.channels.is_some()),
            ("--image-size", self.image_size.is_some()),
            ("--max-memory", self.max_memory.is_some()),
            ("--skip-bad-images", self.skip_bad_images),
        ]
        .into_iter()
        .find_map(|(flag, given)| given.then_some(flag))
    }
}

/// `--dataset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dataset {
    /// The handwritten digits.
    Mnist,
    /// Fashion-MNIST's clothes.
    Fashion,
    /// CIFAR-10's 32×32 colour photos (binary version), in ten classes.
    Cifar10,
    /// Your own PNG/JPEG images: --data-dir ROOT holding `train/<class>/` (and `test/<class>/`).
    Folder,
}

/// `--optimizer`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Optim {
    /// Adam.
    Adam,
    /// SGD with Nesterov momentum.
    Sgd,
}

/// `--schedule`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Schedule {
    /// A constant learning rate.
    Constant,
    /// Halved after every epoch.
    Step,
    /// A cosine decay to 0 over the run.
    Cosine,
}

/// A clap value parser: an integer ≥ 1.
///
/// # Errors
/// `must be at least 1` for 0 or a negative number, the parse error for anything else.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) if s.trim().starts_with('-') => Err("must be at least 1".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A clap value parser: 1 or 3 (no spaces around, as for every number).
fn channels(s: &str) -> Result<usize, String> {
    match s {
        "1" => Ok(1),
        "3" => Ok(3),
        _ => Err("must be 1 (grey) or 3 (RGB)".into()),
    }
}

/// A clap value parser: a number in `[0, 1)`.
fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        Ok(x) => Err(format!("must be at least 0 and below 1, not {x}")),
        Err(e) => Err(e.to_string()),
    }
}

/// A clap value parser: `HxW` (e.g. `32x32`), each side 1 to 16384.
fn image_size(s: &str) -> Result<[usize; 2], String> {
    let parts: Vec<&str> = s.split(['x', 'X', '×']).collect();
    let side = |p: &str| match p.parse::<usize>() {
        Ok(n) if (1..=16_384).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?} is not HxW with sides 1 to 16384, e.g. 32x32"
        )),
    };
    match parts.as_slice() {
        [h, w] => Ok([side(h)?, side(w)?]),
        _ => Err(format!("{s:?} is not HxW, e.g. 32x32")),
    }
}

/// A clap value parser: a byte count, with an optional `K`, `M`, `G` or `T` (powers of
/// 1024, an `i`/`iB`/`B` after it allowed), e.g. `512M`, `4GiB`; no spaces, as for
/// every number.
fn byte_size(s: &str) -> Result<u64, String> {
    let t = s
        .strip_suffix("iB")
        .or_else(|| s.strip_suffix('B'))
        .unwrap_or(s);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        Some((i, 'T' | 't')) => (&t[..i], 40),
        _ => (t, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?} is not a size like 512M or 8G"))
}

/// A clap value parser: a finite number > 0 that an f32 holds. The text is read as an
/// f64 first, so that a number f32 cannot hold is named as such (`1e-300` rounds to 0,
/// `1e39` is beyond its range), not as the 0 or `inf` it would become.
fn positive_f32(s: &str) -> Result<f32, String> {
    let x = s.parse::<f64>().map_err(|e| e.to_string())?;
    if !(x.is_finite() && x > 0.0) {
        return Err(format!("must be a finite number > 0, not {x}"));
    }
    let single = x as f32;
    if single.is_infinite() {
        Err(format!(
            "{s} is beyond f32's range (at most about {:e}); give a smaller number",
            f32::MAX
        ))
    } else if single == 0.0 {
        Err(format!(
            "{s} rounds to 0 in f32 (the smallest is about {:e}); give a larger number",
            f32::from_bits(1)
        ))
    } else {
        Ok(single)
    }
}

/// Parses the command line; on a flag error prints clap's whole message — the flag at
/// fault, the values it accepts, the arguments that are missing, the usage — and gives
/// exit code 2; `--help` and `--version` print and give success.
///
/// # Errors
/// The exit code the program should end with, when it should not go on.
pub fn parse_args<A: Parser>() -> Result<A, ExitCode> {
    match A::try_parse() {
        Ok(args) => Ok(args),
        Err(e) => {
            // Errors go to stderr, `--help` and `--version` to stdout.
            let _ = e.print();
            Err(if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// Chooses the kernels for the whole program ([`choose_kernels`]: `--kernels`, else
/// `SCRATCHNET_KERNELS`, else fast) and returns them.
///
/// # Errors
/// Exit code 2, after printing one `error: SCRATCHNET_KERNELS: …` line, when the flag
/// is absent and the variable holds neither `reference` nor `fast`.
pub fn use_kernels(flag: Option<Kernels>) -> Result<Kernels, ExitCode> {
    match choose_kernels(flag) {
        Ok(choice) => {
            set_kernels(choice);
            Ok(choice)
        }
        Err(message) => {
            eprintln!("error: {message}");
            Err(ExitCode::from(2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_image_sizes_parse_and_bad_ones_say_the_form() {
        assert_eq!(byte_size("4G"), Ok(4 << 30));
        assert_eq!(byte_size("512MiB"), Ok(512 << 20));
        assert_eq!(byte_size("1000"), Ok(1000));
        assert!(byte_size("lots").unwrap_err().contains("like 512M"));
        assert!(byte_size("0").is_err());
        assert!(byte_size("99999999999T").is_err());
        assert_eq!(image_size("32x48"), Ok([32, 48]));
        assert_eq!(image_size("28×28"), Ok([28, 28]));
        assert!(image_size("0x5").is_err());
        assert!(image_size("32").unwrap_err().contains("HxW"));
        assert_eq!(channels("3"), Ok(3));
        assert!(channels("2").is_err());
        assert!(fraction("1").is_err());
        assert_eq!(fraction("0.2"), Ok(0.2));
    }

    /// QA: `--lr 1e-300` said "not 0" and `--lr 1e39` "not inf": the text had become an
    /// f32 first.
    #[test]
    fn a_number_f32_cannot_hold_is_named_as_such() {
        assert_eq!(positive_f32("0.005"), Ok(0.005));
        let tiny = positive_f32("1e-300").unwrap_err();
        assert!(tiny.starts_with("1e-300 rounds to 0 in f32"), "{tiny}");
        let huge = positive_f32("1e39").unwrap_err();
        assert!(huge.starts_with("1e39 is beyond f32's range"), "{huge}");
        assert!(positive_f32("0").unwrap_err().contains("not 0"));
        assert!(positive_f32("-1").unwrap_err().contains("not -1"));
        assert!(positive_f32("inf").unwrap_err().contains("not inf"));
    }

    /// QA: `--max-memory ' 5'` was accepted (trimmed) where every other number was
    /// refused; ` 1` for --channels and `32x 32` for --image-size too.
    #[test]
    fn no_number_is_trimmed() {
        assert!(byte_size(" 5").is_err());
        assert!(byte_size("5 ").is_err());
        assert!(byte_size("5 G").is_err());
        assert!(channels(" 1").is_err());
        assert!(image_size("32x 32").is_err());
        assert!(at_least_one(" 5").is_err());
        assert!(fraction(" 0.1").is_err());
    }
}
