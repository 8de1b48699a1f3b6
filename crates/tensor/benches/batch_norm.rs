//! Batch norm's four passes on the activations of `examples/fashion_resnet.rs` (batch
//! 64: 16 channels of 28², 32 of 14², 64 of 7²), in elements per second.
//!
//! Run: `cargo bench -p scratchnet-tensor --bench batch_norm` (add `-- 16x28` to filter),
//! on 1 and 2 threads (`SCRATCHNET_BENCH_THREADS=1` for one of them). Each pass is
//! timed as training runs it: the statistics, the normalisation (x̂ and y), the
//! backward's sums, the input gradient. Throughput counts the tensor's elements once
//! per pass. Timings are noisy and never gate a test.

mod common;

use common::{pattern, pool, thread_counts};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use scratchnet_tensor::batch_norm::{
    batch_norm, batch_norm_backward, channel_grad_sums, channel_mean_and_biased_var,
};
use std::hint::black_box;
use std::time::Duration;

fn passes(c: &mut Criterion, shape: (usize, usize, usize, usize), threads: usize) {
    let pool = pool(threads);
    let x = pattern(shape, 1);
    let dy = pattern(shape, 2);
    let channels = shape.1;
    let stats = channel_mean_and_biased_var(x.view());
    let mean: Vec<f64> = stats.iter().map(|s| s.0).collect();
    let inv_std: Vec<f64> = stats.iter().map(|s| 1.0 / (s.1 + 1e-5).sqrt()).collect();
    let gamma = vec![1.5f64; channels];
    let beta = vec![0.25f64; channels];
    let (x_hat, _) = batch_norm(x.view(), &mean, &inv_std, &gamma, &beta);
    let (n, _, h, w) = shape;
    let values = (n * h * w) as f64;
    let sums = channel_grad_sums(dy.view(), x_hat.view());
    let mean_dy: Vec<f64> = sums.iter().map(|s| s.0 / values).collect();
    let mean_dy_xhat: Vec<f64> = sums.iter().map(|s| s.1 / values).collect();
    let scale: Vec<f64> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
    let mut group = c.benchmark_group(format!("batch_norm/t{threads}"));
    group.throughput(Throughput::Elements((n * channels * h * w) as u64));
    let id = |what: &str| BenchmarkId::new(what, format!("{n}x{channels}x{h}x{w}"));
    group.bench_function(id("statistics"), |b| {
        b.iter(|| pool.install(|| black_box(channel_mean_and_biased_var(x.view()))))
    });
    group.bench_function(id("normalise"), |b| {
        b.iter(|| pool.install(|| black_box(batch_norm(x.view(), &mean, &inv_std, &gamma, &beta))))
    });
    group.bench_function(id("grad_sums"), |b| {
        b.iter(|| pool.install(|| black_box(channel_grad_sums(dy.view(), x_hat.view()))))
    });
    group.bench_function(id("grad_input"), |b| {
        b.iter(|| {
            pool.install(|| {
                black_box(batch_norm_backward(
                    dy.view(),
                    x_hat.view(),
                    &scale,
                    &mean_dy,
                    &mean_dy_xhat,
                ))
            })
        })
    });
    group.finish();
}

fn batch_norm_passes(c: &mut Criterion) {
    for threads in thread_counts() {
        for shape in [(64, 16, 28, 28), (64, 32, 14, 14), (64, 64, 7, 7)] {
            passes(c, shape, threads);
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = batch_norm_passes
}
criterion_main!(benches);
