//! The demo this project grew from, as a test: 5 random 3-channel 32×32 images
//! through 2×2/stride-2 max and average pooling.

use ndarray::{ArrayD, Axis, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use ndarray_rand::{rand_distr::Uniform, RandomExt};
use scratchnet_layers::*;

fn images() -> ArrayD<f32> {
    ArrayD::random_using(
        IxDyn(&[5, 3, 32, 32]),
        Uniform::new(0.0f32, 1.0).unwrap(),
        &mut StdRng::seed_from_u64(2024),
    )
}

fn grad_output() -> ArrayD<f32> {
    ArrayD::random_using(
        IxDyn(&[5, 3, 16, 16]),
        Uniform::new(-1.0f32, 1.0).unwrap(),
        &mut StdRng::seed_from_u64(7),
    )
}

#[test]
fn max_pooling_sends_every_gradient_to_its_windows_maximum() {
    let x = images();
    let dy = grad_output();
    let mut pool = MaxPool2d::new([2, 2], MaxPool2dConfig::default());
    let y = pool.forward(x.view(), Mode::Train).unwrap();
    assert_eq!(y.shape(), &[5, 3, 16, 16]);
    let dx = pool.backward(dy.view()).unwrap();
    assert_eq!(dx.shape(), x.shape());
    for n in 0..5 {
        for c in 0..3 {
            for oy in 0..16 {
                for ox in 0..16 {
                    let window =
                        |a: &ArrayD<f32>, dy: usize, dx: usize| a[[n, c, 2 * oy + dy, 2 * ox + dx]];
                    let taps = [(0, 0), (0, 1), (1, 0), (1, 1)];
                    let max = taps
                        .iter()
                        .map(|&(i, j)| window(&x, i, j))
                        .fold(f32::MIN, f32::max);
                    assert_eq!(y[[n, c, oy, ox]], max);
                    for &(i, j) in &taps {
                        let expected = if window(&x, i, j) == max {
                            dy[[n, c, oy, ox]]
                        } else {
                            0.0
                        };
                        assert_eq!(
                            window(&dx, i, j),
                            expected,
                            "sample {n} channel {c} window ({oy}, {ox}) tap ({i}, {j})"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn average_pooling_spreads_every_gradient_equally() {
    let x = images();
    let dy = grad_output();
    let mut pool = AvgPool2d::new([2, 2], AvgPool2dConfig::default());
    let y = pool.forward(x.view(), Mode::Train).unwrap();
    assert_eq!(y.shape(), &[5, 3, 16, 16]);
    let dx = pool.backward(dy.view()).unwrap();
    assert_eq!(dx.shape(), x.shape());
    for ((n, c, h, w), &g) in dx
        .view()
        .into_dimensionality::<ndarray::Ix4>()
        .unwrap()
        .indexed_iter()
    {
        assert_eq!(g, dy[[n, c, h / 2, w / 2]] / 4.0);
    }
    // The mean of each window, and total gradient is preserved.
    assert!(
        (y[[1, 2, 3, 4]]
            - (x[[1, 2, 6, 8]] + x[[1, 2, 6, 9]] + x[[1, 2, 7, 8]] + x[[1, 2, 7, 9]]) / 4.0)
            .abs()
            < 1e-6
    );
    assert!((dx.sum_axis(Axis(0)).sum() - dy.sum_axis(Axis(0)).sum()).abs() < 1e-3);
}
