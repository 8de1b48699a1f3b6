//! What the benches share: their inputs, thread counts and pools.

use ndarray::Array4;

/// A deterministic pattern of values in [−1, 1), different for each `seed`.
pub fn pattern(shape: (usize, usize, usize, usize), seed: usize) -> Array4<f32> {
    let mut i = seed;
    Array4::from_shape_simple_fn(shape, || {
        i = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((i >> 40) % 2048) as f32 / 1024.0 - 1.0
    })
}

/// The thread counts to time: `SCRATCHNET_BENCH_THREADS` (say `1` or `1,2`), else 1 and 2.
pub fn thread_counts() -> Vec<usize> {
    std::env::var("SCRATCHNET_BENCH_THREADS")
        .ok()
        .map(|v| v.split(',').filter_map(|t| t.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2])
}

/// A rayon pool of `threads` threads.
pub fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
}
