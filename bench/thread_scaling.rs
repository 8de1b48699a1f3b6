//! How many times more images/s LeNet-5 trains on two threads than on one, measured
//! **interleaved**: slices of `--batches` training steps alternate between a 1-thread
//! and a 2-thread pool inside one process, so a host that speeds up or slows down
//! (this one does: the same shard's time swings ±25% from one half-second to the
//! next) weighs on both alike. `bench/compare.sh`
//! measures whole epochs one process after another; this is the finer instrument for
//! the 2-thread/1-thread ratio alone.
//!
//! Each slice is one [`Trainer`] epoch — the whole training step, batch assembly and
//! Adam included, on one model replica per thread — over the next `--batches` batches
//! of the training set; the same model and optimizer keep training from slice to slice.
//! Its images/s is the trainer's own (`EpochMetrics::samples_per_second`, the batch loop
//! only). Prints every round, the medians, and the overall ratio (all images over all
//! seconds of each thread count), the figure to quote.
//!
//! Under a hypervisor, it also reads the CPU time the host **stole** from this machine
//! during each slice (Linux `/proc/stat`) and repeats the overall ratio over the rounds
//! in which neither slice lost any: a stolen millisecond stalls a 2-thread step (both
//! threads wait for the slower) more than a 1-thread one, so the ratio swings with it.
//!
//! ```sh
//! cargo run --release --example thread_scaling -- --data-dir ../shared/data/mnist --rounds 80 --batches 25
//! ```

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;

/// Command-line flags (`--help` prints them).
#[derive(clap::Parser)]
#[command(about = "2-thread / 1-thread training throughput of LeNet-5, measured interleaved")]
struct Args {
    /// Directory with the MNIST files (downloaded there if missing).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Rounds; each trains one slice on 1 thread, then one on 2 threads.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Training steps per slice.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..))]
    batches: u32,
    /// Images per batch.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Samples per gradient shard (`TrainConfig::shard_size`).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    shard_size: u32,
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let data = load_or_download(DatasetKind::Mnist, args.data_dir.as_deref())?;
    let slice_len = (args.batches * args.batch_size) as usize;
    let slices = data.train.len() / slice_len;
    if slices == 0 {
        return Err(format!(
            "--batches × --batch-size is more than the {} training images",
            data.train.len()
        )
        .into());
    }
    // The training set cut into slices; each trainer epoch covers the next one.
    let (images, labels) = (data.train.images(), data.train.labels());
    let pixels = images.len() / labels.len();
    let slices: Vec<Split> = (0..slices)
        .map(|i| {
            Split::new(
                images[i * slice_len * pixels..(i + 1) * slice_len * pixels].to_vec(),
                labels[i * slice_len..(i + 1) * slice_len].to_vec(),
                data.train.normalization(),
            )
        })
        .collect();
    let test = data.test.take(args.batch_size as usize);
    let factory: ModelFactory = Arc::new(|| Box::new(lenet5(&mut StdRng::seed_from_u64(0))));
    let mut model = factory();
    let mut optimizer = Adam::new(AdamConfig::adam(1e-3))?;
    let pools = [1, 2].map(|threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build());
    let mut rates: [Vec<f64>; 2] = Default::default();
    let mut stolen: [Vec<u64>; 2] = Default::default();
    let mut history = History::new();
    println!("round  1 thread img/s  2 threads img/s  ratio  (steal: ticks of stolen CPU time)");
    for round in 1..=args.rounds as usize {
        for ((pool, rates), stolen) in pools.iter().zip(&mut rates).zip(&mut stolen) {
            let pool = pool.as_ref().map_err(|e| e.to_string())?;
            let config = TrainConfig {
                epochs: history.completed_epochs() + 1,
                batch: BatchConfig {
                    batch_size: args.batch_size as usize,
                    shuffle: true,
                    seed: 0,
                    augment: false,
                },
                shard_size: args.shard_size as usize,
                progress: ProgressMode::Quiet,
                ..TrainConfig::default()
            };
            let slice = &slices[history.completed_epochs() % slices.len()];
            let steal_before = steal_ticks();
            let outcome = pool.install(|| {
                Trainer::new(config)?.with_replicas(factory.clone()).fit(
                    model.as_mut(),
                    &mut optimizer,
                    slice,
                    &test,
                    std::mem::take(&mut history),
                )
            })?;
            stolen.push(steal_ticks().zip(steal_before).map_or(0, |(b, a)| b - a));
            history = outcome.history;
            rates.push(
                history
                    .last()
                    .expect("an epoch was trained")
                    .samples_per_second,
            );
        }
        let (one, two) = (rates[0][round - 1], rates[1][round - 1]);
        let steal = stolen[0][round - 1] + stolen[1][round - 1];
        println!(
            "{round:5}  {one:16.0}  {two:15.0}  {:.3}  steal {steal}",
            two / one
        );
    }
    let ratios: Vec<f64> = rates[1]
        .iter()
        .zip(&rates[0])
        .map(|(two, one)| two / one)
        .collect();
    let (one, two) = (median(&rates[0]), median(&rates[1]));
    println!(
        "median: {one:.0} img/s on 1 thread, {two:.0} on 2 threads: {:.3}x (median of the rounds' ratios {:.3}x)",
        two / one,
        median(&ratios)
    );
    // Every slice has the same images, so the mean time per image is the harmonic mean.
    let overall = |r: &[f64]| r.len() as f64 / r.iter().map(|x| 1.0 / x).sum::<f64>();
    let (one, two) = (overall(&rates[0]), overall(&rates[1]));
    println!(
        "overall: {one:.0} img/s on 1 thread, {two:.0} on 2 threads: {:.3}x",
        two / one
    );
    if steal_ticks().is_some() {
        // `/proc/stat` counts in USER_HZ: 100 per second on every Linux target Rust has.
        let seconds = |lane: &[u64]| lane.iter().sum::<u64>() as f64 / 100.0;
        let calm: Vec<usize> = (0..rates[0].len())
            .filter(|&r| stolen[0][r] == 0 && stolen[1][r] == 0)
            .collect();
        let pick = |lane: &[f64]| calm.iter().map(|&r| lane[r]).collect::<Vec<f64>>();
        let (one, two) = (overall(&pick(&rates[0])), overall(&pick(&rates[1])));
        // With no calm round the last figures are NaN, which says just that.
        println!(
            "stolen by the host: {:.1} s during 1-thread slices, {:.1} s during 2-thread slices; \
             rounds with none stolen: {} of {}, overall {one:.0} / {two:.0} img/s: {:.3}x",
            seconds(&stolen[0]),
            seconds(&stolen[1]),
            calm.len(),
            rates[0].len(),
            two / one
        );
    }
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// CPU time the hypervisor has stolen from this machine so far, in clock ticks (the
/// eighth number of `/proc/stat`'s `cpu` line); `None` where there is no such file.
fn steal_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().find(|l| l.starts_with("cpu "))?;
    cpu.split_whitespace().nth(8)?.parse().ok()
}
