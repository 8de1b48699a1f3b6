//! Loads MNIST (or Fashion-MNIST), downloading it if missing, and reports how long loading
//! and one epoch of batch conversion take.
//!
//! ```text
//! cargo run --release -p scratchnet-data --example load_mnist -- [DIR] [--fashion]
//! ```
//!
//! Without `DIR`: `$MNIST_DIR` (`$FASHION_MNIST_DIR`), else `<workspace>/data/mnist`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use scratchnet_data::{load_or_download, BatchConfig, DatasetKind};

fn main() -> ExitCode {
    let mut kind = DatasetKind::Mnist;
    let mut dir = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--fashion" => kind = DatasetKind::FashionMnist,
            "-h" | "--help" => {
                println!("usage: load_mnist [DIR] [--fashion]");
                return ExitCode::SUCCESS;
            }
            flag if flag.starts_with('-') => {
                eprintln!("error: unknown flag {flag}; usage: load_mnist [DIR] [--fashion]");
                return ExitCode::from(2);
            }
            _ => dir = Some(PathBuf::from(arg)),
        }
    }

    let started = Instant::now();
    let dataset = match load_or_download(kind, dir.as_deref()) {
        Ok(dataset) => dataset,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let load_time = started.elapsed();
    println!(
        "loaded {kind} in {:.3} s: {} training and {} test images",
        load_time.as_secs_f64(),
        dataset.train.len(),
        dataset.test.len()
    );

    let config = BatchConfig {
        batch_size: 64,
        seed: 1,
        ..BatchConfig::default()
    };
    let started = Instant::now();
    let mut checksum = 0f64;
    for batch in dataset.train.batches(&config, 0) {
        checksum += f64::from(batch.images[[0, 0, 14, 14]]);
    }
    println!(
        "one shuffled epoch of batches of 64 converted in {:.3} s (checksum {checksum:.3})",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
