//! The convolutions of real CNNs, layer by layer, and the plain GEMM, in GFLOP/s.
//!
//! Run: `cargo bench -p scratchnet-tensor --bench conv` (add `-- modern.conv2` to filter).
//! The layers are the rows of `bench/conv_layers.tsv` (those of `examples/mnist_modern.rs`
//! and `examples/fashion_resnet.rs` at batch 64, wider ones, and other shapes of real
//! CNNs, `more.*`); each is timed for the
//! forward product (training mode, which also keeps the input for the backward), the
//! input gradient and the weight gradient (with the bias gradient, as training runs it),
//! on 1 and 2 threads (`SCRATCHNET_BENCH_THREADS=1` for one of them). Throughput is in
//! elements, one per floating-point operation (2 per multiply-add), so criterion's
//! `Gelem/s` reads as GFLOP/s; `python bench/pytorch_conv_layers.py --criterion
//! target/criterion` puts them beside PyTorch's. `gemm/…` is the kernel alone on square
//! matrices: the peak the convolutions are measured against.
//! Timings are noisy and never gate a test.

mod common;

use common::{pattern, pool, thread_counts};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::{Array1, Array4};
use scratchnet_tensor::conv::{
    conv2d_backward_parameters, conv2d_forward, conv2d_grad_input, Conv2dCache,
};
use scratchnet_tensor::gemm::{gemm_par_rows, Init, Strided};
use scratchnet_tensor::Window2d;
use std::hint::black_box;
use std::time::Duration;

/// One row of `bench/conv_layers.tsv`.
struct Layer {
    name: String,
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    size: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl Layer {
    fn window(&self) -> Window2d {
        Window2d {
            kernel_size: [self.kernel; 2],
            stride: [self.stride; 2],
            padding: [self.padding; 2],
            ..Default::default()
        }
    }

    /// Floating-point operations of one of the three products: 2 per multiply-add.
    fn flops(&self) -> u64 {
        let [oh, ow] = self.window().output_size([self.size; 2]).expect("fits");
        let macs = self.batch * self.out_channels * self.in_channels * self.kernel.pow(2) * oh * ow;
        2 * macs as u64
    }
}

fn layers() -> Vec<Layer> {
    include_str!("../../../bench/conv_layers.tsv")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let num = |i: usize| f[i].parse::<usize>().expect("a number in conv_layers.tsv");
            Layer {
                name: f[0].to_string(),
                batch: num(1),
                in_channels: num(2),
                out_channels: num(3),
                size: num(4),
                kernel: num(5),
                stride: num(6),
                padding: num(7),
            }
        })
        .collect()
}

fn conv_layer(c: &mut Criterion, layer: &Layer, threads: usize) {
    let pool = pool(threads);
    let window = layer.window();
    let [oh, ow] = window.output_size([layer.size; 2]).expect("fits");
    let (n, ci, co, k) = (
        layer.batch,
        layer.in_channels,
        layer.out_channels,
        layer.kernel,
    );
    let x = pattern((n, ci, layer.size, layer.size), 1);
    let w = pattern((co, ci, k, k), 2);
    let dy = pattern((n, co, oh, ow), 3);
    let mut dw = Array4::<f32>::zeros(w.dim());
    let mut db = Array1::<f32>::zeros(co);
    let mut cache = Conv2dCache::default();
    let mut group = c.benchmark_group(format!("{}/t{threads}", layer.name));
    group.throughput(Throughput::Elements(layer.flops()));
    let id = |what: &str| BenchmarkId::new(what, format!("{n}x{ci}x{0}x{0}->{co}", layer.size));
    group.bench_function(id("forward"), |b| {
        b.iter(|| {
            pool.install(|| {
                black_box(conv2d_forward(
                    x.view(),
                    w.view(),
                    None,
                    &window,
                    1,
                    Some(&mut cache),
                ))
            })
        })
    });
    group.bench_function(id("grad_input"), |b| {
        b.iter(|| {
            pool.install(|| {
                black_box(conv2d_grad_input(
                    dy.view(),
                    w.view(),
                    [layer.size; 2],
                    &window,
                    1,
                ))
            })
        })
    });
    group.bench_function(id("grad_weight"), |b| {
        b.iter(|| {
            pool.install(|| {
                conv2d_backward_parameters(
                    dy.view(),
                    w.view(),
                    &window,
                    1,
                    &cache,
                    dw.view_mut(),
                    Some(db.view_mut()),
                )
            })
        })
    });
    group.finish();
}

fn conv_layers(c: &mut Criterion) {
    for threads in thread_counts() {
        for layer in layers() {
            conv_layer(c, &layer, threads);
        }
    }
}

/// `C = A·B` for square matrices of a few sizes: the kernel's own peak.
fn gemm_peak(c: &mut Criterion) {
    for threads in thread_counts() {
        let pool = pool(threads);
        let mut group = c.benchmark_group(format!("gemm/t{threads}"));
        for size in [256, 512, 1024] {
            let a = pattern((1, 1, size, size), 4).into_raw_vec_and_offset().0;
            let b = pattern((1, 1, size, size), 5).into_raw_vec_and_offset().0;
            let mut out = vec![0.0f32; size * size];
            group.throughput(Throughput::Elements(2 * (size as u64).pow(3)));
            group.bench_function(BenchmarkId::from_parameter(size), |bench| {
                bench.iter(|| {
                    pool.install(|| {
                        gemm_par_rows(
                            size,
                            size,
                            size,
                            &Strided::new(&a, size, size, size, 1),
                            &Strided::new(&b, size, size, size, 1),
                            &mut out,
                            size,
                            Init::Overwrite,
                            size.div_ceil(8 * threads),
                        )
                    })
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = gemm_peak, conv_layers
}
criterion_main!(benches);
