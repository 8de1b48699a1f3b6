//! scratchnet's side of `bench/compare.sh`: the same measurements as
//! `bench/pytorch_lenet.py`, printed as JSON with the same keys.
//!
//! LeNet-5, Adam (lr 1e-3, constant), batch 64, MNIST normalised with mean
//! 0.1307 / std 0.3081, reshuffled every epoch. Measures each training epoch's
//! wall-clock time (no evaluation), test accuracy after the last epoch,
//! inference images/s at batch 1000 over the test set (after a warm-up pass),
//! and the process's peak RSS (`VmHWM`).
//!
//! ```sh
//! cargo run --release --example bench_lenet -- --threads 1 --epochs 1 --data-dir ../shared/data/mnist
//! ```

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

struct Args {
    data_dir: Option<PathBuf>,
    threads: usize,
    epochs: usize,
    batch_size: usize,
    json: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        data_dir: None,
        threads: 1,
        epochs: 1,
        batch_size: 64,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data-dir" => args.data_dir = Some(value()?.into()),
            "--threads" => {
                args.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?
            }
            "--epochs" => args.epochs = value()?.parse().map_err(|e| format!("--epochs: {e}"))?,
            "--batch-size" => {
                args.batch_size = value()?
                    .parse()
                    .map_err(|e| format!("--batch-size: {e}"))?
            }
            "--json" => args.json = Some(value()?.into()),
            "-h" | "--help" => {
                println!("usage: bench_lenet [--data-dir DIR] [--threads T] [--epochs N] [--batch-size B] [--json PATH]");
                std::process::exit(0)
            }
            other => {
                return Err(format!(
                "unknown flag {other}; flags: --data-dir DIR --threads T --epochs N --batch-size B --json PATH"
            ))
            }
        }
    }
    if args.threads == 0 || args.epochs == 0 || args.batch_size == 0 {
        return Err("--threads, --epochs and --batch-size must be at least 1".into());
    }
    let most = scratchnet_cli::max_threads();
    if args.threads > most {
        return Err(format!(
            "--threads {}: at most {most} on this machine (4 per core, and at least 8)",
            args.threads
        ));
    }
    if let Some(path) = &args.json {
        scratchnet::train::check_writable(path)
            .map_err(|e| format!("--json {}: cannot be written: {e}", path.display()))?;
    }
    Ok(args)
}

/// Peak resident set size of this process, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2)
        }
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()?;
    let data = load_or_download(DatasetKind::Mnist, args.data_dir.as_deref())?;
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut optimizer = Adam::new(AdamConfig::adam(1e-3))?;
    let mut epochs = Vec::new();
    let mut history = History::new();
    for epoch in 1..=args.epochs {
        let config = TrainConfig {
            epochs: epoch,
            batch: BatchConfig {
                batch_size: args.batch_size,
                shuffle: true,
                seed: 0,
                augment: false,
            },
            progress: ProgressMode::Quiet,
            ..TrainConfig::default()
        };
        let factory: ModelFactory = Arc::new(|| Box::new(lenet5(&mut StdRng::seed_from_u64(0))));
        let outcome = Trainer::new(config)?.with_replicas(factory).fit(
            &mut model,
            &mut optimizer,
            &data.train,
            &data.test,
            history,
        )?;
        history = outcome.history;
        let m = history.last().expect("an epoch was trained").clone();
        epochs.push(serde_json::json!({
            "epoch": epoch, "seconds": m.seconds, "images_per_second": m.samples_per_second,
            "train_loss": m.train_loss, "test_accuracy": m.test_accuracy,
        }));
    }
    let accuracy = history.last().map_or(f64::NAN, |m| m.test_accuracy);

    // Inference: batch 1000 over the 10,000 test images, eval mode, after one warm-up pass.
    let config = BatchConfig {
        batch_size: 1000,
        shuffle: false,
        seed: 0,
        augment: false,
    };
    let batches: Vec<Batch> = data.test.batches(&config, 0).collect();
    for batch in &batches[..2] {
        model.forward(batch.images.view().into_dyn(), Mode::Eval)?;
    }
    let start = Instant::now();
    for batch in &batches {
        std::hint::black_box(model.forward(batch.images.view().into_dyn(), Mode::Eval)?);
    }
    let inference = data.test.len() as f64 / start.elapsed().as_secs_f64();

    let seconds: Vec<f64> = epochs
        .iter()
        .map(|e| e["seconds"].as_f64().unwrap_or(f64::NAN))
        .collect();
    let mean = seconds.iter().sum::<f64>() / seconds.len() as f64;
    let result = serde_json::json!({
        "framework": "scratchnet",
        "threads": args.threads,
        "batch_size": args.batch_size,
        "optimizer": "adam",
        "lr": 1e-3,
        "epochs": epochs,
        "epoch_seconds_mean": mean,
        "train_images_per_second": data.train.len() as f64 / mean,
        "test_accuracy": accuracy,
        "inference_batch_size": 1000,
        "inference_images_per_second": inference,
        "peak_rss_mib": peak_rss_mib(),
    });
    let text = serde_json::to_string_pretty(&result)?;
    println!("{text}");
    if let Some(path) = args.json {
        scratchnet::train::write_atomically(&path, text.as_bytes())
            .map_err(|e| format!("--json {}: {e}", path.display()))?;
    }
    Ok(())
}
