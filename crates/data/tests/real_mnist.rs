//! The real MNIST (and Fashion-MNIST, where present), from `MNIST_DIR` /
//! `FASHION_MNIST_DIR`. Skipped, with a message, only when the variable is unset; when it
//! is set, a missing or damaged file fails the test.

mod common;

use std::path::Path;

use common::{entries, gunzip, real_mnist_dir_or_skip, sha256_hex};
use scratchnet_data::{dir_from_env, load, BatchConfig, Dataset, DatasetKind};

const MNIST_TRAIN_HISTOGRAM: [usize; 10] =
    [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const MNIST_TEST_HISTOGRAM: [usize; 10] = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

fn load_or_fail(kind: DatasetKind, dir: &Path) -> Dataset {
    load(kind, dir).unwrap_or_else(|e| panic!("{} is set, but: {e}", kind.dir_env_var()))
}

#[test]
fn real_mnist_loads_from_gz_with_the_known_label_histograms() {
    let Some(dir) = real_mnist_dir_or_skip("real_mnist_loads_from_gz") else {
        return;
    };
    let mnist = load_or_fail(DatasetKind::Mnist, &dir);
    assert_eq!(mnist.kind, DatasetKind::Mnist);
    assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
    assert_eq!(mnist.train.images().len(), 60_000 * 784);
    assert_eq!(mnist.train.label_histogram(), MNIST_TRAIN_HISTOGRAM);
    assert_eq!(mnist.test.label_histogram(), MNIST_TEST_HISTOGRAM);
    // The first training digit of MNIST is a 5, the first test digit a 7.
    assert_eq!((mnist.train.labels()[0], mnist.test.labels()[0]), (5, 7));
}

#[test]
fn real_mnist_loads_identically_from_raw_files() {
    let Some(dir) = real_mnist_dir_or_skip("real_mnist_loads_identically_from_raw_files") else {
        return;
    };
    let raw = tempfile::tempdir().unwrap();
    for file in DatasetKind::Mnist.files() {
        let gz = dir.join(file.gz_name());
        let bytes = std::fs::read(&gz)
            .unwrap_or_else(|e| panic!("MNIST_DIR is set, but {}: {e}", gz.display()));
        let bytes = gunzip(&bytes);
        // The decompressed files are the ones the checksum table describes.
        assert_eq!(sha256_hex(&bytes), file.sha256, "{}", file.name);
        std::fs::write(raw.path().join(file.name), bytes).unwrap();
    }
    let from_raw = load_or_fail(DatasetKind::Mnist, raw.path());
    let from_gz = load_or_fail(DatasetKind::Mnist, &dir);
    assert_eq!(from_raw, from_gz);
    // Loading left the directory as it was.
    assert_eq!(entries(raw.path()).len(), 4);
}

#[test]
fn real_mnist_pixel_statistics_match_the_normalisation_constants() {
    let Some(dir) = real_mnist_dir_or_skip("real_mnist_pixel_statistics") else {
        return;
    };
    let mnist = load_or_fail(DatasetKind::Mnist, &dir);
    let (mean, std) = pixel_mean_std(mnist.train.images());
    assert!((mean - 0.1307).abs() < 1e-4, "mean {mean}");
    assert!((std - 0.3081).abs() < 1e-4, "std {std}");

    // A whole normalised epoch has mean ≈ 0 and std ≈ 1.
    let config = BatchConfig {
        batch_size: 10_000,
        shuffle: false,
        ..BatchConfig::default()
    };
    let (mut sum, mut sum_sq, mut n) = (0f64, 0f64, 0f64);
    for batch in mnist.train.batches(&config, 0) {
        for &v in &batch.images {
            sum += f64::from(v);
            sum_sq += f64::from(v) * f64::from(v);
            n += 1.0;
        }
    }
    let mean = sum / n;
    let std = (sum_sq / n - mean * mean).sqrt();
    assert!(
        mean.abs() < 1e-3 && (std - 1.0).abs() < 1e-3,
        "{mean} {std}"
    );
}

/// Runs where Fashion-MNIST is available: `FASHION_MNIST_DIR`, or Debian's
/// `dataset-fashion-mnist` package in `/usr/share/datasets/fashion-mnist`.
#[test]
fn real_fashion_mnist_loads_when_present() {
    let kind = DatasetKind::FashionMnist;
    let dir = match dir_from_env(kind) {
        Some(dir) => dir,
        None => {
            let system = Path::new(kind.system_dir().unwrap());
            if !scratchnet_data::all_files_present(kind, system) {
                eprintln!(
                    "skipped real_fashion_mnist: FASHION_MNIST_DIR is not set and {} is absent",
                    system.display()
                );
                return;
            }
            system.to_path_buf()
        }
    };
    let fashion = load_or_fail(kind, &dir);
    assert_eq!(fashion.train.label_histogram(), [6000; 10]);
    assert_eq!(fashion.test.label_histogram(), [1000; 10]);
    assert_eq!(fashion.train.class_names()[9], "Ankle boot");
    assert_eq!(fashion.test.class_names(), kind.class_names());
    let (mean, std) = pixel_mean_std(fashion.train.images());
    assert!((mean - 0.2860).abs() < 1e-4, "mean {mean}");
    assert!((std - 0.3530).abs() < 1e-4, "std {std}");
}

/// Mean and standard deviation of `pixels / 255`.
fn pixel_mean_std(pixels: &[u8]) -> (f64, f64) {
    let mut counts = [0u64; 256];
    for &p in pixels {
        counts[usize::from(p)] += 1;
    }
    let n = pixels.len() as f64;
    let mean = (0..256)
        .map(|p| p as f64 / 255.0 * counts[p] as f64)
        .sum::<f64>()
        / n;
    let var = (0..256)
        .map(|p| (p as f64 / 255.0 - mean).powi(2) * counts[p] as f64)
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

#[test]
fn real_mnist_files_loaded_as_fashion_mnist_are_refused_naming_both_datasets() {
    let Some(dir) = real_mnist_dir_or_skip("real_mnist_files_loaded_as_fashion_mnist") else {
        return;
    };
    let error = load(DatasetKind::FashionMnist, &dir).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, scratchnet_data::DataError::OtherDataset { .. }),
        "{message}"
    );
    assert!(
        message.contains("these are MNIST's files, not Fashion-MNIST's"),
        "{message}"
    );
    assert!(message.contains("train-images-idx3-ubyte"), "{message}");
}
