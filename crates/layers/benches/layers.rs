//! Forward and backward of every LeNet-5 layer at its real shapes, batch 64.
//!
//! Run: `cargo bench -p scratchnet-layers --bench layers` (add `-- conv` to filter).
//! These are the regression guard for speed work; timings never gate a test.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ndarray::{ArrayD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use ndarray_rand::{rand_distr::Uniform, RandomExt};
use scratchnet_layers::*;
use std::hint::black_box;

const BATCH: usize = 64;

fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
    ArrayD::random_using(
        IxDyn(shape),
        Uniform::new(-1.0f32, 1.0).unwrap(),
        &mut StdRng::seed_from_u64(seed),
    )
}

/// Benchmarks `layer` at per-sample `input_shape`: forward (eval), and forward + backward (train).
fn bench_layer(c: &mut Criterion, label: &str, mut layer: impl Layer, input_shape: &[usize]) {
    let shape: Vec<usize> = std::iter::once(BATCH)
        .chain(input_shape.iter().copied())
        .collect();
    let x = random(&shape, 1);
    let out: Vec<usize> = std::iter::once(BATCH)
        .chain(layer.output_shape(input_shape).unwrap())
        .collect();
    let dy = random(&out, 2);
    let mut group = c.benchmark_group(label);
    group.bench_function(BenchmarkId::new("forward", format!("{shape:?}")), |b| {
        b.iter(|| black_box(layer.forward(x.view(), Mode::Eval).unwrap()))
    });
    group.bench_function(
        BenchmarkId::new("forward+backward", format!("{shape:?}")),
        |b| {
            b.iter(|| {
                layer.forward(x.view(), Mode::Train).unwrap();
                black_box(layer.backward(dy.view()).unwrap())
            })
        },
    );
    group.finish();
}

fn lenet_layers(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let padded = Conv2dConfig {
        padding: [2, 2],
        ..Default::default()
    };
    bench_layer(
        c,
        "conv1",
        Conv2d::new(1, 6, [5, 5], padded, &mut rng),
        &[1, 28, 28],
    );
    bench_layer(c, "relu1", ReLU::new(), &[6, 28, 28]);
    bench_layer(
        c,
        "pool1",
        MaxPool2d::new([2, 2], MaxPool2dConfig::default()),
        &[6, 28, 28],
    );
    bench_layer(
        c,
        "conv2",
        Conv2d::new(6, 16, [5, 5], Conv2dConfig::default(), &mut rng),
        &[6, 14, 14],
    );
    bench_layer(
        c,
        "pool2",
        MaxPool2d::new([2, 2], MaxPool2dConfig::default()),
        &[16, 10, 10],
    );
    bench_layer(
        c,
        "avgpool2",
        AvgPool2d::new([2, 2], AvgPool2dConfig::default()),
        &[16, 10, 10],
    );
    bench_layer(c, "flatten", Flatten::new(), &[16, 5, 5]);
    bench_layer(c, "fc1", Dense::new(400, 120, &mut rng), &[400]);
    bench_layer(c, "fc2", Dense::new(120, 84, &mut rng), &[120]);
    bench_layer(c, "fc3", Dense::new(84, 10, &mut rng), &[84]);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = lenet_layers
}
criterion_main!(benches);
